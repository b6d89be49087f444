"""Reductions over ``axis`` (an int, a tuple of ints or None for all) with ``keepdims``.

The VJP of a reduction puts the reduced axes back (as size 1) and broadcasts the gradient over
them. ``max``/``min`` route the gradient to the entries equal to the result; when several entries
tie, they share it equally. ``prod`` is exact when the input contains zeros.
"""

from __future__ import annotations

import math

import numpy as np

from . import batching
from .registry import Primitive

AXIS = "a valid axis (an int or tuple of ints within the input's dimensions)"


def normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """The reduced axes as a sorted tuple of non-negative ints (``None`` means all)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(int(a) % ndim if ndim else int(a) for a in axes))


def kept_shape(shape: tuple[int, ...], axis) -> tuple[int, ...]:
    """The shape a reduction over ``axis`` has with ``keepdims=True``."""
    axes = normalize_axes(axis, len(shape))
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def reduced_count(shape: tuple[int, ...], axis) -> int:
    """How many entries each output of a reduction over ``axis`` combines."""
    return math.prod(shape[a] for a in normalize_axes(axis, len(shape)))


def restore(xp, value, shape, axis, keepdims):
    """``value`` reshaped so that it broadcasts against an input of ``shape`` reduced over ``axis``."""
    if keepdims:
        return value
    return xp.reshape(value, shape=kept_shape(shape, axis))


def _spread(xp, g, x, axis, keepdims):
    if axis is not None:  # a reduction over all axes gave one value, which broadcasts as it is
        g = restore(xp, g, x.shape, axis, keepdims)
    return xp.broadcast_to(g, shape=x.shape)


def _sum_vjp(xp, g, ans, x, axis=None, keepdims=False):
    if axis is None:  # one value, which broadcasts as it is
        return xp.broadcast_to(g, shape=x.shape)
    return _spread(xp, g, x, axis, keepdims)


def _sum_jvp(xp, t, ans, x, axis=None, keepdims=False):
    return xp.sum(t, axis=axis, keepdims=keepdims)


def _mean_vjp(xp, g, ans, x, axis=None, keepdims=False):
    return _spread(xp, g, x, axis, keepdims) / reduced_count(x.shape, axis)


def _mean_jvp(xp, t, ans, x, axis=None, keepdims=False):
    return xp.mean(t, axis=axis, keepdims=keepdims)


def _var_forward(x, axis=None, keepdims=False, ddof=0):
    return np.var(x, axis=axis, keepdims=keepdims, ddof=ddof)


def _centered_scaled(xp, x, axis, ddof):
    return (x - xp.mean(x, axis=axis, keepdims=True)) * (2 / (reduced_count(x.shape, axis) - ddof))


def _var_vjp(xp, g, ans, x, axis=None, keepdims=False, ddof=0):
    return restore(xp, g, x.shape, axis, keepdims) * _centered_scaled(xp, x, axis, ddof)


def _var_jvp(xp, t, ans, x, axis=None, keepdims=False, ddof=0):
    if x.dtype.kind == "c":  # var = mean(|x - mean|**2): the real part of conj(2 (x - mean)/n) t
        return xp.sum(xp.real(xp.conjugate(_centered_scaled(xp, x, axis, ddof)) * t), axis=axis, keepdims=keepdims)
    return xp.sum(t * _centered_scaled(xp, x, axis, ddof), axis=axis, keepdims=keepdims)


def _prod_partials(xp, x, axis):
    """d prod / d x_i = the product of the other entries, computed without dividing by zero."""
    is_zero = x == 0
    zeros = xp.sum(is_zero, axis=axis, keepdims=True)
    nonzero_x = xp.where(is_zero, 1, x)
    prod_nonzero = xp.prod(nonzero_x, axis=axis, keepdims=True)
    # No zero: prod / x_i. One zero: the product of the rest at the zero, 0 elsewhere. More: 0.
    return xp.where(zeros == 0, prod_nonzero / nonzero_x,
                    xp.where((zeros == 1) & is_zero, prod_nonzero, 0))


def _prod_vjp(xp, g, ans, x, axis=None, keepdims=False):
    return restore(xp, g, x.shape, axis, keepdims) * _prod_partials(xp, x, axis)


def _prod_jvp(xp, t, ans, x, axis=None, keepdims=False):
    return xp.sum(t * _prod_partials(xp, x, axis), axis=axis, keepdims=keepdims)


def _extremum_share(xp, ans, x, axis, keepdims):
    """The fraction of the gradient each entry receives: 1/k for each of the k extremal entries."""
    hit = x == restore(xp, ans, x.shape, axis, keepdims)
    return hit / xp.astype(xp.sum(hit, axis=axis, keepdims=True), dtype=x.dtype)


def _extremum_vjp(xp, g, ans, x, axis=None, keepdims=False):
    return restore(xp, g, x.shape, axis, keepdims) * _extremum_share(xp, ans, x, axis, keepdims)


def _extremum_jvp(xp, t, ans, x, axis=None, keepdims=False):
    return xp.sum(t * _extremum_share(xp, ans, x, axis, keepdims), axis=axis, keepdims=keepdims)


def _logsumexp_forward(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True) if x.size else np.zeros(kept_shape(x.shape, axis), x.dtype)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=normalize_axes(axis, x.ndim))


def _logsumexp_vjp(xp, g, ans, x, axis=None, keepdims=False):
    return restore(xp, g, x.shape, axis, keepdims) * xp.exp(x - restore(xp, ans, x.shape, axis, keepdims))


def _logsumexp_jvp(xp, t, ans, x, axis=None, keepdims=False):
    weights = xp.exp(x - restore(xp, ans, x.shape, axis, keepdims))
    return xp.sum(t * weights, axis=axis, keepdims=keepdims)


def _reduction(name, forward, vjp, jvp, *, saves_inputs=True, saves_ans=False, derivative=None):
    return Primitive(name, forward, vjps=(vjp,), jvps=(jvp,), saves_inputs=saves_inputs,
                     saves_ans=saves_ans, expects=AXIS, derivatives=(derivative,), batch=batching.reduction)


def _sum_forward(x, axis=None, keepdims=False):
    return np.add.reduce(x, axis=axis, keepdims=keepdims)  # np.sum without its Python wrapper


sum_ = _reduction("sum", _sum_forward, _sum_vjp, _sum_jvp, saves_inputs=False, derivative="1")
mean = _reduction("mean", np.mean, _mean_vjp, _mean_jvp, saves_inputs=False)
var = _reduction("var", _var_forward, _var_vjp, _var_jvp)
prod = _reduction("prod", np.prod, _prod_vjp, _prod_jvp)
max_ = _reduction("max", np.max, _extremum_vjp, _extremum_jvp, saves_ans=True, derivative="[{a} = max({a})]")
min_ = _reduction("min", np.min, _extremum_vjp, _extremum_jvp, saves_ans=True, derivative="[{a} = min({a})]")
logsumexp = _reduction("logsumexp", _logsumexp_forward, _logsumexp_vjp, _logsumexp_jvp, saves_ans=True)
def _arg_batch(xp, prim, size, batched, /, x, axis=None, keepdims=False):
    """argmax/argmin of each example: over one axis, one further along; over all (None), over each
    example's entries flattened, the batch axis kept."""
    rank = x.ndim - 1
    if axis is not None:
        return xp.call(prim, x, axis=batching.shifted_one(axis, rank), keepdims=keepdims)
    flat = xp.reshape(x, shape=(size, math.prod(x.shape[1:])))
    out = xp.call(prim, flat, axis=1, keepdims=False)
    return xp.reshape(out, shape=(size,) + (1,) * rank) if keepdims else out


argmax = Primitive("argmax", np.argmax, saves_inputs=False, expects="a valid int axis or None", batch=_arg_batch)
argmin = Primitive("argmin", np.argmin, saves_inputs=False, expects="a valid int axis or None", batch=_arg_batch)

PRIMITIVES = (sum_, mean, var, prod, max_, min_, logsumexp, argmax, argmin)

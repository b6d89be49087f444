"""Activation functions and the softmax family, all numerically stable for large inputs.

None of these forward passes overflows or warns for large inputs: softplus works on ``exp(-|x|)``,
softmax and log_softmax subtract the maximum first, and sigmoid lets ``exp(-x)`` reach inf where
``1 / (1 + inf) = 0`` is the exact limit.
"""

from __future__ import annotations

import numpy as np

from . import batching
from .elementwise import unary
from .registry import Primitive


def _sigmoid(x):
    # exp(-x) overflows to inf for very negative x, and 1 / (1 + inf) is then exactly the right
    # limit 0; only the warning is silenced. This is accurate in both tails and costs 4 ufuncs
    # (a division, not np.reciprocal, which NumPy does not vectorise: 1.3x slower on 6,400 entries;
    # float constants, which NumPy takes faster than the int 1).
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _softplus(x):
    # log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _leaky_relu(x, negative_slope=0.01):
    return np.where(x > 0, x, x * negative_slope)


def _elu(x, alpha=1.0):
    # expm1 only ever sees x <= 0, so the branch np.where discards cannot overflow.
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _relu(x):
    return np.maximum(x, 0)


def _max_keepdims(x, axis):
    if x.dtype.kind != "f":  # integers: no -inf to start from (and no size-0 softmax to take)
        return np.max(x, axis=axis, keepdims=True)
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # -inf (then 0) along an axis of size 0
    return np.where(np.isfinite(m), m, 0)


def _softmax(x, axis=-1):
    e = np.exp(x - _max_keepdims(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    shifted = x - _max_keepdims(x, axis)
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


sigmoid = unary("sigmoid", _sigmoid, lambda xp, g, ans, x: g * (ans * (1.0 - ans)), needs_ans=True,
                derivative="σ({a})(1 - σ({a}))", symbol="σ")
softplus = unary("softplus", _softplus, lambda xp, g, ans, x: g * xp.sigmoid(x),
                 derivative="σ({a})")
relu = unary("relu", _relu, lambda xp, g, ans, x: g * (x > 0), doc="The gradient at 0 is 0.",
             derivative="[{a} > 0]")

leaky_relu = Primitive(
    "leaky_relu", _leaky_relu,
    vjps=(lambda xp, g, ans, x, negative_slope=0.01: xp.where(x > 0, g, g * negative_slope),),
    jvps=(lambda xp, t, ans, x, negative_slope=0.01: xp.where(x > 0, t, t * negative_slope),),
    batch=batching.elementwise,
)

elu = Primitive(
    "elu", _elu,
    vjps=(lambda xp, g, ans, x, alpha=1.0: xp.where(x > 0, g, g * (ans + alpha)),),
    jvps=(lambda xp, t, ans, x, alpha=1.0: xp.where(x > 0, t, t * (ans + alpha)),),
    saves_ans=True, batch=batching.elementwise,
)


def _softmax_vjp(xp, g, ans, x, axis=-1):
    return ans * (g - xp.sum(g * ans, axis=axis, keepdims=True))


def _log_softmax_vjp(xp, g, ans, x, axis=-1):
    return g - xp.exp(ans) * xp.sum(g, axis=axis, keepdims=True)


def _log_softmax_jvp(xp, t, ans, x, axis=-1):
    return t - xp.sum(xp.exp(ans) * t, axis=axis, keepdims=True)


softmax = Primitive(
    "softmax", _softmax, vjps=(_softmax_vjp,), jvps=(_softmax_vjp,), saves_ans=True,
    expects="a valid axis", batch=batching.over_axes("axis"),
)
log_softmax = Primitive(
    "log_softmax", _log_softmax, vjps=(_log_softmax_vjp,), jvps=(_log_softmax_jvp,),
    saves_ans=True, expects="a valid axis", batch=batching.over_axes("axis"),
)

PRIMITIVES = (sigmoid, softplus, relu, leaky_relu, elu, softmax, log_softmax)

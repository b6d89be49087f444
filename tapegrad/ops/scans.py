"""Scans, differences, traces and sorting: ``cumsum``, ``cumprod`` (exact with zeros), ``diff``, ``trace``,
``sort`` (the gradient follows the permutation), and ``argsort``/``searchsorted`` (no gradient).

``sort``'s gradient goes back through the permutation that a *stable* sort applies, so among equal entries
the one that comes first in the input takes the first sorted position's gradient. ``take_sorted`` and
``put_sorted`` apply that permutation and its inverse to a gradient; they are primitives so that the
gradient of a gradient is one too.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ShapeError
from . import batching as B
from .registry import Primitive
from .shape import axis_arg, count_arg, int_arg, shown

ONE_AXIS = "an int axis within the input's dimensions"


def _reverse_cumsum(xp, g, axis):
    return xp.flip(xp.cumsum(xp.flip(g, axis=axis), axis=axis), axis=axis)


cumsum = Primitive(
    "cumsum", lambda x, axis: np.cumsum(x, axis=axis), batch=B.over_axes("axis"),
    vjps=(lambda xp, g, ans, x, axis: _reverse_cumsum(xp, g, axis),),
    jvps=(lambda xp, t, ans, x, axis: xp.cumsum(t, axis=axis),),
    saves_inputs=False, expects=ONE_AXIS, derivatives=("[i <= j]",),
)


def _cumprod_pieces(xp, x, axis):
    """The mask of nonzero entries, ``x`` with 1 in place of its zeros, the mask of the first zero along
    ``axis``, and the cumulative product with that first zero replaced by 1."""
    nonzero = x != 0
    first = (xp.cumsum(x == 0, axis=axis) == 1) & (x == 0)
    return nonzero, xp.where(nonzero, x, 1), first, xp.cumprod(xp.where(first, 1, x), axis=axis)


def _cumprod_vjp(xp, g, ans, x, axis):
    # d ans_j / d x_i = prod_{k <= j, k != i} x_k: ans_j / x_i where x_i != 0 (0 after a zero, yet with its
    # derivative in that zero, through ans); at the first zero z, the product skipping x_z; at later zeros, 0.
    # Never divides by a zero; second derivatives are exact with up to one zero along the axis.
    nonzero, safe_x, first, skipping = _cumprod_pieces(xp, x, axis)
    return xp.where(nonzero, _reverse_cumsum(xp, g * ans, axis) / safe_x,
                    xp.where(first, _reverse_cumsum(xp, g * skipping, axis), 0))


def _cumprod_jvp(xp, t, ans, x, axis):
    nonzero, safe_x, first, skipping = _cumprod_pieces(xp, x, axis)
    at_zero = xp.sum(xp.where(first, t, 0), axis=axis, keepdims=True)
    after_zero = xp.cumsum(first, axis=axis) > 0
    return ans * xp.cumsum(xp.where(nonzero, t / safe_x, 0), axis=axis) + xp.where(after_zero, skipping, 0) * at_zero


cumprod = Primitive(
    "cumprod", lambda x, axis: np.cumprod(x, axis=axis), batch=B.over_axes("axis"),
    vjps=(_cumprod_vjp,), jvps=(_cumprod_jvp,), saves_ans=True, expects=ONE_AXIS,
    doc="Exact with zeros: it never divides by a zero.",
)


def _diff_vjp(xp, g, ans, x, n, axis):
    # The adjoint of n-th differences: (-1)**n times the n-th differences of g padded with n zeros each side.
    widths = [(0, 0)] * x.ndim
    widths[axis] = (n, x.shape[axis] - g.shape[axis])  # (n, n), or less when n exceeds the length (g empty)
    back = xp.diff(xp.pad(g, pad_width=tuple(widths)), n=n, axis=axis)
    return back if n % 2 == 0 else -back


diff = Primitive(
    "diff", lambda x, n, axis: np.diff(x, n=n, axis=axis), batch=B.over_axes("axis"),
    vjps=(_diff_vjp,), jvps=(lambda xp, t, ans, x, n, axis: xp.diff(t, n=n, axis=axis),),
    saves_inputs=False, expects="n >= 0 and an int axis within the input's dimensions",
)


def _trace_vjp(xp, g, ans, x, offset, axis1, axis2):
    # g, with size-1 axes where the two traced axes were, times the (offset) identity on those axes.
    kept = [n for i, n in enumerate(x.shape) if i not in (axis1, axis2)]
    expanded = list(kept)
    for a in sorted((axis1, axis2)):
        expanded.insert(a, 1)
    eye_shape = [1] * x.ndim
    eye_shape[axis1], eye_shape[axis2] = x.shape[axis1], x.shape[axis2]
    eye = np.eye(x.shape[axis1], x.shape[axis2], k=offset, dtype=x.dtype)
    eye = (eye if axis1 < axis2 else eye.T).reshape(eye_shape)
    return xp.reshape(g, shape=tuple(expanded)) * eye


trace = Primitive(
    "trace", lambda x, offset, axis1, axis2: np.trace(x, offset=offset, axis1=axis1, axis2=axis2),
    batch=B.over_axes("axis1", "axis2"),
    vjps=(_trace_vjp,),
    jvps=(lambda xp, t, ans, x, offset, axis1, axis2: xp.trace(t, offset=offset, axis1=axis1, axis2=axis2),),
    saves_inputs=False, expects="two distinct axes of an input of at least 2 dimensions",
)

argsort = Primitive("argsort", lambda x, axis=-1: np.argsort(x, axis=axis, kind="stable"),
                    batch=B.over_axes("axis"), saves_inputs=False,
                    expects=ONE_AXIS)


def _argpartition(x, kth, axis=-1):
    try:
        return np.argpartition(x, kth, axis=axis)
    except (ValueError, TypeError) as exc:
        raise ShapeError(f"argpartition: kth={kth} for an axis of length {x.shape[axis]}; expected integers in "
                         f"[{-x.shape[axis]}, {x.shape[axis]}) (NumPy says: {exc})") from None


argpartition = Primitive("argpartition", _argpartition, batch=B.over_axes("axis"), saves_inputs=False, expects=ONE_AXIS,
                         doc="``np.argpartition``: the permutation that puts the ``kth`` entries where a sort puts "
                             "them; an integer array (no gradient).")


def _put_along(h, order, axis):
    out = np.empty_like(h)
    np.put_along_axis(out, order, h, axis=axis)
    return out


take_sorted = Primitive(
    "take_sorted", lambda h, order, axis: np.take_along_axis(h, order, axis=axis), batch=B.joined_over_axis("axis"),
    vjps=(lambda xp, g, ans, h, order, axis: xp.put_sorted(g, order, axis=axis), None),
    jvps=(lambda xp, t, ans, h, order, axis: xp.take_sorted(t, order, axis=axis), None),
    expects="a tensor and a permutation of its positions along axis (integers, its shape)",
    doc="``h`` permuted along ``axis`` by ``order`` (an argsort): the sorted order.",
)

put_sorted = Primitive(
    "put_sorted", _put_along, batch=B.joined_over_axis("axis"),
    vjps=(lambda xp, g, ans, h, order, axis: xp.take_sorted(g, order, axis=axis), None),
    jvps=(lambda xp, t, ans, h, order, axis: xp.put_sorted(t, order, axis=axis), None),
    expects="a tensor and a permutation of its positions along axis (integers, its shape)",
    doc="The inverse of take_sorted: entry i of ``h`` goes to position ``order[i]`` along ``axis``.",
)

sort = Primitive(
    "sort", lambda x, axis: np.sort(x, axis=axis), batch=B.over_axes("axis"),
    vjps=(lambda xp, g, ans, x, axis: xp.put_sorted(g, xp.argsort(x, axis=axis), axis=axis),),
    jvps=(lambda xp, t, ans, x, axis: xp.take_sorted(t, xp.argsort(x, axis=axis), axis=axis),),
    expects=ONE_AXIS, doc="Ties: the gradient follows the stable sort's permutation.",
)

def _searchsorted_batch(xp, prim, size, batched, /, a, v, side="left"):
    """searchsorted of every example: into a shared sorted ``a``, every example's values at once; into each
    example's own sorted ``a``, by counting its entries below each value (``<=`` for side="right")."""
    if not batched[0]:
        return xp.searchsorted(a, v, side=side)
    v = v if batched[1] else B.expanded(xp, v, size)
    rows = xp.reshape(a, shape=(size,) + (1,) * (v.ndim - 1) + (a.shape[-1],))
    values = xp.reshape(v, shape=tuple(v.shape) + (1,))
    below = xp.less(rows, values) if side == "left" else xp.less_equal(rows, values)
    return xp.sum(below, axis=-1)


searchsorted = Primitive("searchsorted", lambda a, v, side="left": np.searchsorted(a, v, side=side),
                         batch=_searchsorted_batch, saves_inputs=False,
                         expects="a 1-D sorted tensor and values; side 'left' or 'right'")


# -- argument checks of the NumPy functions built on these (and on sort) ------------------------------


def diff_args(ndim: int, n, axis) -> tuple[int, int]:
    """``diff``'s ``n`` and ``axis`` checked: a non-negative int and an axis within ``ndim`` (at least 1).

    Raises:
        ArgumentError: if n is not a non-negative integer. ShapeError: for a 0-d input or an axis out of range.
    """
    n = count_arg(n, "diff", "n")
    if ndim == 0:
        raise ShapeError("diff: a 0-d input has no axis to difference along; expected at least 1 dimension")
    return n, axis_arg(axis, ndim, "diff")


def trace_args(ndim: int, offset, axis1, axis2) -> tuple[int, int, int]:
    """``trace``'s ``offset`` and two distinct axes within ``ndim`` (at least 2).

    Raises:
        ArgumentError: if offset or an axis is not an integer. ShapeError: for fewer than 2 dimensions,
            an axis out of range, or the same axis twice.
    """
    offset = int_arg(offset, "trace", "offset")
    if ndim < 2:
        raise ShapeError(f"trace: an input of {ndim} dimension(s); expected at least 2")
    a1, a2 = axis_arg(axis1, ndim, "trace", "axis1"), axis_arg(axis2, ndim, "trace", "axis2")
    if a1 == a2:
        raise ShapeError(f"trace: axis1={axis1} and axis2={axis2} are the same axis; expected two distinct axes")
    return offset, a1, a2


def quantile_args(q, op: str, scale: float = 1.0) -> np.ndarray:
    """``q`` (a number or array; percentiles when ``scale`` is 100) as a float64 array of quantiles in [0, 1].

    Raises:
        ArgumentError: for values that are not real numbers, NaN, or outside [0, scale].
    """
    try:
        values = np.asarray(q, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentError(f"{op}: q={shown(q)} is not a number or an array of numbers") from None
    if not np.all((values >= 0) & (values <= scale)):
        raise ArgumentError(f"{op}: q={shown(q)} has values outside [0, {scale:g}] (or NaN); expected "
                            f"{'percentiles' if scale == 100 else 'quantiles'} in [0, {scale:g}]")
    return values / scale


def quantile_positions(q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For method='linear' over ``n`` sorted entries: the lower and upper positions each quantile falls
    between, and the weight of the upper one (NumPy's rule: position q (n - 1))."""
    position = q * (n - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, n - 1)
    return low, high, position - low


PRIMITIVES = (cumsum, cumprod, diff, trace, sort, take_sorted, put_sorted, argsort, argpartition, searchsorted)

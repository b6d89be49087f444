"""NumPy's shape and construction functions with gradients, composed from primitives (issue 15).

Each function here is written against an array namespace ``xp`` (the Tensor runs them in its graph
namespace) and uses only primitives whose gradients are exact: ``getitem``, ``reshape``, ``transpose``,
``concatenate``, ``flip``, ``pad``, ``where``, ``multiply``, ``matmul`` and ``einsum`` (whose rules handle a
letter repeated within one operand, so ``diagonal`` is ``einsum('...ii->...i')`` and ``diag`` of a vector is
its product with an identity matrix). So every first and second derivative, in both modes, is exact.
Arguments are checked here (axes, counts, shapes) with errors that name the NumPy function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ArgumentError, ShapeError
from .shape import axes_arg, axis_arg, int_arg, real_arg, shown

PRIMITIVES = ()  # compositions only


def _nd(x, n: int, op: str) -> None:
    if x.ndim != n:
        raise ShapeError(f"{op}: got shape {x.shape}; expected {n} dimension(s)")


def _at_least(x, n: int, op: str) -> None:
    if x.ndim < n:
        raise ShapeError(f"{op}: got shape {x.shape}; expected at least {n} dimension(s)")


def moveaxis(xp, x, source, destination, op: str = "moveaxis"):
    """``np.moveaxis``: axes ``source`` moved to positions ``destination``, the others in order."""
    src = axes_arg(source, x.ndim, op, "source")
    dst = axes_arg(destination, x.ndim, op, "destination")
    if len(src) != len(dst):
        raise ShapeError(f"{op}: source={shown(source)} and destination={shown(destination)} name different "
                         "numbers of axes; expected as many of each")
    order = [a for a in range(x.ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return x if order == list(range(x.ndim)) else xp.transpose(x, axes=tuple(order))


def rollaxis(xp, x, axis, start=0):
    """``np.rollaxis``: ``axis`` moved to stand before position ``start``."""
    axis = axis_arg(axis, x.ndim, "rollaxis")
    start = int_arg(start, "rollaxis", "start")
    if not -x.ndim <= start <= x.ndim:
        raise ShapeError(f"rollaxis: start={start} for a tensor of {x.ndim} dimension(s); expected an int in "
                         f"[{-x.ndim}, {x.ndim}]")
    if start < 0:
        start += x.ndim
    if start > axis:
        start -= 1
    return moveaxis(xp, x, axis, start, "rollaxis")


def diagonal(xp, x, offset=0, axis1=0, axis2=1, op: str = "diagonal"):
    """``np.diagonal``: the diagonal of the ``axis1``/``axis2`` planes, as the last axis."""
    _at_least(x, 2, op)
    offset = int_arg(offset, op, "offset")
    a1, a2 = axis_arg(axis1, x.ndim, op, "axis1"), axis_arg(axis2, x.ndim, op, "axis2")
    if a1 == a2:
        raise ShapeError(f"{op}: axis1 and axis2 are both {a1}; expected two different axes")
    x = moveaxis(xp, x, (a1, a2), (-2, -1), op)
    rows, cols = x.shape[-2:]
    start_row, start_col = max(-offset, 0), max(offset, 0)
    n = max(min(rows - start_row, cols - start_col), 0)
    x = xp.getitem(x, index=(Ellipsis, slice(start_row, start_row + n), slice(start_col, start_col + n)))
    return xp.einsum(x, subscripts=_batched("ii->i", x.ndim - 2))


def _batched(spec: str, n_batch: int) -> str:
    """``spec`` with ``n_batch`` leading batch letters on every term (explicit, as the primitive records)."""
    batch = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in spec)[:n_batch]
    inputs, output = spec.split("->")
    return ",".join(batch + t for t in inputs.split(",")) + "->" + batch + output


def diag(xp, v, k=0):
    """``np.diag``: a 1-D ``v`` on the ``k``-th diagonal of a square matrix, or a 2-D ``v``'s diagonal."""
    k = int_arg(k, "diag", "k")
    if v.ndim == 2:
        return diagonal(xp, v, k, op="diag")
    _nd(v, 1, "diag")
    n = v.shape[0]
    eye = np.eye(n, dtype=v.dtype if v.dtype.kind == "f" else np.float64)
    matrix = xp.einsum(v, eye, subscripts="i,ij->ij")
    if k == 0:
        return matrix
    widths = ((0, k), (k, 0)) if k > 0 else ((-k, 0), (0, -k))
    return xp.pad(matrix, pad_width=widths)


def _triangle(xp, x, k, upper: bool, op: str):
    _at_least(x, 2, op)
    k = int_arg(k, op, "k")
    rows, cols = x.shape[-2:]
    mask = (np.arange(cols)[None, :] - np.arange(rows)[:, None]) >= k
    return xp.where(mask if upper else ~mask, x, np.zeros((), dtype=x.dtype))


def triu(xp, x, k=0):
    """``np.triu``: the entries on and above the ``k``-th diagonal of the last two axes; 0 below."""
    return _triangle(xp, x, k, True, "triu")


def tril(xp, x, k=0):
    """``np.tril``: the entries on and below the ``k``-th diagonal of the last two axes; 0 above."""
    return _triangle(xp, x, k + 1, False, "tril")


def roll(xp, x, shift, axis=None):
    """``np.roll``: entries shifted by ``shift`` along ``axis`` (the flattened tensor when None), wrapping."""
    if axis is None:
        return xp.reshape(roll(xp, xp.reshape(x, shape=(-1,)), shift, 0), shape=x.shape)
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    shifts = [int_arg(s, "roll", "shift") for s in shifts]
    axes = [axis_arg(a, x.ndim, "roll") for a in axes]
    if len(shifts) != len(axes):
        if len(shifts) != 1 and len(axes) != 1:
            raise ShapeError(f"roll: shift={shown(shift)} and axis={shown(axis)} have different lengths; "
                             "expected equal lengths, or one of them a single int")
        shifts, axes = np.broadcast_arrays(shifts, axes)
    total = {}
    for s, a in zip(shifts, axes):
        total[int(a)] = total.get(int(a), 0) + int(s)
    for a, s in total.items():
        n = x.shape[a]
        s = s % n if n else 0
        if s:
            lead = (slice(None),) * a
            x = xp.concatenate(xp.getitem(x, index=lead + (slice(n - s, n),)),
                               xp.getitem(x, index=lead + (slice(0, n - s),)), axis=a)
    return x


def rot90(xp, x, k=1, axes=(0, 1)):
    """``np.rot90``: ``x`` rotated by 90 degrees ``k`` times in the plane of ``axes``, from the first
    axis towards the second."""
    k = int_arg(k, "rot90", "k")
    if not isinstance(axes, (tuple, list)) or len(axes) != 2:
        raise ArgumentError(f"rot90: axes={shown(axes)}; expected two axes")
    _at_least(x, 2, "rot90")
    a, b = axes_arg(axes, x.ndim, "rot90", "axes")
    k %= 4
    if k == 0:
        return x
    if k == 2:
        return xp.flip(x, axis=(a, b))
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    if k == 1:
        return xp.transpose(xp.flip(x, axis=b), axes=tuple(order))
    return xp.flip(xp.transpose(x, axes=tuple(order)), axis=b)


def fliplr(xp, x):
    """``np.fliplr``: ``x`` reversed along axis 1."""
    _at_least(x, 2, "fliplr")
    return xp.flip(x, axis=1)


def flipud(xp, x):
    """``np.flipud``: ``x`` reversed along axis 0."""
    _at_least(x, 1, "flipud")
    return xp.flip(x, axis=0)


def at_least(xp, x, n: int):
    """``np.atleast_1d/2d/3d`` of one tensor: NumPy's placement of the added axes of size 1."""
    if x.ndim >= n:
        return x
    if n == 3 and x.ndim == 2:
        return xp.reshape(x, shape=x.shape + (1,))
    if n == 3:
        return xp.reshape(x, shape=(1,) + (x.shape or (1,)) + (1,))
    return xp.reshape(x, shape=(1,) * (n - x.ndim) + x.shape)


def array_split(xp, x, indices_or_sections, axis=0, op: str = "array_split", equal: bool = False):
    """``np.array_split`` (``np.split`` with ``equal``): a list of pieces of ``x`` along ``axis``."""
    axis = axis_arg(axis, x.ndim, op)
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(indices_or_sections, bool):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ArgumentError(f"{op}: {sections} sections; expected a positive number")
        if equal and n % sections:
            raise ShapeError(f"{op}: an axis of length {n} does not split into {sections} equal sections")
        size, extra = divmod(n, sections)
        bounds = np.cumsum([0] + [size + 1] * extra + [size] * (sections - extra)).tolist()
    else:
        try:
            cuts = [int_arg(i, op, "indices") for i in indices_or_sections]
        except TypeError:
            raise ArgumentError(f"{op}: indices_or_sections={shown(indices_or_sections)}; expected an int or a "
                                "sequence of ints") from None
        bounds = [0] + cuts + [n]
    lead = (slice(None),) * axis
    return [xp.getitem(x, index=lead + (slice(lo, hi),)) for lo, hi in zip(bounds[:-1], bounds[1:])]


def concatenate_all(xp, arrays: Sequence[Any], axis: int, op: str):
    """The arrays (tensors, already lifted) joined along ``axis``, checked with ``op``'s name."""
    if not arrays:
        raise ArgumentError(f"{op}: no arrays given; expected at least one")
    ndim = arrays[0].ndim
    if any(a.ndim != ndim for a in arrays):
        raise ShapeError(f"{op}: arrays of shapes {[a.shape for a in arrays]}; expected the same number of "
                         "dimensions")
    axis = axis_arg(axis, ndim, op)
    rest = {a.shape[:axis] + a.shape[axis + 1:] for a in arrays}
    if len(rest) > 1:
        raise ShapeError(f"{op}: arrays of shapes {[a.shape for a in arrays]}; expected equal shapes except "
                         f"along axis {axis}")
    return arrays[0] if len(arrays) == 1 else xp.concatenate(*arrays, axis=axis)


def hstack(xp, arrays):
    """``np.hstack``: joined along axis 1 (axis 0 for 1-D)."""
    arrays = [at_least(xp, a, 1) for a in arrays]
    return concatenate_all(xp, arrays, 0 if arrays and arrays[0].ndim == 1 else 1, "hstack")


def vstack(xp, arrays):
    """``np.vstack``: joined along axis 0, 1-D arrays as rows."""
    return concatenate_all(xp, [at_least(xp, a, 2) for a in arrays], 0, "vstack")


def dstack(xp, arrays):
    """``np.dstack``: joined along axis 2."""
    return concatenate_all(xp, [at_least(xp, a, 3) for a in arrays], 2, "dstack")


def column_stack(xp, arrays):
    """``np.column_stack``: 1-D arrays as columns, joined along axis 1."""
    columns = [xp.reshape(a, shape=(-1, 1)) if a.ndim < 2 else a for a in arrays]
    return concatenate_all(xp, columns, 1, "column_stack")


def append(xp, arr, values, axis=None):
    """``np.append``: ``values`` after ``arr``, both flattened when ``axis`` is None."""
    if axis is None:
        return concatenate_all(xp, [xp.reshape(arr, shape=(-1,)), xp.reshape(values, shape=(-1,))], 0, "append")
    return concatenate_all(xp, [arr, values], axis, "append")


def kron(xp, a, b):
    """``np.kron``: the Kronecker product (the shorter shape padded with leading 1s)."""
    n = max(a.ndim, b.ndim)
    sa, sb = (1,) * (n - a.ndim) + a.shape, (1,) * (n - b.ndim) + b.shape
    left = xp.reshape(a, shape=tuple(s for d in sa for s in (d, 1)))
    right = xp.reshape(b, shape=tuple(s for d in sb for s in (1, d)))
    return xp.reshape(xp.multiply(left, right), shape=tuple(p * q for p, q in zip(sa, sb)))


def tensordot(xp, a, b, axes=2):
    """``np.tensordot``: the sum of products over ``axes`` (an int: the last of ``a`` with the first of
    ``b``; or two sequences of axes), as one matrix product."""
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        n = int(axes)
        if not 0 <= n <= min(a.ndim, b.ndim):
            raise ShapeError(f"tensordot: axes={n} for shapes {a.shape} and {b.shape}; expected an int in "
                             f"[0, {min(a.ndim, b.ndim)}]")
        axes_a, axes_b = tuple(range(a.ndim - n, a.ndim)), tuple(range(n))
    else:
        try:
            first, second = axes
        except (TypeError, ValueError):
            raise ArgumentError(f"tensordot: axes={shown(axes)}; expected an int or two sequences of axes") from None
        axes_a, axes_b = axes_arg(first, a.ndim, "tensordot", "axes"), axes_arg(second, b.ndim, "tensordot", "axes")
        if len(axes_a) != len(axes_b):
            raise ShapeError(f"tensordot: axes={shown(axes)} pairs {len(axes_a)} axes with {len(axes_b)}")
    if any(a.shape[i] != b.shape[j] for i, j in zip(axes_a, axes_b)):
        raise ShapeError(f"tensordot: shapes {a.shape} and {b.shape} over axes {axes_a} and {axes_b}: the summed "
                         "axes differ in length")
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [j for j in range(b.ndim) if j not in axes_b]
    size = int(np.prod([a.shape[i] for i in axes_a], dtype=np.int64))
    rows = int(np.prod([a.shape[i] for i in free_a], dtype=np.int64))
    cols = int(np.prod([b.shape[j] for j in free_b], dtype=np.int64))
    out_shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[j] for j in free_b)
    left = xp.reshape(xp.transpose(a, axes=tuple(free_a) + axes_a), shape=(rows, size))
    right = xp.reshape(xp.transpose(b, axes=axes_b + tuple(free_b)), shape=(size, cols))
    return xp.reshape(xp.matmul(left, right), shape=out_shape)


def inner(xp, a, b):
    """``np.inner``: the sum of products over the last axes (a product when one is 0-d)."""
    if a.ndim == 0 or b.ndim == 0:
        return xp.multiply(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(f"inner: shapes {a.shape} and {b.shape}; expected equal last axes")
    return tensordot(xp, a, b, ((a.ndim - 1,), (b.ndim - 1,)))


def cross(xp, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``np.cross``: the cross product of 3-vectors (a 2-vector has z = 0) along ``axisa``/``axisb``,
    written along ``axisc``; two 2-vectors give the z component alone."""
    if axis is not None:
        axisa = axisb = axisc = axis
    _at_least(a, 1, "cross")
    _at_least(b, 1, "cross")
    a = moveaxis(xp, a, axisa, -1, "cross")
    b = moveaxis(xp, b, axisb, -1, "cross")
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ShapeError(f"cross: vectors of lengths {a.shape[-1]} and {b.shape[-1]} (shapes {a.shape} and "
                         f"{b.shape} after moving axisa and axisb last); expected 2 or 3")
    both_2 = a.shape[-1] == 2 and b.shape[-1] == 2

    def part(x, i):
        return xp.getitem(x, index=(Ellipsis, i))

    if both_2:
        return xp.subtract(xp.multiply(part(a, 0), part(b, 1)), xp.multiply(part(a, 1), part(b, 0)))
    if a.shape[-1] == 2:
        a = xp.pad(a, pad_width=((0, 0),) * (a.ndim - 1) + ((0, 1),))
    if b.shape[-1] == 2:
        b = xp.pad(b, pad_width=((0, 0),) * (b.ndim - 1) + ((0, 1),))
    # c = a[..., [1, 2, 0]] * b[..., [2, 0, 1]] - a[..., [2, 0, 1]] * b[..., [1, 2, 0]], with slices (rolls)
    c = xp.subtract(xp.multiply(roll(xp, a, -1, -1), roll(xp, b, 1, -1)),
                    xp.multiply(roll(xp, a, 1, -1), roll(xp, b, -1, -1)))
    return moveaxis(xp, c, -1, axisc, "cross")


# -- construction and interpolation (issue 15, item 4) ----------------------------------------------------


def values_of(a) -> np.ndarray:
    """The values of ``a`` (a Tensor, an array or a number) for positions and masks that take no gradient."""
    return a.data if hasattr(a, "requires_grad") else np.asarray(a)


def _float(xp, a):
    return a if a.dtype.kind == "f" else xp.astype(a, dtype=np.float64)


def linspace(xp, start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``np.linspace`` differentiable in ``start`` and ``stop`` (arrays of them too: the samples run along
    a new axis ``axis``): ``start + i * (stop - start) / div``, the last entry ``stop`` itself when
    ``endpoint``, as NumPy computes it."""
    num = int_arg(num, "linspace", "num")
    if num < 0:
        raise ArgumentError(f"linspace: num={num}; expected a non-negative integer")
    start, stop = _float(xp, start), _float(xp, stop)
    div = num - 1 if endpoint else num
    delta = xp.subtract(stop, start)
    shape = delta.shape
    steps = np.arange(num, dtype=delta.dtype).reshape((-1,) + (1,) * len(shape))
    if div > 0:
        step = xp.divide(delta, np.asarray(div, dtype=delta.dtype))
        y = xp.add(xp.multiply(steps, step), start)
    else:
        step = np.full(shape, np.nan, dtype=delta.dtype)
        y = xp.add(xp.multiply(steps, delta), start)
    if endpoint and num > 1:
        last = xp.reshape(xp.broadcast_to(stop, shape=shape), shape=(1,) + shape)
        y = xp.concatenate(xp.getitem(y, index=(slice(0, num - 1),)), last, axis=0)
    if axis != 0:
        y = moveaxis(xp, y, 0, axis_arg(axis, y.ndim, "linspace"), "linspace")
    if dtype is not None:
        y = xp.astype(y, dtype=np.dtype(dtype))
    return (y, step) if retstep else y


def meshgrid(xp, *xi, copy=True, sparse=False, indexing="xy"):
    """``np.meshgrid``: coordinate arrays of the grid the 1-D ``xi`` span (a tuple); 'xy' (Cartesian)
    swaps the first two axes of the result, 'ij' (matrix) does not; ``sparse`` keeps them unbroadcast."""
    if indexing not in ("xy", "ij"):
        raise ArgumentError(f"meshgrid: indexing={shown(indexing)}; expected 'xy' or 'ij'")
    n = len(xi)
    shapes = [[1] * n for _ in xi]
    for i in range(n):
        shapes[i][i] = -1
    if indexing == "xy" and n > 1:
        shapes[0][:2], shapes[1][:2] = [1, -1], [-1, 1]
    outputs = [xp.reshape(x, shape=tuple(s)) for x, s in zip(xi, shapes)]
    if not sparse:
        full = np.broadcast_shapes(*[o.shape for o in outputs])
        outputs = [xp.broadcast_to(o, shape=full) for o in outputs]
        if copy:
            outputs = [xp.copy(o) for o in outputs]
    return tuple(outputs)


def interp(xp, x, knots, fp, left=None, right=None, period=None):
    """``np.interp``: the piecewise-linear interpolant through ``(knots, fp)`` at ``x``, ``left``/``right``
    (default ``fp[0]``/``fp[-1]``) outside. Differentiable in ``fp``, ``x`` (the slope; at a knot, the
    slope of the segment to its right, the last knot's of the one to its left), ``knots`` and ``left``/``right``.
    ``knots`` must increase (NumPy does not check, nor does this). With ``period`` (a nonzero number), as
    NumPy: ``x`` and the knots are taken modulo ``period``, the knots sorted and wrapped around one period,
    and ``left``/``right`` are ignored.

    Raises ShapeError for knots and values that are not 1-D of one length, ArgumentError for a zero period."""
    if knots.ndim != 1 or fp.ndim != 1 or knots.shape != fp.shape:
        raise ShapeError(f"interp: xp of shape {knots.shape} and fp of shape {fp.shape}; expected 1-D of the same "
                         "length")
    n = knots.shape[0]
    if n == 0:
        raise ShapeError("interp: xp and fp are empty; expected at least one point")
    if period is not None:
        period = real_arg(period, "interp", "period")
        if period == 0:
            raise ArgumentError("interp: period=0; expected a nonzero period")
        period = abs(period)
        x = xp.remainder(_float(xp, x), period)
        knots = xp.remainder(_float(xp, knots), period)
        order = np.argsort(values_of(knots), kind="stable")
        knots, fp = xp.take_sorted(knots, order, axis=0), xp.take_sorted(fp, order, axis=0)
        first, final = xp.getitem(knots, index=(slice(0, 1),)), xp.getitem(knots, index=(slice(n - 1, n),))
        knots = xp.concatenate(xp.subtract(final, period), knots, xp.add(first, period), axis=0)
        fp = xp.concatenate(xp.getitem(fp, index=(slice(n - 1, n),)), fp, xp.getitem(fp, index=(slice(0, 1),)),
                            axis=0)
        n, left, right = n + 2, None, None
    first, final = xp.getitem(fp, index=(0,)), xp.getitem(fp, index=(n - 1,))
    kv, xv = values_of(knots), values_of(x)
    if n == 1:
        y = xp.add(xp.multiply(x, np.zeros((), dtype=fp.dtype)), first)
    else:
        j = np.clip(np.searchsorted(kv, xv, side="right") - 1, 0, n - 2)
        x0, x1 = xp.getitem(knots, index=(j,)), xp.getitem(knots, index=(j + 1,))
        f0, f1 = xp.getitem(fp, index=(j,)), xp.getitem(fp, index=(j + 1,))
        slope = xp.divide(xp.subtract(f1, f0), xp.subtract(x1, x0))
        y = xp.add(xp.multiply(slope, xp.subtract(x, x0)), f0)
    y = xp.where(xv < kv[0], first if left is None else left, y)
    return xp.where(xv > kv[-1], final if right is None else right, y)


def polyval(xp, p, x):
    """``np.polyval``: the polynomial with coefficients ``p`` (highest power first) at ``x``, by Horner's
    rule as NumPy evaluates it."""
    if p.ndim == 0:
        raise ShapeError(f"polyval: coefficients of shape {p.shape}; expected a 1-D sequence")
    y = xp.multiply(x, np.zeros((), dtype=p.dtype if p.dtype.kind == "f" else np.float64))
    for i in range(p.shape[0]):
        y = xp.add(xp.multiply(y, x), xp.getitem(p, index=(i,)))
    return y


def _uneven_weights(dx):
    """NumPy's finite-difference weights for the spacings ``dx`` between coordinates: the interior's three
    (second-order central differences), and the first and the last point's for ``edge_order=2``. Written
    with operators and slices, so that ``dx`` may be an array (constant coordinates) or a Tensor
    (coordinates that take a gradient: the weights are then recorded on the graph)."""
    dx1, dx2 = dx[:-1], dx[1:]
    inner = [-dx2 / (dx1 * (dx1 + dx2)), (dx2 - dx1) / (dx1 * dx2), dx1 / (dx2 * (dx1 + dx2))]
    d1, d2 = dx[0], dx[1]
    head = [-(2.0 * d1 + d2) / (d1 * (d1 + d2)), (d1 + d2) / (d1 * d2), -d1 / (d2 * (d1 + d2))]
    d1, d2 = dx[-2], dx[-1]
    tail = [d2 / (d1 * (d1 + d2)), -(d2 + d1) / (d1 * d2), (2.0 * d2 + d1) / (d2 * (d1 + d2))]
    return inner, head, tail


def gradient(xp, f, *varargs, axis=None, edge_order=1):
    """``np.gradient``: central differences inside, one-sided (``edge_order`` 1 or 2) at the edges, with
    spacings per axis (numbers or 1-D coordinates), as NumPy. A spacing given as a Tensor that requires
    grad is differentiated too. Returns one array for one axis, a tuple for several.

    Raises ArgumentError for a wrong ``edge_order`` or number of spacings, ShapeError for an axis too short
    for ``edge_order`` or coordinates of the wrong length."""
    f = _float(xp, f)
    axes = tuple(range(f.ndim)) if axis is None else axes_arg(axis, f.ndim, "gradient")
    edge_order = int_arg(edge_order, "gradient", "edge_order")
    if edge_order not in (1, 2):
        raise ArgumentError(f"gradient: edge_order={edge_order}; expected 1 or 2")
    if not varargs:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(values_of(varargs[0])) == 0:
        spacings = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacings = list(varargs)
    else:
        raise ArgumentError(f"gradient: {len(varargs)} spacings for {len(axes)} axes; expected none, one number, "
                            "or one per axis")
    dtype = f.dtype
    out = []
    for ax, h in zip(axes, spacings):
        n = f.shape[ax]
        if n < edge_order + 1:
            raise ShapeError(f"gradient: an axis of length {n} (shape {f.shape}, axis {ax}); expected at least "
                             f"{edge_order + 1} entries for edge_order={edge_order}")
        hv = values_of(h)
        if hv.ndim > 1:
            raise ShapeError(f"gradient: a spacing of shape {hv.shape}; expected a number or 1-D coordinates")
        if hv.ndim == 1 and hv.shape[0] != n:
            raise ShapeError(f"gradient: coordinates of length {hv.shape[0]} along axis {ax} of length {n}; "
                             "expected equal lengths")
        if getattr(h, "requires_grad", False):  # a variable spacing: its weights are computed on the graph
            h = h if h.dtype == dtype else xp.astype(h, dtype=dtype)
        else:
            h = hv.astype(np.float64)
            if h.ndim == 1 and np.all(np.diff(h) == h[1] - h[0]):
                h = h[1] - h[0]  # even coordinates: NumPy's (faster) formula for a uniform spacing

        def part(lo, hi, lead=(slice(None),) * ax):
            return xp.getitem(f, index=lead + (slice(lo, hi),))

        def weight(w, ax=ax):  # a weight along the axis, broadcast over the others
            if getattr(w, "requires_grad", False):
                return xp.reshape(w, shape=(-1,) + (1,) * (f.ndim - ax - 1)) if w.ndim else w
            return np.asarray(w, dtype=dtype).reshape((-1,) + (1,) * (f.ndim - ax - 1) if np.ndim(w) else ())

        def mix(weights, pieces):
            total = xp.multiply(weight(weights[0]), pieces[0])
            for w, p in zip(weights[1:], pieces[1:]):
                total = xp.add(total, xp.multiply(weight(w), p))
            return total

        if h.ndim == 0:  # NumPy's formulas for a uniform spacing (the same rounding)
            inner = xp.divide(xp.subtract(part(2, n), part(0, n - 2)), weight(2.0 * h))
            first = last = h
            if edge_order == 2:
                head = mix([-1.5 / h, 2.0 / h, -0.5 / h], [part(0, 1), part(1, 2), part(2, 3)])
                tail = mix([0.5 / h, -2.0 / h, 1.5 / h], [part(n - 3, n - 2), part(n - 2, n - 1), part(n - 1, n)])
        else:
            dx = h[1:] - h[:-1]
            inner_w, head_w, tail_w = _uneven_weights(dx) if n > 2 else ([], [], [])
            inner = mix(inner_w, [part(0, n - 2), part(1, n - 1), part(2, n)]) if n > 2 else part(1, 1)
            first, last = dx[0], dx[-1]
            if edge_order == 2:
                head = mix(head_w, [part(0, 1), part(1, 2), part(2, 3)])
                tail = mix(tail_w, [part(n - 3, n - 2), part(n - 2, n - 1), part(n - 1, n)])
        if edge_order == 1:
            head = xp.divide(xp.subtract(part(1, 2), part(0, 1)), weight(first))
            tail = xp.divide(xp.subtract(part(n - 1, n), part(n - 2, n - 1)), weight(last))
        out.append(xp.concatenate(head, inner, tail, axis=ax))
    return out[0] if len(out) == 1 else tuple(out)


def partition(xp, a, kth, axis=-1):
    """``np.partition``: ``a`` rearranged along ``axis`` so that the ``kth`` entries are where a sort puts
    them (smaller before, larger after), the permutation of ``np.argpartition``; the gradient goes back
    through that permutation (among equal entries, to the one it chose)."""
    if axis is None:
        a, axis = xp.reshape(a, shape=(-1,)), 0
    axis = axis_arg(axis, a.ndim, "partition")
    try:
        order = np.argpartition(values_of(a), kth, axis=axis)
    except (ValueError, TypeError) as exc:
        raise ShapeError(f"partition: kth={shown(kth)} for an axis of length {a.shape[axis]}; expected integers "
                         f"in [{-a.shape[axis]}, {a.shape[axis]}) (NumPy says: {exc})") from None
    return xp.take_sorted(a, order, axis=axis)

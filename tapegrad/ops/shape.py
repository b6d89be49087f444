"""Shape, indexing and dtype primitives.

Most of these move entries around without changing them, so their VJP moves the gradient back:
``reshape`` reshapes it, ``transpose`` applies the inverse permutation, ``broadcast_to`` and
``sum_to`` are each other's adjoint, ``getitem`` scatters the gradient into zeros (repeated
indices accumulate) and ``scatter_add`` gathers it.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from ..errors import ArgumentError, DTypeError, ShapeError
from . import batching as B
from .registry import Primitive

SHAPES = "a shape with the same number of entries"


# -- validating the axis and size arguments of operations -----------------------------------------
# Every method or factory that takes an axis, a shape or a count checks it here, once, before any
# primitive runs: NumPy would wrap an axis modulo ndim in places, truncate 2.5 to 2, or raise a
# bare IndexError/OverflowError/TypeError that does not name the operation.

def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages (so that no input, however
    large or hostile, makes a message long)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


NUMERIC = "biufc"  # the dtype kinds a tensor may hold: bool, integers, floats, complex
MAX_SIZE = int(np.iinfo(np.intp).max)  # the largest size or count NumPy can take
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}  # a value of a higher kind does not fit a lower one


def dtype_arg(dtype: Any, op: str) -> np.dtype:
    """``dtype`` as a numeric NumPy dtype.

    Raises:
        DTypeError: if NumPy does not know it, or it is not numeric (strings, objects, dates).
    """
    try:
        result = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"{op}: dtype={shown(dtype)} is not a NumPy dtype") from None
    if result.kind not in NUMERIC:
        raise DTypeError(f"{op}: dtype {result}; expected a numeric dtype (bool, integer, floating or complex)")
    return result


def fill_arg(value: Any, dtype: np.dtype, op: str, arg: str) -> np.ndarray:
    """``value``, a single number to be written into an array of ``dtype``, as an array.

    Raises:
        DTypeError: if it is not a number, or is of a kind that ``dtype`` cannot hold without
            changing it (a float into integers: truncated; a complex into reals: imaginary part lost).
        ShapeError: if it is not a single number.
    """
    try:
        array = np.asarray(value)
    except ValueError:
        array = np.asarray(None)  # ragged: reported as not a number below
    if array.dtype.kind not in NUMERIC:
        raise DTypeError(f"{op}: {arg}={shown(value)}; expected a number")
    if array.ndim:
        raise ShapeError(f"{op}: {arg} of shape {array.shape}; expected a single number")
    kind = array.dtype.kind
    if _KIND_RANK[kind] > _KIND_RANK[dtype.kind] and not (kind in "iu" and dtype.kind == "b" and array in (0, 1)):
        raise DTypeError(f"{op}: {arg}={shown(value)} ({array.dtype}) cannot be stored in a {dtype} tensor "
                         f"without changing it; expected a {dtype.kind == 'c' and 'complex' or dtype} value")
    return array


def counts_arg(value: Any, op: str, arg: str) -> np.ndarray:
    """``value`` (an int or nested sequences of them, e.g. pad widths or repeat counts) as an
    integer array with entries in ``[0, MAX_SIZE]``.

    Raises:
        ArgumentError: if it is ragged, or holds anything but non-negative integers.
    """
    try:
        counts = np.asarray(value)
    except (ValueError, TypeError):
        counts = None
    if counts is None or counts.dtype.kind not in "iu" or (
            counts.size and not 0 <= counts.min() <= counts.max() <= MAX_SIZE):
        raise ArgumentError(f"{op}: {arg}={shown(value)}; expected non-negative integers")
    return counts


def int_arg(value: Any, op: str, arg: str) -> int:
    """``value`` as a Python int: an int, a NumPy integer or a 0-d integer array.

    Raises:
        ArgumentError: for anything else, bools and floats included (``2.5`` is never truncated).
    """
    if value.__class__ is int:
        return value
    if not isinstance(value, (bool, np.bool_)):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise ArgumentError(f"{op}: {arg} must be an integer, got {shown(value)} ({type(value).__name__})")


def real_arg(value: Any, op: str, arg: str, low: float = -math.inf, high: float = math.inf,
             low_open: bool = False, high_open: bool = False) -> Any:
    """``value`` itself, a setting of ``op`` (a loss's ``margin``, an optimizer's ``lr``, ...).

    Raises:
        ArgumentError: naming ``op`` and ``arg`` unless it is a finite real number (a Python or NumPy
            scalar, not a bool) in ``[low, high]`` (an end excluded with ``low_open``/``high_open``).
    """
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)) \
            and math.isfinite(value) and low <= value <= high and not (low_open and value == low) \
            and not (high_open and value == high):
        return value
    if math.isinf(low) and math.isinf(high):
        bounds = ""
    elif math.isinf(high):
        bounds = f" {'>' if low_open else '>='} {low}"
    else:
        bounds = f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    raise ArgumentError(f"{op}: {arg}={shown(value)} ({type(value).__name__}); expected a finite real number{bounds}")


def count_arg(value: Any, op: str, arg: str) -> int:
    """``value`` as a non-negative Python int (a size, a count, a number of repetitions).

    Raises:
        ArgumentError: if it is not an integer or is negative.
    """
    n = int_arg(value, op, arg)
    if not 0 <= n <= MAX_SIZE:
        raise ArgumentError(f"{op}: {arg} must be a non-negative integer below 2**63, got {n}")
    return n


def axis_arg(axis: Any, ndim: int, op: str, arg: str = "axis") -> int:
    """``axis`` of a tensor with ``ndim`` dimensions as an int in ``[0, ndim)``; negative axes
    count from the end, as in NumPy.

    Raises:
        ArgumentError: if ``axis`` is not an integer.
        ShapeError: if it is outside ``[-ndim, ndim)`` (never wrapped modulo ndim).
    """
    a = int_arg(axis, op, arg)
    if -ndim <= a < ndim:
        return a + ndim if a < 0 else a
    expected = "a 0-d tensor has no axes" if ndim == 0 else f"expected an int in [{-ndim}, {ndim})"
    raise ShapeError(f"{op}: {arg}={a} is out of range for a tensor of {ndim} dimension(s); {expected}")


def axes_arg(axis: Any, ndim: int, op: str, arg: str = "axis") -> tuple[int, ...]:
    """``axis`` (an int, or a tuple or list of ints) as a tuple of distinct axes in ``[0, ndim)``.

    Raises:
        ArgumentError: if an entry is not an integer.
        ShapeError: if an axis is out of range or named twice.
    """
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    axes = tuple(axis_arg(a, ndim, op, arg) for a in items)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{op}: {arg}={shown(axis)} names an axis twice; expected distinct axes")
    return axes


def reduction_axis_arg(axis: Any, ndim: int, op: str) -> Any:
    """A reduction's ``axis`` (None, an int or a sequence of ints) checked as :func:`axes_arg`
    does and returned as given (ints, a tuple for a sequence), so the recorded parameter reads as
    the caller wrote it."""
    if axis is None or (axis.__class__ is int and -ndim <= axis < ndim):
        return axis
    if axis.__class__ is tuple:  # the common valid tuple, checked without the general path
        for a in axis:
            if a.__class__ is not int or not -ndim <= a < ndim:
                break
        else:
            if len({a % ndim for a in axis}) == len(axis):
                return axis
    axes_arg(axis, ndim, op)
    return tuple(int(a) for a in axis) if isinstance(axis, (tuple, list)) else int(axis)


def shape_arg(shape: tuple, op: str, infer: bool = False) -> tuple[int, ...]:
    """The sizes of ``f(2, 3)`` or ``f((2, 3))`` as a tuple of non-negative ints; with ``infer``,
    one entry may be -1 (the size to infer, as in ``reshape``).

    Raises:
        ArgumentError: if a size is not an integer.
        ShapeError: if a size is negative (other than one -1 with ``infer``).
    """
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, np.ndarray)):
        shape = tuple(shape[0])
    for n in shape:  # the common valid shape, checked without the general path
        if n.__class__ is not int or not (-1 if infer else 0) <= n <= MAX_SIZE:
            break
    else:
        if not infer or shape.count(-1) <= 1:
            return shape if shape.__class__ is tuple else tuple(shape)
    try:
        sizes = tuple(n if n.__class__ is int else int_arg(n, op, "shape") for n in shape)
    except ArgumentError:
        raise ArgumentError(f"{op}: shape {shown(shape)} has a size that is not an integer; expected "
                            "integers (a float is never truncated)") from None
    for n in sizes:
        if n > MAX_SIZE:
            raise ShapeError(f"{op}: shape {sizes} has a size of 2**63 or more; no array is that large")
        if n < 0 and not (infer and n == -1):
            expected = "non-negative sizes and at most one -1" if infer else "non-negative sizes"
            raise ShapeError(f"{op}: shape {sizes} has a negative size; expected {expected}")
    if infer and sizes.count(-1) > 1:
        raise ShapeError(f"{op}: shape {sizes} has more than one -1; at most one size can be inferred")
    return sizes


def sum_to_forward(x, shape):
    """Sum ``x`` over the axes that broadcasting to ``x.shape`` added or stretched, giving ``shape``."""
    shape = tuple(shape)
    if (x.shape if x.__class__ is np.ndarray else np.shape(x)) == shape:
        return x
    lead = np.ndim(x) - len(shape)
    stretched = tuple(i + lead for i, n in enumerate(shape) if n == 1 and x.shape[i + lead] != 1)
    summed = np.sum(x, axis=tuple(range(lead)) + stretched, keepdims=True)
    return summed.reshape(shape) if lead else summed


def _is_basic(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


def _getitem(x, index):
    out = x[index]
    if out.__class__ is not np.ndarray and x.__class__ is np.ndarray:
        # One entry: NumPy gives a scalar (a copy); a 0-d view instead, so that it shares memory as
        # every other basic index does (and as in PyTorch). An index with ... already gives one.
        out = x[(index if isinstance(index, tuple) else (index,)) + (Ellipsis,)]
    return out


def _scatter_add(x, index, shape):
    out = np.zeros(shape, dtype=x.dtype)
    if _is_basic(index):
        out[index] = x
    else:
        np.add.at(out, index, x)  # repeated indices accumulate
    return out


def _setitem(x, value, index):
    out = np.array(x, copy=True)
    out[index] = value
    return out


def _transpose_forward(x, axes=None):
    return x.transpose(axes)  # the method: much cheaper per call than the np.transpose wrapper


def _broadcast_to(x, shape):
    """``np.broadcast_to``: a read-only view, built directly for a single value (the gradient of a
    full reduction arrives as one), where NumPy's general path costs several times more."""
    if x.__class__ is np.ndarray and x.ndim == 0:
        shape = tuple(shape)
        view = np.ndarray(shape, x.dtype, buffer=x, strides=(0,) * len(shape))  # rejects negative sizes
        view.flags.writeable = False
        return view
    return np.broadcast_to(x, shape)


def _reshape(x, shape):
    return x.reshape(shape)


def _inverse_axes(axes, ndim):
    if axes is None:
        return None
    return tuple(np.argsort([a % ndim for a in axes]))


def _concatenate(*xs, axis=0):
    return np.concatenate(xs, axis=axis)


def _piece(inputs, argnum, axis):
    """The index that selects input ``argnum``'s part of a concatenation along ``axis``."""
    ndim = inputs[0].ndim
    axis = axis % ndim
    start = sum(inputs[i].shape[axis] for i in range(argnum))
    stop = start + inputs[argnum].shape[axis]
    return (slice(None),) * axis + (slice(start, stop),)


def _concatenate_vjp(xp, g, ans, *inputs, argnum, axis=0):
    return xp.getitem(g, index=_piece(inputs, argnum, axis))


def _concatenate_vjp_all(xp, g, ans, *inputs, axis=0):
    """Every input's part of ``g`` in one pass: the offsets summed once (O(n), where each input's own
    rule sums the sizes before it: O(n^2) for a stack of n tensors)."""
    axis = axis % inputs[0].ndim
    lead, start, parts = (slice(None),) * axis, 0, []
    for x in inputs:
        stop = start + x.shape[axis]
        parts.append(xp.getitem(g, index=lead + (slice(start, stop),)))
        start = stop
    return tuple(parts)


def _concatenate_jvp(xp, t, ans, *inputs, argnum, axis=0):
    return xp.setitem(xp.zeros_like(ans), t, index=_piece(inputs, argnum, axis))


def _pad_widths(pad_width, ndim):
    return np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (ndim, 2))


def _pad(x, pad_width, constant_values=0):
    if np.ndim(x) == 0:  # nothing to pad along
        return np.array(x, copy=True)
    return np.pad(x, _pad_widths(pad_width, np.ndim(x)), mode="constant", constant_values=constant_values)


def _unpad(xp, g, ans, x, pad_width, constant_values=0):
    widths = _pad_widths(pad_width, x.ndim)
    return xp.getitem(g, index=tuple(slice(b, b + n) for (b, _), n in zip(widths, x.shape)))


def _astype(x, dtype):
    return np.asarray(x).astype(dtype, copy=False)


# -- batching rules (tg.vmap): one example's shapes, axes and indices, applied behind the batch axis --

def _resolved(shape, size):
    """``shape`` with its -1 (if any) replaced by the size that gives ``size`` entries."""
    shape = tuple(shape)
    if -1 not in shape:
        return shape
    known = math.prod(n for n in shape if n != -1)
    return tuple(size // known if n == -1 and known else (0 if n == -1 else n) for n in shape)


def _reshape_batch(xp, prim, size, batched, /, x, shape):
    return xp.reshape(x, shape=(x.shape[0],) + _resolved(shape, math.prod(x.shape[1:])))


def _transpose_batch(xp, prim, size, batched, /, x, axes=None):
    rank = x.ndim - 1
    order = tuple(range(rank, 0, -1)) if axes is None else tuple(int(a) % rank + 1 for a in axes)
    return xp.transpose(x, axes=(0,) + order)


def _broadcast_to_batch(xp, prim, size, batched, /, x, shape):
    return xp.broadcast_to(B.with_rank(xp, x, len(shape)), shape=(size,) + tuple(shape))


def _sum_to_batch(xp, prim, size, batched, /, x, shape):
    lead = x.ndim - 1 - len(shape)
    if lead > 0:  # the axes broadcasting added in front of one example's axes
        x = xp.sum(x, axis=tuple(range(1, lead + 1)))
    return xp.sum_to(x, shape=(size,) + tuple(shape))


def _getitem_batch(xp, prim, size, batched, /, x, index):
    items = B.index_items(index)
    out = xp.getitem(x, index=(slice(None),) + items)
    return B.moved_to_front(xp, out, B.batch_axis_of_index(items)[0])


def _scatter_add_batch(xp, prim, size, batched, /, x, index, shape):
    items = B.index_items(index)
    x = B.moved_from_front(xp, x, B.batch_axis_of_index(items)[0])
    return xp.scatter_add(x, index=(slice(None),) + items, shape=(size,) + tuple(shape))


def indexed_shape(shape, index) -> tuple[int, ...]:
    """The shape of ``x[index]`` for an ``x`` of ``shape`` (computed on a broadcast view of one byte)."""
    return np.broadcast_to(np.zeros((), bool), shape)[index].shape


def _setitem_batch(xp, prim, size, batched, /, x, value, index):
    items = B.index_items(index)
    example = tuple(x.shape[1:]) if batched[0] else tuple(x.shape)
    part = indexed_shape(example, index)
    if not batched[0]:
        x = B.expanded(xp, x, size)
    value = B.with_rank(xp, value if batched[1] else B.expanded(xp, value, size), len(part))
    value = B.moved_from_front(xp, value, B.batch_axis_of_index(items)[0])
    return xp.setitem(x, value, index=(slice(None),) + items)


def _pad_batch(xp, prim, size, batched, /, x, pad_width, constant_values=0):
    widths = tuple(tuple(int(w) for w in pair) for pair in _pad_widths(pad_width, x.ndim - 1))
    return xp.pad(x, pad_width=((0, 0),) + widths, constant_values=constant_values)


def _assign_view_batch(xp, prim, size, batched, /, x, value, chain):
    example = tuple(x.shape[1:]) if batched[0] else tuple(x.shape)
    positions = _view_positions(example, chain)
    flat = xp.reshape(x if batched[0] else B.expanded(xp, x, size), shape=(size, math.prod(example)))
    value = B.with_rank(xp, value if batched[1] else B.expanded(xp, value, size), positions.ndim)
    value = xp.broadcast_to(value, shape=(size,) + positions.shape)
    return xp.reshape(xp.setitem(flat, value, index=(slice(None), positions)), shape=(size,) + example)


reshape = Primitive(
    "reshape", _reshape,
    vjps=(lambda xp, g, ans, x, shape: xp.reshape(g, shape=x.shape),),
    jvps=(lambda xp, t, ans, x, shape: xp.reshape(t, shape=shape),),
    saves_inputs=False, expects=SHAPES, batch=_reshape_batch,
)

transpose = Primitive(
    "transpose", _transpose_forward,
    vjps=(lambda xp, g, ans, x, axes=None: xp.transpose(g, axes=_inverse_axes(axes, x.ndim)),),
    jvps=(lambda xp, t, ans, x, axes=None: xp.transpose(t, axes=axes),),
    saves_inputs=False, expects="a permutation of the axes", batch=_transpose_batch,
)

broadcast_to = Primitive(
    "broadcast_to", _broadcast_to,
    vjps=(lambda xp, g, ans, x, shape: xp.sum_to(g, shape=x.shape),),
    jvps=(lambda xp, t, ans, x, shape: xp.broadcast_to(t, shape=shape),),
    saves_inputs=False, expects="a target shape the input broadcasts to", batch=_broadcast_to_batch,
)

sum_to = Primitive(
    "sum_to", sum_to_forward,
    vjps=(lambda xp, g, ans, x, shape: xp.broadcast_to(g, shape=x.shape),),
    jvps=(lambda xp, t, ans, x, shape: xp.sum_to(t, shape=shape),),
    saves_inputs=False, expects="a target shape that broadcasts to the input's shape", batch=_sum_to_batch,
)

getitem = Primitive(
    "getitem", _getitem,
    vjps=(lambda xp, g, ans, x, index: xp.scatter_add(g, index=index, shape=x.shape),),
    jvps=(lambda xp, t, ans, x, index: xp.getitem(t, index=index),),
    saves_inputs=False, expects="an index within the tensor's shape", batch=_getitem_batch,
)

scatter_add = Primitive(
    "scatter_add", _scatter_add,
    vjps=(lambda xp, g, ans, x, index, shape: xp.getitem(g, index=index),),
    jvps=(lambda xp, t, ans, x, index, shape: xp.scatter_add(t, index=index, shape=shape),),
    saves_inputs=False, expects="values shaped like the indexed part", batch=_scatter_add_batch,
)

setitem = Primitive(
    "setitem", _setitem,
    vjps=(lambda xp, g, ans, x, v, index: xp.setitem(g, 0, index=index),
          lambda xp, g, ans, x, v, index: xp.getitem(g, index=index)),
    jvps=(lambda xp, t, ans, x, v, index: xp.setitem(t, 0, index=index),
          lambda xp, t, ans, x, v, index: xp.setitem(xp.zeros_like(ans), t, index=index)),
    saves_inputs=False,
    expects="a value that broadcasts to the shape of the indexed part", batch=_setitem_batch,
)

def _view_positions(shape, chain):
    """Where the entries of ``view(x)`` sit in ``x`` (flat, C order) for an ``x`` of ``shape``: the
    chain of view primitives ``((prim, params), ...)`` applied to the positions themselves."""
    positions = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
    for prim, params in chain:
        if prim is not astype:  # a view keeps its dtype; the positions stay integers
            positions = prim.forward(positions, **params)
    return positions


def _assign_view(x, value, chain):
    out = np.array(x, copy=True)
    positions = _view_positions(out.shape, chain)
    np.put(out, positions, np.broadcast_to(value, positions.shape))
    return out


def _view_of(xp, x, chain):
    for prim, params in chain:
        x = xp.call(prim, x, **params)
    return x


concatenate = Primitive(
    "concatenate", _concatenate, vjps=(_concatenate_vjp,), jvps=(_concatenate_jvp,), vjp_all=_concatenate_vjp_all,
    saves_inputs=False, variadic=True,
    expects="tensors with the same number of dimensions and equal shapes except along axis",
    batch=B.joined_over_axis("axis", 0),
)

pad = Primitive(
    "pad", _pad,
    vjps=(_unpad,),
    jvps=(lambda xp, t, ans, x, pad_width, constant_values=0: xp.pad(t, pad_width=pad_width),),
    saves_inputs=False, expects="non-negative pad widths: an int, a (before, after) pair, or one pair per axis",
    batch=_pad_batch,
)

flip = Primitive(
    "flip", np.flip,
    vjps=(lambda xp, g, ans, x, axis=None: xp.flip(g, axis=axis),),
    jvps=(lambda xp, t, ans, x, axis=None: xp.flip(t, axis=axis),),
    saves_inputs=False, expects="valid axes", batch=B.over_axes("axis", axis=None),
)

astype = Primitive(
    "astype", _astype,
    vjps=(lambda xp, g, ans, x, dtype: xp.astype(xp.real(g) if g.dtype.kind == "c" and x.dtype.kind != "c" else g,
                                                  dtype=x.dtype),),
    jvps=(lambda xp, t, ans, x, dtype: xp.astype(t, dtype=dtype),),
    saves_inputs=False, expects="a NumPy dtype", batch=B.leading,
)

copy = Primitive(
    "copy", np.array,
    vjps=(lambda xp, g, ans, x: g,), jvps=(lambda xp, t, ans, x: t,), saves_inputs=False, batch=B.leading,
)

zeros_like = Primitive("zeros_like", np.zeros_like, saves_inputs=False, batch=B.leading)

# ``x`` with its view ``chain(x)`` overwritten by ``value``: what an in-place change through a view
# does to the tensor it views (``v = y[0:2]; v += 1`` changes ``y``), recorded on ``y``'s history.
assign_view = Primitive(
    "assign_view", _assign_view,
    vjps=(lambda xp, g, ans, x, v, chain: xp.assign_view(g, 0, chain=chain),
          lambda xp, g, ans, x, v, chain: _view_of(xp, g, chain)),
    jvps=(lambda xp, t, ans, x, v, chain: xp.assign_view(t, 0, chain=chain),
          lambda xp, t, ans, x, v, chain: xp.assign_view(xp.zeros_like(ans), t, chain=chain)),
    saves_inputs=False,
    expects="a value that broadcasts to the shape of the view", batch=_assign_view_batch,
)

# Operations without gradient that the Tensor runs as primitives so that an observer (``tg.compile``'s
# tracer) sees them: a tensor detached from another, an array made from a tensor (``tg.tensor(t)``), and
# the positions a boolean mask tensor selects along one axis. Not in the registry: they take no gradient.
detach = Primitive("detach", np.ndarray.view, saves_inputs=False, batch=B.leading)
as_array = Primitive("as_array", lambda x, dtype=None, copy=False: np.array(x, dtype=dtype, copy=True) if copy
                     else np.asarray(x, dtype=dtype), saves_inputs=False, batch=B.leading)


def _nonzero_batch(xp, prim, size, batched, /, mask, axis):
    raise ShapeError("a boolean mask inside tg.vmap selects a different number of entries in each example, so "
                     "the result would have no one shape; keep every entry and choose per example with "
                     "tg.where(mask, x, 0) (or multiply by the mask) instead")


nonzero = Primitive("nonzero", lambda mask, axis: np.nonzero(mask)[axis], saves_inputs=False, value_shaped=True,
                    expects="a boolean mask with at least one dimension", batch=_nonzero_batch)


def _check_index(index, length, op, negative=True):
    """``index`` (integers) with negative entries (if ``negative``) counted from the end of an axis of ``length``.

    Raises:
        DTypeError: for indices that are not integers. ShapeError: for one outside ``[-length, length)``
            (``[0, length)`` unless ``negative``).
    """
    index = np.asarray(index)
    if index.dtype.kind not in "iu":
        raise DTypeError(f"{op}: an index of dtype {index.dtype}; expected integers")
    low = -length if negative else 0
    if index.size and (index.min() < low or index.max() >= length):
        raise ShapeError(f"{op}: indices from {index.min()} to {index.max()} for an axis of length {length}; "
                         f"expected indices in [{low}, {length})")
    return np.where(index < 0, index + length, index) if index.size and index.min() < 0 else index


# Integer indices checked against an axis's length and made non-negative: the indices of an index that is
# itself batched (``x[labels]`` inside tg.vmap), which the Tensor gathers with ``embedding``. No gradient.
check_index = Primitive("check_index", _check_index, saves_inputs=False, batch=B.elementwise,
                        expects="integer indices within the axis")

PRIMITIVES = (reshape, transpose, broadcast_to, sum_to, getitem, scatter_add, setitem, concatenate,
              pad, flip, astype, copy, zeros_like, assign_view)

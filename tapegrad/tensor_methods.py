"""The Tensor's methods: elementwise functions, reductions, shape, indexing, dtype, linear algebra.

Each is a call of one primitive (or a short composition of such calls). They live in this mixin so
that :mod:`tapegrad.tensor` stays small; ``self._record`` is :func:`tapegrad.tensor.apply`,
``_record_unary``/``_record_binary`` its fast paths for one and two inputs, and ``_record_view`` the
one for operations whose result may view the input's memory.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .engine.modes import SPECIAL_MODES
from .engine.modes import state as _grad_state
from .errors import ArgumentError, DTypeError, ShapeError
from .ops import arithmetic as A
from .ops import elementwise as E
from .ops import linalg as L
from .ops import nn as N
from .ops import reduce as R
from .ops import shape as S
from .ops.registry import Primitive

if TYPE_CHECKING:
    from .tensor import Tensor


#: The positions a boolean mask selects along one axis. Used while tg.compile traces, so that the
#: schedule computes them from the mask at every call (not a registered operation: it takes no gradient).
NONZERO = Primitive("nonzero", lambda mask, axis: np.nonzero(mask)[axis], saves_inputs=False,
                    expects="a boolean mask with at least one dimension")


def _normalize_index(index: Any, shape: tuple[int, ...] | None = None, op: str = "getitem") -> Any:
    """An index with Tensors replaced by arrays and boolean masks by the integer arrays they select.

    Raises:
        ShapeError: given the indexed tensor's ``shape``, if a boolean mask's shape differs from
            that of the axes it covers (NumPy's rule; the integer arrays alone would lose it).
    """
    if index.__class__ is slice or index.__class__ is int:  # the common cases, nothing to normalize
        return index
    items = index if isinstance(index, tuple) else (index,)
    normalized = []
    masks = False
    for item in items:
        tensor = None
        if isinstance(item, TensorMethods):
            tensor, item = item, item.data
        elif isinstance(item, list):
            item = np.asarray(item)
        if isinstance(item, np.ndarray) and item.dtype == bool:
            if item.ndim == 0:  # one True or False: a new axis of length 1 or 0, as NumPy reads it
                if tensor is not None:
                    tensor._not_while_tracing("use as a 0-d mask (a shape that follows the values)")
                normalized.append(item[()])
                continue
            masks = True
            if tensor is not None and SPECIAL_MODES.count and _grad_state.trace is not None:
                normalized.extend(tensor._record(NONZERO, tensor, axis=d).data for d in range(max(item.ndim, 1)))
                continue
            normalized.extend(np.nonzero(item))
        else:
            normalized.append(item)
    if masks and shape is not None:
        _check_masks(items, shape, op)
    return tuple(normalized) if isinstance(index, tuple) or len(normalized) != 1 else normalized[0]


def _check_masks(items: tuple, shape: tuple[int, ...], op: str) -> None:
    """Raise ShapeError if a boolean mask in ``items`` does not have the shape of the axes it covers."""
    if not any(isinstance(i, (np.ndarray, list, TensorMethods)) for i in items):
        return  # ints, slices, None, Ellipsis: no mask
    items = tuple(np.asarray(i.data if isinstance(i, TensorMethods) else i) if isinstance(i, (list, TensorMethods))
                  else i for i in items)

    def covered(item: Any) -> int:  # how many axes of the tensor an index item consumes
        if item is None or item is Ellipsis or isinstance(item, (bool, np.bool_)):  # a scalar bool adds an axis
            return 0
        if isinstance(item, np.ndarray) and item.dtype == bool:
            return item.ndim
        return 1

    axis = 0
    for item in items:
        if item is Ellipsis:
            axis += len(shape) - sum(covered(i) for i in items)
        elif isinstance(item, np.ndarray) and item.dtype == bool and item.ndim:
            part = tuple(shape[axis:axis + item.ndim])
            if item.shape != part:
                raise ShapeError(f"{op}: a boolean mask of shape {item.shape} at axis {axis} of a tensor of "
                                 f"shape {tuple(shape)}; expected a mask of shape {part}")
        axis += covered(item)


def _array_of(value: Any, what: str = "a count or size") -> Any:
    """A Tensor's data, for a parameter that fixes the result's shape (counts, sizes, split points);
    anything else as it is.

    Raises:
        TracingError: for a Tensor while ``tg.compile`` traces: the shape would be fixed at its traced value.
    """
    if isinstance(value, TensorMethods):
        value._not_while_tracing(f"use as {what} (a shape that follows the values)")
        return value.data
    return value


def describe(value: Any) -> str:
    """How an operand is named in error messages: its shape and dtype, or its repr."""
    if isinstance(value, (TensorMethods, np.ndarray)):
        return f"shape {tuple(value.shape)} {value.dtype}"
    return repr(value)


class TensorMethods:
    """Methods shared by every :class:`~tapegrad.tensor.Tensor`."""

    __slots__ = ()

    # -- elementwise functions -------------------------------------------------------------------
    def exp(self) -> Tensor: return self._record_unary(E.exp, self)
    def log(self) -> Tensor: return self._record_unary(E.log, self)
    def log1p(self) -> Tensor: return self._record_unary(E.log1p, self)
    def expm1(self) -> Tensor: return self._record_unary(E.expm1, self)
    def sqrt(self) -> Tensor: return self._record_unary(E.sqrt, self)
    def abs(self) -> Tensor: return self._record_unary(E.absolute, self)
    def sin(self) -> Tensor: return self._record_unary(E.sin, self)
    def cos(self) -> Tensor: return self._record_unary(E.cos, self)
    def tan(self) -> Tensor: return self._record_unary(E.tan, self)
    def tanh(self) -> Tensor: return self._record_unary(E.tanh, self)
    def sign(self) -> Tensor: return self._record_unary(E.sign, self)
    def sigmoid(self) -> Tensor: return self._record_unary(N.sigmoid, self)
    def softplus(self) -> Tensor: return self._record_unary(N.softplus, self)
    def relu(self) -> Tensor: return self._record_unary(N.relu, self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        """``x`` where positive, ``negative_slope * x`` elsewhere."""
        return self._record_unary(N.leaky_relu, self, negative_slope=negative_slope)

    def elu(self, alpha: float = 1.0) -> Tensor:
        """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere."""
        return self._record_unary(N.elu, self, alpha=alpha)

    def maximum(self, other: Any) -> Tensor:
        """Elementwise maximum; where both are equal the gradient is split in half."""
        return self._record_binary(A.maximum, self, other)

    def minimum(self, other: Any) -> Tensor:
        """Elementwise minimum; where both are equal the gradient is split in half."""
        return self._record_binary(A.minimum, self, other)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (NumPy's names)
        """Limit the values to ``[min, max]`` (numbers, arrays or tensors that broadcast with this one; None
        for no bound); the gradient passes where ``min <= x <= max``, and a tensor bound takes it where it is
        the result, as in PyTorch's ``clamp``."""
        return self._record(A.clip, self, min, max)

    # -- reductions ------------------------------------------------------------------------------
    # Each raises ArgumentError for an axis that is not an integer, ShapeError for one out of range
    # or named twice (ops.shape.reduction_axis_arg).
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        axis = S.reduction_axis_arg(axis, self.ndim, "sum")
        return self._record_unary(R.sum_, self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        axis = S.reduction_axis_arg(axis, self.ndim, "mean")
        return self._record_unary(R.mean, self, axis=axis, keepdims=keepdims)

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        """Variance, ``mean((x - mean(x))**2)`` times ``n / (n - ddof)`` (NumPy's default ddof=0)."""
        axis = S.reduction_axis_arg(axis, self.ndim, "var")
        if ddof.__class__ is not int and (isinstance(ddof, (bool, np.bool_))
                                          or not isinstance(ddof, (int, float, np.integer, np.floating))):
            raise ArgumentError(f"var: ddof={S.shown(ddof)}; expected a real number (an int, usually 0 or 1)")
        return self._record_unary(R.var, self, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        """Standard deviation, the square root of :meth:`var`."""
        return self.var(axis=axis, keepdims=keepdims, ddof=ddof).sqrt()

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Product of entries; its gradient is exact when entries are zero."""
        axis = S.reduction_axis_arg(axis, self.ndim, "prod")
        return self._record_unary(R.prod, self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Largest entry; the gradient goes to the maximal entries, split equally among ties."""
        axis = S.reduction_axis_arg(axis, self.ndim, "max")
        return self._record_unary(R.max_, self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Smallest entry; the gradient goes to the minimal entries, split equally among ties."""
        axis = S.reduction_axis_arg(axis, self.ndim, "min")
        return self._record_unary(R.min_, self, axis=axis, keepdims=keepdims)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """``log(sum(exp(x)))`` computed without overflow."""
        axis = S.reduction_axis_arg(axis, self.ndim, "logsumexp")
        return self._record_unary(R.logsumexp, self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        if axis is not None:
            S.axis_arg(axis, self.ndim, "argmax")
        return self._record_unary(R.argmax, self, axis=axis, keepdims=keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        if axis is not None:
            S.axis_arg(axis, self.ndim, "argmin")
        return self._record_unary(R.argmin, self, axis=axis, keepdims=keepdims)

    def softmax(self, axis: int = -1) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``axis``, computed without overflow."""
        return self._record_unary(N.softmax, self, axis=S.reduction_axis_arg(axis, self.ndim, "softmax"))

    def log_softmax(self, axis: int = -1) -> Tensor:
        """``x - logsumexp(x)`` along ``axis``, computed without overflow."""
        return self._record_unary(N.log_softmax, self, axis=S.reduction_axis_arg(axis, self.ndim, "log_softmax"))

    # -- shape -----------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """The same entries in a new shape (``reshape(2, 3)`` or ``reshape((2, 3))``; -1 is inferred).

        Raises:
            ArgumentError: if a size is not an integer (2.5 is not truncated).
            ShapeError: for a negative size other than one -1, or a shape with another number of entries.
        """
        return self._record_view(S.reshape, self, shape=S.shape_arg(shape, "reshape", infer=True))

    def flatten(self, start_axis: int = 0, end_axis: int = -1) -> Tensor:
        """Merge the axes ``start_axis..end_axis`` (all by default) into one; a 0-d tensor
        becomes 1-d.

        Raises:
            ShapeError: if an axis is out of range or ``start_axis`` comes after ``end_axis``.
        """
        ndim = max(self.ndim, 1)
        start = S.axis_arg(start_axis, ndim, "flatten", "start_axis")
        end = S.axis_arg(end_axis, ndim, "flatten", "end_axis")
        if start > end:
            raise ShapeError(f"flatten: start_axis={start_axis} comes after end_axis={end_axis} for a "
                             f"tensor of shape {self.shape}; expected start_axis <= end_axis")
        if self.ndim == 0:
            return self.reshape(1)
        # The merged size, not -1: -1 cannot be inferred beside a size-0 axis.
        merged = math.prod(self.shape[start:end + 1])
        return self.reshape(self.shape[:start] + (merged,) + self.shape[end + 1:])

    def squeeze(self, axis: Any = None) -> Tensor:
        """Remove axes of size 1 (all of them, or those in ``axis``).

        Raises:
            ArgumentError: if an axis is not an integer.
            ShapeError: if one is out of range, named twice or not of size 1.
        """
        axes = S.axes_arg(axis, self.ndim, "squeeze") if axis is not None else \
            tuple(i for i, n in enumerate(self.shape) if n == 1)
        bad = [a for a in axes if self.shape[a] != 1]
        if bad:
            raise ShapeError(f"squeeze: axis {bad[0]} of shape {self.shape} has size "
                             f"{self.shape[bad[0]]}, expected 1")
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if i not in axes))

    def unsqueeze(self, axis: Any) -> Tensor:
        """Insert axes of size 1 at the positions ``axis`` (an int or tuple) of the result.

        Raises:
            ArgumentError: if an axis is not an integer.
            ShapeError: if one is out of range for the result or named twice.
        """
        ndim = self.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1)
        new = S.axes_arg(axis, ndim, "unsqueeze")
        sizes = iter(self.shape)
        return self.reshape(tuple(1 if i in new else next(sizes) for i in range(ndim)))

    expand_dims = unsqueeze

    def transpose(self, *axes: Any) -> Tensor:
        """Permute the axes as NumPy does (reversed when none are given); see also :meth:`swapaxes`.

        Raises:
            ArgumentError: if an axis is not an integer.
            ShapeError: if one is out of range, or the axes are not a permutation.
        """
        perm = None if not axes or axes == (None,) else self._permutation(axes, "transpose")
        return self._record_view(S.transpose, self, axes=perm)

    def permute(self, *axes: Any) -> Tensor:
        """Permute the axes: axis ``i`` of the result is axis ``axes[i]`` of this tensor.

        Raises:
            ArgumentError: if an axis is not an integer.
            ShapeError: if one is out of range, or the axes are not a permutation.
        """
        return self._record_view(S.transpose, self, axes=self._permutation(axes, "permute"))

    def _permutation(self, axes: tuple, op: str) -> tuple[int, ...]:
        """``axes`` (given as ``f(1, 0)`` or ``f((1, 0))``) checked to be a permutation of this
        tensor's axes; negative axes count from the end."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        perm = S.axes_arg(axes, self.ndim, op, "axes")
        if len(perm) != self.ndim:
            raise ShapeError(f"{op}: axes {S.shown(axes)} for a tensor of shape {self.shape}; expected a "
                             f"permutation of all {self.ndim} axes")
        return tuple(int(a) for a in axes)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        """Exchange two axes (PyTorch's ``transpose(dim0, dim1)``).

        Raises:
            ArgumentError: if an axis is not an integer. ShapeError: if one is out of range.
        """
        axis1 = S.axis_arg(axis1, self.ndim, "swapaxes", "axis1")
        axis2 = S.axis_arg(axis2, self.ndim, "swapaxes", "axis2")
        perm = list(range(self.ndim))
        perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
        return self._record_view(S.transpose, self, axes=tuple(perm))

    def broadcast_to(self, *shape: Any) -> Tensor:
        """A read-only view repeating this tensor to ``shape`` by NumPy's broadcasting rules.

        Raises:
            ArgumentError: if a size is not an integer. ShapeError: for negative sizes, or a shape this
                tensor does not broadcast to.
        """
        return self._record_view(S.broadcast_to, self, shape=S.shape_arg(shape, "broadcast_to"))

    def flip(self, axis: Any = None) -> Tensor:
        """Reverse the order of entries along ``axis`` (all axes by default).

        Raises:
            ArgumentError: if an axis is not an integer. ShapeError: if one is out of range or named twice.
        """
        return self._record_view(S.flip, self, axis=S.reduction_axis_arg(axis, self.ndim, "flip"))

    def pad(self, pad_width: Any, constant_values: float = 0) -> Tensor:
        """Pad with a constant: ``pad_width`` as in ``numpy.pad`` (int, pair, or one pair per axis).

        Raises:
            ArgumentError: if the widths are not non-negative integers.
            DTypeError: if ``constant_values`` is not a number this tensor's dtype holds without
                changing its kind (1.5 in an integer tensor, 1j in a real one).
            ShapeError: if they are neither an int, a pair, nor one pair per axis.
        """
        widths = S.counts_arg(_array_of(pad_width, "pad widths"), "pad", "pad_width")
        per_axis = (max(self.ndim, 1), 2)
        try:
            fits = widths.ndim <= 2 and np.broadcast_shapes(widths.shape, per_axis) == per_axis
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"pad: pad_width of shape {widths.shape} for a tensor of shape {self.shape}; "
                             f"expected an int, a (before, after) pair or one pair per axis")
        S.fill_arg(constant_values, self.dtype, "pad", "constant_values")
        return self._record_unary(S.pad, self, pad_width=pad_width, constant_values=constant_values)

    def repeat(self, repeats: Any, axis: int | None = None) -> Tensor:
        """Repeat each entry ``repeats`` times along ``axis`` (flattened first if None), as NumPy does.

        Raises:
            ArgumentError: if ``repeats`` is not a non-negative integer or a 1-D sequence of them, or
                ``axis`` is not an integer.
            ShapeError: if ``axis`` is out of range, or ``repeats`` has neither 1 nor one count per entry.
        """
        source = self.reshape(-1) if axis is None else self
        axis = 0 if axis is None else S.axis_arg(axis, self.ndim, "repeat")
        length = source.shape[axis]
        counts = S.counts_arg(_array_of(repeats, "repeat counts"), "repeat", "repeats")
        if counts.ndim > 1:
            raise ShapeError(f"repeat: repeats of shape {counts.shape}; expected an int or a 1-D sequence")
        if counts.ndim == 1 and counts.size not in (1, length):
            raise ShapeError(f"repeat: {counts.size} repeat counts for axis {axis} of length {length}; "
                             f"expected 1 or {length}")
        try:
            picks = np.repeat(np.arange(length), counts)
        except (ValueError, MemoryError) as exc:
            raise ShapeError(f"repeat: {S.shown(repeats)} repeats of axis {axis} of length {length} are too many "
                             f"({type(exc).__name__}: {str(exc)[:200]})") from None
        return source[(slice(None),) * axis + (picks,)]

    def tile(self, reps: Any) -> Tensor:
        """Repeat the whole tensor ``reps`` times along each axis, as ``numpy.tile`` does.

        Raises:
            ArgumentError: if ``reps`` is not a non-negative integer or a sequence of them.
        """
        reps = tuple(S.count_arg(r, "tile", "reps") for r in (reps if isinstance(reps, (tuple, list, np.ndarray))
                                                              else (reps,)))
        ndim = max(len(reps), self.ndim)
        reps = (1,) * (ndim - len(reps)) + reps
        shape = (1,) * (ndim - self.ndim) + self.shape
        interleaved = self.reshape(tuple(x for n in shape for x in (1, n)))
        spread = interleaved.broadcast_to(tuple(x for r, n in zip(reps, shape) for x in (r, n)))
        return spread.reshape(tuple(r * n for r, n in zip(reps, shape)))

    def split(self, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
        """Split into pieces along ``axis``: ``n`` equal pieces, or at the given indices (as NumPy).

        Raises:
            ArgumentError: if ``axis``, ``n`` or an index is not an integer.
            ShapeError: if ``axis`` is out of range, or the axis does not divide into ``n`` equal pieces.
        """
        axis = S.axis_arg(axis, self.ndim, "split")
        length = self.shape[axis]
        if not isinstance(indices_or_sections, (tuple, list, np.ndarray, TensorMethods)):
            indices_or_sections = S.int_arg(indices_or_sections, "split", "indices_or_sections")
            if indices_or_sections <= 0 or length % indices_or_sections:
                raise ShapeError(f"split: axis {axis} of shape {self.shape} does not divide into "
                                 f"{indices_or_sections} equal pieces")
            step = length // indices_or_sections
            bounds = [i * step for i in range(indices_or_sections + 1)]  # step 0 for a size-0 axis
        else:
            indices = indices_or_sections
            if isinstance(indices, (np.ndarray, TensorMethods)):
                indices = np.ravel(_array_of(indices, "split points")).tolist()
            bounds = [0] + [S.int_arg(i, "split", "indices") for i in indices] + [length]
        lead = (slice(None),) * axis
        return [self[lead + (slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:])]

    def take_along_axis(self, indices: Any, axis: int) -> Tensor:
        """Pick entries along ``axis`` at ``indices`` (same number of dimensions), as NumPy does.

        Raises:
            ArgumentError: if ``axis`` is not an integer. DTypeError: for indices that are not integers.
            ShapeError: for ``axis`` out of range, indices out of range, ragged, or of a shape that does
                not fit.
        """
        try:
            indices = np.asarray(indices.data if isinstance(indices, TensorMethods) else indices)
        except ValueError:
            raise ShapeError(f"take_along_axis: indices {S.shown(indices)} are ragged; expected an integer "
                             "array") from None
        axis = S.axis_arg(axis, self.ndim, "take_along_axis")
        if indices.dtype.kind not in "iu":
            raise DTypeError(f"take_along_axis: indices of dtype {indices.dtype}; expected integers")
        if indices.ndim != self.ndim:
            raise ShapeError(f"take_along_axis: indices of shape {indices.shape} must have as many "
                             f"dimensions as the tensor of shape {self.shape}")
        length = self.shape[axis]
        if indices.size and not -length <= indices.min() <= indices.max() < length:
            raise ShapeError(f"take_along_axis: indices from {indices.min()} to {indices.max()} along axis "
                             f"{axis} of length {length}; expected indices in [{-length}, {length})")
        try:
            np.broadcast_shapes(indices.shape[:axis] + indices.shape[axis + 1:],
                                self.shape[:axis] + self.shape[axis + 1:])
        except ValueError:
            raise ShapeError(f"take_along_axis: indices of shape {indices.shape} do not broadcast against "
                             f"the tensor of shape {self.shape} outside axis {axis}") from None
        index = tuple(indices if d == axis else
                      np.arange(n).reshape((-1,) + (1,) * (self.ndim - d - 1))
                      for d, n in enumerate(self.shape))
        return self[index]

    def __getitem__(self, index: Any) -> Tensor:
        return self._record_view(S.getitem, self, index=_normalize_index(index, self.shape))

    # -- dtype and copies ------------------------------------------------------------------------
    def astype(self, dtype: Any) -> Tensor:
        """This tensor converted to ``dtype``; the gradient is converted back.

        Raises:
            DTypeError: for a dtype that is not numeric, or complex values to a real dtype (which
                would discard the imaginary parts).
        """
        dtype = S.dtype_arg(dtype, "astype")
        if self.dtype.kind == "c" and dtype.kind != "c":
            raise DTypeError(f"astype: converting a complex tensor (shape {self.shape}, {self.dtype}) to {dtype} "
                             "would discard the imaginary parts; expected a complex dtype")
        return self._record_view(S.astype, self, dtype=dtype)

    def float(self) -> Tensor:
        """Converted to float32."""
        return self.astype(np.float32)

    def double(self) -> Tensor:
        """Converted to float64."""
        return self.astype(np.float64)

    def clone(self) -> Tensor:
        """A copy of the data that stays on the graph (gradients flow back to this tensor)."""
        return self._record_unary(S.copy, self)

    # -- linear algebra --------------------------------------------------------------------------
    def matmul(self, other: Any) -> Tensor:
        """Matrix product with NumPy's rules for 1-D operands and broadcast batch axes."""
        return self._record_binary(L.matmul, self, other)

    def dot(self, other: Any) -> Tensor:
        """Dot product of 1-D tensors, or matrix product of 2-D ones."""
        return self._record_binary(L.matmul, self, other)

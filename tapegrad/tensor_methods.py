"""The Tensor's methods: elementwise functions, reductions, shape, indexing, dtype, linear algebra.

Each is a call of one primitive (or a short composition of such calls). They live in this mixin so
that :mod:`tapegrad.tensor` stays small; ``self._record`` is :func:`tapegrad.tensor.apply`,
``_record_unary``/``_record_binary`` its fast paths for one and two inputs, and ``_record_view`` the
one for operations whose result may view the input's memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ShapeError
from .grad_mode import SPECIAL_MODES
from .grad_mode import state as _grad_state
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


def _normalize_index(index: Any) -> Any:
    """An index with Tensors replaced by arrays and boolean masks by the integer arrays they select."""
    items = index if isinstance(index, tuple) else (index,)
    normalized = []
    for item in items:
        tensor = None
        if isinstance(item, TensorMethods):
            tensor, item = item, item.data
        elif isinstance(item, list):
            item = np.asarray(item)
        if isinstance(item, np.ndarray) and item.dtype == bool:
            if tensor is not None and SPECIAL_MODES.count and _grad_state.trace is not None:
                normalized.extend(tensor._record(NONZERO, tensor, axis=d).data for d in range(max(item.ndim, 1)))
                continue
            normalized.extend(np.nonzero(item))
        else:
            normalized.append(item)
    return tuple(normalized) if isinstance(index, tuple) or len(normalized) != 1 else normalized[0]


def describe(value: Any) -> str:
    """How an operand is named in error messages: its shape and dtype, or its repr."""
    if isinstance(value, (TensorMethods, np.ndarray)):
        return f"shape {tuple(value.shape)} {value.dtype}"
    return repr(value)


def _shape_arg(shape: tuple) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(n) for n in shape)


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
        """Limit the values to ``[min, max]``; the gradient passes where ``min <= x <= max``."""
        if isinstance(min, TensorMethods) or isinstance(max, TensorMethods):
            out = self if min is None else self.maximum(min)
            return out if max is None else out.minimum(max)
        return self._record_unary(A.clip, self, lo=min, hi=max)

    # -- reductions ------------------------------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return self._record_unary(R.sum_, self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return self._record_unary(R.mean, self, axis=axis, keepdims=keepdims)

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        """Variance, ``mean((x - mean(x))**2)`` times ``n / (n - ddof)`` (NumPy's default ddof=0)."""
        return self._record_unary(R.var, self, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        """Standard deviation, the square root of :meth:`var`."""
        return self.var(axis=axis, keepdims=keepdims, ddof=ddof).sqrt()

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Product of entries; its gradient is exact when entries are zero."""
        return self._record_unary(R.prod, self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Largest entry; the gradient goes to the maximal entries, split equally among ties."""
        return self._record_unary(R.max_, self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Smallest entry; the gradient goes to the minimal entries, split equally among ties."""
        return self._record_unary(R.min_, self, axis=axis, keepdims=keepdims)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """``log(sum(exp(x)))`` computed without overflow."""
        return self._record_unary(R.logsumexp, self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return self._record_unary(R.argmax, self, axis=axis, keepdims=keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return self._record_unary(R.argmin, self, axis=axis, keepdims=keepdims)

    def softmax(self, axis: int = -1) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``axis``, computed without overflow."""
        return self._record_unary(N.softmax, self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        """``x - logsumexp(x)`` along ``axis``, computed without overflow."""
        return self._record_unary(N.log_softmax, self, axis=axis)

    # -- shape -----------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """The same entries in a new shape (``reshape(2, 3)`` or ``reshape((2, 3))``; -1 is inferred)."""
        return self._record_view(S.reshape, self, shape=_shape_arg(shape))

    def flatten(self, start_axis: int = 0, end_axis: int = -1) -> Tensor:
        """Merge the axes ``start_axis..end_axis`` (all by default) into one."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_axis % self.ndim, end_axis % self.ndim
        return self.reshape(self.shape[:start] + (-1,) + self.shape[end + 1:])

    def squeeze(self, axis: Any = None) -> Tensor:
        """Remove axes of size 1 (all of them, or those in ``axis``)."""
        axes = R.normalize_axes(axis, self.ndim) if axis is not None else \
            tuple(i for i, n in enumerate(self.shape) if n == 1)
        bad = [a for a in axes if self.shape[a] != 1]
        if bad:
            raise ShapeError(f"squeeze: axis {bad[0]} of shape {self.shape} has size "
                             f"{self.shape[bad[0]]}, expected 1")
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if i not in axes))

    def unsqueeze(self, axis: Any) -> Tensor:
        """Insert axes of size 1 at the positions ``axis`` (an int or tuple) of the result."""
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        ndim = self.ndim + len(axes)
        new = {a % ndim for a in axes}
        sizes = iter(self.shape)
        return self.reshape(tuple(1 if i in new else next(sizes) for i in range(ndim)))

    expand_dims = unsqueeze

    def transpose(self, *axes: Any) -> Tensor:
        """Permute the axes as NumPy does (reversed when none are given); see also :meth:`swapaxes`."""
        perm = None if not axes else _shape_arg(axes)
        return self._record_view(S.transpose, self, axes=perm)

    def permute(self, *axes: Any) -> Tensor:
        """Permute the axes: axis ``i`` of the result is axis ``axes[i]`` of this tensor."""
        return self._record_view(S.transpose, self, axes=_shape_arg(axes))

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        """Exchange two axes (PyTorch's ``transpose(dim0, dim1)``)."""
        perm = list(range(self.ndim))
        perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
        return self._record_view(S.transpose, self, axes=tuple(perm))

    def broadcast_to(self, *shape: Any) -> Tensor:
        """A read-only view repeating this tensor to ``shape`` by NumPy's broadcasting rules."""
        return self._record_view(S.broadcast_to, self, shape=_shape_arg(shape))

    def flip(self, axis: Any = None) -> Tensor:
        """Reverse the order of entries along ``axis`` (all axes by default)."""
        return self._record_view(S.flip, self, axis=axis)

    def pad(self, pad_width: Any, constant_values: float = 0) -> Tensor:
        """Pad with a constant: ``pad_width`` as in ``numpy.pad`` (int, pair, or one pair per axis)."""
        return self._record_unary(S.pad, self, pad_width=pad_width, constant_values=constant_values)

    def repeat(self, repeats: Any, axis: int | None = None) -> Tensor:
        """Repeat each entry ``repeats`` times along ``axis`` (flattened first if None), as NumPy does."""
        source = self.reshape(-1) if axis is None else self
        axis = 0 if axis is None else axis % self.ndim
        picks = np.repeat(np.arange(source.shape[axis]), repeats)
        return source[(slice(None),) * axis + (picks,)]

    def tile(self, reps: Any) -> Tensor:
        """Repeat the whole tensor ``reps`` times along each axis, as ``numpy.tile`` does."""
        reps = (reps,) if isinstance(reps, int) else tuple(reps)
        ndim = max(len(reps), self.ndim)
        reps = (1,) * (ndim - len(reps)) + reps
        shape = (1,) * (ndim - self.ndim) + self.shape
        interleaved = self.reshape(tuple(x for n in shape for x in (1, n)))
        spread = interleaved.broadcast_to(tuple(x for r, n in zip(reps, shape) for x in (r, n)))
        return spread.reshape(tuple(r * n for r, n in zip(reps, shape)))

    def split(self, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
        """Split into pieces along ``axis``: ``n`` equal pieces, or at the given indices (as NumPy)."""
        length = self.shape[axis]
        if isinstance(indices_or_sections, int):
            if indices_or_sections <= 0 or length % indices_or_sections:
                raise ShapeError(f"split: axis {axis} of shape {self.shape} does not divide into "
                                 f"{indices_or_sections} equal pieces")
            step = length // indices_or_sections
            bounds = list(range(0, length + 1, step))
        else:
            bounds = [0] + [int(i) for i in indices_or_sections] + [length]
        lead = (slice(None),) * (axis % self.ndim)
        return [self[lead + (slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:])]

    def take_along_axis(self, indices: Any, axis: int) -> Tensor:
        """Pick entries along ``axis`` at ``indices`` (same number of dimensions), as NumPy does."""
        indices = np.asarray(indices.data if isinstance(indices, TensorMethods) else indices)
        if indices.ndim != self.ndim:
            raise ShapeError(f"take_along_axis: indices of shape {indices.shape} must have as many "
                             f"dimensions as the tensor of shape {self.shape}")
        axis = axis % self.ndim
        index = tuple(indices if d == axis else
                      np.arange(n).reshape((-1,) + (1,) * (self.ndim - d - 1))
                      for d, n in enumerate(self.shape))
        return self[index]

    def __getitem__(self, index: Any) -> Tensor:
        return self._record_view(S.getitem, self, index=_normalize_index(index))

    # -- dtype and copies ------------------------------------------------------------------------
    def astype(self, dtype: Any) -> Tensor:
        """This tensor converted to ``dtype``; the gradient is converted back."""
        return self._record_view(S.astype, self, dtype=np.dtype(dtype))

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

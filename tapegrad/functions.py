"""Functions on tensors (``tg.exp(x)``, ``tg.where(c, x, y)``, ``tg.concatenate([...])``, ...).

Single-tensor functions call the Tensor method of the same name, so each is defined once; the
functions of several tensors apply their primitive here. Arguments may be Tensors, NumPy arrays
or numbers.

A Python number among the operands of a function of several is a *weak* scalar, as in NumPy's
NEP 50 and in the operators (``x * 0.1``): in any position it takes the dtype of the other operands,
so ``maximum(0.1, x)`` is exactly ``maximum(x, 0.1)``; it never upcasts them and is never rounded to
another dtype first. Only when every operand is a Python number does the result take the default
dtype, as ``tg.tensor`` gives it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .creation import operand
from .errors import ArgumentError, ShapeError
from .ops import arithmetic as A
from .ops import complex_numbers as C
from .ops import linalg as L
from .ops import shape as S
from .tensor import Tensor, apply, apply_view, as_array, where_mask

__all__ = [
    "exp", "log", "log1p", "expm1", "sqrt", "abs", "sin", "cos", "tan", "tanh", "sign", "sigmoid", "softplus",
    "relu", "leaky_relu", "elu", "sum", "mean", "var", "std", "prod", "max", "min", "logsumexp", "argmax",
    "argmin", "softmax", "log_softmax", "reshape", "flatten", "squeeze", "unsqueeze", "expand_dims", "transpose",
    "permute", "swapaxes", "broadcast_to", "flip", "pad", "repeat", "tile", "split", "take_along_axis", "matmul",
    "dot", "maximum", "minimum", "clip", "where", "concatenate", "cat", "stack", "outer", "einsum",
    "real", "imag", "conj", "conjugate", "angle", "complex",  # issue 18
]


def _method(name: str) -> Callable[..., Tensor]:
    method = getattr(Tensor, name)

    def function(x: Any, *args: Any, **kwargs: Any) -> Tensor:
        return method(x if isinstance(x, Tensor) else operand(x, name), *args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = method.__doc__ or f"``x.{name}(...)`` as a function; see :meth:`Tensor.{name}`."
    return function


exp, log, log1p, expm1, sqrt, abs = (_method(n) for n in ("exp", "log", "log1p", "expm1", "sqrt", "abs"))
sin, cos, tan, tanh, sign = (_method(n) for n in ("sin", "cos", "tan", "tanh", "sign"))
sigmoid, softplus, relu, leaky_relu, elu = (
    _method(n) for n in ("sigmoid", "softplus", "relu", "leaky_relu", "elu"))
sum, mean, var, std, prod = (_method(n) for n in ("sum", "mean", "var", "std", "prod"))  # noqa: A001
max, min, logsumexp, argmax, argmin = (  # noqa: A001
    _method(n) for n in ("max", "min", "logsumexp", "argmax", "argmin"))
softmax, log_softmax = _method("softmax"), _method("log_softmax")
reshape, flatten, squeeze, unsqueeze, expand_dims = (
    _method(n) for n in ("reshape", "flatten", "squeeze", "unsqueeze", "expand_dims"))
transpose, permute, swapaxes, broadcast_to = (
    _method(n) for n in ("transpose", "permute", "swapaxes", "broadcast_to"))
flip, pad, repeat, tile, split, take_along_axis = (
    _method(n) for n in ("flip", "pad", "repeat", "tile", "split", "take_along_axis"))
matmul, dot = _method("matmul"), _method("dot")

_NUMBERS = (int, float, complex)  # bool is an int


def _first(value: Any, *others: Any, op: str) -> Any:
    """The first operand of a function of several: a Python number stays one (NumPy treats it as a
    weak scalar) unless every operand is a number (None, an absent bound, counts as none); any
    other value becomes a Tensor with :func:`as_tensor`."""
    if isinstance(value, _NUMBERS) and any(o is not None and not isinstance(o, _NUMBERS) for o in others):
        return value
    return operand(value, op)


def _weak(operands: Sequence[Any], op: str) -> list[Any]:
    """``operands`` with each Python number made a 0-d array of the dtype NumPy gives it among the
    others (NEP 50: theirs, e.g. float32, not float64), for functions that would otherwise convert
    it alone (``stack``, ``einsum``, ``clip``); None stays None. With numbers alone, each becomes a
    tensor of the default dtype."""
    numbers = [o for o in operands if isinstance(o, _NUMBERS)]
    if not numbers:
        return list(operands)
    others = [operand(o, op).dtype for o in operands if o is not None and not isinstance(o, _NUMBERS)]
    if not others:
        return [o if o is None else operand(o, op) for o in operands]
    dtype = np.result_type(*others, *numbers)
    return [np.asarray(o, dtype=dtype) if isinstance(o, _NUMBERS) else o for o in operands]


def maximum(x: Any, y: Any) -> Tensor:
    """Elementwise maximum; where both are equal the gradient is split in half."""
    return apply(A.maximum, _first(x, y, op="maximum"), y)


def minimum(x: Any, y: Any) -> Tensor:
    """Elementwise minimum; where both are equal the gradient is split in half."""
    return apply(A.minimum, _first(x, y, op="minimum"), y)


def clip(x: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (NumPy's names)
    """``x`` limited to ``[min, max]`` (numbers, arrays or tensors that broadcast with ``x``; None
    for no bound). The gradient of ``x`` passes where ``min <= x <= max``; a tensor bound takes the
    gradient where it is the result (as in PyTorch's ``clamp``)."""
    if isinstance(x, _NUMBERS):  # np.clip would convert a number alone: give it the bounds' dtype first
        x, min, max = _weak([x, min, max], "clip")  # noqa: A001
    return apply(A.clip, x, min, max)


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """``x`` where ``condition`` is true, else ``y`` (broadcast together).

    The gradient of the branch not taken is zero, but a NaN or inf computed in that branch still
    poisons the gradient (0 * inf): make the discarded branch safe, e.g.
    ``where(x > 0, sqrt(where(x > 0, x, 1)), 0)``.
    """
    return apply(A.where, where_mask(condition), x, y)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis.

    Raises:
        ArgumentError: if ``tensors`` is not a sequence. ShapeError: if it is empty, ``axis`` is out
            of range, or the shapes differ outside ``axis``.
    """
    tensors = _sequence(tensors, "concatenate")
    first = tensors[0]
    S.axis_arg(axis, first.ndim if isinstance(first, (Tensor, np.ndarray)) else operand(first, "concatenate").ndim,
               "concatenate")
    return apply(S.concatenate, *tensors, axis=axis)


def _sequence(tensors: Any, op: str) -> Sequence[Any]:
    """``tensors`` as a non-empty sequence of operands (a list, a tuple, the rows of an array or
    any other iterable)."""
    if isinstance(tensors, (Tensor, np.ndarray)) and tensors.ndim == 0 or isinstance(tensors, (str, bytes)) \
            or not hasattr(tensors, "__iter__"):
        raise ArgumentError(f"{op}: tensors={S.shown(tensors)}; expected a sequence of tensors")
    if not isinstance(tensors, (list, tuple)):
        tensors = list(tensors)  # a generator, an array's or a Tensor's rows
    if len(tensors) == 0:
        raise ShapeError(f"{op}: needs at least one tensor")
    return tensors


cat = concatenate


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis.

    Raises:
        ArgumentError: if ``tensors`` is not a sequence. ShapeError: if it is empty, ``axis`` is out
            of range, or the shapes differ.
    """
    tensors = [operand(t, "stack") for t in _weak(_sequence(tensors, "stack"), "stack")]
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ShapeError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    ndim = tensors[0].ndim + 1
    axis = S.axis_arg(axis, ndim, "stack")
    # Each tensor reshaped with the unit axis (what unsqueeze records), the shape worked out once.
    shape = tensors[0].shape[:axis] + (1,) + tensors[0].shape[axis:]
    return apply(S.concatenate, *[apply_view(S.reshape, t, shape=shape) for t in tensors], axis=axis)


def outer(a: Any, b: Any) -> Tensor:
    """The outer product of two vectors (flattened first): ``out[i, j] = a[i] * b[j]``.

    Returns:
        A tensor of shape ``(a.size, b.size)``; a Python number counts as a vector of one entry.
    """
    a = _first(a, b, op="outer")
    b = _first(b, a, op="outer")
    left = a if isinstance(a, _NUMBERS) else a.reshape(-1, 1)
    right = b if isinstance(b, _NUMBERS) else b.reshape(1, -1)
    product = left * right
    return product if product.ndim == 2 else product.reshape(1, 1)


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation as NumPy's ``einsum``: ``einsum("bij,bjk->bik", a, b)``, ``"...ij,...jk"``
    (``...`` for batch axes that broadcast, an implicit output), ``"ii->i"`` (a diagonal), ``"ii"`` (a trace).

    Returns:
        A Tensor; its first and second derivatives exist in both modes.

    Raises:
        ArgumentError: if ``subscripts`` is not a string.
        ShapeError: for a malformed specification or operands whose dimensions do not match it.
    """
    operands = _weak(operands, "einsum")
    shapes = [x.shape if isinstance(x, (Tensor, np.ndarray)) else as_array(x, op="einsum").shape for x in operands]
    explicit = L.canonical_einsum(subscripts, shapes)
    return apply(L.einsum, *operands, subscripts=explicit)


# -- complex numbers (issue 18) ------------------------------------------------------------------------


def real(x: Any) -> Tensor:
    """The real part of ``x`` (a copy); of a real tensor, a copy of it."""
    return operand(x, "real").real


def imag(x: Any) -> Tensor:
    """The imaginary part of ``x`` (a copy); of a real tensor, zeros."""
    return operand(x, "imag").imag


conj, conjugate, angle = _method("conj"), _method("conjugate"), _method("angle")


def complex(real: Any, imag: Any) -> Tensor:  # noqa: A001 (PyTorch's and NumPy's name)
    """``real + 1j * imag`` from two real values whose shapes broadcast, as ``torch.complex``.

    Returns:
        A complex64 tensor for float32 (or narrower) parts, else complex128; differentiable in both parts
        (the real part takes the gradient's real part, the imaginary part its imaginary part).

    Raises:
        DTypeError: if a part is complex or not numeric. ShapeError: if the shapes do not broadcast.
    """
    return apply(C.complex_, _first(real, imag, op="complex"), _first(imag, real, op="complex"))

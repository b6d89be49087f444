"""Functions on tensors (``tg.exp(x)``, ``tg.where(c, x, y)``, ``tg.concatenate([...])``, ...).

Single-tensor functions call the Tensor method of the same name, so each is defined once; the
functions of several tensors apply their primitive here. Arguments may be Tensors, NumPy arrays
or numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .creation import as_tensor
from .errors import ShapeError
from .ops import arithmetic as A
from .ops import linalg as L
from .ops import shape as S
from .tensor import Tensor, apply


def _method(name: str) -> Callable[..., Tensor]:
    method = getattr(Tensor, name)

    def function(x: Any, *args: Any, **kwargs: Any) -> Tensor:
        return method(as_tensor(x), *args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = method.__doc__ or f"``x.{name}(...)`` as a function; see :meth:`Tensor.{name}`."
    return function


exp, log, log1p, expm1, sqrt, abs = (_method(n) for n in ("exp", "log", "log1p", "expm1", "sqrt", "abs"))
sin, cos, tan, tanh, sign = (_method(n) for n in ("sin", "cos", "tan", "tanh", "sign"))
sigmoid, softplus, relu, leaky_relu, elu = (
    _method(n) for n in ("sigmoid", "softplus", "relu", "leaky_relu", "elu"))
clip, maximum, minimum = (_method(n) for n in ("clip", "maximum", "minimum"))
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


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """``x`` where ``condition`` is true, else ``y`` (broadcast together).

    The gradient of the branch not taken is zero, but a NaN or inf computed in that branch still
    poisons the gradient (0 * inf): make the discarded branch safe, e.g.
    ``where(x > 0, sqrt(where(x > 0, x, 1)), 0)``.
    """
    if isinstance(condition, Tensor) and condition.dtype != bool:
        condition = condition != 0  # an operation, which tg.compile recomputes at every call
    condition = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    return apply(A.where, condition.astype(bool, copy=False), x, y)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    if len(tensors) == 0:
        raise ShapeError("concatenate: needs at least one tensor")
    return apply(S.concatenate, *tensors, axis=axis)


cat = concatenate


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis."""
    if len(tensors) == 0:
        raise ShapeError("stack: needs at least one tensor")
    shapes = {np.shape(t) for t in tensors}
    if len(shapes) != 1:
        raise ShapeError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    return concatenate([as_tensor(t).unsqueeze(axis) for t in tensors], axis=axis)


def outer(a: Any, b: Any) -> Tensor:
    """The outer product of two vectors (flattened first): ``out[i, j] = a[i] * b[j]``."""
    return as_tensor(a).reshape(-1, 1) * as_tensor(b).reshape(1, -1)


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation with an explicit output, e.g. ``einsum("bij,bjk->bik", a, b)``.

    Supported: any number of operands, letters summed away, batch letters. Not supported (a
    ShapeError says so): implicit output, ``...``, and a letter repeated within one operand.
    A ``subscripts`` that is not a string raises ArgumentError.
    """
    L.parse_einsum(subscripts, len(operands))
    return apply(L.einsum, *operands, subscripts=subscripts)

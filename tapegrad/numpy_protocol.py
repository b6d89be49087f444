"""NumPy functions called on Tensors: ``np.exp(t)``, ``np.sum(t, axis=0)``, ``np.dot(a, t)``, ...

``Tensor.__array_ufunc__`` and ``Tensor.__array_function__`` hand NumPy's calls to the tables here,
which run the matching tapegrad operation, so the result is a Tensor and records its gradient.
Code written for NumPy alone can then be differentiated: ``tg.grad(lambda x: np.sum(np.tanh(x) ** 2))``.

A NumPy function that is not in the tables raises a TypeError naming it when a Tensor that requires
grad takes part (the gradient is never silently dropped); without gradients it runs on the arrays.
The tables depend only on the primitives; the Tensor that NumPy dispatched on runs them. The
:class:`TensorProtocol` mixin at the end holds the Tensor's side of it, with the rest of its Python
protocol (conversions, ``len``, iteration, ``repr``, comparisons).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .dtypes import get_default_dtype
from .engine.modes import is_grad_enabled
from .errors import DroppedGradientError
from .ops import arithmetic as A
from .ops import elementwise as E
from .ops import linalg as L
from .ops import shape as S
from .tensor_methods import TensorMethods

if TYPE_CHECKING:
    from .tensor import Tensor

UFUNCS = {
    np.add: A.add, np.subtract: A.subtract, np.multiply: A.multiply, np.true_divide: A.divide,
    np.power: A.power, np.float_power: A.power, np.maximum: A.maximum, np.minimum: A.minimum,
    np.negative: E.negative, np.exp: E.exp, np.log: E.log, np.log1p: E.log1p, np.expm1: E.expm1, np.sqrt: E.sqrt,
    np.absolute: E.absolute, np.sin: E.sin, np.cos: E.cos, np.tan: E.tan, np.tanh: E.tanh, np.sign: E.sign,
    np.less: E.less, np.less_equal: E.less_equal, np.greater: E.greater, np.greater_equal: E.greater_equal,
    np.equal: E.equal, np.not_equal: E.not_equal, np.logical_and: E.logical_and, np.logical_or: E.logical_or,
    np.logical_not: E.logical_not, np.isfinite: E.isfinite, np.matmul: L.matmul,
}
# Ufuncs composed from primitives.
UFUNC_COMPOSITES: dict[Any, Callable[..., Any]] = {
    np.square: lambda x: x * x,
    np.positive: lambda x: x,
    np.reciprocal: lambda x: 1 / x,
}


class _NotSupported(Exception):
    """A NumPy call on Tensors with an option or form tapegrad does not differentiate: without
    gradients it runs on the arrays; with them it becomes a DroppedGradientError."""


def _unsupported_options(name: str, options: dict[str, Any], allowed: tuple[str, ...]) -> None:
    used = [k for k, v in options.items() if k not in allowed and v is not None and v is not np._NoValue]
    if used:
        raise _NotSupported(f"numpy.{name} on a Tensor: the option(s) {used} are not supported by tapegrad")


def _method(name: str, *allowed: str) -> Callable[..., Any]:
    """``np.name(tensor, *args, **options)`` as ``tensor.name(*args, **options)``."""
    def call(tensor: Any, a: Any, *args: Any, **options: Any) -> Any:
        _unsupported_options(name, options, allowed)
        options = {k: v for k, v in options.items() if k in allowed and v is not np._NoValue}
        return getattr(tensor._lift(a), name)(*args, **options)
    return call


def _reshape(tensor: Any, a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None,
             copy: Any = None) -> Any:
    if order != "C":
        raise _NotSupported("numpy.reshape on a Tensor: only order='C' is supported")
    return tensor._lift(a).reshape(shape if shape is not None else newshape)


def _transpose(tensor: Any, a: Any, axes: Any = None) -> Any:
    return tensor._lift(a).transpose(*(() if axes is None else (axes,)))


def _clip(tensor: Any, a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, *, min: Any = None,  # noqa: A002
          max: Any = None) -> Any:  # noqa: A002
    _unsupported_options("clip", {"out": out}, ())
    return tensor._lift(a).clip(a_min if a_min is not None else min, a_max if a_max is not None else max)


def _where(tensor: Any, condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None or y is None:
        raise _NotSupported("numpy.where on a Tensor needs all three arguments (condition, x, y)")
    if hasattr(condition, "requires_grad") and condition.dtype != bool:
        condition = condition != 0  # an operation, which tg.compile recomputes at every call
    condition = condition.data if hasattr(condition, "requires_grad") else np.asarray(condition)
    return tensor._record(A.where, condition.astype(bool, copy=False), x, y)


def _concatenate(tensor: Any, arrays: Any, axis: int = 0, out: Any = None, **options: Any) -> Any:
    _unsupported_options("concatenate", {"out": out, **options}, ())
    return tensor._record(S.concatenate, *arrays, axis=axis)


def _stack(tensor: Any, arrays: Any, axis: int = 0, out: Any = None, **options: Any) -> Any:
    _unsupported_options("stack", {"out": out, **options}, ())
    return _concatenate(tensor, [tensor._lift(a).unsqueeze(axis) for a in arrays], axis=axis)


def _dot(tensor: Any, a: Any, b: Any, out: Any = None) -> Any:
    _unsupported_options("dot", {"out": out}, ())
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return tensor._record(A.multiply, a, b)
    if np.ndim(a) > 2 or np.ndim(b) > 2:
        raise _NotSupported("numpy.dot on a Tensor: only 1-D and 2-D operands are supported; use matmul or einsum")
    return tensor._record(L.matmul, a, b)


def _outer(tensor: Any, a: Any, b: Any, out: Any = None) -> Any:
    return tensor._lift(a).reshape(-1, 1) * tensor._lift(b).reshape(1, -1)


def _einsum(tensor: Any, subscripts: str, *operands: Any, **options: Any) -> Any:
    _unsupported_options("einsum", {k: v for k, v in options.items() if k != "optimize"}, ())
    L.parse_einsum(subscripts, len(operands))
    return tensor._record(L.einsum, *operands, subscripts=subscripts)


def _norm(tensor: Any, x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """The 2-norm of a vector or the Frobenius norm of a matrix (``ord=None``, or 2 / 'fro' as NumPy reads them)."""
    x = tensor._lift(x)
    vector = axis is not None and not isinstance(axis, tuple) or (axis is None and x.ndim == 1)
    if not (ord is None or (ord == 2 and vector) or (ord == "fro" and not vector)):
        raise _NotSupported(f"numpy.linalg.norm on a Tensor: ord={ord!r} is not supported (only the 2-norm of "
                        "vectors and the Frobenius norm of matrices)")
    return (x * x).sum(axis=axis, keepdims=keepdims).sqrt()


REDUCTION_OPTIONS = ("axis", "keepdims")
FUNCTIONS: dict[Any, Callable[..., Any]] = {
    np.sum: _method("sum", *REDUCTION_OPTIONS), np.mean: _method("mean", *REDUCTION_OPTIONS),
    np.var: _method("var", *REDUCTION_OPTIONS, "ddof"), np.std: _method("std", *REDUCTION_OPTIONS, "ddof"),
    np.prod: _method("prod", *REDUCTION_OPTIONS), np.max: _method("max", *REDUCTION_OPTIONS),
    np.min: _method("min", *REDUCTION_OPTIONS), np.amax: _method("max", *REDUCTION_OPTIONS),
    np.amin: _method("min", *REDUCTION_OPTIONS), np.argmax: _method("argmax", *REDUCTION_OPTIONS),
    np.argmin: _method("argmin", *REDUCTION_OPTIONS), np.reshape: _reshape, np.transpose: _transpose,
    np.squeeze: _method("squeeze", "axis"), np.expand_dims: _method("unsqueeze", "axis"),
    np.broadcast_to: _method("broadcast_to", "shape", "subok"), np.flip: _method("flip", "axis"),
    np.repeat: _method("repeat", "axis"), np.tile: _method("tile"), np.clip: _clip,
    np.take_along_axis: _method("take_along_axis", "axis"), np.where: _where, np.concatenate: _concatenate,
    np.stack: _stack, np.dot: _dot, np.outer: _outer, np.einsum: _einsum, np.linalg.norm: _norm,
    np.swapaxes: _method("swapaxes"), np.ravel: lambda tensor, a, order="C": _reshape(tensor, a, -1, order),
}
# Functions that only read shapes or make new constants: answered from the data, never differentiated.
ON_DATA = (np.shape, np.ndim, np.size, np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.allclose,
           np.isclose, np.array_equal, np.result_type, np.may_share_memory, np.shares_memory)
READ_VALUES = (np.allclose, np.isclose, np.array_equal)  # of those, the ones whose answer depends on values


def raw(value: Any) -> Any:
    """``value`` with every Tensor in it (also inside lists and tuples) replaced by its array."""
    if hasattr(value, "requires_grad") and hasattr(value, "grad_fn"):
        return value.data
    if isinstance(value, (list, tuple)):
        return type(value)(raw(v) for v in value)
    return value


def requires_grad(value: Any) -> bool:
    """Whether ``value`` holds a Tensor that requires grad (also inside lists and tuples)."""
    if hasattr(value, "requires_grad") and hasattr(value, "grad_fn"):
        return bool(value.requires_grad)
    if isinstance(value, (list, tuple)):
        return any(requires_grad(v) for v in value)
    return False


class TensorProtocol:
    """How a :class:`~tapegrad.tensor.Tensor` takes part in Python and NumPy: ``np.exp(t)`` and
    ``np.sum(t)`` through the tables above, conversions, ``len``, iteration, ``repr``, comparisons."""

    __slots__ = ()

    def _lift(self, value: Any) -> Tensor:
        """``value`` as a Tensor (a Tensor as it is; anything else wrapped, sharing memory)."""
        return value if isinstance(value, TensorMethods) else self._plain(np.asarray(value))

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy ufuncs on Tensors (``np.exp(t)``, ``array * t``) run tapegrad's operations."""
        plain = method == "__call__" and not kwargs
        if plain and ufunc in UFUNCS:
            return self._record(UFUNCS[ufunc], *inputs)
        if plain and ufunc in UFUNC_COMPOSITES:
            return UFUNC_COMPOSITES[ufunc](*[self._lift(i) for i in inputs])
        if requires_grad(inputs) or requires_grad(tuple(kwargs.values())):
            call = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
            options = f" with the options {sorted(kwargs)}" if kwargs else ""
            raise DroppedGradientError(
                f"{call}{options} is not differentiated by tapegrad, and a Tensor that requires grad takes part; "
                "see the README's table of NumPy functions that are")
        self._not_while_tracing(f"numpy.{ufunc.__name__}")  # its result would be a constant of the trace
        result = getattr(ufunc, method)(*raw(inputs), **{k: raw(v) for k, v in kwargs.items()})
        return self._plain(result) if isinstance(result, np.ndarray) and "out" not in kwargs else result

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        """NumPy functions on Tensors (``np.sum(t, axis=0)``, ``np.concatenate``) run tapegrad's."""
        handler = FUNCTIONS.get(func)
        if handler is not None:
            try:
                return handler(self, *args, **kwargs)
            except _NotSupported as exc:
                if requires_grad(args) or requires_grad(tuple(kwargs.values())):
                    raise DroppedGradientError(f"{exc}, and a Tensor that requires grad takes part") from None
            self._not_while_tracing(f"numpy.{func.__name__}")
            return func(*raw(args), **{k: raw(v) for k, v in kwargs.items()})
        if func in ON_DATA:
            if func in READ_VALUES:
                self._not_while_tracing(f"numpy.{func.__name__}")
            return func(*raw(args), **{k: raw(v) for k, v in kwargs.items()})
        if requires_grad(args) or requires_grad(tuple(kwargs.values())):
            raise DroppedGradientError(
                f"numpy.{func.__name__} is not differentiated by tapegrad, and a Tensor that requires grad takes "
                "part; see the README's table of NumPy functions that are")
        self._not_while_tracing(f"numpy.{func.__name__}")  # its result would be a constant of the trace
        return func(*raw(args), **{k: raw(v) for k, v in kwargs.items()})

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """The data, for NumPy code that converts its arguments (``np.asarray``, ``np.array([...])``).

        Raises:
            DroppedGradientError: for a tensor that requires grad while recording is on: the array
                would carry no gradient, so whatever is computed from it would silently get none.
        """
        self._not_while_tracing("conversion to a NumPy array (numpy.asarray)")
        if self.requires_grad and is_grad_enabled():
            raise DroppedGradientError(
                f"converting a tensor that requires grad (shape {self.shape}, {self.dtype}) to a NumPy array "
                "would silently drop its gradient. NumPy or SciPy code that calls np.asarray/np.array on its "
                "arguments cannot be differentiated: use tapegrad's own function instead (tg.stack([a, b]) "
                "for np.array([a, b]); see the README's table of NumPy functions), or take the values "
                "without gradient explicitly with .detach() (or .numpy(), or inside tg.no_grad()).")
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        self._not_while_tracing("bool()")
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             "use .any() or .all() on its data")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        self._not_while_tracing("__index__()")
        return self.data.__index__()

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extras = []
        if self.dtype not in (get_default_dtype(), np.dtype(np.int64), np.dtype(bool)):
            extras.append(f"dtype={self.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn=<{self._node.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return "tensor(" + ", ".join([body] + extras) + ")"

    # Comparisons and logic give boolean tensors that take no gradient.
    def __lt__(self, other: Any) -> Tensor: return self._record(E.less, self, other)
    def __le__(self, other: Any) -> Tensor: return self._record(E.less_equal, self, other)
    def __gt__(self, other: Any) -> Tensor: return self._record(E.greater, self, other)
    def __ge__(self, other: Any) -> Tensor: return self._record(E.greater_equal, self, other)
    def __eq__(self, other: Any) -> Tensor: return self._record(E.equal, self, other)  # type: ignore[override]
    def __ne__(self, other: Any) -> Tensor: return self._record(E.not_equal, self, other)  # type: ignore[override]
    def __and__(self, other: Any) -> Tensor: return self._record(E.logical_and, self, other)
    def __rand__(self, other: Any) -> Tensor: return self._record(E.logical_and, other, self)
    def __or__(self, other: Any) -> Tensor: return self._record(E.logical_or, self, other)
    def __ror__(self, other: Any) -> Tensor: return self._record(E.logical_or, other, self)
    def __invert__(self) -> Tensor: return self._record(E.logical_not, self)

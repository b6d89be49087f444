"""Making tensors: ``tensor``, ``as_tensor`` and the factories, with one seeded random generator."""

from __future__ import annotations

from typing import Any

import numpy as np

from .dtypes import get_default_dtype
from .ops import random as R
from .ops.random import generator as generator  # re-exported: the generator belongs to the draws
from .ops.random import manual_seed as manual_seed
from .tensor import Tensor, _as_array, apply
from .tensor_methods import _shape_arg


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A new tensor holding a copy of ``data``.

    Python floats become the default dtype (float32 unless changed); NumPy arrays keep theirs.

    Raises:
        DTypeError: if ``requires_grad`` is asked for a non-floating dtype, or data is not numeric.
    """
    return Tensor(_as_array(data, dtype, copy=True), requires_grad=requires_grad, name=name)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory with a NumPy array (or returning a Tensor as it is)
    when no conversion is needed."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data
    return Tensor(_as_array(data, dtype))


def _float_dtype(dtype: Any) -> np.dtype:
    return get_default_dtype() if dtype is None else np.dtype(dtype)


def _new(array: np.ndarray, requires_grad: bool) -> Tensor:
    return Tensor(array, requires_grad=requires_grad)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return _new(np.zeros(_shape_arg(shape), _float_dtype(dtype)), requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return _new(np.ones(_shape_arg(shape), _float_dtype(dtype)), requires_grad)


def empty(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor whose entries are not initialised."""
    return _new(np.empty(_shape_arg(shape), _float_dtype(dtype)), requires_grad)


def full(shape: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (a float fill gives the default dtype)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _new(np.full(shape, fill_value, dtype=dtype if dtype is not None else
                        _as_array(fill_value).dtype), requires_grad)


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in ``[start, stop)``; integers unless a bound or ``dtype`` is a float."""
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is not None or values.dtype.kind == "f":
        values = values.astype(_float_dtype(dtype) if dtype is None else dtype)
    return _new(values, requires_grad)


def linspace(start: float, stop: float, num: int = 50, dtype: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive."""
    return _new(np.linspace(start, stop, num, dtype=_float_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The identity matrix (``n`` by ``m``, square by default)."""
    return _new(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform random values in ``[0, 1)`` from the seeded generator (drawn afresh at every call of
    a compiled function)."""
    return _draw(R.uniform, shape, dtype, requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal random values from the seeded generator (drawn afresh at every call of a
    compiled function)."""
    return _draw(R.normal, shape, dtype, requires_grad)


def _draw(prim: Any, shape: tuple, dtype: Any, requires_grad: bool) -> Tensor:
    result = apply(prim, shape=_shape_arg(shape), dtype=_float_dtype(dtype))
    return result.requires_grad_(True) if requires_grad else result


def zeros_like(other: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape (and dtype, unless given) of ``other``."""
    return _new(np.zeros_like(_as_array(other), dtype=dtype), requires_grad)


def ones_like(other: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape (and dtype, unless given) of ``other``."""
    return _new(np.ones_like(_as_array(other), dtype=dtype), requires_grad)


def full_like(other: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` with the shape (and dtype, unless given) of ``other``."""
    return _new(np.full_like(_as_array(other), fill_value, dtype=dtype), requires_grad)

"""Making tensors: ``tensor``, ``as_tensor`` and the factories, with one seeded random generator."""

from __future__ import annotations

from typing import Any

import numpy as np

from .dtypes import get_default_dtype
from .errors import ArgumentError, DTypeError, ShapeError
from .ops import random as R
from .ops.random import generator as generator  # re-exported: the generator belongs to the draws
from .ops.random import manual_seed as manual_seed
from .ops.shape import count_arg, shape_arg, shown
from .tensor import Tensor, _as_array, apply

NUMERIC = "biufc"  # the dtype kinds a tensor may hold: bool, integers, floats, complex


def _numeric_array(data: Any, dtype: Any, op: str, copy: bool = False) -> np.ndarray:
    """``data`` as a numeric ndarray (see :func:`tapegrad.tensor._as_array`), for factory ``op``.

    Raises:
        ShapeError: for ragged nested sequences.
        DTypeError: for a dtype that is not NumPy's, or data that is not numbers (strings, objects).
    """
    dtype = _dtype(dtype, op) if dtype is not None else None
    try:
        array = _as_array(data, dtype, copy=copy)
    except DTypeError:
        raise
    except ValueError as exc:
        if isinstance(data, (list, tuple)):
            raise ShapeError(f"{op}: nested sequences of unequal lengths (ragged data); expected "
                             f"a rectangular array (NumPy says: {str(exc)[:200]})") from None
        raise DTypeError(f"{op}: cannot make a {dtype} tensor from {shown(data)} "
                         f"(NumPy says: {str(exc)[:200]})") from None
    except TypeError as exc:
        raise DTypeError(f"{op}: cannot make a tensor from {type(data).__name__} data "
                         f"(NumPy says: {str(exc)[:200]})") from None
    if array.dtype.kind not in NUMERIC:
        raise DTypeError(f"{op}: data of dtype {array.dtype} ({shown(data)}); expected numbers "
                         "(bool, integer, floating or complex)")
    return array


def _dtype(dtype: Any, op: str) -> np.dtype:
    """``dtype`` as a numeric NumPy dtype.

    Raises:
        DTypeError: if NumPy does not know it or it is not numeric.
    """
    try:
        result = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"{op}: dtype={shown(dtype)} is not a NumPy dtype") from None
    if result.kind not in NUMERIC:
        raise DTypeError(f"{op}: dtype {result}; expected a numeric dtype (bool, integer, floating or complex)")
    return result


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A new tensor holding a copy of ``data``.

    Python floats become the default dtype (float32 unless changed); NumPy arrays keep theirs.

    Raises:
        DTypeError: if ``requires_grad`` is asked for a non-floating dtype, or data is not numeric.
        ShapeError: if ``data`` is a ragged nested sequence.
    """
    return Tensor(_numeric_array(data, dtype, "tensor", copy=True), requires_grad=requires_grad, name=name)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory with a NumPy array (or returning a Tensor as it is)
    when no conversion is needed.

    Raises:
        DTypeError, ShapeError: as :func:`tensor` does.
    """
    if isinstance(data, Tensor) and (dtype is None or data.dtype == _dtype(dtype, "as_tensor")):
        return data
    return Tensor(_numeric_array(data, dtype, "as_tensor"))


def _float_dtype(dtype: Any, op: str = "tensor") -> np.dtype:
    return get_default_dtype() if dtype is None else _dtype(dtype, op)


def _new(array: np.ndarray, requires_grad: bool) -> Tensor:
    return Tensor(array, requires_grad=requires_grad)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; ``zeros(2, 3)`` or ``zeros((2, 3))``.

    Raises:
        ArgumentError: if a size is not an integer. ShapeError: if one is negative.
        DTypeError: for a dtype that is not numeric, or ``requires_grad`` with a non-floating one.
    """
    return _new(np.zeros(shape_arg(shape, "zeros"), _float_dtype(dtype, "zeros")), requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return _new(np.ones(shape_arg(shape, "ones"), _float_dtype(dtype, "ones")), requires_grad)


def empty(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor whose entries are not initialised."""
    return _new(np.empty(shape_arg(shape, "empty"), _float_dtype(dtype, "empty")), requires_grad)


def full(shape: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (a float fill gives the default dtype).

    Raises:
        ArgumentError, ShapeError: for a shape that is not non-negative integers.
        DTypeError: if ``fill_value`` is not a number, or for a dtype that is not numeric.
    """
    sizes = shape_arg((shape,), "full")
    fill = _numeric_array(fill_value, None, "full")
    if fill.ndim:
        raise ShapeError(f"full: fill_value of shape {fill.shape}; expected a single number")
    return _new(np.full(sizes, fill, dtype=_dtype(dtype, "full") if dtype is not None else fill.dtype),
                requires_grad)


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in ``[start, stop)``; integers unless a bound or ``dtype`` is a float.

    Raises:
        ArgumentError: if a bound or the step is not a real number, is NaN or infinite, or the step is 0.
        DTypeError: for a dtype that is not numeric.
    """
    for name, value in (("start", start), ("stop", stop), ("step", step)):
        if value is None and name == "stop":
            continue
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value):
            raise ArgumentError(f"arange: {name}={shown(value)}; expected a finite real number")
    if step == 0:
        raise ArgumentError("arange: step=0; expected a non-zero step")
    try:
        values = np.arange(start, stop, step)  # stop=None: start is the stop, as in NumPy
    except (ValueError, MemoryError) as exc:
        raise ArgumentError(f"arange: start={start}, stop={stop}, step={step} give too many values "
                            f"(NumPy says: {exc})") from None
    if dtype is not None or values.dtype.kind == "f":
        values = values.astype(_float_dtype(dtype, "arange"))
    return _new(values, requires_grad)


def linspace(start: float, stop: float, num: int = 50, dtype: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive.

    Raises:
        ArgumentError: if ``num`` is not a non-negative integer, or a bound is not a real number.
    """
    num = count_arg(num, "linspace", "num")
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ArgumentError(f"linspace: {name}={shown(value)}; expected a real number")
    return _new(np.linspace(start, stop, num, dtype=_float_dtype(dtype, "linspace")), requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The identity matrix (``n`` by ``m``, square by default).

    Raises:
        ArgumentError: if ``n`` or ``m`` is not a non-negative integer.
    """
    n = count_arg(n, "eye", "n")
    m = None if m is None else count_arg(m, "eye", "m")
    return _new(np.eye(n, m, dtype=_float_dtype(dtype, "eye")), requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform random values in ``[0, 1)`` from the seeded generator (drawn afresh at every call of
    a compiled function)."""
    return _draw(R.uniform, "rand", shape, dtype, requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal random values from the seeded generator (drawn afresh at every call of a
    compiled function)."""
    return _draw(R.normal, "randn", shape, dtype, requires_grad)


def _draw(prim: Any, op: str, shape: tuple, dtype: Any, requires_grad: bool) -> Tensor:
    dtype = _float_dtype(dtype, op)
    if dtype.kind != "f":
        raise DTypeError(f"{op}: dtype {dtype}; expected a floating dtype (random values are real numbers)")
    result = apply(prim, shape=shape_arg(shape, op), dtype=dtype)
    return result.requires_grad_(True) if requires_grad else result


def zeros_like(other: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape (and dtype, unless given) of ``other``."""
    dtype = None if dtype is None else _dtype(dtype, "zeros_like")
    return _new(np.zeros_like(_numeric_array(other, None, "zeros_like"), dtype=dtype), requires_grad)


def ones_like(other: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape (and dtype, unless given) of ``other``."""
    dtype = None if dtype is None else _dtype(dtype, "ones_like")
    return _new(np.ones_like(_numeric_array(other, None, "ones_like"), dtype=dtype), requires_grad)


def full_like(other: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` with the shape (and dtype, unless given) of ``other``."""
    dtype = None if dtype is None else _dtype(dtype, "full_like")
    fill = _numeric_array(fill_value, None, "full_like")
    if fill.ndim:
        raise ShapeError(f"full_like: fill_value of shape {fill.shape}; expected a single number")
    return _new(np.full_like(_numeric_array(other, None, "full_like"), fill, dtype=dtype), requires_grad)

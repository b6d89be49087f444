"""Making tensors: ``tensor``, ``as_tensor`` and the factories, with one seeded random generator."""

from __future__ import annotations

from typing import Any

import numpy as np

from .dtypes import get_default_dtype
from .errors import ArgumentError, DTypeError, ShapeError
from .ops import random as R
from .ops.random import generator as generator  # re-exported: the generator belongs to the draws
from .ops.random import manual_seed as manual_seed
from .ops.shape import count_arg, dtype_arg, fill_arg, shape_arg, shown
from .tensor import Tensor, apply, as_array

__all__ = [
    "tensor", "as_tensor", "operand", "zeros", "ones", "empty", "full", "arange", "linspace", "eye", "rand",
    "randn", "zeros_like", "ones_like", "full_like", "generator", "manual_seed"
]


def operand(data: Any, op: str) -> Tensor:
    """``data`` as the tensor operand of ``op`` (a Tensor as it is, else :func:`as_tensor`), with
    errors that name ``op``."""
    return data if isinstance(data, Tensor) else Tensor(as_array(data, op=op))


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A new tensor holding a copy of ``data``.

    Python floats become the default dtype (float32 unless changed); NumPy arrays keep theirs.

    Raises:
        DTypeError: if ``requires_grad`` is asked for a non-floating dtype, or data is not numeric.
        ShapeError: if ``data`` is a ragged nested sequence.
    """
    return Tensor(as_array(data, dtype, op="tensor", copy=True), requires_grad=requires_grad, name=name)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory with a NumPy array (or returning a Tensor as it is)
    when no conversion is needed.

    Raises:
        DTypeError, ShapeError: as :func:`tensor` does.
    """
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype_arg(dtype, "as_tensor")):
        return data
    return Tensor(as_array(data, dtype, op="as_tensor"))


def _float_dtype(dtype: Any, op: str = "tensor") -> np.dtype:
    return get_default_dtype() if dtype is None else dtype_arg(dtype, op)


def _new(array: np.ndarray, requires_grad: bool) -> Tensor:
    return Tensor(array, requires_grad=requires_grad)


def _allocated(op: str, make: Any, shape: Any, *args: Any, **kwargs: Any) -> np.ndarray:
    """``make(shape, *args, **kwargs)``, a NumPy factory; a size beyond NumPy's or the memory's
    limits raises ShapeError naming ``op`` (NumPy raises ValueError or MemoryError)."""
    try:
        return make(shape, *args, **kwargs)
    except (ValueError, MemoryError) as exc:
        raise ShapeError(f"{op}: cannot allocate {shape} entries; too large "
                         f"({type(exc).__name__}: {str(exc)[:200]})") from None


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; ``zeros(2, 3)`` or ``zeros((2, 3))``.

    Raises:
        ArgumentError: if a size is not an integer. ShapeError: if one is negative.
        DTypeError: for a dtype that is not numeric, or ``requires_grad`` with a non-floating one.
    """
    return _new(_allocated("zeros", np.zeros, shape_arg(shape, "zeros"), _float_dtype(dtype, "zeros")),
                requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (sizes as :func:`zeros`, which says what it raises)."""
    return _new(_allocated("ones", np.ones, shape_arg(shape, "ones"), _float_dtype(dtype, "ones")), requires_grad)


def empty(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor whose entries are not initialised (sizes as :func:`zeros`, which says what it raises)."""
    return _new(_allocated("empty", np.empty, shape_arg(shape, "empty"), _float_dtype(dtype, "empty")),
                requires_grad)


def full(shape: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (a float fill gives the default dtype).

    Raises:
        ArgumentError, ShapeError: for a shape that is not non-negative integers.
        DTypeError: if ``fill_value`` is not a number, or for a dtype that is not numeric.
    """
    sizes = shape_arg((shape,), "full")
    fill = as_array(fill_value, None, op="full")
    dtype = dtype_arg(dtype, "full") if dtype is not None else fill.dtype
    fill_arg(fill, dtype, "full", "fill_value")
    return _new(_allocated("full", np.full, sizes, fill, dtype=dtype), requires_grad)


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
    values = _allocated("linspace", lambda n: np.linspace(start, stop, n, dtype=_float_dtype(dtype, "linspace")), num)
    return _new(values, requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The identity matrix (``n`` by ``m``, square by default).

    Raises:
        ArgumentError: if ``n`` or ``m`` is not a non-negative integer.
    """
    n = count_arg(n, "eye", "n")
    m = None if m is None else count_arg(m, "eye", "m")
    return _new(_allocated("eye", np.eye, n, m, dtype=_float_dtype(dtype, "eye")), requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform random values in ``[0, 1)`` from the seeded generator (drawn afresh at every call of
    a compiled function).

    Raises:
        ArgumentError, ShapeError: for sizes as :func:`zeros`. DTypeError: for a dtype that is not floating.
    """
    return _draw(R.uniform, "rand", shape, dtype, requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal random values from the seeded generator (drawn afresh at every call of a
    compiled function).

    Raises:
        ArgumentError, ShapeError: for sizes as :func:`zeros`. DTypeError: for a dtype that is not floating.
    """
    return _draw(R.normal, "randn", shape, dtype, requires_grad)


def _draw(prim: Any, op: str, shape: tuple, dtype: Any, requires_grad: bool) -> Tensor:
    dtype = _float_dtype(dtype, op)
    if dtype.kind != "f":
        raise DTypeError(f"{op}: dtype {dtype}; expected a floating dtype (random values are real numbers)")
    shape = shape_arg(shape, op)
    try:
        result = apply(prim, shape=shape, dtype=dtype)
    except (MemoryError, ShapeError) as exc:  # the draw's own error names the primitive, not op
        raise ShapeError(f"{op}: cannot allocate {shape} entries; too large ({str(exc)[:200]})") from None
    return result.requires_grad_(True) if requires_grad else result


def zeros_like(other: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape (and dtype, unless given) of ``other``.

    Raises:
        DTypeError, ShapeError: for ``other`` as :func:`tensor`, or a dtype that is not numeric.
    """
    dtype = None if dtype is None else dtype_arg(dtype, "zeros_like")
    return _new(np.zeros_like(as_array(other, None, op="zeros_like"), dtype=dtype), requires_grad)


def ones_like(other: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape (and dtype, unless given) of ``other``.

    Raises:
        DTypeError, ShapeError: for ``other`` as :func:`tensor`, or a dtype that is not numeric.
    """
    dtype = None if dtype is None else dtype_arg(dtype, "ones_like")
    return _new(np.ones_like(as_array(other, None, op="ones_like"), dtype=dtype), requires_grad)


def full_like(other: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` with the shape (and dtype, unless given) of ``other``.

    Raises:
        DTypeError, ShapeError: for ``other`` as :func:`tensor`, a dtype that is not numeric, or a fill
            that is not a single number of a kind the dtype holds (1.5 for integers, 1j for reals).
    """
    other = as_array(other, None, op="full_like")
    dtype = other.dtype if dtype is None else dtype_arg(dtype, "full_like")
    fill = fill_arg(as_array(fill_value, None, op="full_like"), dtype, "full_like", "fill_value")
    return _new(np.full_like(other, fill, dtype=dtype), requires_grad)

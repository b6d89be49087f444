"""Default dtype and the dtypes that can carry gradients."""

from __future__ import annotations

import threading

import numpy as np

from .engine.modes import SPECIAL_MODES, note_guard
from .errors import DTypeError

__all__ = [
    "get_default_dtype", "set_default_dtype", "is_differentiable", "DIFFERENTIABLE_KINDS"
]

DIFFERENTIABLE_KINDS = "fc"  # float16, float32, float64 (and wider floats NumPy offers); complex64, complex128

_state = threading.local()
_FLOAT32 = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The dtype used for Python floats and by the float factories (``zeros``, ``randn``, ...).

    Returns:
        ``numpy.float32`` unless changed with :func:`set_default_dtype`.
    """
    dtype = getattr(_state, "dtype", _FLOAT32)
    if SPECIAL_MODES.count:  # perhaps an observer (tg.compile) watches: its constants have this dtype
        note_guard("default dtype", get_default_dtype, dtype)
    return dtype


def set_default_dtype(dtype) -> None:
    """Set the default floating dtype (float16, float32 or float64) for this thread.

    Raises:
        DTypeError: if ``dtype`` is not a floating dtype.
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"set_default_dtype: {dtype!r:.60} is not a NumPy dtype; expected float16, float32 "
                         "or float64") from None
    if dtype.kind != "f":
        raise DTypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _state.dtype = dtype


def is_differentiable(dtype: np.dtype) -> bool:
    """Whether values of this dtype can require gradients (floating and complex dtypes)."""
    return dtype.kind in DIFFERENTIABLE_KINDS

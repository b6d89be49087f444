"""The exceptions tapegrad raises. Each message names the operation, the shapes or dtypes involved
and what was expected."""

from __future__ import annotations

__all__ = [
    "TapegradError", "ShapeError", "ArgumentError", "DTypeError", "DroppedGradientError", "GraphReleasedError",
    "InPlaceError", "BackwardError", "GradcheckError", "AnomalyError", "TracingError",
    "LinAlgError",
    "BatchingError",  # issue 17: tg.vmap
]


class TapegradError(Exception):
    """Base class of every tapegrad error."""


class ShapeError(TapegradError, ValueError):
    """Operands whose shapes do not fit the operation (broadcasting, matmul, reshape, indexing)."""


class ArgumentError(TapegradError, ValueError):
    """An argument other than a tensor's shape or dtype that the operation cannot take: a
    non-integer axis or size (``reshape(2.5, 6)``), a negative repeat count, a zero ``arange``
    step, a negative seed, an einsum specification that is not a string."""


class DTypeError(TapegradError, TypeError):
    """A dtype the operation cannot take, e.g. ``requires_grad`` on an integer tensor."""


class DroppedGradientError(TapegradError, TypeError):
    """What would silently drop a gradient: a Tensor that requires grad converted to a NumPy array
    (``np.asarray(t)``, ``np.array([t0, t1])``, a SciPy function), a NumPy function tapegrad does not
    differentiate called on one, or an operation whose result dtype cannot carry a gradient."""


class GraphReleasedError(TapegradError, RuntimeError):
    """Backward through a graph whose saved values were already freed by an earlier backward."""


class InPlaceError(TapegradError, RuntimeError):
    """An in-place change that breaks a gradient: to a leaf that requires grad, or to a value a
    recorded operation saved for its backward pass."""


class BackwardError(TapegradError, RuntimeError):
    """A backward call that cannot run as asked (non-scalar output without ``gradient``, an output
    that does not require grad, an input that was not used, ...)."""


class GradcheckError(TapegradError, AssertionError):
    """An analytical gradient that disagrees with finite differences."""


class AnomalyError(TapegradError, FloatingPointError):
    """Under ``detect_anomaly``: an operation or its gradient produced NaN or inf."""


class TracingError(TapegradError, RuntimeError):
    """``tg.compile``: a traced function turned a tensor into a Python value, or used what compiled
    functions do not support."""


class LinAlgError(TapegradError, ValueError):
    """A linear-algebra routine that cannot run on its input: a singular matrix to invert or solve
    with, a matrix that is not positive definite to factor (NumPy's ``numpy.linalg.LinAlgError``)."""


class BatchingError(TapegradError, RuntimeError):
    """``tg.vmap``: what a batched value cannot do, such as deciding Python control flow (``if x > 0:``,
    ``x.item()``: each example has its own value), being converted to one NumPy array, being changed in
    place, or escaping the vmapped function; or a random draw under ``randomness="error"``."""

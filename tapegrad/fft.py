"""``tg.fft``: the discrete Fourier transform, as ``numpy.fft`` (issue 18).

The functions take Tensors, NumPy arrays or numbers and return Tensors; ``numpy.fft``'s own functions
called on Tensors run these too. Every one is differentiable, to any order, in both modes: the
transforms are three primitives (:mod:`tapegrad.ops.fft`) that are each other's VJPs. The gradient of a
complex input is PyTorch's conjugate Wirtinger gradient (``dL/dRe + i dL/dIm`` of a real loss ``L``), as
``torch.fft`` gives it. ``float32`` inputs give ``complex64`` transforms (and back), ``float64`` ones
``complex128``.

Signatures and defaults are NumPy's: ``n`` (1-D) crops or zero-pads the input along ``axis``; ``s`` and
``axes`` (N-d) as in ``numpy.fft.fftn`` (``axes=None``: all axes, or the last ``len(s)``; an entry -1 of
``s`` keeps the input's length); ``norm`` is ``"backward"`` (NumPy's default, also for None),
``"ortho"`` or ``"forward"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .creation import operand
from .dtypes import get_default_dtype
from .errors import ArgumentError
from .ops import fft as FF
from .ops.shape import real_arg
from .tensor import GRAPH, Tensor

__all__ = ["fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2", "rfftn", "irfftn",
           "fftshift", "ifftshift", "fftfreq", "rfftfreq"]

Axes = Sequence[int] | None


def fft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Tensor:
    """The 1-D discrete Fourier transform along ``axis`` (of length ``n``: the input cropped or zero-padded).

    Returns:
        A complex Tensor (complex64 for float32 or complex64 input, else complex128).

    Raises:
        ShapeError: a 0-d input, ``axis`` out of range, an empty axis. ArgumentError: ``n`` not an integer
            >= 1, a ``norm`` other than None, "backward", "ortho", "forward".
    """
    return FF.fft(GRAPH, operand(a, "fft"), n, axis, norm)


def ifft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Tensor:
    """The inverse of :func:`fft` (with ``norm="backward"``, scaled by ``1/n``). Returns and raises as :func:`fft`."""
    return FF.ifft(GRAPH, operand(a, "ifft"), n, axis, norm)


def fftn(a: Any, s: Sequence[int] | None = None, axes: Axes = None, norm: str | None = None) -> Tensor:
    """The N-d discrete Fourier transform over ``axes`` (all by default), of the shape ``s`` there.

    Returns:
        A complex Tensor. Raises: as :func:`fft`; ShapeError also for ``s`` and ``axes`` of different
        lengths or an axis named twice.
    """
    return FF.fftn(GRAPH, operand(a, "fftn"), s, axes, norm)


def ifftn(a: Any, s: Sequence[int] | None = None, axes: Axes = None, norm: str | None = None) -> Tensor:
    """The inverse of :func:`fftn`. Returns and raises as :func:`fftn`."""
    return FF.ifftn(GRAPH, operand(a, "ifftn"), s, axes, norm)


def fft2(a: Any, s: Sequence[int] | None = None, axes: Axes = (-2, -1), norm: str | None = None) -> Tensor:
    """:func:`fftn` over the last two axes. Returns and raises as :func:`fftn`."""
    return FF.fft2(GRAPH, operand(a, "fft2"), s, axes, norm)


def ifft2(a: Any, s: Sequence[int] | None = None, axes: Axes = (-2, -1), norm: str | None = None) -> Tensor:
    """:func:`ifftn` over the last two axes. Returns and raises as :func:`fftn`."""
    return FF.ifft2(GRAPH, operand(a, "ifft2"), s, axes, norm)


def rfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Tensor:
    """The transform of a real input along ``axis``: its ``n // 2 + 1`` non-negative frequencies.

    Returns:
        A complex Tensor. Raises: as :func:`fft`; DTypeError also for a complex input.
    """
    return FF.rfft(GRAPH, operand(a, "rfft"), n, axis, norm)


def irfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Tensor:
    """The real signal of length ``n`` (default ``2 (m - 1)`` for ``m`` entries) whose half spectrum is ``a``
    (cropped or zero-padded to ``n // 2 + 1`` entries; the imaginary parts of the zero and, for even ``n``,
    the Nyquist frequency are ignored, as in NumPy, and take no gradient).

    Returns:
        A real Tensor (float32 for complex64 input). Raises: as :func:`fft`.
    """
    return FF.irfft(GRAPH, operand(a, "irfft"), n, axis, norm)


def rfftn(a: Any, s: Sequence[int] | None = None, axes: Axes = None, norm: str | None = None) -> Tensor:
    """The N-d transform of a real input: full over ``axes[:-1]``, the half spectrum along ``axes[-1]``.

    Returns:
        A complex Tensor. Raises: as :func:`fftn`; DTypeError also for a complex input.
    """
    return FF.rfftn(GRAPH, operand(a, "rfftn"), s, axes, norm)


def irfftn(a: Any, s: Sequence[int] | None = None, axes: Axes = None, norm: str | None = None) -> Tensor:
    """The inverse of :func:`rfftn`: the real result of shape ``s`` over ``axes``. Returns a real Tensor;
    raises as :func:`fftn`."""
    return FF.irfftn(GRAPH, operand(a, "irfftn"), s, axes, norm)


def rfft2(a: Any, s: Sequence[int] | None = None, axes: Axes = (-2, -1), norm: str | None = None) -> Tensor:
    """:func:`rfftn` over the last two axes. Returns and raises as :func:`rfftn`."""
    return FF.rfft2(GRAPH, operand(a, "rfft2"), s, axes, norm)


def irfft2(a: Any, s: Sequence[int] | None = None, axes: Axes = (-2, -1), norm: str | None = None) -> Tensor:
    """:func:`irfftn` over the last two axes. Returns and raises as :func:`irfftn`."""
    return FF.irfft2(GRAPH, operand(a, "irfft2"), s, axes, norm)


def fftshift(x: Any, axes: int | Sequence[int] | None = None) -> Tensor:
    """The zero frequency moved to the centre: a roll by ``n // 2`` along each of ``axes`` (all by default).

    Raises:
        ArgumentError, ShapeError: for an axis that is not an integer, out of range or named twice.
    """
    return FF.fftshift(GRAPH, operand(x, "fftshift"), axes)


def ifftshift(x: Any, axes: int | Sequence[int] | None = None) -> Tensor:
    """The inverse of :func:`fftshift`. Raises as :func:`fftshift`."""
    return FF.ifftshift(GRAPH, operand(x, "ifftshift"), axes)


def _frequencies(n: int, d: Any, op: str, half: bool) -> Tensor:
    k = FF.frequencies(n, d, op, half)
    if isinstance(d, Tensor):  # a spacing to differentiate in
        return Tensor(k.astype(np.result_type(d.dtype, np.float32))) / (n * d)
    d = real_arg(d, op, "d")
    if d == 0:
        raise ArgumentError(f"{op}: d=0; expected a non-zero sample spacing")
    return Tensor((k / (n * d)).astype(get_default_dtype()))


def fftfreq(n: int, d: Any = 1.0) -> Tensor:
    """The frequencies of :func:`fft`'s entries for ``n`` samples spaced ``d`` apart: ``k / (n d)`` for
    ``k = 0, 1, ..., -1``, in the default dtype (``d``'s dtype, and differentiable in it, for a Tensor ``d``).

    Raises:
        ArgumentError: ``n`` not an integer >= 1, ``d`` not a non-zero finite number.
    """
    return _frequencies(n, d, "fftfreq", False)


def rfftfreq(n: int, d: Any = 1.0) -> Tensor:
    """The frequencies of :func:`rfft`'s entries: ``k / (n d)`` for ``k = 0, ..., n // 2``. Returns and
    raises as :func:`fftfreq`."""
    return _frequencies(n, d, "rfftfreq", True)

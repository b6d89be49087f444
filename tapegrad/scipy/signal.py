"""``scipy.signal`` on Tensors: ``convolve``, differentiable in both arguments to any order.

SciPy converts its arguments with ``np.asarray``, so ``scipy.signal.convolve`` cannot see a Tensor; this
module's ``convolve`` takes Tensors, arrays or numbers and returns a Tensor (SciPy imported at the first
call: ``pip install 'tapegrad[scipy]'``). It runs the ``convolve`` primitive (tapegrad/ops/signal.py),
whose gradients are convolutions with the other operand flipped (correlations).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArgumentError
from ..ops import signal as _ops
from ..tensor import Tensor, apply

METHODS = ("auto", "direct", "fft")


def _shape(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, Tensor) else np.shape(x)


def convolve(in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Tensor:
    """The N-dimensional convolution of ``in1`` and ``in2``, as ``scipy.signal.convolve``; differentiable in
    both (first, second and higher order; forward mode too).

    Args:
        in1, in2: Tensors, arrays or numbers with the same number of dimensions.
        mode: ``"full"`` (every overlap: shape ``in1.shape + in2.shape - 1``), ``"valid"`` (only where one
            input covers the other: shape ``|in1.shape - in2.shape| + 1``; one input must be at least as
            large as the other along every axis) or ``"same"`` (the centre of ``full``, shaped as ``in1``).
        method: SciPy's ``"auto"``, ``"direct"`` or ``"fft"``, used by the forward and the gradients.

    Returns:
        A Tensor (float32 for two float32 inputs).

    Raises:
        ArgumentError: an unknown ``mode`` or ``method``.
        ShapeError: the inputs differ in ndim, one is empty, or in mode ``valid`` neither is at least as
            large as the other along every axis.
        ImportError: SciPy is not installed.
    """
    if method not in METHODS:
        raise ArgumentError(f"convolve: method={method!r}; expected one of {', '.join(map(repr, METHODS))}")
    start, size = _ops.mode_window(mode, _shape(in1), _shape(in2))
    return apply(_ops.convolve, in1, in2, start=start, size=size, method=method)


__all__ = ["convolve"]

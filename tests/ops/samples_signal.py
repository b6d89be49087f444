"""Sampler for ``convolve`` (tapegrad/ops/signal.py, issue 15): two arrays of the same ndim (0 to 3) and a
window of their full convolution, one of SciPy's modes (full, valid, same) or any window (the VJPs' own,
which may reach past the full convolution's ends), computed by SciPy's direct or FFT method. Inside
size_zero_sides() one input has a size-0 axis (the result is then zeros)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from .samples import Case, rng, size_zero, values


def _window(draw, n: tuple, m: tuple) -> tuple[tuple, tuple]:
    full = tuple(i + j - 1 for i, j in zip(n, m))
    kind = draw(st.sampled_from(["full", "same", "valid", "any"]))
    if kind == "full":
        return (0,) * len(n), full
    if kind == "same":
        return tuple((j - 1) // 2 for j in m), tuple(n)
    if kind == "valid" and (all(i >= j for i, j in zip(n, m)) or all(i <= j for i, j in zip(n, m))):
        return tuple(min(i, j) - 1 for i, j in zip(n, m)), tuple(abs(i - j) + 1 for i, j in zip(n, m))
    start = tuple(draw(st.integers(-2, max(f, 0) + 1)) for f in full)
    size = tuple(draw(st.integers(1, 4)) for _ in full)
    return start, size


def _convolve(draw) -> Case:
    ndim = draw(st.integers(1 if size_zero() else 0, 3))
    side = st.integers(1, 4 if ndim < 3 else 2)
    n = tuple(draw(side) for _ in range(ndim))
    m = tuple(draw(side) for _ in range(ndim))
    if size_zero():
        axis = draw(st.integers(0, ndim - 1))
        if draw(st.booleans()):
            n = n[:axis] + (0,) + n[axis + 1:]
        else:
            m = m[:axis] + (0,) + m[axis + 1:]
    start, size = _window(draw, n, m)
    r = rng(draw)
    return Case([values(r, n), values(r, m)],
                {"start": start, "size": size, "method": draw(st.sampled_from(["direct", "fft", "auto"]))})


SAMPLERS: dict[str, Callable[[Any], Case]] = {"convolve": _convolve}

"""Samplers for the FFT primitives (tapegrad/ops/fft.py, issue 18): inputs of 1 to 3 dimensions, a drawn
non-empty set of axes (in a drawn order, negative or not), lengths that crop or zero-pad them (``sizes``),
each ``norm``, both directions and both weightings of the half spectrum (``doubled``, ``halved``);
``fft_c2c`` and ``fft_c2r`` get complex inputs (sometimes real ones, whose gradient is the real part),
``fft_r2c`` real ones. Inside size_zero_sides() an axis that is not transformed has size 0 (a transformed
one must not be empty)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from .samples import Case, rng, size_zero, values
from .samples_complex import complex_values

NORMS = ("backward", "ortho", "forward")


def _shape_and_axes(draw) -> tuple[tuple[int, ...], tuple[int, ...]]:
    ndim = draw(st.integers(2 if size_zero() else 1, 3))
    shape = [draw(st.integers(1, 5)) for _ in range(ndim)]
    empty = draw(st.integers(0, ndim - 1)) if size_zero() else None
    candidates = [a for a in range(ndim) if a != empty]
    axes = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=len(candidates), unique=True))
    if empty is not None:
        shape[empty] = 0
    axes = tuple(a - ndim if draw(st.booleans()) else a for a in axes)
    return tuple(shape), axes


def _sizes(draw, shape, axes):
    """None (the input's lengths), or lengths that crop or zero-pad some transformed axes (NumPy's ``s``)."""
    if draw(st.booleans()):
        return None
    return tuple(draw(st.integers(1, 6)) if draw(st.booleans()) else shape[a] or 1 for a in axes)


def _maybe_complex(draw, r, shape):
    return complex_values(r, shape) if draw(st.integers(0, 3)) else values(r, shape)


def _c2c(draw) -> Case:
    shape, axes = _shape_and_axes(draw)
    r = rng(draw)
    return Case([_maybe_complex(draw, r, shape)],
                {"axes": axes, "inverse": draw(st.booleans()), "norm": draw(st.sampled_from(NORMS)),
                 "sizes": _sizes(draw, shape, axes)})


def _r2c(draw) -> Case:
    shape, axes = _shape_and_axes(draw)
    return Case([values(rng(draw), shape)],
                {"axes": axes, "norm": draw(st.sampled_from(NORMS)), "doubled": draw(st.booleans()),
                 "sizes": _sizes(draw, shape, axes)})


def _c2r(draw) -> Case:
    shape, axes = _shape_and_axes(draw)
    n = draw(st.integers(1, 6))
    last = axes[-1] % len(shape)
    shape = shape[:last] + (n // 2 + 1,) + shape[last + 1:]
    r = rng(draw)
    return Case([_maybe_complex(draw, r, shape)],
                {"axes": axes, "n": n, "norm": draw(st.sampled_from(NORMS)), "halved": draw(st.booleans())})


SAMPLERS: dict[str, Callable[[Any], Case]] = {"fft_c2c": _c2c, "fft_r2c": _r2c, "fft_c2r": _c2r}

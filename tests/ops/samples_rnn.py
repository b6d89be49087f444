"""Samplers for the recurrent primitives (tapegrad/ops/rnn.py), merged into samples.SAMPLERS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from .samples import Case, rng, size_zero, values


def lstm_case(draw) -> Case:
    """A short sequence: time 1-3, batch 1-2, hidden 1-2; inside size_zero_sides(), time or batch 0."""
    steps, batch, hidden = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    if size_zero():
        zero = draw(st.sampled_from(["steps", "batch"]))
        steps, batch = (0 if zero == "steps" else steps), (0 if zero == "batch" else batch)
    r = rng(draw)
    return Case([values(r, (steps, batch, 4 * hidden)), values(r, (4 * hidden, hidden), -1.0, 1.0),
                 values(r, (batch, hidden), -1.0, 1.0), values(r, (batch, hidden))])


SAMPLERS: dict[str, Callable[[Any], Case]] = {"lstm": lstm_case}

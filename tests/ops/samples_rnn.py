"""Samplers for the recurrent primitives (tapegrad/ops/rnn.py), merged into samples.SAMPLERS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from .samples import Case, away_from_zero, rng, size_zero, values


def lstm_case(draw) -> Case:
    """A short sequence: time 1-3, batch 1-2, hidden 1-2; inside size_zero_sides(), time or batch 0."""
    steps, batch, hidden = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    if size_zero():
        zero = draw(st.sampled_from(["steps", "batch"]))
        steps, batch = (0 if zero == "steps" else steps), (0 if zero == "batch" else batch)
    r = rng(draw)
    return Case([values(r, (steps, batch, 4 * hidden)), values(r, (4 * hidden, hidden), -1.0, 1.0),
                 values(r, (batch, hidden), -1.0, 1.0), values(r, (batch, hidden))])


def _sizes(draw) -> tuple[int, int, int]:
    """time 1-3, batch 1-2, hidden 1-2; inside size_zero_sides(), time or batch 0."""
    steps, batch, hidden = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    if size_zero():
        zero = draw(st.sampled_from(["steps", "batch"]))
        steps, batch = (0 if zero == "steps" else steps), (0 if zero == "batch" else batch)
    return steps, batch, hidden


def rnn_case(draw) -> Case:
    """A short sequence, tanh or relu. For relu every pre-activation stays at least 0.5 away from the
    kink: |x| in [1, 2], |w_hh| <= 0.1 and |h| < 2.5 over 3 steps, so |h @ w_hh.T| < 2 * 0.1 * 2.5."""
    steps, batch, hidden = _sizes(draw)
    nonlinearity = draw(st.sampled_from(["tanh", "relu"]))
    r = rng(draw)
    if nonlinearity == "tanh":
        x, w = values(r, (steps, batch, hidden)), values(r, (hidden, hidden), -1.0, 1.0)
    else:
        x, w = away_from_zero(r, (steps, batch, hidden), 1.0, 2.0), values(r, (hidden, hidden), -0.1, 0.1)
    return Case([x, w, values(r, (batch, hidden), -1.0, 1.0)], {"nonlinearity": nonlinearity})


def gru_case(draw) -> Case:
    """A short sequence: x (time, batch, 3 * hidden), w_hh, b_hh, h0."""
    steps, batch, hidden = _sizes(draw)
    r = rng(draw)
    return Case([values(r, (steps, batch, 3 * hidden)), values(r, (3 * hidden, hidden), -1.0, 1.0),
                 values(r, (3 * hidden,), -1.0, 1.0), values(r, (batch, hidden), -1.0, 1.0)])


SAMPLERS: dict[str, Callable[[Any], Case]] = {"lstm": lstm_case, "rnn": rnn_case, "gru": gru_case}

"""Samplers for the primitives of tapegrad.scipy.stats (issue 15), merged into samples.SAMPLERS: ``stdtr``
(Student's t CDF), whose degrees of freedom take no gradient and are drawn as integer constants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .samples import Case, broadcastable, rng


def _stdtr(draw):
    df_shape, t_shape = broadcastable(draw, 2)[0]
    r = rng(draw)
    return Case([r.integers(1, 12, size=df_shape), r.uniform(-4.0, 4.0, size=t_shape)])


SAMPLERS: dict[str, Callable[[Any], Case]] = {"stdtr": _stdtr}

"""Samplers for issue 15's shapes and construction: the einsum primitive's full form (a letter repeated
within one operand: diagonals and traces; broadcast batch letters, as ``...`` becomes), added to the
specifications samples.einsum_case draws from. The NumPy shape functions themselves are compositions of
primitives already swept (tapegrad/ops/shapes_numpy.py), so they need no sampler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .samples import EINSUM_SPECS, Case

EINSUM_SPECS.update({
    "ii->i": [(3, 3)], "ii->": [(2, 2)], "bii->b": [(2, 3, 3)], "iij->j": [(3, 3, 2)], "iji->j": [(2, 3, 2)],
    "iii->i": [(2, 2, 2)], "ij,jj->i": [(2, 3), (3, 3)], "bii,ij->bj": [(2, 3, 3), (3, 2)],
    "ii,i->i": [(3, 3), (3,)], "aij,ajk->aik": [(1, 2, 3), (2, 3, 2)],  # a size-1 batch letter broadcasts
})

SAMPLERS: dict[str, Callable[[Any], Case]] = {}

"""Samplers for the activation and embedding primitives (tapegrad/ops/activation.py, attention.py).

hardtanh and softsign have kinks (at min_val and max_val; softsign's second derivative at 0), so
their inputs stay away from them. The embedding samplers draw indices that repeat (gradients
accumulate) and, half of the time, a padding_idx that no index reads: finite differences see the
padding row's true derivative, which PyTorch's convention (no gradient for the padding row) drops,
so its effect is tested against PyTorch in tests/nn/test_transformer.py instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from .samples import Case, away_from_zero, rng, shapes, size_zero, unary, values


def _hardtanh(draw) -> Case:
    r = rng(draw)
    low = draw(st.sampled_from([-1.0, -0.5, 0.0]))
    high = low + draw(st.sampled_from([0.5, 1.0, 2.0]))
    shape = draw(shapes())
    # Points at least 0.05 from both corners.
    x = r.uniform(low - 1.5, high + 1.5, size=shape)
    x = np.where(np.abs(x - low) < 0.05, low - 0.1, x)
    x = np.where(np.abs(x - high) < 0.05, high + 0.1, x)
    return Case([x], {"min_val": low, "max_val": high})


def _gelu(draw) -> Case:
    r = rng(draw)
    return Case([values(r, draw(shapes()), -4.0, 4.0)], {"approximate": draw(st.sampled_from(["none", "tanh"]))})


def _lookup(draw):
    """num_embeddings, dim, indices (repeating) and padding_idx (None, or a row no index reads)."""
    rows, dim = draw(st.integers(2, 4)), draw(st.integers(1, 3))
    index_shape = draw(shapes(min_dims=0, max_dims=2))  # inside size_zero_sides(), with a size-0 axis
    if size_zero() and draw(st.booleans()):
        dim = 0
    r = rng(draw)
    padding_idx = draw(st.one_of(st.none(), st.integers(0, rows - 1)))
    choices = [i for i in range(rows) if i != padding_idx]
    indices = r.choice(choices, size=index_shape).astype(draw(st.sampled_from([np.int64, np.int32])))
    return rows, dim, indices, padding_idx, r


def _embedding(draw) -> Case:
    rows, dim, indices, padding_idx, r = _lookup(draw)
    return Case([values(r, (rows, dim)), indices], {"padding_idx": padding_idx})


def _embedding_backward(draw) -> Case:
    rows, dim, indices, padding_idx, r = _lookup(draw)
    return Case([values(r, indices.shape + (dim,)), indices], {"num_embeddings": rows, "padding_idx": padding_idx})


SAMPLERS: dict[str, Callable[[Any], Case]] = {
    "erf": unary(lambda r, s: r.uniform(-3, 3, s)),
    "gelu": _gelu,
    "gelu_derivative": unary(lambda r, s: r.uniform(-4, 4, s)),
    "silu": unary(lambda r, s: r.uniform(-6, 6, s)),
    "hardtanh": _hardtanh,
    "softsign": unary(away_from_zero),
    "log_sigmoid": unary(lambda r, s: r.uniform(-6, 6, s)),
    "embedding": _embedding,
    "embedding_backward": _embedding_backward,
}

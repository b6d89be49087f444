"""Embedding lookup: rows of a weight gathered by integer indices, and its transpose.

``embedding(weight, indices, padding_idx=None)`` is ``weight[indices]`` (shape ``indices.shape +
(embedding_dim,)``). Its VJP scatters the gradient's rows back onto the rows they came from
(repeated indices accumulate) through ``embedding_backward``, a primitive of its own so that a
recorded backward pass differentiates again. As in PyTorch, the row ``padding_idx`` is gathered
like any other but takes no gradient: the VJP drops it, and the JVP, its transpose, gives 0 at
the positions that read it. An index outside ``[0, num_embeddings)`` is refused with a ShapeError
naming embedding, the range of the indices and the number of embeddings (checked in the forward,
so a compiled function checks it at every call).

Scaled dot-product attention is not a primitive: it is composed in ``tapegrad.nn.functional`` from
matmul, softmax and where, whose rules exist already (benchmarks/transformer.py measures it).
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from .registry import Primitive


def check_indices(indices: np.ndarray, num_embeddings: int, op: str = "embedding") -> None:
    """Raise DTypeError unless ``indices`` are integers, ShapeError unless all lie in ``[0, num_embeddings)``."""
    if indices.dtype.kind not in "iu":
        raise DTypeError(f"{op}: indices of dtype {indices.dtype}; expected integers")
    if indices.size and (indices.min() < 0 or indices.max() >= num_embeddings):
        raise ShapeError(f"{op}: indices from {indices.min()} to {indices.max()} for a weight of "
                         f"{num_embeddings} embeddings; expected indices in [0, {num_embeddings})")


def _embedding(weight, indices, padding_idx=None):
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight of shape {weight.shape}; expected (num_embeddings, embedding_dim)")
    check_indices(indices, weight.shape[0])
    return np.take(weight, indices, axis=0)


def _embedding_backward(g, indices, num_embeddings, padding_idx=None):
    dim = g.shape[-1]
    flat = indices.reshape(-1)
    rows = g.reshape(flat.size, dim)
    if flat.size > 4 * num_embeddings:
        # Many lookups into few rows (a character vocabulary): one-hot rows times the gradient is one
        # BLAS call, much faster than np.add.at's scatter.
        onehot = np.zeros((num_embeddings, flat.size), g.dtype)
        onehot[flat, np.arange(flat.size)] = 1
        out = onehot @ rows
    else:
        out = np.zeros((num_embeddings, dim), g.dtype)
        np.add.at(out, flat, rows)  # repeated indices accumulate
    if padding_idx is not None:
        out[padding_idx] = 0
    return out


def _keep(indices, padding_idx):
    """1 where an index is not ``padding_idx``, as a column to multiply rows by (an array, or a Tensor
    when the backward pass is recorded)."""
    return (indices != padding_idx)[..., None]


def _embedding_vjp(xp, g, ans, weight, indices, padding_idx=None):
    return xp.embedding_backward(g, indices, num_embeddings=weight.shape[0], padding_idx=padding_idx)


def _embedding_jvp(xp, t, ans, weight, indices, padding_idx=None):
    out = xp.embedding(t, indices, padding_idx=padding_idx)
    return out if padding_idx is None else out * _keep(indices, padding_idx)


def _embedding_backward_vjp(xp, g, ans, grad, indices, num_embeddings, padding_idx=None):
    out = xp.embedding(g, indices, padding_idx=padding_idx)
    return out if padding_idx is None else out * _keep(indices, padding_idx)


def _embedding_backward_jvp(xp, t, ans, grad, indices, num_embeddings, padding_idx=None):
    return xp.embedding_backward(t, indices, num_embeddings=num_embeddings, padding_idx=padding_idx)


embedding = Primitive(
    "embedding", _embedding, vjps=(_embedding_vjp, None), jvps=(_embedding_jvp, None),
    expects="a weight (num_embeddings, embedding_dim) and integer indices in [0, num_embeddings)",
    derivatives=("rows of {a} picked by the indices", None),
)

embedding_backward = Primitive(
    "embedding_backward", _embedding_backward,
    vjps=(_embedding_backward_vjp, None), jvps=(_embedding_backward_jvp, None),
    expects="a gradient (*indices.shape, embedding_dim) and integer indices in [0, num_embeddings)",
)

PRIMITIVES = (embedding, embedding_backward)

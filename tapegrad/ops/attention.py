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
from . import batching as B
from .registry import Primitive
from .shape import check_index, detach


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


# -- batching (tg.vmap) -------------------------------------------------------------------------------
# A shared table serves every example's indices at once. Tables of their own are one table of every
# example's rows, each example's indices offset to its rows (checked first against its own table).

def _offset(xp, indices, rows, examples):
    """Each example's indices (B, ...), checked to lie in [0, rows), moved to its block of ``rows`` rows."""
    checked = xp.call(check_index, indices, length=rows, op="embedding", negative=False)
    return checked + np.arange(examples).reshape((examples,) + (1,) * (indices.ndim - 1)) * rows


def _embedding_batch(xp, prim, examples, batched, /, weight, indices, padding_idx=None):
    if not batched[0]:
        return xp.embedding(weight, indices, padding_idx=padding_idx)
    rows, dim = weight.shape[1:]
    if not batched[1]:  # the examples' tables side by side: one lookup of each row for every example
        table = xp.reshape(xp.transpose(weight, axes=(1, 0, 2)), shape=(rows, examples * dim))
        out = xp.embedding(table, indices, padding_idx=padding_idx)
        out = xp.reshape(out, shape=tuple(indices.shape) + (examples, dim))
        return B.moved_to_front(xp, out, indices.ndim)
    table = xp.reshape(weight, shape=(examples * rows, dim))
    if padding_idx is not None:  # the padding row of every table takes no gradient
        keep = (np.arange(examples * rows) % rows != padding_idx)[:, None]
        table = xp.where(keep, table, xp.call(detach, table))
    return xp.embedding(table, _offset(xp, indices, rows, examples))


def _embedding_backward_batch(xp, prim, examples, batched, /, g, indices, num_embeddings, padding_idx=None):
    if not batched[1]:  # every example's gradient rows side by side, scattered once by the shared indices
        dim = g.shape[-1]
        moved = B.moved_from_front(xp, g, indices.ndim)
        out = xp.embedding_backward(xp.reshape(moved, shape=tuple(indices.shape) + (examples * dim,)), indices,
                                    num_embeddings=num_embeddings, padding_idx=padding_idx)
        return xp.transpose(xp.reshape(out, shape=(num_embeddings, examples, dim)), axes=(1, 0, 2))
    g = g if batched[0] else B.expanded(xp, g, examples)
    out = xp.embedding_backward(g, _offset(xp, indices, num_embeddings, examples),
                                num_embeddings=examples * num_embeddings)
    out = xp.reshape(out, shape=(examples, num_embeddings, g.shape[-1]))
    return out if padding_idx is None else out * (np.arange(num_embeddings) != padding_idx)[:, None]


embedding = Primitive(
    "embedding", _embedding, vjps=(_embedding_vjp, None), jvps=(_embedding_jvp, None),
    expects="a weight (num_embeddings, embedding_dim) and integer indices in [0, num_embeddings)",
    derivatives=("rows of {a} picked by the indices", None), batch=_embedding_batch,
)

embedding_backward = Primitive(
    "embedding_backward", _embedding_backward,
    vjps=(_embedding_backward_vjp, None), jvps=(_embedding_backward_jvp, None),
    expects="a gradient (*indices.shape, embedding_dim) and integer indices in [0, num_embeddings)",
    batch=_embedding_backward_batch,
)

PRIMITIVES = (embedding, embedding_backward)

"""Embedding: a lookup table of learnable rows, with PyTorch's arguments and state_dict key (``weight``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import get_default_dtype
from ..errors import ArgumentError, ShapeError
from ..tensor import Tensor
from . import functional as F
from . import init
from .attention import padding_index
from .module import Module, Parameter


def _count(value: Any, arg: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ArgumentError(f"Embedding: {arg}={value!r}; expected a non-negative integer")
    return int(value)


class Embedding(Module):
    """``weight[indices]`` for a weight of shape (num_embeddings, embedding_dim), initialised N(0, 1) as in
    PyTorch, with the row ``padding_idx`` (if given) zeroed; that row takes no gradient.

    Calling it on integer indices of any shape returns ``indices.shape + (embedding_dim,)``; it raises
    DTypeError for indices that are not integers and ShapeError for one outside ``[0, num_embeddings)``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 device: Any = None, dtype: Any = None, _weight: Any = None, _freeze: bool = False) -> None:
        super().__init__()
        self.num_embeddings = _count(num_embeddings, "num_embeddings")
        self.embedding_dim = _count(embedding_dim, "embedding_dim")
        self.padding_idx = padding_index(padding_idx, self.num_embeddings, "Embedding")
        dtype = np.dtype(dtype or get_default_dtype())
        if _weight is None:
            self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype),
                                    requires_grad=not _freeze)
            init.normal_(self.weight)
            if self.padding_idx is not None:
                self.weight.data[self.padding_idx] = 0
        else:
            data = np.array(_weight.data if isinstance(_weight, Tensor) else _weight, copy=True)
            if data.shape != (self.num_embeddings, self.embedding_dim):
                raise ShapeError(f"Embedding: _weight of shape {data.shape}; expected "
                                 f"({self.num_embeddings}, {self.embedding_dim})")
            self.weight = Parameter(data, requires_grad=not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None) -> Embedding:
        """An Embedding holding a copy of ``embeddings`` (2-D), frozen (no gradient) unless ``freeze=False``.

        Raises ShapeError for embeddings that are not 2-D."""
        data = np.asarray(embeddings.data if isinstance(embeddings, Tensor) else embeddings)
        if data.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained: embeddings of shape {data.shape}; expected 2-D "
                             f"(num_embeddings, embedding_dim)")
        return cls(data.shape[0], data.shape[1], padding_idx, dtype=data.dtype, _weight=data, _freeze=freeze)

    def forward(self, indices: Any) -> Tensor:
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"

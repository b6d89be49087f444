"""Embedding: a lookup table of learnable rows, with PyTorch's arguments and state_dict key (``weight``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..dtypes import get_default_dtype
from ..errors import ArgumentError, ShapeError
from ..ops.shape import real_arg
from ..tensor import Tensor
from . import functional as F
from . import init
from .attention import padding_index, unsupported_embedding_options
from .module import Module, Parameter


def _count(value: Any, arg: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ArgumentError(f"Embedding: {arg}={value!r}; expected a non-negative integer")
    return int(value)


class Embedding(Module):
    """``weight[indices]`` for a weight of shape (num_embeddings, embedding_dim), initialised N(0, 1) as in
    PyTorch, with the row ``padding_idx`` (if given) zeroed; that row takes no gradient. ``max_norm``
    renormalises the rows a call reads, in place, as PyTorch does (see :func:`tapegrad.nn.functional.embedding`);
    ``scale_grad_by_freq`` and ``sparse`` are accepted at their default False only, ``device`` for PyTorch's
    signature (tapegrad computes with NumPy on the CPU).

    Calling it on integer indices of any shape returns ``indices.shape + (embedding_dim,)``; it raises
    DTypeError for indices that are not integers and ShapeError for one outside ``[0, num_embeddings)``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Any = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_embeddings = _count(num_embeddings, "num_embeddings")
        self.embedding_dim = _count(embedding_dim, "embedding_dim")
        self.padding_idx = padding_index(padding_idx, self.num_embeddings, "Embedding")
        if max_norm is not None:
            max_norm = real_arg(max_norm, "Embedding", "max_norm", 0.0)
        if norm_type != math.inf:
            real_arg(norm_type, "Embedding", "norm_type")
        unsupported_embedding_options(scale_grad_by_freq, sparse, "Embedding")
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
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
    def from_pretrained(cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding holding a copy of ``embeddings`` (2-D), frozen (no gradient) unless ``freeze=False``.

        Raises ShapeError for embeddings that are not 2-D, ArgumentError as the constructor."""
        data = np.asarray(embeddings.data if isinstance(embeddings, Tensor) else embeddings)
        if data.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained: embeddings of shape {data.shape}; expected 2-D "
                             f"(num_embeddings, embedding_dim)")
        return cls(data.shape[0], data.shape[1], padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=data, _freeze=freeze, dtype=data.dtype)

    def forward(self, input: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        pad += f", max_norm={self.max_norm}" if self.max_norm is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"

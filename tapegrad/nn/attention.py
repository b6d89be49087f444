"""The attention computation and mask handling shared by ``F.scaled_dot_product_attention`` and
``nn.MultiheadAttention``, and the checks of embedding lookups shared by ``F.embedding`` and ``nn.Embedding``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..creation import operand, rand
from ..errors import ArgumentError, DTypeError, ShapeError
from ..functions import where
from ..ops.shape import int_arg
from ..tensor import Tensor

__all__ = ["attention", "attention_bias", "add_bias", "embedding_indices", "padding_index",
           "unsupported_embedding_options"]


def embedding_indices(indices: Any, op: str) -> Tensor:
    """Integer indices for an embedding lookup, as a Tensor (kept as one so that tg.compile reads them
    at every call). Raises DTypeError naming ``op`` for data that is not integers."""
    idx = indices if isinstance(indices, Tensor) else operand(indices, f"{op}: input")
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"{op}: indices of dtype {idx.dtype}; expected integers")
    return idx


def padding_index(padding_idx: Any, num_embeddings: int, op: str) -> int | None:
    """``padding_idx`` as an index in ``[0, num_embeddings)`` (a negative one counts from the end, as
    in PyTorch), or None. Raises ArgumentError naming ``op`` for one out of range."""
    if padding_idx is None:
        return None
    index = int_arg(padding_idx, op, "padding_idx")
    if not -num_embeddings <= index < num_embeddings:
        raise ArgumentError(f"{op}: padding_idx={index} for {num_embeddings} embeddings; expected an index in "
                            f"[{-num_embeddings}, {num_embeddings})")
    return index % num_embeddings


def unsupported_embedding_options(scale_grad_by_freq: Any, sparse: Any, op: str) -> None:
    """Refuse PyTorch's embedding options that tapegrad does not offer (only their default False passes).

    Raises:
        ArgumentError: naming ``op`` for ``scale_grad_by_freq`` or ``sparse`` other than False.
    """
    for arg, value in (("scale_grad_by_freq", scale_grad_by_freq), ("sparse", sparse)):
        if value is not False and not (isinstance(value, np.bool_) and not value):
            raise ArgumentError(f"{op}: {arg}={value!r}; tapegrad does not offer it (gradients are dense and "
                                "unscaled): expected False")


def attention_bias(mask: Any, op: str, arg: str, dtype: np.dtype, shape: tuple[int, ...],
                   allowed_when: bool = True) -> Tensor | np.ndarray | None:
    """An attention mask as an additive bias broadcastable to ``shape`` (..., L, S): a boolean mask
    becomes 0 where a position takes part (where it equals ``allowed_when``) and -inf elsewhere, an
    array; a float mask is added as it is (a Tensor keeps its gradient).

    Raises:
        DTypeError: naming ``op`` and ``arg`` for a mask that is neither boolean nor of ``dtype``.
        ShapeError: for a mask that does not broadcast to ``shape``.
    """
    if mask is None:
        return None
    m = mask if isinstance(mask, Tensor) else operand(mask, f"{op}: {arg}")
    if m.dtype != np.bool_ and m.dtype != dtype:
        raise DTypeError(f"{op}: {arg} of dtype {m.dtype}; expected a boolean mask or a float mask of the "
                         f"query's dtype {dtype}")
    try:
        broadcast = np.broadcast_shapes(m.shape, shape)
    except ValueError:
        broadcast = None
    if broadcast != shape:
        raise ShapeError(f"{op}: {arg} of shape {m.shape} does not broadcast to the attention weights' shape "
                         f"{shape} (..., target length, source length)")
    if m.dtype == np.bool_:
        return np.where(m.data == allowed_when, 0.0, -np.inf).astype(dtype)
    return m


def add_bias(total: Any, bias: Any) -> Any:
    """The sum of two additive attention biases (arrays, Tensors or None); None when both are None."""
    if bias is None:
        return total
    if total is None:
        return bias
    if isinstance(total, np.ndarray) and isinstance(bias, np.ndarray):
        return total + bias
    return total + bias if isinstance(total, Tensor) else bias + total


def attention(query: Tensor, key: Tensor, value: Tensor, bias: Any, dropout_p: float, scale: float
              ) -> tuple[Tensor, Tensor]:
    """``softmax(query @ key^T * scale + bias) @ value`` with dropout on the weights; returns the output
    and the weights (after dropout). ``bias`` (an array or a Tensor, or None) is added to the scores.

    A row whose bias is -inf everywhere (every position masked) gets weights 0 and output 0, with 0
    gradients, as PyTorch's scaled_dot_product_attention gives, where a plain softmax gives NaN.
    """
    scores = (query * scale) @ key.swapaxes(-1, -2)
    alive = None
    if bias is not None:
        values = bias.data if isinstance(bias, Tensor) else bias
        # A mask broadcast along the source axis (size 1) is all -inf there if its one entry is.
        dead = np.all(np.isneginf(values.reshape(values.shape or (1,))), axis=-1, keepdims=True) \
            if scores.shape[-1] else None
        if dead is not None and dead.any():
            alive = (~dead).astype(scores.dtype)
            # Those rows get a bias of 0 (a finite softmax, multiplied by 0 below).
            bias = np.where(dead, 0, values).astype(scores.dtype) if not isinstance(bias, Tensor) else \
                where(dead, np.zeros((), scores.dtype), bias)
        scores = scores + bias
    weights = scores.softmax(axis=-1)
    if alive is not None:
        weights = weights * alive
    if dropout_p > 0:
        keep = rand(*weights.shape, dtype=weights.dtype) >= dropout_p
        weights = weights * (keep.astype(weights.dtype) * (1 / (1 - dropout_p)))
    return weights @ value, weights

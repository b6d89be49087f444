"""Attention and the transformer encoder, with PyTorch's constructor arguments, submodule names and
state_dict keys, so that a PyTorch model's weights load:

* :class:`MultiheadAttention`: ``in_proj_weight`` (3 * embed_dim, embed_dim), ``in_proj_bias``,
  ``out_proj.weight``, ``out_proj.bias``;
* :class:`TransformerEncoderLayer`: ``self_attn``, ``linear1``, ``dropout``, ``linear2``, ``norm1``,
  ``norm2``, ``dropout1``, ``dropout2`` (post-norm, or pre-norm with ``norm_first``);
* :class:`TransformerEncoder`: ``layers.0``, ``layers.1``, ... (copies of one layer) and ``norm``.

Masks follow PyTorch's conventions, which differ between the function and the modules: in
``F.scaled_dot_product_attention`` a boolean mask is True where a position *takes part*; in these
modules a boolean ``attn_mask`` or ``key_padding_mask`` is True where a position is *masked out*.
Float masks are added to the scores in both. A query whose every position is masked out gets
attention weights 0 and output 0 (before the output projection), as PyTorch's attention function
gives; PyTorch's MultiheadAttention gives NaN there when ``need_weights=True`` (and 0 otherwise).

Projections multiply a (tokens, features) matrix by the weight (one BLAS call, whatever the
leading axes), instead of broadcasting a batched product.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..creation import operand
from ..dtypes import get_default_dtype
from ..errors import ArgumentError, DTypeError, ShapeError
from ..tensor import Tensor
from . import functional as F
from . import init
from .attention import add_bias, attention, attention_bias
from .layers import Dropout, Linear
from .module import Module, ModuleList, Parameter
from .normalization import LayerNorm


def _positive(value: Any, layer: str, arg: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ArgumentError(f"{layer}: {arg}={value!r}; expected a positive integer")
    return int(value)


def _rate(value: Any, layer: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0 <= value < 1:
        raise ArgumentError(f"{layer}: dropout={value!r}; expected a probability in [0, 1)")
    return float(value)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ weight.T + bias`` over the last axis of ``x``, as one (tokens, in) @ (in, out) product."""
    lead = x.shape[:-1]
    out = x.reshape(-1, x.shape[-1]) @ weight.T
    if bias is not None:
        out = out + bias
    return out.reshape(*lead, weight.shape[0])


def _float(value: Any, layer: str, arg: str) -> Tensor:
    t = value if isinstance(value, Tensor) else operand(value, f"{layer}: {arg}")
    if t.dtype.kind != "f":
        raise DTypeError(f"{layer}: {arg} of dtype {t.dtype}; expected a floating-point tensor")
    return t


def _mask(value: Any, layer: str, arg: str, dtype: np.dtype, shapes: tuple[tuple[int, ...], ...]) -> Tensor | None:
    """A mask given to a layer, checked: boolean or of ``dtype``, of one of ``shapes``."""
    if value is None:
        return None
    m = value if isinstance(value, Tensor) else operand(value, f"{layer}: {arg}")
    if m.dtype != np.bool_ and m.dtype != dtype:
        raise DTypeError(f"{layer}: {arg} of dtype {m.dtype}; expected a boolean mask (True: masked out) or a "
                         f"float mask of the query's dtype {dtype}")
    if m.shape not in shapes:
        raise ShapeError(f"{layer}: {arg} of shape {m.shape}; expected "
                         f"{' or '.join(str(s) for s in shapes)}")
    return m


class MultiheadAttention(Module):
    """Multi-head attention as PyTorch's ``nn.MultiheadAttention``: ``num_heads`` heads of
    ``embed_dim // num_heads`` features, projections packed in ``in_proj_weight`` (xavier-uniform) and
    ``in_proj_bias`` (zeros), output projection ``out_proj`` (a Linear, bias zeros).

    Inputs are (L, N, E), or (N, L, E) with ``batch_first``, or unbatched (L, E). ``add_bias_kv``,
    ``add_zero_attn`` and key or value sizes other than ``embed_dim`` (``kdim``, ``vdim``) are refused
    (ArgumentError).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        layer = "MultiheadAttention"
        self.embed_dim = _positive(embed_dim, layer, "embed_dim")
        self.num_heads = _positive(num_heads, layer, "num_heads")
        if self.embed_dim % self.num_heads:
            raise ArgumentError(f"{layer}: embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
        if add_bias_kv or add_zero_attn:
            raise ArgumentError(f"{layer}: add_bias_kv and add_zero_attn are not supported")
        for arg, size in (("kdim", kdim), ("vdim", vdim)):
            if size is not None and size != embed_dim:
                raise ArgumentError(f"{layer}: {arg}={size!r}; only key and value sizes equal to embed_dim "
                                    f"({embed_dim}) are supported")
        self.kdim = self.vdim = self.embed_dim
        self.head_dim = self.embed_dim // self.num_heads
        self.dropout = _rate(dropout, layer)
        self.batch_first = bool(batch_first)
        dtype = np.dtype(dtype or get_default_dtype())
        self.in_proj_weight = Parameter(np.empty((3 * self.embed_dim, self.embed_dim), dtype))
        init.xavier_uniform_(self.in_proj_weight)
        self.in_proj_bias = Parameter(np.zeros(3 * self.embed_dim, dtype)) if bias else None
        self.out_proj = Linear(self.embed_dim, self.embed_dim, bias=bias, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)

    def _name(self) -> str:
        return f"MultiheadAttention(embed_dim={self.embed_dim}, num_heads={self.num_heads})"

    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None, need_weights: bool = True,
                attn_mask: Any = None, average_attn_weights: bool = True, is_causal: bool = False
                ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key`` and ``value``.

        ``key_padding_mask`` (N, S) (or (S,) unbatched) and ``attn_mask`` (L, S) or (N * num_heads, L, S)
        (or (num_heads, L, S) unbatched): boolean (True: masked out) or float (added to the scores).
        ``is_causal`` is PyTorch's hint that ``attn_mask`` is causal: it needs ``attn_mask``.

        Returns:
            The output, shaped like ``query``, and the attention weights when ``need_weights``: averaged over
            the heads (N, L, S) when ``average_attn_weights``, else (N, num_heads, L, S) (no N unbatched);
            None otherwise.

        Raises:
            ShapeError: naming the layer and the shapes for inputs of another rank or feature size, or
                masks of another shape. DTypeError: for non-floating inputs, masks of another dtype.
            ArgumentError: for ``is_causal`` without ``attn_mask``.
        """
        layer = self._name()
        q, k, v = (_float(t, layer, arg) for t, arg in ((query, "query"), (key, "key"), (value, "value")))
        if q.ndim not in (2, 3) or k.ndim != q.ndim or v.ndim != q.ndim:
            raise ShapeError(f"{layer}: query {q.shape}, key {k.shape} and value {v.shape}; expected all 3-D "
                             f"({'(N, L, E)' if self.batch_first else '(L, N, E)'}) or all 2-D (L, E)")
        if not q.dtype == k.dtype == v.dtype:
            raise DTypeError(f"{layer}: query, key and value of dtypes {q.dtype}, {k.dtype}, {v.dtype}; "
                             f"expected one dtype")
        for arg, t in (("query", q), ("key", k), ("value", v)):
            if t.shape[-1] != self.embed_dim:
                raise ShapeError(f"{layer}: {arg} of shape {t.shape} has {t.shape[-1]} features in its last "
                                 f"axis; expected embed_dim={self.embed_dim}")
        batched = q.ndim == 3
        seq_axis = 1 if (self.batch_first or not batched) else 0
        if batched:
            batch_axis = 1 - seq_axis
            if not q.shape[batch_axis] == k.shape[batch_axis] == v.shape[batch_axis]:
                raise ShapeError(f"{layer}: query {q.shape}, key {k.shape} and value {v.shape} have different "
                                 f"batch sizes")
        if k.shape[:-1] != v.shape[:-1]:
            raise ShapeError(f"{layer}: key of shape {k.shape} and value of shape {v.shape}; expected the same "
                             f"batch and source length")
        self_attention = query is key and key is value
        if not batched:
            q, k, v = q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0)
        n = q.shape[1 - seq_axis] if batched else 1
        length, source = q.shape[seq_axis], k.shape[seq_axis]
        heads, head_dim = self.num_heads, self.head_dim
        bias = self._bias(key_padding_mask, attn_mask, is_causal, q.dtype, n, length, source, batched, layer)

        def split(t: Tensor) -> Tensor:  # (A, B, E) -> (N, H, L, dh)
            t = t.reshape(t.shape[0], t.shape[1], heads, head_dim)
            return t.transpose(1, 2, 0, 3) if seq_axis == 0 else t.transpose(0, 2, 1, 3)

        w, b = self.in_proj_weight, self.in_proj_bias
        e = self.embed_dim
        if self_attention:
            packed = linear(q, w, b)  # (A, B, 3E)
            packed = packed.reshape(packed.shape[0], packed.shape[1], 3, heads, head_dim)
            packed = packed.transpose(2, 1, 3, 0, 4) if seq_axis == 0 else packed.transpose(2, 0, 3, 1, 4)
            qh, kh, vh = packed[0], packed[1], packed[2]
        else:
            parts = [(w[i * e:(i + 1) * e], None if b is None else b[i * e:(i + 1) * e]) for i in range(3)]
            qh, kh, vh = (split(linear(t, pw, pb)) for t, (pw, pb) in zip((q, k, v), parts))
        dropout_p = self.dropout if self.training else 0.0
        out, weights = attention(qh, kh, vh, bias, dropout_p, 1.0 / math.sqrt(head_dim))
        out = out.transpose(2, 0, 1, 3) if seq_axis == 0 else out.transpose(0, 2, 1, 3)
        out = linear(out.reshape(out.shape[0], out.shape[1], e), self.out_proj.weight, self.out_proj.bias)
        if not batched:
            out = out.squeeze(0)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)
        return out, weights if batched else weights.squeeze(0)

    def _bias(self, key_padding_mask: Any, attn_mask: Any, is_causal: bool, dtype: np.dtype, n: int, length: int,
              source: int, batched: bool, layer: str) -> Any:
        """The masks as one additive bias broadcastable to (N, H, L, S), or None."""
        if is_causal and attn_mask is None:
            raise ArgumentError(f"{layer}: is_causal=True is a hint that attn_mask is causal; give attn_mask too")
        heads = self.num_heads
        shapes = ((length, source), (n * heads, length, source)) if batched else \
            ((length, source), (heads, length, source))
        mask = _mask(attn_mask, layer, "attn_mask", dtype, shapes)
        padding = _mask(key_padding_mask, layer, "key_padding_mask", dtype,
                        ((n, source),) if batched else ((source,),))
        full = (n, heads, length, source)
        bias = None
        if mask is not None:
            if mask.ndim == 3:
                mask = mask.reshape(n, heads, length, source)
            bias = attention_bias(mask, layer, "attn_mask", dtype, full, allowed_when=False)
        if padding is not None:
            padding = padding.reshape(n, 1, 1, source)
            bias = add_bias(bias, attention_bias(padding, layer, "key_padding_mask", dtype, full,
                                                     allowed_when=False))
        return bias

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, " \
               f"batch_first={self.batch_first}"


_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": lambda x: x.relu(), "gelu": F.gelu}


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block (``linear2(dropout(activation(linear1(x))))``), each with
    dropout, a residual connection and a LayerNorm, as PyTorch's ``nn.TransformerEncoderLayer``: after
    the residual (default) or, with ``norm_first``, before each block.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        layer = "TransformerEncoderLayer"
        self.d_model = _positive(d_model, layer, "d_model")
        dim_feedforward = _positive(dim_feedforward, layer, "dim_feedforward")
        dropout = _rate(dropout, layer)
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ArgumentError(f"{layer}: activation={activation!r}; expected 'relu', 'gelu' or a callable")
            self.activation_name = activation
            activation = _ACTIVATIONS[activation]
        elif not callable(activation):
            raise ArgumentError(f"{layer}: activation={activation!r}; expected 'relu', 'gelu' or a callable")
        else:
            self.activation_name = getattr(activation, "__name__", type(activation).__name__)
        self.activation = activation
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def forward(self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        """The layer on ``src`` ((L, N, E), (N, L, E) with ``batch_first``, or (L, E)), with the masks of
        :meth:`MultiheadAttention.forward` (``src_mask`` is its ``attn_mask``). Returns a tensor like
        ``src``; raises ShapeError naming the layer for another rank or feature size."""
        x = _float(src, "TransformerEncoderLayer", "src")
        if x.ndim not in (2, 3) or x.shape[-1] != self.d_model:
            raise ShapeError(f"TransformerEncoderLayer(d_model={self.d_model}): src of shape {x.shape}; expected "
                             f"(L, N, {self.d_model}), (N, L, {self.d_model}) with batch_first, or (L, {self.d_model})")
        if self.norm_first:
            x = x + self._attention_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._feedforward_block(self.norm2(x))
        x = self.norm1(x + self._attention_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._feedforward_block(x))

    def _attention_block(self, x: Tensor, mask: Any, padding: Any, is_causal: bool) -> Tensor:
        out = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding, need_weights=False,
                             is_causal=is_causal)[0]
        return self.dropout1(out)

    def _feedforward_block(self, x: Tensor) -> Tensor:
        hidden = self.dropout(self.activation(linear(x, self.linear1.weight, self.linear1.bias)))
        return self.dropout2(linear(hidden, self.linear2.weight, self.linear2.bias))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, activation={self.activation_name!r}, norm_first={self.norm_first}"


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` applied in turn (``layers.0``, ``layers.1``, ...), then
    ``norm`` if given, as PyTorch's ``nn.TransformerEncoder``. ``enable_nested_tensor`` and
    ``mask_check`` are accepted for PyTorch's signature (there is no nested-tensor fast path)."""

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise ArgumentError(f"TransformerEncoder: encoder_layer={encoder_layer!r}; expected a Module")
        self.num_layers = _positive(num_layers, "TransformerEncoder", "num_layers")
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(self.num_layers)])
        self.norm = norm

    def forward(self, src: Any, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:
        """Every layer on ``src`` with the masks (see :meth:`TransformerEncoderLayer.forward`), then ``norm``.
        Returns a tensor like ``src``."""
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)

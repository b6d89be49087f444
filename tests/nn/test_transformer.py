"""Activations, Embedding, scaled_dot_product_attention, MultiheadAttention and the transformer encoder
against PyTorch with copied weights (state_dict as NumPy arrays, and through a safetensors file):
outputs and every gradient (float64 to 1e-10, float32 to 1e-5 relative), masks (boolean, float,
key padding, causal), batch_first and norm_first both ways, eval mode; and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F
from tapegrad.ops.activation import erf_array, erfc_array

rng = np.random.default_rng(14)
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def _tol(dtype):
    return dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)


def _close(ours, theirs, dtype, what=""):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    ours = ours.numpy() if isinstance(ours, tg.Tensor) else np.asarray(ours)
    assert ours.dtype == theirs.dtype, what
    np.testing.assert_allclose(ours, theirs, err_msg=what, **_tol(dtype))


def _copy_weights(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _compare_grads(ours, theirs, dtype):
    named = dict(theirs.named_parameters())
    assert sorted(n for n, _ in ours.named_parameters()) == sorted(named)
    for name, p in ours.named_parameters():
        _close(p.grad, named[name].grad, dtype, name)


# -- the error function -------------------------------------------------------------------------------------

def test_erf_and_erfc_match_math_to_full_double_precision_on_many_points_and_the_tails():
    xs = np.concatenate([np.linspace(-30, 30, 60001), np.geomspace(1e-300, 30, 4000),
                         -np.geomspace(1e-300, 30, 4000), [0.0, -0.0, 0.49999999, 0.5, 0.50000001, 26.5, 27.0]])
    erf = erf_array(xs)
    expected = np.array([math.erf(x) for x in xs])
    nonzero = expected != 0
    assert np.all(np.abs(erf[nonzero] - expected[nonzero]) <= 1e-15 * np.abs(expected[nonzero]))
    assert np.all(erf[~nonzero] == 0)
    erfc = erfc_array(xs)
    expected = np.array([math.erfc(x) for x in xs])
    normal = expected > np.finfo(np.float64).tiny
    assert np.all(np.abs(erfc[normal] - expected[normal]) <= 2e-15 * expected[normal])
    assert np.all(erfc[~normal] <= 1e-300)
    assert erf_array(np.array([np.inf, -np.inf])).tolist() == [1.0, -1.0]
    assert np.isnan(erf_array(np.array([np.nan]))).all()
    single = erf_array(np.float32([0.3, -2.0]))
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, [math.erf(np.float32(0.3)), math.erf(-2.0)], rtol=1e-7)


# -- activations --------------------------------------------------------------------------------------------

ACTIVATIONS = [
    ("gelu", {}, lambda x: TF.gelu(x), nn.GELU()),
    ("gelu", {"approximate": "tanh"}, lambda x: TF.gelu(x, approximate="tanh"), nn.GELU("tanh")),
    ("silu", {}, TF.silu, nn.SiLU()),
    ("hardtanh", {"min_val": -0.5, "max_val": 1.5}, lambda x: TF.hardtanh(x, -0.5, 1.5), nn.Hardtanh(-0.5, 1.5)),
    ("softsign", {}, TF.softsign, nn.Softsign()),
    ("logsigmoid", {}, TF.logsigmoid, nn.LogSigmoid()),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, params, theirs, module", ACTIVATIONS, ids=[f"{a[0]}{a[1]}" for a in ACTIVATIONS])
def test_activations_match_pytorch_in_value_and_gradient(name, params, theirs, module, dtype):
    x = (rng.standard_normal((4, 50)) * 4).astype(dtype)
    x[0, :4] = [-60.0, 60.0, -700.0, 700.0]  # large inputs: no overflow, no NaN
    ours = tg.tensor(x, requires_grad=True)
    out = getattr(F, name)(ours, **params)
    g = rng.standard_normal(x.shape).astype(dtype)
    (out * g).sum().backward()
    t = torch.tensor(x, requires_grad=True)
    expected = theirs(t)
    (expected * torch.tensor(g)).sum().backward()
    assert np.isfinite(out.numpy()).all() and np.isfinite(ours.grad.numpy()).all()
    _close(out, expected, dtype)
    _close(ours.grad, t.grad, dtype)
    np.testing.assert_array_equal(module(tg.tensor(x)).numpy(), out.numpy())


def test_activations_second_order_match_pytorch():
    x = rng.standard_normal(20)
    for name, params, theirs, _ in ACTIVATIONS:
        if name == "hardtanh":
            continue
        ours = tg.tensor(x, requires_grad=True)
        (g,) = tg.autograd.grad(getattr(F, name)(ours, **params).sum(), [ours], create_graph=True)
        (gg,) = tg.autograd.grad(g.sum(), [ours])
        t = torch.tensor(x, requires_grad=True)
        (tg1,) = torch.autograd.grad(theirs(t).sum(), [t], create_graph=True)
        (tgg,) = torch.autograd.grad(tg1.sum(), [t])
        _close(gg, tgg, np.float64, name)


# -- embedding ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_pytorch_with_repeated_indices_and_padding(dtype, padding_idx):
    theirs = torch.nn.Embedding(7, 5, padding_idx=padding_idx, dtype=TORCH_DTYPE[dtype])
    ours = nn.Embedding(7, 5, padding_idx=padding_idx, dtype=dtype)
    assert list(ours.state_dict()) == ["weight"] and ours.weight.shape == (7, 5) and ours.weight.dtype == dtype
    if padding_idx is not None:
        assert np.all(ours.weight.numpy()[padding_idx] == 0)
    _copy_weights(ours, theirs)
    indices = np.array([[0, 2, 2, 6], [6, 6, 1, 2], [3, 3, 3, 3]])
    out = ours(indices)
    expected = theirs(torch.tensor(indices))
    g = rng.standard_normal(out.shape).astype(dtype)
    (out * g).sum().backward()
    (expected * torch.tensor(g)).sum().backward()
    _close(out, expected, dtype)
    _close(ours.weight.grad, theirs.weight.grad, dtype)
    if padding_idx is not None:
        assert np.all(ours.weight.grad.numpy()[padding_idx] == 0)


def test_embedding_initialisation_and_from_pretrained():
    tg.manual_seed(3)
    weight = nn.Embedding(400, 50).weight.numpy()
    assert abs(weight.mean()) < 0.02 and abs(weight.std() - 1) < 0.02
    frozen = nn.Embedding.from_pretrained(np.arange(6.0).reshape(3, 2))
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(np.array([2, 0])).numpy(), [[4.0, 5.0], [0.0, 1.0]])


def test_embedding_second_order_and_many_lookups():
    w = tg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    indices = rng.integers(0, 3, size=50)  # more lookups than rows: the one-hot product path
    out = F.embedding(indices, w, padding_idx=1)
    (g,) = tg.autograd.grad((out ** 3).sum(), [w], create_graph=True)
    (gg,) = tg.autograd.grad(g.sum(), [w])
    tw = torch.tensor(w.numpy(), requires_grad=True)
    (tg1,) = torch.autograd.grad((TF.embedding(torch.tensor(indices), tw, padding_idx=1) ** 3).sum(), [tw],
                                 create_graph=True)
    (tgg,) = torch.autograd.grad(tg1.sum(), [tw])
    _close(g, tg1, np.float64)
    _close(gg, tgg, np.float64)


@pytest.mark.parametrize("call, error, message", [
    (lambda w: F.embedding(np.array([0, 7]), w), tg.ShapeError,
     r"embedding: indices from 0 to 7 for a weight of 5 embeddings; expected indices in \[0, 5\)"),
    (lambda w: F.embedding(np.array([-1, 2]), w), tg.ShapeError, r"embedding: indices from -1 to 2"),
    (lambda w: F.embedding(np.array([0.0, 1.0]), w), tg.DTypeError, "embedding: indices of dtype float64"),
    (lambda w: F.embedding(np.array([0]), w, padding_idx=5), tg.ArgumentError, "embedding: padding_idx=5"),
    (lambda w: F.embedding(np.array([0]), w.reshape(-1)), tg.ShapeError, r"embedding: weight of shape \(15,\)"),
    (lambda w: nn.Embedding(5, 3)(np.array([[1, 5]])), tg.ShapeError, "embedding: indices from 1 to 5"),
])
def test_embedding_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call(tg.tensor(np.ones((5, 3))))


# -- scaled dot-product attention ---------------------------------------------------------------------------

def _sdpa_case(dtype, mask_kind):
    q, k, v = (rng.standard_normal(shape).astype(dtype) for shape in ((2, 3, 4, 6), (2, 3, 5, 6), (2, 3, 5, 7)))
    mask = None
    if mask_kind == "bool":
        mask = rng.random((4, 5)) > 0.4
        mask[1] = False  # a fully masked row: output 0, gradient 0, as in PyTorch
    elif mask_kind == "float":
        mask = rng.standard_normal((2, 1, 4, 5)).astype(dtype)
    return q, k, v, mask


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mask_kind, is_causal, scale", [(None, False, None), ("bool", False, None),
                                                         ("float", False, 0.3), (None, True, None)])
def test_scaled_dot_product_attention_matches_pytorch(dtype, mask_kind, is_causal, scale):
    q, k, v, mask = _sdpa_case(dtype, mask_kind)
    ours = [tg.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ours, attn_mask=mask, is_causal=is_causal, scale=scale)
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    expected = TF.scaled_dot_product_attention(*theirs, attn_mask=None if mask is None else torch.tensor(mask),
                                               is_causal=is_causal, scale=scale)
    g = rng.standard_normal(out.shape).astype(dtype)
    (out * g).sum().backward()
    (expected * torch.tensor(g)).sum().backward()
    _close(out, expected, dtype)
    for a, b in zip(ours, theirs):
        _close(a.grad, b.grad, dtype)
    if mask_kind == "bool":
        assert np.all(out.numpy()[:, :, 1] == 0)


def test_scaled_dot_product_attention_float_mask_gradient_and_dropout():
    q, k, v, mask = _sdpa_case(np.float64, "float")
    m = tg.tensor(mask, requires_grad=True)
    F.scaled_dot_product_attention(q, k, v, attn_mask=m).sum().backward()
    tm = torch.tensor(mask, requires_grad=True)
    TF.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)), attn_mask=tm).sum().backward()
    _close(m.grad, tm.grad, np.float64)
    tg.manual_seed(0)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    tg.manual_seed(0)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())  # seeded
    assert not np.allclose(a.numpy(), F.scaled_dot_product_attention(q, k, v).numpy())


@pytest.mark.parametrize("kwargs, error, message", [
    ({"attn_mask": np.ones((3, 5), bool)}, tg.ShapeError,
     r"scaled_dot_product_attention: attn_mask of shape \(3, 5\) does not broadcast to .*\(2, 3, 4, 5\)"),
    ({"attn_mask": np.ones((4, 5), np.int64)}, tg.DTypeError, "scaled_dot_product_attention: attn_mask of dtype int64"),
    ({"attn_mask": np.ones((4, 5), np.float32)}, tg.DTypeError, "attn_mask of dtype float32"),
    ({"attn_mask": np.ones((4, 5), bool), "is_causal": True}, tg.ArgumentError, "is_causal=True with an attn_mask"),
    ({"dropout_p": 1.0}, tg.ArgumentError, "scaled_dot_product_attention: dropout_p=1.0"),
    ({"key": np.ones((2, 3, 5, 4))}, tg.ShapeError, r"scaled_dot_product_attention: query \(2, 3, 4, 6\), key"),
    ({"value": np.ones((2, 3, 6, 7))}, tg.ShapeError, "expected query"),
    ({"query": np.ones((2, 3, 4, 6), np.float32)}, tg.DTypeError, "expected one dtype"),
])
def test_scaled_dot_product_attention_bad_input(kwargs, error, message):
    q, k, v, _ = _sdpa_case(np.float64, None)
    args = {"query": q, "key": k, "value": v, **kwargs}
    with pytest.raises(error, match=message):
        F.scaled_dot_product_attention(**args)


# -- MultiheadAttention -------------------------------------------------------------------------------------

def _mha_pair(dtype, batch_first, bias=True, embed=8, heads=2):
    theirs = torch.nn.MultiheadAttention(embed, heads, dropout=0.2, bias=bias, batch_first=batch_first,
                                         dtype=TORCH_DTYPE[dtype])
    ours = nn.MultiheadAttention(embed, heads, dropout=0.2, bias=bias, batch_first=batch_first, dtype=dtype)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert all(ours.state_dict()[k].shape == tuple(v.shape) for k, v in theirs.state_dict().items())
    _copy_weights(ours, theirs)
    return ours.eval(), theirs.eval()


MASKS = ["none", "bool_attn", "float_attn", "per_head_attn", "padding", "float_padding", "causal_and_padding"]


def _masks(kind, n, heads, length, source, dtype):
    attn, padding = None, None
    if kind == "bool_attn":
        attn = rng.random((length, source)) > 0.6
        attn[:, 0] = False  # no fully masked row (PyTorch gives NaN weights there)
    elif kind == "float_attn":
        attn = rng.standard_normal((length, source)).astype(dtype)
    elif kind == "per_head_attn":
        attn = rng.standard_normal((n * heads, length, source)).astype(dtype)
    elif kind in ("padding", "causal_and_padding"):
        padding = np.zeros((n, source), bool)
        padding[0, -2:] = True
        if kind == "causal_and_padding":
            attn = np.triu(np.ones((length, source), bool), 1)
    elif kind == "float_padding":
        padding = rng.standard_normal((n, source)).astype(dtype)
    return attn, padding


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("self_attention", [True, False])
def test_multihead_attention_matches_pytorch(dtype, batch_first, mask, self_attention):
    ours, theirs = _mha_pair(dtype, batch_first)
    n, length = 3, 5
    source = length if self_attention or mask == "causal_and_padding" else 4
    layout = (lambda seq: (n, seq, 8)) if batch_first else (lambda seq: (seq, n, 8))
    query = rng.standard_normal(layout(length)).astype(dtype)
    key = query if self_attention else rng.standard_normal(layout(source)).astype(dtype)
    value = query if self_attention else rng.standard_normal(layout(source)).astype(dtype)
    attn, padding = _masks(mask, n, 2, length, source, dtype)
    arrays = [query] if self_attention else [query, key, value]
    mine = [tg.tensor(a, requires_grad=True) for a in arrays]
    yours = [torch.tensor(a, requires_grad=True) for a in arrays]
    q, k, v = (mine * 3) if self_attention else mine
    out, weights = ours(q, k, v, key_padding_mask=padding, attn_mask=attn, average_attn_weights=False)
    tq, tk, tv = (yours * 3) if self_attention else yours
    expected, expected_weights = theirs(tq, tk, tv, key_padding_mask=None if padding is None else torch.tensor(padding),
                                        attn_mask=None if attn is None else torch.tensor(attn),
                                        average_attn_weights=False)
    g = rng.standard_normal(out.shape).astype(dtype)
    (out * g).sum().backward()
    (expected * torch.tensor(g)).sum().backward()
    _close(out, expected, dtype)
    _close(weights, expected_weights, dtype)
    for a, b in zip(mine, yours):
        _close(a.grad, b.grad, dtype)
    _compare_grads(ours, theirs, dtype)
    averaged = ours(q, k, v, key_padding_mask=padding, attn_mask=attn)[1]
    _close(averaged, expected_weights.mean(dim=1), dtype)
    assert ours(q, k, v, key_padding_mask=padding, attn_mask=attn, need_weights=False)[1] is None


def test_multihead_attention_unbatched_without_bias_and_in_training():
    ours, theirs = _mha_pair(np.float64, False, bias=False)
    assert "in_proj_bias" not in ours.state_dict()
    x = rng.standard_normal((5, 8))
    out, weights = ours(tg.tensor(x), tg.tensor(x), tg.tensor(x))
    expected, expected_weights = theirs(*(torch.tensor(x),) * 3)
    _close(out, expected, np.float64)
    _close(weights, expected_weights, np.float64)
    ours.train()
    tg.manual_seed(1)
    a = ours(tg.tensor(x), tg.tensor(x), tg.tensor(x), average_attn_weights=False)[1]
    assert np.any(a.numpy() == 0)  # dropout on the weights in training


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.MultiheadAttention(10, 3), tg.ArgumentError,
     "MultiheadAttention: embed_dim=10 is not divisible by num_heads=3"),
    (lambda: nn.MultiheadAttention(8, 2, kdim=4), tg.ArgumentError, "MultiheadAttention: kdim=4"),
    (lambda: nn.MultiheadAttention(8, 2, add_bias_kv=True), tg.ArgumentError, "add_bias_kv"),
    (lambda: nn.MultiheadAttention(8, 2)(*(np.ones((5, 3, 7)),) * 3), tg.ShapeError,
     r"MultiheadAttention\(embed_dim=8, num_heads=2\): query of shape \(5, 3, 7\) has 7 features"),
    (lambda: nn.MultiheadAttention(8, 2)(*(np.ones((5, 3, 1, 8)),) * 3), tg.ShapeError, "expected all 3-D"),
    (lambda: nn.MultiheadAttention(8, 2)(*(np.ones((5, 3, 8)),) * 3, attn_mask=np.ones((5, 4), bool)),
     tg.ShapeError, r"MultiheadAttention\(embed_dim=8, num_heads=2\): attn_mask of shape \(5, 4\); expected "
                    r"\(5, 5\) or \(6, 5, 5\)"),
    (lambda: nn.MultiheadAttention(8, 2)(*(np.ones((5, 3, 8)),) * 3, key_padding_mask=np.ones((5, 3), bool)),
     tg.ShapeError, r"key_padding_mask of shape \(5, 3\); expected \(3, 5\)"),
    (lambda: nn.MultiheadAttention(8, 2)(*(np.ones((5, 3, 8)),) * 3, key_padding_mask=np.ones((3, 5), int)),
     tg.DTypeError, "key_padding_mask of dtype int64"),
    (lambda: nn.MultiheadAttention(8, 2)(*(np.ones((5, 3, 8)),) * 3, is_causal=True), tg.ArgumentError,
     "give attn_mask too"),
    (lambda: nn.MultiheadAttention(8, 2)(np.ones((5, 3, 8)), np.ones((4, 2, 8)), np.ones((4, 2, 8))),
     tg.ShapeError, "different batch sizes"),
])
def test_multihead_attention_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# -- the transformer encoder --------------------------------------------------------------------------------

def _encoder_pair(dtype, batch_first, norm_first, activation="relu", layers=None):
    kwargs = dict(dim_feedforward=16, dropout=0.1, activation=activation, batch_first=batch_first,
                  norm_first=norm_first)
    theirs = torch.nn.TransformerEncoderLayer(8, 2, dtype=TORCH_DTYPE[dtype], **kwargs)
    ours = nn.TransformerEncoderLayer(8, 2, dtype=dtype, **kwargs)
    if layers:
        theirs = torch.nn.TransformerEncoder(theirs, layers, norm=torch.nn.LayerNorm(8, dtype=TORCH_DTYPE[dtype]),
                                             enable_nested_tensor=False)
        ours = nn.TransformerEncoder(ours, layers, norm=nn.LayerNorm(8, dtype=dtype))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _copy_weights(ours, theirs)
    return ours.eval(), theirs.eval()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation, layers", [("relu", None), ("gelu", None), ("relu", 2)])
def test_transformer_encoder_matches_pytorch(dtype, batch_first, norm_first, activation, layers):
    ours, theirs = _encoder_pair(dtype, batch_first, norm_first, activation, layers)
    n, length = 3, 6
    x = rng.standard_normal((n, length, 8) if batch_first else (length, n, 8)).astype(dtype)
    causal = np.triu(np.ones((length, length), bool), 1)
    padding = np.zeros((n, length), bool)
    padding[1, -2:] = True
    mine, yours = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    if layers:
        out = ours(mine, mask=causal, src_key_padding_mask=padding)
        expected = theirs(yours, mask=torch.tensor(causal), src_key_padding_mask=torch.tensor(padding))
    else:
        out = ours(mine, src_mask=causal, src_key_padding_mask=padding, is_causal=True)
        expected = theirs(yours, src_mask=torch.tensor(causal), src_key_padding_mask=torch.tensor(padding),
                          is_causal=True)
    g = rng.standard_normal(out.shape).astype(dtype)
    (out * g).sum().backward()
    (expected * torch.tensor(g)).sum().backward()
    _close(out, expected, dtype)
    _close(mine.grad, yours.grad, dtype)
    _compare_grads(ours, theirs, dtype)


def test_a_transformer_loads_a_safetensors_file_written_by_pytorch(tmp_path):
    import safetensors.torch as safetensors_torch  # the test extra installs it
    theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True,
                                                                          dtype=torch.float64),
                                         2, enable_nested_tensor=False).eval()
    path = tmp_path / "encoder.safetensors"
    safetensors_torch.save_file(theirs.state_dict(), str(path))
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dtype=np.float64), 2).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    # tg.load reads tapegrad's own checkpoints only (it refuses a safetensors file without its metadata):
    # PyTorch's file is read with safetensors' NumPy loader, as in tests/nn/test_normalization.py.
    from safetensors.numpy import load_file
    ours.load_state_dict(load_file(str(path)))
    x = rng.standard_normal((2, 5, 8))
    _close(ours(tg.tensor(x)), theirs(torch.tensor(x)), np.float64)


def test_encoder_layers_are_independent_copies_and_dropout_acts_in_training():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    encoder = nn.TransformerEncoder(layer, 2)
    assert encoder.layers[0].linear1.weight is not encoder.layers[1].linear1.weight
    np.testing.assert_array_equal(encoder.layers[0].linear1.weight.numpy(), layer.linear1.weight.numpy())
    x = tg.randn(5, 2, 8)
    encoder.train()
    assert not np.allclose(encoder(x).numpy(), encoder(x).numpy())
    encoder.eval()
    np.testing.assert_array_equal(encoder(x).numpy(), encoder(x).numpy())


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.TransformerEncoderLayer(8, 3), tg.ArgumentError, "embed_dim=8 is not divisible by num_heads=3"),
    (lambda: nn.TransformerEncoderLayer(8, 2, activation="tanh"), tg.ArgumentError,
     "TransformerEncoderLayer: activation='tanh'"),
    (lambda: nn.TransformerEncoderLayer(8, 2, 16)(np.ones((5, 3, 7))), tg.ShapeError,
     r"TransformerEncoderLayer\(d_model=8\): src of shape \(5, 3, 7\)"),
    (lambda: nn.TransformerEncoderLayer(8, 2, 16)(np.ones((5, 3, 8)), src_mask=np.ones((4, 4), bool)),
     tg.ShapeError, r"attn_mask of shape \(4, 4\); expected \(5, 5\)"),
    (lambda: nn.TransformerEncoderLayer(8, 2, 16)(np.ones((5, 3, 8), np.int64)), tg.DTypeError,
     "TransformerEncoderLayer: src of dtype int64"),
])
def test_transformer_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()

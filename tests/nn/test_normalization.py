"""Normalisation (the fused normalize primitive, nn.functional, nn/normalization.py) and buffers
against PyTorch: outputs and every gradient (float64 to 1e-10, float32 to 1e-5 relative), running
statistics over several training steps, eval mode, state_dict keys and shapes, loading PyTorch's
state_dict (as arrays and through a safetensors file), second order, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

rng = np.random.default_rng(41)


def _tol(dtype):
    return dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)


def _copy_weights(ours, theirs):
    """PyTorch's state_dict into ours, as NumPy arrays."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _compare_modules(ours, theirs, shape, dtype, steps=3):
    """Train-mode steps (outputs, gradients of input and parameters, running statistics), then eval."""
    tol = _tol(dtype)
    for _ in range(steps):
        x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
        xt = torch.tensor(x, requires_grad=True)
        xx = tg.tensor(x, requires_grad=True)
        yt, y = theirs(xt), ours(xx)
        assert y.dtype == dtype and y.shape == tuple(yt.shape)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **tol)
        g = rng.standard_normal(y.shape).astype(dtype)
        yt.backward(torch.tensor(g))
        y.backward(g)
        np.testing.assert_allclose(xx.grad.numpy(), xt.grad.numpy(), **tol)
        for (name, p), (name_t, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert name == name_t and p.grad.dtype == dtype
            np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), **tol)
        ours.zero_grad()
        theirs.zero_grad()
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), **tol)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    xx = tg.tensor(x, requires_grad=True)
    yt, y = theirs(xt), ours(xx)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **tol)
    g = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.tensor(g))
    y.backward(g)
    np.testing.assert_allclose(xx.grad.numpy(), xt.grad.numpy(), **tol)
    for p, pt in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), **tol)
    for key, value in theirs.state_dict().items():  # eval changes no statistics
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), **tol)


def _torch_dtype(dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make, shape", [
    (lambda t, **k: t.BatchNorm1d(4, **k), (8, 4)),
    (lambda t, **k: t.BatchNorm1d(4, **k), (5, 4, 7)),
    (lambda t, **k: t.BatchNorm2d(3, **k), (4, 3, 5, 6)),
])
@pytest.mark.parametrize("settings", [{}, {"momentum": 0.3}, {"momentum": None}, {"affine": False},
                                      {"track_running_stats": False}, {"eps": 1e-3}])
def test_batch_norm_modules_match_pytorch_over_training_steps_and_eval(dtype, make, shape, settings):
    theirs = make(torch.nn, **settings).to(_torch_dtype(dtype))
    ours = make(nn, dtype=dtype, **settings)
    if theirs.affine:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(rng.uniform(0.5, 2, theirs.num_features)))
            theirs.bias.copy_(torch.tensor(rng.standard_normal(theirs.num_features)))
    _copy_weights(ours, theirs)
    _compare_modules(ours, theirs, shape, dtype)
    if theirs.track_running_stats:
        assert int(ours.num_batches_tracked.item()) == int(theirs.num_batches_tracked) == 3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make, shape", [
    (lambda t, **k: t.LayerNorm(6, **k), (3, 6)),
    (lambda t, **k: t.LayerNorm((4, 5), **k), (2, 3, 4, 5)),
    (lambda t, **k: t.LayerNorm(5, elementwise_affine=False, **k), (2, 3, 5)),
    (lambda t, **k: t.LayerNorm(5, bias=False, **k), (2, 5)),
    (lambda t, **k: t.GroupNorm(2, 6, **k), (3, 6, 4, 5)),
    (lambda t, **k: t.GroupNorm(3, 3, **k), (2, 3, 7)),
    (lambda t, **k: t.GroupNorm(1, 4, affine=False, **k), (2, 4)),
    (lambda t, **k: t.GroupNorm(2, 4, eps=1e-2, **k), (2, 4, 3, 3)),
])
def test_layer_and_group_norm_modules_match_pytorch(dtype, make, shape):
    theirs = make(torch.nn).to(_torch_dtype(dtype))
    ours = make(nn, dtype=dtype)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape))))
    _copy_weights(ours, theirs)
    _compare_modules(ours, theirs, shape, dtype, steps=2)


def test_defaults_attributes_and_state_dict_keys_are_pytorchs():
    pairs = [(nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)), (nn.BatchNorm2d(5), torch.nn.BatchNorm2d(5)),
             (nn.BatchNorm2d(5, affine=False), torch.nn.BatchNorm2d(5, affine=False)),
             (nn.BatchNorm2d(5, track_running_stats=False), torch.nn.BatchNorm2d(5, track_running_stats=False)),
             (nn.LayerNorm((2, 3)), torch.nn.LayerNorm((2, 3))), (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4))]
    for ours, theirs in pairs:
        state = ours.state_dict()
        assert list(state) == list(theirs.state_dict())
        for key, value in theirs.state_dict().items():
            assert state[key].shape == tuple(value.shape)
            np.testing.assert_array_equal(state[key], value.numpy())
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
        assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
        for attribute in ("eps", "momentum", "affine", "track_running_stats", "num_features", "normalized_shape",
                          "elementwise_affine", "num_groups", "num_channels"):
            if hasattr(theirs, attribute):
                assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    bn = nn.BatchNorm2d(3)
    assert bn.num_batches_tracked.dtype == np.int64 and bn.running_mean.dtype == tg.get_default_dtype()
    assert not bn.running_mean.requires_grad
    assert len(list(bn.parameters())) == 2 and len(list(bn.buffers())) == 3


def test_a_model_with_batch_norm_loads_pytorchs_state_dict_and_a_safetensors_file(tmp_path):
    import safetensors.torch as safetensors_torch  # the test extra installs it
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(),
                                 torch.nn.Linear(6, 2), torch.nn.LayerNorm(2)).double()
    theirs.train()
    for _ in range(3):  # running statistics that are not the initial ones
        theirs(torch.tensor(rng.standard_normal((8, 4))))
    theirs.eval()
    ours = nn.Sequential(nn.Linear(4, 6, dtype=np.float64), nn.BatchNorm1d(6, dtype=np.float64), nn.ReLU(),
                         nn.Linear(6, 2, dtype=np.float64), nn.LayerNorm(2, dtype=np.float64)).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    path = tmp_path / "model.safetensors"
    safetensors_torch.save_file(theirs.state_dict(), str(path))
    from safetensors.numpy import load_file
    ours.load_state_dict(load_file(str(path)))
    assert int(ours[1].num_batches_tracked.item()) == 3
    x = rng.standard_normal((5, 4))
    np.testing.assert_allclose(ours(tg.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                               atol=1e-12)


def test_load_state_dict_checks_buffer_keys_strictly_and_save_load_keeps_them(tmp_path):
    bn = nn.BatchNorm2d(3)
    state = bn.state_dict()
    del state["num_batches_tracked"]
    with pytest.raises(nn.StateDictError, match=r"missing keys \['num_batches_tracked'\]"):
        bn.load_state_dict(state)
    bn.load_state_dict(state, strict=False)
    with pytest.raises(nn.StateDictError, match=r"unexpected keys \['extra'\]"):
        bn.load_state_dict({**bn.state_dict(), "extra": np.ones(3)})
    with pytest.raises(tg.ShapeError, match="'running_mean' has shape"):
        bn.load_state_dict({**bn.state_dict(), "running_mean": np.ones(4)})
    bn.train()
    bn(tg.randn(4, 3, 2, 2))
    tg.save(bn.state_dict(), tmp_path / "bn.ckpt")
    fresh = nn.BatchNorm2d(3)
    fresh.load_state_dict(tg.load(tmp_path / "bn.ckpt"))
    for key, value in bn.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[key], value)
    assert fresh.num_batches_tracked.dtype == np.int64


def test_register_buffer_semantics():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 2)
            self.register_buffer("steps", tg.tensor(np.array(0)))
            self.register_buffer("cache", tg.zeros(2), persistent=False)
            self.register_buffer("unset", None)

    m = M()
    assert list(m.state_dict()) == ["steps", "linear.weight", "linear.bias"]
    assert [n for n, _ in m.named_buffers()] == ["steps", "cache"]
    assert [n for n, _ in m.named_parameters()] == ["linear.weight", "linear.bias"]
    m.unset = tg.ones(1)  # assigning keeps it a buffer
    assert [n for n, _ in m.named_buffers()] == ["steps", "cache", "unset"]
    assert "unset" in m.state_dict()
    del m.cache
    assert [n for n, _ in m.named_buffers()] == ["steps", "unset"]
    with pytest.raises(tg.DTypeError, match="register_buffer"):
        m.register_buffer("w", nn.Parameter(np.ones(2)))
    with pytest.raises(tg.ArgumentError, match="already exists"):
        m.register_buffer("linear", tg.ones(1))
    with pytest.raises(tg.DTypeError, match="buffer 'steps'"):
        m.steps = np.ones(2)
    theirs = torch.nn.Module()
    theirs.register_buffer("steps", torch.tensor(0))
    theirs.register_buffer("cache", torch.zeros(2), persistent=False)
    assert list(theirs.state_dict()) == ["steps"]


def test_train_and_eval_switch_batch_norm_between_batch_and_running_statistics():
    bn = nn.BatchNorm1d(2, dtype=np.float64)
    x = tg.tensor(rng.standard_normal((6, 2)) * 5 + 3)
    y = bn(x)
    np.testing.assert_allclose(y.numpy().mean(axis=0), 0, atol=1e-12)
    bn.eval()
    before = bn.state_dict()
    y_eval = bn(x)
    np.testing.assert_allclose(y_eval.numpy(), (x.numpy() - before["running_mean"]) / np.sqrt(
        before["running_var"] + 1e-5))
    for key, value in bn.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    model.eval()
    assert not model[1].training
    model.train()
    assert model[1].training


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_functional_forms_match_pytorch(dtype):
    tol = _tol(dtype)
    x = (rng.standard_normal((4, 3, 5)) * 2).astype(dtype)
    w, b = rng.uniform(0.5, 2, 3).astype(dtype), rng.standard_normal(3).astype(dtype)
    rm, rv = rng.standard_normal(3).astype(dtype), rng.uniform(0.5, 2, 3).astype(dtype)
    for training in (True, False):
        ours_rm, ours_rv = tg.tensor(rm.copy()), tg.tensor(rv.copy())
        theirs_rm, theirs_rv = torch.tensor(rm.copy()), torch.tensor(rv.copy())
        inputs = [tg.tensor(a, requires_grad=True) for a in (x, w, b)]
        inputs_t = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = F.batch_norm(inputs[0], ours_rm, ours_rv, inputs[1], inputs[2], training, 0.2, 1e-4)
        yt = TF.batch_norm(inputs_t[0], theirs_rm, theirs_rv, inputs_t[1], inputs_t[2], training, 0.2, 1e-4)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **tol)
        np.testing.assert_allclose(ours_rm.numpy(), theirs_rm.numpy(), **tol)
        np.testing.assert_allclose(ours_rv.numpy(), theirs_rv.numpy(), **tol)
        g = rng.standard_normal(x.shape).astype(dtype)
        y.backward(g)
        yt.backward(torch.tensor(g))
        for a, at in zip(inputs, inputs_t):
            np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), **tol)
    y = F.batch_norm(tg.tensor(x), None, None, training=True)  # no running statistics to update
    np.testing.assert_allclose(y.numpy(), TF.batch_norm(torch.tensor(x), None, None, training=True).numpy(), **tol)
    with pytest.raises(RuntimeError):  # PyTorch needs running statistics out of training, as we do
        TF.batch_norm(torch.tensor(x), None, None, training=False)
    with pytest.raises(tg.ArgumentError, match="batch_norm: training=False needs running_mean and running_var"):
        F.batch_norm(tg.tensor(x), None, None, training=False)
    np.testing.assert_allclose(F.layer_norm(tg.tensor(x), (3, 5), eps=1e-3).numpy(),
                               TF.layer_norm(torch.tensor(x), (3, 5), eps=1e-3).numpy(), **tol)
    np.testing.assert_allclose(F.group_norm(tg.tensor(x), 3, tg.tensor(w), tg.tensor(b)).numpy(),
                               TF.group_norm(torch.tensor(x), 3, torch.tensor(w), torch.tensor(b)).numpy(), **tol)


@pytest.mark.parametrize("call, torch_call, affine_shape", [
    (lambda x, w, b: F.batch_norm(x, None, None, w, b, True),
     lambda x, w, b: TF.batch_norm(x, None, None, w, b, True), (3,)),
    (lambda x, w, b: F.layer_norm(x, (3, 5), w, b), lambda x, w, b: TF.layer_norm(x, (3, 5), w, b), (3, 5)),
    (lambda x, w, b: F.group_norm(x, 3, w, b), lambda x, w, b: TF.group_norm(x, 3, w, b), (3,)),
])
def test_second_derivatives_match_pytorch(call, torch_call, affine_shape):
    arrays = [rng.standard_normal((4, 3, 5)), rng.uniform(0.5, 2, affine_shape), rng.standard_normal(affine_shape)]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    xs = [tg.tensor(a, requires_grad=True) for a in arrays]
    v = rng.standard_normal((4, 3, 5))
    gt = torch.autograd.grad((torch_call(*ts) ** 3 * torch.tensor(v)).sum(), ts, create_graph=True)
    ggt = torch.autograd.grad(sum((g ** 2).sum() for g in gt), ts, allow_unused=True)
    g = tg.autograd.grad((call(*xs) ** 3 * v).sum(), xs, create_graph=True)
    gg = tg.autograd.grad(sum((a ** 2).sum() for a in g), xs)
    for ours, theirs in zip(list(g) + list(gg), list(gt) + list(ggt)):
        expected = np.zeros(ours.shape) if theirs is None else theirs.detach().numpy()
        np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-9, atol=1e-10)


def test_large_and_constant_inputs_stay_finite():
    x = tg.tensor(np.full((4, 3, 2), 1e6, np.float32) + rng.standard_normal((4, 3, 2)).astype(np.float32),
                  requires_grad=True)
    for y in (F.batch_norm(x, None, None, training=True), F.layer_norm(x, 2), F.group_norm(x, 1)):
        assert y.dtype == np.float32 and np.all(np.isfinite(y.numpy()))
        y.sum().backward()
        assert np.all(np.isfinite(x.grad.numpy()))
    constant = tg.tensor(np.ones((4, 3)), requires_grad=True)
    y = F.layer_norm(constant, 3)
    np.testing.assert_array_equal(y.numpy(), 0)
    (y * tg.tensor(rng.standard_normal((4, 3)))).sum().backward()
    assert np.all(np.isfinite(constant.grad.numpy()))


def test_dropout2d_zeros_whole_channels_in_training_only():
    tg.manual_seed(0)
    layer = nn.Dropout2d(0.5)
    x = tg.ones((8, 6, 3, 3))
    y = layer(x).numpy()
    per_channel = y.reshape(8, 6, 9)
    assert np.all((per_channel == 0).all(axis=2) | (per_channel == 2).all(axis=2))
    assert 0 < (per_channel[:, :, 0] == 0).sum() < 48
    y3 = F.dropout2d(tg.ones((4, 5, 7)), 0.5).numpy()  # (N, C, L): each (n, c) row as a whole
    assert np.all((y3 == 0).all(axis=2) | (y3 == 2).all(axis=2))
    layer.eval()
    assert layer(x) is x
    assert np.all(F.dropout2d(x, 1.0).numpy() == 0)
    xg = tg.tensor(np.ones((2, 3, 2, 2)), requires_grad=True)
    out = F.dropout2d(xg, 0.5)
    out.sum().backward()
    np.testing.assert_array_equal(xg.grad.numpy(), out.numpy())


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.BatchNorm2d(3)(tg.ones((2, 4, 5, 5))), tg.ShapeError,
     r"BatchNorm2d\(3\): input of shape \(2, 4, 5, 5\) has 4 channels; expected 4-D \(N, C, H, W\) with C=3"),
    (lambda: nn.BatchNorm2d(3)(tg.ones((2, 3, 5))), tg.ShapeError,
     r"BatchNorm2d\(3\): input of shape \(2, 3, 5\) is 3-D"),
    (lambda: nn.BatchNorm1d(3)(tg.ones((1, 3))), tg.ShapeError,
     r"batch_norm: input of shape \(1, 3\) has 1 value per channel; expected more than 1 value per channel"),
    (lambda: F.batch_norm(tg.ones((2, 3)), tg.zeros(4), tg.ones(4)), tg.ShapeError,
     r"batch_norm: running_mean of shape \(4,\) for an input of shape \(2, 3\) with 3 channels"),
    (lambda: F.batch_norm(tg.ones(3), None, None), tg.ShapeError, r"batch_norm: input of shape \(3,\)"),
    (lambda: F.batch_norm(tg.ones((2, 3)), None, None, momentum=2.0), tg.ArgumentError, "batch_norm: momentum=2.0"),
    (lambda: nn.LayerNorm(4)(tg.ones((2, 5))), tg.ShapeError,
     r"layer_norm: input of shape \(2, 5\) does not end with normalized_shape \(4,\)"),
    (lambda: F.layer_norm(tg.ones((2, 4)), 4, tg.ones(5)), tg.ShapeError,
     r"layer_norm: weight of shape \(5,\); expected normalized_shape \(4,\)"),
    (lambda: F.group_norm(tg.ones((2, 6, 3)), 4), tg.ShapeError,
     r"group_norm: input of shape \(2, 6, 3\) has 6 channels, which num_groups=4 does not divide"),
    (lambda: nn.GroupNorm(2, 6)(tg.ones((2, 4, 3))), tg.ShapeError, r"GroupNorm\(2, 6\): input of shape \(2, 4, 3\)"),
    (lambda: nn.GroupNorm(4, 6), tg.ArgumentError, "GroupNorm: num_groups=4 does not divide num_channels=6"),
    (lambda: F.layer_norm(tg.tensor(np.ones((2, 4), np.int64)), 4), tg.DTypeError, "layer_norm: input of dtype int64"),
    (lambda: F.dropout2d(tg.ones((2, 3)), 0.5), tg.ShapeError, r"dropout2d: input of shape \(2, 3\)"),
    (lambda: nn.Dropout2d(1.5), tg.ArgumentError, "Dropout2d: p=1.5"),
    (lambda: nn.BatchNorm2d(0), tg.ArgumentError, "BatchNorm2d: num_features=0"),
])
def test_bad_input_gets_a_named_error(call, error, message):
    with pytest.raises(error, match=message):
        call()

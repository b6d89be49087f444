"""Pooling (tapegrad/ops/pool.py, nn.functional, nn/pooling.py) against PyTorch: outputs and gradients
for many window settings, float64 to 1e-10 and float32 to 1e-5 relative, tie routing, second order,
return_indices, modules, and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

rng = np.random.default_rng(14)


def _compare(ours, theirs, x, dtype=np.float64, ties=False):
    """Run ``ours`` and ``theirs`` on ``x`` (cast to ``dtype``); compare outputs and input gradients."""
    x = x.astype(dtype)
    if ties:
        x = np.round(x * 2) / 2  # many equal entries in each window
    xt = torch.tensor(x, requires_grad=True)
    xx = tg.tensor(x, requires_grad=True)
    yt, y = theirs(xt), ours(xx)
    assert y.shape == tuple(yt.shape) and y.dtype == dtype
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **tol)
    g = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.tensor(g))
    y.backward(g)
    assert xx.grad.dtype == dtype
    np.testing.assert_allclose(xx.grad.numpy(), xt.grad.numpy(), **tol)


WINDOWS = [(k, s, p, d, c) for k, s, p, d, c in itertools.product(
    [1, 2, 3, (3, 2)], [None, 1, 2, (2, 1)], [0, 1], [1, 2], [False, True])
    if not (isinstance(k, int) and p > k // 2) and not (k == (3, 2) and p > 1) and not (k == 1 and p)]


@pytest.mark.parametrize("k, s, p, d, c", WINDOWS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool2d_matches_pytorch_in_value_and_gradient(k, s, p, d, c, dtype):
    x = rng.standard_normal((2, 3, 7, 8))
    _compare(lambda t: F.max_pool2d(t, k, s, p, d, c), lambda t: TF.max_pool2d(t, k, s, p, d, c), x, dtype)


@pytest.mark.parametrize("k, s, p, d, c", [w for w in WINDOWS if isinstance(w[0], int) and not isinstance(w[1], tuple)])
def test_max_pool1d_matches_pytorch_in_value_and_gradient(k, s, p, d, c):
    for dtype in (np.float64, np.float32):
        _compare(lambda t: F.max_pool1d(t, k, s, p, d, c), lambda t: TF.max_pool1d(t, k, s, p, d, c),
                 rng.standard_normal((2, 3, 9)), dtype)
    _compare(lambda t: F.max_pool1d(t, k, s, p, d, c), lambda t: TF.max_pool1d(t, k, s, p, d, c),
             rng.standard_normal((3, 9)))  # unbatched


@pytest.mark.parametrize("k, s, p, d, c", [w for w in WINDOWS if w[3] == 2 or w[1] == 1])
def test_ties_route_the_gradient_to_the_first_maximum_as_pytorch(k, s, p, d, c):
    _compare(lambda t: F.max_pool2d(t, k, s, p, d, c), lambda t: TF.max_pool2d(t, k, s, p, d, c),
             rng.standard_normal((2, 2, 6, 7)), ties=True)


def test_a_tie_sends_the_whole_gradient_to_the_first_entry_of_the_window():
    x = tg.tensor(np.array([[[[1.0, 1.0], [1.0, 0.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 0], [0, 0]])


@pytest.mark.parametrize("k, s, p, c", [(1, None, 0, False), (2, None, 0, False), (3, 2, 1, True), (3, 1, 1, False),
                                        ((3, 2), (2, 1), (1, 0), True), (2, 3, 1, True), (3, 3, 0, True)])
@pytest.mark.parametrize("include", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_avg_pool_matches_pytorch_in_value_and_gradient(k, s, p, c, include, dtype):
    x = rng.standard_normal((2, 3, 7, 8))
    _compare(lambda t: F.avg_pool2d(t, k, s, p, c, include), lambda t: TF.avg_pool2d(t, k, s, p, c, include), x, dtype)
    _compare(lambda t: F.avg_pool2d(t, k, s, p, c, include, 5),
             lambda t: TF.avg_pool2d(t, k, s, p, c, include, divisor_override=5), x, dtype)
    if isinstance(k, int):
        _compare(lambda t: F.avg_pool1d(t, k, s, p, c, include), lambda t: TF.avg_pool1d(t, k, s, p, c, include),
                 x[:, :, 0], dtype)


@pytest.mark.parametrize("size", [(7, 8), (4, 4), (5, 3)])
@pytest.mark.parametrize("out", [1, (2, 3), (3, 5), (None, 2), (7, 8), (9, 10)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adaptive_pooling_matches_pytorch(size, out, dtype):
    x = rng.standard_normal((2, 3) + size)
    _compare(lambda t: F.adaptive_avg_pool2d(t, out), lambda t: TF.adaptive_avg_pool2d(t, out), x, dtype)
    _compare(lambda t: F.adaptive_max_pool2d(t, out), lambda t: TF.adaptive_max_pool2d(t, out), x, dtype)
    _compare(lambda t: F.adaptive_max_pool2d(t, out), lambda t: TF.adaptive_max_pool2d(t, out), x, ties=True)
    _compare(lambda t: F.adaptive_max_pool2d(t, out), lambda t: TF.adaptive_max_pool2d(t, out), x[0])  # unbatched


@pytest.mark.parametrize("call, torch_call", [
    (lambda t: F.max_pool2d(t, 3, 2, 1, 2, True), lambda t: TF.max_pool2d(t, 3, 2, 1, 2, True)),
    (lambda t: F.max_pool1d(t.reshape(2, 3, 56), 4, 3, 2), lambda t: TF.max_pool1d(t.reshape(2, 3, 56), 4, 3, 2)),
    (lambda t: F.avg_pool2d(t, 3, 2, 1, True, False), lambda t: TF.avg_pool2d(t, 3, 2, 1, True, False)),
    (lambda t: F.adaptive_max_pool2d(t, (3, 5)), lambda t: TF.adaptive_max_pool2d(t, (3, 5))),
    (lambda t: F.adaptive_avg_pool2d(t, (3, 5)), lambda t: TF.adaptive_avg_pool2d(t, (3, 5))),
])
def test_second_derivatives_match_pytorch(call, torch_call):
    x = rng.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) * 0.1  # no ties
    v = rng.standard_normal(torch_call(torch.tensor(x)).shape)
    xt = torch.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad((torch_call(xt) ** 2 * torch.tensor(v)).sum(), xt, create_graph=True)
    (ggt,) = torch.autograd.grad((gt ** 2).sum(), xt)
    xx = tg.tensor(x, requires_grad=True)
    (g,) = tg.autograd.grad((call(xx) ** 2 * v).sum(), xx, create_graph=True)
    (gg,) = tg.autograd.grad((g ** 2).sum(), xx)
    np.testing.assert_allclose(g.numpy(), gt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gg.numpy(), ggt.numpy(), rtol=1e-10, atol=1e-12)


def test_return_indices_are_pytorchs():
    x = np.round(rng.standard_normal((2, 3, 7, 8)), 1)
    for args in [(2,), (3, 2, 1, 2, True), ((3, 2), (1, 2), (1, 0), (1, 2), False)]:
        out, idx = F.max_pool2d(tg.tensor(x), *args, return_indices=True)
        out_t, idx_t = TF.max_pool2d(torch.tensor(x), *args, return_indices=True)
        np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())
        assert idx.dtype == np.int64
    out, idx = F.max_pool1d(tg.tensor(x[:, :, 0]), 3, 2, 1, 2, True, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), TF.max_pool1d(torch.tensor(x[:, :, 0]), 3, 2, 1, 2, True,
                                                              return_indices=True)[1].numpy())
    out, idx = F.adaptive_max_pool2d(tg.tensor(x), (3, 5), return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), TF.adaptive_max_pool2d(torch.tensor(x), (3, 5), True)[1].numpy())


def test_nan_propagates_as_in_pytorch():
    x = rng.standard_normal((1, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    _compare(lambda t: F.max_pool2d(t, 2), lambda t: TF.max_pool2d(t, 2), x)


def test_large_inputs_stay_finite_and_float32_stays_float32():
    x = tg.tensor((rng.standard_normal((2, 2, 6, 6)) * 1e30).astype(np.float32), requires_grad=True)
    for y in (F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 3, 2, 1), F.adaptive_avg_pool2d(x, 4)):
        assert y.dtype == np.float32 and np.all(np.isfinite(y.numpy()))
        y.sum().backward()
        assert x.grad.dtype == np.float32 and np.all(np.isfinite(x.grad.numpy()))


@pytest.mark.parametrize("ours, theirs", [
    (nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
    (nn.MaxPool2d(3, stride=2, padding=1, dilation=1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, 1, ceil_mode=True)),
    (nn.AvgPool2d(3, 2, 1, count_include_pad=False), torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False)),
    (nn.AvgPool2d(2, divisor_override=3), torch.nn.AvgPool2d(2, divisor_override=3)),
    (nn.AdaptiveAvgPool2d((1, 1)), torch.nn.AdaptiveAvgPool2d((1, 1))),
    (nn.AdaptiveAvgPool2d((3, None)), torch.nn.AdaptiveAvgPool2d((3, None))),
    (nn.AdaptiveMaxPool2d(3), torch.nn.AdaptiveMaxPool2d(3)),
])
def test_pooling_modules_match_pytorch(ours, theirs):
    _compare(ours, theirs, rng.standard_normal((2, 3, 7, 8)))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    assert ours.stride == theirs.stride if hasattr(theirs, "stride") else True


@pytest.mark.parametrize("ours, theirs", [
    (nn.MaxPool1d(3, 2, 1), torch.nn.MaxPool1d(3, 2, 1)), (nn.AvgPool1d(3, 2, 1), torch.nn.AvgPool1d(3, 2, 1)),
    (nn.AvgPool1d(2, ceil_mode=True, count_include_pad=False), torch.nn.AvgPool1d(2, ceil_mode=True,
                                                                                count_include_pad=False)),
])
def test_1d_pooling_modules_match_pytorch(ours, theirs):
    _compare(ours, theirs, rng.standard_normal((2, 3, 9)))


def test_module_settings_and_return_indices():
    pool = nn.MaxPool2d(3, return_indices=True)
    assert pool.stride == 3 and pool.padding == 0 and pool.dilation == 1 and not pool.ceil_mode
    out, idx = pool(tg.tensor(rng.standard_normal((1, 1, 6, 6))))
    assert out.shape == idx.shape == (1, 1, 2, 2)
    assert "kernel_size=3" in repr(pool)


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.max_pool2d(tg.ones((3, 3)), 2), tg.ShapeError,
     r"max_pool2d: input of shape \(3, 3\); expected 3-D \(C, H, W\) or 4-D \(N, C, H, W\)"),
    (lambda: F.max_pool1d(tg.ones((1, 2, 3, 4)), 2), tg.ShapeError, r"max_pool1d: input of shape \(1, 2, 3, 4\)"),
    (lambda: F.max_pool2d(tg.ones((1, 1, 2, 2)), 3), tg.ShapeError,
     r"max_pool2d: input of shape \(1, 1, 2, 2\) padded by \(0, 0\) is smaller than the kernel \(3, 3\)"),
    (lambda: F.avg_pool2d(tg.ones((1, 1, 5, 5)), 3, padding=2), tg.ArgumentError,
     r"avg_pool2d: padding=\(2, 2\) with kernel_size=\(3, 3\); padding must be at most half the kernel size"),
    (lambda: F.max_pool2d(tg.ones((1, 1, 5, 5)), 0), tg.ArgumentError, "max_pool2d: kernel_size=0"),
    (lambda: F.max_pool2d(tg.ones((1, 1, 5, 5)), 2, stride=0), tg.ArgumentError, "max_pool2d: stride=0"),
    (lambda: F.max_pool2d(tg.ones((1, 1, 5, 5)), (2, 2, 2)), tg.ArgumentError, r"max_pool2d: kernel_size=\(2, 2, 2\)"),
    (lambda: F.max_pool2d(tg.ones((1, 1, 5, 5)), 2.5), tg.ArgumentError, "max_pool2d: kernel_size=2.5"),
    (lambda: F.max_pool2d(tg.tensor(np.ones((1, 1, 5, 5), np.int64)), 2), tg.DTypeError,
     "max_pool2d: input of dtype int64"),
    (lambda: F.adaptive_avg_pool2d(tg.ones((1, 5)), 2), tg.ShapeError, r"adaptive_avg_pool2d: input of shape \(1, 5\)"),
    (lambda: F.adaptive_max_pool2d(tg.ones((1, 1, 5, 5)), 0), tg.ArgumentError, "adaptive_max_pool2d: output_size=0"),
    (lambda: nn.MaxPool2d(2)(tg.ones((4, 4))), tg.ShapeError, r"max_pool2d: input of shape \(4, 4\)"),
])
def test_bad_input_gets_a_named_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_pytorch_refuses_what_we_refuse():
    with pytest.raises(RuntimeError):
        TF.avg_pool2d(torch.ones(1, 1, 5, 5), 3, padding=2)
    with pytest.raises(RuntimeError):
        TF.max_pool2d(torch.ones(1, 1, 2, 2), 3)


def test_compiled_pooling_gives_eager_results():
    x = tg.tensor(rng.standard_normal((2, 3, 8, 8)), requires_grad=True)

    def loss(t):
        return F.avg_pool2d(F.max_pool2d(t, 2), 2, 1, 1).sum() + F.adaptive_max_pool2d(t, 3).sum()

    eager = loss(x)
    eager.backward()
    g = x.grad.numpy().copy()
    x.grad = None
    compiled = tg.compile(loss)
    for _ in range(2):
        x.grad = None
        out = compiled(x)
        out.backward()
        np.testing.assert_allclose(out.numpy(), eager.numpy(), rtol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), g, rtol=1e-12)

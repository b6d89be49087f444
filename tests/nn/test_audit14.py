"""Regression tests for defects found by the conformance audit of issue 14 (layers against PyTorch):
each test failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tapegrad as tg
from tapegrad import nn
from tapegrad.errors import ArgumentError, ShapeError
from tapegrad.nn import functional as F

rng = np.random.default_rng(1414)


# -- max pooling of windows whose entries inside the input are all -inf --------------------------------
# The padding is -inf as well: such a window's index pointed into the padding (a negative or shifted
# position) and its gradient was lost there. PyTorch picks the window's first entry inside the input.

@pytest.mark.parametrize("dims", [1, 2])
def test_max_pool_windows_of_minus_inf_point_inside_the_input_as_pytorch(dims):
    for trial in range(40):
        x = rng.standard_normal((2, 3, 5, 6)[: dims + 2])
        x[rng.random(x.shape) < 0.6] = -np.inf
        if trial % 4 == 0:
            x[rng.random(x.shape) < 0.1] = np.nan
        kernel, stride = int(rng.integers(2, 4)), int(rng.integers(1, 3))
        padding, dilation, ceil_mode = int(rng.integers(0, kernel // 2 + 1)), int(rng.integers(1, 3)), trial % 2 == 1
        ours_fn, theirs_fn = (F.max_pool1d, TF.max_pool1d) if dims == 1 else (F.max_pool2d, TF.max_pool2d)
        args = (kernel, stride, padding, dilation, ceil_mode)
        xt = torch.tensor(x, requires_grad=True)
        try:
            yt, it = theirs_fn(xt, *args, return_indices=True)
        except RuntimeError:  # no window fits: both refuse
            continue
        xx = tg.tensor(x, requires_grad=True)
        y, i = ours_fn(xx, *args, return_indices=True)
        np.testing.assert_array_equal(i.numpy(), it.numpy())
        np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
        g = rng.standard_normal(y.shape)
        yt.backward(torch.tensor(g))
        y.backward(g)
        np.testing.assert_allclose(xx.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_a_max_pool_window_of_minus_inf_at_the_edge_keeps_its_gradient():
    x = tg.tensor(np.full((1, 1, 4, 4), -np.inf), requires_grad=True)
    out, indices = F.max_pool2d(x, 3, 1, 1, return_indices=True)
    assert indices.numpy().min() >= 0
    out.sum().backward()
    assert x.grad.numpy().sum() == out.size  # every window's gradient reaches the input


# -- ConvTranspose1d/2d.forward(input, output_size): PyTorch's way of choosing among the output sizes -----

@pytest.mark.parametrize("dims, kwargs", [
    (1, dict(stride=3, padding=1, dilation=2)),
    (2, dict(stride=(3, 2), padding=(1, 0), groups=2, output_padding=1)),
    (2, dict(stride=2)),
])
def test_transposed_convolution_layers_take_pytorchs_output_size(dims, kwargs):
    theirs = (torch.nn.ConvTranspose1d if dims == 1 else torch.nn.ConvTranspose2d)(4, 6, 3, **kwargs).double()
    ours = (nn.ConvTranspose1d if dims == 1 else nn.ConvTranspose2d)(4, 6, 3, dtype=np.float64, **kwargs)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((2, 4, 5, 4)[: dims + 2])
    stride = np.broadcast_to(kwargs["stride"], (dims,))
    smallest = np.array(theirs(torch.tensor(x), output_size=None).shape[2:]) - np.array(ours.output_padding)
    for extra in range(int(stride.max())):
        size = [int(n) for n in smallest + np.minimum(extra, stride - 1)]
        for output_size, data in ((size, x), ([2, 6, *size], x), (size, x[0])):
            xt = torch.tensor(data, requires_grad=True)
            xx = tg.tensor(data, requires_grad=True)
            yt, y = theirs(xt, output_size=output_size), ours(xx, output_size=output_size)
            assert y.shape == tuple(yt.shape) and list(y.shape[-dims:]) == size
            np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
            g = rng.standard_normal(y.shape)
            yt.backward(torch.tensor(g))
            y.backward(g)
            np.testing.assert_allclose(xx.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
            for name, parameter in theirs.named_parameters():
                np.testing.assert_allclose(getattr(ours, name).grad.numpy(), parameter.grad.numpy(), rtol=1e-10,
                                           atol=1e-12)
            ours.zero_grad()
            theirs.zero_grad()


def test_an_output_size_the_input_cannot_give_is_a_named_error():
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2)
    x = tg.tensor(np.zeros((1, 2, 5, 4), np.float32))
    with pytest.raises(ArgumentError, match=r"ConvTranspose2d\(2, 3.*output_size=\(20, 9\).*from \(11, 9\) to "
                                            r"\(12, 10\)"):
        layer(x, output_size=(20, 9))
    with pytest.raises(ArgumentError, match=r"expected 2 spatial sizes"):
        layer(x, output_size=(11, 9, 1))
    with pytest.raises(ArgumentError, match=r"must be an integer, got 11.0"):
        layer(x, output_size=(11.0, 9))


# -- PyTorch's ``device`` constructor argument (accepted: tapegrad computes on the CPU) ---------------------

@pytest.mark.parametrize("make", [
    lambda m: m.Conv1d(2, 3, 3, device="cpu"), lambda m: m.Conv2d(2, 3, 3, device="cpu"),
    lambda m: m.ConvTranspose1d(2, 3, 3, device="cpu"), lambda m: m.ConvTranspose2d(2, 3, 3, device="cpu"),
    lambda m: m.RNN(2, 3, device="cpu"), lambda m: m.LSTM(2, 3, device="cpu"), lambda m: m.GRU(2, 3, device="cpu"),
    lambda m: m.RNNCell(2, 3, device="cpu"), lambda m: m.LSTMCell(2, 3, device="cpu"),
    lambda m: m.GRUCell(2, 3, device="cpu"),
])
def test_layers_take_pytorchs_device_argument(make):
    ours, theirs = make(nn), make(torch.nn)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]


def test_a_recurrent_state_of_the_wrong_shape_is_named_in_plain_words():
    with pytest.raises(ShapeError, match=r"for a batched input$"):
        nn.GRU(2, 3)(tg.tensor(np.zeros((4, 5, 2), np.float32)), tg.tensor(np.zeros((1, 4, 3), np.float32)))
    with pytest.raises(ShapeError, match=r"for an unbatched input$"):
        nn.GRU(2, 3)(tg.tensor(np.zeros((4, 2), np.float32)), tg.tensor(np.zeros((1, 4, 3), np.float32)))


# -- Embedding: PyTorch's argument order (max_norm was taken positionally as ``device`` and ignored) --------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("max_norm, norm_type, padding_idx", [(1.0, 2.0, None), (0.5, 1, 1), (2.0, np.inf, None),
                                                               (1.5, 3.0, 6)])
def test_embedding_max_norm_renormalises_the_rows_read_as_pytorch(dtype, max_norm, norm_type, padding_idx):
    weight = (rng.standard_normal((7, 4)) * 1.5).astype(dtype)
    indices = np.array([[0, 1, 1, 6], [6, 3, 3, 0]])
    # positionally, as PyTorch's signature orders them
    theirs = torch.nn.Embedding(7, 4, padding_idx, max_norm, norm_type, _weight=torch.tensor(weight).clone())
    ours = nn.Embedding(7, 4, padding_idx, max_norm, norm_type, _weight=weight.copy())
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    for _ in range(2):
        yt, y = theirs(torch.tensor(indices)), ours(indices)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **tol)
        np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), **tol)  # changed in place
        g = rng.standard_normal(y.shape).astype(dtype)
        yt.backward(torch.tensor(g))
        y.backward(g)
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), **tol)
        ours.zero_grad()
        theirs.zero_grad()
    assert ours.weight.dtype == dtype


def test_embedding_takes_pytorchs_arguments_and_refuses_what_it_does_not_offer():
    pretrained = nn.Embedding.from_pretrained(np.full((3, 2), 3.0), True, None, 1.0)
    pretrained(np.array([0]))
    np.testing.assert_allclose(np.linalg.norm(pretrained.weight.numpy(), axis=1), [1.0, 18 ** 0.5, 18 ** 0.5],
                               rtol=1e-6)  # only the row read is renormalised
    assert nn.Embedding(3, 2, device="cpu").weight.shape == (3, 2)
    with pytest.raises(ArgumentError, match=r"Embedding: sparse=True; tapegrad does not offer it"):
        nn.Embedding(3, 2, sparse=True)
    with pytest.raises(ArgumentError, match=r"embedding: scale_grad_by_freq=True"):
        F.embedding(np.array([0]), tg.tensor(np.ones((3, 2))), scale_grad_by_freq=True)
    with pytest.raises(ArgumentError, match=r"Embedding: max_norm=-1.0"):
        nn.Embedding(3, 2, max_norm=-1.0)


# -- gelu(approximate="tanh"): its gradient was NaN for huge |x| (x * x overflowed next to a 0) ---------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tanh_gelu_gradient_stays_finite_for_huge_inputs(dtype):
    huge = [1e20, -1e20, 3e38, -3e38] + ([1e160, -1e160, 1e300, -1e300] if dtype == np.float64 else [])
    x = np.array([-3.0, -0.5, 0.0, 0.5, 3.0, 30.0, 1e8, -1e8, *huge], dtype)
    ours = tg.tensor(x, requires_grad=True)
    y = F.gelu(ours, approximate="tanh")
    y.backward(np.ones_like(x), create_graph=True)
    first = ours.grad
    assert first.dtype == dtype and np.isfinite(first.numpy()).all()
    np.testing.assert_array_equal(first.numpy()[-len(huge):], (x[-len(huge):] > 0).astype(dtype))  # the limits
    theirs = torch.tensor(x[:-len(huge)], requires_grad=True)
    (gt,) = torch.autograd.grad(TF.gelu(theirs, approximate="tanh").sum(), theirs, create_graph=True)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first.numpy()[:-len(huge)], gt.detach().numpy(), **tol)
    ours.grad = None
    first.sum().backward()
    gt.sum().backward()
    assert np.isfinite(ours.grad.numpy()).all()
    np.testing.assert_allclose(ours.grad.numpy()[:-len(huge)], theirs.grad.numpy(), **tol)

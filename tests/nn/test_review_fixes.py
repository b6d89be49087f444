"""Regression tests for defects found by the review of the PyTorch-signature pass of tg.nn.functional:
celu with a negative alpha, one_hot inside tg.vmap and for huge labels, the norms of normalize /
cosine_similarity / pairwise_distance for huge entries, weighted regression losses in float32, and pad's
reflect mode with a negative and a positive width on one axis (values and gradients against PyTorch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tapegrad as tg
from tapegrad.errors import ArgumentError
from tapegrad.nn import functional as F

rng = np.random.default_rng(5)


def _tol(dtype):
    return {"rtol": 1e-10, "atol": 1e-12} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("alpha", [-0.5, -2.0, 0.7])
def test_celu_matches_pytorch_for_negative_alpha_too(alpha, dtype):
    # alpha * elu(x / alpha) is celu for alpha > 0 only: for alpha < 0 it gave other values, silently
    x = np.array([-3.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 4.0], dtype)
    ours, theirs = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.celu(ours, alpha), TF.celu(theirs, alpha)
    weights = np.arange(1.0, 8.0).astype(dtype)
    (y * tg.Tensor(weights)).sum().backward()
    (ty * torch.tensor(weights)).sum().backward()
    assert y.dtype == dtype and ours.grad.dtype == dtype
    # PyTorch's float64 celu gradient uses a float32 1/alpha (see test_pytorch_signatures)
    grad_tol = {"rtol": 1e-6, "atol": 1e-9} if dtype == np.float64 else _tol(dtype)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **_tol(dtype))
    np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), **grad_tol)
    np.testing.assert_allclose(tg.nn.CELU(alpha)(tg.Tensor(x)).data, torch.nn.CELU(alpha)(torch.tensor(x)).numpy(),
                               **_tol(dtype))


def test_one_hot_runs_inside_vmap_with_num_classes_and_refuses_a_huge_inferred_one_clearly():
    labels = tg.Tensor(np.array([[0, 3, 1], [2, 2, 0]]))
    batched = tg.vmap(lambda t: F.one_hot(t, 4))(labels)  # it read the labels' values: BatchingError
    np.testing.assert_array_equal(batched.data, TF.one_hot(torch.tensor(labels.data), 4).numpy())
    with pytest.raises(ArgumentError, match=r"one_hot: num_classes=-1 \(the largest label \+ 1"):
        F.one_hot(np.array([2 ** 62]))  # was NumPy's bare ValueError (array is too big)


@pytest.mark.parametrize("dtype, scale", [(np.float32, 1e30), (np.float64, 1e200), (np.float32, 1e-30)])
def test_norms_of_huge_and_tiny_entries_neither_overflow_nor_underflow(dtype, scale):
    # x * x overflowed to inf (normalize gave 0, cosine_similarity 0, pairwise_distance inf), as PyTorch does
    base = rng.standard_normal((3, 4))
    other = rng.standard_normal((3, 4))
    x, y = tg.Tensor((base * scale).astype(dtype), requires_grad=True), tg.Tensor((other * scale).astype(dtype))
    out = F.normalize(x, eps=0.0)
    np.testing.assert_allclose(out.data, TF.normalize(torch.tensor(base), eps=0.0).numpy(), **_tol(dtype))
    assert out.dtype == dtype
    np.testing.assert_allclose(F.cosine_similarity(x, y, eps=0.0).data,
                               TF.cosine_similarity(torch.tensor(base), torch.tensor(other), eps=0.0).numpy(),
                               **_tol(dtype))
    np.testing.assert_allclose(F.pairwise_distance(x, y, eps=0.0).data / scale,
                               TF.pairwise_distance(torch.tensor(base), torch.tensor(other), eps=0.0).numpy(),
                               **_tol(dtype))
    out.sum().backward()
    assert np.isfinite(x.grad.data).all()


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_a_float64_weight_array_keeps_a_float32_loss_float32(name):
    x = tg.Tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    target, weight = rng.standard_normal((4, 3)).astype(np.float32), rng.random((4, 3))
    loss = getattr(F, name)(x, target, weight=weight)
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    expected = getattr(TF, name)(torch.tensor(x.data), torch.tensor(target), weight=torch.tensor(weight,
                                                                                               dtype=torch.float32))
    np.testing.assert_allclose(loss.data, expected.numpy(), rtol=1e-5)


@pytest.mark.parametrize("widths", [(2, -3), (-3, 2), (4, -3), (1, -1, -2, 3), (-1, -1)])
def test_reflect_pad_with_a_negative_width_reflects_the_whole_axis_then_crops_as_pytorch(widths):
    x = rng.standard_normal((2, 3, 5, 6) if len(widths) == 4 else (2, 3, 6))  # PyTorch's layouts for reflect
    ours, theirs = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.pad(ours, widths, mode="reflect"), TF.pad(theirs, widths, mode="reflect")
    weights = rng.standard_normal(ty.shape)
    (y * tg.Tensor(weights)).sum().backward()
    (ty * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-12, atol=1e-12)

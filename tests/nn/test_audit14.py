"""Regression tests for defects found by the conformance audit of issue 14 (layers against PyTorch):
each test failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tapegrad as tg
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

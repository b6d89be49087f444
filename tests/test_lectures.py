"""The lectures' worked examples, with their exact numbers."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg

F64 = np.float64


def scalar(value):
    return tg.tensor(value, dtype=F64, requires_grad=True)


def test_square_of_weighted_sum():
    x1, x2 = scalar(1.0), scalar(2.0)
    z = (x1 + 3 * x2) ** 2
    z.backward()
    assert z.item() == 49.0
    assert (x1.grad.item(), x2.grad.item()) == (14.0, 42.0)


def test_sigmoid_neuron():
    x = tg.tensor([1.0, -2.0, 3.0], dtype=F64, requires_grad=True)
    w = tg.tensor([0.5, 0.3, 1.0], dtype=F64, requires_grad=True)
    b = scalar(-1.5)
    q = ((w * x).sum() + b).sigmoid()
    q.backward()
    s = 1 / (1 + math.exp(-1.4))
    assert q.item() == pytest.approx(0.80218, abs=1e-5)
    assert q.item() == pytest.approx(s, rel=1e-15)
    local = s * (1 - s)
    np.testing.assert_allclose(x.grad.numpy(), [0.0793, 0.0476, 0.1587], atol=5e-5)
    np.testing.assert_allclose(w.grad.numpy(), [0.1587, -0.3174, 0.4761], atol=5e-5)
    np.testing.assert_allclose(x.grad.numpy(), local * np.array([0.5, 0.3, 1.0]), rtol=1e-14)
    np.testing.assert_allclose(w.grad.numpy(), local * np.array([1.0, -2.0, 3.0]), rtol=1e-14)
    assert b.grad.item() == pytest.approx(local, rel=1e-14)


def test_product_plus_sine():
    x, y = scalar(2.0), scalar(3.0)
    f = x * y + x.sin()
    f.backward()
    assert f.item() == 6.909297426825682
    assert x.grad.item() == 2.5838531634528574
    assert y.grad.item() == 2.0


def test_sum_of_cubes_and_squares():
    a = tg.tensor([2.0, 3.0], dtype=F64, requires_grad=True)
    b = tg.tensor([6.0, 4.0], dtype=F64, requires_grad=True)
    s = (3 * a ** 3 - b ** 2).sum()
    s.backward()
    assert a.grad.tolist() == [36.0, 81.0]
    assert b.grad.tolist() == [-12.0, -8.0]


def test_sum_times_product_circuit():
    x, y, z = scalar(-2.0), scalar(5.0), scalar(-4.0)
    f = (x + y) * z
    f.backward()
    assert f.item() == -12.0
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)


def test_squared_norm_of_matrix_vector_product():
    rng = np.random.default_rng(0)
    W = tg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    x = tg.tensor(rng.standard_normal(4), requires_grad=True)
    q = W.numpy() @ x.numpy()
    f = ((W @ x) ** 2).sum()
    f.backward()
    np.testing.assert_allclose(W.grad.numpy(), 2 * np.outer(q, x.numpy()), rtol=1e-13)
    np.testing.assert_allclose(x.grad.numpy(), 2 * W.numpy().T @ q, rtol=1e-13)


def test_relu_passes_upstream_gradient_only_where_positive():
    x = tg.tensor([1.0, -2.0, 3.0, -1.0], dtype=F64, requires_grad=True)
    x.relu().backward(np.array([4.0, -1.0, 5.0, 9.0]))
    assert x.grad.tolist() == [4.0, 0.0, 5.0, 0.0]


def test_gate_patterns():
    x, y = scalar(3.0), scalar(-1.0)
    upstream = np.array(2.0)
    (x + y).backward(upstream)  # add distributes
    assert (x.grad.item(), y.grad.item()) == (2.0, 2.0)
    x.grad = y.grad = None
    (x * y).backward(upstream)  # mul swaps
    assert (x.grad.item(), y.grad.item()) == (-2.0, 6.0)
    x.grad = y.grad = None
    x.maximum(y).backward(upstream)  # max routes
    assert (x.grad.item(), y.grad.item()) == (2.0, 0.0)
    x.grad = None
    (x * 2 + x * 5).backward(upstream)  # copy adds
    assert x.grad.item() == 14.0


def _example(name):
    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_layer_network_matches_the_lectures_numpy_code_step_by_step():
    net = _example("two_layer_net")
    problem = net.make_problem(seed=3)
    np_losses, np_w1, np_w2 = net.train_numpy(problem, steps=60)
    tg_losses, tg_w1, tg_w2 = net.train_tapegrad(problem, steps=60)
    np.testing.assert_allclose(tg_losses, np_losses, rtol=1e-10)
    np.testing.assert_allclose(tg_w1, np_w1, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(tg_w2, np_w2, rtol=1e-10, atol=1e-10)
    assert tg_losses[-1] < 0.2 * tg_losses[0]

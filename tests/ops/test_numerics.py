"""Exact answers at the edges: broadcasting bounds in ``clip``, Python numbers as weak scalars in every
position, and derivatives where the textbook formula divides by zero or overflows.

Each test here failed before its fix (issue 11, items 4, 6 and 7).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.autograd import grad as autograd_grad


def T(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def second_derivative(f, x0):
    """d²f/dx² at each entry of ``x0`` (``f`` elementwise), through create_graph."""
    x = T(x0)
    (g,) = autograd_grad(f(x).sum(), [x], create_graph=True)
    (gg,) = autograd_grad(g.sum(), [x])
    return gg.data


# -- item 4: clip whose bounds broadcast x -----------------------------------------------------------

def test_clip_with_bounds_that_broadcast_x_sums_the_gradient_back():
    x = T([[1], [1.8]])
    (x.clip(np.array([.5, .7]), np.array([.8, 2.])).sum() + x.sum()).backward()
    assert x.grad.shape == (2, 1)
    np.testing.assert_array_equal(x.grad.data, [[2.0], [2.0]])


@pytest.mark.parametrize("path", ["function", "method", "numpy"])
def test_clip_with_broadcasting_bounds_matches_pytorch(path):
    x0 = np.array([[0.3], [1.1], [2.5]])
    lo, hi = np.array([0.2, 0.5, 1.5, 3.0]), np.array([1.0, 2.0, 2.0, 4.0])
    weights = np.arange(12.0).reshape(3, 4)
    x = T(x0)
    clipped = {"function": lambda: tg.clip(x, lo, hi), "method": lambda: x.clip(lo, hi),
               "numpy": lambda: np.clip(x, lo, hi)}[path]()
    (clipped * weights).sum().backward()
    xt = torch.tensor(x0, requires_grad=True)
    (torch.clamp(xt, torch.tensor(lo), torch.tensor(hi)) * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(clipped.data, torch.clamp(torch.tensor(x0), torch.tensor(lo),
                                                            torch.tensor(hi)).numpy())
    np.testing.assert_array_equal(x.grad.data, xt.grad.numpy())


def test_clip_with_tensor_bounds_gives_them_pytorchs_gradients():
    # Bounds that are tensors requiring grad take the gradient where they are the result; with
    # lo > hi the upper bound wins (np.clip and torch.clamp apply it last).
    x0 = np.array([[-1.0], [0.5], [3.0]])
    lo0, hi0 = np.array([0.0, 1.0, 2.5]), np.array([2.0, 0.7, 2.0])
    weights = np.arange(1.0, 10.0).reshape(3, 3)
    x, lo, hi = T(x0), T(lo0), T(hi0)
    out = tg.clip(x, lo, hi)
    (out * weights).sum().backward()
    xt, lt, ht = (torch.tensor(a, requires_grad=True) for a in (x0, lo0, hi0))
    expected = torch.clamp(xt, lt, ht)
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    for ours, theirs in ((x, xt), (lo, lt), (hi, ht)):
        np.testing.assert_array_equal(ours.grad.data, theirs.grad.numpy())


def test_clip_with_broadcasting_bounds_in_jvp_and_compile():
    x0 = np.array([[0.3], [1.1]])
    lo, hi = np.array([0.2, 0.5]), np.array([1.0, 2.0])
    _, tangent = tg.jvp(lambda x: x.clip(lo, hi), [x0], [np.array([[1.0], [2.0]])])
    np.testing.assert_array_equal(tangent, [[1.0, 0.0], [0.0, 2.0]])  # 0.3 < 0.5, 1.1 > 1.0
    step = tg.compile(lambda x: (tg.clip(x, lo, hi) * np.array([1.0, 3.0])).sum())
    for value in (x0, np.array([[0.6], [0.1]])):
        x = T(value)
        step(x).backward()
        expected = T(value)
        (expected.clip(lo, hi) * np.array([1.0, 3.0])).sum().backward()
        np.testing.assert_array_equal(x.grad.data, expected.grad.data)


# -- item 6: a Python number is a weak scalar in any position ----------------------------------------

def _both_positions():
    """(name, f(number, x), f(x, number) arranged to equal it) for every function of two operands."""
    return {
        "maximum": (lambda c, x: tg.maximum(c, x), lambda c, x: tg.maximum(x, c)),
        "minimum": (lambda c, x: tg.minimum(c, x), lambda c, x: tg.minimum(x, c)),
        "outer": (lambda c, x: tg.outer(c, x), lambda c, x: tg.outer(x, c).T),
        "where": (lambda c, x: tg.where(x.data > 1, c, x), lambda c, x: tg.where(x.data <= 1, x, c)),
        "stack": (lambda c, x: tg.stack([c, x[0]]), lambda c, x: tg.stack([x[0], c]).flip(0)),
        "einsum": (lambda c, x: tg.einsum(",i->i", c, x), lambda c, x: tg.einsum("i,->i", x, c)),
        "clip": (lambda c, x: tg.clip(c, x, None), lambda c, x: tg.maximum(x, c)),
        "add": (lambda c, x: c + x, lambda c, x: x + c),
        "multiply": (lambda c, x: c * x, lambda c, x: x * c),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(_both_positions()))
def test_a_python_float_is_never_rounded_nor_upcasting_in_either_position(name, dtype):
    x = T([0.05, 2.0], dtype)
    first, second = _both_positions()[name]
    a, b = first(0.1, x), second(0.1, x)
    assert a.dtype == b.dtype == dtype
    np.testing.assert_array_equal(a.data, b.data)
    # The exact value NumPy gives with the number as a weak scalar (cast to the tensor's dtype).
    c = dtype(0.1)
    expected = {"maximum": np.maximum(c, x.data), "minimum": np.minimum(c, x.data),
                "outer": np.outer(c, x.data).astype(dtype), "where": np.where(x.data > 1, c, x.data),
                "stack": np.stack([c, x.data[0]]), "einsum": c * x.data, "clip": np.maximum(c, x.data),
                "add": c + x.data, "multiply": c * x.data}[name]
    np.testing.assert_array_equal(a.data, expected)


def test_maximum_with_a_leading_float_is_exactly_the_float64_value():
    x = T([0.05, 2.0])
    assert tg.maximum(0.1, x).data[0] == 0.1 == tg.maximum(x, 0.1).data[0]
    assert tg.minimum(0.1, x).data[1] == 0.1
    assert tg.outer(0.1, x).data[0, 1] == 0.1 * 2.0


def test_python_numbers_alone_take_the_default_dtype_and_arrays_keep_theirs():
    assert tg.maximum(0.1, 0.2).dtype == tg.get_default_dtype()
    assert tg.outer(2.0, 3).dtype == tg.get_default_dtype()
    assert tg.maximum(0.1, np.array([0.05])).data[0] == 0.1  # a float64 array: not rounded to float32
    assert tg.maximum(np.float32(0.1), T([0.05])).dtype == np.float64  # a NumPy scalar is not weak


def test_a_leading_python_float_still_gives_gradients_to_the_other_operand():
    x = T([0.05, 2.0])
    (tg.maximum(0.1, x) * np.array([3.0, 5.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 5.0])


# -- item 7: derivatives at the edges ----------------------------------------------------------------

def test_derivative_of_x_to_the_zero_is_zero_at_zero():
    x = T([0.0, 2.0])
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])
    x = T([0.0, 2.0])
    (x ** 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])
    _, tangent = tg.jvp(lambda x: x ** 0.0, [np.array([0.0, 2.0])], [np.array([1.0, 1.0])])
    np.testing.assert_array_equal(tangent, [0.0, 0.0])


@pytest.mark.parametrize("p, expected", [(1.0, [0.0, 0.0]), (1, [0.0, 0.0]), (2, [2.0, 2.0]),
                                         (3.0, [0.0, 12.0]), (0.5, [-np.inf, -0.25 * 2.0 ** -1.5])])
def test_second_derivative_of_powers_at_zero(p, expected):
    with np.errstate(divide="ignore"):  # 0 ** -1.5 is inf, as it should be
        np.testing.assert_array_equal(second_derivative(lambda x: x ** p, [0.0, 2.0]), expected)


def test_array_exponent_zero_gives_zero_derivatives_at_zero_base():
    x, y = T([0.0, 0.0, 2.0]), np.array([0.0, 2.0, 0.0])
    (x ** y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(second_derivative(lambda x: x ** y, [0.0, 0.0, 2.0]), [0.0, 2.0, 0.0])
    # both require grad: d/dy at x == 0 is 0, d/dx where y == 0 is 0
    x, yt = T([0.0, 3.0]), T([0.0, 0.0])
    (x ** yt).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])
    np.testing.assert_allclose(yt.grad.data, [0.0, np.log(3.0)], rtol=1e-15)


def test_mixed_second_derivative_of_a_power_at_exponent_zero():
    # d/dy d(x**y)/dx = x**(y-1) * (1 + y*log(x)), which is 1/x at y == 0 (PyTorch's masked rule gives 0).
    x, y = T(1.7), T([0.0, 1.0])
    (gx,) = autograd_grad((x ** y * np.array([0.7, -1.3])).sum(), [x], create_graph=True)
    (mixed,) = autograd_grad(gx, [y])
    np.testing.assert_allclose(mixed.data, [0.7 / 1.7, -1.3 * (1 + np.log(1.7))], rtol=1e-14)


def test_number_base_power_derivatives():
    t = T([0.5, 2.0])
    (2.0 ** t).sum().backward()
    np.testing.assert_allclose(t.grad.data, 2.0 ** t.data * np.log(2.0), rtol=1e-15)
    t = T([0.5, 2.0])
    (0.0 ** t).sum().backward()
    np.testing.assert_array_equal(t.grad.data, [0.0, 0.0])


@pytest.mark.parametrize("x0, y0, expected", [(1e300, 1e200, -1e-100), (1e-300, 1e-300, -1e300),
                                              (3.0, -2.0, -0.75)])
def test_derivative_of_a_quotient_by_its_denominator_does_not_overflow(x0, y0, expected):
    x, y = T([x0]), T([y0])
    (x / y).sum().backward()
    assert y.grad.data[0] == pytest.approx(expected, rel=1e-15, abs=0)
    assert x.grad.data[0] == pytest.approx(1 / y0, rel=1e-15, abs=0)
    _, tangent = tg.jvp(lambda x, y: x / y, [np.array([x0]), np.array([y0])],
                        [np.array([0.0]), np.array([1.0])])
    assert tangent[0] == pytest.approx(expected, rel=1e-15, abs=0)


def test_second_derivative_of_a_quotient_by_its_denominator_stays_finite():
    x, y = T([1e300]), T([1e200])
    (g,) = autograd_grad((x / y).sum(), [y], create_graph=True)
    (gg,) = autograd_grad(g.sum(), [y])
    assert gg.data[0] == pytest.approx(2e-300, rel=1e-12, abs=0)  # d²(x/y)/dy² = 2x/y³


# -- found by the cross-check against PyTorch (tests/test_crosscheck.py) -----------------------------

@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_along_an_axis_of_size_zero_is_empty_as_in_pytorch(name):
    x = T(np.zeros((0, 3)))
    out = getattr(x, name)(axis=0)
    assert out.shape == (0, 3)
    (out * 2.0).sum().backward()
    assert x.grad.shape == (0, 3)
    np.testing.assert_array_equal(out.data, getattr(torch, name)(torch.zeros((0, 3)), dim=0).numpy())


def test_tensor_clip_with_tensor_bounds_gives_pytorchs_clamp_gradients_at_ties():
    x = tg.tensor([0.5, 0.2, 0.9], dtype=np.float64, requires_grad=True)
    lo = tg.tensor([0.5, 0.5, 0.5], dtype=np.float64, requires_grad=True)
    hi = tg.tensor(0.8, dtype=np.float64, requires_grad=True)
    x.clip(lo, hi).sum().backward()
    # x = lo at entry 0: the gradient goes to x (as torch.clamp), not half to each as maximum would split it
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(lo.grad.numpy(), [0.0, 1.0, 0.0])
    assert hi.grad.item() == 1.0
    tx = torch.tensor([0.5, 0.2, 0.9], dtype=torch.float64, requires_grad=True)
    tlo = torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64, requires_grad=True)
    thi = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    tx.clamp(tlo, thi).sum().backward()
    np.testing.assert_array_equal(tx.grad.numpy(), x.grad.numpy())
    np.testing.assert_array_equal(tlo.grad.numpy(), lo.grad.numpy())


def test_tensor_clip_with_array_bounds_that_broadcast_x_sums_the_gradient_back():
    x = tg.tensor([[1.0], [1.8]], dtype=np.float64, requires_grad=True)
    (x.clip(np.array([0.5, 0.7]), np.array([0.8, 2.0])).sum() + x.sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0], [2.0]])  # inside one of its two bounds each

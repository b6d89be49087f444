"""Exact answers at the edges: derivatives where the textbook formula divides by zero or overflows.

Each test here failed before its fix (issue 11, item 7).
"""

from __future__ import annotations

import numpy as np
import pytest

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

"""scipy.optimize with gradients from tapegrad (issue 15): ``tg.value_and_grad(f)`` is what
``minimize(..., jac=True)`` expects when ``f`` takes NumPy arrays, and ``tg.hvp`` serves ``hessp=``
(``hessp=lambda x, p: tg.hvp(f, (x,), (p,))[1]``). Checked against SciPy's own Rosenbrock derivatives
(rosen_der, rosen_hess_prod) and on a logistic-regression maximum likelihood solved by Newton's method in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

import tapegrad as tg


def rosen(x):
    """The Rosenbrock function written for NumPy: tapegrad differentiates it through NumPy's protocols."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def hessp(f):
    """The ``hessp=`` for minimize: scipy calls ``hessp(x, p, *args)``."""
    return lambda x, p, *args: tg.hvp(lambda v: f(v, *args), (x,), (p,))[1]


X0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])  # SciPy's own example


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_value_and_grad_gives_a_number_and_an_array_of_xs_shape_and_dtype(dtype):
    x = X0.astype(dtype)
    value, gradient = tg.value_and_grad(rosen)(x)
    assert np.ndim(value) == 0 and isinstance(float(value), float)
    assert type(gradient) is np.ndarray and gradient.shape == x.shape and gradient.dtype == dtype
    assert gradient.flags.writeable and not np.shares_memory(gradient, x)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(float(value), optimize.rosen(X0), rtol=rtol)
    np.testing.assert_allclose(gradient, optimize.rosen_der(X0), rtol=rtol)
    # a gradient that does not depend on x (a linear f) is a fresh, writeable array too
    _, constant = tg.value_and_grad(lambda v: np.sum(3.0 * v))(x)
    assert constant.flags.writeable and not np.shares_memory(constant, x)
    np.testing.assert_array_equal(constant, np.full(5, 3.0, dtype))
    # the Hessian-vector product: an array of x's shape, SciPy's rosen_hess_prod
    p = np.linspace(-1.0, 1.0, 5).astype(dtype)
    product = hessp(rosen)(x, p)
    assert type(product) is np.ndarray and product.shape == x.shape and product.dtype == dtype
    np.testing.assert_allclose(product, optimize.rosen_hess_prod(X0, p.astype(np.float64)), rtol=rtol * 10)


def test_l_bfgs_b_with_jac_true_follows_scipys_own_gradient():
    ours = optimize.minimize(tg.value_and_grad(rosen), X0, jac=True, method="L-BFGS-B",
                             options={"gtol": 1e-10, "ftol": 1e-15})
    theirs = optimize.minimize(optimize.rosen, X0, jac=optimize.rosen_der, method="L-BFGS-B",
                               options={"gtol": 1e-10, "ftol": 1e-15})
    assert ours.success and ours.nit == theirs.nit
    np.testing.assert_allclose(ours.x, np.ones(5), atol=1e-6)
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-12)


@pytest.mark.parametrize("method", ["trust-ncg", "Newton-CG", "trust-krylov"])
def test_second_order_methods_with_hessp_from_tg_hvp(method):
    ours = optimize.minimize(tg.value_and_grad(rosen), X0, jac=True, hessp=hessp(rosen), method=method,
                             options={"gtol": 1e-10} if method != "Newton-CG" else {"xtol": 1e-12})
    theirs = optimize.minimize(optimize.rosen, X0, jac=optimize.rosen_der, hessp=optimize.rosen_hess_prod,
                               method=method, options={"gtol": 1e-10} if method != "Newton-CG" else {"xtol": 1e-12})
    assert ours.success and ours.nit == theirs.nit
    np.testing.assert_allclose(ours.x, np.ones(5), atol=1e-8)


def test_trust_exact_with_the_full_hessian():
    result = optimize.minimize(tg.value_and_grad(rosen), X0, jac=True, hess=tg.hessian(rosen), method="trust-exact",
                               options={"gtol": 1e-10})
    assert result.success
    np.testing.assert_allclose(result.x, np.ones(5), atol=1e-8)
    np.testing.assert_allclose(tg.hessian(rosen)(X0), optimize.rosen_hess(X0), rtol=1e-12)


def _logistic_data():
    rng = np.random.default_rng(3)
    features = np.column_stack([np.ones(300), rng.normal(size=(300, 4))])
    truth = np.array([0.5, -1.0, 2.0, 0.0, 0.7])
    labels = (rng.uniform(size=300) < 1.0 / (1.0 + np.exp(-features @ truth))).astype(np.float64)
    return features, labels


def negative_log_likelihood(w, features, labels, l2):
    """Ridge-penalized logistic regression, in NumPy: scipy passes the data as ``args``."""
    z = features @ w
    return np.sum(np.logaddexp(0.0, z) - labels * z) + 0.5 * l2 * np.sum(w * w)


def _newton(features, labels, l2):
    w = np.zeros(features.shape[1])
    for _ in range(30):
        p = 1.0 / (1.0 + np.exp(-features @ w))
        gradient = features.T @ (p - labels) + l2 * w
        hessian = features.T @ (features * (p * (1 - p))[:, None]) + l2 * np.eye(w.size)
        w = w - np.linalg.solve(hessian, gradient)
    return w


@pytest.mark.parametrize("method", ["L-BFGS-B", "BFGS", "trust-ncg", "Newton-CG"])
def test_logistic_regression_maximum_likelihood_with_args(method):
    features, labels = _logistic_data()
    args = (features, labels, 0.1)
    expected = _newton(*args)
    second = {"hessp": hessp(negative_log_likelihood)} if method in ("trust-ncg", "Newton-CG") else {}
    options = {"Newton-CG": {"xtol": 1e-12}, "L-BFGS-B": {"gtol": 1e-9, "ftol": 1e-15}}.get(method, {"gtol": 1e-6})
    result = optimize.minimize(tg.value_and_grad(negative_log_likelihood), np.zeros(5), args=args, jac=True,
                               method=method, options=options, **second)
    assert result.success
    np.testing.assert_allclose(result.x, expected, atol=1e-7)
    np.testing.assert_allclose(result.jac, 0.0, atol=1e-5)

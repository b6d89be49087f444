"""tapegrad.scipy.stats (issue 15): values against SciPy itself, first derivatives against HIPS autograd's
autograd.scipy.stats, first and second derivatives against PyTorch's torch.distributions, float64 to 1e-10;
forward mode against reverse mode; tapegrad's gradcheck/gradgradcheck where neither oracle has the
derivative (the CDF family in loc and scale); float32; SciPy's shapes, bad inputs and the arguments without a
derivative."""

from __future__ import annotations

import warnings

import autograd
import autograd.numpy as anp
import autograd.scipy.stats as ast
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st
import torch

import tapegrad as tg
from tapegrad.errors import ArgumentError, DTypeError, LinAlgError, ShapeError
from tapegrad.scipy import stats as ts

R = np.random.default_rng(15)
INF, NAN = np.inf, np.nan
CONTINUOUS_METHODS = ("logpdf", "pdf", "cdf", "sf", "logcdf", "logsf")
DISCRETE_METHODS = ("logpmf", "pmf", "cdf", "sf", "logcdf", "logsf")


def _close(ours, theirs, rtol=1e-10, atol=1e-12):
    ours = ours.numpy() if isinstance(ours, tg.Tensor) else np.asarray(ours)
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.shape == np.shape(theirs), (ours.shape, np.shape(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


def _scipy(function, *args, **kwds):
    with np.errstate(all="ignore"):
        return function(*args, **kwds)


# -- values against SciPy -----------------------------------------------------------------------------------

X_LINE = np.array([-40.0, -3.0, -0.5, 0.0, 1e-3, 0.3, 0.999, 1.0, 1.2, 5.0, 40.0, NAN, -INF, INF]).reshape(-1, 1)
VALUE_CASES = {  # distribution -> (x, parameters as SciPy takes them): broadcasting, invalid entries, edges
    "norm": (X_LINE, (), {"loc": np.array([0.3, -1.0, 0.0, 2.0]), "scale": np.array([1.7, 0.2, 0.0, -1.0])}),
    "t": (X_LINE, (np.array([0.7, 3.5, 40.0, INF, -1.0, 0.0]),), {"loc": 0.25, "scale": 1.5}),
    "gamma": (X_LINE[~np.isposinf(X_LINE[:, 0])], (np.array([0.5, 1.0, 2.5, 30.0, -1.0]),),
              {"loc": -0.5, "scale": np.array([2.0, 0.5, 1.0, 3.0, 0.7])}),
    "beta": (X_LINE, (np.array([0.5, 1.0, 2.5, 0.3, -1.0]), np.array([0.5, 1.0, 1.5, 4.0, 2.0])),
             {"loc": 0.0, "scale": 1.0}),
}


@pytest.mark.parametrize("method", CONTINUOUS_METHODS)
@pytest.mark.parametrize("name", sorted(VALUE_CASES))
def test_continuous_values_match_scipy_inside_outside_the_support_and_for_invalid_parameters(name, method):
    x, shapes, kwds = VALUE_CASES[name]
    ours = getattr(getattr(ts, name), method)(x, *shapes, **kwds)
    theirs = _scipy(getattr(getattr(st, name), method), x, *shapes, **kwds)
    assert isinstance(ours, tg.Tensor) and ours.dtype == np.float64
    _close(ours, theirs, rtol=1e-12, atol=0)
    # positionally, as SciPy also takes loc and scale
    again = getattr(getattr(ts, name), method)(x, *shapes, kwds["loc"], kwds["scale"])
    np.testing.assert_array_equal(again.numpy(), ours.numpy())


def test_the_gamma_density_at_infinity_is_zero():
    # SciPy's formula gives inf - inf = NaN there for a > 1; the density's limit is 0 (its cdf and sf agree).
    y = ts.gamma.logpdf(INF, np.array([0.5, 1.0, 2.5]))
    np.testing.assert_array_equal(y.numpy(), [-INF, -INF, -INF])
    np.testing.assert_array_equal(ts.gamma.cdf(INF, 2.5).numpy(), 1.0)


@pytest.mark.parametrize("method", DISCRETE_METHODS)
def test_poisson_values_match_scipy(method):
    k = np.array([-1.0, 0.0, 1.0, 2.0, 2.5, 7.0, 30.0, 200.0, NAN]).reshape(-1, 1)
    mu = np.array([0.0, 0.5, 3.0, 25.0, 180.0, -1.0])
    for loc in (0, 0.5, np.array([0.0, 1.0, -2.0, 0.0, 3.0, 0.0])):
        ours = getattr(ts.poisson, method)(k, mu, loc=loc)
        _close(ours, _scipy(getattr(st.poisson, method), k, mu, loc=loc), rtol=1e-12, atol=0)
    ints = np.arange(6)  # integer counts: the result is float64
    assert getattr(ts.poisson, method)(ints, 2.0).dtype == np.float64
    # k = inf: no probability, P(K <= inf) = 1 (SciPy's logpmf gives NaN, its cdf 1)
    assert ts.poisson.cdf(INF, 2.0).numpy() == 1.0 and ts.poisson.logpmf(INF, 2.0).numpy() == -INF


def test_tails_and_huge_inputs_stay_finite_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # norm's log-CDF and log-SF through log_ndtr, far in the tails, with their gradients
        x = tg.tensor(np.array([-1e5, -40.0, 40.0, 1e5]), requires_grad=True)
        y = ts.norm.logcdf(x)
        _close(y, sp.log_ndtr(x.numpy()), rtol=1e-14)
        (g,) = tg.autograd.grad(y.sum(), x)
        _close(g, [1e5, 40.0248, 0.0, 0.0], rtol=1e-4, atol=1e-300)
        _close(ts.norm.logsf(x), sp.log_ndtr(-x.numpy()), rtol=1e-14)
        # t's log-density for huge x: SciPy's x*x overflows to -inf; the true value is finite
        for df in (1.0, 3.0, 30.0):
            big = tg.tensor(np.array([1e200, -1e300]), requires_grad=True)
            y = ts.t.logpdf(big, df, scale=2.0)
            z = big.numpy() / 2.0
            exact = (sp.gammaln((df + 1) / 2) - sp.gammaln(df / 2) - 0.5 * np.log(df * np.pi) - np.log(2.0)
                     - (df + 1) / 2 * (2 * np.log(np.abs(z)) - np.log(df)))
            _close(y, exact, rtol=1e-14)
            (g,) = tg.autograd.grad(y.sum(), big)
            _close(g, -(df + 1) / big.numpy(), rtol=1e-12)
        # t's CDF far out, and its gradient (the density, through stdtr's rule)
        huge = tg.tensor(np.array([-1e300, -1e10, 1e200]), requires_grad=True)
        y = ts.t.cdf(huge, 3.0)
        _close(y, st.t.cdf(huge.numpy(), 3.0), rtol=1e-12, atol=1e-300)
        (g,) = tg.autograd.grad(y.sum(), huge)
        _close(g, _scipy(st.t.pdf, np.array([-1e300, -1e10, 1e200]), 3.0), rtol=1e-10, atol=1e-300)
        # norm's density of a huge x is 0 (log: -inf), as SciPy, with no overflow warning
        assert ts.norm.logpdf(1e200).numpy() == -INF
        # gamma and poisson far out
        assert np.isfinite(ts.gamma.logpdf(1e300, 2.5).numpy())
        _close(ts.poisson.logpmf(1e6, 1e6), st.poisson.logpmf(1e6, 1e6), rtol=1e-12)
        # float32
        assert np.isfinite(ts.t.logpdf(np.float32(1e30), np.float32(2.0)).numpy())
        assert ts.norm.logsf(np.float32(50.0)).dtype == np.float32
        _close(ts.norm.logsf(np.float32(50.0)), st.norm.logsf(50.0), rtol=1e-6)


# -- first derivatives against HIPS autograd ------------------------------------------------------------


def _points(kind, n=5):
    if kind == "real":
        return R.normal(size=n) * 2.0
    if kind == "positive":
        return R.uniform(0.2, 5.0, n)
    if kind == "unit":
        return R.uniform(0.05, 0.95, n)
    return np.array([0.0, 1.0, 2.0, 4.0, 7.0])  # counts


# (name, tapegrad's function, autograd's, arguments, the arguments autograd differentiates)
AUTOGRAD_CASES = [
    *[(f"norm.{m}", getattr(ts.norm, m), getattr(ast.norm, m), lambda: (_points("real"), 0.3, 1.7), (0, 1, 2))
      for m in CONTINUOUS_METHODS],
    *[(f"t.{m}", getattr(ts.t, m), getattr(ast.t, m), lambda: (_points("real"), 3.5, 0.4, 1.6), (0, 1, 2, 3))
      for m in ("logpdf", "pdf")],
    *[(f"t.{m}", getattr(ts.t, m), getattr(ast.t, m), lambda: (_points("real"), 3.5, 0.4, 1.6), (0, 2))
      for m in ("cdf", "logcdf")],
    *[(f"gamma.{m}", getattr(ts.gamma, m), getattr(ast.gamma, m), lambda: (_points("positive"), 2.5), (0, 1))
      for m in ("logpdf", "pdf")],
    ("gamma.cdf", ts.gamma.cdf, ast.gamma.cdf, lambda: (_points("positive"), 2.5), (0,)),
    *[(f"beta.{m}", getattr(ts.beta, m), getattr(ast.beta, m), lambda: (_points("unit"), 2.5, 0.7), (0, 1, 2))
      for m in ("logpdf", "pdf")],
    ("beta.cdf", ts.beta.cdf, ast.beta.cdf, lambda: (_points("unit"), 2.5, 0.7), (0,)),
    *[(f"poisson.{m}", getattr(ts.poisson, m), getattr(ast.poisson, m), lambda: (_points("count"), 2.5), (1,))
      for m in ("logpmf", "pmf", "cdf")],
]


@pytest.mark.parametrize("case", AUTOGRAD_CASES, ids=[c[0] for c in AUTOGRAD_CASES])
def test_univariate_gradients_match_hips_autograd(case):
    _, ours, theirs, make, argnums = case
    args = make()
    _close(ours(*args), theirs(*args), rtol=1e-12)
    for i in argnums:
        g = tg.grad(lambda *a: ours(*a).sum(), argnums=i)(*args)
        expected = autograd.grad(lambda *a: anp.sum(theirs(*a)), i)(*args)
        _close(np.asarray(g), expected)


def _spd(n):
    a = R.normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


@pytest.mark.parametrize("method", ["logpdf", "pdf"])
def test_multivariate_normal_and_dirichlet_gradients_match_hips_autograd(method):
    x, mean, cov = R.normal(size=(4, 3)), R.normal(size=3), _spd(3)
    ours, theirs = getattr(ts.multivariate_normal, method), getattr(ast.multivariate_normal, method)
    _close(ours(x, mean, cov), theirs(x, mean, cov), rtol=1e-12)
    for i in range(3):
        g = tg.grad(lambda *a: ours(*a).sum(), argnums=i)(x, mean, cov)
        _close(g, autograd.grad(lambda *a: anp.sum(theirs(*a)), i)(x, mean, cov))
    alpha = np.array([1.5, 2.0, 0.7, 3.0])
    p = R.dirichlet(alpha)
    ours, theirs = getattr(ts.dirichlet, method), getattr(ast.dirichlet, method)
    _close(ours(p, alpha), theirs(p, alpha), rtol=1e-12)
    for i in range(2):
        _close(tg.grad(ours, argnums=i)(p, alpha), autograd.grad(theirs, i)(p, alpha))


# -- first and second derivatives against torch.distributions ---------------------------------------------

D = torch.distributions


def _t(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


# (name, tapegrad's function of the arguments, torch's, the arguments)
TORCH_CASES = [
    ("norm.logpdf", lambda x, m, s: ts.norm.logpdf(x, m, s), lambda x, m, s: D.Normal(m, s).log_prob(x),
     lambda: (_points("real"), np.array(0.3), np.array(1.7))),
    ("norm.cdf", lambda x, m, s: ts.norm.cdf(x, m, s), lambda x, m, s: D.Normal(m, s).cdf(x),
     lambda: (_points("real"), np.array(0.3), np.array(1.7))),
    ("t.logpdf", lambda x, df, m, s: ts.t.logpdf(x, df, m, s),
     lambda x, df, m, s: D.StudentT(df, m, s).log_prob(x),
     lambda: (_points("real"), np.array([2.5, 4.0, 9.0, 0.8, 30.0]), np.array(0.4), np.array(1.6))),
    ("gamma.logpdf", lambda x, a, s: ts.gamma.logpdf(x, a, scale=s),
     lambda x, a, s: D.Gamma(a, 1.0 / s).log_prob(x),
     lambda: (_points("positive"), np.array([0.7, 2.5, 4.0, 1.0, 12.0]), np.array(1.3))),
    ("beta.logpdf", lambda x, a, b: ts.beta.logpdf(x, a, b), lambda x, a, b: D.Beta(a, b).log_prob(x),
     lambda: (_points("unit"), np.array(2.5), np.array([0.7, 1.5, 3.0, 1.0, 0.4]))),
    ("poisson.logpmf", lambda mu: ts.poisson.logpmf(_points("count"), mu),
     lambda mu: D.Poisson(mu).log_prob(torch.tensor(_points("count"))), lambda: (np.array([0.5, 2.5, 3.0, 9.0, 1.0]),)),
    ("multivariate_normal.logpdf", lambda x, m, c: ts.multivariate_normal.logpdf(x, m, c),
     lambda x, m, c: D.MultivariateNormal(m, covariance_matrix=c).log_prob(x),
     lambda: (R.normal(size=(5, 3)), R.normal(size=3), _spd(3))),
    ("dirichlet.logpdf", lambda x, a: ts.dirichlet.logpdf(x, a), lambda x, a: D.Dirichlet(a).log_prob(x),
     lambda: (R.dirichlet([1.5, 2.0, 3.0]), np.array([1.5, 2.0, 3.0]))),
]


@pytest.mark.parametrize("case", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_first_and_second_derivatives_in_every_argument_match_torch_distributions(case):
    _, ours, theirs, make = case
    args = make()
    xs = [tg.tensor(a, requires_grad=True) for a in args]
    ts_ = [_t(a) for a in args]
    y, u = ours(*xs), theirs(*ts_)
    _close(y, u, rtol=1e-12)
    gs = tg.autograd.grad(y.sum(), xs, create_graph=True)
    hs = torch.autograd.grad(u.sum(), ts_, create_graph=True)
    for g, h in zip(gs, hs):
        _close(g, h)
    # second order: the Hessian of the sum applied to a random direction, in every argument at once
    vs = [R.normal(size=np.shape(a)) for a in args]
    if "multivariate" in case[0]:
        vs[2] = vs[2] + vs[2].T  # a symmetric direction for the covariance
    ours2 = tg.autograd.grad(sum((g * v).sum() for g, v in zip(gs, vs)), xs, allow_unused=True)
    theirs2 = torch.autograd.grad(sum((h * torch.tensor(v)).sum() for h, v in zip(hs, vs)), ts_, allow_unused=True)
    # PyTorch's trigamma is accurate to 5e-10 relative only (test_scipy_special.py); where it enters (second
    # derivatives in a gamma function's argument) the comparison allows for it, and
    # test_second_derivatives_in_shape_parameters_are_trigammas checks ours against SciPy's to 1e-13.
    rtol = 1e-8 if case[0].split(".")[0] in ("gamma", "beta", "t", "dirichlet") else 1e-10
    for o, t in zip(ours2, theirs2):
        _close(o, t, rtol=rtol, atol=1e-10)


def test_second_derivatives_in_shape_parameters_are_trigammas():
    x, a, b = _points("unit"), 2.5, np.array([0.7, 1.5, 3.0, 1.0, 0.4])
    second = tg.grad(tg.grad(lambda a: ts.gamma.logpdf(x, a).sum()))(a)
    _close(second, -x.size * sp.polygamma(1, a), rtol=1e-13)
    second = tg.grad(tg.grad(lambda a: ts.beta.logpdf(x, a, b).sum()))(a)
    _close(second, np.sum(sp.polygamma(1, a + b) - sp.polygamma(1, a)), rtol=1e-13)
    alpha = np.array([1.5, 2.0, 3.0])
    hessian = tg.hessian(lambda al: ts.dirichlet.logpdf(np.array([0.2, 0.3, 0.5]), al))(alpha)
    _close(hessian, sp.polygamma(1, alpha.sum()) - np.diag(sp.polygamma(1, alpha)), rtol=1e-13)


# -- the CDF family in loc and scale (neither oracle has all of them): finite differences, both orders -----

CDF_FAMILY = [
    (name, method, args)
    for name, args in (("norm", (0.3, 1.7)), ("t", (3.5, 0.3, 1.7)), ("gamma", (2.5, -0.5, 1.7)),
                       ("beta", (2.5, 0.7, -0.5, 3.0)))
    for method in ("cdf", "sf", "logcdf", "logsf")
]


@pytest.mark.parametrize("name, method, args", CDF_FAMILY, ids=[f"{n}.{m}" for n, m, _ in CDF_FAMILY])
def test_cdf_family_first_and_second_derivatives_in_x_loc_and_scale(name, method, args):
    function = getattr(getattr(ts, name), method)
    shapes, loc, scale = args[:-2], args[-2], args[-1]
    x = {"norm": _points("real"), "t": _points("real"), "gamma": -0.5 + 1.7 * _points("positive"),
         "beta": -0.5 + 3.0 * _points("unit")}[name]
    inputs = [tg.tensor(x, requires_grad=True), tg.tensor(np.array(loc), requires_grad=True),
              tg.tensor(np.array(scale), requires_grad=True)]

    def f(x, loc, scale):
        return function(x, *shapes, loc, scale)

    assert tg.autograd.gradcheck(f, inputs, atol=1e-7, rtol=1e-6)
    assert tg.autograd.gradgradcheck(f, inputs, atol=1e-6, rtol=1e-5)
    # and the exact relations: d/dx cdf = pdf, d/dloc = -d/dx, scale * d/dscale = -(x - loc) d/dx
    gx, gl, gs = tg.autograd.grad(f(*inputs).sum(), inputs)
    if method == "cdf":
        _close(gx, getattr(st, name).pdf(x, *shapes, loc, scale))
    _close(gl, -gx.numpy().sum())
    _close(gs, -(gx.numpy() * (x - loc)).sum() / scale)


def test_forward_mode_matches_reverse_mode():
    x, points = _points("positive"), R.normal(size=(3, 2))
    cases = [
        (lambda x, a, s: ts.gamma.logpdf(x, a, 0.1, s).sum(), (x, 2.5, 1.3)),
        (lambda x, m, s: ts.norm.logsf(x, m, s).sum(), (x, 0.3, 1.3)),
        (lambda x, df, s: ts.t.logpdf(x, df, 0.2, s).sum(), (x, 3.5, 1.3)),
        (lambda x, s: ts.t.cdf(x, 3.5, 0.2, s).sum(), (x, 1.3)),
        (lambda mu: ts.poisson.logsf(np.array([0.0, 1.0, 3.0]), mu).sum(), (2.5,)),
        (lambda m, c: ts.multivariate_normal.logpdf(points, m, c).sum(), (np.zeros(2), _spd(2))),
        (lambda p, a: ts.dirichlet.logpdf(p, a), (np.array([0.2, 0.3, 0.5]), np.array([1.5, 2.0, 3.0]))),
    ]
    for f, primals in cases:
        tangents = tuple(R.normal(size=np.shape(p)) if np.ndim(p) else float(R.normal()) for p in primals)
        _, tangent = tg.jvp(f, primals, tangents)
        grads = tg.grad(f, argnums=tuple(range(len(primals))))(*primals)
        _close(tangent, sum(np.sum(np.asarray(g) * v) for g, v in zip(grads, tangents)), rtol=1e-11)


# -- dtypes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, shapes, x", [("norm", (), _points("real")), ("t", (3.5,), _points("real")),
                                             ("gamma", (2.5,), _points("positive")),
                                             ("beta", (2.5, 0.7), _points("unit"))])
def test_float32_stays_float32_and_agrees_with_float64(name, shapes, x):
    dist = getattr(ts, name)
    for method in CONTINUOUS_METHODS:
        x32 = tg.tensor(x.astype(np.float32), requires_grad=True)
        scale = tg.tensor(np.float32(1.3), requires_grad=True)
        y = getattr(dist, method)(x32, *[np.float32(s) for s in shapes], 0.1, scale)
        assert y.dtype == np.float32, method
        gx, gs = tg.autograd.grad(y.sum(), [x32, scale])
        assert gx.dtype == np.float32 and gs.dtype == np.float32
        x64, scale64 = tg.tensor(x, requires_grad=True), tg.tensor(np.array(1.3), requires_grad=True)
        y64 = getattr(dist, method)(x64, *shapes, 0.1, scale64)
        hx, hs = tg.autograd.grad(y64.sum(), [x64, scale64])
        _close(y, y64.numpy(), rtol=1e-5, atol=1e-6)
        _close(gx, hx.numpy(), rtol=1e-4, atol=1e-5)
    # Python numbers follow the arrays; numbers alone give float64, as SciPy
    assert ts.norm.logpdf(np.float32(1.0), 0.5, 2.0).dtype == np.float32
    assert ts.norm.logpdf(1.0).dtype == np.float64 and ts.poisson.pmf(2, 3).dtype == np.float64
    assert ts.poisson.logpmf(np.arange(3), np.float32(2.0)).dtype == np.float32
    assert ts.multivariate_normal.logpdf(np.ones((2, 2), np.float32), cov=np.eye(2, dtype=np.float32)).dtype == \
        np.float32
    assert ts.dirichlet.logpdf(np.array([0.2, 0.8], np.float32), np.array([1.0, 2.0], np.float32)).dtype == np.float32


# -- arguments without a derivative, and bad arguments ------------------------------------------------------


@pytest.mark.parametrize("call, argument", [
    (lambda p: ts.t.cdf(0.3, p), "df"), (lambda p: ts.t.logsf(0.3, df=p, scale=2.0), "df"),
    (lambda p: ts.gamma.cdf(0.3, p), "a"), (lambda p: ts.gamma.logcdf(0.3, a=p), "a"),
    (lambda p: ts.beta.sf(0.3, p, 2.0), "a"), (lambda p: ts.beta.cdf(0.3, 2.0, p), "b"),
    (lambda p: ts.poisson.logpmf(p, 2.0), "k"), (lambda p: ts.poisson.cdf(p, 2.0), "k"),
    (lambda p: ts.poisson.pmf(1.0, 2.0, loc=p), "loc"),
], ids=["t.cdf", "t.logsf", "gamma.cdf", "gamma.logcdf", "beta.sf", "beta.cdf b", "poisson.logpmf", "poisson.cdf",
        "poisson loc"])
def test_no_gradient_in_shape_parameters_of_the_cdf_family_or_counts_names_the_argument(call, argument):
    message = f"no gradient in its argument '{argument}'"
    with pytest.raises(ArgumentError, match=message):
        call(tg.tensor(np.array(2.0), requires_grad=True))
    with pytest.raises(ArgumentError, match=message):  # forward mode too
        tg.jvp(call, (np.array(2.0),), (np.array(1.0),))
    # as a constant (a number, an array, a Tensor without grad, or under no_grad) it is a plain parameter
    expected = call(2.0).numpy()
    np.testing.assert_array_equal(call(tg.tensor(np.array(2.0))).numpy(), expected)
    with tg.no_grad():
        np.testing.assert_array_equal(call(tg.tensor(np.array(2.0), requires_grad=True)).numpy(), expected)


def test_densities_are_differentiable_in_the_parameters_the_cdfs_are_not():
    df = tg.tensor(np.array(3.0), requires_grad=True)
    (g,) = tg.autograd.grad(ts.t.logpdf(0.3, df), df)
    assert np.isfinite(g.numpy())


def test_stdtr_as_a_scipy_ufunc_on_tensors():
    x = tg.tensor(np.array([-2.0, 0.0, 1.5]), requires_grad=True)
    y = sp.stdtr(3.0, x)
    _close(y, sp.stdtr(3.0, x.numpy()), rtol=1e-15)
    (g,) = tg.autograd.grad(y.sum(), x)
    _close(g, st.t.pdf(x.numpy(), 3.0))  # continuous at 0, where betainc's composition would give 0 * inf
    df = tg.tensor(np.array(3.0), requires_grad=True)
    with pytest.raises(ArgumentError, match="stdtr: no gradient in its argument 'df'"):
        sp.stdtr(df, 0.5).backward()


def test_parameters_passed_wrong_raise_clear_errors():
    with pytest.raises(TypeError, match="t.logpdf: missing the required argument 'df'"):
        ts.t.logpdf(0.5)
    with pytest.raises(TypeError, match="unexpected argument 'sigma'"):
        ts.norm.logpdf(0.5, sigma=2.0)
    with pytest.raises(TypeError, match="both by position and by name"):
        ts.norm.cdf(0.5, 1.0, loc=1.0)
    with pytest.raises(TypeError, match="takes 2 parameters after x"):
        ts.norm.pdf(0.5, 1.0, 2.0, 3.0)
    with pytest.raises(DTypeError, match="norm.logpdf: x has dtype complex128"):
        ts.norm.logpdf(np.array([1j]))
    with pytest.raises(DTypeError, match="gamma.cdf: a has dtype <U3"):
        ts.gamma.cdf(1.0, "two")
    with pytest.raises(ShapeError, match=r"norm.logpdf: the arguments do not broadcast together: x \(3,\), loc \(2,\)"):
        ts.norm.logpdf(np.ones(3), np.ones(2))
    with pytest.raises(ShapeError, match=r"poisson.cdf: the arguments do not broadcast together: k \(3,\), mu \(2,\)"):
        ts.poisson.cdf(np.ones(3), np.ones(2))


def test_frozen_distributions():
    x = _points("positive")
    np.testing.assert_array_equal(ts.norm(loc=1.0, scale=2.0).logpdf(x).numpy(), ts.norm.logpdf(x, 1.0, 2.0).numpy())
    np.testing.assert_array_equal(ts.t(3.0, scale=2.0).sf(x).numpy(), ts.t.sf(x, 3.0, scale=2.0).numpy())
    np.testing.assert_array_equal(ts.poisson(2.5).pmf(np.arange(4)).numpy(), st.poisson(2.5).pmf(np.arange(4)))
    mean, cov = np.zeros(2), _spd(2)
    _close(ts.multivariate_normal(mean, cov).logpdf(np.ones(2)), st.multivariate_normal(mean, cov).logpdf(np.ones(2)))
    _close(ts.dirichlet([1.0, 2.0]).pdf([0.3, 0.7]), st.dirichlet([1.0, 2.0]).pdf([0.3, 0.7]))
    with pytest.raises(AttributeError, match="no method 'ppf'"):
        ts.gamma(2.0).ppf
    with pytest.raises(TypeError, match="beta: missing the required argument 'b'"):
        ts.beta(2.0)


# -- multivariate_normal: SciPy's shapes, singular covariances, errors --------------------------------------


MVN_SHAPES = [  # (x, mean, cov)
    (R.normal(size=3), R.normal(size=3), _spd(3)),
    (R.normal(size=(5, 3)), R.normal(size=3), _spd(3)),
    (R.normal(size=(2, 5, 3)), None, _spd(3)),
    (R.normal(size=(1, 3)), np.ones(3), np.array([1.0, 2.0, 3.0])),
    (R.normal(size=(4, 1, 3)), np.zeros(3), 2.5),
    (0.7, None, 2.0),  # one-dimensional: a number, a row of points, a column of points
    (R.normal(size=4), 0.5, 2.0),
    (R.normal(size=(4, 1)), np.array([0.5]), np.array([[2.0]])),
]


@pytest.mark.parametrize("x, mean, cov", MVN_SHAPES)
def test_multivariate_normal_takes_scipys_shapes(x, mean, cov):
    ours = ts.multivariate_normal.logpdf(x, mean, cov)
    theirs = st.multivariate_normal.logpdf(x, mean, cov)
    _close(ours, theirs, rtol=1e-12)
    _close(ts.multivariate_normal.pdf(x, mean=mean, cov=cov), st.multivariate_normal.pdf(x, mean, cov), rtol=1e-12)


def test_multivariate_normal_bad_shapes_and_matrices():
    with pytest.raises(ShapeError, match="mean must be a vector of length 4"):
        ts.multivariate_normal.logpdf(np.ones(4), np.ones((2, 2)))
    with pytest.raises(ShapeError, match=r"cov has shape \(3, 2\); expected a square matrix \(3, 3\)"):
        ts.multivariate_normal.logpdf(np.ones(3), np.ones(3), np.ones((3, 2)))
    with pytest.raises(ShapeError, match="last axis must hold the 3 components"):
        ts.multivariate_normal.logpdf(np.ones((2, 4)), np.ones(3), np.eye(3))
    with pytest.raises(ShapeError, match="at most two dimensions"):
        ts.multivariate_normal.logpdf(np.ones(2), None, np.ones((2, 2, 2)))
    with pytest.raises(ShapeError, match="diagonal"):
        ts.multivariate_normal.logpdf(np.ones(2), np.ones(2), np.ones(3))
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(LinAlgError, match="multivariate_normal.logpdf: cov .* not positive definite"):
        ts.multivariate_normal.logpdf(np.ones(2), None, singular)
    with pytest.raises(LinAlgError, match="not positive semidefinite"):
        ts.multivariate_normal.logpdf(np.ones(2), None, np.array([[1.0, 2.0], [2.0, 1.0]]), allow_singular=True)


def test_multivariate_normal_with_a_singular_covariance_follows_scipy():
    a = R.normal(size=(4, 2))
    cov = a @ a.T  # rank 2 of 4: a repeated zero eigenvalue
    mean = R.normal(size=4)
    on = mean + (a @ R.normal(size=(2, 3))).T  # three points on the support
    off = on + np.array([1.0, -1.0, 0.5, 0.0])
    x = np.concatenate([on, off[:1]])
    ours = ts.multivariate_normal.logpdf(x, mean, cov, allow_singular=True)
    theirs = st.multivariate_normal.logpdf(x, mean, cov, allow_singular=True)
    _close(ours, theirs, rtol=1e-9)
    assert ours.numpy()[-1] == -INF
    # gradients: finite with the repeated zero eigenvalue, and -pinv(cov) (x - mean) in x
    xs = tg.tensor(on, requires_grad=True)
    c = tg.tensor(cov, requires_grad=True)
    y = ts.multivariate_normal.logpdf(xs, mean, c, allow_singular=True)
    gx, gc = tg.autograd.grad(y.sum(), [xs, c])
    _close(gx, -(on - mean) @ np.linalg.pinv(cov), rtol=1e-8, atol=1e-9)
    assert np.all(np.isfinite(gc.numpy()))
    # a regular cov with allow_singular=True: the same as without
    full = _spd(3)
    _close(ts.multivariate_normal.logpdf(np.ones(3), None, full, allow_singular=True),
           ts.multivariate_normal.logpdf(np.ones(3), None, full).numpy(), rtol=1e-15)


def test_multivariate_normal_gradient_in_cov_is_symmetric():
    x, cov = R.normal(size=(3, 3)), _spd(3)
    g = tg.grad(lambda c: ts.multivariate_normal.logpdf(x, None, c).sum())(cov)
    _close(g, g.T, rtol=1e-14)
    inv = np.linalg.inv(cov)
    expected = 0.5 * sum(inv @ np.outer(v, v) @ inv - inv for v in x)
    _close(g, expected)


# -- dirichlet ----------------------------------------------------------------------------------------------


def test_dirichlet_takes_k_or_k_minus_1_entries_and_columns_of_points():
    alpha = np.array([1.5, 2.0, 0.7])
    p = R.dirichlet(alpha, size=4).T  # (K, n): SciPy's layout
    _close(ts.dirichlet.logpdf(p, alpha), st.dirichlet.logpdf(p, alpha), rtol=1e-12)
    _close(ts.dirichlet.logpdf(p[:2], alpha), st.dirichlet.logpdf(p[:2], alpha), rtol=1e-12)
    _close(ts.dirichlet.logpdf(p[:, 0], alpha), st.dirichlet.logpdf(p[:, 0], alpha), rtol=1e-12)
    # K - 1 entries: the last is 1 - sum, and the gradient goes through it
    g = tg.grad(lambda q: ts.dirichlet.logpdf(q, alpha))(p[:2, 0])
    expected = (alpha[:2] - 1) / p[:2, 0] - (alpha[2] - 1) / p[2, 0]
    _close(g, expected)


def test_dirichlet_bad_inputs_raise_as_scipy_does():
    alpha = np.array([1.5, 2.0, 0.7])
    for x, alpha_, error, message in [
        (np.array([0.2, 0.3, 0.5]), np.array([1.0, -1.0, 1.0]), ArgumentError, "every alpha must be > 0"),
        (np.array([0.2, 0.3, 0.5]), np.ones((3, 1)), ShapeError, "alpha must be a vector"),
        (np.array([0.2, 0.3, 0.4, 0.1]), alpha, ShapeError, "expected 3 \\(or 2\\) entries"),
        (np.ones((3, 2, 2)) / 3, alpha, ShapeError, "expected 3"),
        (np.array([0.2, 0.3, 0.6]), alpha, ArgumentError, "simplex"),
        (np.array([-0.2, 0.7, 0.5]), alpha, ArgumentError, ">= 0"),
        (np.array([1.2, -0.1, -0.1]), alpha, ArgumentError, ">= 0"),
        (np.array([0.5, 0.5, 0.0]), alpha, ArgumentError, "alpha is < 1"),
    ]:
        with pytest.raises(error, match=message):
            ts.dirichlet.logpdf(x, alpha_)
        with pytest.raises(ValueError):  # SciPy refuses the same input
            st.dirichlet.logpdf(x, alpha_)


# -- tg.compile ---------------------------------------------------------------------------------------------


def test_compiled_likelihoods_match_eager_for_new_parameter_values():
    data = _points("positive", 20)

    def nll(p):
        return (-ts.t.logpdf(data, p[0], p[1], p[2]).sum() - ts.gamma.logpdf(data, p[0], 0.0, p[2]).sum()
                - ts.norm.logsf(data, p[1], p[2]).sum() - ts.poisson.logpmf(np.arange(20.0), p[0]).sum())

    compiled = tg.compile(nll)
    for values in ([3.0, 0.1, 1.2], [2.0, -0.3, 0.7], [4.0, 0.2, -1.0]):  # the last: scale < 0, NaN
        p, q = tg.tensor(np.array(values), requires_grad=True), tg.tensor(np.array(values), requires_grad=True)
        eager, traced = nll(p), compiled(q)
        np.testing.assert_allclose(traced.numpy(), eager.numpy(), rtol=1e-13)
        np.testing.assert_allclose(tg.autograd.grad(traced, q)[0].numpy(), tg.autograd.grad(eager, p)[0].numpy(),
                                   rtol=1e-12)


@pytest.mark.parametrize("method", DISCRETE_METHODS)
def test_poisson_first_and_second_derivatives_in_mu(method):
    k = np.array([0.0, 1.0, 3.0, 6.0])
    mu = tg.tensor(np.array([0.7, 2.5, 4.0, 9.0]), requires_grad=True)
    function = getattr(ts.poisson, method)
    assert tg.autograd.gradcheck(lambda m: function(k, m), [mu], atol=1e-8, rtol=1e-6)
    assert tg.autograd.gradgradcheck(lambda m: function(k, m), [mu], atol=1e-7, rtol=1e-5)
    if method == "cdf":  # d/dmu P(K <= k) = -pmf(k)
        (g,) = tg.autograd.grad(function(k, mu).sum(), mu)
        _close(g, -st.poisson.pmf(k, mu.numpy()))


def test_forward_over_reverse_second_derivatives_match_reverse_over_reverse():
    x, points = _points("positive"), np.array([[0.3, -1.0], [1.0, 2.0]])
    cases = [
        (lambda p: ts.t.logpdf(x, p[0], p[1], p[2]).sum(), np.array([3.5, 0.2, 1.3])),
        (lambda p: ts.gamma.logsf(x, 2.5, p[0], p[1]).sum(), np.array([-0.3, 1.3])),
        (lambda p: ts.beta.logpdf(x / 6.0, p[0], p[1]).sum(), np.array([2.5, 0.7])),
        (lambda p: ts.norm.logcdf(x, p[0], p[1]).sum(), np.array([0.3, 1.3])),
        (lambda p: ts.poisson.logcdf(np.array([0.0, 2.0, 5.0]), p[0]).sum(), np.array([2.5])),
        (lambda m: ts.multivariate_normal.logpdf(points, m[:2], np.diag([2.0, 1.0]) + m[2] * (1 - np.eye(2))).sum(),
         np.array([0.1, -0.2, 0.3])),
        (lambda a: ts.dirichlet.logpdf(np.array([0.2, 0.3, 0.5]), a), np.array([1.5, 2.0, 3.0])),
    ]
    for f, p in cases:
        v = R.normal(size=p.shape)
        _, forward = tg.jvp(tg.grad(f), (p,), (v,))
        _, reverse = tg.hvp(f, (p,), (v,))
        _close(forward, reverse, rtol=1e-11)

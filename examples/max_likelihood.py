"""Maximum likelihood with scipy.optimize and gradients from tapegrad.

The script draws data from a Student t distribution with a location and a scale, and from a gamma
distribution, then fits their parameters by minimizing the negative log-likelihood written with
``tapegrad.scipy.stats`` (SciPy's signatures). ``scipy.optimize.minimize`` gets the value and the gradient
from ``tg.value_and_grad`` (``jac=True``; L-BFGS-B for the t), and for the gamma, fitted by Newton's method
(trust-ncg), also the Hessian-vector products from ``tg.hvp`` (``hessp=``). The standard errors come from the
inverse of the Hessian (``tg.hessian``) at the optimum, and the fit is compared with ``scipy.stats``' own
``fit``.

Run: ``python examples/max_likelihood.py [--n 2000] [--seed 0]``
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.stats
from scipy import optimize

import tapegrad as tg
from tapegrad.scipy import stats


def student_t_nll(theta: np.ndarray, data: np.ndarray) -> tg.Tensor:
    """The negative log-likelihood of a Student t with ``theta = (log df, loc, log scale)``: unconstrained."""
    return -np.sum(stats.t.logpdf(data, np.exp(theta[0]), theta[1], np.exp(theta[2])))


def gamma_nll(theta: np.ndarray, data: np.ndarray) -> tg.Tensor:
    """The negative log-likelihood of a gamma distribution with ``theta = (log a, log scale)``."""
    return -np.sum(stats.gamma.logpdf(data, np.exp(theta[0]), scale=np.exp(theta[1])))


def fit(nll, theta0: np.ndarray, data: np.ndarray, method: str) -> optimize.OptimizeResult:
    """Minimize ``nll(theta, data)`` with ``method``: the value and the gradient from ``tg.value_and_grad``
    (``jac=True``), and for trust-ncg the Hessian-vector products from ``tg.hvp`` (``hessp``, which scipy calls
    as ``hessp(theta, p, *args)``)."""
    second = {}
    if method == "trust-ncg":
        second["hessp"] = lambda theta, p, data: tg.hvp(lambda v: nll(v, data), (theta,), (p,))[1]
    result = optimize.minimize(tg.value_and_grad(nll), theta0, args=(data,), jac=True, method=method, **second)
    if not result.success:
        raise RuntimeError(f"the fit did not converge: {result.message}")
    return result


def standard_errors(nll_natural, params: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The square roots of the diagonal of the inverse observed information, in the natural parameters."""
    information = tg.hessian(lambda p: nll_natural(p, data))(params)
    return np.sqrt(np.diag(np.linalg.inv(information)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="points drawn from each distribution")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    df, loc, scale = 4.0, 1.5, 2.0
    data = loc + scale * rng.standard_t(df, args.n)
    result = fit(student_t_nll, np.array([np.log(10.0), np.median(data), 0.0]), data, "L-BFGS-B")
    theta = result.x
    found = np.array([np.exp(theta[0]), theta[1], np.exp(theta[2])])
    errors = standard_errors(lambda p, x: -np.sum(stats.t.logpdf(x, p[0], p[1], p[2])), found, data)
    reference = scipy.stats.t.fit(data)
    print(f"student t from {args.n} points, by L-BFGS-B ({result.nfev} evaluations of the likelihood and its "
          "gradient):")
    for name, value, error, true, theirs in zip(("df", "loc", "scale"), found, errors, (df, loc, scale), reference):
        print(f"  {name:5s} {value:.4f} +- {error:.4f}  (true {true}, scipy.stats.t.fit {theirs:.4f})")
    print(f"  negative log-likelihood {float(student_t_nll(theta, data)):.6f} "
          f"(scipy.stats.t.fit's {-np.sum(scipy.stats.t.logpdf(data, *reference)):.6f})")

    a, gamma_scale = 3.0, 1.5
    data = rng.gamma(a, gamma_scale, args.n)
    result = fit(gamma_nll, np.zeros(2), data, "trust-ncg")
    found = np.exp(result.x)
    errors = standard_errors(lambda p, x: -np.sum(stats.gamma.logpdf(x, p[0], scale=p[1])), found, data)
    reference = scipy.stats.gamma.fit(data, floc=0)
    print(f"gamma from {args.n} points, by trust-ncg ({result.nfev} evaluations, {result.nhev} Hessian-vector "
          "products):")
    for name, value, error, true, theirs in zip(("a", "scale"), found, errors, (a, gamma_scale),
                                                (reference[0], reference[2])):
        print(f"  {name:5s} {value:.4f} +- {error:.4f}  (true {true}, scipy.stats.gamma.fit {theirs:.4f})")


if __name__ == "__main__":
    main()

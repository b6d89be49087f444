"""A Gaussian process's negative log marginal likelihood and its gradient, side by side: tapegrad, the same
gradient derived by hand in NumPy (the floor), PyTorch (float64) and HIPS autograd.

The model: n = 1,000 one-dimensional inputs x, targets y, a squared-exponential kernel
``K = s exp(-(x_i - x_j)^2 / (2 l^2)) + noise I`` with the hyperparameters as logs, theta = (log s,
log l, log noise), written the same way for tapegrad (NumPy functions on Tensors), PyTorch and autograd.
Each run computes ``NLML = y^T K^-1 y / 2 + sum(log diag L) + n log(2 pi) / 2`` with the Cholesky factor
``K = L L^T`` and the gradient in theta AND in the 1,000 inputs x, float64.

The hand-written floor is Rasmussen and Williams' algorithm (GPML, Algorithm 2.1 and eq. 5.9), the one
scikit-learn's GaussianProcessRegressor uses: ``alpha = cho_solve(L, y)``, ``W = cho_solve(L, I) - alpha
alpha^T``, ``dNLML/dK = W / 2``, then the kernel's derivatives elementwise (SciPy's cho_factor/cho_solve
for the LAPACK calls NumPy does not have). A second hand version gets ``K^-1`` from LAPACK's potri (one
call, a third of the flops of two triangular solves with n right-hand sides): the fastest hand version we
know, shown for reference.

Run: ``cd benchmarks && python gp.py [--rounds 10] [--n 1000] [--vjp: cholesky's VJP alone]``
(``TAPEGRAD_BENCH_THREADS=default`` for every library's default thread count; otherwise one thread each)
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse
import math

import numpy as np
import scipy.linalg

import tapegrad as tg
from tapegrad.scipy import linalg as tgl

from common import compare, torch_or_none

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def data(n: int, seed: int = 0):
    r = np.random.default_rng(seed)
    x = np.sort(r.uniform(-5, 5, n))
    y = np.sin(x) + 0.3 * np.cos(3 * x) + 0.1 * r.standard_normal(n)
    theta = np.log([1.5, 0.8, 0.05])
    return theta, x, y


def nlml_tapegrad(theta, x, y):
    """The NLML written with NumPy functions on Tensors, as a user writes it."""
    n = y.shape[0]
    s, ell, noise = np.exp(theta[0]), np.exp(theta[1]), np.exp(theta[2])
    k = s * np.exp((x[:, None] - x[None, :]) ** 2 * (-0.5 / ell ** 2)) + noise * np.eye(n)
    low = np.linalg.cholesky(k)
    alpha = tgl.cho_solve((low, True), y, check_finite=False)
    return 0.5 * (y @ alpha) + np.sum(np.log(np.diagonal(low))) + n * HALF_LOG_2PI


def tapegrad_run(theta, x, y):
    def run():
        t, xs = tg.tensor(theta, requires_grad=True), tg.tensor(x, requires_grad=True)
        value = nlml_tapegrad(t, xs, y)
        value.backward()
        return value.item(), t.grad.numpy(), xs.grad.numpy()
    return run


def hand(theta, x, y, inverse: str = "cho_solve"):
    """The NLML and its gradient in theta and x, derived by hand (``inverse``: how K^-1 is computed)."""
    n = y.shape[0]
    s, ell, noise = np.exp(theta)
    d = x[:, None] - x[None, :]
    d2 = d * d
    kf = s * np.exp(d2 * (-0.5 / ell ** 2))
    k = kf.copy()
    k.flat[::n + 1] += noise
    factor = scipy.linalg.cho_factor(k, lower=True, check_finite=False)
    low = factor[0]
    alpha = scipy.linalg.cho_solve(factor, y, check_finite=False)
    value = 0.5 * (y @ alpha) + np.log(np.diagonal(low)).sum() + n * HALF_LOG_2PI
    if inverse == "cho_solve":
        w = scipy.linalg.cho_solve(factor, np.eye(n), check_finite=False)
    else:  # potri fills the lower triangle of K^-1
        w, _ = scipy.linalg.lapack.dpotri(low, lower=1)
        w = np.tril(w) + np.tril(w, -1).T
    w -= np.outer(alpha, alpha)  # 2 dNLML/dK
    wk = w * kf
    grad_theta = 0.5 * np.array([wk.sum(), (wk * d2).sum() / ell ** 2, noise * np.trace(w)])
    grad_x = -(wk * d).sum(axis=1) / ell ** 2
    return value, grad_theta, grad_x


def torch_run(torch, theta, x, y):
    yt = torch.tensor(y)

    def run():
        t, xs = torch.tensor(theta, requires_grad=True), torch.tensor(x, requires_grad=True)
        n = yt.shape[0]
        s, ell, noise = torch.exp(t[0]), torch.exp(t[1]), torch.exp(t[2])
        k = s * torch.exp((xs[:, None] - xs[None, :]) ** 2 * (-0.5 / ell ** 2)) + noise * torch.eye(
            n, dtype=torch.float64)
        low = torch.linalg.cholesky(k)
        alpha = torch.cholesky_solve(yt[:, None], low)[:, 0]
        value = 0.5 * (yt @ alpha) + torch.log(torch.diagonal(low)).sum() + n * HALF_LOG_2PI
        value.backward()
        return value.item(), t.grad.numpy(), xs.grad.numpy()
    return run


def autograd_run(theta, x, y):
    import autograd
    import autograd.numpy as anp
    import autograd.scipy.linalg as asl

    def nlml(t, xs):
        n = y.shape[0]
        s, ell, noise = anp.exp(t[0]), anp.exp(t[1]), anp.exp(t[2])
        k = s * anp.exp((xs[:, None] - xs[None, :]) ** 2 * (-0.5 / ell ** 2)) + noise * anp.eye(n)
        low = anp.linalg.cholesky(k)
        alpha = asl.solve_triangular(low, asl.solve_triangular(low, y, lower=True), trans=1, lower=True)
        return 0.5 * anp.dot(y, alpha) + anp.sum(anp.log(anp.diagonal(low, 0, -1, -2))) + n * HALF_LOG_2PI

    value_and_grad = autograd.value_and_grad(lambda args: nlml(*args))

    def run():
        value, (gt, gx) = value_and_grad((theta, x))
        return value, gt, gx
    return run


def cholesky_vjp_alone(n: int, rounds: int) -> None:
    """The VJP of np.linalg.cholesky alone at n: Murray's blocked algorithm (what tapegrad runs) against the
    formula L^-T Phi(L^T G) L^-1 with BLAS's triangular solves, and with NumPy's LU solves (the code before
    issue 15: NumPy has no triangular solver)."""
    from tapegrad.ops import linalg_numpy as LN

    theta, x, y = data(n)
    k = np.exp(theta[0]) * np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / np.exp(theta[1]) ** 2) + 0.05 * np.eye(n)
    low = LN.cholesky.forward(k)
    g = np.tril(np.random.default_rng(1).standard_normal((n, n)))

    def numpy_lu():
        with_scipy = LN.scipy_blas_lapack
        LN.scipy_blas_lapack = lambda: None
        try:
            return LN._cholesky_backward_formula(low, g)
        finally:
            LN.scipy_blas_lapack = with_scipy

    runs = {"blocked": lambda: LN.cholesky_backward.forward(low, g),
            "formula, trsm": lambda: LN._cholesky_backward_formula(low, g), "formula, NumPy LU": numpy_lu}
    seconds, ratios = compare(runs, rounds, block=3, warmup=1)
    print(f"cholesky's VJP alone, n = {n}: ms per call, and relative to the blocked algorithm")
    for name in runs:
        print(f"  {name:18s} {seconds[name] * 1e3:8.2f} ms  {ratios[name]:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--no-autograd", action="store_true", help="leave HIPS autograd out (it is the slowest)")
    parser.add_argument("--vjp", action="store_true", help="time cholesky's VJP alone, three ways")
    args = parser.parse_args()
    if args.vjp:
        cholesky_vjp_alone(args.n, args.rounds)
        return
    theta, x, y = data(args.n)
    runs = {"hand (cho_solve)": lambda: hand(theta, x, y), "tapegrad": tapegrad_run(theta, x, y)}
    torch = torch_or_none()
    if torch is not None:
        runs["pytorch"] = torch_run(torch, theta, x, y)
    if not args.no_autograd:
        runs["autograd"] = autograd_run(theta, x, y)
    runs["hand (potri)"] = lambda: hand(theta, x, y, inverse="potri")

    # every implementation computes the same value and gradient
    expected = hand(theta, x, y)
    for name, run in runs.items():
        value, grad_theta, grad_x = run()
        np.testing.assert_allclose(value, expected[0], rtol=1e-9, err_msg=name)
        np.testing.assert_allclose(grad_theta, expected[1], rtol=1e-7, err_msg=name)
        np.testing.assert_allclose(grad_x, expected[2], rtol=1e-6, atol=1e-6 * np.abs(expected[2]).max(),
                                   err_msg=name)

    seconds, ratios = compare(runs, args.rounds, block=3, warmup=2)
    threads = "one thread each" if single_thread.PINNED else "default threads"
    print(f"GP NLML + gradient in 3 hyperparameters and {args.n} inputs (float64, {threads}): ms per call "
          f"(median over {args.rounds} rounds), and time relative to the hand-written floor")
    for name in runs:
        print(f"  {name:18s} {seconds[name] * 1e3:8.2f} ms  {ratios[name]:5.2f}x")


if __name__ == "__main__":
    main()

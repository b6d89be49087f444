"""Fit a Gaussian process's kernel hyperparameters by the gradient of its log marginal likelihood.

The data are made here: a function drawn from a GP with a squared-exponential kernel
``k(x, x') = s exp(-(x - x')^2 / (2 l^2))`` at n random inputs, plus Gaussian noise of variance ``noise``.
The negative log marginal likelihood is written with NumPy functions on Tensors, through the Cholesky
factor ``K = L L^T`` (Rasmussen and Williams, GPML, Algorithm 2.1):

    NLML = y^T K^-1 y / 2 + sum(log diag L) + n log(2 pi) / 2,   K^-1 y = cho_solve((L, True), y)

and tapegrad differentiates it (through ``np.linalg.cholesky`` and ``tapegrad.scipy.linalg.cho_solve``). The
script checks that gradient against the closed form ``dNLML/dtheta = tr((K^-1 - alpha alpha^T) dK/dtheta) / 2``
once, then fits (log s, log l, log noise) with Adam from a poor start.

Run: ``python examples/gaussian_process.py [--n 200] [--steps 150]``
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import tapegrad as tg
from tapegrad.scipy.linalg import cho_solve

TRUE = {"s": 1.5, "l": 0.7, "noise": 0.04}


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n inputs in [-5, 5] and targets drawn from the GP with the TRUE hyperparameters."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-5, 5, n))
    k = TRUE["s"] * np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / TRUE["l"] ** 2) + 1e-9 * np.eye(n)
    f = np.linalg.cholesky(k) @ rng.standard_normal(n)
    return x, f + math.sqrt(TRUE["noise"]) * rng.standard_normal(n)


def nlml(log_params, x, y):
    """The negative log marginal likelihood at log_params = (log s, log l, log noise)."""
    n = len(y)
    s, ell, noise = np.exp(log_params[0]), np.exp(log_params[1]), np.exp(log_params[2])
    d = x[:, None] - x[None, :]
    k = s * np.exp(-0.5 * (d / ell) ** 2) + noise * np.eye(n)
    low = np.linalg.cholesky(k)
    alpha = cho_solve((low, True), y)
    return 0.5 * (y @ alpha) + np.sum(np.log(np.diagonal(low))) + 0.5 * n * math.log(2 * math.pi)


def closed_form_gradient(log_params: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """GPML's eq. 5.9 in NumPy: tr((K^-1 - alpha alpha^T) dK/dtheta_j) / 2 for each log-parameter."""
    s, ell, noise = np.exp(log_params)
    d2 = (x[:, None] - x[None, :]) ** 2
    kf = s * np.exp(-0.5 * d2 / ell ** 2)
    k_inv = np.linalg.inv(kf + noise * np.eye(len(y)))
    alpha = k_inv @ y
    w = k_inv - np.outer(alpha, alpha)
    return 0.5 * np.array([(w * kf).sum(), (w * kf * d2).sum() / ell ** 2, noise * np.trace(w)])


def fit(n: int = 200, steps: int = 150, lr: float = 0.1, seed: int = 0, report_every: int = 0) -> dict:
    """Fit the log-hyperparameters by Adam; returns them, the NLML along the way and at the truth."""
    x, y = make_data(n, seed)
    start = np.log([0.3, 2.5, 0.5])  # far from TRUE
    g = tg.grad(nlml)(start, x, y)
    np.testing.assert_allclose(g, closed_form_gradient(start, x, y), rtol=1e-8)
    params = tg.tensor(start, requires_grad=True)
    optimizer = tg.optim.Adam([params], lr=lr)
    losses = []
    for step in range(steps):
        optimizer.zero_grad()
        loss = nlml(params, x, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if report_every and step % report_every == 0:
            print(f"step {step:4d}  NLML {loss.item():.4f}")
    final = nlml(params.detach(), x, y).item()
    return {"params": np.exp(params.numpy()), "losses": losses + [final],
            "at_truth": nlml(np.log([TRUE["s"], TRUE["l"], TRUE["noise"]]), x, y).item(),
            "gradient": tg.grad(nlml)(params.numpy(), x, y)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--steps", type=int, default=150)
    args = parser.parse_args()
    result = fit(args.n, args.steps, report_every=max(args.steps // 10, 1))
    s, ell, noise = result["params"]
    print(f"fitted s {s:.4f}, l {ell:.4f}, noise {noise:.4f} (true s {TRUE['s']}, l {TRUE['l']}, "
          f"noise {TRUE['noise']})")
    print(f"final NLML {result['losses'][-1]:.4f} (at the true hyperparameters {result['at_truth']:.4f}), "
          f"gradient norm {np.linalg.norm(result['gradient']):.2e}")


if __name__ == "__main__":
    main()

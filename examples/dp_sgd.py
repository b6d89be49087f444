"""Differentially private SGD (Abadi et al., 2016) on the bundled 8x8 digits, with per-example gradients
from ``tg.vmap``.

Each step samples a lot (every training example independently, with probability ``q``), computes every
example's gradient in one batched pass, ``tg.vmap(tg.grad(loss), in_axes=(None, 0, 0))``, clips each to
norm ``C``, adds Gaussian noise of standard deviation ``sigma * C`` to their sum and takes a step with it
divided by the expected lot size. No example moves the model by more than ``C / (q N)``, and the noise
hides whether it was there: the script reports the privacy spent, ``(epsilon, delta)``, by the Renyi
accountant of the subsampled Gaussian mechanism, and the model's accuracy on held-out digits.

Run: ``python examples/dp_sgd.py [--epochs 15] [--sigma 1.0] [--clip 1.0]``
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import tapegrad as tg
from tapegrad.data.datasets import load_digits
from tapegrad.nn import functional as F


def model_and_parameters(seed: int) -> tuple[tg.nn.Module, dict[str, tg.Tensor]]:
    tg.manual_seed(seed)
    model = tg.nn.Sequential(tg.nn.Linear(64, 128), tg.nn.ReLU(), tg.nn.Linear(128, 10))
    return model, {name: p.detach() for name, p in model.named_parameters()}


def per_example_gradients(model: tg.nn.Module):
    """The function ``(params, x, y) -> {name: gradient of each example's loss, stacked}``."""
    def loss(params, x, y):  # one example: x (64,), y ()
        return F.cross_entropy(tg.func.functional_call(model, params, (x[None],)), y[None])

    return tg.vmap(tg.grad(loss), in_axes=(None, 0, 0))


def clipped_noisy_sum(grads: dict[str, tg.Tensor], clip: float, sigma: float, rng: np.random.Generator
                      ) -> dict[str, np.ndarray]:
    """Each example's gradient scaled to norm at most ``clip`` (its norm over all parameters), summed over
    the lot, plus Gaussian noise of standard deviation ``sigma * clip``."""
    arrays = {name: g.numpy() for name, g in grads.items()}
    count = next(iter(arrays.values())).shape[0]
    norms = np.sqrt(sum((a.reshape(count, -1).astype(np.float64) ** 2).sum(axis=1) for a in arrays.values()))
    scale = np.minimum(1.0, clip / np.maximum(norms, 1e-12)).astype(np.float32)
    return {name: np.tensordot(scale, a, axes=1) + rng.normal(0.0, sigma * clip, a.shape[1:]).astype(np.float32)
            for name, a in arrays.items()}


def rdp_epsilon(q: float, sigma: float, steps: int, delta: float) -> tuple[float, int]:
    """(epsilon, the Renyi order that gives it) after ``steps`` compositions of the Poisson-subsampled
    Gaussian mechanism (sampling rate ``q``, noise multiplier ``sigma``), for the given ``delta``: the Renyi
    divergence at integer orders alpha (Mironov, Talwar and Zhang, 2019), converted to (epsilon, delta)."""
    best = (math.inf, 0)
    for alpha in range(2, 256):
        terms = [math.lgamma(alpha + 1) - math.lgamma(k + 1) - math.lgamma(alpha - k + 1)
                 + k * math.log(q) + (alpha - k) * math.log1p(-q) + (k * k - k) / (2 * sigma * sigma)
                 for k in range(alpha + 1)]
        top = max(terms)
        log_moment = top + math.log(sum(math.exp(t - top) for t in terms))
        epsilon = steps * log_moment / (alpha - 1) + math.log(1 / delta) / (alpha - 1)
        best = min(best, (epsilon, alpha))
    return best


def train(epochs: int = 15, lot: int = 64, lr: float = 0.5, clip: float = 1.0, sigma: float = 1.0,
          seed: int = 0, check: bool = True) -> dict:
    """Train with DP-SGD; returns the test accuracy, the privacy spent and the steps taken."""
    x, y = load_digits()
    order = np.random.default_rng(seed).permutation(len(x))
    test, training = order[:300], order[300:]
    x_train, y_train, x_test, y_test = x[training], y[training], x[test], y[test]
    model, params = model_and_parameters(seed)
    gradients = per_example_gradients(model)
    if check:  # vmap gives what a loop of tg.grad over the examples gives
        batched = gradients(params, x_train[:8], y_train[:8])
        single = tg.grad(lambda p, xi, yi: F.cross_entropy(tg.func.functional_call(model, p, (xi[None],)), yi[None]))
        for k in range(8):
            for name, g in single(params, x_train[k], y_train[k]).items():
                np.testing.assert_allclose(batched[name].numpy()[k], g.numpy(), rtol=1e-4, atol=1e-6)
    rng = np.random.default_rng(seed + 1)
    q = lot / len(x_train)
    steps_per_epoch = int(round(1 / q))
    for epoch in range(epochs):
        for _ in range(steps_per_epoch):
            chosen = np.flatnonzero(rng.random(len(x_train)) < q)  # Poisson sampling, as the accountant assumes
            if len(chosen) == 0:
                noisy = {name: rng.normal(0.0, sigma * clip, p.shape).astype(np.float32) for name, p in params.items()}
            else:
                noisy = clipped_noisy_sum(gradients(params, x_train[chosen], y_train[chosen]), clip, sigma, rng)
            params = {name: tg.Tensor(p.numpy() - lr * noisy[name] / lot) for name, p in params.items()}
        accuracy = _accuracy(model, params, x_test, y_test)
        print(f"epoch {epoch + 1:2d}  test accuracy {accuracy:.3f}")
    delta = 1e-5
    epsilon, alpha = rdp_epsilon(q, sigma, epochs * steps_per_epoch, delta)
    return {"accuracy": _accuracy(model, params, x_test, y_test), "epsilon": epsilon, "delta": delta,
            "alpha": alpha, "steps": epochs * steps_per_epoch}


def _accuracy(model: tg.nn.Module, params: dict, x: np.ndarray, y: np.ndarray) -> float:
    with tg.no_grad():
        logits = tg.func.functional_call(model, params, (tg.tensor(x),))
    return float((logits.numpy().argmax(axis=1) == y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--lot", type=int, default=64, help="expected examples per step")
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--clip", type=float, default=1.0, help="the norm C each example's gradient is clipped to")
    parser.add_argument("--sigma", type=float, default=1.0, help="noise multiplier: noise std is sigma * C")
    args = parser.parse_args()
    result = train(args.epochs, args.lot, args.lr, args.clip, args.sigma)
    print(f"DP-SGD: test accuracy {result['accuracy']:.3f} after {result['steps']} steps, "
          f"({result['epsilon']:.2f}, {result['delta']:g})-differentially private (Renyi order {result['alpha']})")


if __name__ == "__main__":
    main()

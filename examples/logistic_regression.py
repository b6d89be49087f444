"""Binary logistic regression with the sigmoid, as in the lectures.

``p = sigmoid(x . w + b)`` is the probability of class 1; the loss is the mean logistic loss
``-[y log p + (1 - y) log(1 - p)]``, computed stably from the score (``binary_cross_entropy_with_logits``).
Its gradient is the lectures' ``X^T (p - y) / N``, which the script checks before training.

Run: ``python examples/logistic_regression.py [--steps 300]``
"""

from __future__ import annotations

import argparse

import numpy as np

import tapegrad as tg
from tapegrad.nn import functional as F


def make_blobs(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clouds in 2-D, centred at (-1, -1) (class 0) and (1.5, 1) (class 1)."""
    rng = np.random.default_rng(seed)
    x0 = rng.normal((-1.0, -1.0), 0.8, (n // 2, 2))
    x1 = rng.normal((1.5, 1.0), 0.8, (n - n // 2, 2))
    return np.vstack([x0, x1]), np.concatenate([np.zeros(n // 2), np.ones(n - n // 2)])


def train(steps: int = 300, lr: float = 0.5, seed: int = 0, report_every: int = 0) -> dict:
    """Fit the model by gradient descent; returns the weights, the losses and the accuracy."""
    x, y = make_blobs(seed=seed)
    w = tg.tensor(np.zeros(2), requires_grad=True, name="w")
    b = tg.tensor(0.0, dtype=np.float64, requires_grad=True, name="b")
    inputs = tg.tensor(x)
    losses = []
    for step in range(steps):
        scores = inputs @ w + b
        loss = F.binary_cross_entropy_with_logits(scores, y)
        loss.backward()
        if step == 0:  # the lectures' closed form of the gradient
            p = 1 / (1 + np.exp(-(x @ w.numpy() + b.item())))
            np.testing.assert_allclose(w.grad.numpy(), x.T @ (p - y) / len(y), rtol=1e-12)
        with tg.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
        w.grad = b.grad = None
        losses.append(loss.item())
        if report_every and step % report_every == 0:
            print(f"step {step:4d}  loss {loss.item():.4f}")
    probabilities = (inputs @ w + b).sigmoid().numpy()
    accuracy = float(((probabilities > 0.5) == (y == 1)).mean())
    return {"w": w.numpy(), "b": b.item(), "losses": losses, "accuracy": accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    result = train(args.steps, report_every=max(args.steps // 10, 1))
    print(f"w = {result['w']}, b = {result['b']:.4f}, training accuracy {result['accuracy']:.3f}")


if __name__ == "__main__":
    main()

"""The lectures' two-layer network, trained with tapegrad.

The lecture writes it in 20 lines of NumPy with the gradients derived by hand (kept below as
``train_numpy``); ``train_tapegrad`` is the same network with the gradients from ``loss.backward()``.
Both start from the same weights and give the same loss at every step.

Run: ``python examples/two_layer_net.py [--steps 2000]``
"""

from __future__ import annotations

import argparse

import numpy as np

import tapegrad as tg

N, D_IN, H, D_OUT = 64, 1000, 100, 10
LEARNING_RATE = 1e-4


def make_problem(seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs, targets and starting weights (float64), as in the lecture."""
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((N, D_IN)), "y": rng.standard_normal((N, D_OUT)),
            "w1": rng.standard_normal((D_IN, H)), "w2": rng.standard_normal((H, D_OUT))}


def numpy_step(x: np.ndarray, y: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> float:
    """One step of the lecture's NumPy code: forward, hand-derived backward, SGD (in place)."""
    h = 1 / (1 + np.exp(-x.dot(w1)))
    y_pred = h.dot(w2)
    loss = np.square(y_pred - y).sum()
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_w1 = x.T.dot(grad_h * h * (1 - h))
    w1 -= LEARNING_RATE * grad_w1
    w2 -= LEARNING_RATE * grad_w2
    return float(loss)


def train_numpy(problem: dict[str, np.ndarray], steps: int) -> tuple[list[float], np.ndarray, np.ndarray]:
    """The lecture's NumPy code, ``steps`` times from the problem's starting weights."""
    w1, w2 = problem["w1"].copy(), problem["w2"].copy()
    losses = [numpy_step(problem["x"], problem["y"], w1, w2) for _ in range(steps)]
    return losses, w1, w2


def train_tapegrad(problem: dict[str, np.ndarray], steps: int, report_every: int = 0
                   ) -> tuple[list[float], np.ndarray, np.ndarray]:
    """The same network with tapegrad computing the gradients."""
    x, y = tg.tensor(problem["x"]), tg.tensor(problem["y"])
    w1 = tg.tensor(problem["w1"], requires_grad=True, name="w1")
    w2 = tg.tensor(problem["w2"], requires_grad=True, name="w2")
    losses = []
    for step in range(steps):
        h = (x @ w1).sigmoid()
        y_pred = h @ w2
        loss = ((y_pred - y) ** 2).sum()
        losses.append(loss.item())
        if report_every and (step % report_every == 0 or step == steps - 1):
            print(f"step {step:5d}  loss {loss.item():14.4f}")
        loss.backward()
        with tg.no_grad():
            w1 -= LEARNING_RATE * w1.grad
            w2 -= LEARNING_RATE * w2.grad
        w1.grad = w2.grad = None
    return losses, w1.numpy(), w2.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"two-layer net: N={N}, D_in={D_IN}, H={H}, D_out={D_OUT}, sigmoid, squared loss, "
          f"SGD lr={LEARNING_RATE}, {args.steps} steps")
    losses, _, _ = train_tapegrad(make_problem(args.seed), args.steps, report_every=max(args.steps // 20, 1))
    print(f"loss fell from {losses[0]:.2f} to {losses[-1]:.2f} ({losses[-1] / losses[0]:.2%} of the start)")


if __name__ == "__main__":
    main()

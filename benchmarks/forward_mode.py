"""Forward against reverse mode: the Jacobian of f: R^8 -> R^4000, f(x) = tanh(W x), by ``tg.jacfwd``
(8 forward passes carrying tangents) and ``tg.jacobian`` (4,000 backward passes).

Run: ``python benchmarks/forward_mode.py``
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import numpy as np

import tapegrad as tg

from common import compare


def main() -> None:
    weights = np.random.default_rng(0).standard_normal((4000, 8))
    x = np.ones(8)

    def f(v):
        return np.tanh(weights @ v)

    forward, reverse = tg.jacfwd(f)(x), tg.jacobian(f)(x)
    assert forward.shape == (4000, 8) and np.allclose(forward, reverse, rtol=1e-12)
    seconds, ratio = compare({"jacfwd": lambda: tg.jacfwd(f)(x), "jacobian (reverse)": lambda: tg.jacobian(f)(x)},
                             rounds=5, block=2)
    print("Jacobian of tanh(W x), W of shape (4000, 8): medians over 5 rounds of 2 runs")
    for name in seconds:
        print(f"  {name:20s} {seconds[name] * 1e3:9.2f} ms   ({ratio[name]:.4f}x jacfwd)")


if __name__ == "__main__":
    main()

"""Workload 1: a chain of 1,000 elementwise nodes on a shape-(1,) float64 tensor.

``y = sin(y * a + b) * c`` repeated 250 times (4 nodes each), forward and backward, in microseconds
per node; tapegrad beside the same chain in NumPy written by hand and in PyTorch eager.

Run: ``python benchmarks/tiny_ops.py [--rounds 40]``
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse

import numpy as np

import tapegrad as tg

from common import compare, torch_or_none

REPEATS_OF_BLOCK = 250
NODES = 4 * REPEATS_OF_BLOCK


def numpy_by_hand(x0, a, b, c):
    y, saved = x0, []
    for _ in range(REPEATS_OF_BLOCK):
        t1 = y * a
        t2 = t1 + b
        t3 = np.sin(t2)
        saved.append((y, t2, t3))
        y = t3 * c
    gy, ga, gb, gc = np.ones_like(y), 0.0, 0.0, 0.0
    for y_in, t2, t3 in reversed(saved):
        gc = gc + gy * t3
        g3 = gy * c
        g2 = g3 * np.cos(t2)
        gb = gb + g2
        ga = ga + g2 * y_in
        gy = g2 * a
    return gy, ga, gb, gc


def _chain(x0, a, b, c):
    y = x0
    for _ in range(REPEATS_OF_BLOCK):
        y = (y * a + b).sin() * c
    return y


def tapegrad_chain(x0, a, b, c):
    y = _chain(x0, a, b, c)
    y.backward(np.ones(1))
    grads = x0.grad, a.grad, b.grad, c.grad
    x0.grad = a.grad = b.grad = c.grad = None
    return grads


def torch_chain(torch, x0, a, b, c):
    y = x0
    for _ in range(REPEATS_OF_BLOCK):
        y = torch.sin(y * a + b) * c
    y.backward(torch.ones(1, dtype=torch.float64))
    grads = x0.grad, a.grad, b.grad, c.grad
    x0.grad = a.grad = b.grad = c.grad = None
    return grads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    start = [np.array([v]) for v in (0.5, 0.9, 0.1, 1.1)]
    tensors = [tg.tensor(v, requires_grad=True) for v in start]
    reference = numpy_by_hand(*start)
    assert all(np.allclose(g.numpy(), r) for g, r in zip(tapegrad_chain(*tensors), reference))
    compiled_chain = tg.compile(lambda x0, a, b, c: _chain(x0, a, b, c))
    compiled_tensors = [tg.tensor(v, requires_grad=True) for v in start]

    def tapegrad_compiled():
        compiled_chain(*compiled_tensors).backward(np.ones(1))
        for t in compiled_tensors:
            t.grad = None

    runs = {"numpy by hand": lambda: numpy_by_hand(*start), "tapegrad": lambda: tapegrad_chain(*tensors),
            "tapegrad compiled": tapegrad_compiled}
    torch = torch_or_none()
    if torch is not None:
        tt = [torch.tensor(v, requires_grad=True) for v in start]
        runs["pytorch eager"] = lambda: torch_chain(torch, *tt)
    seconds, ratio = compare(runs, args.rounds)
    print(f"tiny ops: {NODES} elementwise nodes, shape (1,), float64, forward + backward; medians over "
          f"{args.rounds} rounds of 5 runs")
    for name in runs:
        print(f"  {name:17s} {seconds[name] / NODES * 1e6:6.2f} us/node   ({ratio[name]:.2f}x numpy by hand)")
    if torch is None:
        print("  pytorch eager  (not installed: pip install torch==2.13.0)")
    else:
        print(f"  tapegrad / pytorch eager = {ratio['tapegrad'] / ratio['pytorch eager']:.2f}, "
              f"tapegrad compiled / pytorch eager = {ratio['tapegrad compiled'] / ratio['pytorch eager']:.2f}")


if __name__ == "__main__":
    main()

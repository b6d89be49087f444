"""Workload 3: a wide MLP (float32, batch 64, 4096-4096-10, ReLU, softmax cross-entropy, SGD).

Milliseconds per training step and the peak memory a step allocates above the parameters, for
tapegrad, NumPy written by hand and PyTorch eager (time only: its allocations are not visible to
Python's tracemalloc, which measures the other two).

Run: ``python benchmarks/wide_mlp.py [--rounds 8]``
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse
import tracemalloc

import numpy as np

import tapegrad as tg

from common import compare, torch_or_none

BATCH, D_IN, HIDDEN, CLASSES = 64, 4096, 4096, 10
LR = 0.01


def make_problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, D_IN), dtype=np.float32)
    labels = rng.integers(0, CLASSES, BATCH)
    w1 = rng.standard_normal((D_IN, HIDDEN), dtype=np.float32) * np.float32(1 / 64)
    w2 = rng.standard_normal((HIDDEN, CLASSES), dtype=np.float32) * np.float32(1 / 64)
    return x, labels, [w1, np.zeros(HIDDEN, np.float32), w2, np.zeros(CLASSES, np.float32)]


def numpy_step(x, labels, params):
    w1, b1, w2, b2 = params
    z = x @ w1
    z += b1
    h = np.maximum(z, 0)
    logits = h @ w2 + b2
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probs = exp / exp.sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(BATCH), labels]).mean()
    dlogits = probs
    dlogits[np.arange(BATCH), labels] -= 1
    dlogits /= BATCH
    dw2, db2 = h.T @ dlogits, dlogits.sum(axis=0)
    dh = dlogits @ w2.T
    dh *= z > 0
    dw1, db1 = x.T @ dh, dh.sum(axis=0)
    for p, g in zip(params, (dw1, db1, dw2, db2)):
        p -= LR * g
    return loss


def tapegrad_step(x, labels, params):
    w1, b1, w2, b2 = params
    logits = (x @ w1 + b1).relu() @ w2 + b2
    loss = -logits.log_softmax(axis=1)[np.arange(BATCH), labels].mean()
    loss.backward()
    with tg.no_grad():
        for p in params:
            p -= LR * p.grad
            p.grad = None
    return loss


def torch_step(torch, x, labels, params):
    w1, b1, w2, b2 = params
    logits = torch.relu(x @ w1 + b1) @ w2 + b2
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= LR * p.grad
            p.grad = None
    return loss


def _detached(loss):
    return loss.detach() if hasattr(loss, "detach") else loss


def peak_bytes(step) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    x, labels, start = make_problem()
    np_params = [p.copy() for p in start]
    tx = tg.tensor(x)
    tg_params = [tg.tensor(p.copy(), requires_grad=True) for p in start]
    steps = {"numpy by hand": lambda: numpy_step(x, labels, np_params),
             "tapegrad": lambda: tapegrad_step(tx, labels, tg_params)}
    torch = torch_or_none()
    if torch is not None:
        px, plabels = torch.tensor(x), torch.tensor(labels)
        t_params = [torch.tensor(p.copy(), requires_grad=True) for p in start]
        steps["pytorch eager"] = lambda: torch_step(torch, px, plabels, t_params)
    losses = {name: float(np.asarray(_detached(step()))) for name, step in steps.items()}
    assert max(losses.values()) - min(losses.values()) < 1e-4, losses
    seconds, ratio = compare(steps, args.rounds, block=2, warmup=1)
    memory = {name: peak_bytes(steps[name]) for name in ("numpy by hand", "tapegrad")}
    params_mb = sum(p.nbytes for p in start) / 2**20
    print(f"wide MLP (float32, batch {BATCH}, {D_IN}-{HIDDEN}-{CLASSES}, ReLU, cross-entropy, SGD): "
          f"medians over {args.rounds} rounds of 2 steps; parameters {params_mb:.1f} MiB")
    for name in steps:
        line = f"  {name:14s} {seconds[name] * 1e3:8.1f} ms/step ({ratio[name]:.2f}x numpy by hand)"
        if name in memory:
            line += (f", peak {memory[name] / 2**20:6.1f} MiB above the parameters "
                     f"({memory[name] / memory['numpy by hand']:.2f}x)")
        print(line)


if __name__ == "__main__":
    main()

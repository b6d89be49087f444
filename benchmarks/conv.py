"""The convolution alone: forward plus backward (input and weight gradients) on the two LeNet layer
shapes of issue 14 (batch 64, float32, 3x3 kernels, padding 1: 1->32 channels on 28x28 and 32->64 on
14x14), in tapegrad, in PyTorch and in a hand-written NumPy im2col, interleaved in one run.

Run: ``python benchmarks/conv.py [--rounds 10]`` (``TAPEGRAD_BENCH_THREADS=default`` for the libraries'
own thread counts; one thread each otherwise).
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import tapegrad as tg
from tapegrad.nn import functional as F

from common import compare, torch_or_none

BATCH = 64
LAYERS = [(1, 32, 28), (32, 64, 14)]  # in channels, out channels, side


def numpy_by_hand(x, w, g):
    """im2col written out for this case (3x3, stride 1, padding 1): forward, then both gradients."""
    n, c, h, width = x.shape
    o = w.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = sliding_window_view(xp, (3, 3), axis=(2, 3)).transpose(0, 1, 4, 5, 2, 3).reshape(n, c * 9, h * width)
    out = np.matmul(w.reshape(o, c * 9), cols).reshape(n, o, h, width)
    gg = g.reshape(n, o, h * width)
    grad_w = np.matmul(gg, cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    dcols = np.matmul(w.reshape(o, c * 9).T, gg).reshape(n, c, 3, 3, h, width)
    grad_xp = np.zeros_like(xp)
    for a in range(3):
        for b in range(3):
            grad_xp[:, :, a:a + h, b:b + width] += dcols[:, :, a, b]
    return out, grad_xp[:, :, 1:-1, 1:-1], grad_w


def make_runs(torch, c, o, side):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, c, side, side)).astype(np.float32)
    w = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    g = rng.standard_normal((BATCH, o, side, side)).astype(np.float32)
    tx, tw, tgrad = tg.tensor(x, requires_grad=True), tg.tensor(w, requires_grad=True), tg.tensor(g)

    def tapegrad_run():
        F.conv2d(tx, tw, padding=1).backward(tgrad)
        tx.grad = tw.grad = None

    runs = {"tapegrad": tapegrad_run, "numpy im2col": lambda: numpy_by_hand(x, w, g)}
    if torch is not None:
        px, pw, pg = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True), torch.tensor(g)

        def torch_run():
            torch.nn.functional.conv2d(px, pw, padding=1).backward(pg)
            px.grad = pw.grad = None

        runs["pytorch"] = torch_run
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    torch = torch_or_none()
    threads = "one thread each" if single_thread.PINNED else "default threads"
    print(f"conv2d forward + backward (input and weight gradients), batch {BATCH}, float32, 3x3, padding 1, "
          f"{threads}; medians over {args.rounds} rounds of 5 calls")
    for c, o, side in LAYERS:
        runs = make_runs(torch, c, o, side)
        seconds, ratio = compare(runs, args.rounds, block=5, warmup=3)
        print(f" {c}->{o} on {side}x{side}:")
        for name in runs:
            print(f"  {name:13s} {seconds[name] * 1e3:7.2f} ms   ({ratio[name]:.2f}x tapegrad)")


if __name__ == "__main__":
    main()

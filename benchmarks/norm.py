"""Normalisation and pooling, forward plus backward: the fused ``normalize`` primitive against the
same normalisation composed of tapegrad's primitives (mean, var, subtract, sqrt, divide), and PyTorch.

Shapes (float32): batch norm in training on (64, 32, 14, 14), layer norm over the last axis of
(1024, 128) (a transformer's batch 16 x sequence 64 x d_model 128), group norm (8 groups) on
(64, 32, 14, 14); and max / average pooling 2x2 on (64, 32, 26, 26), the LeNet step's first pooling.
Each run is the forward pass, a sum of the output times a fixed gradient, and backward.

Run: ``python benchmarks/norm.py [--rounds 15]`` (``TAPEGRAD_BENCH_THREADS=default`` for default threads)
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse

import numpy as np

import tapegrad as tg
from tapegrad.nn import functional as F

from common import compare, torch_or_none


def composed_norm(x, axes, eps):
    """``(x - mean) / sqrt(var + eps)`` from tapegrad's primitives: what the fused primitive replaces."""
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / (x.var(axis=axes, keepdims=True) + eps).sqrt()


def cases(torch):
    r = np.random.default_rng(0)
    bn_x = r.standard_normal((64, 32, 14, 14)).astype(np.float32)
    ln_x = r.standard_normal((1024, 128)).astype(np.float32)
    pool_x = r.standard_normal((64, 32, 26, 26)).astype(np.float32)
    c32, c128 = np.ones(32, np.float32), np.ones(128, np.float32)

    def tapegrad_step(fn, x, *params):
        def run():
            inputs = [tg.tensor(x, requires_grad=True)] + [tg.tensor(p, requires_grad=True) for p in params]
            out = fn(*inputs)
            out.backward(np.ones(out.shape, np.float32))
        return run

    def torch_step(fn, x, *params):
        def run():
            inputs = [torch.tensor(x, requires_grad=True)] + [torch.tensor(p, requires_grad=True) for p in params]
            out = fn(*inputs)
            out.backward(torch.ones_like(out))
        return run

    table = {
        "batch_norm (64,32,14,14)": {
            "fused": tapegrad_step(lambda x, w, b: F.batch_norm(x, None, None, w, b, True), bn_x, c32, c32),
            "composed": tapegrad_step(lambda x, w, b: composed_norm(x, (0, 2, 3), 1e-5) * w.reshape(32, 1, 1)
                                      + b.reshape(32, 1, 1), bn_x, c32, c32)},
        "layer_norm (1024,128)": {
            "fused": tapegrad_step(lambda x, w, b: F.layer_norm(x, 128, w, b), ln_x, c128, c128),
            "composed": tapegrad_step(lambda x, w, b: composed_norm(x, -1, 1e-5) * w + b, ln_x, c128, c128)},
        "group_norm 8 (64,32,14,14)": {
            "fused": tapegrad_step(lambda x, w, b: F.group_norm(x, 8, w, b), bn_x, c32, c32),
            "composed": tapegrad_step(lambda x, w, b: composed_norm(x.reshape(64, 8, -1), 2, 1e-5).reshape(
                x.shape) * w.reshape(32, 1, 1) + b.reshape(32, 1, 1), bn_x, c32, c32)},
        "max_pool2d 2 (64,32,26,26)": {"tapegrad": tapegrad_step(lambda x: F.max_pool2d(x, 2), pool_x)},
        "avg_pool2d 2 (64,32,26,26)": {"tapegrad": tapegrad_step(lambda x: F.avg_pool2d(x, 2), pool_x)},
    }
    if torch is not None:
        TF = torch.nn.functional
        table["batch_norm (64,32,14,14)"]["pytorch"] = torch_step(
            lambda x, w, b: TF.batch_norm(x, None, None, w, b, True), bn_x, c32, c32)
        table["layer_norm (1024,128)"]["pytorch"] = torch_step(
            lambda x, w, b: TF.layer_norm(x, (128,), w, b), ln_x, c128, c128)
        table["group_norm 8 (64,32,14,14)"]["pytorch"] = torch_step(
            lambda x, w, b: TF.group_norm(x, 8, w, b), bn_x, c32, c32)
        table["max_pool2d 2 (64,32,26,26)"]["pytorch"] = torch_step(lambda x: TF.max_pool2d(x, 2), pool_x)
        table["avg_pool2d 2 (64,32,26,26)"]["pytorch"] = torch_step(lambda x: TF.avg_pool2d(x, 2), pool_x)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    torch = torch_or_none()
    print(f"forward + backward, float32: ms per step (median over {args.rounds} rounds), and time relative "
          "to the first column")
    for name, runs in cases(torch).items():
        seconds, ratios = compare(runs, args.rounds, block=3)
        row = "  ".join(f"{lib} {seconds[lib] * 1e3:7.2f} ms ({ratios[lib]:.2f}x)" for lib in runs)
        print(f"  {name:28s} {row}")


if __name__ == "__main__":
    main()

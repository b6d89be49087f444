"""Forward plus backward of the layers that CNNs and transformers are built from, one at a time,
tapegrad against PyTorch eager on the same float32 data, interleaved: a map of where tapegrad stands
layer by layer (the training-step benchmarks show how these combine).

Each case runs ``layer(*inputs)``, then the backward pass of ``sum(output * g)`` for a fixed random
``g``, giving every input's gradient; the two libraries' outputs are checked to agree before timing.

Run: ``python benchmarks/layers.py [--rounds 7] [names ...]`` (``TAPEGRAD_BENCH_THREADS=default`` for the
libraries' own thread counts; one thread each otherwise).
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

import tapegrad as tg
from tapegrad.nn import functional as F

from common import compare, torch_or_none

# name: (input shapes, tapegrad's layer, PyTorch's layer (given torch.nn.functional))
CASES: dict[str, tuple[list[tuple[int, ...]], Callable[..., Any], Callable[..., Callable[..., Any]]]] = {
    "relu (16, 64, 512)": ([(16, 64, 512)], lambda x: x.relu(), lambda TF: TF.relu),
    "gelu (16, 64, 512)": ([(16, 64, 512)], F.gelu, lambda TF: TF.gelu),
    "gelu tanh (16, 64, 512)": ([(16, 64, 512)], lambda x: F.gelu(x, approximate="tanh"),
                                lambda TF: lambda x: TF.gelu(x, approximate="tanh")),
    "silu (16, 64, 512)": ([(16, 64, 512)], F.silu, lambda TF: TF.silu),
    "sigmoid (16, 64, 512)": ([(16, 64, 512)], lambda x: x.sigmoid(), lambda TF: lambda x: x.sigmoid()),
    "softmax (16, 4, 64, 64)": ([(16, 4, 64, 64)], lambda x: x.softmax(-1), lambda TF: lambda x: x.softmax(-1)),
    "layer_norm (16, 64, 128)": ([(16, 64, 128), (128,), (128,)], lambda x, w, b: F.layer_norm(x, (128,), w, b),
                                 lambda TF: lambda x, w, b: TF.layer_norm(x, (128,), w, b)),
    "batch_norm (64, 32, 14, 14)": ([(64, 32, 14, 14), (32,), (32,)],
                                    lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                                    lambda TF: lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True)),
    "group_norm 8 (32, 64, 14, 14)": ([(32, 64, 14, 14), (64,), (64,)], lambda x, w, b: F.group_norm(x, 8, w, b),
                                      lambda TF: lambda x, w, b: TF.group_norm(x, 8, w, b)),
    "linear (1024, 512) -> 512": ([(1024, 512), (512, 512), (512,)], lambda x, w, b: x @ w.T + b,
                                  lambda TF: TF.linear),
    "conv2d 32->64 3x3 stride 2": ([(32, 32, 28, 28), (64, 32, 3, 3)],
                                   lambda x, w: F.conv2d(x, w, stride=2, padding=1),
                                   lambda TF: lambda x, w: TF.conv2d(x, w, stride=2, padding=1)),
    "conv2d depthwise 64 3x3": ([(32, 64, 28, 28), (64, 1, 3, 3)],
                                lambda x, w: F.conv2d(x, w, padding=1, groups=64),
                                lambda TF: lambda x, w: TF.conv2d(x, w, padding=1, groups=64)),
    "conv1d 64->64 k5": ([(32, 64, 200), (64, 64, 5)], lambda x, w: F.conv1d(x, w, padding=2),
                         lambda TF: lambda x, w: TF.conv1d(x, w, padding=2)),
    "conv_transpose2d 64->32 4x4 s2": ([(32, 64, 14, 14), (64, 32, 4, 4)],
                                       lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1),
                                       lambda TF: lambda x, w: TF.conv_transpose2d(x, w, stride=2, padding=1)),
    "max_pool2d 2 (64, 32, 28, 28)": ([(64, 32, 28, 28)], lambda x: F.max_pool2d(x, 2),
                                      lambda TF: lambda x: TF.max_pool2d(x, 2)),
    "max_pool2d 3/2/1 (64, 32, 28, 28)": ([(64, 32, 28, 28)], lambda x: F.max_pool2d(x, 3, 2, 1),
                                          lambda TF: lambda x: TF.max_pool2d(x, 3, 2, 1)),
    "avg_pool2d 2 (64, 32, 28, 28)": ([(64, 32, 28, 28)], lambda x: F.avg_pool2d(x, 2),
                                      lambda TF: lambda x: TF.avg_pool2d(x, 2)),
    "adaptive_avg_pool2d 1 (64, 64, 7, 7)": ([(64, 64, 7, 7)], lambda x: F.adaptive_avg_pool2d(x, 1),
                                             lambda TF: lambda x: TF.adaptive_avg_pool2d(x, 1)),
    "attention causal (16, 4, 64, 32)": ([(16, 4, 64, 32)] * 3,
                                         lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                                         lambda TF: lambda q, k, v: TF.scaled_dot_product_attention(
                                             q, k, v, is_causal=True)),
}


def make_runs(torch, name: str) -> dict[str, Callable[[], None]]:
    shapes, ours, theirs = CASES[name]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    tensors = [tg.tensor(a, requires_grad=True) for a in arrays]
    g = tg.tensor(rng.standard_normal(ours(*tensors).shape).astype(np.float32))

    def tapegrad_run() -> None:
        ours(*tensors).backward(g)
        for t in tensors:
            t.grad = None

    runs = {"tapegrad": tapegrad_run}
    if torch is not None:
        layer = theirs(torch.nn.functional)
        leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
        tg_out = ours(*tensors).numpy()
        np.testing.assert_allclose(layer(*leaves).detach().numpy(), tg_out, rtol=1e-3, atol=1e-4, err_msg=name)
        pg = torch.tensor(g.numpy())

        def torch_run() -> None:
            layer(*leaves).backward(pg)
            for t in leaves:
                t.grad = None

        runs = {"pytorch eager": torch_run, **runs}
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("names", nargs="*", help="cases whose name starts with one of these (default: all)")
    args = parser.parse_args()
    torch = torch_or_none()
    threads = "one thread each" if single_thread.PINNED else "default threads"
    print(f"forward + backward of one layer, float32, {threads}: ms per call, medians over {args.rounds} rounds "
          "of 3 calls; ratio: the median over the rounds of tapegrad / PyTorch")
    for name in CASES:
        if args.names and not any(name.startswith(prefix) for prefix in args.names):
            continue
        runs = make_runs(torch, name)
        seconds, ratio = compare(runs, args.rounds, block=3, warmup=2)
        theirs = f"pytorch {seconds['pytorch eager'] * 1e3:8.3f} ms   " if torch is not None else ""
        mine = f"ratio {ratio['tapegrad']:5.2f}" if torch is not None else ""
        print(f"  {name:38s} tapegrad {seconds['tapegrad'] * 1e3:8.3f} ms   {theirs}{mine}")


if __name__ == "__main__":
    main()

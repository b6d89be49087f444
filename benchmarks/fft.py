"""An rfft-based convolution of two 2^20-sample signals and its gradient: tapegrad, the same written by hand
in NumPy (forward and hand-derived backward: the floor), and PyTorch.

``y = irfft(rfft(a, n) * rfft(b, n), n)[:2N - 1]`` with ``n = 2N`` (the full linear convolution of two
signals of N = 2^20 samples), then the gradient in ``a`` and ``b`` of ``<g, y>`` for a fixed ``g``. tapegrad
runs the NumPy code a user writes (``np.fft.rfft`` on Tensors), PyTorch ``torch.fft``; the hand-written
backward is the correlation ``ga = irfft(rfft(g, n) * conj(rfft(b, n)), n)[:N]`` (and ``gb`` alike), one
rfft of ``g`` and two irffts. Every implementation's result and gradients are checked against the hand
version before timing.

Run: ``cd benchmarks && python fft.py [--rounds 10] [--log2n 20] [--dtype float64]``
(``TAPEGRAD_BENCH_THREADS=default`` for every library's default thread count; otherwise one thread each)
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse

import numpy as np

import tapegrad as tg

from common import compare, torch_or_none


def hand(a, b, g):
    """The convolution and its gradient in a and b, derived by hand."""
    size, n = a.shape[0], 2 * a.shape[0]
    fa, fb = np.fft.rfft(a, n), np.fft.rfft(b, n)
    y = np.fft.irfft(fa * fb, n)[:2 * size - 1]
    fg = np.fft.rfft(g, n)
    ga = np.fft.irfft(fg * np.conj(fb), n)[:size]
    gb = np.fft.irfft(fg * np.conj(fa), n)[:size]
    return y, ga, gb


def convolve(a, b):
    """The convolution, written as NumPy code (it runs on Tensors as well as on arrays)."""
    size, n = a.shape[0], 2 * a.shape[0]
    return np.fft.irfft(np.fft.rfft(a, n) * np.fft.rfft(b, n), n)[:2 * size - 1]


def tapegrad_run(a, b, g):
    def run():
        ta, tb = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
        y = convolve(ta, tb)
        y.backward(g)
        return y.numpy(), ta.grad.numpy(), tb.grad.numpy()
    return run


def torch_run(torch, a, b, g):
    gt = torch.from_numpy(g)

    def run():
        ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        size, n = a.shape[0], 2 * a.shape[0]
        y = torch.fft.irfft(torch.fft.rfft(ta, n) * torch.fft.rfft(tb, n), n)[:2 * size - 1]
        y.backward(gt)
        return y.detach().numpy(), ta.grad.numpy(), tb.grad.numpy()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--log2n", type=int, default=20, help="log2 of each signal's length")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = parser.parse_args()
    r = np.random.default_rng(0)
    size = 2 ** args.log2n
    a, b = (r.standard_normal(size).astype(args.dtype) for _ in range(2))
    g = r.standard_normal(2 * size - 1).astype(args.dtype)
    runs = {"numpy by hand": lambda: hand(a, b, g), "tapegrad": tapegrad_run(a, b, g)}
    torch = torch_or_none()
    if torch is not None:
        runs["pytorch"] = torch_run(torch, a, b, g)

    expected = hand(a, b, g)
    tolerance = 1e-4 if args.dtype == "float32" else 1e-9
    for name, run in runs.items():
        for got, want in zip(run(), expected):
            assert got.dtype == want.dtype, name
            np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance * np.abs(want).max(), err_msg=name)

    seconds, ratios = compare(runs, args.rounds, block=3, warmup=2)
    threads = "one thread each" if single_thread.PINNED else "default threads"
    print(f"rfft convolution of two 2^{args.log2n}-sample signals + gradient ({args.dtype}, {threads}): ms per "
          f"call (median over {args.rounds} rounds), and time relative to NumPy by hand")
    for name in runs:
        print(f"  {name:14s} {seconds[name] * 1e3:8.2f} ms  {ratios[name]:5.2f}x")
    if torch is not None:
        print(f"  tapegrad / pytorch = {ratios['tapegrad'] / ratios['pytorch']:.2f}")


if __name__ == "__main__":
    main()

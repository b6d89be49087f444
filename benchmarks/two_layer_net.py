"""Workload 2: the lectures' two-layer net (N=64, D_in=1000, H=100, D_out=10, float64), ms per step.

One training step (forward, backward, SGD update) in tapegrad, in the lecture's hand-written NumPy,
and in PyTorch eager, measured interleaved so that the machine's noise hits all three alike.

Run: ``python benchmarks/two_layer_net.py [--rounds 40]``
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse
import importlib.util
from pathlib import Path

import numpy as np

import tapegrad as tg

from common import compare, torch_or_none


def _load_lecture():
    path = Path(__file__).resolve().parents[1] / "examples" / "two_layer_net.py"
    spec = importlib.util.spec_from_file_location("lecture_two_layer_net", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lecture = _load_lecture()

N, D_IN, H, D_OUT = 64, 1000, 100, 10
LR = 1e-4


def make_steps(torch):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((N, D_IN)), rng.standard_normal((N, D_OUT))
    w1, w2 = rng.standard_normal((D_IN, H)) * 0.01, rng.standard_normal((H, D_OUT)) * 0.01
    np_w = [w1.copy(), w2.copy()]

    def numpy_step():  # the lecture's hand-written NumPy, shared with examples/two_layer_net.py
        return lecture.numpy_step(x, y, *np_w)

    tx, ty = tg.tensor(x), tg.tensor(y)
    tw1, tw2 = tg.tensor(w1, requires_grad=True), tg.tensor(w2, requires_grad=True)

    def tapegrad_step():
        nonlocal tw1, tw2  # -= on a Tensor updates it in place and rebinds the same object
        loss = (((tx @ tw1).sigmoid() @ tw2 - ty) ** 2).sum()
        loss.backward()
        with tg.no_grad():
            tw1 -= LR * tw1.grad
            tw2 -= LR * tw2.grad
        tw1.grad = tw2.grad = None
        return loss

    compiled_loss = tg.compile(lambda: (((tx @ cw1).sigmoid() @ cw2 - ty) ** 2).sum())
    cw1, cw2 = tg.tensor(w1, requires_grad=True), tg.tensor(w2, requires_grad=True)

    def compiled_step():
        loss = compiled_loss()
        loss.backward()
        cw1.data -= LR * cw1.grad.data  # the arrays themselves, as by hand: NumPy records nothing
        cw2.data -= LR * cw2.grad.data
        cw1.grad = cw2.grad = None
        return loss

    steps = {"numpy by hand": numpy_step, "tapegrad": tapegrad_step, "tapegrad compiled": compiled_step}
    if torch is not None:
        px, py = torch.tensor(x), torch.tensor(y)
        pw1, pw2 = torch.tensor(w1, requires_grad=True), torch.tensor(w2, requires_grad=True)

        def torch_step():
            nonlocal pw1, pw2
            loss = ((torch.sigmoid(px @ pw1) @ pw2 - py) ** 2).sum()
            loss.backward()
            with torch.no_grad():
                pw1 -= LR * pw1.grad
                pw2 -= LR * pw2.grad
            pw1.grad = pw2.grad = None
            return loss

        steps["pytorch eager"] = torch_step
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    steps = make_steps(torch_or_none())
    seconds, ratio = compare(steps, args.rounds, block=50, warmup=10)
    print(f"two-layer net (N={N}, D_in={D_IN}, H={H}, D_out={D_OUT}, float64): ms per training step; "
          f"medians over {args.rounds} rounds of 50 steps")
    for name in steps:
        print(f"  {name:17s} {seconds[name] * 1e3:7.3f} ms   ({ratio[name]:.3f}x numpy by hand)")


if __name__ == "__main__":
    main()

"""The three primitives of a depthwise convolution alone (batch 32, 64 channels, 28x28, 3x3, padding 1,
groups 64, float32): the forward ``conv2d``, the input's gradient ``conv_transpose2d`` and the weight's
``conv2d_weight``, each timed in this thread's CPU time (minimum over the rounds), which the other
programs on the machine disturb less than wall time. Run it with the code before and after a change
(``PYTHONPATH=<old checkout> python benchmarks/depthwise.py``) to compare the paths.

Run: ``python benchmarks/depthwise.py [--rounds 7]``
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse
import time

import numpy as np

from tapegrad.ops import conv

BATCH, CHANNELS, SIDE = 32, 64, 28


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, CHANNELS, SIDE, SIDE)).astype(np.float32)
    w = rng.standard_normal((CHANNELS, 1, 3, 3)).astype(np.float32)
    g = rng.standard_normal((BATCH, CHANNELS, SIDE, SIDE)).astype(np.float32)
    common = {"stride": (1, 1), "dilation": (1, 1), "groups": CHANNELS}
    calls = {
        "forward (conv2d)": lambda: conv.conv2d.forward(x, w, padding=((1, 1), (1, 1)), **common),
        "input's gradient (conv_transpose2d)": lambda: conv.conv_transpose2d.forward(
            g, w, padding=(1, 1), size=(SIDE, SIDE), **common),
        "weight's gradient (conv2d_weight)": lambda: conv.conv2d_weight.forward(
            x, g, padding=(1, 1), size=(3, 3), **common),
    }
    print(f"depthwise conv2d primitives, ({BATCH}, {CHANNELS}, {SIDE}, {SIDE}), 3x3, padding 1, float32, "
          f"one thread: thread time, minimum over {args.rounds} rounds ({conv.__file__})")
    for name, call in calls.items():
        call()
        times = []
        for _ in range(args.rounds):
            start = time.thread_time()
            call()
            times.append(time.thread_time() - start)
        print(f"  {name:36s} {min(times) * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()

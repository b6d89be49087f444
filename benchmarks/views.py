"""Views: indexing, reshaping and transposing a small tensor, per call.

Since issue 11 a view notes which tensor it views, so that an in-place change through either one
gives the other the right history; this measures what that costs, beside NumPy (the same call on the
array) and PyTorch eager. ``y`` is a result of the graph (float64, shape (4, 4)), ``w`` a parameter
(a leaf that requires grad), ``d`` a tensor that requires no grad.

Run: ``python benchmarks/views.py [--rounds 30]``
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse

import numpy as np

import tapegrad as tg

from common import compare, torch_or_none

CALLS = 2000  # per timed run: one call is far below the timer's resolution


def cases(lib, make):
    """Each view call on tensors made by ``make(values, requires_grad)`` of library ``lib``."""
    w = make(np.ones((4, 4)), True)
    y = w * 1.0
    d = make(np.ones((4, 4)), False)
    return {"y[1:3] (a result)": lambda: y[1:3], "w.T (a parameter)": lambda: w.T,
            "d[1:3] (no grad)": lambda: d[1:3], "y.reshape(16)": lambda: y.reshape(16),
            "y[1] (one row)": lambda: y[1], "y.sin() (not a view)": lambda: y.sin() if lib != "numpy" else np.sin(y)}


def repeated(call):
    def run():
        for _ in range(CALLS):
            call()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    libraries = {"numpy": cases("numpy", lambda v, grad: v.copy()),
                 "tapegrad": cases("tapegrad", lambda v, grad: tg.tensor(v, requires_grad=grad))}
    torch = torch_or_none()
    if torch is not None:
        libraries["pytorch eager"] = cases("torch", lambda v, grad: torch.tensor(v, requires_grad=grad))
    print(f"views on a (4, 4) float64 tensor: us per call, medians over {args.rounds} rounds of {CALLS} calls")
    for name in libraries["numpy"]:
        seconds, _ = compare({lib: repeated(calls[name]) for lib, calls in libraries.items()}, args.rounds, block=1)
        row = "  ".join(f"{lib} {seconds[lib] / CALLS * 1e6:5.2f}" for lib in libraries)
        print(f"  {name:22s} {row}")


if __name__ == "__main__":
    main()

"""Workload 4: chains of 10**3 .. 10**6 nodes: per-node cost as the graph grows, and peak memory.

``y = sin(y * a + b) * c`` repeated n/4 times on shape-(1,) float64 tensors, with Python's garbage
collector on (as users run it). Each size runs in a fresh process so that its peak resident memory
(above the process after imports and set-up) can be read.

Run: ``python benchmarks/chain_scaling.py [--max-exponent 6] [--torch]``
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def run_one(framework: str, nodes: int) -> dict:
    import numpy as np

    if framework == "tapegrad":
        import tapegrad as lib

        make = lambda v: lib.tensor(np.array([v]), requires_grad=True)  # noqa: E731
        sin = lambda t: t.sin()  # noqa: E731
    else:
        import torch as lib

        make = lambda v: lib.tensor([v], dtype=lib.float64, requires_grad=True)  # noqa: E731
        sin = lib.sin
    x, a, b, c = make(0.5), make(0.9), make(0.1), make(1.1)

    def chain(length: int) -> tuple[float, float]:
        start = time.perf_counter()
        y = x
        for _ in range(length // 4):
            y = sin(y * a + b) * c
        middle = time.perf_counter()
        y.sum().backward()
        end = time.perf_counter()
        x.grad = a.grad = b.grad = c.grad = None
        return middle - start, end - middle

    chain(1000)  # warm up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    forward, backward = chain(nodes)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Short chains run many times (median), so that their per-node cost is not timer noise.
    runs = [(forward, backward)] + [chain(nodes) for _ in range(max(0, 100_000 // nodes - 1))]
    forwards, backwards = zip(*runs)
    return {"nodes": nodes, "forward_s": statistics.median(forwards), "backward_s": statistics.median(backwards),
            "peak_mb": (peak - before) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-exponent", type=int, default=6)
    parser.add_argument("--torch", action="store_true", help="also run PyTorch eager at every size")
    parser.add_argument("--one", nargs=2, metavar=("FRAMEWORK", "NODES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return
    frameworks = ["tapegrad"] + (["pytorch"] if args.torch else [])
    print("chain of elementwise nodes, shape (1,), float64, garbage collector on; one process per size")
    print(f"  {'framework':10s} {'nodes':>9s} {'forward':>9s} {'backward':>9s} {'us/node':>8s} "
          f"{'fwd us/node':>11s} {'bwd us/node':>11s} {'peak MB':>8s}")
    for framework in frameworks:
        for exponent in range(3, args.max_exponent + 1):
            nodes = 10 ** exponent
            out = subprocess.run([sys.executable, __file__, "--one", framework, str(nodes)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout)
            total = r["forward_s"] + r["backward_s"]
            print(f"  {framework:10s} {nodes:9d} {r['forward_s']:8.3f}s {r['backward_s']:8.3f}s "
                  f"{total / nodes * 1e6:8.2f} {r['forward_s'] / nodes * 1e6:11.2f} "
                  f"{r['backward_s'] / nodes * 1e6:11.2f} {r['peak_mb']:8.1f}")


if __name__ == "__main__":
    main()

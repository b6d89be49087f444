"""The LeNet-style CNN training step of issue 14, tapegrad against PyTorch: batch 64 of 1x28x28 images,
conv 1->32 3x3 (padding 1), ReLU, max-pool 2, conv 32->64 3x3 (padding 1), ReLU, max-pool 2,
linear 3136->128, ReLU,
linear 128->10, softmax cross-entropy, SGD (lr 0.01), float32; the same weights and data in both.

Time: milliseconds per step, interleaved in one run (``common.compare``). Peak memory of a step: each
library in a fresh subprocess, after warm-up steps, as the rise of the process's resident memory
high-water mark over one step (``VmHWM`` in ``/proc/self/status``, reset through ``/proc/self/clear_refs``),
with glibc's allocator told to map blocks of 64 KiB or more on their own and unmap them when freed, so
that PyTorch's allocations, which Python's ``tracemalloc`` cannot see, are counted the same way as NumPy's;
tapegrad's ``tracemalloc`` peak (as ``benchmarks/wide_mlp.py`` measures it) is printed beside it.

Run: ``python benchmarks/lenet.py [--rounds 10]`` (``TAPEGRAD_BENCH_THREADS=default`` for the libraries'
own thread counts; one thread each otherwise).
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse
import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np

import tapegrad as tg
from tapegrad import nn

from common import compare, torch_or_none

BATCH, LR = 64, 0.01


def make_data():
    rng = np.random.default_rng(0)
    return rng.random((BATCH, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, BATCH)


def tapegrad_model():
    tg.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


def torch_model(torch, state):
    t = torch.nn
    model = t.Sequential(t.Conv2d(1, 32, 3, padding=1), t.ReLU(), t.MaxPool2d(2),
                         t.Conv2d(32, 64, 3, padding=1), t.ReLU(), t.MaxPool2d(2),
                         t.Flatten(), t.Linear(3136, 128), t.ReLU(), t.Linear(128, 10))
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    return model


def steps(torch):
    """One training step per library, as closures over their own model, optimizer and data."""
    x, y = make_data()
    ours = tapegrad_model()
    our_optimizer = tg.optim.SGD(ours.parameters(), lr=LR)
    tx = tg.tensor(x)

    def tapegrad_step():
        loss = nn.functional.cross_entropy(ours(tx), y)
        our_optimizer.zero_grad()
        loss.backward()
        our_optimizer.step()
        return loss.item()

    runs = {"tapegrad": tapegrad_step}
    if torch is not None:
        theirs = torch_model(torch, ours.state_dict())
        their_optimizer = torch.optim.SGD(theirs.parameters(), lr=LR)
        px, py = torch.from_numpy(x), torch.from_numpy(y)

        def torch_step():
            loss = torch.nn.functional.cross_entropy(theirs(px), py)
            their_optimizer.zero_grad()
            loss.backward()
            their_optimizer.step()
            return loss.item()

        runs["pytorch eager"] = torch_step
    return runs


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure_memory(name: str) -> None:
    """In this (fresh) process: warm up ``name``'s step, then print JSON with its peak memory over one step."""
    torch = torch_or_none() if name != "tapegrad" else None
    step = steps(torch)[name]
    for _ in range(3):
        step()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current resident size
    base = _status("VmRSS")
    step()
    result = {"rss": _status("VmHWM") - base}
    if name == "tapegrad":
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        step()
        result["tracemalloc"] = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # the subprocess that measures one library
    args = parser.parse_args()
    if args.memory_of:
        measure_memory(args.memory_of)
        return
    torch = torch_or_none()
    runs = steps(torch)
    losses = {name: run() for name, run in runs.items()}
    assert max(losses.values()) - min(losses.values()) < 1e-4, losses  # the same model, the same step
    seconds, ratio = compare(runs, args.rounds, block=3, warmup=2)
    memory = {}
    for name in runs:
        # glibc's allocator set to map every block of 64 KiB or more on its own and to return it when freed,
        # for both libraries: the resident size then follows what is allocated (no reuse of freed heap)
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
        out = subprocess.run([sys.executable, __file__, "--memory-of", name], check=True, capture_output=True,
                             text=True, env=env).stdout
        memory[name] = json.loads(out.strip().splitlines()[-1])
    threads = "one thread each" if single_thread.PINNED else "default threads"
    print(f"LeNet-style training step (batch {BATCH}, 1x28x28, float32, SGD), {threads}; time: medians over "
          f"{args.rounds} rounds of 3 steps; memory: the rise of the resident high-water mark over one step")
    reference = "pytorch eager" if "pytorch eager" in runs else "tapegrad"
    for name in runs:
        line = (f"  {name:14s} {seconds[name] * 1e3:7.2f} ms/step ({ratio[name] / ratio[reference]:.2f}x pytorch)"
                f"   peak {memory[name]['rss'] / 2**20:6.1f} MiB ({memory[name]['rss'] / memory[reference]['rss']:.2f}x"
                " pytorch)")
        if "tracemalloc" in memory[name]:
            line += f", tracemalloc peak {memory[name]['tracemalloc'] / 2**20:.1f} MiB"
        print(line)


if __name__ == "__main__":
    main()

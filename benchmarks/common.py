"""Shared helpers for the benchmarks: medians of repeated timings, and optional PyTorch."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def medians(runs: dict[str, Callable[[], object]], repeats: int, rounds: int = 3, warmup: int = 3) -> dict[str, float]:
    """The median wall time of each ``run()`` over ``rounds * repeats`` calls.

    Each round times every implementation in turn, ``repeats`` calls in a row after ``warmup``
    untimed ones, so a noisy moment of the machine falls on all of them, while each still runs
    with its own data in the caches (as it would in a real training loop).
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            for _ in range(warmup):
                run()
            for _ in range(repeats):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def torch_or_none():
    """PyTorch if installed (``pip install torch==2.13.0``), else None: the benchmark then says so."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch

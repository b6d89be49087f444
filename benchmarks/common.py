"""Shared helpers for the benchmarks: medians of repeated timings, and optional PyTorch."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved_medians(runs: dict[str, Callable[[], object]], repeats: int, warmup: int = 3) -> dict[str, float]:
    """The median wall time of each ``run()``, timed in turn within every repeat so that the
    machine's noise falls on all of them alike."""
    for _ in range(warmup):
        for run in runs.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
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
    return torch

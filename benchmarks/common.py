"""Shared helpers for the benchmarks: medians of repeated timings, and optional PyTorch."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(run: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """The median wall time of ``run()`` over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def torch_or_none():
    """PyTorch if installed (``pip install torch==2.13.0``), else None: the benchmark then says so."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch

"""Shared helpers for the benchmarks: medians of repeated timings, and optional PyTorch."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import single_thread


def compare(runs: dict[str, Callable[[], object]], rounds: int, block: int = 5, warmup: int = 3
            ) -> tuple[dict[str, float], dict[str, float]]:
    """Time each ``run()`` in many short rounds and compare them round by round.

    This machine's speed drifts by up to 2x over seconds, so a single long block per
    implementation compares them at different speeds. Each round runs every implementation
    ``block`` times in a row (in a rotating order, each with its own data warm in the caches);
    the ratio of two implementations is taken within each round, where the drift is shared.

    Returns:
        The median seconds per call of each implementation over all calls, and the median over the
        rounds of each implementation's time relative to the first one in ``runs``.
    """
    names = list(runs)
    for run in runs.values():
        for _ in range(warmup):
            run()
    samples: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(rounds):
        order = names[round_number % len(names):] + names[:round_number % len(names)]
        this_round = {}
        for name in order:
            times = []
            for _ in range(block):
                start = time.perf_counter()
                runs[name]()
                times.append(time.perf_counter() - start)
            samples[name].extend(times)
            this_round[name] = statistics.median(times)
        for name in names:
            ratios[name].append(this_round[name] / this_round[names[0]])
    return ({name: statistics.median(t) for name, t in samples.items()},
            {name: statistics.median(r) for name, r in ratios.items()})


def torch_or_none():
    """PyTorch if installed (``pip install torch==2.13.0``), else None: the benchmark then says so."""
    try:
        import torch
    except ImportError:
        return None
    if single_thread.PINNED:
        torch.set_num_threads(1)
    return torch


def check_same_losses(steps: dict[str, Callable[[], object]], calls: int = 3, rtol: float = 1e-4) -> None:
    """Run each training step ``calls`` times and check that every implementation gives the first one's
    losses (float32 rounding apart): the timed steps compute the same thing.

    Raises:
        AssertionError: naming the implementation whose losses differ.
    """
    import numpy as np

    losses = {name: [float(step()) for _ in range(calls)] for name, step in steps.items()}
    first = next(iter(losses.values()))
    for name, values in losses.items():
        np.testing.assert_allclose(values, first, rtol=rtol, err_msg=name)

"""Averaging gradients through an MPI-3 shared-memory window against MPICH's own ``Allreduce`` (issue 16).

A prototype, not part of tapegrad: would an intra-node averaging that skips MPICH's shared-memory cells
lift the wide MLP's scaling efficiency to 0.9? Every rank of the node allocates its part of one window
(``MPI.Win.Allocate_shared``); to average, each rank sums its slice of every rank's array into its own
array, and after a barrier copies the other slices, scaled by 1/ranks, out of their owners' windows. Three
variants on the same float32 arrays, interleaved in each round, medians printed by rank 0:

- ``window, copied``: the gradient copied into the window first (what DistributedDataParallel would do);
- ``window, in place``: the gradient already in the window (backward writing into window memory);
- ``mpi4py Allreduce``: ``Allreduce(MPI.IN_PLACE, g, MPI.SUM)`` then ``g *= 1/ranks``.

Run: ``OMP_NUM_THREADS=1 mpiexec -n 2 python benchmarks/shared_window.py [--mib 64] [--rounds 12]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from mpi4py import MPI


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64, help="size of the float32 gradient in MiB")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    world = MPI.COMM_WORLD
    node = world.Split_type(MPI.COMM_TYPE_SHARED)
    rank, ranks = node.Get_rank(), node.Get_size()
    count = args.mib * 1024 * 1024 // 4
    window = MPI.Win.Allocate_shared(count * 4, 4, comm=node)
    arrays = [np.frombuffer(window.Shared_query(owner)[0], dtype=np.float32, count=count) for owner in range(ranks)]
    mine = arrays[rank]
    bounds = [count * part // ranks for part in range(ranks + 1)]

    def synchronize() -> None:
        window.Sync()
        node.Barrier()
        window.Sync()

    def window_mean(gradient: np.ndarray, copy_in: bool) -> None:
        if copy_in:
            np.copyto(mine, gradient)
        synchronize()
        low, high = bounds[rank], bounds[rank + 1]
        for owner in range(ranks):
            if owner != rank:
                np.add(mine[low:high], arrays[owner][low:high], out=mine[low:high])
        synchronize()
        for owner in range(ranks):
            low, high = bounds[owner], bounds[owner + 1]
            np.multiply(arrays[owner][low:high], np.float32(1 / ranks), out=gradient[low:high])
        synchronize()  # no rank overwrites its window before the others have read it

    def mpi_mean(gradient: np.ndarray) -> None:
        world.Allreduce(MPI.IN_PLACE, gradient, MPI.SUM)
        gradient *= np.float32(1 / ranks)

    original = np.random.default_rng(rank).standard_normal(count).astype(np.float32)
    expected = sum(np.random.default_rng(r).standard_normal(count).astype(np.float32) for r in range(ranks)) / ranks
    window.Lock_all()
    gradient = original.copy()
    window_mean(gradient, copy_in=True)
    np.testing.assert_allclose(gradient, expected, rtol=1e-6, atol=1e-6)
    variants = {"window, copied": lambda g: window_mean(g, True), "window, in place": lambda g: window_mean(g, False),
                "mpi4py Allreduce": mpi_mean}
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            np.copyto(gradient, original)
            world.Barrier()
            start = time.perf_counter()
            variants[name](gradient)
            times[name].append(time.perf_counter() - start)
    window.Unlock_all()
    if rank == 0:
        floor = statistics.median(times["mpi4py Allreduce"])
        print(f"averaging {args.mib} MiB of float32 over {ranks} ranks of one node; medians over {args.rounds} rounds")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:18s} {median * 1e3:8.2f} ms   ({median / floor:.2f}x mpi4py)")
    window.Free()


if __name__ == "__main__":
    main()

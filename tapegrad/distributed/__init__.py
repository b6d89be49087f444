"""Data-parallel training over MPI (issue 16): the world of processes and its collectives.

``tg.distributed.rank()``, ``world_size()``, ``all_reduce(x, op)``, ``broadcast(x, root)``,
``all_gather(x)`` and ``barrier()`` over mpi4py's ``COMM_WORLD`` in a process started by ``mpiexec``
(the ``tapegrad[mpi]`` extra); elsewhere a world of one, and MPI is never imported.
``tg.nn.parallel.DistributedDataParallel`` and ``tg.data.DistributedSampler`` build on it.
"""

from __future__ import annotations

from .collectives import (
                          OPS,
                          DistributedError,
                          abort,
                          all_gather,
                          all_reduce,
                          barrier,
                          broadcast,
                          init,
                          is_initialized,
                          launched,
                          rank,
                          world_size,
)

__all__ = ["init", "is_initialized", "rank", "world_size", "all_reduce", "broadcast", "all_gather", "barrier",
           "abort", "launched", "DistributedError", "OPS"]

"""The world of processes and the collectives over it, through MPI (mpi4py).

A process started by an MPI launcher (``mpiexec``, ``mpirun``, ``srun``) finds its rank and the world's
size here; any other process is a world of one, and then nothing imports MPI. The collectives work on
the memory of the arrays they are given (``Allreduce`` with ``MPI.IN_PLACE`` on a C-contiguous buffer:
no copy), and before each one the ranks compare a 16-byte digest of what they pass (collective, shape,
dtype, operation, root) in one small collective, so that ranks that pass different arrays get an
error naming each rank's shape and dtype instead of a silently wrong sum.
"""

from __future__ import annotations

import hashlib
import os
import sys
import traceback
from typing import Any

import numpy as np

from ..engine import bump
from ..errors import ArgumentError, DTypeError, ShapeError, TapegradError
from ..ops.shape import shown
from ..tensor import Tensor

__all__ = ["init", "is_initialized", "rank", "world_size", "all_reduce", "broadcast", "all_gather", "barrier",
           "abort", "launched", "DistributedError", "OPS"]

#: The reductions of :func:`all_reduce`.
OPS = ("sum", "mean", "max", "min")
# Environment variables that MPI launchers set in the processes they start: MPICH's and Intel MPI's Hydra
# and PMI-2 (Slurm's srun --mpi=pmi2), PMIx (Open MPI 5, srun --mpi=pmix), Open MPI, MVAPICH.
_LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "PMI_FD", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_KINDS = {"sum": "iufc", "mean": "fc", "max": "iuf", "min": "iuf"}  # the dtype kinds each op reduces
_DETAILS = {op: f"op={op}" for op in OPS}
# (op, dtype) pairs all_reduce takes straight to MPI (native byte order)
_FAST = {(op, np.dtype(t)) for op in OPS for t in (np.float16, np.float32, np.float64, np.complex64, np.complex128,
                                                  np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                                                  np.uint32, np.uint64) if np.dtype(t).kind in _KINDS[op]}


class DistributedError(TapegradError, RuntimeError):
    """A world of processes that cannot be set up (started by ``mpiexec`` without mpi4py installed)."""


class _World:
    def __init__(self) -> None:
        self.comm: Any = None  # an MPI communicator, or None in a world of one
        self.mpi: Any = None  # the mpi4py.MPI module
        self.rank, self.size = 0, 1
        self.check = np.zeros(2, dtype=np.int64)  # the digest check's buffer, reused
        self.ops: dict[str, Any] = {}  # all_reduce's op names -> MPI's ops
        self.digests: dict[tuple, int] = {}  # (collective, dtype, shape, option) -> its digest, computed once


_world: _World | None = None


def launched() -> bool:
    """Whether an MPI launcher started this process (it set one of PMI_SIZE, PMI_RANK, PMI_FD,
    PMIX_RANK, OMPI_COMM_WORLD_SIZE, MV2_COMM_WORLD_SIZE; ``TAPEGRAD_MPI=1`` says so for a launcher
    that sets none of them, ``TAPEGRAD_MPI=0`` says not)."""
    forced = os.environ.get("TAPEGRAD_MPI")
    if forced in ("0", "1"):
        return forced == "1"
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def init(abort_on_exception: bool = True) -> None:
    """Join the world of processes: MPI's ``COMM_WORLD`` (a duplicate of it, so that tapegrad's messages
    never mix with the program's own MPI calls) when an MPI launcher started this process, else a world
    of one without importing MPI. Calling it again does nothing; every function of this module calls it
    when the world is needed, so an explicit call only chooses when.

    Args:
        abort_on_exception: in a world of more than one, an exception that ends the program on one rank
            prints that rank's traceback (prefixed by ``rank R of N``) and aborts every rank
            (``MPI_Abort``) instead of leaving the others waiting in their next collective.

    Raises:
        DistributedError: if a launcher started this process but mpi4py cannot be imported.
    """
    global _world
    if _world is not None:
        return
    world = _World()
    if launched():
        try:
            from mpi4py import MPI
        except ImportError as exc:
            size = os.environ.get("PMI_SIZE") or os.environ.get("OMPI_COMM_WORLD_SIZE") or "several"
            raise DistributedError(
                f"tg.distributed.init: this process was started by an MPI launcher ({size} processes) but mpi4py "
                f"cannot be imported ({exc}); install it: pip install \"tapegrad[mpi]\" (or, on a cluster, mpi4py "
                "built against the site's MPI), or run without mpiexec for one process") from None
        world.mpi, world.comm = MPI, MPI.COMM_WORLD.Dup()
        world.ops = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
        world.rank, world.size = world.comm.Get_rank(), world.comm.Get_size()
        if abort_on_exception and world.size > 1:
            _install_abort_hook(world)
    _world = world


def is_initialized() -> bool:
    """Whether :func:`init` has run (explicitly or through another function of this module)."""
    return _world is not None


def _get() -> _World:
    if _world is None:
        init()
    assert _world is not None
    return _world


def rank() -> int:
    """This process's number in the world, from 0 (0 in a world of one)."""
    return _get().rank


def world_size() -> int:
    """The number of processes in the world (1 without an MPI launcher)."""
    return _get().size


def barrier() -> None:
    """Wait until every rank has called ``barrier()``."""
    world = _get()
    if world.comm is not None:
        world.comm.Barrier()


def abort(exit_code: int = 1) -> None:
    """End every rank of the job now (``MPI_Abort``) with ``exit_code``; in a world of one, exit this
    process. Flushes stdout and stderr first, so what this rank printed is not lost."""
    world = _get()
    sys.stdout.flush()
    sys.stderr.flush()
    if world.comm is not None and world.size > 1:
        world.comm.Abort(exit_code)
    raise SystemExit(exit_code)


def _install_abort_hook(world: _World) -> None:
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, trace: Any) -> None:
        if issubclass(kind, KeyboardInterrupt):  # mpiexec passes Ctrl-C to every rank
            previous(kind, value, trace)
            return
        text = "".join(traceback.format_exception(kind, value, trace))
        sys.stderr.write("".join(f"rank {world.rank} of {world.size}: {line}\n" for line in text.splitlines()))
        sys.stderr.flush()
        sys.stdout.flush()
        world.comm.Abort(1)

    sys.excepthook = hook


# -- the collectives --------------------------------------------------------------------------------

def _array(x: Any, name: str, writable: bool) -> np.ndarray:
    if isinstance(x, Tensor):
        array = x.data
    elif isinstance(x, np.ndarray):
        array = x
    else:
        raise ArgumentError(f"tg.distributed.{name}: expected a NumPy array or a Tensor, got {shown(x)}")
    if writable and not array.flags.writeable:
        raise ArgumentError(f"tg.distributed.{name}: the array (shape {array.shape}, {array.dtype}) is read-only; "
                            "the collective writes its result into it")
    if not array.dtype.isnative or array.dtype.hasobject or array.dtype.kind not in "biufcV":
        raise DTypeError(f"tg.distributed.{name}: cannot send an array of dtype {array.dtype}")
    return array


def _agree(world: _World, name: str, array: np.ndarray, detail: str = "") -> None:
    """Check that every rank passes the same collective, shape, dtype and option (``detail``): one
    Allreduce of a digest and its negation with MAX (equal everywhere iff max == -max(-digest)); on a
    mismatch every rank learns every rank's arguments and raises the same error."""
    key = (name, array.dtype, array.shape, detail)
    digest = world.digests.get(key)
    if digest is None:
        signature = f"{name}|{array.dtype.str}|{array.shape}|{detail}".encode()
        digest = int.from_bytes(hashlib.blake2b(signature, digest_size=8).digest(), "little", signed=True) >> 1
        if len(world.digests) < 4096:
            world.digests[key] = digest
    check = world.check
    check[0], check[1] = digest, -digest
    world.comm.Allreduce(world.mpi.IN_PLACE, check, op=world.mpi.MAX)
    if check[0] == -check[1]:
        return
    passed = world.comm.allgather((name, array.shape, str(array.dtype), detail))
    listing = "; ".join(f"rank {r}: {what} of shape {shape} {dtype}{', ' + extra if extra else ''}"
                        for r, (what, shape, dtype, extra) in enumerate(passed))
    kinds = {p[0] for p in passed}
    message = (f"tg.distributed.{name}: the ranks passed different arrays or options ({listing}); every rank "
               "must call the same collective with the same shape, dtype and options")
    if len(kinds) > 1:
        raise ArgumentError(f"tg.distributed.{name}: the ranks called different collectives ({listing}); every "
                            "rank must call the same collectives in the same order")
    if len({p[1] for p in passed}) > 1:
        raise ShapeError(message)
    if len({p[2] for p in passed}) > 1:
        raise DTypeError(message)
    raise ArgumentError(message)


def _contiguous(array: np.ndarray) -> np.ndarray:
    # A collective needs one block of memory: a view with gaps goes through a contiguous copy.
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def _mark_changed(x: Any, operation: str) -> None:
    if isinstance(x, Tensor):
        bump(x.data, operation)  # a graph that saved this tensor's old values then refuses to use them


def all_reduce(x: Any, op: str = "sum", check: bool = True) -> Any:
    """Combine ``x`` over the ranks, elementwise, into ``x`` itself on every rank: the ``"sum"``, the
    ``"mean"`` (the sum divided by the world's size), the ``"max"`` or the ``"min"``.

    ``x`` is a NumPy array or a Tensor (its ``.data`` is changed in place, as an optimizer step does); a
    C-contiguous array is reduced in its own memory (``MPI.IN_PLACE``), any other goes through a
    contiguous copy. In a world of one, ``x`` is left as it is.

    Args:
        x: the array or Tensor, of the same shape and dtype on every rank.
        op: ``"sum"``, ``"mean"``, ``"max"`` or ``"min"``.
        check: compare the ranks' shapes, dtypes and ``op`` first (one 16-byte collective). A caller
            that has checked its arrays' layout once, as ``DistributedDataParallel`` does, may skip it.

    Returns:
        ``x``, holding the result.

    Raises:
        ArgumentError: for an ``op`` not in :data:`OPS`, a read-only array, or ranks that passed different
            ops or called different collectives.
        ShapeError: if the ranks passed arrays of different shapes (raised on every rank).
        DTypeError: for a dtype the operation cannot reduce (bool; integers for ``"mean"``; complex for
            ``"max"``/``"min"``), or ranks that passed different dtypes.
    """
    world = _world
    if type(x) is np.ndarray and world is not None and world.comm is not None:  # the fast path: ~0.3 us
        flags = x.flags
        try:
            fast = flags.c_contiguous and flags.writeable and (op, x.dtype) in _FAST
        except TypeError:  # an unhashable op
            fast = False
        if fast:
            if check:
                _agree(world, "all_reduce", x, _DETAILS[op])
            if x.size:
                world.comm.Allreduce(world.mpi.IN_PLACE, x, world.ops[op])
                if op == "mean":
                    np.divide(x, world.size, out=x)
            return x
    array = _array(x, "all_reduce", writable=True)
    kinds = _KINDS.get(op) if isinstance(op, str) else None
    if kinds is None:
        raise ArgumentError(f"tg.distributed.all_reduce: op={shown(op)}; expected one of {', '.join(OPS)}")
    if array.dtype.kind not in kinds:
        need = {"mean": "a floating or complex", "sum": "a numeric (not bool)", "max": "a real (not bool, not complex)",
                "min": "a real (not bool, not complex)"}[op]
        raise DTypeError(f"tg.distributed.all_reduce: op={op!r} needs {need} dtype, got {array.dtype} "
                         f"(shape {array.shape})")
    world = _world if _world is not None else _get()
    if world.comm is None:
        return x
    if check:
        _agree(world, "all_reduce", array, _DETAILS[op])
    if array.size:
        buffer = array if array.flags.c_contiguous else np.ascontiguousarray(array)
        world.comm.Allreduce(world.mpi.IN_PLACE, buffer, world.ops[op])
        if op == "mean":
            np.divide(buffer, world.size, out=buffer)
        if buffer is not array:
            array[...] = buffer
        if x is not array:
            _mark_changed(x, "tg.distributed.all_reduce")
    return x


def broadcast(x: Any, root: int = 0, check: bool = True) -> Any:
    """Copy rank ``root``'s ``x`` into ``x`` on every other rank, in place (see :func:`all_reduce` for
    arrays, Tensors and ``check``).

    Returns:
        ``x``, holding rank ``root``'s values.

    Raises:
        ArgumentError: for a ``root`` that is not a rank, a read-only array, or ranks that passed different
            roots.
        ShapeError, DTypeError: if the ranks passed arrays of different shapes or dtypes.
    """
    array = _array(x, "broadcast", writable=True)
    world = _get()
    if not isinstance(root, (int, np.integer)) or isinstance(root, bool) or not 0 <= root < world.size:
        raise ArgumentError(f"tg.distributed.broadcast: root={shown(root)}; expected a rank from 0 to "
                            f"{world.size - 1}")
    if world.comm is None:
        return x
    if check:
        _agree(world, "broadcast", array, f"root={int(root)}")
    if array.size:
        buffer = _contiguous(array)
        world.comm.Bcast(buffer.reshape(-1).view(np.uint8), root=int(root))  # bytes: any dtype travels
        if buffer is not array:
            array[...] = buffer
        if world.rank != root:
            _mark_changed(x, "tg.distributed.broadcast")
    return x


def all_gather(x: Any, check: bool = True) -> list[Any]:
    """Every rank's ``x``, in rank order, on every rank.

    Returns:
        A list of ``world_size()`` arrays (Tensors if ``x`` is a Tensor) of ``x``'s shape and dtype, views
        of one new ``(world_size(), *x.shape)`` array filled by one ``Allgather``; in a world of one, a
        list holding a copy of ``x``.

    Raises:
        ShapeError, DTypeError: if the ranks passed arrays of different shapes or dtypes.
    """
    array = _array(x, "all_gather", writable=False)
    world = _get()
    gathered = np.empty((world.size, *array.shape), dtype=array.dtype)
    if world.comm is None:
        gathered[0] = array
    else:
        if check:
            _agree(world, "all_gather", array)
        if array.size:
            world.comm.Allgather(_contiguous(array).reshape(-1).view(np.uint8),
                                 gathered.reshape(world.size, -1).view(np.uint8))
    parts = list(gathered)
    return [Tensor(part) for part in parts] if isinstance(x, Tensor) else parts


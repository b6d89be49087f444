"""The world of processes and the collectives over it, through MPI (mpi4py).

A process started by an MPI launcher (``mpiexec``, ``mpirun``, ``srun``) finds its rank and the world's
size here; any other process is a world of one, and then nothing imports MPI. The collectives work on
the memory of the arrays they are given (``Allreduce`` with ``MPI.IN_PLACE`` on a C-contiguous buffer:
no copy of a large array).

How the ranks check that they pass the same arguments. Each checked collective starts with one
all-reduce (the "check message") whose size every rank knows without asking: a header of 16 bytes per
rank, where rank ``r`` writes a digest of what it passes (collective, shape, dtype, op, root) in its own
16 bytes and the op's identity in the others', so that after the all-reduce every rank holds every
rank's digest and compares them with its own. ``all_reduce`` sends its array in the same message, after
the header, in the array's dtype and op, when it fits the message's capacity; a larger array follows
(in place, or its rest beyond the capacity) only once every rank has found every digest equal. The
capacity (see _SMALL) follows the sizes of the recent checked ``all_reduce`` calls, which every rank
has seen alike (they passed the check), so a loop that reduces the same small array sends one message
of its size. Ranks that pass different shapes, dtypes, ops or collectives therefore never start MPI
collectives of different sizes (MPICH ends the job on those, "Message truncated", or hangs): the
digests differ, or arrive garbled when the ranks reduced different dtypes or ops, and every rank raises
the same error listing every rank's arguments.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import traceback
from collections.abc import Callable
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
# (op, dtype) pairs all_reduce takes straight to MPI (native byte order), with the bits of a digest that
# one element of the dtype holds exactly (a float's mantissa, a positive integer below the largest; a
# complex number's real part)
_BITS = {np.dtype(t): bits for t, bits in ((np.float16, 10), (np.float32, 23), (np.float64, 52), (np.complex64, 23),
                                           (np.complex128, 52), (np.int8, 6), (np.int16, 14), (np.int32, 30),
                                           (np.int64, 62), (np.uint8, 6), (np.uint16, 14), (np.uint32, 30),
                                           (np.uint64, 62))}
_FAST = {(op, dtype) for op in OPS for dtype in _BITS if dtype.kind in _KINDS[op]}
_REGION = 16  # bytes of the check message's header per rank
# How much of all_reduce's array travels in the check message (the "capacity"). An all-reduce of 4 KiB
# costs little more than one of 16 bytes between two processes here (latency-bound), so the capacity
# grows to hold up to 4 KiB as soon as a call needs it, and shrinks to what the calls need only after
# _SHRINK calls in a row that needed less. Up to 64 KiB, copying the array in and out of the message
# costs less than a second message (BENCHMARKS.md, "all_reduce against mpi4py"), but a small call that
# meets a message of 64 KiB pays for it: the capacity grows past 4 KiB only after _RUN calls in a row
# that needed more, and drops back to 4 KiB at the first call that needs no more. An array larger than
# 64 KiB needs none: the header alone goes first, then the array in place.
_SMALL, _LARGE = 4096, 65536
_SHRINK, _RUN = 16, 4
_CACHED = 4096  # the most digests and plans kept per world


class DistributedError(TapegradError, RuntimeError):
    """A world of processes that cannot be set up (started by ``mpiexec`` without mpi4py installed)."""


class _World:
    def __init__(self) -> None:
        self.comm: Any = None  # an MPI communicator, or None in a world of one
        self.mpi: Any = None  # the mpi4py.MPI module
        self.rank, self.size = 0, 1
        self.ops: dict[str, Any] = {}  # all_reduce's op names -> MPI's ops
        self.digests: dict[tuple, int] = {}  # (collective, dtype, shape, option) -> its digest, computed once
        # (op, dtype, shape) -> the function that reduces such an array, with (plans) or without (unchecked)
        # the check
        self.plans, self.unchecked = _PLANS, _UNCHECKED
        self.headers: dict[tuple, tuple[bytes, bytes]] = {}  # (digest, dtype, op) -> (what to send, to expect)
        self.scratch: dict[np.dtype, np.ndarray] = {}  # dtype -> the check message's buffer, at its largest
        self.messages: dict[tuple, list] = {}  # (dtype, bytes of data) -> the message mpi4py sends
        # The check message: a header of `header` bytes, then `capacity` bytes of data (-1: never any, in a
        # world whose MPI could split a mixed-dtype message unevenly). `small`, `large`: the capacities that
        # hold _SMALL and _LARGE bytes. `steady` is `capacity` while a call that needs exactly `capacity`
        # changes nothing, else -1. `smaller`, `smaller_needed`: the calls in a row that needed less than a
        # small capacity, and the most that they needed; `run`, `run_needed`: the same for calls that needed
        # more than `small`. Every rank holds the same values.
        self.header = self.unit = 0
        self.small = self.large = self.capacity = self.steady = -1
        self.smaller = self.smaller_needed = self.run = self.run_needed = 0

    def set_up(self) -> None:
        """Size the check message: a header of 16 bytes per rank, then data, in a multiple of ``unit`` bytes,
        so that MPI splits it (among the ranks, or a power of two of them) into parts of the same number of
        bytes for every dtype; in a world where that multiple is too large, the header alone, in int64."""
        self.header = _REGION * self.size
        largest_power = 1 << (self.size.bit_length() - 1)
        self.unit = _REGION * math.lcm(self.size, largest_power)
        small = -(-(self.header + _SMALL) // self.unit) * self.unit - self.header
        if small + self.header <= 2 * (self.header + _SMALL):
            self.small = self.capacity = self.steady = small
            self.large = max(small, -(-(self.header + _LARGE) // self.unit) * self.unit - self.header)

    def needed(self, nbytes: int) -> int:
        """The capacity this world gives an array of ``nbytes``: the smallest that holds it, up to ``large``;
        none for a larger array (the header alone costs less than carrying part of it: a message of 4 KiB
        takes 40% longer than one of 16 bytes here)."""
        needed = -(-(self.header + nbytes) // self.unit) * self.unit - self.header
        return needed if needed <= self.large else 0

    def sent(self, needed: int) -> None:
        """Follow a checked all_reduce whose array needed ``needed`` bytes of capacity (on every rank alike;
        see _SMALL)."""
        if needed > self.small:
            if needed > self.capacity:
                self.run += 1
                self.run_needed = max(self.run_needed, needed)
                if self.run >= _RUN:
                    self.capacity = self.run_needed
                    self.run = self.run_needed = self.smaller = self.smaller_needed = 0
        else:
            self.run = self.run_needed = 0
            if self.capacity > self.small:
                self.capacity = self.small
            if needed >= self.capacity:
                self.capacity = needed
                self.smaller = self.smaller_needed = 0
            else:
                self.smaller += 1
                self.smaller_needed = max(self.smaller_needed, needed)
                if self.smaller >= _SHRINK:
                    self.capacity = self.smaller_needed
                    self.smaller = self.smaller_needed = 0
        quiet = self.capacity > self.small or not (self.smaller or self.run)
        self.steady = self.capacity if quiet else -1

    def forget(self) -> None:
        """Back to the first check message, on every rank after the same failed check."""
        self.capacity = self.steady = self.small
        self.smaller = self.smaller_needed = self.run = self.run_needed = 0
        for buffer in self.scratch.values():
            buffer[...] = 0  # the other ranks' bytes, garbled if they reduced another dtype or op

    def buffer(self, dtype: np.dtype) -> np.ndarray:
        """The check message's buffer in ``dtype``, large enough for the largest message."""
        found = self.scratch.get(dtype)
        if found is None:
            found = self.scratch[dtype] = np.zeros((self.header + max(self.large, 0)) // dtype.itemsize, dtype)
        return found

    def message(self, dtype: np.dtype, capacity: int) -> list:
        """The check message of ``capacity`` bytes of data in ``dtype``, as mpi4py sends it."""
        found = self.messages.get((dtype, capacity))
        if found is None:
            count = (self.header + max(capacity, 0)) // dtype.itemsize
            found = [self.mpi.buffer(self.buffer(dtype)[:count]), self.mpi.Datatype.fromcode(dtype.char)]
            self.messages[dtype, capacity] = found
        return found

    def identities(self, digest: int, dtype: np.dtype, op: str) -> tuple[bytes, bytes]:
        """What this rank writes in the check message's header (its digest in its own 16 bytes, the op's
        identity in the others') and what the header holds after the all-reduce if every rank sent the
        same digest."""
        key = (digest, dtype, op)
        found = self.headers.get(key)
        if found is None:
            per_rank, bits = _REGION // dtype.itemsize, _BITS[dtype]
            mine = np.array([((digest >> (bits * i)) & ((1 << bits) - 1)) + 1 for i in range(per_rank)]).astype(dtype)
            identity: Any = 0
            if op == "max":
                identity = -np.inf if dtype.kind == "f" else np.iinfo(dtype).min
            elif op == "min":
                identity = np.inf if dtype.kind == "f" else np.iinfo(dtype).max
            sent = np.full(per_rank * self.size, identity, dtype=dtype)
            sent[self.rank * per_rank:(self.rank + 1) * per_rank] = mine
            found = (sent.tobytes(), np.tile(mine, self.size).tobytes())
            if len(self.headers) >= _CACHED:
                self.headers.clear()
            self.headers[key] = found
        return found


_world: _World | None = None
# The world's plans (see _plan), here for all_reduce to find them with the fewest steps; empty in a world
# of one, which has none.
_PLANS: dict[tuple, Callable[[np.ndarray], None]] = {}
_UNCHECKED: dict[tuple, Callable[[np.ndarray], None]] = {}
_LAST: tuple = (None,) * 5  # (op, check, dtype, shape, plan) of the last array all_reduce found a plan for


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
            (``MPI_Abort``) instead of leaving the others waiting in their next collective. It covers what
            happens after this call; call ``init()`` first in a script (``tapegrad train --distributed``
            does), or run it as ``python -m mpi4py script.py``, whose runner aborts the job on an exception
            raised even before tapegrad is imported.

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
        world.set_up()
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


def barrier(check: bool = True) -> None:
    """Wait until every rank has called ``barrier()``.

    With the check, the wait is the check message itself (an all-reduce ends on no rank before every rank
    has joined it), so a rank that meets another rank's ``all_reduce``, ``broadcast`` or ``all_gather``
    instead gets the error that lists what every rank called rather than waiting for ever.

    Raises:
        ArgumentError: if the ranks called different collectives (raised on every rank).
    """
    world = _get()
    if world.comm is None:
        return
    if check:
        _agree(world, "barrier", _NOTHING)
    else:
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
    """Make an exception that ends the program on this rank print its traceback (``rank R of N: ...``) and
    abort every rank, instead of leaving the others waiting in their next collective."""
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


def _digest(world: _World, name: str, array: np.ndarray, detail: str) -> int:
    """A 128-bit digest of what this rank passes to a collective (computed once per signature)."""
    key = (name, array.dtype, array.shape, detail)
    digest = world.digests.get(key)
    if digest is None:
        signature = f"{name}|{array.dtype.str}|{array.shape}|{detail}".encode()
        digest = int.from_bytes(hashlib.blake2b(signature, digest_size=16).digest(), "little")
        if len(world.digests) >= _CACHED:
            world.digests.clear()
        world.digests[key] = digest
    return digest


_INT64 = np.dtype(np.int64)
_NOTHING = np.zeros(0, np.uint8)  # what barrier() passes to the check


def _agree(world: _World, name: str, array: np.ndarray, detail: str = "") -> None:
    """Check that every rank passes the same collective, shape, dtype and option (``detail``): the check
    message without data, in int64 (for the collectives that send their data apart); on a mismatch every
    rank learns every rank's arguments and raises the same error."""
    buffer = world.buffer(_INT64)
    sent, expected = world.identities(_digest(world, name, array, detail), _INT64, "sum")
    memoryview(buffer.view(np.uint8))[:len(sent)] = sent
    world.comm.Allreduce(world.mpi.IN_PLACE, world.message(_INT64, world.capacity), world.mpi.SUM)
    if buffer[:len(sent) // 8].tobytes() != expected:
        _mismatch(world, name, array, detail)
    if world.small >= 0:
        world.sent(0)  # it carried no data: a run of such calls shrinks the message to the header


def _mismatch(world: _World, name: str, array: np.ndarray, detail: str) -> None:
    """Raise, on every rank (each one calls this after the same check message), the error that lists what
    every rank passed."""
    world.forget()
    passed = world.comm.allgather((name, array.shape, str(array.dtype), detail))
    listing = "; ".join(f"rank {r}: {what}" + ("" if what == "barrier" else
                                               f" of shape {shape} {dtype}{', ' + extra if extra else ''}")
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
    if len(set(passed)) == 1:  # equal arguments, yet the digests differed: the MPI library garbled them
        raise DistributedError(f"tg.distributed.{name}: the ranks passed the same arguments ({listing}) but the "
                               "check message arrived changed; the MPI library does not deliver what was sent")
    raise ArgumentError(message)


def _read_only(array: np.ndarray) -> ArgumentError:
    return ArgumentError(f"tg.distributed.all_reduce: the array (shape {array.shape}, {array.dtype}) is read-only; "
                         "the collective writes its result into it")


def _plan(world: _World, op: Any, array: np.ndarray, check: bool) -> Callable[[np.ndarray], None] | None:
    """The function that all-reduces an array of ``array``'s dtype and shape with ``op`` (with or without the
    check), built once per signature; None for what the general path must take (an op or dtype it does not
    know). A plan raises BufferError, before any message, for an array it cannot send in place (not
    C-contiguous, read-only) when it would have to: the general path then copies it."""
    dtype, shape = array.dtype, array.shape
    if (op, dtype) not in _FAST:
        return None
    mpi = world.mpi
    allreduce, in_place, mpi_op = world.comm.Allreduce, mpi.IN_PLACE, world.ops[op]
    mpi_type = mpi.Datatype.fromcode(dtype.char)
    mean, divisor, count, itemsize = op == "mean", dtype.type(world.size), math.prod(shape), dtype.itemsize
    detail = _DETAILS[op]

    def send(x: np.ndarray) -> None:  # the array alone, in place
        if count:
            allreduce(in_place, [x, mpi_type], mpi_op)
            if mean:
                np.divide(x, divisor, out=x)

    def contiguous(x: np.ndarray) -> None:
        flags = x.flags
        if not (flags.c_contiguous and flags.writeable):
            raise BufferError

    if not check:
        if len(shape) < 2:
            plan = send  # mpi4py itself refuses a strided or read-only vector (BufferError)
        else:
            def plan(x: np.ndarray) -> None:
                if not x.flags.c_contiguous:  # mpi4py would take Fortran order: elements out of step
                    raise BufferError
                send(x)
    elif world.small < 0:
        def plan(x: np.ndarray) -> None:
            contiguous(x)
            _agree(world, "all_reduce", x, detail)
            send(x)
    else:
        buffer = world.buffer(dtype)
        sent, expected = world.identities(_digest(world, "all_reduce", array, detail), dtype, op)
        header = memoryview(buffer.view(np.uint8))[:len(sent)]
        received = buffer[:len(sent) // itemsize]
        start = received.size
        nbytes = count * itemsize
        needed = world.needed(nbytes)
        exact = world.message(dtype, needed)

        def check_message(message: list, x: np.ndarray) -> None:  # x, not array: a plan keeps no array alive
            header[:] = sent
            allreduce(in_place, message, mpi_op)
            if received.tobytes() != expected:
                _mismatch(world, "all_reduce", x, detail)

        def split(x: np.ndarray, carried: int, message: list) -> None:
            # the header and the array's first `carried` elements, then the rest once every rank agreed
            if not carried:
                check_message(message, x)
                world.sent(needed)
                send(x)
                return
            flat = x.reshape(-1)
            head, data = flat[:carried], buffer[start:start + carried]
            data[...] = head
            check_message(message, x)
            world.sent(needed)
            allreduce(in_place, [flat[carried:], mpi_type], mpi_op)
            head[...] = data
            if mean:
                np.divide(flat, divisor, out=flat)

        def adapt(x: np.ndarray) -> None:  # the check message's capacity is not the one this array needs
            carried = max(world.capacity, 0) // itemsize
            message = world.message(dtype, world.capacity)
            if carried < count:
                contiguous(x)
                split(x, carried, message)
                return
            whole[...] = x
            check_message(message, x)
            world.sent(needed)
            copy_out(x)

        def copy_out(x: np.ndarray) -> None:
            try:
                if mean:
                    np.divide(whole, divisor, out=x)
                else:
                    x[...] = whole
            except ValueError:  # read-only: the collective is over on every rank, only this one raises
                raise _read_only(x) from None

        if nbytes <= world.large:  # the whole array can travel in the check message
            whole = buffer[start:start + count].reshape(shape)

            def plan(x: np.ndarray) -> None:
                if world.steady != needed:
                    adapt(x)
                    return
                whole[...] = x
                header[:] = sent
                allreduce(in_place, exact, mpi_op)
                if received.tobytes() != expected:
                    _mismatch(world, "all_reduce", x, detail)
                try:
                    if mean:
                        np.divide(whole, divisor, out=x)
                    else:
                        x[...] = whole
                except ValueError:
                    raise _read_only(x) from None
        else:
            whole = None
            first = needed // itemsize

            def plan(x: np.ndarray) -> None:
                contiguous(x)
                if world.steady != needed:
                    adapt(x)
                else:
                    split(x, first, exact)

    plans = world.plans if check else world.unchecked
    if len(plans) >= _CACHED:
        plans.clear()
    plans[op, dtype, shape] = plan
    return plan


def _contiguous(array: np.ndarray) -> np.ndarray:
    # A collective needs one block of memory: a view with gaps goes through a contiguous copy.
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def _mark_changed(x: Any, operation: str) -> None:
    if isinstance(x, Tensor):
        bump(x.data, operation)  # a graph that saved this tensor's old values then refuses to use them


def all_reduce(x: Any, op: str = "sum", check: bool = True) -> Any:
    """Combine ``x`` over the ranks, elementwise, into ``x`` itself on every rank: the ``"sum"``, the
    ``"mean"`` (the sum divided by the world's size), the ``"max"`` or the ``"min"``.

    ``x`` is a NumPy array or a Tensor (its ``.data`` is changed in place, as an optimizer step does). With
    the check, an array of up to 64 KiB travels in the check's message (copied in and out: one message in
    all once the recent calls have sized it; see the module's text), a larger C-contiguous one is reduced
    in its own memory (``MPI.IN_PLACE``) after the check; any other goes through a contiguous copy. In a
    world of one, ``x`` is left as it is.

    Args:
        x: the array or Tensor, of the same shape and dtype on every rank.
        op: ``"sum"``, ``"mean"``, ``"max"`` or ``"min"``.
        check: compare the ranks' shapes, dtypes and ``op`` (a digest of them in a header before the data).
            A caller that has checked its arrays' layout once, as ``DistributedDataParallel`` does, may
            skip it; then ``x`` (C-contiguous) is reduced in its own memory in one message.

    Returns:
        ``x``, holding the result.

    Raises:
        ArgumentError: for an ``op`` not in :data:`OPS`, a read-only array (one that travels in the check's
            message: after the collective, which the other ranks complete), or ranks that passed different
            ops or called different collectives.
        ShapeError: if the ranks passed arrays of different shapes (raised on every rank).
        DTypeError: for a dtype the operation cannot reduce (bool; integers for ``"mean"``; complex for
            ``"max"``/``"min"``), or ranks that passed different dtypes.
    """
    global _LAST
    last = _LAST  # the signature of the last array, and its plan: a loop finds it again without hashing
    if op is last[0] and check is last[1] and type(x) is np.ndarray and x.dtype is last[2] and x.shape == last[3]:
        try:
            last[4](x)
        except BufferError:
            return _all_reduce(x, op, check)
        return x
    try:  # the plan for this signature, if one was built (only in a world of several processes)
        plan = (_PLANS if check else _UNCHECKED)[op, x.dtype, x.shape]
    except (KeyError, TypeError, AttributeError):  # none yet, an unhashable op, not an array
        return _all_reduce(x, op, check)
    if type(x) is np.ndarray:
        _LAST = (op, check, x.dtype, x.shape, plan)
        try:
            plan(x)
        except BufferError:  # not C-contiguous, or read-only: the general path copies it
            return _all_reduce(x, op, check)
        return x
    if isinstance(x, Tensor) and type(x.data) is np.ndarray:
        try:
            plan(x.data)
        except BufferError:
            return _all_reduce(x, op, check)
        if x.data.size:
            _mark_changed(x, "tg.distributed.all_reduce")
        return x
    return _all_reduce(x, op, check)


def _all_reduce(x: Any, op: Any, check: bool) -> Any:
    array = _array(x, "all_reduce", writable=True)
    kinds = _KINDS.get(op) if isinstance(op, str) else None
    if kinds is None:
        raise ArgumentError(f"tg.distributed.all_reduce: op={shown(op)}; expected one of {', '.join(OPS)}")
    if array.dtype.kind not in kinds:
        need = {"mean": "a floating or complex", "sum": "a numeric (not bool)", "max": "a real (not bool, not complex)",
                "min": "a real (not bool, not complex)"}[op]
        raise DTypeError(f"tg.distributed.all_reduce: op={op!r} needs {need} dtype, got {array.dtype} "
                         f"(shape {array.shape})")
    world = _get()
    if world.comm is None:
        return x
    buffer = _contiguous(array)
    plan = (world.plans if check else world.unchecked).get((op, buffer.dtype, buffer.shape))
    plan = plan or _plan(world, op, buffer, check)
    if plan is not None:
        plan(buffer)
    else:  # a dtype without a plan (long double): the check message, then the array
        if check:
            _agree(world, "all_reduce", buffer, _DETAILS[op])
        if buffer.size:
            world.comm.Allreduce(world.mpi.IN_PLACE, buffer, world.ops[op])
            if op == "mean":
                np.divide(buffer, world.size, out=buffer)
    if buffer is not array:
        array[...] = buffer
    if x is not array and array.size:
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


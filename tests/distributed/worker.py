"""What each rank runs under ``mpiexec`` in tests/distributed/test_mpi.py: ``python worker.py NAME OUT``.

Each rank writes what it saw to ``OUT/NAME-<rank>.npz`` (arrays) and ``OUT/NAME-<rank>.json`` (errors and
flags); the test reads every rank's files. Not collected by pytest (no ``test_`` functions).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn.parallel import DistributedDataParallel

dist = tg.distributed


def _error(call) -> str:
    try:
        call()
    except tg.TapegradError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "no error"


def collectives(out: Path) -> None:
    rank, size = dist.rank(), dist.world_size()
    arrays, notes = {}, {"rank": rank, "size": size, "initialized": dist.is_initialized()}
    for op in dist.OPS:
        for dtype in (np.float32, np.float64, np.int64):
            if op == "mean" and dtype is np.int64:
                continue
            x = (np.arange(12).reshape(3, 4) * (rank + 1) - 3 * rank).astype(dtype)
            address = x.__array_interface__["data"][0]
            assert dist.all_reduce(x, op) is x
            notes[f"same_memory_{op}_{np.dtype(dtype).name}"] = x.__array_interface__["data"][0] == address
            arrays[f"{op}_{np.dtype(dtype).name}"] = x
    t = tg.tensor(np.full(5, rank + 1.0, dtype=np.float32))
    arrays["tensor_sum"] = dist.all_reduce(t, "sum").data
    strided = (np.arange(24.0).reshape(4, 6) * (rank + 1))[:, ::2]
    dist.all_reduce(strided, "sum")
    arrays["strided_sum"] = strided
    b = np.full((2, 3), rank, dtype=np.float16)
    arrays["broadcast_root2"] = dist.broadcast(b, root=2)
    arrays["gather"] = np.stack(dist.all_gather(np.array([rank, rank * 10], dtype=np.int32)))
    arrays["empty"] = dist.all_reduce(np.zeros((0, 3)), "sum")
    notes["shape_error"] = _error(lambda: dist.all_reduce(np.zeros(3 + rank, np.float32)))
    notes["dtype_error"] = _error(lambda: dist.all_reduce(np.zeros(3, np.float32 if rank else np.float64)))
    notes["op_error"] = _error(lambda: dist.all_reduce(np.zeros(3), "max" if rank == 1 else "sum"))
    notes["kind_error"] = _error(lambda: dist.all_reduce(np.zeros(3)) if rank else dist.broadcast(np.zeros(3)))
    notes["root_error"] = _error(lambda: dist.broadcast(np.zeros(2), root=rank % 2))
    notes["barrier_error"] = _error(lambda: dist.barrier() if rank else dist.all_reduce(np.zeros(3)))
    dist.barrier()
    notes["after_errors"] = int(dist.all_reduce(np.ones(1), "sum")[0])  # the world still works
    _save(out, "collectives", rank, arrays, notes)


class _Net(nn.Module):
    """Linear, batch norm, ReLU, Linear, and a parameter added to the input (its gradient is the same array
    backward hands the input: averaging it in place must not change the input's gradient)."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = nn.Parameter(np.zeros(6))
        self.body = nn.Sequential(nn.Linear(6, 40), nn.BatchNorm1d(40), nn.ReLU(), nn.Linear(40, 3))

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        return self.body(x + self.shift)


def ddp(out: Path) -> None:
    rank, size = dist.rank(), dist.world_size()
    tg.set_default_dtype(np.float64)
    tg.manual_seed(10 + rank)  # different weights on every rank: wrapping copies rank 0's
    model = _Net()
    model.body[1].running_mean[...] = float(rank)
    handed = {}  # the memory backward hands body.0.weight's gradient in (a hook registered before DDP's)

    def note(grad: tg.Tensor) -> None:
        handed.setdefault("address", grad.data.__array_interface__["data"][0])

    model.body[0].weight.register_hook(note)
    wrapped = DistributedDataParallel(model, bucket_cap_mb=0.001)  # several buckets, and a bucket of one
    notes = {"keys": list(wrapped.state_dict()), "buckets": [len(b.parameters) for b in wrapped._buckets]}
    arrays = {f"wrapped.{k}": v for k, v in model.state_dict().items()}
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 6)), rng.integers(0, 3, 10)
    start, stop = (0, 7) if rank == 0 else (7, 10)  # uneven shards, weighted by their sizes
    loss_fn = nn.functional.cross_entropy
    model.eval()  # batch statistics would differ by shard; the running ones are rank 0's on every rank

    inputs = tg.Tensor(x[start:stop], requires_grad=True)
    (loss_fn(wrapped(inputs), tg.Tensor(y[start:stop])) * ((stop - start) * size / 10)).backward()
    for name, p in model.named_parameters():
        arrays[f"grad.{name}"] = p.grad.data.copy()
    # a bucket of one (body.0.weight, 1,920 bytes) is averaged in the gradient's own memory: no copy
    notes["zero_copy"] = handed["address"] == model.body[0].weight.grad.data.__array_interface__["data"][0]
    arrays["input_grad"] = inputs.grad.data
    # the full batch on this rank alone, from the same (rank 0's) weights
    reference = _Net()
    reference.load_state_dict(model.state_dict())
    reference.eval()
    loss_fn(reference(tg.Tensor(x)), tg.Tensor(y)).backward()
    for name, p in reference.named_parameters():
        arrays[f"full.{name}"] = p.grad.data
    local = _Net()
    local.load_state_dict(model.state_dict())
    local.eval()
    local_inputs = tg.Tensor(x[start:stop], requires_grad=True)
    (loss_fn(local(local_inputs), tg.Tensor(y[start:stop])) * ((stop - start) * size / 10)).backward()
    arrays["local_input_grad"] = local_inputs.grad.data

    # gradient accumulation: one half under no_sync (stays local), the other synced: the average of the sums
    model.zero_grad()
    middle = (start + stop) // 2
    with wrapped.no_sync():
        loss_fn(wrapped(tg.Tensor(x[start:middle])), tg.Tensor(y[start:middle])).backward()
    arrays["no_sync_local"] = model.body[0].weight.grad.data.copy()
    loss_fn(wrapped(tg.Tensor(x[middle:stop])), tg.Tensor(y[middle:stop])).backward()
    arrays["accumulated"] = model.body[0].weight.grad.data.copy()
    for name, rows in (("half0", slice(start, middle)), ("half1", slice(middle, stop))):
        local.zero_grad()
        loss_fn(local(tg.Tensor(x[rows])), tg.Tensor(y[rows])).backward()
        arrays[f"local_{name}"] = local.body[0].weight.grad.data.copy()

    # training: SGD steps in train mode (batch norm buffers from rank 0 at each forward)
    model.train()
    optimizer = tg.optim.SGD(wrapped.parameters(), lr=0.1, momentum=0.9)
    for step in range(5):
        rows = np.random.default_rng(step).integers(0, 10, 6)
        mine = rows[rank::size]
        optimizer.zero_grad()
        loss_fn(wrapped(tg.Tensor(x[mine])), tg.Tensor(y[mine])).backward()
        optimizer.step()
    # the buffers are each rank's own until the next forward copies rank 0's (PyTorch's behaviour)
    model.eval()
    with tg.no_grad():
        wrapped(tg.Tensor(x[:2]))
    for name, value in model.state_dict().items():
        arrays[f"trained.{name}"] = value

    # a parameter that gets no gradient: the next forward says so
    extra = _Net()
    extra.unused = nn.Parameter(np.zeros(2))
    unused = DistributedDataParallel(extra)
    loss_fn(unused(tg.Tensor(x[:4])), tg.Tensor(y[:4])).backward()
    notes["unused_error"] = _error(lambda: unused(tg.Tensor(x[:4])))
    # ranks that wrap different models
    notes["model_error"] = _error(lambda: DistributedDataParallel(nn.Linear(3, 2 + rank)))
    # buffers that are views with gaps (a slice, a transpose): each forward copies rank 0's into them too
    gappy = nn.Linear(2, 2)
    gappy.register_buffer("sliced", tg.Tensor(np.zeros((3, 4))[:, :2]))
    gappy.register_buffer("transposed", tg.Tensor(np.zeros((2, 3)).T))
    wrapped_gappy = DistributedDataParallel(gappy)
    gappy.sliced.data[...], gappy.transposed.data[...] = rank + 1.0, rank + 2.0
    wrapped_gappy(tg.Tensor(np.ones((1, 2))))
    arrays["gappy.sliced"], arrays["gappy.transposed"] = gappy.sliced.data, gappy.transposed.data
    _save(out, "ddp", rank, arrays, notes)


# -- all_reduce's check message (tests/distributed/test_mpi.py: test_all_reduce_*) ------------------------------

DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64",
          "complex64", "complex128")
KINDS = {"sum": "iufc", "mean": "fc", "max": "iuf", "min": "iuf"}
UNCHECKED = ("float16", "float32", "int64")  # also reduced with check=False


def _key(name: str, op: str, count: int, check: bool) -> str:
    return f"{name}_{op}_{count}_{'checked' if check else 'unchecked'}"


def _inputs(dtype: np.dtype, op: str, count: int, rank: int) -> np.ndarray:
    """Small whole numbers (sums and means exact in every dtype), with the dtype's extremes (and infinities)
    for max and min: values equal to the op's identity in the check message's header must not matter."""
    rng = np.random.default_rng([rank, count, dtype.num, len(op)])
    if dtype.kind == "u":
        x = rng.integers(0, 60, count)
    else:
        x = rng.integers(-30, 30, count)
    x = x.astype(dtype)
    if dtype.kind == "c":
        x += 1j * rng.integers(-30, 30, count).astype(dtype)
    if op in ("max", "min") and count >= 2:
        low, high = (np.iinfo(dtype).min, np.iinfo(dtype).max) if dtype.kind in "iu" else (-np.inf, np.inf)
        x[rank % count] = low
        x[(rank + 1) % count] = high
    return x


def _counts(dtype: np.dtype) -> list[int]:
    """Both sides of each threshold: a scalar, a few elements, 4 KiB (the check message's usual capacity)
    and one element more, 64 KiB (the most it carries) and one more, and 300 KB (the rest in place)."""
    size = dtype.itemsize
    counts = [1, 5, 4096 // size, 4096 // size + 1, 65536 // size, 65536 // size + 1]
    if dtype.name in ("float32", "complex128"):
        counts.append(300_000 // size)
    return counts


def _checked_results(arrays: dict, notes: dict, rank: int) -> None:
    world = dist.collectives._world
    for name in DTYPES:
        dtype = np.dtype(name)
        for op in dist.OPS:
            if dtype.kind not in KINDS[op]:
                continue
            for count in _counts(dtype):
                for check in (True, False) if name in UNCHECKED else (True,):
                    x = _inputs(dtype, op, count, rank)
                    address = x.__array_interface__["data"][0]
                    assert dist.all_reduce(x, op, check=check) is x
                    assert x.__array_interface__["data"][0] == address
                    arrays[_key(name, op, count, check)] = x
    # 0-d, empty, strided and Fortran-ordered arrays, on both sides of 4 KiB
    for shape in ((), (0,), (0, 3)):
        x = np.full(shape, rank + 1.5)
        arrays[f"shape_{len(shape)}_{x.size}"] = dist.all_reduce(x, "mean")
    for rows in (3, 3000):
        base = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4) * (rank + 1)
        strided = base[:, ::2]
        dist.all_reduce(strided, "sum")
        arrays[f"strided_{rows}"] = strided
        fortran = np.asfortranarray(np.arange(rows * 4, dtype=np.float32).reshape(rows, 4) * (rank + 1))
        dist.all_reduce(fortran, "max", check=False)
        arrays[f"fortran_{rows}"] = fortran
    # a run of 8 KiB calls: the check message grows to carry them whole after a few; the results stay right
    capacities = []
    for step in range(8):
        x = np.arange(2048, dtype=np.float32) * (rank + 1) + step
        dist.all_reduce(x)
        arrays[f"run_{step}"] = x
        capacities.append(world.capacity)
    notes["capacities"] = capacities
    for _ in range(20):  # back to small arrays: the message shrinks to their size
        dist.all_reduce(np.ones(3))
    notes["small_capacity"] = world.capacity
    for _ in range(20):  # checks that carry no data: the message shrinks to the header
        dist.broadcast(np.ones(3))
    notes["capacity_after_broadcasts"] = world.capacity
    # a Tensor: its data reduced in place, its version bumped (a graph that saved it refuses to reuse it)
    t = tg.tensor(np.full(4, rank + 1.0), requires_grad=True)
    saved = (t * t).sum()
    dist.all_reduce(t, "sum")
    arrays["tensor"] = t.data
    notes["tensor_version_error"] = _error(lambda: saved.backward())


def _mismatches(notes: dict, rank: int) -> None:
    """Pairs of calls that differ between the two ranks; every rank must raise, and the world must go on."""
    def pick(mine, theirs):
        return mine if rank == 0 else theirs

    def run_of_8kib():
        for _ in range(5):
            dist.all_reduce(np.ones(2048, np.float32))

    cases = {
        "shape_small": lambda: dist.all_reduce(np.ones(pick(5, 6), np.float32)),
        "dtype_small": lambda: dist.all_reduce(np.ones(5, pick(np.float32, np.float64))),
        "dtype_int8_complex128": lambda: dist.all_reduce(np.ones(5, pick(np.int8, np.complex128))),
        "dtype_float16_int64": lambda: dist.all_reduce(np.ones(7, pick(np.float16, np.int64))),
        "dtype_uint8_float32": lambda: dist.all_reduce(np.ones(64, pick(np.uint8, np.float32))),
        "op_sum_max": lambda: dist.all_reduce(np.ones(5, np.float32), pick("sum", "max")),
        "op_max_min": lambda: dist.all_reduce(np.ones(5, np.int32), pick("max", "min")),
        "op_sum_mean": lambda: dist.all_reduce(np.ones(5), pick("sum", "mean")),
        "op_dtype": lambda: dist.all_reduce(np.ones(5, pick(np.int8, np.float64)), pick("max", "sum")),
        "scalar_vector": lambda: dist.all_reduce(pick(np.ones(()), np.ones(1))),
        "empty_small": lambda: dist.all_reduce(np.ones(pick(0, 3))),
        "small_large": lambda: dist.all_reduce(np.ones(pick(1000, 100_000), np.float32)),
        "large_large": lambda: dist.all_reduce(np.ones(pick(100_000, 100_001), np.float32)),
        "large_dtype": lambda: dist.all_reduce(np.ones(100_000, pick(np.float32, np.float64))),
        "after_growth": lambda: (run_of_8kib(), dist.all_reduce(np.ones(pick(2048, 256), np.float32))),
        "reduce_broadcast": lambda: dist.all_reduce(np.ones(5)) if rank else dist.broadcast(np.ones(5)),
        "large_gather": lambda: dist.all_reduce(np.ones(100_000)) if rank else dist.all_gather(np.ones(100_000)),
        "gather_broadcast": lambda: dist.all_gather(np.ones(3)) if rank else dist.broadcast(np.ones(3)),
    }
    for name, case in cases.items():
        notes[f"mismatch_{name}"] = _error(case)
        notes[f"after_{name}"] = int(dist.all_reduce(np.ones(1), "sum")[0])  # the world still works
    world = dist.collectives._world
    notes["capacity_after_mismatches"] = world.capacity
    # read-only on every rank: up to 4 KiB after the message (which completes everywhere), beyond before it
    for count in (5, 100_000):
        x = np.ones(count)
        x.flags.writeable = False
        notes[f"read_only_{count}"] = _error(lambda: dist.all_reduce(x))
        notes[f"after_read_only_{count}"] = int(dist.all_reduce(np.ones(1), "sum")[0])


def checks(out: Path) -> None:
    rank = dist.rank()
    arrays, notes = {}, {"rank": rank}
    if len(sys.argv) > 3 and sys.argv[3] == "header-only":  # a world whose check message carries no data
        dist.init()
        world = dist.collectives._world
        world.small = world.large = world.capacity = world.steady = -1
    _checked_results(arrays, notes, rank)
    _mismatches(notes, rank)
    notes["kept_alive"] = _arrays_kept_alive()
    _save(out, "checks", rank, arrays, notes)


def _arrays_kept_alive() -> list[int]:
    """Sizes (in float32 elements) of arrays that a checked all_reduce still holds once their owner let go:
    the plans cached per signature must keep none (in the message, beside it, larger than the message)."""
    import gc
    import weakref

    kept = []
    for count in (5, 1024, 20000, 100000):
        references = []
        for _ in range(6):  # the first call builds the signature's plan; enough calls for the message to grow
            array = np.ones(count, np.float32)
            dist.all_reduce(array, "sum")
            references.append(weakref.ref(array))
        del array
        gc.collect()
        if any(reference() is not None for reference in references):
            kept.append(count)
    return kept


def _save(out: Path, name: str, rank: int, arrays: dict, notes: dict) -> None:
    np.savez(out / f"{name}-{rank}.npz", **arrays)
    (out / f"{name}-{rank}.json").write_text(json.dumps(notes))


if __name__ == "__main__":
    {"collectives": collectives, "ddp": ddp, "checks": checks}[sys.argv[1]](Path(sys.argv[2]))

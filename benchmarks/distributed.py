"""Data-parallel training over MPI (issue 16): scaling from 1 to 2 ranks, all_reduce against mpi4py and gloo,
whether overlapping the gradients' messages with backward can pay here, and a paper model past one machine.

1. Training throughput, 1 rank against 2 ranks (``mpiexec -n 2``), one BLAS thread per rank: the wide MLP
   (float32, batch 64 per rank, 4096-4096-10, ReLU, softmax cross-entropy, SGD; and with batch 256 per rank,
   to see the messages' share shrink) and the CNN of
   ``tapegrad train --model cnn --hidden 128`` on 28x28 images (conv 1->32 and 32->64 with batch norm,
   linear 3136->128->10; batch 64 per rank, SGD). Samples per second and the scaling efficiency
   (2-rank throughput / twice the 1-rank one); runs alternate 1, 2, 1, 2, ... and the medians are kept.
2. ``tg.distributed.all_reduce`` (with its per-call check of the ranks' shapes, and without) against
   mpi4py's own ``Allreduce(MPI.IN_PLACE, ...)`` on the same buffers, and ``torch.distributed.all_reduce``
   with gloo on the same 2 processes (over the loopback address), float32 sums of 1 KB to 64 MB; the four
   interleaved in each round (each one first in turn), medians over the rounds, and the ratio to mpi4py
   taken within each round ("paired", its median: the machine's load falls on the four of a round alike).
3. Overlap: a 64 MB ``Iallreduce`` started before a matmul of backward's size and waited for after it,
   against the two one after the other, with and without MPICH's progress thread.
4. What chose ``all_reduce``'s check message (``--skip`` all but ``design``): an all-reduce's cost against
   its size, an array sent whole in the check message against the header first and the array in place,
   and the steps of a checked call of 1 KiB one at a time.
5. A paper model of step time against ranks: ring all-reduce ``2 (p-1)/p x bytes / bandwidth`` plus
   ``2 (p-1)`` message latencies, from the measured 1-rank step times, for 2 to 256 ranks on 10 and
   100 Gbit/s networks.

Run: ``python benchmarks/distributed.py [--steps 10] [--repeats 3]`` (needs the ``mpi`` extra; the figures
go to BENCHMARKS.md). The script starts ``mpiexec`` itself; under ``mpiexec`` it runs one part
(``distributed.py worker train|allreduce|overlap|design``).
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import tapegrad as tg
from tapegrad import nn
from tapegrad.cli import ConvNet

HERE = Path(__file__).resolve()
BATCH = 64
SIZES = [2**10 * 4**k for k in range(9)]  # 1 KB ... 64 MB
GLOO_PORT = 29517


# -- the parts that run under mpiexec -----------------------------------------------------------------

BATCHES = {"mlp": BATCH, "mlp256": 4 * BATCH, "cnn": BATCH}  # per rank


def _model(kind: str) -> tuple[nn.Module, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(tg.distributed.rank())
    tg.manual_seed(0)
    batch = BATCHES[kind]
    if kind.startswith("mlp"):
        model = nn.Sequential(nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 10))
        x = rng.standard_normal((batch, 4096), dtype=np.float32)
    else:
        model = ConvNet(28, [32, 64], [128], 10)
        x = rng.random((batch, 28 * 28), dtype=np.float32)
    return model, x, rng.integers(0, 10, batch)


def worker_train(kind: str, steps: int) -> dict:
    dist = tg.distributed
    model, x, y = _model(kind)
    stepped = nn.parallel.DistributedDataParallel(model) if dist.world_size() > 1 else model
    optimizer = tg.optim.SGD(model.parameters(), lr=0.01)
    features, labels = tg.Tensor(x), tg.Tensor(y)
    communication = []
    if stepped is not model:
        average = stepped._average

        def timed() -> None:
            began = time.perf_counter()
            average()
            communication.append(time.perf_counter() - began)

        stepped._average = timed

    def step() -> None:
        loss = nn.functional.cross_entropy(stepped(features), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    communication.clear()
    dist.barrier()
    times, cpu = [], []
    for _ in range(steps):
        began, began_cpu = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    gradient_bytes = sum(p.data.nbytes for p in model.parameters())
    return {"step": statistics.median(times), "cpu": statistics.median(cpu),
            "communication": statistics.median(communication) if communication else 0.0, "bytes": gradient_bytes}


def worker_allreduce(rounds: int) -> dict:
    from mpi4py import MPI

    import torch
    import torch.distributed as torch_dist

    dist = tg.distributed
    torch.set_num_threads(1)
    torch_dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{GLOO_PORT}", rank=dist.rank(),
                                  world_size=dist.world_size())
    comm = MPI.COMM_WORLD
    results = {}
    for size in SIZES:
        buffer = np.ones(size // 4, dtype=np.float32)
        tensor = torch.from_numpy(buffer.copy())
        runs = {  # mpi4py first: the paired ratios are to it
            "mpi4py": lambda: comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM),
            "tapegrad": lambda: dist.all_reduce(buffer, "sum"),
            "tapegrad, check=False": lambda: dist.all_reduce(buffer, "sum", check=False),
            "gloo": lambda: torch_dist.all_reduce(tensor),
        }

        def reset() -> None:
            buffer[...] = 1.0  # sums of ones grow: keep the values small and finite
            tensor.fill_(1.0)

        calls = max(1, min(200, (4 * 2**20) // size))  # about 4 MB moved per timed block
        timed = _paired(runs, rounds, calls, reset)
        results[size] = {name: figures["median"] for name, figures in timed.items()}
        for name in ("tapegrad", "tapegrad, check=False"):  # the ratio within each round, then its median
            results[size][f"{name} / mpi4py, paired"] = timed[name]["paired"]
    torch_dist.destroy_process_group()
    return results


def worker_overlap(rounds: int) -> dict:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    gradient = np.ones(16 * 2**20, dtype=np.float32)  # 64 MB: the wide MLP's first weight
    a = np.ones((4096, BATCH), dtype=np.float32)
    b = np.ones((BATCH, 4096), dtype=np.float32)

    def compute() -> None:
        np.matmul(a, b)  # a weight gradient's product, as backward computes it

    def reduce() -> None:
        comm.Allreduce(MPI.IN_PLACE, gradient, op=MPI.SUM)

    def overlapped() -> None:
        request = comm.Iallreduce(MPI.IN_PLACE, gradient, op=MPI.SUM)
        compute()
        request.Wait()

    samples: dict[str, list[float]] = {"compute": [], "all_reduce": [], "overlapped": []}
    for _ in range(rounds):
        for name, run in (("compute", compute), ("all_reduce", reduce), ("overlapped", overlapped)):
            comm.Barrier()
            began = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - began)
            gradient[...] = 1.0
    return {name: statistics.median(values) for name, values in samples.items()}


def _paired(runs: dict, rounds: int, calls: int, reset=None) -> dict:
    """Each run's median seconds per call and its median ratio to the first run within a round (the runs
    interleaved, each one first in turn)."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    names = list(runs)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            run = runs[name]
            run()
            comm.Barrier()
            began = time.perf_counter()
            for _ in range(calls):
                run()
            samples[name].append((time.perf_counter() - began) / calls)
            if reset is not None:
                reset()
    first = samples[names[0]]
    return {name: {"median": statistics.median(values),
                   "paired": statistics.median(a / b for a, b in zip(values, first))}
            for name, values in samples.items()}


def worker_design(rounds: int) -> dict:
    """What chose all_reduce's check message (tapegrad/distributed/collectives.py): the cost of an all-reduce
    against its size; an array sent whole in the check message (copied in and out) against the header alone
    first and the array in place after; and the steps of a checked call of 1 KiB, one added at a time."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD.Dup()
    in_place, total, single = MPI.IN_PLACE, MPI.SUM, MPI.FLOAT
    header = 16 * comm.Get_size()
    result: dict = {}
    sizes = [1024, 16, 256, 2048, 4096, 8192, 16384]
    buffers = {size: np.ones(size // 4, np.float32) for size in sizes}
    result["latency"] = _paired({str(size): (lambda b=buffers[size]: comm.Allreduce(in_place, b, total))
                                 for size in sizes}, rounds * 3, 20)
    heads = np.zeros(header // 4, np.float32)
    head_message, template = [MPI.buffer(heads), single], bytes(header)
    head_bytes = memoryview(heads.view(np.uint8))
    result["whole"] = {}
    for size in (8192, 16384, 32768, 65536, 131072, 262144):
        x = np.ones(size // 4, np.float32)
        message = np.zeros((header + size) // 4, np.float32)
        whole, message_bytes = message[header // 4:], memoryview(message.view(np.uint8))[:header]
        sent = [MPI.buffer(message), single]

        def header_first(x=x) -> None:
            head_bytes[:] = template
            comm.Allreduce(in_place, head_message, total)
            heads.tobytes()
            comm.Allreduce(in_place, [x, single], total)

        def copied(x=x, whole=whole, message_bytes=message_bytes, sent=sent, message=message) -> None:
            whole[...] = x
            message_bytes[:] = template
            comm.Allreduce(in_place, sent, total)
            message[:header // 4].tobytes()
            x[...] = whole

        result["whole"][str(size)] = _paired(
            {"mpi4py": lambda x=x: comm.Allreduce(in_place, x, total), "header first": header_first,
             "whole, copied": copied}, rounds, 10, reset=lambda x=x: x.fill(1.0))
    # the steps of a checked all_reduce of 1 KiB, as the plan takes them
    dist = tg.distributed
    x = np.ones(256, np.float32)
    for _ in range(40):
        dist.all_reduce(x)
    world = dist.collectives._world
    plan = world.plans["sum", x.dtype, x.shape]
    message = world.message(x.dtype, world.needed(x.nbytes))
    buffer = world.buffer(x.dtype)
    whole = buffer[world.header // 4:world.header // 4 + x.size]
    head = memoryview(buffer.view(np.uint8))[:world.header]
    template, received, reduce = bytes(head), buffer[:world.header // 4], world.comm.Allreduce
    steps = {
        "mpi4py": lambda: comm.Allreduce(in_place, x, total),
        "the check message alone": lambda: reduce(in_place, message, total),
        "+ copy in": lambda: (whole.__setitem__(Ellipsis, x), reduce(in_place, message, total)),
        "+ header": lambda: (whole.__setitem__(Ellipsis, x), head.__setitem__(slice(None), template),
                             reduce(in_place, message, total)),
        "+ compare": lambda: (whole.__setitem__(Ellipsis, x), head.__setitem__(slice(None), template),
                              reduce(in_place, message, total), received.tobytes()),
        "+ copy out": lambda: (whole.__setitem__(Ellipsis, x), head.__setitem__(slice(None), template),
                               reduce(in_place, message, total), received.tobytes(), x.__setitem__(Ellipsis, whole)),
        "the plan": lambda: plan(x),
        "all_reduce": lambda: dist.all_reduce(x),
    }
    result["steps"] = _paired(steps, rounds * 2, 20, reset=lambda: x.fill(1.0))
    return result


# -- the driver ---------------------------------------------------------------------------------------

def _mpiexec() -> str:
    beside = Path(sys.executable).with_name("mpiexec")
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        sys.exit('benchmarks/distributed.py: no mpiexec; pip install -e ".[mpi]"')
    return found


def _busy() -> float:
    """The share of the machine's CPU time spent by anyone over the next half second (from /proc/stat)."""
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    total, idle = sample()
    time.sleep(0.5)
    total2, idle2 = sample()
    return 1 - (idle2 - idle) / max(1, total2 - total)


def _wait_for_quiet(limit: float = 300.0) -> None:
    """Wait (up to ``limit`` seconds) until other programs leave the cores idle: this machine is shared,
    and two ranks need both of its cores."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and (_busy() > 0.1 or _busy() > 0.1):
        time.sleep(2)


QUIET_WAIT = [120.0]  # --quiet-wait


def _launch(ranks: int, *arguments: str, environment: dict | None = None) -> dict:
    if Path("/proc/stat").exists():
        _wait_for_quiet(QUIET_WAIT[0])
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           **(environment or {})}
    done = subprocess.run([_mpiexec(), "-n", str(ranks), sys.executable, str(HERE), "worker", *arguments],
                          env=env, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        sys.exit(f"benchmarks/distributed.py: mpiexec -n {ranks} {' '.join(arguments)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g}" if seconds < 0.1 else f"{seconds * 1e3:.0f}"


def _size(nbytes: float) -> str:
    if nbytes < 2**10:
        return f"{nbytes:.0f} B"
    return f"{nbytes / 2**20:.3g} MiB" if nbytes >= 2**20 else f"{nbytes / 2**10:.3g} KiB"


def scaling(steps: int, repeats: int) -> dict:
    print("## Training throughput, 1 rank against 2 (one BLAS thread each)\n")
    print("| model | gradient | 1 rank: ms/step | 2 ranks: ms/step (of it: averaging) | samples/s, 1 rank | "
          "samples/s, 2 ranks | scaling efficiency | in CPU time: ms/step, 1 rank; 2 ranks; efficiency |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    measured = {}
    for kind, label in (("mlp", "wide MLP 4096-4096-10"), ("cnn", "CNN (tapegrad train --model cnn), 28x28"),
                        ("mlp256", "wide MLP, batch 256 per rank")):
        one, two = [], []
        for _ in range(repeats):
            one.append(_launch(1, "train", kind, str(steps)))
            two.append(_launch(2, "train", kind, str(steps)))
        t1 = statistics.median(r["step"] for r in one)
        t2 = statistics.median(r["step"] for r in two)
        comm = statistics.median(r["communication"] for r in two)
        c1 = statistics.median(r["cpu"] for r in one)
        c2 = statistics.median(r["cpu"] for r in two)
        efficiency = t1 / t2
        measured[kind] = {"step": t1, "step2": t2, "cpu": c1, "communication": comm, "bytes": one[0]["bytes"],
                          "efficiency": efficiency, "all": [r["step"] for r in one], "all2": [r["step"] for r in two]}
        batch = BATCHES[kind]
        print(f"| {label} | {_size(one[0]['bytes'])} | {_ms(t1)} | {_ms(t2)} ({_ms(comm)}) | {batch / t1:.0f} | "
              f"{2 * batch / t2:.0f} | {efficiency:.2f} | {_ms(c1)}; {_ms(c2)}; {c1 / c2:.2f} |")
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else "?"
    print(f"\nload average of the machine at the end: {' '.join(load)}")
    print("per run, ms/step (1 rank; 2 ranks): " + "; ".join(
        f"{k}: {', '.join(_ms(t) for t in m['all'])}; {', '.join(_ms(t) for t in m['all2'])}"
        for k, m in measured.items()))
    return measured


def allreduce(rounds: int) -> dict:
    results = _launch(2, "allreduce", str(rounds))
    print("\n## all_reduce on 2 ranks, float32 sum, median ms per call\n")
    print("| size | tapegrad | tapegrad, check=False | mpi4py Allreduce | gloo | tapegrad / mpi4py (paired) | "
          "check=False / mpi4py (paired) | gloo / tapegrad |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in SIZES:
        r = results[str(size)]
        print(f"| {_size(size)} | {r['tapegrad'] * 1e3:.4f} | {r['tapegrad, check=False'] * 1e3:.4f} | "
              f"{r['mpi4py'] * 1e3:.4f} | {r['gloo'] * 1e3:.4f} | {r['tapegrad'] / r['mpi4py']:.2f} "
              f"({r['tapegrad / mpi4py, paired']:.2f}) | {r['tapegrad, check=False'] / r['mpi4py']:.2f} "
              f"({r['tapegrad, check=False / mpi4py, paired']:.2f}) | {r['gloo'] / r['tapegrad']:.1f} |")
    return results


def overlap(rounds: int) -> None:
    print("\n## Overlap: a 64 MB Iallreduce beside a (4096x64)(64x4096) matmul, 2 ranks, median ms\n")
    print("| MPICH progress | matmul alone | all_reduce alone | one after the other | overlapped | gain |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, env in (("in MPI calls only (default)", {}), ("its own thread (MPIR_CVAR_ASYNC_PROGRESS=1)",
                                                           {"MPIR_CVAR_ASYNC_PROGRESS": "1"})):
        r = _launch(2, "overlap", str(rounds), environment=env)
        serial = r["compute"] + r["all_reduce"]
        print(f"| {label} | {_ms(r['compute'])} | {_ms(r['all_reduce'])} | {_ms(serial)} | {_ms(r['overlapped'])} | "
              f"{serial / r['overlapped']:.2f}x |")


def design(rounds: int) -> None:
    r = _launch(2, "design", str(rounds))
    print("\n## What chose the check message: 2 ranks, median us per call (median paired ratio)\n")
    print("all-reduce of float32 against its size, paired to 1 KiB: " + "; ".join(
        f"{_size(int(size))}: {v['median'] * 1e6:.2f} us ({v['paired']:.2f})" for size, v in r["latency"].items()))
    print("\n| size | mpi4py | header first, then the array in place | the array whole in the check message |")
    print("| --- | --- | --- | --- |")
    for size, v in r["whole"].items():
        print(f"| {_size(int(size))} | " + " | ".join(f"{v[k]['median'] * 1e6:.1f} ({v[k]['paired']:.2f})"
                                                  for k in ("mpi4py", "header first", "whole, copied")) + " |")
    print("\nA checked all_reduce of 1 KiB, step by step, paired to mpi4py: " + "; ".join(
        f"{name} {v['median'] * 1e6:.2f} us ({v['paired']:.2f})" for name, v in r["steps"].items()))


def paper_model(measured: dict, small_message: float) -> None:
    # Per-message latency of one ring step: measured here between 2 processes (shared memory) for reference;
    # across machines, typical figures for TCP over 10 Gbit/s Ethernet and for RDMA over 100 Gbit/s.
    latencies = {10: 25e-6, 100: 3e-6}
    print("\n## Past one machine, on paper: step time against ranks (ring all-reduce, no overlap)\n")
    steps = ", ".join(f"{kind} {_ms(m['cpu'])} ms" for kind, m in measured.items())
    sizes = ", ".join(f"{kind} {_size(m['bytes'])}" for kind, m in measured.items())
    here = f"; a small all_reduce between 2 processes here: {small_message * 1e6:.1f} us" if small_message else ""
    print(f"Compute per step (1 rank, one thread): {steps}; gradients: {sizes}. Assumed latency per ring step: "
          f"25 us at 10 Gbit/s (TCP), 3 us at 100 Gbit/s (RDMA){here}.\n")
    columns = [(kind, gbits) for kind in measured if kind in ("mlp", "cnn") for gbits in (10, 100)]
    print("| ranks | " + " | ".join(f"{kind}, {gbits} Gbit/s: all-reduce ms; step ms; efficiency"
                                    for kind, gbits in columns) + " |")
    print("| --- " * (len(columns) + 1) + "|")
    for p in (2, 4, 8, 16, 32, 64, 128, 256):
        cells = []
        for kind, gbits in columns:
            m = measured[kind]
            comm = 2 * (p - 1) / p * m["bytes"] / (gbits * 1e9 / 8) + 2 * (p - 1) * latencies[gbits]
            step = m["cpu"] + comm
            cells.append(f"{_ms(comm)}; {_ms(step)}; {m['cpu'] / step:.2f}")
        print(f"| {p} | " + " | ".join(cells) + " |")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        part = sys.argv[2]
        if part == "train":
            result = worker_train(sys.argv[3], int(sys.argv[4]))
        elif part == "allreduce":
            result = worker_allreduce(int(sys.argv[3]))
        elif part == "design":
            result = worker_design(int(sys.argv[3]))
        else:
            result = worker_overlap(int(sys.argv[3]))
        if tg.distributed.rank() == 0:
            print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of 1 and of 2 ranks, alternating")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds of each all_reduce")
    parser.add_argument("--skip", nargs="*", default=[], choices=["scaling", "allreduce", "overlap", "design"])
    parser.add_argument("--compute", nargs="*", default=[], metavar="MODEL=MS",
                        help="the paper model from these 1-rank step times (e.g. mlp=78.9 cnn=54.6, measured on a "
                             "quiet machine) instead of this run's")
    parser.add_argument("--quiet-wait", type=float, default=120.0,
                        help="seconds to wait, before each run, for the other programs to leave the cores idle")
    args = parser.parse_args()
    QUIET_WAIT[0] = args.quiet_wait
    measured = scaling(args.steps, args.repeats) if "scaling" not in args.skip else {}
    results = allreduce(args.rounds) if "allreduce" not in args.skip else None
    if "overlap" not in args.skip:
        overlap(args.rounds)
    if "design" not in args.skip:
        design(args.rounds)
    for item in args.compute:
        kind, _, ms = item.partition("=")
        model, _, _ = _model(kind)
        measured[kind] = {"cpu": float(ms) / 1e3, "bytes": sum(p.data.nbytes for p in model.parameters())}
    if measured:
        paper_model(measured, results[str(SIZES[0])]["mpi4py"] if results else 0.0)


if __name__ == "__main__":
    main()

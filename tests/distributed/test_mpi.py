"""Data-parallel training over real MPI (issue 16): each test starts ``mpiexec -n 2`` or ``-n 3`` (more ranks than
this machine's cores is fine for correctness) and checks what every rank saw.

mpi4py and MPICH come with the ``mpi`` extra, which ``scripts/test.sh`` installs: without them these tests fail
(they never skip)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.cli import main

from . import worker

WORKER = Path(__file__).with_name("worker.py")
ROOT = Path(__file__).parents[2]


def _mpiexec() -> str:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.fail('mpi4py is not installed: pip install -e ".[test,mpi]" (scripts/test.sh does)')
    beside = Path(sys.executable).with_name("mpiexec")  # the mpich wheel's, in the same environment
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.fail('no mpiexec: the mpich wheel of the "mpi" extra provides one')
    return found


def _run(ranks: int, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([_mpiexec(), "-n", str(ranks), sys.executable, *command], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _ranks(folder: Path, name: str, ranks: int) -> list[tuple[dict, dict]]:
    return [(dict(np.load(folder / f"{name}-{r}.npz")), json.loads((folder / f"{name}-{r}.json").read_text()))
            for r in range(ranks)]


@pytest.fixture(scope="module")
def collectives(tmp_path_factory):
    folder = tmp_path_factory.mktemp("collectives")
    done = _run(3, str(WORKER), "collectives", str(folder))
    assert done.returncode == 0, done.stderr
    return _ranks(folder, "collectives", 3)


def test_all_reduce_combines_in_the_arrays_own_memory(collectives):
    inputs = [(np.arange(12).reshape(3, 4) * (r + 1) - 3 * r) for r in range(3)]
    expected = {"sum": sum(inputs), "mean": sum(inputs) / 3, "max": np.maximum.reduce(inputs),
                "min": np.minimum.reduce(inputs)}
    for rank, (arrays, notes) in enumerate(collectives):
        assert (notes["rank"], notes["size"], notes["initialized"]) == (rank, 3, True)
        for op, value in expected.items():
            for dtype in ("float32", "float64", "int64"):
                if op == "mean" and dtype == "int64":
                    continue
                got = arrays[f"{op}_{dtype}"]
                assert got.dtype == dtype and got.shape == (3, 4)
                np.testing.assert_allclose(got, value.astype(dtype), rtol=1e-7)
                assert notes[f"same_memory_{op}_{dtype}"], (op, dtype)
        np.testing.assert_array_equal(arrays["tensor_sum"], np.full(5, 6.0, np.float32))
        np.testing.assert_array_equal(arrays["strided_sum"], (np.arange(24.0).reshape(4, 6) * 6)[:, ::2])
        assert arrays["broadcast_root2"].dtype == np.float16
        np.testing.assert_array_equal(arrays["broadcast_root2"], np.full((2, 3), 2))
        np.testing.assert_array_equal(arrays["gather"], [[0, 0], [1, 10], [2, 20]])
        assert arrays["empty"].shape == (0, 3)


def test_ranks_that_pass_different_arrays_all_get_the_same_named_error(collectives):
    for _, notes in collectives:
        assert notes["shape_error"].startswith("ShapeError: tg.distributed.all_reduce")
        for part in ("rank 0: all_reduce of shape (3,) float32", "rank 1: all_reduce of shape (4,) float32",
                     "rank 2: all_reduce of shape (5,) float32"):
            assert part in notes["shape_error"]
        assert notes["dtype_error"].startswith("DTypeError") and "float64" in notes["dtype_error"]
        assert notes["op_error"].startswith("ArgumentError") and "op=max" in notes["op_error"]
        assert "called different collectives" in notes["kind_error"]
        assert "root=1" in notes["root_error"]
        # barrier() is checked too: a rank in barrier() beside one in all_reduce() used to wait for ever
        assert notes["barrier_error"].startswith("ArgumentError") and "called different collectives" in notes[
            "barrier_error"] and "rank 1: barrier; rank 2: barrier" in notes["barrier_error"]
        assert notes["after_errors"] == 3  # and no rank was left waiting


# -- all_reduce's check message: the digests travel with the data ----------------------------------------------

@pytest.fixture(scope="module", params=["with data", "header only"])
def checks(request, tmp_path_factory):
    """Two ranks run worker.checks: every dtype and op on both sides of each size threshold, then calls that differ
    between the ranks; "header only" forces the int64 check message without data (the fallback of a world whose
    MPI could split a mixed-dtype message unevenly)."""
    folder = tmp_path_factory.mktemp("checks")
    extra = ["header-only"] if request.param == "header only" else []
    done = _run(2, str(WORKER), "checks", str(folder), *extra, timeout=240)
    assert done.returncode == 0, done.stderr
    return request.param, _ranks(folder, "checks", 2)


def test_all_reduce_gives_every_op_and_dtype_on_both_sides_of_each_threshold(checks):
    _, ranks = checks
    compared = 0
    for name in worker.DTYPES:
        dtype = np.dtype(name)
        for op, kinds in worker.KINDS.items():
            if dtype.kind not in kinds:
                continue
            for count in worker._counts(dtype):
                inputs = [worker._inputs(dtype, op, count, rank) for rank in range(2)]
                expected = {"sum": lambda a, b: a + b, "mean": lambda a, b: (a + b) / dtype.type(2),
                            "max": np.maximum, "min": np.minimum}[op](*inputs)
                for check in (True, False) if name in worker.UNCHECKED else (True,):
                    key = worker._key(name, op, count, check)
                    for arrays, _ in ranks:
                        got = arrays[key]
                        assert got.dtype == dtype and got.shape == (count,), key
                        np.testing.assert_array_equal(got, expected, err_msg=key)
                        compared += 1
    assert compared > 300


def test_all_reduce_of_scalars_empty_strided_and_fortran_arrays(checks):
    _, ranks = checks
    for arrays, _ in ranks:
        np.testing.assert_array_equal(arrays["shape_0_1"], 2.0)  # mean of 1.5 and 2.5
        assert arrays["shape_1_0"].shape == (0,) and arrays["shape_2_0"].shape == (0, 3)
        for rows in (3, 3000):
            base = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4)
            np.testing.assert_array_equal(arrays[f"strided_{rows}"], (base * 3)[:, ::2])
            np.testing.assert_array_equal(arrays[f"fortran_{rows}"], base * 2)
        np.testing.assert_array_equal(arrays["tensor"], np.full(4, 3.0))


def test_checked_all_reduce_keeps_no_array_alive(checks):
    _, ranks = checks
    for _, notes in ranks:
        assert notes["kept_alive"] == []


def test_the_check_message_follows_the_recent_sizes_alike_on_every_rank(checks):
    mode, ranks = checks
    (first, notes), (second, theirs) = ranks
    for step in range(8):
        expected = np.arange(2048, dtype=np.float32) * 3 + 2 * step
        np.testing.assert_array_equal(first[f"run_{step}"], expected)
        np.testing.assert_array_equal(second[f"run_{step}"], expected)
    for key in ("capacities", "small_capacity", "capacity_after_broadcasts", "capacity_after_mismatches"):
        assert notes[key] == theirs[key], key
    if mode == "header only":
        assert notes["capacities"] == [-1] * 8 and notes["small_capacity"] == notes["capacity_after_broadcasts"] == -1
        return
    # 8 KiB calls travel in two messages until a run of them makes the check message carry them whole
    assert notes["capacities"][0] < 8192 <= notes["capacities"][-1] <= 65536
    assert notes["small_capacity"] == 32  # after 20 calls of 24 bytes: the header (2 x 16 bytes) and 32 bytes
    assert notes["capacity_after_broadcasts"] == 0  # after 20 broadcasts: their check messages carry no data
    assert notes["capacity_after_mismatches"] == 4096 and "changed in place" in notes["tensor_version_error"]


MISMATCHES = {  # case -> (error class, what the message names)
    "shape_small": ("ShapeError", ["rank 0: all_reduce of shape (5,) float32", "rank 1: all_reduce of shape (6,)"]),
    "dtype_small": ("DTypeError", ["(5,) float32, op=sum", "(5,) float64, op=sum"]),
    "dtype_int8_complex128": ("DTypeError", ["int8", "complex128"]),
    "dtype_float16_int64": ("DTypeError", ["float16", "int64"]),
    "dtype_uint8_float32": ("DTypeError", ["uint8", "float32"]),
    "op_sum_max": ("ArgumentError", ["op=sum", "op=max"]),
    "op_max_min": ("ArgumentError", ["int32, op=max", "int32, op=min"]),
    "op_sum_mean": ("ArgumentError", ["op=sum", "op=mean"]),
    "op_dtype": ("DTypeError", ["int8, op=max", "float64, op=sum"]),
    "scalar_vector": ("ShapeError", ["shape () float64", "shape (1,) float64"]),
    "empty_small": ("ShapeError", ["shape (0,)", "shape (3,)"]),
    "small_large": ("ShapeError", ["shape (1000,)", "shape (100000,)"]),
    "large_large": ("ShapeError", ["shape (100000,)", "shape (100001,)"]),
    "large_dtype": ("DTypeError", ["(100000,) float32", "(100000,) float64"]),
    "after_growth": ("ShapeError", ["shape (2048,)", "shape (256,)"]),
    "reduce_broadcast": ("ArgumentError", ["called different collectives", "broadcast of shape (5,)"]),
    "large_gather": ("ArgumentError", ["called different collectives", "all_gather of shape (100000,)"]),
    "gather_broadcast": ("ArgumentError", ["called different collectives", "root=0"]),
}


def test_ranks_that_pass_different_arguments_all_raise_and_the_world_goes_on(checks):
    _, ranks = checks
    for _, notes in ranks:
        for case, (error, parts) in MISMATCHES.items():
            message = notes[f"mismatch_{case}"]
            assert message.startswith(f"{error}: tg.distributed."), (case, message)
            for part in parts:
                assert part in message, (case, part, message)
            assert notes[f"after_{case}"] == 2, case  # a sum over both ranks right after: nobody was left behind
        for count in (5, 100_000):
            assert notes[f"read_only_{count}"].startswith("ArgumentError: tg.distributed.all_reduce: the array")
            assert "read-only" in notes[f"read_only_{count}"] and notes[f"after_read_only_{count}"] == 2


def test_the_check_message_has_a_size_that_no_dtype_splits_unevenly():
    """MPI splits a message among the ranks (or a power of two of them) by elements: the check message's size
    is a multiple of 16 bytes times both, so ranks that reduce it in different dtypes exchange the same bytes; a
    world where that multiple outgrows the message sends the header alone, in int64."""
    from tapegrad.distributed.collectives import _World

    without_data = []
    for size in range(1, 257):
        world = _World()
        world.size = size
        world.set_up()
        assert world.header == 16 * size
        if world.small < 0:
            without_data.append(size)
            continue
        power = 1 << (size.bit_length() - 1)
        for capacity in (world.small, world.large, world.needed(24), world.needed(5000)):
            message = world.header + capacity
            assert message % (16 * size) == 0 and message % (16 * power) == 0, (size, capacity)
        assert 4096 <= world.small < 4096 + world.unit and 65536 <= world.large < 65536 + world.unit
        assert world.needed(10**6) == 0  # a larger array sends the header alone first, then itself in place
    assert without_data[:3] == [33, 35, 37] and not {1, 2, 3, 4, 8, 12, 16, 24, 32, 64, 128, 256} & set(without_data)


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    done = _run(2, str(WORKER), "ddp", str(folder))
    assert done.returncode == 0, done.stderr
    return _ranks(folder, "ddp", 2)


def test_wrapping_copies_rank_0s_parameters_and_buffers(ddp):
    (first, notes), (second, _) = ddp
    wrapped = [k for k in first if k.startswith("wrapped.")]
    assert wrapped and all(np.array_equal(first[k], second[k]) for k in wrapped)
    assert float(first["wrapped.body.1.running_mean"][0]) == 0.0  # rank 0's, set before wrapping
    assert notes["keys"][:2] == ["module.shift", "module.body.0.weight"]
    assert "module.body.1.num_batches_tracked" in notes["keys"]
    assert len(notes["buckets"]) > 1 and 1 in notes["buckets"] and max(notes["buckets"]) > 1
    assert notes["zero_copy"]  # a gradient as large as a bucket is averaged where backward left it


def test_averaged_gradient_equals_the_full_batch_gradient(ddp):
    for arrays, _ in ddp:
        names = [k[5:] for k in arrays if k.startswith("full.")]
        assert len(names) == 7
        for name in names:
            np.testing.assert_allclose(arrays[f"grad.{name}"], arrays[f"full.{name}"], rtol=1e-10, atol=1e-13)
        # the input's gradient is the same array backward gave the added parameter: it stays this rank's own
        np.testing.assert_array_equal(arrays["input_grad"], arrays["local_input_grad"])
    assert not np.allclose(ddp[0][0]["input_grad"][:1], ddp[1][0]["input_grad"][:1])


def test_no_sync_accumulates_locally_then_averages_the_sum(ddp):
    for arrays, _ in ddp:
        np.testing.assert_allclose(arrays["no_sync_local"], arrays["local_half0"], rtol=1e-12)
    expected = sum(a["local_half0"] + a["local_half1"] for a, _ in ddp) / 2
    for arrays, _ in ddp:
        np.testing.assert_allclose(arrays["accumulated"], expected, rtol=1e-10, atol=1e-14)


def test_every_rank_holds_identical_weights_after_training(ddp):
    (first, _), (second, _) = ddp
    trained = [k for k in first if k.startswith("trained.")]
    assert len(trained) == 10
    for key in trained:
        assert np.array_equal(first[key], second[key]), key  # bit for bit, buffers included
    assert not np.array_equal(first["trained.body.0.weight"], first["wrapped.body.0.weight"])


def test_buffers_that_are_views_with_gaps_get_rank_0s_values_at_each_forward(ddp):
    for arrays, _ in ddp:  # rank 1's sliced buffer used to keep its own values; the transposed one raised
        np.testing.assert_array_equal(arrays["gappy.sliced"], np.full((3, 2), 1.0))
        np.testing.assert_array_equal(arrays["gappy.transposed"], np.full((3, 2), 2.0))


def test_unused_parameters_and_different_models_are_named_errors(ddp):
    for _, notes in ddp:
        assert notes["unused_error"].startswith("BackwardError") and "(unused)" in notes["unused_error"]
        assert notes["model_error"].startswith("ShapeError") and "rank 1: 2 parameters of 12" in notes["model_error"]


# -- tapegrad train --distributed ---------------------------------------------------------------------------------

TRAIN = ["train", "--epochs", "1", "--no-progress", "--batch-size", "32", "--seed", "5", "--hidden", "32"]


def _weights(path: Path) -> dict:
    return tg.load(path)["model"]


def test_distributed_training_equals_one_process_and_resumes_on_another_number_of_ranks(tmp_path):
    # one process: epoch 1, then resumed to epoch 2
    assert main([*TRAIN, "--out", str(tmp_path / "one")]) == 0
    epoch_one = tg.load(tmp_path / "one" / "checkpoint.safetensors")
    assert main(["train", "--resume", str(tmp_path / "one" / "checkpoint.safetensors"), "--epochs", "2",
                 "--no-progress"]) == 0
    one = tg.load(tmp_path / "one" / "checkpoint.safetensors")
    # 3 ranks (1294 training examples in batches of 32: 40 batches split 11, 11, 10, the last of 14 split 5, 5, 4),
    # then resumed on 2 ranks
    done = _run(3, "-m", "tapegrad.cli", *TRAIN, "--distributed", "--out", str(tmp_path / "many"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith(f"on 3 processes; writing to {tmp_path / 'many'}") and len(lines) == 3  # rank 0 only
    many_one = tg.load(tmp_path / "many" / "checkpoint.safetensors")
    for key, value in epoch_one["model"].items():
        np.testing.assert_allclose(many_one["model"][key], value, rtol=1e-5, atol=1e-6)
    for field in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert many_one["history"][0][field] == pytest.approx(epoch_one["history"][0][field], rel=1e-6)
    assert many_one["loader"] == epoch_one["loader"]
    done = _run(2, "-m", "tapegrad.cli", "train", "--resume", str(tmp_path / "many" / "checkpoint.safetensors"),
                "--epochs", "2", "--no-progress", "--distributed")
    assert done.returncode == 0, done.stderr
    assert "epoch   2" in done.stdout
    many = tg.load(tmp_path / "many" / "checkpoint.safetensors")
    assert many["epoch"] == 2 and len(many["history"]) == 2
    for key, value in one["model"].items():
        np.testing.assert_allclose(many["model"][key], value, rtol=1e-5, atol=1e-6)
    for key, value in one["optimizer"]["state"].items():
        np.testing.assert_allclose(many["optimizer"]["state"][key]["exp_avg"], value["exp_avg"], rtol=1e-4,
                                   atol=1e-7)
    metrics = json.loads((tmp_path / "many" / "metrics.json").read_text())
    expected = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert metrics["test_accuracy"] == expected["test_accuracy"] and metrics["best_epoch"] == expected["best_epoch"]
    assert metrics["test_loss"] == pytest.approx(expected["test_loss"], rel=1e-5)
    assert metrics["versions"]["processes"] == 2 and expected["versions"]["processes"] == 1


def test_batches_smaller_than_the_world_leave_ranks_without_rows(tmp_path):
    rows = np.random.default_rng(0).standard_normal((10, 3))
    data = tmp_path / "tiny.csv"
    data.write_text("a,b,c,label\n" + "\n".join(f"{a},{b},{c},{int(a > 0)}" for a, b, c in rows) + "\n")
    options = ["train", "--data", f"csv:{data}", "--epochs", "3", "--batch-size", "2", "--no-progress",
               "--hidden", "4", "--optimizer", "sgd"]
    assert main([*options, "--out", str(tmp_path / "one")]) == 0
    done = _run(3, "-m", "tapegrad.cli", *options, "--distributed", "--out", str(tmp_path / "many"))
    assert done.returncode == 0, done.stderr
    one, many = (tg.load(tmp_path / name / "checkpoint.safetensors") for name in ("one", "many"))
    for key, value in one["model"].items():
        np.testing.assert_allclose(many["model"][key], value, rtol=1e-5, atol=1e-7)
    for a, b in zip(one["history"], many["history"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-6)
        assert b["train_accuracy"] == a["train_accuracy"] and b["val_accuracy"] == a["val_accuracy"]
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-6)



def test_validation_early_stopping_schedules_and_csv_options_compose_with_distributed(tmp_path):
    """Issue 19's options under --distributed: the validation metrics are combined over the ranks, so the best
    epoch, early stopping and the plateau schedule decide as one process does; only rank 0 prints and writes."""
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((90, 3)) * [1.0, 10.0, 100.0]
    labels = np.where(rows[:, 0] + rows[:, 1] / 10 + rng.normal(0, 0.8, 90) > 0, "yes", "no")
    data = tmp_path / "noisy.csv"
    data.write_text("label;a;b;c\n" + "".join(f"{t};{a:.4f};{b:.4f};{c:.4f}\n" for t, (a, b, c) in zip(labels, rows)))
    options = ["train", "--data", f"csv:{data}", "--target", "label", "--epochs", "60", "--batch-size", "8",
               "--no-progress", "--hidden", "32", "--lr", "0.01", "--val-split", "0.3", "--early-stopping", "4",
               "--scheduler", "plateau", "--plateau-patience", "1", "--factor", "0.5"]
    assert main([*options, "--out", str(tmp_path / "one")]) == 0
    done = _run(2, "-m", "tapegrad.cli", *options, "--distributed", "--out", str(tmp_path / "many"))
    assert done.returncode == 0, done.stderr
    one, many = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("one", "many"))
    assert one["stopped_early_at"] is not None and one["stopped_early_at"] < 60
    for key in ("best_epoch", "stopped_early_at", "selected_epoch", "test_accuracy"):
        assert many[key] == one[key], key
    assert [row["lr"] for row in many["epochs"]] == [row["lr"] for row in one["epochs"]]
    assert len({row["lr"] for row in one["epochs"]}) > 1  # the plateau schedule reduced the rate
    for a, b in zip(one["epochs"], many["epochs"]):
        assert b["val_accuracy"] == a["val_accuracy"]
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-5)
    assert many["test_loss"] == pytest.approx(one["test_loss"], rel=1e-5)
    assert many["data"]["classes"] == ["no", "yes"] and many["data"]["standardized"]
    printed = done.stdout.splitlines()  # rank 0 only: the first line, the epochs, the stop and the result
    assert len(printed) == 1 + len(many["epochs"]) + 2 and printed[-2].startswith("early stopping at epoch")
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["best.safetensors", "checkpoint.safetensors",
                                                                     "curves.png", "metrics.csv", "metrics.json"]
    best = tg.load(tmp_path / "many" / "best.safetensors")
    assert best["epoch"] == many["best_epoch"]
    np.testing.assert_allclose(best["scaler"]["mean"], tg.load(tmp_path / "one" / "best.safetensors")["scaler"]["mean"])


FAILING = """
import sys
import tapegrad as tg
from tapegrad import cli

steps = [0]
original = cli._shard_step


def failing(*args, **kwargs):
    steps[0] += 1
    if tg.distributed.rank() == 1 and steps[0] == 60:  # in epoch 2 (45 steps an epoch)
        raise RuntimeError("the disk of rank 1 is full")
    return original(*args, **kwargs)


cli._shard_step = failing
sys.exit(cli.main(sys.argv[1:]))
"""


def test_a_failing_rank_ends_the_job_with_its_message_and_the_checkpoint_stays_valid(tmp_path):
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    began = time.perf_counter()
    done = _run(3, str(script), *TRAIN[:2], "3", *TRAIN[3:], "--distributed", "--out", str(tmp_path / "run"),
                timeout=60)
    took = time.perf_counter() - began
    assert done.returncode != 0
    assert "tapegrad: error: rank 1 of 3: RuntimeError: the disk of rank 1 is full" in done.stderr
    assert "epoch   1" in done.stdout and "epoch   2" not in done.stdout
    assert took < 30, took  # start-up included; no rank waits for the failed one
    checkpoint = tmp_path / "run" / "checkpoint.safetensors"
    assert tg.load(checkpoint)["epoch"] == 1
    assert main(["train", "--resume", str(checkpoint), "--epochs", "2", "--no-progress"]) == 0


def test_ctrl_c_ends_every_rank_and_the_checkpoint_stays_valid(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    checkpoint = tmp_path / "run" / "checkpoint.safetensors"
    job = subprocess.Popen([_mpiexec(), "-n", "3", sys.executable, "-m", "tapegrad.cli", *TRAIN[:2], "200",
                            *TRAIN[3:], "--distributed", "--out", str(tmp_path / "run")], env=env, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.perf_counter() + 60
        while not checkpoint.exists() and time.perf_counter() < deadline and job.poll() is None:
            time.sleep(0.2)
        time.sleep(0.5)
        assert job.poll() is None, job.stderr.read()
        job.send_signal(signal.SIGINT)  # mpiexec passes it to every rank
        began = time.perf_counter()
        _, err = job.communicate(timeout=30)  # the ranks still inside a collective used to wait for ever
    finally:
        if job.poll() is None:
            job.kill()
    assert time.perf_counter() - began < 15
    assert job.returncode != 0
    assert tg.load(checkpoint)["epoch"] >= 1


RAISING_EARLY = """
import os
import sys
import numpy as np
import tapegrad as tg

assert sys.excepthook is sys.__excepthook__  # importing tapegrad changes nothing global
tg.distributed.init()  # first, as the README says: from here on an exception on one rank ends every rank
if os.environ.get("PMI_RANK") == "1":
    raise RuntimeError("rank 1 cannot read its data")  # before any collective
tg.distributed.all_reduce(np.ones(3))
"""


def test_a_rank_that_raises_after_init_before_any_collective_ends_the_job():
    began = time.perf_counter()
    done = _run(2, "-c", RAISING_EARLY, timeout=60)
    assert time.perf_counter() - began < 30
    assert done.returncode != 0
    assert "rank 1 of 2: RuntimeError: rank 1 cannot read its data" in done.stderr


# -- a world of one ------------------------------------------------------------------------------------------------

def test_without_a_launcher_the_world_is_one_process_and_mpi_is_not_imported():
    code = ("import sys, numpy as np, tapegrad as tg\n"
            "d = tg.distributed\n"
            "x = np.arange(3.0)\n"
            "assert (d.rank(), d.world_size(), d.launched()) == (0, 1, False)\n"
            "assert d.all_reduce(x, 'mean') is x and x.tolist() == [0, 1, 2]\n"
            "assert d.broadcast(x) is x and [a.tolist() for a in d.all_gather(x)] == [[0, 1, 2]]\n"
            "d.barrier()\n"
            "assert 'mpi4py' not in sys.modules\n"
            "assert sys.excepthook is sys.__excepthook__\n")  # the abort hook is for launched processes only
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI", "OMPI", "MV2", "TAPEGRAD_MPI"))}
    done = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_launched_process_without_mpi4py_is_told_what_to_install():
    code = ("import sys\nsys.modules['mpi4py'] = None\nimport tapegrad as tg\n"
            "try:\n    tg.distributed.init()\nexcept tg.distributed.DistributedError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PMI_SIZE": "4", "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert "started by an MPI launcher (4 processes)" in done.stdout and 'tapegrad[mpi]' in done.stdout


@pytest.mark.parametrize("call, error, message", [
    (lambda: tg.distributed.all_reduce(np.zeros(2), op="avg"), tg.ArgumentError, "op='avg'"),
    (lambda: tg.distributed.all_reduce(np.zeros(2, np.int64), op="mean"), tg.DTypeError, "floating"),
    (lambda: tg.distributed.all_reduce(np.zeros(2, bool)), tg.DTypeError, "bool"),
    (lambda: tg.distributed.all_reduce(np.zeros(2, complex), op="max"), tg.DTypeError, "complex"),
    (lambda: tg.distributed.all_reduce([1.0, 2.0]), tg.ArgumentError, "NumPy array or a Tensor"),
    (lambda: tg.distributed.all_reduce(np.broadcast_to(np.zeros(1), (3,))), tg.ArgumentError, "read-only"),
    (lambda: tg.distributed.broadcast(np.zeros(2), root=1), tg.ArgumentError, "root=1"),
    (lambda: tg.nn.parallel.DistributedDataParallel(tg.nn.Linear(2, 2), bucket_cap_mb=0), tg.ArgumentError,
     "bucket_cap_mb"),
])
def test_bad_arguments_are_named_errors(call, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace("[", r"\[")):
        call()

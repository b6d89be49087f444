"""The tapegrad command: training, resuming, evaluating, interrupting, and its errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.cli import main

from .data.test_data import _write_idx


def test_default_training_run_reaches_97_percent_and_writes_its_files(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 30 and metrics["test_accuracy"] >= 0.975  # 0.9833 at the default seed
    assert metrics["data"]["standardized"] is True  # the MLP on the digits standardizes by default
    assert set(metrics["epochs"][0]) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                                         "seconds"}
    assert metrics["epochs"][-1]["train_loss"] < metrics["epochs"][0]["train_loss"]
    assert metrics["data"]["train"] == 1294 and metrics["data"]["validation"] == 144 and metrics["data"]["test"] == 359
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    checkpoint = tg.load(tmp_path / "checkpoint.safetensors")
    assert checkpoint["epoch"] == 30 and set(checkpoint) >= {"model", "optimizer", "generator", "loader"}
    best = tg.load(tmp_path / "best.safetensors")
    assert best["epoch"] == metrics["best_epoch"] == metrics["selected_epoch"]
    out = capsys.readouterr().out
    assert f"test accuracy {metrics['test_accuracy']:.4f}, loss {metrics['test_loss']:.4f}, with the best" in out


def test_resuming_gives_the_same_weights_as_training_straight(tmp_path):
    common = ["--no-progress", "--optimizer", "sgd", "--hidden", "32"]
    assert main(["train", "--epochs", "2", "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["train", "--resume", str(tmp_path / "a" / "checkpoint.safetensors"), "--epochs", "4",
                 "--no-progress"]) == 0
    assert main(["train", "--epochs", "4", "--out", str(tmp_path / "b"), *common]) == 0
    resumed = tg.load(tmp_path / "a" / "checkpoint.safetensors")
    straight = tg.load(tmp_path / "b" / "checkpoint.safetensors")
    assert resumed["epoch"] == straight["epoch"] == 4
    for name, value in straight["model"].items():
        np.testing.assert_array_equal(resumed["model"][name], value)
    assert [e["val_accuracy"] for e in resumed["history"]] == [e["val_accuracy"] for e in straight["history"]]
    assert [e["val_loss"] for e in resumed["history"]] == [e["val_loss"] for e in straight["history"]]


def test_evaluate_prints_accuracy_and_confusion_matrix(tmp_path, capsys):
    main(["train", "--epochs", "3", "--out", str(tmp_path), "--no-progress", "--loss", "hinge"])
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "checkpoint.safetensors")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("accuracy ") and "359 examples of the test split of digits" in out[0]
    matrix = np.array([[int(n) for n in line.split()[1:]] for line in out[3:]])
    assert matrix.shape == (10, 10) and matrix.sum() == 359


def test_mnist_and_csv_data(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 10)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)).astype(np.uint8), 8)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8), 8)
    assert main(["train", "--data", f"mnist:{tmp_path}", "--epochs", "1", "--out", str(tmp_path / "m"),
                 "--no-progress"]) == 0
    csv = tmp_path / "points.csv"
    rows = ["x,y,label"] + [f"{a:.3f},{b:.3f},{'in' if a * a + b * b < 1 else 'out'}"
                            for a, b in rng.uniform(-1.5, 1.5, (60, 2))]
    csv.write_text("\n".join(rows) + "\n")
    assert main(["train", "--data", f"csv:{csv}", "--epochs", "2", "--out", str(tmp_path / "c"),
                 "--no-progress"]) == 0


@pytest.mark.parametrize("argv,status,message", [
    (["train", "--data", "imagenet"], 1, "unknown dataset 'imagenet'"),
    (["train", "--data", "mnist:/no/such/folder"], 1, "MNIST folder not found"),
    (["train", "--data", "csv:/no/such.csv"], 1, "CSV file not found"),
    (["evaluate", "/no/such/checkpoint"], 1, "no checkpoint at"),
    (["train", "--hidden", "a,b"], 2, "--hidden takes sizes like 128,64"),
    (["train", "--lr", "-1"], 2, "expected a positive float"),
    (["train", "--optimizer", "lbfgs"], 2, "invalid choice"),
    (["fly"], 2, "invalid choice"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(argv, status, message, capsys):
    try:
        code = main(argv)
    except SystemExit as stopped:
        code = stopped.code
    err = capsys.readouterr().err
    assert code == status and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    command = [sys.executable, "-m", "tapegrad.cli", "train", "--epochs", "100000", "--out", str(tmp_path),
               "--no-progress", "--hidden", "512,512"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    checkpoint = tmp_path / "checkpoint.safetensors"
    deadline = time.time() + 60
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted during epoch" in err and "--resume" in err and "Traceback" not in err
    state = tg.load(checkpoint)
    assert state["epoch"] >= 1
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"]


def _run(argv, capsys):
    """main(argv) -> (exit status, stdout, the one stderr line)."""
    try:
        code = main(argv)
    except SystemExit as stopped:
        code = stopped.code
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) <= 1 and "Traceback" not in err, err
    return code, out, err.strip()


@pytest.mark.parametrize("option,value,message", [
    ("--seed", "-1", "argument --seed: expected an integer from 0 to 9223372036854775807, got -1"),
    ("--seed", str(2**64), "argument --seed: expected an integer from 0"),
    ("--hidden", "2e10", "argument --hidden: --hidden takes sizes like 128,64, got '2e10'"),
    ("--hidden", "20000000000", "argument --hidden: --hidden sizes must be integers from 1 to 100000, got 20000000000"),
    ("--hidden", "0", "--hidden sizes must be integers from 1 to 100000, got 0"),
    ("--hidden", ",".join(["8"] * 101), "--hidden expected a list of at most 100 layer sizes"),
    ("--lr", "nan", "argument --lr: expected a positive float (finite), got nan"),
    ("--lr", "inf", "argument --lr: expected a positive float (finite), got inf"),
    ("--lr", "0", "argument --lr: expected a positive float (finite), got 0.0"),
    ("--momentum", "-1", "argument --momentum: expected a float from 0 to 1, 1 excluded, got -1.0"),
    ("--momentum", "1", "argument --momentum: expected a float from 0 to 1, 1 excluded, got 1.0"),
    ("--momentum", "nan", "argument --momentum: expected a float from 0 to 1"),
    ("--weight-decay", "nan", "argument --weight-decay: expected a float from 0 (finite), got nan"),
    ("--weight-decay", "-0.1", "argument --weight-decay: expected a float from 0 (finite), got -0.1"),
    ("--epochs", "0", "argument --epochs: expected an integer from 1 to 1000000, got 0"),
    ("--batch-size", "1e3", "argument --batch-size: expected an integer, got '1e3'"),
    ("--epochs", "9" * 5000, "argument --epochs: expected an integer, got '99999"),
    ("--optimizer", "x" * 5000, "argument --optimizer: invalid choice: 'xxx"),
    ("--lr", "1e400", "argument --lr: expected a positive float (finite), got inf"),
    ("--batch-size", str(10**12), "argument --batch-size: expected an integer from 1 to 10000000"),
])
def test_bad_options_stop_before_training(option, value, message, capsys):
    code, out, err = _run(["train", "--no-progress", option, value], capsys)
    assert code == 2 and message in err and out == "" and len(err) < 600


def _csv(path, rows, header="a,b,label"):
    path.write_bytes((header + "\n" + "".join(f"{r}\n" for r in rows)).encode() if isinstance(rows, list) else rows)
    return path


def test_a_model_too_large_for_memory_is_refused_before_allocating(tmp_path, capsys):
    code, out, err = _run(["train", "--no-progress", "--hidden", "100000,100000", "--out", str(tmp_path)], capsys)
    assert code == 1 and out == "" and not list(tmp_path.iterdir())
    assert "--hidden: the model [64, 100000, 100000, 10] would have 10,007,600,010 parameters; at most 100,000,000" \
        in err


@pytest.mark.parametrize("content,message", [
    ([f"{i},{i % 3},{i * 7919 % 1000}" for i in range(60)], "the target column 'label' holds 60 distinct integers "
                                                            "in 60 rows: it looks continuous"),
    ([f"{i},{i % 3},{i / 7:.4f}" for i in range(80)], "the target column 'label' holds 80 distinct numbers, not all "
                                                      "whole in 80 rows: it looks continuous (a measurement), not a "
                                                      "class; tapegrad train classifies: give the class column with "
                                                      "--target NAME|INDEX (columns: 'a', 'b', 'label')"),
    ([f"{i},{i % 3},id{i}" for i in range(30)], "holds 30 distinct texts in 30 rows: it looks continuous (an "
                                                "identifier or free text)"),
    (["1,2,0"], "0 training, 1 validation and 0 test examples; training and test need at least one"),
    (["1,2,0", "3,4,1"], "1 training, 1 validation and 0 test examples"),
    (["1,2,", "3,4,1", "5,6,1"], "1 missing value in 1 row: line 2, column 'label'; leave those rows out with "
                                 "--drop-missing"),
    (b"label\n0\n1\n0\n1\n", "1 column; needs the target and at least one feature column"),
    ("a,b,label\n1,2,0\n\xe9,4,1\n".encode("latin-1"), "is not UTF-8 text (byte 0xe9 at offset 16)"),
    (["1,2,0", "3,nan,1", "5,6,1"], "1 missing value in 1 row: line 3, column 'b'; leave those rows out with "
                                    "--drop-missing"),
    (["1,2,0", "3,x,1", "5,6,1"], "line 3, column 'b': the feature 'x' is not a number"),
    (["1,2,0", "3,4,1", "inf,6,1"], "line 4, column 'a': the feature 'inf' is not finite"),
])
def test_bad_csv_data_is_one_line_before_training(tmp_path, capsys, content, message):
    path = _csv(tmp_path / "data.csv", content)
    code, out, err = _run(["train", "--no-progress", "--data", f"csv:{path}", "--out", str(tmp_path / "run")],
                          capsys)
    assert code == 1 and message in err and str(path) in err and out == ""
    assert not (tmp_path / "run").exists()


def test_bad_mnist_headers_and_features_are_one_line_before_training(tmp_path, capsys):
    header = bytes([0, 0, 0x08, 3]) + b"".join((2**32 - 1).to_bytes(4, "big") for _ in range(3))
    (tmp_path / "train-images-idx3-ubyte").write_bytes(header + bytes(100))
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8), 8)
    code, out, err = _run(["train", "--no-progress", "--data", f"mnist:{tmp_path}"], capsys)
    assert code == 1 and "train-images-idx3-ubyte: header says shape (4294967295, 4294967295, 4294967295)" in err
    images = np.ones((4, 28, 28))
    images[2, 3, 4] = np.nan
    for prefix in ("train", "t10k"):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images, 0x0E)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.zeros(4, np.uint8), 8)
    code, out, err = _run(["train", "--no-progress", "--data", f"mnist:{tmp_path}", "--val-split", "0"], capsys)
    assert code == 1 and f"--data mnist:{tmp_path}: feature 88 of training example 2 is nan" in err and out == ""


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A one-epoch run on a small CSV file: its folder, checkpoint and data."""
    folder = tmp_path_factory.mktemp("small")
    rng = np.random.default_rng(0)
    data = _csv(folder / "data.csv", [f"{a:.3f},{b:.3f},{int(a > b)}" for a, b in rng.uniform(0, 1, (30, 2))])
    assert main(["train", "--data", f"csv:{data}", "--epochs", "1", "--hidden", "4", "--out", str(folder / "run"),
                 "--no-progress"]) == 0
    return folder, folder / "run" / "checkpoint.safetensors", data


def _set(state, path, value):
    *parents, last = path
    for key in parents:
        state = state[key]
    if value is KeyError:
        del state[last]
    else:
        state[last] = value


BAD_FIELDS = [
    (("config",), [1, 2], "its configuration is [1, 2], expected a dict"),
    (("config", "lr"), "fast", "its configuration's 'lr' is not valid: expected a positive float (finite), got 'fast'"),
    (("config", "lr"), float("nan"), "its configuration's 'lr' is not valid"),
    (("config", "hidden"), "128", "its configuration's 'hidden' is not valid: expected a list"),
    (("config", "hidden"), [10**9], "its configuration's 'hidden' is not valid: sizes must be integers from 1"),
    (("config", "hidden"), [100000, 100000], "the model [2, 100000, 100000, 2] would have 10,000,600,002 parameters"),
    (("config", "seed"), -1, "its configuration's 'seed' is not valid: expected an integer from 0"),
    (("config", "features"), "2", "its configuration's 'features' is not valid"),
    (("config", "classes"), 10**12, "its configuration's 'classes' is not valid"),
    (("config", "activation"), "gelu2", "its configuration's 'activation' is not valid: expected one of"),
    (("config", "data"), 5, "its configuration's 'data' is not valid: expected a string"),
    (("config", "optimizer"), np.zeros(3), "its configuration's 'optimizer' is not valid: expected one of"),
    (("config", "loss"), KeyError, "its configuration has no 'loss'"),
    (("model",), [], "its model is [], expected a dict of arrays"),
    (("model", "0.weight"), "abc", "the model's '0.weight' is 'abc', expected a float array"),
    (("model", "0.weight"), np.zeros((3, 3), np.float32), "its model does not fit its configuration"),
    (("model", "0.weight"), KeyError, "its model does not fit its configuration"),
]
RESUME_FIELDS = [
    (("epoch",), "3", "its epoch is '3', expected an integer"),
    (("epoch",), -1, "its epoch is -1, expected an integer"),
    (("history",), 5, "its history is 5, expected a list"),
    (("history", 0), [1], "its history has the entry [1], expected numbers"),
    (("optimizer", "param_groups", 0, "lr"), -5.0, "its optimizer state has lr = -5.0 where its configuration gives"),
    (("optimizer", "param_groups"), {}, "its optimizer state has param_groups {}"),
    (("optimizer", "state", 0, "exp_avg"), KeyError, "its optimizer state of parameter 0 is"),
    (("optimizer", "state", 0, "exp_avg"), np.zeros(3), "has exp_avg = array"),
    (("optimizer", "state", 0, "step"), "1", "has step = '1', expected a non-negative integer"),
    (("optimizer", "state", 99), {}, "its optimizer state has an entry for parameter 99; the model has 4"),
    (("loader",), 5, "its loader state is 5, expected a generator"),
    (("loader", "generator"), {"bit_generator": "MT19937"}, "its loader's generator is not a random generator state"),
    (("generator",), "x", "its generator is not a random generator state"),
    (("generator", "state", "state"), "big", "its generator is not a random generator state"),
    (("generator", "state"), np.zeros(3), "its generator is not a random generator state"),
    ((), KeyError, "not one written by 'tapegrad train'"),
]


def _damaged(small_run, tmp_path, path, value):
    _, checkpoint, _ = small_run
    state = tg.load(checkpoint)
    if path:
        _set(state, path, value)
    else:
        state = [state["config"]]
    target = tmp_path / "run" / "checkpoint.safetensors"
    tg.save(state, target)
    return target


@pytest.mark.parametrize("path,value,message", BAD_FIELDS + RESUME_FIELDS[-1:])
def test_evaluate_a_checkpoint_with_wrongly_typed_fields(small_run, tmp_path, capsys, path, value, message):
    target = _damaged(small_run, tmp_path, path, value)
    code, out, err = _run(["evaluate", str(target)], capsys)
    assert code == 1 and message in err and str(target) in err and out == ""


@pytest.mark.parametrize("path,value,message", BAD_FIELDS + RESUME_FIELDS)
def test_resume_from_a_checkpoint_with_wrongly_typed_fields(small_run, tmp_path, capsys, path, value, message):
    target = _damaged(small_run, tmp_path, path, value)
    before = target.read_bytes()
    code, out, err = _run(["train", "--resume", str(target), "--epochs", "2", "--no-progress"], capsys)
    assert code == 1 and message in err and str(target) in err and out == ""
    assert target.read_bytes() == before  # nothing trained, nothing written


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
def test_every_optimizer_resumes_past_the_checks(small_run, tmp_path, optimizer):
    _, _, data = small_run
    common = ["--data", f"csv:{data}", "--hidden", "4", "--no-progress", "--optimizer", optimizer]
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["train", "--resume", str(tmp_path / "a" / "checkpoint.safetensors"), "--epochs", "2",
                 "--no-progress"]) == 0
    assert main(["train", "--epochs", "2", "--out", str(tmp_path / "b"), *common]) == 0
    resumed, straight = (tg.load(tmp_path / run / "checkpoint.safetensors") for run in "ab")
    assert resumed["epoch"] == straight["epoch"] == 2
    for name, value in straight["model"].items():
        np.testing.assert_array_equal(resumed["model"][name], value)


def test_evaluate_on_data_with_more_classes_than_the_model(small_run, tmp_path, capsys):
    _, checkpoint, _ = small_run
    data = _csv(tmp_path / "three.csv", ["0.1,0.2,0", "0.3,0.4,1"] + ["0.5,0.6,2"] * 10)
    code, out, err = _run(["evaluate", str(checkpoint), "--data", f"csv:{data}"], capsys)
    assert code == 1 and out == ""
    assert f"--data csv:{data}: column 'label': the label '2' (example 2) is not one of the classes ['0', '1']" in err


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch, capsys):
    from tapegrad import cli

    clock = time.localtime(1_800_000_000)
    folders = [cli.new_run_folder(tmp_path / "elsewhere", clock) for _ in range(3)]
    stamp = time.strftime("%Y%m%d-%H%M%S", clock)
    assert [f.name for f in folders] == [stamp, f"{stamp}-2", f"{stamp}-3"] and all(f.is_dir() for f in folders)
    # two whole runs on the same clock, into the default runs/ folder
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.time, "localtime", lambda *seconds: clock)
    data = _csv(tmp_path / "data.csv", ["0.1,0.2,0", "0.3,0.4,1", "0.5,0.6,0", "0.7,0.8,1", "0.9,0.1,1"])
    for seed in ("1", "2"):
        assert main(["train", "--data", f"csv:{data}", "--epochs", "1", "--hidden", "4", "--no-progress",
                     "--seed", seed]) == 0
    seeds = {f.name: tg.load(f / "checkpoint.safetensors")["config"]["seed"] for f in (tmp_path / "runs").iterdir()}
    assert seeds == {stamp: 1, f"{stamp}-2": 2}


def test_resume_on_data_that_no_longer_fits_the_model(small_run, tmp_path, capsys):
    data = _csv(tmp_path / "wider.csv", [f"{i},{i},{i},{i % 2}" for i in range(10)], header="a,b,c,label")
    target = _damaged(small_run, tmp_path, ("config", "data"), f"csv:{data}")
    code, out, err = _run(["train", "--resume", str(target), "--epochs", "2", "--no-progress"], capsys)
    assert code == 1 and out == ""
    assert f"{target}: its model takes 2 features and 2 classes, the data csv:{data} now has 3 and 2" in err


def test_mnist_test_images_of_another_size_are_refused_before_training(tmp_path, capsys):
    for prefix, side in (("train", 28), ("t10k", 20)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", np.zeros((4, side, side), np.uint8), 8)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.zeros(4, np.uint8), 8)
    code, out, err = _run(["train", "--no-progress", "--data", f"mnist:{tmp_path}"], capsys)
    assert code == 1 and out == ""
    assert f"--data mnist:{tmp_path}: the test examples have 400 features, the training examples 784" in err


def test_evaluate_with_many_classes_prints_no_confusion_matrix(tmp_path, capsys):
    rows = [f"{i / 300:.4f},{i % 7},{i % 150}" for i in range(600)]
    data = _csv(tmp_path / "many.csv", rows)
    assert main(["train", "--data", f"csv:{data}", "--epochs", "1", "--hidden", "4", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    code, out, err = _run(["evaluate", str(tmp_path / "run" / "checkpoint.safetensors")], capsys)
    assert code == 0 and out.splitlines()[0].startswith("accuracy ") and "120 examples" in out
    assert out.splitlines()[1] == "confusion matrix not printed: 150 classes, more than 100"


def test_train_without_safetensors_stops_before_training(tmp_path, monkeypatch, capsys):
    for name in ("safetensors", "safetensors.numpy"):
        monkeypatch.setitem(__import__("sys").modules, name, None)  # `import safetensors` raises ImportError
    assert main(["train", "--out", str(tmp_path / "run"), "--no-progress"]) != 0
    err = capsys.readouterr().err.strip()
    assert 'pip install "tapegrad[io]"' in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow that makes the run diverge
def test_a_diverging_run_stops_with_an_error_and_keeps_no_nan_checkpoint(tmp_path, capsys):
    assert main(["train", "--lr", "1e308", "--epochs", "3", "--out", str(tmp_path), "--no-progress"]) != 0
    err = capsys.readouterr().err.strip()
    assert "training diverged in epoch 1" in err and "--lr" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "checkpoint.safetensors").exists()


def test_evaluate_refuses_a_checkpoint_with_non_finite_weights(tmp_path, capsys):
    assert main(["train", "--epochs", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    state = tg.load(tmp_path / "checkpoint.safetensors")
    name = next(iter(state["model"]))
    state["model"][name] = np.full_like(state["model"][name], np.nan)
    tg.save(state, tmp_path / "nan.safetensors")
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "nan.safetensors")]) != 0
    assert "holds NaN or infinite values" in capsys.readouterr().err


# -- the convolutional model (issue 14) -----------------------------------------------------------

@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    """A 6-epoch cnn run on the digits (the full 30-epoch default run: README)."""
    folder = tmp_path_factory.mktemp("cnn")
    assert main(["train", "--model", "cnn", "--epochs", "6", "--out", str(folder), "--no-progress"]) == 0
    return folder


def test_cnn_reaches_98_5_percent_on_the_digits(cnn_run, capsys):
    metrics = json.loads((cnn_run / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.985
    state = tg.load(cnn_run / "checkpoint.safetensors")
    assert state["config"]["model"] == "cnn" and state["config"]["channels"] == [32, 64]
    assert state["config"]["hidden"] == []
    model = state["model"]
    assert model["features.0.weight"].shape == (32, 1, 3, 3) and "features.0.bias" not in model
    assert model["features.1.running_var"].shape == (32,) and model["features.4.weight"].shape == (64, 32, 3, 3)
    assert model["features.1.num_batches_tracked"].dtype == np.int64
    assert int(model["features.1.num_batches_tracked"]) == 6 * 41  # 1294 training examples in batches of 32
    assert model["classifier.0.weight"].shape == (10, 64 * 2 * 2)


def test_evaluate_a_cnn_checkpoint(cnn_run, capsys):
    accuracy = json.loads((cnn_run / "metrics.json").read_text())["test_accuracy"]
    code, out, err = _run(["evaluate", str(cnn_run / "checkpoint.safetensors")], capsys)
    assert code == 0 and out.splitlines()[0] == f"accuracy {accuracy:.4f} on 359 examples of the test split of digits"
    matrix = np.array([[int(n) for n in line.split()[1:]] for line in out.splitlines()[3:]])
    assert matrix.shape == (10, 10) and matrix.sum() == 359 and np.trace(matrix) == round(accuracy * 359)


def test_cnn_resumes_exactly_with_its_batch_norm_statistics(tmp_path):
    common = ["--model", "cnn", "--channels", "4,8", "--hidden", "16", "--no-progress"]
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["train", "--resume", str(tmp_path / "a" / "checkpoint.safetensors"), "--epochs", "2",
                 "--no-progress"]) == 0
    assert main(["train", "--epochs", "2", "--out", str(tmp_path / "b"), *common]) == 0
    resumed, straight = (tg.load(tmp_path / run / "checkpoint.safetensors") for run in "ab")
    assert set(resumed["model"]) == set(straight["model"]) and "classifier.2.weight" in straight["model"]
    for name, value in straight["model"].items():
        np.testing.assert_array_equal(resumed["model"][name], value)


def _synthetic_mnist(folder, n_train, n_test, compress):
    """Four-class 28x28 images: a bright 10x10 square in the quadrant given by the label, on noise."""
    rng = np.random.default_rng(1)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 4, n).astype(np.uint8)
        images = rng.integers(0, 120, (n, 28, 28)).astype(np.uint8)
        for image, label in zip(images, labels):
            top, left = 14 * (label // 2) + 2, 14 * (label % 2) + 2
            image[top:top + 10, left:left + 10] = 255
        suffix = ".gz" if compress else ""
        _write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, 8, compress=compress)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, 8, compress=compress)


@pytest.mark.parametrize("compress", [False, True])
def test_cnn_trains_on_mnist_idx_files_in_a_folder(tmp_path, capsys, compress):
    folder = tmp_path / "mnist"
    folder.mkdir()
    _synthetic_mnist(folder, 128, 64, compress)
    code, out, err = _run(["train", "--model", "cnn", "--channels", "4,8", "--data", str(folder), "--epochs", "4",
                           "--batch-size", "16", "--lr", "0.005",
                           "--out", str(tmp_path / "run"), "--no-progress"], capsys)
    assert code == 0 and "ConvNet 1x28x28 conv [4, 8] linear [392, 4]" in out
    assert "(115 train, 13 validation, 64 test)" in out
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test_accuracy"] >= 0.95
    code, out, err = _run(["evaluate", str(tmp_path / "run" / "checkpoint.safetensors")], capsys)
    assert code == 0 and out.startswith("accuracy ") and f"on 64 examples of the test split of {folder}" in out


@pytest.mark.parametrize("argv,status,message", [
    (["train", "--model", "resnet"], 2, "argument --model: invalid choice: 'resnet' (choose from"),
    (["train", "--model", "cnn", "--channels", "16,x"], 2, "--channels takes channel counts like 16,32"),
    (["train", "--model", "cnn", "--channels", ""], 2, "--channels expected a list of 1 to 8 channel counts"),
    (["train", "--model", "cnn", "--channels", "8,8,8,8"], 1,
     "--model cnn: the images are 8x8, too small for 4 convolution blocks"),
    (["train", "--data", "/no/such/folder"], 1, "unknown dataset '/no/such/folder'"),
])
def test_bad_model_options_are_one_line(argv, status, message, capsys):
    code, out, err = _run(argv + ["--no-progress"], capsys)
    assert code == status and message in err and out == ""


def test_cnn_refuses_data_that_are_not_square_images(small_run, tmp_path, capsys):
    _, _, data = small_run
    code, out, err = _run(["train", "--model", "cnn", "--data", f"csv:{data}", "--no-progress"], capsys)
    assert code == 1 and out == ""
    assert "--model cnn: the cnn model takes square one-channel images, but the data has 2 features" in err


def test_mlp_checkpoints_written_before_the_model_field_still_load(small_run, tmp_path, capsys):
    _, checkpoint, _ = small_run
    state = tg.load(checkpoint)
    del state["config"]["model"], state["config"]["channels"]
    target = tmp_path / "old" / "checkpoint.safetensors"
    tg.save(state, target)
    code, out, err = _run(["evaluate", str(target)], capsys)
    assert code == 0 and out.startswith("accuracy ")
    code, out, err = _run(["train", "--resume", str(target), "--epochs", "2", "--no-progress"], capsys)
    assert code == 0 and tg.load(target)["config"]["model"] == "mlp"


@pytest.mark.parametrize("value,message", [
    (np.array(3.0), "the model's 'features.1.num_batches_tracked' is array(3.), expected a non-negative integer"),
    (np.array([3]), "expected a non-negative integer array of shape ()"),
    (np.array(-1), "expected a non-negative integer array of shape ()"),
    ("3", "expected a non-negative integer array of shape ()"),
])
def test_a_cnn_checkpoint_with_a_bad_batch_counter_is_refused(cnn_run, tmp_path, capsys, value, message):
    state = tg.load(cnn_run / "checkpoint.safetensors")
    state["model"]["features.1.num_batches_tracked"] = value
    target = tmp_path / "bad.safetensors"
    tg.save(state, target)
    code, out, err = _run(["evaluate", str(target)], capsys)
    assert code == 1 and message in err and out == ""


def test_an_integer_array_where_a_weight_belongs_is_refused(cnn_run, tmp_path, capsys):
    state = tg.load(cnn_run / "checkpoint.safetensors")
    state["model"]["features.1.running_mean"] = np.zeros(32, np.int64)
    target = tmp_path / "bad.safetensors"
    tg.save(state, target)
    code, out, err = _run(["evaluate", str(target)], capsys)
    assert code == 1 and "the model's 'features.1.running_mean' is" in err and "expected a float array" in err

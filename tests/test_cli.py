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
    assert len(metrics["epochs"]) == 30 and metrics["test_accuracy"] >= 0.97
    assert set(metrics["epochs"][0]) == {"epoch", "train_loss", "train_accuracy", "test_accuracy", "lr", "seconds"}
    assert metrics["epochs"][-1]["train_loss"] < metrics["epochs"][0]["train_loss"]
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    checkpoint = tg.load(tmp_path / "checkpoint.safetensors")
    assert checkpoint["epoch"] == 30 and set(checkpoint) >= {"model", "optimizer", "generator", "loader"}
    assert f"final test accuracy {metrics['test_accuracy']:.4f}" in capsys.readouterr().out


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
    assert [e["test_accuracy"] for e in resumed["history"]] == [e["test_accuracy"] for e in straight["history"]]


def test_evaluate_prints_accuracy_and_confusion_matrix(tmp_path, capsys):
    main(["train", "--epochs", "3", "--out", str(tmp_path), "--no-progress", "--loss", "hinge"])
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "checkpoint.safetensors")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("accuracy ") and "359 examples" in out[0]
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

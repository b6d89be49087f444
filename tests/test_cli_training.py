"""``tapegrad train`` as practitioners expect it (issue 19): validation split and model selection, the test set
once at the end, early stopping, best.safetensors, learning-rate schedules, metrics.csv and metrics.json with the
configuration, --config, real CSV files (the target anywhere, delimiters, missing values, labels of any kind,
standardization), file permissions, --resume with changed settings, and the progress bar."""

from __future__ import annotations

import csv
import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.cli import main

from .test_cli import _run  # main(argv) -> (exit status, stdout, the one stderr line)

ROOT = Path(__file__).resolve().parents[1]


def _metrics(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def _confusion(out: str) -> tuple[list[str], np.ndarray]:
    """The class names and counts of evaluate's confusion matrix."""
    lines = out.splitlines()
    start = lines.index("confusion matrix (rows: true class, columns: predicted class)")
    names = lines[start + 1].split()
    rows = [line.split() for line in lines[start + 2:start + 2 + len(names)]]
    assert [row[0] for row in rows] == names
    return names, np.array([[int(n) for n in row[1:]] for row in rows])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small data files as practitioners have them."""
    folder = tmp_path_factory.mktemp("data")
    from sklearn.datasets import load_wine

    wine = load_wine()  # written as the UCI repository's wine.data: the class (1-3) first, no header
    (folder / "wine.data").write_text("".join(
        ",".join([str(label + 1), *(f"{v:g}" for v in row[:-1]), str(int(row[-1]))]) + "\n"
        for row, label in zip(wine.data, wine.target)))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3)) * [1.0, 5.0, 50.0]
    signs = np.where(x[:, 0] + x[:, 1] / 5 > 0, 1, -1)
    (folder / "signs.csv").write_text("a,b,c,y\n" + "".join(f"{a:.4f},{b:.4f},{c:.4f},{t}\n"
                                                            for (a, b, c), t in zip(x, signs)))
    (folder / "quality.csv").write_text('"fixed acidity";"volatile acidity";"sugar";"quality"\n' + "".join(
        f"{a:.4f};{b:.4f};{c:.4f};{'good' if t > 0 else 'bad'}\n" for (a, b, c), t in zip(x, signs)))
    lines = [f"{a:.4f},{b:.4f},{c:.4f},{t}" for (a, b, c), t in zip(x, signs)]
    lines[3] = ",".join(["", *lines[3].split(",")[1:]])  # line 5: a
    lines[7] = ",".join([*lines[7].split(",")[:3], ""])  # line 9: y
    lines[9] = ",".join([*lines[9].split(",")[:2], "NA", lines[9].split(",")[3]])  # line 11: c
    (folder / "holes.csv").write_text("a,b,c,y\n" + "\n".join(lines) + "\n")
    noisy = rng.normal(size=(100, 2))  # half the labels are noise: the validation loss soon rises
    labels = np.where(rng.random(100) < 0.5, noisy[:, 0] > 0, rng.random(100) < 0.5).astype(int)
    (folder / "noisy.csv").write_text("u,v,label\n" + "".join(f"{u:.4f},{v:.4f},{t}\n"
                                                              for (u, v), t in zip(noisy, labels)))
    return folder


# -- validation, model selection, the test set once ----------------------------------------------

def test_validation_split_selection_and_the_files_of_a_run(files, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = _run(["train", "--data", f"csv:{files / 'signs.csv'}", "--epochs", "6", "--hidden", "16",
                           "--out", str(run), "--no-progress", "--seed", "3"], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"training MLP [3, 16, 2] on csv:{files / 'signs.csv'} (86 train, 10 validation, 24 "
                               "test, standardized) with adam, lr 0.001, 6 epochs")
    metrics = _metrics(run)
    assert sorted(p.name for p in run.iterdir()) == ["best.safetensors", "checkpoint.safetensors", "curves.png",
                                                     "metrics.csv", "metrics.json"]
    assert metrics["data"] == {"train": 86, "validation": 10, "test": 24, "features": 3, "classes": ["-1", "1"],
                               "target": "y", "standardized": True, "dropped_lines": []}
    history = metrics["epochs"]
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6]
    assert all(set(row) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
               for row in history)
    # the validation accuracy is a count over the 10 held-out examples
    assert all(round(row["val_accuracy"] * 10, 9).is_integer() for row in history)
    losses = [row["val_loss"] for row in history]
    assert metrics["best_epoch"] == 1 + int(np.argmin(losses)) == metrics["selected_epoch"]
    assert metrics["best_value"] == min(losses) and metrics["monitor"] == "val_loss"
    assert round(metrics["test_accuracy"] * 24, 9).is_integer() and metrics["stopped_early_at"] is None
    # the test set was evaluated once, with the best epoch's weights: evaluate on best.safetensors agrees
    assert lines[-1] == (f"test accuracy {metrics['test_accuracy']:.4f}, loss {metrics['test_loss']:.4f}, with the "
                         f"best epoch's weights (epoch {metrics['best_epoch']}, val_loss {min(losses):.4f}); metrics, "
                         f"checkpoints and curves in {run}")
    code, out, _ = _run(["evaluate", str(run / "best.safetensors")], capsys)
    assert out.splitlines()[0] == (f"accuracy {metrics['test_accuracy']:.4f} on 24 examples of the test split of "
                                   f"csv:{files / 'signs.csv'}")
    # metrics.csv: the same numbers, one row per epoch
    with open(run / "metrics.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    for row, expected in zip(table, history):
        assert {k: float(v) for k, v in row.items()} == {k: float(v) for k, v in expected.items()}
    best, last = tg.load(run / "best.safetensors"), tg.load(run / "checkpoint.safetensors")
    assert best["epoch"] == metrics["best_epoch"] and last["epoch"] == 6
    assert best["classes"] == ["-1", "1"] and best["config"]["val_split"] == 0.1


def test_select_last_and_no_validation(files, tmp_path, capsys):
    data = f"csv:{files / 'noisy.csv'}"
    common = ["train", "--data", data, "--epochs", "12", "--hidden", "64", "--lr", "0.05", "--no-progress"]
    code, out, _ = _run([*common, "--select", "last", "--out", str(tmp_path / "last")], capsys)
    metrics = _metrics(tmp_path / "last")
    assert code == 0 and metrics["selected_epoch"] == 12 and metrics["best_epoch"] < 12
    assert "with the last epoch's weights (epoch 12)" in out
    _, out, _ = _run(["evaluate", str(tmp_path / "last" / "checkpoint.safetensors")], capsys)
    assert out.startswith(f"accuracy {metrics['test_accuracy']:.4f} on 20 examples")
    code, out, _ = _run([*common, "--val-split", "0", "--out", str(tmp_path / "none")], capsys)
    metrics = _metrics(tmp_path / "none")
    assert code == 0 and "(80 train, 0 validation, 20 test" in out
    assert all(row["val_loss"] is None and row["val_accuracy"] is None for row in metrics["epochs"])
    assert metrics["best_epoch"] is None and metrics["select"] == "last" and metrics["selected_epoch"] == 12
    assert not (tmp_path / "none" / "best.safetensors").exists()
    assert (tmp_path / "none" / "metrics.csv").read_text().splitlines()[1].split(",")[3:5] == ["", ""]


# -- early stopping ------------------------------------------------------------------------------

@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy"])
def test_early_stopping_stops_patience_epochs_after_the_best(files, tmp_path, capsys, monitor):
    code, out, _ = _run(["train", "--data", f"csv:{files / 'noisy.csv'}", "--epochs", "200", "--hidden", "64",
                         "--lr", "0.05", "--val-split", "0.3", "--early-stopping", "3", "--monitor", monitor,
                         "--no-progress", "--out", str(tmp_path)], capsys)
    metrics = _metrics(tmp_path)
    values = [row[monitor] for row in metrics["epochs"]]
    best = 1 + int(np.argmin(values) if monitor == "val_loss" else np.argmax(values))  # the first best
    assert code == 0 and metrics["best_epoch"] == best and metrics["best_value"] == values[best - 1]
    assert metrics["stopped_early_at"] == best + 3 == len(values) < 200
    assert tg.load(tmp_path / "checkpoint.safetensors")["epoch"] == best + 3
    assert tg.load(tmp_path / "best.safetensors")["epoch"] == best
    assert out.splitlines()[-2] == (f"early stopping at epoch {best + 3}: {monitor} has not improved for 3 epochs "
                                    f"(best {values[best - 1]:.4f} at epoch {best})")


def test_min_delta_counts_only_larger_improvements(files, tmp_path, capsys):
    code, _, _ = _run(["train", "--data", f"csv:{files / 'noisy.csv'}", "--epochs", "30", "--hidden", "16",
                       "--early-stopping", "2", "--min-delta", "10", "--no-progress", "--out", str(tmp_path)], capsys)
    metrics = _metrics(tmp_path)
    assert code == 0 and metrics["best_epoch"] == 1 and metrics["stopped_early_at"] == 3


# -- learning-rate schedules, against PyTorch's -------------------------------------------------

def _torch_rates(kind, lr, epochs, values=None, **options):
    import torch

    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=lr)
    scheduler = {"step": torch.optim.lr_scheduler.StepLR, "cosine": torch.optim.lr_scheduler.CosineAnnealingLR,
                 "plateau": torch.optim.lr_scheduler.ReduceLROnPlateau}[kind](optimizer, **options)
    rates = []
    for epoch in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step(values[epoch]) if kind == "plateau" else scheduler.step()
    return rates


@pytest.mark.parametrize("options,torch_options", [
    (["--scheduler", "step", "--step-size", "2", "--gamma", "0.5"], {"step_size": 2, "gamma": 0.5}),
    (["--scheduler", "cosine", "--eta-min", "0.001"], {"T_max": 7, "eta_min": 0.001}),
    (["--scheduler", "cosine", "--t-max", "3"], {"T_max": 3}),
    (["--scheduler", "plateau", "--plateau-patience", "0", "--factor", "0.5", "--min-lr", "0.002"],
     {"patience": 0, "factor": 0.5, "min_lr": 0.002}),
])
def test_schedules_give_pytorchs_rates(files, tmp_path, capsys, options, torch_options):
    code, out, _ = _run(["train", "--data", f"csv:{files / 'noisy.csv'}", "--epochs", "7", "--hidden", "64",
                         "--lr", "0.02", "--no-progress", "--out", str(tmp_path), *options], capsys)
    history = _metrics(tmp_path)["epochs"]
    expected = _torch_rates(options[1], 0.02, 7, [row["val_loss"] for row in history], **torch_options)
    np.testing.assert_allclose([row["lr"] for row in history], expected, rtol=1e-12)
    assert code == 0 and f"({options[1]} schedule)" in out.splitlines()[0]
    assert out.splitlines()[1].endswith(f"  lr {0.02:.3g}")
    if options[1] == "plateau":
        assert len(set(expected)) > 1  # the noisy validation loss stalled at least once


def test_a_scheduled_run_resumes_exactly(files, tmp_path):
    common = ["--data", f"csv:{files / 'noisy.csv'}", "--hidden", "16", "--no-progress", "--lr", "0.02",
              "--scheduler", "cosine", "--t-max", "5", "--early-stopping", "10"]
    assert main(["train", "--epochs", "2", "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["train", "--resume", str(tmp_path / "a" / "checkpoint.safetensors"), "--epochs", "5",
                 "--no-progress"]) == 0
    assert main(["train", "--epochs", "5", "--out", str(tmp_path / "b"), *common]) == 0
    resumed, straight = (tg.load(tmp_path / run / "checkpoint.safetensors") for run in "ab")
    for name, value in straight["model"].items():
        np.testing.assert_array_equal(resumed["model"][name], value)
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in straight["history"]]
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in resumed["history"]] == strip
    a, b = _metrics(tmp_path / "a"), _metrics(tmp_path / "b")
    for key in ("best_epoch", "test_accuracy", "test_loss"):
        assert a[key] == b[key]
    assert a["resumes"] == [{"epoch": 2, "changed": {"epochs": [2, 5]}}]


# -- the configuration, and repeating a run ------------------------------------------------------

def test_metrics_json_records_the_configuration_and_repeats_the_run(files, tmp_path, capsys):
    argv = ["train", "--data", f"csv:{files / 'quality.csv'}", "--epochs", "3", "--hidden", "8,8",
            "--optimizer", "sgd", "--momentum", "0.5", "--scheduler", "step", "--step-size", "2", "--seed", "7",
            "--early-stopping", "5", "--no-progress", "--out", str(tmp_path / "a")]
    assert _run(argv, capsys)[0] == 0
    metrics = _metrics(tmp_path / "a")
    config = metrics["config"]
    assert config["hidden"] == [8, 8] and config["optimizer"] == "sgd" and config["lr"] == 0.05
    assert config["momentum"] == 0.5 and config["scheduler"] == "step" and config["step_size"] == 2
    assert config["early_stopping"] == 5 and config["seed"] == metrics["seed"] == 7 and config["val_split"] == 0.1
    assert config["standardize"] is True and config["select"] == "best" and config["delimiter"] is None
    assert "features" not in config and "classes" not in config
    assert metrics["command"] == "tapegrad " + " ".join(argv)
    assert metrics["versions"]["numpy"] == np.__version__ and metrics["versions"]["tapegrad"]
    assert metrics["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    # the same run again from its metrics.json: the same weights, bit for bit, and the same numbers
    code, out, _ = _run(["train", "--config", str(tmp_path / "a" / "metrics.json"), "--out", str(tmp_path / "b"),
                         "--no-progress"], capsys)
    assert code == 0
    first, again = (tg.load(tmp_path / run / "checkpoint.safetensors") for run in "ab")
    for name, value in first["model"].items():
        np.testing.assert_array_equal(again["model"][name], value)
    repeated = _metrics(tmp_path / "b")
    assert repeated["config"] == config
    for key in ("test_accuracy", "test_loss", "best_epoch"):
        assert repeated[key] == metrics[key]
    # a config.json of a few settings; the command line overrides it
    (tmp_path / "config.json").write_text(json.dumps({"data": f"csv:{files / 'signs.csv'}", "hidden": [4],
                                                      "epochs": 5, "lr": 0.01, "val_split": 0.25}))
    assert _run(["train", "--config", str(tmp_path / "config.json"), "--epochs", "2", "--out", str(tmp_path / "c"),
                 "--no-progress"], capsys)[0] == 0
    config = _metrics(tmp_path / "c")["config"]
    assert (config["hidden"], config["epochs"], config["lr"], config["val_split"]) == ([4], 2, 0.01, 0.25)
    assert _metrics(tmp_path / "c")["data"]["validation"] == 24


@pytest.mark.parametrize("content,message", [
    ("{", "--config {}: not JSON"),
    ("[1, 2]", "--config {}: expected an object of settings (or a run's metrics.json), got [1, 2]"),
    ('{"lr": 0.1, "learning_rate": 1}', "--config {}: unknown settings ['learning_rate']; the settings are model,"),
    ('{"epochs": 0}', "--config {}: 'epochs' is not valid: expected an integer from 1 to 1000000, got 0"),
    ('{"config": {"features": 3}}', "--config {}: unknown settings ['features']"),
])
def test_bad_config_files_are_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "config.json"
    path.write_text(content)
    code, out, err = _run(["train", "--config", str(path), "--no-progress", "--out", str(tmp_path / "run")], capsys)
    assert code == 1 and message.format(path) in err and out == "" and not (tmp_path / "run").exists()


# -- CSV files as they come ----------------------------------------------------------------------

def test_the_uci_wine_file_class_first_without_a_header(files, tmp_path, capsys):
    data = f"csv:{files / 'wine.data'}"
    code, out, err = _run(["train", "--data", data, "--no-progress", "--out", str(tmp_path / "refused")], capsys)
    assert code == 1 and out == "" and not (tmp_path / "refused").exists()
    assert err == (f"tapegrad: error: --data {data}: the target column '13' holds 121 distinct integers in 178 rows: "
                   "it looks continuous (a measurement), not a class; tapegrad train classifies: give the class "
                   "column with --target NAME|INDEX (columns: '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', "
                   "'11', ... (14 in all))")
    run = tmp_path / "run"
    code, out, _ = _run(["train", "--data", data, "--target", "0", "--seed", "1", "--epochs", "20", "--hidden", "32",
                         "--lr", "0.01", "--no-progress", "--out", str(run)], capsys)
    metrics = _metrics(run)
    assert code == 0 and "MLP [13, 32, 3]" in out and "(128 train, 14 validation, 36 test, standardized)" in out
    assert metrics["data"]["classes"] == ["1", "2", "3"] and metrics["data"]["target"] == "0"
    assert metrics["test_accuracy"] >= 0.95
    code, out, _ = _run(["evaluate", str(run / "best.safetensors")], capsys)
    names, matrix = _confusion(out)
    assert names == ["1", "2", "3"] and matrix.sum() == 36
    assert np.trace(matrix) == round(metrics["test_accuracy"] * 36)


def test_standardization_uses_the_training_split_only_and_evaluate_applies_it(files, tmp_path, capsys):
    path = files / "signs.csv"
    assert main(["train", "--data", f"csv:{path}", "--epochs", "3", "--hidden", "8", "--no-progress", "--seed", "4",
                 "--out", str(tmp_path / "on")]) == 0
    state = tg.load(tmp_path / "on" / "best.safetensors")
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    order = np.random.default_rng(4).permutation(120)
    train, test = order[:96], order[96:]
    train = train[np.random.default_rng([4, 1]).permutation(96)][10:]  # 10 held out for validation
    features = rows[:, :3].astype(np.float32)
    np.testing.assert_allclose(state["scaler"]["mean"], features[train].mean(axis=0, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(state["scaler"]["scale"], features[train].std(axis=0, dtype=np.float64), rtol=1e-6)
    # evaluate standardizes the test rows with those statistics: its accuracy is the model's on them
    model = tg.nn.MLP([3, 8, 2])
    model.load_state_dict(state["model"])
    scaled = (features[test] - state["scaler"]["mean"]) / state["scaler"]["scale"]
    predicted = model(tg.tensor(scaled)).numpy().argmax(axis=1)
    truth = (rows[test, 3] > 0).astype(int)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "on" / "best.safetensors")]) == 0
    assert capsys.readouterr().out.startswith(f"accuracy {(predicted == truth).mean():.4f} on 24 examples")
    assert _metrics(tmp_path / "on")["test_accuracy"] == (predicted == truth).mean()
    code, out, _ = _run(["train", "--data", f"csv:{path}", "--epochs", "1", "--no-standardize", "--no-progress",
                         "--out", str(tmp_path / "off")], capsys)
    assert code == 0 and "standardized" not in out.splitlines()[0]
    assert tg.load(tmp_path / "off" / "checkpoint.safetensors")["scaler"] is None
    code, out, _ = _run(["train", "--epochs", "1", "--no-progress", "--out", str(tmp_path / "d")], capsys)
    assert code == 0 and "359 test, standardized)" in out  # the MLP on the digits, by default
    code, out, _ = _run(["train", "--epochs", "1", "--no-standardize", "--no-progress", "--out", str(tmp_path / "e")],
                        capsys)
    assert code == 0 and "359 test)" in out and tg.load(tmp_path / "e" / "checkpoint.safetensors")["scaler"] is None
    code, out, _ = _run(["train", "--model", "cnn", "--channels", "4", "--epochs", "1", "--no-progress",
                         "--out", str(tmp_path / "c")], capsys)
    assert code == 0 and "359 test)" in out  # the CNN reads the pixels as an image


def test_minus_one_one_labels_semicolons_and_text_labels_keep_their_names(files, tmp_path, capsys):
    assert main(["train", "--data", f"csv:{files / 'signs.csv'}", "--epochs", "8", "--no-progress",
                 "--out", str(tmp_path / "signs")]) == 0
    capsys.readouterr()
    _, out, _ = _run(["evaluate", str(tmp_path / "signs" / "best.safetensors")], capsys)
    names, matrix = _confusion(out)
    assert names == ["-1", "1"] and matrix.sum() == 24 and np.trace(matrix) >= 20
    code, out, _ = _run(["train", "--data", f"csv:{files / 'quality.csv'}", "--target", "quality", "--epochs", "8",
                         "--no-progress", "--out", str(tmp_path / "quality")], capsys)
    assert code == 0 and "MLP [3, 128, 64, 2]" in out
    _, out, _ = _run(["evaluate", str(tmp_path / "quality" / "best.safetensors")], capsys)
    names, quality = _confusion(out)
    assert names == ["bad", "good"]
    np.testing.assert_array_equal(quality, matrix)  # the same rows, split and model: -1 is bad, 1 is good
    # another file with the same classes: all its rows
    other = tmp_path / "other.csv"
    other.write_text((files / "quality.csv").read_text())
    _, out, _ = _run(["evaluate", str(tmp_path / "quality" / "best.safetensors"), "--data", f"csv:{other}",
                      "--target", "-1"], capsys)
    assert out.startswith("accuracy ") and "on 120 examples of csv:" in out and _confusion(out)[1].sum() == 120
    # the delimiter given: a comma reads one column
    code, _, err = _run(["train", "--data", f"csv:{files / 'quality.csv'}", "--delimiter", "comma",
                         "--no-progress"], capsys)
    assert code == 1 and "1 column; needs the target and at least one feature column (read with the delimiter ',')" \
        in err


def test_missing_values_are_named_or_their_rows_left_out(files, tmp_path, capsys):
    data = f"csv:{files / 'holes.csv'}"
    code, out, err = _run(["train", "--data", data, "--no-progress", "--out", str(tmp_path / "a")], capsys)
    assert code == 1 and out == "" and not (tmp_path / "a").exists()
    assert err == (f"tapegrad: error: --data {data}: 3 missing values in 3 rows: line 5, column 'a'; line 9, "
                   "column 'y'; line 11, column 'c'; leave those rows out with --drop-missing")
    code, out, _ = _run(["train", "--data", data, "--drop-missing", "--epochs", "2", "--no-progress",
                         "--out", str(tmp_path / "b")], capsys)
    assert code == 0 and out.splitlines()[0] == f"--data {data}: left out 3 rows with missing values (lines 5, 9, 11)"
    metrics = _metrics(tmp_path / "b")
    assert metrics["data"]["dropped_lines"] == [5, 9, 11]
    assert metrics["data"]["train"] + metrics["data"]["validation"] + metrics["data"]["test"] == 117
    assert metrics["config"]["drop_missing"] is True


# -- permissions ---------------------------------------------------------------------------------

def test_run_files_get_the_users_umask(files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o027)
    try:
        assert main(["train", "--data", f"csv:{files / 'signs.csv'}", "--epochs", "1", "--no-progress"]) == 0
    finally:
        os.umask(old)
    (run,) = (tmp_path / "runs").iterdir()
    assert stat.S_IMODE(run.stat().st_mode) == 0o750
    names = sorted(p.name for p in run.iterdir())
    assert names == ["best.safetensors", "checkpoint.safetensors", "curves.png", "metrics.csv", "metrics.json"]
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in run.iterdir()} == dict.fromkeys(names, 0o640)


# -- resuming with other settings ----------------------------------------------------------------

def test_resume_applies_changed_settings_and_says_so(files, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", f"csv:{files / 'noisy.csv'}", "--epochs", "2", "--hidden", "8",
                 "--optimizer", "sgd", "--scheduler", "step", "--step-size", "1", "--gamma", "0.5",
                 "--no-progress", "--out", str(run)]) == 0
    capsys.readouterr()
    checkpoint = run / "checkpoint.safetensors"
    code, out, _ = _run(["train", "--resume", str(checkpoint), "--epochs", "4", "--lr", "0.2", "--gamma", "0.1",
                         "--momentum", "0.5", "--batch-size", "16", "--no-progress"], capsys)
    assert code == 0
    assert out.splitlines()[:5] == [f"resuming {checkpoint} at epoch 3: --lr changes from 0.05 to 0.2",
                                    f"resuming {checkpoint} at epoch 3: --momentum changes from 0.9 to 0.5",
                                    f"resuming {checkpoint} at epoch 3: --epochs changes from 2 to 4",
                                    f"resuming {checkpoint} at epoch 3: --batch-size changes from 32 to 16",
                                    f"resuming {checkpoint} at epoch 3: --gamma changes from 0.5 to 0.1"]
    state = tg.load(checkpoint)
    rates = [row["lr"] for row in state["history"]]
    np.testing.assert_allclose(rates, [0.05, 0.025, 0.2 * 0.1 ** 2, 0.2 * 0.1 ** 3], rtol=1e-12)
    group = state["optimizer"]["param_groups"][0]
    assert group["momentum"] == 0.5 and group["lr"] == pytest.approx(0.2 * 0.1 ** 4)
    config = state["config"]
    assert (config["lr"], config["momentum"], config["gamma"], config["batch_size"], config["epochs"]) == \
        (0.2, 0.5, 0.1, 16, 4)
    assert _metrics(run)["resumes"] == [{"epoch": 2, "changed": {"lr": [0.05, 0.2], "momentum": [0.9, 0.5],
                                                                 "epochs": [2, 4], "batch_size": [32, 16],
                                                                 "gamma": [0.5, 0.1]}}]


@pytest.mark.parametrize("option,value,message", [
    ("--hidden", "32", "--hidden cannot change in a resumed run (it has 8, the command gives 32)"),
    ("--optimizer", "adam", "--optimizer cannot change in a resumed run (it has sgd, the command gives adam)"),
    ("--seed", "3", "--seed cannot change in a resumed run (it has 0, the command gives 3)"),
    ("--val-split", "0.2", "--val-split cannot change in a resumed run (it has 0.1, the command gives 0.2)"),
    ("--scheduler", "cosine", "--scheduler cannot change in a resumed run (it has step, the command gives cosine)"),
    ("--monitor", "val_accuracy", "--monitor cannot change in a resumed run"),
    ("--config", "x.json", "--config starts a new run; --resume continues one with its own configuration"),
    ("--t-max", "3", "--t-max: applies to --scheduler cosine, not step"),
])
def test_resume_refuses_what_cannot_change_naming_it(files, tmp_path, capsys, option, value, message):
    run = tmp_path / "run"
    assert main(["train", "--data", f"csv:{files / 'noisy.csv'}", "--epochs", "1", "--hidden", "8",
                 "--optimizer", "sgd", "--scheduler", "step", "--no-progress", "--out", str(run)]) == 0
    capsys.readouterr()
    before = (run / "checkpoint.safetensors").read_bytes()
    code, out, err = _run(["train", "--resume", str(run / "checkpoint.safetensors"), option, value, "--epochs", "2",
                           "--no-progress"], capsys)
    assert code == 1 and out == "" and message in err
    assert (run / "checkpoint.safetensors").read_bytes() == before


def test_checkpoints_written_before_validation_existed_still_evaluate_and_resume(files, tmp_path, capsys):
    assert main(["train", "--data", f"csv:{files / 'noisy.csv'}", "--epochs", "1", "--hidden", "4", "--val-split",
                 "0", "--no-standardize", "--no-progress", "--out", str(tmp_path / "new")]) == 0
    state = tg.load(tmp_path / "new" / "checkpoint.safetensors")
    for name in ("classes", "scaler", "scheduler", "best", "best_model", "resumes"):
        del state[name]
    keep = ("model", "channels", "data", "hidden", "activation", "loss", "optimizer", "lr", "momentum", "weight_decay",
            "epochs", "batch_size", "seed", "features", "classes")
    state["config"] = {k: v for k, v in state["config"].items() if k in keep}
    state["history"] = [{"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.8, "test_accuracy": 0.75, "lr": 0.001,
                         "seconds": 0.1}]
    old = tmp_path / "old" / "checkpoint.safetensors"
    tg.save(state, old)
    capsys.readouterr()
    code, out, _ = _run(["evaluate", str(old)], capsys)
    assert code == 0 and _confusion(out)[0] == ["0", "1"] and _confusion(out)[1].sum() == 20
    code, out, _ = _run(["train", "--resume", str(old), "--epochs", "2", "--no-progress"], capsys)
    assert code == 0 and "(80 train, 0 validation, 20 test)" in out
    history = tg.load(old)["history"]
    assert history[0] == {"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.8, "val_loss": None,
                          "val_accuracy": None, "lr": 0.001, "seconds": 0.1}
    assert len(history) == 2


# -- bad arguments -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,status,message", [
    (["--val-split", "1"], 2, "argument --val-split: expected a float from 0 to 1, 1 excluded, got 1.0"),
    (["--val-split", "-0.1"], 2, "argument --val-split: expected a float from 0 to 1"),
    (["--early-stopping", "0"], 2, "argument --early-stopping: expected an integer from 1 to 1000000, got 0"),
    (["--early-stopping", "soon"], 2, "argument --early-stopping: expected an integer, got 'soon'"),
    (["--factor", "1"], 2, "argument --factor: expected a float between 0 and 1, both excluded, got 1.0"),
    (["--scheduler", "cyclic"], 2, "argument --scheduler: invalid choice: 'cyclic'"),
    (["--monitor", "loss"], 2, "argument --monitor: invalid choice: 'loss'"),
    (["--select", "first"], 2, "argument --select: invalid choice: 'first'"),
    (["--delimiter", ";;"], 2, "argument --delimiter: expected one character other than a quote or a line break"),
    (["--target", " "], 2, "argument --target: expected a column name or position"),
    (["--early-stopping", "3", "--val-split", "0"], 1, "--early-stopping 3: needs a validation split, but "
                                                       "--val-split is 0"),
    (["--select", "best", "--val-split", "0"], 1, "--select best: needs a validation split"),
    (["--scheduler", "plateau", "--val-split", "0"], 1, "--scheduler plateau: needs a validation split"),
    (["--monitor", "val_accuracy", "--val-split", "0"], 1, "--monitor: needs a validation split"),
    (["--gamma", "0.5"], 1, "--gamma: applies to --scheduler step, not none"),
    (["--scheduler", "step", "--factor", "0.5", "--eta-min", "0"], 1, "--eta-min: applies to --scheduler cosine, "
                                                                       "not step"),
    (["--momentum", "0.5"], 1, "--momentum: applies to sgd and rmsprop, not adam"),
    (["--target", "0"], 1, "--target: applies to csv: data, not digits"),
    (["--drop-missing", "--delimiter", "tab"], 1, "--delimiter, --drop-missing: apply to csv: data, not digits"),
    (["--config", "/no/such.json"], 1, "--config /no/such.json: cannot read it (No such file or directory)"),
])
def test_bad_new_options_are_one_line_before_training(tmp_path, capsys, argv, status, message):
    code, out, err = _run(["train", "--no-progress", "--out", str(tmp_path / "run"), *argv], capsys)
    assert code == status and message in err and out == "" and not (tmp_path / "run").exists()


# -- progress ------------------------------------------------------------------------------------

PTY = """
import os, pty, subprocess, sys
master, slave = pty.openpty()  # a terminal that reports no size, as under docker exec or script
process = subprocess.Popen(sys.argv[1:], stdin=slave, stdout=slave, stderr=slave, close_fds=True)
os.close(slave)
chunks = []
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    chunks.append(chunk)
sys.stdout.write(b"".join(chunks).decode(errors="replace"))
sys.exit(process.wait())
"""


def _on_a_terminal(tmp_path, code, *argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PTY, sys.executable, "-c", code, *argv], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


COMMAND = "import sys\nfrom tapegrad.cli import main\nsys.exit(main(sys.argv[1:]))"
NO_TQDM = "import sys\nsys.modules['tqdm'] = None\nfrom tapegrad.cli import main\nsys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize("code", [COMMAND, NO_TQDM], ids=["tqdm", "plain"])
def test_one_progress_bar_across_the_epochs_with_the_time_left(tmp_path, code):
    out = _on_a_terminal(tmp_path, code, "train", "--epochs", "3", "--hidden", "512,512", "--out", "run")
    frames = [frame for frame in out.replace("\n", "\r").split("\r") if frame.startswith("training ")]
    assert frames, out
    assert all("/123 [" in frame for frame in frames if "%|" in frame)  # 3 epochs of 41 batches: one bar
    assert any("<00:" in frame and "/3 loss" in frame for frame in frames)  # the time left, the epoch
    lines = [line.strip() for line in out.replace("\r", "\n").splitlines()]
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1", "2", "3"]
    assert any(line.startswith("test accuracy ") for line in lines)


def test_no_progress_prints_only_the_lines(tmp_path):
    out = _on_a_terminal(tmp_path, COMMAND, "train", "--epochs", "2", "--hidden", "8", "--out", "run",
                         "--no-progress")
    assert "%|" not in out and "training " not in out.replace("training MLP", "")
    assert [line.split()[1] for line in out.splitlines() if line.startswith("epoch ")] == ["1", "2"]


def test_curves_show_validation_and_the_test_result(files, tmp_path):
    assert main(["train", "--data", f"csv:{files / 'signs.csv'}", "--epochs", "3", "--no-progress",
                 "--out", str(tmp_path)]) == 0
    picture = (tmp_path / "curves.png").read_bytes()
    assert picture[:8] == b"\x89PNG\r\n\x1a\n" and len(picture) > 10_000
    assert math.isfinite(_metrics(tmp_path)["test_loss"])

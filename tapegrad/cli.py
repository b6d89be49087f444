"""The ``tapegrad`` command: train a classifier (an MLP or a small convolutional network) and evaluate a
checkpoint.

``tapegrad train`` with no arguments trains an MLP on scikit-learn's bundled digits: 80% of the examples
for training, of which 10% are held out for validation after every epoch (model selection, early stopping,
the plateau schedule), and 20% for the test, evaluated once at the end with the selected weights. It
writes ``metrics.json`` (the configuration, versions and results), ``metrics.csv`` (one row per epoch),
``checkpoint.safetensors`` (the last epoch), ``best.safetensors`` (the best epoch) and ``curves.png``
into ``runs/<timestamp>/``. Every error is one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import creation, distributed, nn, optim
from .data import DataLoader, TensorDataset, datasets
from .engine import no_grad
from .errors import TapegradError
from .ops.shape import shown
from .serialization import load, require_io, save, write_atomically
from .tensor import Tensor

MODELS = ("mlp", "cnn")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LOSSES = ("cross_entropy", "hinge")
SCHEDULERS = ("none", "step", "cosine", "plateau")
MONITORS = ("val_loss", "val_accuracy")
SELECTIONS = ("best", "last")
# limits that turn absurd settings into a clear error instead of an allocation of terabytes
MAX_HIDDEN = 100_000  # units of one hidden layer
MAX_LAYERS = 100
MAX_CONV_BLOCKS = 8  # each halves the image's side
MAX_PARAMETERS = 100_000_000  # weights and biases of the whole model (400 MB as float32)
MAX_CLASSES = 100_000
MAX_EPOCHS = 1_000_000
MAX_BATCH = 10_000_000
MAX_SEED = 2**63 - 1
MAX_MESSAGE = 500  # characters of an error line
MAX_PRINTED_CLASSES = 100  # of the confusion matrix
# A target with more distinct values than this, and more than half as many as rows (fewer than two examples a
# class) or some not whole numbers, looks continuous: a measurement, not a class.
FEW_CLASSES = 20
TEST_FRACTION = 0.2  # of digits and CSV data; MNIST has its own test files


class CommandError(Exception):
    """A problem to report in one line and exit with status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block, of bounded length
        message = " ".join(message.split())
        if len(message) > MAX_MESSAGE:
            message = f"{message[:MAX_MESSAGE]}..."
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Invalid(ValueError):
    """A value out of its range; the caller says where the value came from."""


def _integer(low: int, high: int) -> Any:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise _Invalid(f"expected an integer from {low} to {high}, got {shown(value)}")
        return value
    return check


def _real(description: str, low: float, high: float = math.inf, high_open: bool = False,
          low_open: bool = False) -> Any:
    def check(value: Any) -> float:
        if (not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)
                or value < low or (low_open and value == low) or value > high or (high_open and value == high)):
            raise _Invalid(f"expected {description}, got {shown(value)}")
        return float(value)
    return check


def _choice(options: Sequence[str]) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise _Invalid(f"expected one of {', '.join(options)}, got {shown(value)}")
        return value
    return check


def _optional(check: Any) -> Any:
    def optional(value: Any) -> Any:
        return None if value is None else check(value)
    return optional


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {shown(value)}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 4096:
        raise _Invalid(f"expected a string of at most 4096 characters, got {shown(value)}")
    return value


def _target(value: Any) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or not 0 < len(value) <= 4096:
        raise _Invalid(f"expected a column name or position, got {shown(value)}")
    return value


def _delimiter(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 1 or value in "\"\r\n":
        raise _Invalid(f"expected one character other than a quote or a line break, got {shown(value)}")
    return value


def _sizes(value: Any) -> list[int]:
    if not isinstance(value, list) or len(value) > MAX_LAYERS:
        raise _Invalid(f"expected a list of at most {MAX_LAYERS} layer sizes, got {shown(value)}")
    for size in value:
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_HIDDEN:
            raise _Invalid(f"sizes must be integers from 1 to {MAX_HIDDEN}, got {shown(size)}")
    return value


def _channels(value: Any) -> list[int]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_CONV_BLOCKS:
        raise _Invalid(f"expected a list of 1 to {MAX_CONV_BLOCKS} channel counts, got {shown(value)}")
    for size in value:
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_HIDDEN:
            raise _Invalid(f"channel counts must be integers from 1 to {MAX_HIDDEN}, got {shown(size)}")
    return value


# The settings of a run, each with its check: for the options, config files and a checkpoint's configuration.
FIELDS: dict[str, Any] = {
    "model": _choice(MODELS), "channels": _channels,
    "data": _text, "target": _optional(_target), "delimiter": _optional(_delimiter), "drop_missing": _flag,
    "standardize": _flag, "val_split": _real("a float from 0 to 1, 1 excluded", 0.0, 1.0, high_open=True),
    "hidden": _sizes, "activation": _choice(sorted(nn.ACTIVATIONS)),
    "loss": _choice(LOSSES), "optimizer": _choice(OPTIMIZERS),
    "lr": _real("a positive float (finite)", 0.0, low_open=True),
    "momentum": _real("a float from 0 to 1, 1 excluded", 0.0, 1.0, high_open=True),
    "weight_decay": _real("a float from 0 (finite)", 0.0),
    "epochs": _integer(1, MAX_EPOCHS), "batch_size": _integer(1, MAX_BATCH), "seed": _integer(0, MAX_SEED),
    "scheduler": _choice(SCHEDULERS), "step_size": _integer(1, MAX_EPOCHS),
    "gamma": _real("a positive float (finite)", 0.0, low_open=True),
    "t_max": _optional(_integer(1, MAX_EPOCHS)), "eta_min": _real("a float from 0 (finite)", 0.0),
    "factor": _real("a float between 0 and 1, both excluded", 0.0, 1.0, low_open=True, high_open=True),
    "plateau_patience": _integer(0, MAX_EPOCHS), "min_lr": _real("a float from 0 (finite)", 0.0),
    "early_stopping": _optional(_integer(1, MAX_EPOCHS)), "monitor": _choice(MONITORS),
    "min_delta": _real("a float from 0 (finite)", 0.0), "select": _choice(SELECTIONS),
    "features": _integer(1, MAX_PARAMETERS), "classes": _integer(1, MAX_CLASSES),
}
# What the data gives, not the options: in a checkpoint's configuration, never in a config file.
DERIVED = ("features", "classes")
OPTIONS = tuple(name for name in FIELDS if name not in DERIVED)
# Fields that checkpoints written before they existed lack, and the value those checkpoints mean.
DEFAULTS: dict[str, Any] = {
    "model": "mlp", "channels": [32, 64], "target": None, "delimiter": ",", "drop_missing": False,
    "standardize": False, "val_split": 0.0, "scheduler": "none", "step_size": 10, "gamma": 0.1, "t_max": None,
    "eta_min": 0.0, "factor": 0.1, "plateau_patience": 10, "min_lr": 0.0, "early_stopping": None,
    "monitor": "val_loss", "min_delta": 0.0, "select": "last",
}
# A new run's settings where neither a config file nor the command line gives them; None: chosen by
# resolve_config from the others.
RUN_DEFAULTS: dict[str, Any] = {
    "model": "mlp", "channels": None, "data": "digits", "target": None, "delimiter": None, "drop_missing": False,
    "standardize": None, "val_split": 0.1, "hidden": None, "activation": "relu", "loss": "cross_entropy",
    "optimizer": "adam", "lr": None, "momentum": 0.9, "weight_decay": 0.0, "epochs": 30, "batch_size": 32,
    "seed": 0, "scheduler": "none", "step_size": 10, "gamma": 0.1, "t_max": None, "eta_min": 0.0, "factor": 0.1,
    "plateau_patience": 10, "min_lr": 0.0, "early_stopping": None, "monitor": "val_loss", "min_delta": 0.0,
    "select": None,
}
# Each scheduler's own options.
SCHEDULER_OPTIONS = {"step": ("step_size", "gamma"), "cosine": ("t_max", "eta_min"),
                     "plateau": ("factor", "plateau_patience", "min_lr")}
CSV_OPTIONS = ("target", "delimiter", "drop_missing")
# What --resume applies when the command line changes it (and says so); any other change is refused: the
# model, the data and its split, and what chose the best weights kept so far are those of the run.
RESUMABLE = ("epochs", "lr", "momentum", "weight_decay", "batch_size", "early_stopping", "min_delta", "select",
             "step_size", "gamma", "t_max", "eta_min", "factor", "plateau_patience", "min_lr")


def _flag_name(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def _shown_option(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "(none)"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return repr(value) if isinstance(value, str) and not value.strip() else str(value)


def _option(field: str, kind: type) -> Any:
    """An argparse type: the text converted to ``kind``, then checked like the checkpoint field."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            expected = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {expected}, got {shown(text)}") from None
        try:
            return FIELDS[field](value)
        except _Invalid as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def _patience(text: str) -> int | None:
    if text.strip().lower() in ("none", "off"):
        return None
    return _option("early_stopping", int)(text)


def _delimiter_option(text: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
    value = named.get(text.lower(), text)
    try:
        return _delimiter(value)
    except _Invalid as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or tab, comma, semicolon, pipe, space)") from None


def _target_option(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a column name or position (0 is the first, -1 the last)")
    return text


def _hidden_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes sizes like 128,64, got {shown(text)}") from None
    try:
        return _sizes(sizes)
    except _Invalid as exc:
        raise argparse.ArgumentTypeError(f"--hidden {exc}") from None


def _channel_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--channels takes channel counts like 16,32, got {shown(text)}") from None
    try:
        return _channels(counts)
    except _Invalid as exc:
        raise argparse.ArgumentTypeError(f"--channels {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    """The ``tapegrad`` command's parser. ``train``'s settings have no argparse defaults (an option that is
    not given is not in the namespace), so that a config file and ``--resume`` can tell what was given."""
    parser = _Parser(prog="tapegrad", description="Train and evaluate classifiers with tapegrad.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = commands.add_parser("train", help="train a classifier (an MLP or a convolutional network)",
                                argument_default=argparse.SUPPRESS)
    data = train.add_argument_group("data")
    data.add_argument("--data", help="digits | mnist:FOLDER | FOLDER (of MNIST IDX files) | csv:PATH "
                                     "(default: digits)")
    data.add_argument("--target", type=_target_option, metavar="NAME|INDEX",
                      help="csv: the class column, by name or position (0 the first, -1 the last; default: the "
                           "last)")
    data.add_argument("--delimiter", type=_delimiter_option,
                      help="csv: the field delimiter (one character, or tab); default: detected among , ; tab |")
    data.add_argument("--drop-missing", action="store_true",
                      help="csv: leave out the rows with a missing value (empty, NA, NaN, ?) instead of stopping")
    data.add_argument("--standardize", action=argparse.BooleanOptionalAction,
                      help="scale each feature to mean 0 and variance 1 with the training split's statistics "
                           "(kept in the checkpoint; default: on for csv, off for the images, already in [0, 1])")
    data.add_argument("--val-split", type=_option("val_split", float), metavar="FRACTION",
                      help="the fraction of the training data held out for validation, drawn with --seed "
                           "(default: 0.1; 0: none)")
    model = train.add_argument_group("model")
    model.add_argument("--model", choices=MODELS,
                       help="mlp: linear layers; cnn: conv 3x3, batch norm, activation and 2x2 max-pool per "
                            "--channels entry, then linear layers (default: mlp)")
    model.add_argument("--hidden", type=_hidden_sizes,
                       help="hidden sizes of the linear layers (default: 128,64 for mlp, none for cnn)")
    model.add_argument("--channels", type=_channel_counts,
                       help="cnn: output channels of each convolution block (default: 32,64)")
    model.add_argument("--activation", choices=sorted(nn.ACTIVATIONS), help="(default: relu)")
    model.add_argument("--loss", choices=LOSSES, help="(default: cross_entropy)")
    fit = train.add_argument_group("optimization")
    fit.add_argument("--optimizer", choices=OPTIMIZERS, help="(default: adam)")
    fit.add_argument("--lr", type=_option("lr", float), help="learning rate (default: 1e-3, sgd 0.05)")
    fit.add_argument("--momentum", type=_option("momentum", float), help="sgd and rmsprop, in [0, 1) (default: 0.9)")
    fit.add_argument("--weight-decay", type=_option("weight_decay", float), help="(default: 0)")
    fit.add_argument("--epochs", type=_option("epochs", int), help="(default: 30)")
    fit.add_argument("--batch-size", type=_option("batch_size", int), help="(default: 32)")
    fit.add_argument("--seed", type=_option("seed", int),
                     help="the weights, the splits and the shuffling (default: 0)")
    fit.add_argument("--scheduler", choices=SCHEDULERS,
                     help="the learning rate per epoch: step (times --gamma every --step-size epochs), cosine "
                          "(to --eta-min over --t-max epochs), plateau (times --factor when --monitor has not "
                          "improved for --plateau-patience epochs), none (default)")
    fit.add_argument("--step-size", type=_option("step_size", int), help="step: epochs per step (default: 10)")
    fit.add_argument("--gamma", type=_option("gamma", float), help="step: the factor per step (default: 0.1)")
    fit.add_argument("--t-max", type=_option("t_max", int), help="cosine: length in epochs (default: --epochs)")
    fit.add_argument("--eta-min", type=_option("eta_min", float), help="cosine: the last learning rate (default: 0)")
    fit.add_argument("--factor", type=_option("factor", float), help="plateau: the factor, in (0, 1) (default: 0.1)")
    fit.add_argument("--plateau-patience", type=_option("plateau_patience", int),
                     help="plateau: epochs without improvement before a reduction (default: 10)")
    fit.add_argument("--min-lr", type=_option("min_lr", float), help="plateau: the lowest learning rate (default: 0)")
    select = train.add_argument_group("validation and model selection")
    select.add_argument("--monitor", choices=MONITORS,
                        help="the validation metric that picks the best epoch and drives early stopping and the "
                             "plateau schedule (default: val_loss)")
    select.add_argument("--early-stopping", type=_patience, metavar="PATIENCE",
                        help="stop when --monitor has not improved for PATIENCE epochs (default: none)")
    select.add_argument("--min-delta", type=_option("min_delta", float),
                        help="the least change of --monitor that counts as an improvement (default: 0)")
    select.add_argument("--select", choices=SELECTIONS,
                        help="the weights the test set is evaluated with at the end: those of the best epoch or "
                             "of the last (default: best; last without validation)")
    run = train.add_argument_group("the run")
    run.add_argument("--config", default=None, metavar="JSON",
                     help="start from the configuration in a run's metrics.json or a config.json; options given "
                          "on the command line override it")
    run.add_argument("--out", default=None, help="output folder (default: runs/<timestamp>)")
    run.add_argument("--resume", default=None, metavar="CHECKPOINT",
                     help="continue a run from its checkpoint (options given apply from here on, said so, or are "
                          "refused when they cannot change)")
    run.add_argument("--no-progress", action="store_true", default=False,
                     help="one line per epoch, without the progress bar")
    run.add_argument("--distributed", action="store_true", default=False,
                     help="data-parallel over the processes mpiexec started (mpiexec -n 4 tapegrad train "
                          "--distributed): each global batch of --batch-size is split across them, and only "
                          "rank 0 prints and writes (needs the tapegrad[mpi] extra)")
    explain = commands.add_parser("explain", help="the forward and backward steps of an arithmetic expression")
    explain.add_argument("expression", nargs="?", default=None,
                         help='e.g. "(x1 + 3*x2)**2", or named steps: "q = x + y; f = q * z"')
    explain.add_argument("--at", nargs="+", default=[], metavar="NAME=VALUE", help="the variables' values")
    explain.add_argument("--example", metavar="NAME", help="explain one of the lectures' worked examples")
    explain.add_argument("--list-examples", action="store_true", help="list the lectures' worked examples")
    explain.add_argument("--html", metavar="PAGE", help="also write the step-through page to this file")
    explain.add_argument("--svg", metavar="PICTURE", help="also write a picture of the graph to this file")
    evaluate = commands.add_parser("evaluate", help="accuracy and confusion matrix of a checkpoint")
    evaluate.add_argument("checkpoint")
    evaluate.add_argument("--data", default=None,
                          help="dataset to evaluate on (default: the test split of the one trained on; another "
                               "CSV file: all its rows)")
    evaluate.add_argument("--target", type=_target_option, default=None, metavar="NAME|INDEX",
                          help="csv: the class column (default: the checkpoint's)")
    evaluate.add_argument("--delimiter", type=_delimiter_option, default=None,
                          help="csv: the delimiter (default: the checkpoint's, or detected)")
    evaluate.add_argument("--drop-missing", action="store_true", default=None,
                          help="csv: leave out rows with missing values (default: the checkpoint's)")
    return parser


# -- configuration -------------------------------------------------------------------------------

def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (``train``'s options have no argparse defaults)."""
    return {name: value for name, value in vars(args).items() if name in OPTIONS}


def read_config_file(path: str) -> dict[str, Any]:
    """The settings in a run's ``metrics.json`` (its ``config``) or in a ``config.json`` (an object of
    settings named as the options, with underscores: ``{"lr": 0.01, "batch_size": 64}``), each checked.

    Raises:
        CommandError: for a file that cannot be read, is not JSON, or holds an unknown or invalid setting.
    """
    where = f"--config {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{where}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CommandError(f"{where}: not JSON ({shown(str(exc))})") from None
    if isinstance(value, dict) and isinstance(value.get("config"), dict):
        value = value["config"]  # a run's metrics.json
    if not isinstance(value, dict):
        raise CommandError(f"{where}: expected an object of settings (or a run's metrics.json), got {shown(value)}")
    unknown = sorted(set(value) - set(OPTIONS))
    if unknown:
        raise CommandError(f"{where}: unknown settings {shown(unknown)}; the settings are {', '.join(OPTIONS)}")
    for name, setting in value.items():
        try:
            FIELDS[name](setting)
        except _Invalid as exc:
            raise CommandError(f"{where}: {name!r} is not valid: {exc}") from None
    return dict(value)


def resolve_config(settings: dict[str, Any]) -> dict[str, Any]:
    """A new run's configuration: ``settings`` (a config file's, then the command line's) over the
    defaults, with the defaults that depend on other settings chosen."""
    config = {**RUN_DEFAULTS, **settings}
    if config["hidden"] is None:
        config["hidden"] = [128, 64] if config["model"] == "mlp" else []
    if config["channels"] is None:
        config["channels"] = list(DEFAULTS["channels"])
    if config["lr"] is None:
        config["lr"] = 0.05 if config["optimizer"] == "sgd" else 1e-3
    if config["standardize"] is None:
        # Per-feature scaling helps an MLP on features of their own scales (CSV columns, the digits' pixels:
        # 0.9721 -> 0.9833 test accuracy at the default seed); the CNN reads pixels as an image, and MNIST's
        # nearly always blank border pixels would be blown up by their tiny deviations.
        config["standardize"] = config["data"].startswith("csv:") or (
            config["data"] == "digits" and config["model"] == "mlp")
    if config["select"] is None:
        config["select"] = "best" if config["val_split"] > 0 else "last"
    if config["t_max"] is None and config["scheduler"] == "cosine":
        config["t_max"] = config["epochs"]
    return config


def check_options(config: dict[str, Any], given: dict[str, Any]) -> None:
    """Refuse settings that do not go together (``given``: those of the command line, checked more
    strictly than a config file's, which records every setting).

    Raises:
        CommandError: naming the options.
    """
    validation = config["val_split"] > 0
    if not validation:
        needs = [f"--early-stopping {config['early_stopping']}" if config["early_stopping"] else None,
                 "--select best" if config["select"] == "best" else None,
                 "--scheduler plateau" if config["scheduler"] == "plateau" else None,
                 *(_flag_name(name) for name in ("monitor", "min_delta") if name in given)]
        needs = [need for need in needs if need]
        if needs:
            raise CommandError(f"{', '.join(needs)}: needs a validation split, but --val-split is 0")
    if "momentum" in given and config["optimizer"] not in ("sgd", "rmsprop"):
        raise CommandError(f"--momentum: applies to sgd and rmsprop, not {config['optimizer']}")
    for scheduler, names in SCHEDULER_OPTIONS.items():
        stray = [_flag_name(name) for name in names if name in given and config["scheduler"] != scheduler]
        if stray:
            raise CommandError(f"{', '.join(stray)}: {'applies' if len(stray) == 1 else 'apply'} to --scheduler "
                               f"{scheduler}, not {config['scheduler']}")
    stray = [_flag_name(name) for name in CSV_OPTIONS if name in given]
    if stray and not config["data"].startswith("csv:"):
        raise CommandError(f"{', '.join(stray)}: {'applies' if len(stray) == 1 else 'apply'} to csv: data, not "
                           f"{config['data']}")


def check_config(config: Any, source: str) -> dict[str, Any]:
    """A checkpoint's configuration, every field present and checked as the command line checks it.

    Raises:
        CommandError: naming the checkpoint and the field.
    """
    if not isinstance(config, dict):
        raise CommandError(f"{source}: its configuration is {shown(config)}, expected a dict")
    config = {**DEFAULTS, **config}
    for name, check in FIELDS.items():
        if name not in config:
            raise CommandError(f"{source}: its configuration has no {name!r}")
        try:
            check(config[name])
        except _Invalid as exc:
            raise CommandError(f"{source}: its configuration's {name!r} is not valid: {exc}") from None
    return dict(config)


def resume_changes(config: dict[str, Any], given: dict[str, Any], source: str) -> list[tuple[str, Any, Any]]:
    """Apply to a resumed run's ``config`` the settings the command line changes, and return them as
    ``(name, old, new)``.

    Raises:
        CommandError: naming a setting that cannot change in a resumed run.
    """
    changes = []
    for name in (name for name in OPTIONS if name in given):  # in a fixed order, whatever the command line's
        value, old = given[name], config[name]
        if value == old:
            continue
        if name not in RESUMABLE:
            raise CommandError(f"--resume {source}: {_flag_name(name)} cannot change in a resumed run (it has "
                               f"{_shown_option(old)}, the command gives {_shown_option(value)}); the model, the "
                               "data and its split, the optimizer, the scheduler and the monitor are the run's: "
                               "leave the option out, or start a new run")
        config[name] = value
        changes.append((name, old, value))
    return changes


# -- data ----------------------------------------------------------------------------------------

@dataclass
class Examples:
    """A dataset as read: float32 features, int64 class indices and the classes' names; MNIST's own test
    files in ``test``; for CSV data the target column's name and the lines left out for missing values."""

    features: np.ndarray
    labels: np.ndarray
    classes: list[str]
    test: tuple[np.ndarray, np.ndarray] | None = None
    target: str | None = None
    dropped: list[int] = field(default_factory=list)


@dataclass
class Splits:
    """A run's examples: training, validation (possibly none) and test, standardized if the run is."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    scaler: dict[str, np.ndarray] | None
    target: str | None = None
    dropped: list[int] = field(default_factory=list)


def _listed(names: Sequence[str], limit: int = 12) -> str:
    return ", ".join(map(repr, names[:limit])) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def read_examples(spec: str, config: dict[str, Any], classes: Sequence[str] | int | None = None) -> Examples:
    """The examples of ``digits``, ``mnist:FOLDER`` (or the path of a folder, which must hold MNIST's four
    IDX files, raw or gzipped) or ``csv:PATH`` (read with the configuration's ``target``, ``delimiter`` and
    ``drop_missing``; its labels of any kind numbered as classes). With ``classes`` (a trained model's), the
    labels are numbered as those classes; a number of classes (a checkpoint written before the names were
    kept) numbers them as tapegrad did then: integer labels as they are, text in sorted order.

    Raises:
        CommandError: naming ``--data``: an unknown dataset, missing values, a target that looks continuous,
            a label that is not one of ``classes``.
        DatasetError: for files that cannot be read.
    """
    kind, _, where = spec.partition(":")
    if spec != "digits" and kind not in ("mnist", "csv") and Path(spec).is_dir():
        kind, where = "mnist", spec
    if kind == "csv" and where:
        return _read_csv(spec, where, config, classes)
    if kind == "mnist":
        if not where:
            raise CommandError("--data mnist needs a folder: mnist:FOLDER")
        features, labels = datasets.load_mnist(where, train=True)
        test = datasets.load_mnist(where, train=False)
    elif kind == "digits" and not where:
        (features, labels), test = datasets.load_digits(), None
    else:
        raise CommandError(f"unknown dataset {spec!r}: use digits, mnist:FOLDER, the path of a folder of MNIST "
                           "IDX files, or csv:PATH")
    every = labels if test is None else np.concatenate([labels, test[1]])
    low, high = (int(every.min()), int(every.max())) if len(every) else (0, 0)
    if low < 0 or high >= MAX_CLASSES:
        raise CommandError(f"--data {spec}: class labels must be integers from 0 to {MAX_CLASSES - 1}, found "
                           f"{low if low < 0 else high}")
    if isinstance(classes, int):
        classes = [str(c) for c in range(classes)]
    if classes is None:
        classes = [str(c) for c in range(high + 1)]
    elif high >= len(classes):
        raise CommandError(f"--data {spec} has class labels up to {high}, the model has {len(classes)} outputs "
                           f"(classes 0 to {len(classes) - 1})")
    return Examples(features, labels.astype(np.int64), list(classes), test)


def _read_csv(spec: str, where: str, config: dict[str, Any], classes: Sequence[str] | int | None) -> Examples:
    target = -1 if config["target"] is None else config["target"]
    try:
        table = datasets.read_csv(where, target, config["delimiter"], config["drop_missing"])
    except datasets.MissingValuesError as exc:
        raise CommandError(f"--data {spec}: {datasets.describe_missing(exc.cells, exc.rows)}; leave those rows "
                           "out with --drop-missing") from None
    if isinstance(classes, int):
        return _legacy_labels(spec, table, classes)
    try:
        labels = datasets.encode_labels(table.targets, classes)
    except datasets.DatasetError as exc:
        raise CommandError(f"--data {spec}: column {table.target!r}: {exc}") from None
    if classes is None:
        check_target(spec, table, labels)
    return Examples(table.features, labels.labels, labels.classes, None, table.target, table.dropped)


def _legacy_labels(spec: str, table: datasets.CSVTable, count: int) -> Examples:
    """Labels numbered for a checkpoint written before class names were kept: integers as they are (classes
    ``"0"`` to ``count - 1``), text in sorted order."""
    try:
        numbers = np.array([int(v) for v in table.targets], dtype=object)
    except ValueError:
        labels = datasets.encode_labels(table.targets)
        return Examples(table.features, labels.labels, labels.classes, None, table.target, table.dropped)
    if len(numbers) and (numbers.min() < 0 or numbers.max() >= count):
        raise CommandError(f"--data {spec} has class labels from {numbers.min()} to {numbers.max()}, the model has "
                           f"{count} outputs (classes 0 to {count - 1})")
    return Examples(table.features, numbers.astype(np.int64), [str(c) for c in range(count)], None, table.target,
                    table.dropped)


def check_target(spec: str, table: datasets.CSVTable, labels: datasets.Labels) -> None:
    """Refuse a target column that does not look like classes: more than ``MAX_CLASSES`` of them, or more
    than ``FEW_CLASSES`` distinct values that are either more than half as many as the rows (fewer than two
    examples a class) or numbers not all whole.

    Raises:
        CommandError: naming the column, with the columns to choose from instead.
    """
    distinct, rows = len(labels.classes), len(labels.labels)
    what = {"number": "numbers, not all whole", "integer": "integers", "text": "texts"}[labels.kind]
    if distinct > MAX_CLASSES or (distinct > FEW_CLASSES and (distinct > rows / 2 or labels.kind == "number")):
        looks = "a measurement" if labels.kind != "text" else "an identifier or free text"
        raise CommandError(f"--data {spec}: the target column {table.target!r} holds {distinct} distinct {what} "
                           f"in {rows} rows: it looks continuous ({looks}), not a class; tapegrad train "
                           f"classifies: give the class column with --target NAME|INDEX (columns: "
                           f"{_listed([*table.columns, table.target])})")


def split_examples(spec: str, examples: Examples, config: dict[str, Any]) -> Splits:
    """Training, validation and test splits: digits and CSV data split 80/20 into training and test by a
    permutation drawn from the seed (MNIST has its own test files), then ``val_split`` of the training part
    held out for validation by another permutation drawn from the seed; standardized with the training
    split's statistics when the configuration says so.

    Raises:
        CommandError: see :func:`check_data`.
    """
    seed = config["seed"]
    features, labels = examples.features, examples.labels
    if examples.test is None:
        order = np.random.default_rng(seed).permutation(len(labels))
        cut = int(round((1 - TEST_FRACTION) * len(labels)))
        train, test = order[:cut], order[cut:]
        x_test, y_test = features[test], labels[test]
    else:
        train = np.arange(len(labels))
        x_test, y_test = examples.test[0], examples.test[1].astype(np.int64)
    held = 0 if config["val_split"] == 0 else max(1, int(round(config["val_split"] * len(train))))
    shuffled = train[np.random.default_rng([seed, 1]).permutation(len(train))] if held else train
    val, train = shuffled[:held], shuffled[held:]
    splits = Splits(features[train], labels[train], features[val], labels[val], x_test, y_test,
                    examples.classes, None, examples.target, examples.dropped)
    check_data(spec, splits, config)
    if config["standardize"]:
        splits.scaler = fit_scaler(splits.x_train)
        for name in ("x_train", "x_val", "x_test"):
            setattr(splits, name, standardized(getattr(splits, name), splits.scaler))
    return splits


def load_data(spec: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training and test features and labels, split as ``tapegrad train --val-split 0`` splits them (digits
    and CSV data 80/20 by a permutation drawn from ``seed``, MNIST by its own files), not standardized: for
    benchmarks and scripts that train by hand.

    Raises:
        CommandError: as ``tapegrad train`` for the same data.
    """
    config = {**RUN_DEFAULTS, "data": spec, "seed": seed, "val_split": 0.0, "standardize": False}
    splits = split_examples(spec, read_examples(spec, config), config)
    return splits.x_train, splits.y_train, splits.x_test, splits.y_test


def check_data(spec: str, splits: Splits, config: dict[str, Any]) -> None:
    """Refuse data a run cannot use: an empty split, no features, NaN or infinite features.

    Raises:
        CommandError: naming ``--data`` and what is wrong.
    """
    counts = (len(splits.y_train), len(splits.y_val), len(splits.y_test))
    if counts[0] == 0 or counts[2] == 0 or (config["val_split"] > 0 and counts[1] == 0):
        raise CommandError(f"--data {spec}: {counts[0]} training, {counts[1]} validation and {counts[2]} test "
                           "examples; training and test need at least one, and validation too unless --val-split "
                           "is 0 (digits and CSV data are split 80/20 into training and test, so a CSV file needs "
                           "3 rows or more)")
    if splits.x_train.ndim != 2 or splits.x_train.shape[1] == 0:
        raise CommandError(f"--data {spec}: the examples have no features (shape {splits.x_train.shape})")
    if splits.x_test.shape[1:] != splits.x_train.shape[1:]:
        raise CommandError(f"--data {spec}: the test examples have {splits.x_test.shape[1]} features, the training "
                           f"examples {splits.x_train.shape[1]}")
    for part, features in (("training", splits.x_train), ("validation", splits.x_val), ("test", splits.x_test)):
        if not np.isfinite(features).all():
            row, column = (int(n) for n in np.argwhere(~np.isfinite(features))[0])
            raise CommandError(f"--data {spec}: feature {column} of {part} example {row} is "
                               f"{features[row, column]}; features must be finite")


def fit_scaler(features: np.ndarray) -> dict[str, np.ndarray]:
    """Each feature's mean and standard deviation (scikit-learn's ``StandardScaler``: the population
    deviation, and 1 for a constant feature), as float32 arrays ``{"mean", "scale"}``."""
    mean = features.mean(axis=0, dtype=np.float64)
    scale = features.std(axis=0, dtype=np.float64)
    scale[scale < 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))] = 1.0
    return {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32)}


def standardized(features: np.ndarray, scaler: dict[str, np.ndarray], rows: int = 8192) -> np.ndarray:
    """``(features - mean) / scale`` in float32, a block of rows at a time."""
    out = np.empty(features.shape, dtype=np.float32)
    for start in range(0, len(features), rows):
        np.subtract(features[start:start + rows], scaler["mean"], out=out[start:start + rows], dtype=np.float32)
        out[start:start + rows] /= scaler["scale"]
    return out


def check_scaler(value: Any, config: dict[str, Any], source: str) -> dict[str, np.ndarray] | None:
    """A checkpoint's standardization: None (the run did not standardize) or float ``mean`` and positive
    ``scale`` arrays of one value per feature.

    Raises:
        CommandError: naming the checkpoint.
    """
    if not config["standardize"]:
        if value is not None:
            raise CommandError(f"{source}: it holds standardization statistics but its configuration says the run "
                               "did not standardize")
        return None
    features = (config["features"],)
    if not isinstance(value, dict) or set(value) != {"mean", "scale"}:
        raise CommandError(f"{source}: its standardization is {shown(value)}, expected mean and scale arrays")
    for name, array in value.items():
        if (not isinstance(array, np.ndarray) or array.dtype.kind != "f" or array.shape != features
                or not np.isfinite(array).all() or (name == "scale" and not (array > 0).all())):
            raise CommandError(f"{source}: its standardization's {name} is {shown(array)}, expected finite floats of "
                               f"shape {features}{', all positive' if name == 'scale' else ''}")
    return {name: array.astype(np.float32) for name, array in value.items()}


def check_classes(value: Any, config: dict[str, Any], source: str) -> list[str] | int:
    """A checkpoint's class names; for one written before they were kept, its number of classes.

    Raises:
        CommandError: for names that are not one distinct string per class.
    """
    if value is None:
        return config["classes"]
    if (not isinstance(value, list) or len(value) != config["classes"] or len(set(value)) != len(value)
            or not all(isinstance(name, str) and 0 < len(name) <= 4096 for name in value)):
        raise CommandError(f"{source}: its class names are {shown(value)}, expected {config['classes']} distinct "
                           "strings")
    return list(value)


def image_side(config: dict[str, Any], source: str) -> int:
    """The side of the square one-channel images a ``cnn`` reads from its ``features`` inputs.

    Raises:
        CommandError: if ``features`` is not a square number, or the image is too small for one 2x2
            max-pool per convolution block.
    """
    features, blocks = config["features"], len(config["channels"])
    side = math.isqrt(features)
    if side * side != features:
        raise CommandError(f"{source}: the cnn model takes square one-channel images, but the data has {features} "
                           "features per example, not a square number (64 for the 8x8 digits, 784 for 28x28 MNIST)")
    if side < 2 ** blocks:
        raise CommandError(f"{source}: the images are {side}x{side}, too small for {blocks} convolution blocks (each "
                           f"halves the side: at least {2 ** blocks}x{2 ** blocks} needed; give fewer --channels)")
    return side


def describe(config: dict[str, Any]) -> str:
    """The model's layer sizes in one line, e.g. ``MLP [64, 128, 64, 10]`` or ``ConvNet 1x8x8 conv [16, 32]
    linear [128, 10]``."""
    if config["model"] == "mlp":
        return f"MLP {[config['features'], *config['hidden'], config['classes']]}"
    side = math.isqrt(config["features"])
    flat = config["channels"][-1] * (side >> len(config["channels"])) ** 2
    return (f"ConvNet 1x{side}x{side} conv {config['channels']} linear "
            f"{[flat, *config['hidden'], config['classes']]}")


def check_size(config: dict[str, Any], source: str) -> None:
    """Refuse a model with more than ``MAX_PARAMETERS`` weights and biases before allocating it (and, for a
    ``cnn``, data that are not square images large enough for its blocks)."""
    sizes = [config["features"], *config["hidden"], config["classes"]]
    count = 0
    if config["model"] == "cnn":
        side = image_side(config, source)
        channels = [1, *config["channels"]]
        count += sum(a * 9 * b + 2 * b for a, b in zip(channels, channels[1:]))  # bias-free conv, batch norm
        sizes[0] = channels[-1] * (side >> len(config["channels"])) ** 2
    count += sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    if count > MAX_PARAMETERS:
        model, smaller = ((describe(config), "--hidden or --channels") if config["model"] == "cnn"
                          else (shown([config["features"], *config["hidden"], config["classes"]]), "--hidden"))
        raise CommandError(f"{source}: the model {model} would have {count:,} parameters; at most "
                           f"{MAX_PARAMETERS:,} (make {smaller} smaller)")


# -- model and training --------------------------------------------------------------------------

class ConvNet(nn.Module):
    """A small convolutional classifier of square one-channel images given as flat feature rows.

    Per entry of ``channels``: a 3x3 convolution (padding 1, no bias: the batch norm after it has one),
    ``BatchNorm2d``, the activation and a 2x2 max-pool; then the flattened maps go through linear layers
    of sizes ``hidden`` (with the activation between them) to ``classes`` scores. The state_dict keys are
    PyTorch's for the same ``nn.Sequential`` layout (``features.0.weight``, ``features.1.running_mean``,
    ``classifier.0.weight``, ...).
    """

    def __init__(self, side: int, channels: Sequence[int], hidden: Sequence[int], classes: int,
                 activation: str = "relu") -> None:
        super().__init__()
        self.side = side
        layers: list[nn.Module] = []
        previous = 1
        for count in channels:
            layers += [nn.Conv2d(previous, count, 3, padding=1, bias=False), nn.BatchNorm2d(count),
                       nn.ACTIVATIONS[activation](), nn.MaxPool2d(2)]
            previous, side = count, side // 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.MLP([previous * side * side, *hidden, classes], activation=activation)

    def forward(self, x: Tensor) -> Tensor:
        """Scores (batch, classes) of the images in ``x`` (batch, side * side)."""
        images = x.reshape(x.shape[0], 1, self.side, self.side)
        return self.classifier(self.features(images).flatten(1))


def build_model(config: dict[str, Any]) -> nn.Module:
    """The model a checked configuration describes: an ``nn.MLP`` or a ``ConvNet``."""
    if config["model"] == "cnn":
        return ConvNet(math.isqrt(config["features"]), config["channels"], config["hidden"], config["classes"],
                       activation=config["activation"])
    return nn.MLP([config["features"], *config["hidden"], config["classes"]], activation=config["activation"])


def build_optimizer(config: dict[str, Any], model: nn.Module) -> optim.Optimizer:
    name, lr, decay = config["optimizer"], config["lr"], config["weight_decay"]
    if name == "sgd":
        return optim.SGD(model.parameters(), lr=lr, momentum=config["momentum"], weight_decay=decay)
    if name == "rmsprop":
        return optim.RMSprop(model.parameters(), lr=lr, momentum=config["momentum"], weight_decay=decay)
    kind = optim.Adam if name == "adam" else optim.AdamW
    return kind(model.parameters(), lr=lr, weight_decay=decay)


def loss_function(name: str) -> Any:
    return nn.functional.cross_entropy if name == "cross_entropy" else nn.functional.svm_loss


def predict(model: nn.Module, features: np.ndarray, batch_size: int = 512) -> np.ndarray:
    model.eval()
    with no_grad():
        outputs = [model(Tensor(features[i:i + batch_size])).numpy().argmax(axis=1)
                   for i in range(0, len(features), batch_size)]
    model.train()
    return np.concatenate(outputs) if outputs else np.zeros(0, np.int64)



def build_scheduler(config: dict[str, Any], optimizer: optim.Optimizer) -> Any:
    """The configuration's learning-rate schedule (tapegrad.optim's, stepped once per epoch), or None."""
    kind = config["scheduler"]
    if kind == "step":
        return optim.StepLR(optimizer, step_size=config["step_size"], gamma=config["gamma"])
    if kind == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=config["t_max"] or config["epochs"], eta_min=config["eta_min"])
    if kind == "plateau":
        return optim.ReduceLROnPlateau(optimizer, mode="min" if config["monitor"] == "val_loss" else "max",
                                       factor=config["factor"], patience=config["plateau_patience"],
                                       min_lr=config["min_lr"])
    return None


def evaluate_examples(model: nn.Module, criterion: Any, features: np.ndarray, labels: np.ndarray, rank: int = 0,
                      ranks: int = 1, batch_size: int = 512) -> tuple[float, float]:
    """The mean loss and the accuracy of ``model`` (in eval mode, without gradients) on the examples; in a
    distributed run the batches are dealt to the ranks in turn (each computed as one process computes it)
    and the sums combined, rank 0's result given to every rank so that all take the same decisions."""
    sums = np.zeros(2, dtype=np.float64)  # loss times examples, correct predictions
    model.eval()
    with no_grad():
        for start in range(rank * batch_size, len(features), ranks * batch_size):
            scores = model(Tensor(features[start:start + batch_size]))
            truth = labels[start:start + batch_size]
            sums[0] += criterion(scores, Tensor(truth)).item() * len(truth)
            sums[1] += int((scores.numpy().argmax(axis=1) == truth).sum())
    model.train()
    if ranks > 1:
        distributed.all_reduce(sums, "sum")
        distributed.broadcast(sums, root=0)
    count = max(len(labels), 1)
    return float(sums[0] / count), float(sums[1] / count)


# -- what a run writes ---------------------------------------------------------------------------

HISTORY = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


def _write_json(path: Path, value: Any) -> None:
    write_atomically(path, json.dumps(value, indent=2))


def write_history_csv(history: list[dict[str, Any]], path: Path) -> None:
    """``metrics.csv``: one row per epoch (Keras' CSVLogger), an empty cell where there is no validation."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HISTORY)
    for row in history:
        writer.writerow(["" if row[name] is None else repr(row[name]) for name in HISTORY])
    write_atomically(path, text.getvalue())


def _plot(history: list[dict[str, Any]], path: Path, result: dict[str, Any]) -> None:
    """``curves.png``: training and validation loss and accuracy per epoch, the selected epoch marked and
    the test set's loss and accuracy at it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for axes, metric, title in ((left, "loss", "loss"), (right, "accuracy", "accuracy")):
        axes.plot(epochs, [row[f"train_{metric}"] for row in history], marker="o", markersize=3, label="train")
        if any(row[f"val_{metric}"] is not None for row in history):
            axes.plot(epochs, [np.nan if row[f"val_{metric}"] is None else row[f"val_{metric}"] for row in history],
                      marker="o", markersize=3, label="validation")
        selected, value = result.get("selected_epoch"), result.get(f"test_{metric}")
        if selected is not None:
            axes.axvline(selected, color="grey", linestyle=":", linewidth=1)
            if value is not None:
                axes.plot([selected], [value], marker="*", markersize=12, linestyle="none", color="tab:red",
                          label=f"test ({result['select']} weights, epoch {selected}): {value:.4f}")
        axes.set(xlabel="epoch", ylabel=metric, title=title)
        axes.legend()
    figure.tight_layout()
    picture = io.BytesIO()
    figure.savefig(picture, format="png", dpi=100)
    plt.close(figure)
    write_atomically(path, picture.getvalue())


class _PlainBar:
    """A progress bar on a terminal without tqdm: one line on stderr, redrawn at most 5 times a second."""

    def __init__(self, total: int, description: str) -> None:
        self.total, self.description, self.done, self.postfix = total, description, 0, ""
        self.began = self.drawn = time.perf_counter()
        self.width = 0

    def update(self, count: int = 1) -> None:
        self.done += count
        now = time.perf_counter()
        if now - self.drawn >= 0.2 or self.done >= self.total:
            self.drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        fraction = self.done / self.total if self.total else 1.0
        elapsed = now - self.began
        left = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        filled = int(20 * fraction)
        postfix = f", {self.postfix}" if self.postfix else ""
        line = (f"{self.description} {100 * fraction:3.0f}%|{'#' * filled}{' ' * (20 - filled)}| "
                f"{self.done}/{self.total} [{_duration(elapsed)}<{_duration(left)}{postfix}]")
        sys.stderr.write("\r" + line.ljust(self.width))
        sys.stderr.flush()
        self.width = len(line)

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        self.postfix = text

    def write(self, line: str) -> None:
        self._clear()
        print(line, flush=True)
        self._draw(time.perf_counter())

    def _clear(self) -> None:
        sys.stderr.write("\r" + " " * self.width + "\r")
        sys.stderr.flush()

    def close(self) -> None:
        self._clear()


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def _terminal_sized() -> bool:
    """Whether stderr is a terminal that knows its size."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):  # not a terminal; a captured stream
        return False
    return size.columns > 0 and size.lines > 0


class Progress:
    """The run's progress: one bar across all its epochs, advanced per batch, with the time left (tqdm's
    when installed, else a plain one; shown only on a terminal), and one printed line per epoch."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar: Any = None
        if not enabled or total == 0:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            if sys.stderr.isatty():
                self.bar = _PlainBar(total, "training")
        else:
            # disable=None: a bar on a terminal, nothing when the output goes to a file or a pipe. A terminal
            # that reports no size (a pseudo-terminal without a window size: docker exec, script) would hide
            # the bar: it gets 80 columns and 24 lines.
            sized = _terminal_sized()
            self.bar = tqdm(total=total, desc="training", unit="batch", leave=False, disable=None,
                            dynamic_ncols=sized, ncols=None if sized else 80, nrows=None if sized else 24,
                            bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                                       "[{elapsed}<{remaining}{postfix}]")
            self._write = tqdm.write

    def update(self, postfix: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.update(1)

    def line(self, text: str) -> None:
        """Print a line above the bar."""
        if self.bar is None:
            print(text, flush=True)
        elif isinstance(self.bar, _PlainBar):
            self.bar.write(text)
        else:
            self._write(text, file=sys.stdout)
            sys.stdout.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def new_run_folder(root: Path = Path("runs"), now: time.struct_time | None = None) -> Path:
    """Create and return ``root/<YYYYmmdd-HHMMSS>`` for a new run, or ``...-2``, ``-3``, ... when runs started
    in the same second took the name: each folder is created exclusively, so two runs never share one."""
    stamp = time.strftime("%Y%m%d-%H%M%S", now if now is not None else time.localtime())
    root.mkdir(parents=True, exist_ok=True)
    for number in range(1, 10_000):
        folder = root / (stamp if number == 1 else f"{stamp}-{number}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise CommandError(f"{root}: 10,000 runs started at {stamp}; use --out")


def versions(ranks: int) -> dict[str, Any]:
    """The versions a run's results depend on: tapegrad, Python, NumPy and the libraries it used."""
    from importlib import metadata

    found: dict[str, Any] = {"python": platform.python_version(), "numpy": np.__version__,
                             "platform": platform.platform()}
    for name in ("tapegrad", "safetensors", "scikit-learn", *(["mpi4py"] if ranks > 1 else [])):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["processes"] = ranks
    return found


# -- checkpoints -----------------------------------------------------------------------------------

def _fields(state: Any, source: str, names: Sequence[str]) -> dict[str, Any]:
    if not isinstance(state, dict) or any(name not in state for name in names):
        keys = sorted(map(str, state)) if isinstance(state, dict) else type(state).__name__
        raise CommandError(f"{source} is a tapegrad checkpoint but not one written by 'tapegrad train' (it has "
                           f"{shown(keys)}, expected {', '.join(names)})")
    return state


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def load_model_state(model: nn.Module, state: Any, source: str) -> None:
    """``model.load_state_dict(state)`` for a state read from ``source``: float arrays of the model's shapes,
    and batch norm's ``num_batches_tracked`` counters, integers of shape ().

    Raises:
        CommandError: naming the checkpoint and the entry that does not fit.
    """
    if not isinstance(state, dict):
        raise CommandError(f"{source}: its model is {shown(state)}, expected a dict of arrays")
    for name, value in state.items():
        if isinstance(name, str) and name.rpartition(".")[2] == "num_batches_tracked":
            if (not isinstance(value, (np.ndarray, Tensor)) or value.dtype.kind not in "iu" or value.shape != ()
                    or int(value.data if isinstance(value, Tensor) else value) < 0):
                raise CommandError(f"{source}: the model's {shown(name)} is {shown(value)}, expected a "
                                   "non-negative integer array of shape ()")
            continue
        if not isinstance(value, (np.ndarray, Tensor)) or value.dtype.kind != "f":
            raise CommandError(f"{source}: the model's {shown(name)} is {shown(value)}, expected a float array")
        if not np.all(np.isfinite(value.data if isinstance(value, Tensor) else value)):
            raise CommandError(f"{source}: the model's {shown(name)} holds NaN or infinite values")
    try:
        model.load_state_dict(state)
    except TapegradError as exc:
        raise CommandError(f"{source}: its model does not fit its configuration: {exc}") from None


def _optimizer_template(config: dict[str, Any]) -> dict[str, Any]:
    """The per-parameter state this configuration's optimizer keeps, after one step on a probe."""
    probe = nn.Linear(1, 1)
    optimizer = build_optimizer(config, probe)
    for parameter in probe.parameters():
        parameter.grad = creation.ones(*parameter.shape)
    optimizer.step()
    return optimizer.state_dict()["state"][0]


def load_optimizer_state(optimizer: optim.Optimizer, state: Any, config: dict[str, Any], source: str) -> None:
    """``optimizer.load_state_dict(state)`` for a state read from ``source``: the settings of ``config`` and,
    for each parameter, the entries its kind of optimizer keeps, arrays of the parameter's shape.

    Raises:
        CommandError: naming the checkpoint and the entry that does not fit.
    """
    own = optimizer.state_dict()
    where = f"{source}: its optimizer state"
    if not isinstance(state, dict) or set(state) != {"state", "param_groups"}:
        raise CommandError(f"{where} is {shown(state)}, expected a dict of state and param_groups")
    groups = state["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(own["param_groups"]):
        raise CommandError(f"{where} has param_groups {shown(groups)}, expected {len(own['param_groups'])} groups")
    for saved, expected in zip(groups, own["param_groups"]):
        if not isinstance(saved, dict) or set(saved) != set(expected):
            raise CommandError(f"{where} has a parameter group {shown(saved)}, expected keys {sorted(expected)}")
        for key, value in expected.items():
            if key == "lr" and config["scheduler"] != "none":  # scheduled: any rate the schedule reached
                if not isinstance(saved[key], float) or not math.isfinite(saved[key]) or saved[key] <= 0:
                    raise CommandError(f"{where} has lr = {shown(saved[key])}, expected a positive float")
                continue
            if not _plain(saved[key]) or saved[key] != value:
                raise CommandError(f"{where} has {key} = {shown(saved[key])} where its configuration gives "
                                   f"{shown(value)}")
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    template = _optimizer_template(dict(config))
    entries = state["state"]
    if not isinstance(entries, dict):
        raise CommandError(f"{where} has state {shown(entries)}, expected a dict by parameter position")
    for position, entry in entries.items():
        if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position < len(parameters):
            raise CommandError(f"{where} has an entry for parameter {shown(position)}; the model has "
                               f"{len(parameters)}")
        if not isinstance(entry, dict) or set(entry) != set(template):
            raise CommandError(f"{where} of parameter {position} is {shown(entry)}, expected the keys "
                               f"{sorted(template)}")
        for key, model in template.items():
            value = entry[key]
            if isinstance(model, np.ndarray):
                shape = parameters[position].shape
                if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.shape != shape:
                    raise CommandError(f"{where} of parameter {position} has {key} = {shown(value)}, expected a "
                                       f"float array of shape {shape}")
            elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise CommandError(f"{where} of parameter {position} has {key} = {shown(value)}, expected a "
                                   "non-negative integer")
    optimizer.load_state_dict(state)


def _generator_state(value: Any, where: str) -> Any:
    probe = np.random.default_rng(0)
    try:
        probe.bit_generator.state = value
    except Exception as exc:  # NumPy's setter raises many kinds (TypeError, KeyError, IndexError, ...)
        raise CommandError(f"{where} is not a random generator state ({shown(str(exc))})") from None
    return value




def _history(value: Any, source: str) -> list[dict[str, Any]]:
    """A checkpoint's history: one row of numbers per epoch (the validation ones None without validation).
    Rows written before validation existed (with a per-epoch ``test_accuracy``) are read as rows without
    validation."""
    old = {"epoch", "train_loss", "train_accuracy", "test_accuracy", "lr", "seconds"}
    if not isinstance(value, list):
        raise CommandError(f"{source}: its history is {shown(value)}, expected a list")
    rows = []
    for row in value:
        if isinstance(row, dict) and set(row) == old:
            row = {**{name: row.get(name) for name in HISTORY}, "val_loss": None, "val_accuracy": None}
        if (not isinstance(row, dict) or set(row) != set(HISTORY)
                or not all((isinstance(v, (int, float)) and not isinstance(v, bool))
                           or (v is None and k.startswith("val_")) for k, v in row.items())):
            raise CommandError(f"{source}: its history has the entry {shown(row)}, expected numbers for "
                               f"{', '.join(HISTORY)}")
        rows.append(dict(row))
    return rows


def _scheduler_state(scheduler: Any, value: Any, source: str) -> None:
    """Load a checkpoint's scheduler state into ``scheduler`` (None: the run has no schedule).

    Raises:
        CommandError: for a state of other keys or of values that are not numbers.
    """
    where = f"{source}: its scheduler state"
    if scheduler is None:
        if value is not None:
            raise CommandError(f"{where} is {shown(value)}, but its configuration has no scheduler")
        return
    expected = scheduler.state_dict()
    if not isinstance(value, dict) or set(value) != set(expected):
        raise CommandError(f"{where} is {shown(value)}, expected the keys {sorted(expected)}")
    for key, model in expected.items():
        entry = value[key]
        numbers = entry if isinstance(model, list) else [entry]
        if ((isinstance(model, list) and (not isinstance(entry, list) or len(entry) != len(model)))
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)
                           for v in numbers)
                or (isinstance(model, int) and (not isinstance(entry, int) or entry < 0))):
            raise CommandError(f"{where} has {key} = {shown(entry)}, expected {shown(model)}'s kind")
    scheduler.load_state_dict(value)


def _best(value: Any, epoch: int, history: list[dict[str, Any]], source: str) -> dict[str, Any] | None:
    """A checkpoint's best epoch so far, ``{"epoch", "value"}``, or None (no validation, or no epoch yet)."""
    if value is None:
        return None
    if (not isinstance(value, dict) or set(value) != {"epoch", "value"} or not isinstance(value["epoch"], int)
            or isinstance(value["epoch"], bool) or not 1 <= value["epoch"] <= epoch
            or not isinstance(value["value"], (int, float)) or isinstance(value["value"], bool)
            or value["epoch"] not in {row["epoch"] for row in history}):
        raise CommandError(f"{source}: its best epoch is {shown(value)}, expected an epoch of its history and "
                           "its value")
    return dict(value)


# -- training ------------------------------------------------------------------------------------

def _improved(value: float | None, best: dict[str, Any] | None, config: dict[str, Any]) -> bool:
    """Whether the monitored ``value`` beats the best so far by more than ``min_delta`` (Keras' rule)."""
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    if config["monitor"] == "val_loss":
        return value < best["value"] - config["min_delta"]
    return value > best["value"] + config["min_delta"]


def _apply_changes(changes: list[tuple[str, Any, Any]], config: dict[str, Any], optimizer: optim.Optimizer,
                   scheduler: Any) -> Any:
    """Put a resumed run's changed settings into its optimizer and schedule; returns the schedule (rebuilt
    with the new options, its state kept, when they changed)."""
    changed = {name for name, _, _ in changes}
    for group in optimizer.param_groups:
        if "weight_decay" in changed:
            group["weight_decay"] = config["weight_decay"]
        if "momentum" in changed:
            group["momentum"] = config["momentum"]
    lr = next(((old, new) for name, old, new in changes if name == "lr"), None)
    if scheduler is None:
        if lr is not None:
            for group in optimizer.param_groups:
                group["lr"] = config["lr"]
        return None
    if not changed & {"lr", *SCHEDULER_OPTIONS[config["scheduler"]]}:
        return scheduler
    state = scheduler.state_dict()
    scheduler = build_scheduler(config, optimizer)
    scheduler.load_state_dict(state)
    if config["scheduler"] == "plateau":
        if lr is not None:  # its reductions are factors of the rate: they carry over to the new one
            for group in optimizer.param_groups:
                group["lr"] = max(group["lr"] * lr[1] / lr[0], config["min_lr"])
        return scheduler
    if lr is not None:
        scheduler.base_lrs = [config["lr"]] * len(optimizer.param_groups)
    scheduler.last_epoch -= 1  # the rate of the epoch to come, from the new settings
    scheduler.step()
    return scheduler


def train(args: argparse.Namespace) -> int:
    # first: from here on an error on one rank ends every rank (a rank that failed before the others had
    # joined would leave them waiting in MPI's start-up)
    rank, ranks = (distributed.rank(), distributed.world_size()) if args.distributed else (0, 1)
    require_io()  # the run ends in a checkpoint: say now, not after training, if it cannot be written
    lead = rank == 0  # the rank that prints and writes
    given = given_options(args)
    source = args.resume
    changes: list[tuple[str, Any, Any]] = []
    if args.resume:
        if args.config:
            raise CommandError("--config starts a new run; --resume continues one with its own configuration")
        state = _fields(load(args.resume), source,
                        ("config", "epoch", "model", "optimizer", "loader", "generator", "history"))
        original = check_config(state["config"], source)
        config = dict(original)
        changes = resume_changes(config, given, source)
    else:
        state = None
        config = resolve_config({**(read_config_file(args.config) if args.config else {}), **given})
        original = config
    check_options(config, given)
    classes = check_classes(state.get("classes"), config, source) if state is not None else None
    splits = split_examples(config["data"], read_examples(config["data"], config, classes), config)
    n_features, n_classes = int(splits.x_train.shape[1]), len(splits.classes)
    if state is not None and (n_features, n_classes) != (config["features"], config["classes"]):
        raise CommandError(f"{source}: its model takes {config['features']} features and {config['classes']} "
                           f"classes, the data {config['data']} now has {n_features} and {n_classes}")
    config["features"], config["classes"] = n_features, n_classes
    if state is None:
        original = config
    check_size(config, source or ("--model cnn" if config["model"] == "cnn" else "--hidden"))

    creation.manual_seed(config["seed"])
    model = build_model(config)
    optimizer = build_optimizer(original, model)
    scheduler = build_scheduler(original, optimizer)
    loader = DataLoader(TensorDataset(splits.x_train, splits.y_train), batch_size=config["batch_size"], shuffle=True,
                        seed=config["seed"])
    history: list[dict[str, Any]] = []
    resumes: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    best_weights: dict[str, np.ndarray] | None = None
    stopped: int | None = None  # the epoch early stopping ended the run at
    start_epoch = 1
    if state is not None:
        epoch = state["epoch"]
        if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= MAX_EPOCHS:
            raise CommandError(f"{source}: its epoch is {shown(epoch)}, expected an integer from 0 to {MAX_EPOCHS}")
        history = _history(state["history"], source)
        check_scaler(state.get("scaler"), config, source)
        load_model_state(model, state["model"], source)
        load_optimizer_state(optimizer, state["optimizer"], original, source)
        _scheduler_state(scheduler, state.get("scheduler"), source)
        loader_state = state["loader"]
        if not isinstance(loader_state, dict) or set(loader_state) != {"generator"}:
            raise CommandError(f"{source}: its loader state is {shown(loader_state)}, expected a generator")
        loader.load_state_dict({"generator": _generator_state(loader_state["generator"],
                                                              f"{source}: its loader's generator")})
        best = _best(state.get("best"), epoch, history, source)
        if best is not None:
            best_weights = model.state_dict()
            if best["epoch"] != epoch:  # built before the generator is restored: its weights draw numbers
                kept = build_model(config)
                load_model_state(kept, state.get("best_model"), f"{source} (the best epoch's weights)")
                best_weights = kept.state_dict()
        creation.generator().bit_generator.state = _generator_state(state["generator"], f"{source}: its generator")
        resumes = state.get("resumes") or []
        if not isinstance(resumes, list) or not all(isinstance(r, dict) for r in resumes):
            raise CommandError(f"{source}: its list of resumptions is {shown(resumes)}, expected a list of dicts")
        scheduler = _apply_changes(changes, config, optimizer, scheduler)
        if changes:
            resumes = [*resumes, {"epoch": epoch, "changed": {name: [old, new] for name, old, new in changes}}]
        start_epoch = epoch + 1
    if lead:
        out = Path(args.out) if args.out else Path(args.resume).parent if args.resume else new_run_folder()
        out.mkdir(parents=True, exist_ok=True)
    else:  # writes nothing; the folder's name is rank 0's to choose
        out = Path(args.out or "")
    criterion = loss_function(config["loss"])
    # The model every rank steps: wrapped so that backward averages the gradients over the ranks (rank 0's
    # weights, identical to the others' here anyway: all drew them from the same seed or checkpoint).
    stepped = nn.parallel.DistributedDataParallel(model) if ranks > 1 else model
    checkpoint, best_file = out / "checkpoint.safetensors", out / "best.safetensors"
    validation = len(splits.y_val) > 0
    record = Record(config, splits, versions(ranks), args)
    record.resumes = resumes

    def run_state(epoch: int, current: bool) -> dict[str, Any]:
        """The checkpoint of the run at ``epoch``; ``current``: the best epoch is this one."""
        return {"config": config, "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "loader": loader.state_dict(), "generator": creation.generator().bit_generator.state,
                "history": history, "classes": splits.classes, "scaler": splits.scaler,
                "scheduler": scheduler.state_dict() if scheduler is not None else None, "best": best,
                "best_model": None if current or best is None else best_weights, "resumes": resumes}

    if lead:
        if splits.dropped:
            shown_lines = ", ".join(map(str, splits.dropped[:10])) + (", ..." if len(splits.dropped) > 10 else "")
            print(f"--data {config['data']}: left out {len(splits.dropped)} rows with missing values (lines "
                  f"{shown_lines})")
        for name, old, new in changes:
            print(f"resuming {source} at epoch {start_epoch}: {_flag_name(name)} changes from {_shown_option(old)} "
                  f"to {_shown_option(new)}")
        scaled = ", standardized" if splits.scaler else ""
        schedule = f" ({config['scheduler']} schedule)" if scheduler is not None else ""
        processes = f" on {ranks} processes" if ranks > 1 else ""
        print(f"training {describe(config)} on {config['data']} ({len(splits.y_train)} train, "
              f"{len(splits.y_val)} validation, {len(splits.y_test)} test{scaled}) with {config['optimizer']}, lr "
              f"{optimizer.param_groups[0]['lr']:g}{schedule}, {config['epochs']} epochs{processes}; writing to "
              f"{out}", flush=True)
    epoch = start_epoch - 1
    if best is not None and config["early_stopping"] and epoch - best["epoch"] >= config["early_stopping"]:
        stopped = epoch  # resumed after it stopped: nothing more to train with this patience
    remaining = 0 if stopped else max(config["epochs"] - epoch, 0)
    progress = Progress(remaining * len(loader), lead and not args.no_progress)
    try:
        for epoch in range(start_epoch, start_epoch + remaining):
            began = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            total_loss = correct = seen = 0.0
            for features, labels in loader:
                if ranks > 1:
                    loss, scores, labels = _shard_step(stepped, criterion, features, labels, rank, ranks)
                else:
                    scores = model(features)
                    loss = criterion(scores, labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if len(labels):
                    total_loss += loss.item() * (len(features) / ranks if ranks > 1 else len(labels))
                    correct += float((scores.numpy().argmax(axis=1) == labels.numpy()).sum())
                seen += len(labels)
                progress.update(f"epoch {epoch}/{config['epochs']} loss {total_loss / max(seen, 1):.3f} "
                                f"acc {correct / max(seen, 1):.3f}")
            if ranks > 1:
                total_loss, correct, seen = _combine_epoch(model, total_loss, correct, seen)
            if not np.isfinite(total_loss):
                progress.close()
                if lead:
                    record.finish(history, out, best, stopped)
                kept = f"{checkpoint} holds epoch {epoch - 1}" if history else "no checkpoint was written"
                raise CommandError(f"training diverged in epoch {epoch}: the loss is {total_loss / seen} "
                                   f"(try a smaller --lr); {kept}")
            val_loss, val_accuracy = (evaluate_examples(model, criterion, splits.x_val, splits.y_val, rank, ranks)
                                      if validation else (None, None))
            row = {"epoch": epoch, "train_loss": total_loss / seen, "train_accuracy": correct / seen,
                   "val_loss": val_loss, "val_accuracy": val_accuracy, "lr": lr,
                   "seconds": time.perf_counter() - began}
            history.append(row)
            improved = validation and _improved(row[config["monitor"]], best, config)
            if improved:
                best, best_weights = {"epoch": epoch, "value": row[config["monitor"]]}, model.state_dict()
            if config["scheduler"] == "plateau":
                if row[config["monitor"]] is not None and math.isfinite(row[config["monitor"]]):
                    scheduler.step(row[config["monitor"]])
            elif scheduler is not None:
                scheduler.step()
            if lead:
                save(run_state(epoch, best is not None and best["epoch"] == epoch), checkpoint)
                if improved:
                    save(run_state(epoch, True), best_file)
                write_history_csv(history, out / "metrics.csv")
                text = f"epoch {epoch:3d}  loss {row['train_loss']:.4f}  train accuracy {row['train_accuracy']:.4f}"
                if validation:
                    text += f"  val loss {val_loss:.4f}  val accuracy {val_accuracy:.4f}" + ("  (best)" if improved
                                                                                             else "")
                if scheduler is not None:
                    text += f"  lr {lr:.3g}"
                progress.line(text)
            if (validation and config["early_stopping"] and best is not None
                    and epoch - best["epoch"] >= config["early_stopping"]):
                stopped = epoch
                break
    except KeyboardInterrupt:
        progress.close()
        if lead:
            print(f"\ninterrupted during epoch {epoch}; the checkpoint holds epoch {epoch - 1} "
                  f"({checkpoint}); continue with: tapegrad train --resume {checkpoint} --epochs {config['epochs']}",
                  file=sys.stderr)
            record.finish(history, out, best, stopped)
        if ranks > 1:
            # mpiexec passes Ctrl-C to every rank, but a rank inside a collective only sees it when the
            # collective returns, which it never does once the others have left: end them all (rank 0 once
            # it has written its record, another rank a few seconds later if rank 0 is the one left waiting)
            if not lead:
                time.sleep(5)
            distributed.abort(130)
        return 130
    progress.close()
    if stopped is not None and lead:
        again = "; a larger --early-stopping (or none) continues the run" if stopped == start_epoch - 1 else ""
        print(f"early stopping at epoch {stopped}: {config['monitor']} has not improved for "
              f"{stopped - best['epoch']} epochs (best {best['value']:.4f} at epoch {best['epoch']}){again}")
    selected = epoch
    if config["select"] == "best" and best is not None:
        selected = best["epoch"]
        if selected != epoch:
            model.load_state_dict(best_weights)
    test_loss, test_accuracy = (evaluate_examples(model, criterion, splits.x_test, splits.y_test, rank, ranks)
                                if history else (None, None))
    if not lead:
        return 0
    record.finish(history, out, best, stopped, selected if history else None, test_loss, test_accuracy)
    if test_accuracy is None:
        print(f"no epoch trained; metrics in {out}")
        return 0
    which = (f"the best epoch's weights (epoch {selected}, {config['monitor']} {best['value']:.4f})"
             if config["select"] == "best" and best is not None else f"the last epoch's weights (epoch {selected})")
    print(f"test accuracy {test_accuracy:.4f}, loss {test_loss:.4f}, with {which}; metrics, checkpoints and curves "
          f"in {out}")
    return 0


class Record:
    """What a run writes besides its checkpoints: metrics.json (the configuration that produced it, the
    command, versions, seed, data, every epoch and the test result), metrics.csv and curves.png."""

    def __init__(self, config: dict[str, Any], splits: Splits, found: dict[str, Any],
                 args: argparse.Namespace) -> None:
        self.config, self.splits, self.versions = config, splits, found
        self.command = getattr(args, "argv", None)
        self.resumes: list[dict[str, Any]] = []

    def finish(self, history: list[dict[str, Any]], out: Path, best: dict[str, Any] | None, stopped: int | None,
               selected: int | None = None, test_loss: float | None = None,
               test_accuracy: float | None = None) -> None:
        splits = self.splits
        result = {"select": self.config["select"], "selected_epoch": selected, "test_loss": test_loss,
                  "test_accuracy": test_accuracy}
        metrics = {
            "config": {name: self.config[name] for name in OPTIONS},
            "command": None if self.command is None else shlex.join(["tapegrad", *self.command]),
            "seed": self.config["seed"], "versions": self.versions,
            "data": {"train": len(splits.y_train), "validation": len(splits.y_val), "test": len(splits.y_test),
                     "features": int(splits.x_train.shape[1]), "classes": splits.classes, "target": splits.target,
                     "standardized": splits.scaler is not None, "dropped_lines": splits.dropped},
            "resumes": self.resumes,
            "epochs": history,
            "monitor": self.config["monitor"] if len(splits.y_val) else None,
            "best_epoch": None if best is None else best["epoch"],
            "best_value": None if best is None else best["value"],
            "stopped_early_at": stopped,
            **result,
        }
        _write_json(out / "metrics.json", metrics)
        write_history_csv(history, out / "metrics.csv")
        if history:
            try:
                _plot(history, out / "curves.png", result)
            except ImportError:
                print('curves.png not written: matplotlib is not installed (pip install "tapegrad[cli]")',
                      file=sys.stderr)


def _shard(count: int, rank: int, ranks: int) -> tuple[int, int]:
    """Rank ``rank``'s rows of a batch of ``count``: contiguous, the first ``count % ranks`` ranks one more."""
    size, extra = divmod(count, ranks)
    start = rank * size + min(rank, extra)
    return start, start + size + (rank < extra)


def _shard_step(model: nn.Module, criterion: Any, features: Tensor, labels: Tensor, rank: int,
                ranks: int) -> tuple[Tensor, Tensor, Tensor]:
    """This rank's forward on its rows of the global batch: ``(loss, scores, labels)`` with the loss weighted
    so that the average over the ranks (DistributedDataParallel's) is the global batch's mean loss: the
    rank's mean times its share of the batch, times the number of ranks.

    A rank without rows (a batch smaller than the world) runs one row with weight 0, so that it still takes
    part in the step's messages."""
    count = len(labels)
    start, stop = _shard(count, rank, ranks)
    if start == stop:
        scores = model(features[:1])
        return criterion(scores, labels[:1]) * 0.0, scores[:0], labels[:0]
    mine = labels[start:stop]
    scores = model(features[start:stop])
    return criterion(scores, mine) * ((stop - start) * ranks / count), scores, mine


def _combine_epoch(model: nn.Module, total_loss: float, correct: float, seen: float) -> tuple[float, float, float]:
    """The epoch's loss, correct count and examples summed over the ranks; then rank 0's buffers (batch norm
    statistics) copied to every rank, and the ranks' weights checked to be identical bit for bit.

    Raises:
        CommandError: if the ranks' weights differ (they are meant to take identical steps).
    """
    sums = np.array([total_loss, correct, seen], dtype=np.float64)
    distributed.all_reduce(sums, "sum")
    for buffer in model.buffers():
        distributed.broadcast(buffer, root=0)
    digest = hashlib.blake2b(digest_size=8)
    for parameter in model.parameters():
        digest.update(np.ascontiguousarray(parameter.data).tobytes())
    value = int.from_bytes(digest.digest(), "little", signed=True) >> 1
    check = np.array([value, -value], dtype=np.int64)
    distributed.all_reduce(check, "max")
    if check[0] != -check[1]:
        raise CommandError("the ranks' weights differ after an epoch of identical steps; the MPI library does not "
                           "give every rank the same sums")
    return float(sums[0]), float(sums[1]), float(sums[2])


# -- evaluating ----------------------------------------------------------------------------------

def evaluate(args: argparse.Namespace) -> int:
    source = args.checkpoint
    state = _fields(load(source), source, ("config", "model"))
    config = check_config(state["config"], source)
    check_size(config, source)
    classes = check_classes(state.get("classes"), config, source)
    scaler = check_scaler(state.get("scaler"), config, source)
    spec = args.data or config["data"]
    reading = dict(config)
    for name in CSV_OPTIONS:
        if getattr(args, name) is not None:
            if not spec.startswith("csv:"):
                raise CommandError(f"{_flag_name(name)}: applies to csv: data, not {spec}")
            reading[name] = getattr(args, name)
    examples = read_examples(spec, reading, classes)
    if spec == config["data"] or examples.test is None and not spec.startswith("csv:"):
        splits = split_examples(spec, examples, {**reading, "standardize": False})
        features, labels, part = splits.x_test, splits.y_test, "the test split of "
    elif examples.test is not None:
        (features, labels), part = examples.test, "the test files of "
    else:
        features, labels, part = examples.features, examples.labels, ""
    if len(labels) and labels.max() >= config["classes"]:
        raise CommandError(f"--data {spec} has {labels.max() + 1} classes, the model in {source} has "
                           f"{config['classes']} outputs")
    if features.ndim != 2 or features.shape[1] != config["features"]:
        raise CommandError(f"the model takes {config['features']} features, the data has "
                           f"{features.shape[1] if features.ndim == 2 else 0}")
    if not np.isfinite(features).all():
        row, column = (int(n) for n in np.argwhere(~np.isfinite(features))[0])
        raise CommandError(f"--data {spec}: feature {column} of example {row} is {features[row, column]}; features "
                           "must be finite")
    if scaler is not None:
        features = standardized(features, scaler)
    model = build_model(config)
    load_model_state(model, state["model"], source)
    predictions = predict(model, features)
    print(f"accuracy {float((predictions == labels).mean()) if len(labels) else float('nan'):.4f} on {len(labels)} "
          f"examples of {part}{spec}")
    count = config["classes"]
    if count > MAX_PRINTED_CLASSES:  # classes x classes numbers: too many to print, maybe to hold
        print(f"confusion matrix not printed: {count} classes, more than {MAX_PRINTED_CLASSES}")
        return 0
    confusion = np.zeros((count, count), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    names = examples.classes if len(examples.classes) == count else [str(c) for c in range(count)]
    print(confusion_table(confusion, names))
    return 0


def confusion_table(confusion: np.ndarray, classes: Sequence[str], longest: int = 16) -> str:
    """The confusion matrix as text, rows and columns headed by the classes' names (cut to ``longest``
    characters; a column is as wide as its name or its largest count)."""
    names = [name if len(name) <= longest else f"{name[:longest - 3]}..." for name in classes]
    names = [name.replace(" ", "_") for name in names]  # one word each, so that the table splits into columns
    counts = max(len(str(confusion.max())) if confusion.size else 1, 1)
    widths = [max(len(name), counts) for name in names]
    left = max(len(name) for name in names)
    lines = ["confusion matrix (rows: true class, columns: predicted class)",
             " " * left + "".join(f"  {name:>{width}}" for name, width in zip(names, widths))]
    for name, row in zip(names, confusion):
        lines.append(f"{name:>{left}}" + "".join(f"  {n:>{width}}" for n, width in zip(row, widths)))
    return "\n".join(lines)


def explain_expression(args: argparse.Namespace) -> int:
    from .viz import explain, expression, gallery

    if args.list_examples:
        if args.expression is not None or args.example is not None or args.at or args.html or args.svg:
            raise CommandError("explain --list-examples takes no expression and no other option")
        print(gallery.listing())
        return 0
    if args.example is not None:
        if args.expression is not None or args.at:
            raise CommandError("explain --example NAME takes no expression and no --at (the example has its values)")
        entry = gallery.entry(args.example)
        computation = entry.build()
        result = computation.output
        text = "\n".join([f"{entry.name}: {entry.description}\nlecture {entry.lecture}", explain(result),
                          *computation.notes])
    else:
        if args.expression is None:
            raise CommandError("explain: give an expression (e.g. \"(x + y) * z\" --at x=-2 y=5 z=-4), "
                               "--example NAME, or --list-examples")
        values = {}
        for item in args.at:
            name, _, value = item.partition("=")
            try:
                values[name.strip()] = float(value)
            except ValueError:
                raise CommandError(f"--at takes NAME=VALUE pairs with numbers, got {item!r}") from None
        result, _ = expression.build(args.expression, values)
        result.backward()
        text = explain(result)
    if args.svg:  # drawn first: a missing dot program is said before anything is printed or written
        from .viz import draw

        svg = draw(result).pipe(format="svg")
    print(text)
    if args.html:
        from .viz import html

        print(f"step-through page written to {html(result, args.html)}")
    if args.svg:
        print(f"picture written to {write_atomically(args.svg, svg)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tapegrad`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in metrics.json
    try:
        commands = {"train": train, "evaluate": evaluate, "explain": explain_expression}
        return commands[args.command](args)
    except (CommandError, TapegradError, OSError, MemoryError) as exc:  # VizError is a TapegradError
        message = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, MemoryError):
            message = f"out of memory ({message})"
        if len(message) > MAX_MESSAGE:
            message = f"{message[:MAX_MESSAGE]}..."
        if _in_a_job(args):
            _abort_job(message)
        print(f"tapegrad: error: {message}", file=sys.stderr)
        return 1
    except Exception as exc:
        if _in_a_job(args):
            _abort_job(f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:MAX_MESSAGE], trace=True)
        raise


def _in_a_job(args: argparse.Namespace) -> bool:
    """Whether this process is one rank of several of a ``--distributed`` run."""
    return getattr(args, "distributed", False) and distributed.is_initialized() and distributed.world_size() > 1


def _abort_job(message: str, trace: bool = False) -> None:
    """End every rank of a distributed run (``MPI_Abort``) with this rank's message, so that no rank is left
    waiting for one that failed; the checkpoint on disk is the last one rank 0 finished writing (each is
    written to a temporary file and renamed).

    A rank other than 0 waits half a second first: an error every rank meets (bad data, divergence) is then
    told once, by rank 0, whose abort ends the others before they speak."""
    rank, ranks = distributed.rank(), distributed.world_size()
    if rank != 0:
        time.sleep(0.5)
    if trace:
        import traceback

        traceback.print_exc()
    print(f"tapegrad: error: rank {rank} of {ranks}: {message}", file=sys.stderr, flush=True)
    distributed.abort(1)

if __name__ == "__main__":
    sys.exit(main())

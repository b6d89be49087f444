"""The ``tapegrad`` command: train a classifier (an MLP or a small convolutional network) and evaluate a
checkpoint.

``tapegrad train`` with no arguments trains an MLP on scikit-learn's bundled digits and writes
``metrics.json``, ``checkpoint.safetensors`` and ``curves.png`` into ``runs/<timestamp>/``;
``--model cnn`` trains a convolutional network instead. Every error is one line on stderr and a non-zero
exit status.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Sequence
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


def _text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 4096:
        raise _Invalid(f"expected a string of at most 4096 characters, got {shown(value)}")
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


# The settings of a run, each with its check: for the options, and for a checkpoint's configuration.
FIELDS: dict[str, Any] = {
    "model": _choice(MODELS), "channels": _channels,
    "data": _text, "hidden": _sizes, "activation": _choice(sorted(nn.ACTIVATIONS)),
    "loss": _choice(LOSSES), "optimizer": _choice(OPTIMIZERS),
    "lr": _real("a positive float (finite)", 0.0, low_open=True),
    "momentum": _real("a float from 0 to 1, 1 excluded", 0.0, 1.0, high_open=True),
    "weight_decay": _real("a float from 0 (finite)", 0.0),
    "epochs": _integer(1, MAX_EPOCHS), "batch_size": _integer(1, MAX_BATCH), "seed": _integer(0, MAX_SEED),
    "features": _integer(1, MAX_PARAMETERS), "classes": _integer(1, MAX_CLASSES),
}
# Fields that checkpoints written before they existed lack, and the value those checkpoints mean.
DEFAULTS: dict[str, Any] = {"model": "mlp", "channels": [32, 64]}


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
    parser = _Parser(prog="tapegrad", description="Train and evaluate classifiers with tapegrad.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = commands.add_parser("train", help="train a classifier (an MLP or a convolutional network)")
    train.add_argument("--data", default="digits",
                       help="digits | mnist:FOLDER | FOLDER (of MNIST IDX files) | csv:PATH (default: digits)")
    train.add_argument("--model", default="mlp", choices=MODELS,
                       help="mlp: linear layers; cnn: conv 3x3, batch norm, activation and 2x2 max-pool per "
                            "--channels entry, then linear layers (default: mlp)")
    train.add_argument("--hidden", type=_hidden_sizes, default=None,
                       help="hidden sizes of the linear layers (default: 128,64 for mlp, none for cnn)")
    train.add_argument("--channels", type=_channel_counts, default=None,
                       help="cnn: output channels of each convolution block (default: 32,64)")
    train.add_argument("--activation", default="relu", choices=sorted(nn.ACTIVATIONS))
    train.add_argument("--loss", default="cross_entropy", choices=LOSSES)
    train.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    train.add_argument("--lr", type=_option("lr", float), default=None,
                       help="learning rate (default: 1e-3, sgd 0.05)")
    train.add_argument("--momentum", type=_option("momentum", float), default=0.9,
                       help="for sgd and rmsprop, in [0, 1) (default: 0.9)")
    train.add_argument("--weight-decay", type=_option("weight_decay", float), default=0.0)
    train.add_argument("--epochs", type=_option("epochs", int), default=30)
    train.add_argument("--batch-size", type=_option("batch_size", int), default=32)
    train.add_argument("--seed", type=_option("seed", int), default=0)
    train.add_argument("--out", default=None, help="output folder (default: runs/<timestamp>)")
    train.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue a run from its checkpoint")
    train.add_argument("--no-progress", action="store_true", help="one line per epoch instead of a progress bar")
    train.add_argument("--distributed", action="store_true",
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
    evaluate.add_argument("--data", default=None, help="dataset to evaluate on (default: the one trained on)")
    return parser


# -- data ----------------------------------------------------------------------------------------

def load_data(spec: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test features and labels for ``digits``, ``mnist:FOLDER`` (or the path of a folder,
    which must hold MNIST's four IDX files, raw or gzipped) or ``csv:PATH``.

    digits and CSV data are split 80/20 by a permutation drawn from ``seed``; MNIST uses its own split.
    """
    kind, _, where = spec.partition(":")
    if spec != "digits" and kind not in ("mnist", "csv") and Path(spec).is_dir():
        kind, where = "mnist", spec
    if kind == "mnist":
        if not where:
            raise CommandError("--data mnist needs a folder: mnist:FOLDER")
        x_train, y_train = datasets.load_mnist(where, train=True)
        x_test, y_test = datasets.load_mnist(where, train=False)
        return x_train, y_train, x_test, y_test
    if kind == "digits" and not where:
        features, labels = datasets.load_digits()
    elif kind == "csv" and where:
        features, labels = datasets.load_csv(where)
    else:
        raise CommandError(f"unknown dataset {spec!r}: use digits, mnist:FOLDER, the path of a folder of MNIST "
                           "IDX files, or csv:PATH")
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = int(round(0.8 * len(labels)))
    train, test = order[:cut], order[cut:]
    return features[train], labels[train], features[test], labels[test]


def check_data(spec: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> None:
    """Refuse data a run cannot use: an empty split, no features, NaN or infinite features, or labels
    that are not class numbers from 0 to ``MAX_CLASSES - 1``.

    Raises:
        CommandError: naming ``--data`` and what is wrong.
    """
    if len(y_train) == 0 or len(y_test) == 0:
        raise CommandError(f"--data {spec}: {len(y_train)} training and {len(y_test)} test examples; both need at "
                           "least one (digits and CSV data are split 80/20, so a CSV file needs 3 rows or more)")
    if x_train.ndim != 2 or x_train.shape[1] == 0:
        raise CommandError(f"--data {spec}: the examples have no features (shape {x_train.shape})")
    if x_test.shape[1:] != x_train.shape[1:]:
        raise CommandError(f"--data {spec}: the test examples have {x_test.shape[1]} features, the training "
                           f"examples {x_train.shape[1]}")
    for part, features in (("training", x_train), ("test", x_test)):
        if not np.isfinite(features).all():
            row, column = (int(n) for n in np.argwhere(~np.isfinite(features))[0])
            raise CommandError(f"--data {spec}: feature {column} of {part} example {row} is "
                               f"{features[row, column]}; features must be finite")
    low, high = int(min(y_train.min(), y_test.min())), int(max(y_train.max(), y_test.max()))
    if low < 0 or high >= MAX_CLASSES:
        raise CommandError(f"--data {spec}: class labels must be integers from 0 to {MAX_CLASSES - 1}, found "
                           f"{low if low < 0 else high}")


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


def _write_json(path: Path, value: Any) -> None:
    write_atomically(path, json.dumps(value, indent=2))


def _plot(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [row["train_loss"] for row in history], marker="o")
    left.set(xlabel="epoch", ylabel="training loss", title="loss")
    right.plot(epochs, [row["train_accuracy"] for row in history], marker="o", label="train")
    right.plot(epochs, [row["test_accuracy"] for row in history], marker="o", label="test")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _progress(total: int, description: str, enabled: bool) -> Any:
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            # disable=None: a bar on a terminal, nothing when the output goes to a file or a pipe
            return tqdm(total=total, desc=description, leave=False, dynamic_ncols=True, disable=None)
    return None


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
    keys = {"epoch", "train_loss", "train_accuracy", "test_accuracy", "lr", "seconds"}
    if not isinstance(value, list):
        raise CommandError(f"{source}: its history is {shown(value)}, expected a list")
    for row in value:
        if (not isinstance(row, dict) or set(row) != keys
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row.values())):
            raise CommandError(f"{source}: its history has the entry {shown(row)}, expected numbers for "
                               f"{', '.join(sorted(keys))}")
    return list(value)


def train(args: argparse.Namespace) -> int:
    require_io()  # the run ends in a checkpoint: say now, not after training, if it cannot be written
    rank, ranks = (distributed.rank(), distributed.world_size()) if args.distributed else (0, 1)
    lead = rank == 0  # the rank that prints and writes
    source = args.resume
    if args.resume:
        state = _fields(load(args.resume), source,
                        ("config", "epoch", "model", "optimizer", "loader", "generator", "history"))
        config = check_config(state["config"], source)
        config["epochs"] = args.epochs
    else:
        state = None
        hidden = args.hidden if args.hidden is not None else [128, 64] if args.model == "mlp" else []
        config = {"model": args.model, "channels": args.channels or DEFAULTS["channels"],
                  "data": args.data, "hidden": hidden, "activation": args.activation, "loss": args.loss,
                  "optimizer": args.optimizer, "lr": args.lr or (0.05 if args.optimizer == "sgd" else 1e-3),
                  "momentum": args.momentum, "weight_decay": args.weight_decay, "epochs": args.epochs,
                  "batch_size": args.batch_size, "seed": args.seed}
    x_train, y_train, x_test, y_test = load_data(config["data"], config["seed"])
    check_data(config["data"], x_train, y_train, x_test, y_test)
    n_features, n_classes = int(x_train.shape[1]), int(max(y_train.max(), y_test.max()) + 1)
    if state is not None and (n_features, n_classes) != (config["features"], config["classes"]):
        raise CommandError(f"{source}: its model takes {config['features']} features and {config['classes']} "
                           f"classes, the data {config['data']} now has {n_features} and {n_classes}")
    config["features"], config["classes"] = n_features, n_classes
    check_size(config, source or ("--model cnn" if config["model"] == "cnn" else "--hidden"))

    creation.manual_seed(config["seed"])
    model = build_model(config)
    optimizer = build_optimizer(config, model)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=config["batch_size"], shuffle=True,
                        seed=config["seed"])
    history: list[dict[str, Any]] = []
    start_epoch = 1
    if state is not None:
        epoch = state["epoch"]
        if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= MAX_EPOCHS:
            raise CommandError(f"{source}: its epoch is {shown(epoch)}, expected an integer from 0 to {MAX_EPOCHS}")
        history = _history(state["history"], source)
        load_model_state(model, state["model"], source)
        load_optimizer_state(optimizer, state["optimizer"], config, source)
        loader_state = state["loader"]
        if not isinstance(loader_state, dict) or set(loader_state) != {"generator"}:
            raise CommandError(f"{source}: its loader state is {shown(loader_state)}, expected a generator")
        loader.load_state_dict({"generator": _generator_state(loader_state["generator"],
                                                              f"{source}: its loader's generator")})
        creation.generator().bit_generator.state = _generator_state(state["generator"], f"{source}: its generator")
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
    checkpoint = out / "checkpoint.safetensors"

    def save_checkpoint(epoch: int) -> None:
        save({"config": config, "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
              "loader": loader.state_dict(), "generator": creation.generator().bit_generator.state,
              "history": history}, checkpoint)

    if lead:
        print(f"training {describe(config)} "
              f"on {config['data']} ({len(y_train)} train, {len(y_test)} test) with {config['optimizer']}, "
              f"lr {config['lr']}, {config['epochs']} epochs{f' on {ranks} processes' if ranks > 1 else ''}; "
              f"writing to {out}")
    epoch = start_epoch - 1
    try:
        for epoch in range(start_epoch, config["epochs"] + 1):
            began = time.perf_counter()
            bar = _progress(len(loader), f"epoch {epoch}/{config['epochs']}", lead and not args.no_progress)
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
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
            if bar is not None:
                bar.close()
            if ranks > 1:
                total_loss, correct, seen = _combine_epoch(model, total_loss, correct, seen)
            if not np.isfinite(total_loss):
                if lead:
                    _finish(history, out)
                kept = f"{checkpoint} holds epoch {epoch - 1}" if history else "no checkpoint was written"
                raise CommandError(f"training diverged in epoch {epoch}: the loss is {total_loss / seen} "
                                   f"(try a smaller --lr); {kept}")
            test_accuracy = (float((predict(model, x_test) == y_test).mean()) if ranks == 1
                             else _sharded_accuracy(model, x_test, y_test, rank, ranks))
            history.append({"epoch": epoch, "train_loss": total_loss / seen, "train_accuracy": correct / seen,
                            "test_accuracy": test_accuracy, "lr": optimizer.param_groups[0]["lr"],
                            "seconds": time.perf_counter() - began})
            if lead:
                save_checkpoint(epoch)
                print(f"epoch {epoch:3d}  loss {total_loss / seen:.4f}  train accuracy {correct / seen:.4f}  "
                      f"test accuracy {test_accuracy:.4f}", flush=True)
    except KeyboardInterrupt:
        if not lead:
            return 130
        print(f"\ninterrupted during epoch {epoch}; the checkpoint holds epoch {epoch - 1} "
              f"({checkpoint}); continue with: tapegrad train --resume {checkpoint} --epochs {config['epochs']}",
              file=sys.stderr)
        _finish(history, out)
        return 130
    if not lead:
        return 0
    _finish(history, out)
    final = history[-1]["test_accuracy"] if history else float("nan")
    print(f"final test accuracy {final:.4f}; metrics, checkpoint and curves in {out}")
    return 0


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


def _sharded_accuracy(model: nn.Module, features: np.ndarray, labels: np.ndarray, rank: int, ranks: int,
                      batch_size: int = 512) -> float:
    """``predict``'s accuracy with its batches dealt to the ranks in turn (each batch computed as one process
    computes it, so the predictions are the same) and the correct counts summed."""
    correct = np.zeros(1, dtype=np.int64)
    model.eval()
    with no_grad():
        for start in range(rank * batch_size, len(features), ranks * batch_size):
            scores = model(Tensor(features[start:start + batch_size])).numpy()
            correct[0] += int((scores.argmax(axis=1) == labels[start:start + batch_size]).sum())
    model.train()
    distributed.all_reduce(correct, "sum")
    return float(correct[0] / len(labels))


def _finish(history: list[dict[str, Any]], out: Path) -> None:
    metrics = {"epochs": history, "test_accuracy": history[-1]["test_accuracy"] if history else None}
    _write_json(out / "metrics.json", metrics)
    if history:
        try:
            _plot(history, out / "curves.png")
        except ImportError:
            print('curves.png not written: matplotlib is not installed (pip install "tapegrad[cli]")',
                  file=sys.stderr)


def evaluate(args: argparse.Namespace) -> int:
    source = args.checkpoint
    state = _fields(load(source), source, ("config", "model"))
    config = check_config(state["config"], source)
    check_size(config, source)
    spec = args.data or config["data"]
    _, _, x_test, y_test = load_data(spec, config["seed"])
    check_data(spec, x_test, y_test, x_test, y_test)
    if x_test.shape[1] != config["features"]:
        raise CommandError(f"the model takes {config['features']} features, the data has {x_test.shape[1]}")
    if y_test.max() >= config["classes"]:
        raise CommandError(f"--data {spec} has class labels up to {y_test.max()}, the model in {source} has "
                           f"{config['classes']} outputs (classes 0 to {config['classes'] - 1})")
    model = build_model(config)
    load_model_state(model, state["model"], source)
    predictions = predict(model, x_test)
    classes = config["classes"]
    print(f"accuracy {float((predictions == y_test).mean()):.4f} on {len(y_test)} examples of "
          f"{args.data or config['data']}")
    if classes > MAX_PRINTED_CLASSES:  # classes x classes numbers: too many to print, maybe to hold
        print(f"confusion matrix not printed: {classes} classes, more than {MAX_PRINTED_CLASSES}")
        return 0
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (y_test, predictions), 1)
    print("confusion matrix (rows: true class, columns: predicted class)")
    width = max(len(str(confusion.max())), len(str(classes - 1))) + 1
    print(" " * (width + 1) + "".join(f"{c:>{width}}" for c in range(classes)))
    for c in range(classes):
        print(f"{c:>{width}} " + "".join(f"{n:>{width}}" for n in confusion[c]))
    return 0


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
    args = build_parser().parse_args(argv)
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

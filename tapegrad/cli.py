"""The ``tapegrad`` command: train an MLP classifier and evaluate a checkpoint.

``tapegrad train`` with no arguments trains on scikit-learn's bundled digits and writes
``metrics.json``, ``checkpoint.safetensors`` and ``curves.png`` into ``runs/<timestamp>/``.
Every error is one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import creation, nn, optim
from .data import DataLoader, TensorDataset, datasets
from .errors import TapegradError
from .grad_mode import no_grad
from .serialization import load, save
from .tensor import Tensor

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LOSSES = ("cross_entropy", "hinge")


class CommandError(Exception):
    """A problem to report in one line and exit with status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block
        self.exit(2, f"{self.prog}: error: {message}\n")


def _hidden_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes sizes like 128,64, got {text!r}") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"--hidden sizes must be positive, got {text!r}")
    return sizes


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tapegrad", description="Train and evaluate MLP classifiers with tapegrad.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = commands.add_parser("train", help="train an MLP classifier")
    train.add_argument("--data", default="digits", help="digits | mnist:FOLDER | csv:PATH (default: digits)")
    train.add_argument("--hidden", type=_hidden_sizes, default=[128, 64], help="hidden sizes (default: 128,64)")
    train.add_argument("--activation", default="relu", choices=sorted(nn.layers.ACTIVATIONS))
    train.add_argument("--loss", default="cross_entropy", choices=LOSSES)
    train.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    train.add_argument("--lr", type=_positive(float), default=None, help="learning rate (default: 1e-3, sgd 0.05)")
    train.add_argument("--momentum", type=float, default=0.9, help="for sgd and rmsprop (default: 0.9)")
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--epochs", type=_positive(int), default=30)
    train.add_argument("--batch-size", type=_positive(int), default=32)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default=None, help="output folder (default: runs/<timestamp>)")
    train.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue a run from its checkpoint")
    train.add_argument("--no-progress", action="store_true", help="one line per epoch instead of a progress bar")
    explain = commands.add_parser("explain", help="the forward and backward steps of an arithmetic expression")
    explain.add_argument("expression", help='e.g. "(x1 + 3*x2)**2"')
    explain.add_argument("--at", nargs="+", default=[], metavar="NAME=VALUE", help="the variables' values")
    explain.add_argument("--html", metavar="PAGE", help="also write the step-through page to this file")
    explain.add_argument("--svg", metavar="PICTURE", help="also write a picture of the graph to this file")
    evaluate = commands.add_parser("evaluate", help="accuracy and confusion matrix of a checkpoint")
    evaluate.add_argument("checkpoint")
    evaluate.add_argument("--data", default=None, help="dataset to evaluate on (default: the one trained on)")
    return parser


# -- data ----------------------------------------------------------------------------------------

def load_data(spec: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test features and labels for ``digits``, ``mnist:FOLDER`` or ``csv:PATH``.

    digits and CSV data are split 80/20 by a permutation drawn from ``seed``; MNIST uses its own split.
    """
    kind, _, where = spec.partition(":")
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
        raise CommandError(f"unknown dataset {spec!r}: use digits, mnist:FOLDER or csv:PATH")
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = int(round(0.8 * len(labels)))
    train, test = order[:cut], order[cut:]
    return features[train], labels[train], features[test], labels[test]


# -- model and training --------------------------------------------------------------------------

def build_model(config: dict[str, Any]) -> nn.MLP:
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
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w") as file:
        json.dump(value, file, indent=2)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


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


def train(args: argparse.Namespace) -> int:
    if args.resume:
        state = load(args.resume)
        config = dict(state["config"])
        config["epochs"] = args.epochs
        out = Path(args.out) if args.out else Path(args.resume).parent
    else:
        state = None
        config = {"data": args.data, "hidden": args.hidden, "activation": args.activation, "loss": args.loss,
                  "optimizer": args.optimizer, "lr": args.lr or (0.05 if args.optimizer == "sgd" else 1e-3),
                  "momentum": args.momentum, "weight_decay": args.weight_decay, "epochs": args.epochs,
                  "batch_size": args.batch_size, "seed": args.seed}
        out = Path(args.out) if args.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    x_train, y_train, x_test, y_test = load_data(config["data"], config["seed"])
    config["features"] = int(x_train.shape[1])
    config["classes"] = int(max(y_train.max(), y_test.max()) + 1)
    out.mkdir(parents=True, exist_ok=True)

    creation.manual_seed(config["seed"])
    model = build_model(config)
    optimizer = build_optimizer(config, model)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=config["batch_size"], shuffle=True,
                        seed=config["seed"])
    history: list[dict[str, Any]] = []
    start_epoch = 1
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        loader.load_state_dict(state["loader"])
        creation.generator().bit_generator.state = state["generator"]
        history = list(state["history"])
        start_epoch = int(state["epoch"]) + 1
    criterion = loss_function(config["loss"])
    checkpoint = out / "checkpoint.safetensors"

    def save_checkpoint(epoch: int) -> None:
        save({"config": config, "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
              "loader": loader.state_dict(), "generator": creation.generator().bit_generator.state,
              "history": history}, checkpoint)

    print(f"training {model.__class__.__name__} {[config['features'], *config['hidden'], config['classes']]} "
          f"on {config['data']} ({len(y_train)} train, {len(y_test)} test) with {config['optimizer']}, "
          f"lr {config['lr']}, {config['epochs']} epochs; writing to {out}")
    epoch = start_epoch - 1
    try:
        for epoch in range(start_epoch, config["epochs"] + 1):
            began = time.perf_counter()
            bar = _progress(len(loader), f"epoch {epoch}/{config['epochs']}", not args.no_progress)
            total_loss = correct = seen = 0.0
            for features, labels in loader:
                scores = model(features)
                loss = criterion(scores, labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total_loss += loss.item() * len(labels)
                correct += float((scores.numpy().argmax(axis=1) == labels.numpy()).sum())
                seen += len(labels)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
            if bar is not None:
                bar.close()
            test_accuracy = float((predict(model, x_test) == y_test).mean())
            history.append({"epoch": epoch, "train_loss": total_loss / seen, "train_accuracy": correct / seen,
                            "test_accuracy": test_accuracy, "lr": optimizer.param_groups[0]["lr"],
                            "seconds": time.perf_counter() - began})
            save_checkpoint(epoch)
            print(f"epoch {epoch:3d}  loss {total_loss / seen:.4f}  train accuracy {correct / seen:.4f}  "
                  f"test accuracy {test_accuracy:.4f}")
    except KeyboardInterrupt:
        print(f"\ninterrupted during epoch {epoch}; the checkpoint holds epoch {epoch - 1} "
              f"({checkpoint}); continue with: tapegrad train --resume {checkpoint} --epochs {config['epochs']}",
              file=sys.stderr)
        _finish(history, out)
        return 130
    _finish(history, out)
    final = history[-1]["test_accuracy"] if history else float("nan")
    print(f"final test accuracy {final:.4f}; metrics, checkpoint and curves in {out}")
    return 0


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
    state = load(args.checkpoint)
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise CommandError(f"{args.checkpoint} is a tapegrad checkpoint but not one written by 'tapegrad train'")
    config = state["config"]
    _, _, x_test, y_test = load_data(args.data or config["data"], config["seed"])
    if x_test.shape[1] != config["features"]:
        raise CommandError(f"the model takes {config['features']} features, the data has {x_test.shape[1]}")
    model = build_model(config)
    model.load_state_dict(state["model"])
    predictions = predict(model, x_test)
    classes = config["classes"]
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (y_test, predictions), 1)
    print(f"accuracy {float((predictions == y_test).mean()):.4f} on {len(y_test)} examples of "
          f"{args.data or config['data']}")
    print("confusion matrix (rows: true class, columns: predicted class)")
    width = max(len(str(confusion.max())), len(str(classes - 1))) + 1
    print(" " * (width + 1) + "".join(f"{c:>{width}}" for c in range(classes)))
    for c in range(classes):
        print(f"{c:>{width}} " + "".join(f"{n:>{width}}" for n in confusion[c]))
    return 0


def explain_expression(args: argparse.Namespace) -> int:
    from .viz import explain
    from .viz.expression import build

    values = {}
    for item in args.at:
        name, _, value = item.partition("=")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise CommandError(f"--at takes NAME=VALUE pairs with numbers, got {item!r}") from None
    result, _ = build(args.expression, values)
    result.backward()
    print(explain(result))
    if args.html:
        from .viz import html

        print(f"step-through page written to {html(result, args.html)}")
    if args.svg:
        from .viz import draw

        target = Path(args.svg)
        written = draw(result).render(target.with_suffix(""), format="svg", cleanup=True)
        print(f"picture written to {written}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tapegrad`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        commands = {"train": train, "evaluate": evaluate, "explain": explain_expression}
        return commands[args.command](args)
    except (CommandError, TapegradError, OSError) as exc:  # VizError is a TapegradError
        print(f"tapegrad: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

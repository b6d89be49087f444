"""The main job against PyTorch: ``tapegrad train [--model mlp|cnn]`` and the same training in PyTorch.

Both train the model with the command's default hyperparameters (Adam, lr 1e-3, batch 32, 30 epochs) on
the same 80% of scikit-learn's digits, in the same batch order, evaluating on the other 20% after every
epoch. The models: ``mlp`` (64-128-64-10, ReLU) and ``cnn`` (conv 1->32 3x3 without bias, BatchNorm2d,
ReLU, max-pool 2, conv 32->64, BatchNorm2d, ReLU, max-pool 2, linear 256->10). Timed: the training loop
with its per-epoch evaluation (medians of several runs, alternating). The whole ``tapegrad train``
command (start-up, checkpoints every epoch, metrics, curves) is timed once on its own.

Run: ``python benchmarks/train_digits.py [--model mlp|cnn] [--runs 5]``
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import tapegrad as tg
from tapegrad.cli import ConvNet, load_data

from common import torch_or_none

EPOCHS, BATCH, LR = 30, 32, 1e-3
SIZES, CHANNELS = [64, 128, 64, 10], [32, 64]  # the mlp's layer sizes; the cnn's channels


def batch_orders(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(EPOCHS)]


def tapegrad_model(kind: str) -> tg.nn.Module:
    return tg.nn.MLP(SIZES) if kind == "mlp" else ConvNet(8, CHANNELS, [], 10)


def torch_model(torch, kind: str):
    t = torch.nn
    if kind == "mlp":
        layers = []
        for position, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
            layers.append(t.Linear(n_in, n_out))
            if position < len(SIZES) - 2:
                layers.append(t.ReLU())
        return t.Sequential(*layers)
    layers, previous = [], 1
    for count in CHANNELS:
        layers += [t.Conv2d(previous, count, 3, padding=1, bias=False), t.BatchNorm2d(count), t.ReLU(),
                   t.MaxPool2d(2)]
        previous = count
    return t.Sequential(t.Unflatten(1, (1, 8, 8)), *layers, t.Flatten(), t.Linear(previous * 2 * 2, 10))


def train_tapegrad(kind, x_train, y_train, x_test, y_test, orders) -> float:
    tg.manual_seed(0)
    model = tapegrad_model(kind)
    optimizer = tg.optim.Adam(model.parameters(), lr=LR)
    accuracy = 0.0
    for order in orders:
        model.train()
        for start in range(0, len(order), BATCH):
            picked = order[start:start + BATCH]
            loss = tg.nn.functional.cross_entropy(model(tg.Tensor(x_train[picked])), y_train[picked])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with tg.no_grad():
            accuracy = float((model(tg.Tensor(x_test)).numpy().argmax(axis=1) == y_test).mean())
    return accuracy


def train_torch(torch, kind, x_train, y_train, x_test, y_test, orders) -> float:
    torch.manual_seed(0)
    model = torch_model(torch, kind)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    xs, ys, xt = torch.from_numpy(x_train), torch.from_numpy(y_train), torch.from_numpy(x_test)
    accuracy = 0.0
    for order in orders:
        model.train()
        for start in range(0, len(order), BATCH):
            picked = torch.from_numpy(order[start:start + BATCH])
            loss = torch.nn.functional.cross_entropy(model(xs[picked]), ys[picked])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = float((model(xt).argmax(dim=1).numpy() == y_test).mean())
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    x_train, y_train, x_test, y_test = load_data("digits", seed=0)
    orders = batch_orders(len(y_train))
    kind = args.model
    runs = {"tapegrad": lambda: train_tapegrad(kind, x_train, y_train, x_test, y_test, orders)}
    torch = torch_or_none()
    if torch is not None:
        runs["pytorch eager"] = lambda: train_torch(torch, kind, x_train, y_train, x_test, y_test, orders)
    times: dict[str, list[float]] = {name: [] for name in runs}
    accuracies: dict[str, float] = {}
    for _ in range(args.runs):
        for name, run in runs.items():
            start = time.perf_counter()
            accuracies[name] = run()
            times[name].append(time.perf_counter() - start)
    threads = "one thread each" if single_thread.PINNED else "default threads"
    model = f"MLP {SIZES}" if kind == "mlp" else f"cnn conv {CHANNELS} + batch norm"
    print(f"digits, {model}, Adam lr {LR}, batch {BATCH}, {EPOCHS} epochs, evaluation every epoch, {threads}; "
          f"median of {args.runs} runs")
    for name in runs:
        median = statistics.median(times[name])
        ratio = median / statistics.median(times["pytorch eager"]) if torch is not None else float("nan")
        print(f"  {name:14s} {median:6.2f} s   test accuracy {accuracies[name]:.4f}   ({ratio:.2f}x pytorch)")
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tapegrad.cli", "train", "--model", kind, "--no-progress", "--out",
                        out], check=True, capture_output=True)
        print(f"  the whole 'tapegrad train --model {kind}' command (start-up, checkpoints, metrics, curves): "
              f"{time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()

"""An LSTM learns a task that needs memory: recall the first token of a sequence after a delay.

Each sequence holds ``length`` random tokens out of ``tokens`` symbols (one-hot); the answer is the
first one, which the model must carry in its cell state past all the others (chance: 1 / tokens).
``LSTM`` reads the sequence, a ``Linear`` layer classifies its last hidden state, Adam trains both.

Run: ``python examples/sequence_lstm.py [--steps 500] [--length 8]``
"""

from __future__ import annotations

import argparse

import numpy as np

import tapegrad as tg
from tapegrad.nn import functional as F


def make_batch(rng: np.random.Generator, batch: int, length: int, tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """One-hot sequences (batch, length, tokens) as float32, and their first tokens (batch,)."""
    labels = rng.integers(0, tokens, (batch, length))
    return np.eye(tokens, dtype=np.float32)[labels], labels[:, 0]


class FirstTokenRecall(tg.nn.Module):
    """LSTM over the sequence (batch first), then a linear layer on the last hidden state."""

    def __init__(self, tokens: int, hidden: int) -> None:
        super().__init__()
        self.lstm = tg.nn.LSTM(tokens, hidden, batch_first=True, dtype=np.float32)
        self.head = tg.nn.Linear(hidden, tokens, dtype=np.float32)

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        _, (h_n, _) = self.lstm(x)
        return self.head(h_n[-1])


def train(steps: int = 500, length: int = 8, tokens: int = 4, hidden: int = 64, batch: int = 64,
          lr: float = 0.01, seed: int = 0, report_every: int = 50) -> dict:
    """Train on fresh batches; returns the losses and the accuracy on 1,000 held-out sequences.

    With 64 hidden units every seed from 0 to 7 learns the task in 500 steps (accuracy 1.0); with 32, seeds 5
    and 6 stay at 0.75 (three tokens of four) even after 1,000 steps, and seed 0 depends on rounding."""
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = FirstTokenRecall(tokens, hidden)
    optimizer = tg.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        x, y = make_batch(rng, batch, length, tokens)
        loss = F.cross_entropy(model(tg.tensor(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if report_every and (step % report_every == 0 or step == steps - 1):
            print(f"step {step:4d}  loss {loss.item():.4f}")
    model.eval()
    x, y = make_batch(np.random.default_rng(seed + 1), 1000, length, tokens)
    with tg.no_grad():
        accuracy = float((model(tg.tensor(x)).numpy().argmax(axis=1) == y).mean())
    return {"losses": losses, "accuracy": accuracy, "chance": 1 / tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--length", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=4)
    args = parser.parse_args()
    result = train(args.steps, args.length, args.tokens)
    print(f"held-out accuracy {result['accuracy']:.3f} (chance {result['chance']:.3f})")


if __name__ == "__main__":
    main()

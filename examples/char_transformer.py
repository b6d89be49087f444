"""A character-level transformer language model, trained on any text file, then sampled.

Characters are embedded (``nn.Embedding``) and given a learned positional embedding; a stack of
``nn.TransformerEncoderLayer`` (pre-norm, with a causal mask so that each position sees only the
characters before it) and a linear head predict the next character. ``tg.optim.AdamW`` trains on
random windows of the text; the loss starts near the uniform baseline ``log(vocabulary size)`` and
falls as the model learns the text. At the end the model writes text, one character at a time.

Run: ``python examples/char_transformer.py text.txt [--steps 2000] [--seconds 60] [--sample-length 300]``
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F


class CharTransformer(nn.Module):
    """Token and position embeddings, ``layers`` causal encoder layers, a final LayerNorm and a linear head."""

    def __init__(self, vocabulary: int, context: int, d_model: int = 64, heads: int = 4, layers: int = 2,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.context = context
        self.tokens = nn.Embedding(vocabulary, d_model, dtype=np.float32)
        self.positions = nn.Embedding(context, d_model, dtype=np.float32)
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=dropout, batch_first=True,
                                           norm_first=True, dtype=np.float32)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(d_model, dtype=np.float32)
        self.head = nn.Linear(d_model, vocabulary, dtype=np.float32)

    def forward(self, indices: np.ndarray) -> tg.Tensor:
        """Logits (batch, length, vocabulary) of the next character at every position of ``indices``."""
        length = indices.shape[1]
        x = self.tokens(indices) + self.positions(np.arange(length))
        causal = np.triu(np.ones((length, length), bool), 1)  # True: a later position, masked out
        return self.head(self.norm(self.encoder(x, mask=causal, is_causal=True)))


def train(text: str, steps: int = 2000, seconds: float = math.inf, context: int = 32, batch: int = 32,
          d_model: int = 64, heads: int = 4, layers: int = 2, lr: float = 3e-3, seed: int = 0,
          report_every: int = 50) -> tuple[CharTransformer, list[str], list[float]]:
    """Train on random windows of ``text`` for ``steps`` steps or ``seconds``, whichever ends first.

    Returns the model, its vocabulary (the text's characters, sorted) and the loss of every step."""
    vocabulary = sorted(set(text))
    if len(text) <= context + 1:
        raise SystemExit(f"the text has {len(text)} characters; it needs more than the context ({context + 1})")
    data = np.array([vocabulary.index(c) for c in text], np.int64)
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = CharTransformer(len(vocabulary), context, d_model, heads, layers)
    optimizer = tg.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    print(f"{len(text)} characters, vocabulary of {len(vocabulary)}: uniform baseline loss "
          f"{math.log(len(vocabulary)):.4f}; {sum(p.size for p in model.parameters())} parameters")
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(steps):
        starts = rng.integers(0, len(data) - context - 1, batch)
        windows = data[starts[:, None] + np.arange(context + 1)]
        logits = model(windows[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, len(vocabulary)), windows[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        out_of_time = time.perf_counter() - start > seconds
        if report_every and (step % report_every == 0 or step == steps - 1 or out_of_time):
            print(f"step {step:5d}  loss {np.mean(losses[-report_every:]):.4f}")
        if out_of_time:
            break
    return model, vocabulary, losses


def sample(model: CharTransformer, vocabulary: list[str], prompt: str, length: int, temperature: float = 0.8,
           seed: int = 0) -> str:
    """``length`` characters written by ``model`` after ``prompt`` (whose characters must be in the vocabulary),
    each drawn from the softmax of its logits divided by ``temperature``."""
    rng = np.random.default_rng(seed)
    indices = [vocabulary.index(c) for c in prompt]
    model.eval()
    written = []
    with tg.no_grad():
        for _ in range(length):
            window = np.array([indices[-model.context:]])
            logits = model(window).numpy()[0, -1].astype(np.float64) / temperature
            p = np.exp(logits - logits.max())
            choice = int(rng.choice(len(vocabulary), p=p / p.sum()))
            indices.append(choice)
            written.append(vocabulary[choice])
    return "".join(written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", type=Path, help="a text file to learn")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=math.inf, help="stop training after this long")
    parser.add_argument("--context", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--sample-length", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    text = args.text.read_text(encoding="utf-8")
    model, vocabulary, losses = train(text, args.steps, args.seconds, args.context, layers=args.layers,
                                      seed=args.seed)
    tail = losses[-min(len(losses), 20):]
    print(f"final loss {np.mean(tail):.4f} after {len(losses)} steps (uniform baseline "
          f"{math.log(len(vocabulary)):.4f})")
    written = sample(model, vocabulary, text[:model.context], args.sample_length, seed=args.seed)
    print(f"sample: {json.dumps(written)}")


if __name__ == "__main__":
    main()

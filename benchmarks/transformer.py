"""A transformer encoder layer training step (batch 16, sequence 64, d_model 128, 4 heads, feed-forward
512, float32, SGD), ms per step, tapegrad against PyTorch eager in the same run.

The same step in both: ``nn.TransformerEncoderLayer(128, 4, 512, dropout=0.1, batch_first=True)`` in
training mode (dropout on), loss ``mean(output ** 2)``, backward, SGD update; the weights are copied
from PyTorch's layer. Timed interleaved so that the machine's drift hits both alike.

Run: ``python benchmarks/transformer.py [--rounds 12]`` (``TAPEGRAD_BENCH_THREADS=default`` for
default threads)
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse

import numpy as np

import tapegrad as tg

from common import check_same_losses, compare, torch_or_none

BATCH, SEQUENCE, D_MODEL, HEADS, FEEDFORWARD = 16, 64, 128, 4, 512
LR = 0.01


def make_steps(torch, dropout: float = 0.1, activation: str = "relu"):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SEQUENCE, D_MODEL)).astype(np.float32)
    tg.manual_seed(0)
    layer = tg.nn.TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, dropout=dropout, activation=activation,
                                          batch_first=True, dtype=np.float32).train()
    optimizer = tg.optim.SGD(layer.parameters(), lr=LR)
    tx = tg.tensor(x)

    def tapegrad_step():
        out = layer(tx)
        loss = (out * out).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    if torch is None:
        return {"tapegrad": tapegrad_step}
    torch.manual_seed(0)
    reference = torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, dropout=dropout,
                                                 activation=activation, batch_first=True).train()
    layer.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    torch_optimizer = torch.optim.SGD(reference.parameters(), lr=LR)
    px = torch.tensor(x)

    def torch_step():
        out = reference(px)
        loss = (out * out).mean()
        torch_optimizer.zero_grad()
        loss.backward()
        torch_optimizer.step()
        return loss.detach()

    return {"pytorch eager": torch_step, "tapegrad": tapegrad_step}


def check_same_step(torch, activation: str = "relu") -> None:
    """Without dropout, the first steps of both agree (float32 rounding apart)."""
    if torch is None:
        return
    check_same_losses(make_steps(torch, dropout=0.0, activation=activation))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--activation", choices=("relu", "gelu"), default="relu",
                        help="the feed-forward block's activation (the layer's default: relu)")
    args = parser.parse_args()
    torch = torch_or_none()
    if torch is None:
        print("PyTorch is not installed: timing tapegrad alone")
    check_same_step(torch, args.activation)
    steps = make_steps(torch, activation=args.activation)
    seconds, ratio = compare(steps, args.rounds, block=3, warmup=2)
    threads = "one thread" if single_thread.PINNED else "default threads"
    print(f"TransformerEncoderLayer training step (batch {BATCH}, sequence {SEQUENCE}, d_model {D_MODEL}, "
          f"{HEADS} heads, feed-forward {FEEDFORWARD}, {args.activation}, float32, SGD), {threads}: ms per step; "
          f"medians over {args.rounds} rounds of 3 steps")
    base = next(iter(steps))
    for name in steps:
        print(f"  {name:18s} {seconds[name] * 1e3:8.2f} ms   ({ratio[name]:.2f}x {base})")


if __name__ == "__main__":
    main()

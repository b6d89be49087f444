"""RNN and GRU training steps (batch 32, input 32, hidden 128, float32, SGD; sequences of 50 and 200), ms per step.

The same step (forward through ``RNN(32, 128)`` or ``GRU(32, 128)``, loss ``mean(output ** 2)``, backward,
SGD update) in tapegrad's ``nn.RNN`` / ``nn.GRU`` (one ``rnn`` / ``gru`` primitive per layer), in tapegrad
composed per time step exactly as ``nn.RNN`` / ``nn.GRU`` were before those primitives (``x[t]`` sliced out
per step, both products per step), and in PyTorch eager, timed interleaved so that the machine's drift hits
all alike. The input takes a gradient, as it does behind an embedding or a lower layer: there the composed
layer's backward was quadratic in the sequence length (each ``x[t]`` gives back a gradient of the whole
sequence's size).

Run: ``python benchmarks/rnn.py [--rounds 8] [--kinds RNN GRU] [--steps 50 200]``
(``TAPEGRAD_BENCH_THREADS=default`` for default threads)
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse

import numpy as np

import tapegrad as tg

from common import check_same_losses, compare, torch_or_none

BATCH, INPUT, HIDDEN = 32, 32, 128
LR = 0.01
NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def composed_rnn(x, weights):
    """One tanh RNN layer composed per time step, as ``nn.RNN`` ran before the ``rnn`` primitive."""
    w_ih, w_hh, b_ih, b_hh = weights
    h = tg.zeros(x.shape[1], HIDDEN, dtype=np.float32)
    outputs = []
    for t in range(x.shape[0]):
        h = (x[t] @ w_ih.T + h @ w_hh.T + (b_ih + b_hh)).tanh()
        outputs.append(h)
    return tg.stack(outputs)


def composed_gru(x, weights):
    """One GRU layer composed per time step, as ``nn.GRU`` ran before the ``gru`` primitive."""
    w_ih, w_hh, b_ih, b_hh = weights
    h = tg.zeros(x.shape[1], HIDDEN, dtype=np.float32)
    outputs = []
    for t in range(x.shape[0]):
        gi, gh = x[t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        rz = (gi[:, :2 * HIDDEN] + gh[:, :2 * HIDDEN]).sigmoid()
        r, z = rz[:, :HIDDEN], rz[:, HIDDEN:]
        n = (gi[:, 2 * HIDDEN:] + r * gh[:, 2 * HIDDEN:]).tanh()
        h = n + z * (h - n)
        outputs.append(h)
    return tg.stack(outputs)


def make_steps(torch, kind: str, steps: int):
    """The training step of each implementation, for ``kind`` ("RNN" or "GRU") over ``steps`` time steps."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, BATCH, INPUT)).astype(np.float32)
    tg.manual_seed(0)
    model = getattr(tg.nn, kind)(INPUT, HIDDEN, dtype=np.float32)
    state = model.state_dict()
    optimizer = tg.optim.SGD(model.parameters(), lr=LR)
    tx = tg.tensor(x, requires_grad=True)

    def tapegrad_step():
        out, _ = model(tx)
        loss = (out * out).mean()
        optimizer.zero_grad()
        tx.grad = None
        loss.backward()
        optimizer.step()
        return loss

    composed = [tg.tensor(state[k], requires_grad=True) for k in NAMES]
    composed_optimizer = tg.optim.SGD(composed, lr=LR)
    cx = tg.tensor(x, requires_grad=True)
    layer = composed_rnn if kind == "RNN" else composed_gru

    def composed_step():
        out = layer(cx, composed)
        loss = (out * out).mean()
        composed_optimizer.zero_grad()
        cx.grad = None
        loss.backward()
        composed_optimizer.step()
        return loss

    runs = {"pytorch eager": None, "tapegrad": tapegrad_step, "tapegrad composed": composed_step}
    if torch is None:
        del runs["pytorch eager"]
        return runs
    reference = getattr(torch.nn, kind)(INPUT, HIDDEN)
    reference.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    torch_optimizer = torch.optim.SGD(reference.parameters(), lr=LR)
    px = torch.tensor(x, requires_grad=True)

    def torch_step():
        out, _ = reference(px)
        loss = (out * out).mean()
        torch_optimizer.zero_grad()
        px.grad = None
        loss.backward()
        torch_optimizer.step()
        return loss

    runs["pytorch eager"] = torch_step
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--kinds", nargs="+", default=["RNN", "GRU"], choices=["RNN", "GRU"])
    parser.add_argument("--steps", nargs="+", type=int, default=[50, 200])
    args = parser.parse_args()
    torch = torch_or_none()
    threads = "one thread" if single_thread.PINNED else "default threads"
    for kind in args.kinds:
        for steps in args.steps:
            check_same_losses(make_steps(torch, kind, steps))  # the timed steps compute the same thing
            runs = make_steps(torch, kind, steps)
            seconds, ratio = compare(runs, args.rounds, block=3, warmup=2)
            print(f"{kind} training step (batch {BATCH}, sequence {steps}, input {INPUT}, hidden {HIDDEN}, float32, "
                  f"SGD, the input takes a gradient), {threads}: ms per step; medians over {args.rounds} rounds "
                  "of 3 steps")
            base = next(iter(runs))
            for name in runs:
                print(f"  {name:18s} {seconds[name] * 1e3:9.2f} ms   ({ratio[name]:.2f}x {base})", flush=True)


if __name__ == "__main__":
    main()

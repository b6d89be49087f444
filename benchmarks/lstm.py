"""An LSTM training step (batch 32, sequence 50, input 32, hidden 128, float32, SGD), ms per step.

The same step (forward through ``LSTM(32, 128)``, loss ``mean(output ** 2)``, backward, SGD update)
in tapegrad's ``nn.LSTM`` (one ``lstm`` primitive per layer), in tapegrad composed per time step
from existing primitives (what the primitive replaced), in hand-written NumPy and in PyTorch eager,
timed interleaved so that the machine's drift hits all alike.

Run: ``python benchmarks/lstm.py [--rounds 12]`` (``TAPEGRAD_BENCH_THREADS=default`` for default threads)
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse

import numpy as np

import tapegrad as tg

from common import check_same_losses, compare, torch_or_none

BATCH, STEPS, INPUT, HIDDEN = 32, 50, 32, 128
LR = 0.01


def composed_lstm(x, weights):
    """One LSTM layer composed per time step from tapegrad's primitives: one matmul for all four
    gates per step, the input projection of every step in one matmul before the loop."""
    w_ih, w_hh, b_ih, b_hh = weights
    steps, batch, _ = x.shape
    projected = (x.reshape(steps * batch, INPUT) @ w_ih.T + (b_ih + b_hh)).reshape(steps, batch, 4 * HIDDEN)
    h = c = tg.zeros(batch, HIDDEN, dtype=np.float32)
    outputs = []
    for t in range(steps):
        gates = projected[t] + h @ w_hh.T
        i, f, o = gates[:, :HIDDEN].sigmoid(), gates[:, HIDDEN:2 * HIDDEN].sigmoid(), gates[:, 3 * HIDDEN:].sigmoid()
        c = f * c + i * gates[:, 2 * HIDDEN:3 * HIDDEN].tanh()
        h = o * c.tanh()
        outputs.append(h)
    return tg.stack(outputs)


def _sigmoid(a):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-a))


def numpy_step(x, params):
    """Forward, backward and SGD update by hand, for loss = mean(output ** 2)."""
    w_ih, w_hh, b_ih, b_hh = params
    steps, batch, _ = x.shape
    H = HIDDEN
    projected = (x.reshape(steps * batch, INPUT) @ w_ih.T + (b_ih + b_hh)).reshape(steps, batch, 4 * H)
    acts = np.empty((steps, batch, 4 * H), np.float32)
    hs = np.empty((steps + 1, batch, H), np.float32)
    cs = np.empty((steps + 1, batch, H), np.float32)
    hs[0] = cs[0] = 0
    for t in range(steps):
        a = projected[t] + hs[t] @ w_hh.T
        act = acts[t]
        act[:] = _sigmoid(a)
        act[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
        cs[t + 1] = act[:, H:2 * H] * cs[t] + act[:, :H] * act[:, 2 * H:3 * H]
        hs[t + 1] = act[:, 3 * H:] * np.tanh(cs[t + 1])
    out = hs[1:]
    loss = float(np.mean(out ** 2))
    g_out = out * np.float32(2 / out.size)
    tanh_c = np.tanh(cs[1:])
    d_a = np.empty_like(acts)
    dh = np.zeros((batch, H), np.float32)
    dc = np.zeros((batch, H), np.float32)
    for t in range(steps - 1, -1, -1):
        i, f, g, o = (acts[t][:, k * H:(k + 1) * H] for k in range(4))
        dh = dh + g_out[t]
        dc = dc + dh * o * (1 - tanh_c[t] ** 2)
        da = d_a[t]
        da[:, :H] = dc * g * i * (1 - i)
        da[:, H:2 * H] = dc * cs[t] * f * (1 - f)
        da[:, 2 * H:3 * H] = dc * i * (1 - g * g)
        da[:, 3 * H:] = dh * tanh_c[t] * o * (1 - o)
        dc = dc * f
        dh = da @ w_hh
    flat = d_a.reshape(steps * batch, 4 * H)
    grads = (flat.T @ x.reshape(steps * batch, INPUT), flat.T @ hs[:-1].reshape(steps * batch, H),
             flat.sum(0), flat.sum(0))
    for p, g in zip(params, grads):
        p -= LR * g
    return loss


def make_steps(torch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((STEPS, BATCH, INPUT)).astype(np.float32)
    tg.manual_seed(0)
    model = tg.nn.LSTM(INPUT, HIDDEN, dtype=np.float32)
    state = model.state_dict()
    optimizer = tg.optim.SGD(model.parameters(), lr=LR)
    tx = tg.tensor(x)

    def tapegrad_step():
        out, _ = model(tx)
        loss = (out * out).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    composed = [tg.tensor(state[k], requires_grad=True) for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                                                  "bias_hh_l0")]
    composed_optimizer = tg.optim.SGD(composed, lr=LR)

    def composed_step():
        out = composed_lstm(tx, composed)
        loss = (out * out).mean()
        composed_optimizer.zero_grad()
        loss.backward()
        composed_optimizer.step()
        return loss

    by_hand = [state[k].copy() for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    steps = {"pytorch eager": None, "tapegrad": tapegrad_step, "tapegrad composed": composed_step,
             "numpy by hand": lambda: numpy_step(x, by_hand)}
    if torch is None:
        del steps["pytorch eager"]
        return steps
    reference = torch.nn.LSTM(INPUT, HIDDEN)
    reference.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    torch_optimizer = torch.optim.SGD(reference.parameters(), lr=LR)
    px = torch.tensor(x)

    def torch_step():
        out, _ = reference(px)
        loss = (out * out).mean()
        torch_optimizer.zero_grad()
        loss.backward()
        torch_optimizer.step()
        return loss

    steps["pytorch eager"] = torch_step
    return steps


def check_same_step(torch) -> None:
    """The first steps of all implementations agree (float32 rounding apart)."""
    check_same_losses(make_steps(torch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    torch = torch_or_none()
    check_same_step(torch)
    steps = make_steps(torch)
    seconds, ratio = compare(steps, args.rounds, block=3, warmup=2)
    threads = "one thread" if single_thread.PINNED else "default threads"
    print(f"LSTM training step (batch {BATCH}, sequence {STEPS}, input {INPUT}, hidden {HIDDEN}, float32, SGD), "
          f"{threads}: ms per step; medians over {args.rounds} rounds of 3 steps")
    base = next(iter(steps))
    for name in steps:
        print(f"  {name:18s} {seconds[name] * 1e3:8.2f} ms   ({ratio[name]:.2f}x {base})")


if __name__ == "__main__":
    main()

"""The gradient through a 1,000-step RK4 integration of a small ODE system, ms per gradient (issue 15).

Lotka-Volterra with two species, ``dy/dt = y * (r + A @ y)`` (``r`` the growth rates, ``A`` the
interactions), integrated by classical RK4 with step 0.01 from ``y0`` over 1,000 steps; the loss is the sum
of squared differences between the 1,001 states and a fixed noisy trajectory. Its gradient in ``y0``,
``r`` and ``A``, side by side:

- NumPy by hand: the RK4 loop, then its discrete adjoint (the VJPs of every stage written out; the
  parameters' gradients summed in one contraction at the end): the floor;
- NumPy per stage: the same adjoint adding each stage's gradient in ``r`` and ``A`` as it comes, as
  reverse mode does at every node (how the chain rule reads; for scale);
- tapegrad eager: reverse mode through the same loop written with Tensors;
- tapegrad compiled: the same loss under ``tg.compile`` (traced once, then a fixed schedule);
- tapegrad odeint: ``tapegrad.scipy.integrate.odeint`` (SciPy's LSODA, rtol = atol = 1e-8) on the 1,001
  times, the gradient by the continuous adjoint method (constant memory in the solver's steps); another
  algorithm, so its gradient agrees with RK4's to the discretisation error only (printed);
- PyTorch eager: autograd through the same loop.

Run: ``python benchmarks/rk4.py [--rounds 10]`` (``TAPEGRAD_BENCH_THREADS=default`` for default threads)
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse

import numpy as np

import tapegrad as tg
from tapegrad.scipy.integrate import odeint

from common import compare, torch_or_none

STEPS, H = 1000, 0.01
Y0 = np.array([1.0, 0.5])
R = np.array([1.1, -0.9])
A = np.array([[0.0, -0.6], [0.4, 0.0]])


def lotka_volterra(y, r, a):
    return y * (r + a @ y)


def rk4_states(y0, r, a):
    """The RK4 trajectory (a list of STEPS + 1 states) in whatever array type the inputs are."""
    y, states = y0, [y0]
    for _ in range(STEPS):
        k1 = lotka_volterra(y, r, a)
        k2 = lotka_volterra(y + H / 2 * k1, r, a)
        k3 = lotka_volterra(y + H / 2 * k2, r, a)
        k4 = lotka_volterra(y + H * k3, r, a)
        y = y + H / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        states.append(y)
    return states


def make_data() -> np.ndarray:
    states = np.array(rk4_states(Y0 * 1.1, R * 0.9, A * 1.05))
    return states + 0.01 * np.random.default_rng(0).normal(size=states.shape)


DATA = make_data()


def numpy_by_hand(y0, r, a, data=DATA):
    """The loss and its gradient in (y0, r, a): the RK4 loop, then its adjoint, by hand."""
    n = len(y0)
    ys = np.empty((STEPS + 1, n))
    stage_inputs = np.empty((STEPS, 4, n))  # the state each stage evaluates f at
    rates = np.empty((STEPS, 4, n))  # r + a @ (that state)
    y = ys[0] = y0
    for s in range(STEPS):
        inputs, u = stage_inputs[s], rates[s]
        inputs[0] = y
        u[0] = r + a @ y
        k1 = y * u[0]
        inputs[1] = y + H / 2 * k1
        u[1] = r + a @ inputs[1]
        k2 = inputs[1] * u[1]
        inputs[2] = y + H / 2 * k2
        u[2] = r + a @ inputs[2]
        k3 = inputs[2] * u[2]
        inputs[3] = y + H * k3
        u[3] = r + a @ inputs[3]
        k4 = inputs[3] * u[3]
        y = ys[s + 1] = y + H / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    residual = ys - data
    loss = float(np.sum(residual ** 2))
    dy = 2 * residual  # the loss's gradient in each state
    at = a.T
    weighted = np.empty((STEPS, 4, n))  # per stage: its k's cotangent times its input, for r's and a's gradients
    adjoint = dy[STEPS].copy()
    for s in range(STEPS - 1, -1, -1):
        inputs, u, w = stage_inputs[s], rates[s], weighted[s]
        # y_next = y + H/6 (k1 + 2 k2 + 2 k3 + k4); k_i = f(Y_i), Y_1 = y, Y_2 = y + H/2 k1, ...
        g4 = H / 6 * adjoint
        w[3] = g4 * inputs[3]
        d4 = g4 * u[3] + at @ w[3]  # the cotangent of Y_4 = y + H k3
        g3 = H / 3 * adjoint + H * d4
        w[2] = g3 * inputs[2]
        d3 = g3 * u[2] + at @ w[2]
        g2 = H / 3 * adjoint + H / 2 * d3
        w[1] = g2 * inputs[1]
        d2 = g2 * u[1] + at @ w[1]
        g1 = H / 6 * adjoint + H / 2 * d2
        w[0] = g1 * inputs[0]
        d1 = g1 * u[0] + at @ w[0]
        adjoint = adjoint + d4 + d3 + d2 + d1 + dy[s]
    flat_w, flat_inputs = weighted.reshape(-1, n), stage_inputs.reshape(-1, n)
    return loss, adjoint, flat_w.sum(axis=0), flat_w.T @ flat_inputs


def numpy_by_hand_per_stage(y0, r, a, data=DATA):
    """The same, the way the chain rule reads: each stage's gradient in ``r`` and ``a`` added as it comes
    (what reverse mode does at every node), not summed once at the end."""
    ys, stage_inputs, rates = [y0], [], []
    y = y0
    for _ in range(STEPS):
        inputs, u = [y], [r + a @ y]
        k1 = y * u[0]
        inputs.append(y + H / 2 * k1)
        u.append(r + a @ inputs[1])
        k2 = inputs[1] * u[1]
        inputs.append(y + H / 2 * k2)
        u.append(r + a @ inputs[2])
        k3 = inputs[2] * u[2]
        inputs.append(y + H * k3)
        u.append(r + a @ inputs[3])
        k4 = inputs[3] * u[3]
        y = y + H / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        ys.append(y)
        stage_inputs.append(inputs)
        rates.append(u)
    residual = np.array(ys) - data
    dy = 2 * residual
    grad_r, grad_a = np.zeros_like(r), np.zeros_like(a)
    adjoint = dy[STEPS]

    def stage(g, y_in, u_in):  # the cotangent of the stage's input; r's and a's gradients added
        nonlocal grad_r, grad_a
        w = g * y_in
        grad_r = grad_r + w
        grad_a = grad_a + np.outer(w, y_in)
        return g * u_in + w @ a

    for s in range(STEPS - 1, -1, -1):
        inputs, u = stage_inputs[s], rates[s]
        d4 = stage(H / 6 * adjoint, inputs[3], u[3])
        d3 = stage(H / 3 * adjoint + H * d4, inputs[2], u[2])
        d2 = stage(H / 3 * adjoint + H / 2 * d3, inputs[1], u[1])
        d1 = stage(H / 6 * adjoint + H / 2 * d2, inputs[0], u[0])
        adjoint = adjoint + d4 + d3 + d2 + d1 + dy[s]
    return float(np.sum(residual ** 2)), adjoint, grad_r, grad_a


def tapegrad_loss(y0, r, a):
    states = tg.stack(rk4_states(y0, r, a))
    return ((states - DATA) ** 2).sum()


def odeint_loss(y0, r, a):
    states = odeint(lambda y, t, rates, interactions: lotka_volterra(y, rates, interactions), y0,
                    np.arange(STEPS + 1) * H, args=(r, a), rtol=1e-8, atol=1e-8)
    return ((states - DATA) ** 2).sum()


def tapegrad_gradient(loss_fn, tensors):
    loss = loss_fn(*tensors)
    loss.backward()
    grads = [t.grad.numpy() for t in tensors]
    for t in tensors:
        t.grad = None
    return float(loss), *grads


def torch_loss(torch, y0, r, a, data):
    states = torch.stack(rk4_states(y0, r, a))
    return ((states - data) ** 2).sum()


def torch_gradient(torch, tensors, data):
    loss = torch_loss(torch, *tensors, data)
    loss.backward()
    grads = [t.grad.numpy().copy() for t in tensors]
    for t in tensors:
        t.grad = None
    return float(loss), *grads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    start = (Y0, R, A)
    eager = [tg.tensor(v, requires_grad=True) for v in start]
    compiled_tensors = [tg.tensor(v, requires_grad=True) for v in start]
    adjoint_tensors = [tg.tensor(v, requires_grad=True) for v in start]
    compiled_loss = tg.compile(tapegrad_loss)
    runs = {
        "numpy by hand": lambda: numpy_by_hand(*start),
        "numpy per stage": lambda: numpy_by_hand_per_stage(*start),
        "tapegrad eager": lambda: tapegrad_gradient(tapegrad_loss, eager),
        "tapegrad compiled": lambda: tapegrad_gradient(compiled_loss, compiled_tensors),
        "tapegrad odeint": lambda: tapegrad_gradient(odeint_loss, adjoint_tensors),
    }
    torch = torch_or_none()
    if torch is not None:
        torch_tensors = [torch.tensor(v, requires_grad=True) for v in start]
        torch_data = torch.tensor(DATA)
        runs["pytorch eager"] = lambda: torch_gradient(torch, torch_tensors, torch_data)
    reference = numpy_by_hand(*start)
    for name, run in runs.items():
        result = run()
        tolerance = 1e-4 if name == "tapegrad odeint" else 1e-10  # odeint: LSODA's error, not RK4's
        for got, want in zip(result, reference):
            np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance, err_msg=name)
    odeint_error = max(float(np.max(np.abs(np.asarray(g) - w) / (np.abs(w) + 1e-12)))
                       for g, w in zip(runs["tapegrad odeint"]()[1:], reference[1:]))
    seconds, ratio = compare(runs, args.rounds, block=3, warmup=2)
    print(f"RK4 gradient: Lotka-Volterra (2 species), {STEPS} steps, float64, loss on every state; gradient in "
          f"y0 (2), r (2), A (2x2); medians over {args.rounds} rounds of 3 runs"
          f"{' (one thread)' if single_thread.PINNED else ' (default threads)'}")
    for name in runs:
        print(f"  {name:18s} {seconds[name] * 1e3:8.2f} ms   ({ratio[name]:.2f}x numpy by hand)")
    print(f"  (odeint's gradient differs from RK4's by at most {odeint_error:.1e} relative: another solver)")
    if torch is None:
        print("  pytorch eager  (not installed: pip install torch==2.13.0)")


if __name__ == "__main__":
    main()

"""tg.vmap (issue 17): per-example gradients, and Jacobians and Hessians computed in one batched pass.

1. Per-example gradients of an MLP's cross-entropy loss (batch 128, 64-256-256-10, ReLU, float32):
   ``tg.vmap(tg.grad(loss), in_axes=(None, 0, 0))`` through ``tg.func.functional_call``, against the same
   gradients written by hand in NumPy (the backward pass of the whole batch, each layer's per-example weight
   gradients one ``einsum`` of outer products), ``torch.func.vmap(torch.func.grad(...))``, and a Python loop of
   ``tg.grad`` over the examples (what tapegrad offered before vmap).
2. The Jacobian of an MLP R^100 -> R^100 (100-100-100, tanh, float64) by ``tg.jacobian`` (every row from one
   vmapped backward pass) against ``torch.func.jacrev``.
3. The Hessian of a scalar function of 100 inputs (``tanh(W x + b) . v + 0.1 |x|^2``, float64) by ``tg.hessian``
   against ``torch.func.hessian``.

Every implementation's results are checked against the NumPy ones (or tapegrad's) before timing.
Run: ``python benchmarks/vmap.py [--rounds 20]`` (one thread each), or with ``TAPEGRAD_BENCH_THREADS=default``.
``--before`` times only what tapegrad had before vmap (the loop of ``tg.grad``, ``tg.jacobian``, ``tg.hessian``),
to be run with an older checkout on ``PYTHONPATH``.
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import argparse

import numpy as np

import tapegrad as tg
import tapegrad.nn.functional as F

from common import compare, torch_or_none

BATCH, SIZES = 128, (64, 256, 256, 10)


# -- 1. per-example gradients ----------------------------------------------------------------------------

def mlp_model() -> tg.nn.Module:
    tg.manual_seed(0)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(tg.nn.Linear(fan_in, fan_out))
        if i < len(SIZES) - 2:
            layers.append(tg.nn.ReLU())
    return tg.nn.Sequential(*layers)


def numpy_per_example(weights: list[np.ndarray], biases: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> list:
    """Per-example gradients of each example's loss, by hand: one backward pass of the batch, the weight
    gradients as per-example outer products (one einsum per layer)."""
    activations, pre = [x], []
    for k, (w, b) in enumerate(zip(weights, biases)):
        z = activations[-1] @ w.T + b
        pre.append(z)
        activations.append(np.maximum(z, 0) if k < len(weights) - 1 else z)
    logits = activations[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    g = probabilities
    g[np.arange(len(y)), y] -= 1
    grads: list = [None] * (2 * len(weights))
    for k in range(len(weights) - 1, -1, -1):
        grads[2 * k], grads[2 * k + 1] = np.einsum("bi,bj->bij", g, activations[k]), g
        if k:
            g = (g @ weights[k]) * (pre[k - 1] > 0)
    return grads  # weight 0, bias 0, weight 1, ...


def explicit_loss(weights: list, biases: list, x: tg.Tensor, y: np.ndarray) -> tg.Tensor:
    """The MLP's loss for one example, written out (what a loop of tg.grad differentiates)."""
    h = x
    for k, (w, b) in enumerate(zip(weights, biases)):
        h = h @ w.T + b
        if k < len(weights) - 1:
            h = h.relu()
    return -h.log_softmax(axis=0)[int(y)]


def before(rounds: int) -> None:
    """Only what tapegrad had before vmap, on the same data: run with an older checkout on PYTHONPATH."""
    rng = np.random.default_rng(0)
    model = mlp_model()
    params = [p.detach() for _, p in model.named_parameters()]
    weights, biases = params[0::2], params[1::2]
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    grad = tg.grad(explicit_loss, argnums=(0, 1))
    mlp, scalar, point = _functions(np.random.default_rng(0))
    seconds, _ = compare({"tapegrad loop of grad": lambda: [grad(weights, biases, x[k], y[k]) for k in range(BATCH)],
                          "tapegrad jacobian": lambda: tg.jacobian(mlp)(point),
                          "tapegrad hessian": lambda: tg.hessian(scalar)(point)}, rounds=rounds, block=2)
    for name in seconds:
        print(f"  {name:26s} {seconds[name] * 1e3:9.3f} ms")


def _functions(rng: np.random.Generator):
    """The MLP R^100 -> R^100, the scalar function of 100 inputs and the point (the same for every run)."""
    n = 100
    w1, b1 = rng.standard_normal((n, n)) / np.sqrt(n), rng.standard_normal(n) * 0.1
    w2, b2 = rng.standard_normal((n, n)) / np.sqrt(n), rng.standard_normal(n) * 0.1
    v = rng.standard_normal(n)
    point = rng.standard_normal(n)

    def mlp(u):
        return (u @ w1.T + b1).tanh() @ w2.T + b2

    def scalar(u):
        return (u @ w1.T + b1).tanh() @ v + 0.1 * (u * u).sum()

    mlp.arrays = scalar.arrays = (w1, b1, w2, b2, v)
    return mlp, scalar, point


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--before", action="store_true")
    options = parser.parse_args()
    rounds = options.rounds
    if options.before:
        before(rounds)
        return
    torch = torch_or_none()
    rng = np.random.default_rng(0)

    model = mlp_model()
    params = {name: p.detach() for name, p in model.named_parameters()}
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)

    def loss(p, xi, yi):
        return F.cross_entropy(tg.func.functional_call(model, p, (xi[None],)), yi[None])

    per_example = tg.vmap(tg.grad(loss), in_axes=(None, 0, 0))
    weights = [params[f"{2 * k}.weight"].numpy() for k in range(len(SIZES) - 1)]
    biases = [params[f"{2 * k}.bias"].numpy() for k in range(len(SIZES) - 1)]
    by_hand = numpy_per_example(weights, biases, x, y)
    got = per_example(params, x, y)
    names = [f"{2 * k}.{part}" for k in range(len(SIZES) - 1) for part in ("weight", "bias")]
    for name, expected in zip(names, by_hand):
        np.testing.assert_allclose(got[name].numpy(), expected, rtol=2e-4, atol=1e-6)

    plain = [params[name] for name in [f"{2 * k}.{part}" for k in range(len(SIZES) - 1) for part in ("weight", "bias")]]
    looped = tg.grad(explicit_loss, argnums=(0, 1))

    def loop():
        return [looped(plain[0::2], plain[1::2], x[k], y[k]) for k in range(BATCH)]

    runs = {
        "numpy by hand (einsum)": lambda: numpy_per_example(weights, biases, x, y),
        "tapegrad vmap(grad)": lambda: per_example(params, x, y),
        "tapegrad loop of grad": loop,
    }
    if torch is not None:
        net = torch.nn.Sequential(*[m for k in range(len(SIZES) - 1) for m in (
            [torch.nn.Linear(SIZES[k], SIZES[k + 1])] + ([torch.nn.ReLU()] if k < len(SIZES) - 2 else []))])
        with torch.no_grad():
            for (_, q), name in zip(net.named_parameters(), names):
                q.copy_(torch.from_numpy(params[name].numpy()))
        tparams = {k: v.detach() for k, v in net.named_parameters()}
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def tloss(p, xi, yi):
            return torch.nn.functional.cross_entropy(torch.func.functional_call(net, p, (xi[None],)), yi[None])

        torch_per_example = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))
        expected = torch_per_example(tparams, tx, ty)
        for name in names:
            np.testing.assert_allclose(got[name].numpy(), expected[name].numpy(), rtol=2e-4, atol=1e-6)
        runs["pytorch func.vmap(grad)"] = lambda: torch_per_example(tparams, tx, ty)
    seconds, ratio = compare(runs, rounds=rounds, block=2)
    print(f"Per-example gradients, MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32; medians over "
          f"{rounds} rounds of 2 runs")
    for name in seconds:
        print(f"  {name:26s} {seconds[name] * 1e3:9.2f} ms   ({ratio[name]:.2f}x numpy by hand)")

    # -- 2. the Jacobian of an MLP R^100 -> R^100 -------------------------------------------------------
    mlp, scalar, point = _functions(np.random.default_rng(0))
    w1, b1, w2, b2, v = mlp.arrays
    n = len(point)
    jacobian = tg.jacobian(mlp)
    hidden = np.tanh(w1 @ point + b1)
    np.testing.assert_allclose(jacobian(point), (w2 * (1 - hidden ** 2)) @ w1, rtol=1e-12)
    runs = {"tapegrad jacobian": lambda: jacobian(point)}
    if torch is not None:
        tw1, tb1, tw2, tb2, tpoint = (torch.from_numpy(a) for a in (w1, b1, w2, b2, point))
        torch_jacobian = torch.func.jacrev(lambda v: torch.tanh(v @ tw1.T + tb1) @ tw2.T + tb2)
        np.testing.assert_allclose(torch_jacobian(tpoint).numpy(), jacobian(point), rtol=1e-10, atol=1e-15)
        runs["pytorch func.jacrev"] = lambda: torch_jacobian(tpoint)
    seconds, ratio = compare(runs, rounds=rounds)
    print(f"\nJacobian of an MLP R^{n} -> R^{n} ({n}-{n}-{n}, tanh, float64); medians over {rounds} rounds of 5 runs")
    for name in seconds:
        print(f"  {name:26s} {seconds[name] * 1e3:9.3f} ms   ({ratio[name]:.2f}x tapegrad)")

    # -- 3. the Hessian of a scalar function of 100 inputs ----------------------------------------------
    hessian = tg.hessian(scalar)
    t = np.tanh(w1 @ point + b1)
    np.testing.assert_allclose(hessian(point), (w1.T * (v * -2 * t * (1 - t ** 2))) @ w1 + 0.2 * np.eye(n),
                               rtol=1e-10, atol=1e-12)
    runs = {"tapegrad hessian": lambda: hessian(point)}
    if torch is not None:
        tv = torch.from_numpy(v)
        torch_hessian = torch.func.hessian(lambda u: torch.tanh(u @ tw1.T + tb1) @ tv + 0.1 * (u * u).sum())
        np.testing.assert_allclose(torch_hessian(tpoint).numpy(), hessian(point), rtol=1e-10, atol=1e-12)
        runs["pytorch func.hessian"] = lambda: torch_hessian(tpoint)
    seconds, ratio = compare(runs, rounds=rounds)
    print(f"\nHessian of tanh(W x + b) . v + 0.1 |x|^2, x in R^{n} (float64); medians over {rounds} rounds of 5 runs")
    for name in seconds:
        print(f"  {name:26s} {seconds[name] * 1e3:9.3f} ms   ({ratio[name]:.2f}x tapegrad)")


if __name__ == "__main__":
    main()

"""PyTorch as an oracle: the same functions, values and gradients, on random inputs.

PyTorch is a test-only dependency (``pip install -e ".[test]"`` installs the CPU wheel).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tapegrad as tg

rng = np.random.default_rng(1234)

# name: (tapegrad function, torch function, input shapes, domain)
CASES = {
    "broadcast arithmetic": (lambda a, b: (a * b + a / (b * b + 1) - b) ** 2,
                             lambda a, b: (a * b + a / (b * b + 1) - b) ** 2, [(3, 1, 4), (2, 4)], "any"),
    "pow tensor**tensor": (lambda a, b: a ** b, lambda a, b: a ** b, [(3, 4), (4,)], "positive"),
    "unary chain": (lambda a: a.exp().log1p().sqrt().sin().cos().tanh(),
                    lambda a: a.exp().log1p().sqrt().sin().cos().tanh(), [(5, 3)], "any"),
    "activations": (lambda a: a.sigmoid() + a.relu() + a.leaky_relu(0.1) + a.elu(0.7) + a.softplus(),
                    lambda a: (torch.sigmoid(a) + torch.relu(a) + torch.nn.functional.leaky_relu(a, 0.1)
                               + torch.nn.functional.elu(a, 0.7) + torch.nn.functional.softplus(a)),
                    [(4, 6)], "any"),
    "reductions": (lambda a: a.sum(axis=1) + a.mean(axis=1) + a.var(axis=1, ddof=1) + a.prod(axis=1)
                   + a.max(axis=1) + a.min(axis=1) + a.logsumexp(axis=1),
                   lambda a: a.sum(1) + a.mean(1) + a.var(1) + a.prod(1) + a.amax(1) + a.amin(1)
                   + a.logsumexp(1), [(3, 5)], "any"),
    "softmax family": (lambda a: a.softmax(axis=0) * a.log_softmax(axis=-1),
                       lambda a: torch.softmax(a, 0) * torch.log_softmax(a, -1), [(4, 3)], "any"),
    "batched matmul": (lambda a, b: a @ b, lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 5)], "any"),
    "vector matmul": (lambda a, b: (a @ b) @ a, lambda a, b: (a @ b) @ a, [(4,), (4, 4)], "any"),
    "indexing": (lambda a: a[1:, ::2] * a[[0, 0, 2], 1:3].sum() + a[a > 0].sum(),
                 lambda a: a[1:, ::2] * a[[0, 0, 2], 1:3].sum() + a[a > 0].sum(), [(3, 4)], "any"),
    "shapes": (lambda a: tg.concatenate([a.T, a.flip(0).T], axis=1).reshape(-1, 2).pad(((1, 0), (0, 2))),
               lambda a: torch.nn.functional.pad(torch.cat([a.T, a.flip(0).T], 1).reshape(-1, 2), (0, 2, 1, 0)),
               [(3, 4)], "any"),
    "where clip maximum": (lambda a, b: tg.where(a > b, a, b * 2).clip(-0.5, 0.8) + a.maximum(b),
                           lambda a, b: torch.where(a > b, a, b * 2).clamp(-0.5, 0.8) + torch.maximum(a, b),
                           [(3, 4), (4,)], "any"),
    "einsum": (lambda a, b: tg.einsum("ij,jk->ik", a, b), lambda a, b: torch.einsum("ij,jk->ik", a, b),
               [(3, 4), (4, 2)], "any"),
}


def _inputs(shapes, domain):
    low = 0.3 if domain == "positive" else -1.5
    return [rng.uniform(low, 1.5, size=s) for s in shapes]


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("order", [1, 2])
def test_values_and_gradients_match_pytorch(name, order):
    ours, theirs, shapes, domain = CASES[name]
    arrays = _inputs(shapes, domain)
    seed = rng.standard_normal(np.shape(theirs(*[torch.tensor(a) for a in arrays]).detach().numpy()))
    xs = [tg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = ours(*xs), theirs(*ts)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    grads = tg.autograd.grad(out, xs, grad_outputs=seed, create_graph=order == 2)
    refs = torch.autograd.grad(ref, ts, grad_outputs=torch.tensor(seed), create_graph=order == 2)
    for g, r in zip(grads, refs):
        np.testing.assert_allclose(g.numpy(), r.detach().numpy(), rtol=1e-9, atol=1e-12)
    if order == 2:
        total = sum((g * g).sum() for g in grads)
        ref_total = sum((r * r).sum() for r in refs)
        ref_second = (torch.autograd.grad(ref_total, ts, allow_unused=True) if ref_total.requires_grad
                      else [None] * len(ts))
        assert total.requires_grad == ref_total.requires_grad
        # A piecewise-linear function has gradients that do not depend on its inputs at all.
        second = tg.autograd.grad(total, xs, allow_unused=True) if total.requires_grad else [None] * len(xs)
        for x, g, r in zip(xs, second, ref_second):
            ours_second = np.zeros(x.shape) if g is None else g.numpy()
            expected = np.zeros(x.shape) if r is None else r.numpy()
            np.testing.assert_allclose(ours_second, expected, rtol=1e-8, atol=1e-10)

"""tg.compile's generated code for a long unrolled loop (issue 15's RK4 benchmark): one global name per
distinct function, rule and constant, identity rules passed on without a call, and the gradients of eager
mode; concatenate's gradient in one pass for a stack of many tensors."""

from __future__ import annotations

import re

import numpy as np

import tapegrad as tg


def _loop(y, a, b):
    states = [y]
    for _ in range(200):
        y = y + 0.01 * (a @ y) * b + 0.5  # the same ufuncs, rules and constants at every step
        states.append(y)
    return (tg.stack(states) ** 2).sum()


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return [tg.tensor(v, requires_grad=True) for v in (rng.normal(size=2), rng.normal(size=(2, 2)) * 0.1,
                                                       rng.normal(size=2))]


def test_long_trace_names_each_function_and_constant_once_and_matches_eager():
    compiled = tg.compile(_loop)
    for seed in (0, 1):  # traced, then run from the plan
        eager, ours = _inputs(seed), _inputs(seed)
        expected = _loop(*eager)
        expected.backward()
        out = compiled(*ours)
        out.backward()
        np.testing.assert_allclose(float(out), float(expected), rtol=1e-12)
        for a, b in zip(ours, eager):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)
    (plan,) = compiled.plans.values()
    names = set(re.findall(r"\b[fcrds]\d+(?:_\d+)?\b", plan.source))
    assert plan.source.count("\n") > 2000  # 200 steps of 6 operations, forward and backward
    assert len(names) < 40, sorted(names)  # a few ufuncs, rules, constants and shapes, not thousands
    assert len([n for n in plan.forward.__globals__ if re.fullmatch(r"[fcrds]\d+(?:_\d+)?", n)]) == len(names)
    # add's rules return the gradient itself: passed on by assignment, not called
    assert re.search(r"^    g\d+ = g\d+$", plan.source, flags=re.M)


def test_stack_of_many_tensors_backward_gives_each_its_slice():
    parts = [tg.tensor(np.array([float(i), -float(i)]), requires_grad=True) for i in range(3000)]
    weights = np.arange(6000.0).reshape(3000, 2)
    (tg.stack(parts) * weights).sum().backward()
    for i in (0, 1, 1500, 2999):
        np.testing.assert_array_equal(parts[i].grad.numpy(), weights[i])

"""gradcheck and gradgradcheck: they pass correct gradients and catch wrong ones, saying where."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.ops.registry import Primitive
from tapegrad.tensor import apply

# A deliberately wrong rule: d sin(x)/dx claimed to be sin(x) instead of cos(x).
WRONG_SIN = Primitive("wrong_sin", np.sin, vjps=(lambda xp, g, ans, x: g * xp.sin(x),),
                      jvps=(lambda xp, t, ans, x: t * xp.sin(x),))
# Right first derivative, wrong second: cos(x) written through a constant, so the graph of the
# backward pass loses the dependence on x.
FROZEN_COS = Primitive("frozen_cos", np.sin, vjps=(lambda xp, g, ans, x: g * np.cos(getattr(x, "data", x)),),
                       jvps=(lambda xp, t, ans, x: t * np.cos(getattr(x, "data", x)),))


def test_gradcheck_passes_correct_gradients():
    rng = np.random.default_rng(0)
    assert tg.gradcheck(lambda a, b: (a @ b).tanh().sum(axis=0), [rng.random((3, 4)), rng.random((4, 2))])
    assert tg.gradgradcheck(lambda a, b: (a @ b).tanh().sum(axis=0), [rng.random((3, 4)), rng.random((4, 2))])


def test_gradcheck_names_the_input_entry_and_both_values_of_the_worst_mismatch():
    x = np.array([[0.1, 0.5], [1.0, 1.5]])
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(lambda t: apply(WRONG_SIN, t), [x])
    message = str(info.value)
    # the worst entry is x[1, 1] = 1.5, where sin and cos differ most
    assert "input 0" in message and "entry (1, 1)" in message and "output entry 3" in message
    assert f"analytical {float(np.sin(1.5))!r}" in message
    assert f"numerical {np.cos(1.5):.8f}"[:-3] in message  # central differences: cos(1.5) to ~1e-9
    assert tg.gradcheck(lambda t: apply(WRONG_SIN, t), [x], raise_exception=False) is False


def test_gradgradcheck_catches_a_wrong_second_derivative():
    x = np.array([0.3, 0.7])
    assert tg.gradcheck(lambda t: apply(FROZEN_COS, t), [x])
    with pytest.raises(tg.GradcheckError):
        tg.gradgradcheck(lambda t: apply(FROZEN_COS, t), [x])


def test_gradcheck_checks_only_inputs_that_require_grad_and_accepts_several_outputs():
    w = tg.tensor(np.array([0.5, -0.2]), requires_grad=True)
    fixed = tg.tensor(np.array([1.0, 2.0]))
    assert tg.gradcheck(lambda a, b: (a * b, (a ** 2).sum()), [w, fixed])


def test_backward_of_a_leaf_and_float16():
    x = tg.tensor(3.0, dtype=np.float64, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0
    h = tg.tensor(np.array([1.0, 2.0], np.float16), requires_grad=True)
    (h * h).sum().backward()
    assert h.grad.dtype == np.float16 and h.grad.tolist() == [2.0, 4.0]

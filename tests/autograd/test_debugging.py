"""Gradient checkpointing and anomaly detection."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.engine.modes


def test_checkpoint_gives_identical_gradients_with_dropout_and_parameters():
    tg.manual_seed(0)
    block = tg.nn.Sequential(tg.nn.Linear(6, 8), tg.nn.ReLU(), tg.nn.Dropout(0.4), tg.nn.Linear(8, 3))
    x = tg.tensor(np.random.default_rng(0).standard_normal((5, 6)), requires_grad=True)
    tg.manual_seed(7)
    (block(x) ** 2).sum().backward()
    expected = [p.grad.numpy().copy() for p in block.parameters()] + [x.grad.numpy().copy()]
    block.zero_grad()
    x.grad = None
    tg.manual_seed(7)
    out = tg.checkpoint(block, x)
    assert out.grad_fn is not None
    (out ** 2).sum().backward()
    for a, b in zip(expected, [p.grad.numpy() for p in block.parameters()] + [x.grad.numpy()]):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_keeps_no_intermediate_values():
    import weakref

    seen = []

    def fn(t):
        h = t.exp()
        seen.append(weakref.ref(h.data))
        return h.sum()

    x = tg.tensor(np.ones(1000), requires_grad=True)
    out = tg.checkpoint(fn, x)
    assert seen[0]() is None  # freed right after the forward pass
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.e)
    with pytest.raises(tg.BackwardError, match="create_graph"):
        y = tg.tensor(2.0, dtype=np.float64, requires_grad=True)
        (g,) = tg.autograd.grad(tg.checkpoint(lambda t: t ** 3, y), y, create_graph=True)


def test_anomaly_names_the_operation_and_the_line_that_made_it():
    x = tg.tensor(np.array([1.0, 0.0]), requires_grad=True)
    with tg.detect_anomaly(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(tg.AnomalyError, match=r"'log' produced inf at .*test_debugging.py:\d+"):
            x.log()
        x2 = tg.tensor(np.array([-1.0, 4.0]), requires_grad=True)
        with pytest.raises(tg.AnomalyError, match=r"'sqrt' produced NaN .*where\(\) or a mask"):
            tg.where(x2 > 0, x2.sqrt(), 0.0)


def test_anomaly_recognises_the_where_trap_in_backward():
    x = tg.tensor(np.array([0.0, 4.0]), requires_grad=True)
    with tg.detect_anomaly(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = tg.where(x > 0, x.sqrt(), 0.0)
        with pytest.raises(tg.AnomalyError) as info:
            y.sum().backward()
    message = str(info.value)
    assert "backward of 'sqrt' (created at" in message and "test_debugging.py" in message
    assert "where()/mask trap" in message and "sqrt(where(x > 0, x, 1))" in message
    safe = tg.tensor(np.array([0.0, 4.0]), requires_grad=True)
    with tg.detect_anomaly():
        tg.where(safe > 0, tg.where(safe > 0, safe, 1.0).sqrt(), 0.0).sum().backward()
    assert safe.grad.tolist() == [0.0, 0.25]
    assert not tapegrad.engine.modes.state.anomaly

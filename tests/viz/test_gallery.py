"""The gallery: each of the lectures' worked examples, explained with the slides' numbers.

tests/test_lectures.py checks the engine's gradients on these examples; here the explanation is checked:
its names, its numbered steps and the values each step shows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.cli import main
from tapegrad.viz import gallery


def _steps(name):
    computation = gallery.entry(name).build()
    walk = tg.viz.walkthrough(computation.output)
    forward = {step.name: step.value for step in walk.forward}
    backward = {flow.name: flow.downstream for step in walk.backward for flow in step.flows if flow.total is None
                and flow.uses == 1}
    backward.update({flow.name: flow.total for step in walk.backward for flow in step.flows if flow.total is not None})
    return computation, walk, forward, backward


def test_every_entry_has_a_name_a_description_a_lecture_and_explains():
    names = [entry.name for entry in gallery.ENTRIES]
    assert names == ["square", "logistic", "logistic-sigmoid", "circuit", "neuron", "neuron-sigmoid", "gates",
                     "accumulation", "routing", "two-layer"]
    for entry in gallery.ENTRIES:
        assert entry.description and "\n" not in entry.description
        assert entry.lecture[:3] in {"000", "001", "004"}
        assert entry.explain().startswith("forward\n(1) ")


def test_square_is_numbered_and_named_as_the_czech_slide():
    _, walk, forward, backward = _steps("square")
    assert walk.text().splitlines() == [
        "forward", "(1) x2' := 3 * x2 = 6", "(2) y := x1 + x2' = 7", "(3) z := y**2 = 49", "backward",
        "(4) dz/dz := 1", "(3) dz/dy := dz/dz * 2y = 14",
        "(2) dz/dx1 := dz/dy * 1 = 14 and dz/dx2' := dz/dy * 1 = 14; add distributes: x1 and x2' each receive dz/dy",
        "(1) dz/dx2 := dz/dx2' * 3 = 42"]
    assert (backward["x1"].item(), backward["x2"].item()) == (14.0, 42.0)  # foo_with_backprop(1., 2.)


def test_logistic_regression_has_the_czech_slides_numbers():
    # x = [1, -2, 3], w = [0.5, 0.3, 1], b = -1.5: q = 0.802, v-bar = -1/1.25^2 = -0.64, i-bar = -0.16,
    # s-bar = 0.16, dx = [0.0793, 0.0476, 0.1587], dw = [0.1587, -0.317, 0.476], db = 0.1587
    computation, walk, forward, backward = _steps("logistic")
    assert [step.name for step in walk.forward] == ["x_", "l", "s", "i", "g", "v", "q"]  # the slide's code
    assert forward["q"].item() == pytest.approx(0.802, abs=5e-4)
    assert forward["v"].item() == pytest.approx(1.25, abs=5e-3)
    assert backward["v"].item() == pytest.approx(-0.64, abs=5e-3)
    assert backward["i"].item() == pytest.approx(-0.16, abs=5e-3)
    assert backward["s"].item() == pytest.approx(0.16, abs=5e-3)
    np.testing.assert_allclose(backward["x"], [0.0793, 0.0476, 0.1587], atol=5e-5)
    np.testing.assert_allclose(backward["w"], [0.1587, -0.317, 0.476], atol=5e-4)
    # the slide prints db = 0.15869881881212394: its code writes 2.718 for e; with e it is 0.158685
    assert backward["b"].item() == pytest.approx(0.1587, abs=5e-5)
    assert backward["b"].item() == pytest.approx(forward["q"].item() * (1 - forward["q"].item()), rel=1e-14)
    text = walk.text()
    assert "(7) dq/dv := dq/dq * (-1/v**2) = -0.643499" in text  # dv = dq * -1. / v ** 2
    assert "(4) dq/ds := dq/di * (-1) = 0.158685" in text  # ds = -di
    assert "(1) dq/dx := dq/dx_ * w = [0.0793424, 0.0476055, 0.158685]" in text


def test_logistic_regression_with_a_sigmoid_gate():
    # s-bar = q-bar * dq/ds = 1 * 0.80 * (1 - 0.80) = 0.16
    _, walk, forward, backward = _steps("logistic-sigmoid")
    assert [step.name for step in walk.forward] == ["x_", "l", "s", "q"]
    assert walk.forward[-1].text == "(4) q := σ(s) = 0.802184"
    assert walk.backward[1].text == "(4) dq/ds := dq/dq * σ(s)(1 - σ(s)) = 0.158685"
    q = forward["q"].item()
    assert backward["s"].item() == pytest.approx(q * (1 - q), rel=1e-14)
    assert round(backward["s"].item(), 2) == 0.16


def test_the_circuit_of_the_russian_lecture():
    # x = -2, y = 5, z = -4: q = 3, f = -12, df/dx = -4, df/dy = -4, df/dz = 3
    _, walk, forward, backward = _steps("circuit")
    assert (forward["q"].item(), forward["f"].item()) == (3.0, -12.0)
    assert {name: backward[name].item() for name in "xyzq"} == {"x": -4.0, "y": -4.0, "z": 3.0, "q": -4.0}
    assert walk.backward[1].note == "mul swaps the inputs: q's local gradient is z, z's is q"
    assert walk.backward[2].note == "add distributes: x and y each receive df/dq"


def test_the_sigmoid_neuron_gate_by_gate():
    # w0 = 2, x0 = -1, w1 = -3, x1 = -2, w2 = -3; the slide's values 1.00, 0.37, 1.37, 0.73 forward,
    # -0.53, -0.53, -0.20, 0.20 back, then w0: [0.2] x [-1] = -0.2 and x0: [0.2] x [2] = 0.4
    _, walk, forward, backward = _steps("neuron")
    values = [round(step.value.item(), 2) for step in walk.forward]
    assert values == [-2.0, 6.0, 4.0, 1.0, -1.0, 0.37, 1.37, 0.73]
    grads = [round(step.value.item(), 2) for step in walk.backward]  # each step's upstream gradient
    assert grads == [1.0, 1.0, -0.53, -0.53, -0.2, 0.2, 0.2, 0.2, 0.2]
    rounded = {name: round(backward[name].item(), 1) for name in ("w0", "x0", "w1", "x1", "w2")}
    assert rounded == {"w0": -0.2, "x0": 0.4, "w1": -0.4, "x1": -0.6, "w2": 0.2}
    assert "(1) df/dw0 := df/ds0 * x0 = -0.196612 and df/dx0 := df/ds0 * w0 = 0.393224" in walk.text()


def test_the_sigmoid_neuron_with_one_sigmoid_gate():
    # [1.00] x [(1 - 1/(1+e^1)) (1/(1+e^1))] = 0.2; the slide's code: grad_s3 = grad_L * (1 - L) * L
    _, walk, forward, backward = _steps("neuron-sigmoid")
    assert [step.name for step in walk.forward] == ["s0", "s1", "s2", "s3", "L"]
    sigma = 1 / (1 + math.e ** -1)
    assert backward["s3"].item() == pytest.approx((1 - sigma) * sigma, rel=1e-14)
    assert walk.backward[1].text == "(5) dL/ds3 := dL/dL * σ(s3)(1 - σ(s3)) = 0.196612"
    assert round(backward["w0"].item(), 1) == -0.2 and round(backward["x0"].item(), 1) == 0.4


def test_the_gate_patterns():
    # cs231n's patterns in backward flow: x = 3, y = -4, z = 2, w = -1, f = 2 (x y + max(z, w)) = -20;
    # add distributes 2 to both, max routes 2 to z and 0 to w, mul swaps: x gets 2 * -4, y gets 2 * 3
    _, walk, forward, backward = _steps("gates")
    assert forward["f"].item() == -20.0
    assert {name: backward[name].item() for name in "xyzw"} == {"x": -8.0, "y": 6.0, "z": 2.0, "w": 0.0}
    notes = [step.note for step in walk.backward if step.note]
    assert notes == ["add distributes: q and r each receive df/ds",
                     "max routes the gradient to z, the larger input (z = 2 > w = -1); w receives 0",
                     "mul swaps the inputs: x's local gradient is y, y's is x"]


def test_accumulation_and_zero_grad():
    # L(a, b) = (a * b) + (a + b): dL/da = b + 1, dL/db = a + 1; backward adds to .grad until zero_grad
    computation, walk, forward, backward = _steps("accumulation")
    a, b = computation.leaves["a"], computation.leaves["b"]
    assert forward["L"].item() == 11.0
    assert (backward["a"].item(), backward["b"].item()) == (4.0, 3.0)
    assert "copy adds: a is used 2 times, so its gradients add up: dL/da := 1 + 3 = 4" in walk.text()
    assert computation.notes == (
        "after L.backward(): a.grad = 4, b.grad = 3",
        "after a second L.backward() without zero_grad: a.grad = 8, b.grad = 6 (backward adds to .grad: the "
        "gradients accumulate)",
        "after optimizer.zero_grad() and L.backward(): a.grad = 4, b.grad = 3")
    assert (a.grad.item(), b.grad.item()) == (4.0, 3.0)


def test_max_routes_to_the_larger_input():
    # L(a, b) = max(a * b, a + b) at a = 2, b = 3: a * b = 6 wins, so dL/da = b = 3 and dL/db = a = 2
    _, walk, forward, backward = _steps("routing")
    assert forward["L"].item() == 6.0
    assert (backward["a"].item(), backward["b"].item()) == (3.0, 2.0)
    assert walk.backward[1].note == "max routes the gradient to q, the larger input (q = 6 > r = 5); r receives 0"


def test_the_two_layer_net_has_the_slides_shapes():
    # N, D_in, H, D_out = 64, 1000, 100, 10: h is N x H, y_pred N x D_out; grad_w2 = h.T.dot(grad_y_pred),
    # grad_h = grad_y_pred.dot(w2.T), grad_w1 = x.T.dot(grad_h * h * (1 - h))
    computation, walk, forward, backward = _steps("two-layer")
    assert forward["h"].shape == (64, 100) and forward["y_pred"].shape == (64, 10) and forward["loss"].shape == ()
    assert backward["w1"].shape == (1000, 100) and backward["w2"].shape == (100, 10)
    assert backward["h"].shape == (64, 100) and backward["y_pred"].shape == (64, 10)
    text = walk.text()
    assert "(6) y_pred := h @ w2 = [shape (64, 10), mean" in text
    assert "dloss/dh := dloss/dy_pred · w2^T = [shape (64, 100)" in text
    assert "dloss/dw2 := h^T · dloss/dy_pred = [shape (100, 10)" in text
    assert "dloss/dw1 := x^T · dloss/dq = [shape (1000, 100)" in text
    leaves = computation.leaves
    h = forward["h"]
    grad_y_pred = 2.0 * (forward["y_pred"] - leaves["y"].numpy())
    np.testing.assert_allclose(backward["w2"], h.T.dot(grad_y_pred), rtol=1e-10)
    grad_h = grad_y_pred.dot(leaves["w2"].numpy().T)
    np.testing.assert_allclose(backward["w1"], leaves["x"].numpy().T.dot(grad_h * h * (1 - h)), rtol=1e-8, atol=1e-8)


def test_the_command_line_lists_and_explains_the_examples(capsys):
    assert main(["explain", "--list-examples"]) == 0
    listing = capsys.readouterr().out
    assert all(entry.name in listing and entry.description in listing for entry in gallery.ENTRIES)
    assert main(["explain", "--example", "circuit"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("circuit: f = (x + y) z") and out[1].startswith("lecture 001 (Russian)")
    assert out[2:] == gallery.entry("circuit").explain().splitlines()
    assert main(["explain", "--example", "accumulation"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "after optimizer.zero_grad() and L.backward(): a.grad = 4, b.grad = 3"


@pytest.mark.parametrize("argv,message", [
    (["explain", "--example", "nope"], "no example 'nope'; the examples are square, logistic"),
    (["explain", "--example", "circuit", "x + 1"], "takes no expression and no --at"),
    (["explain", "--example", "circuit", "--at", "x=1"], "takes no expression and no --at"),
    (["explain", "--list-examples", "--example", "circuit"], "--list-examples takes no expression"),
    (["explain"], "give an expression"),
])
def test_the_command_line_rejects_mixed_requests(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1

"""tg.explain and `tapegrad explain`: the lectures' notation, with the lectures' numbers."""

from __future__ import annotations

import time

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.cli import main
from tapegrad.viz.expression import ExpressionError, build, variables

# The Czech lecture's (x1 + 3*x2)^2, as the slide names and numbers it: x2' := 3 x2, y := x1 + x2', z := y^2.
LECTURE = """forward
(1) x2' := 3 * x2 = 6
(2) y := x1 + x2' = 7
(3) z := y**2 = 49
backward
(4) dz/dz := 1
(3) dz/dy := dz/dz * 2y = 14
(2) dz/dx1 := dz/dy * 1 = 14 and dz/dx2' := dz/dy * 1 = 14; add distributes: x1 and x2' each receive dz/dy
(1) dz/dx2 := dz/dx2' * 3 = 42"""

# The same, unnamed: the output is f, the intermediates q, r.
UNNAMED = """forward
(1) q := 3 * x2 = 6
(2) r := x1 + q = 7
(3) f := r**2 = 49
backward
(4) df/df := 1
(3) df/dr := df/df * 2r = 14
(2) df/dx1 := df/dr * 1 = 14 and df/dq := df/dr * 1 = 14; add distributes: x1 and q each receive df/dr
(1) df/dx2 := df/dq * 3 = 42"""

# The Russian lecture's f = (x + y) z at x = -2, y = 5, z = -4.
CIRCUIT = """forward
(1) q := x + y = 3
(2) f := q * z = -12
backward
(3) df/df := 1
(2) df/dq := df/df * z = -4 and df/dz := df/df * q = 3; mul swaps the inputs: q's local gradient is z, z's is q
(1) df/dx := df/dq * 1 = -4 and df/dy := df/dq * 1 = -4; add distributes: x and y each receive df/dq"""


def _scalar(value, name):
    return tg.tensor(value, dtype=np.float64, requires_grad=True, name=name)


def _lecture():
    x1, x2 = _scalar(1.0, "x1"), _scalar(2.0, "x2")
    return (x1 + 3 * x2) ** 2, x1, x2


def test_the_lectures_example_before_and_after_backward_with_the_lectures_names():
    x1, x2 = _scalar(1.0, "x1"), _scalar(2.0, "x2")
    scaled = 3 * x2
    scaled.name = "x2'"
    y = x1 + scaled
    y.name = "y"
    z = y ** 2
    z.name = "z"
    assert tg.explain(z) == LECTURE.split("\nbackward")[0]
    z.backward()
    assert tg.explain(z) == LECTURE
    assert repr(tg.explain(z)) == LECTURE  # shown unquoted at a prompt
    assert (x1.grad.item(), x2.grad.item()) == (14.0, 42.0)  # the user's tensors are untouched


def test_unnamed_the_output_is_f_and_the_intermediates_q_r():
    z, x1, x2 = _lecture()
    z.backward()
    assert tg.explain(z) == UNNAMED
    assert (x1.grad.item(), x2.grad.item()) == (14.0, 42.0)


def test_names_never_collide():
    x, y, z = _scalar(-2.0, "x"), _scalar(5.0, "y"), _scalar(-4.0, "z")
    f = (x + y) * z
    f.backward()
    assert tg.explain(f) == CIRCUIT  # the output is not called z like the input z
    b = _scalar(-1.5, "b")
    both = b.relu() + b.abs()  # two steps on one input: two names, not b' twice
    both.backward()
    assert tg.explain(both).splitlines()[1:4] == ["(1) q := relu(b) = 0", "(2) r := abs(b) = 1.5",
                                                  "(3) f := q + r = 1.5"]
    q, s = _scalar(1.0, "q"), _scalar(2.0, None)  # a leaf called q, and a leaf with no name
    g = (q * s).exp()
    g.backward()
    assert tg.explain(g).splitlines()[1:3] == ["(1) r := q * x = 2", "(2) f := exp(r) = 7.38906"]
    w1 = tg.tensor(np.ones((2, 2)), requires_grad=True, name="W1")
    h = (tg.tensor(np.ones((1, 2))) @ w1).sum()
    h.backward()
    assert "(1) q := const(1, 2) @ W1 = [[2, 2]]" in tg.explain(h)  # not W1' as before


def test_the_users_names_are_honoured_everywhere():
    x, y, z = _scalar(-2.0, "x"), _scalar(5.0, "y"), _scalar(-4.0, "z")
    s = x + y
    s.name = "s"
    out = s * z
    out.name = "out"
    out.backward()
    text = tg.explain(out)
    assert "(1) s := x + y = 3" in text and "(2) out := s * z = -12" in text and "(3) dout/dout := 1" in text
    step = tg.viz.walkthrough(out)
    assert [st.name for st in step.forward] == ["s", "out"] and step.output == "out"
    twice = _scalar(1.0, "h") * 2
    twice.name = "h"  # the same name as its input: the output keeps it, the leaf gets a number
    twice.backward()
    assert tg.explain(twice).splitlines()[1] == "(1) h := h2 * 2 = 2"


def test_several_uses_are_added_and_small_tensors_show_their_values():
    x, y = _scalar(2.0, "x"), _scalar(3.0, "y")
    f = x * y + x.sin()
    f.backward()
    text = tg.explain(f)
    assert "(1) q := x * y = 6" in text
    assert "copy adds: x is used 2 times, so its gradients add up: df/dx := -0.416147 + 3 = 2.58385" in text
    w = tg.tensor(np.ones((2, 3)), requires_grad=True, name="W")
    v = (w.exp() * 2).sum()
    v.backward()
    text = tg.explain(v)
    assert "(1) q := exp(W) = [[2.71828, 2.71828, 2.71828], [2.71828, 2.71828, 2.71828]]" in text
    assert "df/dW := df/dq * exp(W) = [[5.43656, 5.43656, 5.43656], [5.43656, 5.43656, 5.43656]]" in text
    big = tg.tensor(np.ones((5, 4)), requires_grad=True, name="B")  # 20 entries: a summary
    assert "(1) f := sum(B) = 20" in tg.explain(big.sum())
    assert "q := exp(B) = [shape (5, 4), mean 2.718]" in tg.explain(big.exp().sum())
    cube = tg.tensor(np.ones((2, 2, 2)), requires_grad=True, name="C")  # 3 dimensions: a summary
    assert "q := exp(C) = [shape (2, 2, 2), mean 2.718]" in tg.explain(cube.exp().sum())
    assert tg.explain(w) == "W is a leaf: [[1, 1, 1], [1, 1, 1]] (nothing was computed)"


def test_local_derivatives_are_bracketed_and_in_the_lectures_notation():
    x = _scalar(0.5, "x")
    f = x.tanh()
    f.backward()
    assert tg.explain(f).splitlines()[-1] == "(1) df/dx := df/df * (1 - tanh(x)**2) = 0.786448"
    g = x.cos() * 1.0
    g.backward()
    assert "df/dx := df/dq * (-sin(x)) = -0.479426" in tg.explain(g)
    s = x.sigmoid()
    s.backward()
    lines = tg.explain(s).splitlines()
    assert lines[1] == "(1) f := σ(x) = 0.622459"
    assert lines[-1] == "(1) df/dx := df/df * σ(x)(1 - σ(x)) = 0.235004"
    n = -x / 4.0
    n.backward()
    assert "df/dx := df/dq * (-1) = -0.25" in tg.explain(n)
    a, b = _scalar(1.0, "a"), _scalar(4.0, "b")
    ratio = a / b
    ratio.backward()
    assert tg.explain(ratio).splitlines()[-1] == ("(1) df/da := df/df * 1/b = 0.25 and "
                                                  "df/db := df/df * (-a/b**2) = -0.0625")
    x1 = _scalar(3.0, "x1")
    sq = x1 ** 2
    sq.backward()
    assert tg.explain(sq).splitlines()[-1] == "(1) df/dx1 := df/df * 2*x1 = 6"  # not 2x1


def test_matrix_products_read_as_the_lectures_write_them():
    # 001: f = ||W x||^2, q = W x, grad_W f = 2q x^T, grad_x f = 2 W^T q
    W = tg.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True, name="W")
    x = tg.tensor(np.array([1.0, -1.0]), requires_grad=True, name="x")
    q = W @ x
    q.name = "q"
    f = (q ** 2).sum()
    f.backward()
    lines = tg.explain(f).splitlines()
    assert lines[1] == "(1) q := W @ x = [-1, -1]"
    assert lines[-1] == "(1) df/dW := df/dq · x^T = [[-2, 2], [-2, 2]] and df/dx := W^T · df/dq = [-8, -12]"
    np.testing.assert_array_equal(W.grad.numpy(), 2 * np.outer([-1.0, -1.0], [1.0, -1.0]))
    flows = tg.viz.walkthrough(f).backward[-1].flows
    assert [(fl.name, fl.local, fl.side, fl.formula) for fl in flows] == [
        ("W", "x^T", "right", "df/dq · x^T"), ("x", "W^T", "left", "W^T · df/dq")]


def test_each_step_says_its_gate_pattern():
    x, y = _scalar(3.0, "x"), _scalar(-1.0, "y")
    m = x.maximum(y)
    m.backward()
    last = tg.viz.walkthrough(m).backward[-1]
    assert last.text == ("(1) df/dx := df/df * [x > y] = 1 and df/dy := df/df * [y > x] = 0; max routes the gradient "
                         "to x, the larger input (x = 3 > y = -1); y receives 0")
    assert last.note.startswith("max routes the gradient to x")
    low = y.minimum(x)
    low.backward()
    assert "min routes the gradient to y, the smaller input (y = -1 < x = 3); x receives 0" in tg.explain(low)
    r = (y * 2).relu()
    r.backward()
    assert "relu stops the gradient, as q = -2 <= 0" in tg.explain(r)
    v = tg.tensor(np.array([1.0, 5.0, 2.0]), requires_grad=True, name="v")
    top = v.max()
    top.backward()
    assert tg.explain(top).splitlines()[-1] == ("(1) df/dv := df/df * [v = max(v)] = [0, 1, 0]; max routes the "
                                                "gradient to the largest entry of v (a tie shares it)")


def test_the_command_line_explains_an_expression(capsys):
    assert main(["explain", "(x1 + 3*x2)**2", "--at", "x1=1", "x2=2"]) == 0
    assert capsys.readouterr().out.strip() == UNNAMED


def test_the_command_line_takes_the_slides_lines(capsys):
    assert main(["explain", "x2' := 3*x2; y := x1 + x2'\nz := y**2", "--at", "x1=1", "x2=2"]) == 0
    assert capsys.readouterr().out.strip() == LECTURE
    assert main(["explain", "q = x + y; f = q * z", "--at", "x=-2", "y=5", "z=-4"]) == 0
    assert capsys.readouterr().out.strip() == CIRCUIT
    assert main(["explain", "f = (x + y) * z", "--at", "x=-2", "y=5", "z=-4"]) == 0
    assert capsys.readouterr().out.strip() == CIRCUIT


@pytest.mark.parametrize("program,at,message", [
    ("q = x + y; q = q * z", ["x=1", "y=2", "z=3"], "q is assigned twice; give each step its own name"),
    ("x = y * 2; f = x + 1", ["x=1", "y=2"], "x is given with --at and also assigned"),
    ("y = x + 1; f = x * 2", ["x=1"], "y is assigned but never used; the last line is the output"),
    ("x = x + 1", ["x=1"], "x is read before it is assigned"),
    ("", [], "the expression is empty: nothing to explain"),
    ("   \n  ", [], "the expression is empty: nothing to explain"),
    ("import os", [], "'import os' is not allowed: write NAME = EXPRESSION"),
    ("q = x + 1; q; f = q * 2", ["x=1"], "'q' is not assigned to a name: only the last line may be a bare expression"),
    ("a = b = x * 2", ["x=1"], "'a = b = x * 2' is not allowed"),
    ("q = x; f = q * 2", ["x=1"], "q = x computes nothing new"),
    ("sin = x * 2; f = sin + 1", ["x=1"], "sin is a function; assign to another name"),
    ("q = x.real; f = q", ["x=1"], "'x.real' is not allowed"),
    ("q = 2; f = q * 3", [], "has no variables: nothing to differentiate"),
])
def test_programs_with_mistakes_are_one_line_errors(program, at, message, capsys):
    argv = ["explain", program] + (["--at", *at] if at else [])
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_build_names_each_assigned_step():
    result, leaves = build("q = x + y\nf = q * z", {"x": -2.0, "y": 5.0, "z": -4.0})
    assert result.name == "f" and result.item() == -12.0 and set(leaves) == {"x", "y", "z"}
    assert result.grad_fn.next_functions[0].label == "q"
    assert variables("q = x + y; f = q * z") == ["x", "y", "z"]
    assert variables("x2' := 3*x2; y := x1 + x2'") == ["x2", "x1"]
    unnamed, _ = build("(x + y) * z", {"x": 1.0, "y": 2.0, "z": 3.0})
    assert unnamed.name is None


@pytest.mark.parametrize("expression,at,message", [
    ("__import__('os').system('echo hacked')", [], "is not allowed"),
    ("x.real + 1", ["x=1"], "'x.real' is not allowed"),
    ("open('f')", [], "open(...) is not allowed"),
    ("x*y", ["x=1"], "no value given for y"),
    ("x*2", ["x=1", "z=2"], "z given with --at but not used"),
    ("(x", ["x=1"], "cannot parse"),
    ("x*2", ["x=abc"], "NAME=VALUE pairs with numbers"),
])
def test_the_restricted_parser_rejects_everything_else(expression, at, message, capsys):
    argv = ["explain", expression] + (["--at", *at] if at else [])
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_build_evaluates_functions_and_constants():
    result, leaves = build("max(x, 2) * sigmoid(y) - 3**2 / 4", {"x": 5.0, "y": 0.0})
    assert result.item() == pytest.approx(5 * 0.5 - 9 / 4)
    assert set(leaves) == {"x", "y"} and leaves["x"].name == "x"
    with pytest.raises(ExpressionError, match="takes 1 argument"):
        build("sin(x, x)", {"x": 1.0})


def test_the_command_line_writes_the_page_and_the_picture(tmp_path, capsys):
    page, picture = tmp_path / "page.html", tmp_path / "graph.svg"
    assert main(["explain", "x*y + sin(x)", "--at", "x=2", "y=3", "--html", str(page), "--svg", str(picture)]) == 0
    out = capsys.readouterr().out
    assert "step-through page written" in out and "picture written" in out
    assert "<svg" in page.read_text() and picture.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("expression,message", [
    ("+".join(["x"] * 20_000), "the expression has 39999 characters; tapegrad explain takes at most 1000"),
    ("**".join(["x"] * 3_000), "the expression has 8998 characters; tapegrad explain takes at most 1000"),
    ("+".join(["x"] * 201), "the expression is nested more than 200 levels deep"),
    ("**".join(["x"] * 300), "the expression is nested more than 200 levels deep"),
    ("x" + "-" * 900 + "x", "nested"),  # Python's own parser gives up on this one
    ("(" * 300 + "x" + ")" * 300, "too many nested parentheses"),
    ("x + 1/0", "'1 / 0' divides by zero"),
    ("x + (-8)**0.5", "'(-8) ** 0.5' is a complex number"),
    ("x + (10**64)**64", "'(10 ** 64) ** 64' is too large for a float"),
    ("x + " + "9" * 400, "is too large for a float"),
])
def test_expressions_too_large_or_without_a_real_value_are_one_line(expression, message, capsys):
    started = time.perf_counter()
    assert main(["explain", expression, "--at", "x=1"]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and len(err) < 300
    assert time.perf_counter() - started < 5


def test_the_largest_expressions_still_explain(capsys):
    assert main(["explain", "+".join(["x"] * 200), "--at", "x=1"]) == 0
    with np.errstate(over="ignore"):  # 1.5**1.5**... overflows: the steps show inf
        assert main(["explain", "**".join(["x"] * 200), "--at", "x=1.5"]) == 0
    assert main(["explain", "sin(" * 100 + "x" + ")" * 100, "--at", "x=1"]) == 0
    result, _ = build("+".join(["x"] * 200), {"x": 1.0})
    result.backward()
    assert result.item() == 200

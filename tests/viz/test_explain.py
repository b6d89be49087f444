"""tg.explain and `tapegrad explain`: the lectures' notation, with the lectures' numbers."""

from __future__ import annotations

import time

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.cli import main
from tapegrad.viz.expression import ExpressionError, build

LECTURE = """forward
(1) x2' := 3 * x2 = 6
(2) y := x1 + x2' = 7
(3) z := y**2 = 49
backward
(4) dz/dz := 1
(3) dz/dy := dz/dz * 2y = 14
(2) dz/dx1 := dz/dy * 1 = 14 and dz/dx2' := dz/dy * 1 = 14
(1) dz/dx2 := dz/dx2' * 3 = 42"""


def _lecture():
    x1 = tg.tensor(1.0, dtype=np.float64, requires_grad=True, name="x1")
    x2 = tg.tensor(2.0, dtype=np.float64, requires_grad=True, name="x2")
    return (x1 + 3 * x2) ** 2, x1, x2


def test_the_lectures_example_before_and_after_backward():
    z, x1, x2 = _lecture()
    before = tg.explain(z)
    assert before == LECTURE.split("\nbackward")[0]
    z.backward()
    assert tg.explain(z) == LECTURE
    assert repr(tg.explain(z)) == LECTURE  # shown unquoted at a prompt
    assert (x1.grad.item(), x2.grad.item()) == (14.0, 42.0)  # the user's tensors are untouched


def test_several_uses_are_added_and_tensors_are_summarised():
    x = tg.tensor(2.0, dtype=np.float64, requires_grad=True, name="x")
    y = tg.tensor(3.0, dtype=np.float64, requires_grad=True, name="y")
    f = x * y + x.sin()
    f.backward()
    text = tg.explain(f)
    assert "y2 := x * y = 6" in text  # generated names never repeat the user's
    assert "x is used 2 times, so the gradients add up: dz/dx := -0.416147 + 3 = 2.58385" in text
    w = tg.tensor(np.ones((2, 3)), requires_grad=True, name="W")
    v = (w.exp() * 2).sum()
    v.backward()
    assert "W' := exp(W) = [shape (2, 3), mean 2.718]" in tg.explain(v)
    assert tg.explain(w).startswith("z is a leaf") or "is a leaf" in tg.explain(w)


def test_the_command_line_explains_an_expression(capsys):
    assert main(["explain", "(x1 + 3*x2)**2", "--at", "x1=1", "x2=2"]) == 0
    assert capsys.readouterr().out.strip() == LECTURE


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

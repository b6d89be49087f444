"""What a primitive says about itself: its operator symbol and its inputs' local derivatives as text."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.ops import REGISTRY
from tapegrad.ops.registry import Primitive
from tapegrad.tensor import apply
from tapegrad.viz.expression import FUNCTIONS, OPERATORS, build

_OPERATOR_TEXT = {"__add__": "+", "__sub__": "-", "__mul__": "*", "__truediv__": "/", "__pow__": "**"}


def _explainable() -> set[str]:
    """The primitives `tapegrad explain` can show: every function and operator its parser accepts, unary
    minus, and the sum that reduces a tensor to a number."""
    expressions = [f"{name}(x)" if function.__code__.co_argcount == 1 else f"{name}(x, y)"
                   for name, function in FUNCTIONS.items()]
    expressions += [f"x {_OPERATOR_TEXT[method]} y" for method in OPERATORS.values()] + ["-x"]
    values = {"x": 0.5, "y": 1.5}
    names = {build(text, {k: v for k, v in values.items() if k in text})[0].grad_fn.prim.name
             for text in expressions}
    return names | {"sum"}


def test_every_primitive_explain_can_show_has_its_texts():
    names = _explainable()
    assert {"add", "subtract", "multiply", "divide", "power", "negative", "tanh", "maximum", "sum"} <= names
    for name in names:
        prim = REGISTRY[name]
        assert prim.differentiable, name
        assert len(prim.derivatives) == len(prim.vjps), name
        assert all(isinstance(text, str) and text or callable(text) for text in prim.derivatives), name


def test_infix_operations_carry_their_symbol():
    symbols = {name: REGISTRY[name].symbol for name in ("add", "subtract", "multiply", "divide", "power",
                                                          "matmul", "negative")}
    assert symbols == {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "power": "**",
                       "matmul": "@", "negative": "-"}
    assert REGISTRY["exp"].symbol == "" and REGISTRY["exp"].derivatives  # a function call, with its text


def test_texts_fill_in_the_inputs_names():
    assert REGISTRY["tanh"].derivative_text(0, ["h"], [np.float64(0.1)]) == "1 - tanh(h)**2"
    assert REGISTRY["divide"].derivative_text(1, ["p", "q"], [1.0, 2.0]) == "-p/q**2"
    assert REGISTRY["multiply"].derivative_text(0, ["p", "q"], [1.0, 2.0]) == "q"
    power = REGISTRY["power"]
    assert power.derivative_text(0, ["y", "2"], [np.float64(7), 2.0]) == "2y"
    assert power.derivative_text(0, ["y", "3"], [np.float64(7), 3.0]) == "3*y**2"
    assert power.derivative_text(0, ["y", "0.5"], [np.float64(7), 0.5]) == "0.5*y**(0.5 - 1)"
    assert power.derivative_text(0, ["y", "inf"], [np.float64(7), np.inf]) == "inf*y**(inf - 1)"
    assert power.derivative_text(1, ["y", "t"], [np.float64(7), np.float64(2)]) == "y**t * log(y)"
    assert REGISTRY["matmul"].derivative_text(1, ["A", "B"], [None, None]) == "A^T ·"  # explain: A^T · dY
    assert REGISTRY["var"].derivative_text(0, ["a"], [None]) == "dvar/da"  # none declared
    assert REGISTRY["concatenate"].derivative_text(2, ["a", "b", "c"], [None] * 3) == "dconcatenate/dc"


def _twice_primitive(**metadata) -> Primitive:
    return Primitive("twice", lambda x: 2 * x, vjps=(lambda xp, g, ans, x: 2 * g,),
                     jvps=(lambda xp, t, ans, x: 2 * t,), **metadata)


def test_explain_reads_the_primitive_and_works_without_texts():
    x = tg.tensor(1.5, dtype=np.float64, requires_grad=True, name="x")
    with_text = apply(_twice_primitive(symbol="2*", derivatives=("2",)), x)
    with_text.backward()
    assert tg.explain(with_text).splitlines() == [
        "forward", "(1) f := 2*x = 3", "backward", "(2) df/df := 1", "(1) df/dx := df/df * 2 = 2"]
    plain = apply(_twice_primitive(), x)  # no symbol, no text: a call and a generic derivative
    plain.backward()
    assert tg.explain(plain).splitlines()[1:] == [
        "(1) f := twice(x) = 3", "backward", "(2) df/df := 1", "(1) df/dx := df/df * dtwice/dx = 2"]


def test_maximum_and_minimum_explain_their_share_of_a_tie():
    x = tg.tensor(2.0, dtype=np.float64, requires_grad=True, name="x")
    y = tg.tensor(2.0, dtype=np.float64, requires_grad=True, name="y")
    z = x.maximum(y) + x.minimum(y)
    z.backward()
    lines = tg.explain(z).splitlines()
    assert lines[7] == ("(2) df/dx := df/dr * ([x < y] + [x = y]/2) = 0.5 and "
                        "df/dy := df/dr * ([y < x] + [x = y]/2) = 0.5; min routes: x = y = 2, so they share the "
                        "gradient equally")
    assert lines[8].startswith("(1) df/dx := df/dq * ([x > y] + [x = y]/2) = 0.5; copy adds: x is used 2 times")
    assert "df/dy := df/dq * ([y > x] + [x = y]/2) = 0.5; copy adds: y is used 2 times" in lines[8]


def test_one_text_per_rule():
    with pytest.raises(ValueError, match="one derivative text per VJP rule, got 2 for 1"):
        _twice_primitive(derivatives=("2", "3"))
    with pytest.raises(ValueError, match="one derivative text per VJP rule"):
        Primitive("sign2", np.sign, derivatives=("0",))  # no rules: no text
    with pytest.raises(ValueError, match=r"'twice': derivative text 0 \('2\{x\}'\) may use only the fields"):
        _twice_primitive(derivatives=("2{x}",))
    with pytest.raises(ValueError, match="derivative text 0 is a int; expected a str, a function or None"):
        _twice_primitive(derivatives=(2,))

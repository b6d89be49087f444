"""The public view of the graph that viz walks (``grad_fn.next_functions``, ``tg.autograd.graph_nodes``),
and explain's gradients coming from the engine."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.viz
from tapegrad.errors import ArgumentError


def _leaf(value, name):
    return tg.tensor(value, dtype=np.float64, requires_grad=True, name=name)


def test_next_functions_name_the_producing_node_the_leaf_or_none():
    x, w = _leaf([1.0, 2.0], "x"), _leaf(0.5, "w")
    frozen = tg.tensor([3.0, 4.0], dtype=np.float64)  # takes no gradient
    z = ((x * 3.0 + w) * frozen).tanh()
    tanh = z.grad_fn
    (outer,) = tanh.next_functions
    inner, none = outer.next_functions
    assert (tanh.name, outer.name, inner.name, none) == ("tanh", "multiply", "add", None)
    scaled, leaf_w = inner.next_functions
    assert leaf_w is w and scaled.name == "multiply"
    assert scaled.next_functions[0] is x and scaled.next_functions[1] is None
    assert float(scaled.constant_inputs[1]) == 3.0 and scaled.constant_inputs[0] is None
    assert outer.constant_inputs[0] is None and outer.constant_inputs[1].tolist() == [3.0, 4.0]
    assert inner.constant_inputs == (None, None)  # every input takes a gradient
    assert tanh.primitive is tg.ops.REGISTRY["tanh"] and outer.primitive.symbol == "*"


def test_the_view_is_read_only_and_survives_backward():
    x = _leaf([[1.0, 2.0], [3.0, 4.0]], "x")
    s = x.sum(axis=1)
    node = s.grad_fn
    assert dict(node.parameters) == {"axis": 1, "keepdims": False}
    with pytest.raises(TypeError):
        node.parameters["axis"] = 0
    with pytest.raises(AttributeError):
        node.next_functions = ()
    with pytest.raises(AttributeError):
        node.constant_inputs = ()
    s.sum().backward()
    assert node.released and node.next_functions == (x,) and node.parameters["axis"] == 1


def test_graph_nodes_lists_each_node_once_inputs_first():
    x = _leaf(2.0, "x")
    y = x * 2.0
    z = y * y + y  # y is used three times
    order = tg.autograd.graph_nodes(z.grad_fn)
    assert [node.name for node in order] == ["multiply", "multiply", "add"]
    assert order[0] is y.grad_fn and order[-1] is z.grad_fn
    assert tg.autograd.graph_nodes([z.grad_fn, y.grad_fn]) == order
    for position, node in enumerate(order):  # every input comes before the node that uses it
        assert all(order.index(p) < position for p in node.next_functions if p is not None and p is not x)


def test_graph_nodes_walks_a_long_chain_and_refuses_what_is_not_a_node():
    x = _leaf(1.0, "x")
    y = x
    for _ in range(20_000):
        y = y * 1.0
    order = tg.autograd.graph_nodes(y.grad_fn)
    assert len(order) == 20_000 and order[-1] is y.grad_fn and order[0].next_functions[0] is x
    with pytest.raises(ArgumentError, match=r"graph_nodes: roots\[0\] is a NoneType; expected a graph Node"):
        tg.autograd.graph_nodes(x.grad_fn)  # a leaf has no Node
    with pytest.raises(ArgumentError, match=r"roots\[1\] is a Tensor"):
        tg.autograd.graph_nodes([y.grad_fn, x])


def test_explain_shows_the_gradients_the_engine_computes():
    # float16 gets its gradient cast to float16 by the engine: explain shows that value, not a float64 one.
    x = tg.tensor(2.0, dtype=np.float16, requires_grad=True, name="x")
    y = _leaf(0.1, "y")
    z = x * y
    z.backward()
    assert f"{x.grad.item():g}" == "0.0999756"
    assert tg.explain(z).splitlines()[-1] == ("(1) df/dx := df/df * y = 0.0999756 and df/dy := df/df * x = 2; "
                                              "mul swaps the inputs: x's local gradient is y, y's is x")


def test_explain_sums_a_broadcast_gradient_as_the_engine_does():
    x = _leaf([1.0, 2.0, 3.0], "x")
    b = _leaf(0.5, "b")
    z = (x * b).sum()
    z.backward()
    last = tg.explain(z).splitlines()[-1]
    assert last == ("(1) df/dx := df/dq * b = [0.5, 0.5, 0.5] and df/db := df/dq * x = 6; "
                    "mul swaps the inputs: x's local gradient is b, b's is x")
    assert b.grad.item() == 6.0


_PRIVATE_ENGINE = {"count_consumers", "topological_order", "Node.parents", "run_backward"}
_SLOTS = {"parents", "constants", "inputs", "ans", "prim", "params", "exact", "extras", "sequence", "_node"}


def test_viz_uses_only_the_engines_public_api():
    for path in Path(tapegrad.viz.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:  # from the package, above viz
                names = {alias.name for alias in node.names}
                assert not names & _PRIVATE_ENGINE, (path.name, node.module, names)
                assert not any(name.startswith("_") for name in names), (path.name, node.module, names)
                # (that the names are public API at all: tests/test_architecture.py)
            if isinstance(node, ast.Attribute):
                assert node.attr not in _SLOTS, (path.name, node.lineno, node.attr)

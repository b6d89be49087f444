"""tg.viz.draw: pictures of the graph with values and gradients, summaries of large graphs."""

from __future__ import annotations

import html
import shutil
from xml.etree import ElementTree

import numpy as np
import pytest

import tapegrad as tg

GREEN, RED = "#137333", "#c5221f"  # values, gradients


def _needs_dot():
    if not shutil.which("dot"):
        pytest.fail("this test renders with Graphviz's dot program: apt-get install graphviz (or brew install "
                    "graphviz); bash scripts/test.sh installs it")


def _neuron():
    """The lectures' sigmoid neuron: q = sigmoid(w . x + b) = 0.802184, dq/dw = [0.1587, -0.3174, 0.4761]."""
    x = tg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True, name="x")
    w = tg.tensor(np.array([0.5, 0.3, 1.0]), requires_grad=True, name="w")
    b = tg.tensor(-1.5, dtype=np.float64, requires_grad=True, name="b")
    q = ((w * x).sum() + b).sigmoid()
    q.name = "q"
    return q, (x, w, b)


def _value(text):
    return f'<FONT COLOR="{GREEN}">{text}</FONT>'


def _gradient(text):
    return f'<FONT COLOR="{RED}">{text}</FONT>'


def test_values_in_green_above_and_gradients_in_red_flowing_back_with_a_legend():
    q, _ = _neuron()
    before = tg.viz.draw(q).source
    for step in tg.viz.walkthrough(q).forward:  # each operation as explain writes it: y := w * x
        assert f"{html.escape(step.name)} := {html.escape(step.expression)}" in before
    for value in ("[1, -2, 3]", "[0.5, 0.3, 1]", "[0.5, -0.6, 3]", "2.9", "-1.5", "1.4", "0.802184"):
        assert _value(value) in before, value
    assert RED not in before and "dir=back" not in before  # no gradients before backward
    assert "green, above an arrow: the value it carries" in before and "red, under it" not in before
    q.backward()
    source = tg.viz.draw(q).source
    assert source.count("dir=back") == source.count(" -> ") / 2 == 7  # under each arrow, a red one flowing back
    assert f'label=<{_gradient("1")}> color="{RED}" dir=back' in source  # the seed, into the output
    for gradient in ("0.158685", "[0.1587, 0.1587, 0.1587]", "[0.1587, -0.3174, 0.4761]",
                     "[0.07934, 0.04761, 0.1587]"):
        assert f'label=<{_gradient(gradient)}> color="{RED}" dir=back' in source, gradient
    assert f"b<BR/>{_gradient('dq/db = 0.158685')}" in source  # each input's whole gradient in its box
    assert f"w<BR/>shape (3,)<BR/>{_gradient('dq/dw = [0.1587, -0.3174, 0.4761]')}" in source
    assert "float64" not in source and "shape ()" not in source  # no dtype or shape noise on scalars
    assert "red, under it (dashed, flowing back): the gradient dq/d(that value)" in source
    bare = tg.viz.draw(q, values=False, grads=False).source
    assert GREEN not in bare and RED not in bare and " := " in bare


def test_a_variable_used_twice_gets_a_red_arrow_per_use_and_their_sum_in_its_box():
    x = tg.tensor(3.0, dtype=np.float64, requires_grad=True, name="x")
    y = tg.tensor(-4.0, dtype=np.float64, requires_grad=True, name="y")
    f = x * y + x
    f.name = "f"
    f.backward()
    source = tg.viz.draw(f).source
    assert f'label=<{_gradient("-4")}> color="{RED}" dir=back' in source  # x's share through x * y
    assert f'label=<{_gradient("3")}> color="{RED}" dir=back' in source  # y's, through x * y
    assert source.count(f'label=<{_gradient("1")}> color="{RED}" dir=back') == 3  # seed, x * y and x via +
    assert f"x<BR/>{_gradient('df/dx = -3')}" in source and f"y<BR/>{_gradient('df/dy = 3')}" in source


def test_small_matrices_show_their_entries_larger_ones_their_shape_and_mean():
    a = tg.tensor(np.arange(16.0).reshape(4, 4), requires_grad=True, name="A")
    b = tg.tensor(np.ones((5, 5)), requires_grad=True, name="B")
    (a.sum() + b.sum()).backward()
    assert "[[0, 1, 2, 3],<BR/> [4, 5, 6, 7],<BR/> [8, 9, 10, 11],<BR/> [12, 13, 14, 15]]" in tg.viz.draw(
        a * 1.0).source
    source = tg.viz.draw(a.sum() + b.sum()).source
    assert "A<BR/>shape (4, 4)" in source and "B<BR/>shape (5, 5)" in source
    assert _value("[shape (5, 5), mean 1]") in source


def test_rendered_values_sit_above_their_arrow_and_gradients_below(tmp_path):
    _needs_dot()
    q, _ = _neuron()
    q.backward()
    svg = tg.viz.draw(q).render(tmp_path / "neuron", format="svg")
    root = ElementTree.parse(svg).getroot()
    groups = {g.get("id"): g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("id")}
    pairs = [(groups[k], groups["g" + k[1:]]) for k in groups if k.startswith("v") and "g" + k[1:] in groups]
    assert len(pairs) == 7
    for value, gradient in pairs:
        (value_text,) = value.iter("{http://www.w3.org/2000/svg}text")
        (gradient_text,) = gradient.iter("{http://www.w3.org/2000/svg}text")
        assert value_text.get("fill") == GREEN and gradient_text.get("fill") == RED
        assert float(value_text.get("y")) < float(gradient_text.get("y"))  # SVG's y grows downwards
        (path,) = gradient.iter("{http://www.w3.org/2000/svg}path")
        assert path.get("stroke") == RED and path.get("stroke-dasharray")
    png = tg.viz.draw(q).render(tmp_path / "neuron", format="png")
    assert open(png, "rb").read(4) == b"\x89PNG"


def test_a_graph_of_100000_nodes_is_summarised_fast(tmp_path):
    import time

    x = tg.tensor(1.0, dtype=np.float64, requires_grad=True, name="x")
    y = x
    for _ in range(25_000):
        y = (y * 1.0001 + 0.1).sin() * 0.9
    start = time.perf_counter()
    graph = tg.viz.draw(y, max_nodes=100)
    assert time.perf_counter() - start < 10
    assert "99900 more operations not drawn" in graph.source
    assert "multiply x" in graph.source  # the summary counts what it left out, by operation
    assert len(graph.source) < 50_000


def test_a_missing_dot_program_says_what_to_install(tmp_path, monkeypatch):
    q, _ = _neuron()
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on it
    with pytest.raises(tg.viz.VizError, match="apt-get install graphviz"):
        tg.viz.draw(q).render(tmp_path / "q", format="svg", cleanup=True)
    assert not list(tmp_path.iterdir())  # nothing left behind: not even the DOT source saved before dot runs


def test_a_leaf_alone():
    assert "label=<x<BR/>shape (2,)<BR/>[1, 2]>" in tg.viz.draw(tg.tensor([1.0, 2.0], name="x")).source
    assert "label=<c<BR/>2.5>" in tg.viz.draw(tg.tensor(2.5, name="c")).source


def test_parameters_are_drawn_by_their_path_and_jupyter_gets_svg():
    tg.manual_seed(0)
    model = tg.nn.MLP([2, 3, 1])
    graph = tg.viz.draw(model(tg.ones(4, 2)).sum())
    assert "0.weight" in graph.source and "2.bias" in graph.source
    _needs_dot()
    bundle = graph._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


def test_a_compiled_function_draws_its_schedule(tmp_path):
    w = tg.tensor(np.ones((3, 2)), requires_grad=True, name="w")
    compiled = tg.compile(lambda x: ((x @ w + 1.0).sin() * 2.0).exp().sum())
    with pytest.raises(tg.viz.VizError, match="has not run yet"):
        tg.viz.draw(compiled)
    compiled(tg.tensor(np.ones((4, 3))))
    source = tg.viz.draw(compiled).source
    for text in ("argument 0: v0", "w: v1", "1. matmul", "2. add", "3. sin", "4. multiply", "5. exp", "6. sum",
                 "output 0", "penwidth=2.5"):
        assert text in source, text
    with tg.no_grad():  # nothing is kept for backward: ufunc results go into dead temporaries
        compiled(tg.tensor(np.ones((4, 3))))
    frozen = tg.compile(lambda x: ((x @ w.detach() + 1.0).sin() * 2.0).exp().sum())
    frozen(tg.tensor(np.ones((200, 3))))  # results of 400 entries: large enough to reuse
    plan = next(iter(frozen.plans.values()))
    picture = tg.viz.draw(plan)
    assert "written into v" in picture.source and "penwidth=2.5" not in picture.source
    assert "3 results written into a dead temporary" in picture.source  # sin, multiply, exp
    _needs_dot()
    picture.render(tmp_path / "schedule", format="svg")
    assert (tmp_path / "schedule.svg").read_text().count("<g id=\"node") >= 8


def test_a_schedule_draws_masks_and_indices_computed_at_every_call_as_dashed_edges():
    compiled = tg.compile(lambda x: tg.where(x > 0, x, 0 * x).sum() + x[x > 1].sum())
    compiled(tg.tensor([1.0, 2.0, 3.0]))
    source = tg.viz.draw(compiled).source
    assert "1. greater" in source and "v1 -> v3 [style=dashed]" in source  # where's mask
    assert "6. nonzero" in source and "v6 -> v7 [label=index style=dashed]" in source  # getitem's index

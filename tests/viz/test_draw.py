"""tg.viz.draw: pictures of the graph with values and gradients, summaries of large graphs."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg


def _neuron():
    x = tg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True, name="x")
    w = tg.tensor(np.array([0.5, 0.3, 1.0]), requires_grad=True, name="w")
    b = tg.tensor(-1.5, dtype=np.float64, requires_grad=True, name="b")
    return ((w * x).sum() + b).sigmoid(), (x, w, b)


def test_the_picture_has_operations_leaves_values_and_gradients():
    q, _ = _neuron()
    before = tg.viz.draw(q).source
    assert "z := sigmoid" in before and "y := multiply" in before and "value 0.802184" in before
    assert "grad" not in before  # no gradients before backward
    q.backward()
    source = tg.viz.draw(q).source
    assert 'label="b\\n() float64\\n-1.5"' in source  # a leaf with its name, shape and value
    assert "value 1.4\\ngrad 0.158685" in source  # the edge into sigmoid: value above, gradient below
    assert "grad [0.1587, -0.3174, 0.4761]" in source  # dq/dw, as in the lecture
    assert "value" not in tg.viz.draw(q, values=False, grads=False).source


def test_rendering_to_svg_and_png(tmp_path):
    q, _ = _neuron()
    q.backward()
    graph = tg.viz.draw(q)
    svg = graph.render(tmp_path / "neuron", format="svg")
    assert open(svg).read().lstrip().startswith("<?xml")
    png = graph.render(tmp_path / "neuron", format="png")
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
        tg.viz.draw(q).render(tmp_path / "q", format="svg")


def test_a_leaf_alone():
    assert "x\\n(2,) float32" in tg.viz.draw(tg.tensor([1.0, 2.0], name="x")).source


def test_parameters_are_drawn_by_their_path_and_jupyter_gets_svg():
    tg.manual_seed(0)
    model = tg.nn.MLP([2, 3, 1])
    graph = tg.viz.draw(model(tg.ones(4, 2)).sum())
    assert "0.weight" in graph.source and "2.bias" in graph.source
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
    picture.render(tmp_path / "schedule", format="svg")
    assert (tmp_path / "schedule.svg").read_text().count("<g id=\"node") >= 8


def test_a_schedule_draws_masks_and_indices_computed_at_every_call_as_dashed_edges():
    compiled = tg.compile(lambda x: tg.where(x > 0, x, 0 * x).sum() + x[x > 1].sum())
    compiled(tg.tensor([1.0, 2.0, 3.0]))
    source = tg.viz.draw(compiled).source
    assert "1. greater" in source and "v1 -> v3 [style=dashed]" in source  # where's mask
    assert "6. nonzero" in source and "v6 -> v7 [label=index style=dashed]" in source  # getitem's index

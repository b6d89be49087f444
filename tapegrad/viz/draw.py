"""``tg.viz.draw(tensor)``: a picture of the graph that produced a tensor, as a ``graphviz.Digraph``.

Operations and leaves are boxes; edges point the way data flows and carry each value and, after
``backward()``, its gradient. Graphs larger than ``max_nodes`` are summarised: the operations nearest
the output are drawn and one box counts the ones left out (by operation), so drawing a graph of
100,000 nodes stays fast and the picture small.

Needs the Python package ``graphviz`` (``pip install "tapegrad[viz]"``); rendering to SVG or PNG also
needs Graphviz's ``dot`` program, a system package (``apt-get install graphviz``, ``brew install graphviz``).
"""

from __future__ import annotations

from collections import Counter, deque
from functools import lru_cache
from typing import Any

import numpy as np

from ..compile import Compiled, Plan, Read, Slot, slots_read
from ..engine import Node
from ..errors import TapegradError
from ..tensor import Tensor
from .explain import Replay, _number


class VizError(TapegradError, RuntimeError):
    """A picture that cannot be made: graphviz (the Python package or the dot program) is missing."""


MISSING_DOT = ("rendering needs Graphviz's 'dot' program, which is not installed: install it with "
               "'apt-get install graphviz' (Debian, Ubuntu), 'brew install graphviz' (macOS) or from "
               "https://graphviz.org/download/, then try again")


@lru_cache(maxsize=1)
def _graph_class() -> type:
    try:
        import graphviz
    except ImportError:
        raise VizError('tg.viz.draw needs the graphviz package: pip install "tapegrad[viz]"') from None

    class Graph(graphviz.Digraph):
        """A graphviz.Digraph whose rendering says what to install when Graphviz is missing."""

        def render(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().render(*args, **kwargs)
            except graphviz.ExecutableNotFound:
                raise VizError(MISSING_DOT) from None

        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().pipe(*args, **kwargs)
            except graphviz.ExecutableNotFound:
                raise VizError(MISSING_DOT) from None

    return Graph


def _nearest(root: Node, limit: int) -> tuple[list[Node], int, Counter]:
    """Up to ``limit`` Nodes nearest the output (breadth first), how many there are in all, and the
    operations of the ones left out."""
    kept, seen, queue = [], {root}, deque([root])
    left_out: Counter = Counter()
    total = 0
    while queue:
        node = queue.popleft()
        total += 1
        if len(kept) < limit:
            kept.append(node)
        else:
            left_out[node.name] += 1
        for parent in node.next_functions:
            if parent is not None and not isinstance(parent, Tensor) and parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return kept, total, left_out


def _shown(array: np.ndarray) -> str:
    """Small tensors in full, larger ones as shape and mean."""
    if 1 < array.size <= 4:
        return "[" + ", ".join(f"{v:.4g}" for v in array.reshape(-1)) + "]"
    return _number(array)


def _label(grads: bool, replay: Replay | None, key: Any, values: bool) -> str:
    if replay is None or key not in replay.tensors:
        return ""
    tensor = replay.tensors[key]
    parts = [f"value {_shown(tensor.data)}"] if values else []
    if grads and replay.done and tensor.grad is not None:
        parts.append(f"grad {_shown(tensor.grad.data)}")
    return "\\n".join(parts)


def draw(tensor: Tensor | Compiled | Plan, values: bool = True, grads: bool = True, max_nodes: int = 200) -> Any:
    """A ``graphviz.Digraph`` of the graph that produced ``tensor``.

    Given a function compiled with ``tg.compile`` (or one of its ``plans``), it draws the schedule
    of its most recently used signature instead: the operations in the order they run, the values
    kept for backward (bold), and the results written into a dead temporary's memory (``out=``).

    Args:
        values: write each value on the edge that carries it (scalars as numbers, tensors as shape
            and mean).
        grads: after ``backward()``, write each gradient under the value.
        max_nodes: draw at most this many operations; the rest are counted in one summary box.

    Returns:
        The Digraph: ``.render(path, format="svg")`` writes a file, and Jupyter shows it.

    Raises:
        VizError: if the graphviz package is missing (or, when rendering, the dot program).
    """
    if isinstance(tensor, Compiled):
        if not tensor.plans:
            raise VizError("tg.viz.draw: this compiled function has not run yet; it is traced on its first "
                           "call, so call it once, then draw it")
        return draw_plan(next(reversed(tensor.plans.values())))
    if isinstance(tensor, Plan):
        return draw_plan(tensor)
    return build(tensor, values, grads, max_nodes)[0]


def draw_plan(plan: Plan) -> Any:
    """A ``graphviz.Digraph`` of a compiled schedule (see :func:`draw`)."""
    graph = _graph_class()(graph_attr={"rankdir": "LR"}, node_attr={"fontname": "Helvetica", "fontsize": "11"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "9"})

    def described(slot: int) -> str:
        return f"v{slot}\\n{plan.shapes[slot]} {plan.dtypes[slot]}"

    for position, slot in plan.input_slots:
        graph.node(f"v{slot}", f"argument {position}: {described(slot)}", shape="box", style="filled",
                   fillcolor="#e6f4ea")
    for tensor, slot in plan.captured:
        graph.node(f"v{slot}", f"{tensor.name or 'captured'}: {described(slot)}", shape="box", style="filled",
                   fillcolor="#e6f4ea")
    for step, (prim, arguments, params, slot) in enumerate(plan.schedule):
        text = f"{step + 1}. {prim.name}\\n{described(slot)}"
        if slot in plan.reuses:
            text += f"\\nwritten into v{plan.reuses[slot]}'s memory"
        graph.node(f"v{slot}", text, shape="ellipse", style="filled", fillcolor="#e8f0fe",
                   penwidth="2.5" if slot in plan.saved else "1")
        for position, argument in enumerate(arguments):
            if argument.__class__ is Slot:
                graph.edge(f"v{argument.index}", f"v{slot}")
            elif argument.__class__ is Read:  # a value read as a constant would be: no gradient through it
                graph.edge(f"v{argument.index}", f"v{slot}", style="dashed")
            else:
                constant = f"c{step}_{position}"
                graph.node(constant, _number(np.asarray(argument)), shape="plaintext")
                graph.edge(constant, f"v{slot}")
        for name, value in params.items():  # an index array computed at every call
            for index in slots_read(value):
                graph.edge(f"v{index}", f"v{slot}", label=name, style="dashed")
    for position, slot in enumerate(plan.outputs):
        graph.node(f"output{position}", f"output {position}", shape="doublecircle")
        graph.edge(f"v{slot}", f"output{position}")
    graph.attr(label=f"compiled schedule: {len(plan.schedule)} operations; bold: kept for backward "
                     f"({len(plan.saved)} values); {len(plan.reuses)} results written into a dead temporary",
               fontname="Helvetica", fontsize="10")
    return graph


def build(tensor: Tensor, values: bool, grads: bool, max_nodes: int) -> tuple[Any, dict[Any, str]]:
    """The Digraph of :func:`draw`, and the id it gave each Node and leaf (``n0``, ``n1``, ...)."""
    graph = _graph_class()(graph_attr={"rankdir": "LR"}, node_attr={"fontname": "Helvetica", "fontsize": "11"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    root_name = tensor.name or "z"
    if tensor.grad_fn is None:
        graph.node("leaf", f"{root_name}\\n{tensor.shape} {tensor.dtype}\\n{_number(tensor.data)}", shape="box")
        return graph, {}
    kept, total, left_out = _nearest(tensor.grad_fn, max_nodes)
    replay = Replay(tensor, root_name, max_nodes=max_nodes)
    if not replay.tensors:
        replay_or_none = None
    else:
        replay_or_none = replay
        if replay.done:
            replay.backward()
    ids: dict[Any, str] = {}

    def node_id(key: Any) -> str:
        if key not in ids:
            ids[key] = f"n{len(ids)}"
        return ids[key]

    kept_set = set(kept)
    for node in kept:
        graph.node(node_id(node), f"{replay.names[node]} := {node.name}\\n{node.shape} {node.dtype}",
                   shape="ellipse", style="filled", fillcolor="#e8f0fe")
    summary = None
    if total > len(kept):
        summary = "summary"
        common = ", ".join(f"{name} x{count}" for name, count in left_out.most_common(4))
        graph.node(summary, f"... {total - len(kept)} more operations not drawn\\n({common})",
                   shape="note", style="filled", fillcolor="#fff4d6")
    for node in kept:
        for parent, constant in zip(node.next_functions, node.constant_inputs):
            if parent is None:
                if constant is None:
                    continue
                const_id = node_id(("constant", id(node), len(ids)))
                graph.node(const_id, f"{_number(np.asarray(constant))}", shape="plaintext")
                graph.edge(const_id, node_id(node))
                continue
            if isinstance(parent, Tensor):
                if parent not in ids:
                    text = f"{replay.names[parent]}\\n{parent.shape} {parent.dtype}"
                    if parent.size <= 4:
                        text += f"\\n{_shown(parent.data)}"
                    graph.node(node_id(parent), text, shape="box", style="filled", fillcolor="#e6f4ea")
                source = node_id(parent)
            elif parent in kept_set:
                source = node_id(parent)
            else:
                source = summary
            graph.edge(source, node_id(node), label=_label(grads, replay_or_none, parent, values))
    out_label = _label(grads, replay_or_none, tensor.grad_fn, values)
    graph.node("output", root_name, shape="doublecircle")
    graph.edge(node_id(tensor.grad_fn), "output", label=out_label)
    return graph, ids

"""``tg.viz.draw(tensor)``: a picture of the graph that produced a tensor, as a ``graphviz.Digraph``.

Drawn the way the lectures' slides draw backprop: operations are ellipses (``y := x1 + x2'``), inputs
are boxes, and each arrow of the forward pass carries its value above it in green; after ``backward()``
a dashed red arrow under it carries the gradient back, the share of that use (a variable used twice gets
two red arrows, and its box shows their sum). A legend under the graph says which colour is which.
Scalars show their numbers, vectors and matrices up to 4x4 their entries, larger tensors their shape
and mean. Graphs larger than ``max_nodes`` are summarised: the operations nearest the output are drawn
and one box counts the ones left out (by operation), so drawing a graph of 100,000 nodes stays fast and
the picture small.

Needs the Python package ``graphviz`` (``pip install "tapegrad[viz]"``, which ``[cli]`` includes);
rendering to SVG or PNG also needs Graphviz's ``dot`` program, a system package (``apt-get install
graphviz``, ``brew install graphviz``).
"""

from __future__ import annotations

import html as html_escape
import os
import subprocess
from collections import Counter, deque
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from ..compile import Compiled, Plan, Read, Slot, slots_read
from ..engine import Node
from ..errors import TapegradError
from ..tensor import Tensor
from .explain import Replay, Walkthrough, _number, walkthrough


class VizError(TapegradError, RuntimeError):
    """A picture that cannot be made: graphviz (the Python package or the dot program) is missing."""


MISSING_DOT = ("rendering needs Graphviz's 'dot' program, which is not installed: install it with "
               "'apt-get install graphviz' (Debian, Ubuntu), 'brew install graphviz' (macOS) or from "
               "https://graphviz.org/download/, then try again")
MISSING_PACKAGE = ("drawing needs the Python package graphviz, which is not installed: "
                   "pip install \"tapegrad[viz]\" (the [cli] extra includes it)")
VALUE_COLOUR = "#137333"  # green: values, above the arrows of the forward pass
GRADIENT_COLOUR = "#c5221f"  # red: gradients, on the dashed arrows under them
FONT_SIZE = "14"  # every label the same size, so the page scales them all to a legible one
LARGEST_SHOWN = 4  # vectors and matrices up to 4x4 show their entries


@lru_cache(maxsize=1)
def _graph_class() -> type:
    try:
        import graphviz
    except ImportError:
        raise VizError(MISSING_PACKAGE) from None

    def rendered(method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except graphviz.ExecutableNotFound:
            raise VizError(MISSING_DOT) from None
        except subprocess.CalledProcessError as exc:
            said = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else str(exc.stderr or "")
            raise VizError(f"Graphviz's dot failed (exit status {exc.returncode}): "
                           f"{' '.join(said.split())[:300] or 'no message'}") from None

    class Graph(graphviz.Digraph):
        """A graphviz.Digraph whose rendering says what to install when Graphviz is missing."""

        def render(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return rendered(super().render, *args, **kwargs)
            except VizError:
                cleanup = kwargs.get("cleanup", len(args) > 3 and args[3])
                if cleanup and os.path.exists(self.filepath):  # the DOT source it saved first goes too
                    os.remove(self.filepath)
                raise

        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            return rendered(super().pipe, *args, **kwargs)

    return Graph


def shown(value: Any) -> list[str]:
    """The lines that show an array: a scalar as a number, a vector or matrix of at most 4x4 entries
    row by row, anything larger as its shape and mean."""
    array = np.asarray(value)
    if array.size == 1:
        return [_number(array)]
    if array.size == 0 or array.ndim > 2 or max(array.shape) > LARGEST_SHOWN:
        return [_number(array)]
    rows = array.reshape(1, -1) if array.ndim == 1 else array
    lines = ["[" + ", ".join(f"{entry.item():.4g}" for entry in row) + "]" for row in rows]
    if array.ndim == 2:
        last = len(lines) - 1
        lines = [("[" if i == 0 else " ") + line + ("]" if i == last else ",") for i, line in enumerate(lines)]
    return lines


def _html(lines: list[str], colour: str | None = None) -> str:
    """A Graphviz HTML-like label of ``lines`` (escaped), in ``colour`` if given."""
    text = "<BR/>".join(html_escape.escape(line) for line in lines)
    return f'<<FONT COLOR="{colour}">{text}</FONT>>' if colour else f"<{text}>"


def _shape(shape: tuple[int, ...]) -> list[str]:
    return [] if shape == () else [f"shape {tuple(shape)}"]


@dataclass
class Drawing:
    """A picture of a graph and where each of its parts is, for the step-through page.

    Attributes:
        graph: the ``graphviz.Digraph``.
        output: the output's name.
        walk: the walkthrough the labels come from (None for a graph too large to replay).
        nodes: the Graphviz id of each Node and leaf.
        values: per Node or leaf, the ids of the arrows that carry its value.
        gradients: per (Node, input position), the id of the red arrow carrying that use's gradient.
        totals: per leaf, the id of its box, which shows its whole gradient.
        output_node, seed: the ids of the output's circle and of the red arrow of the seed gradient.
    """

    graph: Any
    output: str
    walk: Walkthrough | None = None
    nodes: dict[Any, str] = field(default_factory=dict)
    values: dict[Any, list[str]] = field(default_factory=dict)
    gradients: dict[tuple[Any, int], str] = field(default_factory=dict)
    totals: dict[Any, str] = field(default_factory=dict)
    output_node: str = "output"
    seed: str | None = None


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


def draw(tensor: Tensor | Compiled | Plan, values: bool = True, grads: bool = True, max_nodes: int = 200) -> Any:
    """A ``graphviz.Digraph`` of the graph that produced ``tensor``.

    Given a function compiled with ``tg.compile`` (or one of its ``plans``), it draws the schedule
    of its most recently used signature instead: the operations in the order they run, the values
    kept for backward (bold), and the results written into a dead temporary's memory (``out=``).

    Args:
        values: write each value above the arrow that carries it, in green.
        grads: after ``backward()``, draw under each arrow a dashed red one carrying the gradient back
            (this use's share), and each input's whole gradient in its box.
        max_nodes: draw at most this many operations; the rest are counted in one summary box (and
            values and gradients are left out).

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
    if not isinstance(tensor, Tensor):
        raise VizError(f"tg.viz.draw: expected a Tensor, a compiled function or a Plan, got {type(tensor).__name__}")
    return build(tensor, values, grads, max_nodes).graph


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


def _new_graph() -> Any:
    return _graph_class()(graph_attr={"rankdir": "LR", "fontname": "Helvetica", "fontsize": FONT_SIZE},
                          node_attr={"fontname": "Helvetica", "fontsize": FONT_SIZE},
                          edge_attr={"fontname": "Helvetica", "fontsize": FONT_SIZE})


def _flows(walk: Walkthrough) -> dict[tuple[Any, int], Any]:
    """Each backward Flow by the (Node, input position) it passes through."""
    found = {}
    for step in walk.backward:
        inputs = step.node.next_functions
        positions = iter(range(len(inputs)))
        for flow in step.flows:
            for position in positions:
                if inputs[position] is flow.source:
                    found[(step.node, position)] = flow
                    break
    return found


def build(tensor: Tensor, values: bool = True, grads: bool = True, max_nodes: int = 200) -> Drawing:
    """The picture of :func:`draw` for a Tensor, with the ids of its parts (see :class:`Drawing`).

    Raises:
        VizError: if the graphviz package is missing.
    """
    graph = _new_graph()
    if tensor.grad_fn is None:
        name = tensor.name or "x"
        graph.node("leaf", _html([name] + _shape(tensor.shape) + shown(tensor.data)), shape="box")
        return Drawing(graph, name)
    kept, total, left_out = _nearest(tensor.grad_fn, max_nodes)
    replay = Replay(tensor, max_nodes=max_nodes)
    walk = walkthrough(tensor) if replay.tensors else None  # too large to replay: names only
    names = walk.replay.names if walk else replay.names
    output = walk.output if walk else names[tensor.grad_fn]
    drawing = Drawing(graph, output, walk)
    expressions = {step.node: step.expression for step in walk.forward} if walk else {}
    computed = {step.node: step.value for step in walk.forward} if walk else {}
    done = walk is not None and bool(walk.backward)
    flows = _flows(walk) if done else {}
    ids = drawing.nodes

    def node_id(key: Any) -> str:
        if key not in ids:
            ids[key] = f"n{len(ids)}"
        return ids[key]

    def value_of(key: Any) -> np.ndarray:
        return computed[key] if key in computed else walk.replay.tensors[key].data

    edges = 0

    def edge(source: str, target: str, key: Any, flow: Any) -> str | None:
        """The arrow carrying ``key``'s value and, under it, the one carrying ``flow``'s gradient back
        (whose id it returns)."""
        nonlocal edges
        edges += 1
        attributes = {"id": f"v{edges}"}
        if values and walk:
            attributes["label"] = _html(shown(value_of(key)), VALUE_COLOUR)
        graph.edge(source, target, **attributes)
        drawing.values.setdefault(key, []).append(attributes["id"])
        if grads and flow is not None:
            graph.edge(source, target, id=f"g{edges}", label=_html(shown(flow), GRADIENT_COLOUR), dir="back",
                       style="dashed", color=GRADIENT_COLOUR)
            return f"g{edges}"
        return None

    kept_set = set(kept)
    for node in kept:
        expression = expressions.get(node, node.name)
        graph.node(node_id(node), _html([f"{names[node]} := {expression}"] + _shape(node.shape)), id=ids[node],
                   shape="ellipse", style="filled", fillcolor="#e8f0fe")
    summary = None
    if total > len(kept):
        summary = "summary"
        common = ", ".join(f"{name} x{count}" for name, count in left_out.most_common(4))
        graph.node(summary, _html([f"... {total - len(kept)} more operations not drawn", f"({common})"]),
                   shape="note", style="filled", fillcolor="#fff4d6")
    for node in kept:
        for position, (parent, constant) in enumerate(zip(node.next_functions, node.constant_inputs)):
            if parent is None:
                if constant is None:
                    continue
                const_id = node_id(("constant", id(node), position))
                graph.node(const_id, _html(shown(constant)), shape="plaintext")
                graph.edge(const_id, node_id(node))
                continue
            if isinstance(parent, Tensor) and parent not in ids:
                lines = [names[parent]] + _shape(parent.shape)
                label = _html(lines)
                if grads and done and walk.replay.tensors[parent].grad is not None:
                    whole = shown(walk.replay.tensors[parent].grad.data)
                    gradient = [f"d{output}/d{names[parent]} = {whole[0]}"] + whole[1:]
                    label = f"<{label[1:-1]}<BR/>{_html(gradient, GRADIENT_COLOUR)[1:-1]}>"
                    drawing.totals[parent] = node_id(parent)
                graph.node(node_id(parent), label, id=ids[parent], shape="box", style="filled", fillcolor="#e6f4ea")
            if isinstance(parent, Tensor) or parent in kept_set:
                flow = flows.get((node, position))
                arrow = edge(node_id(parent), node_id(node), parent, None if flow is None else flow.downstream)
                if arrow:
                    drawing.gradients[(node, position)] = arrow
            else:
                graph.edge(summary, node_id(node))
    graph.node(drawing.output_node, _html([output]), id=drawing.output_node, shape="doublecircle")
    seed = walk.backward[0].value if done else None
    drawing.seed = edge(node_id(tensor.grad_fn), drawing.output_node, tensor.grad_fn, seed)
    legend = []
    if values and walk:
        legend.append(f'<FONT COLOR="{VALUE_COLOUR}">green, above an arrow: the value it carries</FONT>')
    if grads and done:
        legend.append(f'<FONT COLOR="{GRADIENT_COLOUR}">red, under it (dashed, flowing back): '
                      f'the gradient d{html_escape.escape(output)}/d(that value)</FONT>')
    if legend:
        graph.attr(label="<" + "<BR/>".join(legend) + ">", labelloc="b", labeljust="l")
    return drawing

"""``tg.viz.html(tensor, path)``: one self-contained page that steps through forward, then backward.

The page holds the graph (drawn by :func:`tapegrad.viz.draw`, as an SVG) and the numbered steps of
:func:`tapegrad.explain`. It opens on the bare graph with its inputs; each step then reveals what it
computes and nothing more: a forward step the value it computes (green, on the graph and in the list of
steps), a backward step the gradients it passes on (red arrows; an input's whole gradient in its box once
all its uses are in), shown as downstream = upstream x local with the numbers. Buttons and keys (the
arrows, ``n``/``p``, Home/End) step through it. The graph fills the width and is never scaled below
16 px labels (a wide graph scrolls sideways instead). Everything is inside the one file: no network
access, nothing loaded from a CDN.
"""

from __future__ import annotations

import html as html_escape
import json
import os
import re
from pathlib import Path
from typing import Any

from ..serialization import write_atomically
from ..tensor import Tensor
from .draw import GRADIENT_COLOUR, VALUE_COLOUR, Drawing, VizError, build, shown
from .explain import Replay, Step

MIN_LABEL_PX = 16  # the smallest label a projector shows legibly at 1280x720

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tapegrad: __TITLE__</title>
<style>
  body { font-family: Helvetica, Arial, sans-serif; margin: 0.6em 1em; color: #202124; font-size: 20px; }
  header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.4em 1.2em; }
  h1 { font-size: 1.3em; margin: 0; }
  button { font-size: 1em; padding: 0.2em 0.8em; }
  #counter { font-weight: bold; }
  .hint { color: #5f6368; font-size: 0.8em; }
  #graph { width: 100%; overflow-x: auto; margin: 0.3em 0; }
  #graph svg { display: block; margin: 0 auto; }
  #graph .current ellipse, #graph .current polygon { stroke: #1a73e8; stroke-width: 4px; }
  #graph .fresh path { stroke-width: 3px; }
  #graph .fresh text { font-weight: bold; }
  #step { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 1.15em;
          border-left: 0.3em solid #1a73e8; padding: 0.2em 0.6em; min-height: 3em; }
  #phase { font-weight: bold; text-transform: uppercase; font-family: Helvetica, Arial, sans-serif; }
  #lines div { white-space: pre-wrap; }
  .numbers, .sum { color: __GRADIENT__; }
  .value { color: __VALUE__; }
  .caption { color: #5f6368; font-size: 0.8em; font-family: Helvetica, Arial, sans-serif; }
  #steps { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; list-style: none;
           padding-left: 0.6em; }
  #steps li { cursor: pointer; }
  #steps li.future { display: none; }
  #steps li.current { background: #e8f0fe; font-weight: bold; }
</style>
</head>
<body>
<header>
  <h1>__TITLE__</h1>
  <div id="controls">
    <button id="first" type="button">|&#x25C0; start</button>
    <button id="prev" type="button">&#x25C0; previous</button>
    <button id="next" type="button">next &#x25B6;</button>
    <button id="last" type="button">end &#x25B6;|</button>
  </div>
  <span id="counter"></span>
  <span class="hint">keys: &#x2192; or n next, &#x2190; or p previous, Home, End</span>
</header>
<div id="graph">__SVG__</div>
<div id="step"><div id="phase"></div><div id="lines"></div></div>
<ol id="steps"></ol>
<script>
"use strict";
const states = __STATES__;
const VALUE = "__VALUE__", GRADIENT = "__GRADIENT__", MIN_PX = __MIN_PX__;
let current = 0;
const svg = document.querySelector("#graph svg");

function coloured(element, kind) {
  // the parts of a graph element that show a value (green text) or a gradient (red text and arrows)
  const colour = (kind === "value" ? VALUE : GRADIENT).toLowerCase();
  return Array.from(element.querySelectorAll("text, path, polygon")).filter(function (part) {
    return (part.getAttribute("fill") || "").toLowerCase() === colour ||
           (part.getAttribute("stroke") || "").toLowerCase() === colour;
  });
}
const parts = states.map(function (state) {
  return state.reveal.map(function (item) {
    const element = document.getElementById(item[0]);
    return element ? {element: element, parts: coloured(element, item[1])} : null;
  }).filter(Boolean);
});

function fit() {
  // fill the width (and at most most of the height), but never below MIN_PX labels: wider graphs scroll
  const box = svg.viewBox.baseVal;
  const sizes = Array.from(svg.querySelectorAll("text")).map(function (t) {
    return parseFloat(t.getAttribute("font-size")) || 14;
  });
  const smallest = sizes.length ? Math.min.apply(null, sizes) : 14;
  const legible = (MIN_PX + 0.5) / smallest;
  const width = document.getElementById("graph").clientWidth / box.width;
  const height = 0.62 * window.innerHeight / box.height;
  const scale = Math.max(legible, Math.min(width, height));
  svg.style.width = (box.width * scale) + "px";
  svg.style.height = (box.height * scale) + "px";
}

const list = document.getElementById("steps");
states.forEach(function (state, index) {
  if (index === 0) { return; }
  const item = document.createElement("li");
  item.textContent = state.text;
  item.addEventListener("click", function () { show(index); });
  list.appendChild(item);
});

function show(index) {
  current = Math.max(0, Math.min(states.length - 1, index));
  const state = states[current];
  parts.forEach(function (revealed, j) {
    revealed.forEach(function (entry) {
      entry.parts.forEach(function (part) { part.style.visibility = j <= current ? "" : "hidden"; });
      entry.element.classList.toggle("fresh", j === current && current > 0);
    });
  });
  document.querySelectorAll("#graph .current").forEach(function (g) { g.classList.remove("current"); });
  if (state.node) { document.getElementById(state.node).classList.add("current"); }
  document.getElementById("phase").textContent = state.phase;
  const lines = document.getElementById("lines");
  lines.textContent = "";
  state.lines.forEach(function (line) {
    const div = document.createElement("div");
    div.className = line[0];
    div.textContent = line[1];
    lines.appendChild(div);
  });
  document.getElementById("counter").textContent = "step " + current + " of " + (states.length - 1);
  Array.from(list.children).forEach(function (item, i) {
    item.classList.toggle("current", i + 1 === current);
    item.classList.toggle("future", i + 1 > current);
  });
}
document.getElementById("first").addEventListener("click", function () { show(0); });
document.getElementById("prev").addEventListener("click", function () { show(current - 1); });
document.getElementById("next").addEventListener("click", function () { show(current + 1); });
document.getElementById("last").addEventListener("click", function () { show(states.length - 1); });
document.addEventListener("keydown", function (event) {
  if (event.altKey || event.ctrlKey || event.metaKey) { return; }
  const moves = {ArrowRight: current + 1, n: current + 1, " ": current + 1, PageDown: current + 1,
                 ArrowLeft: current - 1, p: current - 1, PageUp: current - 1,
                 Home: 0, End: states.length - 1};
  if (event.key in moves) { event.preventDefault(); show(moves[event.key]); }
});
window.addEventListener("resize", fit);
fit();
show(0);
</script>
</body>
</html>
"""


def _inline(value: Any) -> str:
    return " ".join(line.strip() for line in shown(value))


def _forward(step: Step, drawing: Drawing) -> dict[str, Any]:
    lines = [["value", step.text]]
    if step.value.size > 1 and _inline(step.value) not in step.text:  # a small tensor's entries, where known
        lines.append(["value", f"{step.name} = {_inline(step.value)}"])
    return {"phase": f"forward ({step.number})", "text": step.text, "node": drawing.nodes.get(step.node),
            "reveal": [[arrow, "value"] for arrow in drawing.values.get(step.node, [])], "lines": lines}


def _backward(step: Step, drawing: Drawing, seed: bool) -> dict[str, Any]:
    out = drawing.output
    if seed:
        reveal = [[drawing.seed, "gradient"]] if drawing.seed else []
        return {"phase": f"backward ({step.number})", "text": step.text, "node": drawing.output_node,
                "reveal": reveal,
                "lines": [["numbers", f"d{out}/d{out} = {_inline(step.value)}"],
                          ["caption", "the backward pass starts from the output: its gradient with respect "
                                      "to itself is 1"]]}
    reveal, lines = [], [["caption", "downstream = upstream \u00d7 local"]]
    for (node, _), arrow in drawing.gradients.items():
        if node is step.node:
            reveal.append([arrow, "gradient"])
    for flow in step.flows:
        upstream, downstream = _inline(flow.upstream), _inline(flow.downstream)
        lines.append(["formula", f"d{out}/d{flow.name} = d{out}/d{step.name} \u00d7 {flow.local}"])
        if flow.local_value is not None:
            lines.append(["numbers", f"{' ' * len(f'd{out}/d{flow.name}')} = {upstream} \u00d7 "
                                     f"{_inline(flow.local_value)} = {downstream}"])
        else:
            lines.append(["numbers", f"upstream d{out}/d{step.name} = {upstream}"])
            lines.append(["numbers", f"downstream d{out}/d{flow.name} = {downstream}"])
        if flow.total is not None:
            terms = " + ".join(_inline(c) for c in flow.contributions)
            lines.append(["sum", f"{flow.name} is used {flow.uses} times, so its gradients add up: "
                                 f"d{out}/d{flow.name} = {terms} = {_inline(flow.total)}"])
        if flow.source in drawing.totals and (flow.total is not None or flow.uses == 1):
            reveal.append([drawing.totals[flow.source], "gradient"])
    return {"phase": f"backward ({step.number})", "text": step.text, "node": drawing.nodes.get(step.node),
            "reveal": reveal, "lines": lines}


def _states(drawing: Drawing) -> list[dict[str, Any]]:
    """The page's states: the start (the graph and its inputs), then one per step."""
    walk = drawing.walk
    leaves = walk.replay.leaves
    inputs = ", ".join(f"{walk.replay.names[leaf]} = {_inline(walk.replay.tensors[leaf].data)}" for leaf in leaves)
    start = {"phase": "start", "text": "", "node": None,
             "reveal": [[arrow, "value"] for leaf in leaves for arrow in drawing.values.get(leaf, [])],
             "lines": [["value", f"inputs: {inputs}"],
                       ["caption", "next (\u2192 or n) computes the first value; the backward pass follows "
                                   "the forward pass"]]}
    states = [start] + [_forward(step, drawing) for step in walk.forward]
    states += [_backward(step, drawing, seed=i == 0) for i, step in enumerate(walk.backward)]
    return states


def html(tensor: Tensor, path: str | os.PathLike, max_nodes: int = 200) -> Path:
    """Write the step-through page for the graph that produced ``tensor`` to ``path`` (atomically).

    Run ``backward()`` first to step through the backward pass too; before it the page has the
    forward steps only.

    Returns:
        The path written.

    Raises:
        VizError: if ``tensor`` is not a Tensor or is a leaf, if the graph has more than
            ``max_nodes`` operations (use :func:`draw`, which summarises), or if Graphviz (the Python
            package or the ``dot`` program) is missing.
        OSError: if the file cannot be written.
    """
    if not isinstance(tensor, Tensor):
        raise VizError(f"html: expected a Tensor (the result of a computation), got {type(tensor).__name__}")
    if tensor.grad_fn is None:
        raise VizError("html: the tensor is a leaf; there are no steps to show")
    operations = len(Replay(tensor, max_nodes=0).order)  # names only: nothing is replayed
    if operations > max_nodes:
        raise VizError(f"html: the graph has {operations} operations, more than max_nodes={max_nodes}; "
                       "draw it with tg.viz.draw, which summarises large graphs")
    drawing = build(tensor, True, True, max_nodes)
    svg = drawing.graph.pipe(format="svg").decode("utf-8")
    svg = svg[svg.index("<svg"):]  # drop the XML prologue and doctype: the SVG sits inside the page
    svg = re.sub(r'^<svg width="[^"]*" height="[^"]*"', "<svg", svg)  # sized by the page's script
    states = json.dumps(_states(drawing), ensure_ascii=False).replace("</", "<\\/")
    title = html_escape.escape(f"how {drawing.output} is computed")
    page = (PAGE.replace("__TITLE__", title).replace("__VALUE__", VALUE_COLOUR)
            .replace("__GRADIENT__", GRADIENT_COLOUR).replace("__MIN_PX__", str(MIN_LABEL_PX))
            .replace("__SVG__", svg).replace("__STATES__", states))
    path = Path(path)
    write_atomically(path, page)
    return path


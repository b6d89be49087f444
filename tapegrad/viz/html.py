"""``tg.viz.html(tensor, path)``: one self-contained page to step through forward and backward.

The page holds the graph (an SVG drawn by Graphviz) and the numbered steps of :func:`explain`; the
"next" and "previous" buttons (or the arrow keys) walk through the forward pass and then the backward
pass, highlighting the current node and showing its value, or its gradient as upstream gradient x
local gradient. Everything is inside the one file: no network access, nothing loaded from a CDN.
"""

from __future__ import annotations

import html as html_escape
import json
import os
import tempfile
from pathlib import Path

from ..tensor import Tensor
from .draw import VizError, build
from .explain import Replay, walkthrough

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tapegrad: __TITLE__</title>
<style>
  body { font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #202124; }
  #controls { margin: 0.5em 0; }
  button { font-size: 1em; padding: 0.3em 1em; margin-right: 0.5em; }
  #step { font-family: monospace; font-size: 1.2em; margin: 0.8em 0; min-height: 1.5em; }
  #phase { font-weight: bold; text-transform: uppercase; margin-right: 0.5em; }
  #graph svg { max-width: 100%; height: auto; }
  .current ellipse, .current polygon { stroke: #d93025; stroke-width: 3px; fill: #fce8e6; }
  #steps li { font-family: monospace; }
  #steps li.current { background: #fce8e6; font-weight: bold; }
</style>
</head>
<body>
<h1>__TITLE__</h1>
<div id="controls">
  <button id="prev" type="button">previous</button>
  <button id="next" type="button">next</button>
  <span id="counter"></span>
  <span> (or the arrow keys)</span>
</div>
<div id="step"><span id="phase"></span><span id="text"></span></div>
<div id="graph">__SVG__</div>
<ol id="steps"></ol>
<script>
"use strict";
const steps = __STEPS__;
let current = 0;
const nodes = {};
document.querySelectorAll("#graph g.node").forEach(function (group) {
  const title = group.querySelector("title");
  if (title) { nodes[title.textContent] = group; }
});
const list = document.getElementById("steps");
steps.forEach(function (step, index) {
  const item = document.createElement("li");
  item.textContent = step.phase + ": " + step.text;
  item.addEventListener("click", function () { show(index); });
  list.appendChild(item);
});
function show(index) {
  current = Math.max(0, Math.min(steps.length - 1, index));
  const step = steps[current];
  document.getElementById("phase").textContent = step.phase;
  document.getElementById("text").textContent = step.text;
  document.getElementById("counter").textContent = "step " + (current + 1) + " of " + steps.length;
  Object.values(nodes).forEach(function (group) { group.classList.remove("current"); });
  if (step.node && nodes[step.node]) { nodes[step.node].classList.add("current"); }
  Array.from(list.children).forEach(function (item, i) { item.classList.toggle("current", i === current); });
}
document.getElementById("next").addEventListener("click", function () { show(current + 1); });
document.getElementById("prev").addEventListener("click", function () { show(current - 1); });
document.addEventListener("keydown", function (event) {
  if (event.key === "ArrowRight" || event.key === "n") { show(current + 1); }
  if (event.key === "ArrowLeft" || event.key === "p") { show(current - 1); }
});
show(0);
</script>
</body>
</html>
"""


def html(tensor: Tensor, path: str | os.PathLike, max_nodes: int = 200) -> Path:
    """Write the step-through page for the graph that produced ``tensor`` to ``path`` (atomically).

    Returns:
        The path written.

    Raises:
        VizError: if the graph has more than ``max_nodes`` operations (use :func:`draw`, which
            summarises), or Graphviz is missing.
    """
    if tensor.grad_fn is None:
        raise VizError("html: the tensor is a leaf; there are no steps to show")
    root_name = tensor.name or "z"
    replay = Replay(tensor, root_name, max_nodes=max_nodes)
    if not replay.tensors:
        raise VizError(f"html: the graph has {len(replay.order)} operations, more than max_nodes={max_nodes}; "
                       "draw it with tg.viz.draw, which summarises large graphs")
    graph, ids = build(tensor, True, True, max_nodes)
    svg = graph.pipe(format="svg").decode("utf-8")
    svg = svg[svg.index("<svg"):]  # drop the XML prologue and doctype: the SVG sits inside the page
    steps = [{"phase": step.phase, "text": step.text, "node": ids.get(step.node)}
             for step in walkthrough(tensor).steps]
    title = html_escape.escape(f"how {root_name} was computed")
    page = (PAGE.replace("__TITLE__", title).replace("__SVG__", svg)
            .replace("__STEPS__", json.dumps(steps).replace("</", "<\\/")))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(page)
    os.replace(temporary, path)
    return path

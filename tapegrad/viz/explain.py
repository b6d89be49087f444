"""``tg.explain(tensor)``: the forward and backward passes as numbered steps, in the lectures' notation.

For the lectures' ``f = (x + y) * z`` at ``x = -2, y = 5, z = -4`` after ``f.backward()``::

    forward
    (1) q := x + y = 3
    (2) f := q * z = -12
    backward
    (3) df/df := 1
    (2) df/dq := df/df * z = -4 and df/dz := df/df * q = 3; mul swaps the inputs: q's local gradient is z, ...
    (1) df/dx := df/dq * 1 = -4 and df/dy := df/dq * 1 = -4; add distributes: x and y each receive df/dq

The output is ``f`` and intermediate results q, r, s, ... unless the user named them (``tensor.name``).
A local derivative is the text its primitive declares, bracketed where a product needs it
(``df/dq * (1 - tanh(x)**2)``); a text that begins or ends with ``·`` is a matrix multiplied on that side
of the upstream gradient (matmul: ``df/dq · W^T`` and ``X^T · df/dq``, as the lectures write them).

The graph is replayed from its leaves and constants (which a node keeps even after backward), so the
explanation works before and after ``backward()`` and never changes the user's tensors. Every gradient
shown is computed by the engine: each total by a backward pass through the replay, and each use's share
by a backward pass through that one step. The graph is read through the Node's public view
(``next_functions``, ``constant_inputs``, ``primitive``, ``parameters``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..autograd import graph_nodes
from ..engine import Node, enable_grad
from ..errors import ArgumentError, DTypeError
from ..tensor import Tensor, apply


class Explanation(str):
    """The explanation's text; shown as it is (not quoted) when returned at an interactive prompt."""

    def __repr__(self) -> str:
        return str(self)


#: Arrays with at most this many entries (and at most 2 dimensions) are shown with their values.
SHOWN_ENTRIES = 16


def _entries(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_entries(v) for v in value) + "]"
    return f"{value:g}"


def _number(value: np.ndarray) -> str:
    """A value as the slides write it: ``-12`` for a scalar, ``[[1, 2], [3, 4]]`` for a small vector or
    matrix (at most 16 entries, at most 2 dimensions), and a shape and mean for anything larger."""
    value = np.asarray(value)
    if value.ndim == 0:
        return f"{value.item():g}"
    if value.size <= SHOWN_ENTRIES and value.ndim <= 2 and value.dtype.kind in "biuf":
        return _entries(value.tolist())
    if value.size == 0 or value.dtype.kind not in "biuf":
        return f"[shape {value.shape}]"
    return f"[shape {value.shape}, mean {np.mean(value).item():.4g}]"


def _constant(value: Any) -> str:
    array = np.asarray(value)
    return f"{float(array):g}" if array.size == 1 else f"const{array.shape}"


_CALLED = {"maximum": "max", "minimum": "min"}  # as the lectures write them: max(0, x)


def _expression(node: Node, names: list[str]) -> str:
    symbol = node.primitive.symbol
    if symbol and len(names) == 2:
        return f"{names[0]}{symbol}{names[1]}" if symbol == "**" else f"{names[0]} {symbol} {names[1]}"
    if symbol and len(names) == 1:
        # a letter (sigmoid's σ) is a function written with brackets; an operator ("-") is not
        return f"{symbol}({names[0]})" if symbol.isalpha() else f"{symbol}{names[0]}"
    if node.name == "getitem":
        return f"{names[0]}[...]"
    shown = [f"{k}={v}" for k, v in node.parameters.items() if k != "index" and v is not None and v is not False]
    return f"{_CALLED.get(node.name, node.name)}({', '.join(names + shown)})"


def _factor(text: str) -> str:
    """``text`` as a factor of a product: bracketed when it starts with a minus or is a sum or difference
    at its top level (``1 - tanh(x)**2`` becomes ``(1 - tanh(x)**2)``), as it is otherwise (``2y``)."""
    if text.startswith("-"):
        return f"({text})"
    depth = 0
    for position, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char in "+-" and depth == 0 and position > 0 and text[position - 1] not in "*/e(":
            return f"({text})"
    return text


#: Intermediate results are named as the lectures name them (``q = x + y; f = q * z``): q, r, s, ...
_INTERMEDIATES = "qrstuvw"


class Replay:
    """A graph rebuilt from the leaves and constants of the graph that computed ``tensor``.

    Names: the output is the tensor's ``name`` (or ``root_name``), else ``f``; a leaf is its ``name``, else
    ``x``, ``x2``, ...; an intermediate result is the ``name`` the user gave it (its Node's ``label``), else
    the next of q, r, s, t, u, v, w, q2, r2, ... No generated name repeats a given one, and no two
    Nodes or leaves share a name: a name given twice is kept by the output, else by the first leaf or
    step to use it, and the others get a number (``h``, ``h2``).

    Attributes:
        order: the original Nodes, inputs before the nodes that use them.
        names: the name of every Node and leaf.
        tensors: the replayed Tensor of every Node and leaf (gradients retained after :meth:`backward`).
        leaves: the original leaves, in order of first use.
        done: whether ``backward()`` already ran on the original graph.
    """

    def __init__(self, tensor: Tensor, root_name: str | None = None, max_nodes: int | None = None) -> None:
        self.root = tensor.grad_fn
        self.order = graph_nodes(self.root)
        self.names: dict[Any, str] = {}
        self.leaves: list[Tensor] = []
        seen: set[int] = set()
        for node in self.order:
            for parent in node.next_functions:
                if isinstance(parent, Tensor) and id(parent) not in seen:
                    seen.add(id(parent))
                    self.leaves.append(parent)
        output = root_name or tensor.name or self.root.label or None
        given = {output} | {leaf.name for leaf in self.leaves} | {node.label for node in self.order}
        used: set[str] = set()

        def claim(wanted: str | None, fallback: Any) -> str:
            """``wanted`` if it is free, else the next free name ``fallback`` yields."""
            if wanted and wanted not in used:
                used.add(wanted)
                return wanted
            if wanted:
                fallback = (f"{wanted}{n}" for n in itertools.count(2))
            for name in fallback:
                if name not in used and name not in given:
                    used.add(name)
                    return name
            raise AssertionError("unreachable: the fallbacks never end")

        self.names[self.root] = claim(output, (f"f{n}" if n > 1 else "f" for n in itertools.count(1)))
        for leaf in self.leaves:
            self.names[leaf] = claim(leaf.name, (f"x{n}" if n > 1 else "x" for n in itertools.count(1)))
        intermediates = (f"{letter}{n}" if n > 1 else letter for n in itertools.count(1) for letter in _INTERMEDIATES)
        for node in self.order:
            if node is not self.root:
                self.names[node] = claim(node.label, intermediates)
        self.output = self.names[self.root]
        self.done = self.root.released or any(leaf.grad is not None for leaf in self.leaves)
        self.tensors: dict[Any, Tensor] = {}
        if max_nodes is not None and len(self.order) > max_nodes:
            return  # too large to replay: names only
        self.tensors = {leaf: Tensor(leaf.data.copy(), requires_grad=True) for leaf in self.leaves}
        with enable_grad():
            for node in self.order:
                self.tensors[node] = apply(node.primitive, *self.arguments(node), **node.parameters)
                self.tensors[node].retain_grad()

    def arguments(self, node: Node) -> list[Any]:
        """The node's inputs in the replay: replayed tensors, and the node's constants."""
        return [self.tensors[p] if p is not None else c for p, c in zip(node.next_functions, node.constant_inputs)]

    def operands(self, node: Node) -> list[str]:
        """The node's inputs as names (numbers for scalar constants)."""
        return [self.names[p] if p is not None else _constant(c)
                for p, c in zip(node.next_functions, node.constant_inputs)]

    def backward(self) -> None:
        """Run backward through the replay: every replayed tensor then holds its total gradient."""
        out = self.tensors[self.root]
        out.backward(np.ones(out.shape, out.dtype))

    def shares(self, node: Node, seed: np.ndarray | None = None) -> list[np.ndarray | None]:
        """Per input of ``node``, the gradient that this use of the input receives (None for a
        constant), after :meth:`backward`: the engine's backward pass through this one step, run
        again on copies of its inputs from the gradient of its output (or from ``seed``). (A tensor
        used several times receives the sum of its shares, which the backward pass through the whole
        replay computes.)"""
        inputs = [Tensor(a.data.copy(), requires_grad=True) if isinstance(a, Tensor) else a
                  for a in self.arguments(node)]
        with enable_grad():
            out = apply(node.primitive, *inputs, **node.parameters)
        out.backward(self.tensors[node].grad.data if seed is None else seed)
        return [None if parent is None else (a.grad.data if a.grad is not None else np.zeros(a.shape, a.dtype))
                for parent, a in zip(node.next_functions, inputs)]

    def local_values(self, node: Node) -> list[np.ndarray | None]:
        """Per input of ``node``, its local derivative as numbers where it is a number per entry (None
        elsewhere, and for constants): d output / d input when the output is a single value, and entry
        by entry for an elementwise operation on an input of the output's shape. Computed by the
        engine, as :meth:`shares` with a gradient of ones."""
        out = self.tensors[node]
        if out.size != 1 and not node.primitive.elementwise:
            return [None] * len(node.next_functions)
        ones = np.ones(out.shape, out.dtype)
        return [None if share is None or (out.size != 1 and share.shape != out.shape) else share
                for share in self.shares(node, ones)]


@dataclass(frozen=True)
class Flow:
    """One use of one input in a backward step: the chain rule, upstream x local = downstream.

    Attributes:
        source: the input's key in the graph (its Node, or the leaf Tensor); ``name`` its name.
        upstream: the gradient of the step's output (what flows in from above).
        local: the text of the local derivative (``2y``, ``1 - tanh(x)**2``), as the primitive declares it;
            for a matrix product, the matrix the upstream gradient is multiplied by (``x^T``, ``W^T``).
        local_value: the local derivative as numbers, where it is a number per entry (see
            :meth:`Replay.local_values`); else None.
        downstream: the gradient this use of the input receives.
        uses: how many times the input is used in the whole graph.
        total: when this is the last of several uses to be handled, the sum of all their downstream
            gradients (the input's whole gradient); else None.
        contributions: with ``total``, the downstream gradient of each use, in the order handled.
        formula: the right-hand side as explain writes it: ``df/dq * (1 - tanh(x)**2)`` (an entry-by-entry
            product), or for a matrix product ``x^T · df/dq`` and ``df/dq · W^T``.
        side: where ``local`` stands in the product: ``""`` (entry by entry, ``upstream * local``),
            ``"left"`` (``local · upstream``) or ``"right"`` (``upstream · local``).
    """

    source: Any
    name: str
    upstream: np.ndarray
    local: str
    local_value: np.ndarray | None
    downstream: np.ndarray
    uses: int
    total: np.ndarray | None = None
    contributions: tuple[np.ndarray, ...] = ()
    formula: str = ""
    side: str = ""


@dataclass(frozen=True)
class Step:
    """One numbered step of an explanation.

    Attributes:
        number: the lectures' number: forward steps count up from 1; a backward step has the number of
            the forward step it reverses (the seed, ``df/df := 1``, the number after the last one).
        phase: ``"forward"`` or ``"backward"``.
        node: the graph Node of the step (for the seed, the output's Node).
        name: the name of what the step computes (forward: the node's; backward: the node's, whose
            gradient is passed on).
        text: the line :func:`explain` prints for it.
        value: forward: the value computed. backward: the gradient of ``name`` passed on (upstream).
        expression: forward: the right-hand side as text (``x1 + x2'``); backward: empty.
        flows: backward: one :class:`Flow` per input that receives a gradient; forward: empty.
        note: backward: the gate pattern the step shows, as the lectures name them (``add distributes:
            x and y each receive df/dq``, ``max routes the gradient to x ...``); empty where there is none.
    """

    number: int
    phase: str
    node: Any
    name: str
    text: str
    value: np.ndarray
    expression: str = ""
    flows: tuple[Flow, ...] = ()
    note: str = ""


def _scalar(value: Any) -> float | None:
    array = np.asarray(value)
    return array.item() if array.size == 1 and array.dtype.kind in "biuf" else None


def _gate(node: Node, names: list[str], values: list[Any], upstream: str) -> str:
    """The gate pattern of a backward step, as the lectures describe them: add distributes, mul swaps,
    max routes (copy adds is said where a variable's gradients are added up)."""
    tensors = [p is not None for p in node.next_functions]
    kind = node.name
    if kind == "add" and tensors == [True, True]:
        return f"add distributes: {names[0]} and {names[1]} each receive {upstream}"
    if kind == "multiply" and tensors == [True, True]:
        return f"mul swaps the inputs: {names[0]}'s local gradient is {names[1]}, {names[1]}'s is {names[0]}"
    if kind in ("maximum", "minimum"):
        gate, larger = ("max", "larger") if kind == "maximum" else ("min", "smaller")
        a, b = (_scalar(v) for v in values[:2])
        if a is None or b is None:
            return f"{gate} routes the gradient of each entry to the {larger} input there (a tie shares it)"
        if a == b:
            return f"{gate} routes: {names[0]} = {names[1]} = {a:g}, so they share the gradient equally"
        first_wins = (a > b) == (kind == "maximum")
        winner, loser = (names[0], names[1]) if first_wins else (names[1], names[0])
        relation = ">" if a > b else "<"
        return (f"{gate} routes the gradient to {winner}, the {larger} input ({names[0]} = {a:g} {relation} "
                f"{names[1]} = {b:g}); {loser} receives 0")
    if kind in ("max", "min"):
        largest = "largest" if kind == "max" else "smallest"
        return f"{kind} routes the gradient to the {largest} entry of {names[0]} (a tie shares it)"
    if kind == "relu":
        a = _scalar(values[0])
        if a is None:
            return f"relu routes: the gradient passes where {names[0]} > 0 and stops elsewhere"
        return (f"relu passes the gradient on, as {names[0]} = {a:g} > 0" if a > 0 else
                f"relu stops the gradient, as {names[0]} = {a:g} <= 0")
    return ""


def _product(upstream: str, local: str) -> tuple[str, str, str]:
    """The chain rule's product as written: ``(formula, local, side)``. A local derivative declared with a
    leading or trailing ``·`` is a matrix multiplied on that side (``· W^T``: ``dY · W^T``; ``X^T ·``:
    ``X^T · dY``); any other is a factor entry by entry (``dY * (1 - tanh(x)**2)``)."""
    if local.startswith("·"):
        matrix = local[1:].strip()
        return f"{upstream} · {matrix}", matrix, "right"
    if local.endswith("·"):
        matrix = local[:-1].strip()
        return f"{matrix} · {upstream}", matrix, "left"
    return f"{upstream} * {_factor(local)}", local, ""


@dataclass(frozen=True)
class Walkthrough:
    """The explanation of a computation as data: :func:`explain` prints it, ``tg.viz.html`` steps
    through it, ``tg.viz.draw`` labels the graph with it.

    Attributes:
        replay: the replayed graph (names, values; gradients once backward ran).
        output: the name of the output.
        forward: the forward steps, in order; backward: the backward steps, the seed first (empty
            before ``backward()`` ran on the original graph).
    """

    replay: Replay
    output: str
    forward: tuple[Step, ...]
    backward: tuple[Step, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every step, forward then backward."""
        return self.forward + self.backward

    def text(self) -> str:
        """The explanation as :func:`explain` prints it."""
        lines = ["forward"] + [step.text for step in self.forward]
        if self.backward:
            lines += ["backward"] + [step.text for step in self.backward]
        return "\n".join(lines)


def walkthrough(tensor: Tensor) -> Walkthrough:
    """The steps that computed ``tensor`` and, once ``backward()`` has run, the chain rule applied to
    each of them, as data (see :class:`Walkthrough`). Names as :class:`Replay` gives them.

    Returns:
        The :class:`Walkthrough` (its ``backward`` empty before ``backward()`` ran).

    Raises:
        DTypeError: if ``tensor`` is not a Tensor. ArgumentError: if it is a leaf (nothing was computed).
    """
    if not isinstance(tensor, Tensor):
        raise DTypeError(f"explain: expected a Tensor (the result of a computation to explain), got "
                         f"{type(tensor).__name__}")
    if tensor.grad_fn is None:
        raise ArgumentError(f"explain: {tensor.name or 'the tensor'} is a leaf (nothing was computed)")
    graph = Replay(tensor)
    root_name = graph.output
    order, names, replay = graph.order, graph.names, graph.tensors
    forward = []
    step = {}
    for number, node in enumerate(order, start=1):
        step[node] = number
        expression = _expression(node, graph.operands(node))
        value = replay[node].data
        forward.append(Step(number, "forward", node, names[node],
                            f"({number}) {names[node]} := {expression} = {_number(value)}", value, expression))
    if not graph.done:
        return Walkthrough(graph, root_name, tuple(forward), ())
    graph.backward()
    out = replay[tensor.grad_fn]
    d = f"d{root_name}"
    every = "" if out.size == 1 else " (for every entry)"
    backward = [Step(len(order) + 1, "backward", tensor.grad_fn, root_name,
                     f"({len(order) + 1}) {d}/d{root_name} := 1{every}", out.grad.data)]
    uses = {key: 0 for key in replay}
    for node in order:
        for parent in node.next_functions:
            if parent is not None:
                uses[parent] += 1
    seen: dict[Any, list[np.ndarray]] = {key: [] for key in replay}
    for node in reversed(order):
        values = [v.data if isinstance(v, Tensor) else v for v in graph.arguments(node)]
        operands = graph.operands(node)
        upstream = replay[node].grad.data
        upstream_name = f"{d}/d{names[node]}"
        parts, flows = [], []
        local_values = graph.local_values(node)
        for position, (parent, contribution) in enumerate(zip(node.next_functions, graph.shares(node))):
            if parent is None:
                continue
            seen[parent].append(contribution)
            formula, local, side = _product(upstream_name, node.primitive.derivative_text(position, operands, values))
            text = f"{d}/d{names[parent]} := {formula} = {_number(contribution)}"
            total, contributions = None, ()
            if len(seen[parent]) == uses[parent] > 1:
                total, contributions = replay[parent].grad.data, tuple(seen[parent])
                terms = " + ".join(_number(c) for c in contributions)
                text += (f"; copy adds: {names[parent]} is used {uses[parent]} times, so its gradients add up: "
                         f"{d}/d{names[parent]} := {terms} = {_number(total)}")
            parts.append(text)
            flows.append(Flow(parent, names[parent], upstream, local, local_values[position], contribution,
                              uses[parent], total, contributions, formula, side))
        note = _gate(node, operands, values, upstream_name)
        text = f"({step[node]}) " + " and ".join(parts) + (f"; {note}" if note else "")
        backward.append(Step(step[node], "backward", node, names[node], text, upstream, flows=tuple(flows),
                             note=note))
    return Walkthrough(graph, root_name, tuple(forward), tuple(backward))


def explain(tensor: Tensor) -> Explanation:
    """The steps that computed ``tensor`` (forward) and, once ``backward()`` has run, the chain rule
    applied to each of them, with upstream gradient x local gradient = downstream gradient.

    The output is called ``f`` unless it has a ``name``; intermediate results are called q, r, s, ...
    unless they have one (``q.name = "q"``). Scalars, vectors and matrices of at most 16 entries show
    their values; larger tensors their shape and mean. Each backward step says which gate pattern it
    shows (add distributes, mul swaps, max routes), and the step that completes the gradient of a
    variable used several times says that the contributions are added (copy adds).

    Returns:
        The text (an ``Explanation``, a ``str`` that shows unquoted at an interactive prompt).

    Raises:
        DTypeError: if ``tensor`` is not a Tensor.
    """
    if isinstance(tensor, Tensor) and tensor.grad_fn is None:
        return Explanation(f"{tensor.name or 'f'} is a leaf: {_number(tensor.data)} (nothing was computed)")
    return Explanation(walkthrough(tensor).text())

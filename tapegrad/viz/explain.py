"""``tg.explain(tensor)``: the forward and backward passes as numbered steps, in the lectures' notation.

For ``z = (x1 + 3*x2)**2`` at ``x1 = 1, x2 = 2`` after ``z.backward()``::

    forward
    (1) x2' := 3 * x2 = 6
    (2) y := x1 + x2' = 7
    (3) z := y**2 = 49
    backward
    (4) dz/dz := 1
    (3) dz/dy := dz/dz * 2y = 14
    (2) dz/dx1 := dz/dy * 1 = 14 and dz/dx2' := dz/dy * 1 = 14
    (1) dz/dx2 := dz/dx2' * 3 = 42

The graph is replayed from its leaves and constants (which a node keeps even after backward), so the
explanation works before and after ``backward()`` and never changes the user's tensors. Every gradient
shown is computed by the engine: each total by a backward pass through the replay, and each use's share
by a backward pass through that one step. The graph is read through the Node's public view
(``next_functions``, ``constant_inputs``, ``primitive``, ``parameters``).
"""

from __future__ import annotations

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


def _number(value: np.ndarray) -> str:
    if value.size == 1:
        return f"{value.reshape(-1)[0].item():g}"
    return f"[shape {value.shape}, mean {np.mean(value).item():.4g}]"


def _constant(value: Any) -> str:
    array = np.asarray(value)
    return f"{float(array):g}" if array.size == 1 else f"const{array.shape}"


def _expression(node: Node, names: list[str]) -> str:
    symbol = node.primitive.symbol
    if symbol and len(names) == 2:
        return f"{names[0]}{symbol}{names[1]}" if symbol == "**" else f"{names[0]} {symbol} {names[1]}"
    if symbol and len(names) == 1:
        return f"{symbol}{names[0]}"
    if node.name == "getitem":
        return f"{names[0]}[...]"
    shown = [f"{k}={v}" for k, v in node.parameters.items() if k != "index" and v is not None and v is not False]
    return f"{node.name}({', '.join(names + shown)})"


class Replay:
    """A graph rebuilt from the leaves and constants of the graph that computed ``tensor``.

    Attributes:
        order: the original Nodes, inputs before the nodes that use them.
        names: a short name for every Node and leaf (the user's ``name`` where given).
        tensors: the replayed Tensor of every Node and leaf (gradients retained after :meth:`backward`).
        leaves: the original leaves, in order of first use.
        done: whether ``backward()`` already ran on the original graph.
    """

    def __init__(self, tensor: Tensor, root_name: str = "z", max_nodes: int | None = None) -> None:
        self.root = tensor.grad_fn
        self.order = graph_nodes(self.root)
        self.names: dict[Any, str] = {}
        self.leaves: list[Tensor] = []
        used: dict[str, int] = {}

        def fresh(base: str) -> str:
            used[base] = used.get(base, 0) + 1
            return base if used[base] == 1 else f"{base}{used[base]}"

        for node in self.order:
            for parent in node.next_functions:
                if isinstance(parent, Tensor) and parent not in self.names:
                    self.names[parent] = parent.name or fresh("x")
                    self.leaves.append(parent)
        for name in list(self.names.values()) + [root_name]:
            used[name] = max(used.get(name, 0), 1)  # generated names never repeat a given one
        for node in self.order:
            sources = [p for p in node.next_functions if p is not None]
            if node is self.root:
                self.names[node] = root_name
            elif len(sources) == 1 and "'" not in self.names[sources[0]]:
                self.names[node] = self.names[sources[0]] + "'"  # the lectures' x2' for 3 * x2
            else:
                self.names[node] = fresh("y")
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
        local: the text of the local derivative (``2y``, ``1 - tanh(x)**2``), as the primitive declares it.
        local_value: the local derivative as numbers, where it is a number per entry (see
            :meth:`Replay.local_values`); else None.
        downstream: the gradient this use of the input receives.
        uses: how many times the input is used in the whole graph.
        total: when this is the last of several uses to be handled, the sum of all their downstream
            gradients (the input's whole gradient); else None.
        contributions: with ``total``, the downstream gradient of each use, in the order handled.
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


@dataclass(frozen=True)
class Step:
    """One numbered step of an explanation.

    Attributes:
        number: the lectures' number: forward steps count up from 1; a backward step has the number of
            the forward step it reverses (the seed, ``dz/dz := 1``, the number after the last one).
        phase: ``"forward"`` or ``"backward"``.
        node: the graph Node of the step (for the seed, the output's Node).
        name: the name of what the step computes (forward: the node's; backward: the node's, whose
            gradient is passed on).
        text: the line :func:`explain` prints for it.
        value: forward: the value computed. backward: the gradient of ``name`` passed on (upstream).
        expression: forward: the right-hand side as text (``x1 + x2'``); backward: empty.
        flows: backward: one :class:`Flow` per input that receives a gradient; forward: empty.
    """

    number: int
    phase: str
    node: Any
    name: str
    text: str
    value: np.ndarray
    expression: str = ""
    flows: tuple[Flow, ...] = ()


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
    each of them, as data (see :class:`Walkthrough`).

    Raises:
        DTypeError: if ``tensor`` is not a Tensor. ArgumentError: if it is a leaf (nothing was computed).
    """
    if not isinstance(tensor, Tensor):
        raise DTypeError(f"explain: expected a Tensor (the result of a computation to explain), got "
                         f"{type(tensor).__name__}")
    if tensor.grad_fn is None:
        raise ArgumentError(f"explain: {tensor.name or 'the tensor'} is a leaf (nothing was computed)")
    root_name = tensor.name or "z"
    graph = Replay(tensor, root_name)
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
        parts, flows = [], []
        local_values = graph.local_values(node)
        for position, (parent, contribution) in enumerate(zip(node.next_functions, graph.shares(node))):
            if parent is None:
                continue
            seen[parent].append(contribution)
            local = node.primitive.derivative_text(position, operands, values)
            text = f"{d}/d{names[parent]} := {d}/d{names[node]} * {local}"
            text += f" = {_number(contribution)}"
            total, contributions = None, ()
            if len(seen[parent]) == uses[parent] > 1:
                total, contributions = replay[parent].grad.data, tuple(seen[parent])
                terms = " + ".join(_number(c) for c in contributions)
                text += (f"; {names[parent]} is used {uses[parent]} times, so the gradients add up: "
                         f"{d}/d{names[parent]} := {terms} = {_number(total)}")
            parts.append(text)
            flows.append(Flow(parent, names[parent], upstream, local, local_values[position], contribution,
                              uses[parent], total, contributions))
        backward.append(Step(step[node], "backward", node, names[node], f"({step[node]}) " + " and ".join(parts),
                             upstream, flows=tuple(flows)))
    return Walkthrough(graph, root_name, tuple(forward), tuple(backward))


def explain(tensor: Tensor) -> Explanation:
    """The steps that computed ``tensor`` (forward) and, once ``backward()`` has run, the chain rule
    applied to each of them, with upstream gradient x local gradient = downstream gradient.

    Scalars show numbers; tensors show shapes and their mean. When a variable is used several times,
    the backward step that completes its gradient says that the contributions are added.

    Returns:
        The text (an ``Explanation``, a ``str`` that shows unquoted at an interactive prompt).

    Raises:
        DTypeError: if ``tensor`` is not a Tensor.
    """
    if isinstance(tensor, Tensor) and tensor.grad_fn is None:
        return Explanation(f"{tensor.name or 'z'} is a leaf: {_number(tensor.data)} (nothing was computed)")
    return Explanation(walkthrough(tensor).text())

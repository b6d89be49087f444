"""The backward engine: one pass over the graph in reverse topological order.

1. Start from the outputs with their gradients. Every Node is numbered when it is made, and a Node
   is always made before the Nodes that consume it. Take the Node with the largest number among
   those holding a gradient: every Node that consumes it was made later, so was handled already,
   and every gradient flowing into it has been summed.
2. Run its VJP rules once, send each result to the input's Node (or leaf), where several uses add
   up, and release what the Node saved.
3. Return the summed gradients of the leaves (and of any Node asked for).

The walk is iterative (no recursion limit: a chain of a million nodes works) and visits each Node
once, however many paths lead from the output to it; the Nodes waiting for their turn sit in a heap.
With ``inputs`` given, a first pass counts consumers to find the part of the graph that leads to them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Hashable, Sequence
from heapq import heapify, heappop, heappush
from typing import Any

import numpy as np

from ..errors import AnomalyError, ArgumentError, GraphReleasedError, InPlaceError
from ..ops import NUMPY, Namespace
from ..ops.shape import sum_to_forward
from .batching import BATCHING
from .modes import SPECIAL_MODES, is_grad_enabled, switch_grad_mode
from .modes import state as grad_state
from .node import ALL_PARENTS, CLOCK, Node, changed_by, changed_since, version_of


def count_consumers(roots: Sequence[Node]) -> dict[Node, int]:
    """For every Node reachable from ``roots``: how many edges from reachable Nodes lead into it."""
    consumers: dict[Node, int] = {}
    stack = deque()  # not a list: one popped to empty and refilled, as in a chain, reallocates every time
    for root in roots:
        if root not in consumers:
            consumers[root] = 0
            stack.append(root)
    while stack:
        node = stack.pop()
        for parent in node.parents:
            if parent.__class__ is Node:
                count = consumers.get(parent)
                if count is None:
                    consumers[parent] = 1
                    stack.append(parent)
                else:
                    consumers[parent] = count + 1
    return consumers


def topological_order(consumers: dict[Node, int]) -> list[Node]:
    """The Nodes of ``consumers`` ordered so that each comes before the Nodes it consumes (outputs first)."""
    remaining = dict(consumers)
    order = []
    ready = [node for node, count in remaining.items() if count == 0]
    while ready:
        node = ready.pop()
        order.append(node)
        for parent in node.parents:
            if type(parent) is Node:
                remaining[parent] -= 1
                if remaining[parent] == 0:
                    ready.append(parent)
    return order


def graph_nodes(roots: Node | Sequence[Node]) -> list[Node]:
    """Every Node that ``roots`` were computed from (roots included), in the order they ran: each
    after the Nodes that produced its inputs (reversed, the order of a backward pass). Follows
    :attr:`Node.next_functions`; iterative, so a chain of a million Nodes works.

    Args:
        roots: a graph Node, or several, e.g. ``loss.grad_fn``.

    Returns:
        The Nodes, each once.

    Raises:
        ArgumentError: if ``roots`` holds something other than a Node (a leaf tensor has no Node:
            its ``grad_fn`` is None).
    """
    roots = list(roots) if isinstance(roots, (list, tuple)) else [roots]
    for position, root in enumerate(roots):
        if root.__class__ is not Node:
            raise ArgumentError(f"graph_nodes: roots[{position}] is a {type(root).__name__}; expected a graph "
                                "Node such as tensor.grad_fn (None for a leaf, which has no graph)")
    return list(reversed(topological_order(count_consumers(roots))))


def _leading_to(targets: Collection[Hashable], consumers: dict[Node, int]) -> set:
    """The Nodes and leaves from which some target can be reached (targets included)."""
    useful = set(targets)
    for node in reversed(topological_order(consumers)):
        if node not in useful and any(p in useful for p in node.parents if p is not None):
            useful.add(node)
    return useful


def _in_place_error(node: Node, position: int) -> InPlaceError:
    arrays = node.saved_arrays()
    array = arrays[position]
    if node.prim.saved_name:  # a primitive whose Nodes keep values other than their inputs
        what = node.prim.saved_name
    elif node.ans is not None and position == len(arrays) - 1:
        what = "its output"
    else:
        what = f"its input {position}"
    return InPlaceError(
        f"backward through '{node.name}': {what} (shape {array.shape}, {array.dtype}) was changed in "
        f"place after '{node.name}' saved it (it is now at version {version_of(array)}), by "
        f"{changed_by(array)}. '{node.name}' needs the original value for its gradient; use an "
        "out-of-place operation (e.g. 'y = y + 1' instead of 'y += 1') or .clone() before changing it.")


def _check_gradient(node: Node, position: int, incoming: Any, gradient: Any) -> None:
    """Under ``detect_anomaly``: a gradient with NaN or inf that the incoming gradient did not have."""
    values = np.asarray(gradient)
    if values.dtype.kind not in "fc" or np.all(np.isfinite(values)):
        return
    before = np.asarray(incoming)
    if not np.all(np.isfinite(before)):
        return  # passed on, already reported where it arose
    created = f" (created at {node.where})" if node.where else ""
    message = (f"backward of '{node.name}'{created} produced {'NaN' if np.isnan(values).any() else 'inf'} "
               f"in the gradient of its input {position} from a finite incoming gradient.")
    bad = ~np.isfinite(values)
    try:
        zero = np.broadcast_to(before == 0, values.shape)
    except ValueError:  # the gradient's shape is not the output's (a reduction, a product): no entrywise match
        zero = np.zeros(values.shape, dtype=bool)
    if np.any(bad & zero):
        message += (" The incoming gradient is 0 exactly there: this is the where()/mask trap. The branch that "
                    "where() (or a mask) discarded computed NaN or inf, and 0 * NaN = NaN. Compute the discarded "
                    "branch on safe values, e.g. where(x > 0, sqrt(where(x > 0, x, 1)), 0).")
    if node.prim.expects_says_nonfinite:  # where the primitive's derivative does not exist, in its own words
        message += f" '{node.name}' expects {node.prim.expects}."
    raise AnomalyError(message)


def _released_error(node: Node) -> GraphReleasedError:
    return GraphReleasedError(
        f"backward through '{node.name}' a second time: its saved values were freed by the first "
        "backward. Pass retain_graph=True to the first backward() (or autograd.grad) to keep them.")


def _rule_inputs(node: Node, xp: Namespace, create_graph: bool) -> tuple[tuple, Any]:
    """What ``node``'s rules receive as inputs and ``ans``.

    The saved arrays; or, where the rules read only shapes, the parents standing in for the inputs;
    or, when the backward pass is recorded, Tensors on the graph (and ``ans`` recomputed from them,
    so that it too is differentiable).
    """
    saved, parents, prim = node.inputs, node.parents, node.prim
    if not prim.saves_inputs:
        inputs = parents if saved is ALL_PARENTS else \
            tuple([value if parent is None else parent for value, parent in zip(saved, parents)])
    elif create_graph:
        inputs = tuple([xp.reattach(value, parent) for value, parent in zip(saved, parents)])
    else:
        inputs = saved
    if create_graph and prim.saves_ans:
        return inputs, xp.call(prim, *inputs, **node.params)
    return inputs, node.ans


def _match_input(g: Any, parent: Any, xp: Namespace, recorded: bool) -> Any:
    """``g`` summed over the axes broadcasting added and cast to the dtype of ``parent``'s value (a Node's
    or a leaf Tensor's shape: inside tg.vmap, one example's, so that the sum is over an example's axes; its
    real part for a real value: the gradient of a real input of a complex result)."""
    if g.shape != parent.shape:
        g = xp.sum_to(g, shape=parent.shape) if recorded else sum_to_forward(g, parent.shape)
    if g.dtype is not parent.dtype and g.dtype != parent.dtype:  # dtypes are mostly singletons
        if g.dtype.kind == "c" and parent.dtype.kind != "c":  # a real input of a complex result: dL/dRe
            g = xp.real(g)
            if g.dtype == parent.dtype:
                return g
        g = xp.astype(g, dtype=parent.dtype)
    return g


def _observe_node(node: Node, grad: Any, targets: Collection[Hashable] | None, wanted: set | None,
                  results: dict, run_hooks: Callable[[list, Any], Any] | None) -> Any:
    """Run ``node``'s hooks on its summed gradient and keep it when it is asked for.

    Returns:
        The gradient to propagate through the node's rules, or None when no wanted input lies
        behind the node.
    """
    if node.hooks:
        grad = run_hooks(node.hooks, grad)
    if node.retained is not None or (targets is not None and node in targets):
        results[node] = grad
    return grad if wanted is None or node in wanted else None


def run_backward(roots: Sequence[Any], root_grads: Sequence[Any], *,
                 targets: Collection[Hashable] | None = None, retain_graph: bool = False,
                 create_graph: bool = False, graph_namespace: Namespace | None = None,
                 run_hooks: Callable[[list, Any], Any] | None = None) -> dict:
    """Propagate ``root_grads`` from ``roots`` back through the graph.

    Args:
        roots: the Nodes (or leaf Tensors) of the outputs.
        root_grads: the gradient of each output, aligned with ``roots``.
        targets: the Nodes and leaves whose gradients are wanted; None for every leaf reached. With
            targets, only the part of the graph that leads to them is evaluated.
        retain_graph: keep the saved values so that backward can run through the graph again.
        create_graph: record the backward pass itself (for higher-order derivatives); requires
            ``graph_namespace``.
        graph_namespace: the namespace whose functions record primitives on the graph.
        run_hooks: ``run_hooks(hooks, grad)`` applies a Node's ``register_hook`` functions to its
            summed gradient (required when a Node has hooks).

    Returns:
        A dict from each leaf (or target) reached to its summed gradient, plus every Node with a
        ``retained`` Tensor. Leaves that no gradient reached are absent.

    Raises:
        GraphReleasedError: if a Node's saved values were already freed.
        InPlaceError: if a value a Node saved was changed in place since.
    """
    # Inside tg.vmap the rules run on batched values (the gradients, and what the Nodes recorded there
    # saved), so through the graph namespace, whose operations run the batching rules; recorded only
    # with create_graph.
    batching = bool(SPECIAL_MODES.count and BATCHING.levels)
    recorded = create_graph or batching
    xp = graph_namespace if recorded else NUMPY
    # Nodes that have a gradient and wait for their rules, latest made first: by the time a Node
    # comes out, every Node that consumes it (all made later) has sent its gradient.
    if len(roots) == 1 and targets is None:  # the usual loss.backward(): no heap to start with
        wanted, grads = None, {roots[0]: root_grads[0]}
        waiting, first = [], roots[0] if roots[0].__class__ is Node else None
    else:
        nodes = [r for r in roots if type(r) is Node]
        wanted = _leading_to(targets, count_consumers(nodes)) if targets is not None else None
        grads = {}
        for root, grad in zip(roots, root_grads):
            grads[root] = grads[root] + grad if root in grads else grad
        waiting, first = [(-node.sequence, node) for node in dict.fromkeys(nodes)], None
        heapify(waiting)
    results: dict = {}
    anomaly = SPECIAL_MODES.count and grad_state.anomaly and not batching
    observe = targets is not None or wanted is not None  # otherwise every rule runs for every input
    pop_grad, get_grad = grads.pop, grads.get
    # A recorded backward pass needs recording on. The fast path's rules run on arrays and record
    # nothing; the user code it may call (a Function's backward, hooks) turns recording off itself.
    turned_on = create_graph and not is_grad_enabled()
    turned_off = batching and not create_graph and is_grad_enabled()
    if turned_on or turned_off:
        switch_grad_mode(turned_on)
    try:
        following = first  # the next Node, when it is known to be the latest made of those waiting
        while True:
            if following is not None:  # in a chain, always: no trip through the heap
                node, following = following, None
            elif waiting:
                node = heappop(waiting)[1]
            else:
                break
            grad = pop_grad(node, None)
            if grad is not None and (node.extras is not None or observe):
                grad = _observe_node(node, grad, targets, wanted, results, run_hooks)
            if grad is None:  # no wanted input lies behind it (autograd.grad with inputs)
                if not retain_graph:
                    node.inputs = node.ans = None
                continue
            if node.inputs is None:
                raise _released_error(node)
            if CLOCK.now > node.sequence:  # something was changed in place after the node was made
                changed = changed_since(node.saved_arrays(), node.sequence)
                if changed is not None:
                    raise _in_place_error(node, changed)
            parents = node.parents
            prim = node.prim
            if create_graph:
                inputs, ans = _rule_inputs(node, xp, create_graph)
            elif prim.saves_inputs:  # the fast path: the saved arrays as they are
                inputs, ans = node.inputs, node.ans
            elif node.inputs is ALL_PARENTS:  # rules that read only shapes get the parents
                inputs, ans = parents, node.ans
            else:
                inputs, ans = _rule_inputs(node, xp, create_graph)
            rules = prim.vjps if not prim.variadic else prim.vjp_rules(len(parents))
            params = node.params
            arguments = (xp, grad, ans, *inputs)  # what every rule of the node receives
            # Only between several inputs can shapes broadcast or dtypes promote (a rule of a
            # one-input primitive returns its gradient in the input's shape and dtype).
            several = not node.exact and len(parents) > 1
            # One computation for every input's gradient (a recurrence run backward once), or a rule each.
            joint = None if prim.vjp_all is None else (
                prim.vjp_all(*arguments, **params) if params else prim.vjp_all(*arguments))
            position = -1
            for parent in parents:
                position += 1
                if parent is None or (wanted is not None and parent not in wanted):
                    continue
                # The chain rule: this input's gradient is the VJP of the node's output gradient.
                if joint is not None:
                    g = joint[position]
                else:
                    g = rules[position](*arguments, **params) if params else rules[position](*arguments)
                if several:
                    g = _match_input(g, parent, xp, recorded)
                if anomaly:
                    _check_gradient(node, position, grad, g)
                previous = get_grad(parent)
                if previous is not None:
                    grads[parent] = previous + g  # several uses add up
                else:
                    grads[parent] = g
                    if parent.__class__ is Node:  # it now waits for its turn
                        if following is None:
                            following = parent
                        else:
                            heappush(waiting, (-parent.sequence, parent))
            if following is not None and waiting and waiting[0][0] < -following.sequence:
                heappush(waiting, (-following.sequence, following))  # a Node made later waits: it goes first
                following = None
            if not retain_graph:
                node.inputs = node.ans = None  # release what the node saved
    finally:
        if turned_on or turned_off:
            switch_grad_mode(not turned_on)
    # What is left in ``grads`` are the leaves.
    if targets is None:
        results.update(grads)
    else:
        results.update((leaf, grad) for leaf, grad in grads.items() if leaf in targets)
    return results

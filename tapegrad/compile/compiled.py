"""``tg.compile(fn)``: trace ``fn`` once into a fixed schedule of primitives, then run the schedule.

The first call for a signature (the shapes, dtypes and ``requires_grad`` of the Tensor arguments, the
other arguments' values, and whether gradients are recorded, as ``no_grad`` turns off) runs ``fn`` on
Tensors while every operation is written down. From that list it keeps what leads to the outputs (dead
operations are dropped), computes once what depends on constants only (constant folding), and remembers
which Tensors ``fn`` read from outside (a model's parameters): their current values are read at every
call, never baked in.

Later calls run the schedule (:mod:`tapegrad.compile.schedule`) on plain arrays: no Tensor per operation, no
graph to walk, no topological sort. The whole call is one node of the graph, whose saved values are what
the schedule kept for backward (so an in-place change of one before backward is caught, as in eager
mode) and whose backward runs the schedule's VJP rules in reverse, so ``.backward()`` on the result fills
the same ``.grad`` as eager mode. If a captured Tensor changes shape, dtype or ``requires_grad`` between
calls, the function is traced again for it. Inside another trace, under ``jvp`` or under
``detect_anomaly``, a compiled function runs as written.

As in ``jax.jit`` and ``tf.function``, Python control flow on values is fixed at tracing time; turning
a tensor into a Python bool or number while tracing raises TracingError. ``create_graph=True``
through a compiled function raises TracingError too. Python values noted as guards while tracing (a
module's ``training`` flag, the default dtype; see :func:`tapegrad.engine.modes.note_guard`) are checked
at every call: a changed one traces again. A value computed from the inputs (a mask, an index) is
recomputed at every call, never a constant; when the number of entries a boolean mask computed from the
inputs selects changes, the call runs the plan traced for that number, or traces one
(:class:`tapegrad.compile.schedule.ShapeChanged`).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..engine import Node, Observer, is_grad_enabled, no_grad, observing, operations_watched
from ..errors import BackwardError, TapegradError, TracingError
from ..ops import NUMPY
from ..ops.random import generator
from ..ops.registry import Primitive
from ..tensor import Tensor, tensor_of_node, unpack_outputs
from .schedule import Plan, ShapeChanged, still_valid

_NO_PARAMS: dict = {}


class _Call:
    """One run of a plan, kept as its graph node's ``ans`` (the engine frees it with the node's saved
    values after backward): the gradients computed for the last seed, since one run of the
    schedule's backward serves the rules of every tensor the call read."""

    __slots__ = ("seed", "grads")

    def __init__(self) -> None:
        self.seed, self.grads = None, ()


def _call_rule(plan: Plan, argnum: int) -> Callable[..., Any]:
    """The VJP rule of a compiled call's node for the tensor at ``argnum`` (inputs, then captured).

    In a node made by :func:`_run`, ``saved`` are the values the forward schedule kept and ``call``
    is its :class:`_Call`. Applied as an ordinary primitive (``tg.explain`` replays a graph that
    way), ``saved`` are the tensors' arrays and ``call`` is not a _Call: the schedule runs again.
    """
    def rule(xp: Any, g: Any, call: Any, *saved: Any) -> Any:
        if xp is not NUMPY:
            raise TracingError("create_graph=True through a compiled function is not supported; use the "
                               "function uncompiled for higher-order derivatives")
        if call.__class__ is not _Call:
            call, saved = _Call(), plan.forward(*saved)[1]
        if call.seed is not g:
            call.grads = plan.backward(saved, *plan.split(g))
            call.seed = g
        grad = call.grads[argnum]
        if grad is None:  # no path from this tensor to a floating output
            shape, dtype = plan.source_specs[argnum]
            return np.zeros(shape, dtype)
        return grad

    return rule


def _call_jvp(xp: Any, t: Any, ans: Any, *inputs: Any) -> Any:
    raise BackwardError("no forward-mode rule for a compiled call")  # jvp runs the function uncompiled


def _call_primitive(plan: Plan, name: str) -> Primitive:
    """The whole call as one primitive: its forward runs the schedule; one rule per tensor it reads."""
    count = len(plan.source_specs)
    return Primitive(f"compiled {name}", lambda *arrays: plan.pack(plan.forward(*arrays)[0]),
                     vjps=tuple(_call_rule(plan, i) for i in range(count)), jvps=(_call_jvp,) * count,
                     saved_name="a value it kept for backward")


def _record_call(plan: Plan, tensors: list[Tensor], packed: np.ndarray, values: tuple) -> Tensor:
    """A Tensor holding ``packed`` whose Node is the whole call: its ``inputs`` are the values the
    schedule kept (what its rules read, and what backward checks for in-place changes), its ``ans``
    the call's :class:`_Call`, and it is ``exact`` (the schedule's backward already gives each
    tensor's shape and dtype)."""
    parents = tuple([(t.grad_fn or t) if t.requires_grad else None for t in tensors])
    constants = tuple([None if t.requires_grad else t.data for t in tensors])
    node = Node(plan.primitive, parents, values, constants, _Call(), _NO_PARAMS, packed.shape, packed.dtype, True)
    return tensor_of_node(packed, node)


def _run(plan: Plan, tensors: list[Tensor]) -> Any:
    """Run ``plan`` on ``tensors`` (the inputs, then the captured tensors); record one graph node
    when a gradient may flow, whose output packs the floating outputs."""
    outputs, values = plan.forward(*[t.data for t in tensors])
    if not plan.records:
        results = tuple([Tensor(np.asarray(o)) for o in outputs])
        return results if plan.tuple_output else results[0]
    node_output = _record_call(plan, tensors, plan.pack(outputs), values)
    if not plan.tuple_output and len(plan.seeded) == 1:  # the common case: one output, the node's own
        return node_output
    results = [Tensor(np.asarray(o)) for o in outputs]
    seeded = plan.seeded
    pieces = unpack_outputs(node_output, [results[i].shape for i in seeded], [results[i].dtype for i in seeded])
    for i, piece in zip(seeded, pieces):
        results[i] = piece
    return tuple(results)


class _Tracer(Observer):
    """Writes down what a traced function does: ``entries`` holds each operation as
    ``(prim, args, params, result)`` and each tensor made from data as ``(None, tensor)``, in order;
    ``guards`` the Python values its control flow depended on, by key, as ``(read, value)``."""

    def __init__(self) -> None:
        self.entries: list[tuple] = []
        self.guards: dict[Any, tuple[Callable[[], Any], Any]] = {}

    def operation(self, prim: Primitive, args: tuple, params: dict, result: Tensor) -> None:
        self.entries.append((prim, args, params, result))

    def constant(self, tensor: Tensor) -> None:
        self.entries.append((None, tensor))

    def unrecorded(self, what: str) -> None:
        raise TracingError(
            f"{what} of a tensor while tg.compile traces the function: the value is fixed at tracing time, "
            "so Python control flow on it would not follow later inputs. Compute it with tensor "
            "operations (e.g. tg.where instead of if), or do not compile this function.")

    def guard(self, key: Any, read: Callable[[], Any], value: Any) -> None:
        self.guards.setdefault(key, (read, value))


class Compiled:
    """A function compiled by :func:`compile`; call it like the original.

    Attributes:
        plans: the traced signatures, most recently used last (at most ``cache_size``).
    """

    def __init__(self, fn: Callable[..., Any], cache_size: int = 32) -> None:
        self.fn = fn
        self.cache_size = cache_size
        self.plans: OrderedDict = OrderedDict()
        functools.update_wrapper(self, fn)

    def _signature(self, args: tuple, kwargs: dict) -> tuple:
        parts = []
        for position, arg in enumerate(args):
            if isinstance(arg, Tensor):
                parts.append((position, "tensor", arg.shape, arg.dtype.str, arg.requires_grad))
            else:
                parts.append((position, "constant", _hashable(arg, f"argument {position}")))
        for name in sorted(kwargs):
            if isinstance(kwargs[name], Tensor):
                raise TracingError(f"tg.compile: keyword argument {name!r} is a Tensor; pass Tensors by "
                                   "position (keyword arguments are constants of the trace)")
            parts.append((name, "constant", _hashable(kwargs[name], f"keyword argument {name!r}")))
        return tuple(parts)

    def _trace(self, args: tuple, kwargs: dict, recording: bool) -> Plan:
        inputs = {i: Tensor(a.data, requires_grad=a.requires_grad) for i, a in enumerate(args) if isinstance(a, Tensor)}
        traced_args = [inputs.get(i, a) for i, a in enumerate(args)]
        tracer = _Tracer()
        # The schedule draws the call's random numbers again: tracing must not consume them.
        bits = generator().bit_generator
        drawn_from = bits.state
        try:
            with observing(tracer), no_grad():  # the tracer writes the operations down; no graph is needed
                result = self.fn(*traced_args, **kwargs)
        finally:
            bits.state = drawn_from
        plan = Plan(tracer.entries, tracer.guards, inputs, result, recording)
        plan.primitive = _call_primitive(plan, getattr(self.fn, "__name__", "function"))
        return plan

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if operations_watched():
            # Inside another trace, under jvp or detect_anomaly: run as written, so that every
            # operation is seen (and checked).
            return self.fn(*args, **kwargs)
        recording = is_grad_enabled()  # a call under no_grad has its own plan
        signature = (self._signature(args, kwargs) if args or kwargs else (), recording)
        plans = self.plans
        plan = plans.get(signature)
        if plan is not None and not still_valid(plan):
            plan = None  # a tensor fn reads changed shape, dtype or requires_grad, or a guard: trace again
        if plan is None:
            plan = self._trace(args, kwargs, recording)
            plans[signature] = plan
            if len(plans) > self.cache_size:
                plans.popitem(last=False)
        elif len(plans) > 1:
            plans.move_to_end(signature)
        tensors = [args[position] for position in plan.input_positions] if args else []
        try:
            if plan.value_shaped:
                return self._run_value_shaped(plan, signature, args, kwargs, tensors)
            return _run(plan, tensors + plan.captured_tensors)
        except TapegradError:
            raise
        except (IndexError, ValueError, TypeError, ArithmeticError) as exc:
            failure = exc
        # New values the schedule cannot take (an index out of range): fn run as written says which
        # operation fails and why, as in eager mode.
        self.fn(*args, **kwargs)
        raise TracingError(f"tg.compile: the compiled {getattr(self.fn, '__name__', 'function')} failed on these "
                           f"inputs ({type(failure).__name__}: {str(failure)[:200]}) where running it as written "
                           "does not") from failure

    def _run_value_shaped(self, plan: Plan, signature: tuple, args: tuple, kwargs: dict, tensors: list) -> Any:
        """Run a plan whose shapes depend on values (boolean masks computed from the inputs). When a
        mask selects another number of entries than when traced, run the plan traced for that number
        (kept in the signature's ``plan.variants``, at most ``cache_size`` in all, the least recently
        used dropped first), or trace one; the draws an aborted run made
        are drawn again, as eager mode would draw them. Each plan tried matches one more check than
        the one before, so this ends."""
        bits = generator().bit_generator
        drawn_from = bits.state
        variants = plan.variants  # the signature's plan keeps them all, least recently used first
        path: tuple = ()  # the checks that failed so far, one per plan tried
        while True:
            try:
                return _run(plan, tensors + plan.captured_tensors)
            except ShapeChanged as changed:
                bits.state = drawn_from
                path += (changed.key,)
            variant = variants.pop(path, None)
            if variant is None or not still_valid(variant):
                variant = self._trace(args, kwargs, signature[-1])
                if len(variants) >= self.cache_size:
                    del variants[next(iter(variants))]
            variants[path] = variant
            plan = variant
            tensors = [args[position] for position in plan.input_positions] if args else []


def _hashable(value: Any, what: str) -> Any:
    try:
        hash(value)
    except TypeError:
        raise TracingError(f"tg.compile: {what} ({type(value).__name__}) is neither a Tensor nor hashable; "
                           "pass arrays as Tensors") from None
    return value


def compile(fn: Callable[..., Any] | None = None, *, cache_size: int = 32) -> Any:  # noqa: A001
    """Compile ``fn`` (also usable as ``@tg.compile`` or ``@tg.compile(cache_size=8)``).

    Returns:
        A :class:`Compiled` function that gives the same results as ``fn`` and whose results
        backpropagate into the same tensors, including those ``fn`` reads from its closure.
    """
    if fn is None:
        return lambda f: Compiled(f, cache_size)
    return Compiled(fn, cache_size)

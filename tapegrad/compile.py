"""``tg.compile(fn)``: trace ``fn`` once into a fixed schedule of primitives, then run the schedule.

The first call for a signature (the shapes, dtypes and ``requires_grad`` of the Tensor arguments, and
the other arguments' values) runs ``fn`` on Tensors while every operation is written down. From that
list it keeps what leads to the outputs (dead operations are dropped), computes once what depends on
constants only (constant folding), and remembers which Tensors ``fn`` read from outside (a model's
parameters): their current values are read at every call, never baked in.

Later calls run the schedule on plain arrays: no Tensor per operation, no graph to walk, no
topological sort. The whole call is one node of the graph, whose backward runs the schedule's VJP rules
in reverse, so ``.backward()`` on the result fills the same ``.grad`` as eager mode.

As in ``jax.jit`` and ``tf.function``, Python control flow on values is fixed at tracing time; turning
a tensor into a Python bool or number while tracing raises TracingError. ``create_graph=True``
through a compiled function raises TracingError too.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from .autograd.function import Function, FunctionContext
from .errors import TracingError
from .grad_mode import SPECIAL_MODES, no_grad
from .grad_mode import state as grad_state
from .ops import NUMPY
from .ops.shape import sum_to_forward
from .tensor import Tensor


class _Slot:
    """A reference to the value computed (or read) at position ``index`` of a schedule run."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class Plan:
    """One traced signature: the schedule, its inputs, the Tensors it reads from outside, its outputs.

    Attributes:
        schedule: ``(prim, arguments, params, output slot)`` in execution order; an argument is a
            ``_Slot`` or a constant.
        input_slots: per Tensor argument position of the call, its slot.
        captured: the Tensors ``fn`` read from outside, with their slots (read afresh every call).
        outputs: the output slots, and whether ``fn`` returned a tuple.
        needs_grad: for every slot, whether a gradient can flow to it from an input or a captured
            Tensor that requires grad.
    """

    def __init__(self, entries: list, inputs: dict[int, Tensor], result: Any) -> None:
        slots: dict[int, int] = {}
        self.input_slots: list[tuple[int, int]] = []
        for position, tensor in inputs.items():
            slots[id(tensor)] = len(slots)
            self.input_slots.append((position, slots[id(tensor)]))
        self.captured: list[tuple[Tensor, int]] = []
        # Tensors made inside fn while tracing (not by an operation) that take no gradient are constants.
        made_inside = {id(entry[1]) for entry in entries if entry[0] is None and not entry[1].requires_grad}
        schedule = []
        for entry in entries:
            if entry[0] is None:
                continue
            prim, args, params, out = entry
            arguments = []
            for arg in args:
                if isinstance(arg, Tensor) and id(arg) in made_inside and id(arg) not in slots:
                    arguments.append(arg.data)
                elif isinstance(arg, Tensor):
                    key = id(arg)
                    if key not in slots:  # read from outside fn: a parameter or a constant tensor
                        slots[key] = len(slots)
                        self.captured.append((arg, slots[key]))
                    arguments.append(_Slot(slots[key]))
                else:
                    arguments.append(arg)
            slots[id(out)] = len(slots)
            schedule.append((prim, arguments, params, slots[id(out)]))
        self.tuple_output = isinstance(result, tuple)
        outputs = result if self.tuple_output else (result,)
        for out in outputs:
            if not isinstance(out, Tensor) or id(out) not in slots:
                raise TracingError("tg.compile: the function must return Tensors computed from its inputs or "
                                   "from tensors it reads (a Tensor, or a tuple of them)")
        self.outputs = [slots[id(out)] for out in outputs]
        self.size = len(slots)
        self.schedule = self._prune(schedule)
        self._fold_constants()
        requires = {slot for position, slot in self.input_slots if inputs[position].requires_grad}
        requires |= {slot for tensor, slot in self.captured if tensor.requires_grad}
        for prim, arguments, _, out_slot in self.schedule:
            if prim.differentiable and any(isinstance(a, _Slot) and a.index in requires for a in arguments):
                requires.add(out_slot)
        self.needs_grad = requires

    def _prune(self, schedule: list) -> list:
        """Drop the operations whose results do not lead to an output."""
        live = set(self.outputs)
        kept = []
        for entry in reversed(schedule):
            if entry[3] in live:
                kept.append(entry)
                live.update(a.index for a in entry[1] if isinstance(a, _Slot))
        return kept[::-1]

    def _fold_constants(self) -> None:
        """Compute once the operations whose arguments are all constants; bake their results."""
        folded: dict[int, Any] = {}
        schedule = []
        for prim, arguments, params, out_slot in self.schedule:
            arguments = [folded.get(a.index, a) if isinstance(a, _Slot) else a for a in arguments]
            if all(not isinstance(a, _Slot) for a in arguments) and out_slot not in self.outputs:
                folded[out_slot] = prim.forward(*arguments, **params)
                continue
            schedule.append((prim, arguments, params, out_slot))
        self.schedule = schedule

    def forward(self, arrays: dict[int, np.ndarray]) -> list:
        """Run the schedule; returns every slot's value (inputs and captured filled from ``arrays``)."""
        values: list[Any] = [None] * self.size
        for slot, array in arrays.items():
            values[slot] = array
        for prim, arguments, params, out_slot in self.schedule:
            args = [values[a.index] if a.__class__ is _Slot else a for a in arguments]
            out = prim.forward(*args, **params) if params else prim.forward(*args)
            values[out_slot] = out if out.__class__ is np.ndarray else np.asarray(out)
        return values

    def backward(self, values: list, output_grads: list) -> dict[int, np.ndarray]:
        """The schedule's VJP rules in reverse; returns the gradient of every slot that needs one."""
        grads: dict[int, Any] = {}
        for slot, g in zip(self.outputs, output_grads):
            if g is not None:
                grads[slot] = g if slot not in grads else grads[slot] + g
        needs = self.needs_grad
        for prim, arguments, params, out_slot in reversed(self.schedule):
            g = grads.get(out_slot)
            if g is None or not prim.differentiable:
                continue
            args = [values[a.index] if a.__class__ is _Slot else a for a in arguments]
            rules = prim.vjp_rules(len(args))
            ans = values[out_slot]
            for position, argument in enumerate(arguments):
                if argument.__class__ is not _Slot or argument.index not in needs or rules[position] is None:
                    continue
                gi = rules[position](NUMPY, g, ans, *args, **params)
                target = values[argument.index]
                if np.shape(gi) != target.shape:
                    gi = sum_to_forward(gi, target.shape)
                if gi.dtype != target.dtype:
                    gi = gi.astype(target.dtype)
                previous = grads.get(argument.index)
                grads[argument.index] = gi if previous is None else previous + gi
        return grads


class _CompiledCall(Function):
    """One call of a compiled function, recorded as a single node of the graph."""

    @staticmethod
    def forward(ctx: FunctionContext, plan: Plan, *tensors: Tensor) -> Any:
        arrays = {slot: t.data for (_, slot), t in zip(plan.input_slots, tensors[:len(plan.input_slots)])}
        arrays.update({slot: t.data for (_, slot), t in zip(plan.captured, tensors[len(plan.input_slots):])})
        values = plan.forward(arrays)
        ctx.plan, ctx.values, ctx.tensors = plan, values, tensors
        outputs = tuple(Tensor(values[slot]) for slot in plan.outputs)
        return outputs if plan.tuple_output else outputs[0]

    @staticmethod
    def backward(ctx: FunctionContext, *grads: Any) -> tuple:
        if ctx.create_graph:
            raise TracingError("create_graph=True through a compiled function is not supported; use the "
                               "function uncompiled for higher-order derivatives")
        plan = ctx.plan
        slot_grads = plan.backward(ctx.values, [g.data if isinstance(g, Tensor) else g for g in grads])
        slots = [slot for _, slot in plan.input_slots] + [slot for _, slot in plan.captured]
        results = [slot_grads.get(slot) if t.requires_grad else None for slot, t in zip(slots, ctx.tensors)]
        return (None,) + tuple(None if r is None else Tensor(np.asarray(r)) for r in results)


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

    def _signature(self, args: tuple) -> tuple:
        parts = []
        for position, arg in enumerate(args):
            if isinstance(arg, Tensor):
                parts.append((position, "tensor", arg.shape, arg.dtype.str, arg.requires_grad))
            else:
                try:
                    hash(arg)
                except TypeError:
                    raise TracingError(f"tg.compile: argument {position} ({type(arg).__name__}) is neither a "
                                       "Tensor nor hashable; pass arrays as Tensors") from None
                parts.append((position, "constant", arg))
        return tuple(parts)

    def _trace(self, args: tuple) -> Plan:
        inputs = {i: Tensor(a.data, requires_grad=a.requires_grad) for i, a in enumerate(args) if isinstance(a, Tensor)}
        traced_args = [inputs.get(i, a) for i, a in enumerate(args)]
        previous = grad_state.trace
        grad_state.trace = entries = []
        SPECIAL_MODES.enter()
        try:
            with no_grad():  # tracing records the operations itself; no graph is needed
                result = self.fn(*traced_args)
        finally:
            SPECIAL_MODES.leave()
            grad_state.trace = previous
        return Plan(entries, inputs, result)

    def __call__(self, *args: Any) -> Any:
        signature = self._signature(args)
        plan = self.plans.get(signature)
        if plan is None:
            plan = self._trace(args)
            self.plans[signature] = plan
            if len(self.plans) > self.cache_size:
                self.plans.popitem(last=False)
        else:
            self.plans.move_to_end(signature)
        tensors = [args[position] for position, _ in plan.input_slots] + [t for t, _ in plan.captured]
        return _CompiledCall.apply(plan, *tensors)


def compile(fn: Callable[..., Any] | None = None, *, cache_size: int = 32) -> Any:  # noqa: A001
    """Compile ``fn`` (also usable as ``@tg.compile`` or ``@tg.compile(cache_size=8)``).

    Returns:
        A :class:`Compiled` function that gives the same results as ``fn`` and whose results
        backpropagate into the same tensors, including those ``fn`` reads from its closure.
    """
    if fn is None:
        return lambda f: Compiled(f, cache_size)
    return Compiled(fn, cache_size)

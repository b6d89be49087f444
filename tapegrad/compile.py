"""``tg.compile(fn)``: trace ``fn`` once into a fixed schedule of primitives, then run the schedule.

The first call for a signature (the shapes, dtypes and ``requires_grad`` of the Tensor arguments, the
other arguments' values, and whether gradients are recorded, as ``no_grad`` turns off) runs ``fn`` on
Tensors while every operation is written down. From that list it keeps what leads to the outputs (dead
operations are dropped), computes once what depends on constants only (constant folding), and remembers
which Tensors ``fn`` read from outside (a model's parameters): their current values are read at every
call, never baked in.

Later calls run the schedule on plain arrays: no Tensor per operation, no graph to walk, no
topological sort. The whole call is one node of the graph, whose backward runs the schedule's VJP rules
in reverse, so ``.backward()`` on the result fills the same ``.grad`` as eager mode. The forward
schedule keeps only the values the backward rules read, and writes the result of an elementwise
operation (a NumPy ufunc) into the memory of a temporary that nothing reads any more (``out=``).
If a captured Tensor changes shape, dtype or ``requires_grad`` between calls, the function is traced
again for it.

As in ``jax.jit`` and ``tf.function``, Python control flow on values is fixed at tracing time; turning
a tensor into a Python bool or number while tracing raises TracingError. ``create_graph=True``
through a compiled function raises TracingError too.
"""

from __future__ import annotations

import functools
import inspect
import math
from builtins import compile as compile_source
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import BackwardError, TracingError
from .grad_mode import SPECIAL_MODES, is_grad_enabled, no_grad
from .grad_mode import state as grad_state
from .graph import FORWARD, Node, next_sequence
from .ops import NUMPY
from .ops.registry import Primitive
from .ops.shape import sum_to_forward
from .tensor import Tensor, shared_shape


def _captured_signature(tensors: list[Tensor]) -> list[tuple]:
    return [(t.data.shape, t.data.dtype, t.requires_grad) for t in tensors]


def _captured_unchanged(plan: Plan) -> bool:
    """Whether every tensor ``plan`` reads from outside still has its traced shape, dtype and
    ``requires_grad``."""
    for tensor, (shape, dtype, requires_grad) in zip(plan.captured_tensors, plan.captured_signature):
        data = tensor.data
        if data.shape != shape or data.dtype is not dtype and data.dtype != dtype or \
                tensor.requires_grad is not requires_grad:
            return False
    return True


def _bind(function: Callable[..., Any], params: dict) -> Callable[..., Any]:
    """``function`` with ``params`` bound, leaving out those equal to its defaults (a call through
    ``functools.partial`` with keywords costs more than the NumPy call of a small operation)."""
    try:
        defaults = {name: p.default for name, p in inspect.signature(function).parameters.items()}
    except (TypeError, ValueError):  # a builtin without a signature
        defaults = {}
    needed = {name: value for name, value in params.items() if defaults.get(name, _NO_DEFAULT) is not value}
    return functools.partial(function, **needed) if needed else function


_NO_DEFAULT = object()

# Writing into a dead temporary (out=) pays from a few hundred entries on; below, NumPy's own cache of
# small allocations is as fast, and an out= that aliases an input is slower (for one entry, 2.5x).
_REUSE_FROM = 256


def _result_of(rule: Callable[..., Any], out: np.ndarray, ans: Any, values: list) -> tuple[tuple | None, Any]:
    """The shape and dtype of what ``rule`` returns for a gradient of ones shaped like ``out``, from
    one run on the traced values; None and None if it fails (the caller then sums and casts)."""
    try:
        with np.errstate(all="ignore"):
            result = np.asarray(rule(NUMPY, np.ones(out.shape, out.dtype), ans, *values))
    except Exception:  # noqa: BLE001 (a failure only means: keep the general code)
        return None, None
    return result.shape, result.dtype


def _stand_in(value: np.ndarray) -> np.ndarray:
    """A read-only array of ``value``'s shape and dtype that takes no memory: what a rule gets for an
    input whose values it does not read (the engine gives such rules the input's Node)."""
    return np.broadcast_to(np.zeros((), value.dtype), value.shape)


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
        outputs: the output slots; ``tuple_output`` says whether ``fn`` returned a tuple.
        needs_grad: the slots a gradient can flow to from an input or a captured Tensor that
            requires grad.
        shapes, dtypes: per slot, the shape and dtype its value has.
        saved: the slots whose values the forward keeps for the backward rules.
        reuses: per slot written into the memory of a dead temporary (``out=``), that temporary's slot.
        source: the generated Python code of ``forward`` and ``backward``.
    """

    def __init__(self, entries: list, inputs: dict[int, Tensor], result: Any, name: str = "function",
                 recording: bool = True) -> None:
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
        self.schedule = self._prune(schedule)
        self._fold_constants()
        # Traced under no_grad (recording False), nothing takes a gradient: nothing is kept for backward.
        requires = {slot for position, slot in self.input_slots if inputs[position].requires_grad and recording}
        requires |= {slot for tensor, slot in self.captured if tensor.requires_grad and recording}
        for prim, arguments, _, out_slot in self.schedule:
            if prim.differentiable and any(isinstance(a, _Slot) and a.index in requires for a in arguments):
                requires.add(out_slot)
        self.needs_grad = requires
        traced = {slot: t.data for (position, slot), t in zip(self.input_slots, inputs.values())}
        for tensor, slot in self.captured:
            traced[slot] = tensor.data
        for entry in entries:
            if entry[0] is not None and id(entry[3]) in slots:
                traced[slots[id(entry[3])]] = entry[3].data
        self._generate(traced)
        self.captured_tensors = [t for t, _ in self.captured]
        self.input_positions = [position for position, _ in self.input_slots]
        self.captured_signature = _captured_signature(self.captured_tensors)
        # A call records a graph node when a floating output depends on a tensor that requires grad.
        self.records = any(self.outputs[i] in self.needs_grad for i in self.seeded)
        # The call as one primitive: its forward runs the schedule; one rule per tensor it reads.
        sources = [slot for _, slot in self.input_slots] + [slot for _, slot in self.captured]
        self.source_specs = [(self.shapes[slot], self.dtypes[slot]) for slot in sources]
        self.primitive = Primitive(f"compiled {name}", lambda *arrays: self.pack(self.forward(*arrays)[0]),
                                   vjps=tuple(_call_rule(self, i) for i in range(len(sources))),
                                   jvps=(_call_jvp,) * len(sources))

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

    def _generate(self, traced: dict[int, np.ndarray]) -> None:
        """Write the schedule as two straight-line Python functions and compile them.

        ``traced`` holds each slot's value from the trace. Shapes and dtypes are fixed by the
        signature, so whether a gradient must be summed over broadcast axes or cast is decided
        here, once; the generated code does only the NumPy calls.
        """
        self.shapes = {slot: value.shape for slot, value in traced.items()}
        dtypes = self.dtypes = {slot: value.dtype for slot, value in traced.items()}
        self.seeded = [i for i, slot in enumerate(self.outputs) if dtypes[slot].kind == "f"]
        namespace: dict[str, Any] = {"NUMPY": NUMPY, "sum_to": sum_to_forward}
        backward, read = self._backward_source(namespace, traced)
        self.saved = read
        forward = self._forward_source(namespace, read)
        code = "\n".join(forward) + "\n\n" + "\n".join(backward) + "\n"
        exec(compile_source(code, "<tg.compile schedule>", "exec"), namespace)  # our own generated code
        self.source = code
        self.forward, self.backward = namespace["forward"], namespace["backward"]

    def _backward_source(self, namespace: dict, traced: dict[int, np.ndarray]) -> tuple[list[str], list[int]]:
        """The lines of ``backward(values, *seeds)``, and the slots of the values it reads.

        Each rule runs once here on the traced values: a gradient is summed over broadcast axes
        (``sum_to``) or cast only when the rule's result needs it.
        """
        shapes, dtypes = self.shapes, self.dtypes
        lines: list[str] = []
        assigned: set[int] = set()
        read: set[int] = set()
        for i in self.seeded:
            slot = self.outputs[i]
            lines.append(f"    g{slot} = g{slot} + seed{i}" if slot in assigned else f"    g{slot} = seed{i}")
            assigned.add(slot)
        for k in range(len(self.schedule) - 1, -1, -1):
            prim, arguments, params, out_slot = self.schedule[k]
            if out_slot not in assigned or not prim.differentiable:
                continue
            rules = prim.vjp_rules(len(arguments))
            targets = [j for j, a in enumerate(arguments)
                       if a.__class__ is _Slot and a.index in self.needs_grad and rules[j] is not None]
            if not targets:
                continue
            # What the rules receive, as in the engine: the inputs' values where the rules read them
            # (constants always), else a stand-in with the input's shape and dtype; ``ans`` only if read.
            names, values = [], []
            for j, argument in enumerate(arguments):
                if argument.__class__ is not _Slot:
                    names.append(f"c{k}_{j}")
                    values.append(argument)
                elif prim.saves_inputs or argument.index not in self.needs_grad:
                    names.append(f"v{argument.index}")
                    values.append(traced[argument.index])
                    read.add(argument.index)
                else:
                    names.append(f"s{argument.index}")
                    values.append(namespace.setdefault(f"s{argument.index}", _stand_in(traced[argument.index])))
            if prim.saves_ans:
                ans_name, ans = f"v{out_slot}", traced[out_slot]
                read.add(out_slot)
            else:
                ans_name, ans = "None", None
            for j in targets:
                target = arguments[j].index
                rule = namespace[f"r{k}_{j}"] = _bind(rules[j], params)
                expression = f"r{k}_{j}(NUMPY, g{out_slot}, {ans_name}, {', '.join(names)})"
                shape, dtype = _result_of(rule, traced[out_slot], ans, values)
                if shape != shapes[target]:
                    expression = f"sum_to({expression}, {shapes[target]!r})"
                if dtype != dtypes[target] or dtypes[out_slot] != dtypes[target]:
                    namespace[f"d{target}"] = dtypes[target]
                    expression = f"({expression}).astype(d{target})"
                if target in assigned:
                    lines.append(f"    g{target} = g{target} + {expression}")
                else:
                    lines.append(f"    g{target} = {expression}")
                    assigned.add(target)
        saved = sorted(read)
        header = [f"def backward(values, {', '.join(f'seed{i}' for i in self.seeded)}):"]
        if saved:
            header.append(f"    ({', '.join(f'v{slot}' for slot in saved)},) = values")
        results = [f"g{slot}" if slot in assigned else "None"
                   for slot in [s for _, s in self.input_slots] + [s for _, s in self.captured]]
        return header + lines + [f"    return ({', '.join(results)},)"], saved

    def _forward_source(self, namespace: dict, saved: list[int]) -> list[str]:
        """The lines of ``forward(*sources)``, which returns the outputs and the values backward reads.

        An elementwise ufunc writes its result into a temporary that no later operation, output or
        backward rule reads (``out=``); the temporary must itself come from a ufunc (so it owns its
        memory) and have the result's shape and dtype, of at least ``_REUSE_FROM`` entries. Operations
        other than ufuncs may return views
        of their inputs, so an input of one lives as long as its result.
        """
        shapes, dtypes = self.shapes, self.dtypes
        sources = [f"v{slot}" for _, slot in self.input_slots] + [f"v{slot}" for _, slot in self.captured]
        kept = set(saved) | set(self.outputs)
        never = len(self.schedule)  # "read after the last operation": never free
        end = {slot: never for slot in kept}
        for k, (_, arguments, _, _) in enumerate(self.schedule):
            for a in arguments:
                if a.__class__ is _Slot and end.get(a.index, -1) < never:
                    end[a.index] = k
        for prim, arguments, _, out_slot in reversed(self.schedule):
            if not isinstance(prim.forward, np.ufunc):  # its result may be a view of its inputs
                for a in arguments:
                    if a.__class__ is _Slot:
                        end[a.index] = max(end.get(a.index, -1), end.get(out_slot, -1))
        free: list[int] = []  # ufunc results whose memory nothing reads any more
        self.reuses: dict[int, int] = {}
        lines = [f"def forward({', '.join(sources)}):"]
        for k, (prim, arguments, params, out_slot) in enumerate(self.schedule):
            namespace[f"f{k}"] = _bind(prim.forward, params)
            names = []
            for j, argument in enumerate(arguments):
                if argument.__class__ is _Slot:
                    names.append(f"v{argument.index}")
                else:
                    namespace[f"c{k}_{j}"] = argument
                    names.append(f"c{k}_{j}")
            ufunc = isinstance(prim.forward, np.ufunc) and not params and prim.forward.nout == 1
            buffer = None
            if ufunc and math.prod(shapes[out_slot]) >= _REUSE_FROM:
                elementwise = prim.forward.signature is None  # a gufunc (matmul) must not overwrite an input
                for candidate in free:
                    if (end[candidate] < k or elementwise and end[candidate] == k) and \
                            shapes[candidate] == shapes[out_slot] and dtypes[candidate] == dtypes[out_slot]:
                        buffer = candidate
                        break
            if buffer is not None:
                free.remove(buffer)
                self.reuses[out_slot] = buffer
                names.append(f"out=v{buffer}")
            lines.append(f"    v{out_slot} = f{k}({', '.join(names)})")
            if ufunc and end.get(out_slot, -1) < never:
                free.append(out_slot)
        outputs = "".join(f"v{slot}, " for slot in self.outputs)
        values = "".join(f"v{slot}, " for slot in saved)
        lines.append(f"    return ({outputs}), ({values})")
        return lines

    def pack(self, outputs: tuple) -> np.ndarray:
        """The floating outputs as the one array a call's graph node holds (flattened and joined
        when there are several)."""
        if len(self.seeded) == 1:
            return np.asarray(outputs[self.seeded[0]])
        return np.concatenate([np.asarray(outputs[i]).reshape(-1) for i in self.seeded])

    def split(self, g: np.ndarray) -> list[np.ndarray]:
        """The seed of each floating output from the node's gradient (outputs packed when several)."""
        if len(self.seeded) == 1:
            return [g]
        seeds, start = [], 0
        for i in self.seeded:
            shape = self.shapes[self.outputs[i]]
            size = int(np.prod(shape))
            seeds.append(g[start:start + size].reshape(shape).astype(self.dtypes[self.outputs[i]], copy=False))
            start += size
        return seeds


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


def _record_call(plan: Plan, tensors: list[Tensor], packed: np.ndarray, values: tuple) -> Tensor:
    """A Tensor holding ``packed`` whose Node is the whole call. The Node is filled here as
    :func:`tapegrad.tensor.apply` fills one, except that its ``inputs`` are the values the
    schedule kept (what its rules read, and what backward checks for in-place changes)."""
    node = object.__new__(Node)  # no __init__, as in apply
    node.prim = plan.primitive
    parents, constants = [], []
    for t in tensors:
        if t.requires_grad:
            parents.append(t._node or t)
            constants.append(None)
        else:
            parents.append(None)
            constants.append(t.data)
    node.parents = tuple(parents)
    node.inputs = values
    node.constants = tuple(constants)
    node.ans = _Call()
    node.extras = None
    node.sequence = next_sequence()
    node.params = _NO_PARAMS
    node.shape = shared_shape(packed.shape)
    node.dtype = packed.dtype
    node.exact = True  # the schedule's backward already gives each tensor's shape and dtype
    result = Tensor._make(packed)
    result._node, result.requires_grad = node, True
    return result


def _run(plan: Plan, tensors: list[Tensor]) -> Any:
    """Run ``plan`` on ``tensors`` (the inputs, then the captured tensors); record one graph node
    when a gradient may flow, whose output packs the floating outputs."""
    outputs, values = plan.forward(*[t.data for t in tensors])
    if not plan.records:
        results = tuple([Tensor._make(np.asarray(o)) for o in outputs])
        return results if plan.tuple_output else results[0]
    node_output = _record_call(plan, tensors, plan.pack(outputs), values)
    if not plan.tuple_output and len(plan.seeded) == 1:  # the common case: one output, the node's own
        return node_output
    results = [Tensor._make(np.asarray(o)) for o in outputs]
    start = 0
    for i in plan.seeded:
        if len(plan.seeded) == 1:
            results[i] = node_output
            break
        size = results[i].size
        results[i] = node_output[start:start + size].reshape(results[i].shape)
        start += size
    return tuple(results)


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

    def _trace(self, args: tuple, recording: bool) -> Plan:
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
        return Plan(entries, inputs, result, getattr(self.fn, "__name__", "function"), recording)

    def __call__(self, *args: Any) -> Any:
        special = SPECIAL_MODES.count
        if special and (grad_state.trace is not None or FORWARD.levels or grad_state.anomaly):
            # Inside another trace, under jvp or detect_anomaly: run as written, so that every
            # operation is seen (and checked).
            return self.fn(*args)
        recording = not special or is_grad_enabled()  # a call under no_grad has its own plan
        signature = (self._signature(args) if args else (), recording)
        plans = self.plans
        plan = plans.get(signature)
        if plan is not None and not _captured_unchanged(plan):
            plan = None  # a tensor fn reads changed shape, dtype or requires_grad: trace again
        if plan is None:
            plan = self._trace(args, recording)
            plans[signature] = plan
            if len(plans) > self.cache_size:
                plans.popitem(last=False)
        elif len(plans) > 1:
            plans.move_to_end(signature)
        tensors = [args[position] for position in plan.input_positions] if args else []
        return _run(plan, tensors + plan.captured_tensors if plan.captured_tensors else tensors)


def compile(fn: Callable[..., Any] | None = None, *, cache_size: int = 32) -> Any:  # noqa: A001
    """Compile ``fn`` (also usable as ``@tg.compile`` or ``@tg.compile(cache_size=8)``).

    Returns:
        A :class:`Compiled` function that gives the same results as ``fn`` and whose results
        backpropagate into the same tensors, including those ``fn`` reads from its closure.
    """
    if fn is None:
        return lambda f: Compiled(f, cache_size)
    return Compiled(fn, cache_size)

"""The schedule of a traced function: which primitives run, in which order, on which values, written
as two straight-line Python functions (``forward`` and ``backward``) that run on plain arrays.

:class:`Plan` is built from the list of operations that ``tg.compile`` (:mod:`tapegrad.compile`)
recorded while the function ran once. It drops the operations that do not lead to an output, computes
once what depends on constants only, runs each VJP rule once on the traced values (so a gradient is
summed over broadcast axes or cast only where needed), keeps for backward only the values the rules
read (as the engine does) and lets an elementwise operation write into a temporary nothing reads any
more (``out=``).

A value computed from the inputs is never a constant of the schedule, even where it reaches an operation
as a plain array (``where``'s mask, an index array in ``getitem``'s ``index``, ``tg.tensor(t)`` of a traced
``t``): the array is recognised as the one an earlier operation returned (or an input's), and the schedule
reads that operation's result at every call (:class:`Read`), without a gradient through it, as in eager
mode. A shape that depends on values (the positions a boolean mask selects) is checked at every call;
when it changes, the call raises :class:`ShapeChanged`, and ``tg.compile`` runs the plan traced for the
new shape (or traces one).
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from builtins import compile as compile_source
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import TracingError
from ..ops import NUMPY
from ..ops.complex_numbers import for_complex
from ..ops.registry import Primitive
from ..ops.shape import sum_to_forward
from ..tensor import Tensor, pack_outputs, unpack_outputs


def _captured_signature(tensors: list[Tensor]) -> list[tuple]:
    return [(t.data.shape, t.data.dtype, t.requires_grad) for t in tensors]


def still_valid(plan: Plan) -> bool:
    """Whether every tensor ``plan`` reads from outside still has its traced shape, dtype and
    ``requires_grad``, and every Python value its trace depended on (its guards) is unchanged."""
    for tensor, (shape, dtype, requires_grad) in zip(plan.captured_tensors, plan.captured_signature):
        data = tensor.data
        if data.shape != shape or data.dtype is not dtype and data.dtype != dtype or \
                tensor.requires_grad is not requires_grad:
            return False
    for read, value in plan.guards.values():
        if read() != value:
            return False
    return True


_NO_DEFAULT = object()


def _bind(function: Callable[..., Any], params: dict) -> Callable[..., Any]:
    """``function`` with ``params`` bound, leaving out those equal to its defaults (a call through
    ``functools.partial`` with keywords costs more than the NumPy call of a small operation)."""
    try:
        defaults = {name: p.default for name, p in inspect.signature(function).parameters.items()}
    except (TypeError, ValueError):  # a builtin without a signature
        defaults = {}
    needed = {name: value for name, value in params.items() if defaults.get(name, _NO_DEFAULT) is not value}
    return functools.partial(function, **needed) if needed else function

# Writing into a dead temporary (out=) pays from a few hundred entries on; below, NumPy's own cache of
# small allocations is as fast, and an out= that aliases an input is slower (for one entry, 2.5x).
_REUSE_FROM = 256


def _result_of(rule: Callable[..., Any], out: np.ndarray, ans: Any, values: list
               ) -> tuple[tuple | None, Any, bool]:
    """The shape and dtype of what ``rule`` returns for a gradient of ones shaped like ``out``, from
    one run on the traced values, and whether it returned that gradient itself (an identity rule, as
    ``add``'s: the schedule then passes the gradient on without a call); None, None and False if it
    fails (the caller then sums and casts)."""
    seed = np.ones(out.shape, out.dtype)
    try:
        with np.errstate(all="ignore"):
            returned = rule(NUMPY, seed, ans, *values)
    except Exception:  # noqa: BLE001 (a failure only means: keep the general code)
        return None, None, False
    result = np.asarray(returned)
    return result.shape, result.dtype, returned is seed


_GLOBAL = re.compile(r"\b[fcrds]\d+(?:_\d+)?\b")  # the names of functions, constants, rules, dtypes, stand-ins


def _sharing_key(value: Any) -> Any:
    """What makes two of the generated code's globals interchangeable: the same object, the same value
    of an immutable scalar, or the same function bound to the same (hashable) parameters."""
    if value.__class__ in (float, int, bool, complex) or isinstance(value, np.generic):
        return ("scalar", type(value), repr(value))
    if value.__class__ is functools.partial and not value.args and all(map(_plain, value.keywords.values())):
        return ("partial", id(value.func), repr(sorted(value.keywords.items())))
    return ("object", id(value))


def _plain(value: Any) -> bool:
    """A parameter whose repr says all of it (no array, whose repr may leave entries out)."""
    if value is None or value.__class__ in (int, float, bool, str) or isinstance(value, np.dtype):
        return True
    return value.__class__ in (tuple, list) and all(map(_plain, value))


def _share_names(code: str, namespace: dict) -> str:
    """``code`` with one global name for each group of interchangeable globals (``_sharing_key``), the
    others removed from ``namespace``. A long trace names the same ufunc, rule or constant thousands of
    times: one name each keeps the functions' tables of names, and the namespace, small enough for the
    processor's caches (the forward of a 1,000-step RK4 loop, 26,000 lines, ran a third faster)."""
    canonical: dict[Any, str] = {}
    renamed: dict[str, str] = {}
    used = set(_GLOBAL.findall(code))
    for name in sorted(used, key=lambda n: [int(part) for part in n[1:].split("_")]):
        if name not in namespace:
            continue
        shared = canonical.setdefault(_sharing_key(namespace[name]), name)
        if shared != name:
            renamed[name] = shared
    for name in [n for n in namespace if _GLOBAL.fullmatch(n) and (n in renamed or n not in used)]:
        del namespace[name]  # renamed, or never named by the code (a rule whose gradient is passed on)
    return _GLOBAL.sub(lambda match: renamed.get(match.group(0), match.group(0)), code) if renamed else code


@functools.lru_cache(maxsize=256)
def _stand_in(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A read-only array of ``shape`` and ``dtype`` that takes no memory: what a rule gets for an input
    whose values it does not read (the engine gives such rules the input's Node); one per shape and
    dtype, so that the generated code names it once."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def _picked(rule: Callable[..., Any], position: int, *args: Any, **params: Any) -> Any:
    """Input ``position``'s gradient from a rule that returns every input's (``vjp_all``)."""
    return rule(*args, **params)[position]


class Slot:
    """A reference to the value computed (or read) at position ``index`` of a schedule run."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class Read(Slot):
    """A slot's value used as a constant would be (a plain array, or inside a parameter such as an
    index): read at every call, never differentiated, as eager mode treats the array."""

    __slots__ = ()


class ShapeChanged(TracingError):
    """Raised by a schedule when a shape that depends on values (the positions a boolean mask computed
    from the inputs selects) differs from the trace's; ``tg.compile`` then runs the plan traced for
    that shape, or traces the function again.

    Attributes:
        key: which check of the schedule (counted from 0) failed, and the shape found there.
    """

    def __init__(self, message: str, key: tuple) -> None:
        super().__init__(message)
        self.key = key


def _changed(now: tuple, traced: tuple, check: int) -> None:
    raise ShapeChanged(f"tg.compile: a boolean mask computed from the inputs selects {now[0]} entries where "
                       f"the traced one selected {traced[0]}: the function must be traced again", (check, now))


def _link(value: Any, produced: dict[int, int]) -> Any:
    """``value`` with every array in it (also inside tuples and lists) that the trace computed or read
    as an input replaced by a :class:`Read` of its slot; ``value`` itself if there is none."""
    if value.__class__ is np.ndarray:
        slot = produced.get(id(value))
        return value if slot is None else Read(slot)
    if value.__class__ in (tuple, list):
        linked = [_link(item, produced) for item in value]
        if any(a is not b for a, b in zip(linked, value)):
            return value.__class__(linked)
    return value


def slots_read(value: Any) -> list[int]:
    """The slots of the :class:`Read` references in a parameter's value (also inside tuples and lists)."""
    if isinstance(value, Slot):
        return [value.index]
    if value.__class__ in (tuple, list):
        return [slot for item in value for slot in slots_read(item)]
    return []


def _resolve(value: Any, values: dict[int, Any]) -> Any:
    """``value`` with each :class:`Read` of a slot in ``values`` replaced by that slot's value."""
    if isinstance(value, Slot):
        return values.get(value.index, value)
    if value.__class__ in (tuple, list):
        return value.__class__([_resolve(item, values) for item in value])
    return value


def _expression(value: Any, namespace: dict, name: str) -> str:
    """Python source that builds ``value`` in the generated code: ``v<slot>`` for a :class:`Read`,
    the constants put into ``namespace`` under names starting with ``name``."""
    if isinstance(value, Slot):
        return f"v{value.index}"
    if value.__class__ in (tuple, list) and slots_read(value):
        items = "".join(f"{_expression(item, namespace, f'{name}_{i}')}, " for i, item in enumerate(value))
        return f"({items})" if value.__class__ is tuple else f"[{items}]"
    namespace[name] = value
    return name


class Plan:
    """One traced signature: the schedule, its inputs, the Tensors it reads from outside, its outputs.

    Attributes:
        schedule: ``(prim, arguments, params, output slot)`` in execution order; an argument is a
            ``Slot`` or a constant.
        input_slots: per Tensor argument position of the call, its slot.
        captured: the Tensors ``fn`` read from outside, with their slots (read afresh every call).
        outputs: the output slots; ``tuple_output`` says whether ``fn`` returned a tuple.
        needs_grad: the slots a gradient can flow to from an input or a captured Tensor that
            requires grad.
        shapes, dtypes: per slot, the shape and dtype its value has.
        saved: the slots whose values the forward keeps for the backward rules.
        reuses: per slot written into the memory of a dead temporary (``out=``), that temporary's slot.
        source: the generated Python code of ``forward`` and ``backward``.
        source_specs: the shape and dtype of each tensor the call reads (inputs, then captured).
        guards: the Python values the trace depended on (a module's training flag), each as
            ``key: (read, value)``; the plan holds while every ``read()`` still gives its value.
        primitive: the whole call as one primitive (set by :func:`tapegrad.compile.compile`).
        value_shaped: how many shapes that depend on values (boolean masks) the forward checks.
        variants: the plans traced for this signature when one of those checks failed, by
            :attr:`ShapeChanged.key` (kept and bounded by :class:`tapegrad.compile.Compiled`).
    """

    def __init__(self, entries: list, guards: dict, inputs: dict[int, Tensor], result: Any,
                 recording: bool = True) -> None:
        self.guards = guards
        slots: dict[int, int] = {}
        # The slot of each array the trace computed or read, by identity: the entries hold every one of
        # them while the plan is built, so no two of them can share an id.
        produced: dict[int, int] = {}
        self.input_slots: list[tuple[int, int]] = []
        for position, tensor in inputs.items():
            slots[id(tensor)] = produced[id(tensor.data)] = len(slots)
            self.input_slots.append((position, slots[id(tensor)]))
        self.captured: list[tuple[Tensor, int]] = []
        # Tensors made inside fn while tracing (not by an operation) that take no gradient are constants,
        # unless they hold an array computed from the inputs (tg.tensor(t) of a traced t): that is read
        # at every call, also for a leaf that requires grad (its gradient cannot leave fn).
        made_inside = {id(entry[1]) for entry in entries if entry[0] is None}
        schedule = []
        for entry in entries:
            if entry[0] is None:
                continue
            prim, args, params, out = entry
            arguments = []
            for arg in args:
                if isinstance(arg, Tensor) and id(arg) in made_inside and id(arg) not in slots and \
                        (not arg.requires_grad or id(arg.data) in produced):
                    arguments.append(_link(arg.data, produced))
                elif isinstance(arg, Tensor):
                    key = id(arg)
                    if key not in slots:  # read from outside fn: a parameter or a constant tensor
                        slots[key] = len(slots)
                        produced.setdefault(id(arg.data), slots[key])
                        self.captured.append((arg, slots[key]))
                    arguments.append(Slot(slots[key]))
                else:  # a plain array may still be one the trace computed (where's mask)
                    arguments.append(_link(arg, produced))
            if params:
                params = {name: _link(value, produced) for name, value in params.items()}
            slots[id(out)] = produced[id(out.data)] = len(slots)
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
            if prim.differentiable and any(a.__class__ is Slot and a.index in requires for a in arguments):
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
        sources = [slot for _, slot in self.input_slots] + [slot for _, slot in self.captured]
        self.source_specs = [(self.shapes[slot], self.dtypes[slot]) for slot in sources]
        self.primitive: Primitive | None = None  # the call as one primitive, set by tg.compile
        # The plans traced for the same signature when a value-dependent shape differed, by ShapeChanged.key
        # (their operations up to that check are this plan's: a plan is traced with the same function).
        self.variants: dict[tuple, Plan] = {}

    def _prune(self, schedule: list) -> list:
        """Drop the operations whose results do not lead to an output (random draws stay: dropping
        one would change the numbers every later draw gives, as against eager mode)."""
        live = set(self.outputs)
        kept = []
        for entry in reversed(schedule):
            if entry[3] in live or not entry[0].deterministic:
                kept.append(entry)
                live.update(a.index for a in entry[1] if isinstance(a, Slot))
                live.update(slot for value in entry[2].values() for slot in slots_read(value))
        return kept[::-1]

    def _fold_constants(self) -> None:
        """Compute once the operations whose arguments are all constants (random draws excepted);
        bake their results."""
        folded: dict[int, Any] = {}
        schedule = []
        for prim, arguments, params, out_slot in self.schedule:
            arguments = [folded.get(a.index, a) if isinstance(a, Slot) else a for a in arguments]
            if params and any(slots_read(value) for value in params.values()):
                params = {name: _resolve(value, folded) for name, value in params.items()}
            if prim.deterministic and all(not isinstance(a, Slot) for a in arguments) and \
                    not any(slots_read(value) for value in params.values()) and out_slot not in self.outputs:
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
        self.seeded = [i for i, slot in enumerate(self.outputs) if dtypes[slot].kind in "fc"]
        namespace: dict[str, Any] = {"NUMPY": NUMPY, "sum_to": sum_to_forward, "changed": _changed, "real": np.real}
        # Per operation: its parameters fixed by the trace, and the source of those that hold a value
        # computed at every call (an index array), e.g. ", index=(v3, p5_index_1, )".
        self._static, self._dynamic = [], []
        for k, (_, _, params, _) in enumerate(self.schedule):
            dynamic = {name: value for name, value in params.items() if slots_read(value)}
            self._static.append({name: value for name, value in params.items() if name not in dynamic})
            self._dynamic.append("".join(f", {name}={_expression(value, namespace, f'p{k}_{name}')}"
                                         for name, value in dynamic.items()))
        backward, read = self._backward_source(namespace, traced)
        self.saved = read
        forward = self._forward_source(namespace, read)
        code = _share_names("\n".join(forward) + "\n\n" + "\n".join(backward) + "\n", namespace)
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
            if dtypes[out_slot].kind == "c":  # traced under no_grad: the rules of a complex node chosen here
                prim = for_complex(prim, f"a complex result of shape {shapes[out_slot]}")
            rules = prim.vjp_rules(len(arguments))
            targets = [j for j, a in enumerate(arguments)
                       if a.__class__ is Slot and a.index in self.needs_grad and rules[j] is not None]
            if not targets:
                continue
            # What the rules receive, as in the engine: the inputs' values where the rules read them
            # (constants always), else a stand-in with the input's shape and dtype; ``ans`` only if read.
            names, values = [], []
            for j, argument in enumerate(arguments):
                if argument.__class__ is Read:
                    names.append(f"v{argument.index}")
                    values.append(traced[argument.index])
                    read.add(argument.index)
                elif argument.__class__ is not Slot:
                    names.append(f"c{k}_{j}")
                    values.append(argument)
                elif prim.saves_inputs or argument.index not in self.needs_grad:
                    names.append(f"v{argument.index}")
                    values.append(traced[argument.index])
                    read.add(argument.index)
                else:
                    names.append(f"s{argument.index}")
                    value = traced[argument.index]
                    values.append(namespace.setdefault(f"s{argument.index}", _stand_in(value.shape, value.dtype)))
            if prim.saves_ans:
                ans_name, ans = f"v{out_slot}", traced[out_slot]
                read.add(out_slot)
            else:
                ans_name, ans = "None", None
            dynamic = {name: _resolve(value, traced) for name, value in params.items() if slots_read(value)}
            for value in params.values():
                read.update(slots_read(value))
            call = f"(NUMPY, g{out_slot}, {ans_name}, {', '.join(names)}{self._dynamic[k]})"
            if prim.vjp_all is not None:  # every input's gradient from one call, made once
                joint = namespace[f"r{k}"] = _bind(prim.vjp_all, self._static[k])
                lines.append(f"    a{k} = r{k}{call}")
            for j in targets:
                target = arguments[j].index
                if prim.vjp_all is not None:
                    rule = functools.partial(_picked, joint, j)
                    expression = f"a{k}[{j}]"
                else:
                    rule = namespace[f"r{k}_{j}"] = _bind(rules[j], self._static[k])
                    expression = f"r{k}_{j}{call}"
                traced_rule = functools.partial(rule, **dynamic) if dynamic else rule
                shape, dtype, identity = _result_of(traced_rule, traced[out_slot], ans, values)
                if identity and prim.vjp_all is None:
                    expression = f"g{out_slot}"  # gradients are never changed in place: sharing is safe
                if shape != shapes[target]:
                    expression = f"sum_to({expression}, {shapes[target]!r})"
                if dtype != dtypes[target] or dtypes[out_slot] != dtypes[target]:
                    namespace[f"d{target}"] = dtypes[target]
                    if (dtype is None or dtype.kind == "c") and dtypes[target].kind != "c":
                        expression = f"real({expression})"  # a real input of a complex result: dL/dRe
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
        return header + lines + [f"    return ({''.join(f'{result}, ' for result in results)})"], saved

    def _forward_source(self, namespace: dict, saved: list[int]) -> list[str]:
        """The lines of ``forward(*sources)``, which returns the outputs and the values backward reads.

        An elementwise ufunc writes its result into a temporary that no later operation, output or
        backward rule reads (``out=``); the temporary must itself come from a ufunc (so it owns its
        memory) and have the result's shape and dtype, of at least ``_REUSE_FROM`` entries.
        Operations other than ufuncs may return views of their inputs, so an input of one lives as
        long as its result.
        """
        shapes, dtypes = self.shapes, self.dtypes
        sources = [f"v{slot}" for _, slot in self.input_slots] + [f"v{slot}" for _, slot in self.captured]
        kept = set(saved) | set(self.outputs)
        never = len(self.schedule)  # "read after the last operation": never free
        end = {slot: never for slot in kept}
        read_by = [[a.index for a in arguments if isinstance(a, Slot)] +
                   [slot for value in params.values() for slot in slots_read(value)]
                   for _, arguments, params, _ in self.schedule]
        for k, slots in enumerate(read_by):
            for slot in slots:
                if end.get(slot, -1) < never:
                    end[slot] = k
        for k in range(len(self.schedule) - 1, -1, -1):
            prim, out_slot = self.schedule[k][0], self.schedule[k][3]
            if not isinstance(prim.forward, np.ufunc):  # its result may be a view of its inputs
                for slot in read_by[k]:
                    end[slot] = max(end.get(slot, -1), end.get(out_slot, -1))
        free: list[int] = []  # ufunc results whose memory nothing reads any more
        self.reuses: dict[int, int] = {}
        self.value_shaped = 0  # how many shapes are checked
        lines = [f"def forward({', '.join(sources)}):"]
        for k, (prim, arguments, params, out_slot) in enumerate(self.schedule):
            namespace[f"f{k}"] = _bind(prim.forward, self._static[k])
            names = []
            for j, argument in enumerate(arguments):
                if isinstance(argument, Slot):
                    names.append(f"v{argument.index}")
                else:
                    namespace[f"c{k}_{j}"] = argument
                    names.append(f"c{k}_{j}")
            ufunc = isinstance(prim.forward, np.ufunc) and not params and prim.forward.nout == 1
            buffer = None
            if ufunc and math.prod(shapes[out_slot]) >= _REUSE_FROM:
                elementwise = prim.forward.signature is None  # a generalized ufunc must not overwrite an input
                for candidate in free:
                    if (end[candidate] < k or elementwise and end[candidate] == k) and \
                            shapes[candidate] == shapes[out_slot] and dtypes[candidate] == dtypes[out_slot]:
                        buffer = candidate
                        break
            if buffer is not None:
                free.remove(buffer)
                self.reuses[out_slot] = buffer
                names.append(f"out=v{buffer}")
            lines.append(f"    v{out_slot} = f{k}({', '.join(names)}{self._dynamic[k]})")
            if prim.value_shaped:  # e.g. how many entries a mask selects: the shapes after it depend on it
                self.value_shaped += 1
                lines.append(f"    if v{out_slot}.shape != {shapes[out_slot]!r}: "
                             f"changed(v{out_slot}.shape, {shapes[out_slot]!r}, {self.value_shaped - 1})")
            if ufunc and end.get(out_slot, -1) < never:
                free.append(out_slot)
        outputs = "".join(f"v{slot}, " for slot in self.outputs)
        values = "".join(f"v{slot}, " for slot in saved)
        lines.append(f"    return ({outputs}), ({values})")
        return lines

    def pack(self, outputs: tuple) -> np.ndarray:
        """The floating outputs as the one array a call's graph node holds (see ``pack_outputs``)."""
        return pack_outputs([outputs[i] for i in self.seeded])

    def split(self, g: np.ndarray) -> list[np.ndarray]:
        """The seed of each floating output from the node's gradient (see ``unpack_outputs``)."""
        slots = [self.outputs[i] for i in self.seeded]
        return unpack_outputs(g, [self.shapes[s] for s in slots], [self.dtypes[s] for s in slots])

"""Random straight-line programs cross-checked against PyTorch (and tapegrad's own compiled mode).

A tiny program generator: the inputs are float64 arrays of random shapes (0-d, size-0 and size-1 axes
included); each step applies one operation of :data:`OPS` to values computed before (or to constants:
Python numbers in any position, NumPy arrays). An :class:`Op` carries a tapegrad implementation, a
PyTorch implementation, and ``make``, which picks the operands and parameters that fit the shapes
and keeps the values inside the domain and away from the kinks (so both libraries must agree). The
program runs in both; then, for each program:

* every value agrees (and its dtype);
* the gradient of a random-weighted sum of all the values agrees (first derivatives);
* a Hessian-vector product through ``create_graph`` agrees (second derivatives);
* ``tg.jvp`` agrees with the Jacobian-vector product PyTorch computes;
* ``tg.compile`` of the program, called on the inputs and again on new values, agrees with eager
  tapegrad, value and gradients.

The default run draws a modest number of programs (``TAPEGRAD_CROSSCHECK_EXAMPLES``, default 60).
For thousands, with every mismatch collected instead of stopping at the first::

    TAPEGRAD_CROSSCHECK_EXAMPLES=5000 pytest tests/test_crosscheck.py      # Hypothesis, shrinks a failure
    python -m tests.test_crosscheck 5000                                    # plain loop, lists every mismatch

Two kinds of operation are marked, so that a report groups their mismatches: ``inplace_view=True``
(in-place writes through views) and ``data_dependent=True`` (masks, conditions and indices computed from
the inputs, which ``tg.compile`` must not freeze).
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad.autograd import grad as tg_autograd_grad

EXAMPLES = int(os.environ.get("TAPEGRAD_CROSSCHECK_EXAMPLES", "60"))

RTOL, ATOL = 1e-7, 1e-9  # float64 on both sides; only the order of sums differs
LIMIT = 1e5  # a step whose result exceeds this (or is not finite) is not taken


# -- choices: from Hypothesis (which shrinks a failure) or from a plain random generator ---------------

class Chooser:
    """The random decisions of the generator. ``rng`` draws array values."""

    rng: np.random.Generator

    def integer(self, low: int, high: int) -> int:  # inclusive
        raise NotImplementedError

    def choice(self, options: Sequence[Any]) -> Any:
        return options[self.integer(0, len(options) - 1)]

    def boolean(self) -> bool:
        return self.integer(0, 1) == 1


class HypothesisChooser(Chooser):
    def __init__(self, data: Any) -> None:
        self.data = data
        self.rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(st.integers(low, high))


class RandomChooser(Chooser):
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def integer(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1))


# -- the program -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ref:
    """An operand: the value of step ``index`` (inputs first)."""
    index: int


@dataclass
class Step:
    op: Op
    operands: list  # Refs, Python numbers, NumPy arrays
    params: dict

    def __repr__(self) -> str:
        def show(o: Any) -> str:
            if isinstance(o, Ref):
                return f"v{o.index}"
            if isinstance(o, np.ndarray):
                return f"array({o.tolist()!r}, {o.dtype})"
            return repr(o)
        params = "".join(f", {k}={v.tolist() if isinstance(v, np.ndarray) else v!r}" for k, v in self.params.items())
        return f"{self.op.name}({', '.join(show(o) for o in self.operands)}{params})"


@dataclass
class Program:
    inputs: list[np.ndarray]
    steps: list[Step] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)  # PyTorch's values, inputs first
    weights: list[np.ndarray | None] = field(default_factory=list)  # of the weighted sum; None: not float

    def __repr__(self) -> str:
        lines = [f"v{i} = array({a.tolist()!r})  # shape {a.shape}" for i, a in enumerate(self.inputs)]
        base = len(self.inputs)
        lines += [f"v{base + k} = {step!r}" for k, step in enumerate(self.steps)]
        return "\n".join(lines)


@dataclass
class Op:
    """One operation of the vocabulary.

    ``make(ch, program, first)`` returns ``(operands, params)`` for a step on the value ``first``, or
    None when the operation does not fit that value (shape, domain, a kink too close).
    """
    name: str
    make: Callable[[Chooser, Program, int], tuple[list, dict] | None]
    tg: Callable[..., Any]
    torch: Callable[..., Any]
    inplace_view: bool = False
    data_dependent: bool = False
    in_place: bool = False  # writes in place: tg.jvp refuses that with a named InPlaceError (documented)


def _is_float(a: np.ndarray) -> bool:
    return a.dtype.kind == "f"


def _floats(program: Program) -> list[int]:
    return [i for i, v in enumerate(program.values) if _is_float(v)]


def _away(a: Any, b: Any, gap: float) -> bool:
    """Every entry of ``a`` differs from the broadcast ``b`` by more than ``gap``."""
    return bool(np.all(np.abs(np.asarray(a) - np.asarray(b)) > gap))


def _value(program: Program, operand: Any) -> Any:
    return program.values[operand.index] if isinstance(operand, Ref) else operand


def _broadcasts(*shapes: tuple) -> bool:
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True


def _partner(ch: Chooser, program: Program, first: int, *, numbers: bool = True) -> Any:
    """A second operand for a broadcasting operation on ``first``: another value whose shape
    broadcasts with it, the value itself, a Python number or a NumPy array constant."""
    shape = program.values[first].shape
    kinds = ["self", "value", "array"] + (["number", "number"] if numbers else [])
    kind = ch.choice(kinds)
    if kind == "value":
        fitting = [i for i in _floats(program) if _broadcasts(shape, program.values[i].shape)]
        return Ref(ch.choice(fitting))
    if kind == "array":
        return ch.rng.uniform(-2, 2, size=_broadcast_partner_shape(ch, shape))
    if kind == "number":
        return ch.choice([0.1, -0.7, 1.5, 2.0, 3])
    return Ref(first)


def _broadcast_partner_shape(ch: Chooser, shape: tuple) -> tuple:
    """A shape that broadcasts with ``shape``: a suffix with some axes set to 1, sometimes with a new leading axis."""
    keep = ch.integer(0, len(shape))
    suffix = [1 if ch.integer(0, 3) == 0 else n for n in shape[len(shape) - keep:]]
    lead = [ch.integer(1, 2)] if keep == len(shape) < 3 and ch.integer(0, 4) == 0 else []
    return tuple(lead + suffix)


def _torch_operand(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    return value


# -- the vocabulary --------------------------------------------------------------------------------

def _unary(name: str, tg_fn: Callable, torch_fn: Callable, domain: Callable[[np.ndarray], bool] = lambda x: True,
           **flags: Any) -> Op:
    def make(ch: Chooser, program: Program, first: int):
        return ([Ref(first)], {}) if domain(program.values[first]) else None
    return Op(name, make, tg_fn, torch_fn, **flags)


def _positive(low: float) -> Callable[[np.ndarray], bool]:
    return lambda x: bool(np.all(x > low))


def _no_kink_at_zero(x: np.ndarray) -> bool:
    return bool(np.all(np.abs(x) > 0.05))


def _binary(name: str, tg_fn: Callable, torch_fn: Callable,
            ok: Callable[[Any, Any], bool] = lambda a, b: True, numbers: bool = True) -> Op:
    def make(ch: Chooser, program: Program, first: int):
        other = _partner(ch, program, first, numbers=numbers)
        operands = [Ref(first), other] if ch.boolean() else [other, Ref(first)]  # numbers in either position
        a, b = (_value(program, o) for o in operands)
        return (operands, {}) if ok(a, b) else None
    return Op(name, make, tg_fn, torch_fn)


def _power_make(ch: Chooser, program: Program, first: int):
    x = program.values[first]
    kind = ch.choice(["integer", "real", "tensor", "base"])
    if kind == "integer":
        p = ch.choice([0, 1, 2, 3, -1, 0.0, 1.0, 2.0])
        return ([Ref(first), p], {}) if p >= 0 or _away(x, 0, 0.2) else None
    if kind == "real":
        return ([Ref(first), ch.choice([0.5, 1.5, -0.5])], {}) if np.all(x > 0.1) else None
    if kind == "base":  # a number raised to a tensor
        return ([ch.choice([2.0, 0.5, 3])], {"reverse": True}) if np.all(np.abs(x) < 5) else None
    other = _partner(ch, program, first, numbers=False)
    y = _value(program, other)
    # Not an exponent entry of exactly 0: there PyTorch's rule masks d/dy d(x**y)/dx = 1/x to 0 (tapegrad
    # gives 1/x; tests/ops/test_numerics.py checks it).
    return ([Ref(first), other], {}) if np.all(x > 0.1) and np.all(np.abs(y) < 3) and _away(y, 0, 1e-3) else None


def _power_tg(x, p, reverse=False):
    return p ** x if reverse else x ** p


def _power_torch(x, p, reverse=False):
    return p ** x if reverse else x ** p


def _where_make(ch: Chooser, program: Program, first: int):
    x = program.values[first]
    other = _partner(ch, program, first)
    shape = _broadcast_partner_shape(ch, np.broadcast_shapes(x.shape, np.shape(_value(program, other))))
    condition = ch.rng.random(shape) > 0.5
    return ([Ref(first), other] if ch.boolean() else [other, Ref(first)]), {"condition": condition}


def _clip_make(ch: Chooser, program: Program, first: int):
    x = program.values[first]
    bounds = []
    for centre in (-0.6, 0.6):
        kind = ch.choice(["none", "number", "array", "value"])
        if kind == "number":
            bounds.append(centre + ch.choice([0.0, 0.3, -0.3]))
        elif kind == "array":
            bounds.append(ch.rng.uniform(centre - 0.4, centre + 0.4, size=_broadcast_partner_shape(ch, x.shape)))
        elif kind == "value":
            fitting = [i for i in _floats(program) if i != first and _broadcasts(x.shape, program.values[i].shape)]
            bounds.append(Ref(ch.choice(fitting)) if fitting else None)
        else:
            bounds.append(None)
    lo, hi = (_value(program, b) for b in bounds)
    if not _broadcasts(x.shape, np.shape(lo), np.shape(hi)):
        return None
    if lo is not None and (not _away(x, lo, 0.05) or (hi is not None and not _away(lo, hi, 0.05))):
        return None
    if hi is not None and not _away(x, hi, 0.05):
        return None
    return [Ref(first), *bounds], {"path": ch.choice(["method", "function"])}


def _clip_tg(x, lo, hi, path):
    return x.clip(lo, hi) if path == "method" else tg.clip(x, lo, hi)


def _clip_torch(x, lo, hi, path):
    # torch.clamp with tensor bounds that enlarge a 0-d input fails in its backward ("output with shape []
    # doesn't match the broadcast shape [1]", PyTorch 2.13); maximum then minimum is the same function and,
    # with no ties (make keeps x and the bounds apart), has the same derivatives.
    out = x if lo is None else torch.maximum(*_tensors(x, lo))
    return out.clone() if hi is None else torch.minimum(*_tensors(out, hi))


def _axes(ch: Chooser, ndim: int, allow_none: bool = True) -> Any:
    kinds = (["none"] if allow_none else []) + (["int", "tuple"] if ndim else [])
    kind = ch.choice(kinds) if kinds else "none"
    if kind == "none":
        return None
    if kind == "int":
        return ch.integer(-ndim, ndim - 1)
    chosen = [a for a in range(ndim) if ch.boolean()] or [ch.integer(0, ndim - 1)]
    return tuple(a - ndim if ch.boolean() else a for a in chosen)


def _dims(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a % ndim for a in axes))


def _reduced_count(shape: tuple, axis: Any) -> int:
    return int(np.prod([shape[d] for d in _dims(axis, len(shape))]))


def _unique_extreme(x: np.ndarray, axis: Any, largest: bool) -> bool:
    """The extreme along the reduced axes is unique, by a margin (ties split the gradient differently)."""
    if x.size == 0:
        return True
    dims = _dims(axis, x.ndim)
    rest = [d for d in range(x.ndim) if d not in dims]
    flat = np.transpose(x, rest + list(dims)).reshape([x.shape[d] for d in rest] + [-1])
    if flat.shape[-1] < 2:
        return True
    s = np.sort(flat, axis=-1)
    gap = s[..., -1] - s[..., -2] if largest else s[..., 1] - s[..., 0]
    return bool(np.all(gap > 1e-3))


def _reduction(name: str, torch_name: str, *, nonempty: bool = False, ddof: bool = False,
               ok: Callable[[np.ndarray, Any], bool] = lambda x, axis: True) -> Op:
    def make(ch: Chooser, program: Program, first: int):
        x = program.values[first]
        axis = _axes(ch, x.ndim)
        params = {"axis": axis, "keepdims": ch.boolean()}
        count = _reduced_count(x.shape, axis)
        if ddof:
            params["ddof"] = ch.integer(0, 1)
            if count <= params["ddof"]:
                return None
        if nonempty and count == 0:
            return None
        return ([Ref(first)], params) if ok(x, axis) else None

    def ours(x, axis, keepdims, **kw):
        return getattr(x, name)(axis=axis, keepdims=keepdims, **kw)

    def theirs(x, axis, keepdims, ddof=None):
        dims = _dims(axis, x.ndim)
        if torch_name == "prod":  # one axis at a time
            out = x
            for d in reversed(dims):
                out = out.prod(dim=d, keepdim=keepdims)
            return out
        if not dims:  # a 0-d tensor
            return x.clone() if ddof is None else getattr(torch, torch_name)(x.reshape(1), correction=ddof)[()]
        extra = {} if ddof is None else {"correction": ddof}
        return getattr(torch, torch_name)(x, dim=dims, keepdim=keepdims, **extra)
    return Op(name, make, ours, theirs)


def _softmax_like(name: str) -> Op:
    def make(ch: Chooser, program: Program, first: int):
        x = program.values[first]
        return ([Ref(first)], {"axis": ch.integer(-x.ndim, x.ndim - 1)}) if x.ndim else None
    return Op(name, make, lambda x, axis: getattr(x, name)(axis=axis),
              lambda x, axis: getattr(torch, name)(x, dim=axis))


def _reshape_make(ch: Chooser, program: Program, first: int):
    shape = program.values[first].shape
    size = int(np.prod(shape))
    options = [(size,), shape[::-1], (1,) + shape, shape + (1,)]
    if size:
        options += [(-1,), (1, -1)]
    return [Ref(first)], {"shape": ch.choice(options)}


def _permutation(ch: Chooser, n: int) -> tuple[int, ...]:
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = ch.integer(0, i)
        order[i], order[j] = order[j], order[i]
    return tuple(order)


def _shape_op(name: str, make_params: Callable[[Chooser, np.ndarray], dict | None], ours: Callable,
              theirs: Callable) -> Op:
    def make(ch: Chooser, program: Program, first: int):
        params = make_params(ch, program.values[first])
        return None if params is None else ([Ref(first)], params)
    return Op(name, make, ours, theirs)


def _squeeze_params(ch: Chooser, x: np.ndarray):
    ones = [d for d, n in enumerate(x.shape) if n == 1]
    return {"axis": ch.choice(ones)} if ones else None


def _flatten_params(ch: Chooser, x: np.ndarray):
    if x.ndim == 0:
        return None
    start = ch.integer(0, x.ndim - 1)
    return {"start": start, "end": ch.integer(start, x.ndim - 1)}


def _broadcast_to_params(ch: Chooser, x: np.ndarray):
    shape = [ch.integer(0, 2) if n == 1 and ch.boolean() else n for n in x.shape]
    lead = [ch.integer(1, 2)] if ch.boolean() and x.ndim < 3 else []
    return {"shape": tuple(lead + shape)}


def _pad_params(ch: Chooser, x: np.ndarray):
    if x.ndim == 0:
        return None
    return {"width": tuple((ch.integer(0, 2), ch.integer(0, 1)) for _ in range(x.ndim)),
            "value": ch.choice([0.0, 0.5, -1.0])}


def _torch_pad(x, width, value):
    flat = [n for pair in reversed(width) for n in pair]
    return torch.nn.functional.pad(x, flat, value=value)


def _repeat_params(ch: Chooser, x: np.ndarray):
    axis = ch.choice([None] + list(range(x.ndim)))
    return {"repeats": ch.integer(0, 3), "axis": axis}


def _torch_repeat(x, repeats, axis):
    return torch.repeat_interleave(x.reshape(-1) if axis is None else x, repeats, dim=0 if axis is None else axis)


def _tile_params(ch: Chooser, x: np.ndarray):
    return {"reps": tuple(ch.integer(1, 2) for _ in range(ch.integer(1, 3)))}


def _join_make(stack: bool) -> Callable:
    def make(ch: Chooser, program: Program, first: int):
        x = program.values[first]
        if not stack and x.ndim == 0:
            return None
        axis = ch.integer(-x.ndim - stack, x.ndim - 1 + stack)
        def fits(i: int) -> bool:
            other = program.values[i].shape
            if stack:
                return other == x.shape
            a = axis % x.ndim
            return len(other) == x.ndim and all(p == q for d, (p, q) in enumerate(zip(other, x.shape)) if d != a)
        partners = [i for i in _floats(program) if fits(i)]
        chosen = [Ref(first)] + [Ref(ch.choice(partners)) for _ in range(ch.integer(0, 2))]
        return chosen, {"axis": axis}
    return make


def _index_make(ch: Chooser, program: Program, first: int):
    x = program.values[first]
    kinds = ["ellipsis_int", "newaxis"]
    if x.ndim:
        kinds += ["basic", "basic", "array", "mask", "slice_array"]
    if x.ndim >= 2:
        kinds += ["two_arrays"]
    kind = ch.choice(kinds)
    if kind == "newaxis":
        return [Ref(first)], {"index": (None, Ellipsis)}
    if kind == "ellipsis_int":
        if x.ndim == 0 or x.shape[-1] == 0:
            return [Ref(first)], {"index": (Ellipsis,)}
        return [Ref(first)], {"index": (Ellipsis, ch.integer(-x.shape[-1], x.shape[-1] - 1))}
    n = x.shape[0]
    if kind == "basic":
        items = []
        for d in range(ch.integer(1, x.ndim)):
            size = x.shape[d]
            if size and ch.boolean():
                items.append(ch.integer(-size, size - 1))
            else:
                start, stop = ch.integer(-size - 1, size + 1), ch.integer(-size - 1, size + 1)
                items.append(slice(ch.choice([None, start]), ch.choice([None, stop]), ch.choice([None, 1, 2, -1, -2])))
        return [Ref(first)], {"index": tuple(items)}
    if kind == "array":
        if n == 0:
            return None
        picks = np.array([ch.integer(-n, n - 1) for _ in range(ch.integer(0, 4))], dtype=np.int64)
        return [Ref(first)], {"index": picks}
    if kind == "slice_array":
        if x.ndim < 2 or x.shape[1] == 0:
            return None
        picks = np.array([ch.integer(0, x.shape[1] - 1) for _ in range(ch.integer(1, 3))], dtype=np.int64)
        return [Ref(first)], {"index": (slice(None), picks)}
    if kind == "two_arrays":
        if n == 0 or x.shape[1] == 0:
            return None
        k = ch.integer(1, 3)
        rows = np.array([ch.integer(0, n - 1) for _ in range(k)], dtype=np.int64)
        cols = np.array([ch.integer(0, x.shape[1] - 1) for _ in range(ch.choice([1, k]))], dtype=np.int64)
        return [Ref(first)], {"index": (rows, cols)}
    lead = ch.integer(1, x.ndim)
    mask = ch.rng.random(x.shape[:lead]) > 0.5
    return [Ref(first)], {"index": mask}


def _torch_index(x, index):
    """NumPy's indexing in PyTorch: slices with negative steps become index_select of the positions."""
    items = index if isinstance(index, tuple) else (index,)
    if not any(isinstance(i, slice) and (i.step or 1) < 0 for i in items):
        converted = tuple(torch.from_numpy(i) if isinstance(i, np.ndarray) else i for i in items)
        return x[converted if isinstance(index, tuple) else converted[0]]
    out, axis = x, 0  # only ints and slices (the "basic" kind) reach here
    for item in items:
        if isinstance(item, slice):
            positions = list(range(out.shape[axis]))[item]
            out = torch.index_select(out, axis, torch.tensor(positions, dtype=torch.int64))
            axis += 1
        else:
            out = out.select(axis, item)
    return out


def _take_make(ch: Chooser, program: Program, first: int):
    x = program.values[first]
    if x.ndim == 0:
        return None
    axis = ch.integer(-x.ndim, x.ndim - 1)
    n = x.shape[axis]
    if n == 0:
        return None
    shape = list(x.shape)
    shape[axis] = ch.integer(0, 3)
    return [Ref(first)], {"indices": ch.rng.integers(0, n, size=shape), "axis": axis}


def _matmul_make(ch: Chooser, program: Program, first: int):
    x = program.values[first]
    if x.ndim == 0:
        return None
    kind = ch.choice(["gram", "array", "array_left", "value"])
    if kind == "gram":  # x @ x^T: both operands take gradients from the same value
        return ([Ref(first)], {"gram": True}) if x.ndim >= 2 else ([Ref(first), Ref(first)], {})
    k = x.shape[-1]
    if kind == "array":
        shape = ch.choice([(k,), (k, ch.integer(0, 3))])
        return [Ref(first), ch.rng.uniform(-1, 1, size=shape)], {}
    if kind == "array_left":
        rows = x.shape[-2] if x.ndim >= 2 else x.shape[0]
        shape = ch.choice([(rows,), (ch.integer(0, 3), rows)])
        return [ch.rng.uniform(-1, 1, size=shape), Ref(first)], {}
    partners = [i for i in _floats(program) if program.values[i].ndim >= 1 and program.values[i].shape[0] == k
                and program.values[i].ndim <= 2]
    return ([Ref(first), Ref(ch.choice(partners))], {}) if partners else None


def _matmul_tg(a, b=None, gram=False):
    return a @ a.swapaxes(-1, -2) if gram else a @ b


def _matmul_torch(a, b=None, gram=False):
    return a @ a.transpose(-1, -2) if gram else a @ b


EINSUMS = {1: ["i,i->", "i,j->ij", "i->"], 2: ["ij->ji", "ij,ij->i", "ij,kj->ik", "ij->j", "ij,jk->ik"],
           3: ["bij,bkj->bik", "bij->bj", "bij,bij->b"]}


def _einsum_make(ch: Chooser, program: Program, first: int):
    x = program.values[first]
    if x.ndim not in EINSUMS:
        return None
    spec = ch.choice(EINSUMS[x.ndim])
    n_operands = spec.split("->")[0].count(",") + 1
    if spec == "ij,jk->ik":
        return [Ref(first), ch.rng.uniform(-1, 1, size=(x.shape[1], 2))], {"spec": spec}
    return [Ref(first)] * n_operands, {"spec": spec}


def _outer_make(ch: Chooser, program: Program, first: int):
    other = ch.choice([Ref(ch.choice(_floats(program))), 0.5, ch.rng.uniform(-1, 1, size=(ch.integer(0, 3),))])
    return ([Ref(first), other] if ch.boolean() else [other, Ref(first)]), {}


def _torch_outer(a, b):
    flat = [v.reshape(-1) if isinstance(v, torch.Tensor) else torch.tensor([float(v)], dtype=torch.float64)
            for v in (a, b)]
    return torch.outer(*flat)


def _setitem_make(ch: Chooser, program: Program, first: int):
    made = _index_make(ch, program, first)
    if made is None:
        return None
    _, params = made
    x = program.values[first]
    index = params["index"]
    if isinstance(index, np.ndarray) and index.dtype != bool:
        index = params["index"] = np.unique(index % x.shape[0]) if x.shape[0] else index  # one write per entry
    if isinstance(index, tuple) and any(isinstance(i, np.ndarray) for i in index):
        return None  # repeated targets: which write survives differs
    part = x[index].shape
    value_shape = ch.choice([part, part[1:] if part else part, ()])
    source = ch.choice(["value", "array", "number"])
    if source == "number":
        value = 0.25
    elif source == "array":
        value = ch.rng.uniform(-1, 1, size=value_shape)
    else:
        fitting = [i for i in _floats(program) if _broadcasts(program.values[i].shape, part)
                   and np.broadcast_shapes(program.values[i].shape, part) == part]
        value = Ref(ch.choice(fitting)) if fitting else 0.25
    return [Ref(first), value], {"index": index}


def _setitem_tg(x, value, index):
    out = x * 1.0
    out[index] = value
    return out


def _setitem_torch(x, value, index):
    out = x * 1.0
    converted = tuple(torch.from_numpy(i) if isinstance(i, np.ndarray) else i for i in
                      (index if isinstance(index, tuple) else (index,)))
    if any(isinstance(i, slice) and (i.step or 1) < 0 for i in converted):
        return None
    out[converted if isinstance(index, tuple) else converted[0]] = _torch_operand(value)
    return out


def _view_add_make(ch: Chooser, program: Program, first: int):
    x = program.values[first]
    if x.ndim == 0 or x.shape[0] < 2:
        return None
    stop = ch.integer(1, x.shape[0])
    return [Ref(first), ch.rng.uniform(-1, 1, size=(stop,) + x.shape[1:])], {"stop": stop, "scale": 10.0}


def _view_add_tg(x, value, stop, scale):
    y = x * 1.0
    v = y[0:stop]
    v += scale * x[0:stop] + value
    return y * y


def _view_add_torch(x, value, stop, scale):
    y = x * 1.0
    v = y[0:stop]
    v += scale * x[0:stop] + value
    return y * y


def _stale_view_tg(x, value, stop, scale):
    y = x * 1.0
    z = y[1:]
    y[1] = scale
    return z * x[1:]


def _stale_view_torch(x, value, stop, scale):
    y = x * 1.0
    z = y[1:]
    y[1] = scale
    return z * x[1:]


def _where_from_data_make(ch: Chooser, program: Program, first: int):
    x = program.values[first]
    if not _no_kink_at_zero(x):
        return None
    return [Ref(first), _partner(ch, program, first)], {}


def _mask_from_data_make(ch: Chooser, program: Program, first: int):
    x = program.values[first]
    return ([Ref(first)], {}) if x.ndim and _no_kink_at_zero(x) else None


def _argmax_take_make(ch: Chooser, program: Program, first: int):
    x = program.values[first]
    if x.ndim == 0 or 0 in x.shape:
        return None
    axis = ch.integer(0, x.ndim - 1)
    return ([Ref(first)], {"axis": axis}) if _unique_extreme(x, axis, True) else None


OPS: list[Op] = [
    _unary("negative", lambda x: -x, lambda x: -x),
    _unary("exp", tg.exp, torch.exp, lambda x: bool(np.all(x < 6))),
    _unary("log", tg.log, torch.log, _positive(0.1)),
    _unary("log1p", tg.log1p, torch.log1p, _positive(-0.8)),
    _unary("expm1", tg.expm1, torch.expm1, lambda x: bool(np.all(x < 6))),
    _unary("sqrt", tg.sqrt, torch.sqrt, _positive(0.1)),
    _unary("abs", tg.abs, torch.abs, _no_kink_at_zero),
    _unary("sin", tg.sin, torch.sin),
    _unary("cos", tg.cos, torch.cos),
    _unary("tan", tg.tan, torch.tan, lambda x: bool(np.all(np.abs(x) < 1.2))),
    _unary("tanh", tg.tanh, torch.tanh),
    _unary("sigmoid", tg.sigmoid, torch.sigmoid),
    _unary("softplus", tg.softplus, torch.nn.functional.softplus),
    _unary("relu", tg.relu, torch.relu, _no_kink_at_zero),
    _unary("leaky_relu", lambda x: x.leaky_relu(0.2), lambda x: torch.nn.functional.leaky_relu(x, 0.2),
           _no_kink_at_zero),
    _unary("elu", lambda x: x.elu(0.7), lambda x: torch.nn.functional.elu(x, 0.7), _no_kink_at_zero),
    _binary("add", lambda a, b: a + b, lambda a, b: a + b),
    _binary("subtract", lambda a, b: a - b, lambda a, b: a - b),
    _binary("multiply", lambda a, b: a * b, lambda a, b: a * b),
    _binary("divide", lambda a, b: a / b, lambda a, b: a / b, lambda a, b: _away(b, 0, 0.2)),
    _binary("maximum", tg.maximum, lambda a, b: torch.maximum(*_tensors(a, b)), lambda a, b: _away(a, b, 0.05)),
    _binary("minimum", tg.minimum, lambda a, b: torch.minimum(*_tensors(a, b)), lambda a, b: _away(a, b, 0.05)),
    Op("power", _power_make, _power_tg, _power_torch),
    Op("where", _where_make, lambda a, b, condition: tg.where(condition, a, b),
       lambda a, b, condition: torch.where(torch.from_numpy(condition), a, b)),
    Op("clip", _clip_make, _clip_tg, _clip_torch),
    _reduction("sum", "sum"),
    _reduction("mean", "mean", nonempty=True),
    _reduction("var", "var", ddof=True),
    _reduction("std", "std", ddof=True,
               ok=lambda x, axis: bool(np.all(np.var(x, axis=axis) > 1e-3)) if x.size else True),
    _reduction("prod", "prod", ok=lambda x, axis: _away(x, 0, 1e-3)),
    _reduction("max", "amax", nonempty=True, ok=lambda x, axis: _unique_extreme(x, axis, True)),
    _reduction("min", "amin", nonempty=True, ok=lambda x, axis: _unique_extreme(x, axis, False)),
    _reduction("logsumexp", "logsumexp", nonempty=True),
    _softmax_like("softmax"),
    _softmax_like("log_softmax"),
    Op("reshape", _reshape_make, lambda x, shape: x.reshape(shape), lambda x, shape: x.reshape(shape)),
    _shape_op("transpose", lambda ch, x: {"perm": _permutation(ch, x.ndim)},
              lambda x, perm: x.transpose(perm) if perm else x.transpose(), lambda x, perm: x.permute(perm)),
    _shape_op("swapaxes", lambda ch, x: {"a": ch.integer(-x.ndim, x.ndim - 1), "b": ch.integer(0, x.ndim - 1)}
              if x.ndim else None, lambda x, a, b: x.swapaxes(a, b), lambda x, a, b: x.transpose(a, b)),
    _shape_op("unsqueeze", lambda ch, x: {"axis": ch.integer(-x.ndim - 1, x.ndim)},
              lambda x, axis: x.unsqueeze(axis), lambda x, axis: x.unsqueeze(axis)),
    _shape_op("squeeze", _squeeze_params, lambda x, axis: x.squeeze(axis), lambda x, axis: x.squeeze(axis)),
    _shape_op("flatten", _flatten_params, lambda x, start, end: x.flatten(start, end),
              lambda x, start, end: x.flatten(start, end)),
    _shape_op("broadcast_to", _broadcast_to_params, lambda x, shape: x.broadcast_to(shape),
              lambda x, shape: x.broadcast_to(shape)),
    _shape_op("flip", lambda ch, x: {"axis": _axes(ch, x.ndim)}, lambda x, axis: x.flip(axis),
              lambda x, axis: x.flip(_dims(axis, x.ndim))),
    _shape_op("pad", _pad_params, lambda x, width, value: x.pad(width, constant_values=value), _torch_pad),
    _shape_op("repeat", _repeat_params, lambda x, repeats, axis: x.repeat(repeats, axis=axis), _torch_repeat),
    _shape_op("tile", _tile_params, lambda x, reps: x.tile(reps), lambda x, reps: x.tile(reps)),
    Op("concatenate", _join_make(False), lambda *xs, axis: tg.concatenate(list(xs), axis=axis),
       lambda *xs, axis: torch.cat(list(xs), dim=axis)),
    Op("stack", _join_make(True), lambda *xs, axis: tg.stack(list(xs), axis=axis),
       lambda *xs, axis: torch.stack(list(xs), dim=axis)),
    Op("getitem", _index_make, lambda x, index: x[index], _torch_index),
    Op("take_along_axis", _take_make, lambda x, indices, axis: x.take_along_axis(indices, axis),
       lambda x, indices, axis: torch.take_along_dim(x, torch.from_numpy(indices), dim=axis)),
    Op("matmul", _matmul_make, _matmul_tg, _matmul_torch),
    Op("einsum", _einsum_make, lambda *xs, spec: tg.einsum(spec, *xs), lambda *xs, spec: torch.einsum(spec, *xs)),
    Op("outer", _outer_make, tg.outer, _torch_outer),
    Op("setitem", _setitem_make, _setitem_tg, _setitem_torch, in_place=True),
    # In-place writes through views (issue 11 item 1): off by default until that fix is merged.
    Op("view_add", _view_add_make, _view_add_tg, _view_add_torch, inplace_view=True, in_place=True),
    Op("stale_view", _view_add_make, _stale_view_tg, _stale_view_torch, inplace_view=True, in_place=True),
    # Masks, conditions and indices computed from the inputs (issue 11 item 2): off by default.
    Op("where_from_data", _where_from_data_make, lambda a, b: tg.where(a > 0, a, b),
       lambda a, b: torch.where(a > 0, a, b), data_dependent=True),
    Op("mask_from_data", _mask_from_data_make, lambda x: x[x > 0], lambda x: x[x > 0], data_dependent=True),
    Op("take_argmax", _argmax_take_make,
       lambda x, axis: x.take_along_axis(x.argmax(axis=axis, keepdims=True), axis),
       lambda x, axis: torch.take_along_dim(x, x.argmax(dim=axis, keepdim=True), dim=axis), data_dependent=True),
]


def _tensors(*values: Any) -> list:
    """torch.maximum and minimum take tensors only: numbers become 0-d float64 tensors (exact for float64)."""
    return [torch.tensor(v, dtype=torch.float64) if isinstance(v, (int, float)) else v for v in values]


# -- generation ------------------------------------------------------------------------------------

def _input_shapes(ch: Chooser) -> list[tuple]:
    n = ch.integer(1, 3)
    base = tuple(ch.choice([0, 1, 1, 2, 3, 3]) for _ in range(ch.integer(0, 3)))
    return [base] + [_broadcast_partner_shape(ch, base) for _ in range(n - 1)]


def generate(ch: Chooser, ops: Sequence[Op] | None = None, max_steps: int = 6) -> Program:
    """A random program whose every step fits its operands' shapes, domains and kinks."""
    ops = list(ops or OPS)
    inputs = []
    for shape in _input_shapes(ch):
        magnitude = ch.rng.uniform(0.3, 2.0, size=shape)
        value = magnitude * np.where(ch.rng.random(shape) < 0.5, -1.0, 1.0)
        if ch.integer(0, 3) == 0:  # exact zeros, where formulas divide by zero (ops with a kink there refuse them)
            value = np.where(ch.rng.random(shape) < 0.3, 0.0, value)
        inputs.append(np.asarray(value))
    program = Program(inputs=inputs, values=list(inputs))
    for _ in range(ch.integer(1, max_steps)):
        for _attempt in range(8):
            op = ch.choice(ops)
            first = ch.choice(_floats(program))
            made = op.make(ch, program, first)
            if made is None:
                continue
            operands, params = made
            try:
                value = _run_step_torch(op, operands, params, [torch.from_numpy(v) for v in program.values])
            except (RuntimeError, IndexError, ValueError, TypeError):
                continue  # PyTorch refuses it (a shape it does not take): not a program to compare
            if value is None:
                continue
            result = value.detach().numpy()
            if result.dtype.kind == "f" and (not np.all(np.isfinite(result)) or np.any(np.abs(result) > LIMIT)):
                continue
            program.steps.append(Step(op, operands, params))
            program.values.append(result)
            break
    program.weights = [ch.rng.standard_normal(v.shape) if _is_float(v) else None for v in program.values]
    return program


# -- running ---------------------------------------------------------------------------------------

def _run_step_torch(op: Op, operands: list, params: dict, values: list) -> Any:
    args = [values[o.index] if isinstance(o, Ref) else _torch_operand(o) for o in operands]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. std's "degrees of freedom <= 0" on size-0 input
        return op.torch(*args, **params)


def run_tg(program: Program, inputs: Sequence[Any]) -> list:
    values = list(inputs)
    for step in program.steps:
        args = [values[o.index] if isinstance(o, Ref) else o for o in step.operands]
        out = step.op.tg(*args, **step.params)
        values.append(out)
    return values


def run_torch(program: Program, inputs: Sequence[Any]) -> list:
    values = list(inputs)
    for step in program.steps:
        values.append(_run_step_torch(step.op, step.operands, step.params, values))
    return values


def weighted_sum(program: Program, values: list, lib: str) -> Any:
    total = None
    for value, weight in zip(values, program.weights):
        if weight is None:
            continue
        if tuple(weight.shape) != tuple(value.shape):  # a boolean mask of new values selected another count
            term = value.sum()
        else:
            term = (value * (torch.from_numpy(weight) if lib == "torch" else weight)).sum()
        total = term if total is None else total + term
    return total


def _numpy(t: torch.Tensor) -> np.ndarray:
    # PyTorch returns "zero tensors" for some derivatives (abs's second); converting one segfaults (2.13).
    if torch._is_zerotensor(t):
        return np.zeros(tuple(t.shape), dtype=np.float64 if t.dtype == torch.float64 else None)
    return t.detach().numpy()


def _close(ours: Any, theirs: Any, what: str, program: Program, rtol: float = RTOL) -> None:
    ours = np.asarray(ours.data if isinstance(ours, tg.Tensor) else ours)
    theirs = _numpy(theirs) if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape}, PyTorch {theirs.shape}\n{program!r}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype}, PyTorch {theirs.dtype}\n{program!r}"
    if ours.dtype.kind == "f":
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=ATOL, equal_nan=True,
                                   err_msg=f"{what} differs\n{program!r}")
    else:
        np.testing.assert_array_equal(ours, theirs, err_msg=f"{what} differs\n{program!r}")


def _grads_or_zeros(grads: Sequence[Any], inputs: Sequence[Any]) -> list:
    out = []
    for g, x in zip(grads, inputs):
        if g is None:
            out.append(np.zeros(x.shape))
        else:
            out.append(_numpy(g) if isinstance(g, torch.Tensor) else np.asarray(g.data))
    return out


def check(program: Program) -> None:
    """Compare the program in tapegrad with PyTorch (values, first and second derivatives, JVP) and
    with tapegrad's compiled mode; an AssertionError names the check and shows the program."""
    n = len(program.inputs)
    xs = [tg.tensor(a, requires_grad=True) for a in program.inputs]
    ts = [torch.tensor(a, requires_grad=True) for a in program.inputs]
    ours, theirs = run_tg(program, xs), run_torch(program, ts)
    for k in range(n, len(ours)):
        _close(ours[k], theirs[k], f"value v{k}", program)
    loss, loss_t = weighted_sum(program, ours, "tg"), weighted_sum(program, theirs, "torch")
    _close(loss, loss_t, "weighted sum", program)

    # First derivatives, recorded for the Hessian-vector product.
    grads = tg_autograd_grad(loss, xs, create_graph=True, allow_unused=True)
    grads_t = torch.autograd.grad(loss_t, ts, create_graph=True, allow_unused=True)
    for i, (g, gt) in enumerate(zip(_grads_or_zeros(grads, xs), _grads_or_zeros(grads_t, ts))):
        _close(g, gt, f"gradient of v{i}", program)

    # Second derivatives: d/dx <grad, v>.
    r = np.random.default_rng(len(program.steps))
    directions = [r.standard_normal(x.shape) for x in program.inputs]
    dot = [(g * d).sum() for g, d in zip(grads, directions) if g is not None and g.requires_grad]
    dot_t = [(g * torch.from_numpy(d)).sum() for g, d in zip(grads_t, directions) if g is not None and g.requires_grad]
    hvp = tg_autograd_grad(sum(dot[1:], dot[0]), xs, allow_unused=True) if dot else [None] * n
    hvp_t = torch.autograd.grad(sum(dot_t[1:], dot_t[0]), ts, allow_unused=True) if dot_t else [None] * n
    for i, (h, ht) in enumerate(zip(_grads_or_zeros(hvp, xs), _grads_or_zeros(hvp_t, ts))):
        _close(h, ht, f"Hessian-vector product, input v{i}", program, rtol=1e-6)

    # Forward mode: the tangent of every floating value.
    floats = [k for k in range(n, len(ours)) if _is_float(program.values[k])]
    if floats and not any(step.op.in_place for step in program.steps):
        def f_tg(*inputs):
            values = run_tg(program, inputs)
            return tuple(values[k] for k in floats)

        def f_torch(*inputs):
            values = run_torch(program, inputs)
            return tuple(values[k] for k in floats)

        _, tangents = tg.jvp(f_tg, list(program.inputs), directions)
        _, tangents_t = torch.autograd.functional.jvp(
            f_torch, tuple(torch.from_numpy(a) for a in program.inputs),
            tuple(torch.from_numpy(d) for d in directions))
        for k, t, tt in zip(floats, tangents, tangents_t):
            _close(t, tt, f"jvp tangent of v{k}", program, rtol=1e-6)

    # tg.compile, traced on the inputs and run again on new values, against eager tapegrad. A compiled
    # function refuses in-place writes while tracing with a named TracingError (documented).
    if any(step.op.in_place for step in program.steps):
        return
    compiled = tg.compile(lambda *inputs: weighted_sum(program, run_tg(program, inputs), "tg"))
    if any(step.op.data_dependent for step in program.steps):  # new values on the other side of x > 0
        moved = [np.where(r.random(a.shape) < 0.5, -a, a) for a in program.inputs]
    else:  # values near the traced ones, inside the same domains
        moved = [a * (1 + 0.01 * r.standard_normal(a.shape)) for a in program.inputs]
    for call, arrays in enumerate([program.inputs, moved]):
        xc = [tg.tensor(a, requires_grad=True) for a in arrays]
        xe = [tg.tensor(a, requires_grad=True) for a in arrays]
        try:
            out_e = weighted_sum(program, run_tg(program, xe), "tg")
        except tg.TapegradError:  # a mask of the new values selects a count a later step cannot take
            with pytest.raises(tg.TapegradError):
                compiled(*xc)
            return
        out_c = compiled(*xc)
        _close(out_c, np.asarray(out_e.data), f"compiled value (call {call + 1})", program)
        if out_e.requires_grad:
            out_c.backward()
            out_e.backward()
            for i, (a, b) in enumerate(zip(xc, xe)):
                _close(_grads_or_zeros([a.grad], [a])[0], _grads_or_zeros([b.grad], [b])[0],
                       f"compiled gradient of v{i} (call {call + 1})", program)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # new values may leave a domain: NaN on both sides
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_random_programs_match_pytorch_and_compiled_mode(data):
    program = generate(HypothesisChooser(data))
    data.draw(st.just(repr(program)), label="program")
    check(program)


def test_every_operation_of_the_vocabulary_is_generated():
    # Each op fits some program: a vocabulary entry that never applies would test nothing.
    made = set()
    for seed in range(400):
        program = generate(RandomChooser(seed), ops=OPS)
        made.update(step.op.name for step in program.steps)
    assert made == {op.name for op in OPS}


def main(count: int, first_seed: int = 0) -> int:
    """Run ``count`` programs from a plain random generator; print every mismatch (not just the first)."""
    failures: dict[str, list] = {}
    for seed in range(first_seed, first_seed + count):
        program = generate(RandomChooser(seed))
        try:
            check(program)
        except Exception as exc:  # noqa: BLE001 (every failure is reported, grouped by what failed)
            lines = [line for line in str(exc).splitlines() if line.strip()]
            what = next((line for line in lines if "differs" in line or ": shape" in line or ": dtype" in line),
                        lines[0] if lines else "")
            flagged = sorted({s.op.name for s in program.steps if s.op.inplace_view or s.op.data_dependent})
            key = f"{type(exc).__name__}: {what.split(' (call')[0]}" + (f" [with {', '.join(flagged)}]" * bool(flagged))
            failures.setdefault(key, []).append((seed, program, exc))
    for key, cases in sorted(failures.items(), key=lambda kv: -len(kv[1])):
        seed, program, exc = cases[0]
        print(f"\n=== {len(cases)} x {key}  (first: seed {seed})\n{program!r}")
        print("".join(traceback.format_exception_only(type(exc), exc))[:2000])
    print(f"\n{count} programs, {sum(len(c) for c in failures.values())} mismatches in {len(failures)} groups")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, int(sys.argv[2]) if len(sys.argv) > 2 else 0))

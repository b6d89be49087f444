"""The Tensor: a NumPy array that records the operations applied to it.

Every operation on a Tensor is a call of :func:`apply` with one primitive from :mod:`tapegrad.ops`.
When gradients are enabled and an input requires grad, ``apply`` adds one
:class:`~tapegrad.engine.Node` to the graph; ``backward()`` then walks that graph once in reverse.

The module reads top to bottom:

1. recording: :func:`apply`, the one path every operation takes (with its shortcuts for one and two
   inputs), and :func:`record`, which makes the graph Node;
2. the :class:`Tensor` class: attributes, autograd, Python values, operators, elementwise functions,
   reductions, shape, indexing, in-place changes, dtype, linear algebra, NumPy's protocol;
3. what the class's methods use, each taking the tensors it needs as arguments: converting data,
   normalizing indices, the history of views, forward mode's tangents, backward from tensors
   (:func:`backward_pass`), and the tables of NumPy functions a Tensor answers.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np

from .dtypes import get_default_dtype, is_differentiable
from .engine.backward import run_backward
from .engine.batching import BATCHING, BatchLevel, is_active
from .engine.forward import FORWARD, give_tangent, tangent_in, tangent_of
from .engine.modes import SPECIAL_MODES, is_grad_enabled, note_unrecorded, set_grad_enabled
from .engine.modes import state as _mode
from .engine.node import (
    ALL_PARENTS,
    SHARED_SHAPES,
    Node,
    bump,
    next_sequence,
    shared_shape,
    user_code_location,
    version_of,
)
from .errors import (
    AnomalyError,
    ArgumentError,
    BackwardError,
    BatchingError,
    DroppedGradientError,
    DTypeError,
    InPlaceError,
    ShapeError,
    TapegradError,
)
from .ops import REGISTRY, Namespace, Primitive
from .ops import arithmetic as A
from .ops import attention as ATT
from .ops import complex_numbers as C
from .ops import elementwise as E
from .ops import elementwise2 as E2
from .ops import fft as FF
from .ops import linalg as L
from .ops import linalg_numpy as LN
from .ops import nn as N
from .ops import reduce as R
from .ops import scans as SC
from .ops import shape as S
from .ops import shapes_numpy as SN
from .ops import signal as SG
from .ops import special as SP
from .ops.complex_numbers import for_complex
from .ops.shape import NUMERIC, dtype_arg, shown

__all__ = [
    "Tensor", "apply", "apply_unary", "apply_binary", "apply_view", "record", "GRAPH", "as_array", "where_mask",
    "pack_outputs", "unpack_outputs", "tensor_of_node", "backward_pass", "HookHandle", "describe",
    "Batched", "batched", "unbatched", "batched_input", "tangent_key", "is_traced", "vmap_level",
    "of_level",  # issue 17: tg.vmap
]

# -- recording ---------------------------------------------------------------------------------------


def apply(prim: Primitive, *args: Any, **params: Any) -> Tensor:
    """Run ``prim`` on ``args`` (Tensors, arrays or numbers) and record it when a gradient may be needed.

    This is what every operation on Tensors calls, and what a new primitive (see :mod:`tapegrad.ops`)
    is run with: ``tg.apply(my_primitive, x, y, axis=0)``.

    Returns:
        A new Tensor holding the result; it requires grad when the operation was recorded (grad mode
        on, some input requires grad, the primitive has VJP rules and the result is floating or complex).

    Raises:
        ShapeError, DTypeError: when NumPy rejects the operands, with the operation, the shapes and
            dtypes, and what the operation expects (a TapegradError the primitive raises itself, such
            as an ArgumentError for a bad parameter, passes as it is).
        ArgumentError: if ``prim`` is not a Primitive.
        DTypeError: for a complex result that needs a gradient of a primitive that does not differentiate
            complex values (see tapegrad.ops.complex_numbers).
    """
    if prim.__class__ is not Primitive and not isinstance(prim, Primitive):
        raise ArgumentError(f"apply: prim={shown(prim)} is a {type(prim).__name__}; expected a Primitive "
                            "(from tapegrad.ops, or one of your own)")
    special = SPECIAL_MODES.count  # no_grad, jvp, vmap, detect_anomaly or an observer somewhere: look closer
    if special and BATCHING.levels:  # inside tg.vmap: batched inputs run the primitive's batching rule
        result = _apply_batched(prim, args, params)
        if result is not None:
            return result
    arrays = []
    parents = []
    recording = False  # some input requires grad
    for arg in args:
        if isinstance(arg, Tensor):
            arrays.append(arg.data)
            if arg.requires_grad:
                parents.append(arg._node or arg)
                recording = True
                continue
        else:
            arrays.append(arg)
        parents.append(None)
    try:
        out = prim.forward(*arrays, **params) if params else prim.forward(*arrays)
    except TapegradError:
        raise
    except (ValueError, TypeError, IndexError) as exc:
        raise _operation_error(prim, args, params, exc) from None
    if out.__class__ is not np.ndarray:
        out = np.asarray(out)
    result = _new_tensor(Tensor)  # Tensor._make(out), written out: this is every operation's path
    result.data = out
    result.grad = result._node = result._name = None
    result.requires_grad = False
    if special:
        recording = recording and _mode.enabled
    dtype = out.dtype
    kind = dtype.kind
    if kind != "f":
        if kind not in "fbiuc":
            _check_unusual_result(prim, args, dtype)
        elif kind == "c" and recording and prim.vjps is not None:
            prim = complex_rules(prim, args)  # the rules a complex node runs; DTypeError if it has none
    if special:
        if _mode.anomaly and prim.vjps is not None:  # (not conversions, comparisons, positions)
            check_result(prim, args, out)
        if _mode.observer is not None:
            _mode.observer.operation(prim, args, params, result)
    if recording and prim.vjps is not None and kind in "fc":
        result._node = record(prim, tuple(parents), tuple(arrays), out, params)
        result.requires_grad = True
        if special and _mode.anomaly:
            result._node.where = user_code_location()
    if special and FORWARD.levels:
        carry_tangents(prim, args, params, result)
    return result


def apply_unary(prim: Primitive, x: Any, **params: Any) -> Tensor:
    """:func:`apply` for one input, the path of the Tensor methods (``x.sin()``, ``x.sum(axis=0)``):
    the same result and Node, without apply's loop over the inputs. With a special mode on (``jvp``,
    ``detect_anomaly``, an observer) or ``x`` not a Tensor, it hands over to :func:`apply`."""
    recordable = True
    if SPECIAL_MODES.count:
        if _mode.anomaly or _mode.observer is not None or FORWARD.levels or BATCHING.levels:
            return apply(prim, x, **params)
        recordable = _mode.enabled  # only no_grad is on (in this thread or another)
    if not isinstance(x, Tensor):
        return apply(prim, x, **params)
    data = x.data
    try:
        out = prim.forward(data, **params) if params else prim.forward(data)
    except TapegradError:
        raise
    except (ValueError, TypeError, IndexError) as exc:
        raise _operation_error(prim, (x,), params, exc) from None
    if out.__class__ is not np.ndarray:
        out = np.asarray(out)
    result = _new_tensor(Tensor)  # Tensor._make(out), written out: this is every operation's path
    result.data = out
    result.grad = result._node = result._name = None
    result.requires_grad = False
    dtype = out.dtype
    if not (x.requires_grad and recordable) or prim.vjps is None or (dtype is not _FLOAT64 and dtype.kind != "f"):
        if dtype.kind not in "fbiu":
            if dtype.kind != "c":
                _check_unusual_result(prim, (x,), dtype)
            elif x.requires_grad and recordable and prim.vjps is not None:
                result._node = record(complex_rules(prim, (x,)), (x._node or x,), (data,), out, params)
                result.requires_grad = True
        return result
    result._node = record(prim, (x._node or x,), (data,), out, params)
    result.requires_grad = True
    return result


def apply_binary(prim: Primitive, x: Any, y: Any) -> Tensor:
    """:func:`apply` for two inputs without parameters, the path of the operators (``x * y``): the
    same result and Node, without apply's loop over the inputs. With a special mode on (``jvp``,
    ``detect_anomaly``, an observer) it hands over to :func:`apply`."""
    recordable = True
    if SPECIAL_MODES.count:
        if _mode.anomaly or _mode.observer is not None or FORWARD.levels or BATCHING.levels:
            return apply(prim, x, y)
        recordable = _mode.enabled  # only no_grad is on (in this thread or another)
    if isinstance(x, Tensor):
        x_data = x.data
        x_parent = (x._node or x) if x.requires_grad and recordable else None
    else:
        x_data, x_parent = x, None
    if isinstance(y, Tensor):
        y_data = y.data
        y_parent = (y._node or y) if y.requires_grad and recordable else None
    else:
        y_data, y_parent = y, None
    try:
        out = prim.forward(x_data, y_data)
    except TapegradError:
        raise
    except (ValueError, TypeError, IndexError) as exc:
        raise _operation_error(prim, (x, y), _NO_PARAMS, exc) from None
    if out.__class__ is not np.ndarray:
        out = np.asarray(out)
    result = _new_tensor(Tensor)  # Tensor._make(out), written out: this is every operation's path
    result.data = out
    result.grad = result._node = result._name = None
    result.requires_grad = False
    dtype = out.dtype
    if (x_parent is None and y_parent is None) or prim.vjps is None or (dtype is not _FLOAT64 and dtype.kind != "f"):
        if dtype.kind not in "fbiu":
            if dtype.kind != "c":
                _check_unusual_result(prim, (x, y), dtype)
            elif (x_parent is not None or y_parent is not None) and prim.vjps is not None:
                result._node = record(complex_rules(prim, (x, y)), (x_parent, y_parent), (x_data, y_data), out,
                                      _NO_PARAMS)
                result.requires_grad = True
        return result
    # What record() decides and Node() makes, written out for two inputs: the one inlined copy of them.
    # The operators are the commonest operations, and it saves a sixth of their cost (a Python
    # __init__ call alone costs a tenth; benchmarks/tiny_ops.py). tests/engine/test_engine.py compares the
    # Nodes the two make, field by field.
    shape = out.shape
    recent = SHARED_SHAPES.recent
    shape = recent if shape == recent else shared_shape(shape)
    if x_parent is not None and y_parent is not None:
        inputs = (x_data, y_data) if prim.saves_inputs else ALL_PARENTS
        constants = None
    else:  # one input is a constant: its value is kept apart, where the other's may be left out
        constants = (None, y_data) if x_parent is not None else (x_data, None)
        inputs = (x_data, y_data) if prim.saves_inputs else constants
    exact = prim.elementwise
    if exact:
        # A Node knows its shape (the shared tuple: identity suffices) more cheaply than an array.
        if x_parent is not None:
            known = x_parent if x_parent.__class__ is Node else x_data
            exact = known.dtype is dtype and (known.shape is shape or known.shape == shape)
        if exact and y_parent is not None:
            known = y_parent if y_parent.__class__ is Node else y_data
            exact = known.dtype is dtype and (known.shape is shape or known.shape == shape)
    node = _new_tensor(Node)  # object.__new__: Node's fields set here as Node.__init__ sets them
    node.prim = prim
    node.parents = (x_parent, y_parent)
    node.inputs = inputs
    node.constants = constants
    node.ans = out if prim.saves_ans else None
    node.sequence = next_sequence()
    node.params = _NO_PARAMS
    node.shape = shape
    node.dtype = dtype
    node.exact = exact
    node.extras = None
    result._node = node
    result.requires_grad = True
    return result


def apply_view(prim: Primitive, x: Any, **params: Any) -> Tensor:
    """:func:`apply_unary` for a primitive whose result may view its input's memory (``getitem``,
    ``reshape``, ``transpose``, ``flip``, ...). When NumPy returned a view, the result remembers
    which tensor it views and how (:func:`note_view`), so that an in-place change of either one
    gives the other the right history."""
    result = apply_unary(prim, x, **params)
    if isinstance(x, Tensor) and result.__class__ is not Batched:  # a batched value is never changed in place
        note_view(result, x, prim, params)
    return result


def record(prim: Primitive, parents: tuple, arrays: tuple, out: np.ndarray, params: dict) -> Node:
    """The graph Node of ``out = prim(*arrays, **params)``, where ``parents`` holds, per input, the
    Node that produced it, the leaf Tensor itself, or None for an input that takes no gradient
    (both tuples).

    It decides what the Node keeps: the inputs' arrays when the rules read them (else the parents
    stand in), the values of inputs that take no gradient, the output when the rules read it, and
    whether every gradient will have its input's shape and dtype already (``exact``: nothing to sum
    back over broadcast axes, nothing to cast).
    """
    shape = out.shape
    recent = SHARED_SHAPES.recent
    shape = recent if shape == recent else shared_shape(shape)
    dtype = out.dtype
    if len(parents) == 1:  # the common case, kept short: one input, which takes the gradient
        # An elementwise primitive of one input gives a result of the input's shape and dtype.
        return Node(prim, parents, arrays if prim.saves_inputs else ALL_PARENTS, None,
                    out if prim.saves_ans else None, params or _NO_PARAMS, shape, dtype, prim.elementwise)
    exact = prim.elementwise
    constant = False
    for parent, array in zip(parents, arrays):
        if parent is None:
            constant = True
        elif exact:
            # A Node knows its shape (the shared tuple: identity suffices) more cheaply than an array.
            known = parent if parent.__class__ is Node else array
            if known.dtype is not dtype or (known.shape is not shape and known.shape != shape):
                exact = False
    if prim.saves_inputs:
        inputs = tuple(arrays)
        constants = tuple([a if p is None else None for a, p in zip(arrays, parents)]) if constant else None
    elif not constant:
        inputs, constants = ALL_PARENTS, None  # every parent stands in for its input: nothing to keep
    else:  # the parents stand in for inputs whose values the rules do not read
        inputs = constants = tuple([a if p is None else None for a, p in zip(arrays, parents)])
    return Node(prim, parents, inputs, constants, out if prim.saves_ans else None, params or _NO_PARAMS,
                shape, dtype, exact)



def _apply_batched(prim: Primitive, args: tuple, params: dict) -> Tensor | None:
    """:func:`apply` inside ``tg.vmap``: when an input is batched (or ``prim`` draws random numbers), run
    ``prim``'s batching rule once on the physical values of the innermost level among the inputs, and
    return the result batched at that level; None when nothing is batched (the ordinary path then runs).

    The rule runs with that level and the levels inside it set aside, so that its operations dispatch to
    the outer levels (and are recorded there, for gradients taken outside the vmap). The operation itself
    is recorded on the graph of its own level when an input requires grad there (a gradient taken inside
    the vmap, whose backward pass then runs the VJP rules on batched values), and it carries the tangents
    of jvp levels opened inside the vmap.
    """
    level = None
    for arg in args:
        if arg.__class__ is Batched and (level is None or arg._level.depth > level.depth):
            level = arg._level
    if level is None:
        if prim.deterministic:
            return None
        return _draw_batched(prim, args, params)
    if not is_active(level):
        raise BatchingError(_escaped(prim.name))
    physical, flags = [], []
    for arg in args:
        if arg.__class__ is Batched and arg._level is level:
            physical.append(arg._physical)
            flags.append(arg._mapped)
        else:
            physical.append(arg)
            flags.append(False)
    mapped = any(flags)
    if mapped:
        rule = prim.batch
        if rule is None:
            raise BatchingError(f"{prim.name}: this primitive has no batching rule, so it cannot run inside tg.vmap "
                                "(declare batch= beside its VJP and JVP rules; see tapegrad.ops.batching)")
    else:  # values of this level that are the same for every example (a shared parameter's grad input)
        rule = _unmapped_rule
    out = _run_rule(rule, prim, level, tuple(flags), physical, params)
    result = batched(out, level, mapped)
    kind = result.dtype.kind
    if prim.vjps is not None and kind in "fc" and _mode.enabled:
        parents, recording = [], False
        for arg in args:
            if isinstance(arg, Tensor) and arg.requires_grad:
                parents.append(arg._node or arg)
                recording = True
            else:
                parents.append(None)
        if recording:
            saved = tuple([_saved_value(arg) for arg in args])
            rules = complex_rules(prim, args) if kind == "c" else prim  # as apply records a complex node
            result._node = record(rules, tuple(parents), saved, batched(out, level, mapped), params)
            result.requires_grad = True
    if FORWARD.levels:
        carry_tangents(prim, args, params, result)
    return result


def _run_rule(rule: Callable, prim: Primitive, level: BatchLevel, flags: tuple, physical: list, params: dict
              ) -> Tensor:
    """``rule`` on the physical values, with ``level``, the levels inside it and the jvp levels opened
    inside it set aside; the result as a Tensor."""
    levels, forward = BATCHING.levels, FORWARD.levels
    BATCHING.levels = levels[:level.depth]
    if len(forward) > level.forward_depth:
        FORWARD.levels = forward[:level.forward_depth]
    try:
        out = rule(GRAPH, prim, level.size, flags, *physical, **params)
    finally:
        BATCHING.levels, FORWARD.levels = levels, forward
    return out if isinstance(out, Tensor) else Tensor._make(np.asarray(out))


def _unmapped_rule(xp: Namespace, prim: Primitive, size: int, flags: tuple, /, *inputs: Any, **params: Any) -> Any:
    """The operation on values that are the same for every example: once, as it is."""
    return xp.call(prim, *inputs, **params)


def _draw_batched(prim: Primitive, args: tuple, params: dict) -> Tensor | None:
    """A random draw inside ``tg.vmap``, as the innermost level's ``randomness`` says: one draw per example
    ("different"), the draw of the next level out ("same"), or a BatchingError ("error")."""
    levels = BATCHING.levels
    for level in reversed(levels):
        if level.randomness == "error":
            raise BatchingError(
                f"{prim.name}: a random draw inside tg.vmap with randomness='error' (the default). Pass "
                "randomness='different' to draw independently for each example, or randomness='same' to "
                "draw once for all of them (as torch.func.vmap)")
        if level.randomness == "different":
            return batched(_run_rule(prim.batch, prim, level, (False,) * len(args), list(args), params), level)
    return None


def _saved_value(arg: Any) -> Any:
    """What a Node recorded inside ``tg.vmap`` keeps of an input: a batched value without its graph (the
    Node must not keep the Tensor it is part of the history of), a Tensor's array, anything else as it is."""
    if arg.__class__ is Batched:
        return batched(arg._physical, arg._level, arg._mapped)
    return arg.data if isinstance(arg, Tensor) else arg


def _escaped(what: str) -> str:
    return (f"{what}: a value batched by tg.vmap was used after its vmap ended (or outside the function it "
            "was given to). Batched values live only inside the vmapped function: return them from it instead "
            "(they come out stacked along out_axes)")


def _operation_error(prim: Primitive, args: tuple, params: dict, exc: Exception) -> Exception:
    operands = " and ".join(describe(a) for a in args)
    shown = {k: v for k, v in params.items() if k != "index"}
    extra = f" with {shown}" if shown else ""
    message = (f"{prim.name}: cannot apply to {operands}{extra}: expected {prim.expects or 'valid operands'}"
               f" (NumPy says: {exc})")
    return DTypeError(message) if isinstance(exc, TypeError) else ShapeError(message)


def _check_unusual_result(prim: Primitive, args: tuple, dtype: np.dtype) -> None:
    """Raises DTypeError for a result that is not numbers (object, string), e.g. from an object array operand."""
    operands = " and ".join(describe(a) for a in args)
    raise DTypeError(f"{prim.name}: {operands} give a result of dtype {dtype}; expected numeric operands "
                     "(bool, integer, floating or complex arrays, tensors or numbers)")


def complex_rules(prim: Primitive, args: tuple) -> Primitive:
    """The primitive whose rules a node of ``prim`` with a complex result runs (see
    :func:`tapegrad.ops.complex_numbers.for_complex`).

    Raises:
        DTypeError: naming ``prim`` when it does not differentiate complex values.
    """
    return for_complex(prim, " and ".join(describe(a) for a in args))



_NO_PARAMS: dict = {}
_FLOAT64 = np.dtype(np.float64)  # the common dtype, recognised by identity before asking its kind
_new_tensor = object.__new__  # a Tensor (or Node) without running __init__


def _reattach(value: Any, parent: Any) -> Any:
    """A saved input as the graph namespace's rules see it: a Tensor on its parent's graph."""
    if parent is None:
        return value
    if isinstance(parent, Tensor):
        return parent
    tensor = batched(value._physical, value._level, value._mapped) if value.__class__ is Batched else \
        Tensor._make(value)
    tensor._node, tensor.requires_grad = parent, True
    return tensor


#: The namespace gradient rules use when the backward pass is recorded (``create_graph=True``).
GRAPH: Namespace = Namespace("graph", REGISTRY, lambda prim: partial(apply, prim), apply, _reattach)


class Tensor:
    """An n-dimensional array that can record operations for automatic differentiation.

    Args:
        data: anything ``numpy.asarray`` accepts; NumPy arrays are used without copying.
        requires_grad: record operations on this tensor so that ``backward()`` fills ``.grad``.
            Only floating dtypes can require grad.
        name: a label shown in errors and graph pictures.
    """

    # ``_view`` and ``_views`` are set only on views and the tensors they view (see note_view).
    __slots__ = ("data", "grad", "requires_grad", "_node", "_name", "_view", "_views", "__weakref__")
    __hash__ = object.__hash__

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None) -> None:
        self.data = as_array(data)
        self.grad: Tensor | None = None
        self.requires_grad = False
        self._node: Node | None = None
        self._name = name
        if requires_grad:
            self.requires_grad_(True)
        if SPECIAL_MODES.count and _mode.observer is not None:
            _mode.observer.constant(self)

    @classmethod
    def _make(cls, data: np.ndarray) -> Tensor:
        """A plain Tensor around ``data`` as it is (no conversion, no checks: for tapegrad's own arrays)."""
        tensor = _new_tensor(cls)
        tensor.data = data
        tensor.grad = tensor._node = tensor._name = None
        tensor.requires_grad = False
        return tensor

    # -- attributes ------------------------------------------------------------------------------
    shape = property(lambda self: self.data.shape, doc="The shape, a tuple of ints.")
    ndim = property(lambda self: self.data.ndim, doc="The number of dimensions.")
    size = property(lambda self: self.data.size, doc="The number of entries.")
    dtype = property(lambda self: self.data.dtype, doc="The NumPy dtype.")
    grad_fn = property(lambda self: self._node, doc="The Node that produced this tensor (None for a leaf).")
    is_leaf = property(lambda self: self._node is None,
                       doc="True unless this tensor was produced by a recorded operation.")

    @property
    def name(self) -> str | None:
        """A label shown in errors, explanations and graph pictures (None by default). Set on a computed
        tensor, it names that step of the graph (its Node's ``label``)."""
        return self._name

    @name.setter
    def name(self, name: str | None) -> None:
        if name is not None and not isinstance(name, str):
            raise ArgumentError(f"name: expected a str or None, got {shown(name)}")
        self._name = name
        if self._node is not None:
            self._node.label = name

    @property
    def T(self) -> Tensor:
        """The tensor with its axes reversed (the transpose of a matrix)."""
        return self.transpose()

    @property
    def version(self) -> int:
        """How many in-place changes this tensor's data has seen."""
        return version_of(self.data)

    # -- autograd --------------------------------------------------------------------------------
    def detach(self) -> Tensor:
        """A tensor sharing this data but cut from the graph (it does not require grad)."""
        return apply(S.detach, self)  # a new array object: no jvp tangent follows it

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` on a leaf, in place; returns the tensor.

        Raises:
            DTypeError: for a dtype that is neither floating nor complex.
            BackwardError: when turning it off on a non-leaf.
        """
        if requires_grad and not is_differentiable(self.dtype):
            raise DTypeError(f"requires_grad: only floating and complex tensors can require gradients "
                             f"(float16, float32, float64, complex64, complex128); this one is {self.dtype}")
        if not requires_grad and self._node is not None:
            raise BackwardError("requires_grad_(False) on a non-leaf tensor; use .detach() instead")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` for this non-leaf tensor after ``backward()``; returns the tensor."""
        if self._node is not None:
            self._node.retained = weakref.ref(self)
        elif not self.requires_grad:
            raise BackwardError("retain_grad on a tensor that does not require grad")
        return self

    def register_hook(self, hook: Callable[[Tensor], Any]) -> HookHandle:
        """Call ``hook(grad)`` with the gradient flowing into this tensor during backward; if it returns
        a value, that replaces the gradient. Returns a handle whose ``remove()`` unregisters it.

        Raises:
            BackwardError: for a tensor that does not require grad.
        """
        if not self.requires_grad:
            raise BackwardError("register_hook on a tensor that does not require grad")
        if self._node is not None:
            if self._node.hooks is None:
                self._node.hooks = []
            hooks = self._node.hooks
        else:
            hooks = _leaf_hooks(self)
            if hooks is None:
                hooks = []
                _LEAF_HOOKS[id(self)] = (weakref.ref(self), hooks)
                weakref.finalize(self, _LEAF_HOOKS.pop, id(self), None)
        hooks.append(hook)
        return HookHandle(hooks, hook)

    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Sequence[Tensor] | None = None) -> None:
        """Accumulate the gradient of this tensor into ``.grad`` of the leaves it depends on.

        Args:
            gradient: the gradient of some scalar with respect to this tensor (same shape);
                may be omitted only for a one-entry tensor, where it is 1.
            retain_graph: keep the graph's saved values for another backward (default: create_graph).
            create_graph: record the backward pass, so the gradients can be differentiated again.
            inputs: accumulate only into these tensors' ``.grad``.

        Raises:
            BackwardError: if this tensor does not require grad, or is not a scalar and no
                ``gradient`` is given.
        """
        backward_pass([self], [gradient], inputs=inputs, retain_graph=retain_graph,
                      create_graph=create_graph, accumulate=True)

    # -- Python values ---------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shared, not copied)."""
        note_unrecorded("numpy()")
        return self.data

    def item(self) -> Any:
        """The single value of a one-entry tensor as a Python number.

        Raises:
            ShapeError: if the tensor has more than one entry.
        """
        note_unrecorded("item()")
        if self.data.size != 1:
            raise ShapeError(f"item: needs a tensor with one entry, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        """The data as (nested) Python lists of numbers."""
        note_unrecorded("tolist()")
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """The data, for NumPy code that converts its arguments (``np.asarray``, ``np.array([...])``).

        Raises:
            DroppedGradientError: for a tensor that requires grad while recording is on: the array
                would carry no gradient, so whatever is computed from it would silently get none.
        """
        note_unrecorded("conversion to a NumPy array (numpy.asarray)")
        if self.requires_grad and is_grad_enabled():
            raise DroppedGradientError(
                f"converting a tensor that requires grad (shape {self.shape}, {self.dtype}) to a NumPy array "
                "would silently drop its gradient. NumPy or SciPy code that calls np.asarray/np.array on its "
                "arguments cannot be differentiated: use tapegrad's own function instead (np.stack([a, b]) or "
                "tg.stack([a, b]) for np.array([a, b]); see the README's table of NumPy functions), or take the values "
                "without gradient explicitly with .detach() (or .numpy(), or inside tg.no_grad()).")
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        note_unrecorded("bool()")
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             "use .any() or .all() on its data")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        note_unrecorded("__index__()")
        return self.data.__index__()

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extras = []
        if self.dtype not in (get_default_dtype(), np.dtype(np.int64), np.dtype(bool)):
            extras.append(f"dtype={self.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn=<{self._node.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return "tensor(" + ", ".join([body] + extras) + ")"

    # -- arithmetic operators --------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor: return apply_binary(A.add, self, other)
    def __radd__(self, other: Any) -> Tensor: return apply_binary(A.add, other, self)
    def __sub__(self, other: Any) -> Tensor: return apply_binary(A.subtract, self, other)
    def __rsub__(self, other: Any) -> Tensor: return apply_binary(A.subtract, other, self)
    def __mul__(self, other: Any) -> Tensor: return apply_binary(A.multiply, self, other)
    def __rmul__(self, other: Any) -> Tensor: return apply_binary(A.multiply, other, self)
    def __truediv__(self, other: Any) -> Tensor: return apply_binary(A.divide, self, other)
    def __rtruediv__(self, other: Any) -> Tensor: return apply_binary(A.divide, other, self)
    def __pow__(self, other: Any) -> Tensor: return apply_binary(A.power, self, other)
    def __rpow__(self, other: Any) -> Tensor: return apply_binary(A.power, other, self)
    def __matmul__(self, other: Any) -> Tensor: return apply_binary(L.matmul, self, other)
    def __rmatmul__(self, other: Any) -> Tensor: return apply_binary(L.matmul, other, self)
    def __neg__(self) -> Tensor: return apply_unary(E.negative, self)
    def __pos__(self) -> Tensor: return self
    def __abs__(self) -> Tensor: return apply(E.absolute, self)

    # Comparisons and logic give boolean tensors that take no gradient.
    def __lt__(self, other: Any) -> Tensor: return apply(E.less, self, other)
    def __le__(self, other: Any) -> Tensor: return apply(E.less_equal, self, other)
    def __gt__(self, other: Any) -> Tensor: return apply(E.greater, self, other)
    def __ge__(self, other: Any) -> Tensor: return apply(E.greater_equal, self, other)
    def __eq__(self, other: Any) -> Tensor: return apply(E.equal, self, other)  # type: ignore[override]
    def __ne__(self, other: Any) -> Tensor: return apply(E.not_equal, self, other)  # type: ignore[override]
    def __and__(self, other: Any) -> Tensor: return apply(E.logical_and, self, other)
    def __rand__(self, other: Any) -> Tensor: return apply(E.logical_and, other, self)
    def __or__(self, other: Any) -> Tensor: return apply(E.logical_or, self, other)
    def __ror__(self, other: Any) -> Tensor: return apply(E.logical_or, other, self)
    def __invert__(self) -> Tensor: return apply(E.logical_not, self)

    # -- elementwise functions -------------------------------------------------------------------
    def exp(self) -> Tensor: return apply_unary(E.exp, self)
    def log(self) -> Tensor: return apply_unary(E.log, self)
    def log1p(self) -> Tensor: return apply_unary(E.log1p, self)
    def expm1(self) -> Tensor: return apply_unary(E.expm1, self)
    def sqrt(self) -> Tensor: return apply_unary(E.sqrt, self)
    def abs(self) -> Tensor: return apply_unary(E.absolute, self)
    def sin(self) -> Tensor: return apply_unary(E.sin, self)
    def cos(self) -> Tensor: return apply_unary(E.cos, self)
    def tan(self) -> Tensor: return apply_unary(E.tan, self)
    def tanh(self) -> Tensor: return apply_unary(E.tanh, self)
    def sign(self) -> Tensor: return apply_unary(E.sign, self)
    def sigmoid(self) -> Tensor: return apply_unary(N.sigmoid, self)
    def softplus(self) -> Tensor: return apply_unary(N.softplus, self)
    def relu(self) -> Tensor: return apply_unary(N.relu, self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        """``x`` where positive, ``negative_slope * x`` elsewhere."""
        return apply_unary(N.leaky_relu, self, negative_slope=negative_slope)

    def elu(self, alpha: float = 1.0) -> Tensor:
        """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere."""
        return apply_unary(N.elu, self, alpha=alpha)

    def maximum(self, other: Any) -> Tensor:
        """Elementwise maximum; where both are equal the gradient is split in half."""
        return apply_binary(A.maximum, self, other)

    def minimum(self, other: Any) -> Tensor:
        """Elementwise minimum; where both are equal the gradient is split in half."""
        return apply_binary(A.minimum, self, other)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (NumPy's names)
        """Limit the values to ``[min, max]`` (numbers, arrays or tensors that broadcast with this one; None
        for no bound); the gradient passes where ``min <= x <= max``, and a tensor bound takes it where it is
        the result, as in PyTorch's ``clamp``."""
        return apply(A.clip, self, min, max)

    # -- reductions ------------------------------------------------------------------------------
    # Each raises ArgumentError for an axis that is not an integer, ShapeError for one out of range
    # or named twice (ops.shape.reduction_axis_arg).
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        axis = S.reduction_axis_arg(axis, self.ndim, "sum")
        return apply_unary(R.sum_, self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        axis = S.reduction_axis_arg(axis, self.ndim, "mean")
        return apply_unary(R.mean, self, axis=axis, keepdims=keepdims)

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        """Variance, ``mean((x - mean(x))**2)`` times ``n / (n - ddof)`` (NumPy's default ddof=0)."""
        axis = S.reduction_axis_arg(axis, self.ndim, "var")
        if ddof.__class__ is not int and (isinstance(ddof, (bool, np.bool_))
                                          or not isinstance(ddof, (int, float, np.integer, np.floating))):
            raise ArgumentError(f"var: ddof={S.shown(ddof)}; expected a real number (an int, usually 0 or 1)")
        return apply_unary(R.var, self, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        """Standard deviation, the square root of :meth:`var`."""
        return self.var(axis=axis, keepdims=keepdims, ddof=ddof).sqrt()

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Product of entries; its gradient is exact when entries are zero."""
        axis = S.reduction_axis_arg(axis, self.ndim, "prod")
        return apply_unary(R.prod, self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Largest entry; the gradient goes to the maximal entries, split equally among ties."""
        axis = S.reduction_axis_arg(axis, self.ndim, "max")
        return apply_unary(R.max_, self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Smallest entry; the gradient goes to the minimal entries, split equally among ties."""
        axis = S.reduction_axis_arg(axis, self.ndim, "min")
        return apply_unary(R.min_, self, axis=axis, keepdims=keepdims)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """``log(sum(exp(x)))`` computed without overflow."""
        axis = S.reduction_axis_arg(axis, self.ndim, "logsumexp")
        return apply_unary(R.logsumexp, self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        if axis is not None:
            S.axis_arg(axis, self.ndim, "argmax")
        return apply_unary(R.argmax, self, axis=axis, keepdims=keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        if axis is not None:
            S.axis_arg(axis, self.ndim, "argmin")
        return apply_unary(R.argmin, self, axis=axis, keepdims=keepdims)

    def softmax(self, axis: int = -1) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``axis``, computed without overflow."""
        return apply_unary(N.softmax, self, axis=S.reduction_axis_arg(axis, self.ndim, "softmax"))

    def log_softmax(self, axis: int = -1) -> Tensor:
        """``x - logsumexp(x)`` along ``axis``, computed without overflow."""
        return apply_unary(N.log_softmax, self, axis=S.reduction_axis_arg(axis, self.ndim, "log_softmax"))

    # -- shape -----------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """The same entries in a new shape (``reshape(2, 3)`` or ``reshape((2, 3))``; -1 is inferred).

        Raises:
            ArgumentError: if a size is not an integer (2.5 is not truncated).
            ShapeError: for a negative size other than one -1, or a shape with another number of entries.
        """
        return apply_view(S.reshape, self, shape=S.shape_arg(shape, "reshape", infer=True))

    def flatten(self, start_axis: int = 0, end_axis: int = -1) -> Tensor:
        """Merge the axes ``start_axis..end_axis`` (all by default) into one; a 0-d tensor
        becomes 1-d.

        Raises:
            ShapeError: if an axis is out of range or ``start_axis`` comes after ``end_axis``.
        """
        ndim = max(self.ndim, 1)
        start = S.axis_arg(start_axis, ndim, "flatten", "start_axis")
        end = S.axis_arg(end_axis, ndim, "flatten", "end_axis")
        if start > end:
            raise ShapeError(f"flatten: start_axis={start_axis} comes after end_axis={end_axis} for a "
                             f"tensor of shape {self.shape}; expected start_axis <= end_axis")
        if self.ndim == 0:
            return self.reshape(1)
        # The merged size, not -1: -1 cannot be inferred beside a size-0 axis.
        merged = math.prod(self.shape[start:end + 1])
        return self.reshape(self.shape[:start] + (merged,) + self.shape[end + 1:])

    def squeeze(self, axis: Any = None) -> Tensor:
        """Remove axes of size 1 (all of them, or those in ``axis``).

        Raises:
            ArgumentError: if an axis is not an integer.
            ShapeError: if one is out of range, named twice or not of size 1.
        """
        axes = S.axes_arg(axis, self.ndim, "squeeze") if axis is not None else \
            tuple(i for i, n in enumerate(self.shape) if n == 1)
        bad = [a for a in axes if self.shape[a] != 1]
        if bad:
            raise ShapeError(f"squeeze: axis {bad[0]} of shape {self.shape} has size "
                             f"{self.shape[bad[0]]}, expected 1")
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if i not in axes))

    def unsqueeze(self, axis: Any) -> Tensor:
        """Insert axes of size 1 at the positions ``axis`` (an int or tuple) of the result.

        Raises:
            ArgumentError: if an axis is not an integer.
            ShapeError: if one is out of range for the result or named twice.
        """
        ndim = self.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1)
        new = S.axes_arg(axis, ndim, "unsqueeze")
        sizes = iter(self.shape)
        return self.reshape(tuple(1 if i in new else next(sizes) for i in range(ndim)))

    expand_dims = unsqueeze

    def transpose(self, *axes: Any) -> Tensor:
        """Permute the axes as NumPy does (reversed when none are given); see also :meth:`swapaxes`.

        Raises:
            ArgumentError: if an axis is not an integer.
            ShapeError: if one is out of range, or the axes are not a permutation.
        """
        perm = None if not axes or axes == (None,) else self._permutation(axes, "transpose")
        return apply_view(S.transpose, self, axes=perm)

    def permute(self, *axes: Any) -> Tensor:
        """Permute the axes: axis ``i`` of the result is axis ``axes[i]`` of this tensor.

        Raises:
            ArgumentError: if an axis is not an integer.
            ShapeError: if one is out of range, or the axes are not a permutation.
        """
        return apply_view(S.transpose, self, axes=self._permutation(axes, "permute"))

    def _permutation(self, axes: tuple, op: str) -> tuple[int, ...]:
        """``axes`` (given as ``f(1, 0)`` or ``f((1, 0))``) checked to be a permutation of this
        tensor's axes; negative axes count from the end."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        perm = S.axes_arg(axes, self.ndim, op, "axes")
        if len(perm) != self.ndim:
            raise ShapeError(f"{op}: axes {S.shown(axes)} for a tensor of shape {self.shape}; expected a "
                             f"permutation of all {self.ndim} axes")
        return tuple(int(a) for a in axes)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        """Exchange two axes (PyTorch's ``transpose(dim0, dim1)``).

        Raises:
            ArgumentError: if an axis is not an integer. ShapeError: if one is out of range.
        """
        axis1 = S.axis_arg(axis1, self.ndim, "swapaxes", "axis1")
        axis2 = S.axis_arg(axis2, self.ndim, "swapaxes", "axis2")
        perm = list(range(self.ndim))
        perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
        return apply_view(S.transpose, self, axes=tuple(perm))

    def broadcast_to(self, *shape: Any) -> Tensor:
        """A read-only view repeating this tensor to ``shape`` by NumPy's broadcasting rules.

        Raises:
            ArgumentError: if a size is not an integer. ShapeError: for negative sizes, or a shape this
                tensor does not broadcast to.
        """
        return apply_view(S.broadcast_to, self, shape=S.shape_arg(shape, "broadcast_to"))

    def flip(self, axis: Any = None) -> Tensor:
        """Reverse the order of entries along ``axis`` (all axes by default).

        Raises:
            ArgumentError: if an axis is not an integer. ShapeError: if one is out of range or named twice.
        """
        return apply_view(S.flip, self, axis=S.reduction_axis_arg(axis, self.ndim, "flip"))

    def pad(self, pad_width: Any, constant_values: float = 0) -> Tensor:
        """Pad with a constant: ``pad_width`` as in ``numpy.pad`` (int, pair, or one pair per axis).

        Raises:
            ArgumentError: if the widths are not non-negative integers.
            DTypeError: if ``constant_values`` is not a number this tensor's dtype holds without
                changing its kind (1.5 in an integer tensor, 1j in a real one).
            ShapeError: if they are neither an int, a pair, nor one pair per axis.
        """
        widths = S.counts_arg(_array_of(pad_width, "pad widths"), "pad", "pad_width")
        per_axis = (max(self.ndim, 1), 2)
        try:
            fits = widths.ndim <= 2 and np.broadcast_shapes(widths.shape, per_axis) == per_axis
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"pad: pad_width of shape {widths.shape} for a tensor of shape {self.shape}; "
                             f"expected an int, a (before, after) pair or one pair per axis")
        S.fill_arg(constant_values, self.dtype, "pad", "constant_values")
        return apply_unary(S.pad, self, pad_width=pad_width, constant_values=constant_values)

    def repeat(self, repeats: Any, axis: int | None = None) -> Tensor:
        """Repeat each entry ``repeats`` times along ``axis`` (flattened first if None), as NumPy does.

        Raises:
            ArgumentError: if ``repeats`` is not a non-negative integer or a 1-D sequence of them, or
                ``axis`` is not an integer.
            ShapeError: if ``axis`` is out of range, or ``repeats`` has neither 1 nor one count per entry.
        """
        source = self.reshape(-1) if axis is None else self
        axis = 0 if axis is None else S.axis_arg(axis, self.ndim, "repeat")
        length = source.shape[axis]
        counts = S.counts_arg(_array_of(repeats, "repeat counts"), "repeat", "repeats")
        if counts.ndim > 1:
            raise ShapeError(f"repeat: repeats of shape {counts.shape}; expected an int or a 1-D sequence")
        if counts.ndim == 1 and counts.size not in (1, length):
            raise ShapeError(f"repeat: {counts.size} repeat counts for axis {axis} of length {length}; "
                             f"expected 1 or {length}")
        try:
            picks = np.repeat(np.arange(length), counts)
        except (ValueError, MemoryError) as exc:
            raise ShapeError(f"repeat: {S.shown(repeats)} repeats of axis {axis} of length {length} are too many "
                             f"({type(exc).__name__}: {str(exc)[:200]})") from None
        return source[(slice(None),) * axis + (picks,)]

    def tile(self, reps: Any) -> Tensor:
        """Repeat the whole tensor ``reps`` times along each axis, as ``numpy.tile`` does.

        Raises:
            ArgumentError: if ``reps`` is not a non-negative integer or a sequence of them.
        """
        reps = tuple(S.count_arg(r, "tile", "reps") for r in (reps if isinstance(reps, (tuple, list, np.ndarray))
                                                              else (reps,)))
        ndim = max(len(reps), self.ndim)
        reps = (1,) * (ndim - len(reps)) + reps
        shape = (1,) * (ndim - self.ndim) + self.shape
        interleaved = self.reshape(tuple(x for n in shape for x in (1, n)))
        spread = interleaved.broadcast_to(tuple(x for r, n in zip(reps, shape) for x in (r, n)))
        return spread.reshape(tuple(r * n for r, n in zip(reps, shape)))

    def split(self, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
        """Split into pieces along ``axis``: ``n`` equal pieces, or at the given indices (as NumPy).

        Raises:
            ArgumentError: if ``axis``, ``n`` or an index is not an integer.
            ShapeError: if ``axis`` is out of range, or the axis does not divide into ``n`` equal pieces.
        """
        axis = S.axis_arg(axis, self.ndim, "split")
        length = self.shape[axis]
        if not isinstance(indices_or_sections, (tuple, list, np.ndarray, Tensor)):
            indices_or_sections = S.int_arg(indices_or_sections, "split", "indices_or_sections")
            if indices_or_sections <= 0 or length % indices_or_sections:
                raise ShapeError(f"split: axis {axis} of shape {self.shape} does not divide into "
                                 f"{indices_or_sections} equal pieces")
            step = length // indices_or_sections
            bounds = [i * step for i in range(indices_or_sections + 1)]  # step 0 for a size-0 axis
        else:
            indices = indices_or_sections
            if isinstance(indices, (np.ndarray, Tensor)):
                indices = np.ravel(_array_of(indices, "split points")).tolist()
            bounds = [0] + [S.int_arg(i, "split", "indices") for i in indices] + [length]
        lead = (slice(None),) * axis
        return [self[lead + (slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:])]

    def take_along_axis(self, indices: Any, axis: int) -> Tensor:
        """Pick entries along ``axis`` at ``indices`` (same number of dimensions), as NumPy does.

        Raises:
            ArgumentError: if ``axis`` is not an integer. DTypeError: for indices that are not integers.
            ShapeError: for ``axis`` out of range, indices out of range, ragged, or of a shape that does
                not fit.
        """
        if indices.__class__ is Batched:  # each example its own indices (inside tg.vmap)
            return _take_along_batched(self, indices, axis)
        try:
            indices = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
        except ValueError:
            raise ShapeError(f"take_along_axis: indices {S.shown(indices)} are ragged; expected an integer "
                             "array") from None
        axis = S.axis_arg(axis, self.ndim, "take_along_axis")
        if indices.dtype.kind not in "iu":
            raise DTypeError(f"take_along_axis: indices of dtype {indices.dtype}; expected integers")
        if indices.ndim != self.ndim:
            raise ShapeError(f"take_along_axis: indices of shape {indices.shape} must have as many "
                             f"dimensions as the tensor of shape {self.shape}")
        length = self.shape[axis]
        if indices.size and not -length <= indices.min() <= indices.max() < length:
            raise ShapeError(f"take_along_axis: indices from {indices.min()} to {indices.max()} along axis "
                             f"{axis} of length {length}; expected indices in [{-length}, {length})")
        try:
            np.broadcast_shapes(indices.shape[:axis] + indices.shape[axis + 1:],
                                self.shape[:axis] + self.shape[axis + 1:])
        except ValueError:
            raise ShapeError(f"take_along_axis: indices of shape {indices.shape} do not broadcast against "
                             f"the tensor of shape {self.shape} outside axis {axis}") from None
        index = tuple(indices if d == axis else
                      np.arange(n).reshape((-1,) + (1,) * (self.ndim - d - 1))
                      for d, n in enumerate(self.shape))
        return self[index]

    def __getitem__(self, index: Any) -> Tensor:
        if SPECIAL_MODES.count and BATCHING.levels and _batched_items(index):
            return _gather_batched(self, index)  # inside tg.vmap, each example its own index
        return apply_view(S.getitem, self, index=_normalize_index(index, self.shape))

    # -- dtype and copies ------------------------------------------------------------------------
    def astype(self, dtype: Any) -> Tensor:
        """This tensor converted to ``dtype``; the gradient is converted back.

        Raises:
            DTypeError: for a dtype that is not numeric, or complex values to a real dtype (which
                would discard the imaginary parts).
        """
        dtype = S.dtype_arg(dtype, "astype")
        if self.dtype.kind == "c" and dtype.kind != "c":
            raise DTypeError(f"astype: converting a complex tensor (shape {self.shape}, {self.dtype}) to {dtype} "
                             "would discard the imaginary parts; expected a complex dtype")
        return apply_view(S.astype, self, dtype=dtype)

    def float(self) -> Tensor:
        """Converted to float32."""
        return self.astype(np.float32)

    def double(self) -> Tensor:
        """Converted to float64."""
        return self.astype(np.float64)

    def clone(self) -> Tensor:
        """A copy of the data that stays on the graph (gradients flow back to this tensor)."""
        return apply_unary(S.copy, self)

    # -- linear algebra --------------------------------------------------------------------------
    def matmul(self, other: Any) -> Tensor:
        """Matrix product with NumPy's rules for 1-D operands and broadcast batch axes."""
        return apply_binary(L.matmul, self, other)

    def dot(self, other: Any) -> Tensor:
        """Dot product of 1-D tensors, or matrix product of 2-D ones."""
        return apply_binary(L.matmul, self, other)

    # -- complex numbers (issue 18) -----------------------------------------------------------------
    @property
    def real(self) -> Tensor:
        """The real part (a copy; of a real tensor, a copy of it). Its gradient reaches a complex tensor
        as a complex gradient with imaginary part 0."""
        return apply_unary(C.real, self)

    @property
    def imag(self) -> Tensor:
        """The imaginary part (a copy; of a real tensor, zeros)."""
        return apply_unary(C.imag, self)

    def conj(self) -> Tensor:
        """The complex conjugate (a copy; of a real tensor, a copy of it)."""
        return apply_unary(C.conjugate, self)

    conjugate = conj

    def angle(self, deg: bool = False) -> Tensor:
        """The argument of each entry, in radians in (-pi, pi] (degrees with ``deg=True``), as ``numpy.angle``:
        0 or pi for real entries, whose gradient is 0 (as at 0)."""
        return apply_unary(C.angle, self, deg=bool(deg))

    # -- in-place changes ------------------------------------------------------------------------
    def _in_place(self, prim: Primitive, label: str, value: Any, **params: Any) -> Tensor:
        """Change the data in place as ``prim(self, value)`` would, and bump the version.

        When a gradient must flow (grad mode on and this tensor or ``value`` requires grad), the
        operation is recorded on the graph and this tensor now stands for its result.
        """
        special = SPECIAL_MODES.count
        if special:
            if value.__class__ is Batched:
                raise BatchingError(f"{label}: in-place change of a tensor (shape {self.shape}) shared by every "
                                    f"example with a value batched by tg.vmap (shape {value.shape} per example); "
                                    "inside vmap build the new value out of place (tg.where, concatenate)")
            note_unrecorded(f"in-place {label}")
            if FORWARD.levels and (tangent_of(self.data) is not None or
                                   (isinstance(value, Tensor) and tangent_of(value.data) is not None)):
                raise InPlaceError(f"{label}: in-place change of a tensor that carries a jvp tangent; inside "
                                   "jvp use out-of-place operations")
        value_requires_grad = isinstance(value, Tensor) and value.requires_grad
        link = getattr(self, "_view", None)  # (root, chain) when this tensor views another one's memory
        root = self if link is None else link[0]
        recording = (not special or _mode.enabled) and (
            self.requires_grad or value_requires_grad or root.requires_grad)
        if recording and root._node is None and root.requires_grad:
            what = "a leaf tensor" if link is None else f"a view of a leaf tensor (shape {root.shape})"
            raise InPlaceError(
                f"{label}: in-place change of {what} that requires grad (shape {self.shape}, "
                f"{self.dtype}). Inside 'with tg.no_grad():' (a weight update) it is allowed; "
                "otherwise use an out-of-place operation.")
        if recording and link is not None and link[1] is None:
            raise InPlaceError(
                f"{label}: in-place change, with gradients recorded, of a view (shape {self.shape}) that was "
                f"taken under no_grad from a tensor of shape {root.shape}: whether the change belongs in that "
                "tensor's history is ambiguous (PyTorch refuses it too). Take the view outside no_grad, or "
                "make the change inside no_grad, or change a .clone().")
        if not self.data.flags.writeable:
            raise InPlaceError(f"{label}: this tensor's data (shape {self.shape}) is a read-only "
                               "view (e.g. from broadcast_to); use .clone() first")
        raw = value.data if isinstance(value, Tensor) else value
        if prim is S.setitem and self.dtype.kind != "c" and _is_complex(raw):
            raise DTypeError(f"{label}: cannot store a complex value ({describe(value)}) in a {self.dtype} tensor "
                             f"of shape {self.shape} without dropping its imaginary part; expected a real value")
        try:
            if recording:
                before = Tensor._make(self.data.copy() if prim.saves_inputs else self.data)
                before._node, before.requires_grad = self._node, self.requires_grad
                result = apply(prim, before, value, **params)
                if result.shape != self.shape:
                    raise ValueError(f"the result has shape {result.shape}")
                np.copyto(self.data, result.data, casting="same_kind")
                self._node, self.requires_grad = result._node, result.requires_grad
                if self._name is not None and self._node is not None:
                    self._node.label = self._name  # the name follows the tensor to its new step
            elif prim is S.setitem:
                self.data[params["index"]] = raw
            else:  # a ufunc writing straight into the data: no temporary copy
                prim.forward(self.data, raw, out=self.data, casting="same_kind")
        except (ShapeError, DTypeError):
            raise
        except TypeError as exc:
            raise DTypeError(f"{label}: cannot store the result in place in a {self.dtype} tensor of "
                             f"shape {self.shape} (value: {describe(value)}; NumPy says: {exc})") from None
        except (ValueError, IndexError) as exc:
            raise ShapeError(f"{label}: an in-place operation must keep the tensor's shape {self.shape}; "
                             f"value: {describe(value)} (NumPy says: {exc})") from None
        if recording:
            if link is not None:  # the root's history now ends in this change of its view
                old = Tensor._make(root.data)
                old._node, old.requires_grad = root._node, root.requires_grad
                rebased = apply(S.assign_view, old, self, chain=link[1])
                root._node, root.requires_grad = rebased._node, rebased.requires_grad
            _rederive_views(root, self)
        bump(self.data, label)
        return self

    def __iadd__(self, other: Any) -> Tensor: return self._in_place(A.add, "+= (add_)", other)
    def __isub__(self, other: Any) -> Tensor: return self._in_place(A.subtract, "-= (sub_)", other)
    def __imul__(self, other: Any) -> Tensor: return self._in_place(A.multiply, "*= (mul_)", other)
    def __itruediv__(self, other: Any) -> Tensor: return self._in_place(A.divide, "/= (div_)", other)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._in_place(S.setitem, "__setitem__", value, index=_normalize_index(index, self.shape, "__setitem__"))

    def fill_(self, value: Any) -> Tensor:
        """Set every entry to ``value`` in place; returns the tensor."""
        return self._in_place(S.setitem, "fill_", value, index=Ellipsis)

    def zero_(self) -> Tensor:
        """Set every entry to 0 in place; returns the tensor."""
        return self._in_place(S.setitem, "zero_", 0, index=Ellipsis)

    # -- NumPy's functions on Tensors -----------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy ufuncs on Tensors (``np.exp(t)``, ``array * t``) run tapegrad's operations."""
        plain = method == "__call__" and not kwargs
        if plain and ufunc in UFUNCS:
            return apply(UFUNCS[ufunc], *inputs)
        if plain and ufunc in UFUNC_COMPOSITES:
            return UFUNC_COMPOSITES[ufunc](*[_lift(i) for i in inputs])
        if plain and (special := scipy_ufunc(ufunc)) is not None:
            return apply(special, *inputs)
        if requires_grad(inputs) or requires_grad(tuple(kwargs.values())):
            call = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
            options = f" with the options {sorted(kwargs)}" if kwargs else ""
            raise DroppedGradientError(
                f"{call}{options} is not differentiated by tapegrad, and a Tensor that requires grad takes part; "
                "see the README's table of NumPy functions that are")
        note_unrecorded(f"numpy.{ufunc.__name__}")  # its result would be a constant to an observer
        result = getattr(ufunc, method)(*raw(inputs), **{k: raw(v) for k, v in kwargs.items()})
        return Tensor(result) if isinstance(result, np.ndarray) and "out" not in kwargs else result

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        """NumPy functions on Tensors (``np.sum(t, axis=0)``, ``np.concatenate``) run tapegrad's."""
        handler = FUNCTIONS.get(func)
        if handler is not None:
            try:
                return handler(*args, **kwargs)
            except _NotSupported as exc:
                if requires_grad(args) or requires_grad(tuple(kwargs.values())):
                    raise DroppedGradientError(f"{exc}, and a Tensor that requires grad takes part") from None
            note_unrecorded(f"numpy.{func.__name__}")
            return func(*raw(args), **{k: raw(v) for k, v in kwargs.items()})
        if func in ON_DATA:
            if func in READ_VALUES:
                note_unrecorded(f"numpy.{func.__name__}")
                return func(*raw(args), **{k: raw(v) for k, v in kwargs.items()})
            return func(*_shaped_like(args), **{k: _shaped_like(v) for k, v in kwargs.items()})
        if requires_grad(args) or requires_grad(tuple(kwargs.values())):
            raise DroppedGradientError(
                f"numpy.{func.__name__} is not differentiated by tapegrad, and a Tensor that requires grad takes "
                "part; see the README's table of NumPy functions that are")
        note_unrecorded(f"numpy.{func.__name__}")  # its result would be a constant to an observer
        return func(*raw(args), **{k: raw(v) for k, v in kwargs.items()})



# -- batched values (tg.vmap) -------------------------------------------------------------------------

_CONTROL_FLOW = ("its value differs from example to example, so Python control flow (if, while, and, or) and "
                 "Python numbers cannot depend on it inside tg.vmap. Compute both branches and choose per example "
                 "with tg.where(condition, x, y) (or multiply by a mask) instead")


def _per_example(what: str, method: str) -> Callable[..., Any]:
    """A method that reads values into Python: refused for a batched value (each example has its own), the
    physical value's for an unmapped one (the same for every example)."""
    def refuse(self: Batched, *args: Any, **kwargs: Any) -> Any:
        if not self._mapped:
            return getattr(self._physical, method)(*args, **kwargs)
        raise BatchingError(f"{what} of a value batched by tg.vmap (shape {self.shape} per example, "
                            f"{self._level.size} examples): {_CONTROL_FLOW}")
    refuse.__name__ = method
    return refuse


class Batched(Tensor):
    """A value inside ``tg.vmap``: one value per example, all of them held in one *physical* Tensor whose
    first axis runs over the examples of one vmap level (the physical value of a nested vmap's batched
    value may itself be batched, at the level outside it).

    It acts as one example's value: ``shape``, ``ndim``, ``size`` and ``len`` are an example's, and every
    operation on it runs its primitive's batching rule once on the physical value. It is made by
    ``tg.vmap`` only and does not outlive the vmapped call; what has no per-example meaning raises
    BatchingError: reading its values into Python (``bool``, ``item``, ``float``; use ``tg.where``),
    converting it to one NumPy array, changing it in place.

    A value of the level that is the same for every example is *unmapped* (``_mapped`` False): its physical
    value has no batch axis. ``grad`` and ``jvp`` inside a vmap make their inputs such values when they are
    not batched (a parameter shared by every example), so that what is recorded for them belongs to the
    vmap's level and not to the levels outside it, and their gradient comes out per example.
    """

    __slots__ = ("_physical", "_level", "_mapped")

    _physical: Tensor
    _level: BatchLevel
    _mapped: bool

    shape = property(lambda self: self._physical.shape[1:] if self._mapped else self._physical.shape,
                     doc="One example's shape.")
    ndim = property(lambda self: self._physical.ndim - self._mapped, doc="One example's number of dimensions.")
    size = property(lambda self: math.prod(self.shape), doc="One example's number of entries.")
    dtype = property(lambda self: self._physical.dtype, doc="The NumPy dtype.")
    version = property(lambda self: self._physical.version, doc="The physical value's in-place changes.")

    @property
    def data(self) -> np.ndarray:
        """The value of an unmapped value (the same for every example); refused for a batched value, which
        holds one value per example, not one array.

        Raises:
            BatchingError: for a batched value, or one used after its vmap ended.
        """
        if not is_active(self._level):
            raise BatchingError(_escaped("reading a tensor's data"))
        if not self._mapped:
            return self._physical.data
        raise BatchingError(
            f"a value batched by tg.vmap (shape {self.shape} per example, {self._level.size} examples) has no "
            "single NumPy array: it holds one value per example. Use tapegrad operations on it inside the "
            "vmapped function (they run per example), and return it to get the examples stacked")

    item = _per_example("item()", "item")
    tolist = _per_example("tolist()", "tolist")
    numpy = _per_example("numpy()", "numpy")
    __bool__ = _per_example("bool()", "__bool__")
    __float__ = _per_example("float()", "__float__")
    __int__ = _per_example("int()", "__int__")
    __index__ = _per_example("use as an index or size (__index__)", "__index__")
    __array__ = _per_example("conversion to a NumPy array (numpy.asarray)", "__array__")

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        extras = f", grad_fn=<{self._node.name}>" if self._node is not None else \
            (", requires_grad=True" if self.requires_grad else "")
        how = f"{self._level.size} examples" if self._mapped else f"the same for all {self._level.size} examples"
        return (f"BatchedTensor(shape {self.shape} per example, {self.dtype}, {how} at vmap level "
                f"{self._level.depth}{extras}, physical={self._physical!r})")

    def _in_place(self, prim: Primitive, label: str, value: Any, **params: Any) -> Tensor:
        raise BatchingError(f"{label}: in-place change of a value batched by tg.vmap (shape {self.shape} per "
                            "example); inside vmap use out-of-place operations (y = y + 1, not y += 1; "
                            "tg.where for masked assignments)")


def batched(physical: Tensor, level: BatchLevel, mapped: bool = True) -> Batched:
    """The batched value whose examples are the entries of ``physical`` along its first axis, at ``level``
    (not recorded at that level: no gradient is taken there yet); with ``mapped`` False, ``physical`` itself,
    the same for every example."""
    tensor = _new_tensor(Batched)
    tensor._physical, tensor._level, tensor._mapped = physical, level, mapped
    tensor.grad = tensor._node = tensor._name = None
    tensor.requires_grad = False
    return tensor


def unbatched(value: Any, level: BatchLevel) -> tuple[Any, bool]:
    """``value``'s physical value at ``level`` and whether it is batched there (examples along axis 0);
    ``value`` itself and False when it is not batched at ``level`` (it is then the same for every example).

    Raises:
        BatchingError: for a value batched at a level inside ``level`` (it escaped an inner vmap).
    """
    if value.__class__ is not Batched:
        return value, False
    if value._level is level:
        return value._physical, value._mapped
    if value._level.depth > level.depth:
        raise BatchingError(_escaped("returning a value from tg.vmap"))
    return value, False


def of_level(value: Any, level: BatchLevel) -> bool:
    """Whether ``value`` is a value of the vmap level ``level`` (batched there, or unmapped there)."""
    return value.__class__ is Batched and value._level is level


def vmap_level() -> BatchLevel | None:
    """The innermost vmap level active in this thread, or None outside ``tg.vmap``."""
    levels = BATCHING.levels if SPECIAL_MODES.count else None
    return levels[-1] if levels else None


def batched_input(value: Tensor, level: BatchLevel) -> Batched:
    """A new input to differentiate with respect to, for ``grad`` or ``jvp`` inside ``tg.vmap`` at ``level``:
    a leaf of that level that requires grad, with ``value``'s examples (or, for a value not batched there,
    unmapped: the same for every example). Its physical value is a view of ``value``'s (recorded where that
    one is differentiated outside the vmap), a distinct Tensor, so that a jvp tangent given to it is its own."""
    mapped = False
    if value.__class__ is Batched and value._level is level:
        value, mapped = value._physical, value._mapped
    if value.__class__ is Batched or is_traced(value):
        physical = apply_view(S.reshape, value, shape=value.shape)
    else:
        physical = Tensor._make(value.data.view())
    leaf = batched(physical, level, mapped)
    leaf.requires_grad = True
    return leaf


def tangent_key(tensor: Tensor) -> Any:
    """What forward mode keys ``tensor``'s tangent by: its data array, or for a batched value, its physical
    Tensor (the array would be shared with the physical value's own tangent, at the levels outside)."""
    return tensor._physical if tensor.__class__ is Batched else tensor.data


def is_traced(tensor: Tensor) -> bool:
    """Whether a transform outside differentiates through ``tensor``: it requires grad, carries a jvp
    tangent, or (for a batched value) its physical value does."""
    if tensor.requires_grad or (FORWARD.levels and tangent_of(tangent_key(tensor)) is not None):
        return True
    return tensor.__class__ is Batched and is_traced(tensor._physical)


# -- converting data ---------------------------------------------------------------------------------


def as_array(data: Any, dtype: Any = None, copy: bool = False, op: str = "Tensor") -> np.ndarray:
    """``data`` as a numeric ndarray; Python floats become the default dtype (Python complex numbers its
    complex counterpart: complex64 beside float32) unless ``dtype`` says otherwise. A Tensor's data is
    converted as an operation (its array, or a copy).

    Raises:
        ShapeError: for ragged nested sequences.
        DTypeError: for a dtype that is not NumPy's, or data that is not numbers (strings, objects).
    """
    dtype = dtype_arg(dtype, op) if dtype is not None else None
    if isinstance(data, Tensor):  # an operation, which an observer (tg.compile) sees
        return apply(S.as_array, data, dtype=dtype, copy=copy).data
    from_numpy = isinstance(data, (np.ndarray, np.generic))
    try:
        array = np.array(data, dtype=dtype, copy=True) if copy else np.asarray(data, dtype=dtype)
    except ValueError as exc:
        if isinstance(data, (list, tuple)) and "inhomogeneous" in str(exc):
            raise ShapeError(f"{op}: nested sequences of unequal lengths (ragged data); expected "
                             f"a rectangular array (NumPy says: {str(exc)[:200]})") from None
        raise DTypeError(f"{op}: cannot make a {dtype} tensor from {shown(data)} "
                         f"(NumPy says: {str(exc)[:200]})") from None
    except TypeError as exc:
        raise DTypeError(f"{op}: cannot make a tensor from {type(data).__name__} data "
                         f"(NumPy says: {str(exc)[:200]})") from None
    if array.dtype.kind not in NUMERIC:
        what = f"cannot make a numeric tensor from {shown(data)} ({type(data).__name__})" \
            if array.dtype == object else f"data of dtype {array.dtype} ({shown(data)})"
        raise DTypeError(f"{op}: {what}; expected numbers (bool, integer, floating or complex)")
    if dtype is None and not from_numpy and array.dtype.kind in "fc":
        default = get_default_dtype()  # Python complex numbers: complex64 beside float32, as in PyTorch
        wanted = default if array.dtype.kind == "f" else np.result_type(default, np.complex64)
        array = array.astype(wanted, copy=False)
    return array


def _lift(value: Any) -> Tensor:
    """``value`` as a Tensor (a Tensor as it is; anything else wrapped, sharing memory)."""
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value))


def where_mask(condition: Any, op: str = "where") -> np.ndarray:
    """``condition`` as the boolean mask of ``where``: a Tensor of another dtype is compared with 0
    (an operation, which an observer such as tg.compile sees), anything else converted.

    Raises:
        DTypeError, ShapeError: for data that is not numeric, or ragged.
    """
    if isinstance(condition, Tensor):
        mask = condition if condition.dtype == bool else condition != 0
        return mask if mask.__class__ is Batched else mask.data  # a batched mask stays a Tensor (per example)
    return as_array(condition, op=op).astype(bool, copy=False)


def pack_outputs(arrays: Sequence[Any]) -> np.ndarray:
    """Several outputs as the one array that one graph Node holds (a custom Function's, a compiled
    call's): the array itself when there is one, else all flattened and joined, in their common dtype."""
    if len(arrays) == 1:
        return np.asarray(arrays[0])
    return np.concatenate([np.asarray(a).reshape(-1) for a in arrays])


def unpack_outputs(packed: Any, shapes: Sequence[tuple], dtypes: Sequence[np.dtype]) -> list[Any]:
    """The outputs :func:`pack_outputs` joined, each in its shape and dtype, cut from ``packed``: an
    array (a gradient to split), or a Tensor, whose pieces are then operations on it, so that their
    gradients flow back into the one Node."""
    if len(shapes) == 1:
        return [_cast_piece(packed, dtypes[0])]
    pieces, start = [], 0
    for shape, dtype in zip(shapes, dtypes):
        size = math.prod(shape)
        pieces.append(_cast_piece(packed[start:start + size].reshape(shape), dtype))
        start += size
    return pieces


def _cast_piece(piece: Any, dtype: np.dtype) -> Any:
    """A piece of packed outputs (or their gradients) in ``dtype``: the real part of a complex piece for a
    real output (outputs packed with a complex one are complex)."""
    if piece.dtype == dtype:
        return piece
    if piece.dtype.kind == "c" and dtype.kind != "c":
        piece = piece.real if isinstance(piece, Tensor) else np.real(piece)
    return piece if piece.dtype == dtype else piece.astype(dtype)


def tensor_of_node(data: np.ndarray, node: Node) -> Tensor:
    """A Tensor holding ``data`` as it is, computed by ``node``: for code that records a whole
    computation as one Node of its own making (``tg.compile`` records a call that way)."""
    tensor = Tensor._make(data)
    tensor._node, tensor.requires_grad = node, True
    return tensor


# -- indices -----------------------------------------------------------------------------------------


def _normalize_index(index: Any, shape: tuple[int, ...] | None = None, op: str = "getitem") -> Any:
    """An index with Tensors replaced by arrays and boolean masks by the integer arrays they select.

    Raises:
        ShapeError: given the indexed tensor's ``shape``, if a boolean mask's shape differs from
            that of the axes it covers (NumPy's rule; the integer arrays alone would lose it).
    """
    if index.__class__ is slice or index.__class__ is int:  # the common cases, nothing to normalize
        return index
    items = index if isinstance(index, tuple) else (index,)
    normalized = []
    masks = False
    for item in items:
        tensor = None
        if isinstance(item, Tensor):
            tensor, item = item, item.data
        elif isinstance(item, list):
            item = np.asarray(item)
        if isinstance(item, np.ndarray) and item.dtype == bool:
            if item.ndim == 0:  # one True or False: a new axis of length 1 or 0, as NumPy reads it
                if tensor is not None:
                    note_unrecorded("use as a 0-d mask (a shape that follows the values)")
                normalized.append(item[()])
                continue
            masks = True
            if tensor is not None:  # an operation, which an observer (tg.compile) sees
                normalized.extend(apply(S.nonzero, tensor, axis=d).data for d in range(item.ndim))
            else:
                normalized.extend(np.nonzero(item))
        else:
            normalized.append(item)
    if masks and shape is not None:
        _check_masks(items, shape, op)
    return tuple(normalized) if isinstance(index, tuple) or len(normalized) != 1 else normalized[0]


def _batched_items(index: Any) -> bool:
    """Whether ``index`` holds a batched tensor (inside tg.vmap: a different index for each example)."""
    return any(item.__class__ is Batched for item in (index if isinstance(index, tuple) else (index,)))


def _gather_batched(x: Tensor, index: Any, op: str = "getitem") -> Tensor:
    """``x[index]`` where some index arrays are batched (one per example), as NumPy's integer indexing does
    it: the indexed axes flattened into the rows of a table and the index arrays into one row index, which
    ``embedding`` gathers (its batching rule gives each example its own rows and indices).

    Raises:
        ShapeError: for a boolean mask that is batched (a different number of entries per example), a new
            axis (None) beside a batched index, too many indices, or an index out of range.
    """
    items = list(index) if isinstance(index, tuple) else [index]
    if any(i is None for i in items):
        raise ShapeError(f"{op}: a new axis (None) beside an index batched by tg.vmap; add the axis with "
                         "reshape or unsqueeze before or after indexing")
    if any(i is Ellipsis for i in items):
        k = next(k for k, i in enumerate(items) if i is Ellipsis)
        items[k:k + 1] = [slice(None)] * (x.ndim - (len(items) - 1))
    expanded = []
    for item in items:
        if isinstance(item, Tensor) and item.dtype == bool:
            if item.__class__ is Batched:
                raise ShapeError(f"{op}: a boolean mask batched by tg.vmap selects a different number of entries "
                                 "in each example; keep every entry and choose with tg.where(mask, x, 0) instead")
            item = item.data
        if isinstance(item, (list, np.ndarray)) and np.asarray(item).dtype == bool:
            expanded.extend(np.nonzero(np.asarray(item)))
        else:
            expanded.append(item)
    if len(expanded) > x.ndim:
        raise ShapeError(f"{op}: {len(expanded)} indices for a tensor of shape {x.shape}")
    expanded += [slice(None)] * (x.ndim - len(expanded))
    advanced = [k for k, item in enumerate(expanded) if not isinstance(item, slice)]
    if any(not isinstance(item, slice) or item != slice(None) for item in expanded):
        x = x[tuple(item if isinstance(item, slice) else slice(None) for item in expanded)]
    rest = [k for k in range(x.ndim) if k not in advanced]
    sizes = [x.shape[k] for k in advanced]
    rest_shape = tuple(x.shape[k] for k in rest)
    table = x.transpose(*(advanced + rest)).reshape(math.prod(sizes), math.prod(rest_shape))
    flat, stride = None, 1
    for k, size in reversed(list(zip(advanced, sizes))):
        checked = apply(S.check_index, expanded[k] if isinstance(expanded[k], Tensor) else np.asarray(expanded[k]),
                        length=size, op=op)
        term = checked * stride if stride != 1 else checked
        flat = term if flat is None else flat + term
        stride *= size
    out = apply(ATT.embedding, table, flat).reshape(flat.shape + rest_shape)
    first = advanced[0]
    if advanced == list(range(first, advanced[-1] + 1)) and first > 0:  # NumPy keeps adjacent ones in place
        n = len(flat.shape)
        out = out.transpose(*(list(range(n, n + first)) + list(range(n)) + list(range(n + first, out.ndim))))
    return out


def _take_along_batched(x: Tensor, indices: Batched, axis: Any) -> Tensor:
    """``take_along_axis`` with each example's own ``indices`` (inside tg.vmap)."""
    axis = S.axis_arg(axis, x.ndim, "take_along_axis")
    if indices.dtype.kind not in "iu":
        raise DTypeError(f"take_along_axis: indices of dtype {indices.dtype}; expected integers")
    if indices.ndim != x.ndim:
        raise ShapeError(f"take_along_axis: indices of shape {indices.shape} must have as many "
                         f"dimensions as the tensor of shape {x.shape}")
    index = tuple(indices if d == axis else np.arange(n).reshape((-1,) + (1,) * (x.ndim - d - 1))
                  for d, n in enumerate(x.shape))
    return _gather_batched(x, index, "take_along_axis")


def _check_masks(items: tuple, shape: tuple[int, ...], op: str) -> None:
    """Raise ShapeError if a boolean mask in ``items`` does not have the shape of the axes it covers."""
    if not any(isinstance(i, (np.ndarray, list, Tensor)) for i in items):
        return  # ints, slices, None, Ellipsis: no mask
    items = tuple(np.asarray(i.data if isinstance(i, Tensor) else i) if isinstance(i, (list, Tensor))
                  else i for i in items)

    def covered(item: Any) -> int:  # how many axes of the tensor an index item consumes
        if item is None or item is Ellipsis or isinstance(item, (bool, np.bool_)):  # a scalar bool adds an axis
            return 0
        if isinstance(item, np.ndarray) and item.dtype == bool:
            return item.ndim
        return 1

    axis = 0
    for item in items:
        if item is Ellipsis:
            axis += len(shape) - sum(covered(i) for i in items)
        elif isinstance(item, np.ndarray) and item.dtype == bool and item.ndim:
            part = tuple(shape[axis:axis + item.ndim])
            if item.shape != part:
                raise ShapeError(f"{op}: a boolean mask of shape {item.shape} at axis {axis} of a tensor of "
                                 f"shape {tuple(shape)}; expected a mask of shape {part}")
        axis += covered(item)


def _array_of(value: Any, what: str = "a count or size") -> Any:
    """A Tensor's data, for a parameter that fixes the result's shape (counts, sizes, split points);
    anything else as it is.

    Raises:
        TracingError (from tg.compile's observer): for a Tensor while ``tg.compile`` traces, since the
            shape would be fixed at its traced value (see :func:`~tapegrad.engine.modes.note_unrecorded`).
    """
    if isinstance(value, Tensor):
        note_unrecorded(f"use as {what} (a shape that follows the values)")
        return value.data
    return value


def describe(value: Any) -> str:
    """How an operand is named in error messages: its shape and dtype, or its repr."""
    if isinstance(value, (Tensor, np.ndarray)):
        return f"shape {tuple(value.shape)} {value.dtype}"
    return repr(value)



# -- views and the history of in-place changes --------------------------------------------------------


def note_view(view: Tensor, source: Tensor, prim: Primitive, params: dict) -> None:
    """Remember that ``view`` (the result of ``prim(source, **params)``) views ``source``'s memory,
    if it does (NumPy may copy instead, e.g. when reshaping a non-contiguous array).

    The view gets ``_view = (root, chain)``: the tensor whose memory it views and the view operations
    from it, and the root a weak reference to the view, so that a recorded in-place change can
    re-derive the view's history. Where no history will ever need re-deriving, ``chain`` is None and
    the root keeps no reference: a view of a leaf that requires grad (a recorded in-place change of
    it is refused), and a view taken under ``no_grad`` (as in PyTorch, it may not be changed in place
    where that would be recorded, and it stays the constant it was taken as).
    """
    out, data = view.data, source.data
    base, source_base = out.base, data.base  # memory_owner, inline: this runs for every view taken
    if (base if isinstance(base, np.ndarray) else out) is not (
            source_base if isinstance(source_base, np.ndarray) else data):
        return
    link = getattr(source, "_view", None)  # slots that only views and roots set
    if link is None:
        root, chain = source, ((prim, params),)
        keeps_history = source.requires_grad and source._node is None
    else:
        root, chain = link
        keeps_history = chain is None
    if keeps_history or (SPECIAL_MODES.count and not _mode.enabled):
        view._view = (root, None)
        return
    view._view = (root, chain if link is None else chain + ((prim, params),))
    views = getattr(root, "_views", None)
    if views is None:
        root._views = views = []
    elif len(views) >= 16 and not len(views) & (len(views) - 1):  # at powers of two: drop the dead ones
        views[:] = [ref for ref in views if ref() is not None]
    views.append(weakref.ref(view))


def _is_complex(value: Any) -> bool:
    try:
        return np.iscomplexobj(value)
    except ValueError:  # a ragged list: the assignment itself says so
        return False


def _rederive_views(root: Tensor, changed: Tensor) -> None:
    """Give every live view of ``root`` (but ``changed``, which has its own) a history derived
    from the root's current one, after a recorded in-place change of their shared memory. Costs
    one small operation per live view and step of its chain."""
    views = getattr(root, "_views", None)
    if not views:
        return
    live = []
    for ref in views:
        view = ref()
        if view is None:
            continue
        live.append(ref)
        if view is changed:
            continue
        derived = root
        for prim, params in view._view[1]:
            derived = apply_unary(prim, derived, **params)
        view._node, view.requires_grad = derived._node, derived.requires_grad
    views[:] = live



# -- detect_anomaly and forward mode ------------------------------------------------------------------


def check_result(prim: Primitive, args: tuple, out: np.ndarray) -> None:
    """Under ``detect_anomaly``: an operation whose result has NaN or inf where its inputs had none."""
    if out.dtype.kind not in "fc" or np.all(np.isfinite(out)):
        return
    for arg in args:
        data = arg.data if isinstance(arg, Tensor) else arg
        if isinstance(data, np.ndarray) and data.dtype.kind in "fc" and not np.all(np.isfinite(data)):
            return  # passed on from an input, which was reported when it was made
    raise AnomalyError(
        f"'{prim.name}' produced {'NaN' if np.isnan(out).any() else 'inf'} at {user_code_location()} "
        f"(inputs: {', '.join(describe(a) for a in args)}). If where() or a mask discards these entries "
        "later, their gradient is still NaN (0 * NaN = NaN): compute the discarded branch on safe values, "
        "e.g. where(x > 0, sqrt(where(x > 0, x, 1)), 0).")


def carry_tangents(prim: Primitive, args: tuple, params: dict, result: Tensor) -> None:
    """Forward mode: give ``result`` its tangent at every active ``jvp`` level whose inputs have one.

    The tangent is the sum of the primitive's JVP rules over the inputs that carry a tangent. It is
    computed with only the outer levels active, on Tensors, so outer ``jvp``s and reverse mode see
    (and can differentiate) the tangent computation itself.
    """
    if prim.jvps is None or result.dtype.kind not in "fc":
        return
    levels = FORWARD.levels
    for depth in range(len(levels) - 1, -1, -1):
        level = levels[depth]
        tangents = [tangent_in(level, tangent_key(a)) if isinstance(a, Tensor) else None for a in args]
        if all(t is None for t in tangents):
            continue
        if result.dtype.kind == "c":
            prim = complex_rules(prim, args)  # DTypeError unless its JVP rules take complex values
        FORWARD.levels = levels[:depth]
        try:
            total = None
            for rule, tangent in zip(prim.jvp_rules(len(args)), tangents):
                if rule is not None and tangent is not None:
                    part = rule(GRAPH, tangent, result, *args, **params)
                    total = part if total is None else total + part
            if total is not None:
                total = _lift(total)
                if total.shape != result.shape:
                    total = total.broadcast_to(result.shape)
                if total.dtype != result.dtype:
                    total = total.astype(result.dtype)
        finally:
            FORWARD.levels = levels
        if total is not None:
            give_tangent(level, tangent_key(result), total)


# -- backward from Tensors: tensor.backward() and tg.autograd.grad start here --------------------------


class HookHandle:
    """Returned by ``register_hook``: ``remove()`` unregisters the hook."""

    def __init__(self, hooks: list, hook: Any) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


# Hooks of leaf tensors by id (a non-leaf's hooks live on its Node): (weak reference, hooks), dropped
# with the tensor. Not a WeakKeyDictionary: that compares keys with ==, which is elementwise here.
_LEAF_HOOKS: dict[int, tuple[weakref.ReferenceType, list]] = {}


def _leaf_hooks(tensor: Tensor) -> list | None:
    entry = _LEAF_HOOKS.get(id(tensor))
    return entry[1] if entry is not None and entry[0]() is tensor else None


def run_hooks(hooks: list, grad: Any) -> Any:
    """Pass ``grad`` (as a Tensor) through ``hooks`` in order; a hook's return value replaces it.

    Raises:
        ShapeError, DTypeError: when a hook returns a gradient of another shape or dtype.
    """
    recorded = isinstance(grad, Tensor)  # a Tensor in a recorded (create_graph) backward pass
    as_tensor = grad if recorded else Tensor._make(np.asarray(grad))
    shape, dtype = as_tensor.shape, as_tensor.dtype
    with set_grad_enabled(recorded):
        for hook in list(hooks):
            replaced = hook(as_tensor)
            if replaced is not None:
                as_tensor = replaced if isinstance(replaced, Tensor) else Tensor._make(np.asarray(replaced))
                if as_tensor.shape != shape or as_tensor.dtype != dtype:
                    name = getattr(hook, "__qualname__", repr(hook))
                    error = ShapeError if as_tensor.shape != shape else DTypeError
                    raise error(f"register_hook: the hook {name} returned a gradient of shape {as_tensor.shape} "
                                f"{as_tensor.dtype} for a gradient of shape {shape} {dtype}; a hook must return "
                                "a gradient of the same shape and dtype, or None to keep it")
    return as_tensor if recorded else as_tensor.data


def _root_gradient(output: Tensor, gradient: Any, create_graph: bool) -> Any:
    if gradient is None:
        if output.size != 1:
            raise BackwardError(
                f"backward: the output has shape {output.shape}; a gradient can be created implicitly "
                "only for a single value. Pass gradient= with the same shape, or reduce first "
                "(e.g. y.sum().backward()).")
        if output.dtype.kind == "c":
            raise BackwardError(
                f"backward: the output is complex ({output.dtype}); a gradient can be created implicitly only for a "
                "real loss (the gradient of a complex value is that of a real function of it: take abs(y)**2, "
                "y.real, ... or pass gradient=)")
        # One example's 1 (shared by every example, for a batched output inside tg.vmap).
        return np.array(1, output.dtype) if output.ndim == 0 else np.ones(output.shape, output.dtype)
    if isinstance(gradient, Tensor) and (create_graph or gradient.__class__ is Batched):
        if gradient.shape != output.shape:
            raise ShapeError(f"backward: gradient of shape {gradient.shape} for an output of shape "
                             f"{output.shape}; they must match")
        return gradient
    try:
        gradient = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient)
    except ValueError as exc:  # a ragged list
        raise ShapeError(f"backward: gradient= must be an array of the output's shape {output.shape}; "
                         f"NumPy cannot make one from it ({exc})") from None
    if gradient.dtype.kind not in ("fiubc" if output.dtype.kind == "c" else "fiub"):
        kind = "complex or real" if output.dtype.kind == "c" else "real"
        raise DTypeError(f"backward: gradient= must hold {kind} numbers for an output of shape {output.shape} "
                         f"{output.dtype}; got an array of dtype {gradient.dtype}"
                         + (" (None or other objects in a list?)" if gradient.dtype == object else ""))
    if gradient.shape != output.shape:
        raise ShapeError(f"backward: gradient of shape {gradient.shape} for an output of shape "
                         f"{output.shape}; they must match")
    return gradient.astype(output.dtype, copy=False)


# Adding a gradient into a leaf's ``.grad`` reads and then writes it: backward passes running in
# several threads onto the same leaves take turns there.
_ACCUMULATING = threading.Lock()


def _key(tensor: Tensor) -> Any:
    return tensor._node if tensor._node is not None else tensor


def _as_grad(value: Any, shared: set) -> Tensor:
    """``value`` as a gradient Tensor: as it is if it is one (a recorded pass), else an array that
    no other gradient shares memory with (copied if it would), wrapped."""
    if value.__class__ is not np.ndarray:
        if isinstance(value, Tensor):
            return value
        value = np.asarray(value)
    base = value.base
    owner = id(value if base is None else base)
    if owner in shared:
        value = value.copy()
        owner = id(value)
    shared.add(owner)
    return Tensor._make(value)


def backward_pass(outputs: Sequence[Tensor], gradients: Sequence[Any], *,
                  inputs: Sequence[Tensor] | None, retain_graph: bool | None, create_graph: bool,
                  accumulate: bool) -> list[Any] | None:
    """Run the engine from ``outputs``; accumulate into ``.grad`` or return the inputs' gradients.

    Returns:
        With ``accumulate=False``: per input, its gradient as a Tensor, or None if it was not
        reached. With ``accumulate=True``: None (the gradients are in ``.grad``).

    Raises:
        BackwardError: if there is no output, or an output or input does not require grad.
    """
    if not outputs:
        raise BackwardError("backward: no outputs to start from")
    roots, root_grads = [], []
    for position, output in enumerate(outputs):
        if not isinstance(output, Tensor) or not output.requires_grad:
            raise BackwardError(f"backward: output {position} does not require grad (it was not "
                                "computed from a tensor with requires_grad=True, or under no_grad)")
        roots.append(output._node or output)
        root_grads.append(_root_gradient(output, gradients[position], create_graph))
    if inputs is not None:
        for position, tensor in enumerate(inputs):
            if not isinstance(tensor, Tensor) or not tensor.requires_grad:
                raise BackwardError(f"backward: input {position} is not a tensor that requires grad")
    if retain_graph is None:
        retain_graph = create_graph
    targets = None if inputs is None else {_key(t) for t in inputs}
    results = run_backward(roots, root_grads, targets=targets, retain_graph=retain_graph,
                           create_graph=create_graph, graph_namespace=GRAPH, run_hooks=run_hooks)
    if _LEAF_HOOKS:
        for key in list(results):
            hooks = _leaf_hooks(key) if isinstance(key, Tensor) else None
            if hooks:
                results[key] = run_hooks(hooks, results[key])
    shared = set(map(id, root_grads))  # memory already handed out: a gradient sharing it is copied
    if not accumulate:
        return [None if _key(t) not in results else _as_grad(results[_key(t)], shared) for t in inputs]
    if SPECIAL_MODES.count and BATCHING.levels and any(g.__class__ is Batched for g in results.values()):
        raise BatchingError("backward() inside tg.vmap would store one gradient per example in .grad; inside "
                            "vmap take gradients with tg.grad, tg.vjp or tg.autograd.grad, which return them")
    with _ACCUMULATING:
        for key, grad in results.items():
            if key.__class__ is Node:
                key = key.retained()
                if key is None:
                    continue
            grad = _as_grad(grad, shared)
            key.grad = grad if key.grad is None else key.grad + grad
    return None


# -- NumPy's functions on Tensors: the tables Tensor.__array_ufunc__ and __array_function__ read --------


UFUNCS = {
    np.add: A.add, np.subtract: A.subtract, np.multiply: A.multiply, np.true_divide: A.divide,
    np.power: A.power, np.float_power: A.power, np.maximum: A.maximum, np.minimum: A.minimum,
    np.negative: E.negative, np.exp: E.exp, np.log: E.log, np.log1p: E.log1p, np.expm1: E.expm1, np.sqrt: E.sqrt,
    np.absolute: E.absolute, np.sin: E.sin, np.cos: E.cos, np.tan: E.tan, np.tanh: E.tanh, np.sign: E.sign,
    np.less: E.less, np.less_equal: E.less_equal, np.greater: E.greater, np.greater_equal: E.greater_equal,
    np.equal: E.equal, np.not_equal: E.not_equal, np.logical_and: E.logical_and, np.logical_or: E.logical_or,
    np.logical_not: E.logical_not, np.isfinite: E.isfinite, np.matmul: L.matmul,
    # issue 15: the other differentiable ufuncs, and the rounding ones (no gradient)
    np.arcsin: E2.arcsin, np.arccos: E2.arccos, np.arctan: E2.arctan, np.sinh: E2.sinh, np.cosh: E2.cosh,
    np.arcsinh: E2.arcsinh, np.arccosh: E2.arccosh, np.arctanh: E2.arctanh, np.log2: E2.log2, np.log10: E2.log10,
    np.exp2: E2.exp2, np.square: E2.square, np.cbrt: E2.cbrt, np.fabs: E2.fabs,
    np.deg2rad: E2.deg2rad, np.radians: E2.deg2rad, np.rad2deg: E2.rad2deg, np.degrees: E2.rad2deg,
    np.arctan2: E2.arctan2, np.hypot: E2.hypot, np.logaddexp: E2.logaddexp, np.logaddexp2: E2.logaddexp2,
    np.remainder: E2.remainder, np.fmod: E2.fmod, np.fmax: E2.fmax, np.fmin: E2.fmin, np.copysign: E2.copysign,
    np.floor: E2.floor, np.ceil: E2.ceil, np.trunc: E2.trunc, np.rint: E2.rint, np.heaviside: E2.heaviside,
    # issue 18: complex numbers (np.conj is np.conjugate)
    np.conjugate: C.conjugate,
}
# Ufuncs composed from primitives.
UFUNC_COMPOSITES: dict[Any, Callable[..., Any]] = {
    np.positive: lambda x: x,
    np.reciprocal: lambda x: 1 / x,
}
# issue 15: scipy.special's ufuncs (scipy.special.gammaln(t)), found by name and identity in
# tapegrad.ops.special.UFUNCS, so that importing tapegrad never imports SciPy.
scipy_ufunc: Callable[[Any], Primitive | None] = SP.ufunc_primitive


class _NotSupported(Exception):
    """A NumPy call on Tensors with an option or form tapegrad does not differentiate: without
    gradients it runs on the arrays; with them it becomes a DroppedGradientError."""


def _unsupported_options(name: str, options: dict[str, Any], allowed: tuple[str, ...]) -> None:
    used = [k for k, v in options.items() if k not in allowed and v is not None and v is not np._NoValue]
    if used:
        raise _NotSupported(f"numpy.{name} on a Tensor: the option(s) {used} are not supported by tapegrad")


def _method(name: str, *allowed: str) -> Callable[..., Any]:
    """``np.name(tensor, *args, **options)`` as ``tensor.name(*args, **options)``."""
    def call(a: Any, *args: Any, **options: Any) -> Any:
        _unsupported_options(name, options, allowed)
        options = {k: v for k, v in options.items() if k in allowed and v is not np._NoValue}
        return getattr(_lift(a), name)(*args, **options)
    return call


def _reshape(a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None,
             copy: Any = None) -> Any:
    if order != "C":
        raise _NotSupported("numpy.reshape on a Tensor: only order='C' is supported")
    return _lift(a).reshape(shape if shape is not None else newshape)


def _transpose(a: Any, axes: Any = None) -> Any:
    return _lift(a).transpose(*(() if axes is None else (axes,)))


def _clip(a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, *, min: Any = None,  # noqa: A002
          max: Any = None) -> Any:  # noqa: A002
    _unsupported_options("clip", {"out": out}, ())
    return _lift(a).clip(a_min if a_min is not None else min, a_max if a_max is not None else max)


def _where(condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None or y is None:
        raise _NotSupported("numpy.where on a Tensor needs all three arguments (condition, x, y)")
    return apply(A.where, where_mask(condition, "numpy.where"), x, y)


def _concatenate(arrays: Any, axis: int = 0, out: Any = None, **options: Any) -> Any:
    _unsupported_options("concatenate", {"out": out, **options}, ())
    return apply(S.concatenate, *arrays, axis=axis)


def _stack(arrays: Any, axis: int = 0, out: Any = None, **options: Any) -> Any:
    _unsupported_options("stack", {"out": out, **options}, ())
    return _concatenate([_lift(a).unsqueeze(axis) for a in arrays], axis=axis)


def _dot(a: Any, b: Any, out: Any = None) -> Any:
    _unsupported_options("dot", {"out": out}, ())
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return apply(A.multiply, a, b)
    if np.ndim(a) > 2 or np.ndim(b) > 2:
        raise _NotSupported("numpy.dot on a Tensor: only 1-D and 2-D operands are supported; use matmul or einsum")
    return apply(L.matmul, a, b)


def _outer(a: Any, b: Any, out: Any = None) -> Any:
    return _lift(a).reshape(-1, 1) * _lift(b).reshape(1, -1)


def _einsum(subscripts: str, *operands: Any, **options: Any) -> Any:
    _unsupported_options("einsum", {k: v for k, v in options.items() if k != "optimize"}, ())
    shapes = [x.shape if isinstance(x, (Tensor, np.ndarray)) else as_array(x, op="einsum").shape for x in operands]
    return apply(L.einsum, *operands, subscripts=L.canonical_einsum(subscripts, shapes))


# -- issue 15: scans, sorting, order statistics, NaN-ignoring reductions (handlers of FUNCTIONS) --


def _keep(keepdims: Any) -> bool:
    return keepdims is True or (keepdims is not np._NoValue and bool(keepdims))


def _flat_if_none(a: Any, axis: Any) -> tuple[Tensor, Any]:
    """``a`` flattened when ``axis`` is None (as NumPy's scans and sort do), else as it is."""
    x = _lift(a)
    return (x.reshape(-1), 0) if axis is None else (x, axis)


def _scan(prim: Primitive, name: str) -> Callable[..., Any]:
    def call(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
        _unsupported_options(name, {"dtype": dtype, "out": out}, ())
        x, axis = _flat_if_none(a, axis)
        return apply(prim, x, axis=S.axis_arg(axis, x.ndim, name))
    return call


def _diff(a: Any, n: Any = 1, axis: Any = -1, prepend: Any = np._NoValue, append: Any = np._NoValue) -> Any:
    x = _lift(a)
    n, axis = SC.diff_args(x.ndim, n, axis)
    pieces = [x]
    for position, extra in ((0, prepend), (2, append)):
        if extra is not np._NoValue:
            extra = _lift(extra)
            if extra.ndim == 0:  # a number is repeated across the other axes, as in NumPy
                extra = extra.broadcast_to(x.shape[:axis] + (1,) + x.shape[axis + 1:])
            pieces.insert(min(position, len(pieces)), extra)
    if len(pieces) > 1:
        x = _concatenate(pieces, axis=axis)
    return apply(SC.diff, x, n=n, axis=axis)


def _trace(a: Any, offset: Any = 0, axis1: Any = 0, axis2: Any = 1, dtype: Any = None, out: Any = None) -> Any:
    _unsupported_options("trace", {"dtype": dtype, "out": out}, ())
    x = _lift(a)
    offset, axis1, axis2 = SC.trace_args(x.ndim, offset, axis1, axis2)
    return apply(SC.trace, x, offset=offset, axis1=axis1, axis2=axis2)


def _ptp(a: Any, axis: Any = None, out: Any = None, keepdims: Any = np._NoValue) -> Any:
    _unsupported_options("ptp", {"out": out}, ())
    x = _lift(a)
    return x.max(axis, keepdims=_keep(keepdims)) - x.min(axis, keepdims=_keep(keepdims))


def _average(a: Any, axis: Any = None, weights: Any = None, returned: bool = False, *,
             keepdims: Any = np._NoValue) -> Any:
    x, keep = _lift(a), _keep(keepdims)
    axis = S.reduction_axis_arg(axis, x.ndim, "average")
    if weights is None:
        avg = x.mean(axis, keepdims=keep)
        total = Tensor(np.full(avg.shape, R.reduced_count(x.shape, axis), dtype=avg.dtype))
    else:
        w = _lift(weights)
        if w.shape != x.shape:
            if not (isinstance(axis, int) and w.ndim == 1 and w.shape[0] == x.shape[axis]):
                raise ShapeError(f"average: weights of shape {w.shape} for an input of shape {x.shape} and "
                                 f"axis={axis!r}; expected the input's shape, or 1-D with the length of one "
                                 "int axis")
            w = w.reshape(tuple(-1 if i == axis % x.ndim else 1 for i in range(x.ndim)))
        total = w.sum(axis, keepdims=keep)
        if bool((total == 0).sum() > 0):
            raise ArgumentError("average: the weights sum to zero along the reduced axes; their average "
                                "is not defined")
        avg = (x * w).sum(axis, keepdims=keep) / total
    return (avg, total.broadcast_to(avg.shape)) if returned else avg


def _nan_filled(x: Tensor, fill: float) -> tuple[Tensor, Tensor]:
    """``x`` with its NaNs replaced by ``fill`` (they take no gradient), and the NaN mask."""
    nan = x != x
    return apply(A.where, nan, fill, x), nan


def _nan_count(x: Tensor, nan: Tensor, axis: Any, keep: bool) -> Tensor:
    return (~nan).sum(axis, keepdims=keep).astype(x.dtype)


def _nan_reduction(name: str) -> Callable[..., Any]:
    def call(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: Any = np._NoValue,
             ddof: Any = 0, **options: Any) -> Any:
        _unsupported_options(name, {"dtype": dtype, "out": out, **options}, ())
        x, keep = _lift(a), _keep(keepdims)
        axis = S.reduction_axis_arg(axis, x.ndim, name)
        if name in ("nanmax", "nanmin"):
            filled, nan = _nan_filled(x, -np.inf if name == "nanmax" else np.inf)
            found = filled.max(axis, keepdims=keep) if name == "nanmax" else filled.min(axis, keepdims=keep)
            return apply(A.where, _nan_count(x, nan, axis, keep) == 0, np.nan, found)  # an all-NaN slice: NaN
        filled, nan = _nan_filled(x, 0.0)
        total = filled.sum(axis, keepdims=keep)
        if name == "nansum":
            return total
        count = _nan_count(x, nan, axis, keep)
        if name == "nanmean":
            return total / count
        centred = apply(A.where, nan, 0.0, x - total.reshape(R.kept_shape(x.shape, axis)) /
                        _nan_count(x, nan, axis, True))
        var = (centred * centred).sum(axis, keepdims=keep) / (count - S.count_arg(ddof, name, "ddof"))
        return var if name == "nanvar" else var.sqrt()
    return call


def _sort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, *, stable: Any = None) -> Any:
    _unsupported_options("sort", {"order": order}, ())
    x, axis = _flat_if_none(a, axis)
    return apply(SC.sort, x, axis=S.axis_arg(axis, x.ndim, "sort"))


def _argsort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, *, stable: Any = None) -> Any:
    _unsupported_options("argsort", {"order": order}, ())
    x, axis = _flat_if_none(a, axis)
    return apply(SC.argsort, x, axis=S.axis_arg(axis, x.ndim, "argsort"))


def _argpartition(a: Any, kth: Any, axis: Any = -1, kind: str = "introselect", order: Any = None) -> Any:
    _unsupported_options("argpartition", {"order": order}, ())
    x, axis = _flat_if_none(a, axis)
    kth = tuple(S.int_arg(k, "argpartition", "kth") for k in np.ravel(raw(kth)).tolist()) if np.ndim(raw(kth)) \
        else S.int_arg(raw(kth), "argpartition", "kth")
    return apply(SC.argpartition, x, kth=kth, axis=S.axis_arg(axis, x.ndim, "argpartition"))


def _searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None) -> Any:
    _unsupported_options("searchsorted", {"sorter": sorter}, ())
    if np.ndim(a) != 1:
        raise ShapeError(f"searchsorted: a sorted input of shape {np.shape(a)}; expected 1-D")
    if side not in ("left", "right"):
        raise ArgumentError(f"searchsorted: side={shown(side)}; expected 'left' or 'right'")
    return apply(SC.searchsorted, a, v, side=side)


def _order_statistic(a: Any, q: Any, axis: Any, keepdims: Any, op: str, scale: float) -> Tensor:
    """Quantiles ``q`` of ``a`` over ``axis`` (method 'linear'): two entries of the sorted values
    interpolated, so the gradient reaches those two entries (the ones a stable sort puts there)."""
    x, qs = _lift(a), SC.quantile_args(q, op, scale)
    axes = tuple(range(x.ndim)) if axis is None else S.axes_arg(axis, x.ndim, op)
    if any(x.shape[i] == 0 for i in axes):
        raise ShapeError(f"{op}: an input of shape {x.shape} is empty along axis {axis!r}; expected entries")
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    rest_shape = tuple(x.shape[i] for i in rest)
    ordered = apply(SC.sort, x.transpose(rest + axes).reshape(rest_shape + (-1,)), axis=len(rest))
    low, high, weight = SC.quantile_positions(qs.reshape(-1), ordered.shape[-1])
    below = ordered[..., low]
    result = below + (ordered[..., high] - below) * weight.astype(ordered.dtype)
    nan = ((ordered != ordered).sum(-1, keepdims=True) > 0)  # NumPy's quantiles of a slice with a NaN are NaN
    result = apply(A.where, nan, np.nan, result).reshape(rest_shape + qs.shape)
    result = result.transpose(tuple(range(len(rest), result.ndim)) + tuple(range(len(rest))))
    if _keep(keepdims):
        result = result.reshape(qs.shape + R.kept_shape(x.shape, axes))
    return result


def _quantile_function(op: str, scale: float) -> Callable[..., Any]:
    def call(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
             method: str = "linear", keepdims: Any = False, *, weights: Any = None, interpolation: Any = None) -> Any:
        _unsupported_options(op, {"out": out, "weights": weights, "interpolation": interpolation}, ())
        if method != "linear":
            raise _NotSupported(f"numpy.{op} on a Tensor: method={method!r} is not supported (only 'linear')")
        return _order_statistic(a, q, axis, keepdims, op, scale)
    return call


def _median(a: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False, keepdims: Any = False) -> Any:
    _unsupported_options("median", {"out": out}, ())
    return _order_statistic(a, 0.5, axis, keepdims, "median", 1.0)


def _nan_to_num(x: Any, copy: bool = True, nan: Any = 0.0, posinf: Any = None, neginf: Any = None) -> Any:
    for arg, value in (("nan", nan), ("posinf", posinf), ("neginf", neginf)):
        if not (value is None and arg != "nan" or isinstance(value, (int, float, np.integer, np.floating))
                and not isinstance(value, (bool, np.bool_))):
            raise ArgumentError(f"nan_to_num: {arg}={shown(value)} ({type(value).__name__}); expected a real number"
                                + ("" if arg == "nan" else " or None"))
    return apply(E2.nan_to_num, x, nan=nan, posinf=posinf, neginf=neginf)


def _round(a: Any, decimals: Any = 0, out: Any = None) -> Any:
    _unsupported_options("round", {"out": out}, ())
    return apply(E2.round_, a, decimals=S.int_arg(decimals, "round", "decimals"))


REDUCTION_OPTIONS = ("axis", "keepdims")
FUNCTIONS: dict[Any, Callable[..., Any]] = {
    np.sum: _method("sum", *REDUCTION_OPTIONS), np.mean: _method("mean", *REDUCTION_OPTIONS),
    np.var: _method("var", *REDUCTION_OPTIONS, "ddof"), np.std: _method("std", *REDUCTION_OPTIONS, "ddof"),
    np.prod: _method("prod", *REDUCTION_OPTIONS), np.max: _method("max", *REDUCTION_OPTIONS),
    np.min: _method("min", *REDUCTION_OPTIONS), np.amax: _method("max", *REDUCTION_OPTIONS),
    np.amin: _method("min", *REDUCTION_OPTIONS), np.argmax: _method("argmax", *REDUCTION_OPTIONS),
    np.argmin: _method("argmin", *REDUCTION_OPTIONS), np.reshape: _reshape, np.transpose: _transpose,
    np.squeeze: _method("squeeze", "axis"), np.expand_dims: _method("unsqueeze", "axis"),
    np.broadcast_to: _method("broadcast_to", "shape", "subok"), np.flip: _method("flip", "axis"),
    np.repeat: _method("repeat", "axis"), np.tile: _method("tile"), np.clip: _clip,
    np.take_along_axis: _method("take_along_axis", "axis"), np.where: _where, np.concatenate: _concatenate,
    np.stack: _stack, np.dot: _dot, np.outer: _outer, np.einsum: _einsum,
    np.swapaxes: _method("swapaxes"), np.ravel: lambda a, order="C": _reshape(a, -1, order),
    # issue 15: scans, sorting, order statistics, NaN-ignoring reductions
    np.cumsum: _scan(SC.cumsum, "cumsum"), np.cumprod: _scan(SC.cumprod, "cumprod"), np.diff: _diff,
    np.trace: _trace, np.ptp: _ptp, np.average: _average, np.sort: _sort, np.argsort: _argsort,
    np.argpartition: _argpartition,
    np.searchsorted: _searchsorted, np.median: _median, np.quantile: _quantile_function("quantile", 1.0),
    np.percentile: _quantile_function("percentile", 100.0), np.nan_to_num: _nan_to_num, np.round: _round,
    np.sinc: lambda x: apply(E2.sinc, x),
    np.around: _round, **{getattr(np, name): _nan_reduction(name)
                          for name in ("nansum", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin")},
}
# numpy.linalg (issue 15): the composites of tapegrad/ops/linalg_numpy.py run in the graph namespace.
def _linalg(function: Callable[..., Any], arrays: int = 1) -> Callable[..., Any]:
    """``np.linalg.<name>(*args)`` as ``function(GRAPH, *args)``, its first ``arrays`` arguments as Tensors."""
    def call(*args: Any, **options: Any) -> Any:
        return function(GRAPH, *[_lift(a) for a in args[:arrays]], *args[arrays:], **options)
    return call


def _lstsq(a: Any, b: Any, rcond: Any = None) -> Any:
    x, residuals, rank, s = LN.lstsq(GRAPH, _lift(a), _lift(b), rcond)
    return x, residuals, int(rank.item()), s


FUNCTIONS.update({
    np.linalg.inv: _linalg(lambda xp, a: xp.inv(a)), np.linalg.solve: _linalg(LN.solve_any, 2),
    np.linalg.det: _linalg(lambda xp, a: xp.det(a)), np.linalg.slogdet: _linalg(LN.slogdet),
    np.linalg.cholesky: _linalg(lambda xp, a, *, upper=False: xp.cholesky(a, upper=bool(upper))),
    np.linalg.eigh: _linalg(LN.eigh_pair), np.linalg.eigvalsh: _linalg(lambda xp, a, UPLO="L": LN.eigh_pair(
        xp, a, UPLO)[0]),
    np.linalg.qr: _linalg(LN.qr_pair),
    np.linalg.svd: _linalg(lambda xp, a, full_matrices=True, compute_uv=True, hermitian=False: LN.svd_parts(
        xp, a, compute_uv) if not (full_matrices and compute_uv and min(a.shape[-2:]) < max(a.shape[-2:]))
        else _unsupported_svd()),
    np.linalg.pinv: _linalg(lambda xp, a, rcond=None, hermitian=False, *, rtol=None: LN.pinv_any(xp, a, rcond, rtol)),
    np.linalg.lstsq: _lstsq, np.linalg.norm: _linalg(LN.norm), np.linalg.matrix_power: _linalg(LN.matrix_power),
    np.linalg.multi_dot: lambda arrays, *, out=None: LN.multi_dot(GRAPH, [_lift(a) for a in arrays]),
})


# Shapes and construction (issue 15): the compositions of tapegrad/ops/shapes_numpy.py in the graph namespace.
def _shaped(function: Callable[..., Any], arrays: int = 1) -> Callable[..., Any]:
    """``np.<name>(*args)`` as ``function(GRAPH, *args)``, its first ``arrays`` arguments as Tensors."""
    def call(*args: Any, **options: Any) -> Any:
        return function(GRAPH, *[_lift(a) for a in args[:arrays]], *args[arrays:], **options)
    return call


def _sequence(function: Callable[..., Any]) -> Callable[..., Any]:
    """``np.<name>(arrays)`` (a sequence of arrays) as ``function(GRAPH, [tensors])``."""
    def call(tup: Any, *, dtype: Any = None, casting: str = "same_kind") -> Any:
        _unsupported_options(function.__name__, {"dtype": dtype}, ())
        return function(GRAPH, [_lift(a) for a in tup])
    return call


def _at_least(n: int) -> Callable[..., Any]:
    def call(*arys: Any) -> Any:
        results = [SN.at_least(GRAPH, _lift(a), n) for a in arys]
        return results[0] if len(results) == 1 else tuple(results)
    return call


def _split(axis: int, name: str, least: int) -> Callable[..., Any]:
    """``np.hsplit/vsplit/dsplit``: ``np.split`` along ``axis`` (hsplit: axis 0 of a 1-D array)."""
    def call(ary: Any, indices_or_sections: Any) -> Any:
        x = _lift(ary)
        if x.ndim < least:
            raise ShapeError(f"{name}: got shape {x.shape}; expected at least {least} dimension(s)")
        return SN.array_split(GRAPH, x, indices_or_sections, 0 if x.ndim == 1 else axis, name, equal=True)
    return call


def _interp(x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None, period: Any = None) -> Any:
    return SN.interp(GRAPH, _lift(x), _lift(xp), _lift(fp), left, right, period)


def _gradient(f: Any, *varargs: Any, axis: Any = None, edge_order: Any = 1) -> Any:
    return SN.gradient(GRAPH, _lift(f), *varargs, axis=axis, edge_order=edge_order)


def _convolve(a: Any, v: Any, mode: str = "full") -> Any:
    """``np.convolve``: the 1-D convolution (the ``convolve`` primitive; NumPy's own without SciPy)."""
    a, v = _lift(a), _lift(v)
    if a.ndim > 1 or v.ndim > 1:
        raise ShapeError(f"convolve: a {a.shape} and v {v.shape}; expected 1-D sequences (tapegrad.scipy.signal."
                         "convolve takes N-d arrays)")
    a, v = a.reshape(-1), v.reshape(-1)
    if v.shape[0] > a.shape[0]:  # as NumPy: the longer one first
        a, v = v, a
    start, size = SG.mode_window(mode, a.shape, v.shape)
    return apply(SG.convolve, a, v, start=start, size=size)


def _partition(a: Any, kth: Any, axis: Any = -1, kind: str = "introselect", order: Any = None) -> Any:
    _unsupported_options("partition", {"order": order}, ())
    return SN.partition(GRAPH, _lift(a), kth, axis)


FUNCTIONS.update({
    np.diag: _shaped(SN.diag), np.diagonal: _shaped(SN.diagonal), np.triu: _shaped(SN.triu),
    np.tril: _shaped(SN.tril), np.roll: _shaped(SN.roll), np.rot90: _shaped(SN.rot90),
    np.moveaxis: _shaped(SN.moveaxis), np.rollaxis: _shaped(SN.rollaxis), np.fliplr: _shaped(SN.fliplr),
    np.flipud: _shaped(SN.flipud), np.atleast_1d: _at_least(1), np.atleast_2d: _at_least(2),
    np.atleast_3d: _at_least(3), np.array_split: _shaped(SN.array_split),
    np.split: lambda ary, indices_or_sections, axis=0: SN.array_split(GRAPH, _lift(ary), indices_or_sections,
                                                                      axis, "split", equal=True),
    np.hsplit: _split(1, "hsplit", 1), np.vsplit: _split(0, "vsplit", 2), np.dsplit: _split(2, "dsplit", 3),
    np.hstack: _sequence(SN.hstack), np.vstack: _sequence(SN.vstack), np.dstack: lambda tup: SN.dstack(
        GRAPH, [_lift(a) for a in tup]), np.column_stack: lambda tup: SN.column_stack(GRAPH, [_lift(a) for a in tup]),
    np.append: _shaped(SN.append, 2), np.kron: _shaped(SN.kron, 2), np.inner: _shaped(SN.inner, 2),
    np.tensordot: _shaped(SN.tensordot, 2), np.cross: _shaped(SN.cross, 2),
    np.linspace: _shaped(SN.linspace, 2), np.meshgrid: lambda *xi, **options: SN.meshgrid(
        GRAPH, *[_lift(x) for x in xi], **options), np.interp: _interp, np.polyval: _shaped(SN.polyval, 2),
    np.gradient: _gradient, np.partition: _partition, np.convolve: _convolve,
})


# Complex numbers (issue 18).
def _real_if_close(a: Any, tol: Any = 100) -> Any:
    """``np.real_if_close``: the real part when every imaginary part is below ``tol`` (times the dtype's
    machine epsilon when ``tol > 1``), else ``a``; its result's dtype follows the values (tg.compile refuses it)."""
    x = _lift(a)
    if x.dtype.kind != "c":
        return x
    note_unrecorded("numpy.real_if_close (a result dtype that follows the values)")
    tol = S.real_arg(tol, "real_if_close", "tol", 0)
    limit = tol * np.finfo(x.dtype).eps if tol > 1 else tol
    return x.real if np.all(np.abs(x.data.imag) < limit) else x


FUNCTIONS.update({
    np.real: lambda val: _lift(val).real, np.imag: lambda val: _lift(val).imag,
    np.angle: lambda z, deg=False: _lift(z).angle(deg), np.real_if_close: _real_if_close,
})


# numpy.fft (issue 18): the compositions of tapegrad/ops/fft.py in the graph namespace.
def _fourier(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``np.fft.<name>(a, ...)`` as ``function(GRAPH, a, ...)``; ``out=`` is not supported."""
    def call(a: Any, *args: Any, out: Any = None, **options: Any) -> Any:
        _unsupported_options(f"fft.{name}", {"out": out}, ())
        return function(GRAPH, _lift(a), *args, **options)
    return call


FUNCTIONS.update({getattr(np.fft, name): _fourier(getattr(FF, name), name) for name in (
    "fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2", "rfftn", "irfftn",
    "fftshift", "ifftshift")})


def _unsupported_svd() -> Any:
    raise _NotSupported("numpy.linalg.svd on a Tensor: full_matrices=True of a non-square matrix is not supported "
                        "(its extra singular vectors are not unique; pass full_matrices=False)")


# Functions that only read shapes or make new constants: answered from the data, never differentiated.
ON_DATA = (np.shape, np.ndim, np.size, np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.allclose,
           np.isclose, np.array_equal, np.result_type, np.may_share_memory, np.shares_memory,
           np.iscomplexobj, np.isrealobj, np.iscomplex, np.isreal)  # issue 18: the last four
READ_VALUES = (np.allclose, np.isclose, np.array_equal, np.iscomplex, np.isreal)  # answers that depend on values


def raw(value: Any) -> Any:
    """``value`` with every Tensor in it (also inside lists and tuples) replaced by its array."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, (list, tuple)):
        return type(value)(raw(v) for v in value)
    return value


def _shaped_like(value: Any) -> Any:
    """``value`` with every Tensor in it replaced by its array, a batched one by a stand-in of one example's
    shape and dtype (for NumPy functions that read only shapes and dtypes: ``np.shape``, ``np.zeros_like``)."""
    if value.__class__ is Batched:
        return np.broadcast_to(np.zeros((), value.dtype), value.shape)
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, (list, tuple)):
        return type(value)(_shaped_like(v) for v in value)
    return value


def requires_grad(value: Any) -> bool:
    """Whether ``value`` holds a Tensor that requires grad (also inside lists and tuples)."""
    if isinstance(value, Tensor):
        return bool(value.requires_grad)
    if isinstance(value, (list, tuple)):
        return any(requires_grad(v) for v in value)
    return False



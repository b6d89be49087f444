"""The Tensor: a NumPy array that records the operations applied to it.

Every operation on a Tensor is a call of :func:`apply` with one primitive from
:mod:`tapegrad.ops`. When gradients are enabled and an input requires grad, ``apply`` adds one
:class:`~tapegrad.engine.node.Node` to the graph; ``backward()`` then walks that graph once in reverse.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from .backward import HookHandle, backward_pass, register_hook
from .dtypes import get_default_dtype, is_differentiable
from .engine.forward import FORWARD
from .engine.modes import SPECIAL_MODES
from .engine.modes import state as _grad_state
from .engine.node import ALL_PARENTS, Node, next_sequence, user_code_location, version_of
from .errors import BackwardError, DroppedGradientError, DTypeError, ShapeError, TracingError
from .numpy_protocol import TensorProtocol
from .ops import REGISTRY, Namespace, Primitive
from .ops import arithmetic as A
from .ops import elementwise as E
from .ops import linalg as L
from .ops.shape import NUMERIC, dtype_arg, shown
from .special_modes import carry_tangents, check_result
from .tensor_inplace import TensorInPlace, note_view
from .tensor_methods import TensorMethods, describe


def _operation_error(prim: Primitive, args: tuple, params: dict, exc: Exception) -> Exception:
    operands = " and ".join(describe(a) for a in args)
    shown = {k: v for k, v in params.items() if k != "index"}
    extra = f" with {shown}" if shown else ""
    message = (f"{prim.name}: cannot apply to {operands}{extra}: expected {prim.expects or 'valid operands'}"
               f" (NumPy says: {exc})")
    return DTypeError(message) if isinstance(exc, TypeError) else ShapeError(message)


def _check_unusual_result(prim: Primitive, args: tuple, dtype: np.dtype, gradient_wanted: bool) -> None:
    """For a result that is neither floating, integer nor boolean: raise unless it is complex and
    no gradient was wanted.

    Raises:
        DTypeError: for a result that is not numbers (object, string), e.g. from an object array operand.
        DroppedGradientError: for a complex result of an input that requires grad.
    """
    operands = " and ".join(describe(a) for a in args)
    if dtype.kind not in "c":
        raise DTypeError(f"{prim.name}: {operands} give a result of dtype {dtype}; expected numeric operands "
                         "(bool, integer, floating or complex arrays, tensors or numbers)")
    if gradient_wanted and prim.vjps is not None:
        raise DroppedGradientError(
            f"{prim.name}: a tensor that requires grad ({operands}) gives a complex result, and tapegrad does "
            "not differentiate complex numbers yet: its gradient would be dropped. Keep the real and "
            "imaginary parts as two real tensors, or compute this part without gradient (.detach()).")


def apply(prim: Primitive, *args: Any, **params: Any) -> Tensor:
    """Run ``prim`` on ``args`` (Tensors or constants) and record it when a gradient may be needed.

    This is the hot path of every operation, so it is written for speed: no helper calls and no
    generator expressions between the NumPy call and the new Node.

    Returns:
        A new Tensor holding the result; it requires grad when recording happened.

    Raises:
        ShapeError, DTypeError: when NumPy rejects the operands, with the operation, the shapes and
            dtypes, and what the operation expects.
    """
    arrays = []
    parents = []
    recording = False  # some input requires grad
    constant = False  # some input does not
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
        constant = True
    try:
        out = prim.forward(*arrays, **params) if params else prim.forward(*arrays)
    except (ValueError, TypeError, IndexError) as exc:
        raise _operation_error(prim, args, params, exc) from None
    if out.__class__ is not np.ndarray:
        out = np.asarray(out)
    result = _new_tensor(Tensor)
    result.data = out
    result.grad = result._node = result.name = None
    result.requires_grad = False
    special = SPECIAL_MODES.count  # no_grad, jvp, detect_anomaly or compile open somewhere: look closer
    if special:
        if _grad_state.anomaly:
            check_result(prim, args, out)
        if _grad_state.trace is not None:
            _grad_state.trace.append((prim, args, params, result))
    dtype = out.dtype
    if not recording or prim.vjps is None or dtype.kind != "f" or (special and not _grad_state.enabled):
        if dtype.kind not in "fbiu":
            _check_unusual_result(prim, args, dtype, recording and not (special and not _grad_state.enabled))
        if special and FORWARD.levels:
            carry_tangents(prim, args, params, result)
        return result
    shape = shared_shape(out.shape)
    # Exact: an elementwise primitive whose inputs that take a gradient all have the output's shape
    # and dtype, so no gradient will need summing over broadcast axes or casting. A Node's shape is
    # the shared tuple (_SHARED), so the identity test suffices.
    exact = prim.elementwise
    if exact:
        for parent in parents:
            if parent is None:
                continue
            if parent.__class__ is Node:
                if (parent.shape is not shape and parent.shape != shape) or parent.dtype is not dtype:
                    exact = False
            elif parent.data.shape != shape or parent.data.dtype is not dtype:
                exact = False
    if prim.saves_inputs:
        inputs = tuple(arrays)
        constants = tuple([a if p is None else None for a, p in zip(arrays, parents)]) if constant else None
    elif not constant:
        inputs = ALL_PARENTS  # every parent stands in for its input: nothing to keep
        constants = None
    else:
        # The parent stands in for an input whose values the rules do not read.
        for position, parent in enumerate(parents):
            if parent is not None:
                arrays[position] = None
        inputs = constants = tuple(arrays)

    node = _new_node(Node)
    node.prim = prim
    node.parents = tuple(parents)
    node.inputs = inputs
    node.constants = constants
    node.ans = out if prim.saves_ans else None
    node.extras = None
    node.sequence = next_sequence()
    if special and _grad_state.anomaly:
        node.where = user_code_location()
    node.params = params or _NO_PARAMS
    node.shape = shape
    node.dtype = dtype
    node.exact = exact
    result._node = node
    result.requires_grad = True
    if special and FORWARD.levels:
        carry_tangents(prim, args, params, result)
    return result


def apply_unary(prim: Primitive, x: Any, **params: Any) -> Tensor:
    """:func:`apply` for one input, the path of the Tensor methods (``x.sin()``, ``x.sum(axis=0)``).

    It records the same Node as :func:`apply`, without apply's loop over the inputs; anything
    beyond the common case (``jvp``, ``detect_anomaly`` or tracing on, ``x`` not a Tensor) goes to
    :func:`apply`.
    """
    recordable = True
    if SPECIAL_MODES.count:
        if _grad_state.anomaly or _grad_state.trace is not None or FORWARD.levels:
            return apply(prim, x, **params)
        recordable = _grad_state.enabled  # only no_grad is on (in this thread or another)
    if not isinstance(x, Tensor):
        return apply(prim, x, **params)
    data = x.data
    try:
        out = prim.forward(data, **params) if params else prim.forward(data)
    except (ValueError, TypeError, IndexError) as exc:
        raise _operation_error(prim, (x,), params, exc) from None
    if out.__class__ is not np.ndarray:
        out = np.asarray(out)
    result = _new_tensor(Tensor)
    result.data = out
    result.grad = result.name = None
    dtype = out.dtype
    if not (x.requires_grad and recordable) or prim.vjps is None or (
            dtype is not _FLOAT64 and dtype.kind != "f"):
        if dtype.kind not in "fbiu":
            _check_unusual_result(prim, (x,), dtype, x.requires_grad and recordable)
        result._node = None
        result.requires_grad = False
        return result
    shape = out.shape
    recent = _SHARED.recent
    shape = recent if shape == recent else shared_shape(shape)
    node = _new_node(Node)
    node.prim = prim
    node.parents = (x._node or x,)
    node.inputs = (data,) if prim.saves_inputs else ALL_PARENTS
    node.constants = None
    node.ans = out if prim.saves_ans else None
    node.extras = None
    node.sequence = next_sequence()
    node.params = params or _NO_PARAMS
    node.shape = shape
    node.dtype = dtype
    node.exact = prim.elementwise
    result._node = node
    result.requires_grad = True
    return result


def apply_binary(prim: Primitive, x: Any, y: Any) -> Tensor:
    """:func:`apply` for two inputs without parameters, the path of the operators (``x * y``).

    It records the same Node as :func:`apply`, without apply's loop over the inputs; with a special
    mode on (``jvp``, ``detect_anomaly``, tracing) it hands over to :func:`apply`. Like apply it fills
    the Node inline: a helper call would cost a tenth of a small operation. A test compares the
    Nodes the three make, field by field.
    """
    recordable = True
    if SPECIAL_MODES.count:
        if _grad_state.anomaly or _grad_state.trace is not None or FORWARD.levels:
            return apply(prim, x, y)
        recordable = _grad_state.enabled  # only no_grad is on (in this thread or another)
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
    except (ValueError, TypeError, IndexError) as exc:
        raise _operation_error(prim, (x, y), _NO_PARAMS, exc) from None
    if out.__class__ is not np.ndarray:
        out = np.asarray(out)
    result = _new_tensor(Tensor)
    result.data = out
    result.grad = result.name = None
    dtype = out.dtype
    if (x_parent is None and y_parent is None) or prim.vjps is None or (
            dtype is not _FLOAT64 and dtype.kind != "f"):
        if dtype.kind not in "fbiu":
            _check_unusual_result(prim, (x, y), dtype, x_parent is not None or y_parent is not None)
        result._node = None
        result.requires_grad = False
        return result
    shape = out.shape
    recent = _SHARED.recent
    shape = recent if shape == recent else shared_shape(shape)
    node = _new_node(Node)
    node.prim = prim
    node.parents = (x_parent, y_parent)
    if x_parent is not None and y_parent is not None:
        node.inputs = (x_data, y_data) if prim.saves_inputs else ALL_PARENTS
        node.constants = None
    else:  # one input is a constant: its value is kept apart, where the other's may be left out
        node.constants = (None, y_data) if x_parent is not None else (x_data, None)
        node.inputs = (x_data, y_data) if prim.saves_inputs else node.constants
    node.ans = out if prim.saves_ans else None
    node.extras = None
    node.sequence = next_sequence()
    node.params = _NO_PARAMS
    node.shape = shape
    node.dtype = dtype
    exact = prim.elementwise
    if exact:
        # An input's Node knows its shape (the shared tuple) and dtype more cheaply than its array.
        if x_parent is not None:
            known = x_parent if x_parent.__class__ is Node else x_data
            exact = known.dtype is dtype and known.shape == shape
        if exact and y_parent is not None:
            known = y_parent if y_parent.__class__ is Node else y_data
            exact = known.dtype is dtype and known.shape == shape
    node.exact = exact
    result._node = node
    result.requires_grad = True
    return result


def apply_view(prim: Primitive, x: Any, **params: Any) -> Tensor:
    """:func:`apply_unary` for a primitive whose result may view its input's memory (``getitem``,
    ``reshape``, ``transpose``, ``flip``, ...). When NumPy returned a view, the result remembers
    which tensor it views and how (:func:`~tapegrad.tensor_inplace.note_view`), so that an in-place
    change of either one gives the other the right history."""
    result = apply_unary(prim, x, **params)
    if isinstance(x, Tensor):
        note_view(result, x, prim, params)
    return result


class _SharedShapes:
    """One tuple per distinct shape, shared by every Node with that output shape (a million Nodes
    keep one tuple, not a million), and the one shared last: consecutive operations mostly have
    the same shape, and comparing two small tuples is cheaper than looking one up.

    At most :data:`LIMIT` shapes are kept: a program that meets ever new shapes (variable-length
    sequences) starts afresh when the table is full. Sharing only saves memory and lets Nodes
    compare shapes by identity first; a Node whose tuple is not the table's is compared by value."""

    __slots__ = ("tuples", "recent")
    LIMIT = 4096

    def __init__(self) -> None:
        self.tuples: dict[tuple, tuple] = {}
        self.recent: tuple = ()


_SHARED = _SharedShapes()


def shared_shape(shape: tuple) -> tuple:
    """The one tuple equal to ``shape`` that every Node of that shape holds (compared by identity)."""
    tuples = _SHARED.tuples
    shared = tuples.get(shape)
    if shared is None:
        if len(tuples) >= _SharedShapes.LIMIT:
            tuples.clear()
        shared = tuples[shape] = shape
    _SHARED.recent = shared
    return shared


_NO_PARAMS: dict = {}
# While tg.compile traces, a tensor detached from, or made from, a traced one is a step of the schedule
# (recomputed at every call), not a constant of the trace. Neither takes a gradient.
_DETACH = Primitive("detach", np.ndarray.view, saves_inputs=False)
_AS_ARRAY = Primitive("as_array", lambda x, dtype=None, copy=False: np.array(x, dtype=dtype, copy=True) if copy
                      else np.asarray(x, dtype=dtype), saves_inputs=False)
_FLOAT64 = np.dtype(np.float64)  # the common dtype, recognised by identity before asking its kind
_new_tensor = _new_node = object.__new__


def _reattach(value: Any, parent: Any) -> Any:
    """A saved input as the graph namespace's rules see it: a Tensor on its parent's graph."""
    if parent is None:
        return value
    if isinstance(parent, Tensor):
        return parent
    tensor = Tensor._make(value)
    tensor._node, tensor.requires_grad = parent, True
    return tensor


#: The namespace gradient rules use when the backward pass is recorded (``create_graph=True``).
GRAPH: Namespace = Namespace("graph", REGISTRY, lambda prim: partial(apply, prim), apply, _reattach)


class Tensor(TensorMethods, TensorInPlace, TensorProtocol):
    """An n-dimensional array that can record operations for automatic differentiation.

    Args:
        data: anything ``numpy.asarray`` accepts; NumPy arrays are used without copying.
        requires_grad: record operations on this tensor so that ``backward()`` fills ``.grad``.
            Only floating dtypes can require grad.
        name: a label shown in errors and graph pictures.
    """

    # ``_view`` and ``_views`` are set only on views and the tensors they view (see tensor_inplace).
    __slots__ = ("data", "grad", "requires_grad", "_node", "name", "_view", "_views", "__weakref__")
    __hash__ = object.__hash__

    # How the methods in TensorMethods run their primitive.
    _record = staticmethod(apply)
    _record_unary = staticmethod(apply_unary)
    _record_binary = staticmethod(apply_binary)
    _record_view = staticmethod(apply_view)

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None) -> None:
        self.data = _as_array(data)
        self.grad: Tensor | None = None
        self.requires_grad = False
        self._node: Node | None = None
        self.name = name
        if requires_grad:
            self.requires_grad_(True)
        if SPECIAL_MODES.count and _grad_state.trace is not None:
            _grad_state.trace.append((None, self))  # made while tg.compile traces: a constant of the trace

    _graph_namespace = GRAPH  # what a recorded backward pass runs the rules in (see backward.py)

    @staticmethod
    def _plain(data: Any) -> Tensor:
        """``Tensor(data)``, for the mixins, which cannot name the class."""
        return Tensor(data)

    @classmethod
    def _make(cls, data: np.ndarray) -> Tensor:
        """A plain Tensor around ``data`` as it is (no conversion, no checks: for tapegrad's own arrays)."""
        tensor = cls.__new__(cls)
        tensor.data = data
        tensor.grad = None
        tensor.requires_grad = False
        tensor._node = None
        tensor.name = None
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
    def T(self) -> Tensor:
        """The tensor with its axes reversed (the transpose of a matrix)."""
        return self.transpose()

    @property
    def version(self) -> int:
        """How many in-place changes this tensor's data has seen."""
        return version_of(self.data)

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shared, not copied)."""
        self._not_while_tracing("numpy()")
        return self.data

    def _not_while_tracing(self, what: str) -> None:
        if SPECIAL_MODES.count and _grad_state.trace is not None:
            raise TracingError(
                f"{what} of a tensor while tg.compile traces the function: the value is fixed at tracing time, "
                "so Python control flow on it would not follow later inputs. Compute it with tensor "
                "operations (e.g. tg.where instead of if), or do not compile this function.")

    def item(self) -> Any:
        """The single value of a one-entry tensor as a Python number.

        Raises:
            ShapeError: if the tensor has more than one entry.
        """
        self._not_while_tracing("item()")
        if self.data.size != 1:
            raise ShapeError(f"item: needs a tensor with one entry, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        """The data as (nested) Python lists of numbers."""
        self._not_while_tracing("tolist()")
        return self.data.tolist()

    def detach(self) -> Tensor:
        """A tensor sharing this data but cut from the graph (it does not require grad)."""
        if SPECIAL_MODES.count and _grad_state.trace is not None:
            return apply(_DETACH, self)
        return Tensor._make(self.data.view())  # a new array object: no jvp tangent follows it

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` on a leaf, in place; returns the tensor.

        Raises:
            DTypeError: for a non-floating dtype.
            BackwardError: when turning it off on a non-leaf.
        """
        if requires_grad and not is_differentiable(self.dtype):
            raise DTypeError(f"requires_grad: only floating tensors can require gradients "
                             f"(float16, float32, float64); this one is {self.dtype}")
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

    def register_hook(self, hook: Any) -> HookHandle:
        """Call ``hook(grad)`` with the gradient flowing into this tensor during backward; if it returns
        a value, that replaces the gradient. Returns a handle whose ``remove()`` unregisters it."""
        if not self.requires_grad:
            raise BackwardError("register_hook on a tensor that does not require grad")
        return register_hook(self, hook)

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

def _as_array(data: Any, dtype: Any = None, copy: bool = False, op: str = "Tensor") -> np.ndarray:
    """``data`` as a numeric ndarray; Python floats become the default dtype unless ``dtype`` says
    otherwise.

    Raises:
        ShapeError: for ragged nested sequences.
        DTypeError: for a dtype that is not NumPy's, or data that is not numbers (strings, objects).
    """
    if isinstance(data, Tensor):
        if SPECIAL_MODES.count and _grad_state.trace is not None:
            return apply(_AS_ARRAY, data, dtype=dtype, copy=copy).data  # the result's array: see _AS_ARRAY
        data = data.data
    dtype = dtype_arg(dtype, op) if dtype is not None else None
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
    if dtype is None and not from_numpy and array.dtype.kind == "f":
        array = array.astype(get_default_dtype(), copy=False)
    return array

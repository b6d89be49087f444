"""The recorded graph: one :class:`Node` per operation that needs a gradient, and version tracking.

A Tensor produced by a recorded operation points to its Node (``tensor.grad_fn``); the Node points
to its inputs' Nodes (or, for leaves, to the leaf Tensors) and to the arrays its rules need. Nothing
points back from a Node to the Tensor it produced, so the graph has no reference cycles: it is freed
by reference counting as soon as the last Tensor using it goes away.

Python's cyclic garbage collector still visits every container object it tracks, again and again
as a program allocates, so a graph of a million nodes made of many small tracked objects makes
every operation slower as the graph grows. A Node therefore keeps what it saved in a tuple of arrays
(which the collector stops tracking): per recorded operation it tracks only the Node and its tuple
of parents, and no per-tensor bookkeeping object exists at all.

In-place changes are counted per block of memory: :func:`bump` counts a change to the array that
owns the memory (``array.base``, or the array itself), so every Tensor viewing that memory sees it.
Nodes and in-place changes draw their numbers from one counter (:data:`next_sequence`), and
:data:`CLOCK` holds the number of the latest in-place change: backward looks closer at a Node's
saved values only when some change came after the Node (in a training loop: never).
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
import weakref
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from ..ops.registry import Primitive

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tapegrad/

#: Numbers the Nodes in the order they are made, and the in-place changes (``next_sequence()``; atomic under the GIL, so
#: unique across threads). A Node's inputs always exist before it, so every Node has a larger
#: number than the Nodes it consumes: the backward pass handles Nodes from the largest number down.
next_sequence = itertools.count().__next__


class _Clock:
    """The number (from :data:`next_sequence`) of the latest in-place change anywhere."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = -1


CLOCK = _Clock()
# By id of a memory owner (an array that owns its memory, or whatever a view's ``base`` is): how
# many in-place changes it has seen, the number of its latest change, and which operation did it.
# Only memory that was ever changed in place has entries; they are dropped when it is freed.
_VERSIONS: dict[int, int] = {}
_CHANGED_AT: dict[int, int] = {}
# Where: the operation's label, and the code object and instruction offset of the user's frame (the
# line is looked up only when an error names it: formatting ``file:line`` at every weight update cost
# a tenth of the update's overhead).
_CHANGED_BY: dict[int, tuple[str, Any, int]] = {}


def memory_owner(array: np.ndarray) -> np.ndarray:
    """The array whose memory ``array`` views: ``array.base`` when that is an array (NumPy points a
    view at the array that owns the memory), else ``array`` itself (it owns its memory, or wraps a
    buffer that is not an array: ``np.frombuffer``, a memoryview, an mmap)."""
    base = array.base
    return base if isinstance(base, np.ndarray) else array


def _forget(key: int) -> None:
    _VERSIONS.pop(key, None)
    _CHANGED_AT.pop(key, None)
    _CHANGED_BY.pop(key, None)


def version_of(array: np.ndarray) -> int:
    """How many in-place changes the memory of ``array`` has seen."""
    return _VERSIONS.get(id(memory_owner(array)), 0) if _VERSIONS else 0


def bump(array: np.ndarray, operation: str) -> None:
    """Count one in-place change of ``array``'s memory, made by ``operation`` at the user's line."""
    base = array.base  # memory_owner, inline: this runs at every weight update
    owner = base if isinstance(base, np.ndarray) else array
    key = id(owner)
    if key not in _VERSIONS:
        try:
            weakref.finalize(owner, _forget, key)
        except TypeError:  # memory owned by an object without weak references (bytes): keep the entry
            pass
    CLOCK.now = stamp = next_sequence()
    _VERSIONS[key] = _VERSIONS.get(key, 0) + 1
    _CHANGED_AT[key] = stamp
    frame = _user_frame()
    _CHANGED_BY[key] = (operation, None, 0) if frame is None else (operation, frame.f_code, frame.f_lasti)


def changed_since(arrays: tuple, sequence: int) -> int | None:
    """The position of the first of ``arrays`` whose memory was changed in place after the Node
    numbered ``sequence`` was made."""
    for position, array in enumerate(arrays):
        if isinstance(array, np.ndarray) and _CHANGED_AT.get(id(memory_owner(array)), -1) > sequence:
            return position
    return None


def changed_by(array: np.ndarray) -> str:
    """The in-place operation, and where in the user's code, that last changed ``array``'s memory."""
    entry = _CHANGED_BY.get(id(memory_owner(array)))
    if entry is None:
        return "an in-place operation"
    operation, code, offset = entry
    if code is None:
        return f"{operation} at <unknown>"
    return f"{operation} at {code.co_filename}:{_line_at(code, offset)}"


def _line_at(code: Any, offset: int) -> int:
    """The source line of the instruction at byte ``offset`` of ``code`` (what ``frame.f_lineno`` gives
    for a frame stopped there)."""
    for start, end, line in code.co_lines():
        if start <= offset < end and line is not None:
            return line
    return code.co_firstlineno


@functools.lru_cache(maxsize=1024)
def _inside_package(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep)


def _user_frame() -> Any:
    """The innermost frame outside the tapegrad package (where the user called in), or None."""
    frame = sys._getframe(2)
    while frame is not None and _inside_package(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def user_code_location() -> str:
    """``file:line`` of the innermost frame outside the tapegrad package (where the user called in)."""
    frame = _user_frame()
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


#: ``Node.inputs`` of a primitive that does not save inputs when every input has a parent.
ALL_PARENTS: tuple = ()


class _SharedShapes:
    """One tuple per distinct shape, shared by the Nodes that operations record with that output
    shape (a million Nodes keep one tuple, not a million), and the one shared last: consecutive
    operations mostly have the same shape, and comparing two small tuples is cheaper than looking
    one up.

    At most :data:`LIMIT` shapes are kept: a program that meets ever new shapes (variable-length
    sequences) starts afresh when the table is full. Sharing only saves memory and lets Nodes
    compare shapes by identity first; a Node whose tuple is not the table's is compared by value."""

    __slots__ = ("tuples", "recent")
    LIMIT = 4096

    def __init__(self) -> None:
        self.tuples: dict[tuple, tuple] = {}
        self.recent: tuple = ()


SHARED_SHAPES = _SharedShapes()


def shared_shape(shape: tuple) -> tuple:
    """The one tuple equal to ``shape`` that every Node of that shape holds (compared by identity)."""
    tuples = SHARED_SHAPES.tuples
    shared = tuples.get(shape)
    if shared is None:
        if len(tuples) >= _SharedShapes.LIMIT:
            tuples.clear()
        shared = tuples[shape] = shape
    SHARED_SHAPES.recent = shared
    return shared


class _Extras:
    """What a few Nodes carry besides their operation: see :class:`Node`."""

    __slots__ = ("retained", "hooks", "where", "label")

    def __init__(self) -> None:
        self.retained = self.hooks = self.where = self.label = None


class Node:
    """One recorded operation, made by its constructor: by :func:`tapegrad.tensor.record` for every
    operation on Tensors (``apply_binary``, the operators' path, fills the same fields inline, and a
    test compares the two), and by ``tg.compile`` for a whole call of a compiled function.

    Attributes:
        prim: the primitive that ran.
        parents: per input, the Node that produced it, the leaf Tensor itself, or None when no
            gradient flows to it.
        inputs: per input, what the rules receive (None once a backward pass released it): the
            array when the primitive's rules read input values (``prim.saves_inputs``; for a compiled
            call, the values its schedule kept for backward, one per value, not per input); otherwise
            None where the parent stands in for the input (rules read only its ``shape``, ``ndim``
            and ``dtype``), and constants as they are; :data:`ALL_PARENTS` when every parent
            stands in.
        constants: per input, the value of an input that takes no gradient (None for the others),
            or None when every input takes one. Kept after backward, so that a finished graph can
            still be replayed and explained (:func:`tapegrad.explain`).
        ans: the output array, when the rules read it (``prim.saves_ans``); for a ``tg.compile`` call,
            the state of its backward (the gradients of the last seed). Released with ``inputs``
            after backward.
        sequence: when the node was made (:data:`next_sequence`), larger than its parents'; if an
            in-place change came later (``CLOCK.now`` is larger), backward checks that none touched
            :meth:`saved_arrays`.
        params: the primitive's keyword parameters (axis, shape, index, ...).
        shape, dtype: the output's shape and dtype.
        exact: every input that takes a gradient had exactly the output's shape and dtype, so no
            gradient needs to be summed over broadcast axes or cast.
        retained: a weak reference to the output Tensor that called ``retain_grad()``, else None.
        hooks: functions registered with ``register_hook`` on the output Tensor, else None.
        where: the line of user code that created the node (recorded under ``detect_anomaly``).
        label: the name the user gave the output Tensor (``tensor.name``), shown by ``tg.explain``.
        extras: None while the node has none of the three above (nearly always: backward then
            checks one slot instead of three), else the object that holds them.

    The public, read-only view of a Node (what code above the engine reads, as PyTorch's ``grad_fn``):
    :attr:`name`, :attr:`primitive`, :attr:`parameters`, :attr:`next_functions`,
    :attr:`constant_inputs`, :attr:`label`, ``shape``, ``dtype``, :attr:`ndim` and :attr:`released`; to walk a whole
    graph, :func:`tapegrad.engine.backward.graph_nodes` (``tg.autograd.graph_nodes``). The other slots are the
    engine's.
    """

    __slots__ = ("prim", "parents", "inputs", "constants", "ans", "sequence", "params", "shape", "dtype",
                 "exact", "extras", "__weakref__")

    prim: Primitive
    parents: tuple
    inputs: tuple | None
    constants: tuple | None
    ans: np.ndarray | None
    sequence: int
    params: dict
    shape: tuple
    dtype: np.dtype
    exact: bool
    extras: _Extras | None

    def __init__(self, prim: Primitive, parents: tuple, inputs: tuple | None, constants: tuple | None,
                 ans: Any, params: dict, shape: tuple, dtype: np.dtype, exact: bool) -> None:
        self.prim = prim
        self.parents = parents
        self.inputs = inputs
        self.constants = constants
        self.ans = ans
        self.sequence = next_sequence()
        self.params = params
        self.shape = shape
        self.dtype = dtype
        self.exact = exact
        self.extras = None

    def _extras(self) -> _Extras:
        if self.extras is None:
            self.extras = _Extras()
        return self.extras

    retained = property(lambda self: self.extras and self.extras.retained,
                        lambda self, value: setattr(self._extras(), "retained", value))
    hooks = property(lambda self: self.extras and self.extras.hooks,
                     lambda self, value: setattr(self._extras(), "hooks", value))
    where = property(lambda self: self.extras and self.extras.where,
                     lambda self, value: setattr(self._extras(), "where", value))
    label = property(lambda self: self.extras and self.extras.label,
                     lambda self, value: setattr(self._extras(), "label", value),
                     doc="The name the user gave the tensor this Node produced (``q.name = 'q'``), else None.")

    @property
    def name(self) -> str:
        """The primitive's name (``"add"``, ``"tanh"``, ...)."""
        return self.prim.name

    @property
    def primitive(self) -> Primitive:
        """The primitive that ran (its ``symbol`` and ``derivatives`` say how ``tg.explain`` writes it)."""
        return self.prim

    @property
    def parameters(self) -> Mapping[str, Any]:
        """The primitive's keyword parameters (axis, shape, ...), as a read-only mapping."""
        return MappingProxyType(self.params)

    @property
    def next_functions(self) -> tuple:
        """Per input, where its gradient goes, as PyTorch's ``grad_fn.next_functions``: the Node that
        produced the input, the leaf Tensor itself, or None when no gradient flows to it (a constant,
        or a tensor that does not require grad). A tuple, so read-only."""
        return self.parents

    @property
    def constant_inputs(self) -> tuple:
        """Per input, the value of an input that takes no gradient (None where :attr:`next_functions`
        is not None). Kept after backward, so that a finished graph can still be replayed."""
        return self.constants or (None,) * len(self.parents)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def released(self) -> bool:
        """Whether a backward pass already freed the values this node saved."""
        return self.inputs is None

    def saved_arrays(self) -> tuple:
        """The values the rules read: the inputs (when ``prim.saves_inputs``), then ``ans`` (when
        ``prim.saves_ans``)."""
        inputs = self.inputs if self.prim.saves_inputs else ()
        return inputs if self.ans is None else inputs + (self.ans,)

    def release(self) -> None:
        """Drop every saved value; a later backward through this node raises GraphReleasedError."""
        self.inputs = self.ans = None

    def __repr__(self) -> str:
        return f"<{self.prim.name} node, output shape {self.shape}>"

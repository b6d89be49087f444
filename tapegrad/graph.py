"""The recorded graph: one :class:`Node` per operation that needs a gradient.

A Tensor produced by a recorded operation points to its Node (``tensor.grad_fn``); the Node points
to its inputs' Nodes (or, for leaves, to the leaf Tensors) and to the arrays its rules need. Nothing
points back from a Node to the Tensor it produced, so the graph has no reference cycles: it is freed
by reference counting as soon as the last Tensor using it goes away.

Python's cyclic garbage collector still visits every container object it tracks, again and again
as a program allocates; a graph of a million nodes made of many small tracked objects makes every
operation slower as the graph grows. So a Node keeps what it saved in tuples of arrays, numbers and
version counters, which the collector stops tracking: per recorded operation it tracks only the Node
and its tuple of parents.
"""

from __future__ import annotations

import os
import sys
import weakref

import numpy as np

from .ops.registry import Primitive

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# What changed each version counter last, by the counter's id (removed when the counter is freed).
_CHANGES: dict[int, str] = {}


def new_counter() -> np.ndarray:
    """A version counter: how many in-place changes a Tensor's data has seen.

    It is a one-entry int64 array rather than a Python object because arrays are invisible to the
    cyclic garbage collector (see the module docstring). Tensors that view the same memory share it.
    """
    return np.zeros(1, dtype=np.int64)


def bump(counter: np.ndarray, operation: str) -> None:
    """Count one in-place change made by ``operation`` at the caller's line of user code."""
    counter[0] += 1
    key = id(counter)
    if key not in _CHANGES:
        weakref.finalize(counter, _CHANGES.pop, key, None)
    _CHANGES[key] = f"{operation} at {user_code_location()}"


def changed_by(counter: np.ndarray) -> str:
    """The in-place operation, and where in the user's code, that last changed ``counter``."""
    return _CHANGES.get(id(counter), "an in-place operation")


def user_code_location() -> str:
    """``file:line`` of the innermost frame outside the tapegrad package (where the user called in)."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


class Node:
    """One recorded operation.

    Attributes:
        prim: the primitive that ran.
        parents: per input, the Node that produced it, the leaf Tensor itself, or None when no
            gradient flows to it.
        saved: what the backward pass needs, as one tuple ``(inputs, counters, versions, ans,
            ans_counter)`` (None once released):

            * ``inputs``: per input, the array when the primitive's rules read input values
              (``prim.saves_inputs``); otherwise None where the parent stands in for the input
              (rules read only its ``shape``, ``ndim`` and ``dtype``), and constants as they are;
            * ``counters``, ``versions``: the saved inputs' version counters and their values then;
            * ``ans``, ``ans_counter``: the output array and its counter, when the rules read it.

            One tuple of arrays and numbers, because the garbage collector stops tracking it and
            a full collection then touches one object per node instead of five.
        params: the primitive's keyword parameters (axis, shape, index, ...).
        shape, dtype: the output's shape and dtype.
        retained: a weak reference to the output Tensor that called ``retain_grad()``, else None.
    """

    __slots__ = ("prim", "parents", "saved", "params", "shape", "dtype", "retained", "__weakref__")

    def __init__(self, prim: Primitive, parents: tuple, saved: tuple, params: dict, shape: tuple,
                 dtype: np.dtype) -> None:
        self.prim = prim
        self.parents = parents
        self.saved = saved
        self.params = params
        self.shape = shape
        self.dtype = dtype
        self.retained = None

    @property
    def name(self) -> str:
        return self.prim.name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def released(self) -> bool:
        """Whether a backward pass already freed the values this node saved."""
        return self.saved is None

    def release(self) -> None:
        """Drop every saved value; a later backward through this node raises GraphReleasedError."""
        self.saved = None

    def __repr__(self) -> str:
        return f"<{self.prim.name} node, output shape {self.shape}>"

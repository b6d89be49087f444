"""The recorded graph: one :class:`Node` per operation that needs a gradient.

A Tensor produced by a recorded operation points to its Node (``tensor.grad_fn``); the Node points
to its inputs' Nodes (or, for leaves, to the leaf Tensors) and to the values its rules need. Nothing
points back from a Node to the Tensor it produced, so the graph has no reference cycles: it is freed
by reference counting as soon as the last Tensor using it goes away, never by the cyclic collector.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .ops.registry import Primitive

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class VersionCounter:
    """Counts in-place changes to a Tensor's data (shared by Tensors that view the same memory)."""

    __slots__ = ("value", "changed_by")

    def __init__(self) -> None:
        self.value = 0
        self.changed_by = ""

    def bump(self, operation: str) -> None:
        """Record an in-place change made by ``operation`` at the caller's line of user code."""
        self.value += 1
        self.changed_by = f"{operation} at {user_code_location()}"


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
        arrays: per input, what the fast-path rules receive: the array (when the rules read
            values), an ``ArrayMeta`` with shape and dtype (when they do not), or the constant.
        tensors: the input Tensors themselves when the rules read values (used to check versions
            and, with ``create_graph=True``, to differentiate the backward pass); else None.
        versions: the inputs' version counts when they were saved.
        ans: the output array, when the rules read it.
        ans_counter: the output's version counter, to detect in-place changes to ``ans``.
        params: the primitive's keyword parameters (axis, shape, index, ...).
        retained: a weak reference to the output Tensor that called ``retain_grad()``, else None.
    """

    __slots__ = ("prim", "parents", "arrays", "tensors", "versions", "ans", "ans_counter", "params",
                 "retained", "__weakref__")

    def __init__(self, prim: Primitive, parents: tuple, arrays: tuple, tensors: tuple | None,
                 versions: tuple | None, ans: Any, ans_counter: VersionCounter | None,
                 params: dict) -> None:
        self.prim = prim
        self.parents = parents
        self.arrays = arrays
        self.tensors = tensors
        self.versions = versions
        self.ans = ans
        self.ans_counter = ans_counter
        self.params = params
        self.retained = None

    @property
    def name(self) -> str:
        return self.prim.name

    @property
    def released(self) -> bool:
        """Whether a backward pass already freed the values this node saved."""
        return self.arrays is None

    def release(self) -> None:
        """Drop every saved value; a later backward through this node raises GraphReleasedError."""
        self.arrays = self.tensors = self.versions = self.ans = self.ans_counter = None

    def __repr__(self) -> str:
        return f"<{self.prim.name} node>"

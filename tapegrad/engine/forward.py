"""Forward mode's state: the ``jvp`` levels active in each thread, and the tangent a value carries.

The Tensor's operations (:func:`tapegrad.tensor.apply`) add each new result's tangent from its inputs'
tangents with the primitive's JVP rules while a level is active; ``tg.jvp`` opens and closes the levels.
"""

from __future__ import annotations

import threading

import numpy as np


class _ForwardLevels(threading.local):
    """The forward-mode (``jvp``) levels active in this thread, innermost last.

    A level maps ``id(array)`` to ``(array, tangent)`` for the data of every Tensor computed while it
    is active; :func:`tapegrad.tensor.apply` adds the tangent of each new result from its inputs'
    tangents with the primitive's JVP rules. Keying by the data array (which the entry keeps alive)
    lets a Tensor rebuilt around a saved array, as a recorded backward pass does, find its tangent.
    """

    def __init__(self) -> None:
        self.levels: list[dict[int, tuple]] = []


FORWARD = _ForwardLevels()


def tangent_in(level: dict, data: np.ndarray) -> object:
    """The tangent that the value whose array is ``data`` carries at ``level``, else None."""
    entry = level.get(id(data))
    return entry[1] if entry is not None and entry[0] is data else None


def give_tangent(level: dict, data: np.ndarray, tangent: object) -> None:
    """Let the value whose array is ``data`` carry ``tangent`` at ``level`` (the level keeps ``data`` alive)."""
    level[id(data)] = (data, tangent)


def tangent_of(data: np.ndarray) -> object:
    """The tangent the value whose array is ``data`` carries at the innermost active forward level
    that knows it, else None."""
    for level in reversed(FORWARD.levels):
        tangent = tangent_in(level, data)
        if tangent is not None:
            return tangent
    return None

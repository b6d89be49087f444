"""vmap's state: the batching levels active in each thread.

``tg.vmap`` opens a level for the duration of a call: the number of examples it maps over and what a
random draw does inside it. A value batched at a level holds every example's value in one physical
tensor, the examples along its first axis; nested vmaps open nested levels, and a value batched at an
inner level is a tensor whose physical value may itself be batched at an outer one. While a level's
batching rule runs (:func:`below`), the levels from it inward are set aside, so that the operations the
rule runs on the physical values dispatch to the outer levels only.

Like forward mode's levels, the levels are per thread and count as a special mode
(:data:`~tapegrad.engine.modes.SPECIAL_MODES`): operations look for them only while some special mode is on.
:func:`tapegrad.engine.modes.batch_level` opens and closes them.
"""

from __future__ import annotations

import threading

RANDOMNESS = ("error", "different", "same")


class BatchLevel:
    """One active vmap: ``size`` examples, the ``randomness`` of draws inside it ("error", "different" or
    "same"), its ``depth`` (0 for the outermost vmap of the thread), and ``forward_depth``, how many
    forward-mode (``jvp``) levels were open when it began: those outside it, whose tangents the physical
    values carry (the levels opened inside it give tangents to its batched values instead)."""

    __slots__ = ("size", "randomness", "depth", "forward_depth")

    def __init__(self, size: int, randomness: str, depth: int, forward_depth: int = 0) -> None:
        self.size = size
        self.randomness = randomness
        self.depth = depth
        self.forward_depth = forward_depth

    def __repr__(self) -> str:
        return f"<vmap level {self.depth}: {self.size} examples, randomness={self.randomness!r}>"


class _BatchLevels(threading.local):
    """The vmap levels active in this thread, outermost first."""

    def __init__(self) -> None:
        self.levels: list[BatchLevel] = []


BATCHING = _BatchLevels()


def is_active(level: BatchLevel) -> bool:
    """Whether ``level`` is one of this thread's active levels (not one that has ended, or one set aside)."""
    levels = BATCHING.levels
    return level.depth < len(levels) and levels[level.depth] is level

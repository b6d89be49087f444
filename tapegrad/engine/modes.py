"""The modes operations run in: whether they are recorded for backward (``no_grad``, ``enable_grad``,
``set_grad_enabled``), ``detect_anomaly``, and an observer that watches them (:func:`observing`).

The modes are per thread: turning recording off in one thread never affects another. The grad
modes work as context managers and as decorators.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .batching import BATCHING, BatchLevel
from .forward import FORWARD


class _State(threading.local):
    enabled = True  # each new thread starts with recording on
    anomaly = False  # detect_anomaly: check every result and gradient for NaN and inf
    observer: Observer | None = None  # told of every operation run in this thread (see observing)


state = _State()


class _SpecialModes:
    """How many ``jvp`` levels, ``detect_anomaly`` blocks, observers and threads with recording
    turned off exist, in all threads together.

    While it is 0 (as during a training step's forward pass), operations skip the thread-local
    checks for those modes: reading a thread-local costs as much as recording a small operation.
    The count changes only under a lock, when a mode is entered or left. (A thread that ends with
    recording turned off leaves the count raised: operations then read their thread's mode, which
    costs time but never changes a result.)
    """

    __slots__ = ("count", "_lock")

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.count += 1

    def leave(self) -> None:
        with self._lock:
            self.count -= 1


SPECIAL_MODES = _SpecialModes()


class Observer:
    """Watches the operations one thread runs, while :func:`observing` it (``tg.compile`` traces a
    function with one). Each method is called at the moment it names; the base class ignores all.
    """

    def operation(self, prim: Any, args: tuple, params: dict, result: Any) -> None:
        """``result`` (a Tensor) was computed as ``prim(*args, **params)``, recorded or not."""

    def constant(self, tensor: Any) -> None:
        """``tensor`` was made from data (``Tensor(...)``, ``tg.tensor``, the factories)."""

    def unrecorded(self, what: str) -> None:
        """Something no operation records is about to happen to a tensor: its values are read into
        Python (``item()``, ``bool()``, ``numpy()``), or changed in place. Raise to refuse it."""

    def guard(self, key: Any, read: Callable[[], Any], value: Any) -> None:
        """The code's control flow depended on ``read()`` being ``value``, a Python value such as a
        module's ``training`` flag; ``key`` names it (it may be noted many times)."""


@contextlib.contextmanager
def observing(observer: Observer) -> Iterator[Observer]:
    """Tell ``observer`` of every operation this thread runs inside the ``with`` block (an observer
    already watching is set aside until the block ends). Yields the observer."""
    previous = state.observer
    state.observer = observer
    SPECIAL_MODES.enter()
    try:
        yield observer
    finally:
        SPECIAL_MODES.leave()
        state.observer = previous


def note_guard(key: Any, read: Callable[[], Any], value: Any) -> None:
    """Tell this thread's observer, if one watches, that the running code's control flow depends on
    ``read()`` being ``value`` (see :meth:`Observer.guard`): ``tg.compile`` then checks the value at
    every call and traces again when it changed."""
    if SPECIAL_MODES.count and state.observer is not None:
        state.observer.guard(key, read, value)


def note_unrecorded(what: str) -> None:
    """Tell this thread's observer, if one watches, of ``what`` (see :meth:`Observer.unrecorded`)."""
    if SPECIAL_MODES.count and state.observer is not None:
        state.observer.unrecorded(what)


def operations_watched() -> bool:
    """Whether the operations this thread runs now are watched one by one: by an observer, by
    ``detect_anomaly``, by forward mode (a ``jvp`` level is open) or by ``vmap`` (a batching level is open)."""
    return bool(SPECIAL_MODES.count) and (state.observer is not None or state.anomaly or bool(FORWARD.levels)
                                          or bool(BATCHING.levels))


@contextlib.contextmanager
def forward_level() -> Iterator[dict]:
    """Open a forward-mode (``jvp``) level in this thread for the ``with`` block, innermost: yields the
    level, to which :func:`~tapegrad.engine.forward.give_tangent` gives the inputs' tangents; every
    operation run inside gives its result the tangent its JVP rules compute."""
    level: dict = {}
    FORWARD.levels.append(level)
    SPECIAL_MODES.enter()
    try:
        yield level
    finally:
        SPECIAL_MODES.leave()
        FORWARD.levels.pop()


@contextlib.contextmanager
def batch_level(size: int, randomness: str = "error") -> Iterator[BatchLevel]:
    """Open a vmap level of ``size`` examples in this thread for the ``with`` block, innermost (random draws
    inside it do as ``randomness`` says: "error", "different" or "same"); yields the level."""
    levels = BATCHING.levels
    level = BatchLevel(size, randomness, len(levels), len(FORWARD.levels))
    levels.append(level)
    SPECIAL_MODES.enter()
    try:
        yield level
    finally:
        SPECIAL_MODES.leave()
        del levels[level.depth:]


def is_grad_enabled() -> bool:
    """Whether operations run now are recorded on the graph (True unless inside ``no_grad``)."""
    return state.enabled


def switch_grad_mode(enabled: bool) -> None:
    """Turn recording on or off in this thread, without a context object (for the engine's hot path)."""
    if enabled != state.enabled:
        # A thread with recording off counts as a special mode, so that operations look it up.
        if enabled:
            SPECIAL_MODES.leave()
        else:
            SPECIAL_MODES.enter()
        state.enabled = enabled


class _GradMode(contextlib.ContextDecorator):
    enabled: bool = True

    def __enter__(self) -> None:
        self._previous = is_grad_enabled()
        switch_grad_mode(self.enabled)

    def __exit__(self, *exc: Any) -> None:
        switch_grad_mode(self._previous)

    def _recreate_cm(self) -> _GradMode:
        # A fresh object per decorated call, so that nested and concurrent calls keep their own state.
        fresh = object.__new__(type(self))
        fresh.enabled = self.enabled
        return fresh


class no_grad(_GradMode):
    """Do not record operations: results do not require grad. Use for evaluation and weight updates."""

    enabled = False


class enable_grad(_GradMode):
    """Record operations again, e.g. inside a ``no_grad`` block."""

    enabled = True


class set_grad_enabled(_GradMode):
    """Turn recording on or off: at once when called, or for a ``with`` block or a decorated function."""

    def __init__(self, mode: bool) -> None:
        self.enabled = bool(mode)
        self._previous = is_grad_enabled()
        switch_grad_mode(self.enabled)

    def __enter__(self) -> None:
        switch_grad_mode(self.enabled)

    def __call__(self, func: Callable) -> Callable:
        # Used as a decorator: undo the switch __init__ made, and switch per call instead.
        switch_grad_mode(self._previous)
        mode = self.enabled

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            previous = is_grad_enabled()
            switch_grad_mode(mode)
            try:
                return func(*args, **kwargs)
            finally:
                switch_grad_mode(previous)

        return wrapper


class detect_anomaly(_GradMode):
    """Check every operation's result, and every gradient backward computes, for NaN and inf; raise
    AnomalyError naming the operation and the line of user code that created it. Slow: for debugging.

    A NaN gradient coming from a zero incoming gradient is recognised as the ``where``/mask trap (a
    discarded branch computed NaN or inf, and 0 * NaN = NaN), and the message says how to fix it.
    """

    def __enter__(self) -> None:
        self._previous = state.anomaly
        state.anomaly = True
        SPECIAL_MODES.enter()

    def __exit__(self, *exc: Any) -> None:
        SPECIAL_MODES.leave()
        state.anomaly = self._previous

    def _recreate_cm(self) -> detect_anomaly:
        return detect_anomaly()

"""Whether operations are recorded for backward: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

The mode is per thread: turning recording off in one thread never affects another. Each of the
three works as a context manager and as a decorator.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any


class _State(threading.local):
    enabled = True  # each new thread starts with recording on
    anomaly = False  # detect_anomaly: check every result and gradient for NaN and inf
    trace: list | None = None  # tg.compile while tracing: every operation run is appended here


state = _State()


class _SpecialModes:
    """How many ``jvp`` levels, ``detect_anomaly`` blocks, ``tg.compile`` traces and threads with
    recording turned off exist, in all threads together.

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


#: The first item of a guard's entry in a ``tg.compile`` trace (the other entries are operations).
GUARD = object()


def note_guard(key: Any, read: Callable[[], Any], value: Any) -> None:
    """While ``tg.compile`` traces in this thread, note that the traced function's control flow
    depended on ``read()`` being ``value`` (a Python value such as a module's training flag): a
    later call that finds it changed traces again instead of running a stale schedule. ``key``
    names the value, so that reading it many times notes it once."""
    if state.trace is not None:
        state.trace.append((GUARD, key, read, value))


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

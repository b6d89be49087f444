"""``tg.compile``: trace a function once into a fixed schedule of primitives, then run the schedule.

- :mod:`tapegrad.compile.compiled`: :func:`compile` and :class:`Compiled` (tracing, the cache of plans per
  signature, the call recorded as one graph node);
- :mod:`tapegrad.compile.schedule`: the traced schedule as straight-line forward and backward code
  (dead code, constants, rules checked once, values kept, buffers reused).
"""

from __future__ import annotations

from .compiled import Compiled, compile  # noqa: A004 (tg.compile, as torch.compile)
from .schedule import Plan, Read, Slot, slots_read

# Plan, Slot, Read and slots_read are how a compiled function's schedule reads (tg.viz.draw draws it).
__all__ = ["Compiled", "compile", "Plan", "Slot", "Read", "slots_read"]

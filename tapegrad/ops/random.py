"""Random draws as primitives, from tapegrad's one seeded generator.

A draw is an operation like any other, so ``tg.compile`` writes it into its schedule and draws
afresh at every call (a dropout mask made while tracing must not become a constant). Draws take no
inputs and have no gradient; they are the only primitives whose result is not fixed by their
inputs and parameters (``deterministic=False``), which ``tg.compile`` neither folds nor drops.
"""

from __future__ import annotations

import numpy as np

from . import batching as B
from .registry import Primitive
from .shape import count_arg

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the generator behind ``rand``, ``randn``, dropout and layer initialisation; returns it.

    Raises:
        ArgumentError: if ``seed`` is not a non-negative integer.
    """
    global _generator
    _generator = np.random.default_rng(count_arg(seed, "manual_seed", "seed"))
    return _generator


def generator() -> np.random.Generator:
    """The random generator tapegrad draws from (seeded by :func:`manual_seed`)."""
    return _generator


def _uniform(shape, dtype):
    return _generator.random(shape).astype(dtype, copy=False)


def _normal(shape, dtype):
    return _generator.standard_normal(shape).astype(dtype, copy=False)


SHAPE = "a shape (a tuple of non-negative ints) and a floating dtype"
uniform = Primitive("uniform", _uniform, batch=B.random_draw, saves_inputs=False, deterministic=False, expects=SHAPE,
                    doc="Uniform values in [0, 1), drawn in float64 and cast to ``dtype``.")
normal = Primitive("normal", _normal, batch=B.random_draw, saves_inputs=False, deterministic=False, expects=SHAPE,
                   doc="Standard normal values, drawn in float64 and cast to ``dtype``.")

PRIMITIVES = (uniform, normal)

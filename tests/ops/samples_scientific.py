"""Samplers for NumPy's other ufuncs (tapegrad/ops/elementwise2.py) and the scans and sorting
(tapegrad/ops/scans.py), merged into samples.SAMPLERS (issue 15). Each stays inside its function's domain
and away from its kinks and jumps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from .samples import Case, away_from_zero, binary, positive, rng, shapes, unary, values


def _within(low, high):
    return lambda r, shape: r.uniform(low, high, size=shape)


def _divisions(draw) -> Case:
    """``remainder``/``fmod`` operands of one shape whose quotient stays 0.2 away from every integer
    (where both jump)."""
    shape = draw(shapes())
    r = rng(draw)
    y = away_from_zero(r, shape, 0.5, 2.0)
    quotient = r.integers(-3, 3, size=shape) + r.uniform(0.2, 0.8, size=shape)
    return Case([quotient * y, y])


def _one_axis(draw, min_dims=1):
    shape = draw(shapes(min_dims=min_dims))
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


def _cumsum(draw) -> Case:
    shape, axis = _one_axis(draw)
    return Case([values(rng(draw), shape)], {"axis": axis})


def _cumprod(draw) -> Case:
    """Entries sometimes exactly 0 (at most one along the axis): the gradient must be exact there."""
    shape, axis = _one_axis(draw)
    r = rng(draw)
    x = values(r, shape)
    zero = r.uniform(size=shape) < 0.25
    x[zero & (np.cumsum(zero, axis=axis) <= 1)] = 0.0  # second derivatives are exact up to one zero an axis
    return Case([x], {"axis": axis})


def _diff(draw) -> Case:
    shape, axis = _one_axis(draw)
    n = draw(st.integers(0, max(shape[axis] - 1, 0)))  # n >= the length gives an empty result: tested apart
    return Case([values(rng(draw), shape)], {"n": n, "axis": axis % len(shape)})


def _trace(draw) -> Case:
    shape = draw(shapes(min_dims=2))
    axis1, axis2 = draw(st.permutations(range(len(shape))))[:2]
    return Case([values(rng(draw), shape)], {"offset": draw(st.integers(-2, 2)), "axis1": axis1, "axis2": axis2})


def _distinct(r, shape):
    """Entries at least 0.05 apart: sort's gradient jumps where two tie."""
    return r.permutation(int(np.prod(shape))).reshape(shape) * 0.05 - 1.0


def _sort(draw) -> Case:
    shape, axis = _one_axis(draw)
    return Case([_distinct(rng(draw), shape)], {"axis": axis % len(shape)})


def _permuted(draw) -> Case:
    shape, axis = _one_axis(draw)
    r = rng(draw)
    axis %= len(shape)
    return Case([values(r, shape), np.argsort(r.uniform(size=shape), axis=axis)], {"axis": axis})


SAMPLERS: dict[str, Callable[[Any], Case]] = {
    "arcsin": unary(_within(-0.9, 0.9)), "arccos": unary(_within(-0.9, 0.9)), "arctan": unary(),
    "sinh": unary(), "cosh": unary(), "arcsinh": unary(_within(-4, 4)), "arccosh": unary(_within(1.2, 4)),
    "arctanh": unary(_within(-0.9, 0.9)), "log2": unary(positive), "log10": unary(positive), "exp2": unary(),
    "square": unary(), "cbrt": unary(away_from_zero), "fabs": unary(away_from_zero),
    "sinc": unary(_within(-2.5, 2.5)), "deg2rad": unary(_within(-200, 200)), "rad2deg": unary(),
    "arctan2": binary(away_from_zero, away_from_zero), "hypot": binary(away_from_zero, values),
    "logaddexp": binary(_within(-5, 5), _within(-5, 5)), "logaddexp2": binary(_within(-5, 5), _within(-5, 5)),
    "remainder": _divisions, "fmod": _divisions, "fmax": binary(), "fmin": binary(),
    "copysign": binary(away_from_zero, away_from_zero),
    "nan_to_num": lambda draw: Case([values(rng(draw), draw(shapes()))], {"nan": 0.0, "posinf": None, "neginf": None}),
    "cumsum": _cumsum, "cumprod": _cumprod, "diff": _diff, "trace": _trace, "sort": _sort,
    "take_sorted": _permuted, "put_sorted": _permuted,
}

"""Samplers for the primitives without gradient (comparisons, rounding, positions, signs), which the
differentiation sweeps skip but the batching sweep (tests/ops/test_batching.py) covers like every other
primitive (issue 17). Random draws (uniform, normal) have tests of their own there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from .samples import Case, binary, rng, separated_reduction, shapes, two_broadcastable, unary, values


def _booleans(draw) -> Case:
    a, b = two_broadcastable(draw)
    r = rng(draw)
    return Case([r.random(a) > 0.5, r.random(b) > 0.5])


def _not(draw) -> Case:
    return Case([rng(draw).random(draw(shapes())) > 0.5])


def _position_of_extremum(draw) -> Case:
    case = separated_reduction(draw)
    axis = case.params["axis"]
    if isinstance(axis, tuple):  # argmax takes one axis or None
        axis = axis[0] if axis else None
    return Case(case.args, {"axis": axis, "keepdims": case.params["keepdims"]})


def _argsort(draw) -> Case:
    shape = draw(shapes(min_dims=1, nonempty=True))
    return Case([values(rng(draw), shape)], {"axis": draw(st.integers(-len(shape), len(shape) - 1))})


def _argpartition(draw) -> Case:
    case = _argsort(draw)
    length = case.args[0].shape[case.params["axis"]]
    return Case(case.args, {**case.params, "kth": draw(st.integers(0, length - 1))})


def _searchsorted(draw) -> Case:
    r = rng(draw)
    a = np.sort(values(r, (draw(st.integers(1, 5)),)))
    return Case([a, values(r, draw(shapes()))], {"side": draw(st.sampled_from(["left", "right"]))})


def _slogdet_sign(draw) -> Case:
    r = rng(draw)
    n = draw(st.integers(1, 3))
    return Case([r.standard_normal(draw(st.sampled_from([(), (2,)])) + (n, n))])


def _round(draw) -> Case:
    return Case([values(rng(draw), draw(shapes())) * 10], {"decimals": draw(st.integers(0, 2))})


UNDIFFERENTIATED: dict[str, Callable[[Any], Case]] = {
    "sign": unary(), "floor": unary(), "ceil": unary(), "trunc": unary(), "rint": unary(), "round": _round,
    "isfinite": unary(), "gammasgn": unary(), "zeros_like": unary(), "logical_not": _not,
    "less": binary(), "less_equal": binary(), "greater": binary(), "greater_equal": binary(), "equal": binary(),
    "not_equal": binary(), "heaviside": binary(), "logical_and": _booleans, "logical_or": _booleans,
    "argmax": _position_of_extremum, "argmin": _position_of_extremum, "argsort": _argsort,
    "argpartition": _argpartition, "searchsorted": _searchsorted, "slogdet_sign": _slogdet_sign,
}

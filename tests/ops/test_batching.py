"""The batching sweep: every primitive under ``tg.vmap`` gives what stacking it over the examples gives
(issue 17), for mapped axes anywhere in the inputs and in the output, some inputs shared by every
example, one level of vmap and two nested; and its VJP and JVP rules, batched, give every example's.

A primitive without a batching rule, or without a sampler, fails the sweep.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad.errors import TapegradError
from tapegrad.ops import REGISTRY
from tapegrad.tensor import apply

from .samples import SAMPLERS, Case
from .samples_vmap import UNDIFFERENTIATED

RANDOM = {"uniform", "normal"}
SWEPT = sorted(set(REGISTRY) - RANDOM)
ALL_SAMPLERS = {**SAMPLERS, **UNDIFFERENTIATED}
EXAMPLES = int(os.environ.get("TAPEGRAD_BATCHING_EXAMPLES", "8"))
SWEEP = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def test_every_primitive_has_a_batching_rule():
    assert [name for name, prim in REGISTRY.items() if prim.batch is None] == []


def test_every_primitive_has_a_sampler_for_the_batching_sweep():
    assert sorted(ALL_SAMPLERS) == SWEPT


def _example(value, k):
    """Example ``k``'s value of an input: floats scaled a little (each example different, in the same
    domain), booleans rolled, integers (indices, permutations, orders) and integer-valued floats as they are."""
    if not isinstance(value, np.ndarray) or k == 0:
        return value
    if value.dtype == bool:
        return np.roll(value.reshape(-1), k).reshape(value.shape)
    if value.dtype.kind == "f" and not np.all(value == np.round(value)):
        return value * (1 + 0.013 * k)
    return value


def _forward(prim, args, params):
    with np.errstate(all="ignore"):
        return np.asarray(prim.forward(*args, **params))


def _compare(got, expected):
    got = np.asarray(got)
    assert got.shape == expected.shape and got.dtype == expected.dtype, (got.shape, got.dtype, expected.shape,
                                                                          expected.dtype)
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, expected)


def _run(prim, params):
    def call(*args):
        return apply(prim, *args, **params)
    return call


def _draw_mapped(draw, case: Case) -> list[int]:
    arrays = [i for i, a in enumerate(case.args) if isinstance(a, np.ndarray)]
    assume(arrays)
    chosen = draw(st.lists(st.sampled_from(arrays), min_size=1, unique=True))
    return sorted(chosen)


@pytest.mark.parametrize("name", SWEPT)
@SWEEP
@given(data=st.data())
def test_vmap_gives_the_examples_stacked(name, data):
    prim, draw = REGISTRY[name], data.draw
    case = ALL_SAMPLERS[name](draw)
    mapped = _draw_mapped(draw, case)
    size = draw(st.integers(1, 3))
    examples = [[_example(a, k) if i in mapped else a for i, a in enumerate(case.args)] for k in range(size)]
    try:
        outs = [_forward(prim, ex, case.params) for ex in examples]
    except (TapegradError, ValueError, np.linalg.LinAlgError):
        assume(False)
    inputs, in_axes = [], []
    for i, a in enumerate(case.args):
        if i in mapped:
            axis = draw(st.integers(-a.ndim - 1, a.ndim))
            inputs.append(np.moveaxis(np.stack([ex[i] for ex in examples]), 0, axis))
            in_axes.append(axis)
        else:
            inputs.append(a)
            in_axes.append(None)
    out_axis = draw(st.integers(-outs[0].ndim - 1, outs[0].ndim))
    expected = np.moveaxis(np.stack(outs), 0, out_axis)
    with np.errstate(all="ignore"):
        got = tg.vmap(_run(prim, case.params), in_axes=tuple(in_axes), out_axes=out_axis)(*inputs)
    _compare(got, expected)


@pytest.mark.parametrize("name", SWEPT)
@SWEEP
@given(data=st.data())
def test_nested_vmap_gives_the_examples_stacked_twice(name, data):
    prim, draw = REGISTRY[name], data.draw
    case = ALL_SAMPLERS[name](draw)
    outer, inner = _draw_mapped(draw, case), _draw_mapped(draw, case)
    n1, n2 = draw(st.integers(1, 3)), draw(st.integers(1, 3))

    def value(i, k1, k2):
        return _example(_example(case.args[i], k1 if i in outer else 0), 3 * k2 if i in inner else 0)

    try:
        outs = [[_forward(prim, [value(i, k1, k2) for i in range(len(case.args))], case.params) for k2 in range(n2)]
                for k1 in range(n1)]
    except (TapegradError, ValueError, np.linalg.LinAlgError):
        assume(False)
    inputs, outer_axes, inner_axes = [], [], []
    for i, a in enumerate(case.args):
        if i not in outer and i not in inner:
            inputs.append(a)
            outer_axes.append(None)
            inner_axes.append(None)
            continue
        ndim = a.ndim
        inner_axis = draw(st.integers(-ndim - 1, ndim)) if i in inner else None
        per_outer = [np.moveaxis(np.stack([value(i, k1, k2) for k2 in range(n2)]), 0, inner_axis)
                     if i in inner else value(i, k1, 0) for k1 in range(n1)]
        if i in outer:
            full = per_outer[0].ndim
            outer_axis = draw(st.integers(-full - 1, full))
            inputs.append(np.moveaxis(np.stack(per_outer), 0, outer_axis))
        else:
            outer_axis = None
            inputs.append(per_outer[0])
        outer_axes.append(outer_axis)
        inner_axes.append(inner_axis)
    expected = np.stack([np.stack(row) for row in outs])
    with np.errstate(all="ignore"):
        got = tg.vmap(tg.vmap(_run(prim, case.params), in_axes=tuple(inner_axes)), in_axes=tuple(outer_axes))(*inputs)
    _compare(got, expected)


DIFFERENTIABLE = sorted(name for name in SWEPT if REGISTRY[name].differentiable)
DERIVATIVES = settings(max_examples=max(1, EXAMPLES // 2), deadline=None, suppress_health_check=list(HealthCheck))


def _differentiated(case: Case) -> list[int]:
    return [i for i, a in enumerate(case.args) if isinstance(a, np.ndarray) and a.dtype in (np.float64, np.complex128)]


def _random_like(r, shape, dtype):
    """A random float64 or complex128 array of ``shape`` (a cotangent or tangent)."""
    values = r.standard_normal(shape)
    return values + 1j * r.standard_normal(shape) if np.dtype(dtype).kind == "c" else values


def _with(args, positions, values):
    full = list(args)
    for i, v in zip(positions, values):
        full[i] = v
    return full


def _derivative_case(draw, name):
    """A case, its mapped inputs (floats to differentiate, and maybe others), a number of examples, the
    examples' inputs and one random vector per example shaped like the output (cotangent) and per
    differentiated input (tangents)."""
    prim = REGISTRY[name]
    case = SAMPLERS[name](draw)
    floats = _differentiated(case)
    assume(floats)
    mapped = sorted(set(_draw_mapped(draw, case)) | set(draw(st.lists(st.sampled_from(floats), min_size=1))))
    size = draw(st.integers(1, 3))
    examples = [[_example(a, k) if i in mapped else a for i, a in enumerate(case.args)] for k in range(size)]
    try:
        outs = [_forward(prim, ex, case.params) for ex in examples]
    except (TapegradError, ValueError, np.linalg.LinAlgError):
        assume(False)
    assume(outs[0].dtype.kind in "fc")
    r = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cotangents = np.stack([_random_like(r, outs[0].shape, outs[0].dtype) for _ in range(size)])
    tangents = [np.stack([_random_like(r, case.args[i].shape, case.args[i].dtype) for _ in range(size)])
                for i in floats]
    return prim, case, floats, mapped, size, examples, cotangents, tangents


def _mapped_inputs(case, mapped, size, examples):
    inputs = [np.stack([ex[i] for ex in examples]) if i in mapped else a for i, a in enumerate(case.args)]
    return inputs, tuple(0 if i in mapped else None for i in range(len(case.args)))


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@DERIVATIVES
@given(data=st.data())
def test_vjp_rules_under_vmap_give_every_examples_gradients(name, data):
    prim, case, floats, mapped, size, examples, cotangents, _ = _derivative_case(data.draw, name)

    def pullback(args, cotangent):
        function = lambda *values: apply(prim, *_with(args, floats, values), **case.params)  # noqa: E731
        return tg.vjp(function, *[args[i] for i in floats])[1](cotangent)

    with np.errstate(all="ignore"):
        expected = [np.stack([np.asarray(pullback(ex, cotangents[k])[j]) for k, ex in enumerate(examples)])
                    for j in range(len(floats))]
        inputs, in_axes = _mapped_inputs(case, mapped, size, examples)
        got = tg.vmap(lambda c, *a: pullback(a, c), in_axes=(0,) + in_axes)(cotangents, *inputs)
    for g, e in zip(got, expected):
        _compare(g, e)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@DERIVATIVES
@given(data=st.data())
def test_jvp_rules_under_vmap_give_every_examples_tangents(name, data):
    prim, case, floats, mapped, size, examples, _, tangents = _derivative_case(data.draw, name)

    def pushforward(args, ts):
        function = lambda *values: apply(prim, *_with(args, floats, values), **case.params)  # noqa: E731
        return tg.jvp(function, [args[i] for i in floats], list(ts))[1]

    with np.errstate(all="ignore"):
        expected = np.stack([np.asarray(pushforward(ex, [t[k] for t in tangents])) for k, ex in enumerate(examples)])
        inputs, in_axes = _mapped_inputs(case, mapped, size, examples)
        got = tg.vmap(lambda ts, *a: pushforward(a, ts), in_axes=(0,) + in_axes)(tangents, *inputs)
    _compare(got, expected)

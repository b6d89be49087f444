"""The float32 road of the exact gelu, its derivative and erfc (tapegrad/ops/activation.py): a table of
log Phi with one cubic per step, evaluated in chunks. Checked against mpmath at 30 digits on a dense grid
of float32 values (every result within about half a float32 ulp), at the chunks' seams, at the limits,
and against the double-precision road."""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest

import tapegrad as tg
from tapegrad.nn import functional as F
from tapegrad.ops.activation import _TABLE_CHUNK, _float32_normal, _gelu_exact, erfc_array

ROOT = -0.7517915241  # where the derivative Phi(x) + x phi(x) crosses 0
TINY = float(np.finfo(np.float32).tiny)
SMALLEST = float(np.finfo(np.float32).smallest_subnormal)


def _grid() -> np.ndarray:
    parts = [np.linspace(-16, 16, 6001), np.geomspace(1e-30, 16, 1500), -np.geomspace(1e-30, 16, 1500),
             np.linspace(ROOT - 0.01, ROOT + 0.01, 201)]
    return np.unique(np.concatenate(parts).astype(np.float32))


def _exact(what: str, x: np.ndarray) -> np.ndarray:
    with mpmath.workdps(30):
        def one(v: float) -> float:
            m = mpmath.mpf(v)
            if what == "erfc":
                return float(mpmath.erfc(m))
            if what == "gelu":
                return float(m * mpmath.ncdf(m))
            return float(mpmath.ncdf(m) + m * mpmath.npdf(m))
        return np.array([one(float(v)) for v in x])


@pytest.mark.parametrize("what", ["erfc", "gelu", "gelu_derivative"])
def test_float32_results_are_within_half_an_ulp_of_mpmath(what):
    x = _grid()
    got = _float32_normal(x, what)
    assert got.dtype == np.float32
    exact = _exact(what, x)
    normal = np.abs(exact) >= TINY
    ulps = np.abs(got[normal] - exact[normal]) / np.spacing(np.abs(exact[normal]).astype(np.float32))
    if what == "gelu_derivative":  # near its root the two terms cancel: there a fraction of their ulp
        near_root = np.abs(x[normal] - ROOT) < 1e-2
        error = np.abs(got[normal] - exact[normal])[near_root]
        assert error.max() <= 0.1 * np.spacing(np.float32(0.2)), error.max()
        ulps = ulps[~near_root]
    assert ulps.max() <= 0.501, (what, x[normal][np.argmax(ulps)])
    # subnormal results: within one step of the subnormals
    assert np.all(np.abs(got[~normal] - exact[~normal]) <= SMALLEST)


def test_chunks_and_layouts_give_the_same_values_as_one_element_at_a_time():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(2 * _TABLE_CHUNK + 123) * 5).astype(np.float32)
    for what in ("erfc", "gelu", "gelu_derivative"):
        whole = _float32_normal(x, what)
        one_by_one = np.array([_float32_normal(x[i:i + 1], what)[0] for i in range(0, x.size, 997)])
        np.testing.assert_array_equal(whole[::997], one_by_one)
        cube = x[:_TABLE_CHUNK + 7].reshape(-1)[: 3 * 5 * 7].reshape(3, 5, 7)
        np.testing.assert_array_equal(_float32_normal(cube[:, ::2, ::-1], what),
                                      _float32_normal(np.ascontiguousarray(cube[:, ::2, ::-1]), what))
        assert _float32_normal(np.float32(0.5).reshape(()), what).shape == ()
        assert _float32_normal(np.zeros((0, 3), np.float32), what).shape == (0, 3)


def test_limits_and_nan_without_warnings():
    x = np.array([-np.inf, -1e30, -40.0, 40.0, 1e30, np.inf, np.nan], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        erfc, gelu, slope = (_float32_normal(x, what) for what in ("erfc", "gelu", "gelu_derivative"))
        gelu64, slope64 = (_gelu_exact(x.astype(np.float64), what) for what in ("gelu", "gelu_derivative"))
    np.testing.assert_array_equal(erfc[:-1], [2, 2, 2, 0, 0, 0])
    np.testing.assert_array_equal(gelu[:-1], np.float32([0, 0, 0, 40, 1e30, np.inf]))
    np.testing.assert_array_equal(gelu64[:-1], [0, 0, 0, 40, np.float32(1e30), np.inf])
    np.testing.assert_array_equal(slope[:-1], [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(slope64[:-1], [0, 0, 0, 1, 1, 1])
    assert np.isnan(erfc[-1]) and np.isnan(gelu[-1]) and np.isnan(slope[-1])
    assert np.isnan(gelu64[-1]) and np.isnan(slope64[-1])


def test_float32_and_float64_roads_agree_and_erfc_keeps_float32():
    x = np.linspace(-9, 9, 4001)
    for what in ("gelu", "gelu_derivative"):
        np.testing.assert_allclose(_gelu_exact(x.astype(np.float32), what),
                                   _gelu_exact(x.astype(np.float32).astype(np.float64), what).astype(np.float32),
                                   rtol=2e-7, atol=1e-30)
    single = erfc_array(x.astype(np.float32))
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, erfc_array(x.astype(np.float32).astype(np.float64)), rtol=1.2e-7,
                               atol=1e-44)


def test_gelu_derivative_is_the_gradient_of_gelu_to_second_order():
    x = np.array([-3.0, -0.75, 0.0, 0.4, 2.5])
    xt = tg.tensor(x, requires_grad=True)
    (first,) = tg.autograd.grad(F.gelu(xt).sum(), [xt], create_graph=True)
    (second,) = tg.autograd.grad(first.sum(), [xt])
    with mpmath.workdps(30):
        phi = [float(mpmath.npdf(v)) for v in x]
    np.testing.assert_allclose(first.numpy(), _exact("gelu_derivative", x), rtol=1e-13)
    np.testing.assert_allclose(second.numpy(), np.array(phi) * (2 - x * x), rtol=1e-13)
    # float32: the same, to float32's precision
    x32 = tg.tensor(x.astype(np.float32), requires_grad=True)
    (first32,) = tg.autograd.grad(F.gelu(x32).sum(), [x32], create_graph=True)
    (second32,) = tg.autograd.grad(first32.sum(), [x32])
    assert first32.dtype == np.float32 and second32.dtype == np.float32
    np.testing.assert_allclose(first32.numpy(), first.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(second32.numpy(), second.numpy(), rtol=1e-6, atol=1e-7)

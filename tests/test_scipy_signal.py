"""tapegrad.scipy.signal.convolve (issue 15): values against scipy.signal.convolve (every mode and method, 1-d
to 3-d, float64 and float32), first and second derivatives in both arguments against HIPS autograd's
autograd.scipy.signal.convolve, forward mode against its Jacobian, and the errors for bad inputs."""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import scipy.signal
from autograd.scipy.signal import convolve as aconvolve

import tapegrad as tg
from tapegrad.errors import ArgumentError, ShapeError
from tapegrad.scipy.signal import convolve

R = np.random.default_rng(0)
SHAPES = [((7,), (3,)), ((3,), (7,)), ((4,), (4,)), ((5,), (2,)), ((5, 6), (3, 2)), ((2, 3), (4, 5)),
          ((4, 3), (2, 3)), ((3, 4, 5), (2, 3, 2)), ((6, 5), (1, 1))]
MODES = ["full", "valid", "same"]


def _pair(sa, sb, dtype=np.float64):
    return R.normal(size=sa).astype(dtype), R.normal(size=sb).astype(dtype)


@pytest.mark.parametrize("method", ["auto", "direct", "fft"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_values_match_scipy(shapes, mode, method):
    a, b = _pair(*shapes)
    out = convolve(a, b, mode=mode, method=method)
    expected = scipy.signal.convolve(a, b, mode=mode, method=method)
    assert isinstance(out, tg.Tensor) and out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_float32_stays_float32_and_matches_scipy(mode):
    a, b = _pair((6, 5), (3, 4), np.float32)
    x, w = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    out = convolve(x, w, mode=mode)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), scipy.signal.convolve(a, b, mode=mode), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32
    ga, gb = autograd.grad(lambda p, q: anp.sum(aconvolve(p, q, mode=mode)), (0, 1))(
        a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(x.grad.numpy(), ga, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w.grad.numpy(), gb, rtol=1e-5, atol=1e-5)


def test_integer_inputs_give_integers_as_scipy():
    out = convolve(np.arange(4), np.array([1, 2]))
    assert out.dtype.kind == "i" and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), scipy.signal.convolve(np.arange(4), np.array([1, 2])))


def test_zero_dimensional_inputs_multiply():
    a, b = tg.tensor(2.0, requires_grad=True), tg.tensor(3.0, requires_grad=True)
    out = convolve(a, b)
    assert out.shape == () and float(out) == 6.0
    out.backward()
    assert float(a.grad) == 3.0 and float(b.grad) == 2.0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_gradients_in_both_arguments_match_autograd(shapes, mode):
    a, b = _pair(*shapes)
    weights = R.normal(size=scipy.signal.convolve(a, b, mode=mode).shape)

    def loss(p, q, conv, np_):
        return np_.sum(np_.sin(conv(p, q, mode=mode)) * weights)

    ours = tg.grad(lambda p, q: loss(p, q, convolve, np), argnums=(0, 1))(a, b)
    theirs = autograd.grad(lambda p, q: loss(p, q, aconvolve, anp), (0, 1))(a, b)
    for g, h in zip(ours, theirs):
        np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", [((5,), (3,)), ((3,), (5,)), ((4, 3), (2, 2)), ((2, 2), (3, 4))], ids=str)
def test_second_derivatives_match_autograd(shapes, mode):
    a, b = _pair(*shapes)
    size = a.size + b.size

    def loss(flat, conv, np_):
        p, q = flat[:a.size].reshape(a.shape), flat[a.size:].reshape(b.shape)
        return np_.sum(np_.tanh(conv(p, q, mode=mode)) ** 2)

    flat = np.concatenate([a.ravel(), b.ravel()])
    ours = tg.hessian(lambda f: loss(f, convolve, np))(flat)
    theirs = autograd.hessian(lambda f: loss(f, aconvolve, anp))(flat)
    assert ours.shape == (size, size)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("mode", MODES)
def test_forward_mode_matches_autograd_jacobian(mode):
    a, b = _pair((5, 4), (2, 3))
    ta, tb = _pair((5, 4), (2, 3))
    _, tangent = tg.jvp(lambda p, q: convolve(p, q, mode=mode), (a, b), (ta, tb))
    ja = autograd.jacobian(lambda p: aconvolve(p, b, mode=mode))(a)
    jb = autograd.jacobian(lambda q: aconvolve(a, q, mode=mode))(b)
    expected = np.tensordot(ja, ta, axes=2) + np.tensordot(jb, tb, axes=2)
    np.testing.assert_allclose(tangent, expected, rtol=1e-10, atol=1e-12)


def test_gradcheck_in_every_mode_and_method():
    for mode in MODES:
        for method in ("direct", "fft"):
            a, b = _pair((4, 3), (2, 3))
            x, w = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
            assert tg.gradcheck(lambda p, q: convolve(p, q, mode=mode, method=method), (x, w))
            assert tg.gradgradcheck(lambda p, q: convolve(p, q, mode=mode, method=method), (x, w))


@pytest.mark.parametrize(("in1", "in2", "kwargs", "error", "words"), [
    (np.ones((3, 3)), np.ones(3), {}, ShapeError, ["convolve", "(3, 3)", "(3,)", "same number"]),
    (np.ones((3, 5)), np.ones((5, 3)), {"mode": "valid"}, ShapeError, ["convolve", "(3, 5)", "(5, 3)", "valid"]),
    (np.ones((0, 3)), np.ones((2, 2)), {}, ShapeError, ["convolve", "(0, 3)", "non-empty"]),
    (np.ones(3), np.ones(2), {"mode": "circular"}, ArgumentError, ["convolve", "'circular'", "'same'"]),
    (np.ones(3), np.ones(2), {"method": "winograd"}, ArgumentError, ["convolve", "'winograd'", "'fft'"]),
])
def test_bad_inputs_raise_errors_naming_convolve(in1, in2, kwargs, error, words):
    with pytest.raises(error) as info:
        convolve(tg.tensor(in1, requires_grad=True), in2, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_explain_names_the_correlations():
    a = tg.tensor(np.ones(3), requires_grad=True, name="a")
    text = str(tg.explain(convolve(a, np.array([1.0, 2.0])).sum()))
    assert "convolve" in text

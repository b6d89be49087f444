"""numpy.linalg on Tensors: values, first and second derivatives against torch.linalg, batched inputs,
gradcheck, bad input, and detect_anomaly's naming of where a derivative does not exist."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.errors import LinAlgError

RNG = np.random.default_rng(15)
TOL = {np.float64: 1e-8, np.float32: 1e-4}


def _spd(x, lib):
    """A symmetric positive-definite matrix built from x (both triangles depend on x)."""
    n = x.shape[-1]
    xt = x.transpose(-1, -2) if lib is torch else np.swapaxes(x, -1, -2)
    eye = torch.eye(n, dtype=x.dtype) if lib is torch else np.eye(n, dtype=x.dtype)
    return x @ xt + n * eye


def _sym(x, lib):
    xt = x.transpose(-1, -2) if lib is torch else np.swapaxes(x, -1, -2)
    return (x + xt) * 0.5


def _compare(f, inputs, dtype=np.float64):
    """f(lib, *inputs) -> a scalar, run on tapegrad Tensors (lib = np) and torch tensors (lib = torch):
    value, gradient and a Hessian-vector product must agree."""
    inputs = [np.asarray(x, dtype=dtype) for x in inputs]
    vectors = [RNG.standard_normal(x.shape).astype(dtype) for x in inputs]
    rtol = TOL[dtype]

    ts = [tg.tensor(x, requires_grad=True) for x in inputs]
    out = f(np, *ts)
    grads = tg.autograd.grad(out, ts, create_graph=True)
    inner = sum((g * v).sum() for g, v in zip(grads, vectors))
    # a piecewise-linear function (1-norm, max-norm) has a constant gradient: no second derivative to follow
    hvp = tg.autograd.grad(inner, ts, allow_unused=True) if inner.requires_grad else [None] * len(ts)

    ps = [torch.tensor(x, requires_grad=True) for x in inputs]
    out_t = f(torch, *ps)
    grads_t = torch.autograd.grad(out_t, ps, create_graph=True)
    inner_t = sum((g * torch.tensor(v)).sum() for g, v in zip(grads_t, vectors))
    hvp_t = torch.autograd.grad(inner_t, ps, allow_unused=True) if inner_t.requires_grad else [None] * len(ps)

    assert out.dtype == dtype
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=rtol, atol=rtol)
    for g, gt in zip(grads, grads_t):
        assert g.dtype == dtype
        np.testing.assert_allclose(g.data, gt.detach().numpy(), rtol=rtol, atol=rtol)
    for h, ht in zip(hvp, hvp_t):
        h = np.zeros_like(vectors[0]) if h is None else h.data
        ht = np.zeros_like(h) if ht is None else ht.numpy(force=True)
        np.testing.assert_allclose(h, ht, rtol=rtol * 10, atol=rtol * 10)


def _weights(shape, dtype=np.float64):
    return np.asarray(RNG.standard_normal(shape), dtype=dtype)


def _lib_weights(lib, w):
    return torch.tensor(w) if lib is torch else w


def _square(batch=(), n=4):
    return RNG.standard_normal(batch + (n, n)) * 0.5 + 3 * np.eye(n)


DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_inv_det_slogdet(dtype, batch):
    w = _weights(batch + (4, 4), dtype)
    _compare(lambda lib, a: (lib.linalg.inv(a) * _lib_weights(lib, w)).sum(), [_square(batch)], dtype)
    _compare(lambda lib, a: lib.linalg.det(a).sum(), [_square(batch)], dtype)
    _compare(lambda lib, a: (lib.linalg.slogdet(a)[1] * 1.5).sum(), [_square(batch)], dtype)


def test_slogdet_sign_has_no_gradient():
    a = tg.tensor(-_square(), requires_grad=True)
    sign, logabsdet = np.linalg.slogdet(a)
    assert sign.item() == np.linalg.slogdet(a.data)[0] and not sign.requires_grad and logabsdet.requires_grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("b_shape", [(4,), (4, 2), (3, 4, 2), (1, 4, 3)])
def test_solve(dtype, b_shape):
    a, b = _square((3,)), RNG.standard_normal(b_shape)
    if len(b_shape) == 1:
        a = a[0]
    w = _weights(np.linalg.solve(a, b).shape, dtype)
    _compare(lambda lib, a, b: (lib.linalg.solve(a, b) * _lib_weights(lib, w)).sum(), [a, b], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [(), (2,)])
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(dtype, batch, upper):
    w = _weights(batch + (4, 4), dtype)

    def f(lib, x):
        a = _spd(x, lib)
        factor = lib.linalg.cholesky(a, upper=upper)
        return (factor * _lib_weights(lib, w)).sum()

    _compare(f, [RNG.standard_normal(batch + (4, 4))], dtype)


def test_cholesky_gradient_reads_one_triangle():
    a = _spd(RNG.standard_normal((3, 3)), np)
    t = tg.tensor(a, requires_grad=True)
    np.linalg.cholesky(t).sum().backward()
    assert np.all(np.triu(t.grad.data, 1) == 0)
    tg.gradcheck(lambda x: np.linalg.cholesky(x), [tg.tensor(a, requires_grad=True)])
    tg.gradgradcheck(lambda x: np.linalg.cholesky(x), [tg.tensor(a, requires_grad=True)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [(), (2,)])
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_and_eigvalsh(dtype, batch, uplo):
    w1, w2 = _weights(batch + (4,), dtype), _weights(batch + (4, 4), dtype)

    def f(lib, x):
        a = _sym(x, lib)
        if lib is torch:
            values, vectors = torch.linalg.eigh(a, UPLO=uplo)
        else:
            values, vectors = np.linalg.eigh(a, UPLO=uplo)
        # the eigenvectors' signs are arbitrary: use their squares
        return (values * _lib_weights(lib, w1)).sum() + (vectors * vectors * _lib_weights(lib, w2)).sum()

    _compare(f, [RNG.standard_normal(batch + (4, 4))], dtype)
    _compare(lambda lib, x: (lib.linalg.eigvalsh(_sym(x, lib)) ** 2).sum(), [RNG.standard_normal(batch + (4, 4))],
             dtype)


@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (3, 5), (2, 5, 3), (2, 3, 5)])
def test_qr(shape):
    wq, wr = _weights(np.linalg.qr(np.zeros(shape))[0].shape), _weights(np.linalg.qr(np.zeros(shape))[1].shape)

    def f(lib, a):
        q, r = lib.linalg.qr(a)
        return (q * _lib_weights(lib, wq)).sum() + (r * _lib_weights(lib, wr)).sum()

    _compare(f, [RNG.standard_normal(shape)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (3, 5), (2, 5, 3)])
def test_svd(dtype, shape):
    k = min(shape[-2:])
    wu, ws, wv = _weights(shape[:-1] + (k,), dtype), _weights(shape[:-2] + (k,), dtype), \
        _weights(shape[:-2] + (k, shape[-1]), dtype)

    def f(lib, a):
        u, s, vh = lib.linalg.svd(a, full_matrices=False)
        return ((u * u * _lib_weights(lib, wu)).sum() + (s * _lib_weights(lib, ws)).sum()
                + (vh * vh * _lib_weights(lib, wv)).sum())

    _compare(f, [RNG.standard_normal(shape)], dtype)
    _compare(lambda lib, a: (lib.linalg.svd(a, compute_uv=False) * _lib_weights(lib, ws)).sum()
             if lib is np else (torch.linalg.svdvals(a) * _lib_weights(lib, ws)).sum(), [RNG.standard_normal(shape)],
             dtype)


@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (3, 5), (2, 5, 3)])
def test_pinv(shape):
    w = _weights(shape[:-2] + (shape[-1], shape[-2]))
    _compare(lambda lib, a: (lib.linalg.pinv(a) * _lib_weights(lib, w)).sum(), [RNG.standard_normal(shape)])


@pytest.mark.parametrize("b_shape", [(6,), (6, 2)])
def test_lstsq(b_shape):
    a, b = RNG.standard_normal((6, 3)), RNG.standard_normal(b_shape)
    x, residuals, rank, s = np.linalg.lstsq(tg.tensor(a), tg.tensor(b))
    x0, residuals0, rank0, s0 = np.linalg.lstsq(a, b)
    np.testing.assert_allclose(x.data, x0, rtol=1e-10)
    np.testing.assert_allclose(residuals.data, residuals0, rtol=1e-10)
    np.testing.assert_allclose(s.data, s0, rtol=1e-10)
    assert rank == rank0
    w = _weights(x0.shape)

    def f(lib, a, b):
        sol = np.linalg.lstsq(a, b)[0] if lib is np else torch.linalg.pinv(a) @ b
        return (sol * _lib_weights(lib, w)).sum()

    _compare(f, [a, b])
    # wide: the minimum-norm solution, no residuals
    x, residuals, rank, _ = np.linalg.lstsq(tg.tensor(a.T), tg.tensor(RNG.standard_normal(3)))
    assert residuals.shape == (0,) and rank == 3


VECTOR_ORDS = [None, 2, 1, 3, 0.5, np.inf, -np.inf, -1]
MATRIX_ORDS = [None, "fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf]


@pytest.mark.parametrize("ord_", VECTOR_ORDS)
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (-1, True)])
def test_vector_norms(ord_, axis, keepdims):
    x = RNG.standard_normal(5) if axis is None else RNG.standard_normal((3, 5))
    value = np.linalg.norm(tg.tensor(x), ord_, axis, keepdims)
    np.testing.assert_allclose(value.data, np.linalg.norm(x, ord_, axis, keepdims), rtol=1e-12)
    dim = axis if axis is not None else None
    _compare(lambda lib, x: (lib.linalg.norm(x, ord_, axis, keepdims) if lib is np else
                             torch.linalg.vector_norm(x, 2 if ord_ is None else ord_, dim, keepdims)).sum() * 1.0,
             [x])


@pytest.mark.parametrize("ord_", MATRIX_ORDS)
@pytest.mark.parametrize("axis,keepdims", [(None, False), ((0, 2), False), ((2, 0), True), ((-1, -2), False)])
def test_matrix_norms(ord_, axis, keepdims):
    x = RNG.standard_normal((4, 3)) if axis is None else RNG.standard_normal((4, 2, 3))
    value = np.linalg.norm(tg.tensor(x), ord_, axis, keepdims)
    np.testing.assert_allclose(value.data, np.linalg.norm(x, ord_, axis, keepdims), rtol=1e-12)
    _compare(lambda lib, x: (lib.linalg.norm(x, ord_, axis, keepdims) if lib is np else
                             torch.linalg.matrix_norm(x, "fro" if ord_ is None else ord_, axis or (-2, -1),
                                                      keepdims)).sum(), [x])


def test_norm_without_ord_is_the_flat_two_norm_and_stable():
    x = RNG.standard_normal((2, 3, 4))
    np.testing.assert_allclose(np.linalg.norm(tg.tensor(x)).data, np.linalg.norm(x), rtol=1e-14)
    big = tg.tensor(np.array([3e200, 4e200]), requires_grad=True)
    n = np.linalg.norm(big)
    n.backward()
    np.testing.assert_allclose(n.item(), 5e200, rtol=1e-14)
    np.testing.assert_allclose(big.grad.data, [0.6, 0.8], rtol=1e-14)
    zero = tg.tensor(np.zeros(3), requires_grad=True)
    np.linalg.norm(zero).backward()
    assert np.all(zero.grad.data == 0)
    f32 = np.linalg.norm(tg.tensor(np.ones(3, dtype=np.float32)))
    assert f32.dtype == np.float32


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, -1, -3])
def test_matrix_power(n):
    a = _square((2,), 3)
    np.testing.assert_allclose(np.linalg.matrix_power(tg.tensor(a), n).data, np.linalg.matrix_power(a, n),
                               rtol=1e-10)
    if n:
        _compare(lambda lib, a: (lib.linalg.matrix_power(a, n) ** 2).sum(), [a])


def test_multi_dot():
    shapes = [(4,), (4, 10), (10, 2), (2, 7), (7,)]
    arrays = [RNG.standard_normal(s) for s in shapes]
    np.testing.assert_allclose(np.linalg.multi_dot([tg.tensor(a) for a in arrays]).data, np.linalg.multi_dot(arrays),
                               rtol=1e-12)
    _compare(lambda lib, *xs: lib.linalg.multi_dot(list(xs)), arrays)
    _compare(lambda lib, *xs: lib.linalg.multi_dot(list(xs)).sum(), arrays[1:4])


@pytest.mark.parametrize("function", [
    lambda a: np.linalg.inv(a), lambda a: np.linalg.det(a), lambda a: np.linalg.slogdet(a)[1],
    lambda a: np.linalg.solve(a, np.ones((3, 2))), lambda a: np.linalg.cholesky(a @ a.T + 3 * np.eye(3)),
    lambda a: np.linalg.eigh(a + a.T)[1] ** 2, lambda a: np.linalg.qr(a)[1], lambda a: np.linalg.svd(a)[1],
    lambda a: np.linalg.pinv(a), lambda a: np.linalg.norm(a, "nuc"), lambda a: np.linalg.norm(a, 2),
    lambda a: np.linalg.matrix_power(a, -2),
])
def test_gradcheck_and_gradgradcheck(function):
    a = tg.tensor(_square((), 3), requires_grad=True)
    assert tg.gradcheck(function, [a])
    assert tg.gradgradcheck(function, [a])


def test_forward_mode_matches_reverse_mode():
    a = _square((), 3)
    t = RNG.standard_normal((3, 3))

    def f(x):
        values, vectors = np.linalg.eigh(x + x.T)
        u, s, vh = np.linalg.svd(x)
        return np.linalg.det(x) + (values ** 3).sum() + (vectors ** 2 * s).sum() + np.linalg.qr(x)[1].sum()

    _, tangent = tg.jvp(f, (tg.tensor(a),), (tg.tensor(t),))
    x = tg.tensor(a, requires_grad=True)
    f(x).backward()
    np.testing.assert_allclose(tangent.item(), (x.grad.data * t).sum(), rtol=1e-10)


@pytest.mark.parametrize("call,pattern", [
    (lambda: np.linalg.inv(tg.tensor(np.ones((2, 3)))), r"inv: got shape \(2, 3\); expected a square matrix"),
    (lambda: np.linalg.inv(tg.tensor(np.zeros((2, 2)))), r"inv: Singular matrix \(input shape \(2, 2\)\)"),
    (lambda: np.linalg.det(tg.tensor(np.ones(3))), r"det: got shape \(3,\)"),
    (lambda: np.linalg.solve(tg.tensor(np.eye(2)), tg.tensor(np.ones(3))), r"solve: a has shape \(2, 2\) and b \(3,\)"),
    (lambda: np.linalg.solve(tg.tensor(np.zeros((2, 2))), tg.tensor(np.ones(2))), r"solve: Singular matrix"),
    (lambda: np.linalg.cholesky(tg.tensor(-np.eye(2))), r"cholesky: Matrix is not positive definite"),
    (lambda: np.linalg.eigh(tg.tensor(np.ones((2, 3)))), r"eigh: got shape \(2, 3\)"),
    (lambda: np.linalg.eigh(tg.tensor(np.eye(2)), UPLO="X"), r"eigh: UPLO='X'"),
    (lambda: np.linalg.qr(tg.tensor(np.ones(3))), r"qr: got shape \(3,\)"),
    (lambda: np.linalg.qr(tg.tensor(np.ones((2, 2))), mode="complete"), r"qr: mode='complete'"),
    (lambda: np.linalg.svd(tg.tensor(np.ones(3))), r"svd: got shape \(3,\)"),
    (lambda: np.linalg.norm(tg.tensor(np.ones((2, 2))), "fro", 0), r"norm: ord='fro' is not a vector norm"),
    (lambda: np.linalg.norm(tg.tensor(np.ones((2, 2))), 3), r"norm: ord=3 is not a matrix norm"),
    (lambda: np.linalg.norm(tg.tensor(np.ones((2, 2, 2))), 2), r"norm: ord=2 without axis needs a 1-D or 2-D"),
    (lambda: np.linalg.norm(tg.tensor(np.ones((2, 2))), None, (0, 0)), r"norm: axis=\(0, 0\) repeats"),
    (lambda: np.linalg.norm(tg.tensor(np.ones((2, 2))), None, 5), r"norm: axis=5 is out of range"),
    (lambda: np.linalg.matrix_power(tg.tensor(np.eye(2)), 1.5), r"matrix_power: n=1.5; expected an integer"),
    (lambda: np.linalg.multi_dot([tg.tensor(np.ones((2, 3))), tg.tensor(np.ones((2, 3)))]),
     r"multi_dot: operands 0 \(2, 3\) and 1 \(2, 3\) do not chain"),
    (lambda: np.linalg.lstsq(tg.tensor(np.ones((3, 2))), tg.tensor(np.ones(2))), r"lstsq: a has shape \(3, 2\)"),
])
def test_bad_input_names_the_function_and_the_shape(call, pattern):
    with pytest.raises(tg.TapegradError, match=pattern):
        call()


def test_singular_input_is_a_linalg_error():
    assert issubclass(LinAlgError, ValueError)
    with pytest.raises(LinAlgError):
        np.linalg.inv(tg.tensor(np.zeros((2, 2))))


def test_svd_full_matrices_of_a_wide_matrix_with_gradient_is_refused():
    with pytest.raises(tg.DroppedGradientError, match="full_matrices=False"):
        np.linalg.svd(tg.tensor(np.ones((2, 3)), requires_grad=True))


@pytest.mark.parametrize("function,cause", [
    (lambda a: np.linalg.eigh(a)[1], "where eigenvalues repeat the gradient of the eigenvectors does not exist"),
    (lambda a: np.linalg.svd(a)[0], "where singular values repeat"),
])
def test_detect_anomaly_names_the_missing_derivative(function, cause):
    a = tg.tensor(np.eye(3), requires_grad=True)
    with tg.detect_anomaly(), np.errstate(all="ignore"), pytest.raises(tg.AnomalyError, match=cause):
        (function(a) * np.arange(9.0).reshape(3, 3)).sum().backward()


def test_degenerate_values_alone_have_a_gradient():
    a = tg.tensor(np.eye(3), requires_grad=True)
    (np.linalg.eigvalsh(a).sum() + np.linalg.svd(a, compute_uv=False).sum()).backward()
    np.testing.assert_allclose(a.grad.data, np.eye(3) * 2, rtol=1e-14)


def test_float32_stays_float32():
    a = tg.tensor(_square().astype(np.float32), requires_grad=True)
    outs = [np.linalg.inv(a), np.linalg.det(a), np.linalg.solve(a, np.ones(4, np.float32)), np.linalg.qr(a)[0],
            np.linalg.svd(a)[1], np.linalg.eigh(a)[1], np.linalg.pinv(a), np.linalg.norm(a, "nuc")]
    for out in outs:
        assert out.dtype == np.float32
    sum(o.sum() for o in outs).backward()
    assert a.grad.dtype == np.float32

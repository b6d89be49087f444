"""tapegrad.scipy.linalg (issue 15): values against SciPy, first and second derivatives against PyTorch
(``torch.linalg.solve_triangular``, ``cholesky``/``cholesky_solve``, ``lu_factor``/``lu_solve``,
``matrix_exp``, a dense ``solve`` for the band solver) and HIPS autograd (``sqrtm``, ``solve_sylvester``,
``solve_banded``, ``solve_triangular``), float64 to 1e-10 and float32 to 1e-5; forward mode against reverse
mode; batching; the fast paths (BLAS's trsm, LAPACK's potrf, the blocked Cholesky VJP) against the plain ones;
bad input."""

from __future__ import annotations

import subprocess
import sys

import autograd
import autograd.numpy as anp
import autograd.scipy.linalg as asl
import numpy as np
import pytest
import scipy.linalg as sl
import torch

import tapegrad as tg
from tapegrad.errors import ArgumentError, DTypeError, LinAlgError, ShapeError
from tapegrad.ops import linalg_numpy as LN
from tapegrad.scipy import linalg as tl

R = np.random.default_rng(1515)
RTOL = {np.float64: 1e-10, np.float32: 1e-5}


def _close(ours, theirs, dtype=np.float64, factor=1.0):
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    rtol = RTOL[dtype] * factor
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * max(1.0, np.abs(theirs).max(initial=0)))


def _tapegrad_derivatives(f, inputs, vectors, dtype):
    ts = [tg.tensor(np.asarray(x, dtype=dtype), requires_grad=True) for x in inputs]
    out = f(*ts)
    grads = tg.autograd.grad(out, ts, create_graph=True)
    inner = sum((g * v.astype(dtype)).sum() for g, v in zip(grads, vectors))
    hvp = tg.autograd.grad(inner, ts, allow_unused=True)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    return out.numpy(), [g.numpy() for g in grads], [np.zeros_like(x) if h is None else h.numpy()
                                                       for h, x in zip(hvp, inputs)]


def compare_with_torch(f, f_torch, inputs, dtype=np.float64, factor=1.0):
    """f(*tensors) and f_torch(*torch tensors), scalars: value, gradients and a Hessian-vector product agree."""
    vectors = [R.standard_normal(np.shape(x)) for x in inputs]
    value, grads, hvp = _tapegrad_derivatives(f, inputs, vectors, dtype)
    ps = [torch.tensor(np.asarray(x, dtype=dtype), requires_grad=True) for x in inputs]
    out = f_torch(*ps)
    tgrads = torch.autograd.grad(out, ps, create_graph=True)
    inner = sum((g * torch.tensor(v.astype(dtype))).sum() for g, v in zip(tgrads, vectors))
    thvp = torch.autograd.grad(inner, ps, allow_unused=True)
    _close(value, out.detach().numpy(), dtype, factor)
    for ours, theirs in zip(grads, tgrads):
        _close(ours, theirs.detach().numpy(), dtype, factor)
    for ours, theirs in zip(hvp, thvp):
        _close(ours, np.zeros_like(ours) if theirs is None else theirs.numpy(), dtype, 10 * factor)


def compare_with_autograd(f, f_autograd, inputs, factor=1.0):
    """The same against HIPS autograd (float64; its functions take the inputs as one tuple)."""
    vectors = [R.standard_normal(np.shape(x)) for x in inputs]
    value, grads, hvp = _tapegrad_derivatives(f, inputs, vectors, np.float64)
    packed = tuple(np.asarray(x, dtype=np.float64) for x in inputs)
    gradient = autograd.grad(lambda xs: f_autograd(*xs))
    inner = autograd.grad(lambda xs: sum(anp.sum(g * v) for g, v in zip(gradient(xs), vectors)))
    _close(value, f_autograd(*packed), factor=factor)
    for ours, theirs in zip(grads, gradient(packed)):
        _close(ours, theirs, factor=factor)
    for ours, theirs in zip(hvp, inner(packed)):
        _close(ours, theirs, factor=10 * factor)


def check_forward_mode(f, inputs):
    """tg.jvp of f against <gradient, tangent> from reverse mode."""
    tangents = [R.standard_normal(np.shape(x)) for x in inputs]
    _, tangent = tg.jvp(f, tuple(tg.tensor(np.asarray(x, dtype=np.float64)) for x in inputs),
                        tuple(tg.tensor(t) for t in tangents))
    ts = [tg.tensor(np.asarray(x, dtype=np.float64), requires_grad=True) for x in inputs]
    grads = tg.autograd.grad(f(*ts), ts)
    np.testing.assert_allclose(tangent.item(), sum((g.numpy() * t).sum() for g, t in zip(grads, tangents)),
                               rtol=1e-10, atol=1e-10)


def _weights(shape, dtype=np.float64):
    return R.standard_normal(shape).astype(dtype)


def _lib_w(lib, w):
    return torch.tensor(w) if lib is torch else w


def _triangular(batch, n):
    return R.standard_normal(batch + (n, n)) * 0.5 + 3 * np.eye(n)


def _spd_from(x, lib):
    xt = x.transpose(-1, -2) if lib is torch else np.swapaxes(x, -1, -2)
    eye = torch.eye(x.shape[-1], dtype=x.dtype) if lib is torch else np.eye(x.shape[-1], dtype=x.dtype)
    return x @ xt + x.shape[-1] * eye


# -- solve_triangular ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("trans", [0, 1, 2, "N", "T"])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular_matches_scipy_and_torch(dtype, lower, trans, unit):
    a, b = _triangular((), 5), R.standard_normal((5, 3))
    expected = sl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit)
    _close(tl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit).numpy(), expected)
    transposed = trans in (1, 2, "T")
    w = _weights((5, 3), dtype)

    def ours(x, y):
        return (tl.solve_triangular(x, y, trans=trans, lower=lower, unit_diagonal=unit) * w).sum()

    def theirs(x, y):
        tri = torch.tril(x) if lower else torch.triu(x)
        if unit:
            tri = tri - torch.diag_embed(torch.diagonal(tri)) + torch.eye(5, dtype=x.dtype)
        if transposed:
            tri = tri.mT
        return (torch.linalg.solve_triangular(tri, y, upper=lower == transposed) * torch.tensor(w)).sum()

    compare_with_torch(ours, theirs, [a, b], dtype)


@pytest.mark.parametrize("a_batch, b_shape", [((3,), (5,)), ((2, 3), (3, 5, 2)), ((), (4, 5, 1)), ((2, 1), (3, 5, 2))])
def test_solve_triangular_batched_and_vector(a_batch, b_shape):
    a, b = _triangular(a_batch, 5), R.standard_normal(b_shape)
    expected = sl.solve_triangular(a, b, lower=True)
    result = tl.solve_triangular(a, b, lower=True)
    assert result.shape == expected.shape
    _close(result.numpy(), expected)
    w = _weights(expected.shape)

    def theirs(x, y):
        column = y[..., None] if y.ndim == 1 else y
        out = torch.linalg.solve_triangular(torch.tril(x), column, upper=False)
        return ((out[..., 0] if y.ndim == 1 else out) * torch.tensor(w)).sum()

    compare_with_torch(lambda x, y: (tl.solve_triangular(x, y, lower=True) * w).sum(), theirs, [a, b])


def test_solve_triangular_against_autograd():
    a, b = _triangular((), 4), R.standard_normal(4)
    w = _weights(4)
    compare_with_autograd(lambda x, y: (tl.solve_triangular(x, y, trans=1, lower=True) * w).sum(),
                          lambda x, y: anp.sum(asl.solve_triangular(x, y, trans=1, lower=True) * w), [a, b])


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("n, batch", [(40, ()), (40, (3,)), (6, (3,))])
def test_the_blas_and_numpy_paths_of_the_triangular_solve_agree_with_scipy(order, n, batch):
    # n >= 32 or one matrix: BLAS's trsm on either memory layout (without copying it); small stacks: NumPy
    a = np.asarray(_triangular(batch, n), order=order)
    b = np.asarray(R.standard_normal(batch + (n, 4)), order=order)
    for lower in (False, True):
        for trans in (False, True):
            expected = np.stack([sl.solve_triangular(m, v, lower=lower, trans=int(trans))
                                 for m, v in zip(a.reshape(-1, n, n), b.reshape(-1, n, 4))]).reshape(b.shape)
            _close(LN.solve_triangular.forward(a, b, lower=lower, trans=trans), expected)


def test_solve_triangular_keeps_float32_and_names_a_zero_on_the_diagonal():
    a = np.triu(_triangular((), 3)).astype(np.float32)
    x = tl.solve_triangular(tg.tensor(a, requires_grad=True), np.ones(3, np.float32))
    assert x.dtype == np.float32
    a[1, 1] = 0
    with pytest.raises(LinAlgError, match="solve_triangular: singular matrix"):
        tl.solve_triangular(a, np.ones(3))
    a[1, 1] = 1
    tl.solve_triangular(a * np.float32(1) - np.diag(np.diag(a)), np.ones(3), unit_diagonal=True)  # not read


# -- cho_factor, cho_solve, and the Cholesky factor itself ------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("batch, b_shape", [((), (4,)), ((), (4, 2)), ((3,), (3, 4, 2)), ((2,), (4, 1))])
def test_cho_factor_and_cho_solve_match_torch(dtype, lower, batch, b_shape):
    x, b = R.standard_normal(batch + (4, 4)), R.standard_normal(b_shape)
    c, flag = tl.cho_factor(_spd_from(x, np), lower=lower)
    cs, _ = sl.cho_factor(_spd_from(x, np), lower=lower)
    triangle = np.tril(np.ones((4, 4))) if lower else np.triu(np.ones((4, 4)))
    assert flag is lower
    _close(c.numpy(), cs * triangle)  # SciPy leaves the other triangle's entries ("random data"): ours are 0
    expected = sl.cho_solve(sl.cho_factor(_spd_from(x, np), lower=lower), b)
    _close(tl.cho_solve((c, flag), b).numpy(), expected)
    w = _weights(expected.shape, dtype)

    def ours(x, y):
        return (tl.cho_solve(tl.cho_factor(_spd_from(x, np), lower=lower), y) * w).sum()

    def theirs(x, y):
        factor = torch.linalg.cholesky(_spd_from(x, torch), upper=not lower)
        column = y[..., None] if y.ndim == 1 else y
        out = torch.cholesky_solve(column, factor, upper=not lower)
        return ((out[..., 0] if y.ndim == 1 else out) * torch.tensor(w)).sum()

    compare_with_torch(ours, theirs, [x, b], dtype)


@pytest.mark.parametrize("lower", [False, True])
def test_cho_solve_is_differentiable_in_the_factor(lower):
    # a factor that is an input, not a cho_factor result: its named triangle takes the gradient
    x, b = R.standard_normal((4, 4)) * 0.3 + 2 * np.eye(4), R.standard_normal((4, 2))
    w = _weights((4, 2))
    mask = np.tril(np.ones((4, 4))) if lower else np.triu(np.ones((4, 4)))

    def theirs(c, y):
        return (torch.cholesky_solve(y, c * torch.tensor(mask), upper=not lower) * torch.tensor(w)).sum()

    compare_with_torch(lambda c, y: (tl.cho_solve((c, lower), y) * w).sum(), theirs, [x, b])
    check_forward_mode(lambda c, y: (tl.cho_solve((c, lower), y) * w).sum(), [x, b])


@pytest.mark.parametrize("n", [50, 300])
def test_a_gaussian_process_likelihood_matches_torch_through_the_blocked_cholesky_gradient(n):
    # n = 300 is above the blocked algorithm's block size (128): the fast path of cholesky's VJP
    x = np.sort(R.uniform(-3, 3, n))
    y = np.sin(x) + 0.1 * R.standard_normal(n)
    params = np.log([1.2, 0.7, 0.05])

    def nlml(lib, p, inputs):
        s, ell, noise = lib.exp(p[0]), lib.exp(p[1]), lib.exp(p[2])
        d = inputs[:, None] - inputs[None, :]
        eye = torch.eye(n, dtype=torch.float64) if lib is torch else np.eye(n)
        k = s * lib.exp(-0.5 * d ** 2 / ell ** 2) + (noise + 1e-6) * eye
        if lib is torch:
            low = torch.linalg.cholesky(k)
            alpha = torch.cholesky_solve(torch.tensor(y)[:, None], low)[:, 0]
            return 0.5 * (torch.tensor(y) * alpha).sum() + torch.log(torch.diagonal(low)).sum()
        low = np.linalg.cholesky(k)
        alpha = tl.cho_solve((low, True), y)
        return 0.5 * (y * alpha).sum() + np.log(np.diagonal(low)).sum()

    compare_with_torch(lambda p, inputs: nlml(np, p, inputs), lambda p, inputs: nlml(torch, p, inputs), [params, x],
                       factor=1)


def test_the_blocked_cholesky_gradient_equals_the_formula(monkeypatch):
    for n in (129, 300, 517):
        low = np.linalg.cholesky(_spd_from(R.standard_normal((n, n)), np))
        g = R.standard_normal((n, n))
        blocked = LN.cholesky_backward.forward(low, g)
        formula = LN._cholesky_backward_formula(low, g)
        np.testing.assert_allclose(blocked, formula, rtol=1e-11, atol=1e-11 * np.abs(formula).max())
        assert not np.triu(blocked, 1).any()
    # blocks of 2 on small matrices: every step of the blocked algorithm, against finite differences
    monkeypatch.setattr(LN, "_BLOCK", 2)
    a = tg.tensor(_spd_from(R.standard_normal((5, 5)), np), requires_grad=True)
    assert tg.gradcheck(lambda t: np.linalg.cholesky(t), [a])
    assert tg.gradgradcheck(lambda t: np.linalg.cholesky(t), [a])
    low = np.linalg.cholesky(a.data)
    np.testing.assert_allclose(LN.cholesky_backward.forward(low, np.ones((5, 5))),
                               LN._cholesky_backward_formula(low, np.ones((5, 5))), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
def test_the_lapack_cholesky_equals_numpys(dtype, order):
    for batch in [(), (3,)]:
        a = np.asarray(_spd_from(R.standard_normal(batch + (40, 40)), np).astype(dtype), order=order)
        for upper in (False, True):
            ours = LN.cholesky.forward(a, upper=upper)
            assert ours.dtype == dtype
            _close(ours, np.linalg.cholesky(a, upper=upper), dtype)
    with pytest.raises(LinAlgError, match=r"cholesky: Matrix is not positive definite \(input shape \(40, 40\)\)"):
        LN.cholesky.forward(-np.eye(40))


# -- lu_factor, lu_solve ------------------------------------------------------------------------------------

def _lu_matrix(batch, n):
    return R.standard_normal(batch + (n, n)) + 2 * np.eye(n)[::-1]  # pivoting happens


@pytest.mark.parametrize("batch", [(), (2,)])
def test_lu_factor_matches_scipy_and_its_gradient_torch(batch):
    a = _lu_matrix(batch, 5)
    lu, piv = tl.lu_factor(a)
    lus, pivs = sl.lu_factor(a)
    _close(lu.numpy(), lus)
    assert piv.dtype == np.int32 and (piv == pivs).all() and (pivs != np.arange(5)).any()
    w = _weights(batch + (5, 5))
    compare_with_torch(lambda x: (tl.lu_factor(x)[0] * w).sum(),
                       lambda x: (torch.linalg.lu_factor(x)[0] * torch.tensor(w)).sum(), [a])
    check_forward_mode(lambda x: (tl.lu_factor(x)[0] * w).sum(), [a])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("trans", [0, 1, 2])
@pytest.mark.parametrize("batch, b_shape", [((), (5,)), ((), (5, 3)), ((2,), (2, 5, 3)), ((2,), (5, 1))])
def test_lu_solve_matches_scipy_and_torch(dtype, trans, batch, b_shape):
    a, b = _lu_matrix(batch, 5), R.standard_normal(b_shape)
    expected = sl.lu_solve(sl.lu_factor(a), b, trans=trans)
    _close(tl.lu_solve(tl.lu_factor(a), b, trans=trans).numpy(), expected)
    w = _weights(expected.shape, dtype)

    def theirs(x, y):
        factor, pivots = torch.linalg.lu_factor(x)
        column = y[..., None] if y.ndim == 1 else y
        out = torch.linalg.lu_solve(factor, pivots, column, adjoint=trans != 0)
        return ((out[..., 0] if y.ndim == 1 else out) * torch.tensor(w)).sum()

    compare_with_torch(lambda x, y: (tl.lu_solve(tl.lu_factor(x), y, trans=trans) * w).sum(), theirs, [a, b], dtype)
    if dtype == np.float64:
        check_forward_mode(lambda x, y: (tl.lu_solve(tl.lu_factor(x), y, trans=trans) * w).sum(), [a, b])


# -- expm, sqrtm, solve_sylvester -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_expm_matches_torch_matrix_exp(dtype, batch):
    a = R.standard_normal(batch + (4, 4)) * 0.8
    _close(tl.expm(a).numpy(), sl.expm(a))
    w = _weights(batch + (4, 4), dtype)
    compare_with_torch(lambda x: (tl.expm(x) * w).sum(), lambda x: (torch.linalg.matrix_exp(x) * torch.tensor(w)).sum(),
                       [a], dtype)
    if dtype == np.float64:
        check_forward_mode(lambda x: (tl.expm(x) * w).sum(), [a])


def _positive_spectrum(batch, n):
    return R.standard_normal(batch + (n, n)) * 0.4 + 3 * np.eye(n)


def test_sqrtm_matches_autograd():
    a = _positive_spectrum((), 4)
    _close(tl.sqrtm(a).numpy(), sl.sqrtm(a))
    w = _weights((4, 4))
    compare_with_autograd(lambda x: (tl.sqrtm(x) * w).sum(), lambda x: anp.sum(asl.sqrtm(x) * w), [a])
    check_forward_mode(lambda x: (tl.sqrtm(x) * w).sum(), [a])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sqrtm_batched_and_float32(dtype):
    a = _positive_spectrum((2, 3), 3).astype(dtype)
    t = tg.tensor(a, requires_grad=True)
    root = tl.sqrtm(t)
    assert root.dtype == dtype
    _close(root.numpy(), sl.sqrtm(a.astype(np.float64)), dtype)
    w = _weights(a.shape, dtype)
    (root * w).sum().backward()
    assert t.grad.dtype == dtype
    for index in np.ndindex(2, 3):  # each matrix's gradient is that of the unbatched function
        single = tg.tensor(a[index].astype(np.float64), requires_grad=True)
        (tl.sqrtm(single) * w[index]).sum().backward()
        _close(t.grad.numpy()[index], single.grad.numpy(), dtype)


def test_sqrtm_of_a_matrix_without_a_real_root_is_refused():
    with pytest.raises(ArgumentError, match="sqrtm: the principal square root .* is complex"):
        tl.sqrtm(np.diag([-1.0, 2.0]))


@pytest.mark.parametrize("m, n", [(3, 3), (2, 4)])
def test_solve_sylvester_matches_autograd(m, n):
    a, b, q = _positive_spectrum((), m), _positive_spectrum((), n), R.standard_normal((m, n))
    _close(tl.solve_sylvester(a, b, q).numpy(), sl.solve_sylvester(a, b, q))
    w = _weights((m, n))
    compare_with_autograd(lambda x, y, z: (tl.solve_sylvester(x, y, z) * w).sum(),
                          lambda x, y, z: anp.sum(asl.solve_sylvester(x, y, z) * w), [a, b, q])
    check_forward_mode(lambda x, y, z: (tl.solve_sylvester(x, y, z) * w).sum(), [a, b, q])


def test_solve_sylvester_batched_and_float32():
    a, b, q = _positive_spectrum((2,), 3), _positive_spectrum((), 2), R.standard_normal((2, 3, 2))
    x = tl.solve_sylvester(a, b, q)
    _close(x.numpy(), sl.solve_sylvester(a, b, q))
    x32 = tl.solve_sylvester(*(tg.tensor(v.astype(np.float32), requires_grad=True) for v in (a, b, q)))
    assert x32.dtype == np.float32
    _close(x32.numpy(), x.numpy(), np.float32)


# -- solve_banded -----------------------------------------------------------------------------------------

def _dense(lib, ab, lower, upper, n):
    """The band matrix of ab, built differentiably in torch (an oracle independent of the band storage code)."""
    rows = []
    for r in range(lower + upper + 1):
        for j in range(n):
            i = j + r - upper
            if 0 <= i < n:
                rows.append((r, j, i))
    dense = torch.zeros(ab.shape[:-2] + (n, n), dtype=ab.dtype)
    for r, j, i in rows:
        dense[..., i, j] = ab[..., r, j]
    return dense


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lower, upper", [(0, 0), (1, 1), (2, 1), (0, 2), (3, 0)])
@pytest.mark.parametrize("batch, b_shape", [((), (6,)), ((), (6, 2)), ((2,), (2, 6, 2)), ((2,), (6,))])
def test_solve_banded_matches_scipy_and_a_dense_solve_in_torch(dtype, lower, upper, batch, b_shape):
    n = 6
    ab = R.standard_normal(batch + (lower + upper + 1, n))
    ab[..., upper, :] += 6
    b = R.standard_normal(b_shape)
    expected = sl.solve_banded((lower, upper), ab, b)
    result = tl.solve_banded((lower, upper), ab, b)
    assert result.shape == expected.shape
    _close(result.numpy(), expected)
    w = _weights(expected.shape, dtype)

    def theirs(band, y):
        column = y[..., None] if y.ndim == 1 else y
        out = torch.linalg.solve(_dense(torch, band, lower, upper, n), column)
        return ((out[..., 0] if y.ndim == 1 else out) * torch.tensor(w)).sum()

    compare_with_torch(lambda band, y: (tl.solve_banded((lower, upper), band, y) * w).sum(), theirs, [ab, b], dtype)


def test_solve_banded_matches_autograd_and_forward_mode():
    ab = R.standard_normal((4, 5))
    ab[1] += 5
    b = R.standard_normal(5)
    w = _weights(5)
    compare_with_autograd(lambda band, y: (tl.solve_banded((2, 1), band, y) * w).sum(),
                          lambda band, y: anp.sum(asl.solve_banded((2, 1), band, y) * w), [ab, b])
    check_forward_mode(lambda band, y: (tl.solve_banded((2, 1), band, y) * w).sum(), [ab, b])


# -- bad input and the optional dependency ----------------------------------------------------------------

@pytest.mark.parametrize("call, error, pattern", [
    (lambda: tl.solve_triangular(np.ones((2, 3)), np.ones(2)), ShapeError, r"solve_triangular: got shape \(2, 3\)"),
    (lambda: tl.solve_triangular(np.eye(2), np.ones(3)), ShapeError,
     r"solve_triangular: a has shape \(2, 2\) and b \(3,\); expected b of shape \(2,\)"),
    (lambda: tl.solve_triangular(np.eye(2), np.ones(2), trans=3), ArgumentError, r"solve_triangular: trans=3"),
    (lambda: tl.solve_triangular(np.eye(2), np.ones(2), lower="yes"), ArgumentError, r"solve_triangular: lower='yes'"),
    (lambda: tl.solve_triangular(np.eye(2), [np.nan, 1.0]), ArgumentError, r"solve_triangular: .*infs or NaNs"),
    (lambda: tl.solve_triangular(np.eye(2) + 0j, np.ones(2)), DTypeError, r"solve_triangular: got dtype complex"),
    (lambda: tl.cho_factor(np.ones((2, 3))), ShapeError, r"cho_factor: got shape \(2, 3\)"),
    (lambda: tl.cho_factor(-np.eye(2)), LinAlgError, r"cholesky: Matrix is not positive definite"),
    (lambda: tl.cho_solve(np.eye(2), np.ones(2)), ArgumentError, r"(?s)cho_solve: c_and_lower=.*expected the pair"),
    (lambda: tl.cho_solve((np.eye(2), True), np.ones(3)), ShapeError, r"cho_solve: c has shape \(2, 2\) and b \(3,\)"),
    (lambda: tl.lu_factor(np.ones((2, 3))), ShapeError, r"lu_factor: got shape \(2, 3\); tapegrad factors square"),
    (lambda: tl.lu_solve((np.eye(2), np.zeros(3, np.int32)), np.ones(2)), ShapeError,
     r"lu_solve: pivots of shape \(3,\) for lu \(2, 2\)"),
    (lambda: tl.lu_solve(np.eye(2), np.ones(2)), ArgumentError, r"(?s)lu_solve: lu_and_piv=.*expected the pair"),
    (lambda: tl.lu_solve(tl.lu_factor(np.eye(2)), np.ones(2), trans="X"), ArgumentError, r"lu_solve: trans='X'"),
    (lambda: tl.expm(np.ones(3)), ShapeError, r"expm: got shape \(3,\)"),
    (lambda: tl.sqrtm(np.ones((2, 3))), ShapeError, r"sqrtm: got shape \(2, 3\)"),
    (lambda: tl.solve_sylvester(np.eye(2), np.eye(3), np.ones((3, 2))), ShapeError,
     r"solve_sylvester: a has shape \(2, 2\), b \(3, 3\) and q \(3, 2\); expected q of shape \(..., 2, 3\)"),
    (lambda: tl.solve_banded((1, 1), np.ones((2, 4)), np.ones(4)), ShapeError,
     r"solve_banded: ab has shape \(2, 4\); expected \(..., l \+ u \+ 1, n\) = \(..., 3, n\)"),
    (lambda: tl.solve_banded((1, -1), np.ones((1, 4)), np.ones(4)), ArgumentError, r"solve_banded: l_and_u=\(1, -1\)"),
    (lambda: tl.solve_banded((0, 0), np.ones((1, 4)), np.ones(3)), ShapeError,
     r"solve_banded: ab has shape \(1, 4\) and b \(3,\)"),
    (lambda: tl.solve_banded((0, 0), np.zeros((1, 2)), np.ones(2)), LinAlgError, r"solve_banded: singular matrix"),
])
def test_bad_input_names_the_function(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_empty_matrices_give_empty_results_and_gradients():
    a = tg.tensor(np.zeros((0, 0)), requires_grad=True)
    for out in (tl.expm(a), tl.sqrtm(a), tl.solve_triangular(a, np.zeros((0, 2))), tl.lu_factor(a)[0],
                tl.solve_sylvester(a, a, np.zeros((0, 0)))):
        assert out.shape[-2:] in ((0, 0), (0, 2))
        out.sum().backward()
        assert a.grad.shape == (0, 0)


def test_scipy_is_needed_only_where_numpy_has_no_equivalent_and_the_error_names_the_extra():
    code = ("import sys; sys.modules['scipy'] = None; sys.modules['scipy.linalg'] = None\n"
            "import numpy as np, tapegrad as tg\n"
            "from tapegrad.scipy import linalg\n"
            "a = tg.tensor(np.array([[4.0, 1.0], [1.0, 3.0]]), requires_grad=True)\n"
            "c = linalg.cho_factor(a, lower=True)\n"
            "x = linalg.cho_solve(c, np.array([1.0, 2.0]))\n"
            "x.sum().backward()\n"
            "print(float(x.sum().numpy()), float(a.grad.numpy().sum()))\n"
            "try:\n    linalg.expm(a)\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    value, gradient = (float(v) for v in lines[0].split())
    k = np.array([[4.0, 1.0], [1.0, 3.0]])
    ones = np.linalg.solve(k, np.ones(2))
    x = np.linalg.solve(k, [1.0, 2.0])
    assert abs(value - x.sum()) < 1e-12
    # the gradient on the lower triangle: an entry below the diagonal stands for both of the symmetric pair
    assert abs(gradient - (-np.outer(ones, x)).sum()) < 1e-12
    assert "tapegrad.scipy.linalg.expm needs SciPy" in lines[1] and "tapegrad[scipy]" in lines[1]


def test_scipy_linalg_itself_refuses_a_tensor_that_requires_grad():
    with pytest.raises(tg.DroppedGradientError):
        sl.expm(tg.tensor(np.eye(2), requires_grad=True))

"""numpy.linalg on complex matrices (issue 18) against PyTorch's complex autograd: ``cholesky`` (both
triangles), ``eigh``/``eigvalsh`` (both UPLO), ``qr`` (tall, square, wide), ``svd`` (thin, square
``full_matrices``, ``compute_uv=False``), ``pinv``, ``lstsq``, ``norm``, ``matrix_power``, ``multi_dot`` and
``arcsinh``: values, gradients (PyTorch's ``.grad`` of a complex leaf is the conjugate Wirtinger gradient, as
tapegrad's) and second derivatives at complex128 to 1e-10 and complex64 to 1e-5, forward mode against
``torch.func.jvp``, tg.vmap against a loop, the phases of eigenvectors and singular vectors (a loss that
depends on them raises, as in PyTorch; second derivatives of one that does not stay right), the triangle LAPACK
reads, the blocked Cholesky gradient of large matrices, and the functions that refuse complex values.

Eigenvectors and singular vectors are compared through functions that do not depend on their phases (each
vector times the conjugate of its first entry), which LAPACK and PyTorch's LAPACK may pick differently.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.ops import linalg_numpy as LN

from .test_complex import compare

RNG = np.random.default_rng(1818)
DTYPES = [np.complex128, np.complex64]


def _complex(shape, scale=1.0, dtype=np.complex128):
    return ((RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)) * scale).astype(dtype)


def _is_torch(x) -> bool:
    return isinstance(x, torch.Tensor)


def _lib(x):
    return torch if _is_torch(x) else np


def _h(x):
    """The conjugate transpose of the last two axes."""
    return x.mH if _is_torch(x) else np.conj(np.swapaxes(x, -1, -2))


def _eye(x, n):
    return torch.eye(n, dtype=x.dtype) if _is_torch(x) else np.eye(n, dtype=x.dtype)


def _cat(*parts):
    flat = [p.reshape(-1) for p in parts]
    return torch.cat(flat) if _is_torch(parts[0]) else tg.concatenate(flat)


def _hpd(x):
    """A Hermitian positive-definite matrix built from x (every entry depends on x)."""
    n = x.shape[-2]
    return x @ _h(x) + n * _eye(x, n)


def _hermitian(x):
    return (x + _h(x)) * 0.5


def _without_phases(v):
    """Each column times the conjugate of its first entry: what does not depend on the columns' phases."""
    return v * v[..., :1, :].conj()


def _svd_without_phases(u, s, vh):
    phase = u[..., :1, :]
    return _cat(u * phase.conj(), s, vh * phase.reshape(tuple(phase.shape[:-2]) + (phase.shape[-1], 1)))


# -- values, gradients and second derivatives against PyTorch ----------------------------------------------


def _eigh(uplo):
    def fn(x):
        w, v = _lib(x).linalg.eigh(_hermitian(x), UPLO=uplo)
        return _cat(w, _without_phases(v))
    return fn


def _svd(x):
    u, s, vh = _lib(x).linalg.svd(x, full_matrices=False)
    return _svd_without_phases(u, s, vh)


def _svd_square_full(x):
    u, s, vh = _lib(x).linalg.svd(x)  # full_matrices=True: the thin SVD of a square matrix
    return _svd_without_phases(u, s, vh)


def _svdvals(x):
    return np.linalg.svd(x, compute_uv=False) if not _is_torch(x) else torch.linalg.svdvals(x)


def _qr(x):
    q, r = _lib(x).linalg.qr(x)
    return _cat(q, r)


FUNCTIONS = {
    "cholesky": (lambda x: _lib(x).linalg.cholesky(_hpd(x)), (3, 4)),
    "cholesky_upper": (lambda x: _lib(x).linalg.cholesky(_hpd(x), upper=True), (2, 3, 3)),
    "eigh_L": (_eigh("L"), (4, 4)),
    "eigh_U": (_eigh("U"), (2, 3, 3)),
    "eigvalsh": (lambda x: _lib(x).linalg.eigvalsh(_hermitian(x)), (2, 4, 4)),
    "qr_tall": (_qr, (5, 3)),
    "qr_square": (_qr, (2, 3, 3)),
    "qr_wide": (_qr, (3, 5)),
    "svd_tall": (_svd, (5, 3)),
    "svd_wide": (_svd, (2, 3, 4)),
    "svd_square_full_matrices": (_svd_square_full, (3, 3)),
    "svd_compute_uv_false": (_svdvals, (2, 4, 3)),
    "pinv_tall": (lambda x: _lib(x).linalg.pinv(x), (5, 3)),
    "pinv_wide": (lambda x: _lib(x).linalg.pinv(x), (2, 3, 4)),
}


def _input(shape, dtype):
    x = _complex(shape, 0.5, dtype)
    if shape[-1] == shape[-2]:  # well conditioned, distinct eigenvalues and singular values
        x = x + np.diag(np.arange(1.0, shape[-1] + 1)).astype(dtype) * 1.5
    else:
        k = min(shape[-2:])
        x[..., :k, :k] += np.diag(np.arange(1.0, k + 1)).astype(dtype) * 1.5
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_decompositions_of_complex_matrices_match_pytorch(name, dtype):
    fn, shape = FUNCTIONS[name]
    compare(fn, [_input(shape, dtype)])


NUMPY_FUNCTIONS = {  # (ours, PyTorch's, whether it takes the right-hand side b)
    "lstsq_solution": (lambda a, b: np.linalg.lstsq(a, b)[0], lambda a, b: torch.linalg.pinv(a) @ b, True),
    "lstsq_residuals": (lambda a, b: np.linalg.lstsq(a, b)[1],
                        lambda a, b: ((a @ (torch.linalg.pinv(a) @ b) - b).abs() ** 2).sum(0), True),
    "matrix_power_3": (lambda a: np.linalg.matrix_power(a[:3], 3), lambda a: torch.linalg.matrix_power(a[:3], 3),
                       False),
    "matrix_power_-2": (lambda a: np.linalg.matrix_power(a[:3], -2), lambda a: torch.linalg.matrix_power(a[:3], -2),
                        False),
    "multi_dot": (lambda a, b: np.linalg.multi_dot([b.T, a, a.T]), lambda a, b: torch.linalg.multi_dot([b.T, a, a.T]),
                  True),
    "det": (lambda a: np.linalg.det(a[:3]), lambda a: torch.linalg.det(a[:3]), False),
    "slogdet": (lambda a: np.linalg.slogdet(a[:3])[1], lambda a: torch.linalg.slogdet(a[:3])[1], False),
    "inv": (lambda a: np.linalg.inv(a[:3]), lambda a: torch.linalg.inv(a[:3]), False),
    "solve": (lambda a, b: np.linalg.solve(a[:3], b[:3]), lambda a, b: torch.linalg.solve(a[:3], b[:3]), True),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(NUMPY_FUNCTIONS))
def test_the_other_numpy_linalg_functions_of_complex_matrices_match_pytorch(name, dtype):
    ours, theirs, takes_b = NUMPY_FUNCTIONS[name]
    inputs = [_input((5, 3), dtype)] + ([_complex((5, 2), 1.0, dtype)] if takes_b else [])
    compare(ours, inputs, torch_fn=theirs)


NORMS = [(None, None), ("fro", None), ("nuc", None), (2, None), (-2, None), (1, None), (-1, None), (np.inf, None),
         (None, 1), (1, 0), (3, 1), (np.inf, 1), (-np.inf, 0)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ord_, axis", NORMS)
def test_norms_of_complex_values_match_pytorch(ord_, axis, dtype):
    def theirs(x):
        if axis is None:
            return torch.linalg.matrix_norm(x, "fro" if ord_ is None else ord_)
        return torch.linalg.vector_norm(x, 2 if ord_ is None else ord_, dim=axis)
    compare(lambda x: np.linalg.norm(x, ord_, axis), [_input((4, 3), dtype)], torch_fn=theirs)


def test_the_norm_of_a_complex_vector_is_real_and_numpys():
    z = _complex(5)
    for ord_ in (None, 1, 2, 3, np.inf):
        value = np.linalg.norm(tg.tensor(z), ord_)
        assert value.dtype == np.float64
        np.testing.assert_allclose(value.numpy(), np.linalg.norm(z, ord_), rtol=1e-14)
    assert np.linalg.norm(tg.tensor(z.astype(np.complex64))).dtype == np.float32


@pytest.mark.parametrize("dtype", DTYPES)
def test_arcsinh_of_complex_values_matches_pytorch(dtype):
    compare(lambda z: np.arcsinh(z) if not _is_torch(z) else torch.asinh(z), [_complex((3, 4), 1.5, dtype)])


def test_arcsinh_of_huge_complex_values_has_a_finite_gradient():
    z = tg.tensor(np.array([1e200 + 1e200j, -3e300 + 1j]), requires_grad=True)
    np.arcsinh(z).real.sum().backward()
    assert np.all(np.isfinite(z.grad.numpy()))
    np.testing.assert_allclose(z.grad.numpy()[0], np.conj(1 / np.sqrt(2j) / 1e200), rtol=1e-12)


# -- dtypes, values and the triangles LAPACK reads --------------------------------------------------------


@pytest.mark.parametrize("dtype, real", [(np.complex128, np.float64), (np.complex64, np.float32)])
def test_results_have_numpys_values_and_dtypes(dtype, real):
    a = _input((2, 4, 4), dtype)
    h = np.asarray(a @ np.conj(np.swapaxes(a, -1, -2)))
    t = tg.tensor(h, requires_grad=True)
    w, v = np.linalg.eigh(t)
    assert w.dtype == real and v.dtype == dtype
    w0, v0 = np.linalg.eigh(h)
    np.testing.assert_array_equal(w.numpy(), w0)
    np.testing.assert_array_equal(v.numpy(), v0)
    u, s, vh = np.linalg.svd(tg.tensor(a, requires_grad=True))
    assert s.dtype == real and u.dtype == dtype
    np.testing.assert_allclose(s.numpy(), np.linalg.svd(a, compute_uv=False), rtol=10 * np.finfo(real).eps)
    assert np.linalg.eigvalsh(t).dtype == real and np.linalg.svd(t, compute_uv=False).dtype == real
    for upper in (False, True):
        np.testing.assert_allclose(np.linalg.cholesky(t, upper=upper).numpy(), np.linalg.cholesky(h, upper=upper),
                                   rtol=1e-5 if dtype == np.complex64 else 1e-13)
    q, r = np.linalg.qr(tg.tensor(a, requires_grad=True))
    assert q.dtype == dtype and np.all(np.diagonal(r.numpy(), axis1=-2, axis2=-1).imag == 0)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_reads_one_triangle_and_the_real_part_of_the_diagonal(upper):
    x = _complex((4, 4))
    h = x @ np.conj(x.T) + 4 * np.eye(4)
    noise = _complex((4, 4)) * (np.tril(np.ones((4, 4)), -1) if upper else np.triu(np.ones((4, 4)), 1))
    a = tg.tensor(h + noise + 0.7j * np.eye(4), requires_grad=True)
    factor = np.linalg.cholesky(a, upper=upper)
    np.testing.assert_allclose(factor.numpy(), np.linalg.cholesky(h, upper=upper), rtol=1e-13)
    w = _complex((4, 4))
    (abs(factor) ** 2 + (factor * w).real).sum().backward()
    unread = np.tril(np.ones((4, 4)), -1) if upper else np.triu(np.ones((4, 4)), 1)
    assert np.all(a.grad.numpy()[unread == 1] == 0)
    assert np.all(np.diagonal(a.grad.numpy()).imag == 0)
    # PyTorch's gradient is the Hermitian one, of a function of (X + X^H)/2: an off-diagonal entry read here
    # stands for itself and its conjugate twin (twice PyTorch's), a diagonal entry for itself
    xt = torch.tensor(h, requires_grad=True)
    ft = torch.linalg.cholesky((xt + xt.mH) / 2, upper=upper)
    (ft.abs() ** 2 + (ft * torch.tensor(w)).real).sum().backward()
    theirs = xt.grad.numpy()
    read = np.triu(theirs, 1) if upper else np.tril(theirs, -1)
    np.testing.assert_allclose(a.grad.numpy(), 2 * read + np.diag(np.diagonal(theirs)), rtol=1e-10, atol=1e-12)


def test_eigh_reads_one_triangle_of_a_complex_matrix():
    x = _complex((3, 3))
    h = x + np.conj(x.T)
    for uplo in ("L", "U"):
        unread = np.triu(np.ones((3, 3)), 1) if uplo == "L" else np.tril(np.ones((3, 3)), -1)
        a = tg.tensor(h + _complex((3, 3)) * unread + 0.3j * np.eye(3), requires_grad=True)
        w, v = np.linalg.eigh(a, UPLO=uplo)
        np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh(h), rtol=1e-13)
        ((w * np.arange(3.0)).sum() + (abs(v) ** 4).sum()).backward()
        assert np.all(a.grad.numpy()[unread == 1] == 0) and np.all(np.diagonal(a.grad.numpy()).imag == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_blocked_cholesky_gradient_of_a_large_complex_matrix_is_the_formula_and_pytorchs(dtype):
    n = 300  # above the block size: Murray's blocked algorithm
    x = _complex((n, n), 1.0, dtype)
    w = _complex((n, n), 1.0, dtype)
    low = LN._cholesky(x @ np.conj(x.T) + n * np.eye(n, dtype=dtype))
    blocked, formula = LN._cholesky_backward(low, w), LN._cholesky_backward_formula(low, w)
    assert blocked.dtype == dtype
    np.testing.assert_allclose(blocked, formula, rtol=0, atol=(1e-5 if dtype == np.complex64 else 1e-12)
                               * np.abs(formula).max())
    compare(lambda v: _lib(v).linalg.cholesky(_hpd(v)), [x], second=False)


# -- forward mode, vmap, compile ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_forward_mode_matches_pytorch(name):
    fn, shape = FUNCTIONS[name]
    x, t = _input(shape, np.complex128), _complex(shape)
    value, tangent = tg.jvp(fn, (x,), (t,))
    value_t, tangent_t = torch.func.jvp(fn, (torch.tensor(x),), (torch.tensor(t),))
    np.testing.assert_allclose(np.asarray(value), value_t.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(tangent), tangent_t.numpy(), rtol=1e-9, atol=1e-10)


def _loss_of(fn):
    def loss(x):
        out = fn(x)
        return (abs(out) ** 2).sum() + (out * 0.3).real.sum()
    return loss


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_vmap_gives_every_examples_values_gradients_and_tangents(name):
    fn, shape = FUNCTIONS[name]
    xs = np.stack([_input(shape, np.complex128) for _ in range(3)])
    batched = tg.vmap(fn)(xs)
    np.testing.assert_allclose(np.asarray(batched), np.stack([np.asarray(fn(tg.tensor(x))) for x in xs]),
                               rtol=1e-12, atol=1e-13)
    per_example = tg.vmap(tg.grad(_loss_of(fn)))(xs)
    looped = np.stack([np.asarray(tg.grad(_loss_of(fn))(x)) for x in xs])
    np.testing.assert_allclose(np.asarray(per_example), looped, rtol=1e-10, atol=1e-12)
    ts = _complex(xs.shape)
    tangents = tg.vmap(lambda x, t: tg.jvp(fn, (x,), (t,))[1])(xs, ts)
    looped = np.stack([np.asarray(tg.jvp(fn, (x,), (t,))[1]) for x, t in zip(xs, ts)])
    np.testing.assert_allclose(np.asarray(tangents), looped, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["cholesky", "eigh_L", "qr_wide", "svd_tall", "pinv_wide"])
def test_compiled_gives_eager_gradients(name):
    fn, shape = FUNCTIONS[name]
    x = _input(shape, np.complex128)
    eager, compiled = tg.tensor(x, requires_grad=True), tg.tensor(x, requires_grad=True)
    _loss_of(fn)(eager).backward()
    tg.compile(_loss_of(fn))(compiled).backward()
    np.testing.assert_allclose(compiled.grad.numpy(), eager.grad.numpy(), rtol=1e-12, atol=1e-13)


# -- the phases of eigenvectors and singular vectors -------------------------------------------------------


PHASE_DEPENDENT = {
    "eigh": (lambda x: np.linalg.eigh(_hermitian(x))[1].real.sum(),
             lambda x: torch.linalg.eigh(_hermitian(x))[1].real.sum(), "eigh: the loss depends on the phases of "
             "the complex eigenvectors"),
    "svd_u": (lambda x: np.linalg.svd(x)[0][0].imag.sum(), lambda x: torch.linalg.svd(x)[0][0].imag.sum(),
              "svd: the loss depends on the phases of the complex singular vectors"),
    "svd_vh": (lambda x: np.linalg.svd(x)[2].real.sum(), lambda x: torch.linalg.svd(x)[2].real.sum(),
               "svd: the loss depends on the phases"),
}


@pytest.mark.parametrize("name", sorted(PHASE_DEPENDENT))
def test_a_loss_that_depends_on_the_phases_raises_as_in_pytorch(name):
    ours, theirs, message = PHASE_DEPENDENT[name]
    x = _input((3, 3), np.complex128)
    with pytest.raises(tg.BackwardError, match=f"^{message}"):
        ours(tg.tensor(x, requires_grad=True)).backward()
    with pytest.raises(RuntimeError, match="e\\^\\{i phi\\}"):
        theirs(torch.tensor(x, requires_grad=True)).backward()
    t = tg.tensor(x, requires_grad=True)
    with pytest.raises(tg.BackwardError, match=f"^{message}"):  # a recorded backward pass checks too
        tg.autograd.grad(ours(t), [t], create_graph=True)


def test_a_loss_of_the_vectors_without_their_phases_has_pytorchs_gradient_and_hessian():
    # real parameters p make a complex Hermitian matrix; f depends on its eigenvectors and singular vectors
    # only through |v|, v v^H and the like: the Hessian (a second backward pass through eigh and svd, whose
    # results the first recorded pass recomputed) matches PyTorch's
    p = RNG.standard_normal(18)

    def f(q):
        lib = torch if _is_torch(q) else np
        x = (q[:9] + 1j * q[9:]).reshape(3, 3)
        h = _hermitian(x) + 4 * _eye(x, 3)
        w, v = lib.linalg.eigh(h)
        u, s, vh = lib.linalg.svd(x + 2 * _eye(x, 3))
        projector = v[:, 1:2] @ _h(v[:, 1:2])
        return ((abs(v) ** 4).sum() + (abs(projector) ** 2 * (w[0] + 3)).sum() + (abs(u * vh.T) ** 3).sum()
                + (s ** 2).sum() * (_h(vh) @ (u.conj().T * s[:, None])).real.sum())

    grad = tg.grad(f)(p)
    grad_t = torch.func.grad(f)(torch.tensor(p))
    np.testing.assert_allclose(np.asarray(grad), grad_t.numpy(), rtol=1e-10, atol=1e-12)
    hessian = tg.hessian(f)(p)
    hessian_t = torch.autograd.functional.hessian(f, torch.tensor(p))
    np.testing.assert_allclose(np.asarray(hessian), hessian_t.numpy(), rtol=1e-9, atol=1e-10)


# -- what refuses complex values ------------------------------------------------------------------------


@pytest.mark.parametrize("call, name", [
    (lambda a: tg.scipy.linalg.solve_triangular(a, np.ones(3)), "solve_triangular"),
    (lambda a: tg.scipy.linalg.cho_factor(a), "cho_factor"),
    (lambda a: tg.scipy.linalg.cho_solve((a, True), np.ones(3)), "cho_solve"),
    (lambda a: tg.scipy.linalg.expm(a), "expm"),
    (lambda a: tg.scipy.linalg.lu_factor(a), "lu_factor"),
])
def test_scipy_linalg_refuses_complex_matrices_naming_the_function(call, name):
    a = tg.tensor(_input((3, 3), np.complex128), requires_grad=True)
    with pytest.raises(tg.DTypeError, match=f"^{name}: got dtype complex128; expected real numbers"):
        call(a)

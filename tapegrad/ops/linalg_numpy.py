"""``numpy.linalg`` with gradients: the decompositions and solvers as primitives, the rest composed.

Primitives (each with a VJP and a JVP written against ``xp``, so every derivative is differentiable
again): ``inv``, ``solve`` (``b`` a stack of matrices; a vector ``b`` is a one-column matrix),
``solve_triangular`` (``lower``, ``trans``, ``unit_diagonal``: the rules of ``cholesky`` and ``qr`` need it, and
tapegrad.scipy.linalg exposes it), ``det``, ``logabsdet`` (what ``slogdet`` differentiates; its sign has no
gradient), ``cholesky`` and ``cholesky_backward`` (its VJP, a primitive of its own: Murray's blocked
algorithm), ``eigh``, ``qr`` (reduced), ``svd`` (thin) and ``pinv``. When SciPy is installed, the triangular
solve runs BLAS's trsm and the Cholesky factor LAPACK's potrf through it (imported at the first call; NumPy
alone otherwise, slower). The composites (``norm``, ``matrix_power``, ``multi_dot``, ``lstsq``, ...) are written
against ``xp`` too, so that the Tensor runs them through its graph namespace.

Functions with several outputs (``eigh``, ``qr``, ``svd``) are one primitive each, whose output packs
the results along the last axis (batch axes kept in front): one decomposition per call, and the
pieces are ``getitem``/``reshape`` of the packed output, so their gradients flow into the one rule
that knows them all (the eigenvectors' gradient needs the eigenvalues). See :func:`unpack`.

Triangle convention: NumPy's ``cholesky`` and ``eigh`` read one triangle of their input (the lower one
unless ``upper=True`` / ``UPLO='U'``). The gradients here are the exact derivatives of that function:
the other triangle gets 0, and an off-diagonal entry of the read triangle stands for both entries of
the symmetric matrix. PyTorch and JAX return the symmetrized gradient instead; the two agree on every
function of a symmetric matrix built upstream (``K = X @ X.T``, a kernel), where the chain rule adds
both triangles.

Where a derivative does not exist (repeated eigenvalues or singular values, a singular matrix) the
rules give inf or NaN as PyTorch and JAX do, and each primitive's ``expects`` text names the cause,
which ``tg.detect_anomaly()`` quotes.

Complex matrices (issue 18) get PyTorch's conjugate Wirtinger gradients: ``inv``, ``solve``,
``solve_triangular`` and ``det`` are holomorphic (their rules run between two conjugations, see
tapegrad/ops/complex_numbers.py); the others' rules are written for complex values: the real formulas with
each transpose of a factor or gradient made the conjugate transpose (:func:`_mH`, a plain transpose of real
values, so that real matrices run the same operations as before). ``cholesky`` and ``eigh`` read a Hermitian
matrix from one triangle and the real part of the diagonal, as LAPACK does; eigenvalues and singular values are
real (the real parts of their entries in the packed complex output). Eigenvectors and singular vectors are fixed
only up to a phase each, which LAPACK picks: a loss that depends on the phases has no gradient, and the VJPs
raise BackwardError for one, as PyTorch's do (:func:`_check_phases`).
"""

from __future__ import annotations

import math
import weakref
from functools import lru_cache
from types import ModuleType

import numpy as np

from ..errors import ArgumentError, BackwardError, DTypeError, LinAlgError, ShapeError, TapegradError
from . import batching as B
from .registry import Primitive
from .shape import shown

# -- checks -----------------------------------------------------------------------------------------


def check_square(a, op: str) -> None:
    """Raises ShapeError unless ``a`` is a square matrix or a stack of them."""
    shape = np.shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(f"{op}: got shape {shape}; expected a square matrix or a stack of square matrices "
                         "(shape (..., n, n))")


def check_matrix(a, op: str) -> None:
    """Raises ShapeError unless ``a`` has at least 2 dimensions."""
    if np.ndim(a) < 2:
        raise ShapeError(f"{op}: got shape {np.shape(a)}; expected a matrix or a stack of matrices "
                         "(at least 2 dimensions)")


def check_float(a, op: str) -> None:
    """Raises DTypeError for a dtype NumPy's LAPACK routines do not take here (complex, object)."""
    if np.asarray(a).dtype.kind not in "biuf":
        raise DTypeError(f"{op}: got dtype {np.asarray(a).dtype}; expected real numbers")


def check_numbers(a, op: str) -> None:
    """Raises DTypeError for a dtype LAPACK does not take (object, strings): real or complex numbers pass."""
    if np.asarray(a).dtype.kind not in "biufc":
        raise DTypeError(f"{op}: got dtype {np.asarray(a).dtype}; expected real or complex numbers")


def _lapack(op: str, func, *arrays, **options):
    """``func(*arrays)`` with NumPy's LinAlgError turned into tapegrad's, naming ``op`` and the shapes."""
    try:
        return func(*arrays, **options)
    except np.linalg.LinAlgError as exc:
        shapes = ", ".join(str(np.shape(a)) for a in arrays)
        raise LinAlgError(f"{op}: {exc} (input shape{'s' if len(arrays) > 1 else ''} {shapes})") from None


# -- helpers for the rules (arrays or Tensors, through xp) ------------------------------------------------


def _mT(xp, x):
    """The matrix transpose of the last two axes."""
    return xp.transpose(x, axes=tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def _col(xp, x):
    """``x[..., :, None]``."""
    return xp.reshape(x, shape=tuple(x.shape) + (1,))


def _row(xp, x):
    """``x[..., None, :]``."""
    return xp.reshape(x, shape=tuple(x.shape[:-1]) + (1, x.shape[-1]))


def _diagonal(xp, x):
    """The diagonal of each matrix, shape ``(..., n)``."""
    return xp.sum(x * np.eye(x.shape[-1], dtype=bool), axis=-1)


def _trace(xp, x):
    return xp.sum(x * np.eye(x.shape[-1], dtype=bool), axis=(-2, -1))


@lru_cache(maxsize=32)
def _tri_mask(n: int, lower: bool, k: int = 0) -> np.ndarray:
    """The boolean mask of the lower (or upper) triangle, ``k`` diagonals beyond the main one; cached (the
    rules of large matrices would otherwise build it at every call), read-only."""
    mask = np.tril(np.ones((n, n), dtype=bool), k) if lower else np.triu(np.ones((n, n), dtype=bool), -k)
    mask.flags.writeable = False
    return mask


def _complex(x) -> bool:
    return x.dtype.kind == "c"


def _conj(xp, x):
    """``conj(x)``; ``x`` itself when it is real (no copy: the real rules run as before complex support)."""
    return xp.conjugate(x) if x.dtype.kind == "c" else x


def _mH(xp, x):
    """The conjugate transpose of the last two axes (the transpose of a real ``x``)."""
    return xp.conjugate(_mT(xp, x)) if x.dtype.kind == "c" else _mT(xp, x)


def _solve_lower_h(xp, low, b):
    """``L^-H b`` for a lower triangular ``L`` (``L^-T b`` when real): the transposed solve with ``conj(L)``."""
    return xp.solve_triangular(_conj(xp, low), b, lower=True, trans=True)


def _read_triangle(xp, t, lower: bool):
    """The symmetric (Hermitian) matrix a function that reads only one triangle of ``t`` sees. Of a complex
    ``t``, LAPACK reads the real part of the diagonal only (the imaginary parts of a Hermitian matrix's
    diagonal are 0), so the diagonal's imaginary part is dropped."""
    n = t.shape[-1]
    if t.dtype.kind == "c":
        strict = t * _tri_mask(n, lower, -1)
        return strict + _mH(xp, strict) + xp.real(t) * np.eye(n, dtype=bool)
    return t * _tri_mask(n, lower) + _mT(xp, t * _tri_mask(n, lower, -1))


def _to_triangle(xp, g, lower: bool):
    """The adjoint of :func:`_read_triangle`: a gradient with respect to the symmetric (Hermitian) matrix,
    moved onto the triangle that was read (for complex values: the real part of the diagonal)."""
    n = g.shape[-1]
    if g.dtype.kind == "c":
        return (g + _mH(xp, g)) * _tri_mask(n, lower, -1) + xp.real(g) * np.eye(n, dtype=bool)
    return g * _tri_mask(n, lower) + _mT(xp, g) * _tri_mask(n, lower, -1)


def _inverse_gaps(xp, values, squared: bool = False):
    """``F[..., i, j] = 1 / (v_j - v_i)`` off the diagonal (of the squares if ``squared``), 0 on it:
    inf where two values coincide (the derivative does not exist there)."""
    v = values * values if squared else values
    eye = np.eye(v.shape[-1], dtype=v.dtype)
    with np.errstate(divide="ignore"):
        return 1 / (_row(xp, v) - _col(xp, v) + eye) - eye


def _unused(g) -> bool:
    """A gradient that is exactly 0 in the fast path: an output the caller did not use. Its term is
    skipped, so that using only the eigenvalues (or singular values) of a degenerate matrix gives a
    finite gradient, as in PyTorch and JAX."""
    return isinstance(g, np.ndarray) and not g.any()


def pack(xp, parts):
    """Several results as one array: each flattened over its own axes, joined along the last axis (the
    last result is a stack of matrices, whose leading axes are the batch axes)."""
    batch = tuple(parts[-1].shape[:-2])
    flat = [xp.reshape(p, shape=batch + (math.prod(p.shape[len(batch):]),)) for p in parts]
    return xp.concatenate(*flat, axis=-1)


def unpack(xp, packed, shapes):
    """The results :func:`pack` joined, each of shape ``batch + shapes[i]``."""
    batch = tuple(packed.shape[:-1])
    pieces, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        piece = xp.getitem(packed, index=(Ellipsis, slice(start, start + size)))
        pieces.append(xp.reshape(piece, shape=batch + tuple(shape)))
        start += size
    return pieces


# -- inv, solve, solve_triangular, det, logabsdet ----------------------------------------------------------


def _inv(a):
    check_square(a, "inv")
    return _lapack("inv", np.linalg.inv, a)


inv = Primitive(
    "inv", _inv, batch=B.leading, saves_ans=True,
    vjps=(lambda xp, g, ans, a: -xp.matmul(xp.matmul(_mT(xp, ans), g), _mT(xp, ans)),),
    jvps=(lambda xp, t, ans, a: -xp.matmul(xp.matmul(ans, t), ans),),
    derivatives=("-{a}^-T · g · {a}^-T",),
    expects_says_nonfinite=True,
    expects="a stack of square invertible matrices (a singular one has no inverse, and a nearly singular "
            "one gives inf or NaN)",
)


def _solve(a, b):
    check_square(a, "solve")
    if np.ndim(b) < 2 or np.shape(b)[-2] != np.shape(a)[-1]:
        raise ShapeError(f"solve: a has shape {np.shape(a)} and b {np.shape(b)}; expected b of shape (..., "
                         f"{np.shape(a)[-1]}, k) (or ({np.shape(a)[-1]},) for a vector)")
    try:
        np.broadcast_shapes(np.shape(a)[:-2], np.shape(b)[:-2])
    except ValueError:
        raise ShapeError(f"solve: the batch axes of a {np.shape(a)} and b {np.shape(b)} do not broadcast") from None
    return _lapack("solve", np.linalg.solve, a, b)


def _solve_vjp_all(xp, g, ans, a, b):
    gb = xp.solve(_mT(xp, a), g)
    return -xp.matmul(gb, _mT(xp, ans)), gb


solve = Primitive(
    "solve", _solve, batch=B.stacked(2), saves_ans=True, vjp_all=_solve_vjp_all,
    jvps=(lambda xp, t, ans, a, b: -xp.solve(a, xp.matmul(t, ans)), lambda xp, t, ans, a, b: xp.solve(a, t)),
    expects_says_nonfinite=True,
    expects="a stack of square invertible matrices a (..., n, n) and right-hand sides b (..., n, k) whose "
            "batch axes broadcast (a singular a gives inf or NaN)",
)


@lru_cache(maxsize=1)
def scipy_blas_lapack() -> tuple[ModuleType, ModuleType] | None:
    """``(scipy.linalg.blas, scipy.linalg.lapack)``, imported at the first call, or None without SciPy: the
    triangular solve and the Cholesky factor then use NumPy alone (slower, same results)."""
    try:
        from scipy.linalg import blas, lapack
    except ImportError:
        return None
    return blas, lapack


def lapack_dtype(*arrays) -> np.dtype:
    """The floating dtype LAPACK computes in for these inputs: float32 stays float32 (complex64 complex64),
    integers give float64."""
    dtype = np.result_type(*arrays)
    return np.dtype(np.float64) if dtype.kind in "biu" else np.result_type(dtype, np.float32)


def _column_major(a):
    """``(m, flipped)``: ``a`` itself when it is column-major (Fortran-ordered), else its transpose, which is;
    BLAS and LAPACK then read ``a`` without a copy."""
    if a.flags.f_contiguous:
        return a, False
    return (a if a.flags.c_contiguous else np.ascontiguousarray(a)).T, True


_TRSM = {np.dtype(np.float64): "dtrsm", np.dtype(np.float32): "strsm", np.dtype(np.complex128): "ztrsm",
         np.dtype(np.complex64): "ctrsm"}


def _trsm(blas, a, b, lower, trans, unit):
    """``op(a)^-1 b`` for one triangular ``(n, n)`` matrix and an ``(n, k)`` right-hand side of one float
    (or complex) dtype, by BLAS's trsm; neither operand is copied to change its layout (a row-major array is
    the column-major transpose: then ``x^T = b^T op(a)^-T`` is solved from the right). ``op`` transposes
    without conjugating."""
    trsm = getattr(blas, _TRSM[a.dtype])
    m, flip = _column_major(a)
    if b.flags.f_contiguous:
        return trsm(1.0, m, b, side=0, lower=int(lower != flip), trans_a=int(trans != flip), diag=int(unit))
    return trsm(1.0, m, b.T, side=1, lower=int(lower != flip), trans_a=int(trans == flip), diag=int(unit)).T


def _gemm(a, b):
    """``a @ b`` for two matrices of one float dtype, by SciPy's BLAS when it is installed: the Cholesky
    primitives then run every large product, solve and factorization in one BLAS library (NumPy and SciPy
    each bring their own OpenBLAS, and one's idle threads spin on the cores the other needs)."""
    modules = scipy_blas_lapack()
    if modules is None or a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        return a @ b
    gemm = modules[0].dgemm if a.dtype == np.float64 else modules[0].sgemm
    # column-major: (a b)^T = b^T a^T; a C-ordered operand is its transpose, an F-ordered one is itself
    a = a if a.flags.c_contiguous or a.flags.f_contiguous else np.ascontiguousarray(a)
    b = b if b.flags.c_contiguous or b.flags.f_contiguous else np.ascontiguousarray(b)
    first, trans_first = (b.T, 0) if b.flags.c_contiguous else (b, 1)
    second, trans_second = (a.T, 0) if a.flags.c_contiguous else (a, 1)
    return gemm(1.0, first, second, trans_a=trans_first, trans_b=trans_second).T


def _solve_triangular(a, b, lower=True, trans=False, unit_diagonal=False):
    check_square(a, "solve_triangular")
    check_numbers(a, "solve_triangular")
    check_numbers(b, "solve_triangular")
    if np.ndim(b) < 2 or np.shape(b)[-2] != np.shape(a)[-1]:
        raise ShapeError(f"solve_triangular: a has shape {np.shape(a)} and b {np.shape(b)}; expected b of shape "
                         f"(..., {np.shape(a)[-1]}, k)")
    try:
        batch = np.broadcast_shapes(np.shape(a)[:-2], np.shape(b)[:-2])
    except ValueError:
        raise ShapeError(f"solve_triangular: the batch axes of a {np.shape(a)} and b {np.shape(b)} do not "
                         "broadcast") from None
    dtype = lapack_dtype(a, b)
    a, b = np.asarray(a, dtype=dtype), np.asarray(b, dtype=dtype)
    n, k = a.shape[-1], b.shape[-1]
    out_shape = batch + (n, k)
    if n == 0 or k == 0 or math.prod(batch) == 0:
        return np.zeros(out_shape, dtype)
    if not unit_diagonal and not np.all(np.diagonal(a, axis1=-2, axis2=-1)):
        raise LinAlgError(f"solve_triangular: singular matrix: a 0 on the diagonal of a (input shapes {a.shape}, "
                          f"{b.shape})")
    modules = scipy_blas_lapack()
    count = math.prod(batch)
    if modules is None or (count > 1 and n < 32):
        # NumPy has no triangular solver: LU of the triangle gives the same answer (at LU's cost), and
        # loops over a stack of small matrices in C.
        tri = a * _tri_mask(n, lower, -1 if unit_diagonal else 0)
        if unit_diagonal:
            tri = tri + np.eye(n, dtype=dtype)
        if trans:
            tri = np.swapaxes(tri, -1, -2)
        return _lapack("solve_triangular", np.linalg.solve, tri, b)
    if count == 1:
        return _trsm(modules[0], a.reshape(n, n), b.reshape(n, k), lower, trans, unit_diagonal).reshape(out_shape)
    out = np.empty(out_shape, dtype)
    a, b = np.broadcast_to(a, batch + (n, n)), np.broadcast_to(b, out_shape)
    for index in np.ndindex(*batch):
        out[index] = _trsm(modules[0], a[index], b[index], lower, trans, unit_diagonal)
    return out


def _solve_triangular_vjp_all(xp, g, ans, a, b, lower=True, trans=False, unit_diagonal=False):
    gb = xp.solve_triangular(a, g, lower=lower, trans=not trans, unit_diagonal=unit_diagonal)
    # -gb x^T (-x gb^T with trans) on the triangle read; negated before the product (n k entries, not n^2),
    # and for one right-hand side an outer product by broadcasting (no matrix product)
    u, v = (ans, gb) if trans else (gb, ans)
    outer = -u * _mT(xp, v) if g.shape[-1] == 1 else xp.matmul(-u, _mT(xp, v))
    return outer * _tri_mask(a.shape[-1], lower, -1 if unit_diagonal else 0), gb


def _solve_triangular_jvp_a(xp, t, ans, a, b, lower=True, trans=False, unit_diagonal=False):
    dt = t * _tri_mask(a.shape[-1], lower, -1 if unit_diagonal else 0)
    return -xp.solve_triangular(a, xp.matmul(_mT(xp, dt) if trans else dt, ans), lower=lower, trans=trans,
                                unit_diagonal=unit_diagonal)


solve_triangular = Primitive(
    "solve_triangular", _solve_triangular, batch=B.stacked(2), saves_ans=True, vjp_all=_solve_triangular_vjp_all,
    jvps=(_solve_triangular_jvp_a,
          lambda xp, t, ans, a, b, lower=True, trans=False, unit_diagonal=False:
          xp.solve_triangular(a, t, lower=lower, trans=trans, unit_diagonal=unit_diagonal)),
    expects_says_nonfinite=True,
    expects="triangular matrices a (..., n, n) with a nonzero diagonal (only the triangle named by 'lower' is "
            "read; not its diagonal with unit_diagonal=True) and right-hand sides b (..., n, k); trans=True "
            "solves with a's transpose",
)


def _det(a):
    check_square(a, "det")
    return _lapack("det", np.linalg.det, a)


def _det_vjp(xp, g, ans, a):
    return _col(xp, _col(xp, g * ans)) * _mT(xp, xp.inv(a))


det = Primitive(
    "det", _det, batch=B.leading, saves_ans=True, vjps=(_det_vjp,),
    jvps=(lambda xp, t, ans, a: ans * _trace(xp, xp.solve(a, t)),),
    derivatives=("det({a}) {a}^-T",),
    expects_says_nonfinite=True,
    expects="a stack of square matrices; the gradient needs them invertible (at a singular matrix the "
            "adjugate formula is not used: the gradient raises LinAlgError)",
)


def _logabsdet(a):
    check_square(a, "slogdet")
    return _lapack("slogdet", np.linalg.slogdet, a)[1]


def _logabsdet_vjp(xp, g, ans, a):
    inverse_t = _mT(xp, xp.inv(a))
    if a.dtype.kind == "c":  # d log|det a| = Re(tr(a^-1 da)): the gradient is a^-H
        inverse_t = xp.conjugate(inverse_t)
    return _col(xp, _col(xp, g)) * inverse_t


def _logabsdet_jvp(xp, t, ans, a):
    change = _trace(xp, xp.solve(a, t))
    return xp.real(change) if change.dtype.kind == "c" else change


logabsdet = Primitive(
    "logabsdet", _logabsdet, batch=B.leading,
    vjps=(_logabsdet_vjp,),
    jvps=(_logabsdet_jvp,),
    derivatives=("{a}^-T",),
    expects_says_nonfinite=True,
    expects="a stack of square invertible matrices (log|det| is -inf at a singular one)",
)


# -- cholesky --------------------------------------------------------------------------------------------


def _cholesky(a, upper=False):
    check_square(a, "cholesky")
    modules = scipy_blas_lapack()
    n = np.shape(a)[-1]
    count = math.prod(np.shape(a)[:-2])
    kind = np.asarray(a).dtype.kind
    if modules is None or n == 0 or count == 0 or (count > 1 and n < 32) or kind not in "fc" \
            or kind == "c" and a.dtype not in _TRSM:
        return _lapack("cholesky", np.linalg.cholesky, a, upper=upper)
    # LAPACK's potrf through SciPy: twice as fast as np.linalg.cholesky on large matrices. A row-major
    # matrix is the column-major transpose: its lower factor is the upper factor of what potrf sees (for a
    # complex matrix too: that transpose is conj(A) = (L^T)^H L^T, whose upper factor is L^T).
    potrf = getattr(modules[1], {np.float64: "d", np.complex128: "z", np.complex64: "c"}.get(a.dtype.type, "s")
                    + "potrf")

    def one(m):
        col, flip = _column_major(m)
        factor, info = potrf(col, lower=int(upper == flip), clean=1)
        if info > 0:
            raise LinAlgError(f"cholesky: Matrix is not positive definite (input shape {a.shape})")
        return factor.T if flip else factor

    if count == 1:
        return one(a.reshape(n, n)).reshape(a.shape)
    flat = a.reshape(-1, n, n)
    out = np.empty(flat.shape, a.dtype)
    for i, m in enumerate(flat):
        out[i] = one(m)
    return out.reshape(a.shape)


@lru_cache(maxsize=16)
def _phi_mask(n: int, dtype: np.dtype) -> np.ndarray:
    mask = (np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)).astype(dtype)
    mask.flags.writeable = False
    return mask


def _phi(x):
    """The lower triangle of ``x`` with its diagonal halved (Murray 2016's Phi)."""
    return x * _phi_mask(x.shape[-1], np.dtype(x.dtype))


def _sym_to_lower(xp, s):
    """What a function reading the lower triangle gets from the gradient ``s`` of the symmetric (Hermitian)
    matrix it sees: ``(s + s^H)/2`` on the diagonal (real), ``s + s^H`` below it, 0 above."""
    n = s.shape[-1]
    return (s + _mH(xp, s)) * _phi_mask(n, np.dtype(s.dtype))


# Complex matrices (Hermitian, A = L L^H): every rule below is the real one with each transpose of a factor
# or gradient made the conjugate transpose (_mH, and L^-H solves as transposed solves with conj(L)); the
# diagonal of dL stays real because Phi of a Hermitian matrix has a real diagonal. For real matrices these are
# the plain transposes, at the cost they always had.


def _cholesky_vjp(xp, g, ans, a, upper=False):
    # Work with the lower factor L (A = L L^H); for upper=True the output is L^H, the gradient its conjugate
    # transpose (the adjoint of X -> X^H for the real inner product Re(sum(conj(a) b))).
    if upper:
        return _mH(xp, xp.cholesky_backward(_mH(xp, ans), _mH(xp, g)))
    return xp.cholesky_backward(ans, g)


def _cholesky_jvp(xp, t, ans, a, upper=False):
    low = _mH(xp, ans) if upper else ans
    sym = _read_triangle(xp, t, not upper)
    half = xp.solve_triangular(low, sym, lower=True)  # L^-1 T
    inner = _mH(xp, xp.solve_triangular(low, _mH(xp, half), lower=True))  # L^-1 T L^-H
    dlow = xp.matmul(low, _phi(inner))
    return _mH(xp, dlow) if upper else dlow


cholesky = Primitive(
    "cholesky", _cholesky, batch=B.leading, saves_ans=True, vjps=(_cholesky_vjp,), jvps=(_cholesky_jvp,),
    expects_says_nonfinite=True,
    expects="a stack of symmetric (Hermitian) positive-definite matrices (only the lower triangle is read, the "
            "upper one with upper=True; of a complex diagonal, the real part)",
)


# -- cholesky_backward: the VJP of cholesky, as a primitive of its own ------------------------------------
#
# cholesky_backward(L, G) is the gradient, on the lower triangle of A, of <G, cholesky(A)> where L = cholesky(A):
# F(L, G) = T(L^-T Phi(L^T G) L^-1), T(S) = _sym_to_lower(S) (Murray 2016, eq. 10); for complex values
# (A = L L^H, the gradient of Re<G, cholesky(A)>) F(L, G) = T(L^-H Phi(L^H G) L^-1), T(S) = (S + S^H) o phi.
# Only the lower triangles of L and G are read. Its forward runs Murray's blocked algorithm (the reverse of
# LAPACK's blocked potrf): about 2n^3/3 flops in matrix products, where the formula costs 3n^3 in a product
# and two triangular solves with n right-hand sides. Its own rules (second and higher derivatives of
# cholesky) are the formula's derivatives, written against xp.


_BLOCK = 128  # the block size of the blocked algorithm (the formula below it)


def _solve_lower(low, b, trans=False):
    return _solve_triangular(low, b, lower=True, trans=trans)


def _h(x):
    """The conjugate transpose of a NumPy array's last two axes (a view for real ones)."""
    x = np.swapaxes(x, -1, -2)
    return x.conj() if x.dtype.kind == "c" else x


def _cholesky_backward_formula(low, g):
    """F(L, G) by the formula, in NumPy (stacks of matrices at once)."""
    low = low * _tri_mask(low.shape[-1], True)
    p = _phi(np.matmul(_h(low), g))
    left = _solve_lower(low.conj() if low.dtype.kind == "c" else low, p, trans=True)  # L^-H P
    s = np.swapaxes(_solve_lower(low, np.swapaxes(left, -1, -2), trans=True), -1, -2)  # L^-H P L^-1
    return (s + _h(s)) * _phi_mask(s.shape[-1], np.dtype(s.dtype))


def _cholesky_backward_blocked(low, g):
    """F(L, G) for one matrix by the reverse of the blocked (left-looking) Cholesky factorization: block
    column J = [j, e) of L is chol(A_JJ - R R^T) on the diagonal and (A_KJ - B R^T) L_JJ^-T below it, with
    R = L[J, :j], B = L[e:, :j]; going through the blocks backwards, each step turns the gradient of block
    column J into the gradient of A's block column J and takes its share from the gradients of R and B. For
    complex values (A = L L^H) every transpose is the conjugate transpose."""
    n = low.shape[-1]
    abar = np.array(g, order="C")  # the upper triangle is zeroed block row by block row (it is not read)
    eye = np.eye(min(_BLOCK, n), dtype=low.dtype)
    for j in reversed(range(0, n, _BLOCK)):
        e = min(j + _BLOCK, n)
        abar[j:e, e:] = 0
        ljj = low[j:e, j:e] * _tri_mask(e - j, True)
        inv = _solve_lower(ljj, eye[:e - j, :e - j])  # L_JJ^-1, for the products below
        if e < n:
            cbar = _gemm(abar[e:, j:e], inv)  # the gradient of A_KJ - B R^T
            abar[e:, j:e] = cbar
            abar[j:e, j:e] -= _gemm(_h(cbar), low[e:, j:e])
            if j:
                abar[e:, :j] -= _gemm(cbar, low[j:e, :j])
        # the gradient of A_JJ - R R^T: F(L_JJ, Gbar_JJ) by the formula
        s = _gemm(_gemm(_h(inv), _phi(_gemm(_h(ljj), abar[j:e, j:e]))), inv)
        dbar = (s + _h(s)) * _phi_mask(e - j, np.dtype(s.dtype))
        abar[j:e, j:e] = dbar
        if j:  # the shares of R (through A_JJ - R R^T and A_KJ - B R^T), in one product
            left = dbar + _h(dbar) if e == n else np.concatenate([dbar + _h(dbar), _h(cbar)], axis=1)
            abar[j:e, :j] -= _gemm(left, low[j:, :j])
    return abar


def _cholesky_backward(low, g):
    check_square(low, "cholesky_backward")
    dtype = lapack_dtype(low, g)
    low, g = np.asarray(low, dtype=dtype), np.asarray(g, dtype=dtype)
    shape = np.broadcast_shapes(low.shape, g.shape)
    n = shape[-1]
    if n <= _BLOCK or math.prod(shape) == 0:
        return _cholesky_backward_formula(low, g)
    low, g = np.broadcast_to(low, shape), np.broadcast_to(g, shape)
    out = np.empty(shape, dtype)
    for index in np.ndindex(*shape[:-2]):
        out[index] = _cholesky_backward_blocked(low[index], g[index])
    return out


def _cholesky_backward_vjp_all(xp, h, ans, low, g):
    n = low.shape[-1]
    tril = _tri_mask(n, True)
    r = _read_triangle(xp, h, True)  # the adjoint of _sym_to_lower
    half = xp.solve_triangular(low, r, lower=True)  # L^-1 R
    phy = _phi(_mH(xp, xp.solve_triangular(low, _mH(xp, half), lower=True)))  # Phi(L^-1 R L^-H)
    ssym = (ans + _mH(xp, ans)) * 0.5  # the symmetric (Hermitian) part of S (ans is T(S))
    first = _mH(xp, xp.solve_triangular(low, xp.matmul(r, ssym), lower=True))  # S_sym R L^-H
    gl = (xp.matmul(g, _mH(xp, phy)) - 2 * first) * tril
    return gl, xp.matmul(low * tril, phy)


def _cholesky_backward_jvp_l(xp, t, ans, low, g):
    n = low.shape[-1]
    dl = t * _tri_mask(n, True)
    ssym = (ans + _mH(xp, ans)) * 0.5
    inner = _solve_lower_h(xp, low, _phi(xp.matmul(_mH(xp, dl), g)))  # L^-H Phi(dL^H G)
    total = inner - 2 * xp.matmul(ssym, dl)  # times L^-1 from the right:
    s = _mT(xp, xp.solve_triangular(low, _mT(xp, total), lower=True, trans=True))
    return _sym_to_lower(xp, s)


cholesky_backward = Primitive(
    "cholesky_backward", _cholesky_backward, batch=B.stacked(2), saves_ans=True, vjp_all=_cholesky_backward_vjp_all,
    jvps=(_cholesky_backward_jvp_l, lambda xp, t, ans, low, g: xp.cholesky_backward(low, t)),
    expects_says_nonfinite=True,
    expects="a stack of Cholesky factors L (lower triangular, nonzero diagonal; only the lower triangle is "
            "read) and gradients G of the factor (only their lower triangle is read)",
)


# -- eigh ------------------------------------------------------------------------------------------------


def _eigh(a, UPLO="L"):  # noqa: N803 (NumPy's name)
    check_square(a, "eigh")
    w, v = _lapack("eigh", np.linalg.eigh, a, UPLO=UPLO)
    return pack(_NP, [w, v])


def eigh_shapes(n: int) -> list[tuple[int, ...]]:
    """The shapes :func:`unpack` cuts the packed output of ``eigh`` of an ``(..., n, n)`` input into."""
    return [(n,), (n, n)]


# Complex (Hermitian) matrices, A = V W V^H: the packed output is complex, its eigenvalues' entries real (their
# imaginary parts are 0 and take no gradient: the rules read the real parts). Each eigenvector is fixed only
# up to a phase exp(i phi) (LAPACK picks one); the JVP gives the change with V^H dV of zero diagonal, and a
# loss is well defined only if it does not depend on the phases, i.e. Im(diag(V^H gV)) = 0. As PyTorch does,
# the VJP raises BackwardError when it can read that the loss does (see _check_phases).

#: How far a loss may seem to depend on the phases of complex eigenvectors or singular vectors (relative to the
#: norm of each vector's gradient) before the VJP refuses it: far above rounding (PyTorch allows 1e-2, absolute).
PHASE_TOLERANCE = 1e-3


def _readable(x) -> np.ndarray | None:
    """The values of ``x`` (an array, or a Tensor's own array of its shape), or None where they are not
    at hand (a value batched by vmap)."""
    if isinstance(x, np.ndarray):
        return x
    try:
        data = getattr(x, "data", None)
    except TapegradError:  # a batched value (one per example) has no single array
        return None
    return data if isinstance(data, np.ndarray) and data.shape == tuple(x.shape) else None


#: The input matrices of eigh and svd nodes that a recorded backward pass (create_graph) went through. That
#: pass recomputes the node's result from its inputs (tapegrad.engine.backward), so that a later pass through
#: its graph (a second derivative) reaches the decomposition twice, through the node and through the
#: recomputation, each with a part of the cotangent: parts that need not be phase-invariant on their own, though
#: their sum is (and the rules drop the phases' part of each, so the sum is right). The check skips those.
_RECORDED: weakref.WeakValueDictionary[int, np.ndarray] = weakref.WeakValueDictionary()


def _check_phases(op: str, what: str, a, products, norms) -> None:
    """Raises BackwardError when the imaginary parts of the diagonals of ``products`` (``V^H gV``, for svd
    ``U^H gU`` and ``V^H gV`` summed: the loss's derivative along each vector's phase) exceed
    :data:`PHASE_TOLERANCE` times ``norms`` (those of the vectors' gradients), where the values are at hand
    and the cotangent is the whole of the loss's (not after a recorded backward pass through the node)."""
    matrix = _readable(a)
    if matrix is None or _RECORDED.get(id(matrix)) is matrix:
        return
    values = [_readable(p) for p in products]
    scale = [_readable(n) for n in norms]
    if any(v is None for v in values + scale):
        return
    drift = abs(sum(np.diagonal(v, axis1=-2, axis2=-1).imag for v in values))
    size = sum(np.linalg.norm(n, axis=-2) for n in scale)
    if np.any(drift > PHASE_TOLERANCE * size):
        raise BackwardError(
            f"{op}: the loss depends on the phases of the complex {what}, which are arbitrary (each is fixed "
            "only up to a factor exp(i phi), LAPACK picks one), so its gradient is not defined; use a loss "
            "that does not depend on them (as PyTorch requires), e.g. of abs(v), of v v^H or of the values "
            f"(derivative along a phase: up to {float(np.max(drift / np.maximum(size, 1e-300))):.3g} times the "
            "norm of the vector's gradient)")
    if not isinstance(products[0], np.ndarray):  # a recorded pass
        _RECORDED[id(matrix)] = matrix


def _eigh_vjp(xp, g, ans, a, UPLO="L"):  # noqa: N803
    n = a.shape[-1]
    w, v = unpack(xp, ans, eigh_shapes(n))
    gw, gv = unpack(xp, g, eigh_shapes(n))
    if _complex(ans):
        w, gw = xp.real(w), xp.real(gw)
    inner = _row(xp, gw) * np.eye(n, dtype=bool)
    if not _unused(gv):
        vg = xp.matmul(_mH(xp, v), gv)
        if _complex(vg):
            _check_phases("eigh", "eigenvectors", a, [vg], [gv])
        inner = inner + _inverse_gaps(xp, w) * vg
    full = xp.matmul(xp.matmul(v, inner), _mH(xp, v))
    return _to_triangle(xp, full, UPLO == "L")


def _eigh_jvp(xp, t, ans, a, UPLO="L"):  # noqa: N803
    n = a.shape[-1]
    w, v = unpack(xp, ans, eigh_shapes(n))
    m = xp.matmul(xp.matmul(_mH(xp, v), _read_triangle(xp, t, UPLO == "L")), v)
    if _complex(ans):
        w, dw = xp.real(w), xp.astype(xp.real(_diagonal(xp, m)), dtype=ans.dtype)
    else:
        dw = _diagonal(xp, m)
    dv = xp.matmul(v, _inverse_gaps(xp, w) * m)
    return pack(xp, [dw, dv])


eigh = Primitive(
    "eigh", _eigh, batch=B.leading, saves_ans=True, vjps=(_eigh_vjp,), jvps=(_eigh_jvp,),
    expects_says_nonfinite=True,
    expects="a stack of symmetric (Hermitian) matrices (one triangle read, as UPLO says); where eigenvalues "
            "repeat the gradient of the eigenvectors does not exist (inf or NaN, as in PyTorch and JAX): use only "
            "the eigenvalues (eigvalsh), or separate them; of complex eigenvectors only losses that do not "
            "depend on their phases",
)


# -- qr (reduced) ----------------------------------------------------------------------------------------


def _qr(a):
    check_matrix(a, "qr")
    q, r = _lapack("qr", np.linalg.qr, a, mode="reduced")
    return pack(_NP, [q, r])


def qr_shapes(m: int, n: int) -> list[tuple[int, ...]]:
    """The shapes of Q and R in the packed output of ``qr`` of an ``(..., m, n)`` input."""
    k = min(m, n)
    return [(m, k), (k, n)]


# Complex matrices: LAPACK's R has a real diagonal, which makes the factorization unique near a full-rank
# matrix (no phase to choose) and dR's diagonal real; the rules are the real ones with conjugate transposes,
# Q^H dQ skew-Hermitian (its diagonal imaginary, copyltu Hermitian with a real diagonal).


def _copyltu(xp, m):
    """The symmetric (Hermitian: real diagonal) matrix whose lower triangle is ``m``'s."""
    n = m.shape[-1]
    low = m * _tri_mask(n, True, -1)
    diagonal = (xp.real(m) if _complex(m) else m) * np.eye(n, dtype=bool)
    return low + _mH(xp, low) + diagonal


def _qr_tall_vjp(xp, gq, gr, q, r):
    m = xp.matmul(r, _mH(xp, gr)) - xp.matmul(_mH(xp, gq), q)
    b = gq + xp.matmul(q, _copyltu(xp, m))
    return _mH(xp, xp.solve_triangular(r, _mH(xp, b), lower=False))  # b R^-H


def _qr_tall_jvp(xp, t, q, r):
    d = _mT(xp, xp.solve_triangular(_mT(xp, r), _mT(xp, t), lower=True))  # dA R^-1
    c = xp.matmul(_mH(xp, q), d)
    low = c * _tri_mask(c.shape[-1], True, -1)
    omega = low - _mH(xp, low)  # Q^H dQ; for complex values also i Im(diag(c)) (dR R^-1 has a real diagonal)
    if _complex(c):
        omega = omega + (xp.imag(c) * np.eye(c.shape[-1], dtype=bool)) * 1j
    return d - xp.matmul(q, c - omega), xp.matmul(c - omega, r)


def _qr_vjp(xp, g, ans, a):
    m, n = a.shape[-2:]
    q, r = unpack(xp, ans, qr_shapes(m, n))
    gq, gr = unpack(xp, g, qr_shapes(m, n))
    if m >= n:
        return _qr_tall_vjp(xp, gq, gr, q, r)
    # A = Q [R1 R2] with X = A[..., :m] = Q R1 (square) and R2 = Q^T Y
    y = xp.getitem(a, index=(Ellipsis, slice(m, None)))
    r1 = xp.getitem(r, index=(Ellipsis, slice(None, m)))
    gr1 = xp.getitem(gr, index=(Ellipsis, slice(None, m)))
    gr2 = xp.getitem(gr, index=(Ellipsis, slice(m, None)))
    gx = _qr_tall_vjp(xp, gq + xp.matmul(y, _mH(xp, gr2)), gr1, q, r1)
    return xp.concatenate(gx, xp.matmul(q, gr2), axis=-1)


def _qr_jvp(xp, t, ans, a):
    m, n = a.shape[-2:]
    q, r = unpack(xp, ans, qr_shapes(m, n))
    if m >= n:
        return pack(xp, list(_qr_tall_jvp(xp, t, q, r)))
    y = xp.getitem(a, index=(Ellipsis, slice(m, None)))
    r1 = xp.getitem(r, index=(Ellipsis, slice(None, m)))
    dq, dr1 = _qr_tall_jvp(xp, xp.getitem(t, index=(Ellipsis, slice(None, m))), q, r1)
    dr2 = xp.matmul(_mH(xp, dq), y) + xp.matmul(_mH(xp, q), xp.getitem(t, index=(Ellipsis, slice(m, None))))
    return pack(xp, [dq, xp.concatenate(dr1, dr2, axis=-1)])


qr = Primitive(
    "qr", _qr, batch=B.leading, saves_ans=True, vjps=(_qr_vjp,), jvps=(_qr_jvp,),
    expects_says_nonfinite=True,
    expects="a stack of matrices whose first min(m, n) columns are linearly independent (R's diagonal is "
            "then nonzero; where it is 0 the derivative does not exist: inf or NaN)",
)


# -- svd (thin) ------------------------------------------------------------------------------------------


def _svd(a):
    check_matrix(a, "svd")
    u, s, vh = _lapack("svd", np.linalg.svd, a, full_matrices=False)
    return pack(_NP, [u, s, vh])


def svd_shapes(m: int, n: int) -> list[tuple[int, ...]]:
    """The shapes of U, S and Vh in the packed output of ``svd`` of an ``(..., m, n)`` input."""
    k = min(m, n)
    return [(m, k), (k,), (k, n)]


# Complex matrices, A = U S V^H: the rules are the real ones with conjugate transposes, and two more terms. The
# singular values' entries of the packed output are real (the rules read the real parts). A pair of singular
# vectors (u_j, v_j) is fixed only up to one common phase exp(i phi): the JVP splits the change of
# Im(diag(U^H dA V)) / S evenly between the phases of U and V (as PyTorch does), the VJP is its adjoint, and a
# loss that depends on the phases (Im(diag(U^H gU + V^H gV)) != 0) raises BackwardError (see _check_phases).


def _svd_vjp(xp, g, ans, a):
    m, n = a.shape[-2:]
    u, s, vh = unpack(xp, ans, svd_shapes(m, n))
    gu, gs, gvh = unpack(xp, g, svd_shapes(m, n))
    complex_ = _complex(ans)
    if complex_:
        s, gs = xp.real(s), xp.real(gs)
    k = min(m, n)
    eye = np.eye(k, dtype=bool)
    inner = _row(xp, gs) * eye
    v = _mH(xp, vh)
    with np.errstate(divide="ignore"):
        if not _unused(gu) or not _unused(gvh):
            f = _inverse_gaps(xp, s, squared=True)
            ug = xp.matmul(_mH(xp, u), gu)
            vg = xp.matmul(vh, _mH(xp, gvh))  # V^H gV, with gV = gVh^H
            # (F o (U^H gU - gU^H U)) S + S (F o (V^H gV - gV^H V))
            inner = inner + (f * (ug - _mH(xp, ug))) * _row(xp, s) + _col(xp, s) * (f * (vg - _mH(xp, vg)))
            if complex_:
                _check_phases("svd", "singular vectors", a, [ug, vg], [gu, _mH(xp, gvh)])
                # the phases' term: i (Im(diag(U^H gU)) - Im(diag(V^H gV))) / 2S on the diagonal
                phases = (_diagonal(xp, xp.imag(ug)) - _diagonal(xp, xp.imag(vg))) / (2 * s)
                inner = inner + (_row(xp, phases) * eye) * 1j
        grad = xp.matmul(xp.matmul(u, inner), vh)
        if not _unused(gu) and m > k:  # (I - U U^H) gU S^-1 V^H
            proj = gu - xp.matmul(u, xp.matmul(_mH(xp, u), gu))
            grad = grad + xp.matmul(proj / _row(xp, s), vh)
        if not _unused(gvh) and n > k:  # U S^-1 gV^H (I - V V^H)
            proj = gvh - xp.matmul(xp.matmul(gvh, v), vh)
            grad = grad + xp.matmul(u, proj / _col(xp, s))
    return grad


def _svd_jvp(xp, t, ans, a):
    m, n = a.shape[-2:]
    u, s, vh = unpack(xp, ans, svd_shapes(m, n))
    complex_ = _complex(ans)
    if complex_:
        s = xp.real(s)
    v = _mH(xp, vh)
    k = min(m, n)
    with np.errstate(divide="ignore"):
        f = _inverse_gaps(xp, s, squared=True)
        dp = xp.matmul(xp.matmul(_mH(xp, u), t), v)
        ds = _diagonal(xp, dp)
        du = xp.matmul(u, f * (dp * _row(xp, s) + _col(xp, s) * _mH(xp, dp)))
        dv = xp.matmul(v, f * (_col(xp, s) * dp + _mH(xp, dp) * _row(xp, s)))
        if complex_:
            ds = xp.astype(xp.real(ds), dtype=ans.dtype)
            phases = _row(xp, xp.imag(_diagonal(xp, dp)) / (2 * s)) * 1j  # half of Im(dP_jj) / s_j each
            du = du + u * phases
            dv = dv - v * phases
        if m > k:
            tv = xp.matmul(t, v)
            du = du + (tv - xp.matmul(u, xp.matmul(_mH(xp, u), tv))) / _row(xp, s)
        if n > k:
            tu = xp.matmul(_mH(xp, t), u)
            dv = dv + (tu - xp.matmul(v, xp.matmul(vh, tu))) / _row(xp, s)
    return pack(xp, [du, ds, _mH(xp, dv)])


svd = Primitive(
    "svd", _svd, batch=B.leading, saves_ans=True, vjps=(_svd_vjp,), jvps=(_svd_jvp,),
    expects_says_nonfinite=True,
    expects="a stack of matrices; where singular values repeat (or are 0 for a non-square matrix) the gradient "
            "of the singular vectors does not exist (inf or NaN, as in PyTorch and JAX): use only the "
            "singular values, or separate them; of complex singular vectors only losses that do not depend on "
            "their phases",
)


# -- pinv ------------------------------------------------------------------------------------------------


def _pinv(a, rcond):
    check_matrix(a, "pinv")
    return _lapack("pinv", np.linalg.pinv, a, rcond=rcond)


def _pinv_vjp(xp, g, ans, a, rcond):
    # the derivative of the pseudo-inverse at constant rank (Golub and Pereyra 1973), transposed (for complex
    # matrices with conjugate transposes: A P and P A are Hermitian projections)
    p, pt = ans, _mH(xp, ans)
    eye_m, eye_n = np.eye(a.shape[-2], dtype=a.dtype), np.eye(a.shape[-1], dtype=a.dtype)
    gt = _mH(xp, g)
    return (-xp.matmul(xp.matmul(pt, g), pt)
            + xp.matmul(xp.matmul(eye_m - xp.matmul(a, p), gt), xp.matmul(p, pt))
            + xp.matmul(xp.matmul(pt, p), xp.matmul(gt, eye_n - xp.matmul(p, a))))


def _pinv_jvp(xp, t, ans, a, rcond):
    p, pt = ans, _mH(xp, ans)
    eye_m, eye_n = np.eye(a.shape[-2], dtype=a.dtype), np.eye(a.shape[-1], dtype=a.dtype)
    tt = _mH(xp, t)
    return (-xp.matmul(xp.matmul(p, t), p)
            + xp.matmul(xp.matmul(p, pt), xp.matmul(tt, eye_m - xp.matmul(a, p)))
            + xp.matmul(xp.matmul(eye_n - xp.matmul(p, a), tt), xp.matmul(pt, p)))


pinv = Primitive(
    "pinv", _pinv, batch=B.leading, saves_ans=True, vjps=(_pinv_vjp,), jvps=(_pinv_jvp,),
    expects_says_nonfinite=True,
    expects="a stack of matrices whose rank does not change nearby (singular values below rcond times the "
            "largest are taken as 0; where one crosses that line the pseudo-inverse jumps)",
)


slogdet_sign = Primitive("slogdet_sign", lambda a: _lapack("slogdet", np.linalg.slogdet, a)[0], saves_inputs=False,
                         expects="a stack of square matrices", batch=B.leading)

PRIMITIVES = (inv, solve, solve_triangular, det, logabsdet, slogdet_sign, cholesky, cholesky_backward, eigh,
              qr, svd, pinv)


class _NumpyCalls:
    """The few NumPy functions :func:`pack` and :func:`unpack` call, for the forward functions."""
    reshape = staticmethod(lambda x, shape: np.reshape(x, shape))
    concatenate = staticmethod(lambda *xs, axis: np.concatenate(xs, axis=axis))
    getitem = staticmethod(lambda x, index: x[index])


_NP = _NumpyCalls()


# -- the functions users call, composed from the primitives (written against xp) --------------------------


def solve_any(xp, a, b):
    """``numpy.linalg.solve``: ``b`` a vector (shape ``(n,)``) or a stack of matrices ``(..., n, k)``."""
    check_square(a, "solve")
    if b.ndim == 1:
        if b.shape[0] != a.shape[-1]:
            raise ShapeError(f"solve: a has shape {tuple(a.shape)} and b {tuple(b.shape)}; expected b of shape "
                             f"({a.shape[-1]},) or (..., {a.shape[-1]}, k)")
        x = xp.solve(a, _col(xp, b))
        return xp.reshape(x, shape=tuple(x.shape[:-1]))
    return xp.solve(a, b)


def slogdet(xp, a):
    """``(sign, logabsdet)``; the sign takes no gradient."""
    return xp.slogdet_sign(a), xp.logabsdet(a)


def eigh_pair(xp, a, UPLO="L"):  # noqa: N803
    """``(eigenvalues, eigenvectors)`` in ascending order, as ``numpy.linalg.eigh``: the eigenvalues real
    also of a complex (Hermitian) matrix."""
    if UPLO not in ("L", "U"):
        raise ArgumentError(f"eigh: UPLO={shown(UPLO)}; expected 'L' or 'U'")
    check_square(a, "eigh")
    w, v = unpack(xp, xp.eigh(a, UPLO=UPLO), eigh_shapes(a.shape[-1]))
    return (xp.real(w) if _complex(w) else w), v


def qr_pair(xp, a, mode="reduced"):
    """``(Q, R)`` of the reduced QR decomposition."""
    if mode != "reduced":
        raise ArgumentError(f"qr: mode={shown(mode)}; only mode='reduced' is differentiated")
    check_matrix(a, "qr")
    return tuple(unpack(xp, xp.qr(a), qr_shapes(*a.shape[-2:])))


def svd_parts(xp, a, compute_uv=True):
    """``(U, S, Vh)`` of the thin SVD, or ``S`` alone; ``S`` real also of a complex matrix."""
    check_matrix(a, "svd")
    u, s, vh = unpack(xp, xp.svd(a), svd_shapes(*a.shape[-2:]))
    if _complex(s):
        s = xp.real(s)
    return (u, s, vh) if compute_uv else s


def pinv_any(xp, a, rcond=None, rtol=None):
    """``numpy.linalg.pinv``: singular values below ``rcond`` (or ``rtol``) times the largest count as 0
    (default ``max(m, n) * eps``)."""
    check_matrix(a, "pinv")
    if rcond is not None and rtol is not None:
        raise ArgumentError("pinv: give rcond or rtol, not both")
    cut = rcond if rcond is not None else rtol
    if cut is None:
        cut = max(a.shape[-2:]) * np.finfo(np.result_type(a.dtype, np.float32)).eps
    return xp.pinv(a, rcond=cut)


def lstsq(xp, a, b, rcond=None):
    """``numpy.linalg.lstsq``: ``(x, residuals, rank, s)``; ``x`` and the residuals take gradients
    (through the pseudo-inverse, at constant rank), ``rank`` is a Tensor of one integer."""
    if a.ndim != 2:
        raise ShapeError(f"lstsq: a has shape {tuple(a.shape)}; expected a matrix (m, n)")
    if b.ndim not in (1, 2) or b.shape[0] != a.shape[0]:
        raise ShapeError(f"lstsq: a has shape {tuple(a.shape)} and b {tuple(b.shape)}; expected b of shape "
                         f"({a.shape[0]},) or ({a.shape[0]}, k)")
    m, n = a.shape
    cut = rcond if rcond is not None else np.finfo(np.result_type(a.dtype, np.float32)).eps * max(m, n)
    x = xp.matmul(xp.pinv(a, rcond=cut), b)
    s = svd_parts(xp, a, compute_uv=False)
    rank = xp.sum(s > xp.max(s) * cut) if s.shape[0] else xp.sum(s > 0)
    if int(rank.item()) == n and m > n:
        r = b - xp.matmul(a, x)
        residuals = xp.sum(xp.real(r * xp.conjugate(r)) if _complex(r) else r * r, axis=0)  # |r|^2
        residuals = residuals if b.ndim == 2 else xp.reshape(residuals, shape=(1,))
    else:  # NumPy's empty residuals (real, also for complex values)
        residuals = xp.getitem(xp.reshape(x, shape=(x.size,)), index=slice(0, 0))
        residuals = xp.real(residuals) if _complex(residuals) else residuals
    return x, residuals, rank, s


def matrix_power(xp, a, n):
    """``a`` multiplied by itself ``n`` times (``n`` an integer; negative: powers of the inverse)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ArgumentError(f"matrix_power: n={shown(n)}; expected an integer")
    check_square(a, "matrix_power")
    n = int(n)
    if n == 0:
        eye = np.eye(a.shape[-1], dtype=a.dtype)
        return xp.broadcast_to(eye, shape=tuple(a.shape))
    base = xp.inv(a) if n < 0 else a
    result = None
    n = abs(n)
    while n:
        if n & 1:
            result = base if result is None else xp.matmul(result, base)
        n >>= 1
        if n:
            base = xp.matmul(base, base)
    return result


def multi_dot(xp, arrays):
    """``numpy.linalg.multi_dot``: the chain product, multiplied in the cheapest order (a 1-D first or
    last operand is a row or a column vector, dropped from the result)."""
    arrays = list(arrays)
    if len(arrays) < 2:
        raise ArgumentError(f"multi_dot: {len(arrays)} array(s); expected at least 2")
    first, last = arrays[0].ndim == 1, arrays[-1].ndim == 1
    if first:
        arrays[0] = _row(xp, arrays[0])
    if last:
        arrays[-1] = _col(xp, arrays[-1])
    for i, x in enumerate(arrays):
        if x.ndim != 2:
            raise ShapeError(f"multi_dot: operand {i} has shape {tuple(x.shape)}; expected 2-D operands "
                             "(the first and last may be 1-D)")
    for i in range(len(arrays) - 1):
        if arrays[i].shape[1] != arrays[i + 1].shape[0]:
            raise ShapeError(f"multi_dot: operands {i} {tuple(arrays[i].shape)} and {i + 1} "
                             f"{tuple(arrays[i + 1].shape)} do not chain")
    dims = [arrays[0].shape[0]] + [x.shape[1] for x in arrays]
    split = _chain_order(dims)

    def product(i, j):
        if i == j:
            return arrays[i]
        k = split[i][j]
        return xp.matmul(product(i, k), product(k + 1, j))

    out = product(0, len(arrays) - 1)
    if first and last:
        return xp.reshape(out, shape=())
    if first:
        return xp.reshape(out, shape=(out.shape[1],))
    if last:
        return xp.reshape(out, shape=(out.shape[0],))
    return out


def _chain_order(dims: list[int]) -> list[list[int]]:
    """The matrix-chain dynamic programme: ``split[i][j]``, where to split the product of i..j."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def _vector_norm(xp, x, ord, axes, keepdims):  # noqa: A002
    if ord == math.inf:
        return xp.max(xp.abs(x), axis=axes, keepdims=keepdims)
    if ord == -math.inf:
        return xp.min(xp.abs(x), axis=axes, keepdims=keepdims)
    if ord == 0:
        return xp.sum(xp.astype(x != 0, dtype=x.dtype), axis=axes, keepdims=keepdims)
    if ord == 1:
        return xp.sum(xp.abs(x), axis=axes, keepdims=keepdims)
    if x.size == 0:
        return xp.sum(xp.abs(x), axis=axes, keepdims=keepdims)
    p = 2 if ord is None else ord
    # Scaled by the largest entry so that huge or tiny entries neither overflow nor underflow (the scale
    # cancels: the function, hence its derivatives, is the plain norm); a zero vector has norm 0 and
    # gradient 0 (the where()s keep NaN out of it).
    scale = xp.max(xp.abs(x), axis=axes, keepdims=True)
    scale = xp.where(scale == 0, 1, scale)
    y = x / scale
    if p != 2:
        powers = xp.abs(y) ** p
    else:
        powers = xp.real(y * xp.conjugate(y)) if _complex(y) else y * y  # |y|^2
    total = xp.sum(powers, axis=axes, keepdims=True)
    zero = total == 0
    safe = xp.where(zero, 1, total)
    root = xp.sqrt(safe) if p == 2 else safe ** (1.0 / p)
    out = xp.where(zero, 0, root * scale)
    if not keepdims:
        out = xp.reshape(out, shape=tuple(n for i, n in enumerate(out.shape) if i not in axes))
    return out


def _matrix_norm(xp, x, ord, row, col, keepdims):  # noqa: A002
    if ord in (None, "fro"):
        return _vector_norm(xp, x, 2, (row, col), keepdims)
    if ord in (2, -2, "nuc"):
        others = tuple(i for i in range(x.ndim) if i not in (row, col))
        s = svd_parts(xp, xp.transpose(x, axes=others + (row, col)), compute_uv=False)
        out = xp.sum(s, axis=-1) if ord == "nuc" else (xp.max if ord == 2 else xp.min)(s, axis=-1)
    elif ord in (1, -1, math.inf, -math.inf):
        summed, across = (row, col) if ord in (1, -1) else (col, row)
        out = xp.sum(xp.abs(x), axis=summed)
        out = (xp.max if ord > 0 else xp.min)(out, axis=across - (across > summed))
    else:
        raise ArgumentError(f"norm: ord={shown(ord)} is not a matrix norm; expected None, 'fro', 'nuc', "
                            "inf, -inf, 1, -1, 2 or -2")
    if keepdims:
        shape = list(x.shape)
        shape[row] = shape[col] = 1
        out = xp.reshape(out, shape=tuple(shape))
    return out


def norm(xp, x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """``numpy.linalg.norm``: every vector and matrix norm NumPy computes, with gradients (the spectral
    and nuclear norms through the singular values).

    Raises:
        ArgumentError: for an ``ord`` that is not a norm of the kind asked, or a bad ``axis``.
        ShapeError: for ``ord`` without ``axis`` on an input that is neither 1-D nor 2-D.
    """
    ndim = x.ndim
    if axis is None:
        if ord is None:
            out = _vector_norm(xp, x, 2, tuple(range(ndim)), keepdims)
            return out
        if ndim not in (1, 2):
            raise ShapeError(f"norm: ord={shown(ord)} without axis needs a 1-D or 2-D input; got shape "
                             f"{tuple(x.shape)}")
        axis = tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
        raise ArgumentError(f"norm: axis={shown(axis)}; expected an int or a tuple of 1 or 2 ints")
    if any(not -ndim <= a < ndim for a in axes):
        raise ArgumentError(f"norm: axis={shown(axis)} is out of range for shape {tuple(x.shape)}")
    axes = tuple(int(a) % ndim for a in axes)
    if len(axes) == 1:
        if isinstance(ord, str):
            raise ArgumentError(f"norm: ord={shown(ord)} is not a vector norm; expected a number, inf or -inf")
        return _vector_norm(xp, x, ord, axes, keepdims)
    if len(axes) == 2:
        if axes[0] == axes[1]:
            raise ArgumentError(f"norm: axis={shown(axis)} repeats an axis")
        return _matrix_norm(xp, x, ord, axes[0], axes[1], keepdims)
    raise ArgumentError(f"norm: axis={shown(axis)}; expected an int or a tuple of 1 or 2 ints")

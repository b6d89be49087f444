"""``scipy.linalg`` with gradients: ``lu_factor``, ``lu_solve``, ``expm``, ``sqrtm``, ``solve_sylvester`` and
``solve_banded`` as primitives, and ``solve_triangular``, ``cho_factor``, ``cho_solve`` composed from
numpy.linalg's ``solve_triangular`` and ``cholesky`` (tapegrad/ops/linalg_numpy.py).

SciPy is an optional dependency (``pip install 'tapegrad[scipy]'``), imported at the first forward that needs
it; without it that call raises an ImportError naming the function and the extra. Every function batches the
way SciPy 1.17 does (leading axes broadcast), keeps float32 as float32, and has first and second derivatives
in both modes, each written against ``xp`` from registered primitives:

* ``lu_factor`` packs ``lu`` and the pivots (as floats) along the last axis, as ``eigh`` packs its results.
  With ``P^T A = L U`` and ``F = L^-1 P^T dA U^-1``: ``dL = L tril(F, -1)``, ``dU = triu(F) U``; the VJP is its
  adjoint, ``P L^-T (tril(L^T Lbar, -1) + triu(Ubar U^T)) U^-T``. The pivots are taken as fixed (they do
  not change under small perturbations away from ties). ``lu_permute`` applies ``P^T`` (or ``P``) given
  LAPACK's pivots, so that no rule reads a value.
* ``expm``: the Frechet derivative from the block matrix ``expm([[A, E], [0, A]]) = [[e^A, L(A, E)],
  [0, e^A]]`` (Mathias 1996; Higham, Functions of Matrices, 3.2); the VJP is ``L(A^T, G)``.
* ``sqrtm``: ``X dX + dX X = dA``, a Sylvester equation (the VJP solves it with ``X^T``).
* ``solve_sylvester`` ``A X + X B = Q``: ``dX = sylv(A, B, dQ - dA X - X dB)``; VJP ``Qbar = sylv(A^T, B^T,
  G)``, ``Abar = -Qbar X^T``, ``Bbar = -X^T Qbar``.
* ``solve_banded``: ``Abar = -A^-T G x^T`` restricted to the band (entries of ``ab`` outside the matrix
  get 0), ``bbar = A^-T G`` with the transposed band built from shifted rows of ``ab``.
"""

from __future__ import annotations

import math
import warnings
from types import ModuleType

import numpy as np

from ..errors import ArgumentError, DTypeError, LinAlgError, ShapeError
from . import batching as B
from .linalg_numpy import _col, _mT, _tri_mask, check_float, check_square, lapack_dtype
from .optional import scipy_module
from .registry import Primitive
from .shape import shown


def scipy_linalg(function: str) -> ModuleType:
    """``scipy.linalg`` for ``tapegrad.scipy.linalg.<function>`` (ImportError naming it without SciPy)."""
    return scipy_module("scipy.linalg", f"tapegrad.scipy.linalg.{function}")


def _batched(function, batch: tuple[int, ...], arrays, core_shapes, out_core, dtype):
    """``function`` on each matrix of a stack: the arrays broadcast over ``batch`` (core shapes kept)."""
    out = np.empty(batch + out_core, dtype)
    views = [np.broadcast_to(a, batch + core) for a, core in zip(arrays, core_shapes)]
    for index in np.ndindex(*batch):
        out[index] = function(*(v[index] for v in views))
    return out


def _batch_shape(op: str, *arrays_and_cores) -> tuple[int, ...]:
    """The broadcast batch shape of arrays with the given numbers of core axes."""
    shapes = [np.shape(a)[:np.ndim(a) - core] for a, core in arrays_and_cores]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        described = " and ".join(str(np.shape(a)) for a, _ in arrays_and_cores)
        raise ShapeError(f"{op}: the batch axes of the inputs {described} do not broadcast") from None


def _lower_mask(n: int, strict: bool) -> np.ndarray:
    return _tri_mask(n, True, -1 if strict else 0)


def _upper_mask(n: int) -> np.ndarray:
    return _tri_mask(n, False)


# -- lu_permute: P^T x (or P x) from LAPACK's pivots ---------------------------------------------------------


def permutation(piv: np.ndarray) -> np.ndarray:
    """The row order LAPACK's pivots ``piv`` (0-based row swaps, applied in turn) give: ``(P^T A)[i] =
    A[perm[i]]`` for ``A = P L U``; shape of ``piv``."""
    piv = np.asarray(piv).astype(np.intp)
    n = piv.shape[-1]
    if piv.size == 0:
        return piv
    flat = piv.reshape(-1, n)
    perm = np.broadcast_to(np.arange(n), flat.shape).copy()
    rows = np.arange(flat.shape[0])
    for i in range(n):
        j = flat[:, i]
        swapped = perm[rows, j]
        perm[rows, j] = perm[rows, i]
        perm[rows, i] = swapped
    return perm.reshape(piv.shape)


def _take_rows(x: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``x[..., order[..., i], :]`` per matrix, the batch axes of ``x`` and ``order`` broadcast."""
    batch = np.broadcast_shapes(x.shape[:-2], order.shape[:-1])
    x = np.broadcast_to(x, batch + x.shape[-2:])
    order = np.broadcast_to(order, batch + order.shape[-1:])
    grids = tuple(g[..., None] for g in np.ix_(*[np.arange(s) for s in batch])) if batch else ()
    return x[grids + (order,)]


def _lu_permute(x, piv, inverse=False):
    if np.shape(piv)[-1:] != np.shape(x)[-2:-1]:
        raise ShapeError(f"lu_permute: pivots of shape {np.shape(piv)} for rows of shape {np.shape(x)}")
    perm = permutation(piv)
    return _take_rows(np.asarray(x), np.argsort(perm, axis=-1) if inverse else perm)


lu_permute = Primitive(
    "lu_permute", _lu_permute, batch=B.stacked((2, 1)),
    vjps=(lambda xp, g, ans, x, piv, inverse=False: xp.lu_permute(g, piv, inverse=not inverse), None),
    jvps=(lambda xp, t, ans, x, piv, inverse=False: xp.lu_permute(t, piv, inverse=inverse), None),
    expects="rows x (..., n, k) and LAPACK's 0-based pivots (..., n) (no gradient)",
    doc="``P^T x`` for ``A = P L U`` given LAPACK's pivots (``P x`` with inverse=True).",
)


# -- lu_factor --------------------------------------------------------------------------------------------


def _check_lu_square(a) -> None:
    shape = np.shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(f"lu_factor: got shape {shape}; tapegrad factors square matrices only (SciPy also takes "
                         "rectangular ones): expected (..., n, n)")


def _lu_factor(a):
    _check_lu_square(a)
    check_float(a, "lu_factor")
    dtype = lapack_dtype(a)
    a = np.asarray(a, dtype=dtype)
    n, batch = a.shape[-1], a.shape[:-2]
    out = np.empty(batch + (n, n + 1), dtype)
    if n == 0 or math.prod(batch) == 0:
        return out
    getrf = scipy_linalg("lu_factor").lapack.get_lapack_funcs("getrf", (a,))
    singular = []
    for index in np.ndindex(*batch):
        lu, piv, info = getrf(a[index])
        if info > 0:
            singular.append(info)
        out[index + (Ellipsis, slice(0, n))] = lu
        out[index + (Ellipsis, n)] = piv
    if singular:
        warnings.warn(f"lu_factor: diagonal number {singular[0]} of U is exactly zero: a singular matrix (its "
                      "derivative does not exist)", scipy_linalg("lu_factor").LinAlgWarning, stacklevel=4)
    return out


def _lu_unpack(xp, packed):
    """``lu`` and the pivots (as integers: they take no gradient) from lu_factor's packed output."""
    n = packed.shape[-2]
    piv = xp.astype(xp.getitem(packed, index=(Ellipsis, n)), dtype=np.dtype(np.int32))
    return xp.getitem(packed, index=(Ellipsis, slice(0, n))), piv


def _lu_factor_vjp(xp, g, ans, a):
    n = a.shape[-1]
    lu, piv = _lu_unpack(xp, ans)
    glu = xp.getitem(g, index=(Ellipsis, slice(0, n)))
    strict, upper = _lower_mask(n, True), _upper_mask(n)
    low = lu * strict + np.eye(n, dtype=lu.dtype)
    h = xp.matmul(_mT(xp, low), glu * strict) * strict + xp.matmul(glu * upper, _mT(xp, lu * upper)) * upper
    left = xp.solve_triangular(lu, h, lower=True, trans=True, unit_diagonal=True)  # L^-T H
    right = _mT(xp, xp.solve_triangular(lu, _mT(xp, left), lower=False))  # ... U^-T
    return xp.lu_permute(right, piv, inverse=True)


def _lu_factor_jvp(xp, t, ans, a):
    n = a.shape[-1]
    lu, piv = _lu_unpack(xp, ans)
    strict, upper = _lower_mask(n, True), _upper_mask(n)
    left = xp.solve_triangular(lu, xp.lu_permute(t, piv), lower=True, unit_diagonal=True)  # L^-1 P^T dA
    f = _mT(xp, xp.solve_triangular(lu, _mT(xp, left), lower=False, trans=True))  # ... U^-1
    low = lu * strict + np.eye(n, dtype=lu.dtype)
    dlu = xp.matmul(low, f * strict) + xp.matmul(f * upper, lu * upper)
    return xp.concatenate(dlu, np.zeros(tuple(dlu.shape[:-1]) + (1,), dtype=dlu.dtype), axis=-1)


lu_factor = Primitive(
    "lu_factor", _lu_factor, batch=B.leading, saves_ans=True, vjps=(_lu_factor_vjp,), jvps=(_lu_factor_jvp,),
    expects_says_nonfinite=True,
    expects="a stack of square invertible matrices (the pivots are taken as fixed: where two candidate pivots "
            "tie the factors jump; at a singular matrix the derivative does not exist, inf or NaN)",
    doc="Packs SciPy's ``lu`` and the pivots (as floats) along the last axis: shape (..., n, n + 1).",
)


# -- lu_solve ---------------------------------------------------------------------------------------------


def _lu_solve(lu, piv, b, trans=False):
    check_square(lu, "lu_solve")
    n = np.shape(lu)[-1]
    if np.shape(piv)[-1:] != (n,) or np.asarray(piv).dtype.kind not in "iuf":
        raise ShapeError(f"lu_solve: pivots of shape {np.shape(piv)} for lu {np.shape(lu)}; expected the "
                         f"integer pivots lu_factor returns (shape (..., {n}))")
    if np.ndim(b) < 2 or np.shape(b)[-2] != n:
        raise ShapeError(f"lu_solve: lu has shape {np.shape(lu)} and b {np.shape(b)}; expected b of shape "
                         f"(..., {n}, k)")
    batch = _batch_shape("lu_solve", (lu, 2), (piv, 1), (b, 2))
    dtype = lapack_dtype(lu, b)
    lu, b = np.asarray(lu, dtype=dtype), np.asarray(b, dtype=dtype)
    piv = np.asarray(piv).astype(np.int32)
    k = b.shape[-1]
    if n == 0 or k == 0 or math.prod(batch) == 0:
        return np.zeros(batch + (n, k), dtype)
    getrs = scipy_linalg("lu_solve").lapack.get_lapack_funcs("getrs", (lu, b))

    def one(m, p, rhs):
        x, info = getrs(m, p, rhs, trans=int(trans))
        return x

    return _batched(one, batch, (lu, piv, b), ((n, n), (n,), (n, k)), (n, k), dtype)


def _lu_solve_vjp_all(xp, g, ans, lu, piv, b, trans=False):
    n = lu.shape[-1]
    gb = xp.lu_solve(lu, piv, g, trans=not trans)
    u, v = (ans, gb) if trans else (gb, ans)  # the gradient of A is -u v^T
    pu = xp.lu_permute(u, piv)  # P^T u
    upper = lu * _upper_mask(n)
    low = lu * _lower_mask(n, True) + np.eye(n, dtype=lu.dtype)
    glu = (xp.matmul(pu, _mT(xp, xp.matmul(upper, v))) * _lower_mask(n, True)
           + xp.matmul(xp.matmul(_mT(xp, low), pu), _mT(xp, v)) * _upper_mask(n))
    return -glu, None, gb


def _lu_solve_jvp_lu(xp, t, ans, lu, piv, b, trans=False):
    n = lu.shape[-1]
    dl, du = t * _lower_mask(n, True), t * _upper_mask(n)
    upper = lu * _upper_mask(n)
    low = lu * _lower_mask(n, True) + np.eye(n, dtype=lu.dtype)
    if trans:  # dA^T x = U^T dL^T P^T x + dU^T L^T P^T x
        px = xp.lu_permute(ans, piv)
        w = xp.matmul(_mT(xp, upper), xp.matmul(_mT(xp, dl), px)) + xp.matmul(_mT(xp, du), xp.matmul(_mT(xp, low), px))
    else:  # dA x = P (dL U x + L dU x)
        w = xp.lu_permute(xp.matmul(dl, xp.matmul(upper, ans)) + xp.matmul(low, xp.matmul(du, ans)), piv,
                          inverse=True)
    return -xp.lu_solve(lu, piv, w, trans=trans)


lu_solve = Primitive(
    "lu_solve", _lu_solve, batch=B.stacked((2, 1, 2)), saves_ans=True, vjp_all=_lu_solve_vjp_all,
    jvps=(_lu_solve_jvp_lu, None, lambda xp, t, ans, lu, piv, b, trans=False: xp.lu_solve(lu, piv, t, trans=trans)),
    expects_says_nonfinite=True,
    expects="lu (..., n, n) and pivots (..., n) from lu_factor (the pivots take no gradient; a zero on U's "
            "diagonal gives inf or NaN) and right-hand sides b (..., n, k)",
)


# -- expm -------------------------------------------------------------------------------------------------


def _expm(a):
    check_square(a, "expm")
    check_float(a, "expm")
    dtype = lapack_dtype(a)
    a = np.asarray(a, dtype=dtype)
    if a.size == 0:
        return np.zeros(a.shape, dtype)
    return np.asarray(scipy_linalg("expm").expm(a), dtype=dtype)


def frechet_expm(xp, a, e):
    """The Frechet derivative ``L(A, E)`` of the matrix exponential at ``a`` in the direction ``e``: the top
    right block of ``expm([[A, E], [0, A]])``."""
    n = a.shape[-1]
    shape = np.broadcast_shapes(tuple(a.shape), tuple(e.shape))
    if tuple(a.shape) != shape:
        a = xp.broadcast_to(a, shape=shape)
    if tuple(e.shape) != shape:
        e = xp.broadcast_to(e, shape=shape)
    zeros = np.zeros(shape, dtype=np.result_type(a.dtype, e.dtype))
    block = xp.concatenate(xp.concatenate(a, e, axis=-1), xp.concatenate(zeros, a, axis=-1), axis=-2)
    return xp.getitem(xp.expm(block), index=(Ellipsis, slice(0, n), slice(n, 2 * n)))


expm = Primitive(
    "expm", _expm, batch=B.leading,
    vjps=(lambda xp, g, ans, a: frechet_expm(xp, _mT(xp, a), g),),
    jvps=(lambda xp, t, ans, a: frechet_expm(xp, a, t),),
    expects="a stack of square matrices",
)


# -- sqrtm ------------------------------------------------------------------------------------------------


def _sqrtm(a):
    check_square(a, "sqrtm")
    check_float(a, "sqrtm")
    dtype = lapack_dtype(a)
    a = np.asarray(a, dtype=dtype)
    if a.size == 0:
        return np.zeros(a.shape, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SciPy's warning of a singular matrix: the result is still defined
        root = scipy_linalg("sqrtm").sqrtm(a)
    if np.iscomplexobj(root):
        if np.any(np.abs(root.imag) > 0):
            raise ArgumentError(f"sqrtm: the principal square root of this matrix (shape {a.shape}) is complex "
                                "(it has negative real eigenvalues); tapegrad differentiates real results only")
        root = root.real
    return np.asarray(root, dtype=dtype)


sqrtm = Primitive(
    "sqrtm", _sqrtm, batch=B.leading, saves_ans=True,
    vjps=(lambda xp, g, ans, a: xp.solve_sylvester(_mT(xp, ans), _mT(xp, ans), g),),
    jvps=(lambda xp, t, ans, a: xp.solve_sylvester(ans, ans, t),),
    expects_says_nonfinite=True,
    expects="a stack of square matrices with a real principal square root (no eigenvalue on the closed negative "
            "real axis: at a singular matrix the derivative does not exist, inf or NaN)",
)


# -- solve_sylvester --------------------------------------------------------------------------------------


def _solve_sylvester(a, b, q):
    check_square(a, "solve_sylvester")
    check_square(b, "solve_sylvester")
    for x in (a, b, q):
        check_float(x, "solve_sylvester")
    m, n = np.shape(a)[-1], np.shape(b)[-1]
    if np.ndim(q) < 2 or np.shape(q)[-2:] != (m, n):
        raise ShapeError(f"solve_sylvester: a has shape {np.shape(a)}, b {np.shape(b)} and q {np.shape(q)}; "
                         f"expected q of shape (..., {m}, {n})")
    batch = _batch_shape("solve_sylvester", (a, 2), (b, 2), (q, 2))
    dtype = lapack_dtype(a, b, q)
    if m == 0 or n == 0 or math.prod(batch) == 0:
        return np.zeros(batch + (m, n), dtype)
    module = scipy_linalg("solve_sylvester")
    arrays = [np.asarray(x, dtype=dtype) for x in (a, b, q)]
    return _batched(lambda x, y, z: module.solve_sylvester(x, y, z), batch, arrays, ((m, m), (n, n), (m, n)),
                    (m, n), dtype)


def _solve_sylvester_vjp_all(xp, g, ans, a, b, q):
    gq = xp.solve_sylvester(_mT(xp, a), _mT(xp, b), g)
    return -xp.matmul(gq, _mT(xp, ans)), -xp.matmul(_mT(xp, ans), gq), gq


solve_sylvester = Primitive(
    "solve_sylvester", _solve_sylvester, batch=B.stacked(2), saves_ans=True, vjp_all=_solve_sylvester_vjp_all,
    jvps=(lambda xp, t, ans, a, b, q: -xp.solve_sylvester(a, b, xp.matmul(t, ans)),
          lambda xp, t, ans, a, b, q: -xp.solve_sylvester(a, b, xp.matmul(ans, t)),
          lambda xp, t, ans, a, b, q: xp.solve_sylvester(a, b, t)),
    expects_says_nonfinite=True,
    expects="square a (..., m, m) and b (..., n, n) with no eigenvalue of a equal to minus one of b (else the "
            "equation is singular: inf or NaN), and q (..., m, n)",
)


# -- solve_banded -----------------------------------------------------------------------------------------


def _shift(xp, z, d: int, axis: int):
    """``z`` shifted by ``d`` along ``axis`` (negative): ``out[i] = z[i - d]``, 0 where ``i - d`` is outside."""
    n = z.shape[axis]
    d = max(-n, min(n, d))
    if d == 0:
        return z
    index = [slice(None)] * z.ndim
    index[axis] = slice(0, n - d) if d > 0 else slice(-d, n)
    widths = [(0, 0)] * z.ndim
    widths[axis] = (d, 0) if d > 0 else (0, -d)
    return xp.pad(xp.getitem(z, index=tuple(index)), pad_width=tuple(widths))


def _band_row(xp, ab, r: int):
    """Row ``r`` of ``ab`` as shape (..., 1, n)."""
    return xp.getitem(ab, index=(Ellipsis, slice(r, r + 1), slice(None)))


def transposed_band(xp, ab, lower: int, upper: int):
    """The band storage of ``A^T`` (``upper`` diagonals below, ``lower`` above) from that of ``A``: row
    ``r`` is row ``lower + upper - r`` of ``ab`` shifted by ``lower - r``."""
    rows = [_shift(xp, _band_row(xp, ab, lower + upper - r), lower - r, -1) for r in range(lower + upper + 1)]
    return rows[0] if len(rows) == 1 else xp.concatenate(*rows, axis=-2)


def _banded_times(xp, tab, x, upper: int):
    """``A x`` for the band matrix ``A`` whose storage is ``tab`` (``upper`` diagonals above)."""
    total = None
    for r in range(tab.shape[-2]):
        term = _shift(xp, _mT(xp, _band_row(xp, tab, r)) * x, r - upper, -2)
        total = term if total is None else total + term
    return total


def _solve_banded(ab, b, lower, upper):
    check_float(ab, "solve_banded")
    check_float(b, "solve_banded")
    if np.ndim(ab) < 2 or np.shape(ab)[-2] != lower + upper + 1:
        raise ShapeError(f"solve_banded: ab has shape {np.shape(ab)}; expected (..., l + u + 1, n) = (..., "
                         f"{lower + upper + 1}, n) for (l, u) = ({lower}, {upper})")
    n = np.shape(ab)[-1]
    if np.ndim(b) < 2 or np.shape(b)[-2] != n:
        raise ShapeError(f"solve_banded: ab has shape {np.shape(ab)} and b {np.shape(b)}; expected b of shape "
                         f"(..., {n}, k)")
    batch = _batch_shape("solve_banded", (ab, 2), (b, 2))
    dtype = lapack_dtype(ab, b)
    k = np.shape(b)[-1]
    if n == 0 or k == 0 or math.prod(batch) == 0:
        return np.zeros(batch + (n, k), dtype)
    module = scipy_linalg("solve_banded")
    ab, b = np.asarray(ab, dtype=dtype), np.asarray(b, dtype=dtype)

    def one(band, rhs):
        try:
            return module.solve_banded((lower, upper), band, rhs, check_finite=False)
        except np.linalg.LinAlgError as exc:
            raise LinAlgError(f"solve_banded: {exc} (shapes {ab.shape}, {b.shape})") from None

    return _batched(one, batch, (ab, b), ((lower + upper + 1, n), (n, k)), (n, k), dtype)


def _solve_banded_vjp_all(xp, g, ans, ab, b, lower, upper):
    gb = xp.solve_banded(transposed_band(xp, ab, lower, upper), g, lower=upper, upper=lower)
    # Abar[i, j] = -sum_k gb[i, k] x[j, k] on the band: row r of ab holds the entries i = j + r - upper
    rows = [-_mT(xp, xp.sum(_shift(xp, gb, upper - r, -2) * ans, axis=-1, keepdims=True))
            for r in range(lower + upper + 1)]
    return (rows[0] if len(rows) == 1 else xp.concatenate(*rows, axis=-2)), gb


solve_banded = Primitive(
    "solve_banded", _solve_banded, batch=B.stacked(2), saves_ans=True, vjp_all=_solve_banded_vjp_all,
    jvps=(lambda xp, t, ans, ab, b, lower, upper: -xp.solve_banded(ab, _banded_times(xp, t, ans, upper),
                                                                   lower=lower, upper=upper),
          lambda xp, t, ans, ab, b, lower, upper: xp.solve_banded(ab, t, lower=lower, upper=upper)),
    expects_says_nonfinite=True,
    expects="a band matrix in LAPACK's storage ab (..., l + u + 1, n) that is invertible (a singular one gives "
            "inf or NaN) and right-hand sides b (..., n, k); entries of ab outside the matrix take no gradient",
)

PRIMITIVES = (lu_permute, lu_factor, lu_solve, expm, sqrtm, solve_sylvester, solve_banded)


# -- the functions users call, composed against xp ------------------------------------------------------------

_TRANS = {0: False, 1: True, 2: True, "N": False, "T": True, "C": True}


def flag(value, op: str, name: str) -> bool:
    """A boolean argument (``lower``, ``unit_diagonal``): True, False, 0 or 1.

    Raises:
        ArgumentError: for anything else.
    """
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise ArgumentError(f"{op}: {name}={shown(value)}; expected True or False")


def trans_arg(trans, op: str) -> bool:
    """SciPy's ``trans``: 0 or 'N' (solve with a), 1 or 'T', 2 or 'C' (with its transpose: real matrices).

    Raises:
        ArgumentError: for anything else.
    """
    if isinstance(trans, (bool, np.bool_)) or not isinstance(trans, (int, np.integer, str)) or trans not in _TRANS:
        raise ArgumentError(f"{op}: trans={shown(trans)}; expected 0, 1, 2 or 'N', 'T', 'C'")
    return _TRANS[trans]


def check_finite(op: str, *arrays) -> None:
    """SciPy's ``check_finite=True``.

    Raises:
        ArgumentError: an input holds NaN or inf.
    """
    for a in arrays:
        if np.asarray(a).dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise ArgumentError(f"{op}: an input of shape {np.shape(a)} holds infs or NaNs (check_finite=True)")


def _matrix_rhs(xp, b, n: int, op: str, a_shape, a_name: str = "a") -> tuple:
    """``b`` as a stack of matrices (..., n, k) and whether it was a vector (SciPy's '1|2' core)."""
    if b.ndim == 0 or b.shape[-1 if b.ndim == 1 else -2] != n:
        raise ShapeError(f"{op}: {a_name} has shape {tuple(a_shape)} and b {tuple(b.shape)}; expected b of shape "
                         f"({n},) or (..., {n}, k)")
    return (_col(xp, b), True) if b.ndim == 1 else (b, False)


def _vector_back(xp, x, vector: bool):
    return xp.reshape(x, shape=tuple(x.shape[:-1])) if vector else x


def _real_only(op: str, *values) -> None:
    """Raises DTypeError for complex (or non-numeric) values: tapegrad.scipy.linalg takes real matrices."""
    for value in values:
        dtype = value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype
        if dtype.kind not in "biuf":
            raise DTypeError(f"{op}: got dtype {dtype}; expected real numbers (tapegrad.scipy.linalg takes real "
                             "matrices)")


def solve_triangular_any(xp, a, b, trans=0, lower=False, unit_diagonal=False):
    """``scipy.linalg.solve_triangular``: ``op(a) x = b`` with ``a`` triangular (only the ``lower`` (default
    upper) triangle is read, without its diagonal if ``unit_diagonal``), ``op`` set by ``trans``."""
    check_square(a, "solve_triangular")
    _real_only("solve_triangular", a, b)  # trans=2 ('C'), the conjugate transpose, is not supported
    transposed = trans_arg(trans, "solve_triangular")
    lower, unit = flag(lower, "solve_triangular", "lower"), flag(unit_diagonal, "solve_triangular", "unit_diagonal")
    rhs, vector = _matrix_rhs(xp, b, a.shape[-1], "solve_triangular", a.shape)
    x = xp.solve_triangular(a, rhs, lower=lower, trans=transposed, unit_diagonal=unit)
    return _vector_back(xp, x, vector)


def cho_factor_any(xp, a, lower=False):
    """``scipy.linalg.cho_factor``: ``(c, lower)`` with ``c`` the Cholesky factor (the other triangle 0)."""
    check_square(a, "cho_factor")
    _real_only("cho_factor", a)  # real matrices (cho_solve solves with real factors only)
    lower = flag(lower, "cho_factor", "lower")
    return xp.cholesky(a, upper=not lower), lower


def cho_solve_any(xp, c_and_lower, b):
    """``scipy.linalg.cho_solve``: ``A x = b`` given ``(c, lower)``, the Cholesky factor of ``A``."""
    if not isinstance(c_and_lower, (tuple, list)) or len(c_and_lower) != 2:
        raise ArgumentError(f"cho_solve: c_and_lower={shown(c_and_lower)}; expected the pair (c, lower) that "
                            "cho_factor returns")
    c, lower = c_and_lower
    check_square(c, "cho_solve")
    _real_only("cho_solve", c, b)  # A = L L^T: transposes, not the conjugate transposes complex factors need
    lower = flag(lower, "cho_solve", "lower")
    rhs, vector = _matrix_rhs(xp, b, c.shape[-1], "cho_solve", c.shape, "c")
    # A = L L^T: L y = b, L^T x = y; A = U^T U: U^T y = b, U x = y
    y = xp.solve_triangular(c, rhs, lower=lower, trans=not lower)
    x = xp.solve_triangular(c, y, lower=lower, trans=lower)
    return _vector_back(xp, x, vector)


def lu_factor_pair(xp, a):
    """``scipy.linalg.lu_factor``: ``(lu, piv)``, ``piv`` the 0-based int32 pivots (no gradient)."""
    _check_lu_square(a)
    packed = xp.lu_factor(a)
    n = a.shape[-1]
    lu = xp.getitem(packed, index=(Ellipsis, slice(0, n)))
    piv = xp.getitem(packed, index=(Ellipsis, n))
    return lu, piv


def lu_solve_any(xp, lu_and_piv, b, trans=0):
    """``scipy.linalg.lu_solve``: ``op(A) x = b`` given ``(lu, piv)`` from ``lu_factor``."""
    if not isinstance(lu_and_piv, (tuple, list)) or len(lu_and_piv) != 2:
        raise ArgumentError(f"lu_solve: lu_and_piv={shown(lu_and_piv)}; expected the pair (lu, piv) that "
                            "lu_factor returns")
    lu, piv = lu_and_piv
    check_square(lu, "lu_solve")
    transposed = trans_arg(trans, "lu_solve")
    rhs, vector = _matrix_rhs(xp, b, lu.shape[-1], "lu_solve", lu.shape, "lu")
    return _vector_back(xp, xp.lu_solve(lu, piv, rhs, trans=transposed), vector)


def solve_banded_any(xp, l_and_u, ab, b):
    """``scipy.linalg.solve_banded``: ``A x = b`` for ``A`` in LAPACK's band storage ``ab``."""
    if not isinstance(l_and_u, (tuple, list)) or len(l_and_u) != 2 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 0 for v in l_and_u):
        raise ArgumentError(f"solve_banded: l_and_u={shown(l_and_u)}; expected (l, u), the numbers of diagonals "
                            "below and above the main one (non-negative integers)")
    lower, upper = (int(v) for v in l_and_u)
    if ab.ndim < 2:
        raise ShapeError(f"solve_banded: ab has shape {tuple(ab.shape)}; expected (..., {lower + upper + 1}, n)")
    rhs, vector = _matrix_rhs(xp, b, ab.shape[-1], "solve_banded", ab.shape, "ab")
    return _vector_back(xp, xp.solve_banded(ab, rhs, lower=lower, upper=upper), vector)


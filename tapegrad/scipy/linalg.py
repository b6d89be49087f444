"""``scipy.linalg`` on Tensors, differentiable: ``solve_triangular``, ``cho_factor``, ``cho_solve``, ``lu_factor``,
``lu_solve``, ``expm``, ``sqrtm``, ``solve_sylvester``, ``solve_banded``, with SciPy's signatures and defaults.

SciPy's own functions convert their arguments with ``np.asarray``, so no protocol reaches them with a Tensor;
these take Tensors, arrays or nested lists and return Tensors, with first and second derivatives in both
modes in every array argument (the primitives are in tapegrad/ops/linalg_scipy.py and linalg_numpy.py).
Leading axes are batch axes that broadcast, as in SciPy 1.17; float32 stays float32. SciPy is imported at
the first call (``pip install 'tapegrad[scipy]'``); ``solve_triangular``, ``cho_factor`` and ``cho_solve`` also
run without it (through NumPy, slower).

Differences from SciPy: ``cho_factor``'s ``c`` holds 0 outside the factor's triangle (SciPy leaves what was
there, "random data"), as JAX does; ``lu_factor`` takes square matrices only. SciPy's ``overwrite_*`` options
are accepted and ignored (a Tensor is never overwritten); ``check_finite`` is honoured.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops import linalg_scipy as _ops
from ..tensor import GRAPH, Tensor

__all__ = [
    "solve_triangular", "cho_factor", "cho_solve", "lu_factor", "lu_solve", "expm", "sqrtm", "solve_sylvester",
    "solve_banded",
]


def _lift(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value))


def _checked(op: str, check: bool, *tensors: Tensor) -> None:
    if check:
        _ops.check_finite(op, *(t.data for t in tensors))


def solve_triangular(a: Any, b: Any, trans: int | str = 0, lower: bool = False, unit_diagonal: bool = False,
                     overwrite_b: bool = False, check_finite: bool = True) -> Tensor:
    """Solve ``op(a) x = b`` for a triangular ``a``, ``scipy.linalg.solve_triangular``.

    Args:
        a: a triangular matrix (..., n, n); only its ``lower`` (default: upper) triangle is read, without the
            diagonal (taken as ones) if ``unit_diagonal``.
        b: a vector (n,) or right-hand sides (..., n, k).
        trans: 0 or 'N' solves with ``a``, 1 or 'T' (and 2 or 'C', for real matrices the same) with ``a^T``.

    Returns:
        ``x``, of ``b``'s shape (with the batch axes of ``a`` and ``b`` broadcast).

    Raises:
        ShapeError: non-square ``a`` or a ``b`` of the wrong length. ArgumentError: a bad ``trans``/flag, or NaN
        or inf with ``check_finite``. LinAlgError: a zero on the diagonal.
    """
    a, b = _lift(a), _lift(b)
    _checked("solve_triangular", check_finite, a, b)
    return _ops.solve_triangular_any(GRAPH, a, b, trans, lower, unit_diagonal)


def cho_factor(a: Any, lower: bool = False, overwrite_a: bool = False,
               check_finite: bool = True) -> tuple[Tensor, bool]:
    """The Cholesky factor of a symmetric positive-definite ``a`` in the form ``cho_solve`` takes,
    ``scipy.linalg.cho_factor``.

    Returns:
        ``(c, lower)``: ``c`` the upper factor ``U`` (``a = U^T U``), or the lower ``L`` (``a = L L^T``) if
        ``lower``, with 0 in the other triangle; only that triangle of ``a`` is read.

    Raises:
        ShapeError: non-square ``a``. LinAlgError: ``a`` is not positive definite. ArgumentError: a bad
        ``lower``, or NaN or inf with ``check_finite``.
    """
    a = _lift(a)
    _checked("cho_factor", check_finite, a)
    return _ops.cho_factor_any(GRAPH, a, lower)


def cho_solve(c_and_lower: tuple[Any, bool], b: Any, overwrite_b: bool = False, check_finite: bool = True) -> Tensor:
    """Solve ``a x = b`` given ``(c, lower)`` from ``cho_factor``, ``scipy.linalg.cho_solve``; differentiable in
    ``c`` (its named triangle) and ``b``.

    Returns:
        ``x``, of ``b``'s shape (batch axes broadcast).

    Raises:
        ArgumentError: ``c_and_lower`` is not a pair, or NaN or inf with ``check_finite``. ShapeError: ``b`` of
        the wrong length.
    """
    if not isinstance(c_and_lower, (tuple, list)) or len(c_and_lower) != 2:
        return _ops.cho_solve_any(GRAPH, c_and_lower, b)  # raises, naming the argument
    c, b = _lift(c_and_lower[0]), _lift(b)
    _checked("cho_solve", check_finite, c, b)
    return _ops.cho_solve_any(GRAPH, (c, c_and_lower[1]), b)


def lu_factor(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> tuple[Tensor, np.ndarray]:
    """The pivoted LU factorization ``a = P L U`` in LAPACK's compact form, ``scipy.linalg.lu_factor``.

    Returns:
        ``(lu, piv)``: ``lu`` (..., n, n) holds ``U`` and, below the diagonal, ``L`` (whose diagonal is ones);
        ``piv`` (..., n) the 0-based row interchanges (an int32 array, no gradient). The gradient takes the
        pivots as fixed.

    Raises:
        ShapeError: ``a`` is not square (tapegrad factors square matrices only). ArgumentError: NaN or inf
        with ``check_finite``.
    """
    a = _lift(a)
    _checked("lu_factor", check_finite, a)
    lu, piv = _ops.lu_factor_pair(GRAPH, a)
    return lu, piv.detach().numpy().astype(np.int32)


def lu_solve(lu_and_piv: tuple[Any, Any], b: Any, trans: int | str = 0, overwrite_b: bool = False,
             check_finite: bool = True) -> Tensor:
    """Solve ``op(a) x = b`` given ``(lu, piv)`` from ``lu_factor``, ``scipy.linalg.lu_solve``; differentiable in
    ``lu`` and ``b``.

    Returns:
        ``x``, of ``b``'s shape (batch axes broadcast).

    Raises:
        ArgumentError: ``lu_and_piv`` is not a pair, a bad ``trans``, or NaN or inf with ``check_finite``.
        ShapeError: pivots or ``b`` of the wrong shape.
    """
    if not isinstance(lu_and_piv, (tuple, list)) or len(lu_and_piv) != 2:
        return _ops.lu_solve_any(GRAPH, lu_and_piv, b, trans)  # raises, naming the argument
    lu, piv, b = _lift(lu_and_piv[0]), lu_and_piv[1], _lift(b)
    piv = piv.detach().numpy() if isinstance(piv, Tensor) else np.asarray(piv)
    _checked("lu_solve", check_finite, lu, b)
    return _ops.lu_solve_any(GRAPH, (lu, piv), b, trans)


def expm(A: Any) -> Tensor:  # noqa: N803 (SciPy's name)
    """The matrix exponential, ``scipy.linalg.expm``; its derivative is the Frechet derivative (from the
    exponential of a block matrix).

    Returns:
        A Tensor of ``A``'s shape (batch axes kept).

    Raises:
        ShapeError: ``A`` is not a stack of square matrices.
    """
    return GRAPH.expm(_lift(A))


def sqrtm(A: Any) -> Tensor:  # noqa: N803 (SciPy's name)
    """The principal matrix square root, ``scipy.linalg.sqrtm``; its derivative solves a Sylvester equation.

    Returns:
        A Tensor of ``A``'s shape (batch axes kept).

    Raises:
        ShapeError: ``A`` is not a stack of square matrices. ArgumentError: the root is complex (``A`` has
        negative real eigenvalues).
    """
    return GRAPH.sqrtm(_lift(A))


def solve_sylvester(a: Any, b: Any, q: Any) -> Tensor:
    """Solve ``a x + x b = q``, ``scipy.linalg.solve_sylvester``; differentiable in ``a``, ``b`` and ``q``.

    Returns:
        ``x`` (..., m, n) for ``a`` (..., m, m), ``b`` (..., n, n), ``q`` (..., m, n).

    Raises:
        ShapeError: shapes that do not fit.
    """
    return GRAPH.solve_sylvester(_lift(a), _lift(b), _lift(q))


def solve_banded(l_and_u: tuple[int, int], ab: Any, b: Any, overwrite_ab: bool = False, overwrite_b: bool = False,
                 check_finite: bool = True) -> Tensor:
    """Solve ``a x = b`` for a band matrix ``a`` in LAPACK's storage, ``scipy.linalg.solve_banded``:
    ``ab[u + i - j, j] = a[i, j]``; differentiable in ``ab`` (its entries inside the matrix) and ``b``.

    Returns:
        ``x``, of ``b``'s shape (batch axes broadcast).

    Raises:
        ArgumentError: ``l_and_u`` is not two non-negative integers, or NaN or inf with ``check_finite``.
        ShapeError: ``ab`` or ``b`` of the wrong shape. LinAlgError: a singular matrix.
    """
    ab, b = _lift(ab), _lift(b)
    _checked("solve_banded", check_finite, ab, b)
    return _ops.solve_banded_any(GRAPH, l_and_u, ab, b)

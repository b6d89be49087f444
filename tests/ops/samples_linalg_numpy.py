"""Samplers for the numpy.linalg primitives (tapegrad/ops/linalg_numpy.py).

Matrices are well conditioned (a random matrix plus a multiple of the identity, or Q diag Q^T with
spread-out eigenvalues) so that finite differences are meaningful; eigenvalues and singular values are
kept apart (their vectors' derivatives do not exist where they meet); ``pinv`` gets full-rank matrices
(its rank must not change under the finite-difference steps).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .samples import Case, rng


def _batch(draw):
    return draw(st.sampled_from([(), (2,), (1, 2)]))


def _n(draw, low=1, high=4):
    return draw(st.integers(low, high))


def _well_conditioned(r, batch, n):
    return r.standard_normal(batch + (n, n)) * 0.5 + 3 * np.eye(n)


def _spd(r, batch, n):
    """Symmetric positive definite with eigenvalues 1, 2, ..., n (well apart)."""
    q, _ = np.linalg.qr(r.standard_normal(batch + (n, n)))
    return (q * np.arange(1.0, n + 1)) @ np.swapaxes(q, -1, -2)


def _distinct_svd(r, batch, m, n):
    """A matrix whose singular values are 1, 2, ..., min(m, n)."""
    k = min(m, n)
    u, _ = np.linalg.qr(r.standard_normal(batch + (m, k)))
    v, _ = np.linalg.qr(r.standard_normal(batch + (n, k)))
    return (u * np.arange(1.0, k + 1)) @ np.swapaxes(v, -1, -2)


def _square(draw) -> Case:
    r = rng(draw)
    return Case([_well_conditioned(r, _batch(draw), _n(draw))])


def _solve(draw) -> Case:
    r = rng(draw)
    n = _n(draw)
    a = _well_conditioned(r, _batch(draw), n)
    b = r.standard_normal(draw(st.sampled_from([(), (2,)])) + (n, draw(st.integers(1, 3))))
    return Case([a, b])


def _solve_triangular(draw) -> Case:
    r = rng(draw)
    n = _n(draw)
    lower, trans, unit = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    a = _well_conditioned(r, _batch(draw), n)
    b = r.standard_normal(draw(st.sampled_from([(), (2,)])) + (n, draw(st.integers(1, 3))))
    if draw(st.booleans()):  # column-major operands take BLAS's other path
        a, b = np.asfortranarray(a), np.asfortranarray(b)
    return Case([a, b], {"lower": lower, "trans": trans, "unit_diagonal": unit})


def _cholesky_backward(draw) -> Case:
    """A Cholesky factor (noise above its diagonal, which is not read) and a gradient of it (the blocked
    algorithm of large matrices is checked against the formula in tests/test_scipy_linalg.py)."""
    r = rng(draw)
    n = _n(draw)
    batch = _batch(draw)
    low = np.linalg.cholesky(_spd(r, batch, n) + np.eye(n))
    low = low + r.standard_normal(low.shape) * np.triu(np.ones((n, n)), 1)
    return Case([low, r.standard_normal(draw(st.sampled_from([(), batch])) + (n, n))])


def _cholesky(draw) -> Case:
    r = rng(draw)
    n = _n(draw)
    a = _spd(r, _batch(draw), n)
    # the triangle not read holds noise: its derivative must be 0
    upper = draw(st.booleans())
    noise = r.standard_normal(a.shape) * (np.triu(np.ones((n, n)), 1) if not upper else np.tril(np.ones((n, n)), -1))
    return Case([a + noise], {"upper": upper})


def _eigh(draw) -> Case:
    r = rng(draw)
    n = _n(draw)
    uplo = draw(st.sampled_from(["L", "U"]))
    a = _spd(r, _batch(draw), n) - 2.5
    return Case([a], {"UPLO": uplo})


def _qr(draw) -> Case:
    r = rng(draw)
    m, n = _n(draw), _n(draw)
    # the first min(m, n) columns well conditioned
    a = r.standard_normal(_batch(draw) + (m, n)) * 0.3
    k = min(m, n)
    a[..., :k, :k] += 2 * np.eye(k)
    return Case([a])


def _svd(draw) -> Case:
    r = rng(draw)
    return Case([_distinct_svd(r, _batch(draw), _n(draw), _n(draw))])


def _pinv(draw) -> Case:
    r = rng(draw)
    return Case([_distinct_svd(r, _batch(draw), _n(draw), _n(draw))], {"rcond": 1e-10})


SAMPLERS = {
    "inv": _square, "solve": _solve, "solve_triangular": _solve_triangular, "det": _square,
    "logabsdet": _square, "cholesky": _cholesky, "eigh": _eigh, "qr": _qr, "svd": _svd, "pinv": _pinv,
    "cholesky_backward": _cholesky_backward,
}
NEVER_EMPTY = frozenset(SAMPLERS)

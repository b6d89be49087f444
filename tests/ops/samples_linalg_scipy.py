"""Samplers for the scipy.linalg primitives (tapegrad/ops/linalg_scipy.py), inside each one's domain.

``lu_factor`` gets matrices dominated by a permuted diagonal, so that the pivots are far from ties (they
must not change under the finite-difference steps); ``lu_solve`` factors of well-conditioned matrices;
``sqrtm`` matrices with real positive eigenvalues (a real principal square root); ``solve_sylvester``
``a`` and ``b`` whose eigenvalues have positive real parts (``a`` and ``-b`` share none); ``solve_banded``
diagonally dominant band matrices, with noise in the corners of ``ab`` that lie outside the matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from hypothesis import strategies as st

from .samples import Case, rng


def _batch(draw):
    return draw(st.sampled_from([(), (2,), (1, 2)]))


def _n(draw, low=1, high=4):
    return draw(st.integers(low, high))


def _positive_spectrum(r, batch, n):
    """Well-conditioned matrices whose eigenvalues have real parts near 3 (between about 2 and 4)."""
    return r.standard_normal(batch + (n, n)) * 0.3 + 3 * np.eye(n)


def _pivots(r, batch, n):
    """LAPACK-style 0-based pivots: row i swapped with a row at or after it."""
    return np.array([[r.integers(i, n) for i in range(n)] for _ in range(int(np.prod(batch)))],
                    dtype=np.int32).reshape(batch + (n,))


def _lu_permute(draw) -> Case:
    r = rng(draw)
    n, batch = _n(draw), _batch(draw)
    x = r.standard_normal(draw(st.sampled_from([(), batch])) + (n, draw(st.integers(1, 3))))
    return Case([x, _pivots(r, batch, n)], {"inverse": draw(st.booleans())})


def _lu_factor(draw) -> Case:
    r = rng(draw)
    n, batch = _n(draw), _batch(draw)
    perm = np.argsort(r.random(batch + (n,)), axis=-1)
    dominant = (np.arange(n) == perm[..., None]).astype(float) * 4  # a permuted diagonal: clear pivots
    return Case([dominant + r.standard_normal(batch + (n, n)) * 0.3])


def _lu_of(a):
    flat = a.reshape(-1, *a.shape[-2:])
    pairs = [scipy.linalg.lu_factor(m) for m in flat]
    return (np.stack([p[0] for p in pairs]).reshape(a.shape),
            np.stack([p[1] for p in pairs]).reshape(a.shape[:-1]))


def _lu_solve(draw) -> Case:
    r = rng(draw)
    n, batch = _n(draw), _batch(draw)
    lu, piv = _lu_of(r.standard_normal(batch + (n, n)) * 0.5 + 3 * np.eye(n)[::-1] + np.eye(n))
    b = r.standard_normal(draw(st.sampled_from([(), (2,)])) + (n, draw(st.integers(1, 3))))
    return Case([lu, piv, b], {"trans": draw(st.booleans())})


def _expm(draw) -> Case:
    r = rng(draw)
    return Case([r.standard_normal(_batch(draw) + (_n(draw),) * 2) * 0.7])


def _sqrtm(draw) -> Case:
    r = rng(draw)
    n, batch = _n(draw), _batch(draw)
    if draw(st.booleans()):  # symmetric positive definite
        q, _ = np.linalg.qr(r.standard_normal(batch + (n, n)))
        return Case([(q * np.arange(1.0, n + 1)) @ np.swapaxes(q, -1, -2)])
    return Case([_positive_spectrum(r, batch, n)])  # not symmetric, real eigenvalues or pairs near 3


def _solve_sylvester(draw) -> Case:
    r = rng(draw)
    m, n = _n(draw), _n(draw)
    a = _positive_spectrum(r, _batch(draw), m)
    b = _positive_spectrum(r, draw(st.sampled_from([(), (2,)])), n)
    return Case([a, b, r.standard_normal((m, n))])


def _solve_banded(draw) -> Case:
    r = rng(draw)
    n, batch = _n(draw, 1, 5), _batch(draw)
    lower, upper = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    ab = r.standard_normal(batch + (lower + upper + 1, n)) * 0.5
    ab[..., upper, :] += 3 * (lower + upper + 1)  # the main diagonal dominates
    b = r.standard_normal(draw(st.sampled_from([(), (2,)])) + (n, draw(st.integers(1, 3))))
    return Case([ab, b], {"lower": lower, "upper": upper})


SAMPLERS = {
    "lu_permute": _lu_permute, "lu_factor": _lu_factor, "lu_solve": _lu_solve, "expm": _expm, "sqrtm": _sqrtm,
    "solve_sylvester": _solve_sylvester, "solve_banded": _solve_banded,
}
NEVER_EMPTY = frozenset(SAMPLERS)

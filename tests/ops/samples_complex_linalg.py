"""Complex inputs of the numpy.linalg primitives for the registry sweep (issue 18).

The generic complexified cases (an imaginary part added to each input, tests/ops/samples_complex.py) would not
be Hermitian, or would move singular values together; these samplers draw what each primitive needs, as the
real samplers of tests/ops/samples_linalg_numpy.py do: Hermitian positive-definite matrices (with noise, real
and imaginary, in the triangle that is not read and an imaginary part on the diagonal, which LAPACK does not
read either: their derivatives must be 0), Hermitian matrices with eigenvalues well apart, matrices with
distinct singular values, full-rank ones for ``qr`` and ``pinv``, well-conditioned triangular systems (some of
them mixing a real and a complex operand).

:data:`GAUGE_INVARIANT`: the eigenvectors and singular vectors of complex matrices are fixed only up to a
phase each (LAPACK picks one; a loss that depends on it has no gradient, and the VJP refuses one). The sweep
checks ``eigh`` and ``svd`` of complex inputs through a function of the packed output that keeps everything
but those phases: each vector times the conjugate of its first entry (for a pair of singular vectors, ``u_j``
times ``conj(u_0j)`` and ``v_j^H`` times ``u_0j``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

import tapegrad as tg

from .samples import Case, rng
from .samples_linalg_numpy import _batch, _n


def _complex_normal(r, shape):
    return r.standard_normal(shape) + 1j * r.standard_normal(shape)


def _unitary(r, batch, m, k):
    """``(..., m, k)`` with orthonormal columns (complex)."""
    q, _ = np.linalg.qr(_complex_normal(r, batch + (m, k)))
    return q


def _hermitian(r, batch, n, values):
    q = _unitary(r, batch, n, n)
    return (q * values) @ np.conj(np.swapaxes(q, -1, -2))


def _unread(r, a, upper: bool):
    """Complex noise in the triangle that is not read (the upper one, or the lower if ``upper``) and an
    imaginary part on the diagonal."""
    n = a.shape[-1]
    mask = np.tril(np.ones((n, n)), -1) if upper else np.triu(np.ones((n, n)), 1)
    return a + _complex_normal(r, a.shape) * mask + 1j * r.standard_normal(a.shape) * np.eye(n)


def _cholesky(draw) -> Case:
    r = rng(draw)
    n = _n(draw)
    upper = draw(st.booleans())
    a = _hermitian(r, _batch(draw), n, np.arange(1.0, n + 1))
    return Case([_unread(r, a, upper)], {"upper": upper})


def _cholesky_backward(draw) -> Case:
    """A complex Cholesky factor (real positive diagonal; noise above it, which is not read) and a complex
    gradient of it."""
    r = rng(draw)
    n = _n(draw)
    batch = _batch(draw)
    low = np.linalg.cholesky(_hermitian(r, batch, n, np.arange(2.0, n + 2)))
    low = low + _complex_normal(r, low.shape) * np.triu(np.ones((n, n)), 1)
    return Case([low, _complex_normal(r, draw(st.sampled_from([(), batch])) + (n, n))])


def _eigh(draw) -> Case:
    r = rng(draw)
    n = _n(draw)
    uplo = draw(st.sampled_from(["L", "U"]))
    a = _hermitian(r, _batch(draw), n, np.arange(1.0, n + 1) - 2.5)
    return Case([_unread(r, a, uplo == "U")], {"UPLO": uplo})


def _qr(draw) -> Case:
    r = rng(draw)
    m, n = _n(draw), _n(draw)
    a = _complex_normal(r, _batch(draw) + (m, n)) * 0.3
    k = min(m, n)
    a[..., :k, :k] += 2 * np.eye(k)
    return Case([a])


def _distinct_svd(r, batch, m, n):
    """A complex matrix whose singular values are 1, 2, ..., min(m, n)."""
    k = min(m, n)
    u, v = _unitary(r, batch, m, k), _unitary(r, batch, n, k)
    return (u * np.arange(1.0, k + 1)) @ np.conj(np.swapaxes(v, -1, -2))


def _svd(draw) -> Case:
    r = rng(draw)
    return Case([_distinct_svd(r, _batch(draw), _n(draw), _n(draw))])


def _pinv(draw) -> Case:
    r = rng(draw)
    return Case([_distinct_svd(r, _batch(draw), _n(draw), _n(draw))], {"rcond": 1e-10})


def _solve_triangular(draw) -> Case:
    r = rng(draw)
    n = _n(draw)
    lower, trans, unit = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    a = _complex_normal(r, _batch(draw) + (n, n)) * 0.4 + 3 * np.eye(n)
    b = _complex_normal(r, draw(st.sampled_from([(), (2,)])) + (n, draw(st.integers(1, 3))))
    kinds = draw(st.sampled_from(["both", "a", "b"]))  # which operands are complex
    if kinds == "b":
        a = a.real.copy()
    elif kinds == "a":
        b = b.real.copy()
    if draw(st.booleans()):  # column-major operands take BLAS's other path
        a, b = np.asfortranarray(a), np.asfortranarray(b)
    return Case([a, b], {"lower": lower, "trans": trans, "unit_diagonal": unit})


SAMPLERS: dict[str, Callable[[Any], Case]] = {
    "cholesky": _cholesky, "cholesky_backward": _cholesky_backward, "eigh": _eigh, "qr": _qr, "svd": _svd,
    "pinv": _pinv, "solve_triangular": _solve_triangular,
}


def _eigh_without_phases(out: tg.Tensor, case: Case) -> tg.Tensor:
    n = case.args[0].shape[-1]
    batch = tuple(out.shape[:-1])
    w, v = out[..., :n], out[..., n:].reshape(batch + (n, n))
    fixed = v * v[..., :1, :].conj()
    return tg.concatenate([w, fixed.reshape(batch + (n * n,))], axis=-1)


def _svd_without_phases(out: tg.Tensor, case: Case) -> tg.Tensor:
    m, n = case.args[0].shape[-2:]
    k = min(m, n)
    batch = tuple(out.shape[:-1])
    u = out[..., :m * k].reshape(batch + (m, k))
    s = out[..., m * k:m * k + k]
    vh = out[..., m * k + k:].reshape(batch + (k, n))
    phase = u[..., :1, :]  # (..., 1, k): u_0j
    fixed_u, fixed_vh = u * phase.conj(), vh * phase.reshape(batch + (k, 1))
    return tg.concatenate([fixed_u.reshape(batch + (m * k,)), s, fixed_vh.reshape(batch + (k * n,))], axis=-1)


#: Functions of the packed output that do not depend on the phases of complex eigenvectors or singular vectors
#: (``post(out, case)``, on Tensors), through which the sweep checks these primitives on complex inputs.
GAUGE_INVARIANT: dict[str, Callable[[tg.Tensor, Case], tg.Tensor]] = {
    "eigh": _eigh_without_phases, "svd": _svd_without_phases,
}

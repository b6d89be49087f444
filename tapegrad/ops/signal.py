"""N-dimensional convolution (``scipy.signal.convolve``) as one primitive closed under differentiation.

``convolve(a, b, start=s, size=n)`` is a window of the full convolution of two arrays of the same ndim::

    full[j] = sum_k a[k] * b[j - k]          (j from 0 to a.shape + b.shape - 2, per axis)
    convolve(a, b, start, size)[j] = full[start + j]   for 0 <= j < size   (zero outside ``full``)

SciPy's three modes are windows of it: ``full`` (start 0), ``valid`` (start ``min(N, M) - 1``, size
``|N - M| + 1``) and ``same`` (start ``(M - 1) // 2``, size ``N``), per axis, for ``a`` of shape ``N`` and
``b`` of shape ``M``. The VJPs are correlations, which are convolutions with the other operand flipped::

    d<g, convolve(a, b)>/da = convolve(g, flip(b), start=M - 1 - start, size=N)
    d<g, convolve(a, b)>/db = convolve(g, flip(a), start=N - 1 - start, size=M)

so the primitive's rules use only itself and ``flip``, and every order of derivative exists. The forward
runs ``scipy.signal.convolve`` (SciPy imported at the first call: the ``tapegrad[scipy]`` extra) in mode
``full`` or ``valid`` when the window is one of those, else in mode ``valid`` on ``a`` cut or zero-padded
to the window (so the work is the window's, never the whole full convolution's); ``method`` is SciPy's
(``auto``, ``direct``, ``fft``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ArgumentError, ShapeError
from .optional import installed, scipy_module
from .registry import Primitive

MODES = ("full", "valid", "same")


def mode_window(mode: str, n: tuple[int, ...], m: tuple[int, ...], op: str = "convolve"
                ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The ``(start, size)`` of the window of the full convolution that SciPy's ``mode`` keeps, for
    inputs of shapes ``n`` and ``m`` (``same``: shaped as the first input).

    Raises:
        ArgumentError: an unknown ``mode``. ShapeError: the shapes differ in length, one is empty, or in
            mode ``valid`` neither input is at least as large as the other along every axis.
    """
    if mode not in MODES:
        raise ArgumentError(f"{op}: mode={mode!r}; expected one of {', '.join(map(repr, MODES))}")
    n, m = tuple(n), tuple(m)
    if len(n) != len(m):
        raise ShapeError(f"{op}: in1 {n} and in2 {m} have {len(n)} and {len(m)} dimensions; expected the same "
                         "number")
    if 0 in n or 0 in m:
        raise ShapeError(f"{op}: in1 {n} and in2 {m}; expected non-empty inputs")
    if mode == "full":
        return (0,) * len(n), tuple(i + j - 1 for i, j in zip(n, m))
    if mode == "same":
        return tuple((j - 1) // 2 for j in m), n
    if not (all(i >= j for i, j in zip(n, m)) or all(i <= j for i, j in zip(n, m))):
        raise ShapeError(f"{op}: in1 {n} and in2 {m} in mode 'valid'; expected one of them to be at least as "
                         "large as the other along every axis")
    return tuple(min(i, j) - 1 for i, j in zip(n, m)), tuple(abs(i - j) + 1 for i, j in zip(n, m))


def _check_window(a: np.ndarray, b: np.ndarray, start: tuple, size: tuple) -> None:
    if a.ndim != b.ndim:
        raise ShapeError(f"convolve: in1 {a.shape} and in2 {b.shape} must have the same number of dimensions")
    if len(start) != a.ndim or len(size) != a.ndim:
        raise ShapeError(f"convolve: start {start} and size {size} need one entry per axis of {a.shape}")


def _convolve(a: np.ndarray, b: np.ndarray, *, start: tuple[int, ...], size: tuple[int, ...],
              method: str = "auto") -> np.ndarray:
    a, b = np.asarray(a), np.asarray(b)
    _check_window(a, b, start, size)
    dtype = np.result_type(a, b)
    if a.size == 0 or b.size == 0 or 0 in size:  # an empty sum: zeros
        return np.zeros(size, dtype)
    n, m = a.shape, b.shape
    if a.ndim == 1 and installed("scipy.signal") is None:  # NumPy's own 1-D convolution (np.convolve without SciPy)
        full, out = np.convolve(a, b), np.zeros(size, dtype)
        first, last = max(start[0], 0), min(start[0] + size[0], full.shape[0])
        if first < last:
            out[first - start[0]:last - start[0]] = full[first:last]
        return out
    signal = scipy_module("scipy.signal", "convolve")
    full = tuple(i + j - 1 for i, j in zip(n, m))
    if all(s == 0 for s in start) and tuple(size) == full:
        out = signal.convolve(a, b, mode="full", method=method)
    elif all(i >= j and s == j - 1 and z == i - j + 1 for i, j, s, z in zip(n, m, start, size)):
        out = signal.convolve(a, b, mode="valid", method=method)
    else:
        # The window's entry j reads a[start + j - k] for the taps k of b: a's entries from
        # start - (M - 1) to start + size - 1, cut from a or zeros where they fall outside it.
        cut, pads = [], []
        for i, j, s, z in zip(n, m, start, size):
            low, high = s - j + 1, s + z
            first, last = min(max(low, 0), i), max(min(high, i), 0)
            if first >= last:  # the window reads none of a
                return np.zeros(size, dtype)
            cut.append(slice(first, last))
            pads.append((first - low, high - last))
        window = np.pad(a[tuple(cut)], pads)
        out = signal.convolve(window, b, mode="valid", method=method)
    out = np.asarray(out)
    return out if out.dtype == dtype else out.astype(dtype)


def _flip_all(xp: Any, x: Any) -> Any:
    return xp.flip(x, axis=tuple(range(np.ndim(x)))) if np.ndim(x) else x


def _vjp_a(xp: Any, g: Any, ans: Any, a: Any, b: Any, *, start: tuple, size: tuple, method: str = "auto") -> Any:
    m = np.shape(b)
    return xp.convolve(g, _flip_all(xp, b), start=tuple(j - 1 - s for j, s in zip(m, start)),
                       size=tuple(np.shape(a)), method=method)


def _vjp_b(xp: Any, g: Any, ans: Any, a: Any, b: Any, *, start: tuple, size: tuple, method: str = "auto") -> Any:
    n = np.shape(a)
    return xp.convolve(g, _flip_all(xp, a), start=tuple(i - 1 - s for i, s in zip(n, start)),
                       size=tuple(np.shape(b)), method=method)


def _convolve_batch(xp: Any, prim: Any, examples: int, batched: tuple, /, a: Any, b: Any, *, start: tuple,
                    size: tuple, method: str = "auto") -> Any:
    """convolve of every example. With one input shared, one convolution of one more dimension (the
    shared input of length 1 along the batch axis). With both batched, the sum over the taps of the
    smaller input of its tap times the other shifted (a loop over the taps, each a batched product, as
    conv_transpose's; a convolution along the batch axis would mix the examples)."""
    if not (batched[0] and batched[1]):
        a, b = (a, xp.reshape(b, shape=(1,) + tuple(b.shape))) if batched[0] else \
            (xp.reshape(a, shape=(1,) + tuple(a.shape)), b)
        return xp.convolve(a, b, start=(0,) + tuple(start), size=(examples,) + tuple(size), method=method)
    if math.prod(b.shape[1:]) > math.prod(a.shape[1:]):
        a, b = b, a  # the full convolution is symmetric: the smaller input gives the taps
    n, m = tuple(a.shape[1:]), tuple(b.shape[1:])
    dtype = np.result_type(a.dtype, b.dtype)
    if 0 in n or 0 in m or 0 in size:
        return np.zeros((examples,) + tuple(size), dtype)
    before = [max(0, j - 1 - s) for j, s in zip(m, start)]
    after = [max(0, s + z - i) for i, s, z in zip(n, start, size)]
    padded = xp.pad(a, pad_width=((0, 0),) + tuple(zip(before, after)))
    out = None
    for tap in np.ndindex(*m):
        window = tuple(slice(s - t + p, s - t + p + z) for s, t, p, z in zip(start, tap, before, size))
        weight = xp.reshape(xp.getitem(b, index=(slice(None),) + tap), shape=(examples,) + (1,) * len(m))
        term = weight * xp.getitem(padded, index=(slice(None),) + window)
        out = term if out is None else out + term
    return out


convolve = Primitive(
    "convolve", _convolve, batch=_convolve_batch,
    vjps=(_vjp_a, _vjp_b),
    jvps=(lambda xp, t, ans, a, b, **params: xp.convolve(t, b, **params),
          lambda xp, t, ans, a, b, **params: xp.convolve(a, t, **params)),
    expects="two arrays of the same number of dimensions",
    derivatives=("correlation with {b}", "correlation with {a}"),
    doc="A window of the full N-d convolution of two arrays (scipy.signal.convolve's modes).",
)

PRIMITIVES = (convolve,)

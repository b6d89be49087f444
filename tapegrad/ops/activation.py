"""The activations of transformer-era models: gelu, silu, hardtanh, softsign, log_sigmoid; and the error
function's own implementation (erf_array, erfc_array), which the erf primitive (tapegrad/ops/special.py) uses
without SciPy.

NumPy has no error function, so :func:`erf_array` and :func:`erfc_array` compute it here, to full
double precision (tested against ``math.erf`` / ``math.erfc`` in tests/nn/test_transformer.py):

* ``|x| < 0.5``: the Maclaurin series of erf, 13 terms (the first dropped term is below 1e-17 of
  the sum), evaluated by Horner's rule in ``x**2``;
* ``|x| >= 0.5``: ``erfc(z) = t * exp(-z**2 + P(t))`` with ``t = 2 / (2 + z)`` (the form of Numerical
  Recipes' ``erfccheb``) and ``P`` a Chebyshev series of 22 terms on the ``t`` of ``z`` in
  [0.5, 27], fitted at 42 Chebyshev nodes to values computed with mpmath at 40 digits (largest
  relative error of erfc over [0.5, 26.5]: 9e-16). ``z**2`` is split as ``zh**2 + (z - zh)(z + zh)``
  with ``zh`` = z rounded down to a multiple of 1/16, whose square is exact, so that the rounding
  of ``z**2`` (up to 7e-14 relative at z = 26) does not reach the exponential.

Float32 inputs of ``erf`` are computed in float64 and rounded once. Float32 inputs of ``erfc`` and of the
exact gelu and its derivative take a shorter road, still in float64 and rounded once: the normal
distribution's ``log Phi`` tabulated at first use on a grid of step 1/64 over [-15, 15] (from the
double-precision ``erfc`` above), one cubic per step (Hermite's, from the values and the derivatives at its
ends), evaluated in chunks of 16,384 elements that stay in the cache; ``erfc(x) = 2 Phi(-sqrt(2) x)``,
``gelu(x) = x Phi(x)``. Within half a float32 ulp (0.501) of the exact values; the derivative, whose two
terms cancel near its root at -0.75, there within a tenth of their ulp (tests/ops/test_gelu.py); about 10
times faster than the double-precision road on a training step's activations (BENCHMARKS.md).

The exact gelu uses ``erfc`` for its left tail (``x * erfc(-x / sqrt 2) / 2``), where ``1 + erf`` would
cancel to 0, and its derivative ``Phi(x) + x phi(x)`` is a primitive of its own (``gelu_derivative``,
whose derivative is ``phi(x) (2 - x**2)``), so that the backward pass of a float32 gelu takes the same
short road as its forward pass. Both give their limits at infinities: gelu 0 at -inf and inf at inf,
its derivative 0 and 1.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import DTypeError
from .optional import installed
from .registry import Primitive

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715

# erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)): the coefficients of x^(2n+1), n = 0..12.
_SERIES = tuple(_TWO_OVER_SQRT_PI * (-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(13))

# The Chebyshev series of log(erfc(z) / t) + z**2 in y = (2t - (T0 + T1)) / (T1 - T0), t = 2 / (2 + z),
# for z in [0.5, 27] (t from T0 = 2/29 to T1 = 0.8).
_T0, _T1 = 2.0 / 29.0, 0.8
_CHEBYSHEV = (
    -0.7432151865617819, 0.4699264789534271, 0.015344183463900284, -0.003558487376169971,
    -0.00044492345415483197, 6.918553623680178e-05, 1.3636917316724958e-05, -2.1185968395837353e-06,
    -4.423332943721792e-07, 8.514106416791376e-08, 1.3813717433537695e-08, -3.851048861458309e-09,
    -3.448949724752256e-10, 1.7427655203839934e-10, 1.812668559048002e-12, -7.175097145228713e-12,
    5.44476579452057e-13, 2.3706270268626116e-13, -4.620688825461345e-14, -4.1875630289373294e-15,
    2.3185382904443384e-15, -1.4715696120088728e-16,
)
# The same polynomial in the power basis of y (the sum of its coefficients' sizes is 1.3: Horner's rule
# in it loses nothing), cheaper to evaluate than Clenshaw's recurrence.
_POWERS = tuple(float(c) for c in np.polynomial.chebyshev.cheb2poly(np.array(_CHEBYSHEV)))


def _erf_series(x: np.ndarray) -> np.ndarray:
    """erf(x) for |x| < 0.5 (float64)."""
    x2 = x * x
    total = np.full_like(x, _SERIES[-1])
    for c in _SERIES[-2::-1]:
        total *= x2
        total += c
    return total * x


def _erfc_tail(z: np.ndarray) -> np.ndarray:
    """erfc(z) for z >= 0.5 (float64); 0 beyond 27, where erfc is below the smallest float64."""
    z = np.minimum(z, 27.0)
    t = 2.0 / (2.0 + z)
    y = t * (2.0 / (_T1 - _T0))
    y -= (_T0 + _T1) / (_T1 - _T0)
    p = np.full_like(z, _POWERS[-1])
    for c in _POWERS[-2::-1]:  # Horner's rule, in place
        p *= y
        p += c
    zh = np.floor(z * 16.0)
    zh *= 1.0 / 16.0
    p -= (z - zh) * (z + zh)
    zh *= -zh
    with np.errstate(under="ignore"):
        np.exp(p, out=p)
        np.exp(zh, out=zh)  # a separate factor: zh**2 (up to 729) added to p would round p
    p *= t
    p *= zh
    return p


def _as_float64(x: np.ndarray) -> np.ndarray:
    if np.iscomplexobj(x):  # issue 18: the real error function (and gelu, built on it) of a complex value
        raise DTypeError(f"erf: got dtype {np.asarray(x).dtype}; expected real numbers (tapegrad's erf, erfc and "
                         "gelu are real functions)")
    return np.asarray(x, dtype=np.float64)


def erf_array(x: np.ndarray) -> np.ndarray:
    """The error function of a float array, elementwise, in the array's dtype (float64 inside)."""
    x64 = _as_float64(x)
    a = np.abs(x64)
    small = a < 0.5
    out = np.empty_like(x64)
    if small.all():
        out = _erf_series(x64)
    else:
        out[small] = _erf_series(x64[small])
        large = ~small  # NaN lands here and stays NaN
        out[large] = np.copysign(1.0 - _erfc_tail(a[large]), x64[large])
    return out.astype(np.result_type(x, np.float32), copy=False)


def erfc_array(x: np.ndarray) -> np.ndarray:
    """The complementary error function ``1 - erf(x)``, accurate in both tails (float64 inside), in the
    array's dtype (float32 by the shorter road of :func:`_float32_normal`)."""
    if isinstance(x, np.ndarray) and x.dtype == np.float32:
        return _float32_normal(x, "erfc")
    x64 = _as_float64(x)
    small = np.abs(x64) < 0.5
    out = np.empty_like(x64)
    out[small] = 1.0 - _erf_series(x64[small])
    large = ~small
    tail = _erfc_tail(np.abs(x64[large]))
    out[large] = np.where(x64[large] > 0, tail, 2.0 - tail)
    return out.astype(np.result_type(x, np.float32), copy=False)


def _elementwise(name: str, forward, rule, *, derivative: str = "", expects: str = "") -> Primitive:
    """An elementwise primitive whose VJP ``g * f'(x)`` and JVP ``t * f'(x)`` are the same rule."""
    return Primitive(name, forward, vjps=(rule,), jvps=(rule,), elementwise=True, expects=expects,
                     derivatives=(derivative or None,))


# The float32 road (see the module's text): log Phi on a grid of step 1/64 over [-15, 15] (beyond it Phi
# is 0 or 1 to float32), one cubic per step (Hermite's, from log Phi and its derivative phi / Phi at both
# ends; error at most step**4 / 384 times the largest fourth derivative of log Phi: about 1e-10), built at
# first use.
_TABLE_LIMIT, _TABLE_STEP = 15.0, 1.0 / 64.0
_TABLE_CHUNK = 16384  # elements per pass: the float64 scratch arrays (128 KiB each) stay in the cache


@functools.cache
def _log_ndtr_cubics() -> np.ndarray:
    """(steps, 4): per step of the grid, the coefficients c0..c3 of log Phi(x0 + s * step), s in [0, 1]."""
    nodes = np.linspace(-_TABLE_LIMIT, _TABLE_LIMIT, round(2 * _TABLE_LIMIT / _TABLE_STEP) + 1)
    cdf = 0.5 * erfc_array(nodes * -_SQRT1_2)  # double precision, down to Phi(-15) = 3.7e-51
    value = np.log(cdf)
    slope = (_INV_SQRT_2PI * np.exp(-0.5 * nodes * nodes)) / cdf * _TABLE_STEP  # d/ds
    f0, f1, d0, d1 = value[:-1], value[1:], slope[:-1], slope[1:]
    return np.stack([f0, d0, 3.0 * (f1 - f0) - 2.0 * d0 - d1, 2.0 * (f0 - f1) + d0 + d1], axis=1)


def _float32_normal(x: np.ndarray, what: str) -> np.ndarray:
    """For a float32 array ``x``, in float32: ``erfc(x) = 2 Phi(-sqrt(2) x)`` (``what="erfc"``),
    ``gelu(x) = x Phi(x)`` (``"gelu"``) or its derivative ``Phi(x) + x phi(x)`` (``"gelu_derivative"``),
    with Phi from :func:`_log_ndtr_cubics` (float64 inside, rounded once). NaN stays NaN."""
    cubics = _log_ndtr_cubics()
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(flat.shape, np.float32)
    size = min(_TABLE_CHUNK, flat.size)
    v, u, p, w = (np.empty(size) for _ in range(4))
    index, coefficients = np.empty(size, np.intp), np.empty((size, 4))
    # u: the argument of Phi, in steps of the grid from its start
    scale = (-math.sqrt(2.0) if what == "erfc" else 1.0) / _TABLE_STEP
    last = len(cubics) - 1e-6
    with np.errstate(invalid="ignore"):  # NaN to an index: any index (mode="clip"); the result stays NaN
        for start in range(0, flat.size, _TABLE_CHUNK):
            stop = min(flat.size, start + _TABLE_CHUNK)
            n = stop - start
            vv, uu, pp, ii, cc = v[:n], u[:n], p[:n], index[:n], coefficients[:n]
            vv[...] = flat[start:stop]
            np.multiply(vv, scale, out=uu)
            uu += _TABLE_LIMIT / _TABLE_STEP
            np.clip(uu, 0.0, last, out=uu)
            np.floor(uu, out=pp)
            ii[...] = pp
            uu -= pp  # s, in [0, 1)
            np.take(cubics, ii, axis=0, out=cc, mode="clip")
            np.multiply(cc[:, 3], uu, out=pp)  # Horner's rule in s
            pp += cc[:, 2]
            pp *= uu
            pp += cc[:, 1]
            pp *= uu
            pp += cc[:, 0]
            np.exp(pp, out=pp)  # Phi
            if what == "erfc":
                pp *= 2.0
            elif what == "gelu":  # x Phi(x); below -15, -15 Phi(-15) rounds to -0.0 as x Phi(x) does
                np.maximum(vv, -_TABLE_LIMIT, out=vv)
                pp *= vv
            else:  # Phi(x) + x phi(x), x clipped to [-15, 15], beyond which the result is its limit, 0 or 1
                np.clip(vv, -_TABLE_LIMIT, _TABLE_LIMIT, out=vv)
                ww = w[:n]
                np.multiply(vv, vv, out=ww)
                ww *= -0.5
                np.exp(ww, out=ww)
                ww *= vv
                ww *= _INV_SQRT_2PI
                pp += ww
            out[start:stop] = pp
    return out.reshape(np.shape(x))


def _gelu_exact(x: np.ndarray, what: str) -> np.ndarray:
    """gelu(x) (``what="gelu"``) or its derivative, exact: float32 by :func:`_float32_normal`, other dtypes
    with ``erfc`` to double precision (SciPy's when it is installed, else :func:`erfc_array`)."""
    if x.dtype == np.float32:
        return _float32_normal(x, what)
    # beyond +-40 the results are their limits (gelu 0 or x, its derivative 0 or 1): clipping keeps
    # infinities from meeting zeros (inf * 0)
    low = np.maximum(x, -_FLOAT64_LIMIT) if what == "gelu" else np.clip(x, -_FLOAT64_LIMIT, _FLOAT64_LIMIT)
    special = installed("scipy.special")
    twice_cdf = (special.erfc if special is not None and x.dtype.kind == "f" else erfc_array)(low * -_SQRT1_2)
    if what == "gelu":
        return ((0.5 * low) * twice_cdf).astype(np.result_type(x, np.float32), copy=False)
    with np.errstate(under="ignore"):
        slope = 0.5 * twice_cdf + low * (_INV_SQRT_2PI * np.exp(-0.5 * (low * low)))
    return slope.astype(np.result_type(x, np.float32), copy=False)


_FLOAT64_LIMIT = 40.0


def _gelu(x, approximate="none"):
    if approximate == "tanh":
        with np.errstate(over="ignore"):  # x**3 -> inf for huge |x|: tanh(+-inf) = +-1, the limit
            inner = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * (x * x * x))
        return 0.5 * x * (1.0 + np.tanh(inner))
    return _gelu_exact(x, "gelu")


def _gelu_rule(xp, g, ans, x, approximate="none"):
    if approximate == "tanh":
        # Beyond |x| = 1e9 the tanh is +-1 exactly and the slope 1 or 0, but x * x could overflow to inf
        # beside a 0 (0 * inf = NaN, as PyTorch gives beyond |x| ~ 1e19 in float32): the slope reads x
        # clipped there (the clip's derivative, 0 outside, is the slope's there too).
        x = xp.clip(x, -1e9, 1e9)
        th = xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * (x * x * x)))
        slope = 0.5 * (1.0 + th) + (0.5 * x) * (1.0 - th * th) * (
            _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_CUBIC * (x * x)))
        return g * slope
    return g * xp.gelu_derivative(x)


gelu = Primitive(
    "gelu", _gelu, vjps=(_gelu_rule,), jvps=(_gelu_rule,), elementwise=True,
    expects='a floating-point tensor; approximate="none" or "tanh"',
    derivatives=("Φ({a}) + {a} φ({a})",),
)


def _gelu_second_rule(xp, g, ans, x):
    # d/dx (Phi(x) + x phi(x)) = phi(x) + phi(x) + x phi'(x) = phi(x) (2 - x**2)
    return g * ((_INV_SQRT_2PI * xp.exp(-0.5 * (x * x))) * (2.0 - x * x))


gelu_derivative = _elementwise(
    "gelu_derivative", lambda x: _gelu_exact(x, "gelu_derivative"), _gelu_second_rule,
    derivative="φ({a}) (2 - {a}**2)", expects="a floating-point tensor")


def _silu(x):
    with np.errstate(over="ignore"):  # exp(-x) -> inf for very negative x: x / inf = -0, the limit
        return x / (1.0 + np.exp(-x))


def _silu_rule(xp, g, ans, x):
    s = xp.sigmoid(x)
    return g * (s * (1.0 + x * (1.0 - s)))


silu = _elementwise("silu", _silu, _silu_rule, derivative="σ({a})(1 + {a}(1 - σ({a})))")


def _hardtanh(x, min_val=-1.0, max_val=1.0):
    return np.clip(x, min_val, max_val)


def _hardtanh_rule(xp, g, ans, x, min_val=-1.0, max_val=1.0):
    return g * (x > min_val) * (x < max_val)  # 0 at the corners, as in PyTorch


hardtanh = Primitive(
    "hardtanh", _hardtanh, vjps=(_hardtanh_rule,), jvps=(_hardtanh_rule,), elementwise=True,
    expects="min_val <= max_val", derivatives=("[min_val < {a} < max_val]",),
)


def _softsign(x):
    return x / (1.0 + np.abs(x))


def _softsign_rule(xp, g, ans, x):
    d = 1.0 + xp.abs(x)
    return g / (d * d)


softsign = _elementwise("softsign", _softsign, _softsign_rule, derivative="1/(1 + |{a}|)**2")


def _log_sigmoid(x):
    # log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)): no overflow, and exact in both tails.
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


log_sigmoid = _elementwise("log_sigmoid", _log_sigmoid, lambda xp, g, ans, x: g * xp.sigmoid(-x),
                           derivative="σ(-{a})")

PRIMITIVES = (gelu, gelu_derivative, silu, hardtanh, softsign, log_sigmoid)

"""SciPy's special functions (``scipy.special``) as primitives: the error and gamma families, the
incomplete gamma and beta functions, the Bessel functions, ``xlogy``/``xlog1py``, the normal
distribution's ``ndtr``/``ndtri``/``log_ndtr``, ``logit``, ``entr``.

SciPy is an optional dependency (``pip install 'tapegrad[scipy]'``): it is imported at the first call
of a forward that needs it, never when tapegrad is imported; without it that call raises an
ImportError naming the function and the extra. ``erf`` and ``erfc`` have tapegrad's own fallback
(tapegrad/ops/activation.py, to double precision), used without SciPy; with it SciPy's ufuncs, 5x faster.
``expit`` and ``log_expit`` are the ``sigmoid`` and ``log_sigmoid`` primitives (tapegrad/ops/nn.py,
activation.py): one concept, one primitive.

Every derivative is written with registered primitives, so it has its own: ``digamma' = polygamma(1, .)``,
``polygamma(n, .)' = polygamma(n + 1, .)``, ``iv(v, .)' = (iv(v - 1, .) + iv(v + 1, .)) / 2``, ...
Where a derivative has no closed form (``betainc``/``gammainc``/``gammaincc`` in their shape parameters,
the Bessel functions and ``polygamma`` in their order) the rule raises an ArgumentError naming the argument
when a gradient reaches it; pass those arguments as constants. Results keep the floating dtype of the
inputs (float32 stays float32; integer orders do not promote it).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from ..errors import ArgumentError
from . import batching
from .activation import erf_array, erfc_array, log_sigmoid
from .arithmetic import BROADCAST
from .nn import sigmoid
from .optional import installed, scipy_module
from .registry import Primitive

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)

def _floating_dtype(args: tuple) -> Any:
    """The dtype of the result: the floating inputs' (integer orders and counts do not promote it)."""
    floats = [a for a in args if isinstance(a, float) or (isinstance(a, np.ndarray | np.generic)
                                                           and a.dtype.kind == "f")]
    return np.result_type(*floats) if floats else None


def _scipy_forward(name: str):
    def forward(*args):
        out = getattr(scipy_module("scipy.special", name), name)(*args)
        dtype = _floating_dtype(args)
        return out if dtype is None or out.dtype == dtype else out.astype(dtype)
    forward.__name__ = name
    return forward


def _no_derivative(function: str, argument: str, why: str):
    def rule(xp, g, ans, *args):
        raise ArgumentError(f"{function}: no gradient in its argument {argument!r} ({why}); "
                            f"pass {argument} as a constant (a NumPy array or a Tensor that does not require grad)")
    return rule


def _special(name: str, rules: tuple, *, forward=None, saves_ans: bool = False, expects: str = "",
             derivatives: tuple = (), doc: str = "") -> Primitive:
    """An elementwise primitive of SciPy's ``name`` whose VJP and JVP in each input are the same rule
    (``g * df/dinput``)."""
    return Primitive(name, forward or _scipy_forward(name), vjps=rules, jvps=rules, saves_ans=saves_ans,
                     elementwise=True, expects=expects or (BROADCAST if len(rules) > 1 else ""),
                     derivatives=derivatives or (None,) * len(rules), doc=doc)


# -- the error function family --------------------------------------------------------------------------


def _erf(x):
    module = installed("scipy.special")
    return module.erf(x) if module is not None else erf_array(x)


def _erfc(x):
    module = installed("scipy.special")
    return module.erfc(x) if module is not None else erfc_array(x)


erf = _special("erf", (lambda xp, g, ans, x: g * (_TWO_OVER_SQRT_PI * xp.exp(-(x * x))),), forward=_erf,
               derivatives=("2/sqrt(pi) exp(-{a}**2)",), expects="a floating-point tensor",
               doc="SciPy's erf when installed, else tapegrad's own (to double precision).")
erfc = _special("erfc", (lambda xp, g, ans, x: g * (-_TWO_OVER_SQRT_PI * xp.exp(-(x * x))),), forward=_erfc,
                derivatives=("-2/sqrt(pi) exp(-{a}**2)",), expects="a floating-point tensor",
                doc="SciPy's erfc when installed, else tapegrad's own (to double precision).")
erfinv = _special("erfinv", (lambda xp, g, ans, x: g * (_SQRT_PI_OVER_2 * xp.exp(ans * ans)),), saves_ans=True,
                  derivatives=("sqrt(pi)/2 exp(erfinv({a})**2)",), expects="values in (-1, 1)")
erfcinv = _special("erfcinv", (lambda xp, g, ans, x: g * (-_SQRT_PI_OVER_2 * xp.exp(ans * ans)),), saves_ans=True,
                   derivatives=("-sqrt(pi)/2 exp(erfcinv({a})**2)",), expects="values in (0, 2)")

# -- gamma, beta and their relatives --------------------------------------------------------------------


def _polygamma(n, x):
    out = scipy_module("scipy.special", "polygamma").polygamma(n, x)
    dtype = _floating_dtype((x,))
    return out if dtype is None or out.dtype == dtype else out.astype(dtype)


gamma = _special("gamma", (lambda xp, g, ans, x: g * (ans * xp.digamma(x)),), saves_ans=True,
                 derivatives=("gamma({a}) digamma({a})",))
gammaln = _special("gammaln", (lambda xp, g, ans, x: g * xp.digamma(x),), derivatives=("digamma({a})",))
gammasgn = Primitive("gammasgn", _scipy_forward("gammasgn"), saves_inputs=False,
                     doc="The sign of gamma: piecewise constant, no gradient.", batch=batching.elementwise)
rgamma = _special("rgamma", (lambda xp, g, ans, x: g * (-ans * xp.digamma(x)),), saves_ans=True,
                  derivatives=("-rgamma({a}) digamma({a})",))
digamma = _special("digamma", (lambda xp, g, ans, x: g * xp.polygamma(1, x),), derivatives=("polygamma(1, {a})",))
polygamma = _special(
    "polygamma",
    (_no_derivative("polygamma", "n", "an integer order"), lambda xp, g, ans, n, x: g * xp.polygamma(n + 1, x)),
    forward=_polygamma, expects="integer orders n >= 0 and real x, broadcastable",
    derivatives=("0", "polygamma({a} + 1, {b})"))


def _beta_rule(first: bool):
    def rule(xp, g, ans, a, b):
        return g * (ans * (xp.digamma(a if first else b) - xp.digamma(a + b)))
    return rule


def _betaln_rule(first: bool):
    def rule(xp, g, ans, a, b):
        return g * (xp.digamma(a if first else b) - xp.digamma(a + b))
    return rule


beta = _special("beta", (_beta_rule(True), _beta_rule(False)), saves_ans=True,
                derivatives=("beta({a}, {b})(digamma({a}) - digamma({a} + {b}))",
                             "beta({a}, {b})(digamma({b}) - digamma({a} + {b}))"))
betaln = _special("betaln", (_betaln_rule(True), _betaln_rule(False)),
                  derivatives=("digamma({a}) - digamma({a} + {b})", "digamma({b}) - digamma({a} + {b})"))


def _betainc_x(xp, g, ans, a, b, x):
    # x**(a-1) (1-x)**(b-1) / B(a, b), in logarithms: no overflow for large a or b.
    return g * xp.exp(xp.xlogy(a - 1, x) + xp.xlog1py(b - 1, -x) - xp.betaln(a, b))


_NO_CLOSED_FORM = "its derivative there has no closed form"
betainc = _special(
    "betainc", (_no_derivative("betainc", "a", _NO_CLOSED_FORM), _no_derivative("betainc", "b", _NO_CLOSED_FORM),
                _betainc_x),
    expects="a > 0, b > 0 and x in [0, 1], broadcastable",
    derivatives=("0", "0", "x**(a-1) (1-x)**(b-1) / beta(a, b)"))


def _gammainc_x(sign: float):
    def rule(xp, g, ans, a, x):
        return g * (sign * xp.exp(xp.xlogy(a - 1, x) - x - xp.gammaln(a)))
    return rule


gammainc = _special("gammainc", (_no_derivative("gammainc", "a", _NO_CLOSED_FORM), _gammainc_x(1.0)),
                    expects="a > 0 and x >= 0, broadcastable",
                    derivatives=("0", "{b}**({a}-1) exp(-{b}) / gamma({a})"))
gammaincc = _special("gammaincc", (_no_derivative("gammaincc", "a", _NO_CLOSED_FORM), _gammainc_x(-1.0)),
                     expects="a > 0 and x >= 0, broadcastable",
                     derivatives=("0", "-{b}**({a}-1) exp(-{b}) / gamma({a})"))

# -- logit, the normal distribution, xlogy, entropy -----------------------------------------------------

logit = _special("logit", (lambda xp, g, ans, x: g / (x * (1 - x)),), derivatives=("1/({a}(1 - {a}))",),
                 expects="values in (0, 1)")
ndtr = _special("ndtr", (lambda xp, g, ans, x: g * (_INV_SQRT_2PI * xp.exp(-0.5 * (x * x))),),
                derivatives=("exp(-{a}**2/2)/sqrt(2 pi)",))
ndtri = _special("ndtri", (lambda xp, g, ans, x: g * (_SQRT_2PI * xp.exp(0.5 * (ans * ans))),), saves_ans=True,
                 derivatives=("sqrt(2 pi) exp(ndtri({a})**2/2)",), expects="values in (0, 1)")
# phi(x) / Phi(x) = exp(-x**2/2 - log_ndtr(x)) / sqrt(2 pi): no underflow to 0/0 in the left tail.
log_ndtr = _special("log_ndtr", (lambda xp, g, ans, x: g * (_INV_SQRT_2PI * xp.exp(-0.5 * (x * x) - ans)),),
                    saves_ans=True, derivatives=("exp(-{a}**2/2)/(sqrt(2 pi) ndtr({a}))",))


def _xlogy_x(log):
    # d/dx x log(y) = log(y); 0 where x == 0 and log(y) does not exist (as in PyTorch).
    def rule(xp, g, ans, x, y):
        missing = (x == 0) & (y <= (0 if log == "log" else -1))
        safe = xp.where(missing, 1, y)
        return xp.where(missing, 0, g * (xp.log(safe) if log == "log" else xp.log1p(safe)))
    return rule


def _xlogy_y(shift: float):
    # d/dy x log(y) = x / y; 0 where x == 0 and y is at the pole (not 0/0). Elsewhere at x == 0 it stays
    # x / y, whose derivative in x (1 / y) the second order needs.
    def rule(xp, g, ans, x, y):
        den = y + shift
        return g * (x / xp.where((x == 0) & (den == 0), 1, den))
    return rule


xlogy = _special("xlogy", (_xlogy_x("log"), _xlogy_y(0.0)), derivatives=("log({b})", "{a}/{b}"),
                 doc="0 where x == 0 (also the gradients there, as in PyTorch).")
xlog1py = _special("xlog1py", (_xlogy_x("log1p"), _xlogy_y(1.0)), derivatives=("log1p({b})", "{a}/(1 + {b})"),
                   doc="0 where x == 0 (also the gradients there, as in PyTorch).")
entr = _special("entr", (lambda xp, g, ans, x: g * -(xp.log(x) + 1),), derivatives=("-(log({a}) + 1)",),
                expects="values >= 0 (-inf below)")

# -- Bessel functions -----------------------------------------------------------------------------------

i0 = _special("i0", (lambda xp, g, ans, x: g * xp.i1(x),), derivatives=("i1({a})",))
# I1' = (I0 + I2) / 2: no division by x, so also right at 0.
i1 = _special("i1", (lambda xp, g, ans, x: g * (0.5 * (xp.i0(x) + xp.iv(2, x))),),
              derivatives=("(i0({a}) + iv(2, {a}))/2",))
i0e = _special("i0e", (lambda xp, g, ans, x: g * (xp.i1e(x) - xp.sign(x) * ans),), saves_ans=True,
               derivatives=("i1e({a}) - sign({a}) i0e({a})",))
i1e = _special("i1e", (lambda xp, g, ans, x: g * (0.5 * (xp.i0e(x) + xp.ive(2, x)) - xp.sign(x) * ans),),
               saves_ans=True, derivatives=("(i0e({a}) + ive(2, {a}))/2 - sign({a}) i1e({a})",))
_ORDER = "the order"
iv = _special("iv", (_no_derivative("iv", "v", _ORDER),
                     lambda xp, g, ans, v, x: g * (0.5 * (xp.iv(v - 1, x) + xp.iv(v + 1, x)))),
              expects="real orders v and x (x >= 0 unless v is an integer), broadcastable",
              derivatives=("0", "(iv({a} - 1, {b}) + iv({a} + 1, {b}))/2"))
ive = _special("ive", (_no_derivative("ive", "v", _ORDER),
                       lambda xp, g, ans, v, x: g * (0.5 * (xp.ive(v - 1, x) + xp.ive(v + 1, x)) - xp.sign(x) * ans)),
               saves_ans=True, expects="real orders v and x (x >= 0 unless v is an integer), broadcastable",
               derivatives=("0", "(ive({a} - 1, {b}) + ive({a} + 1, {b}))/2 - sign({b}) ive({a}, {b})"))
j0 = _special("j0", (lambda xp, g, ans, x: -g * xp.j1(x),), derivatives=("-j1({a})",))
j1 = _special("j1", (lambda xp, g, ans, x: g * (0.5 * (xp.j0(x) - xp.jv(2, x))),),
              derivatives=("(j0({a}) - jv(2, {a}))/2",))
jv = _special("jv", (_no_derivative("jv", "v", _ORDER),
                     lambda xp, g, ans, v, x: g * (0.5 * (xp.jv(v - 1, x) - xp.jv(v + 1, x)))),
              expects="real orders v and x (x >= 0 unless v is an integer), broadcastable",
              derivatives=("0", "(jv({a} - 1, {b}) - jv({a} + 1, {b}))/2"))
y0 = _special("y0", (lambda xp, g, ans, x: -g * xp.y1(x),), derivatives=("-y1({a})",), expects="values > 0")
y1 = _special("y1", (lambda xp, g, ans, x: g * (0.5 * (xp.y0(x) - xp.yn(2, x))),),
              derivatives=("(y0({a}) - yn(2, {a}))/2",), expects="values > 0")


def _yn(n, x):
    if np.asarray(n).dtype.kind not in "iub":
        raise ArgumentError(f"yn: the order n must be integers; got {np.asarray(n).dtype} (use jv/yv for real orders)")
    return _scipy_forward("yn")(n, x)


yn = _special("yn", (_no_derivative("yn", "n", _ORDER),
                     lambda xp, g, ans, n, x: g * (0.5 * (xp.yn(n - 1, x) - xp.yn(n + 1, x)))),
              forward=_yn, expects="integer orders n and x > 0, broadcastable",
              derivatives=("0", "(yn({a} - 1, {b}) - yn({a} + 1, {b}))/2"))

PRIMITIVES = (
    erf, erfc, erfinv, erfcinv, gamma, gammaln, gammasgn, rgamma, digamma, polygamma, beta, betaln, betainc,
    gammainc, gammaincc, logit, ndtr, ndtri, log_ndtr, xlogy, xlog1py, entr, i0, i1, i0e, i1e, iv, ive, j0, j1, jv,
    y0, y1, yn,
)

#: scipy.special's ufuncs that tapegrad differentiates, by name. ``expit`` and ``log_expit`` are sigmoid and
#: log_sigmoid; ``psi`` is digamma. (polygamma is not a ufunc: tapegrad.scipy.special has it.)
UFUNCS: dict[str, Primitive] = {
    **{p.name: p for p in PRIMITIVES if p is not polygamma},
    "psi": digamma, "expit": sigmoid, "log_expit": log_sigmoid,
}


def ufunc_primitive(ufunc: Any) -> Primitive | None:
    """The primitive that runs ``ufunc`` when it is one of scipy.special's in :data:`UFUNCS`, else None.
    Never imports SciPy: a SciPy ufunc exists only once SciPy has been imported."""
    module = sys.modules.get("scipy.special")
    name = getattr(ufunc, "__name__", "")
    if module is None or name not in UFUNCS or getattr(module, name, None) is not ufunc:
        return None
    return UFUNCS[name]

# -- the Student t distribution's CDF (tapegrad.scipy.stats.t; issue 15) ---------------------------------
# A primitive because composing it from betainc(df/2, 1/2, df/(df + t**2)) gives 0 * inf (NaN) for its
# derivative at t = 0 and loses digits to 1 - betainc near the centre.


def _stdtr_t(xp, g, ans, df, t):
    # The derivative is t's density: Gamma((df+1)/2) / (Gamma(df/2) sqrt(df pi)) (1 + t**2/df)**(-(df+1)/2),
    # its log-normalizer -betaln(df/2, 1/2) - log(df)/2 (accurate for large df), and log(1 + z**2) taken as
    # 2 log|z| + log1p(1/z**2) for |z| > 1, so that a huge t does not overflow.
    z = t / xp.sqrt(df)
    size = xp.abs(z)
    big = size > 1
    large = xp.where(big, size, 2.0)
    small = xp.where(big, 0.0, z)
    inverse = 1.0 / large
    log1p_square = xp.where(big, 2.0 * xp.log(large) + xp.log1p(inverse * inverse), xp.log1p(small * small))
    return g * xp.exp(-xp.betaln(0.5 * df, 0.5) - 0.5 * xp.log(df) - 0.5 * (df + 1) * log1p_square)


stdtr = _special("stdtr", (_no_derivative("stdtr", "df", _NO_CLOSED_FORM), _stdtr_t),
                 expects="degrees of freedom df > 0 (finite) and real t, broadcastable",
                 derivatives=("0", "the Student t density of {b} with {a} degrees of freedom"),
                 doc="The Student t distribution's CDF, scipy.special.stdtr(df, t).")
PRIMITIVES = (*PRIMITIVES, stdtr)
UFUNCS["stdtr"] = stdtr

"""NumPy's other differentiable ufuncs: inverse trigonometric and hyperbolic functions, logarithms and
exponentials in other bases, ``logaddexp``, ``hypot``, ``arctan2``, ``remainder``/``fmod``, ``fmax``/``fmin``,
``copysign``, ``nan_to_num``; and the rounding functions and ``heaviside``, which take no gradient.

Conventions (as in PyTorch where it has the function): ``hypot`` has gradient 0 at (0, 0); ``copysign`` has
gradient 0 at ``x == 0`` and none in the sign's input; ``fmax``/``fmin`` send the gradient to the input
that is not NaN and split ties in half, as ``maximum`` does; ``nan_to_num`` passes the gradient where the
input is finite; ``remainder``'s and ``fmod``'s gradient in the divisor is ``-floor(x/y)`` and
``-trunc(x/y)``.
"""

from __future__ import annotations

import math

import numpy as np

from .arithmetic import BROADCAST, _zeros_like
from .elementwise import no_gradient, unary
from .registry import Primitive

LN2 = math.log(2.0)
LN10 = math.log(10.0)


def _safe_ratio(xp, num, den):
    """``num / den`` where ``den != 0``, and 0 where it is (never 0/0)."""
    zero = den == 0
    return xp.where(zero, 0, num / xp.where(zero, 1, den))


def _sinc_slope(xp, g, ans, x):
    # sinc'(x) = (cos(pi x) - sinc(x)) / x, which cancels catastrophically near 0: there its Taylor series
    # (odd terms to x**7; the next is below 1e-19 for |x| < 0.01), which also gives the right second derivative.
    small = abs(x) < 0.01
    x_far = xp.where(small, 1, x)
    far = (xp.cos(math.pi * x_far) - ans) / x_far
    x2 = x * x
    near = x * (-math.pi ** 2 / 3 + x2 * (math.pi ** 4 / 30 + x2 * (-math.pi ** 6 / 840 + x2 * math.pi ** 8 / 45360)))
    return g * xp.where(small, near, far)


arcsin = unary("arcsin", np.arcsin, lambda xp, g, ans, x: g / xp.sqrt((1 - x) * (1 + x)),
               derivative="1/sqrt(1 - {a}**2)", expects="values in [-1, 1]")
arccos = unary("arccos", np.arccos, lambda xp, g, ans, x: -g / xp.sqrt((1 - x) * (1 + x)),
               derivative="-1/sqrt(1 - {a}**2)", expects="values in [-1, 1]")
arctan = unary("arctan", np.arctan, lambda xp, g, ans, x: g / (1 + x * x), derivative="1/(1 + {a}**2)")
sinh = unary("sinh", np.sinh, lambda xp, g, ans, x: g * xp.cosh(x), derivative="cosh({a})")
cosh = unary("cosh", np.cosh, lambda xp, g, ans, x: g * xp.sinh(x), derivative="sinh({a})")
def _arcsinh_slope(xp, g, ans, x):
    # hypot(x, 1) = sqrt(x**2 + 1) without overflowing for large x. hypot takes real values only: of a complex
    # z, cosh(arcsinh(z)), which is the principal sqrt(z**2 + 1) (Re >= 0, the cuts of arcsinh) without
    # overflowing either.
    if x.dtype.kind == "c":
        return g / xp.cosh(xp.arcsinh(x))
    return g / xp.hypot(x, 1)


arcsinh = unary("arcsinh", np.arcsinh, _arcsinh_slope, derivative="1/sqrt({a}**2 + 1)")
arccosh = unary("arccosh", np.arccosh, lambda xp, g, ans, x: g / (xp.sqrt(x - 1) * xp.sqrt(x + 1)),
                derivative="1/sqrt({a}**2 - 1)", expects="values >= 1")
arctanh = unary("arctanh", np.arctanh, lambda xp, g, ans, x: g / ((1 - x) * (1 + x)),
                derivative="1/(1 - {a}**2)", expects="values in [-1, 1]")
log2 = unary("log2", np.log2, lambda xp, g, ans, x: g / (x * LN2), derivative="1/({a} ln 2)")
log10 = unary("log10", np.log10, lambda xp, g, ans, x: g / (x * LN10), derivative="1/({a} ln 10)")
exp2 = unary("exp2", np.exp2, lambda xp, g, ans, x: g * (ans * LN2), needs_ans=True, derivative="2**{a} ln 2")
square = unary("square", np.square, lambda xp, g, ans, x: g * (x + x), derivative="2{a}")
cbrt = unary("cbrt", np.cbrt, lambda xp, g, ans, x: g / (3 * (ans * ans)), needs_ans=True,
             derivative="1/(3 cbrt({a})**2)")
fabs = unary("fabs", np.fabs, lambda xp, g, ans, x: g * xp.sign(x), derivative="sign({a})",
             doc="The gradient at 0 is 0, as for abs.")
sinc = unary("sinc", np.sinc, _sinc_slope, needs_ans=True, derivative="(cos(pi {a}) - sinc({a}))/{a}")
deg2rad = unary("deg2rad", np.deg2rad, lambda xp, g, ans, x: g * (math.pi / 180), derivative="pi/180")
rad2deg = unary("rad2deg", np.rad2deg, lambda xp, g, ans, x: g * (180 / math.pi), derivative="180/pi")


def _hypot_d(first: bool):
    def rule(xp, g, ans, x, y):
        return g * _safe_ratio(xp, x if first else y, ans)
    return rule


def _arctan2_d(first: bool):
    # d atan2(y, x)/dy = x / r**2 and /dx = -y / r**2, with r = hypot(y, x) (never overflows) divided twice.
    def rule(xp, g, ans, y, x):
        r = xp.hypot(y, x)
        return g * ((x / r) / r) if first else -g * ((y / r) / r)
    return rule


def _binary(name, forward, d_first, d_second, *, saves_ans=False, derivatives=(None, None), doc=""):
    return Primitive(name, forward, vjps=(d_first, d_second), jvps=(d_first, d_second), saves_ans=saves_ans,
                     elementwise=True, expects=BROADCAST, derivatives=derivatives, doc=doc)


arctan2 = _binary("arctan2", np.arctan2, _arctan2_d(True), _arctan2_d(False),
                  derivatives=("{b}/({a}**2 + {b}**2)", "-{a}/({a}**2 + {b}**2)"))
hypot = _binary("hypot", np.hypot, _hypot_d(True), _hypot_d(False), saves_ans=True,
                derivatives=("{a}/hypot({a}, {b})", "{b}/hypot({a}, {b})"),
                doc="The gradient at (0, 0) is 0.")
# exp(x - ans) <= 1: never overflows.
logaddexp = _binary("logaddexp", np.logaddexp,
                    lambda xp, g, ans, x, y: g * xp.exp(x - ans), lambda xp, g, ans, x, y: g * xp.exp(y - ans),
                    saves_ans=True, derivatives=("exp({a} - logaddexp({a}, {b}))", "exp({b} - logaddexp({a}, {b}))"))
logaddexp2 = _binary("logaddexp2", np.logaddexp2,
                     lambda xp, g, ans, x, y: g * xp.exp2(x - ans), lambda xp, g, ans, x, y: g * xp.exp2(y - ans),
                     saves_ans=True,
                     derivatives=("2**({a} - logaddexp2({a}, {b}))", "2**({b} - logaddexp2({a}, {b}))"))
remainder = _binary("remainder", np.remainder, lambda xp, g, ans, x, y: g,
                    lambda xp, g, ans, x, y: -g * xp.floor(x / y), derivatives=("1", "-floor({a}/{b})"))
fmod = _binary("fmod", np.fmod, lambda xp, g, ans, x, y: g,
               lambda xp, g, ans, x, y: -g * xp.trunc(x / y), derivatives=("1", "-trunc({a}/{b})"))


def _nan_share(xp, g, x, y, first_wins):
    """Share of ``x`` in fmax/fmin: all where it wins or only ``y`` is NaN, half on a tie."""
    return g * (first_wins | ((y != y) & (x == x))) + (g * (x == y)) * 0.5


fmax = _binary("fmax", np.fmax, lambda xp, g, ans, x, y: _nan_share(xp, g, x, y, x > y),
               lambda xp, g, ans, x, y: _nan_share(xp, g, y, x, y > x),
               doc="The input that is not NaN takes the gradient; ties split it in half, as in maximum.")
fmin = _binary("fmin", np.fmin, lambda xp, g, ans, x, y: _nan_share(xp, g, x, y, x < y),
               lambda xp, g, ans, x, y: _nan_share(xp, g, y, x, y < x),
               doc="The input that is not NaN takes the gradient; ties split it in half, as in minimum.")
copysign = _binary("copysign", np.copysign, lambda xp, g, ans, x, y: g * _safe_ratio(xp, ans, x),
                   lambda xp, g, ans, x, y: _zeros_like(xp, g), saves_ans=True,
                   derivatives=("sign({a}) sign({b})", "0"), doc="The gradient at x == 0 is 0; in y it is 0.")


def _nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    return np.nan_to_num(x, copy=True, nan=nan, posinf=posinf, neginf=neginf)


def _finite_only(xp, g, ans, x, nan=0.0, posinf=None, neginf=None):
    return xp.where(xp.isfinite(x), g, 0)


nan_to_num = Primitive("nan_to_num", _nan_to_num, vjps=(_finite_only,), jvps=(_finite_only,), elementwise=True,
                       expects="a real tensor; nan, posinf, neginf numbers or None",
                       doc="The gradient passes where the input is finite and is 0 where it was replaced.")

# Piecewise constant: no gradient (like the comparisons), as documented in the README.
floor = no_gradient("floor", np.floor)
ceil = no_gradient("ceil", np.ceil)
trunc = no_gradient("trunc", np.trunc)
rint = no_gradient("rint", np.rint)
round_ = no_gradient("round", lambda x, decimals=0: np.round(x, decimals))
heaviside = no_gradient("heaviside", np.heaviside, expects=BROADCAST)

PRIMITIVES = (
    arcsin, arccos, arctan, sinh, cosh, arcsinh, arccosh, arctanh, log2, log10, exp2, square, cbrt, fabs, sinc,
    deg2rad, rad2deg, arctan2, hypot, logaddexp, logaddexp2, remainder, fmod, fmax, fmin, copysign, nan_to_num,
    floor, ceil, trunc, rint, round_, heaviside,
)

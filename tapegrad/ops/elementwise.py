"""Unary elementwise functions, and the comparisons and logical operations (which take no gradient).

A unary function's VJP and JVP are the same product of the incoming vector with its local
derivative, so one rule ``rule(xp, g, ans, x) = g * f'(x)`` serves as both.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import batching
from .registry import Primitive


def unary(name: str, forward: Callable, rule: Callable, *, needs_ans: bool = False,
          expects: str = "", doc: str = "", derivative: str = "", symbol: str = "") -> Primitive:
    """A unary elementwise primitive whose VJP is ``g * f'(x)`` and JVP ``t * f'(x)``: the same
    product, so ``rule(xp, g, ans, x)``, which returns ``g * f'(x)``, serves as both. ``derivative``
    is the text of ``f'(x)`` that ``tg.explain`` prints, with ``{a}`` for the input's name; ``symbol`` the
    letter it writes for the function (``σ``: ``σ(x)``), if not its name."""
    return Primitive(name, forward, vjps=(rule,), jvps=(rule,), saves_ans=needs_ans, elementwise=True,
                     expects=expects, doc=doc, derivatives=(derivative or None,), symbol=symbol)


def no_gradient(name: str, forward: Callable, expects: str = "") -> Primitive:
    """An elementwise primitive whose result is not differentiable (a boolean, a sign, a rounding)."""
    return Primitive(name, forward, saves_inputs=False, expects=expects, batch=batching.elementwise)


negative = Primitive(
    "negative", np.negative,
    vjps=(lambda xp, g, ans, x: -g,), jvps=(lambda xp, t, ans, x: -t,), saves_inputs=False,
    symbol="-", derivatives=("-1",), batch=batching.elementwise,
)

exp = unary("exp", np.exp, lambda xp, g, ans, x: g * ans, needs_ans=True, derivative="exp({a})")
log = unary("log", np.log, lambda xp, g, ans, x: g / x, derivative="1/{a}")
log1p = unary("log1p", np.log1p, lambda xp, g, ans, x: g / (1 + x), derivative="1/(1 + {a})")
expm1 = unary("expm1", np.expm1, lambda xp, g, ans, x: g * (ans + 1), needs_ans=True, derivative="exp({a})")
sqrt = unary("sqrt", np.sqrt, lambda xp, g, ans, x: g * (0.5 / ans), needs_ans=True,
             derivative="1/(2 sqrt({a}))")


def _abs_rule(xp, v, ans, x):
    """``v * sign(x)`` for real ``x``: the VJP and the JVP. For complex ``x`` they differ, and the dtype of
    ``v`` tells them apart: the VJP gets a real ``g`` (abs is real) and gives ``g * x/|x|``; the JVP gets a
    complex tangent ``t`` and gives ``Re(conj(x/|x|) t)`` (both 0 at ``x == 0``)."""
    if x.dtype.kind != "c":
        return v * xp.sign(x)
    size = xp.abs(x)
    zero = size == 0
    unit = xp.where(zero, 0, x / xp.where(zero, 1, size))
    return xp.real(xp.conjugate(unit) * v) if v.dtype.kind == "c" else v * unit


absolute = unary("abs", np.abs, _abs_rule,
                 doc="The gradient at 0 is 0, as in PyTorch and JAX.", derivative="sign({a})")
sin = unary("sin", np.sin, lambda xp, g, ans, x: g * xp.cos(x), derivative="cos({a})")
cos = unary("cos", np.cos, lambda xp, g, ans, x: g * -xp.sin(x), derivative="-sin({a})")
tan = unary("tan", np.tan, lambda xp, g, ans, x: g * (1 + ans * ans), needs_ans=True,
            derivative="1 + tan({a})**2")
tanh = unary("tanh", np.tanh, lambda xp, g, ans, x: g * (1.0 - ans * ans), needs_ans=True,
             derivative="1 - tanh({a})**2")

sign = no_gradient("sign", np.sign)
less = no_gradient("less", np.less)
less_equal = no_gradient("less_equal", np.less_equal)
greater = no_gradient("greater", np.greater)
greater_equal = no_gradient("greater_equal", np.greater_equal)
equal = no_gradient("equal", np.equal)
not_equal = no_gradient("not_equal", np.not_equal)
logical_and = no_gradient("logical_and", np.logical_and)
logical_or = no_gradient("logical_or", np.logical_or)
logical_not = no_gradient("logical_not", np.logical_not)
isfinite = no_gradient("isfinite", np.isfinite)

PRIMITIVES = (
    negative, exp, log, log1p, expm1, sqrt, absolute, sin, cos, tan, tanh,
    sign, less, less_equal, greater, greater_equal, equal, not_equal,
    logical_and, logical_or, logical_not, isfinite,
)

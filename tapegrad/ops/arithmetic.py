"""Binary arithmetic with broadcasting: ``+ - * / **``, ``maximum``, ``minimum``, ``where``.

Each rule returns the gradient in the *broadcast* shape; the engine sums it back to the input's
shape. Ties in ``maximum``/``minimum`` split the gradient equally between the two inputs.
"""

from __future__ import annotations

import cmath
import math
import operator

import numpy as np

from .registry import Primitive

BROADCAST = "operands whose shapes broadcast (trailing axes equal or 1)"


def _zeros_like(xp, g):
    """Exact zeros in ``g``'s shape and dtype (``g * 0`` would be NaN where ``g`` is inf), on ``g``'s graph."""
    return xp.where(True, 0.0, g)


def _pow_dbase(xp, g, ans, x, y):
    # d(x**y)/dx = y * x**(y-1), and exactly 0 where y == 0: at x == 0 the formula is 0 * 0**-1 = NaN.
    # A number exponent (x**2, x**0.5, the rule's own x**(y-1)) is decided here, with no array work.
    if y.__class__ is int or y.__class__ is float or y.__class__ is complex:
        if y == 2:  # the square, as in every squared loss: 2x as x + x (exact, no power)
            return g * (x + x)
        if y == 0:
            return _zeros_like(xp, g)
        return g * y * x ** (y - 1)
    # An array exponent: where both x and y are 0, raise x to 0 instead of -1 (so x**0 = 1 and y * 1 = 0,
    # and the second derivative, taken through this same rule, stays finite too). Only there: where x != 0
    # the exponent y - 1 must stay, as d/dy (y * x**(y-1)) = 1/x at y == 0 reads it.
    return g * y * x ** (xp.where((y == 0) & (x == 0), 1, y) - 1)


def _pow_dexponent(xp, g, ans, x, y):
    # d(x**y)/dy = x**y * log(x); at x == 0 the limit is 0 (for y > 0), not 0 * -inf.
    if x.__class__ is float or x.__class__ is int or x.__class__ is complex:  # a number base (2.0 ** t): here
        if x == 0:
            return _zeros_like(xp, g)
        if x.__class__ is not complex and x > 0:
            return g * ans * math.log(x)
        # a negative base: NaN, as np.log gives, unless the exponent (so the result) is complex
        return g * ans * (cmath.log(x) if ans.dtype.kind == "c" else math.nan)
    zero = x == 0
    safe_x = xp.where(zero, 1, x)
    if ans.dtype.kind == "c" and safe_x.dtype.kind != "c":  # a real base, a complex exponent: log of x + 0j
        safe_x = xp.astype(safe_x, dtype=ans.dtype)
    return xp.where(zero, 0, g * ans * xp.log(safe_x))


def _pow_jvp_dexponent(xp, t, ans, x, y):
    return _pow_dexponent(xp, t, ans, x, y)


def _pow_dbase_text(names, values):
    """``2y`` for ``y**2`` (``2*x1`` for ``x1**2``, which ``2x1`` would misread), ``3*y**2`` for ``y**3``:
    a whole-number exponent is written out."""
    a, b = names
    exponent = np.asarray(values[1])
    if exponent.size == 1 and float(exponent).is_integer():  # False for inf and NaN
        n = int(float(exponent))
        if n == 2:
            return f"2{a}" if len(a) == 1 and a.isalpha() else f"2*{a}"
        return f"{n}*{a}**{n - 1}"
    return f"{b}*{a}**({b} - 1)"


def _routed(relation: str, first: bool):
    """The local derivative of max (``relation`` ``>``) or min (``<``) for one input: an Iverson bracket,
    1 where the input wins and 0 where it loses (``[x > y]``); where the inputs tie, each has half."""
    def text(names: list[str], values: list) -> str:
        a, b = names if first else names[::-1]
        won = f"[{a} {relation} {b}]"
        if np.any(np.asarray(values[0]) == np.asarray(values[1])):
            return f"({won} + [{names[0]} = {names[1]}]/2)"
        return won
    return text


def _divide_ddenominator(xp, g, ans, x, y):
    # d(x/y)/dy = -(x/y)/y: dividing twice never overflows or underflows where x/y and the result are
    # finite (x / (y*y) gives -0.0 for 1e300/1e200 and -inf for 1e-300/1e-300).
    return -g * ((x / y) / y)


def _share_of_first(xp, g, x, y, first_wins):
    """Gradient share of ``x`` in maximum/minimum: all where it wins, half on a tie."""
    return g * first_wins + (g * (x == y)) * 0.5


add = Primitive(
    "add", np.add,
    vjps=(lambda xp, g, ans, x, y: g, lambda xp, g, ans, x, y: g),
    jvps=(lambda xp, t, ans, x, y: t, lambda xp, t, ans, x, y: t),
    saves_inputs=False, elementwise=True, expects=BROADCAST,
    symbol="+", derivatives=("1", "1"),
)

subtract = Primitive(
    "subtract", np.subtract,
    vjps=(lambda xp, g, ans, x, y: g, lambda xp, g, ans, x, y: -g),
    jvps=(lambda xp, t, ans, x, y: t, lambda xp, t, ans, x, y: -t),
    saves_inputs=False, elementwise=True, expects=BROADCAST,
    symbol="-", derivatives=("1", "-1"),
)

multiply = Primitive(
    "multiply", np.multiply,
    vjps=(lambda xp, g, ans, x, y: g * y, lambda xp, g, ans, x, y: g * x),
    jvps=(lambda xp, t, ans, x, y: t * y, lambda xp, t, ans, x, y: x * t),
    elementwise=True, expects=BROADCAST,
    symbol="*", derivatives=("{b}", "{a}"),
)

divide = Primitive(
    "divide", np.true_divide,
    vjps=(lambda xp, g, ans, x, y: g / y, _divide_ddenominator),
    jvps=(lambda xp, t, ans, x, y: t / y, _divide_ddenominator),
    elementwise=True, expects=BROADCAST,
    symbol="/", derivatives=("1/{b}", "-{a}/{b}**2"),
)

power = Primitive(
    "power", operator.pow,  # ndarray ** 2 takes NumPy's fast path (square); np.power does not
    vjps=(_pow_dbase, _pow_dexponent),
    jvps=(_pow_dbase, _pow_jvp_dexponent),
    saves_ans=True, elementwise=True, expects=BROADCAST,
    symbol="**", derivatives=(_pow_dbase_text, "{a}**{b} * log({a})"),
)

maximum = Primitive(
    "maximum", np.maximum,
    vjps=(lambda xp, g, ans, x, y: _share_of_first(xp, g, x, y, x > y),
          lambda xp, g, ans, x, y: _share_of_first(xp, g, y, x, y > x)),
    jvps=(lambda xp, t, ans, x, y: _share_of_first(xp, t, x, y, x > y),
          lambda xp, t, ans, x, y: _share_of_first(xp, t, y, x, y > x)),
    elementwise=True, expects=BROADCAST,
    derivatives=(_routed(">", True), _routed(">", False)),
)

minimum = Primitive(
    "minimum", np.minimum,
    vjps=(lambda xp, g, ans, x, y: _share_of_first(xp, g, x, y, x < y),
          lambda xp, g, ans, x, y: _share_of_first(xp, g, y, x, y < x)),
    jvps=(lambda xp, t, ans, x, y: _share_of_first(xp, t, x, y, x < y),
          lambda xp, t, ans, x, y: _share_of_first(xp, t, y, x, y < x)),
    elementwise=True, expects=BROADCAST,
    derivatives=(_routed("<", True), _routed("<", False)),
)

where = Primitive(
    "where", np.where,
    vjps=(None,
          lambda xp, g, ans, c, x, y: xp.where(c, g, 0),
          lambda xp, g, ans, c, x, y: xp.where(c, 0, g)),
    jvps=(None,
          lambda xp, t, ans, c, x, y: xp.where(c, t, 0),
          lambda xp, t, ans, c, x, y: xp.where(c, 0, t)),
    elementwise=True, expects="a boolean condition and two values whose shapes broadcast together",
)


def _clip_forward(x, lo, hi):
    return np.clip(x, lo, hi)


def _inside(x, lo, hi):
    # The gradient passes where the input is within the bounds, boundaries included (as in PyTorch).
    inside = True
    if lo is not None:
        inside = inside & (x >= lo)
    if hi is not None:
        inside = inside & (x <= hi)
    return inside


def _clip_dx(xp, g, ans, x, lo, hi):
    return xp.where(_inside(x, lo, hi), g, 0)


def _clip_dlo(xp, g, ans, x, lo, hi):
    # The lower bound is the result where x is below it, unless the upper bound is lower still
    # (np.clip applies the upper bound last), as in PyTorch's clamp.
    active = x < lo if hi is None else (x < lo) & (lo < hi)
    return xp.where(active, g, 0)


def _clip_dhi(xp, g, ans, x, lo, hi):
    active = x > hi if lo is None else (x > hi) | (hi < lo)
    return xp.where(active, g, 0)


clip = Primitive(
    "clip", _clip_forward,
    vjps=(_clip_dx, _clip_dlo, _clip_dhi),
    jvps=(_clip_dx, _clip_dlo, _clip_dhi),
    elementwise=True,
    expects="a tensor and bounds (numbers, arrays or tensors, or None) whose shapes broadcast with it",
    doc="``clip(x, lo, hi)``: the bounds are inputs, which may take gradients; None for no bound.",
)

PRIMITIVES = (add, subtract, multiply, divide, power, maximum, minimum, where, clip)

"""Complex numbers: ``real``, ``imag``, ``conjugate``, ``angle``, ``complex`` (``x + iy``), and how every
other primitive treats complex values.

**The convention** is PyTorch's for a real-valued loss ``L``: the gradient of a complex value
``z = x + iy`` is ``dL/dx + i dL/dy``, the conjugate Wirtinger derivative times two (the gradient of
``abs(z)**2`` is ``2z``), so that gradient descent on complex parameters works unchanged (JAX's ``grad``
gives the complex conjugate of this). A complex
number is a pair of reals, and the gradient is that pair's gradient written as one complex number.

For a holomorphic function (``exp``, ``z * w``, ``a @ b``) the VJP is then ``g * conj(f'(z))``, and the
JVP the ordinary ``t * f'(z)``. A primitive's rules written for real numbers compute ``g * f'(z)``
(``g @ b.T``), which is ``conj(rule(conj(g)))`` away from the right VJP: so a primitive declared
``complex="holomorphic"`` keeps its rules, and a complex node of it runs them between two conjugations
(:func:`for_complex`). Its JVP rules are right as written.

A primitive declared ``complex="written"`` has rules that are right for complex values as they stand:
sums, reshapes and indexing (linear with real coefficients, so conjugation changes nothing), and the
primitives written for complex values (those below, ``abs``, ``var``, the FFTs). Any other primitive
raises ``DTypeError`` naming itself when a complex value would need a gradient through it.

A real input of a complex result (``x * w`` with ``x`` real) takes the real part of its complex
gradient: the engine takes it where it casts a gradient to its input's dtype.

The primitives declared before complex numbers were supported say how they treat them in one table
here, :data:`EXISTING`, so that their declarations stay as they were.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..errors import DTypeError
from . import arithmetic, elementwise, elementwise2, linalg, linalg_numpy, reduce, scans, shape, signal
from . import batching as B
from .registry import Primitive, Rule

# -- the primitives of complex numbers ----------------------------------------------------------------


def _zeros(xp, g):
    """Exact zeros in ``g``'s shape and dtype, on ``g``'s graph."""
    return xp.where(True, 0.0, g)


def _as_dtype_of(xp, g, x):
    """A real gradient ``g`` as the gradient of ``x``: complex (imaginary part 0) when ``x`` is complex."""
    return xp.astype(g, dtype=x.dtype) if x.dtype.kind == "c" else g


def _copy_of(part):
    def forward(x):
        return np.array(part(x))  # a copy: NumPy's real/imag of a complex array are views into it
    return forward


real = Primitive(
    "real", _copy_of(np.real),
    vjps=(lambda xp, g, ans, x: _as_dtype_of(xp, g, x),), jvps=(lambda xp, t, ans, x: xp.real(t),),
    saves_inputs=False, complex="written", derivatives=("Re",), batch=B.elementwise,
    doc="The real part (a copy); of a real input, the input itself.",
)

imag = Primitive(
    "imag", _copy_of(np.imag),
    vjps=(lambda xp, g, ans, x: g * 1j if x.dtype.kind == "c" else _zeros(xp, g),),
    jvps=(lambda xp, t, ans, x: xp.imag(t),),
    saves_inputs=False, complex="written", derivatives=("Im",), batch=B.elementwise,
    doc="The imaginary part (a copy); of a real input, zeros.",
)

conjugate = Primitive(
    "conjugate", np.conjugate,
    vjps=(lambda xp, g, ans, x: xp.conjugate(g),), jvps=(lambda xp, t, ans, x: xp.conjugate(t),),
    saves_inputs=False, elementwise=True, complex="written", derivatives=("conj",),
    doc="The complex conjugate; of a real input, a copy. Its gradient is the conjugate of the incoming one.",
)


def _angle(x, deg=False):
    return np.angle(x, deg=deg)


def _angle_vjp(xp, g, ans, x, deg=False):
    # angle = atan2(y, x): d/dx = -y/r**2, d/dy = x/r**2, so the gradient is g (-y + ix)/r**2 = g * i z/|z|**2
    # = g * i / conj(z). 0 at z == 0 (no direction) and for real inputs (a step between 0 and pi).
    if x.dtype.kind != "c":
        return _zeros(xp, g)
    scale = 180 / math.pi if deg else 1.0
    return (g * (1j * scale)) * _safe_inverse(xp, xp.conjugate(x))


def _angle_jvp(xp, t, ans, x, deg=False):
    if x.dtype.kind != "c":
        return _zeros(xp, t)
    scale = 180 / math.pi if deg else 1.0
    return xp.imag(t * _safe_inverse(xp, x)) * scale  # Im(t / z) = Im(conj(z) t) / |z|**2


def _safe_inverse(xp, z):
    """``1 / z``, and 0 where ``z`` is 0."""
    zero = z == 0
    return xp.where(zero, 0, 1 / xp.where(zero, 1, z))


angle = Primitive(
    "angle", _angle, vjps=(_angle_vjp,), jvps=(_angle_jvp,), elementwise=True, complex="written",
    derivatives=("i/conj({a})",),
    doc="The argument of a complex number, in radians (degrees with ``deg=True``); 0 or pi for reals, whose "
        "gradient is 0, as is the gradient at 0.",
)


def _complex(x, y):
    for name, part in (("x", x), ("y", y)):
        kind = np.asarray(part).dtype.kind
        if kind not in "biuf":
            raise DTypeError(f"complex: the {'real' if name == 'x' else 'imaginary'} part {name} has dtype "
                             f"{np.asarray(part).dtype}; expected real numbers")
    out = np.empty(np.broadcast_shapes(np.shape(x), np.shape(y)), np.result_type(x, y, 1j))
    out.real = x
    out.imag = y
    return out


complex_ = Primitive(
    "complex", _complex,
    vjps=(lambda xp, g, ans, x, y: xp.real(g), lambda xp, g, ans, x, y: xp.imag(g)),
    jvps=(lambda xp, t, ans, x, y: t, lambda xp, t, ans, x, y: t * 1j),
    saves_inputs=False, elementwise=True, complex="written", derivatives=("1", "i"),
    expects="two real values whose shapes broadcast (the real and the imaginary part)",
    doc="``x + iy`` from real ``x`` and ``y``: complex64 from float32 (or smaller) parts, else complex128.",
)

PRIMITIVES = (real, imag, conjugate, angle, complex_)


# -- the primitives declared before: how each treats complex values ------------------------------------

A, E, E2, R, S, L, LN, SC = arithmetic, elementwise, elementwise2, reduce, shape, linalg, linalg_numpy, scans

#: Primitives whose rules compute the complex derivative as they would the real one.
HOLOMORPHIC = (
    A.multiply, A.divide, A.power, E.exp, E.log, E.log1p, E.expm1, E.sqrt, E.sin, E.cos, E.tan, E.tanh,
    R.prod, L.matmul, L.einsum, SC.cumprod,
    E2.arcsin, E2.arccos, E2.arctan, E2.sinh, E2.cosh, E2.arccosh, E2.arctanh, E2.log2, E2.log10, E2.exp2,
    E2.square, E2.sinc, signal.convolve, LN.inv, LN.solve, LN.det,
    E2.arcsinh, LN.solve_triangular,  # arcsinh's rule has a complex branch (hypot takes real values only)
)
#: Primitives whose rules are right for complex values as written: linear with real coefficients (sums,
#: reshapes, indexing, differences), or written for complex values (``abs``, ``var``, ``astype``, ``logabsdet``,
#: and numpy.linalg's decompositions of Hermitian and general complex matrices: conjugate transposes, real
#: diagonals, the phases of eigenvectors and singular vectors; see tapegrad/ops/linalg_numpy.py).
WRITTEN = (
    A.add, A.subtract, A.where, E.negative, E.absolute, R.sum_, R.mean, R.var,
    S.reshape, S.transpose, S.broadcast_to, S.sum_to, S.getitem, S.scatter_add, S.setitem, S.concatenate, S.pad,
    S.flip, S.astype, S.copy, S.assign_view, SC.cumsum, SC.diff, SC.trace, SC.take_sorted, SC.put_sorted,
    LN.logabsdet,
    LN.cholesky, LN.cholesky_backward, LN.eigh, LN.qr, LN.svd, LN.pinv,
)


def _conj(xp, value):
    """``conj(value)``, skipping the work (a copy) for real values."""
    if value.__class__ is complex:
        return value.conjugate()
    dtype = getattr(value, "dtype", None)
    return xp.conjugate(value) if dtype is not None and dtype.kind == "c" else value


#: Faster VJP rules for complex nodes of some holomorphic primitives (one conjugation, of a real-valued
#: operand none, instead of two of gradient-sized arrays).
CONJUGATE_VJPS: dict[Primitive, tuple[Rule, ...]] = {
    A.multiply: (lambda xp, g, ans, x, y: g * _conj(xp, y), lambda xp, g, ans, x, y: g * _conj(xp, x)),
}

EXISTING: dict[Primitive, str] = {**{p: "holomorphic" for p in HOLOMORPHIC}, **{p: "written" for p in WRITTEN}}

def complex_kind(prim: Primitive) -> str:
    """How ``prim``'s rules treat complex values: ``"holomorphic"``, ``"written"`` or ``""`` (they do not)."""
    return prim.complex or EXISTING.get(prim, "")


def _conjugated(rule: Rule) -> Rule:
    def vjp(xp, g, ans, *inputs, **params):
        return xp.conjugate(rule(xp, xp.conjugate(g), ans, *inputs, **params))
    return vjp


def _conjugated_all(vjp_all: Rule) -> Rule:
    def vjp(xp, g, ans, *inputs, **params):
        return tuple(None if part is None else xp.conjugate(part)
                     for part in vjp_all(xp, xp.conjugate(g), ans, *inputs, **params))
    return vjp


_TWINS: dict[Primitive, Primitive] = {}


def for_complex(prim: Primitive, operands: str = "") -> Primitive:
    """The primitive whose rules a complex node of ``prim`` runs: ``prim`` itself when its rules are right
    for complex values as written, its holomorphic rules between two conjugations otherwise (the same
    name, forward and JVP rules; made once).

    Args:
        prim: a primitive whose result is complex, or that has a complex input, and needs a gradient.
        operands: the operands as error messages describe them (shapes and dtypes).

    Raises:
        DTypeError: naming ``prim`` when its rules do not take complex values.
    """
    kind = complex_kind(prim)
    if kind == "written":
        return prim
    if kind == "holomorphic":
        twin = _TWINS.get(prim)
        if twin is None:
            vjps = CONJUGATE_VJPS.get(prim)
            if vjps is None and prim.vjps is not None:
                vjps = tuple(None if rule is None else _conjugated(rule) for rule in prim.vjps)
            twin = _TWINS[prim] = replace(prim, vjps=vjps, complex="written", vjp_all=None if prim.vjp_all is None
                                          else _conjugated_all(prim.vjp_all))
        return twin
    of = f" of {operands}" if operands else ""
    raise DTypeError(f"{prim.name}: does not differentiate complex numbers, and a complex value{of} needs a "
                     "gradient through it; expected real operands (tapegrad differentiates complex values "
                     "through arithmetic, exp, log, sqrt, the trigonometric and hyperbolic functions, abs, sums, "
                     "products, shapes, matmul, einsum, numpy.linalg, real, imag, conj, angle and the FFTs: see the "
                     "README)")

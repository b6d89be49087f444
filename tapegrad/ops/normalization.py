"""Standardisation over axes, the fused core of batch, layer and group normalisation.

``normalize(x, axis, eps)`` is ``(x - mean) / sqrt(var + eps)`` with the mean and the biased variance
taken over ``axis`` (kept as size-1 axes), in one primitive: the forward computes the mean and the
centred values once (the variance from the centred values: two passes, no cancellation), and the VJP
is the closed form

    dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),        rstd = 1 / sqrt(var + eps),

read from the saved output ``xhat``, instead of the chain of ``subtract``, ``var``, ``sqrt`` and
``divide`` rules that the composed expression runs (``benchmarks/norm.py`` compares the two). The
Jacobian is symmetric, so the same expression with the tangent in place of ``g`` is the JVP. Written
against ``xp``, the rule builds a differentiable graph when the backward pass is recorded, so
second derivatives work. The affine part (weight and bias) stays outside, as a product and a sum.
"""

from __future__ import annotations

import numpy as np

from . import batching as B
from .registry import Primitive


def _normalize(x, axis, eps=1e-5):
    mean = np.mean(x, axis=axis, keepdims=True)
    centred = x - mean
    var = np.mean(np.square(centred), axis=axis, keepdims=True)
    centred *= 1.0 / np.sqrt(var + eps)
    return centred


def _normalize_rule(xp, g, ans, x, axis, eps=1e-5):
    rstd = 1.0 / xp.sqrt(xp.var(x, axis=axis, keepdims=True) + eps)
    return rstd * (g - xp.mean(g, axis=axis, keepdims=True)
                   - ans * xp.mean(g * ans, axis=axis, keepdims=True))


normalize = Primitive(
    "normalize", _normalize, vjps=(_normalize_rule,), jvps=(_normalize_rule,), saves_ans=True,
    batch=B.over_axes("axis"),
    expects="a float tensor and distinct axes to normalise over",
    derivatives=("(I - 1/n - xhat xhat^T/n) / sqrt(var({a}) + eps)",),
)

PRIMITIVES = (normalize,)

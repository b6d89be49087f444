"""Complex values for the registry sweep (issue 18).

``SAMPLERS``: the primitives of complex numbers (tapegrad/ops/complex_numbers.py), drawn with complex
inputs (``complex`` takes two real parts).

:func:`complexified`: the case of a primitive that takes complex values (``complex_kind`` not empty),
drawn by its own sampler and made complex: an imaginary part added to its floating inputs (to every one,
or for the primitives in :data:`MIXED` to a drawn non-empty subset, so that real and complex operands meet).
The imaginary parts are at least 0.2 away from 0 (off the real axis, where the branch cuts of ``log``,
``sqrt``, ``arcsin``, ... and the kinks of ``abs`` and ``angle`` lie); for matrices small, so that the
well-conditioned matrices of the linear-algebra samplers stay so. The numpy.linalg primitives that need
Hermitian matrices, distinct singular values or full rank draw their complex cases themselves
(tests/ops/samples_complex_linalg.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from .samples import Case, broadcastable, rng, shapes, values

#: Primitives whose complexified cases make a drawn subset of their inputs complex (the others: all).
MIXED = frozenset({"add", "subtract", "multiply", "divide", "power", "where", "matmul", "einsum", "concatenate",
                   "convolve", "solve"})
#: Primitives whose inputs are matrices: small imaginary parts.
MATRICES = frozenset({"inv", "solve", "det", "logabsdet"})


def off_axis(r: np.random.Generator, shape: tuple) -> np.ndarray:
    """Imaginary parts in [0.2, 0.8] in size, either sign."""
    return r.uniform(0.2, 0.8, size=shape) * r.choice([-1.0, 1.0], size=shape)


def complex_values(r: np.random.Generator, shape: tuple) -> np.ndarray:
    return values(r, shape) + 1j * off_axis(r, shape)


def complexified(name: str, sampler: Callable[[Any], Case]) -> Callable[[Any], Case]:
    """``sampler``'s cases with complex floating inputs (see the module's docstring); for the numpy.linalg
    primitives that need Hermitian or specially built matrices, their own complex sampler
    (tests/ops/samples_complex_linalg.py)."""
    from .samples_complex_linalg import SAMPLERS as linalg_samplers  # (it imports this package's samples)

    if name in linalg_samplers:
        return linalg_samplers[name]

    def sample(draw) -> Case:
        case = sampler(draw)
        r = rng(draw)
        floating = [i for i, a in enumerate(case.args) if isinstance(a, np.ndarray) and a.dtype == np.float64]
        chosen = set(floating)
        if name in MIXED and len(floating) > 1:
            chosen = draw(st.sets(st.sampled_from(floating), min_size=1))
        args = list(case.args)
        for i in chosen:
            imaginary = 0.1 * r.standard_normal(args[i].shape) if name in MATRICES else off_axis(r, args[i].shape)
            args[i] = args[i] + 1j * imaginary
        params = dict(case.params)
        if name == "astype":  # the complex counterpart of the drawn dtype
            params["dtype"] = np.result_type(params["dtype"], np.complex64)
        return Case(args, params)
    return sample


def _unary_complex(draw) -> Case:
    return Case([complex_values(rng(draw), draw(shapes()))])


def _angle(draw) -> Case:
    return Case([complex_values(rng(draw), draw(shapes()))], {"deg": draw(st.booleans())})


def _complex(draw) -> Case:
    (a, b), _ = broadcastable(draw, 2)
    r = rng(draw)
    return Case([values(r, a), values(r, b)])


SAMPLERS: dict[str, Callable[[Any], Case]] = {
    "real": _unary_complex, "imag": _unary_complex, "conjugate": _unary_complex, "angle": _angle,
    "complex": _complex,
}

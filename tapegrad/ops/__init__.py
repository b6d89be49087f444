"""The primitive registry: every operation tapegrad differentiates, declared once.

``REGISTRY`` maps each primitive's name to its :class:`~tapegrad.ops.registry.Primitive`; it is
assembled here, explicitly, from the ``PRIMITIVES`` tuple of each module. ``NUMPY`` is the array
namespace the gradient rules use in the fast path.
"""

from __future__ import annotations

from . import (
    activation,
    arithmetic,
    attention,
    complex_numbers,  # issue 18: complex numbers
    conv,
    elementwise,
    elementwise2,
    fft,  # issue 18: numpy.fft
    linalg,
    linalg_numpy,
    linalg_scipy,
    nn,
    normalization,
    pool,
    random,
    reduce,
    rnn,
    scans,
    shape,
    signal,  # issue 15: scipy.signal.convolve
    special,
)
from .namespace import Namespace, numpy_namespace
from .registry import Primitive

#: The modules whose PRIMITIVES make up the registry, in this order.
MODULES = (
    arithmetic, elementwise, reduce, shape, linalg, nn, random, conv, rnn, pool, normalization,
    activation, attention, elementwise2, scans, linalg_numpy,
    special,  # issue 15: scipy.special
    signal,  # issue 15: scipy.signal.convolve
    linalg_scipy,  # issue 15: scipy.linalg
    complex_numbers,  # issue 18: complex numbers
    fft,  # issue 18: numpy.fft
)


def _build_registry() -> dict[str, Primitive]:
    registry: dict[str, Primitive] = {}
    for module in MODULES:
        for prim in module.PRIMITIVES:
            if prim.name in registry:
                raise ValueError(f"two primitives are named {prim.name!r}")
            registry[prim.name] = prim
    return registry


REGISTRY: dict[str, Primitive] = _build_registry()
NUMPY: Namespace = numpy_namespace(REGISTRY)

__all__ = [
    "REGISTRY", "NUMPY", "MODULES", "Namespace", "Primitive", "activation", "arithmetic", "attention",
    "conv", "elementwise", "elementwise2", "linalg", "linalg_numpy", "nn", "normalization", "pool",
    "random", "reduce", "rnn", "scans", "shape",
    "special", "signal", "linalg_scipy",  # issue 15
    "complex_numbers", "fft",  # issue 18
]

"""SciPy's functions on Tensors, with gradients (issue 15): ``tapegrad.scipy.special``,
``tapegrad.scipy.linalg``.

SciPy is optional (``pip install 'tapegrad[scipy]'``); importing this package does not import it. The
ufuncs of ``scipy.special`` also work called directly on Tensors (``scipy.special.gammaln(t)``); the
functions here add those that are not ufuncs (``logsumexp``, ``polygamma``, ``multigammaln``).
"""

from __future__ import annotations

from . import (
    linalg,  # issue 15: scipy.linalg
    special,
)

__all__ = ["special",
           "linalg"]

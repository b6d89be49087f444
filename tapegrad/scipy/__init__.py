"""SciPy's functions on Tensors, with gradients (issue 15): ``tapegrad.scipy.special``, ``tapegrad.scipy.stats``.

SciPy is optional (``pip install 'tapegrad[scipy]'``); importing this package does not import it. The
ufuncs of ``scipy.special`` also work called directly on Tensors (``scipy.special.gammaln(t)``); the
functions here add those that are not ufuncs (``logsumexp``, ``polygamma``, ``multigammaln``).
"""

from __future__ import annotations

from . import (
    integrate,  # issue 15: odeint
    signal,  # issue 15: convolve
    special,
    stats,  # issue 15: scipy.stats
)

__all__ = ["integrate", "signal", "special", "stats"]

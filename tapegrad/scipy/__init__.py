"""SciPy's functions on Tensors, with gradients (issue 15): ``tapegrad.scipy.special``, ``linalg``, ``stats``,
``integrate`` (``odeint``) and ``signal`` (``convolve``).

SciPy is optional (``pip install 'tapegrad[scipy]'``); importing this package does not import it. The
ufuncs of ``scipy.special`` also work called directly on Tensors (``scipy.special.gammaln(t)``); the
functions here add those that no NumPy protocol reaches, because SciPy converts their arguments with
``np.asarray`` (``logsumexp``, ``polygamma``, ``multigammaln``, and every function of the other modules).
"""

from __future__ import annotations

from . import (
    integrate,  # issue 15: odeint
    linalg,  # issue 15: scipy.linalg
    signal,  # issue 15: convolve
    special,
    stats,  # issue 15: scipy.stats
)

__all__ = ["integrate", "linalg", "signal", "special", "stats"]

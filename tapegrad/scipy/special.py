"""``scipy.special`` on Tensors: the ufuncs tapegrad differentiates (``gammaln``, ``erf``, ``iv``, ...; the
same as ``scipy.special.<name>(tensor)``) and ``logsumexp``, ``polygamma``, ``multigammaln``, which are not
ufuncs and so cannot be reached through NumPy's protocol (SciPy converts their arguments with np.asarray).

Each function takes Tensors, arrays or numbers and returns a Tensor. SciPy is imported at the first call
(``pip install 'tapegrad[scipy]'``); without it the call raises an ImportError naming the function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..creation import as_tensor
from ..errors import ArgumentError
from ..functions import where
from ..ops import special as _ops
from ..tensor import Tensor, apply


def _ufunc(name: str) -> Callable[..., Tensor]:
    prim = _ops.UFUNCS[name]

    def function(*args: Any) -> Tensor:
        return apply(prim, *args)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = (f"``scipy.special.{name}`` on Tensors, differentiable (the primitive {prim.name!r}); "
                        f"returns a Tensor. {prim.doc}".strip())
    return function


erf = _ufunc("erf")
erfc = _ufunc("erfc")
erfinv = _ufunc("erfinv")
erfcinv = _ufunc("erfcinv")
gamma = _ufunc("gamma")
gammaln = _ufunc("gammaln")
gammasgn = _ufunc("gammasgn")
rgamma = _ufunc("rgamma")
digamma = _ufunc("digamma")
psi = _ufunc("psi")
beta = _ufunc("beta")
betaln = _ufunc("betaln")
betainc = _ufunc("betainc")
gammainc = _ufunc("gammainc")
gammaincc = _ufunc("gammaincc")
expit = _ufunc("expit")
logit = _ufunc("logit")
log_expit = _ufunc("log_expit")
ndtr = _ufunc("ndtr")
ndtri = _ufunc("ndtri")
log_ndtr = _ufunc("log_ndtr")
xlogy = _ufunc("xlogy")
xlog1py = _ufunc("xlog1py")
entr = _ufunc("entr")
i0 = _ufunc("i0")
i1 = _ufunc("i1")
i0e = _ufunc("i0e")
i1e = _ufunc("i1e")
iv = _ufunc("iv")
ive = _ufunc("ive")
j0 = _ufunc("j0")
j1 = _ufunc("j1")
jv = _ufunc("jv")
y0 = _ufunc("y0")
y1 = _ufunc("y1")
yn = _ufunc("yn")


def _value(x: Any) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, Tensor) else np.asarray(x)


def polygamma(n: Any, x: Any) -> Tensor:
    """The ``n``-th derivative of digamma at ``x``, ``scipy.special.polygamma(n, x)``; differentiable in ``x``
    (its derivative is ``polygamma(n + 1, x)``), not in the integer order ``n``.

    Raises:
        ArgumentError: ``n`` holds a non-integer or a negative order.
    """
    order = _value(n)
    if order.dtype.kind not in "iu" and not (order.dtype.kind == "f" and np.all(order == np.round(order))):
        raise ArgumentError(f"polygamma: the order n must be integers >= 0; got {order.dtype} values")
    if np.any(order < 0):
        raise ArgumentError(f"polygamma: the order n must be integers >= 0; got {order.min()}")
    return apply(_ops.polygamma, order.astype(np.int64), x)


def multigammaln(a: Any, d: int) -> Tensor:
    """The log of the multivariate gamma function of dimension ``d`` at ``a``,
    ``scipy.special.multigammaln(a, d)``: ``d(d-1)/4 log(pi) + sum_j gammaln(a - j/2)``, j = 0..d-1;
    differentiable in ``a``.

    Raises:
        ArgumentError: ``d`` is not a positive integer, or some ``a <= (d - 1) / 2``.
    """
    if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
        raise ArgumentError(f"multigammaln: d must be a positive integer; got {d!r}")
    if np.any(_value(a) <= 0.5 * (d - 1)):
        raise ArgumentError(f"multigammaln: every a must be > (d - 1)/2 = {0.5 * (d - 1)}")
    total = apply(_ops.gammaln, a)
    for j in range(1, int(d)):
        total = total + apply(_ops.gammaln, a - 0.5 * j)
    return total + 0.25 * d * (d - 1) * math.log(math.pi)


def logsumexp(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False,
              return_sign: bool = False) -> Tensor:
    """``log(sum(b * exp(a), axis))``, ``scipy.special.logsumexp``, without overflow; differentiable in
    ``a`` and in the weights ``b`` (broadcast against ``a``).

    Returns:
        A Tensor (NaN where a weighted sum is negative, as SciPy gives without ``return_sign``).

    Raises:
        ArgumentError: ``return_sign=True`` (not supported: the sign has no gradient; keep the weights
            non-negative or split the sum).
    """
    if return_sign:
        raise ArgumentError("tapegrad.scipy.special.logsumexp: return_sign=True is not supported; "
                            "keep the weights b non-negative")
    x = as_tensor(a)
    if b is None:
        return x.logsumexp(axis=axis, keepdims=keepdims)
    shape = np.broadcast_shapes(x.shape, np.shape(b))
    if x.shape != shape:
        x = x.broadcast_to(shape)
    peak = x.detach().max(axis=axis, keepdims=True)  # any constant works; the max avoids overflow
    peak = where(np.isfinite(peak), peak, 0.0)
    total = (b * (x - peak).exp()).sum(axis=axis, keepdims=keepdims)
    return total.log() + peak.reshape(total.shape)


__all__ = [
    "erf", "erfc", "erfinv", "erfcinv", "gamma", "gammaln", "gammasgn", "rgamma", "digamma", "psi", "polygamma",
    "multigammaln", "beta", "betaln", "betainc", "gammainc", "gammaincc", "expit", "logit", "log_expit", "ndtr",
    "ndtri", "log_ndtr", "xlogy", "xlog1py", "entr", "i0", "i1", "i0e", "i1e", "iv", "ive", "j0", "j1", "jv",
    "y0", "y1", "yn", "logsumexp",
]

"""Samplers for SciPy's special functions (tapegrad/ops/special.py), merged into samples.SAMPLERS (issue 15).
Each stays inside its function's domain and away from its poles; orders and shape parameters without a
derivative (polygamma's n, iv's v, betainc's a and b, ...) are drawn as integer arrays, which the sweep
passes as constants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .samples import Case, binary, broadcastable, rng, unary, values


def _within(low, high):
    return lambda r, shape: r.uniform(low, high, size=shape)


def _orders(low, high, x_low, x_high, count=1):
    """``count`` integer orders (constants) in [low, high] and x in [x_low, x_high], broadcastable."""
    def sample(draw):
        shapes = broadcastable(draw, count + 1)[0]
        r = rng(draw)
        return Case([r.integers(low, high + 1, size=s) for s in shapes[:count]]
                    + [r.uniform(x_low, x_high, size=shapes[-1])])
    return sample


def _xlogy(draw):
    a, b = broadcastable(draw, 2)[0]
    r = rng(draw)
    x = values(r, a)
    x[r.uniform(size=a) < 0.2] = 0.0  # the exact zeros, where the function is 0
    return Case([x, r.uniform(0.2, 3.0, size=b)])


def _xlog1py(draw):
    case = _xlogy(draw)
    return Case([case.args[0], case.args[1] - 0.9])


SAMPLERS: dict[str, Callable[[Any], Case]] = {
    "erfc": unary(_within(-3, 3)),
    "erfinv": unary(_within(-0.9, 0.9)), "erfcinv": unary(_within(0.1, 1.9)),
    "gamma": unary(_within(0.2, 4.0)), "gammaln": unary(_within(0.2, 6.0)), "rgamma": unary(_within(0.2, 4.0)),
    "digamma": unary(_within(0.2, 6.0)), "polygamma": _orders(0, 3, 0.3, 5.0),
    "beta": binary(_within(0.3, 4.0), _within(0.3, 4.0)), "betaln": binary(_within(0.3, 4.0), _within(0.3, 4.0)),
    "betainc": _orders(1, 5, 0.05, 0.95, count=2),
    "gammainc": _orders(1, 5, 0.1, 6.0), "gammaincc": _orders(1, 5, 0.1, 6.0),
    "logit": unary(_within(0.05, 0.95)), "ndtr": unary(_within(-4, 4)), "ndtri": unary(_within(0.05, 0.95)),
    "log_ndtr": unary(_within(-6, 4)), "xlogy": _xlogy, "xlog1py": _xlog1py, "entr": unary(_within(0.1, 3.0)),
    "i0": unary(_within(-3, 3)), "i1": unary(_within(-3, 3)), "i0e": unary(_within(-3, 3)),
    "i1e": unary(_within(-3, 3)), "iv": _orders(-2, 3, 0.2, 4.0), "ive": _orders(-2, 3, 0.2, 4.0),
    "j0": unary(_within(-5, 5)), "j1": unary(_within(-5, 5)), "jv": _orders(-2, 3, 0.2, 6.0),
    "y0": unary(_within(0.3, 6.0)), "y1": unary(_within(0.3, 6.0)), "yn": _orders(-2, 3, 0.5, 6.0),
}

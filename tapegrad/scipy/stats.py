"""``scipy.stats`` on Tensors: ``norm``, ``t``, ``gamma``, ``beta``, ``poisson``, ``multivariate_normal`` and
``dirichlet``, with SciPy's signatures and values and gradients in ``x`` and in every parameter where the
derivative exists (first and higher order, reverse and forward mode).

Each distribution is an object whose methods take Tensors, NumPy arrays or numbers and return a Tensor:

* continuous ``norm``, ``t``, ``gamma``, ``beta``: ``logpdf pdf logcdf cdf logsf sf``, called
  ``method(x, *shapes, loc=0, scale=1)`` as in SciPy (``t.logpdf(x, df, loc=0, scale=1)``,
  ``gamma.cdf(x, a, loc=0, scale=1)``, ``beta.sf(x, a, b, loc=0, scale=1)``);
* discrete ``poisson``: ``logpmf pmf logcdf cdf logsf sf``, called ``method(k, mu, loc=0)``;
* ``multivariate_normal.logpdf/pdf(x, mean=None, cov=1, allow_singular=False)`` and
  ``dirichlet.logpdf/pdf(x, alpha)``.

Calling a distribution freezes its parameters, as in SciPy: ``norm(loc=m, scale=s).logpdf(x)``.

Values follow SciPy's, also for parameters outside their domain (NaN where ``scale <= 0``, ``df <= 0``,
``a <= 0``, ``mu < 0``; the gradient there is 0) and outside the support (``logpdf`` is -inf, ``cdf`` 0 or
1). Where SciPy's formula overflows tapegrad stays finite: ``t.logpdf`` of a huge ``x``, ``norm.logcdf`` and
``norm.logsf`` far in the tails (through ``log_ndtr``). Results keep the floating dtype of the inputs
(float32 stays float32; Python numbers follow the arrays, and numbers alone give float64 as in SciPy).

No derivative exists, or none has a closed form, in these arguments: the shape parameters of the CDF
family (``t``'s ``df``, ``gamma``'s ``a``, ``beta``'s ``a`` and ``b`` in ``cdf/sf/logcdf/logsf``: the
incomplete gamma and beta functions have no closed-form derivative there), and ``poisson``'s count ``k``
and ``loc``. Passing one of them as a Tensor that takes part in differentiation (``requires_grad`` while
recording, or carrying a ``jvp`` tangent) raises ArgumentError naming it at the call; pass it as a
constant (a number, an array, or ``tensor.detach()``). The densities are differentiable in every
parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..engine import is_grad_enabled, tangent_of
from ..errors import ArgumentError, DTypeError, LinAlgError, ShapeError
from ..functions import concatenate, where
from ..ops import elementwise2 as _elementwise2
from ..ops import linalg_numpy as _linalg
from ..ops import special as _special
from ..tensor import Tensor, apply
from . import special as sc

_LOG_2PI = math.log(2.0 * math.pi)
_HALF_LOG_2PI = 0.5 * _LOG_2PI
_NAN, _INF = math.nan, math.inf
_NUMBERS = (bool, int, float)

# -- arguments ------------------------------------------------------------------------------------------


def _result_dtype(function: str, values: Sequence[Any]) -> np.dtype:
    """The floating dtype of the result: NumPy's promotion of the floating Tensors and arrays among
    ``values`` (Python numbers do not count, as NumPy's weak scalars); float64 when there are none."""
    floating = []
    for name, value in values:
        if value is None or isinstance(value, _NUMBERS):
            continue
        dtype = value.dtype if isinstance(value, Tensor) else np.asarray(value).dtype
        if dtype.kind == "f":
            floating.append(dtype)
        elif dtype.kind not in "iub":
            raise DTypeError(f"{function}: {name} has dtype {dtype}; expected real numbers")
    return np.result_type(*floating) if floating else np.dtype(np.float64)


def _tensor(function: str, name: str, value: Any, dtype: np.dtype) -> Tensor:
    """``value`` as a Tensor of ``dtype`` (a Tensor of another dtype is converted on the graph)."""
    if isinstance(value, Tensor):
        if value.dtype.kind not in "fiub":
            raise DTypeError(f"{function}: {name} has dtype {value.dtype}; expected real numbers")
        return value if value.dtype == dtype else value.astype(dtype)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ArgumentError(f"{function}: {name} must be numbers, an array or a Tensor; got {type(value).__name__} "
                            f"({error})") from None
    if array.dtype.kind not in "fiub":
        raise DTypeError(f"{function}: {name} has dtype {array.dtype}; expected real numbers")
    return Tensor(array.astype(dtype, copy=False))


def _broadcast(function: str, tensors: dict[str, Tensor]) -> None:
    """Check that the arguments broadcast together.

    Raises:
        ShapeError: naming ``function`` and every argument's shape.
    """
    try:
        np.broadcast_shapes(*(t.shape for t in tensors.values()))
    except ValueError:
        shapes = ", ".join(f"{name} {t.shape}" for name, t in tensors.items())
        raise ShapeError(f"{function}: the arguments do not broadcast together: {shapes}") from None


def _constant(function: str, name: str, value: Any, why: str) -> None:
    """Refuse ``value`` as a differentiated input: ``function`` has no derivative in ``name``.

    Raises:
        ArgumentError: ``value`` is a Tensor that requires grad while recording, or carries a jvp tangent.
    """
    if isinstance(value, Tensor) and ((value.requires_grad and is_grad_enabled()) or
                                      tangent_of(value.data) is not None):
        raise ArgumentError(f"{function}: no gradient in its argument {name!r} ({why}); pass {name} as a constant "
                            f"(a number, a NumPy array, or {name}.detach())")


def _bind(function: str, names: tuple[str, ...], defaults: dict[str, Any], args: tuple, kwds: dict) -> dict:
    """SciPy's way of passing parameters: positionally after ``x`` or by name, with defaults."""
    if len(args) > len(names):
        raise TypeError(f"{function}: takes {len(names)} parameters after x ({', '.join(names)}), got {len(args)}")
    bound = dict(zip(names, args))
    for key, value in kwds.items():
        if key not in names:
            raise TypeError(f"{function}: unexpected argument {key!r}; its parameters are {', '.join(names)}")
        if key in bound:
            raise TypeError(f"{function}: got {key!r} both by position and by name")
        bound[key] = value
    for key in names:
        if key not in bound:
            if key not in defaults:
                raise TypeError(f"{function}: missing the required argument {key!r}")
            bound[key] = defaults[key]
    return bound


def _safe_log(p: Tensor) -> Tensor:
    """``log(p)`` for probabilities, -inf where ``p`` is 0 (no division by zero, forward or backward)."""
    positive = p > 0
    return where(positive, where(positive, p, 1.0).log(), -_INF)


def _log_of_tail(p: Tensor, q: Tensor) -> Tensor:
    """``log(p)`` for a probability ``p = 1 - q``: ``log(p)`` where ``p < 1/2``, else ``log1p(-q)``, which keeps
    the digits of a ``p`` close to 1 (SciPy's logcdf and logsf split at the median alike)."""
    small = p < 0.5
    return where(small, _safe_log(p), (-where(small, 0.5, q)).log1p())


def _floor(x: Tensor) -> Tensor:
    return apply(_elementwise2.floor, x)


def _all_true(condition: Any) -> bool:
    """Whether a mask is known to be all true without reading a Tensor's values (which tg.compile forbids)."""
    return not isinstance(condition, Tensor) and bool(np.all(condition))


def _nan_unless(value: Tensor, ok: Any) -> Tensor:
    return value if _all_true(ok) else where(ok, value, _NAN)


def _fill(value: Tensor, ok: Any, safe: float) -> Tensor:
    """``value`` with ``safe`` where ``ok`` is false, so that what is discarded there is finite."""
    return value if _all_true(ok) else where(ok, value, safe)


class _Frozen:
    """A distribution with its parameters fixed, as ``scipy.stats.norm(loc, scale)`` gives: its methods take
    the points alone (``frozen.logpdf(x)``)."""

    def __init__(self, dist: Any, args: tuple, kwds: dict) -> None:
        self.dist, self.args, self.kwds = dist, args, kwds

    def __getattr__(self, method: str) -> Callable[[Any], Tensor]:
        if method.startswith("_") or method not in self.dist.methods:
            raise AttributeError(f"a frozen {self.dist.name} distribution has no method {method!r}; its methods are "
                                 f"{', '.join(self.dist.methods)}")
        function = getattr(self.dist, method)
        return lambda x: function(x, *self.args, **self.kwds)

    def __repr__(self) -> str:
        return f"<frozen tapegrad.scipy.stats.{self.dist.name}>"


# -- univariate continuous distributions ----------------------------------------------------------------


class _Standardized:
    """The points of one call in standard form, ``y = (x - loc) / scale``, with the masks of the support and
    of valid parameters."""

    def __init__(self, y: Tensor, shapes: list[Tensor], scale: Tensor, ok: Any, below: Any, above: Any) -> None:
        self.y, self.shapes, self.scale, self.ok, self.below, self.above = y, shapes, scale, ok, below, above

    def finish(self, inside: Tensor, below: float, above: float) -> Tensor:
        """The value: ``inside`` within the support, ``below``/``above`` beyond it, NaN for invalid parameters."""
        out = inside
        if self.below is not None:
            out = where(self.below, below, out)
        if self.above is not None:
            out = where(self.above, above, out)
        return _nan_unless(out, self.ok)


class _Continuous:
    """A univariate continuous distribution of SciPy's ``rv_continuous`` kind: ``x`` is standardized as
    ``(x - loc) / scale`` and the standard distribution's functions are written once per subclass."""

    name = ""
    shapes: tuple[str, ...] = ()
    lower, upper = -_INF, _INF  # the standard distribution's support
    inner = 0.0  # a point inside it
    no_cdf_gradient: tuple[str, ...] = ()  # the shape parameters the CDF family has no derivative in, and why
    no_cdf_gradient_why = ""
    methods = ("logpdf", "pdf", "logcdf", "cdf", "logsf", "sf")

    def __call__(self, *args: Any, **kwds: Any) -> _Frozen:
        """The distribution with its parameters fixed: ``dist(*shapes, loc=0, scale=1)``."""
        _bind(f"{self.name}", self.shapes + ("loc", "scale"), {"loc": 0, "scale": 1}, args, kwds)
        return _Frozen(self, args, kwds)

    def _argcheck(self, *shapes: Any) -> Any:
        return True

    def _prepare(self, method: str, x: Any, args: tuple, kwds: dict) -> _Standardized:
        function = f"{self.name}.{method}"
        params = _bind(function, self.shapes + ("loc", "scale"), {"loc": 0, "scale": 1}, args, kwds)
        if method not in ("logpdf", "pdf"):
            for name in self.no_cdf_gradient:
                _constant(function, name, params[name], self.no_cdf_gradient_why)
        dtype = _result_dtype(function, [("x", x), *params.items()])
        tensors = {name: _tensor(function, name, value, dtype) for name, value in params.items()}
        x = _tensor(function, "x", x, dtype)
        _broadcast(function, {"x": x, **tensors})
        checked = [params[name] for name in self.shapes] + [params["scale"]]
        if any(isinstance(value, Tensor) for value in checked):
            checked = [tensors[name] for name in self.shapes] + [tensors["scale"]]
        else:  # constants: the check needs no operation, and none at all when every parameter is valid
            checked = [np.asarray(value) for value in checked]
        ok = self._argcheck(*checked[:-1]) & (checked[-1] > 0)
        shapes = [_fill(tensors[name], ok, 1.0) for name in self.shapes]
        scale = _fill(tensors["scale"], ok, 1.0)
        y = (x - tensors["loc"]) / scale
        below = y < self.lower if self.lower > -_INF else None
        if self.upper < _INF:
            above = y > self.upper
        elif self.lower > -_INF:
            above = y == _INF  # the density's limit there is 0 (SciPy's formula gives inf - inf for some shapes)
        else:
            above = None
        outside = below if above is None else (above if below is None else below | above)
        if outside is not None:
            y = where(outside, self.inner, y)
        return _Standardized(y, shapes, scale, ok, below, above)

    # the standard distribution (y within the support, valid shapes), per subclass
    def _logpdf(self, y: Tensor, *shapes: Tensor) -> Tensor:
        raise NotImplementedError

    def _cdf(self, y: Tensor, *shapes: Tensor) -> Tensor:
        raise NotImplementedError

    def _sf(self, y: Tensor, *shapes: Tensor) -> Tensor:
        raise NotImplementedError

    def _logcdf(self, y: Tensor, *shapes: Tensor) -> Tensor:
        return _log_of_tail(self._cdf(y, *shapes), self._sf(y, *shapes))

    def _logsf(self, y: Tensor, *shapes: Tensor) -> Tensor:
        return _log_of_tail(self._sf(y, *shapes), self._cdf(y, *shapes))

    # the methods users call
    def logpdf(self, x: Any, *args: Any, **kwds: Any) -> Tensor:
        """The log of the probability density at ``x``; see the distribution's docstring for the parameters.

        Returns:
            A Tensor of the broadcast shape of ``x`` and the parameters: -inf outside the support, NaN where a
            parameter is outside its domain.

        Raises:
            TypeError: a missing or unknown parameter. DTypeError: non-real inputs.
            ShapeError: inputs that do not broadcast.
        """
        s = self._prepare("logpdf", x, args, kwds)
        return s.finish(self._logpdf(s.y, *s.shapes) - s.scale.log(), -_INF, -_INF)

    def pdf(self, x: Any, *args: Any, **kwds: Any) -> Tensor:
        """The probability density at ``x`` (``exp(logpdf)``): 0 outside the support, NaN for invalid parameters.

        Raises:
            As :meth:`logpdf`.
        """
        return self.logpdf(x, *args, **kwds).exp()

    def cdf(self, x: Any, *args: Any, **kwds: Any) -> Tensor:
        """The cumulative distribution function at ``x``: 0 below the support, 1 above, NaN for invalid parameters.

        Raises:
            As :meth:`logpdf`; ArgumentError: a differentiated shape parameter without a derivative here.
        """
        s = self._prepare("cdf", x, args, kwds)
        return s.finish(self._cdf(s.y, *s.shapes), 0.0, 1.0)

    def sf(self, x: Any, *args: Any, **kwds: Any) -> Tensor:
        """The survival function ``1 - cdf`` at ``x``, computed without cancellation in the upper tail.

        Raises:
            As :meth:`cdf`.
        """
        s = self._prepare("sf", x, args, kwds)
        return s.finish(self._sf(s.y, *s.shapes), 1.0, 0.0)

    def logcdf(self, x: Any, *args: Any, **kwds: Any) -> Tensor:
        """The log of the cumulative distribution function at ``x``.

        Raises:
            As :meth:`cdf`.
        """
        s = self._prepare("logcdf", x, args, kwds)
        return s.finish(self._logcdf(s.y, *s.shapes), -_INF, 0.0)

    def logsf(self, x: Any, *args: Any, **kwds: Any) -> Tensor:
        """The log of the survival function at ``x``.

        Raises:
            As :meth:`cdf`.
        """
        s = self._prepare("logsf", x, args, kwds)
        return s.finish(self._logsf(s.y, *s.shapes), 0.0, -_INF)

    def __repr__(self) -> str:
        return f"<tapegrad.scipy.stats.{self.name}>"


def _log1p_square(z: Tensor) -> Tensor:
    """``log(1 + z**2)`` without overflow for huge ``|z|`` (``2 log|z| + log1p(1/z**2)`` there)."""
    size = z.abs()
    big = size > 1
    large = where(big, size, 2.0)
    small = where(big, 0.0, z)
    inverse = 1.0 / large
    return where(big, 2.0 * large.log() + (inverse * inverse).log1p(), (small * small).log1p())


class norm_gen(_Continuous):
    """The normal distribution: ``norm.logpdf(x, loc=0, scale=1)`` and ``pdf cdf sf logcdf logsf`` alike;
    ``logcdf``/``logsf`` through ``log_ndtr``, accurate far in the tails. Differentiable in ``x``, ``loc`` and
    ``scale``; NaN where ``scale <= 0``."""

    name = "norm"

    def _logpdf(self, y: Tensor) -> Tensor:
        with np.errstate(over="ignore"):  # y**2 beyond the largest float: -inf is the value
            return -0.5 * (y * y) - _HALF_LOG_2PI

    def _cdf(self, y: Tensor) -> Tensor:
        return sc.ndtr(y)

    def _sf(self, y: Tensor) -> Tensor:
        return sc.ndtr(-y)

    def _logcdf(self, y: Tensor) -> Tensor:
        return sc.log_ndtr(y)

    def _logsf(self, y: Tensor) -> Tensor:
        return sc.log_ndtr(-y)


class t_gen(_Continuous):
    """Student's t distribution: ``t.logpdf(x, df, loc=0, scale=1)`` and ``pdf cdf sf logcdf logsf`` alike
    (``df = inf`` is the normal distribution, as in SciPy). The density is differentiable in ``x``, ``df``,
    ``loc`` and ``scale``; the CDF family (``scipy.special.stdtr``) in all but ``df``. NaN where ``df <= 0``
    or ``scale <= 0``."""

    name = "t"
    shapes = ("df",)
    no_cdf_gradient = ("df",)
    no_cdf_gradient_why = "Student's t CDF has no closed-form derivative in its degrees of freedom"

    def _argcheck(self, df: Any) -> Any:
        return df > 0

    @staticmethod
    def _split(y: Tensor, df: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Where ``df`` is infinite (the normal distribution), and the points and ``df`` each branch sees (the
        other branch's entries replaced by harmless ones, so that what ``where`` discards stays finite)."""
        infinite = df == _INF
        return infinite, where(infinite, y, 0.0), where(infinite, 1.0, df)

    def _logpdf(self, y: Tensor, df: Tensor) -> Tensor:
        infinite, normal, finite = self._split(y, df)
        # log Gamma((df+1)/2) - log Gamma(df/2) - log(pi)/2 = -betaln(df/2, 1/2): accurate for large df too.
        value = (-sc.betaln(0.5 * finite, 0.5) - 0.5 * finite.log()
                 - 0.5 * (finite + 1.0) * _log1p_square(y / finite.sqrt()))
        return where(infinite, norm._logpdf(normal), value)

    def _cdf(self, y: Tensor, df: Tensor) -> Tensor:
        infinite, normal, finite = self._split(y, df)
        return where(infinite, sc.ndtr(normal), apply(_special.stdtr, finite, y))

    def _sf(self, y: Tensor, df: Tensor) -> Tensor:
        infinite, normal, finite = self._split(y, df)
        return where(infinite, sc.ndtr(-normal), apply(_special.stdtr, finite, -y))


class gamma_gen(_Continuous):
    """The gamma distribution: ``gamma.logpdf(x, a, loc=0, scale=1)`` and ``pdf cdf sf logcdf logsf`` alike.
    The density is differentiable in ``x``, ``a``, ``loc`` and ``scale``; the CDF family (the regularized
    incomplete gamma function) in all but ``a``. NaN where ``a <= 0`` or ``scale <= 0``; at ``x = inf``
    the density is 0 (SciPy's formula gives NaN there for ``a > 1``)."""

    name = "gamma"
    shapes = ("a",)
    lower, inner = 0.0, 1.0
    no_cdf_gradient = ("a",)
    no_cdf_gradient_why = "the incomplete gamma function has no closed-form derivative in its shape parameter"

    def _argcheck(self, a: Any) -> Any:
        return a > 0

    def _logpdf(self, y: Tensor, a: Tensor) -> Tensor:
        return sc.xlogy(a - 1.0, y) - y - sc.gammaln(a)

    def _cdf(self, y: Tensor, a: Tensor) -> Tensor:
        return sc.gammainc(a, y)

    def _sf(self, y: Tensor, a: Tensor) -> Tensor:
        return sc.gammaincc(a, y)


class beta_gen(_Continuous):
    """The beta distribution: ``beta.logpdf(x, a, b, loc=0, scale=1)`` and ``pdf cdf sf logcdf logsf`` alike.
    The density is differentiable in ``x``, ``a``, ``b``, ``loc`` and ``scale``; the CDF family (the
    regularized incomplete beta function) in all but ``a`` and ``b``. NaN where ``a <= 0``, ``b <= 0`` or
    ``scale <= 0``."""

    name = "beta"
    shapes = ("a", "b")
    lower, upper, inner = 0.0, 1.0, 0.5
    no_cdf_gradient = ("a", "b")
    no_cdf_gradient_why = "the incomplete beta function has no closed-form derivative in its shape parameters"

    def _argcheck(self, a: Any, b: Any) -> Any:
        return (a > 0) & (b > 0)

    def _logpdf(self, y: Tensor, a: Tensor, b: Tensor) -> Tensor:
        return sc.xlog1py(b - 1.0, -y) + sc.xlogy(a - 1.0, y) - sc.betaln(a, b)

    def _cdf(self, y: Tensor, a: Tensor, b: Tensor) -> Tensor:
        return sc.betainc(a, b, y)

    def _sf(self, y: Tensor, a: Tensor, b: Tensor) -> Tensor:
        # I_{1-y}(b, a) = 1 - I_y(a, b), without the cancellation; 1 - y is exact where the sf is small.
        return sc.betainc(b, a, 1.0 - y)


# -- the Poisson distribution ---------------------------------------------------------------------------


class poisson_gen:
    """The Poisson distribution: ``poisson.logpmf(k, mu, loc=0)``, ``pmf``, ``cdf``, ``sf``, ``logcdf``,
    ``logsf``, with SciPy's values (``logpmf`` -inf where ``k - loc`` is not a non-negative integer, NaN where
    ``mu < 0``). Differentiable in ``mu``; the count ``k`` and ``loc`` take no gradient (ArgumentError when
    they would)."""

    name = "poisson"
    methods = ("logpmf", "pmf", "logcdf", "cdf", "logsf", "sf")

    def __call__(self, *args: Any, **kwds: Any) -> _Frozen:
        """The distribution with its parameters fixed: ``poisson(mu, loc=0)``."""
        _bind(self.name, ("mu", "loc"), {"loc": 0}, args, kwds)
        return _Frozen(self, args, kwds)

    def _prepare(self, method: str, k: Any, args: tuple, kwds: dict) -> tuple[Tensor, Tensor, Any]:
        function = f"poisson.{method}"
        params = _bind(function, ("mu", "loc"), {"loc": 0}, args, kwds)
        _constant(function, "k", k, "a count: the distribution lives on the integers")
        _constant(function, "loc", params["loc"], "a shift of the integers")
        dtype = _result_dtype(function, [("k", k), *params.items()])
        tensors = {"k": _tensor(function, "k", k, dtype), "mu": _tensor(function, "mu", params["mu"], dtype),
                   "loc": _tensor(function, "loc", params["loc"], dtype)}
        _broadcast(function, tensors)
        mu, count = tensors["mu"], tensors["k"] - tensors["loc"]
        ok = (mu >= 0) & (count == count)  # NaN for a NaN count too
        return count, _fill(mu, ok, 1.0), ok

    def logpmf(self, k: Any, *args: Any, **kwds: Any) -> Tensor:
        """The log of the probability of ``k``: ``k log(mu) - log(k!) - mu``.

        Returns:
            A Tensor of the broadcast shape: -inf where ``k - loc`` is not a non-negative integer (or is inf),
            NaN where ``mu < 0`` or ``k`` is NaN.

        Raises:
            TypeError: a missing or unknown parameter. ArgumentError: ``k`` or ``loc`` differentiated.
        """
        count, mu, ok = self._prepare("logpmf", k, args, kwds)
        valid = (count >= 0) & (count == _floor(count)) & (count < _INF)
        count = where(valid, count, 0.0)
        value = sc.xlogy(count, mu) - sc.gammaln(count + 1.0) - mu
        return _nan_unless(where(valid, value, -_INF), ok)

    def pmf(self, k: Any, *args: Any, **kwds: Any) -> Tensor:
        """The probability of ``k`` (``exp(logpmf)``).

        Raises:
            As :meth:`logpmf`.
        """
        return self.logpmf(k, *args, **kwds).exp()

    def _tails(self, method: str, k: Any, args: tuple, kwds: dict, upper: bool) -> Tensor:
        count, mu, ok = self._prepare(method, k, args, kwds)
        whole = _floor(count)
        below, top = whole < 0, whole == _INF
        whole = where(below | top, 0.0, whole)
        # P(K <= k) = Q(k + 1, mu), P(K > k) = P(k + 1, mu): the regularized incomplete gamma functions.
        inside = sc.gammainc(whole + 1.0, mu) if upper else sc.gammaincc(whole + 1.0, mu)
        return where(below, 1.0 if upper else 0.0, where(top, 0.0 if upper else 1.0, inside)), ok

    def cdf(self, k: Any, *args: Any, **kwds: Any) -> Tensor:
        """``P(K <= k)``: 0 below 0, 1 at ``k = inf``, NaN where ``mu < 0``.

        Raises:
            As :meth:`logpmf`.
        """
        value, ok = self._tails("cdf", k, args, kwds, upper=False)
        return _nan_unless(value, ok)

    def sf(self, k: Any, *args: Any, **kwds: Any) -> Tensor:
        """``P(K > k)``, without the cancellation of ``1 - cdf``.

        Raises:
            As :meth:`logpmf`.
        """
        value, ok = self._tails("sf", k, args, kwds, upper=True)
        return _nan_unless(value, ok)

    def logcdf(self, k: Any, *args: Any, **kwds: Any) -> Tensor:
        """The log of :meth:`cdf`.

        Raises:
            As :meth:`logpmf`.
        """
        value, ok = self._tails("logcdf", k, args, kwds, upper=False)
        return _nan_unless(_safe_log(value), ok)

    def logsf(self, k: Any, *args: Any, **kwds: Any) -> Tensor:
        """The log of :meth:`sf`.

        Raises:
            As :meth:`logpmf`.
        """
        value, ok = self._tails("logsf", k, args, kwds, upper=True)
        return _nan_unless(_safe_log(value), ok)

    def __repr__(self) -> str:
        return "<tapegrad.scipy.stats.poisson>"


# -- the multivariate normal distribution ---------------------------------------------------------------


def _squeeze_output(out: Tensor) -> Tensor:
    """SciPy's ``_squeeze_output``: every axis of size 1 removed."""
    return out.squeeze() if 1 in out.shape else out


class multivariate_normal_gen:
    """The multivariate normal distribution: ``multivariate_normal.logpdf(x, mean=None, cov=1,
    allow_singular=False)`` and ``pdf``, differentiable in ``x``, ``mean`` and ``cov`` to any order.

    As in SciPy: the last axis of ``x`` holds the components (a 1-D ``x`` is one point, or for a
    one-dimensional distribution a row of points); ``mean`` is a vector (zeros by default); ``cov`` is a
    number (times the identity), a vector (the diagonal) or a matrix; the result has every axis of size 1
    removed. ``cov`` is used through its symmetric part ``(cov + cov.T)/2`` (SciPy reads its lower
    triangle; both agree for a symmetric ``cov``), so the gradient in ``cov`` is symmetric, as HIPS
    autograd's and PyTorch's.

    The log-density is computed with a Cholesky factor. With ``allow_singular=True`` a singular ``cov``
    (eigenvalues below ``1e6 * eps`` times the largest, SciPy's cut) gives SciPy's degenerate density: the
    pseudo-determinant and pseudo-inverse, and -inf off the support; that case reads the eigenvalues (so it
    cannot run under ``tg.compile``) and its gradient holds only for changes of ``cov`` that keep its rank.
    """

    name = "multivariate_normal"
    methods = ("logpdf", "pdf")

    def __call__(self, mean: Any = None, cov: Any = 1, allow_singular: bool = False) -> _Frozen:
        """The distribution with its parameters fixed."""
        return _Frozen(self, (), {"mean": mean, "cov": cov, "allow_singular": allow_singular})

    def _parameters(self, function: str, x: Any, mean: Any, cov: Any) -> tuple[Tensor, Tensor, Tensor]:
        dtype = _result_dtype(function, [("x", x), ("mean", mean), ("cov", cov)])
        cov = _tensor(function, "cov", 1.0 if cov is None else cov, dtype)
        if mean is not None:
            mean = _tensor(function, "mean", mean, dtype)
            dim = mean.size
        else:
            dim = cov.shape[0] if cov.ndim >= 2 else 1
        if dim == 1:
            if mean is not None and mean.size != 1 or cov.size != 1:
                raise ShapeError(f"{function}: a one-dimensional distribution needs one mean and one variance; got "
                                 f"mean of shape {None if mean is None else mean.shape} and cov of shape {cov.shape}")
            mean = mean.reshape(1) if mean is not None else None
            cov = cov.reshape(1, 1)
        if mean is None:
            mean = Tensor(np.zeros(dim, dtype))
        if mean.ndim != 1 or mean.shape[0] != dim:
            raise ShapeError(f"{function}: mean must be a vector of length {dim}; got shape {mean.shape}")
        if cov.ndim == 0:
            cov = cov * np.eye(dim, dtype=dtype)
        elif cov.ndim == 1:
            if cov.shape[0] != dim:
                raise ShapeError(f"{function}: a vector cov is the diagonal of the covariance matrix and needs {dim} "
                                 f"entries; got {cov.shape[0]}")
            cov = cov.reshape(dim, 1) * np.eye(dim, dtype=dtype)
        elif cov.ndim == 2:
            if cov.shape != (dim, dim):
                raise ShapeError(f"{function}: cov has shape {cov.shape}; expected a square matrix ({dim}, {dim}) "
                                 f"for mean of length {dim}")
            cov = 0.5 * (cov + cov.T)
        else:
            raise ShapeError(f"{function}: cov has shape {cov.shape}; expected at most two dimensions")
        x = _tensor(function, "x", x, dtype)
        if x.ndim == 0:
            x = x.reshape(1)
        if x.ndim == 1:
            x = x.reshape(-1, 1) if dim == 1 else x.reshape(1, -1)
        if x.shape[-1] != dim:
            raise ShapeError(f"{function}: x has shape {x.shape}; its last axis must hold the {dim} components")
        return x, mean, cov

    def logpdf(self, x: Any, mean: Any = None, cov: Any = 1, allow_singular: bool = False) -> Tensor:
        """The log of the density at the points ``x`` (last axis: the components).

        Returns:
            A Tensor of ``x``'s shape without its last axis, every axis of size 1 removed (a 0-d Tensor for one
            point).

        Raises:
            ShapeError: ``mean``, ``cov`` or ``x`` of shapes that do not fit together.
            LinAlgError: ``cov`` not positive definite (with ``allow_singular=False``), or, with
                ``allow_singular=True``, not positive semidefinite.
        """
        function = "multivariate_normal.logpdf"
        x, mean, cov = self._parameters(function, x, mean, cov)
        dim = mean.shape[0]
        dev = x - mean
        flat = dev.reshape(-1, dim)
        if allow_singular:
            values = np.linalg.eigvalsh(cov.detach().numpy())
            eps = (1e3 if values.dtype == np.float32 else 1e6) * np.finfo(values.dtype).eps * np.max(np.abs(values))
            if values.min() < -eps:
                raise LinAlgError(f"{function}: cov (shape {cov.shape}) is not positive semidefinite "
                                  f"(smallest eigenvalue {values.min():.3g})")
            if values.min() <= eps:
                return _squeeze_output(self._singular(dev, flat, cov, values, eps))
        try:
            low = apply(_linalg.cholesky, cov)
        except LinAlgError:
            raise LinAlgError(f"{function}: cov (shape {cov.shape}) is not positive definite; pass "
                              "allow_singular=True for a singular (positive semidefinite) cov") from None
        index = np.arange(dim)
        log_det = 2.0 * low[index, index].log().sum()
        white = apply(_linalg.solve_triangular, low, flat.T, lower=True)
        maha = (white * white).sum(axis=0).reshape(dev.shape[:-1])
        return _squeeze_output(-0.5 * (maha + (dim * _LOG_2PI + log_det)))

    @staticmethod
    def _singular(dev: Tensor, flat: Tensor, cov: Tensor, values: np.ndarray, eps: float) -> Tensor:
        kept = values > eps
        rank = int(kept.sum())
        eigenvalues = np.linalg.eigvalsh(cov)
        log_pdet = where(kept, where(kept, eigenvalues, 1.0).log(), 0.0).sum()
        cut = float(eps / np.max(np.abs(values)))
        inverse = np.linalg.pinv(cov, rcond=cut)
        maha = (flat * (flat @ inverse)).sum(axis=-1).reshape(dev.shape[:-1])
        out = -0.5 * (maha + (rank * _LOG_2PI + log_pdet))
        null = np.linalg.eigh(cov.detach().numpy())[1][:, ~kept]
        residual = np.linalg.norm(dev.detach().numpy() @ null, axis=-1)
        return where(residual < 1e3 * eps, out, -_INF)

    def pdf(self, x: Any, mean: Any = None, cov: Any = 1, allow_singular: bool = False) -> Tensor:
        """The density at the points ``x`` (``exp(logpdf)``).

        Raises:
            As :meth:`logpdf`.
        """
        return self.logpdf(x, mean, cov, allow_singular).exp()

    def __repr__(self) -> str:
        return "<tapegrad.scipy.stats.multivariate_normal>"


# -- the Dirichlet distribution -------------------------------------------------------------------------


class dirichlet_gen:
    """The Dirichlet distribution: ``dirichlet.logpdf(x, alpha)`` and ``pdf``, differentiable in ``x`` and
    ``alpha`` to any order.

    As in SciPy: ``alpha`` is a vector of ``K`` positive numbers; ``x`` has ``K`` entries along its FIRST axis
    (shape ``(K,)`` or ``(K, n)`` for ``n`` points), or ``K - 1`` and the last is ``1 - sum``; each point must
    lie on the simplex (entries in [0, 1] summing to 1 within 1e-9, and no 0 where ``alpha < 1``), else
    ArgumentError, as SciPy raises ValueError. These checks read ``x``'s values, so ``dirichlet`` cannot run
    under ``tg.compile``. The gradient in ``x`` is that of the formula ``sum((alpha - 1) log x) - log B(alpha)``
    in each entry (the derivative in the ambient space, as HIPS autograd's and PyTorch's).
    """

    name = "dirichlet"
    methods = ("logpdf", "pdf")

    def __call__(self, alpha: Any) -> _Frozen:
        """The distribution with its parameters fixed."""
        return _Frozen(self, (alpha,), {})

    def logpdf(self, x: Any, alpha: Any) -> Tensor:
        """The log of the density at ``x``.

        Returns:
            A Tensor of ``x.shape[1:]`` (a 0-d Tensor for one point), axes of size 1 removed.

        Raises:
            ArgumentError: an ``alpha`` entry ``<= 0``, or a point off the simplex.
            ShapeError: ``alpha`` not a vector, or ``x`` without ``K`` or ``K - 1`` entries on its first axis.
        """
        function = "dirichlet.logpdf"
        dtype = _result_dtype(function, [("x", x), ("alpha", alpha)])
        alpha = _tensor(function, "alpha", alpha, dtype)
        x = _tensor(function, "x", x, dtype)
        if alpha.ndim != 1:
            raise ShapeError(f"{function}: alpha must be a vector; got shape {alpha.shape}")
        a = alpha.detach().numpy()
        if a.size == 0 or np.min(a) <= 0 or np.isnan(a).any():
            raise ArgumentError(f"{function}: every alpha must be > 0; got {a}")
        k = a.shape[0]
        if x.ndim not in (1, 2) or x.shape[0] not in (k, k - 1):
            raise ShapeError(f"{function}: x has shape {x.shape}; expected {k} (or {k - 1}) entries along its first "
                             "axis, (K,) or (K, n)")
        if x.shape[0] == k - 1:
            last = 1.0 - x.sum(axis=0, keepdims=True)
            x = concatenate([x, last], axis=0)
        values = x.detach().numpy()
        if values.size and values.min() < 0:
            raise ArgumentError(f"{function}: every entry of x must be >= 0; got {values.min()}")
        if values.size and values.max() > 1:
            raise ArgumentError(f"{function}: every entry of x must be <= 1; got {values.max()}")
        below_one = (a < 1).reshape((k,) + (1,) * (x.ndim - 1))
        if np.any((values == 0) & below_one):
            raise ArgumentError(f"{function}: an entry of x is 0 where its alpha is < 1 (the density is infinite)")
        sums = values.sum(axis=0)
        if np.any(np.abs(sums - 1.0) > 10e-10):
            raise ArgumentError(f"{function}: each point x must lie on the simplex (sum to 1); the sums are {sums}")
        log_b = sc.gammaln(alpha).sum() - sc.gammaln(alpha.sum())
        shaped = alpha.reshape((k,) + (1,) * (x.ndim - 1))
        return _squeeze_output(sc.xlogy(shaped - 1.0, x).sum(axis=0) - log_b)

    def pdf(self, x: Any, alpha: Any) -> Tensor:
        """The density at ``x`` (``exp(logpdf)``).

        Raises:
            As :meth:`logpdf`.
        """
        return self.logpdf(x, alpha).exp()

    def __repr__(self) -> str:
        return "<tapegrad.scipy.stats.dirichlet>"


norm = norm_gen()
t = t_gen()
gamma = gamma_gen()
beta = beta_gen()
poisson = poisson_gen()
multivariate_normal = multivariate_normal_gen()
dirichlet = dirichlet_gen()

__all__ = ["norm", "t", "gamma", "beta", "poisson", "multivariate_normal", "dirichlet"]

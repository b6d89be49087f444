"""NumPy's other ufuncs, scans, sorting and order statistics on Tensors (issue 15): values, first and
second derivatives against PyTorch (cbrt, which it lacks, against its closed-form derivatives), float64 and float32,
numerical stability, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.errors import ArgumentError, DroppedGradientError, ShapeError

TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-5, atol=1e-5)}
GEN = np.random.default_rng(15)


def _tapegrad_derivatives(f, arrays, weights):
    """f's value, the gradient of sum(w * f) and the gradient of sum(v * that gradient) in every input."""
    n = len(arrays)

    def loss(*xs):
        return (f(*xs) * weights).sum()

    def first(*xs):
        grads = tg.grad(loss, argnums=tuple(range(n)))(*xs)
        return sum((g * np.ones_like(arrays[i])).sum() * (i + 1.5) for i, g in enumerate(grads))

    value = f(*[tg.tensor(a) for a in arrays]).numpy()
    grads = tg.grad(loss, argnums=tuple(range(n)))(*arrays)
    second = tg.grad(first, argnums=tuple(range(n)))(*arrays)
    return value, grads, second


def _torch_derivatives(f, arrays, weights):
    xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = f(*xs)
    grads = torch.autograd.grad((out * torch.tensor(weights)).sum(), xs, create_graph=True, allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for x, g in zip(xs, grads)]
    total = sum(g.sum() * (i + 1.5) for i, g in enumerate(grads))
    second = torch.autograd.grad(total, xs, allow_unused=True) if total.requires_grad else [None] * len(xs)
    second = [np.zeros_like(a) if s is None else s.detach().numpy(force=True) for a, s in zip(arrays, second)]
    return out.detach().numpy(), [g.detach().numpy(force=True) for g in grads], second


def _compare(ours, theirs, dtype):
    for mine, other in zip(ours, theirs):
        for a, b in zip(mine if isinstance(mine, (tuple, list)) else [mine],
                        other if isinstance(other, (tuple, list)) else [other]):
            a = np.asarray(a)
            assert a.dtype == dtype, (a.dtype, dtype)
            np.testing.assert_allclose(a, b, **TOL[dtype])


def _within(low, high, shape=(3, 4)):
    return GEN.uniform(low, high, size=shape)


def _away(shape=(3, 4)):
    return GEN.uniform(0.3, 2.0, size=shape) * GEN.choice([-1.0, 1.0], size=shape)


UNARY = {  # numpy function: (torch function, sampler)
    np.arcsin: (torch.asin, lambda: _within(-0.9, 0.9)), np.arccos: (torch.acos, lambda: _within(-0.9, 0.9)),
    np.arctan: (torch.atan, lambda: _within(-3, 3)), np.sinh: (torch.sinh, lambda: _within(-3, 3)),
    np.cosh: (torch.cosh, lambda: _within(-3, 3)), np.arcsinh: (torch.asinh, lambda: _within(-5, 5)),
    np.arccosh: (torch.acosh, lambda: _within(1.1, 5)), np.arctanh: (torch.atanh, lambda: _within(-0.9, 0.9)),
    np.log2: (torch.log2, lambda: _within(0.2, 5)), np.log10: (torch.log10, lambda: _within(0.2, 5)),
    np.exp2: (torch.exp2, lambda: _within(-3, 3)), np.square: (torch.square, lambda: _within(-3, 3)),
    np.fabs: (torch.abs, _away), np.sinc: (torch.sinc, lambda: _within(-3, 3)),
    np.deg2rad: (torch.deg2rad, lambda: _within(-200, 200)), np.radians: (torch.deg2rad, lambda: _within(-9, 9)),
    np.rad2deg: (torch.rad2deg, lambda: _within(-3, 3)), np.degrees: (torch.rad2deg, lambda: _within(-3, 3)),
    np.nan_to_num: (torch.nan_to_num, lambda: _within(-3, 3)),
}

BINARY = {
    np.arctan2: (torch.atan2, _away, _away), np.hypot: (torch.hypot, _away, _away),
    np.logaddexp: (torch.logaddexp, lambda: _within(-5, 5), lambda: _within(-5, 5)),
    np.logaddexp2: (torch.logaddexp2, lambda: _within(-5, 5), lambda: _within(-5, 5)),
    np.fmax: (torch.fmax, lambda: _within(-3, 3), lambda: _within(-3, 3)),
    np.fmin: (torch.fmin, lambda: _within(-3, 3), lambda: _within(-3, 3)),
    np.copysign: (torch.copysign, _away, _away),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("function", list(UNARY), ids=lambda f: f.__name__)
def test_unary_functions_match_pytorch_to_second_order(function, dtype):
    torch_function, sample = UNARY[function]
    x = sample().astype(dtype)
    w = GEN.standard_normal(x.shape).astype(dtype)
    _compare(_tapegrad_derivatives(function, [x], w), _torch_derivatives(torch_function, [x], w), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("function", list(BINARY), ids=lambda f: f.__name__)
def test_binary_functions_match_pytorch_to_second_order(function, dtype):
    torch_function, first, second = BINARY[function]
    x, y = first().astype(dtype), second()[:1].astype(dtype)  # y broadcasts over x's first axis
    w = GEN.standard_normal(x.shape).astype(dtype)
    _compare(_tapegrad_derivatives(function, [x, y], w), _torch_derivatives(torch_function, [x, y], w), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("function", [np.remainder, np.fmod], ids=lambda f: f.__name__)
def test_remainder_and_fmod_match_pytorch_away_from_their_jumps(function, dtype):
    y = _away()
    x = (GEN.integers(-3, 3, size=y.shape) + GEN.uniform(0.2, 0.8, size=y.shape)) * y
    w = GEN.standard_normal(x.shape)
    torch_function = torch.remainder if function is np.remainder else torch.fmod
    args = [x.astype(dtype), y.astype(dtype)]
    _compare(_tapegrad_derivatives(function, args, w.astype(dtype)),
             _torch_derivatives(torch_function, args, w.astype(dtype)), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cbrt_matches_its_derivatives(dtype):
    # Neither PyTorch nor HIPS autograd differentiates cbrt: d/dx = 1/(3 c**2), d2/dx2 = -2/(9 c**5), c = cbrt(x).
    x = _away().astype(dtype)
    c = np.cbrt(x.astype(np.float64))
    ours = tg.grad(lambda t: np.cbrt(t).sum())(x)
    second = tg.grad(lambda t: tg.grad(lambda u: np.cbrt(u).sum())(t).sum())(x)
    np.testing.assert_allclose(np.cbrt(tg.tensor(x)).numpy(), c, **TOL[dtype])
    np.testing.assert_allclose(ours, 1 / (3 * c ** 2), **TOL[dtype])
    np.testing.assert_allclose(second, -2 / (9 * c ** 5), **TOL[dtype])
    assert ours.dtype == second.dtype == dtype


def test_sinc_is_exact_near_and_at_zero_to_second_order():
    x = np.array([0.0, 1e-9, -1e-5, 0.004, 0.2])
    first = tg.grad(lambda t: np.sinc(t).sum())(x)
    second = tg.grad(lambda t: tg.grad(lambda u: np.sinc(u).sum())(t).sum())(x)
    xt = torch.tensor(x[3:], requires_grad=True)  # PyTorch's formula cancels near 0: compared away from it
    (g,) = torch.autograd.grad(torch.sinc(xt).sum(), xt, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), xt)
    np.testing.assert_allclose(first[3:], g.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(second[3:], h.numpy(), rtol=1e-8)
    series = [0.0, -np.pi ** 2 / 3 * 1e-9, np.pi ** 2 / 3 * 1e-5 - np.pi ** 4 / 30 * 1e-15]  # -pi^2 x/3 + pi^4 x^3/30
    np.testing.assert_allclose(first[:3], series, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(second[:3], -np.pi ** 2 / 3, rtol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_inputs_neither_overflow_nor_give_nan(dtype):
    big = np.array([1e4, 3e4], dtype) if dtype == np.float32 else np.array([1e200, 3e200])
    for function in (np.hypot, np.arctan2):
        gx, gy = tg.grad(lambda a, b: function(a, b).sum(), argnums=(0, 1))(big, big)
        assert np.all(np.isfinite(gx)) and np.all(np.isfinite(gy))
    np.testing.assert_allclose(tg.grad(lambda a, b: np.hypot(a, b).sum(), argnums=(0, 1))(big, big)[0],
                               np.sqrt(0.5), rtol=1e-6)
    for function in (np.logaddexp, np.logaddexp2):
        huge = np.array([1e4, -1e4], dtype)
        value = function(tg.tensor(huge), tg.tensor(huge))
        gx, gy = tg.grad(lambda a, b: function(a, b).sum(), argnums=(0, 1))(huge, huge)
        assert np.all(np.isfinite(value.numpy()))
        rtol = 1e-6 if dtype == np.float64 else 1e-3  # float32's 1e4 + log(2) is rounded to 1e-3
        np.testing.assert_allclose(gx, 0.5, rtol=rtol)
        np.testing.assert_allclose(gy, 0.5, rtol=rtol)
    grad = tg.grad(lambda a: np.arcsinh(a).sum())(big)
    assert np.all(np.isfinite(grad)) and np.all(grad > 0)


def test_rounding_and_heaviside_give_no_gradient():
    x = tg.tensor([0.4, -1.6, 2.5], requires_grad=True)
    for out, expected in ((np.floor(x), [0, -2, 2]), (np.ceil(x), [1, -1, 3]), (np.trunc(x), [0, -1, 2]),
                          (np.rint(x), [0, -2, 2]), (np.round(x), [0, -2, 2]), (np.around(x, 1), [0.4, -1.6, 2.5]),
                          (np.heaviside(x, 0.5), [1, 0, 1])):
        assert not out.requires_grad
        np.testing.assert_allclose(out.numpy(), expected)


def test_nan_to_num_fmax_and_fmin_route_the_gradient_away_from_nans():
    x = np.array([np.nan, np.inf, -np.inf, 2.0])
    out = np.nan_to_num(tg.tensor(x), nan=1.0, posinf=5.0, neginf=-5.0)
    np.testing.assert_array_equal(out.numpy(), [1.0, 5.0, -5.0, 2.0])
    np.testing.assert_array_equal(tg.grad(lambda t: np.nan_to_num(t).sum())(x), [0, 0, 0, 1])
    a, b = np.array([np.nan, 1.0, 3.0, 2.0]), np.array([4.0, np.nan, 1.0, 2.0])
    ga, gb = tg.grad(lambda s, t: np.fmax(s, t).sum(), argnums=(0, 1))(a, b)
    np.testing.assert_array_equal(ga, [0, 1, 1, 0.5])
    np.testing.assert_array_equal(gb, [1, 0, 0, 0.5])
    ga, gb = tg.grad(lambda s, t: np.fmin(s, t).sum(), argnums=(0, 1))(a, b)
    np.testing.assert_array_equal(ga, [0, 1, 0, 0.5])
    np.testing.assert_array_equal(gb, [1, 0, 1, 0.5])


# -- scans, sorting, order statistics ----------------------------------------------------------------------


def _distinct(shape):
    return (GEN.permutation(int(np.prod(shape))).reshape(shape) * 0.37 - 2.0) * GEN.uniform(0.9, 1.1)


def _with_zeros(shape):
    x = GEN.uniform(-2, 2, size=shape)
    x[0, 1] = x[2, 0] = x[1, 3] = 0.0  # one zero per row and per column: second order exact too
    return x


SCANS = [  # (id, numpy call, torch call, sampler)
    ("cumsum", lambda t: np.cumsum(t, axis=1), lambda t: torch.cumsum(t, 1), _distinct),
    ("cumsum_flat", lambda t: np.cumsum(t), lambda t: torch.cumsum(t.reshape(-1), 0), _distinct),
    ("cumprod", lambda t: np.cumprod(t, axis=1), lambda t: torch.cumprod(t, 1), _distinct),
    ("cumprod_zeros", lambda t: np.cumprod(t, axis=1), lambda t: torch.cumprod(t, 1), _with_zeros),
    ("cumprod_zeros_axis0", lambda t: np.cumprod(t, axis=0), lambda t: torch.cumprod(t, 0), _with_zeros),
    ("diff", lambda t: np.diff(t), lambda t: torch.diff(t), _distinct),
    ("diff_n2_axis0", lambda t: np.diff(t, n=2, axis=0), lambda t: torch.diff(t, n=2, dim=0), _distinct),
    ("diff_prepend_append", lambda t: np.diff(t, axis=1, prepend=t[:, :1] * 2, append=t[:, :2]),
     lambda t: torch.diff(t, dim=1, prepend=t[:, :1] * 2, append=t[:, :2]), _distinct),
    ("trace", lambda t: np.trace(t), lambda t: torch.trace(t), _distinct),
    ("trace_offset", lambda t: np.trace(t, offset=-1), lambda t: torch.diagonal(t, -1).sum(), _distinct),
    ("trace_3d", lambda t: np.trace(t.reshape(2, 3, 2), 1, 2, 0),
     lambda t: torch.diagonal(t.reshape(2, 3, 2), 1, 2, 0).sum(-1), _distinct),
    ("ptp", lambda t: np.ptp(t, axis=0), lambda t: t.amax(0) - t.amin(0), _distinct),
    ("average", lambda t: np.average(t, axis=1, weights=np.array([1.0, 2.0, 0.5, 3.0], t.dtype)),
     lambda t: (t * torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=t.dtype)).sum(1) / 6.5, _distinct),
    ("average_all", lambda t: np.average(t), lambda t: t.mean(), _distinct),
    ("sort", lambda t: np.sort(t, axis=0), lambda t: torch.sort(t, 0).values, _distinct),
    ("sort_flat", lambda t: np.sort(t, axis=None), lambda t: torch.sort(t.reshape(-1)).values, _distinct),
    ("median", lambda t: np.median(t, axis=1), lambda t: torch.quantile(t, 0.5, dim=1), _distinct),
    ("median_all", lambda t: np.median(t), lambda t: torch.quantile(t, 0.5), _distinct),
    ("quantile", lambda t: np.quantile(t, [0.1, 0.75], axis=0, keepdims=True),
     lambda t: torch.quantile(t, torch.tensor([0.1, 0.75], dtype=t.dtype), dim=0, keepdim=True), _distinct),
    ("percentile", lambda t: np.percentile(t, 33.0, axis=1),
     lambda t: torch.quantile(t, 0.33, dim=1), _distinct),
    ("nansum", lambda t: np.nansum(t, axis=0), lambda t: torch.nansum(t, 0), _distinct),
    ("nanmean", lambda t: np.nanmean(t, axis=1), lambda t: torch.nanmean(t, 1), _distinct),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", SCANS, ids=[c[0] for c in SCANS])
def test_scans_and_order_statistics_match_pytorch_to_second_order(case, dtype):
    _, ours, theirs, sample = case
    x = sample((3, 4)).astype(dtype)
    w = GEN.standard_normal(np.shape(ours(x))).astype(dtype)
    np.testing.assert_allclose(ours(tg.tensor(x)).numpy(), ours(x), **TOL[dtype])  # NumPy's own value too
    _compare(_tapegrad_derivatives(ours, [x], w), _torch_derivatives(theirs, [x], w), dtype)


def test_cumprod_gradient_is_exact_with_several_zeros():
    x = np.array([2.0, 0.0, 3.0, 0.0, 5.0])
    xt = torch.tensor(x, requires_grad=True)
    w = np.array([1.0, -2.0, 0.5, 3.0, 1.5])
    (expected,) = torch.autograd.grad((torch.cumprod(xt, 0) * torch.tensor(w)).sum(), xt)
    np.testing.assert_array_equal(tg.grad(lambda t: (np.cumprod(t) * w).sum())(x), expected.numpy())
    _, tangent = tg.jvp(lambda t: np.cumprod(t), (x,), (w,))
    np.testing.assert_allclose(tangent, tg.jacobian(lambda t: np.cumprod(t))(x) @ w, rtol=1e-14)


def _torch_nanvar(t, axis=None, ddof=0):
    dims = tuple(range(t.ndim)) if axis is None else axis
    nan = torch.isnan(t)
    filled = torch.where(nan, 0.0, t)  # not torch.nanmean: its NaN entries would poison the gradient
    count = (~nan).sum(dims, keepdim=True)
    centred = torch.where(nan, 0.0, filled - filled.sum(dims, keepdim=True) / count)
    return (centred ** 2).sum(dims) / (count.reshape(centred.sum(dims).shape) - ddof)


def _torch_nanextremum(t, axis=None, largest=True):
    filled = torch.where(torch.isnan(t), -torch.inf if largest else torch.inf, t)
    dims = tuple(range(t.ndim)) if axis is None else axis
    return filled.amax(dims) if largest else filled.amin(dims)


NAN_STATS = [  # (numpy function, keyword arguments, PyTorch reference)
    (np.nanvar, dict(axis=1), lambda t: _torch_nanvar(t, 1)),
    (np.nanvar, dict(ddof=1), lambda t: _torch_nanvar(t, ddof=1)),
    (np.nanstd, dict(axis=0), lambda t: _torch_nanvar(t, 0).sqrt()),
    (np.nanstd, dict(ddof=1, axis=1), lambda t: _torch_nanvar(t, 1, 1).sqrt()),
    (np.nanmax, dict(axis=1), lambda t: _torch_nanextremum(t, 1)),
    (np.nanmin, dict(), lambda t: _torch_nanextremum(t, largest=False)),
    (np.nansum, dict(axis=(0, 1)), lambda t: torch.nansum(t, (0, 1))), (np.nanmean, dict(), torch.nanmean),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", NAN_STATS, ids=[f"{c[0].__name__}-{c[1]}" for c in NAN_STATS])
def test_nan_reductions_ignore_nans_and_match_pytorch(case, dtype):
    function, options, theirs = case
    x = _distinct((3, 4))
    x[0, 2] = x[1, 0] = x[1, 3] = np.nan
    x = x.astype(dtype)
    np.testing.assert_allclose(function(tg.tensor(x), **options).numpy(), function(x, **options), **TOL[dtype])
    ours = tg.grad(lambda t: (function(t, **options) ** 2).sum())(x)
    xt = torch.tensor(x, requires_grad=True)
    (expected,) = torch.autograd.grad((theirs(xt) ** 2).sum(), xt)
    np.testing.assert_allclose(ours, np.nan_to_num(expected.numpy()), **TOL[dtype])
    assert ours.dtype == dtype and ours[0, 2] == 0


def test_nanmax_of_an_all_nan_slice_is_nan():
    x = np.array([[np.nan, np.nan], [1.0, np.nan]])
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(np.nanmax(tg.tensor(x), axis=1).numpy(), [np.nan, 1.0])
    np.testing.assert_array_equal(tg.grad(lambda t: np.nanmax(t, axis=1)[1])(x), [[0, 0], [1, 0]])


def test_sort_quantile_and_median_ties_follow_the_stable_sort():
    x = np.array([3.0, 1.0, 3.0, 2.0])
    np.testing.assert_array_equal(tg.grad(lambda t: np.sort(t) @ np.array([1.0, 2.0, 3.0, 4.0]))(x), [3, 1, 4, 2])
    # median of [1, 2, 3, 3] is (2 + 3)/2: the first 3 in the input is the one the stable sort puts third
    np.testing.assert_array_equal(tg.grad(lambda t: np.median(t))(x), [0.5, 0, 0, 0.5])
    np.testing.assert_array_equal(tg.grad(lambda t: np.quantile(t, 1.0))(x), [0, 0, 1, 0])


def test_median_and_quantile_of_a_slice_with_a_nan_are_nan_as_in_numpy():
    x = np.array([[1.0, np.nan, 2.0], [3.0, 4.0, 5.0]])
    np.testing.assert_array_equal(np.median(tg.tensor(x), axis=1).numpy(), [np.nan, 4.0])


def test_argsort_and_searchsorted_give_indices_without_gradient():
    x = tg.tensor([[3.0, 1.0, 2.0], [0.5, 0.7, 0.1]], requires_grad=True)
    order = np.argsort(x, axis=1)
    assert not order.requires_grad
    np.testing.assert_array_equal(order.numpy(), np.argsort(x.numpy(), axis=1, kind="stable"))
    positions = np.searchsorted(tg.tensor([0.0, 1.0, 2.0]), x, side="right")
    np.testing.assert_array_equal(positions.numpy(), [[3, 2, 3], [1, 1, 1]])
    assert not positions.requires_grad


def test_average_returned_and_diff_beyond_the_length():
    x = tg.tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True)
    avg, total = np.average(x, axis=0, weights=np.array([[1.0, 2.0], [3.0, 2.0]]), returned=True)
    np.testing.assert_allclose(avg.numpy(), [2.5, 3.5])
    np.testing.assert_array_equal(total.numpy(), [4.0, 4.0])
    empty = np.diff(x, n=3, axis=1)
    assert empty.shape == (2, 0)
    np.testing.assert_array_equal(tg.grad(lambda t: np.diff(t, n=3, axis=1).sum())(x.numpy()), np.zeros((2, 2)))


@pytest.mark.parametrize("call, error, message", [
    (lambda t: np.quantile(t, 1.5), ArgumentError, r"quantile: q=1.5 has values outside \[0, 1\]"),
    (lambda t: np.percentile(t, -1), ArgumentError, r"percentile: q=-1 has values outside \[0, 100\]"),
    (lambda t: np.quantile(t, "a"), ArgumentError, "quantile: q='a' is not a number"),
    (lambda t: np.diff(t.sum()), ShapeError, "diff: a 0-d input has no axis"),
    (lambda t: np.diff(t, n=-1), ArgumentError, "diff: n must be a non-negative integer"),
    (lambda t: np.diff(t, n=1.5), ArgumentError, "diff: n must be an integer"),
    (lambda t: np.trace(t[0]), ShapeError, r"trace: an input of 1 dimension\(s\); expected at least 2"),
    (lambda t: np.trace(t, axis1=1, axis2=-1), ShapeError, "trace: axis1=1 and axis2=-1 are the same axis"),
    (lambda t: np.cumsum(t, axis=2), ShapeError, "axis=2 is out of range"),
    (lambda t: np.sort(t, axis=5), ShapeError, "sort: axis=5 is out of range"),
    (lambda t: np.average(t, axis=0, weights=np.ones(5)), ShapeError, r"average: weights of shape \(5,\)"),
    (lambda t: np.average(t, axis=1, weights=np.zeros(3)), ArgumentError, "average: the weights sum to zero"),
    (lambda t: np.searchsorted(t, 1.0), ShapeError, r"searchsorted: a sorted input of shape \(2, 3\)"),
    (lambda t: np.searchsorted(t[0], 1.0, side="middle"), ArgumentError, "searchsorted: side='middle'"),
    (lambda t: np.nan_to_num(t, nan="zero"), ArgumentError, "nan_to_num: nan='zero'"),
    (lambda t: np.median(t[:, :0], axis=1), ShapeError, r"median: an input of shape \(2, 0\) is empty"),
    (lambda t: np.quantile(t, 0.5, method="nearest"), DroppedGradientError, "method='nearest' is not supported"),
    (lambda t: np.cumsum(t, dtype=np.float32), DroppedGradientError, "cumsum"),
    (lambda t: np.round(t, decimals=1.5), ArgumentError, "round: decimals must be an integer"),
])
def test_bad_input_gets_a_clear_error(call, error, message):
    t = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    with pytest.raises(error, match=message):
        call(t)

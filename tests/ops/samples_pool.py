"""Samplers for the pooling and normalisation primitives (tapegrad/ops/pool.py, normalization.py).

Max pooling has a kink where two entries of a window tie, so its inputs are a shuffled grid of values
0.05 apart; every sampler draws small NCHW / NCL inputs (a size-0 batch or channel axis inside
size_zero_sides()) and window settings PyTorch accepts (padding at most half the kernel, at least one
window).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tapegrad.ops.pool import output_length

from .samples import Case, rng, size_zero, values


def _lead(draw, dims):
    """The batch and channel sizes (one of them 0 inside size_zero_sides())."""
    lead = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
    if size_zero():
        lead[draw(st.integers(0, 1))] = 0
    return tuple(lead[2 - dims:]) if dims < 2 else tuple(lead)


def _separated(draw, shape):
    """Entries 0.05 apart in a random order: no two tie."""
    size = int(np.prod(shape, dtype=np.int64))
    return (rng(draw).permutation(size).reshape(shape) * 0.05 - 1.0).astype(np.float64)


def _window_params(draw, spatial, avg=False):
    """kernel_size, stride, padding, dilation and ceil_mode for ``len(spatial)`` pooled axes of those
    sizes, with at least one window."""
    while True:
        kernel = tuple(draw(st.integers(1, 3)) for _ in spatial)
        stride = tuple(draw(st.integers(1, 3)) for _ in spatial)
        padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
        dilation = (1,) * len(spatial) if avg else tuple(draw(st.integers(1, 2)) for _ in spatial)
        ceil_mode = draw(st.booleans())
        outs = [output_length(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(spatial, kernel, stride, padding, dilation)]
        if min(outs) >= 1:
            params = {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil_mode}
            if not avg:
                params["dilation"] = dilation
            return params, tuple(outs)


def _spatial(draw, dims):
    return tuple(draw(st.integers(2, 5)) for _ in range(dims))


def max_pool_case(dims):
    def sample(draw):
        spatial = _spatial(draw, dims)
        params, _ = _window_params(draw, spatial)
        return Case([_separated(draw, _lead(draw, 2) + spatial)], params)
    return sample


def avg_pool_case(dims):
    def sample(draw):
        spatial = _spatial(draw, dims)
        params, _ = _window_params(draw, spatial, avg=True)
        params["count_include_pad"] = draw(st.booleans())
        if dims == 2 and draw(st.integers(0, 4)) == 0:
            params["divisor_override"] = draw(st.integers(1, 5))
        return Case([values(rng(draw), _lead(draw, 2) + spatial)], params)
    return sample


def _adaptive(draw):
    spatial = _spatial(draw, 2)
    output_size = (draw(st.integers(1, spatial[0] + 1)), draw(st.integers(1, spatial[1] + 1)))
    return _lead(draw, 2) + spatial, output_size


def adaptive_max_pool_case(draw):
    shape, output_size = _adaptive(draw)
    return Case([_separated(draw, shape)], {"output_size": output_size})


def adaptive_avg_pool_case(draw):
    shape, output_size = _adaptive(draw)
    return Case([values(rng(draw), shape)], {"output_size": output_size})


def _max_pool_setting(draw):
    """(x, pool, the pooled shape) for max_pool_scatter and max_pool_gather."""
    if draw(st.booleans()):
        shape, output_size = _adaptive(draw)
        return _separated(draw, shape), ("adaptive", output_size), shape[:2] + output_size
    dims = draw(st.integers(1, 2))
    spatial = _spatial(draw, dims)
    params, outs = _window_params(draw, spatial)
    shape = _lead(draw, 2) + spatial
    pool = ("window", params["kernel_size"], params["stride"], params["padding"], params["dilation"],
            params["ceil_mode"])
    return _separated(draw, shape), pool, shape[:2] + outs


def max_pool_scatter_case(draw):
    x, pool, pooled = _max_pool_setting(draw)
    return Case([values(rng(draw), pooled), x], {"pool": pool})


def max_pool_gather_case(draw):
    x, pool, _ = _max_pool_setting(draw)
    return Case([values(rng(draw), x.shape), x], {"pool": pool})


def avg_pool_transpose_case(draw):
    dims = draw(st.integers(1, 2))
    spatial = _spatial(draw, dims)
    params, outs = _window_params(draw, spatial, avg=True)
    shape = _lead(draw, 2) + spatial
    override = draw(st.integers(1, 5)) if dims == 2 and draw(st.integers(0, 4)) == 0 else None
    pool = (params["kernel_size"], params["stride"], params["padding"], params["ceil_mode"],
            draw(st.booleans()), override)
    return Case([values(rng(draw), shape[:2] + outs)], {"shape": shape, "pool": pool})


def adaptive_avg_pool_transpose_case(draw):
    shape, output_size = _adaptive(draw)
    return Case([values(rng(draw), shape[:2] + output_size)], {"shape": shape})


def normalize_case(draw):
    """A tensor of 1 to 4 axes normalised over a non-empty set of them covering at least 2 entries."""
    shape = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(1, 4)))]
    axes = tuple(sorted(draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    shape[axes[0]] = draw(st.integers(2, 3))
    shape = tuple(shape)
    axis = axes[0] if len(axes) == 1 and draw(st.booleans()) else axes
    return Case([values(rng(draw), shape)], {"axis": axis, "eps": draw(st.sampled_from([1e-5, 0.1]))})


SAMPLERS = {
    "max_pool1d": max_pool_case(1), "max_pool2d": max_pool_case(2),
    "avg_pool1d": avg_pool_case(1), "avg_pool2d": avg_pool_case(2),
    "adaptive_max_pool2d": adaptive_max_pool_case, "adaptive_avg_pool2d": adaptive_avg_pool_case,
    "max_pool_scatter": max_pool_scatter_case, "max_pool_gather": max_pool_gather_case,
    "avg_pool_transpose": avg_pool_transpose_case, "adaptive_avg_pool_transpose": adaptive_avg_pool_transpose_case,
    "normalize": normalize_case,
}
# normalize has no size-0 case: the mean over an empty axis has no value.
NEVER_EMPTY = frozenset({"normalize"})

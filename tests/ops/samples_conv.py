"""Samplers for the convolution primitives (tapegrad/ops/conv.py): conv1d/conv2d, their transposes
and their weight correlations, over random strides, paddings (the end's negative too, as the
rules pass it), dilations and groups. Inside size_zero_sides() the batch is empty."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from .samples import Case, rng, size_zero, values


def _geometry(draw, dims: int) -> dict:
    """Channels, groups, kernel, stride, dilation and padding in front, one per spatial axis."""
    groups = draw(st.integers(1, 2))
    return {
        "dims": dims, "batch": 0 if size_zero() else draw(st.integers(1, 2)), "groups": groups,
        "cg": draw(st.integers(1, 2)), "og": draw(st.integers(1, 2)),
        "kernel": tuple(draw(st.integers(1, 3)) for _ in range(dims)),
        "stride": tuple(draw(st.integers(1, 2)) for _ in range(dims)),
        "dilation": tuple(draw(st.integers(1, 2)) for _ in range(dims)),
        "before": tuple(draw(st.integers(0, 2)) for _ in range(dims)),
        "out": tuple(draw(st.integers(1, 3)) for _ in range(dims)),
    }


def _sizes(draw, geo) -> tuple[int, ...]:
    """An input size per axis near the one the output positions span (the end padded or cut by up to 2)."""
    sizes = []
    for j, k, s, d, p in zip(geo["out"], geo["kernel"], geo["stride"], geo["dilation"], geo["before"]):
        span = (j - 1) * s + d * (k - 1) + 1
        sizes.append(max(1, span - p - draw(st.integers(-1, 2))))
    return tuple(sizes)


def _common(geo) -> dict:
    return {"stride": geo["stride"], "dilation": geo["dilation"], "groups": geo["groups"]}


def conv_case(dims: int) -> Callable[[Any], Case]:
    def sample(draw):
        geo = _geometry(draw, dims)
        size = _sizes(draw, geo)
        pairs = []
        for i, j, k, s, d, p in zip(size, geo["out"], geo["kernel"], geo["stride"], geo["dilation"], geo["before"]):
            # the end's padding that gives `out` positions, plus up to stride - 1 more (left unread)
            after = (j - 1) * s + d * (k - 1) + 1 - i - p + draw(st.integers(0, s - 1))
            pairs.append((p, after))
        g, r = geo["groups"], rng(draw)
        x = values(r, (geo["batch"], g * geo["cg"]) + size)
        w = values(r, (g * geo["og"], geo["cg"]) + geo["kernel"])
        return Case([x, w], {**_common(geo), "padding": tuple(pairs)})
    return sample


def transpose_case(dims: int) -> Callable[[Any], Case]:
    def sample(draw):
        geo = _geometry(draw, dims)
        g, r = geo["groups"], rng(draw)
        grad = values(r, (geo["batch"], g * geo["og"]) + geo["out"])
        w = values(r, (g * geo["og"], geo["cg"]) + geo["kernel"])
        return Case([grad, w], {**_common(geo), "padding": geo["before"], "size": _sizes(draw, geo)})
    return sample


def weight_case(dims: int) -> Callable[[Any], Case]:
    def sample(draw):
        geo = _geometry(draw, dims)
        g, r = geo["groups"], rng(draw)
        x = values(r, (geo["batch"], g * geo["cg"]) + _sizes(draw, geo))
        grad = values(r, (geo["batch"], g * geo["og"]) + geo["out"])
        return Case([x, grad], {**_common(geo), "padding": geo["before"], "size": geo["kernel"]})
    return sample


SAMPLERS: dict[str, Callable[[Any], Case]] = {
    "conv1d": conv_case(1), "conv_transpose1d": transpose_case(1), "conv1d_weight": weight_case(1),
    "conv2d": conv_case(2), "conv_transpose2d": transpose_case(2), "conv2d_weight": weight_case(2),
}

"""Valid random inputs for every differentiable primitive, drawn with Hypothesis.

A sampler gets Hypothesis' ``draw`` and returns a :class:`Case`: the positional inputs (float64
arrays are differentiated; other values are passed as they are) and the keyword parameters. Values
stay inside each function's domain and away from its kinks, so finite differences are meaningful.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


@dataclass
class Case:
    args: list
    params: dict = field(default_factory=dict)


def shapes(min_dims=0, max_dims=3, min_side=0, max_side=3):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def rng(draw) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def values(r, shape, low=-2.0, high=2.0):
    return r.uniform(low, high, size=shape)


def away_from_zero(r, shape, low=0.2, high=2.0):
    return r.uniform(low, high, size=shape) * r.choice([-1.0, 1.0], size=shape)


def two_broadcastable(draw):
    result = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0,
                                                    max_side=3))
    return result.input_shapes


def unary(domain=values):
    def sample(draw):
        return Case([domain(rng(draw), draw(shapes()))])
    return sample


def binary(first=values, second=values):
    def sample(draw):
        a, b = two_broadcastable(draw)
        r = rng(draw)
        return Case([first(r, a), second(r, b)])
    return sample


def positive(r, shape):
    return r.uniform(0.5, 2.0, size=shape)


def axis_for(draw, ndim, allow_none=True, allow_tuple=True):
    options = [st.integers(-ndim, ndim - 1)] if ndim else []
    if allow_none:
        options.append(st.none())
    if allow_tuple and ndim:
        options.append(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(tuple))
    return draw(st.one_of(*options)) if options else None


def reduction(min_side=0, ddof=False):
    def sample(draw):
        shape = draw(shapes(min_side=min_side))
        params = {"axis": axis_for(draw, len(shape)), "keepdims": draw(st.booleans())}
        if ddof:
            params["ddof"] = draw(st.integers(0, 1))
            from tapegrad.ops.reduce import reduced_count
            if reduced_count(shape, params["axis"]) <= params["ddof"]:
                params["ddof"] = 0
        return Case([values(rng(draw), shape)], params)
    return sample


def nonempty_reduction(draw):
    return reduction(min_side=1)(draw)


def separated_reduction(draw):
    """A reduction whose entries are at least 0.05 apart: max and min have a kink where two entries tie,
    and finite differences across it disagree with the (tie-splitting) gradient."""
    case = reduction(min_side=1)(draw)
    x = case.args[0]
    grid = rng(draw).permutation(x.size).reshape(x.shape) * 0.05 - 1.0
    return Case([grid.astype(x.dtype)], case.params)


def softmax_like(draw):
    shape = draw(shapes(min_dims=1, min_side=1))
    return Case([values(rng(draw), shape, -5, 5)], {"axis": draw(st.integers(-len(shape), len(shape) - 1))})


def clip_case(draw):
    """``clip(x, lo, hi)`` with each bound None, a number or an array that broadcasts with ``x``
    (also one that enlarges the result), sometimes with ``lo > hi``; entries stay away from the kinks."""
    x_shape, lo_shape, hi_shape = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3,
                                                                         max_side=3)).input_shapes
    r = rng(draw)
    # x avoids the bands [-1.3, -0.7] and [0.7, 1.3] where the bounds lie.
    x = r.choice([-1.0, 0.0, 1.0], size=x_shape) * 1.65 + r.uniform(-0.35, 0.35, size=x_shape)
    swapped = draw(st.booleans()) and draw(st.booleans())
    bounds = []
    for shape, centre in ((lo_shape, 1.0 if swapped else -1.0), (hi_shape, -1.0 if swapped else 1.0)):
        kind = draw(st.sampled_from(["none", "number", "array"]))
        bounds.append(None if kind == "none" else centre if kind == "number" else
                      r.uniform(centre - 0.2, centre + 0.2, size=shape))
    return Case([x, *bounds])


def where_case(draw):
    result = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
    c, a, b = result.input_shapes
    r = rng(draw)
    return Case([r.random(c) > 0.5, values(r, a), values(r, b)])


def power_case(draw):
    a, b = two_broadcastable(draw)
    r = rng(draw)
    return Case([positive(r, a), values(r, b)])


def matmul_case(draw):
    kind = draw(st.sampled_from(["vv", "vm", "mv", "mm", "batched"]))
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(0, 3)), draw(st.integers(1, 3))
    r = rng(draw)
    if kind == "vv":
        return Case([values(r, (k,)), values(r, (k,))])
    if kind == "vm":
        batch = draw(st.sampled_from([(), (2,)]))
        return Case([values(r, (k,)), values(r, batch + (k, m))])
    if kind == "mv":
        batch = draw(st.sampled_from([(), (2,)]))
        return Case([values(r, batch + (n, k)), values(r, (k,))])
    if kind == "mm":
        return Case([values(r, (n, k)), values(r, (k, m))])
    batch_a, batch_b = draw(st.sampled_from([((2,), (2,)), ((2, 1), (3,)), ((), (2,)), ((1,), (2,))]))
    return Case([values(r, batch_a + (n, k)), values(r, batch_b + (k, m))])


EINSUM_SPECS = {
    "ij,jk->ik": [(2, 3), (3, 2)], "bij,bjk->bik": [(2, 2, 3), (2, 3, 1)], "i,i->": [(3,), (3,)],
    "ij->j": [(2, 3)], "ij,k->ik": [(2, 3), (2,)], "ij,jk,kl->il": [(2, 3), (3, 2), (2, 2)],
    "ij->ji": [(2, 3)],
}


def einsum_case(draw):
    spec = draw(st.sampled_from(sorted(EINSUM_SPECS)))
    r = rng(draw)
    return Case([values(r, s) for s in EINSUM_SPECS[spec]], {"subscripts": spec})


def reshape_case(draw):
    shape = draw(shapes())
    size = int(np.prod(shape))
    target = draw(st.sampled_from([(size,), (1, size), shape[::-1] if shape else (), (-1,)]))
    return Case([values(rng(draw), shape)], {"shape": target})


def transpose_case(draw):
    shape = draw(shapes())
    axes = draw(st.one_of(st.none(), st.permutations(range(len(shape))).map(tuple)))
    return Case([values(rng(draw), shape)], {"axes": axes})


def broadcast_to_case(draw):
    result = draw(hnp.mutually_broadcastable_shapes(num_shapes=1, max_dims=3, max_side=3))
    return Case([values(rng(draw), result.input_shapes[0])], {"shape": result.result_shape})


def sum_to_case(draw):
    result = draw(hnp.mutually_broadcastable_shapes(num_shapes=1, max_dims=3, max_side=3))
    return Case([values(rng(draw), result.result_shape)], {"shape": result.input_shapes[0]})


def index_for(draw, shape):
    """A basic index, an integer-array index with repeats, or a boolean mask, valid for ``shape``."""
    kind = draw(st.sampled_from(["int", "slice", "ellipsis", "array", "mask", "newaxis"]))
    if not shape or 0 in shape:
        return Ellipsis
    n = shape[0]
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    if kind == "slice":
        return (slice(draw(st.integers(0, n)), None, draw(st.sampled_from([1, 2, -1]))),)
    if kind == "ellipsis":
        return (Ellipsis, draw(st.integers(0, shape[-1] - 1)))
    if kind == "array":  # repeated indices must accumulate
        return (np.array(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=5))),)
    if kind == "mask":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return (None, slice(None))


def getitem_case(draw):
    shape = draw(shapes())
    from tapegrad.tensor_methods import _normalize_index
    return Case([values(rng(draw), shape)], {"index": _normalize_index(index_for(draw, shape))})


def scatter_add_case(draw):
    shape = draw(shapes())
    from tapegrad.tensor_methods import _normalize_index
    index = _normalize_index(index_for(draw, shape))
    part = np.empty(shape)[index].shape
    return Case([values(rng(draw), part)], {"index": index, "shape": shape})


def setitem_case(draw):
    shape = draw(shapes())
    from tapegrad.tensor_methods import _normalize_index
    index = _normalize_index(index_for(draw, shape))
    if isinstance(index, tuple) and any(isinstance(i, np.ndarray) for i in index):
        index = (np.unique(index[0]),) + index[1:]  # repeated targets: only the last write survives
    part = np.empty(shape)[index].shape
    r = rng(draw)
    value_shape = draw(st.sampled_from([part, part[1:] if part else part, ()]))
    return Case([values(r, shape), values(r, value_shape)], {"index": index})


def assign_view_case(draw):
    """A chain of one to three view operations (basic indexing, transpose, reshape, flip) and a value
    of the view's shape."""
    from tapegrad.ops import shape as S
    shape = draw(shapes(min_dims=1))
    probe, chain = np.empty(shape), []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["slice", "int", "transpose", "reshape", "flip"]))
        if kind in ("slice", "int") and probe.ndim and probe.shape[0]:
            n = probe.shape[0]
            index = draw(st.integers(-n, n - 1)) if kind == "int" else \
                (slice(draw(st.integers(0, n)), None, draw(st.sampled_from([1, 2, -1]))),)
            step = (S.getitem, {"index": index})
        elif kind == "transpose":
            step = (S.transpose, {"axes": tuple(draw(st.permutations(range(probe.ndim))))})
        elif kind == "reshape" and probe.flags.c_contiguous:
            step = (S.reshape, {"shape": (-1,)})
        else:
            step = (S.flip, {"axis": None})
        probe = step[0].forward(probe, **step[1])
        chain.append(step)
    r = rng(draw)
    return Case([values(r, shape), values(r, probe.shape)], {"chain": tuple(chain)})


def concatenate_case(draw):
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    r = rng(draw)
    pieces = []
    for _ in range(draw(st.integers(1, 3))):
        piece = list(shape)
        piece[axis] = draw(st.integers(0, 3))
        pieces.append(values(r, tuple(piece)))
    return Case(pieces, {"axis": axis})


def pad_case(draw):
    shape = draw(shapes())
    width = draw(st.sampled_from([1, (0, 2), [(1, 0)] * len(shape) if shape else 1]))
    return Case([values(rng(draw), shape)], {"pad_width": width, "constant_values": 0.5})


def flip_case(draw):
    shape = draw(shapes())
    return Case([values(rng(draw), shape)], {"axis": axis_for(draw, len(shape))})


def leaky_relu_case(draw):
    return Case([away_from_zero(rng(draw), draw(shapes()))], {"negative_slope": draw(st.sampled_from([0.01, 0.2]))})


def elu_case(draw):
    return Case([away_from_zero(rng(draw), draw(shapes()))], {"alpha": draw(st.sampled_from([1.0, 0.5]))})


SAMPLERS: dict[str, Callable[[Any], Case]] = {
    "add": binary(), "subtract": binary(), "multiply": binary(),
    "divide": binary(second=away_from_zero), "power": power_case,
    "maximum": binary(), "minimum": binary(), "where": where_case, "clip": clip_case,
    "negative": unary(), "exp": unary(), "log": unary(positive), "log1p": unary(lambda r, s: r.uniform(-0.5, 2, s)),
    "expm1": unary(), "sqrt": unary(positive), "abs": unary(away_from_zero), "sin": unary(), "cos": unary(),
    "tan": unary(lambda r, s: r.uniform(-1.2, 1.2, s)), "tanh": unary(),
    "sum": reduction(), "mean": nonempty_reduction, "var": reduction(min_side=2, ddof=True),
    "prod": reduction(), "max": separated_reduction, "min": separated_reduction,
    "logsumexp": nonempty_reduction,
    "reshape": reshape_case, "transpose": transpose_case, "broadcast_to": broadcast_to_case,
    "sum_to": sum_to_case, "getitem": getitem_case, "scatter_add": scatter_add_case,
    "setitem": setitem_case, "assign_view": assign_view_case, "concatenate": concatenate_case, "pad": pad_case,
    "flip": flip_case,
    "astype": lambda draw: Case([values(rng(draw), draw(shapes()))], {"dtype": np.dtype(np.float64)}),
    "copy": unary(),
    "matmul": matmul_case, "einsum": einsum_case,
    "sigmoid": unary(lambda r, s: r.uniform(-6, 6, s)), "softplus": unary(lambda r, s: r.uniform(-6, 6, s)),
    "relu": unary(away_from_zero), "leaky_relu": leaky_relu_case, "elu": elu_case,
    "softmax": softmax_like, "log_softmax": softmax_like,
}

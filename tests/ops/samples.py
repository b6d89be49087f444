"""Valid random inputs for every differentiable primitive, drawn with Hypothesis.

A sampler gets Hypothesis' ``draw`` and returns a :class:`Case`: the positional inputs (float64
arrays are differentiated; other values are passed as they are) and the keyword parameters. Values
stay inside each function's domain and away from its kinks, so finite differences are meaningful.

Samplers draw non-empty inputs and results (0-d arrays, size-1 axes and broadcasting included), so
every example has a Jacobian to check. Inside :func:`size_zero_sides` they draw the edge case
instead: inputs with a size-0 axis (primitives in :data:`NEVER_EMPTY` have no such case).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


@dataclass
class Case:
    args: list
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # NumPy turns 0-d results of arithmetic into scalars (np.float64, np.bool); as inputs they must
        # stay arrays, or the checks that differentiate arrays only would pass them as constants.
        self.args = [np.asarray(a) if isinstance(a, np.generic) else a for a in self.args]


_SIZE_ZERO = ContextVar("size_zero_sides", default=False)

# Primitives whose inputs are never empty: reductions without an identity (mean, max, ...) and
# einsum's fixed specs.
NEVER_EMPTY = frozenset({"mean", "var", "max", "min", "logsumexp", "softmax", "log_softmax", "einsum"})


@contextmanager
def size_zero_sides() -> Iterator[None]:
    """Within: samplers draw inputs with a size-0 axis (the edge case) instead of non-empty ones."""
    token = _SIZE_ZERO.set(True)
    try:
        yield
    finally:
        _SIZE_ZERO.reset(token)


def size_zero() -> bool:
    return _SIZE_ZERO.get()


def _with_zero_side(shape_strategy):
    """Shapes from ``shape_strategy`` (at least one axis) with one of their axes set to 0."""
    return shape_strategy.flatmap(
        lambda s: st.integers(0, len(s) - 1).map(lambda i: s[:i] + (0,) + s[i + 1:]))


def shapes(min_dims=0, max_dims=3, max_side=3, nonempty=False):
    """Non-empty shapes (0-d and size-1 axes included); with a size-0 axis inside size_zero_sides()
    unless ``nonempty``."""
    if size_zero() and not nonempty:
        return _with_zero_side(hnp.array_shapes(min_dims=max(min_dims, 1), max_dims=max(max_dims, 1),
                                                min_side=1, max_side=max_side))
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


def broadcastable(draw, num_shapes):
    """``num_shapes`` shapes that broadcast together, and the shape they broadcast to: non-empty, or
    inside size_zero_sides() with one axis of the result 0 (inputs with that axis have it 0 or 1)."""
    result = draw(hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=1 if size_zero() else 0,
                                                    max_dims=3, min_side=1, max_side=3))
    inputs, out = [list(s) for s in result.input_shapes], list(result.result_shape)
    if not size_zero():
        return [tuple(s) for s in inputs], tuple(out)
    axis = draw(st.integers(-len(out), -1))
    having = [s for s in inputs if len(s) >= -axis]
    for s in having:
        if s[axis] != 1:
            s[axis] = 0
    if all(s[axis] == 1 for s in having):
        having[draw(st.integers(0, len(having) - 1))][axis] = 0
    out[axis] = 0
    return [tuple(s) for s in inputs], tuple(out)


def rng(draw) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def values(r, shape, low=-2.0, high=2.0):
    return r.uniform(low, high, size=shape)


def away_from_zero(r, shape, low=0.2, high=2.0):
    return r.uniform(low, high, size=shape) * r.choice([-1.0, 1.0], size=shape)


def two_broadcastable(draw):
    return broadcastable(draw, 2)[0]


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


def reduction(nonempty=False, min_side=1, ddof=False):
    """A reduction over a drawn axis (None, one or a tuple) of a shape whose sides are at least
    ``min_side``; ``nonempty``: also inside size_zero_sides() (no identity to reduce an empty axis to)."""
    def sample(draw):
        shape = draw(shapes(nonempty=nonempty) if min_side == 1 else
                     hnp.array_shapes(min_dims=0, max_dims=3, min_side=min_side, max_side=3))
        params = {"axis": axis_for(draw, len(shape)), "keepdims": draw(st.booleans())}
        if ddof:
            params["ddof"] = draw(st.integers(0, 1))
            from tapegrad.ops.reduce import reduced_count
            if reduced_count(shape, params["axis"]) <= params["ddof"]:
                params["ddof"] = 0
        return Case([values(rng(draw), shape)], params)
    return sample


def nonempty_reduction(draw):
    return reduction(nonempty=True)(draw)


def separated_reduction(draw):
    """A reduction whose entries are at least 0.05 apart: max and min have a kink where two entries tie,
    and finite differences across it disagree with the (tie-splitting) gradient."""
    case = reduction(nonempty=True)(draw)
    x = case.args[0]
    grid = rng(draw).permutation(x.size).reshape(x.shape) * 0.05 - 1.0
    return Case([grid.astype(x.dtype)], case.params)


def softmax_like(draw):
    shape = draw(shapes(min_dims=1, nonempty=True))
    return Case([values(rng(draw), shape, -5, 5)], {"axis": draw(st.integers(-len(shape), len(shape) - 1))})


def clip_case(draw):
    """``clip(x, lo, hi)`` with each bound None, a number or an array that broadcasts with ``x``
    (also one that enlarges the result), sometimes with ``lo > hi``; entries stay away from the kinks."""
    (x_shape, lo_shape, hi_shape), out_shape = broadcastable(draw, 3)
    if size_zero():  # the bounds may be None: x itself has the size-0 axis
        x_shape = out_shape
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
    c, a, b = broadcastable(draw, 3)[0]
    r = rng(draw)
    return Case([r.random(c) > 0.5, values(r, a), values(r, b)])


def power_case(draw):
    a, b = two_broadcastable(draw)
    r = rng(draw)
    return Case([positive(r, a), values(r, b)])


def matmul_case(draw):
    kind = draw(st.sampled_from(["vv", "vm", "mv", "mm", "batched"]))
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if size_zero():  # k == 0 gives a result of zeros; n == 0 or m == 0 an empty one
        used = {"vv": "k", "vm": "km", "mv": "nk"}.get(kind, "nkm")
        zero = draw(st.sampled_from(used))
        n, k, m = (0 if zero == "n" else n), (0 if zero == "k" else k), (0 if zero == "m" else m)
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
    (shape,), target = broadcastable(draw, 1)
    return Case([values(rng(draw), shape)], {"shape": target})


def sum_to_case(draw):
    (target,), shape = broadcastable(draw, 1)
    return Case([values(rng(draw), shape)], {"shape": target})


def index_for(draw, shape):
    """A basic index, an integer-array index with repeats, or a boolean mask, valid for ``shape``,
    that selects at least one entry; inside size_zero_sides() one that selects none."""
    kind = draw(st.sampled_from(["int", "slice", "ellipsis", "array", "mask", "newaxis"]))
    if not shape or 0 in shape:
        return Ellipsis
    n = shape[0]
    if size_zero():
        kind = draw(st.sampled_from(["slice", "array", "mask"]))
        return ((slice(n, None),) if kind == "slice" else (np.array([], dtype=np.intp),) if kind == "array"
                else np.zeros(n, dtype=bool))
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    if kind == "slice":
        return (slice(draw(st.integers(0, n - 1)), None, draw(st.sampled_from([1, 2, -1]))),)
    if kind == "ellipsis":
        return (Ellipsis, draw(st.integers(0, shape[-1] - 1)))
    if kind == "array":  # repeated indices must accumulate
        return (np.array(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=5))),)
    if kind == "mask":
        mask = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        mask[draw(st.integers(0, n - 1))] = True
        return mask
    return (None, slice(None))


def indexed_shape(draw):
    """A shape to index: inside size_zero_sides(), one with a size-0 axis or a non-empty one (which
    index_for then indexes with an index that selects nothing)."""
    return draw(shapes(min_dims=1 if size_zero() else 0, nonempty=size_zero() and draw(st.booleans())))


def getitem_case(draw):
    shape = indexed_shape(draw)
    from tapegrad.tensor import _normalize_index
    return Case([values(rng(draw), shape)], {"index": _normalize_index(index_for(draw, shape))})


def scatter_add_case(draw):
    shape = indexed_shape(draw)
    from tapegrad.tensor import _normalize_index
    index = _normalize_index(index_for(draw, shape))
    part = np.empty(shape)[index].shape
    return Case([values(rng(draw), part)], {"index": index, "shape": shape})


def setitem_case(draw):
    shape = indexed_shape(draw)
    from tapegrad.tensor import _normalize_index
    index = _normalize_index(index_for(draw, shape))
    if isinstance(index, tuple) and any(isinstance(i, np.ndarray) for i in index):
        index = (np.unique(index[0]),) + index[1:]  # repeated targets: only the last write survives
    part = np.empty(shape)[index].shape
    r = rng(draw)
    value_shape = part if size_zero() else draw(st.sampled_from([part, part[1:] if part else part, ()]))
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
                (slice(draw(st.integers(0, n - 1)), None, draw(st.sampled_from([1, 2, -1]))),)
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
    for i in range(draw(st.integers(1, 3))):
        piece = list(shape)
        # Pieces empty along the axis join non-empty ones; all are empty when the drawn shape is.
        piece[axis] = draw(st.integers(0 if i or size_zero() else 1, 0 if shape[axis] == 0 else 3))
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
    "sum": reduction(), "mean": nonempty_reduction, "var": reduction(nonempty=True, min_side=2, ddof=True),
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

from .samples_conv import SAMPLERS as _CONV_SAMPLERS  # noqa: E402  (the convolutions: issue 14)

SAMPLERS.update(_CONV_SAMPLERS)
from .samples_rnn import SAMPLERS as RNN_SAMPLERS  # noqa: E402  (the recurrent primitives)

SAMPLERS.update(RNN_SAMPLERS)
from . import samples_pool as _pool  # noqa: E402 (it uses the helpers above)

SAMPLERS.update(_pool.SAMPLERS)
NEVER_EMPTY = NEVER_EMPTY | _pool.NEVER_EMPTY
from .samples_attention import SAMPLERS as _ATTENTION_SAMPLERS  # noqa: E402 (activations, embedding: issue 14)

SAMPLERS.update(_ATTENTION_SAMPLERS)
from . import samples_scientific as _scientific  # noqa: E402 (NumPy's other ufuncs, scans, sorting: issue 15)

SAMPLERS.update(_scientific.SAMPLERS)
from . import samples_linalg_numpy as _linalg_numpy  # noqa: E402 (numpy.linalg: issue 15)

SAMPLERS.update(_linalg_numpy.SAMPLERS)
NEVER_EMPTY = NEVER_EMPTY | _linalg_numpy.NEVER_EMPTY
from . import samples_special as _special  # noqa: E402 (scipy.special: issue 15)

SAMPLERS.update(_special.SAMPLERS)
from . import samples_linalg_scipy as _linalg_scipy  # noqa: E402 (scipy.linalg: issue 15)

SAMPLERS.update(_linalg_scipy.SAMPLERS)
NEVER_EMPTY = NEVER_EMPTY | _linalg_scipy.NEVER_EMPTY
from . import samples_shapes as _shapes  # noqa: E402, F401 (einsum's diagonals and broadcast letters: issue 15)
from . import samples_stats as _stats  # noqa: E402 (tapegrad.scipy.stats' stdtr: issue 15)

SAMPLERS.update(_stats.SAMPLERS)
from .samples_signal import SAMPLERS as _SIGNAL_SAMPLERS  # noqa: E402 (scipy.signal.convolve: issue 15)

SAMPLERS.update(_SIGNAL_SAMPLERS)
from .samples_complex import SAMPLERS as _COMPLEX_SAMPLERS  # noqa: E402 (complex numbers: issue 18)

SAMPLERS.update(_COMPLEX_SAMPLERS)
from .samples_fft import SAMPLERS as _FFT_SAMPLERS  # noqa: E402 (numpy.fft: issue 18)

SAMPLERS.update(_FFT_SAMPLERS)

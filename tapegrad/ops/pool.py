"""Pooling over the last one or two axes: max, average and adaptive (PyTorch's NCL / NCHW layouts).

Every pooling works on strided windows of the (padded) input. The loops below run over the offsets
inside a window (``kh * kw`` of them, 4 for a 2x2 kernel), each step one vectorised operation on a
strided slice that holds that offset of every window; never over output positions.

* ``max_pool1d`` / ``max_pool2d``: windows of ``kernel_size`` taken every ``stride`` (default: the
  kernel) with ``dilation``, over an input padded with ``-inf``; ``ceil_mode`` adds a last partial
  window when one would start inside the input or its left padding (PyTorch's rule). The gradient
  goes to the window's maximum; where several entries tie it goes to the **first** of them in the
  window's row-major order, as PyTorch routes it (a NaN is the maximum, the last NaN winning, also as
  in PyTorch). The routing is recomputed from the input by ``max_pool_scatter`` (the VJP) and
  ``max_pool_gather`` (the JVP), registered primitives that are each other's adjoint, so second
  derivatives work.
* ``avg_pool1d`` / ``avg_pool2d``: the mean of each window over a zero-padded input, divided by the
  window's size with or without the padding it covers (``count_include_pad``), or by
  ``divisor_override``. Linear, so its VJP is its transpose, ``avg_pool_transpose`` (the gradient
  divided by the divisors and spread back over the windows), whose own VJP is the average again.
* ``adaptive_avg_pool2d`` / ``adaptive_max_pool2d``: ``output_size`` windows, the i-th from
  ``floor(i * H / out)`` to ``ceil((i + 1) * H / out)`` (PyTorch's formula). The average is two small
  matrix products; the maximum uses the fixed-window path when the sizes divide, otherwise a gather
  of the (clamped) windows.

The arguments are checked by :mod:`tapegrad.nn.functional` before these run; the primitives take
``kernel_size``, ``stride``, ``padding`` and ``dilation`` as tuples with one entry per pooled axis.
"""

from __future__ import annotations

import itertools

import numpy as np

from . import batching as B
from .registry import Primitive

POOLING = "a float tensor pooled over its last axes with windows that fit the padded input"


def output_length(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """The number of windows along one axis (PyTorch's ``pooling_output_shape``); below 1 when none fits."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start in the right padding
    return out


def adaptive_bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``out`` adaptive windows over ``size`` entries starts and ends (exclusive)."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


# -- fixed windows ---------------------------------------------------------------------------------

class _Windows:
    """The geometry of fixed windows over the last two axes of an input of ``shape`` (1-D pooling is
    2-D pooling over an axis of length 1 with a kernel of height 1)."""

    def __init__(self, shape, kernel_size, stride, padding, dilation, ceil_mode):
        if len(kernel_size) == 1:
            kernel_size, stride, padding, dilation = ((1, *kernel_size), (1, *stride), (0, *padding),
                                                      (1, *dilation))
        self.kernel, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.size = tuple(shape[-2:])
        self.out = tuple(output_length(n, k, s, p, d, ceil_mode)
                         for n, k, s, p, d in zip(self.size, kernel_size, stride, padding, dilation))
        # The padded input must hold the last window whole: ceil_mode may reach past the padding.
        self.after = tuple(max(p, (o - 1) * s + d * (k - 1) + 1 - n - p)
                           for n, k, s, p, d, o in zip(self.size, kernel_size, stride, padding, dilation,
                                                       self.out))
        self.overlap = any(s < d * (k - 1) + 1 for k, s, d in zip(kernel_size, stride, dilation))

    def offsets(self):
        """Each offset of a window, with the index that selects it in every window of the padded input."""
        (kh, kw), (sh, sw), (dh, dw), (oh, ow) = self.kernel, self.stride, self.dilation, self.out
        for position, (i, j) in enumerate(itertools.product(range(kh), range(kw))):
            yield position, (Ellipsis, slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
                             slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))

    def pad(self, x, fill):
        (ph, pw), (ah, aw) = self.padding, self.after
        if not (ph or pw or ah or aw):
            return x
        out = np.full(x.shape[:-2] + (ph + x.shape[-2] + ah, pw + x.shape[-1] + aw), fill, dtype=x.dtype)
        out[..., ph:ph + x.shape[-2], pw:pw + x.shape[-1]] = x
        return out

    def unpad(self, x):
        (ph, pw), (h, w) = self.padding, self.size
        return x[..., ph:ph + h, pw:pw + w]

    def zeros_padded(self, lead, dtype):
        return np.zeros(lead + tuple(p + n + a for p, n, a in zip(self.padding, self.size, self.after)), dtype)


def _planar(x, kernel_size):
    """``x`` with an axis of length 1 before its last one when the pooling is 1-D."""
    return x[..., None, :] if len(kernel_size) == 1 else x


def _unplanar(x, kernel_size):
    return x[..., 0, :] if len(kernel_size) == 1 else x


def _max_pool(x, kernel_size, stride, padding, dilation=None, ceil_mode=False):
    dilation = dilation or (1,) * len(kernel_size)
    x2 = _planar(x, kernel_size)
    w = _Windows(x2.shape, kernel_size, stride, padding, dilation, ceil_mode)
    padded = w.pad(x2, -np.inf)
    best = None
    for _, index in w.offsets():
        if best is None:
            best = padded[index].copy()
        else:
            np.maximum(best, padded[index], out=best)  # NaN propagates, as in PyTorch
    return _unplanar(best, kernel_size)


def _window_argmax(padded, w):
    """The offset (in row-major window order) of each window's maximum: the first of tied entries,
    the last NaN (PyTorch's ``val > max || isnan(val)``)."""
    offsets = list(w.offsets())
    best = None
    for _, index in offsets:
        best = padded[index].copy() if best is None else np.maximum(best, padded[index], out=best)
    if padded.dtype.kind == "f" and np.isnan(best).any():
        arg = _window_argmax_with_nan(padded, offsets)
    else:
        # Masked assignments (np.where, copyto with where=) cost ten times an arithmetic pass here, so the
        # offsets are visited last to first and each equal one overwrites by arithmetic: the first wins.
        arg = np.zeros(best.shape, np.int8 if len(offsets) < 128 else np.int32)
        for position, index in reversed(offsets):
            arg -= (padded[index] == best) * (arg - position)
    return _first_inside_where_all_neginf(arg, best, w, offsets)


def _first_inside_where_all_neginf(arg, best, w, offsets):
    """``arg`` with each window whose maximum is -inf pointing at its first entry inside the input.

    The padding is -inf too, so there it would tie with the input's -inf entries and could win; PyTorch
    starts each window at its first entry inside the input and moves only to a larger value (or a NaN),
    so such a window's maximum is that entry: its index and its gradient go there, never to the padding.
    """
    if not (any(w.padding) or any(w.after)) or not np.isneginf(best).any():
        return arg
    inside = w.pad(np.ones(w.size, bool), False)
    first = np.full(best.shape[-2:], -1, arg.dtype)
    for position, index in reversed(offsets):
        np.copyto(first, position, where=inside[index[1:]])
    return np.where(np.isneginf(best) & (first >= 0), first, arg).astype(arg.dtype, copy=False)


def _window_argmax_with_nan(padded, offsets):
    best = arg = None
    for position, index in offsets:
        v = padded[index]
        if best is None:
            best = v.copy()
            arg = np.zeros(best.shape, np.int32)
            continue
        take = (v > best) | np.isnan(v)
        np.copyto(best, v, where=take)
        np.copyto(arg, position, where=take)
    return arg


# -- adaptive windows ------------------------------------------------------------------------------

def _adaptive_as_fixed(size, output_size):
    """The fixed windows that adaptive pooling amounts to when every size divides, else None."""
    if all(o and n % o == 0 for n, o in zip(size, output_size)):
        kernel = tuple(n // o for n, o in zip(size, output_size))
        return kernel, kernel, (0,) * len(kernel), (1,) * len(kernel)
    return None


def _adaptive_indices(size, out):
    """Per window, the positions it covers, padded to the longest window by repeating its last one
    (a repeated entry never changes a maximum, and the first of equal entries keeps the gradient)."""
    start, end = adaptive_bounds(size, out)
    longest = int((end - start).max()) if out else 0
    return np.minimum(start[:, None] + np.arange(longest), end[:, None] - 1)


def _adaptive_flat_argmax(x, output_size):
    """For each adaptive window of ``x`` (over its last two axes), the flat position (``row * W + col``)
    of its maximum."""
    (h, w), (oh, ow) = x.shape[-2:], output_size
    rows, cols = _adaptive_indices(h, oh), _adaptive_indices(w, ow)
    windows = x[..., rows[:, :, None, None], cols[None, None, :, :]]  # (..., oh, kh, ow, kw)
    windows = np.moveaxis(windows, -2, -3).reshape(x.shape[:-2] + (oh, ow, rows.shape[1] * cols.shape[1]))
    first = np.argmax(windows, axis=-1)  # the first maximum; NaN counts as the maximum
    if x.dtype.kind == "f":
        nan = np.isnan(windows)
        if nan.any():  # PyTorch keeps the last NaN
            last = windows.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
            first = np.where(nan.any(axis=-1), last, first)
    kw = cols.shape[1]
    r = rows[np.arange(oh)[:, None], first // kw]
    c = cols[np.arange(ow)[None, :], first % kw]
    return r * w + c


# -- max pooling's routing: scatter (VJP) and gather (JVP) ---------------------------------------------
# ``pool`` describes the windows: ("window", kernel_size, stride, padding, dilation, ceil_mode) or
# ("adaptive", output_size).

def _routing(x, pool):
    """How the maximum of each window of ``x`` is found again: ("offsets", windows, argmax offsets of
    the planar input) or ("flat", flat positions of the planar input)."""
    if pool[0] == "adaptive":
        output_size = pool[1]
        x2 = _planar(x, output_size)
        fixed = _adaptive_as_fixed(x2.shape[-len(output_size):], output_size)
        if fixed is None:
            return "flat", _adaptive_flat_argmax(x2, _planar_size(output_size)), output_size
        kernel_size, stride, padding, dilation = fixed
        ceil_mode = False
    else:
        _, kernel_size, stride, padding, dilation, ceil_mode = pool
        x2 = _planar(x, kernel_size)
    w = _Windows(x2.shape, kernel_size, stride, padding, dilation, ceil_mode)
    return "offsets", (w, _window_argmax(w.pad(x2, -np.inf), w)), kernel_size


def _planar_size(output_size):
    return (1, *output_size) if len(output_size) == 1 else output_size


def _max_pool_scatter(g, x, pool):
    """``g`` (shaped like the pooled output) sent to the positions of ``x`` that gave each maximum."""
    kind, routing, kernel_size = _routing(x, pool)
    g2 = _planar(np.asarray(g), kernel_size)
    x2 = _planar(x, kernel_size)
    if kind == "flat":
        flat = routing
        planes = int(np.prod(x2.shape[:-2], dtype=np.int64))
        size = x2.shape[-2] * x2.shape[-1]
        where = (np.arange(planes)[:, None] * size + flat.reshape(planes, flat.shape[-2] * flat.shape[-1])).ravel()
        out = np.bincount(where, weights=np.broadcast_to(g2, flat.shape).ravel(), minlength=planes * size)
        return _unplanar(out.astype(g2.dtype, copy=False).reshape(x2.shape), kernel_size)
    w, arg = routing
    lead = np.broadcast_shapes(g2.shape[:-2], x2.shape[:-2])
    out = w.zeros_padded(lead, np.result_type(g2.dtype, x2.dtype))
    zero = np.zeros((), out.dtype)
    finite = g2.dtype.kind != "f" or np.isfinite(g2).all()  # else g * 0 would put NaN beside an inf
    for position, index in w.offsets():
        part = g2 * (arg == position) if finite else np.where(arg == position, g2, zero)
        if w.overlap:
            out[index] += part
        else:
            out[index] = part  # windows apart: each position is written once
    return _unplanar(np.ascontiguousarray(w.unpad(out)), kernel_size)


def _max_pool_gather(t, x, pool):
    """The entries of ``t`` (shaped like ``x``) at the positions of ``x`` that gave each maximum."""
    kind, routing, kernel_size = _routing(x, pool)
    t2 = _planar(np.asarray(t), kernel_size)
    x2 = _planar(x, kernel_size)
    if kind == "flat":
        flat = routing
        t2 = np.broadcast_to(t2, x2.shape)
        values = np.take_along_axis(_flat_planes(t2), _flat_planes(flat), -1)
        return _unplanar(values.reshape(flat.shape), kernel_size)
    w, arg = routing
    padded = w.pad(np.broadcast_to(t2, x2.shape), 0)
    out = np.zeros(arg.shape, np.result_type(t2.dtype, x2.dtype))
    for position, index in w.offsets():
        np.copyto(out, padded[index], where=arg == position)
    return _unplanar(out, kernel_size)


def _zero_for_x(xp, g, ans, a, x, pool):
    return xp.zeros_like(x)  # the routing is constant between ties: no gradient through x


max_pool_scatter = Primitive(
    "max_pool_scatter", _max_pool_scatter, batch=B.leading,
    vjps=(lambda xp, g, ans, a, x, pool: xp.max_pool_gather(g, x, pool=pool), _zero_for_x),
    jvps=(lambda xp, t, ans, a, x, pool: xp.max_pool_scatter(t, x, pool=pool), None),
    expects="a gradient shaped like the pooled output of x",
    doc="The VJP of max pooling: each output's gradient sent to the position of its window's maximum.",
)

max_pool_gather = Primitive(
    "max_pool_gather", _max_pool_gather, batch=B.leading,
    vjps=(lambda xp, g, ans, a, x, pool: xp.max_pool_scatter(g, x, pool=pool), _zero_for_x),
    jvps=(lambda xp, t, ans, a, x, pool: xp.max_pool_gather(t, x, pool=pool), None),
    expects="a tangent shaped like x",
    doc="The JVP of max pooling: the tangent at the position of each window's maximum.",
)


def _window_pool(kernel_size, stride, padding, dilation, ceil_mode):
    return ("window", tuple(kernel_size), tuple(stride), tuple(padding),
            tuple(dilation or (1,) * len(kernel_size)), bool(ceil_mode))


def _max_pool_vjp(xp, g, ans, x, kernel_size, stride, padding, dilation=None, ceil_mode=False):
    return xp.max_pool_scatter(g, x, pool=_window_pool(kernel_size, stride, padding, dilation, ceil_mode))


def _max_pool_jvp(xp, t, ans, x, kernel_size, stride, padding, dilation=None, ceil_mode=False):
    return xp.max_pool_gather(t, x, pool=_window_pool(kernel_size, stride, padding, dilation, ceil_mode))


def _max_pool_primitive(name):
    return Primitive(name, _max_pool, vjps=(_max_pool_vjp,), jvps=(_max_pool_jvp,), expects=POOLING,
                     derivatives=("[{a} = max of its window]",), batch=B.leading)


max_pool1d = _max_pool_primitive("max_pool1d")
max_pool2d = _max_pool_primitive("max_pool2d")


def _adaptive_max_pool(x, output_size):
    fixed = _adaptive_as_fixed(x.shape[-len(output_size):], output_size)
    if fixed is not None:
        return _max_pool(x, *fixed)
    x2 = _planar(x, output_size)
    flat = _adaptive_flat_argmax(x2, _planar_size(output_size))
    values = np.take_along_axis(_flat_planes(x2), _flat_planes(flat), -1)
    return _unplanar(values.reshape(flat.shape), output_size)


def _flat_planes(x):
    """``x`` with its last two axes merged (also when another axis is 0)."""
    return x.reshape(x.shape[:-2] + (x.shape[-2] * x.shape[-1],))


adaptive_max_pool2d = Primitive(
    "adaptive_max_pool2d", _adaptive_max_pool, batch=B.leading,
    vjps=(lambda xp, g, ans, x, output_size: xp.max_pool_scatter(g, x, pool=("adaptive", tuple(output_size))),),
    jvps=(lambda xp, t, ans, x, output_size: xp.max_pool_gather(t, x, pool=("adaptive", tuple(output_size))),),
    expects=POOLING, derivatives=("[{a} = max of its window]",),
)


# -- average pooling -------------------------------------------------------------------------------

def _divisors(w, count_include_pad, divisor_override, dtype):
    """What each window's sum is divided by: (out_h, out_w) values (PyTorch's ``avg_pool2d`` rule)."""
    if divisor_override:
        return np.asarray(divisor_override, dtype)
    counts = []
    for n, k, s, p, o in zip(w.size, w.kernel, w.stride, w.padding, w.out):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            counts.append(end - start)
        else:
            counts.append(np.minimum(end, n) - np.maximum(start, 0))
    return np.multiply.outer(counts[0], counts[1]).astype(dtype)


def _avg_geometry(shape, kernel_size, stride, padding, ceil_mode):
    return _Windows(shape, kernel_size, stride, padding, (1,) * len(kernel_size), ceil_mode)


def _avg_pool(x, kernel_size, stride, padding, ceil_mode=False, count_include_pad=True, divisor_override=None):
    x2 = _planar(x, kernel_size)
    w = _avg_geometry(x2.shape, kernel_size, stride, padding, ceil_mode)
    padded = w.pad(x2, 0)
    total = None
    for _, index in w.offsets():
        if total is None:
            total = padded[index].copy()
        else:
            total += padded[index]
    total /= _divisors(w, count_include_pad, divisor_override, x.dtype)
    return _unplanar(total, kernel_size)


def _avg_pool_transpose(g, shape, pool):
    """The transpose of average pooling: each output's gradient divided by its window's divisor and
    added to every position of the window, for an input of ``shape``."""
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override = pool
    planar_shape = tuple(shape[:-1]) + (1, shape[-1]) if len(kernel_size) == 1 else tuple(shape)
    w = _avg_geometry(planar_shape, kernel_size, stride, padding, ceil_mode)
    g2 = _planar(np.asarray(g), kernel_size)
    share = g2 / _divisors(w, count_include_pad, divisor_override, g2.dtype)
    out = w.zeros_padded(tuple(planar_shape[:-2]), g2.dtype)
    for _, index in w.offsets():
        out[index] += share
    return _unplanar(np.ascontiguousarray(w.unpad(out)), kernel_size)


def _avg_params(pool):
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override = pool
    return dict(kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
                count_include_pad=count_include_pad, divisor_override=divisor_override)


def _avg_pool_by_transpose(xp, g, pool):
    return (xp.avg_pool1d if len(pool[0]) == 1 else xp.avg_pool2d)(g, **_avg_params(pool))


avg_pool_transpose = Primitive(
    "avg_pool_transpose", _avg_pool_transpose, batch=B.leading_with_shape("shape"),
    vjps=(lambda xp, g, ans, a, shape, pool: _avg_pool_by_transpose(xp, g, pool),),
    jvps=(lambda xp, t, ans, a, shape, pool: xp.avg_pool_transpose(t, shape=shape, pool=pool),),
    saves_inputs=False, expects="a gradient shaped like the pooled output",
    doc="The VJP of average pooling: the transposed average.",
)


def _avg_pool_spec(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    return (tuple(kernel_size), tuple(stride), tuple(padding), bool(ceil_mode), bool(count_include_pad),
            divisor_override)


def _avg_pool_vjp(xp, g, ans, x, kernel_size, stride, padding, ceil_mode=False, count_include_pad=True,
                  divisor_override=None):
    pool = _avg_pool_spec(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    return xp.avg_pool_transpose(g, shape=tuple(x.shape), pool=pool)


def _avg_pool_jvp(xp, t, ans, x, **params):
    return (xp.avg_pool1d if len(params["kernel_size"]) == 1 else xp.avg_pool2d)(t, **params)


def _avg_pool_primitive(name):
    return Primitive(name, _avg_pool, vjps=(_avg_pool_vjp,), jvps=(_avg_pool_jvp,), saves_inputs=False,
                     expects=POOLING, batch=B.leading)


avg_pool1d = _avg_pool_primitive("avg_pool1d")
avg_pool2d = _avg_pool_primitive("avg_pool2d")


def _averaging_matrix(size, out, dtype):
    """(out, size): row i averages the i-th adaptive window."""
    start, end = adaptive_bounds(size, out)
    positions = np.arange(size)
    inside = (positions >= start[:, None]) & (positions < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _adaptive_avg_pool(x, output_size):
    (h, w), (oh, ow) = x.shape[-2:], output_size
    rows = _averaging_matrix(h, oh, x.dtype)
    cols = _averaging_matrix(w, ow, x.dtype)
    return np.matmul(np.matmul(rows, x), cols.T)


def _adaptive_avg_pool_transpose(g, shape):
    (h, w), (oh, ow) = shape[-2:], g.shape[-2:]
    rows = _averaging_matrix(h, oh, g.dtype)
    cols = _averaging_matrix(w, ow, g.dtype)
    return np.matmul(np.matmul(rows.T, g), cols)


adaptive_avg_pool_transpose = Primitive(
    "adaptive_avg_pool_transpose", _adaptive_avg_pool_transpose, batch=B.leading_with_shape("shape"),
    vjps=(lambda xp, g, ans, a, shape: xp.adaptive_avg_pool2d(g, output_size=tuple(a.shape[-2:])),),
    jvps=(lambda xp, t, ans, a, shape: xp.adaptive_avg_pool_transpose(t, shape=shape),),
    saves_inputs=False, expects="a gradient shaped like the pooled output",
    doc="The VJP of adaptive average pooling: the transposed average.",
)

adaptive_avg_pool2d = Primitive(
    "adaptive_avg_pool2d", _adaptive_avg_pool, batch=B.leading,
    vjps=(lambda xp, g, ans, x, output_size: xp.adaptive_avg_pool_transpose(g, shape=tuple(x.shape)),),
    jvps=(lambda xp, t, ans, x, output_size: xp.adaptive_avg_pool2d(t, output_size=output_size),),
    saves_inputs=False, expects=POOLING,
)

PRIMITIVES = (max_pool1d, max_pool2d, max_pool_scatter, max_pool_gather, adaptive_max_pool2d,
              avg_pool1d, avg_pool2d, avg_pool_transpose, adaptive_avg_pool2d, adaptive_avg_pool_transpose)


def max_pool_indices(x: np.ndarray, pool: tuple) -> np.ndarray:
    """Where each window's maximum sits, as PyTorch's ``return_indices`` gives it: the int64 position
    ``h * W + w`` in its (unpadded) plane for 2-D pooling, the position along the axis for 1-D.

    ``pool`` is ("window", kernel_size, stride, padding, dilation, ceil_mode) or ("adaptive", output_size).
    """
    kind, routing, kernel_size = _routing(x, pool)
    x2 = _planar(x, kernel_size)
    width = x2.shape[-1]
    if kind == "flat":
        return _unplanar(routing.astype(np.int64), kernel_size)
    w, arg = routing
    (_, kw), (sh, sw), (dh, dw), (ph, pw), (oh, ow) = w.kernel, w.stride, w.dilation, w.padding, w.out
    rows = np.arange(oh)[:, None] * sh - ph + (arg // kw) * dh
    cols = np.arange(ow)[None, :] * sw - pw + (arg % kw) * dw
    return _unplanar((rows * width + cols).astype(np.int64), kernel_size)

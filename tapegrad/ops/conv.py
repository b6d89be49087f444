"""Convolutions over 1 or 2 spatial axes: ``conv1d``/``conv2d``, their transposes and their weight
correlations, three bilinear primitives per dimension that are each other's derivatives.

For an input ``x`` of shape ``(N, C, *I)`` and a weight ``w`` of shape ``(O, C // groups, *K)``
(PyTorch's layouts), with stride ``s``, dilation ``d`` and the input padded by ``p`` zeros in front::

    conv(x, w)[n, o, j]            = sum_{c, k} xpad[n, c, j*s + k*d] * w[o, c, k]     (c in o's group)
    conv_transpose(g, w)[n, c, i]  = sum_{o, k: j*s + k*d = i + p} g[n, o, j] * w[o, c, k]
    conv_weight(x, g)[o, c, k]     = sum_{n, j} g[n, o, j] * xpad[n, c, j*s + k*d]

``conv_transpose`` is the VJP of ``conv`` with respect to its input (and PyTorch's transposed
convolution); ``conv_weight`` its VJP with respect to the weight. All three are bilinear and
``<g, conv(x, w)> = <x, conv_transpose(g, w)> = <w, conv_weight(x, g)>``, so the VJPs and JVPs of
each are the other two (or itself): the family is closed under differentiation, to any order.

The forward passes read the padded input through a strided window view (``as_strided``; no copy),
which one reshape copies into columns (im2col) and one batched ``matmul`` contracts with the weight.
Convolutions with stride 1, groups 1 and an output as large as the input (3x3 kernels with padding 1)
take a faster path instead: image-major columns made by one flat copy per kernel tap (see ``_Same``);
the gradients of depthwise ones (one input channel per group) with stride 1 another: shifted products
on rows of the padded width (see ``_Wide``).
``conv_transpose`` multiplies first and then adds each kernel tap's columns into its strided place in
the output: a loop over the kernel's few taps (9 for 3x3), which measured faster than the
alternative without a loop (a convolution of the zero-extended gradient, whose im2col copy is
``O * K`` times the input's size: 21 against 1.5 ms for the 1->32 3x3 layer on 64x28x28).

Parameters, as the primitives take them (the functional API in ``tapegrad.nn.functional`` turns
PyTorch's arguments into these): ``stride`` and ``dilation`` one positive int per spatial axis;
``groups`` a positive int; for ``conv``, ``padding`` one ``(before, after)`` pair per axis, where
``after`` may be negative (the input's end then goes unread); for ``conv_transpose`` and
``conv_weight``, ``padding`` one ``before`` per axis and ``size`` the spatial size of the result
(the input's for ``conv_transpose``, the kernel's for ``conv_weight``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import ShapeError
from . import batching as B
from .registry import Primitive


def _padded(x: np.ndarray, before: tuple[int, ...], length: tuple[int, ...]) -> np.ndarray:
    """``x`` (N, C, *spatial) with ``before[i]`` zeros in front of spatial axis ``i``, and zeros
    added or entries dropped at its end so that the axis has ``length[i]`` entries."""
    spatial = x.shape[2:]
    if all(b == 0 for b in before) and tuple(spatial) == tuple(length):
        return x
    out = np.zeros(x.shape[:2] + tuple(length), dtype=x.dtype)
    kept = tuple(slice(0, max(0, min(n, size - b))) for n, size, b in zip(spatial, length, before))
    target = tuple(slice(b, b + k.stop) for b, k in zip(before, kept))
    out[(slice(None), slice(None)) + target] = x[(slice(None), slice(None)) + kept]
    return out


def _span(out: tuple[int, ...], kernel: tuple[int, ...], stride, dilation) -> tuple[int, ...]:
    """The padded input length that ``out`` positions of a kernel of ``kernel`` taps read exactly."""
    return tuple((j - 1) * s + d * (k - 1) + 1 for j, k, s, d in zip(out, kernel, stride, dilation))


def _windows(x: np.ndarray, before, kernel, stride, dilation, out) -> np.ndarray:
    """The windows of ``x`` (N, C, *I) padded: a view (no copy beyond the padding) of shape
    (N, C, *kernel, *out)."""
    n, c = x.shape[:2]
    xp = _padded(x, before, _span(out, kernel, stride, dilation))
    st = xp.strides
    return as_strided(
        xp, shape=(n, c) + tuple(kernel) + tuple(out),
        strides=st[:2] + tuple(a * d for a, d in zip(st[2:], dilation)) + tuple(a * v for a, v in zip(st[2:], stride)),
        writeable=False)


def _columns(windows: np.ndarray, groups: int) -> np.ndarray:
    """im2col: ``windows`` (N, C, *kernel, *out) copied into columns of shape (groups,
    C // groups * prod(kernel), N * prod(out)): rows the channels and kernel taps, columns the batch and
    output positions, so that each convolution product is one matrix product per group."""
    n, c = windows.shape[:2]
    dims = (windows.ndim - 2) // 2
    taps, positions = math.prod(windows.shape[2:2 + dims]), math.prod(windows.shape[2 + dims:])
    # (C, *kernel, N, *out): the copy reads runs along the last output axis, as the batch-first order would
    order = (1,) + tuple(range(2, 2 + dims)) + (0,) + tuple(range(2 + dims, 2 + 2 * dims))
    return windows.transpose(order).reshape(groups, (c // groups) * taps, n * positions)


def _ranges(n: int, per_example: int, budget: int) -> list[tuple[int, int]]:
    """Ranges of the batch's ``n`` examples of about ``budget`` bytes each (``per_example`` each), at least
    one example per range."""
    step = max(1, budget // max(1, per_example))
    return [(first, min(n, first + step)) for first in range(0, n, step)]


def _chunks(n: int, per_example: int) -> list[tuple[int, int]]:
    """Batch ranges of about ``CHUNK_BYTES`` of columns each (at least one example): the columns of a
    range are made, used and dropped while they are in the cache, and never exist for the whole batch."""
    return _ranges(n, per_example, CHUNK_BYTES)


CHUNK_BYTES = 1 << 21


def _batch_inner(g: np.ndarray, groups: int) -> np.ndarray:
    """``g`` (N, O, *out) as (groups, O // groups, N * prod(out)), the layout of ``_columns``' columns."""
    n, o = g.shape[:2]
    positions = math.prod(g.shape[2:])
    return np.ascontiguousarray(g.reshape(n, o, positions).transpose(1, 0, 2)).reshape(groups, o // groups,
                                                                                       n * positions)


def _output_size(spatial, kernel, stride, padding, dilation) -> tuple[int, ...]:
    return tuple((i + pb + pa - d * (k - 1) - 1) // s + 1
                 for i, k, s, (pb, pa), d in zip(spatial, kernel, stride, padding, dilation))


def _check(name: str, x_shape, w_shape, dims: int, other: str = "weight") -> None:
    """Raise a ShapeError naming ``name`` unless both operands have ``dims + 2`` dimensions."""
    if len(x_shape) != dims + 2 or len(w_shape) != dims + 2:
        raise ShapeError(f"{name}: input {tuple(x_shape)} and {other} {tuple(w_shape)}; expected both of "
                         f"{dims + 2} dimensions (batch, channels, {dims} spatial)")


def _conv_forward(x, w, *, stride, padding, dilation, groups, dims, name):
    _check(name, x.shape, w.shape, dims)
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    kernel = w.shape[2:]
    if cg * groups != c or o % groups:
        raise ShapeError(f"{name}: input {x.shape} has {c} channels, the weight {w.shape} with groups={groups} "
                         f"expects {cg * groups} (and {o} output channels divisible by groups)")
    out = _output_size(x.shape[2:], kernel, stride, padding, dilation)
    if min(out) < 1:
        raise ShapeError(f"{name}: input {x.shape} padded by {padding} is smaller than the weight {w.shape}'s "
                         f"kernel dilated by {dilation}; expected a padded input at least as large")
    if _same(x.shape[2:], out, stride, groups, n, c, o, kernel, np.result_type(x, w).itemsize):
        result = np.empty((n, o) + out, dtype=np.result_type(x, w))
        _conv_same(x, w, _Same(out, kernel, tuple(p[0] for p in padding), dilation), result)
        return result
    windows = _windows(x, tuple(p[0] for p in padding), kernel, stride, dilation, out)
    positions = math.prod(out)
    wg = w.reshape(groups, o // groups, cg * math.prod(kernel))
    result = np.empty((n, o, positions), dtype=np.result_type(x, w))
    for first, last in _chunks(n, c * math.prod(kernel) * positions * result.itemsize):
        product = np.matmul(wg, _columns(windows[first:last], groups))  # (groups, O/groups, batch * P)
        result[first:last] = product.reshape(o, last - first, positions).transpose(1, 0, 2)
    return result.reshape((n, o) + out)


def _transpose_forward(g, w, *, stride, padding, dilation, groups, size, dims, name):
    _check(name, g.shape, w.shape, dims)
    n, o = g.shape[:2]
    cg = w.shape[1]
    kernel, out = w.shape[2:], g.shape[2:]
    if w.shape[0] != o or o % groups:
        raise ShapeError(f"{name}: input {g.shape} has {o} channels, the weight {w.shape} with groups={groups} "
                         f"expects {w.shape[0]} (divisible by groups)")
    if _same(tuple(size), out, stride, groups, n, cg, o, kernel, np.result_type(g, w).itemsize):
        return _transpose_same(g, w, _Same(out, kernel, tuple(padding), dilation)).reshape((n, cg) + tuple(size))
    if _depthwise(groups, groups * cg, cg, stride, dims):
        layout = _Wide(tuple(size), out, kernel, tuple(padding), dilation)
        if layout.fits():
            return _transpose_wide(g, w, groups, layout).reshape((n, groups) + tuple(size))
    taps, positions = math.prod(kernel), math.prod(out)
    gt = _batch_inner(g, groups)  # (groups, O/groups, N * positions)
    # (groups, taps * C/groups, O/groups): the taps first, so that each tap's columns are one block
    wt = w.reshape((groups, o // groups, cg, taps)).transpose(0, 3, 2, 1).reshape(groups, taps * cg, o // groups)
    span = _span(out, kernel, stride, dilation)
    reach = tuple(max(a, p + i) for a, p, i in zip(span, padding, size))  # the result may reach past the span
    full = np.zeros((groups, cg, n) + reach, dtype=np.result_type(g, w))
    places = [tuple(slice(k * d, k * d + (j - 1) * s + 1, s) for k, d, j, s in zip(tap, dilation, out, stride))
              for tap in itertools.product(*(range(k) for k in kernel))]
    # The columns are made and added into their places a few examples at a time (in the cache for their
    # additions, one per kernel tap, instead of going out to memory and back).
    for first, last in _chunks(n, taps * cg * groups * positions * full.itemsize):
        cols = np.matmul(wt, gt[:, :, first * positions:last * positions])
        cols = cols.reshape((groups, taps, cg, last - first) + tuple(out))
        target = full[:, :, first:last]
        for t, place in enumerate(places):
            target[(slice(None), slice(None), slice(None)) + place] += cols[:, t]
    kept = full.reshape((groups * cg, n) + reach)[(slice(None), slice(None)) + tuple(slice(p, p + i) for p, i in
                                                                                     zip(padding, size))]
    return np.ascontiguousarray(kept.swapaxes(0, 1))


def _weight_forward(x, g, *, stride, padding, dilation, groups, size, dims, name):
    _check(name, x.shape, g.shape, dims, "gradient")
    n, c = x.shape[:2]
    o = g.shape[1]
    if c % groups or o % groups or g.shape[0] != n:
        raise ShapeError(f"{name}: input {x.shape} and gradient {g.shape} with groups={groups}; expected the "
                         "same batch and channels divisible by groups")
    if _same(x.shape[2:], g.shape[2:], stride, groups, n, c, o, tuple(size), np.result_type(x, g).itemsize):
        layout = _Same(g.shape[2:], tuple(size), tuple(padding), dilation)
        return _weight_same(x, g, layout, np.result_type(x, g)).reshape((o, c) + tuple(size))
    if _depthwise(groups, c, c // groups, stride, dims):
        layout = _Wide(x.shape[2:], g.shape[2:], tuple(size), tuple(padding), dilation)
        if layout.fits():
            return _weight_wide(x, g, groups, layout).reshape((o, 1) + tuple(size))
    windows = _windows(x, padding, tuple(size), stride, dilation, g.shape[2:])
    grad = np.zeros((groups, o // groups, (c // groups) * math.prod(size)), dtype=np.result_type(x, g))
    per_example = c * math.prod(size) * math.prod(g.shape[2:]) * grad.itemsize
    for first, last in _chunks(n, per_example):
        # summing over the examples and positions of the chunk in one product per group
        grad += np.matmul(_batch_inner(g[first:last], groups), _columns(windows[first:last], groups).transpose(0, 2, 1))
    return grad.reshape((o, c // groups) + tuple(size))


# -- stride 1, output as large as the input: image-major columns ----------------------------------------
# A "same" convolution (stride 1, groups 1, as many output positions as input positions per axis: 3x3
# kernels with padding 1) reads, for kernel tap t, the input at a constant offset from the output
# position in each image's flat (channels * positions) layout: offset = dy * width + dx. Its columns are
# then one long copy per tap (every channel of a few images at once), after which the positions whose
# tap falls outside the image (they read a neighbouring row or channel) are set to zero: a few rows and
# columns per tap. The columns are laid out (images, taps * channels, positions), so that the products
# are NumPy's batched matmul over the images, with the weight (forward, input gradient) written straight
# into the result: no transpose of the input, the gradient or the result on the way. Measured on the
# LeNet layers (batch 64, float32, one thread): see BENCHMARKS.md.

class _Same:
    """The taps of a stride-1, groups-1 convolution whose output has the input's spatial size ``size``
    (1 or 2 axes; a 1-d one has a first axis of size 1)."""

    def __init__(self, size, kernel, before, dilation):
        if len(size) == 1:
            size, kernel, dilation, before = (1,) + tuple(size), (1,) + tuple(kernel), (1,) + tuple(dilation), \
                (0,) + tuple(before)
        rows, length = size
        self.size, self.kernel, self.positions = tuple(size), tuple(kernel), rows * length
        #: per tap (row-major): its offset; per row of taps, and per column, the output rows (columns)
        #: whose read falls inside the image
        shifts = [[a * d - p for a in range(k)] for k, d, p in zip(kernel, dilation, before)]
        self.offsets = [dy * length + dx for dy in shifts[0] for dx in shifts[1]]
        self.rows = [(max(0, -dy), min(rows, rows - dy)) for dy in shifts[0]]
        self.columns_inside = [(max(0, -dx), min(length, length - dx)) for dx in shifts[1]]
        #: the tap that reads every output's own position (none for even kernels), or None
        self.centre = (shifts[0].index(0) * kernel[1] + shifts[1].index(0)
                       if 0 in shifts[0] and 0 in shifts[1] else None)

    def images(self, n: int, per_image: int) -> list[tuple[int, int]]:
        """Ranges of about ``SAME_CHUNK_BYTES`` (``per_image`` bytes each), at least one image each."""
        return _ranges(n, per_image, SAME_CHUNK_BYTES)

    def clear(self, block: np.ndarray) -> None:
        """Zero the positions of ``block`` (images, taps, channels, *size; contiguous) whose tap reads
        outside the image: a band of rows per row of taps, a band of columns per column of taps."""
        rows, length = self.size
        grid = block.reshape(block.shape[:1] + self.kernel + block.shape[2:])
        for a, (r0, r1) in enumerate(self.rows):
            if r0 > 0:
                grid[:, a, :, :, :r0] = 0
            if r1 < rows:
                grid[:, a, :, :, r1:] = 0
        for b, (c0, c1) in enumerate(self.columns_inside):
            if c0 > 0:
                grid[:, :, b, :, :, :c0] = 0
            if c1 < length:
                grid[:, :, b, :, :, c1:] = 0

    def spans(self, channels: int):
        """Per tap that reads inside the image at all: ``(t, lo, hi, offset)``: the flat positions
        ``lo:hi`` of an image's (channels * positions) layout read ``offset`` away stay in the layout."""
        whole, width = channels * self.positions, len(self.columns_inside)
        for t, offset in enumerate(self.offsets):
            (r0, r1), (c0, c1) = self.rows[t // width], self.columns_inside[t % width]
            if r0 < r1 and c0 < c1:
                yield t, max(0, -offset), min(whole, whole - offset), offset

    def columns(self, x: np.ndarray, first: int, last: int, out: np.ndarray) -> np.ndarray:
        """The columns of images ``first:last`` of ``x`` (N, C * positions), into ``out`` (at least
        last - first, taps, C, *size; zeros where no tap reads), as (images, taps * C, positions)."""
        k, channels = last - first, out.shape[2]
        cols = out[:k]
        flat = cols.reshape(k, len(self.offsets), -1)
        for t, lo, hi, offset in self.spans(channels):
            flat[:, t, lo:hi] = x[first:last, lo + offset:hi + offset]
        self.clear(cols)
        return flat.reshape(k, -1, self.positions)


SAME_CHUNK_BYTES = 1 << 20


def _same(inner, outer, stride, groups, n, c, o, kernel, itemsize) -> bool:
    """Whether a convolution (batch ``n``, ``c`` to ``o`` channels) takes the image-major path: stride 1,
    groups 1, output as large as the input, and products per image that pay. Each image is one product
    with the whole weight, which OpenBLAS packs anew each time: a weight too large for the cache beside
    few positions per image makes one product over many images faster (measured, one thread: 256
    channels on 8x8 1.12x slower per image, on 14x14 0.93x; 512 on 7x7 1.39x, on 14x14 1.04x), and with
    hardly any positions per image (1x1, 4 long) the per-image calls cost more than the copies save."""
    if min(n, c, o) == 0 or groups != 1 or any(s != 1 for s in stride) or tuple(inner) != tuple(outer):
        return False
    positions = math.prod(outer)
    weight = o * c * math.prod(kernel) * itemsize
    return positions >= SAME_MIN_POSITIONS and weight <= max(SAME_WEIGHT_BYTES, positions * SAME_WEIGHT_PER_POSITION)


SAME_MIN_POSITIONS, SAME_WEIGHT_BYTES, SAME_WEIGHT_PER_POSITION = 16, 1 << 20, 1 << 14


def _conv_same(x, w, layout: _Same, result: np.ndarray) -> None:
    """conv(x, w) into ``result`` (N, O, *size)."""
    n, c = x.shape[:2]
    o = w.shape[0]
    taps, positions = len(layout.offsets), layout.positions
    flat = np.ascontiguousarray(x).reshape(n, c * positions)
    wt = w.reshape(o, c, taps).transpose(0, 2, 1).reshape(o, taps * c)  # rows: taps, then channels
    out = result.reshape(n, o, positions)
    chunks = layout.images(n, taps * c * positions * x.itemsize)
    buffer = np.zeros((chunks[0][1] - chunks[0][0], taps, c) + layout.size, dtype=x.dtype)
    for first, last in chunks:
        np.matmul(wt, layout.columns(flat, first, last, buffer), out=out[first:last])


def _transpose_same(g, w, layout: _Same) -> np.ndarray:
    """conv_transpose(g, w), (N, C, *size): each tap's product, cleared where the tap reads outside the
    image, added at its offset (the centre tap's, which reads every position, copied first)."""
    n, o = g.shape[:2]
    c = w.shape[1]
    taps, positions, centre = len(layout.offsets), layout.positions, layout.centre
    wt = w.reshape(o, c, taps).transpose(2, 1, 0).reshape(taps * c, o)
    grad = np.ascontiguousarray(g).reshape(n, o, positions)
    result = (np.zeros if centre is None else np.empty)((n, c) + layout.size, dtype=np.result_type(g, w))
    out = result.reshape(n, c * positions)
    for first, last in layout.images(n, taps * c * positions * result.itemsize):
        cols = np.matmul(wt, grad[first:last]).reshape((last - first, taps, c) + layout.size)
        layout.clear(cols)
        flat = cols.reshape(last - first, taps, c * positions)
        if centre is not None:
            out[first:last] = flat[:, centre]
        for t, lo, hi, offset in layout.spans(c):
            if t != centre:
                out[first:last, lo + offset:hi + offset] += flat[:, t, lo:hi]
    return result


def _weight_same(x, g, layout: _Same, dtype) -> np.ndarray:
    """conv_weight(x, g) as (O, C, taps)."""
    n, c = x.shape[:2]
    o = g.shape[1]
    taps, positions = len(layout.offsets), layout.positions
    flat = np.ascontiguousarray(x).reshape(n, c * positions)
    grad = np.ascontiguousarray(g).reshape(n, o, positions)
    chunks = layout.images(n, taps * c * positions * x.itemsize)
    buffer = np.zeros((chunks[0][1] - chunks[0][0], taps, c) + layout.size, dtype=x.dtype)
    total = np.zeros((taps * c, o), dtype=dtype)
    for first, last in chunks:
        cols = layout.columns(flat, first, last, buffer)
        total += np.matmul(cols, grad[first:last].transpose(0, 2, 1)).sum(axis=0)
    # (taps, C, O) -> (O, C, taps)
    return np.ascontiguousarray(total.reshape(taps, c, o).transpose(2, 1, 0))


# -- stride 1, one input channel per group (depthwise): the gradients on "wide" rows -----------------------
# The gradients of a depthwise convolution (groups = input channels, each output channel reading one input
# channel) have no product worth a BLAS call: per position a few multiply-adds with one channel's own
# weights. With stride 1, each image's padded plane, flattened with its full padded width Wp, is read by
# kernel tap (a, b) at the constant offset a * dh * Wp + b * dw from output position y * Wp + x. Widening
# the output's gradient to rows of Wp entries (zeros past each row's real outputs) makes every tap one
# multiply and one add at its offset over contiguous rows of every channel of a few images at once, in the
# cache, for the input's gradient, and one sum of products for the weight's. Measured on (32, 64, 28, 28)
# with a 3x3 kernel, one thread (thread time, minimum of 7): the input's gradient 17 against 75 ms for the
# strided windows with one product per group, the weight's 6-8 against 12 ms. The forward pass computed
# the same way measured 13-17 against 13 ms for the strided windows, which it keeps.

class _Wide:
    """The padded, flattened planes of a stride-1 convolution with input ``size`` and output ``out`` (1 or 2
    axes; a 1-d one has a first axis of size 1), ``befores`` zeros in front of each axis."""

    def __init__(self, size, out, kernel, befores, dilation):
        if len(size) == 1:
            size, out, kernel, dilation = ((1,) + tuple(a) for a in (size, out, kernel, dilation))
            befores = (0,) + tuple(befores)
        self.size, self.out, self.befores = tuple(size), tuple(out), tuple(befores)
        (kh, kw), (dh, dw) = kernel, dilation
        self.padded = (out[0] + dh * (kh - 1), out[1] + dw * (kw - 1))  # rows, width Wp
        width = self.padded[1]
        self.length = out[0] * width  # the wide output rows of one channel
        self.plane = self.padded[0] * width + dw * (kw - 1)  # room for the last row's reads past its end
        self.offsets = [a * dh * width + b * dw for a in range(kh) for b in range(kw)]

    def fits(self) -> bool:
        """Whether the input lies inside the padded plane (no padding after it is negative)."""
        return all(b >= 0 and b + s <= p for b, s, p in zip(self.befores, self.size, self.padded))

    def images(self, n: int, per_image: int) -> list[tuple[int, int]]:
        """Ranges of about ``WIDE_CHUNK_BYTES`` (``per_image`` bytes each), at least one image each."""
        return _ranges(n, per_image, WIDE_CHUNK_BYTES)

    def interior(self, planes: np.ndarray) -> np.ndarray:
        """The input's place in ``planes`` (k, C, plane): a (k, C, *size) view."""
        (rows, width), (top, left) = self.padded, self.befores
        grid = planes[..., :rows * width].reshape(planes.shape[:2] + (rows, width))
        return grid[:, :, top:top + self.size[0], left:left + self.size[1]]

    def widened(self, wide: np.ndarray) -> np.ndarray:
        """The real outputs of ``wide`` (..., length) rows: a (..., *out) view."""
        return wide.reshape(wide.shape[:-1] + (self.out[0], self.padded[1]))[..., :self.out[1]]


WIDE_CHUNK_BYTES = 1 << 17


def _depthwise(groups, c, cg, stride, dims) -> bool:
    """Whether a convolution's gradients take the wide-row path: stride 1, every group one input channel."""
    return cg == 1 and groups == c and groups > 1 and all(s == 1 for s in stride) and dims in (1, 2)


def _widened_gradient(g, first, last, c, m, layout: _Wide, buffer: np.ndarray) -> np.ndarray:
    """Images ``first:last`` of ``g`` (N, C * m, *out) in ``buffer`` (zeros past each row's real outputs):
    (k, C, m, length)."""
    k = last - first
    wide = buffer[:k]
    layout.widened(wide)[...] = g[first:last].reshape((k, c, m) + layout.out)
    return wide


def _transpose_wide(g, w, groups: int, layout: _Wide) -> np.ndarray:
    """conv_transpose(g, w): (N, C, *size), C = groups."""
    n, c = g.shape[0], groups
    m = w.shape[0] // c
    dtype = np.result_type(g, w)
    weights = w.reshape(c, m, len(layout.offsets)).astype(dtype, copy=False)
    result = np.empty((n, c) + layout.size, dtype)
    chunks = layout.images(n, c * (m + 1) * layout.length * result.itemsize)
    step = chunks[0][1] - chunks[0][0] if chunks else 0  # no chunk: a batch of 0
    gradient = np.zeros((step, c, m, layout.length), dtype)
    planes = np.empty((step, c, layout.plane), dtype)
    term = np.empty((step, c, layout.length), dtype)
    for first, last in chunks:
        k = last - first
        wide = _widened_gradient(g, first, last, c, m, layout, gradient)
        sums, add = planes[:k], term[:k]
        sums[...] = 0
        for t, offset in enumerate(layout.offsets):
            if m == 1:
                np.multiply(wide[:, :, 0], weights[:, 0, t, None], out=add)
            else:
                np.einsum("kcml,cm->kcl", wide, weights[:, :, t], out=add)
            sums[:, :, offset:offset + layout.length] += add
        result[first:last] = layout.interior(sums).reshape(result[first:last].shape)
    return result


def _weight_wide(x, g, groups: int, layout: _Wide) -> np.ndarray:
    """conv_weight(x, g): (O, 1, taps), O = C * m."""
    n, c = x.shape[0], groups
    m = g.shape[1] // c
    dtype = np.result_type(x, g)
    total = np.zeros((c, m, len(layout.offsets)), dtype)
    chunks = layout.images(n, c * (m + 1) * layout.length * np.dtype(dtype).itemsize)
    step = chunks[0][1] - chunks[0][0] if chunks else 0  # no chunk: a batch of 0
    gradient = np.zeros((step, c, m, layout.length), dtype)
    planes = np.zeros((step, c, layout.plane), dtype)
    for first, last in chunks:
        k = last - first
        wide = _widened_gradient(g, first, last, c, m, layout, gradient)
        layout.interior(planes[:k])[...] = x[first:last].reshape((k, c) + layout.size)
        for t, offset in enumerate(layout.offsets):
            total[:, :, t] += np.einsum("kcml,kcl->cm", wide, planes[:k, :, offset:offset + layout.length])
    return total.reshape(c * m, 1, len(layout.offsets))


def _befores(padding) -> tuple[int, ...]:
    return tuple(p[0] for p in padding)


def _pairs_for(out, size, kernel, stride, padding, dilation) -> tuple[tuple[int, int], ...]:
    """The conv padding pairs that give exactly ``out`` positions over an input of ``size`` padded by
    ``padding`` in front (the end is padded, or cut, to fit)."""
    return tuple((p, span - i - p) for p, i, span in zip(padding, size, _span(out, kernel, stride, dilation)))


# -- batching (tg.vmap) -------------------------------------------------------------------------------
# Examples that share the weight are one batch: their batches one after the other. Examples with weights
# of their own are groups of one convolution: each example's channels side by side, ``groups`` times the
# number of examples, so that every example meets only its own weight; and the weight correlation of a
# batch of examples is the same grouped correlation, giving each example's weight gradient.

def _merged(xp, x):
    """(B, N, ...) as (B * N, ...)."""
    return xp.reshape(x, shape=(x.shape[0] * x.shape[1],) + tuple(x.shape[2:]))


def _split(xp, out, examples):
    """(B * N, ...) as (B, N, ...)."""
    return xp.reshape(out, shape=(examples, out.shape[0] // examples) + tuple(out.shape[1:]))


def _channels_side_by_side(xp, x):
    """(B, N, C, *spatial) as (N, B * C, *spatial)."""
    n = x.ndim
    moved = xp.transpose(x, axes=(1, 0) + tuple(range(2, n)))
    return xp.reshape(moved, shape=(x.shape[1], x.shape[0] * x.shape[2]) + tuple(x.shape[3:]))


def _channels_apart(xp, out, examples):
    """(N, B * C, *spatial) as (B, N, C, *spatial)."""
    split = xp.reshape(out, shape=(out.shape[0], examples, out.shape[1] // examples) + tuple(out.shape[2:]))
    return xp.transpose(split, axes=(1, 0) + tuple(range(2, split.ndim)))


def _weights_stacked(xp, w):
    """Each example's weight (B, O, C, *kernel) as groups of one weight (B * O, C, *kernel)."""
    return xp.reshape(w, shape=(w.shape[0] * w.shape[1],) + tuple(w.shape[2:]))


def _batch_by_weight(call):
    """The batching rule of ``conv`` or ``conv_transpose`` (``call(xp, x, w, **params)``): the input's
    examples merged into one batch when the weight is shared, else the examples as groups."""
    def rule(xp, prim, examples, batched, /, x, w, **params):
        if not batched[1]:
            return _split(xp, call(xp, _merged(xp, x), w, **params), examples)
        x = x if batched[0] else B.expanded(xp, x, examples)
        grouped = dict(params, groups=params.get("groups", 1) * examples)
        return _channels_apart(xp, call(xp, _channels_side_by_side(xp, x), _weights_stacked(xp, w), **grouped),
                               examples)
    return rule


def _batch_weight(call):
    """The batching rule of ``conv_weight`` (``call(xp, x, g, **params)``, a sum over the batch): each
    example's input and gradient as groups, giving each example's weight (B, O, C, *kernel)."""
    def rule(xp, prim, examples, batched, /, x, g, **params):
        x, g = B.all_batched(xp, examples, batched, (x, g))
        grouped = dict(params, groups=params.get("groups", 1) * examples)
        out = call(xp, _channels_side_by_side(xp, x), _channels_side_by_side(xp, g), **grouped)
        return _split(xp, out, examples)
    return rule


def _make(dims: int) -> tuple[Primitive, Primitive, Primitive]:
    conv_name, transpose_name, weight_name = f"conv{dims}d", f"conv_transpose{dims}d", f"conv{dims}d_weight"

    def conv_forward(x, w, *, stride, padding, dilation=(1,) * dims, groups=1):
        return _conv_forward(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups,
                             dims=dims, name=conv_name)

    def transpose_forward(g, w, *, stride, padding, size, dilation=(1,) * dims, groups=1):
        return _transpose_forward(g, w, stride=stride, padding=padding, dilation=dilation, groups=groups,
                                  size=size, dims=dims, name=transpose_name)

    def weight_forward(x, g, *, stride, padding, size, dilation=(1,) * dims, groups=1):
        return _weight_forward(x, g, stride=stride, padding=padding, dilation=dilation, groups=groups,
                               size=size, dims=dims, name=weight_name)

    def conv(xp, a, b, **params):
        return getattr(xp, conv_name)(a, b, **params)

    def transpose(xp, a, b, **params):
        return getattr(xp, transpose_name)(a, b, **params)

    def weight(xp, a, b, **params):
        return getattr(xp, weight_name)(a, b, **params)

    # conv(x, w): the gradient reaches x through the transpose and w through the correlation
    def conv_vjp_x(xp, g, ans, x, w, *, stride, padding, dilation=(1,) * dims, groups=1):
        return transpose(xp, g, w, stride=stride, padding=_befores(padding), dilation=dilation, groups=groups,
                         size=tuple(x.shape[2:]))

    def conv_vjp_w(xp, g, ans, x, w, *, stride, padding, dilation=(1,) * dims, groups=1):
        return weight(xp, x, g, stride=stride, padding=_befores(padding), dilation=dilation, groups=groups,
                      size=tuple(w.shape[2:]))

    # conv_transpose(g, w) of spatial size ``size``: its adjoints are conv (for g) and the correlation (for w)
    def transpose_vjp_g(xp, b, ans, g, w, *, stride, padding, size, dilation=(1,) * dims, groups=1):
        pairs = _pairs_for(tuple(g.shape[2:]), size, tuple(w.shape[2:]), stride, padding, dilation)
        return conv(xp, b, w, stride=stride, padding=pairs, dilation=dilation, groups=groups)

    def transpose_vjp_w(xp, b, ans, g, w, *, stride, padding, size, dilation=(1,) * dims, groups=1):
        return weight(xp, b, g, stride=stride, padding=padding, dilation=dilation, groups=groups,
                      size=tuple(w.shape[2:]))

    # conv_weight(x, g) of kernel size ``size``
    def weight_vjp_x(xp, b, ans, x, g, *, stride, padding, size, dilation=(1,) * dims, groups=1):
        return transpose(xp, g, b, stride=stride, padding=padding, dilation=dilation, groups=groups,
                         size=tuple(x.shape[2:]))

    def weight_vjp_g(xp, b, ans, x, g, *, stride, padding, size, dilation=(1,) * dims, groups=1):
        pairs = _pairs_for(tuple(g.shape[2:]), tuple(x.shape[2:]), size, stride, padding, dilation)
        return conv(xp, x, b, stride=stride, padding=pairs, dilation=dilation, groups=groups)

    # bilinear: the JVP for each input is the primitive itself with the tangent in its place
    def first(call):
        return lambda xp, t, ans, a, b, **params: call(xp, t, b, **params)

    def second(call):
        return lambda xp, t, ans, a, b, **params: call(xp, a, t, **params)

    layout = "(batch, channels" + ", length)" if dims == 1 else "(batch, channels, height, width)"
    conv_prim = Primitive(
        conv_name, conv_forward, vjps=(conv_vjp_x, conv_vjp_w), jvps=(first(conv), second(conv)),
        expects=f"an input {layout} and a weight (out_channels, in_channels // groups, *kernel) whose kernel "
                "fits the padded input",
        derivatives=(f"{transpose_name}(·, {{b}})", f"{weight_name}({{a}}, ·)"), batch=_batch_by_weight(conv),
    )
    transpose_prim = Primitive(
        transpose_name, transpose_forward, vjps=(transpose_vjp_g, transpose_vjp_w),
        jvps=(first(transpose), second(transpose)),
        expects=f"an input {layout} and a weight (in_channels, out_channels // groups, *kernel)",
        derivatives=(f"{conv_name}(·, {{b}})", f"{weight_name}(·, {{a}})"), batch=_batch_by_weight(transpose),
    )
    weight_prim = Primitive(
        weight_name, weight_forward, vjps=(weight_vjp_x, weight_vjp_g), jvps=(first(weight), second(weight)),
        expects=f"an input {layout} and a gradient of the convolution's output shape",
        derivatives=(f"{transpose_name}({{b}}, ·)", f"{conv_name}({{a}}, ·)"), batch=_batch_weight(weight),
    )
    return conv_prim, transpose_prim, weight_prim


conv1d, conv_transpose1d, conv1d_weight = _make(1)
conv2d, conv_transpose2d, conv2d_weight = _make(2)

PRIMITIVES = (conv1d, conv_transpose1d, conv1d_weight, conv2d, conv_transpose2d, conv2d_weight)

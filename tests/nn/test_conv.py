"""Convolutions against PyTorch: the functional API (outputs and every gradient, to second order),
the layers (PyTorch's weights loaded give PyTorch's outputs; PyTorch's initialisation), and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F
from tapegrad.ops import conv as conv_ops

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}


def _close(ours, theirs, dtype):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    ours = ours.numpy() if isinstance(ours, tg.Tensor) else ours
    assert ours.dtype == dtype and ours.shape == theirs.shape
    rtol = TOLERANCE[dtype]
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * max(1.0, float(np.abs(theirs).max(initial=0))))


def _compare(ours_fn, theirs_fn, arrays, dtype, seed=0):
    """Run both functions on ``arrays`` (the last may be None: no bias), compare the outputs and the
    gradients of ``sum(out * G)`` for a random G with respect to every array."""
    arrays = [None if a is None else a.astype(dtype) for a in arrays]
    ours_in = [None if a is None else tg.tensor(a, requires_grad=True) for a in arrays]
    theirs_in = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    ours, theirs = ours_fn(*ours_in), theirs_fn(*theirs_in)
    _close(ours, theirs, dtype)
    g = np.random.default_rng(seed).standard_normal(theirs.shape).astype(dtype)
    (ours * tg.tensor(g)).sum().backward()
    (theirs * torch.tensor(g)).sum().backward()
    for a, b in zip(ours_in, theirs_in):
        if a is not None:
            _close(a.grad, b.grad, dtype)


def _arrays(*shapes, seed=1):
    r = np.random.default_rng(seed)
    return [None if s is None else r.standard_normal(s) for s in shapes]


# (input shape, weight shape, bias?, stride, padding, dilation, groups)
CONV2D = [
    ((2, 3, 8, 8), (4, 3, 3, 3), True, 1, 0, 1, 1),
    ((1, 3, 8, 8), (4, 3, 3, 3), False, 1, 1, 1, 1),
    ((3, 2, 9, 7), (5, 2, 3, 2), True, 2, 1, 1, 1),
    ((2, 4, 10, 11), (6, 2, 3, 3), True, (2, 3), (1, 2), (2, 1), 2),
    ((2, 6, 7, 7), (6, 1, 3, 3), True, 1, 1, 1, 6),            # depthwise
    ((2, 4, 7, 7), (8, 1, 5, 5), False, 2, 2, 1, 4),           # depthwise, multiplier 2
    ((2, 3, 6, 6), (4, 3, 4, 4), True, 1, "same", 1, 1),       # even kernel: the odd zero at the end
    ((2, 3, 7, 6), (4, 3, 2, 3), True, 1, "same", (2, 1), 1),
    ((2, 3, 7, 6), (4, 3, 3, 3), True, 1, "valid", 1, 1),
    ((1, 1, 5, 5), (1, 1, 5, 5), True, 1, 0, 1, 1),            # the kernel covers the input
    ((2, 2, 9, 9), (3, 2, 3, 3), True, 3, 0, 2, 1),            # the floor leaves the input's end unread
    ((4, 1, 28, 28), (8, 1, 3, 3), True, 1, 1, 1, 1),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, w_shape, bias, stride, padding, dilation, groups", CONV2D)
def test_conv2d_and_its_gradients_match_pytorch(x_shape, w_shape, bias, stride, padding, dilation, groups, dtype):
    arrays = _arrays(x_shape, w_shape, (w_shape[0],) if bias else None)
    _compare(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups),
             lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride, padding, dilation, groups), arrays, dtype)


CONV1D = [
    ((2, 3, 10), (4, 3, 3), True, 1, 0, 1, 1),
    ((1, 4, 11), (6, 2, 4), False, 2, 3, 2, 2),
    ((3, 4, 9), (4, 1, 3), True, 1, "same", 3, 4),
    ((2, 2, 8), (3, 2, 2), True, 1, "same", 1, 1),
    ((2, 2, 8), (3, 2, 3), True, 3, (1,), 1, 1),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, w_shape, bias, stride, padding, dilation, groups", CONV1D)
def test_conv1d_and_its_gradients_match_pytorch(x_shape, w_shape, bias, stride, padding, dilation, groups, dtype):
    arrays = _arrays(x_shape, w_shape, (w_shape[0],) if bias else None)
    _compare(lambda x, w, b: F.conv1d(x, w, b, stride, padding, dilation, groups),
             lambda x, w, b: torch.nn.functional.conv1d(x, w, b, stride, padding, dilation, groups), arrays, dtype)


# (input shape, weight shape (in, out // groups, *k), bias?, stride, padding, output_padding, groups, dilation)
TRANSPOSE2D = [
    ((2, 3, 5, 5), (3, 4, 3, 3), True, 1, 0, 0, 1, 1),
    ((2, 3, 5, 4), (3, 2, 3, 3), True, 2, 1, 1, 1, 1),
    ((1, 4, 4, 6), (4, 3, 2, 3), False, (2, 3), (0, 1), (1, 2), 2, 1),
    ((2, 4, 5, 5), (4, 1, 3, 3), True, 2, 2, 0, 4, 2),
    ((2, 2, 3, 3), (2, 3, 4, 4), True, 3, 1, 2, 1, (1, 2)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, w_shape, bias, stride, padding, output_padding, groups, dilation", TRANSPOSE2D)
def test_conv_transpose2d_and_its_gradients_match_pytorch(x_shape, w_shape, bias, stride, padding, output_padding,
                                                          groups, dilation, dtype):
    arrays = _arrays(x_shape, w_shape, (w_shape[1] * groups,) if bias else None)
    _compare(lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation),
             lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, stride, padding, output_padding, groups,
                                                                  dilation), arrays, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv_transpose1d_and_its_gradients_match_pytorch(dtype):
    for x_shape, w_shape, stride, padding, output_padding, groups, dilation in [
            ((2, 3, 6), (3, 4, 3), 1, 0, 0, 1, 1), ((2, 4, 5), (4, 2, 4), 3, 2, 2, 2, 1),
            ((1, 2, 7), (2, 3, 3), 2, 1, 1, 1, 2)]:
        arrays = _arrays(x_shape, w_shape, (w_shape[1] * groups,))
        _compare(lambda x, w, b: F.conv_transpose1d(x, w, b, stride, padding, output_padding, groups, dilation),
                 lambda x, w, b: torch.nn.functional.conv_transpose1d(x, w, b, stride, padding, output_padding,
                                                                      groups, dilation), arrays, dtype)


def test_unbatched_inputs_as_in_pytorch():
    x, w, b = _arrays((3, 7, 7), (4, 3, 3, 3), (4,))
    _compare(lambda x, w, b: F.conv2d(x, w, b, padding=1),
             lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=1), [x, w, b], np.float64)
    x, w, b = _arrays((3, 7), (3, 2, 3), (2,))
    _compare(lambda x, w, b: F.conv_transpose1d(x, w, b, 2),
             lambda x, w, b: torch.nn.functional.conv_transpose1d(x, w, b, 2), [x, w, b], np.float64)


def _second_order_matches_pytorch(ours_f, theirs_f, x, w, b):
    """d/d(x, w, b) of |d loss / d x|^2 + |d loss / d w|^2 for loss = |f(x, w, b)|^2: the rules' own rules,
    against PyTorch's double backward."""
    ox, ow, ob = (tg.tensor(a, requires_grad=True) for a in (x, w, b))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    gx, gw = tg.autograd.grad((ours_f(ox, ow, ob) ** 2).sum(), [ox, ow], create_graph=True)
    hx, hw = torch.autograd.grad((theirs_f(tx, tw, tb) ** 2).sum(), [tx, tw], create_graph=True)
    ((gx ** 2).sum() + (gw ** 2).sum()).backward()
    ((hx ** 2).sum() + (hw ** 2).sum()).backward()
    for ours, theirs in ((ox.grad, tx.grad), (ow.grad, tw.grad), (ob.grad, tb.grad)):
        _close(ours, theirs, np.float64)


@pytest.mark.parametrize("transposed", [False, True])
def test_second_derivatives_match_pytorch(transposed):
    # d/d(x, w) of |d loss / d x|^2 + |d loss / d w|^2: the rules' own rules, against PyTorch's double backward
    x, w, b = _arrays((2, 4, 6, 5), (4, 2, 3, 3), (4,))
    if transposed:
        ours_f = lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2)  # noqa: E731
        theirs_f = lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, 2, 1, 1, 2)  # noqa: E731
    else:
        ours_f = lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)  # noqa: E731
        theirs_f = lambda x, w, b: torch.nn.functional.conv2d(x, w, b, (2, 1), 1, (1, 2), 2)  # noqa: E731
    _second_order_matches_pytorch(ours_f, theirs_f, x, w, b)


def test_forward_mode_matches_pytorch():
    x, w, tx, tw = _arrays((2, 3, 6, 6), (4, 3, 3, 3), (2, 3, 6, 6), (4, 3, 3, 3))
    _, ours = tg.jvp(lambda x, w: F.conv2d(x, w, stride=2, padding=1), (tg.tensor(x), tg.tensor(w)),
                     (tg.tensor(tx), tg.tensor(tw)))
    _, theirs = torch.func.jvp(lambda x, w: torch.nn.functional.conv2d(x, w, stride=2, padding=1),
                               (torch.tensor(x), torch.tensor(w)), (torch.tensor(tx), torch.tensor(tw)))
    _close(ours, theirs, np.float64)


def test_compiled_convolutions_give_eager_results():
    x, w, b = _arrays((2, 3, 8, 8), (4, 3, 3, 3), (4,))

    def loss(x, w, b):
        return F.conv2d(x, w, b, stride=2, padding="valid").relu().sum()

    results = []
    for run in (loss, tg.compile(loss)):
        inputs = [tg.tensor(a, requires_grad=True) for a in (x, w, b)]
        value = run(*inputs)
        value.backward()
        results.append([value.numpy()] + [t.grad.numpy() for t in inputs])
    for eager, compiled in zip(*results):
        np.testing.assert_allclose(compiled, eager, rtol=1e-12, atol=1e-12)


def test_float32_stays_float32_and_large_inputs_stay_finite():
    x = tg.tensor(np.full((1, 2, 5, 5), 1e30, np.float32), requires_grad=True)
    w = tg.tensor(np.full((3, 2, 3, 3), 1e-10, np.float32), requires_grad=True)
    out = F.conv2d(x, w, padding=1)
    assert out.dtype == np.float32 and np.isfinite(out.numpy()).all()
    out.sum().backward()
    assert x.grad.dtype == w.grad.dtype == np.float32


# -- stride 1, output as large as the input: the image-major path (tapegrad/ops/conv.py, _Same) ------------

# (input, weight, padding, dilation); every one has at least 16 positions per image, so it takes the path
SAME = [
    ((3, 4, 9, 8), (5, 4, 3, 3), 1, 1),
    ((2, 3, 8, 9), (4, 3, 4, 4), "same", 1),            # even kernel: the odd zero at the end
    ((3, 3, 10, 7), (4, 3, 3, 2), "same", (2, 3)),      # dilated, taps that leave the image entirely
    ((2, 6, 5, 6), (7, 6, 1, 1), 0, 1),                  # 1x1: one tap, nothing cleared
    ((3, 2, 4, 20), (3, 2, 5, 5), 2, 1),                 # a kernel taller than the image
]


def _spied(monkeypatch, names):
    """The list that records, in order, each call of the functions ``names`` of the conv module."""
    calls = []

    def spy(name):
        original = getattr(conv_ops, name)

        def counted(*args):
            calls.append(name)
            return original(*args)
        return counted

    for name in names:
        monkeypatch.setattr(conv_ops, name, spy(name))
    return calls


def _image_major_calls(monkeypatch, chunk, per_image):
    """Count the calls of the image-major functions; ``chunk`` images per chunk ("all": the default)."""
    if chunk != "all":
        monkeypatch.setattr(conv_ops, "SAME_CHUNK_BYTES", chunk * per_image)
    return _spied(monkeypatch, ("_conv_same", "_transpose_same", "_weight_same"))


@pytest.mark.parametrize("chunk", [1, 2, "all"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, w_shape, padding, dilation", SAME)
def test_same_size_convolutions_match_pytorch_on_the_image_major_path(monkeypatch, x_shape, w_shape, padding,
                                                                      dilation, dtype, chunk):
    per_image = math.prod(w_shape[2:]) * x_shape[1] * math.prod(x_shape[2:]) * np.dtype(dtype).itemsize
    calls = _image_major_calls(monkeypatch, chunk, per_image)
    arrays = _arrays(x_shape, w_shape, (w_shape[0],))
    _compare(lambda x, w, b: F.conv2d(x, w, b, 1, padding, dilation),
             lambda x, w, b: torch.nn.functional.conv2d(x, w, b, 1, padding, dilation), arrays, dtype)
    assert sorted(set(calls)) == ["_conv_same", "_transpose_same", "_weight_same"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_size_conv1d_and_conv_transpose2d_match_pytorch_on_the_image_major_path(monkeypatch, dtype):
    calls = _image_major_calls(monkeypatch, 2, 3 * 4 * 30 * np.dtype(dtype).itemsize)
    arrays = _arrays((5, 4, 30), (6, 4, 3), (6,))
    _compare(lambda x, w, b: F.conv1d(x, w, b, padding="same", dilation=2),
             lambda x, w, b: torch.nn.functional.conv1d(x, w, b, padding="same", dilation=2), arrays, dtype)
    # stride 1, padding 1 with a 3x3 kernel: the transpose keeps the size (its VJP for the input is conv2d)
    arrays = _arrays((3, 5, 6, 7), (5, 4, 3, 3), (4,))
    _compare(lambda x, w, b: F.conv_transpose2d(x, w, b, padding=1),
             lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, padding=1), arrays, dtype)
    assert sorted(set(calls)) == ["_conv_same", "_transpose_same", "_weight_same"]


def test_second_derivatives_match_pytorch_on_the_image_major_path(monkeypatch):
    calls = _image_major_calls(monkeypatch, "all", 0)
    _second_order_matches_pytorch(lambda x, w, b: F.conv2d(x, w, b, padding=(1, 2), dilation=(1, 2)),
                                  lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=(1, 2), dilation=(1, 2)),
                                  *_arrays((3, 4, 6, 5), (5, 4, 3, 3), (5,)))
    assert sorted(set(calls)) == ["_conv_same", "_transpose_same", "_weight_same"]


def _both_paths_agree(monkeypatch, chooser, fast_path, x, w, g, padding, size, kernel, dilation, groups):
    """The three primitives (stride 1) give the same results with ``conv_ops.<chooser>`` set to
    ``fast_path`` and to a chooser that always says no (the strided windows)."""
    dims = len(size)
    common = {"stride": (1,) * dims, "dilation": dilation, "groups": groups, "dims": dims, "name": "conv"}
    before = tuple(p[0] for p in padding)
    results = []
    for path in (fast_path, lambda *args: False):
        monkeypatch.setattr(conv_ops, chooser, path)
        results.append([conv_ops._conv_forward(x, w, padding=padding, **common),
                        conv_ops._transpose_forward(g, w, padding=before, size=size, **common),
                        conv_ops._weight_forward(x, g, padding=before, size=kernel, **common)])
    for fast, windows in zip(*results):
        np.testing.assert_allclose(fast, windows, rtol=1e-12, atol=1e-12)


def test_the_image_major_path_gives_the_strided_windows_results(monkeypatch):
    # every stride-1 "same" geometry of a few small sizes, both paths, all three primitives
    rng = np.random.default_rng(3)
    monkeypatch.setattr(conv_ops, "SAME_MIN_POSITIONS", 1)
    image_major = conv_ops._same
    for trial in range(150):
        dims = 1 + trial % 2
        kernel = tuple(int(k) for k in rng.integers(1, 6, dims))
        dilation = tuple(int(d) for d in rng.integers(1, 3, dims))
        before = tuple(int(p) for p in rng.integers(0, 5, dims))
        size = tuple(int(i) for i in rng.integers(1, 9, dims))
        padding = tuple((p, d * (k - 1) - p) for p, d, k in zip(before, dilation, kernel))  # the end may be cut
        x = rng.standard_normal((2, 3) + size)
        w = rng.standard_normal((4, 3) + kernel)
        g = rng.standard_normal((2, 4) + size)
        _both_paths_agree(monkeypatch, "_same", image_major, x, w, g, padding, size, kernel, dilation, 1)


# -- depthwise convolutions with stride 1: the wide-row path (conv_ops._Wide) --------------------------------

def _wide_calls(monkeypatch, chunk_bytes):
    """Count the calls of the wide-row functions; ``chunk_bytes`` per chunk (None: the default)."""
    if chunk_bytes is not None:
        monkeypatch.setattr(conv_ops, "WIDE_CHUNK_BYTES", chunk_bytes)
    return _spied(monkeypatch, ("_transpose_wide", "_weight_wide"))


# (input shape, weight shape, padding, dilation): groups = the input's channels
DEPTHWISE = [
    ((3, 6, 9, 11), (6, 1, 3, 3), 1, 1),
    ((2, 4, 7, 8), (8, 1, 3, 3), 1, 1),                 # multiplier 2
    ((2, 3, 9, 7), (9, 1, 5, 3), (2, 0), (1, 2)),       # multiplier 3, uneven padding and dilation
    ((2, 4, 6, 6), (4, 1, 4, 4), "same", 1),            # even kernel: the odd zero at the end
    ((2, 5, 8, 9), (5, 1, 3, 3), 0, 2),                 # "valid", dilated
    ((2, 3, 5, 5), (3, 1, 5, 5), 0, 1),                 # the kernel covers the input
    ((2, 4, 6, 7), (4, 1, 1, 1), 0, 1),
]


@pytest.mark.parametrize("chunk", [1, None])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, w_shape, padding, dilation", DEPTHWISE)
def test_depthwise_convolutions_match_pytorch_on_the_wide_row_path(monkeypatch, x_shape, w_shape, padding, dilation,
                                                                   dtype, chunk):
    calls = _wide_calls(monkeypatch, chunk)  # chunk 1: one image at a time
    groups = x_shape[1]
    arrays = _arrays(x_shape, w_shape, (w_shape[0],))
    _compare(lambda x, w, b: F.conv2d(x, w, b, 1, padding, dilation, groups),
             lambda x, w, b: torch.nn.functional.conv2d(x, w, b, 1, padding, dilation, groups), arrays, dtype)
    assert sorted(set(calls)) == ["_transpose_wide", "_weight_wide"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_depthwise_conv1d_and_conv_transpose2d_match_pytorch_on_the_wide_row_path(monkeypatch, dtype):
    calls = _wide_calls(monkeypatch, 1)
    arrays = _arrays((3, 4, 30), (8, 1, 5), (8,))
    _compare(lambda x, w, b: F.conv1d(x, w, b, padding=3, dilation=2, groups=4),
             lambda x, w, b: torch.nn.functional.conv1d(x, w, b, padding=3, dilation=2, groups=4), arrays, dtype)
    assert sorted(set(calls)) == ["_transpose_wide", "_weight_wide"]
    calls.clear()
    # a depthwise transposed convolution with stride 1 is the transpose primitive itself
    arrays = _arrays((2, 4, 6, 7), (4, 2, 3, 3), (8,))
    _compare(lambda x, w, b: F.conv_transpose2d(x, w, b, padding=1, groups=4),
             lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, padding=1, groups=4), arrays, dtype)
    arrays = _arrays((2, 4, 6, 7), (4, 1, 3, 3), (4,))
    _compare(lambda x, w, b: F.conv_transpose2d(x, w, b, padding=1, groups=4),
             lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, padding=1, groups=4), arrays, dtype)
    assert "_transpose_wide" in calls


def test_second_derivatives_match_pytorch_on_the_wide_row_path(monkeypatch):
    calls = _wide_calls(monkeypatch, None)
    _second_order_matches_pytorch(
        lambda x, w, b: F.conv2d(x, w, b, padding=(1, 2), dilation=(1, 2), groups=4),
        lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=(1, 2), dilation=(1, 2), groups=4),
        *_arrays((3, 4, 6, 5), (8, 1, 3, 3), (8,)))
    assert sorted(set(calls)) == ["_transpose_wide", "_weight_wide"]


def test_the_wide_row_path_gives_the_strided_windows_results(monkeypatch):
    # random stride-1 depthwise geometries, both paths, all three primitives
    rng = np.random.default_rng(4)
    depthwise = conv_ops._depthwise
    for trial in range(120):
        dims = 1 + trial % 2
        kernel = tuple(int(k) for k in rng.integers(1, 6, dims))
        dilation = tuple(int(d) for d in rng.integers(1, 3, dims))
        before = tuple(int(p) for p in rng.integers(0, 4, dims))
        after = tuple(int(p) for p in rng.integers(0, 4, dims))
        size = tuple(int(i) for i in rng.integers(1, 9, dims))
        out = tuple(i + p + q - d * (k - 1) for i, p, q, d, k in zip(size, before, after, dilation, kernel))
        if min(out) < 1:
            continue
        channels, multiplier = int(rng.integers(2, 5)), int(rng.integers(1, 4))
        x = rng.standard_normal((2, channels) + size)
        w = rng.standard_normal((channels * multiplier, 1) + kernel)
        g = rng.standard_normal((2, channels * multiplier) + out)
        _both_paths_agree(monkeypatch, "_depthwise", depthwise, x, w, g, tuple(zip(before, after)), size, kernel,
                          dilation, channels)


# -- the layers -------------------------------------------------------------------------------------------

LAYERS = [
    (nn.Conv2d, torch.nn.Conv2d, (3, 6, 3), {"stride": 2, "padding": 1}, (2, 3, 9, 9)),
    (nn.Conv2d, torch.nn.Conv2d, (4, 8, (2, 3)), {"padding": "same", "dilation": 2, "groups": 2}, (2, 4, 7, 8)),
    (nn.Conv2d, torch.nn.Conv2d, (6, 6, 3), {"groups": 6, "bias": False}, (1, 6, 5, 5)),
    (nn.Conv1d, torch.nn.Conv1d, (3, 5, 4), {"stride": 2, "padding": 2}, (2, 3, 12)),
    (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 6, 3), {"stride": 2, "padding": 1, "output_padding": 1,
                                                               "groups": 2}, (2, 4, 5, 5)),
    (nn.ConvTranspose1d, torch.nn.ConvTranspose1d, (3, 2, 3), {"stride": 3, "dilation": 2}, (2, 3, 4)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ours_cls, theirs_cls, args, kwargs, x_shape", LAYERS)
def test_a_pytorch_layer_s_state_dict_gives_its_outputs_and_gradients(ours_cls, theirs_cls, args, kwargs, x_shape,
                                                                      dtype):
    torch.manual_seed(0)
    theirs = theirs_cls(*args, **kwargs).to(torch.float64 if dtype == np.float64 else torch.float32)
    ours = ours_cls(*args, **kwargs, dtype=dtype)
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in ours.state_dict().items()}
    ours.load_state_dict(state)
    x = np.random.default_rng(2).standard_normal(x_shape).astype(dtype)
    ox, tx = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_o, out_t = ours(ox), theirs(tx)
    _close(out_o, out_t, dtype)
    (out_o ** 2).sum().backward()
    (out_t ** 2).sum().backward()
    _close(ox.grad, tx.grad, dtype)
    for name, parameter in ours.named_parameters():
        _close(parameter.grad, dict(theirs.named_parameters())[name].grad, dtype)


@pytest.mark.parametrize("cls, args, fan_in", [(nn.Conv2d, (4, 8, 3), 4 * 9), (nn.Conv2d, (4, 8, (3, 5), 1, 0, 1, 2),
                                               2 * 15), (nn.Conv1d, (3, 5, 4), 12),
                                               (nn.ConvTranspose2d, (4, 6, 3, 1, 0, 0, 2), 3 * 9)])
def test_default_initialisation_is_pytorch_s_and_follows_the_seed(cls, args, fan_in):
    tg.manual_seed(3)
    layer = cls(*args)
    tg.manual_seed(3)
    again = cls(*args)
    np.testing.assert_array_equal(layer.weight.numpy(), again.weight.numpy())
    np.testing.assert_array_equal(layer.bias.numpy(), again.bias.numpy())
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform with a=sqrt(5): gain sqrt(1/3) * sqrt(3 / fan_in)
    for p in (layer.weight, layer.bias):
        assert p.dtype == tg.get_default_dtype()
        assert np.abs(p.numpy()).max() <= bound and np.abs(p.numpy()).max() > 0.7 * bound
    torch_layer = {nn.Conv2d: torch.nn.Conv2d, nn.Conv1d: torch.nn.Conv1d,
                   nn.ConvTranspose2d: torch.nn.ConvTranspose2d}[cls](*args)
    assert torch_layer.weight.shape == layer.weight.shape and torch_layer.bias.shape == layer.bias.shape
    assert np.abs(torch_layer.weight.detach().numpy()).max() <= bound


def test_layers_print_their_settings():
    assert repr(nn.Conv2d(3, 6, 3, stride=2, padding=1, bias=False)) == \
        "Conv2d(3, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)"
    assert repr(nn.ConvTranspose2d(4, 2, 2, stride=2, groups=2)) == \
        "ConvTranspose2d(4, 2, kernel_size=(2, 2), stride=(2, 2), groups=2)"


# -- bad input ---------------------------------------------------------------------------------------------

def _t(*shape, dtype=np.float64):
    return tg.tensor(np.ones(shape, dtype))


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.conv2d(_t(8, 3, 32, 32), _t(16, 1, 3, 3)), tg.ShapeError,
     r"conv2d: input \(8, 3, 32, 32\) has 3 channels, the weight \(16, 1, 3, 3\) with groups=1 expects 1"),
    (lambda: F.conv2d(_t(3, 32, 32, 1, 1), _t(16, 3, 3, 3)), tg.ShapeError,
     r"conv2d: input \(3, 32, 32, 1, 1\); expected 4 dimensions \(batch, channels, height, width\) or 3"),
    (lambda: F.conv2d(_t(2, 3, 8, 8), _t(16, 3, 3)), tg.ShapeError, r"conv2d: weight \(16, 3, 3\); expected 4"),
    (lambda: F.conv1d(_t(2, 3, 8, 8), _t(4, 3, 3)), tg.ShapeError, r"conv1d: input \(2, 3, 8, 8\); expected 3"),
    (lambda: F.conv2d(_t(2, 3, 4, 4), _t(5, 3, 7, 7), padding=1), tg.ShapeError,
     r"conv2d: input \(2, 3, 4, 4\) padded to \(6, 6\) is smaller than the weight \(5, 3, 7, 7\)'s kernel"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), dilation=3), tg.ShapeError,
     r"conv2d: .*\(dilated: \(7, 7\)\)"),
    (lambda: F.conv2d(_t(2, 6, 5, 5), _t(4, 2, 3, 3), groups=4), tg.ShapeError,
     r"conv2d: input \(2, 6, 5, 5\) has 6 channels, the weight \(4, 2, 3, 3\) with groups=4 expects 8"),
    (lambda: F.conv2d(_t(2, 6, 5, 5), _t(4, 3, 3, 3), groups=2, bias=_t(3)), tg.ShapeError,
     r"conv2d: bias \(3,\); expected \(4,\)"),
    (lambda: F.conv2d(_t(2, 6, 5, 5), _t(5, 2, 3, 3), groups=3), tg.ShapeError,
     r"conv2d: the weight \(5, 2, 3, 3\) has 5 output channels; expected a multiple of groups=3"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), stride=0), tg.ArgumentError,
     r"conv2d: stride=0; expected integers in \[1, 2\*\*31\)"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), padding=-1), tg.ArgumentError, "conv2d: padding=-1"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), padding=(1, 2, 3)), tg.ArgumentError,
     r"conv2d: padding=\(1, 2, 3\); expected an int or 2 ints"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), padding="full"), tg.ArgumentError,
     "conv2d: padding='full'; expected 'same', 'valid'"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), stride=2, padding="same"), tg.ArgumentError,
     "conv2d: padding='same' needs stride 1"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), stride=1.5), tg.ArgumentError,
     "conv2d: stride must be an integer, got 1.5"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), groups=0), tg.ArgumentError, "conv2d: groups=0"),
    (lambda: F.conv2d(_t(2, 3, 5, 5, dtype=np.float32), _t(4, 3, 3, 3)), tg.DTypeError,
     "conv2d: input of dtype float32 and weight of dtype float64; expected the same dtype"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), _t(4, dtype=np.float32)), tg.DTypeError,
     "conv2d: input of dtype float64 and bias of dtype float32"),
    (lambda: F.conv2d(_t(2, 3, 5, 5, dtype=np.int64), _t(4, 3, 3, 3)), tg.DTypeError,
     "conv2d: input of dtype int64; expected a floating-point tensor"),
    (lambda: F.conv2d("abc", _t(4, 3, 3, 3)), tg.DTypeError, "conv2d: input"),
    (lambda: F.conv_transpose2d(_t(2, 3, 5, 5), _t(4, 2, 3, 3)), tg.ShapeError,
     r"conv_transpose2d: input \(2, 3, 5, 5\) has 3 channels, the weight \(4, 2, 3, 3\) expects 4"),
    (lambda: F.conv_transpose2d(_t(2, 3, 5, 5), _t(3, 2, 3, 3), groups=2), tg.ShapeError,
     r"conv_transpose2d: input \(2, 3, 5, 5\) has 3 channels; expected a multiple of groups=2"),
    (lambda: F.conv_transpose2d(_t(2, 3, 5, 5), _t(3, 2, 3, 3), stride=2, output_padding=2), tg.ArgumentError,
     r"conv_transpose2d: output_padding=\(2, 2\); expected each smaller than the stride"),
    (lambda: F.conv_transpose2d(_t(2, 3, 1, 1), _t(3, 2, 1, 1), padding=1), tg.ShapeError,
     r"conv_transpose2d: .* gives an output of size \(-1, -1\)"),
    (lambda: F.conv_transpose2d(_t(2, 3, 5, 5), _t(3, 2, 3, 3), padding="same"), tg.ArgumentError,
     "conv_transpose2d: padding='same'"),
    (lambda: nn.Conv2d(3, 6, 3, dtype=np.float64)(_t(2, 4, 8, 8)), tg.ShapeError,
     r"Conv2d\(3, 6, kernel_size=\(3, 3\), stride=\(1, 1\)\): conv2d: input \(2, 4, 8, 8\) has 4 channels"),
    (lambda: nn.Conv2d(3, 6, 5, dtype=np.float64)(_t(2, 3, 4, 4)), tg.ShapeError, r"Conv2d\(.*\): conv2d: input"),
    (lambda: nn.Conv2d(4, 6, 3, groups=3), tg.ArgumentError, "Conv2d: groups=3 must divide in_channels=4"),
    (lambda: nn.Conv2d(4, 6, 3, padding_mode="reflect"), tg.ArgumentError,
     "Conv2d: padding_mode='reflect' is not supported; only 'zeros' is"),
    (lambda: nn.Conv2d(4, 6, 3, padding_mode="mirror"), tg.ArgumentError, "Conv2d: padding_mode='mirror'"),
    (lambda: nn.Conv2d(4, 6, 0), tg.ArgumentError, "Conv2d: kernel_size=0"),
    (lambda: nn.Conv2d(4, 6, 3, stride=2, padding="same"), tg.ArgumentError, "Conv2d: padding='same' needs stride 1"),
    (lambda: nn.Conv1d(4, 6, 3, stride=(1, 1)), tg.ArgumentError, r"Conv1d: stride=\(1, 1\); expected an int or 1"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, dtype=np.float64)(_t(2, 3, 5, 5)), tg.ShapeError,
     r"ConvTranspose2d\(4, 6.*has 3 channels"),
])
def test_bad_input_gets_a_named_error(call, error, message):
    with pytest.raises(error, match=message):
        call()

"""Bad input gets a named error, never a silent wrong answer or a bare NumPy/Python traceback.

The first part pins the cases of issue 11 (items 9 and 10, "bare errors instead of named ones");
the second is the table test: every public function and Tensor method against wrong shapes,
dtypes, NaN/inf, empty arrays and bad axes or sizes.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg


def T(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# -- item 9: invalid arguments are refused, not wrapped or truncated ---------------------------------

def test_a_mask_of_the_wrong_length_is_refused_in_reads():
    x = T(np.arange(6.0).reshape(3, 2))
    with pytest.raises(tg.ShapeError, match=r"getitem: a boolean mask of shape \(2,\) at axis 0 .*\(3, 2\); "
                                            r"expected a mask of shape \(3,\)"):
        x[np.array([True, False])]
    with pytest.raises(tg.ShapeError, match=r"mask of shape \(3,\) at axis 1"):
        x[:, np.array([True, False, True])]
    with pytest.raises(tg.ShapeError, match=r"mask of shape \(2, 2\) at axis 0"):
        x[np.ones((2, 2), bool)]
    with pytest.raises(tg.ShapeError, match="mask"):
        x[[True, False]]  # a list of bools is a mask too
    with pytest.raises(tg.ShapeError, match="mask"):
        x[tg.tensor(np.array([True, False]))]
    # Right lengths still select, wherever the mask stands (after an Ellipsis, beside None).
    np.testing.assert_array_equal(x[np.array([True, False, True])].data, [[0, 1], [4, 5]])
    np.testing.assert_array_equal(x[..., np.array([False, True])].data, [[1], [3], [5]])
    np.testing.assert_array_equal(x[None, np.array([False, True, False])].data, [[[2, 3]]])
    np.testing.assert_array_equal(x[x > 2].data, [3, 4, 5])


def test_a_mask_of_the_wrong_length_is_refused_in_assignment():
    x = tg.tensor(np.arange(6.0).reshape(3, 2))
    with pytest.raises(tg.ShapeError, match=r"__setitem__: a boolean mask of shape \(2,\) at axis 0"):
        x[np.array([True, False])] = 7.0
    with pytest.raises(tg.ShapeError, match=r"__setitem__: a boolean mask of shape \(4,\)"):
        x[1:, np.array([True, False, True, False])] = 7.0
    np.testing.assert_array_equal(x.data, np.arange(6.0).reshape(3, 2))  # untouched
    x[np.array([True, False, True])] = 7.0
    np.testing.assert_array_equal(x.data, [[7, 7], [2, 3], [7, 7]])


@pytest.mark.parametrize("call, message", [
    (lambda x: x.unsqueeze(5), r"unsqueeze: axis=5 is out of range for a tensor of 3 dimension\(s\); "
                               r"expected an int in \[-3, 3\)"),
    (lambda x: x.unsqueeze(-4), "unsqueeze: axis=-4"),
    (lambda x: x.flatten(5), "flatten: start_axis=5 is out of range"),
    (lambda x: x.flatten(0, 2), "flatten: end_axis=2 is out of range"),
    (lambda x: x.flatten(1, 0), "flatten: start_axis=1 comes after end_axis=0"),
    (lambda x: x.repeat(2, axis=5), "repeat: axis=5 is out of range"),
    (lambda x: x.take_along_axis(np.zeros((2, 3), np.int64), 5), "take_along_axis: axis=5 is out of range"),
    (lambda x: x.squeeze(7), "squeeze: axis=7 is out of range"),
    (lambda x: x.flip(2), "flip: axis=2 is out of range"),
    (lambda x: x.softmax(axis=2), "softmax: axis=2 is out of range"),
    (lambda x: x.argmax(axis=-3), "argmax: axis=-3 is out of range"),
])
def test_an_axis_out_of_range_is_refused_not_wrapped(call, message):
    with pytest.raises(tg.ShapeError, match=message):
        call(T(np.ones((2, 3))))


@pytest.mark.parametrize("call, message", [
    (lambda: T(np.ones((2, 6))).reshape(2.5, 6), r"reshape: shape \(2.5, 6\) has a size that is not an integer"),
    (lambda: tg.zeros(2.5), r"zeros: shape \(2.5,\)"),
    (lambda: tg.ones((2, 1.0)), r"ones: shape \(2, 1.0\)"),
    (lambda: tg.randn(2.5), r"randn: shape \(2.5,\)"),
    (lambda: tg.rand(True), r"rand: shape \(True,\)"),  # bools are not sizes, as in NumPy
    (lambda: T(np.ones(3)).pad(1.5), r"pad: pad_width=1.5; expected non-negative integers"),
    (lambda: T(np.ones(3)).pad((1, 0.5)), "pad: pad_width"),
    (lambda: T(np.ones(3)).unsqueeze(0.0), "unsqueeze: axis must be an integer, got 0.0"),
    (lambda: T(np.ones(3)).sum(axis=0.0), "sum: axis must be an integer"),
    (lambda: T(np.ones(3)).tile(2.0), "tile: shape"),
    (lambda: T(np.ones(4)).split(2.0), "split: indices_or_sections must be an integer"),
    (lambda: T(np.ones(4)).repeat(2.0), "repeat: repeats=2.0"),
    (lambda: tg.eye(2.5), "eye: n must be an integer"),
    (lambda: tg.linspace(0, 1, 2.5), "linspace: num must be an integer"),
])
def test_a_float_size_or_axis_is_refused_not_truncated(call, message):
    with pytest.raises(tg.ArgumentError, match=message):
        call()


def test_sizes_of_numpy_integer_types_are_fine():
    assert tg.zeros(np.int64(2), np.int32(3)).shape == (2, 3)
    assert tg.randn((np.uint8(2),)).shape == (2,)
    x = T(np.arange(6.0))
    assert x.reshape(np.int64(2), -1).shape == (2, 3)
    assert x.reshape(np.array([3, 2])).shape == (3, 2)
    assert x.pad(np.int64(1)).shape == (8,)
    assert x.reshape(2, 3).sum(axis=np.int64(1)).shape == (2,)
    assert x.reshape(2, 3).unsqueeze(np.int32(-1)).shape == (2, 3, 1)
    np.testing.assert_array_equal(x.repeat(np.int64(2)).data, np.repeat(np.arange(6.0), 2))


# -- item 10: size-0 axes ------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, start, end, expected", [
    ((0, 3), 1, -1, (0, 3)),
    ((0, 3), 0, -1, (0,)),
    ((2, 0, 4), 1, 2, (2, 0)),
    ((2, 0, 4), 0, 1, (0, 4)),
    ((3, 4, 0), 0, 1, (12, 0)),
])
def test_flatten_with_a_size_0_axis(shape, start, end, expected):
    x = T(np.zeros(shape))
    y = x.flatten(start, end)
    assert y.shape == expected
    y.sum().backward()
    assert x.grad.shape == shape


def test_reshape_with_minus_1_on_size_0_tensors_follows_numpy():
    x = T(np.zeros((0, 3)))
    assert x.reshape(-1, 3).shape == np.zeros((0, 3)).reshape(-1, 3).shape == (0, 3)
    assert x.reshape(-1, 1, 3).shape == np.zeros((0, 3)).reshape(-1, 1, 3).shape == (0, 1, 3)
    assert x.reshape(-1).shape == (0,)
    with pytest.raises(ValueError):
        np.zeros((0, 3)).reshape(0, -1)  # NumPy cannot infer -1 beside a 0: neither can tapegrad
    with pytest.raises(tg.ShapeError, match=r"reshape: .*\(0, -1\)"):
        x.reshape(0, -1)
    with pytest.raises(tg.ShapeError, match=r"reshape: shape \(-1, -1\) has more than one -1"):
        x.reshape(-1, -1)
    with pytest.raises(tg.ShapeError, match=r"reshape: shape \(-2, 3\) has a negative size"):
        T(np.zeros(6)).reshape(-2, 3)  # NumPy takes any negative size for -1; tapegrad only -1


# -- bare errors become named ones -------------------------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda: T(np.ones((2, 3))).swapaxes(0, 5), tg.ShapeError, "swapaxes: axis2=5 is out of range"),
    (lambda: T(np.ones((2, 3))).split(1, axis=5), tg.ShapeError, "split: axis=5 is out of range"),
    (lambda: T(np.ones((2, 3))).repeat(-1), tg.ArgumentError, "repeat: repeats=-1"),
    (lambda: T(np.ones((2, 3))).repeat([1, 2, 3], axis=0), tg.ShapeError, "repeat: 3 repeat counts for axis 0"),
    (lambda: T(np.ones((2, 3))).unsqueeze((0, 0)), tg.ShapeError, r"unsqueeze: axis=\(0, 0\) names an axis twice"),
    (lambda: T(np.ones((2, 3))).sum(axis=2**63), tg.ShapeError, "sum: axis=9223372036854775808 is out of range"),
    (lambda: T(np.ones((2, 3))).mean(axis=(0, 0)), tg.ShapeError, "mean: axis=.* names an axis twice"),
    (lambda: T(np.ones((2, 3))).transpose(0, 0), tg.ShapeError, "transpose: axes=.* names an axis twice"),
    (lambda: T(np.ones((2, 3))).permute(0,), tg.ShapeError, "permute: axes .*expected a permutation of all 2"),
    (lambda: T(np.ones((2, 3))).astype("no such dtype"), tg.DTypeError, "astype: 'no such dtype' is not"),
    (lambda: T(np.ones((2, 3))).take_along_axis(np.zeros((2, 3)), 1), tg.DTypeError,
     "take_along_axis: indices of dtype float64; expected integers"),
    (lambda: T(np.ones((2, 3))).take_along_axis(np.full((2, 1), 3), 1), tg.ShapeError,
     r"take_along_axis: indices from 3 to 3 along axis 1 of length 3; expected indices in \[-3, 3\)"),
    (lambda: T(np.ones((2, 3))).split(np.int64(3)), tg.ShapeError, "split: axis 0 of shape"),
    (lambda: tg.einsum(5, T(np.ones(3))), tg.ArgumentError, "einsum: subscripts=5; expected a string"),
    (lambda: tg.einsum("i->i->i", T(np.ones(3))), tg.ShapeError, "einsum: 'i->i->i'"),
    (lambda: tg.einsum("i1->i", T(np.ones(3))), tg.ShapeError, "einsum: 'i1' .*expected only letters"),
    (lambda: tg.tensor([[1.0, 2.0], [3.0]]), tg.ShapeError, "tensor: nested sequences of unequal lengths"),
    (lambda: tg.as_tensor([[1.0], 2.0]), tg.ShapeError, "as_tensor: nested sequences of unequal lengths"),
    (lambda: tg.tensor(["a", "b"]), tg.DTypeError, r"tensor: data of dtype <U1 .*expected numbers"),
    (lambda: tg.tensor([1.0], dtype="bogus"), tg.DTypeError, "tensor: dtype='bogus' is not a NumPy dtype"),
    (lambda: tg.zeros(-1), tg.ShapeError, r"zeros: shape \(-1,\) has a negative size"),
    (lambda: tg.full((2, -2), 1.0), tg.ShapeError, r"full: shape \(2, -2\) has a negative size"),
    (lambda: tg.full(2, "a"), tg.DTypeError, "full: data of dtype <U1"),
    (lambda: tg.zeros(2, dtype=str), tg.DTypeError, "zeros: dtype <U0; expected a numeric dtype"),
    (lambda: tg.randn(2, dtype=np.int64), tg.DTypeError, "randn: dtype int64; expected a floating dtype"),
    (lambda: tg.arange(0, 10, 0), tg.ArgumentError, "arange: step=0; expected a non-zero step"),
    (lambda: tg.arange(0, np.inf), tg.ArgumentError, "arange: stop=inf; expected a finite real number"),
    (lambda: tg.arange("a"), tg.ArgumentError, "arange: start='a'"),
    (lambda: tg.eye(-1), tg.ArgumentError, "eye: n must be a non-negative integer, got -1"),
    (lambda: tg.linspace(0, 1, -1), tg.ArgumentError, "linspace: num must be a non-negative integer"),
    (lambda: tg.manual_seed(-1), tg.ArgumentError, "manual_seed: seed must be a non-negative integer, got -1"),
    (lambda: tg.manual_seed(2.5), tg.ArgumentError, r"manual_seed: seed must be an integer, got 2.5 \(float\)"),
    (lambda: tg.manual_seed("7"), tg.ArgumentError, "manual_seed: seed must be an integer"),
])
def test_bare_errors_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_named_errors_are_also_the_matching_builtin_exceptions():
    # Code that caught NumPy's exceptions keeps working: ShapeError and ArgumentError are ValueErrors.
    with pytest.raises(ValueError):
        tg.zeros(-1)
    with pytest.raises(ValueError):
        tg.manual_seed(-1)
    assert issubclass(tg.ArgumentError, tg.TapegradError)


def test_valid_arguments_still_give_numpy_s_results():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = T(a)
    np.testing.assert_array_equal(x.swapaxes(-1, 0).data, a.swapaxes(-1, 0))
    np.testing.assert_array_equal(x.unsqueeze((0, -1)).data, a[None, ..., None])
    np.testing.assert_array_equal(x.flatten(-2).data, a.reshape(2, 12))
    np.testing.assert_array_equal(x.repeat([1, 0, 2], axis=-2).data, np.repeat(a, [1, 0, 2], axis=-2))
    np.testing.assert_array_equal(x.sum(axis=[0, -1]).data, a.sum(axis=(0, -1)))
    np.testing.assert_array_equal(x.transpose((2, 0, 1)).data, a.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.permute(-1, 0, 1).data, a.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.pad(((0, 0), (1, 0), (0, 2))).data, np.pad(a, ((0, 0), (1, 0), (0, 2))))
    pieces = x.split([1, 3], axis=-1)
    for piece, expected in zip(pieces, np.split(a, [1, 3], axis=-1)):
        np.testing.assert_array_equal(piece.data, expected)
    idx = np.argsort(a, axis=1)
    np.testing.assert_array_equal(x.take_along_axis(idx, -2).data, np.take_along_axis(a, idx, -2))
    np.testing.assert_array_equal(tg.arange(5, step=2).data, np.arange(0, 5, 2))  # step was ignored
    assert tg.manual_seed(np.int64(3)) is tg.generator()
    assert tg.tensor(5).flatten().shape == (1,)
    assert tg.tensor(5.0).flatten(0, -1).shape == (1,)

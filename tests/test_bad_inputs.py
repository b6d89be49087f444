"""Bad input gets a named error, never a silent wrong answer or a bare NumPy/Python traceback.

The first part pins the cases of issue 11 (items 9 and 10, "bare errors instead of named ones");
the second is the table test: every public function and Tensor method against wrong shapes,
dtypes, NaN/inf, empty arrays and bad axes or sizes.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F
from tapegrad.nn.losses import _Loss


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
    (lambda: T(np.ones(3)).tile(2.0), "tile: reps must be an integer, got 2.0"),
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
    (lambda: T(np.ones((2, 3))).astype("no such dtype"), tg.DTypeError,
     "astype: dtype=.no such dtype. is not a NumPy dtype"),
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
    (lambda: tg.tensor(["a"], dtype=float), tg.DTypeError, r"tensor: cannot make a float64 tensor from \['a'\]"),
    (lambda: tg.tensor([1.0], dtype="bogus"), tg.DTypeError, "tensor: dtype='bogus' is not a NumPy dtype"),
    (lambda: tg.zeros(-1), tg.ShapeError, r"zeros: shape \(-1,\) has a negative size"),
    (lambda: tg.full((2, -2), 1.0), tg.ShapeError, r"full: shape \(2, -2\) has a negative size"),
    (lambda: tg.full(2, "a"), tg.DTypeError, "full: data of dtype <U1"),
    (lambda: tg.zeros(2, dtype=str), tg.DTypeError, "zeros: dtype <U0; expected a numeric dtype"),
    (lambda: tg.randn(2, dtype=np.int64), tg.DTypeError, "randn: dtype int64; expected a floating dtype"),
    (lambda: tg.arange(0, 10, 0), tg.ArgumentError, "arange: step=0; expected a non-zero step"),
    (lambda: tg.arange(0, np.inf), tg.ArgumentError, "arange: stop=inf; expected a finite real number"),
    (lambda: tg.arange("a"), tg.ArgumentError, "arange: start='a'"),
    (lambda: tg.arange(0, 1e20), tg.ArgumentError, "arange: start=0, stop=1e[+]20, step=1 give too many values"),
    (lambda: tg.eye(-1), tg.ArgumentError, r"eye: n must be a non-negative integer below 2\*\*63, got -1"),
    (lambda: tg.linspace(0, 1, -1), tg.ArgumentError, "linspace: num must be a non-negative integer"),
    (lambda: tg.manual_seed(-1), tg.ArgumentError,
     r"manual_seed: seed must be a non-negative integer below 2\*\*63, got -1"),
    (lambda: tg.manual_seed(2.5), tg.ArgumentError, r"manual_seed: seed must be an integer, got 2.5 \(float\)"),
    (lambda: tg.manual_seed("7"), tg.ArgumentError, "manual_seed: seed must be an integer"),
])
def test_bare_errors_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("call, error, message", [
    (lambda: tg.exp(np.array(["a"])), tg.DTypeError, r"exp: data of dtype <U1"),  # names the function called
    (lambda: tg.sum([[1.0], [2.0, 3.0]]), tg.ShapeError, "sum: nested sequences of unequal lengths"),
    (lambda: tg.relu(None), tg.DTypeError, "relu: cannot make a numeric tensor from None"),
    (lambda: tg.concatenate(None), tg.ArgumentError, "concatenate: tensors=None; expected a sequence of tensors"),
    (lambda: tg.stack(np.array(1.0)), tg.ArgumentError, "stack: tensors=.*expected a sequence"),
    (lambda: tg.concatenate([T(np.ones(2))], axis=2**63), tg.ShapeError, "concatenate: axis=9223372036854775808"),
    (lambda: tg.stack([T(np.ones(2))], axis=2), tg.ShapeError, "stack: axis=2 is out of range"),
    (lambda: tg.where([[True], [False, True]], 1.0, 0.0), tg.ShapeError, "where: nested sequences"),
    (lambda: T(np.ones((2, 2))).take_along_axis([[0], [0, 1]], 1), tg.ShapeError,
     "take_along_axis: indices .* are ragged"),
    (lambda: tg.zeros(2**63), tg.ShapeError, r"zeros: shape \(9223372036854775808,\) has a size of 2\*\*63 or more"),
    (lambda: tg.zeros(2**40, 2**40), tg.ShapeError, "zeros: cannot allocate .* too large"),
    (lambda: tg.randn(2**40, 2**40), tg.ShapeError, "randn: cannot allocate .* too large"),
    (lambda: tg.eye(2**63), tg.ArgumentError, "eye: n must be a non-negative integer below 2"),
    (lambda: T(np.ones(2)).pad(2**63), tg.ArgumentError, "pad: pad_width=9223372036854775808"),
    (lambda: T(np.ones(2)).repeat(2**63), tg.ArgumentError, "repeat: repeats=9223372036854775808"),
    (lambda: T(np.ones(2)).pad(1, constant_values=1j), tg.DTypeError,
     r"pad: constant_values=1j \(complex128\) cannot be stored in a float64 tensor"),
    (lambda: tg.tensor([1, 2]).pad(1, constant_values=1.5), tg.DTypeError, "pad: constant_values=1.5"),
    (lambda: T(np.ones(2)).pad(1, constant_values="a"), tg.DTypeError, "pad: constant_values='a'; expected a number"),
    (lambda: tg.full_like(np.ones(2, np.int64), 1.5), tg.DTypeError,
     "full_like: fill_value=.* cannot be stored in a int64 tensor"),
    (lambda: tg.full_like(np.ones(2), 1j), tg.DTypeError, "full_like: fill_value"),
    (lambda: tg.full(2, 1.5, dtype=np.int32), tg.DTypeError, "full: fill_value"),
    (lambda: tg.full(2, [1.0, 2.0]), tg.ShapeError, r"full: fill_value of shape \(2,\); expected a single number"),
    (lambda: tg.tensor(np.array([1j])).astype(np.float64), tg.DTypeError,
     "astype: converting a complex tensor .* would discard the imaginary parts"),
    (lambda: T(np.ones(3)).var(ddof=1j), tg.ArgumentError, "var: ddof=1j; expected a real number"),
    (lambda: T(np.ones(3)).std(ddof="1"), tg.ArgumentError, "var: ddof='1'"),
])
def test_more_bad_inputs_the_table_found(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_fills_of_a_kind_the_dtype_holds_still_work():
    np.testing.assert_array_equal(T(np.ones(2)).pad(1, constant_values=7).data, [7, 1, 1, 7])
    np.testing.assert_array_equal(tg.tensor([True]).pad(1).data, [False, True, False])
    np.testing.assert_array_equal(tg.full_like(np.ones(2, np.int64), 3).data, [3, 3])
    assert tg.full(2, 1.5).dtype == tg.get_default_dtype()
    assert tg.full(2, 1.5, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(tg.tensor([1 + 2j]).astype(np.complex64).data, [1 + 2j])


def test_split_of_a_size_0_axis_gives_empty_pieces_as_numpy():
    pieces = T(np.zeros((0, 3))).split(3)
    assert [p.shape for p in pieces] == [a.shape for a in np.split(np.zeros((0, 3)), 3)] == [(0, 3)] * 3


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
    np.testing.assert_array_equal(x.transpose(None).data, a.transpose(None))
    np.testing.assert_array_equal(x.tile((2, 1, 1)).data, np.tile(a, (2, 1, 1)))
    np.testing.assert_array_equal(x[True, np.array([False, True])].data, a[True, np.array([False, True])])
    y = tg.tensor(a.copy())
    y[True, np.array([False, True])] = 0.0  # a scalar bool covers no axis: the mask is checked against axis 0
    np.testing.assert_array_equal(y.data[1], 0)
    rows = T(np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(tg.stack(r for r in rows).data, np.arange(6.0).reshape(3, 2))  # any iterable
    np.testing.assert_array_equal(tg.concatenate(rows, axis=-1).data, np.arange(6.0))
    assert tg.tensor(5).flatten().shape == (1,)
    assert tg.tensor(5.0).flatten(0, -1).shape == (1,)


# -- the table test ------------------------------------------------------------------------------------
# Every public function (tapegrad.__all__ and tapegrad.nn.functional), loss module and Tensor method,
# found by introspection so that a new one is covered without editing this file, against bad values for
# each of its parameters, chosen by the parameter's name. Each outcome must be a numeric result or a
# TapegradError naming the operation.

# Public callables that take no tensors, with the reason.
NOT_TENSOR_FUNCTIONS = {
    **dict.fromkeys(("compile", "grad", "value_and_grad", "vjp", "jvp", "jacobian", "jacrev", "jacfwd",
                     "hessian", "hvp", "gradcheck", "gradgradcheck", "checkpoint", "custom_vjp"),
                    "transforms a Python function; the tensors it sees go through the operations tested here"),
    "save": "writes a file: tests/test_serialization.py", "load": "reads a file: tests/test_serialization.py",
    **dict.fromkeys(("no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "detect_anomaly"),
                    "a grad-mode switch, no tensor argument"),
    "generator": "no argument", "get_default_dtype": "no argument",
    "vmap": "transforms a Python function; its own bad inputs: tests/autograd/test_vmap.py",  # issue 17
}
NOT_TENSOR_METHODS = {
    "backward": "its gradient= validation belongs to the backward pass (issue 11 item 9, tests/engine/test_engine.py)",
    "register_hook": "takes a function (hooks: issue 11 item 8)",
}
# The name an error message carries when the callable is another's alias or composition.
ALSO_NAMED = {
    "Tensor": ("tensor",), "cat": ("concatenate",), "expand_dims": ("unsqueeze",), "dot": ("matmul",),
    "std": ("var", "sqrt"), "float": ("astype",), "double": ("astype",), "clip": ("maximum", "minimum"),
    "outer": ("multiply",), "stack": ("concatenate",),
    "__add__": ("add",), "__radd__": ("add",), "__sub__": ("subtract",), "__rsub__": ("subtract",),
    "__mul__": ("multiply",), "__rmul__": ("multiply",), "__truediv__": ("divide",), "__rtruediv__": ("divide",),
    "__pow__": ("power",), "__rpow__": ("power",), "__matmul__": ("matmul",), "__rmatmul__": ("matmul",),
    "__neg__": ("negative",), "__abs__": ("absolute",), "__getitem__": ("getitem",),
    "__iadd__": ("add_",), "__isub__": ("sub_",), "__imul__": ("mul_",), "__itruediv__": ("div_",),
    # a loss module names itself or the function it computes
    "CrossEntropyLoss": ("cross_entropy",), "NLLLoss": ("nll_loss",), "SVMLoss": ("svm_loss",),
    "MultiMarginLoss": ("multi_margin_loss",), "BCEWithLogitsLoss": ("binary_cross_entropy_with_logits",),
    "MSELoss": ("mse_loss",), "L1Loss": ("l1_loss",), "HuberLoss": ("huber_loss",),
}
OPERATORS = tuple(name for name in ALSO_NAMED if name.startswith("__")) + ("__setitem__",)

X = np.arange(1.0, 10.0).reshape(3, 3) / 10
# A valid value for each parameter name (a tensor argument is a (3, 3) float64 array).
VALID = {
    "x": X, "a": X, "b": X, "other": X, "y": X, "data": X, "value": 1.5, "condition": X > 0.3,
    "tensors": [X, X], "indices": np.zeros((3, 3), np.int64), "index": (slice(None), slice(None)),
    "shape": (3, 3), "repeats": 2, "reps": 2, "pad_width": 1, "indices_or_sections": 3, "n": 3, "num": 5,
    "seed": 0, "start": 0, "stop": 3, "fill_value": 1.5, "subscripts": "ij,jk->ik", "dtype": np.float64,
    "axis": 0, "axis1": 0, "axis2": 1, "tensor": tg.tensor(X) * 2,
    # nn.functional: scores (batch 3, classes 3) and, for the regression losses, targets of their shape
    "log_probs": X, "logits": X, "scores": X, "prediction": X, "target": X / 2, "parameters": [tg.tensor(X)],
    "strength": 0.5, "prim": tg.ops.elementwise.sin,
}
LABELS = np.array([0, 2, 1])
# The classification losses take class labels (an integer array of shape (batch,)) as their target.
CLASSIFICATION = {"cross_entropy", "nll_loss", "svm_loss", "multi_margin_loss"}
VALID_FOR = {name: {"target": LABELS} for name in CLASSIFICATION}
# pooling and normalisation (issue 14): inputs of their layouts, and their settings
VALID_FOR.update({
    **{name: {"input": X.reshape(1, 1, 3, 3), "kernel_size": 2, "output_size": 2}
       for name in ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d")},
    **{name: {"input": X.reshape(1, 3, 3), "kernel_size": 2} for name in ("max_pool1d", "avg_pool1d", "dropout2d")},
    "batch_norm": {"input": X, "running_mean": np.zeros(3), "running_var": np.ones(3)},
    "layer_norm": {"input": X, "normalized_shape": 3}, "group_norm": {"input": X, "num_groups": 3},
})
VALID_SELF = {"item": np.array(2.0)}  # the tensor a method's valid call runs on, where X does not do
# A valid *args where () is not; a bad value replaces the first of them.
VARARGS = {"reshape": (9,), "permute": (1, 0), "broadcast_to": (2, 3, 3), "einsum": (X, X), "apply": (X,)}

TENSOR_PARAMS = {"tensor", "x", "a", "b", "other", "y", "data", "value", "condition", "tensors", "indices",
                 "min", "max", "operands", "log_probs", "logits", "scores", "prediction", "target"}
AXIS_PARAMS = {"axis", "axis1", "axis2", "start_axis", "end_axis", "axes"}
SIZE_PARAMS = {"shape", "repeats", "reps", "pad_width", "indices_or_sections", "n", "m", "num", "seed"}
NUMBER_PARAMS = {"start", "stop", "step", "fill_value", "constant_values", "negative_slope", "alpha", "ddof",
                 "margin", "delta", "label_smoothing", "strength"}

# The convolutions (issue 14): an input and a weight of their layouts; the bias, strides, paddings,
# dilations and groups get the bad tensors and sizes.
CONV_OPERANDS = {"conv1d": ((2, 3, 5), (4, 3, 3)), "conv2d": ((2, 3, 5, 5), (4, 3, 3, 3)),
                 "conv_transpose1d": ((2, 3, 5), (3, 4, 3)), "conv_transpose2d": ((2, 3, 5, 5), (3, 4, 3, 3))}
VALID_FOR.update({name: {"input": np.full(x, 0.1), "weight": np.full(w, 0.2)}
                  for name, (x, w) in CONV_OPERANDS.items()})
TENSOR_PARAMS |= {"input", "weight", "bias"}
SIZE_PARAMS |= {"stride", "padding", "dilation", "groups", "output_padding"}
# pooling and normalisation (issue 14)
TENSOR_PARAMS |= {"input", "running_mean", "running_var", "weight", "bias"}
SIZE_PARAMS |= {"kernel_size", "stride", "padding", "dilation", "output_size", "divisor_override", "num_groups",
                "normalized_shape"}
NUMBER_PARAMS |= {"momentum", "eps", "p"}
# activations, embedding and attention (issue 14)
VALID_FOR.update({**{name: {"input": X} for name in ("gelu", "silu", "hardtanh", "softsign", "logsigmoid")},
                  "embedding": {"input": np.array([[0, 1], [2, 0]]), "weight": X},
                  "scaled_dot_product_attention": {"query": X, "key": X, "value": X}})
TENSOR_PARAMS |= {"query", "key", "value", "attn_mask"}
SIZE_PARAMS |= {"padding_idx"}
NUMBER_PARAMS |= {"min_val", "max_val", "dropout_p", "scale"}
NUMBER_PARAMS |= {"max_norm", "norm_type"}  # embedding's (the issue 14 audit)
# complex numbers (issue 18): tg.complex's parts, angle's deg; tg.fft's functions (found in tg.fft.__all__)
VALID.update({"real": X, "imag": X / 2, "deg": False})
TENSOR_PARAMS |= {"real", "imag"}
SIZE_PARAMS |= {"s"}
NUMBER_PARAMS |= {"d"}
# PyTorch's signatures in tg.nn (the familiar pass): the losses' `input`, the pairs of the distances, the
# labels of one_hot, pad's widths; dim is an axis, beta/threshold/p numbers
VALID.update({"input": X, "x1": X, "x2": X / 2})
VALID_FOR.update({"one_hot": {"tensor": LABELS}, "pad": {"pad": (1, 1)}, "linear": {"weight": X},
                  "rms_norm": {"normalized_shape": 3}, "kl_div": {"input": np.log(X)},
                  "glu": {"input": np.ones((3, 4))}})
ALSO_NAMED.update({"BCELoss": ("binary_cross_entropy",), "SmoothL1Loss": ("smooth_l1_loss",),
                   "KLDivLoss": ("kl_div",), "relu6": ("hardtanh",), "hardsigmoid": ("hardtanh",),
                   "hardswish": ("hardtanh",)})
TENSOR_PARAMS |= {"x1", "x2", "pos_weight"}
AXIS_PARAMS |= {"dim"}
NUMBER_PARAMS |= {"beta", "threshold"}

ARRAY_CASES = {
    "int": np.arange(9).reshape(3, 3), "bool": X > 0.5, "complex": X + 1j, "nan_inf": np.array(
        [[np.nan, np.inf, -np.inf]] * 3), "empty": np.zeros((0, 3)), "0d": np.array(2.0),
    "wrong_shape": np.ones((2, 4, 5)),
}
ARGUMENT_CASES = {  # only as arguments: a Tensor cannot hold these
    **ARRAY_CASES, "object": X.astype(object), "strings": np.full((3, 3), "a"), "text": "abc", "None": None,
    "ragged": [[1.0, 2.0], [3.0]],
}
AXIS_CASES = {"5": 5, "-5": -5, "1.5": 1.5, "True": True, "str": "0", "2**63": 2**63, "repeated": (0, 0),
              "list_out_of_range": [0, 7], "array": np.array([0])}
SIZE_CASES = {"2.5": 2.5, "-1": -1, "str": "3", "True": True, "2**63": 2**63, "nan": np.nan, "tuple_float": (2.5,),
              "None": None, "pairs": ((1, 2), (3, 4), (5, 6)), "ragged": ((1, 2), (3,)), "empty": ()}
NUMBER_CASES = {"nan": np.nan, "inf": np.inf, "str": "a", "complex": 1j, "None": None, "array": np.ones(7)}
DTYPE_CASES = {"bogus": "bogus", "str": str, "object": object, "datetime": "M8[s]"}
CHOICE_CASES = {"unknown": "avg", "case": "MEAN", "None": None, "number": 1, "list": ["mean"]}
LABEL_CASES = {"too_large": np.array([0, 3, 1]), "negative": np.array([0, -1, 1]), "float": np.array([0.0, 2.0, 1.0]),
               "long": np.array([0, 1, 2, 0]), "column": LABELS.reshape(3, 1),
               "tensor_float": tg.tensor([0.0, 1.0, 2.0])}
PARAMETERS_CASES = {"None": None, "text": "abc", "empty": [], "ndarray": [X], "number": [2.0], "strings": ["ab"],
                    **{f"tensor_{case}": [tg.Tensor(array)] for case, array in ARRAY_CASES.items()},
                    "tensor": tg.tensor(X), "ragged": [tg.tensor(X), None]}
INDEX_CASES = {"float": 1.5, "out_of_range": 3, "str": "a", "too_many": (0, 0, 0), "float_array": np.array([0.5]),
               "short_mask": np.array([True, False]), "long_mask": np.array([True, False, False, False]),
               "list_out_of_range": [0, 9]}


def _public_functions():
    """(prefix, name, function) for tapegrad's public functions."""
    for name in tg.__all__:
        obj = getattr(tg, name)
        if name == "Tensor" or (callable(obj) and not inspect.isclass(obj) and name not in NOT_TENSOR_FUNCTIONS):
            yield "tg.", name, obj


def _fft_functions():  # issue 18
    """(prefix, name, function) for tg.fft's functions."""
    for name in tg.fft.__all__:
        yield "tg.fft.", name, getattr(tg.fft, name)


def _functional_functions():
    """(prefix, name, function) for the public functions defined in tapegrad.nn.functional (the ones
    takes from elsewhere are covered where they are defined)."""
    for name, obj in vars(F).items():
        if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == F.__name__:
            yield "F.", name, obj


def _loss_modules():
    """(prefix, name, function) for the loss modules of tapegrad.nn: the function builds the module
    from its settings (keyword arguments) and calls it on the rest."""
    for name in nn.__all__:
        cls = getattr(nn, name)
        if inspect.isclass(cls) and issubclass(cls, _Loss):
            settings = list(inspect.signature(cls.__init__).parameters.values())[1:]
            inputs = list(inspect.signature(cls.forward).parameters.values())[1:]

            def build_and_call(*args, _cls=cls, _settings=tuple(p.name for p in settings), **kwargs):
                return _cls(**{k: kwargs.pop(k) for k in _settings if k in kwargs})(*args, **kwargs)

            build_and_call.__signature__ = inspect.Signature(
                inputs + [p.replace(kind=p.KEYWORD_ONLY) for p in settings])
            yield "nn.", name, build_and_call


def _public_methods():
    for name in sorted(set(dir(tg.Tensor))):
        obj = inspect.getattr_static(tg.Tensor, name)
        if isinstance(obj, staticmethod) or not inspect.isfunction(obj):
            continue
        if (not name.startswith("_") and name not in NOT_TENSOR_METHODS) or name in OPERATORS:
            yield name, obj


def _parameters(name, fn, method):
    """The parameters of ``fn``, and whether it is a Tensor method made a function (``tg.exp(x)`` is
    ``x.exp()``): such a function takes that method's parameters."""
    params = list(inspect.signature(fn).parameters.values())
    kinds = [p.kind for p in params]
    if not method and kinds[-2:] == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD] \
            and hasattr(tg.Tensor, name):
        return params[:1] + list(inspect.signature(getattr(tg.Tensor, name)).parameters.values())[1:], True
    return params, False


def _cases():
    """(id, name, call) for every callable, its valid call ("valid") and each bad value of each parameter."""
    functions = [*_public_functions(), *_functional_functions(), *_loss_modules(), *_fft_functions()]
    for method, prefix, name, fn in [(False, *f) for f in functions] + [
            (True, "Tensor.", *m) for m in _public_methods()]:
        valid = {**VALID, **VALID_FOR.get(name, {}), **next(
            (VALID_FOR[n] for n in ALSO_NAMED.get(name, ()) if n in VALID_FOR), {})}
        params, wraps_method = _parameters(name, fn, method)
        args, kwargs, slots, typed = [], {}, [], {}
        for p in params[1:] if method else params:
            typed[p.name] = p.annotation
            if p.kind is p.VAR_KEYWORD:
                continue
            if p.kind is p.VAR_POSITIONAL:
                slots.append((p.name, ("varargs", len(args))))
                args.extend(VARARGS.get(name, ()))
                continue
            if p.default is p.empty:
                if p.name not in valid:
                    raise AssertionError(f"{name}: add a valid value for its parameter {p.name!r} to VALID")
                value = valid[p.name]
                if p.kind is p.KEYWORD_ONLY:
                    kwargs[p.name] = value
                else:
                    args.append(value)
                slots.append((p.name, "keyword" if p.kind is p.KEYWORD_ONLY else len(args) - 1))
            else:
                slots.append((p.name, "keyword"))
        prefix += name
        yield f"{prefix}-valid", name, _call(fn, method, VALID_SELF.get(name, X), args, kwargs, name)
        if method:
            for case, array in ARRAY_CASES.items():
                yield f"{prefix}-self={case}", name, _call(fn, method, array, args, kwargs, name)
        # A function made from a method passes its other arguments on: the method's cases cover them.
        for pname, slot in slots[:1] if wraps_method else slots:
            for table in _tables_for(pname, name, typed.get(pname), valid.get(pname)):
                for case, bad in table.items():
                    new_args, new_kwargs = list(args), dict(kwargs)
                    if isinstance(slot, tuple):  # *args: the first of them
                        first = slot[1]
                        new_args = [*args[:first], bad, *args[first + 1:]]
                    elif slot == "keyword":
                        new_kwargs[pname] = bad
                    else:
                        new_args[slot] = bad
                    yield (f"{prefix}-{pname}={case}", name,
                           _call(fn, method, X, new_args, new_kwargs, name))


def _tables_for(pname, name, annotation=None, valid=None):
    if valid is LABELS:
        return [ARGUMENT_CASES, LABEL_CASES]
    if pname in ("reduction", "norm"):  # norm: tg.fft's (issue 18)
        return [CHOICE_CASES]
    if pname == "parameters":
        return [PARAMETERS_CASES]
    if pname in TENSOR_PARAMS:
        if annotation in ("Tensor", tg.Tensor):  # typed to take Tensors only: bad data in a Tensor, and non-Tensors
            return [{**{case: tg.Tensor(array) for case, array in ARRAY_CASES.items()},
                     "ndarray": X, "None": None, "text": "abc"}]
        return [ARGUMENT_CASES]
    if pname in AXIS_PARAMS:
        return [AXIS_CASES]
    if pname in SIZE_PARAMS:
        return [SIZE_CASES]
    if pname in NUMBER_PARAMS:
        return [NUMBER_CASES]
    if pname == "dtype":
        return [DTYPE_CASES]
    if pname == "index":
        return [INDEX_CASES]
    return []


def _call(fn, method, self_data, args, kwargs, name):
    in_place = name.startswith("__i") or name.endswith("_") or name == "__setitem__"

    def call():
        if method:
            self_array = np.array(self_data, copy=True)
            self = tg.Tensor(self_array, requires_grad=self_array.dtype.kind == "f" and not in_place)
            return fn(self, *args, **kwargs)
        return fn(*args, **kwargs)

    return call


CASES = list(_cases())

# Cases whose fix belongs to a file this part of issue 11 does not own: each asserts today's outcome (an
# exception type), so it fails once fixed and must then leave this dict.
NON_NUMERIC_RESULT = "a result of dtype object or str"
_APPLY = ("tensor.py: apply/apply_unary/apply_binary return a Tensor of dtype object or str when NumPy computes one "
          "from an object or string operand; checking out.dtype.kind there (not in 'biufc': DTypeError naming the "
          "primitive) fixes all of these")
KNOWN_ELSEWHERE: dict[str, tuple[type | str, str]] = {}


def _outcome_of(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN in, NaN out (with NumPy's warning) is fine
        warnings.simplefilter("error", np.exceptions.ComplexWarning)  # a discarded imaginary part is not
        try:
            return call(), None
        except Exception as exc:  # noqa: BLE001 (the point is to see every kind)
            return None, exc


@pytest.fixture
def global_state_kept(monkeypatch):
    """The default dtype and the random generator as they were before the case (set_default_dtype and
    manual_seed are among the functions tried)."""
    monkeypatch.setattr(tg.ops.random, "_generator", tg.ops.random._generator)
    dtype = tg.get_default_dtype()
    yield
    tg.set_default_dtype(dtype)


@pytest.mark.parametrize("case_id, name, call", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_a_result_or_a_named_error(case_id, name, call, global_state_kept):
    result, exc = _outcome_of(call)
    if case_id in KNOWN_ELSEWHERE:
        expected, reason = KNOWN_ELSEWHERE[case_id]
        if expected == NON_NUMERIC_RESULT:
            still = exc is None and result.dtype.kind not in "biufc"
        else:
            still = type(exc) is expected
        assert still, f"{case_id} now gives {exc or result!r}: fixed ({reason})? Remove it from KNOWN_ELSEWHERE"
        return
    if case_id.endswith("-valid"):
        assert exc is None, f"{case_id}: the valid call failed: {exc!r}"
    if exc is not None:
        assert isinstance(exc, tg.TapegradError), f"{case_id}: a bare {type(exc).__name__}: {exc}"
        names = (name.strip("_"),) + ALSO_NAMED.get(name, ())
        assert any(n in str(exc) for n in names), f"{case_id}: the message does not name {names}: {exc}"
        return
    for value in result if isinstance(result, (list, tuple)) else [result]:
        if isinstance(value, tg.Tensor):
            assert value.dtype.kind in "biufc", f"{case_id}: a result of dtype {value.dtype}"


def test_the_table_covers_every_public_function_and_method():
    covered = {case_id.split("-", 1)[0] for case_id, _, _ in CASES}
    for name in tg.__all__:
        obj = getattr(tg, name)
        if callable(obj) and not inspect.isclass(obj) or name == "Tensor":
            assert (f"tg.{name}" in covered) != (name in NOT_TENSOR_FUNCTIONS), name
    for name, obj in vars(F).items():  # its own functions
        if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == F.__name__:
            assert f"F.{name}" in covered, name
    for name in ("relu", "softmax", "log_softmax", "sigmoid", "tanh"):  # PyTorch's signatures (dim, not axis)
        assert f"F.{name}" in covered and f"tg.{name}" in covered
    for name in nn.__all__:
        obj = getattr(nn, name)
        if inspect.isclass(obj) and issubclass(obj, _Loss):
            assert f"nn.{name}" in covered, name
    for name in ("cross_entropy", "l2_penalty", "huber_loss"):
        assert f"F.{name}" in covered
    assert {"nn.CrossEntropyLoss", "nn.MSELoss", "nn.HuberLoss"} <= covered
    for name in NOT_TENSOR_FUNCTIONS:
        assert name in tg.__all__, f"{name} is excluded but not public: remove it from NOT_TENSOR_FUNCTIONS"
    for name in ("sum", "reshape", "__getitem__", "__setitem__", "__add__", "item", "astype"):
        assert f"Tensor.{name}" in covered
    for name in NOT_TENSOR_METHODS:
        assert hasattr(tg.Tensor, name)
    ids = {case_id for case_id, _, _ in CASES}
    assert not set(KNOWN_ELSEWHERE) - ids, f"stale KNOWN_ELSEWHERE entries: {set(KNOWN_ELSEWHERE) - ids}"
    assert len(ids) == len(CASES)  # one test id per case

"""tg.nn and tg.nn.functional take PyTorch's arguments: the same parameter names, order and defaults as
torch.nn / torch.nn.functional (part a, for every name both have, so that a future mismatch fails here),
and the functions and modules changed or added to get there compute PyTorch's values and gradients
(part b: float64 to 1e-10, float32 to 1e-5)."""

from __future__ import annotations

import inspect
import math
import re
import warnings

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import tapegrad as tg
from tapegrad import nn
from tapegrad.errors import ArgumentError, DTypeError, ShapeError
from tapegrad.nn import functional as F

rng = np.random.default_rng(2026)
EMPTY = inspect.Parameter.empty

# -- part a: signatures ------------------------------------------------------------------------------

# PyTorch callables whose signature inspect cannot read (C functions, boolean dispatch, *args
# overloads): the documented one, as (name, default) pairs.
_RNN = [("input_size", EMPTY), ("hidden_size", EMPTY), ("num_layers", 1), ("bias", True), ("batch_first", False),
        ("dropout", 0.0), ("bidirectional", False), ("proj_size", 0), ("device", None), ("dtype", None)]
_MAX_POOL = [("input", EMPTY), ("kernel_size", EMPTY), ("stride", None), ("padding", 0), ("dilation", 1),
             ("ceil_mode", False), ("return_indices", False)]
TORCH_SIGNATURES = {
    "F.max_pool1d": _MAX_POOL, "F.max_pool2d": _MAX_POOL,
    "F.adaptive_max_pool2d": [("input", EMPTY), ("output_size", EMPTY), ("return_indices", False)],
    "nn.LSTM": _RNN, "nn.GRU": [p for p in _RNN if p[0] != "proj_size"],
    "nn.RNN": [p for p in _RNN[:3] if p[0] != "proj_size"] + [("nonlinearity", "tanh")]
    + [p for p in _RNN[3:] if p[0] != "proj_size"],
}

# Deliberate differences, each with its reason: (name, parameter) -> reason.
ALLOWED = {
    # PyTorch's default is the function F.relu; tapegrad's is its name, which means the same activation
    # (and also takes "gelu" or a callable, as PyTorch does).
    ("nn.TransformerEncoderLayer", "activation"): "default 'relu' (a name) for PyTorch's F.relu",
}
# tapegrad's own names, with no PyTorch namesake: not compared.
TAPEGRAD_ONLY = {"F.svm_loss", "F.l2_penalty", "nn.SVMLoss", "nn.Maxout", "nn.MLP", "nn.StateDictError",
                 "nn.Parameter"}  # nn.Parameter: PyTorch's is a Tensor subclass made by __new__


def _documented(fn):
    """The signature in the first lines of a C function's docstring: ``name(a, b=1, *, c=None) -> ...``."""
    doc = " ".join(line.strip() for line in (fn.__doc__ or "").strip().splitlines()[:4])
    match = re.match(r"[\w.]+\((.*?)\)\s*->", doc)
    assert match, f"no signature in the docstring of {fn}"
    params = []
    for part in (p.strip() for p in match.group(1).split(",")):
        if part and part != "*":
            name, _, default = part.partition("=")
            params.append((name.strip(), eval(default, {"inf": math.inf}) if default else EMPTY))  # noqa: S307
    return params


def _torch_parameters(key, fn):
    if key in TORCH_SIGNATURES:
        return TORCH_SIGNATURES[key]
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (ValueError, TypeError):
        return _documented(fn)
    return [(p.name, p.default) for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL,
                                                                                      p.VAR_KEYWORD)]


def _our_parameters(fn):
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _pairs():
    for name, obj in vars(F).items():
        if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == F.__name__:
            if f"F.{name}" not in TAPEGRAD_ONLY and hasattr(TF, name):
                yield f"F.{name}", obj, getattr(TF, name)
    for name in nn.__all__:
        obj = getattr(nn, name)
        if inspect.isclass(obj) and f"nn.{name}" not in TAPEGRAD_ONLY and hasattr(tnn, name):
            yield f"nn.{name}", obj.__init__, getattr(tnn, name).__init__


PAIRS = list(_pairs())


def _same_default(ours, theirs):
    if ours is EMPTY or theirs is EMPTY:
        return ours is theirs
    if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
        return float(ours) == float(theirs) and isinstance(ours, bool) == isinstance(theirs, bool)
    return ours == theirs


@pytest.mark.parametrize("key, ours, theirs", PAIRS, ids=[p[0] for p in PAIRS])
def test_parameter_names_order_and_defaults_are_pytorchs(key, ours, theirs):
    mine, torch_params = _our_parameters(ours), _torch_parameters(key, theirs)
    names = [n for n, _ in mine]
    # every parameter PyTorch has, in PyTorch's positions (so that a positional call means the same) ...
    assert names[:len(torch_params)] == [n for n, _ in torch_params], (
        f"{key}: ours {names}, PyTorch's {[n for n, _ in torch_params]}")
    # ... with PyTorch's default ...
    for (name, default), (_, theirs_default) in zip(mine, torch_params):
        if (key, name) in ALLOWED:
            continue
        assert _same_default(default, theirs_default), f"{key}: {name}={default!r}, PyTorch's {theirs_default!r}"
    # ... and nothing more (an extra parameter would take a later positional argument of PyTorch code)
    assert names == [n for n, _ in torch_params], f"{key}: extra parameters {names[len(torch_params):]}"


def test_the_comparison_covers_the_modules_and_functions_of_the_issue():
    keys = {key for key, _, _ in PAIRS}
    assert {"nn.ReLU", "nn.Softmax", "nn.LogSoftmax", "nn.Softplus", "nn.Dropout", "nn.Linear", "nn.Flatten",
            "nn.CrossEntropyLoss", "nn.BatchNorm2d", "nn.Conv2d", "nn.LSTM", "nn.TransformerEncoderLayer",
            "F.softmax", "F.log_softmax", "F.dropout", "F.linear", "F.softplus", "F.leaky_relu", "F.elu", "F.relu",
            "F.cross_entropy", "F.one_hot", "F.pad", "F.normalize", "F.cosine_similarity",
            "F.binary_cross_entropy", "F.scaled_dot_product_attention", "F.max_pool2d"} <= keys
    for key in TAPEGRAD_ONLY:  # still there (else: remove it from the list)
        assert hasattr(F if key.startswith("F.") else nn, key.split(".", 1)[1]), key


@pytest.mark.parametrize("call", [
    lambda: nn.ReLU(inplace=True), lambda: nn.Softmax(dim=1), lambda: nn.Softplus(beta=2),
    lambda: nn.Dropout(0.1, inplace=False), lambda: nn.Dropout(p=1.0), lambda: nn.LeakyReLU(0.2, True),
    lambda: nn.ELU(1.0, True), lambda: nn.SiLU(inplace=True), lambda: nn.Hardtanh(-2, 2, True),
    lambda: nn.Identity(54, unused_argument=0.1), lambda: nn.Flatten(start_dim=0, end_dim=-1),
    lambda: nn.Linear(3, 4, True, None, np.float64), lambda: nn.CrossEntropyLoss(ignore_index=0),
    lambda: nn.BatchNorm1d(3, bias=False), lambda: nn.GroupNorm(1, 3, bias=False),
])
def test_the_constructors_of_the_issue_take_pytorchs_arguments(call):
    call()


def test_the_functional_calls_of_the_issue_run_unchanged():
    x = tg.tensor(rng.standard_normal((4, 3)))
    w, b = tg.tensor(rng.standard_normal((5, 3))), tg.tensor(rng.standard_normal(5))
    for out in (F.softmax(x, dim=-1), F.log_softmax(x, dim=1), F.dropout(x, 0.1, training=True),
                F.linear(x, w, b), F.softplus(x, 2.0, 10.0), F.leaky_relu(x, 0.2, inplace=False), F.elu(x, 0.5),
                F.relu(x, inplace=False)):
        assert isinstance(out, tg.Tensor)
    assert nn.Softmax(dim=1).dim == 1 and nn.Flatten().start_dim == 1


# -- part b: values and gradients against PyTorch -----------------------------------------------------

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}


def _close(ours, theirs, tol, what):
    """Equal to ``tol`` relative, entries near 0 to ``tol`` times the largest magnitude (a float32 softmax
    gradient cancels terms, so its small entries carry the rounding of its large ones)."""
    scale = float(np.max(np.abs(theirs), initial=0.0))
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * scale, err_msg=what)


def _both(ours, theirs, arrays, dtype=np.float64, constants=(), grad_tol=None):
    """Runs ``ours`` on tapegrad tensors and ``theirs`` on torch tensors of the same ``arrays`` (floating
    ones in ``dtype``, taking gradients unless their position is in ``constants``); compares the outputs
    and the gradients of a random weighted sum."""
    tol = TOLERANCE[dtype]
    tg_args, torch_args = [], []
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        if a.dtype.kind == "f":
            a = a.astype(dtype)
            tg_args.append(tg.tensor(a, requires_grad=i not in constants))
            torch_args.append(torch.tensor(a, requires_grad=i not in constants))
        else:
            tg_args.append(tg.tensor(a))
            torch_args.append(torch.tensor(a))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out, expected = ours(*tg_args), theirs(*torch_args)
    assert out.dtype == expected.detach().numpy().dtype, (out.dtype, expected.dtype)
    _close(out.numpy(), expected.detach().numpy(), tol, "values")
    if out.dtype.kind != "f" or not any(t.requires_grad for t in torch_args):
        return
    cotangent = rng.standard_normal(out.shape).astype(dtype)
    (out * tg.tensor(cotangent)).sum().backward()
    (expected * torch.tensor(cotangent)).sum().backward()
    for i, (ours_t, torch_t) in enumerate(zip(tg_args, torch_args)):
        if torch_t.requires_grad:
            theirs_grad = torch_t.grad if torch_t.grad is not None else torch.zeros_like(torch_t)
            ours_grad = ours_t.grad.numpy() if ours_t.grad is not None else np.zeros(ours_t.shape, dtype)
            _close(ours_grad, theirs_grad.numpy(), grad_tol or tol, f"gradient of argument {i}")


DTYPES = [np.float64, np.float32]
X = rng.standard_normal((4, 6)) * 3  # away from the kinks (checked below)
assert np.min(np.abs(np.concatenate([X.ravel(), X.ravel() - 3, X.ravel() + 3]))) > 1e-3

ACTIVATIONS = {
    "relu": (lambda x: F.relu(x, inplace=True), lambda x: TF.relu(x * 1)),
    "relu6": (lambda x: F.relu6(x * 2, False), lambda x: TF.relu6(x * 2)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2, True), lambda x: TF.leaky_relu(x * 1, 0.2)),
    "elu": (lambda x: F.elu(x, 0.7, inplace=True), lambda x: TF.elu(x * 1, 0.7)),
    "selu": (lambda x: F.selu(x), lambda x: TF.selu(x)),
    "celu": (lambda x: F.celu(x, 0.6), lambda x: TF.celu(x, 0.6)),
    "sigmoid": (F.sigmoid, torch.sigmoid), "tanh": (F.tanh, torch.tanh),
    "hardsigmoid": (F.hardsigmoid, TF.hardsigmoid), "hardswish": (F.hardswish, TF.hardswish),
    "mish": (F.mish, TF.mish), "silu": (lambda x: F.silu(x, inplace=True), TF.silu),
    "hardtanh": (lambda x: F.hardtanh(x, -2.0, 2.5, True), lambda x: TF.hardtanh(x, -2.0, 2.5)),
    "softplus": (F.softplus, TF.softplus),
    "softplus beta threshold": (lambda x: F.softplus(x, 2.0, 3.0), lambda x: TF.softplus(x, 2.0, 3.0)),
    "softplus negative beta": (lambda x: F.softplus(x, beta=-0.5), lambda x: TF.softplus(x, beta=-0.5)),
    "softmax": (lambda x: F.softmax(x, dim=0), lambda x: TF.softmax(x, dim=0)),
    "log_softmax": (lambda x: F.log_softmax(x, 1), lambda x: TF.log_softmax(x, 1)),
    "softmin": (lambda x: F.softmin(x, dim=-1), lambda x: TF.softmin(x, dim=-1)),
    "softmax implicit dim": (F.softmax, TF.softmax),
    "glu": (lambda x: F.glu(x), TF.glu), "glu dim 0": (lambda x: F.glu(x, 0), lambda x: TF.glu(x, 0)),
    "normalize": (F.normalize, TF.normalize),
    "normalize p=1 dim 0": (lambda x: F.normalize(x, 1, 0), lambda x: TF.normalize(x, 1, 0)),
    "normalize p=3": (lambda x: F.normalize(x, p=3.0), lambda x: TF.normalize(x, p=3.0)),
    "normalize p=inf": (lambda x: F.normalize(x, p=math.inf), lambda x: TF.normalize(x, p=math.inf)),
    "rms_norm": (lambda x: F.rms_norm(x, (6,)), lambda x: TF.rms_norm(x, (6,))),
    "dropout not training": (lambda x: F.dropout(x, 0.3, False), lambda x: TF.dropout(x, 0.3, False)),
    "dropout p=1": (lambda x: F.dropout(x, 1.0), lambda x: TF.dropout(x, 1.0)),
    "dropout p=0": (lambda x: F.dropout(x, 0.0, True, True), lambda x: TF.dropout(x, 0.0)),
    "pad constant": (lambda x: F.pad(x, (1, 2)), lambda x: TF.pad(x, (1, 2))),
    "pad value, two axes, crop": (lambda x: F.pad(x, (1, -2, -1, 3), value=0.5),
                                  lambda x: TF.pad(x, (1, -2, -1, 3), value=0.5)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activations_and_elementwise_functions_match_pytorch(name, dtype):
    ours, theirs = ACTIVATIONS[name]
    # PyTorch's float64 celu and hardsigmoid gradients use float32 constants (1/6, 1/alpha): 3e-7 off the
    # exact derivative, which ours is (checked below)
    _both(ours, theirs, [X], dtype, grad_tol=1e-6 if name in ("celu", "hardsigmoid") and dtype == np.float64 else None)


def test_celu_and_hardsigmoid_gradients_are_exact_in_float64():
    x = tg.tensor(X, requires_grad=True)
    F.celu(x, 0.6).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(X > 0, 1.0, np.exp(X / 0.6)), rtol=1e-12)
    x = tg.tensor(X, requires_grad=True)
    F.hardsigmoid(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(np.abs(X) < 3, 1 / 6, 0.0), rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_softplus_is_pytorchs_formula_above_the_threshold(dtype):
    x = np.array([-800.0, -30.0, 0.5, 19.99, 20.0, 20.01, 25.0, 800.0])
    _both(F.softplus, TF.softplus, [x], dtype)
    _both(lambda t: F.softplus(t, 0.5, 5.0), lambda t: TF.softplus(t, 0.5, 5.0), [x], dtype)
    out = F.softplus(tg.tensor(x, requires_grad=True)).numpy()
    assert out[-1] == 800.0 and out[-2] == 25.0 and out[-3] == 20.01  # x itself above the threshold
    _both(lambda t: nn.Softplus(beta=2, threshold=4)(t), lambda t: tnn.Softplus(beta=2, threshold=4)(t), [x], dtype)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_pad_modes_match_pytorch(mode, dtype):
    x = rng.standard_normal((2, 3, 5, 6))
    for widths, data in [((2, 1), x[0]), ((1, 3, 2, 0), x), ((0, 0, 4, 4), x), ((1, 2, 0, 3, 1, 1), x)]:
        _both(lambda t: F.pad(t, widths, mode), lambda t: TF.pad(t, widths, mode), [data], dtype)
    with pytest.raises(ShapeError, match="pad: widths"):
        F.pad(tg.tensor(x), (6, 0), "reflect")
    with pytest.raises(ArgumentError, match="pad: value=1.0 with mode="):
        F.pad(tg.tensor(x), (1, 1), mode, 1.0)


def test_softmax_dtype_dim_none_and_bad_dims():
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    _both(lambda t: F.softmax(t, 1, dtype=np.float64), lambda t: TF.softmax(t, 1, dtype=torch.float64), [x],
          np.float32)
    _both(lambda t: F.log_softmax(t, -1, dtype="float64"), lambda t: TF.log_softmax(t, -1, dtype=torch.float64),
          [x], np.float32)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        implicit = F.softmax(tg.tensor(x))  # 3-D: PyTorch takes dim 0
    np.testing.assert_allclose(implicit.numpy(), TF.softmax(torch.tensor(x), 0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(F.softmax(tg.tensor(2.5), 0).numpy(), 1.0)
    with pytest.raises(ShapeError, match=r"softmax: dim=3 is out of range"):
        F.softmax(tg.tensor(x), dim=3)
    with pytest.raises(ArgumentError, match="log_softmax: dim must be an integer"):
        F.log_softmax(tg.tensor(x), dim=1.0)
    with pytest.raises(DTypeError, match="softmax: input of dtype int64"):
        F.softmax(tg.tensor(np.arange(3)), 0)
    np.testing.assert_allclose(F.softmax(tg.tensor(np.arange(3)), 0, dtype=np.float64).numpy(),
                               TF.softmax(torch.arange(3), 0, dtype=torch.float64).numpy(), rtol=1e-12)
    with pytest.raises(DTypeError, match="softmin: dtype=int32"):
        F.softmin(tg.tensor(x), 0, dtype=np.int32)


@pytest.mark.parametrize("module, theirs", [
    (lambda: nn.Softmax(dim=1), lambda: tnn.Softmax(dim=1)), (lambda: nn.LogSoftmax(0), lambda: tnn.LogSoftmax(0)),
    (lambda: nn.Softmin(-1), lambda: tnn.Softmin(-1)), (lambda: nn.Softmax2d(), lambda: tnn.Softmax2d()),
    (lambda: nn.ReLU(inplace=True), lambda: tnn.ReLU()), (lambda: nn.ReLU6(), lambda: tnn.ReLU6()),
    (lambda: nn.SELU(), lambda: tnn.SELU()), (lambda: nn.CELU(0.5), lambda: tnn.CELU(0.5)),
    (lambda: nn.Mish(), lambda: tnn.Mish()), (lambda: nn.Hardsigmoid(), lambda: tnn.Hardsigmoid()),
    (lambda: nn.Hardswish(), lambda: tnn.Hardswish()), (lambda: nn.GLU(1), lambda: tnn.GLU(1)),
    (lambda: nn.LeakyReLU(0.3, inplace=True), lambda: tnn.LeakyReLU(0.3)),
    (lambda: nn.ELU(0.4, inplace=True), lambda: tnn.ELU(0.4)),
    (lambda: nn.Hardtanh(min_value=-0.5), lambda: tnn.Hardtanh(min_value=-0.5)),
    (lambda: nn.Flatten(0, 1), lambda: tnn.Flatten(0, 1)), (lambda: nn.Unflatten(1, (2, -1)),
                                                              lambda: tnn.Unflatten(1, (2, -1))),
    (lambda: nn.Dropout(1.0), lambda: tnn.Dropout(1.0)), (lambda: nn.Identity(3), lambda: tnn.Identity(3)),
    (lambda: nn.RMSNorm([3, 4]), lambda: tnn.RMSNorm([3, 4])),
    (lambda: nn.RMSNorm(4, eps=1e-3, elementwise_affine=False), lambda: tnn.RMSNorm(4, eps=1e-3,
                                                                                    elementwise_affine=False)),
])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_modules_match_pytorch(module, theirs, dtype):
    x = rng.standard_normal((2, 4, 3, 4)) * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ours_module, torch_module = module(), theirs()
    inexact = isinstance(ours_module, (nn.CELU, nn.Hardsigmoid)) and dtype == np.float64  # see the activations
    _both(ours_module, torch_module, [x], dtype, grad_tol=1e-6 if inexact else None)


def test_module_attributes_and_state_are_pytorchs():
    assert nn.Softmax(dim=2).dim == 2 and nn.LogSoftmax().dim is None
    assert (nn.Softplus(2, 5).beta, nn.Softplus(2, 5).threshold) == (2, 5)
    assert nn.ReLU(True).inplace and nn.Dropout(0.2, True).inplace and nn.Dropout().p == 0.5
    assert (nn.Flatten().start_dim, nn.Flatten().end_dim) == (1, -1)
    assert nn.BatchNorm2d(3, bias=False).bias is None and nn.BatchNorm2d(3, bias=False).weight is not None
    assert nn.GroupNorm(1, 3, bias=False).bias is None
    assert set(nn.CrossEntropyLoss(weight=np.ones(3)).state_dict()) == {"weight"}
    assert set(tnn.CrossEntropyLoss(weight=torch.ones(3)).state_dict()) == {"weight"}
    assert set(nn.BCEWithLogitsLoss(pos_weight=np.ones(3)).state_dict()) == {"pos_weight"}
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64
    assert nn.PReLU(2, 0.1, None, np.float64).weight.dtype == np.float64
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)" and repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"


def test_inplace_is_accepted_and_leaves_the_input_unchanged():
    x = tg.tensor(np.array([-1.0, 2.0]), requires_grad=True)
    y = F.relu(x, inplace=True)
    assert x.tolist() == [-1.0, 2.0] and y.tolist() == [0.0, 2.0]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0]
    assert nn.ReLU(inplace=True)(x).tolist() == [0.0, 2.0] and x.tolist() == [-1.0, 2.0]


def test_dropout_takes_p_from_0_to_1_and_scales_as_pytorch():
    tg.manual_seed(0)
    x = tg.ones(20000, dtype=np.float64, requires_grad=True)
    y = F.dropout(x, 0.25)
    values = set(np.unique(y.numpy()).tolist())
    assert values == {0.0, 4 / 3} and abs((y.numpy() == 0).mean() - 0.25) < 0.02
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())  # the gradient is the mask times the scale
    assert np.all(F.dropout(x, 1.0).numpy() == 0) and F.dropout(x, 0.5, training=False) is x
    drop = nn.Dropout(p=1.0)
    assert np.all(drop(x).numpy() == 0) and drop.eval()(x) is x
    for bad in (-0.1, 1.5, np.nan):
        with pytest.raises(ArgumentError, match="dropout: p="):
            F.dropout(x, bad)
        with pytest.raises(ArgumentError, match="Dropout: p="):
            nn.Dropout(bad)
    assert F.dropout(tg.ones(3, dtype=np.float32), 0.5).dtype == np.float32


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_linear_matches_pytorch_and_names_itself(dtype):
    x, w, b = rng.standard_normal((2, 5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    _both(F.linear, TF.linear, [x, w, b], dtype)
    _both(lambda t, u: F.linear(t, u), lambda t, u: TF.linear(t, u), [x, w], dtype)
    _both(lambda t, u: F.linear(t, u), lambda t, u: TF.linear(t, u), [x, w[0]], dtype)  # 1-D weight
    with pytest.raises(ShapeError, match=r"linear: input of shape \(2, 5, 3\) has 3 features .* expects 4"):
        F.linear(tg.tensor(x), tg.tensor(rng.standard_normal((2, 4))))
    with pytest.raises(ShapeError, match=r"linear: bias of shape \(3,\)"):
        F.linear(tg.tensor(x), tg.tensor(w), tg.tensor(np.ones(3)))
    with pytest.raises(DTypeError, match="linear: input of dtype int64"):
        F.linear(tg.tensor(np.ones((2, 3), np.int64)), tg.tensor(w))
    layer = nn.Linear(3, 4, dtype=dtype)
    torch_layer = tnn.Linear(3, 4, dtype=torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        torch_layer.weight.copy_(torch.tensor(layer.weight.numpy()))
        torch_layer.bias.copy_(torch.tensor(layer.bias.numpy()))
    np.testing.assert_allclose(layer(tg.tensor(x.astype(dtype))).numpy(),
                               torch_layer(torch.tensor(x.astype(dtype))).detach().numpy(), rtol=TOLERANCE[dtype])


def test_one_hot_matches_pytorch():
    labels = np.array([[0, 3], [2, 1]])
    np.testing.assert_array_equal(F.one_hot(tg.tensor(labels)).numpy(), TF.one_hot(torch.tensor(labels)).numpy())
    np.testing.assert_array_equal(F.one_hot(labels, 6).numpy(), TF.one_hot(torch.tensor(labels), 6).numpy())
    assert F.one_hot(labels).dtype == np.int64
    with pytest.raises(ShapeError, match=r"one_hot: labels must lie in \[0, 3\), got values from 0 to 3"):
        F.one_hot(labels, 3)
    with pytest.raises(ShapeError, match="one_hot: labels must lie in .* from -1"):
        F.one_hot(np.array([-1, 0]))
    with pytest.raises(DTypeError, match="one_hot: tensor of dtype float64"):
        F.one_hot(np.array([0.0, 1.0]))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_distances_match_pytorch(dtype):
    a, b = rng.standard_normal((4, 5, 3)), rng.standard_normal((5, 3))
    _both(F.cosine_similarity, TF.cosine_similarity, [a, b], dtype)
    _both(lambda s, t: F.cosine_similarity(s, t, dim=-1, eps=1e-6),
          lambda s, t: TF.cosine_similarity(s, t, dim=-1, eps=1e-6), [a, b], dtype)
    _both(lambda s, t: nn.CosineSimilarity(0)(s, t), lambda s, t: tnn.CosineSimilarity(0)(s, t), [a, a[::-1]],
          dtype)
    _both(F.pairwise_distance, TF.pairwise_distance, [a, b], dtype)
    for p, keepdim in [(1.0, True), (3.0, False), (math.inf, False)]:
        _both(lambda s, t: F.pairwise_distance(s, t, p, 1e-3, keepdim),
              lambda s, t: TF.pairwise_distance(s, t, p, 1e-3, keepdim), [a, b], dtype)
    _both(lambda s, t: nn.PairwiseDistance(1.5)(s, t), lambda s, t: tnn.PairwiseDistance(1.5)(s, t), [a, b], dtype)
    zero = np.zeros((2, 3))  # a zero vector: the norm's gradient is 0 there, not NaN (eps divides)
    _both(F.normalize, TF.normalize, [zero], dtype)
    _both(lambda s, t: F.pairwise_distance(s, t, eps=0.0), lambda s, t: TF.pairwise_distance(s, t, eps=0.0),
          [zero, zero], dtype)


def test_scaled_dot_product_attention_with_grouped_query_heads_matches_pytorch():
    q, k, v = rng.standard_normal((2, 6, 5, 4)), rng.standard_normal((2, 2, 7, 4)), rng.standard_normal((2, 2, 7, 3))
    _both(lambda *t: F.scaled_dot_product_attention(*t, enable_gqa=True),
          lambda *t: TF.scaled_dot_product_attention(*t, enable_gqa=True), [q, k, v])
    with pytest.raises(ShapeError, match="scaled_dot_product_attention: .* enable_gqa"):
        F.scaled_dot_product_attention(tg.tensor(q), tg.tensor(k[:, :1].repeat(4, 1)), tg.tensor(v[:, :1].repeat(4, 1)),
                                       enable_gqa=True)


# -- losses ------------------------------------------------------------------------------------------------

SCORES, LABELS = rng.standard_normal((6, 4)), np.array([0, 3, 1, 3, 2, 0])
WEIGHT = np.array([0.5, 2.0, 1.0, 1.5])
IGNORED = np.array([0, -100, 1, 3, -100, 0])


def _labels_loss(ours, theirs, scores, labels, dtype, weight=None):
    arrays = [scores, labels] + ([weight] if weight is not None else [])
    _both(ours, theirs, arrays, dtype, constants=(2,))


CLASS_LOSSES = {
    "cross_entropy weight": (lambda s, y, w: F.cross_entropy(s, y, w), lambda s, y, w: TF.cross_entropy(s, y, w)),
    "cross_entropy ignore_index": (lambda s, y: F.cross_entropy(s, y, ignore_index=-100),
                                   lambda s, y: TF.cross_entropy(s, y, ignore_index=-100)),
    "cross_entropy weight ignore smoothing": (
        lambda s, y, w: F.cross_entropy(s, y, w, None, -100, None, "mean", 0.2),
        lambda s, y, w: TF.cross_entropy(s, y, w, None, -100, None, "mean", 0.2)),
    "cross_entropy ignore smoothing sum": (
        lambda s, y: F.cross_entropy(s, y, reduction="sum", label_smoothing=0.3),
        lambda s, y: TF.cross_entropy(s, y, reduction="sum", label_smoothing=0.3)),
    "cross_entropy weight smoothing none": (
        lambda s, y, w: F.cross_entropy(s, y, w, reduction="none", label_smoothing=0.1),
        lambda s, y, w: TF.cross_entropy(s, y, w, reduction="none", label_smoothing=0.1)),
    "cross_entropy ignore smoothing mean": (
        lambda s, y: F.cross_entropy(s, y, label_smoothing=0.4),
        lambda s, y: TF.cross_entropy(s, y, label_smoothing=0.4)),
    "nll_loss weight ignore": (lambda s, y, w: F.nll_loss(s, y, w, ignore_index=3),
                               lambda s, y, w: TF.nll_loss(s, y, w, ignore_index=3)),
    "nll_loss legacy sum": (lambda s, y: F.nll_loss(s, y, size_average=False),
                            lambda s, y: TF.nll_loss(s, y, size_average=False)),
    "nll_loss legacy none": (lambda s, y: F.nll_loss(s, y, reduce=False), lambda s, y: TF.nll_loss(s, y, reduce=False)),
    "multi_margin_loss p=2 weight": (lambda s, y, w: F.multi_margin_loss(s, y, 2, 0.7, w),
                                     lambda s, y, w: TF.multi_margin_loss(s, y, 2, 0.7, w)),
    "multi_margin_loss none": (lambda s, y: F.multi_margin_loss(s, y, reduction="none"),
                               lambda s, y: TF.multi_margin_loss(s, y, reduction="none")),
    "CrossEntropyLoss module": (lambda s, y, w: nn.CrossEntropyLoss(w, ignore_index=0, label_smoothing=0.1)(s, y),
                                lambda s, y, w: tnn.CrossEntropyLoss(w, ignore_index=0, label_smoothing=0.1)(s, y)),
    "NLLLoss module": (lambda s, y, w: nn.NLLLoss(w, reduction="sum")(s, y),
                       lambda s, y, w: tnn.NLLLoss(w, reduction="sum")(s, y)),
    "MultiMarginLoss module": (lambda s, y, w: nn.MultiMarginLoss(2, 0.5, w)(s, y),
                               lambda s, y, w: tnn.MultiMarginLoss(2, 0.5, w)(s, y)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(CLASS_LOSSES))
def test_classification_losses_match_pytorch(name, dtype):
    ours, theirs = CLASS_LOSSES[name]
    labels = IGNORED if "ignore" in name and not name.startswith("nll_loss") else LABELS
    if "multi_margin" in name or "MultiMargin" in name or "NLLLoss" in name or "legacy" in name:
        labels = LABELS
    weighted = len(inspect.signature(ours).parameters) == 3
    _labels_loss(ours, theirs, SCORES, labels, dtype, WEIGHT if weighted else None)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_cross_entropy_layouts_and_probability_targets_match_pytorch(dtype):
    scores, labels = rng.standard_normal((3, 4, 2, 5)), rng.integers(0, 4, (3, 2, 5))
    labels[0, 1, 2] = -100
    for reduction in ("mean", "sum", "none"):
        _labels_loss(lambda s, y, w: F.cross_entropy(s, y, w, reduction=reduction, label_smoothing=0.1),
                     lambda s, y, w: TF.cross_entropy(s, y, w, reduction=reduction, label_smoothing=0.1),
                     scores, labels, dtype, WEIGHT)
        _labels_loss(lambda s, y: F.nll_loss(s, y, reduction=reduction),
                     lambda s, y: TF.nll_loss(s, y, reduction=reduction), scores, labels, dtype)
    _labels_loss(F.cross_entropy, TF.cross_entropy, SCORES[0], np.array(2), dtype)  # one sample: (C,) and ()
    probabilities = rng.dirichlet(np.ones(4), (6,))
    for smoothing in (0.0, 0.25):
        _both(lambda s, p, w: F.cross_entropy(s, p, w, label_smoothing=smoothing),
              lambda s, p, w: TF.cross_entropy(s, p, w, label_smoothing=smoothing), [SCORES, probabilities, WEIGHT],
              dtype, constants=(2,))
    _both(lambda s, p: F.cross_entropy(s, p, reduction="none"), lambda s, p: TF.cross_entropy(s, p, reduction="none"),
          [scores, rng.dirichlet(np.ones(4), (3, 2, 5)).transpose(0, 3, 1, 2)], dtype)


def test_class_loss_arguments_are_checked_naming_the_loss():
    s = tg.tensor(SCORES)
    with pytest.raises(ShapeError, match=r"cross_entropy: weight of shape \(3,\) for 4 classes"):
        F.cross_entropy(s, LABELS, np.ones(3))
    with pytest.raises(DTypeError, match="nll_loss: weight of dtype int64"):
        F.nll_loss(s, LABELS, np.ones(4, np.int64))
    with pytest.raises(ShapeError, match=r"cross_entropy: labels must lie in \[0, 4\), got values from -100"):
        F.cross_entropy(s, IGNORED, ignore_index=-1)
    with pytest.raises(ArgumentError, match="cross_entropy: ignore_index must be an integer"):
        F.cross_entropy(s, LABELS, ignore_index=1.5)
    with pytest.raises(ArgumentError, match="multi_margin_loss: p=3"):
        F.multi_margin_loss(s, LABELS, 3)
    with pytest.raises(ArgumentError, match="MultiMarginLoss: p=0"):
        nn.MultiMarginLoss(0)
    with pytest.raises(ArgumentError, match="mse_loss: size_average='yes'"):
        F.mse_loss(s, s, size_average="yes")
    with pytest.raises(DTypeError, match="CrossEntropyLoss: weight of dtype int64"):
        nn.CrossEntropyLoss(np.ones(4, np.int64))


def test_class_losses_with_tensor_labels_are_recomputed_by_compile():
    # the ignored labels are found by operations, so that a compiled loss follows the labels of each call
    loss = tg.compile(lambda s, y: F.cross_entropy(s, y, tg.tensor(WEIGHT), label_smoothing=0.1))
    s = tg.tensor(SCORES, requires_grad=True)
    for labels in (LABELS, IGNORED, np.array([-100, 1, 2, 3, 0, -100])):
        expected = TF.cross_entropy(torch.tensor(SCORES), torch.tensor(labels), torch.tensor(WEIGHT),
                                    label_smoothing=0.1).item()
        assert loss(s, tg.tensor(labels)).item() == pytest.approx(expected, rel=1e-12)
    assert len(loss.plans) == 1


TARGET = rng.random((4, 6))
PROBS = 1 / (1 + np.exp(-X))

ELEMENTWISE_LOSSES = {
    "bce_with_logits weight pos_weight": (
        lambda x, t, w, p: F.binary_cross_entropy_with_logits(x, t, w, pos_weight=p),
        lambda x, t, w, p: TF.binary_cross_entropy_with_logits(x, t, w, pos_weight=p),
        [X, TARGET, TARGET[:1], X[0] ** 2],
        (2, 3)),
    "BCEWithLogitsLoss pos_weight sum": (
        lambda x, t, p: nn.BCEWithLogitsLoss(reduction="sum", pos_weight=p)(x, t),
        lambda x, t, p: tnn.BCEWithLogitsLoss(reduction="sum", pos_weight=p)(x, t), [X, TARGET, X[0] ** 2], (2,)),
    "binary_cross_entropy": (F.binary_cross_entropy, TF.binary_cross_entropy, [PROBS, TARGET]),
    "binary_cross_entropy weight none": (
        lambda x, t, w: F.binary_cross_entropy(x, t, w, reduction="none"),
        lambda x, t, w: TF.binary_cross_entropy(x, t, w, reduction="none"), [PROBS, TARGET, TARGET], (2,)),
    "BCELoss": (lambda x, t: nn.BCELoss()(x, t), lambda x, t: tnn.BCELoss()(x, t), [PROBS, TARGET]),
    "mse_loss weight": (lambda x, t, w: F.mse_loss(x, t, weight=w), lambda x, t, w: TF.mse_loss(x, t, weight=w),
                        [X, TARGET, TARGET]),
    "l1_loss weight": (lambda x, t, w: F.l1_loss(x, t, weight=w), lambda x, t, w: TF.l1_loss(x, t, weight=w),
                       [X, TARGET, TARGET]),
    "huber_loss order weight": (lambda x, t, w: F.huber_loss(x, t, "mean", 0.8, w),
                                lambda x, t, w: TF.huber_loss(x, t, "mean", 0.8, w), [X, TARGET, TARGET]),
    "HuberLoss": (lambda x, t: nn.HuberLoss("sum", 0.5)(x, t), lambda x, t: tnn.HuberLoss("sum", 0.5)(x, t),
                  [X, TARGET]),
    "mse_loss legacy": (lambda x, t: F.mse_loss(x, t, False), lambda x, t: TF.mse_loss(x, t, False), [X, TARGET]),
    "MSELoss legacy": (lambda x, t: nn.MSELoss(reduce=False)(x, t), lambda x, t: tnn.MSELoss(reduce=False)(x, t),
                       [X, TARGET]),
    "smooth_l1_loss": (F.smooth_l1_loss, TF.smooth_l1_loss, [X, TARGET]),
    "smooth_l1_loss beta": (lambda x, t: F.smooth_l1_loss(x, t, beta=0.3, reduction="none"),
                            lambda x, t: TF.smooth_l1_loss(x, t, beta=0.3, reduction="none"), [X, TARGET]),
    "smooth_l1_loss beta 0": (lambda x, t: F.smooth_l1_loss(x, t, beta=0.0),
                              lambda x, t: TF.smooth_l1_loss(x, t, beta=0.0), [X, TARGET]),
    "SmoothL1Loss": (lambda x, t: nn.SmoothL1Loss(beta=2.0)(x, t), lambda x, t: tnn.SmoothL1Loss(beta=2.0)(x, t),
                     [X, TARGET]),
    "kl_div batchmean": (lambda x, t: F.kl_div(x, t, reduction="batchmean"),
                         lambda x, t: TF.kl_div(x, t, reduction="batchmean"), [np.log(PROBS), TARGET]),
    # the target as a constant: PyTorch's gradient for a target entry 0 is NaN (d/dt t log t), ours is finite
    "kl_div zero target": (lambda x, t: F.kl_div(x, t, reduction="sum"), lambda x, t: TF.kl_div(x, t, reduction="sum"),
                           [np.log(PROBS), np.where(TARGET < 0.3, 0.0, TARGET)], (1,)),
    "kl_div log_target": (lambda x, t: F.kl_div(x, t, log_target=True), lambda x, t: TF.kl_div(x, t, log_target=True),
                          [np.log(PROBS), np.log(TARGET)]),
    "KLDivLoss": (lambda x, t: nn.KLDivLoss(reduction="batchmean")(x, t),
                  lambda x, t: tnn.KLDivLoss(reduction="batchmean")(x, t), [np.log(PROBS), TARGET]),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(ELEMENTWISE_LOSSES))
def test_elementwise_losses_match_pytorch(name, dtype):
    ours, theirs, arrays, *constants = ELEMENTWISE_LOSSES[name]
    _both(ours, theirs, arrays, dtype, constants=constants[0] if constants else ())


def test_binary_cross_entropy_clamps_its_logs_as_pytorch():
    x, t = np.array([0.0, 1.0, 0.5, 1e-50]), np.array([1.0, 0.0, 1.0, 1.0])
    ours = F.binary_cross_entropy(tg.tensor(x, requires_grad=True), t, reduction="none")
    np.testing.assert_allclose(ours.numpy(), TF.binary_cross_entropy(torch.tensor(x), torch.tensor(t),
                                                                     reduction="none").numpy(), rtol=1e-12)
    ours.sum().backward()  # finite gradients at 0 and 1
    with pytest.raises(ArgumentError, match=r"binary_cross_entropy: input values from -0.5 to 0.5; expected"):
        F.binary_cross_entropy(tg.tensor([-0.5, 0.5]), [0.0, 1.0])


def test_one_hot_under_compile_encodes_and_checks_the_labels_of_every_call():
    encode = tg.compile(lambda labels: F.one_hot(labels, 4))
    assert encode(tg.tensor(np.array([0, 1, 2]))).numpy().tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    assert encode(tg.tensor(np.array([3, 3, 0]))).numpy().tolist() == [[0, 0, 0, 1], [0, 0, 0, 1], [1, 0, 0, 0]]
    with pytest.raises(ShapeError, match=r"one_hot: labels must lie in \[0, 4\)"):
        encode(tg.tensor(np.array([5, 0, 1])))

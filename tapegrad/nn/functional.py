"""Loss functions, each with ``reduction`` = "mean" (default), "sum" or "none".

Class labels are integer arrays (or integer Tensors) of shape (batch,); scores and logits have shape
(batch, classes). Every loss is built from tapegrad's primitives, so it is differentiated exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..creation import operand
from ..errors import ArgumentError, DTypeError, ShapeError
from ..functions import elu, leaky_relu, log_softmax, relu, sigmoid, softmax, softplus, tanh  # noqa: F401
from ..ops import batching as batching_ops
from ..ops import conv as conv_ops
from ..ops.registry import Primitive
from ..ops.shape import int_arg, real_arg, shown
from ..tensor import Batched, Tensor, apply, as_array

REDUCTIONS = ("mean", "sum", "none")


# -- checking a loss's arguments, once, at its start -----------------------------------------------
# Each loss checks its inputs before any primitive runs, so that an error names the loss and the
# argument (not ``subtract`` or ``minimum`` inside it) and a broadcast of mismatched shapes never
# becomes a silently wrong loss. The checks are a few isinstance and shape comparisons per call.

def _check_reduction(reduction: Any, name: str) -> str:
    """``reduction`` itself.

    Raises:
        ArgumentError: naming ``name`` (a loss or loss module) unless it is one of :data:`REDUCTIONS`.
    """
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ArgumentError(f"{name}: reduction={shown(reduction)}; expected one of {REDUCTIONS}")
    return reduction




def _scores(value: Any, name: str, arg: str) -> Tensor:
    """``value`` (scores, logits, predictions: a Tensor, array or nested list) as a floating tensor.

    Raises:
        DTypeError: naming ``name`` and ``arg`` for data that is not numbers, or not floating-point.
        ShapeError: for ragged data.
    """
    x = value if isinstance(value, Tensor) else operand(value, f"{name}: {arg}")
    if x.dtype.kind != "f":
        raise DTypeError(f"{name}: {arg} of dtype {x.dtype}; expected a floating-point tensor")
    return x


def _targets(target: Any, prediction: Tensor, name: str, arg: str = "prediction") -> Tensor:
    """``target`` of a regression loss as a tensor of ``prediction``'s shape.

    Raises:
        DTypeError: naming ``name`` for targets that are not real numbers (strings, objects, complex).
        ShapeError: for ragged targets, or a shape other than ``prediction``'s (a broadcast of (N, 1)
            against (N,) would silently give an (N, N) loss).
    """
    t = target if isinstance(target, Tensor) else operand(target, f"{name}: target")
    if t.dtype.kind not in "biuf":
        raise DTypeError(f"{name}: target of dtype {t.dtype}; expected real numbers (bool, integer or floating)")
    if t.shape != prediction.shape:
        raise ShapeError(f"{name}: {arg} of shape {prediction.shape} and target of shape {t.shape}; "
                         f"expected a target of the same shape as the {arg}")
    return t


def _reduce(loss: Tensor, reduction: str, name: str) -> Tensor:
    """``loss`` reduced as ``reduction`` (checked by :func:`_check_reduction` at the loss's start) says."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _labels(target: Any, scores: Tensor, name: str) -> np.ndarray:
    """The class labels ``target`` as an integer array of shape (batch,), for ``scores`` of shape
    (batch, classes).

    Raises:
        DTypeError: naming the loss ``name`` for labels that are not integers.
        ShapeError: for shapes other than those, ragged labels, or a label outside ``[0, classes)``.
    """
    labels = target if isinstance(target, Tensor) else as_array(target, op=f"{name}: target")
    if labels.dtype.kind not in "iu":
        raise DTypeError(f"{name}: class labels must be integers, got dtype {labels.dtype}")
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ShapeError(f"{name}: scores of shape {scores.shape} and target labels of shape {labels.shape}; "
                         f"expected scores of shape (batch, classes) and labels of shape (batch,)")
    if isinstance(target, Tensor):  # an operation, so that tg.compile checks the labels at every call
        checked = apply(_CHECKED_LABELS, target, classes=scores.shape[1], name=name)
        return checked if checked.__class__ is Batched else checked.data  # inside tg.vmap: each example's
    return _in_range(labels, scores.shape[1], name)


def _in_range(labels: np.ndarray, classes: int, name: str) -> np.ndarray:
    """``labels`` itself; raises ShapeError naming the loss if one is not in ``[0, classes)``."""
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ShapeError(f"{name}: labels must lie in [0, {classes}), got values from "
                         f"{labels.min()} to {labels.max()}")
    return labels


_CHECKED_LABELS = Primitive("check labels", _in_range, saves_inputs=False, batch=batching_ops.leading)


def _picked(scores: Tensor, labels: np.ndarray) -> Tensor:
    return scores[np.arange(len(labels)), labels]


def nll_loss(log_probs: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the labels, given log-probabilities (e.g. from ``log_softmax``).

    Returns the loss (a scalar, or per sample with ``reduction="none"``). Raises ArgumentError for
    a bad ``reduction``, DTypeError and ShapeError for inputs that are not as the module docstring
    says (each naming the loss).
    """
    _check_reduction(reduction, "nll_loss")
    log_probs = _scores(log_probs, "nll_loss", "log_probs")
    labels = _labels(target, log_probs, "nll_loss")
    return _reduce(-_picked(log_probs, labels), reduction, "nll_loss")


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy from raw scores, stable for logits of any size.

    With ``label_smoothing`` = e in [0, 1], the target puts 1 - e on the label and e spread evenly
    over all classes (as in PyTorch). Returns the loss; raises as :func:`nll_loss` does, and
    ArgumentError for ``label_smoothing`` outside [0, 1].
    """
    _check_reduction(reduction, "cross_entropy")
    real_arg(label_smoothing, "cross_entropy", "label_smoothing", 0.0, 1.0)
    logits = _scores(logits, "cross_entropy", "logits")
    labels = _labels(target, logits, "cross_entropy")
    log_probs = logits.log_softmax(axis=1)
    loss = -_picked(log_probs, labels)
    if label_smoothing:
        loss = (1 - label_smoothing) * loss - label_smoothing * log_probs.mean(axis=1)
    return _reduce(loss, reduction, "cross_entropy")


def _hinge(scores: Tensor, target: Any, margin: float, name: str) -> tuple[Tensor, int]:
    """Per sample, sum over j != y of max(0, s_j - s_y + margin), after checking the arguments;
    and the number of classes."""
    real_arg(margin, name, "margin")
    scores = _scores(scores, name, "scores")
    labels = _labels(target, scores, name)
    correct = _picked(scores, labels).reshape(-1, 1)
    margins = (scores - correct + margin).relu()
    # A Tensor for Tensor labels, so that tg.compile recomputes it at every call.
    others = (target if isinstance(target, Tensor) else labels).reshape(-1, 1) != np.arange(scores.shape[1])
    return (margins * others).sum(axis=1), scores.shape[1]


def svm_loss(scores: Tensor, target: Any, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """The lectures' multiclass SVM (hinge) loss: sum over j != y of max(0, s_j - s_y + margin).

    Returns the loss; raises as :func:`nll_loss` does, and ArgumentError for a ``margin`` that is
    not a finite real number.
    """
    _check_reduction(reduction, "svm_loss")
    return _reduce(_hinge(scores, target, margin, "svm_loss")[0], reduction, "svm_loss")


def multi_margin_loss(scores: Tensor, target: Any, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """PyTorch's MultiMarginLoss: the SVM loss divided by the number of classes.

    Returns the loss; raises as :func:`svm_loss` does.
    """
    _check_reduction(reduction, "multi_margin_loss")
    per_sample, classes = _hinge(scores, target, margin, "multi_margin_loss")
    return _reduce(per_sample / classes, reduction, "multi_margin_loss")


def binary_cross_entropy_with_logits(logits: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Logistic loss from raw scores: ``log(1 + exp(x)) - x * t``, stable for any x.

    ``target`` (probabilities, bools or 0/1 integers) has the shape of ``logits``; an array is
    taken in the dtype of ``logits``. Returns the loss; raises ArgumentError for a bad ``reduction``,
    DTypeError for non-floating logits or non-real targets, ShapeError for mismatched shapes.
    """
    name = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, name)
    logits = _scores(logits, name, "logits")
    given_as_tensor = isinstance(target, Tensor)
    target = _targets(target, logits, name, "logits")
    if not given_as_tensor and target.dtype != logits.dtype:
        target = Tensor(target.data.astype(logits.dtype))
    return _reduce(logits.softplus() - logits * target, reduction, name)


def mse_loss(prediction: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error between ``prediction`` and a ``target`` of its shape.

    Returns the loss; raises ArgumentError for a bad ``reduction``, DTypeError for a non-floating
    prediction or non-real target, ShapeError for mismatched shapes (never broadcast).
    """
    _check_reduction(reduction, "mse_loss")
    prediction = _scores(prediction, "mse_loss", "prediction")
    return _reduce((prediction - _targets(target, prediction, "mse_loss")) ** 2, reduction, "mse_loss")


def l1_loss(prediction: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error; returns and raises as :func:`mse_loss` does."""
    _check_reduction(reduction, "l1_loss")
    prediction = _scores(prediction, "l1_loss", "prediction")
    return _reduce((prediction - _targets(target, prediction, "l1_loss")).abs(), reduction, "l1_loss")


def huber_loss(prediction: Tensor, target: Any, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """Quadratic for errors below ``delta``, linear above: ``0.5 d**2`` or ``delta * (|d| - delta/2)``.

    Returns and raises as :func:`mse_loss` does, and ArgumentError unless ``delta`` is a finite
    number > 0 (as in PyTorch).
    """
    _check_reduction(reduction, "huber_loss")
    real_arg(delta, "huber_loss", "delta", 0.0, low_open=True)
    prediction = _scores(prediction, "huber_loss", "prediction")
    error = (prediction - _targets(target, prediction, "huber_loss")).abs()
    quadratic = error.minimum(delta)
    return _reduce(0.5 * quadratic ** 2 + delta * (error - quadratic), reduction, "huber_loss")


def l2_penalty(parameters: Iterable[Tensor], strength: float) -> Tensor:
    """``strength * sum(p**2)`` over the parameters (weight decay written as a loss term); a single
    Tensor counts as one parameter.

    Raises:
        ArgumentError: if ``parameters`` is not an iterable or is empty, or ``strength`` is not a
            finite real number.
        DTypeError: for an item that is not a floating-point Tensor (an array would add nothing to
            the gradient).
    """
    real_arg(strength, "l2_penalty", "strength")
    if isinstance(parameters, Tensor):
        parameters = (parameters,)
    elif isinstance(parameters, (str, bytes)) or not isinstance(parameters, Iterable):
        raise ArgumentError(f"l2_penalty: parameters={shown(parameters)} ({type(parameters).__name__}); "
                            f"expected an iterable of Tensors")
    total = None
    for i, parameter in enumerate(parameters):
        if not isinstance(parameter, Tensor) or parameter.dtype.kind != "f":
            what = f"a Tensor of dtype {parameter.dtype}" if isinstance(parameter, Tensor) else \
                f"{shown(parameter)} ({type(parameter).__name__})"
            raise DTypeError(f"l2_penalty: parameter {i} is {what}; expected floating-point Tensors")
        term = (parameter * parameter).sum()
        total = term if total is None else total + term
    if total is None:
        raise ArgumentError("l2_penalty: no parameters given")
    return strength * total


# -- convolutions (issue 14) ---------------------------------------------------------------------------
# PyTorch's arguments checked and turned into the primitives' (tapegrad/ops/conv.py): a stride, padding
# and dilation per spatial axis, "same" padding split as PyTorch splits it (the odd zero at the end),
# the transposed convolution's output size from its output_padding. The bias is added after.

_CONV_LIMIT = 2**31  # strides, paddings and dilations stay below this (larger ones overflow a byte stride)
_CONV_PRIMITIVES = {1: (conv_ops.conv1d, conv_ops.conv_transpose1d), 2: (conv_ops.conv2d, conv_ops.conv_transpose2d)}


def _conv_ints(value: Any, dims: int, name: str, arg: str, minimum: int) -> tuple[int, ...]:
    """``value`` (an int, or one int per spatial axis) as ``dims`` ints in ``[minimum, 2**31)``.

    Raises:
        ArgumentError: naming ``name`` and ``arg`` for anything else.
    """
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if len(items) != dims:
        raise ArgumentError(f"{name}: {arg}={shown(value)}; expected an int or {dims} ints (one per spatial axis)")
    ints = tuple(int_arg(v, name, arg) for v in items)
    if not all(minimum <= v < _CONV_LIMIT for v in ints):
        raise ArgumentError(f"{name}: {arg}={shown(value)}; expected integers in [{minimum}, 2**31)")
    return ints


def _conv_groups(groups: Any, name: str) -> int:
    groups = int_arg(groups, name, "groups")
    if not 1 <= groups < _CONV_LIMIT:
        raise ArgumentError(f"{name}: groups={groups}; expected a positive integer")
    return groups


def _conv_operands(name: str, dims: int, data: Any, weight: Any,
                   bias: Any) -> tuple[Tensor, Tensor, Tensor | None]:
    """The input, weight and bias of a convolution as floating tensors of one dtype, the input of
    ``dims + 2`` dimensions (``dims + 1``: unbatched) and the weight of ``dims + 2``.

    Raises:
        DTypeError: for data that is not floating-point, or dtypes that differ.
        ShapeError: for a wrong number of dimensions.
    """
    tensors = []
    for value, arg in ((data, "input"), (weight, "weight"), (bias, "bias")):
        if value is None and arg == "bias":
            tensors.append(None)
            continue
        t = value if isinstance(value, Tensor) else operand(value, f"{name}: {arg}")
        if t.dtype.kind != "f":
            raise DTypeError(f"{name}: {arg} of dtype {t.dtype}; expected a floating-point tensor")
        if tensors and t.dtype != tensors[0].dtype:
            raise DTypeError(f"{name}: input of dtype {tensors[0].dtype} and {arg} of dtype {t.dtype}; "
                             "expected the same dtype")
        tensors.append(t)
    x, w, b = tensors
    spatial = "length" if dims == 1 else "height, width"
    if x.ndim not in (dims + 1, dims + 2):
        raise ShapeError(f"{name}: input {x.shape}; expected {dims + 2} dimensions (batch, channels, {spatial}) "
                         f"or {dims + 1} (channels, {spatial})")
    if w.ndim != dims + 2:
        raise ShapeError(f"{name}: weight {w.shape}; expected {dims + 2} dimensions")
    return x, w, b


def _conv_bias(out: Tensor, b: Tensor | None, channels: int, dims: int, name: str) -> Tensor:
    if b is None:
        return out
    if b.shape != (channels,):
        raise ShapeError(f"{name}: bias {b.shape}; expected ({channels},), one per output channel")
    return out + b.reshape((channels,) + (1,) * dims)


def _convolution(name: str, dims: int, data: Any, weight: Any, bias: Any, stride: Any, padding: Any,
                 dilation: Any, groups: Any) -> Tensor:
    x, w, b = _conv_operands(name, dims, data, weight, bias)
    stride = _conv_ints(stride, dims, name, "stride", 1)
    dilation = _conv_ints(dilation, dims, name, "dilation", 1)
    groups = _conv_groups(groups, name)
    kernel = w.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pairs = ((0, 0),) * dims
        elif padding == "same":
            if stride != (1,) * dims:
                raise ArgumentError(f"{name}: padding='same' needs stride 1, got stride={stride}")
            # PyTorch's split: the total d*(k-1) halved, the odd one at the end
            pairs = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation))
        else:
            raise ArgumentError(f"{name}: padding={shown(padding)}; expected 'same', 'valid', an int or {dims} ints")
    else:
        pairs = tuple((p, p) for p in _conv_ints(padding, dims, name, "padding", 0))
    shape = x.shape
    if x.ndim == dims + 1:
        x = x.reshape((1,) + shape)
    channels, out_channels = x.shape[1], w.shape[0]
    if channels != w.shape[1] * groups:
        raise ShapeError(f"{name}: input {shape} has {channels} channels, the weight {w.shape} with groups={groups} "
                         f"expects {w.shape[1] * groups}")
    if out_channels % groups:
        raise ShapeError(f"{name}: the weight {w.shape} has {out_channels} output channels; expected a multiple "
                         f"of groups={groups}")
    padded = tuple(i + pb + pa for i, (pb, pa) in zip(x.shape[2:], pairs))
    dilated = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(p < k for p, k in zip(padded, dilated)):
        raise ShapeError(f"{name}: input {shape} padded to {padded} is smaller than the weight {w.shape}'s kernel "
                         f"{tuple(kernel)} (dilated: {dilated}); expected a padded input at least as large")
    out = apply(_CONV_PRIMITIVES[dims][0], x, w, stride=stride, padding=pairs, dilation=dilation, groups=groups)
    out = _conv_bias(out, b, out_channels, dims, name)
    return out.reshape(out.shape[1:]) if len(shape) == dims + 1 else out


def _transposed_convolution(name: str, dims: int, data: Any, weight: Any, bias: Any, stride: Any,
                            padding: Any, output_padding: Any, groups: Any, dilation: Any) -> Tensor:
    x, w, b = _conv_operands(name, dims, data, weight, bias)
    stride = _conv_ints(stride, dims, name, "stride", 1)
    dilation = _conv_ints(dilation, dims, name, "dilation", 1)
    if isinstance(padding, str):
        raise ArgumentError(f"{name}: padding={shown(padding)}; expected an int or {dims} ints ('same' and "
                            "'valid' are for the convolution, not its transpose)")
    padding = _conv_ints(padding, dims, name, "padding", 0)
    output_padding = _conv_ints(output_padding, dims, name, "output_padding", 0)
    groups = _conv_groups(groups, name)
    if any(op >= max(s, d) for op, s, d in zip(output_padding, stride, dilation)):
        raise ArgumentError(f"{name}: output_padding={output_padding}; expected each smaller than the stride "
                            f"{stride} or the dilation {dilation}")
    shape = x.shape
    if x.ndim == dims + 1:
        x = x.reshape((1,) + shape)
    channels, kernel = x.shape[1], w.shape[2:]
    if channels != w.shape[0]:
        raise ShapeError(f"{name}: input {shape} has {channels} channels, the weight {w.shape} expects "
                         f"{w.shape[0]} (its layout: in_channels, out_channels // groups, *kernel)")
    if channels % groups:
        raise ShapeError(f"{name}: input {shape} has {channels} channels; expected a multiple of groups={groups}")
    size = tuple((j - 1) * s - 2 * p + d * (k - 1) + op + 1
                 for j, s, p, d, k, op in zip(x.shape[2:], stride, padding, dilation, kernel, output_padding))
    if any(n < 1 for n in size):
        raise ShapeError(f"{name}: input {shape} with the weight {w.shape}, stride={stride}, padding={padding} "
                         f"and dilation={dilation} gives an output of size {size}; expected positive sizes")
    out = apply(_CONV_PRIMITIVES[dims][1], x, w, stride=stride, padding=padding, dilation=dilation, groups=groups,
                size=size)
    out = _conv_bias(out, b, w.shape[1] * groups, dims, name)
    return out.reshape(out.shape[1:]) if len(shape) == dims + 1 else out


def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,  # noqa: A002 (PyTorch's name)
           groups: int = 1) -> Tensor:
    """A 1-D convolution (a cross-correlation, as in PyTorch) of ``input`` (batch, in_channels, length),
    or (in_channels, length), with ``weight`` (out_channels, in_channels // groups, kernel), plus ``bias``.

    ``padding`` is an int, a 1-tuple, ``"valid"`` (none) or ``"same"`` (stride 1: the output as long as
    the input, the odd zero at the end).

    Returns:
        A tensor (batch, out_channels, (length + 2 padding - dilation (kernel - 1) - 1) // stride + 1).

    Raises:
        ShapeError: for a wrong number of dimensions, channels that do not match the weight and groups,
            a kernel larger than the padded input, or a bias that is not (out_channels,).
        DTypeError: for operands that are not floating-point or not of one dtype.
        ArgumentError: for a stride or dilation below 1, a negative padding, groups below 1, or
            ``"same"`` with a stride above 1.
    """
    return _convolution("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,  # noqa: A002 (PyTorch's name)
           groups: int = 1) -> Tensor:
    """A 2-D convolution (a cross-correlation, as in PyTorch) of ``input`` (batch, in_channels, height,
    width), or (in_channels, height, width), with ``weight`` (out_channels, in_channels // groups, kh, kw),
    plus ``bias`` (out_channels,). ``groups=in_channels`` is a depthwise convolution.

    ``stride``, ``padding`` and ``dilation`` are an int or a pair; ``padding`` may also be ``"valid"``
    (none) or ``"same"`` (stride 1: the output the input's size; an odd total padding puts its extra zero
    at the end, as PyTorch does).

    Returns:
        A tensor (batch, out_channels, out_height, out_width), each side
        ``(size + 2 padding - dilation (kernel - 1) - 1) // stride + 1``.

    Raises:
        ShapeError: for a wrong number of dimensions, channels that do not match the weight and groups,
            a kernel larger than the padded input, or a bias that is not (out_channels,).
        DTypeError: for operands that are not floating-point or not of one dtype.
        ArgumentError: for a stride or dilation below 1, a negative padding, groups below 1, or
            ``"same"`` with a stride above 1.
    """
    return _convolution("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,  # noqa: A002 (PyTorch's name)
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """The transposed 1-D convolution (the gradient of conv1d with respect to its input) of ``input``
    (batch, in_channels, length) with ``weight`` (in_channels, out_channels // groups, kernel).

    Returns:
        A tensor (batch, out_channels, (length - 1) stride - 2 padding + dilation (kernel - 1)
        + output_padding + 1).

    Raises:
        ShapeError, DTypeError, ArgumentError: as :func:`conv_transpose2d`.
    """
    return _transposed_convolution("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding,
                                   groups, dilation)


def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,  # noqa: A002 (PyTorch's name)
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """The transposed 2-D convolution (the gradient of conv2d with respect to its input; sometimes called
    a deconvolution) of ``input`` (batch, in_channels, height, width) with ``weight`` (in_channels,
    out_channels // groups, kh, kw), plus ``bias`` (out_channels,). PyTorch's argument order.

    Returns:
        A tensor (batch, out_channels, out_height, out_width), each side
        ``(size - 1) stride - 2 padding + dilation (kernel - 1) + output_padding + 1``.

    Raises:
        ShapeError: for a wrong number of dimensions, channels that do not match the weight, groups that
            do not divide them, an output of size below 1, or a bias that is not (out_channels,).
        DTypeError: for operands that are not floating-point or not of one dtype.
        ArgumentError: for a stride or dilation below 1, a negative or string padding, an
            output_padding not smaller than the stride or the dilation, or groups below 1.
    """
    return _transposed_convolution("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding,
                                   groups, dilation)
# -- pooling, normalisation and channel dropout (issue 14) ------------------------------------------
# PyTorch's torch.nn.functional names and defaults. Each function checks its arguments here, once,
# so that an error names it and the shapes; the primitives (tapegrad.ops.pool, .normalization) then
# run on valid input only.

from ..creation import rand  # noqa: E402
from ..engine import no_grad  # noqa: E402
from ..ops import normalization as NORM  # noqa: E402
from ..ops import pool as P  # noqa: E402
from ..ops.shape import MAX_SIZE  # noqa: E402


def _float_input(value: Any, op: str, ranks: tuple[int, ...], layout: str) -> Tensor:
    """``value`` as a floating tensor of one of ``ranks`` dimensions.

    Raises:
        DTypeError: naming ``op`` for data that is not floating-point.
        ShapeError: naming ``op``, the shape and ``layout`` (what the dimensions mean) for another rank.
    """
    x = value if isinstance(value, Tensor) else operand(value, f"{op}: input")
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: input of dtype {x.dtype}; expected a floating-point tensor")
    if x.ndim not in ranks:
        raise ShapeError(f"{op}: input of shape {x.shape}; expected {layout}")
    return x


def _int_tuple(value: Any, dims: int, op: str, arg: str, low: int) -> tuple[int, ...]:
    """``value`` (an int, or a tuple or list of ``dims`` ints, or of one) as ``dims`` ints >= ``low``.

    Raises:
        ArgumentError: naming ``op`` and ``arg`` for anything else.
    """
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(items) == 1:
        items = items * dims
    if len(items) != dims:
        raise ArgumentError(f"{op}: {arg}={shown(value)}; expected an int or {dims} ints")
    result = []
    for item in items:
        try:
            n = int_arg(item, op, arg)
        except ArgumentError:
            raise ArgumentError(f"{op}: {arg}={shown(value)}; expected an int or {dims} ints") from None
        if not low <= n <= MAX_SIZE:
            raise ArgumentError(f"{op}: {arg}={shown(value)}; expected integers >= {low}")
        result.append(n)
    return tuple(result)


def _window_settings(op: str, x: Tensor, dims: int, kernel_size: Any, stride: Any, padding: Any,
                     dilation: Any, ceil_mode: Any) -> dict[str, Any]:
    """The checked window settings of a pooling over the last ``dims`` axes of ``x``.

    Raises:
        ArgumentError: for settings that are not integers of the right ranges (a padding above half
            the kernel, as PyTorch refuses).
        ShapeError: when no window fits the padded input.
    """
    kernel = _int_tuple(kernel_size, dims, op, "kernel_size", 1)
    strides = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        _int_tuple(stride, dims, op, "stride", 1)
    pads = _int_tuple(padding, dims, op, "padding", 0)
    dilations = _int_tuple(dilation, dims, op, "dilation", 1)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise ArgumentError(f"{op}: ceil_mode={shown(ceil_mode)}; expected a bool")
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        raise ArgumentError(f"{op}: padding={pads} with kernel_size={kernel}; padding must be at most half "
                            "the kernel size")
    spatial = x.shape[-dims:]
    out = tuple(P.output_length(n, k, s, p, d, bool(ceil_mode))
                for n, k, s, p, d in zip(spatial, kernel, strides, pads, dilations))
    if min(out) < 1:
        raise ShapeError(f"{op}: input of shape {x.shape} padded by {pads} is smaller than the kernel {kernel} "
                         f"with dilation {dilations}; the output would be {out}, expected at least one window")
    return {"kernel_size": kernel, "stride": strides, "padding": pads, "dilation": dilations,
            "ceil_mode": bool(ceil_mode)}


_LAYOUT_1D = "2-D (C, L) or 3-D (N, C, L)"
_LAYOUT_2D = "3-D (C, H, W) or 4-D (N, C, H, W)"


def _indices(x: Tensor, pool: tuple) -> Tensor:
    return Tensor(P.max_pool_indices(x.data, pool))


def _max_pool(op: str, dims: int, input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,  # noqa: A002
              ceil_mode: bool, return_indices: bool) -> Tensor | tuple[Tensor, Tensor]:
    x = _float_input(input, op, (dims + 1, dims + 2), _LAYOUT_1D if dims == 1 else _LAYOUT_2D)
    settings = _window_settings(op, x, dims, kernel_size, stride, padding, dilation, ceil_mode)
    out = apply(P.max_pool1d if dims == 1 else P.max_pool2d, x, **settings)
    if return_indices:
        return out, _indices(x, ("window", *settings.values()))
    return out


def max_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The maximum of each window along the last axis of an (N, C, L) or (C, L) input.

    ``stride`` defaults to ``kernel_size``; the input is padded with -inf; ``ceil_mode`` adds a last
    partial window. The gradient goes to each window's maximum, to the first of tied entries (as in
    PyTorch). Returns the pooled tensor, and with ``return_indices`` also the int64 position of each
    maximum along the input's last axis.

    Raises:
        DTypeError: for a non-floating input. ShapeError: for another rank, or no window fitting the
        padded input. ArgumentError: for settings that are not positive integers (padding: at most
        half the kernel).
    """
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The maximum of each window over the last two axes of an (N, C, H, W) or (C, H, W) input.

    Settings are ints or (height, width) pairs, as in PyTorch; with ``return_indices`` the int64
    positions ``h * W + w`` of the maxima are returned too. Otherwise as :func:`max_pool1d`.
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_pool(op: str, dims: int, input: Any, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,  # noqa: A002
              count_include_pad: bool, divisor_override: Any = None) -> Tensor:
    x = _float_input(input, op, (dims + 1, dims + 2), _LAYOUT_1D if dims == 1 else _LAYOUT_2D)
    settings = _window_settings(op, x, dims, kernel_size, stride, padding, 1, ceil_mode)
    del settings["dilation"]
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise ArgumentError(f"{op}: count_include_pad={shown(count_include_pad)}; expected a bool")
    settings["count_include_pad"] = bool(count_include_pad)
    if divisor_override is not None:
        settings["divisor_override"] = _int_tuple(divisor_override, 1, op, "divisor_override", 1)[0]
    return apply(P.avg_pool1d if dims == 1 else P.avg_pool2d, x, **settings)


def avg_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True) -> Tensor:
    """The mean of each window along the last axis of an (N, C, L) or (C, L) input, zero-padded.

    With ``count_include_pad`` the padding counts in each window's size, otherwise only the input's
    entries do. Returns the pooled tensor; raises as :func:`max_pool1d`.
    """
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean of each window over the last two axes of an (N, C, H, W) or (C, H, W) input; a
    ``divisor_override`` divides every window's sum instead of its size. Raises as :func:`max_pool2d`.
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _output_size(op: str, x: Tensor, output_size: Any) -> tuple[int, int]:
    """``output_size`` (an int, or a pair whose None entries keep the input's size) as a pair of ints >= 1."""
    items = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(items) != 2:
        raise ArgumentError(f"{op}: output_size={shown(output_size)}; expected an int or 2 ints (or None)")
    sizes = []
    for item, n in zip(items, x.shape[-2:]):
        if item is None:
            sizes.append(n)
            continue
        size = _int_tuple(item, 1, op, "output_size", 1)[0] if not isinstance(item, (tuple, list)) else 0
        if size < 1:
            raise ArgumentError(f"{op}: output_size={shown(output_size)}; expected an int or 2 ints (or None)")
        sizes.append(size)
    if 0 in x.shape[-2:]:
        raise ShapeError(f"{op}: input of shape {x.shape} has an empty spatial axis; expected non-empty H and W")
    return tuple(sizes)


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
    """The mean over ``output_size`` windows of the last two axes (window i from floor(i*H/out) to
    ceil((i+1)*H/out), as in PyTorch) of an (N, C, H, W) or (C, H, W) input.

    Raises:
        DTypeError: for a non-floating input. ShapeError: for another rank or an empty H or W.
        ArgumentError: for an output_size that is not positive ints (None keeps that axis's size).
    """
    x = _float_input(input, "adaptive_avg_pool2d", (3, 4), _LAYOUT_2D)
    return apply(P.adaptive_avg_pool2d, x, output_size=_output_size("adaptive_avg_pool2d", x, output_size))


def adaptive_max_pool2d(input: Any, output_size: Any, return_indices: bool = False  # noqa: A002 (PyTorch's name)
                        ) -> Tensor | tuple[Tensor, Tensor]:
    """The maximum over ``output_size`` adaptive windows (see :func:`adaptive_avg_pool2d`); the gradient
    goes to the first of tied maxima. With ``return_indices`` also the int64 positions ``h * W + w``.
    Raises as :func:`adaptive_avg_pool2d`.
    """
    x = _float_input(input, "adaptive_max_pool2d", (3, 4), _LAYOUT_2D)
    size = _output_size("adaptive_max_pool2d", x, output_size)
    out = apply(P.adaptive_max_pool2d, x, output_size=size)
    return (out, _indices(x, ("adaptive", size))) if return_indices else out


def _per_channel(value: Any, channels: int, op: str, arg: str, x: Tensor) -> Tensor | None:
    """``value`` (None, or a tensor of ``channels`` entries) as a tensor.

    Raises:
        ShapeError: naming ``op``, ``arg`` and the input's shape for another shape.
    """
    if value is None:
        return None
    t = value if isinstance(value, Tensor) else operand(value, f"{op}: {arg}")
    if t.shape != (channels,):
        raise ShapeError(f"{op}: {arg} of shape {t.shape} for an input of shape {x.shape} with {channels} "
                         f"channels; expected shape ({channels},)")
    if t.dtype.kind != "f":
        raise DTypeError(f"{op}: {arg} of dtype {t.dtype}; expected a floating-point tensor")
    return t


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple[int, ...]) -> Tensor:
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _eps(eps: Any, op: str) -> float:
    return float(real_arg(eps, op, "eps", 0.0))


def batch_norm(input: Any, running_mean: Tensor | None, running_var: Tensor | None, weight: Any = None,  # noqa: A002
               bias: Any = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over every axis but the channel axis 1 of an (N, C, ...) input.

    In training each channel is normalised with the batch's mean and
    biased variance, and ``running_mean`` / ``running_var`` (when given) are updated in place:
    ``(1 - momentum) * running + momentum * batch``, with the unbiased variance, as PyTorch does. Out
    of training the running statistics normalise. ``weight`` and ``bias`` (C,) scale and shift.

    Returns:
        The normalised tensor, of the input's shape.

    Raises:
        DTypeError: for non-floating tensors. ShapeError: for an input of fewer than 2 axes, statistics
        or affine tensors that are not (C,), or a single value per channel in training.
        ArgumentError: for ``momentum`` outside [0, 1], ``eps`` below 0 (or 0 in training), or
        ``training=False`` without running statistics (as PyTorch refuses).
    """
    op = "batch_norm"
    x = _float_input(input, op, tuple(range(2, 33)), "at least 2-D (N, C, ...)")
    channels = x.shape[1]
    eps = _eps(eps, op)
    momentum = float(real_arg(momentum, op, "momentum", 0.0, 1.0))
    running_mean = _per_channel(running_mean, channels, op, "running_mean", x)
    running_var = _per_channel(running_var, channels, op, "running_var", x)
    weight = _per_channel(weight, channels, op, "weight", x)
    bias = _per_channel(bias, channels, op, "bias", x)
    shape = (channels,) + (1,) * (x.ndim - 2)
    axes = (0,) + tuple(range(2, x.ndim))
    if not training and (running_mean is None or running_var is None):
        raise ArgumentError(f"{op}: training=False needs running_mean and running_var (got None); pass "
                            "training=True to normalise with the batch's statistics")
    if training and eps <= 0:
        raise ArgumentError(f"{op}: eps={eps}; expected eps > 0 when training")
    if training:
        count = x.size // max(channels, 1)
        if count <= 1 and training:
            raise ShapeError(f"{op}: input of shape {x.shape} has {count} value per channel; expected more than "
                             "1 value per channel when training")
        if training and (running_mean is not None or running_var is not None):
            with no_grad():
                if running_mean is not None:
                    mean = x.data.mean(axis=axes)
                    running_mean[...] = (running_mean.data * (1 - momentum) + mean * momentum
                                         ).astype(running_mean.dtype)
                if running_var is not None:
                    var = x.data.var(axis=axes, ddof=1)
                    running_var[...] = (running_var.data * (1 - momentum) + var * momentum
                                        ).astype(running_var.dtype)
        y = apply(NORM.normalize, x, axis=axes, eps=eps)
        return _affine(y, weight, bias, shape)
    scale = (running_var.reshape(shape) + eps).sqrt()
    y = (x - running_mean.reshape(shape)) / scale
    return _affine(y, weight, bias, shape)


def layer_norm(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5  # noqa: A002
               ) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` axes (mean and biased variance), then scale by
    ``weight`` and shift by ``bias`` (both of ``normalized_shape``).

    Raises:
        DTypeError: for non-floating tensors. ShapeError: when the input's shape does not end with
        ``normalized_shape``, or weight or bias have another shape. ArgumentError: for a
        ``normalized_shape`` that is not positive ints, or ``eps`` below 0.
    """
    op = "layer_norm"
    items = normalized_shape if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,)
    shape = _int_tuple(tuple(items), len(items), op, "normalized_shape", 1) if items else ()
    if not shape:
        raise ArgumentError(f"{op}: normalized_shape={shown(normalized_shape)}; expected at least one size")
    x = _float_input(input, op, tuple(range(len(shape), 33)), f"at least {len(shape)}-D, ending with {shape}")
    if x.shape[x.ndim - len(shape):] != shape:
        raise ShapeError(f"{op}: input of shape {x.shape} does not end with normalized_shape {shape}; expected "
                         f"an input of shape (*, {', '.join(map(str, shape))})")
    eps = _eps(eps, op)
    for arg, value in (("weight", weight), ("bias", bias)):
        if value is not None:
            t = value if isinstance(value, Tensor) else operand(value, f"{op}: {arg}")
            if t.shape != shape:
                raise ShapeError(f"{op}: {arg} of shape {t.shape}; expected normalized_shape {shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    return _affine(apply(NORM.normalize, x, axis=axes, eps=eps), weight, bias, shape)


def group_norm(input: Any, num_groups: int, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Tensor:  # noqa: A002
    """Normalise each sample's channels in ``num_groups`` groups (over the group's channels and every
    other axis), then scale and shift each channel by ``weight`` and ``bias`` (C,).

    Raises:
        DTypeError: for non-floating tensors. ShapeError: for an input of fewer than 2 axes, a channel
        count that ``num_groups`` does not divide, or weight or bias not (C,). ArgumentError: for a
        ``num_groups`` below 1 or ``eps`` below 0.
    """
    op = "group_norm"
    x = _float_input(input, op, tuple(range(2, 33)), "at least 2-D (N, C, ...)")
    if isinstance(num_groups, (tuple, list)):
        raise ArgumentError(f"{op}: num_groups={shown(num_groups)}; expected a positive integer")
    groups = _int_tuple(num_groups, 1, op, "num_groups", 1)[0]
    channels = x.shape[1]
    if channels % groups:
        raise ShapeError(f"{op}: input of shape {x.shape} has {channels} channels, which num_groups={groups} "
                         "does not divide")
    eps = _eps(eps, op)
    weight = _per_channel(weight, channels, op, "weight", x)
    bias = _per_channel(bias, channels, op, "bias", x)
    n = x.shape[0]
    grouped = x.reshape(n, groups, (channels // groups) * int(np.prod(x.shape[2:], dtype=np.int64)))
    y = apply(NORM.normalize, grouped, axis=2, eps=eps).reshape(x.shape)
    return _affine(y, weight, bias, (channels,) + (1,) * (x.ndim - 2))


def dropout2d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """In training, zero whole channels (each (n, c) slice of an (N, C, H, W) or (N, C, L) input) with
    probability ``p`` and scale the rest by ``1 / (1 - p)``; the input itself otherwise.

    ``inplace`` is accepted for PyTorch's signature; the result is always a new tensor.

    Raises:
        DTypeError: for a non-floating input. ShapeError: for an input that is not 3-D or 4-D.
        ArgumentError: for ``p`` outside [0, 1].
    """
    op = "dropout2d"
    x = _float_input(input, op, (3, 4), "3-D (N, C, L) or 4-D (N, C, H, W)")
    p = float(real_arg(p, op, "p", 0.0, 1.0))
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    keep = rand(*x.shape[:2], *(1,) * (x.ndim - 2), dtype=np.float64) >= p
    return x * (keep.astype(x.dtype) * (1 / (1 - p)))


# -- activations, embedding and attention (issue 14) ---------------------------------------------------
import math  # noqa: E402

from ..ops import activation as ACT  # noqa: E402
from ..ops import attention as ATT  # noqa: E402
from .attention import (  # noqa: E402
    attention,
    attention_bias,
    embedding_indices,
    padding_index,
    unsupported_embedding_options,
)

_ANY_RANK = tuple(range(33))


def _activation(prim: Primitive, input: Any, op: str, **params: Any) -> Tensor:  # noqa: A002
    return apply(prim, _float_input(input, op, _ANY_RANK, "a tensor"), **params)


def gelu(input: Any, approximate: str = "none") -> Tensor:  # noqa: A002 (PyTorch's name)
    """``x * Φ(x)`` (Φ the standard normal CDF, through the error function), or with
    ``approximate="tanh"`` PyTorch's tanh approximation ``0.5 x (1 + tanh(sqrt(2/π)(x + 0.044715 x³)))``.

    Returns a tensor of the input's shape and dtype. Raises DTypeError for a non-floating input,
    ArgumentError for another ``approximate``.
    """
    if not isinstance(approximate, str) or approximate not in ("none", "tanh"):
        raise ArgumentError(f"gelu: approximate={shown(approximate)}; expected 'none' or 'tanh'")
    return _activation(ACT.gelu, input, "gelu", approximate=approximate)


def silu(input: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``x * sigmoid(x)`` (swish). Returns a tensor like the input; DTypeError for a non-floating one."""
    return _activation(ACT.silu, input, "silu")


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``x`` clipped to ``[min_val, max_val]`` (gradient 1 strictly inside, 0 elsewhere, as in PyTorch).

    Raises DTypeError for a non-floating input, ArgumentError unless ``min_val <= max_val`` are finite.
    """
    real_arg(min_val, "hardtanh", "min_val")
    real_arg(max_val, "hardtanh", "max_val", min_val)
    return _activation(ACT.hardtanh, input, "hardtanh", min_val=float(min_val), max_val=float(max_val))


def softsign(input: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``x / (1 + |x|)``. Returns a tensor like the input; DTypeError for a non-floating one."""
    return _activation(ACT.softsign, input, "softsign")


def logsigmoid(input: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``log(sigmoid(x))``, computed as ``min(x, 0) - log1p(exp(-|x|))``: finite for every finite x.

    Returns a tensor like the input; DTypeError for a non-floating one.
    """
    return _activation(ACT.log_sigmoid, input, "logsigmoid")


def embedding(input: Any, weight: Any, padding_idx: int | None = None, max_norm: float | None = None,  # noqa: A002 (PyTorch's name)
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """The rows of ``weight`` (num_embeddings, embedding_dim) at the integer indices ``input``: a tensor of
    shape ``input.shape + (embedding_dim,)``. The row ``padding_idx`` takes no gradient; repeated
    indices accumulate theirs.

    With ``max_norm``, each row the indices read whose ``norm_type``-norm exceeds ``max_norm`` is first
    scaled down, in place and without gradient, to norm ``max_norm`` (``max_norm / (norm + 1e-7)``), as
    PyTorch does. ``scale_grad_by_freq`` and ``sparse`` (sparse gradients) are PyTorch's arguments that
    tapegrad does not offer: only their defaults are accepted.

    Raises:
        DTypeError: for indices that are not integers or a weight that is not floating-point.
        ShapeError: for a weight that is not 2-D, or an index outside ``[0, num_embeddings)`` (naming the
            range of the indices and the number of embeddings).
        ArgumentError: for a ``padding_idx`` out of range, a ``max_norm`` or ``norm_type`` that is not a
            real number (``max_norm`` >= 0), or ``scale_grad_by_freq`` or ``sparse`` set.
    """
    op = "embedding"
    idx = embedding_indices(input, op)
    w = weight if isinstance(weight, Tensor) else operand(weight, f"{op}: weight")
    if w.dtype.kind != "f":
        raise DTypeError(f"{op}: weight of dtype {w.dtype}; expected a floating-point tensor")
    if w.ndim != 2:
        raise ShapeError(f"{op}: weight of shape {w.shape}; expected (num_embeddings, embedding_dim)")
    padding_idx = padding_index(padding_idx, w.shape[0], op)
    unsupported_embedding_options(scale_grad_by_freq, sparse, op)
    if max_norm is not None:
        max_norm = float(real_arg(max_norm, op, "max_norm", 0.0))
        if not (isinstance(norm_type, (int, float, np.integer, np.floating)) and norm_type == math.inf):
            norm_type = real_arg(norm_type, op, "norm_type")
        ATT.check_indices(idx.data, w.shape[0], op)
        rows = np.unique(idx.data)
        if rows.size:
            norms = np.linalg.norm(w.data[rows], ord=float(norm_type), axis=1)
            large = norms > max_norm
            if large.any():
                rows, scale = rows[large], max_norm / (norms[large] + 1e-7)
                with no_grad():
                    w[rows] = (w.data[rows] * scale[:, None]).astype(w.dtype, copy=False)
    return apply(ATT.embedding, w, idx, padding_idx=padding_idx)


def _attention_operand(value: Any, op: str, arg: str) -> Tensor:
    t = value if isinstance(value, Tensor) else operand(value, f"{op}: {arg}")
    if t.dtype.kind != "f":
        raise DTypeError(f"{op}: {arg} of dtype {t.dtype}; expected a floating-point tensor")
    if t.ndim < 2:
        raise ShapeError(f"{op}: {arg} of shape {t.shape}; expected at least 2-D (..., sequence, features)")
    return t


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> Tensor:
    """Attention as in PyTorch: ``softmax(query @ key^T * scale + mask) @ value``, with ``scale`` =
    ``1 / sqrt(E)`` unless given, for query (..., L, E), key (..., S, E) and value (..., S, Ev); returns
    (..., L, Ev).

    ``attn_mask`` broadcasts to (..., L, S): a boolean mask says which positions take part (True) and a
    float mask (of the query's dtype) is added to the scores. ``is_causal`` masks out the positions after
    each query's (the upper triangle, aligned top left as in PyTorch). The softmax is stable; a row with
    every position masked gets output 0 (and gradient 0), as in PyTorch. ``dropout_p`` drops attention
    weights at that rate (from tg's seeded generator) and scales the rest by ``1 / (1 - dropout_p)``,
    whenever it is above 0 (PyTorch's function has no training flag either).

    Raises:
        DTypeError: for non-floating operands or operands of different dtypes, a mask of another dtype.
        ShapeError: for operands below 2-D, mismatched feature or sequence sizes, batch axes that do not
            broadcast, a mask that does not broadcast to (..., L, S).
        ArgumentError: for ``dropout_p`` outside [0, 1), a ``scale`` that is not a finite number, or
            ``is_causal`` together with ``attn_mask``.
    """
    op = "scaled_dot_product_attention"
    q, k, v = (_attention_operand(t, op, arg) for t, arg in ((query, "query"), (key, "key"), (value, "value")))
    if not q.dtype == k.dtype == v.dtype:
        raise DTypeError(f"{op}: query, key and value of dtypes {q.dtype}, {k.dtype}, {v.dtype}; expected one dtype")
    if k.shape[-1] != q.shape[-1] or v.shape[-2] != k.shape[-2]:
        raise ShapeError(f"{op}: query {q.shape}, key {k.shape} and value {v.shape}; expected query (..., L, E), "
                         f"key (..., S, E) and value (..., S, Ev)")
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ShapeError(f"{op}: the batch axes of query {q.shape}, key {k.shape} and value {v.shape} do not "
                         f"broadcast") from None
    dropout_p = float(real_arg(dropout_p, op, "dropout_p", 0.0, 1.0, high_open=True))
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else 1.0
    scale = float(real_arg(scale, op, "scale"))
    if not isinstance(is_causal, (bool, np.bool_)):
        raise ArgumentError(f"{op}: is_causal={shown(is_causal)}; expected a bool")
    length, source = q.shape[-2], k.shape[-2]
    weights_shape = batch + (length, source)
    if is_causal:
        if attn_mask is not None:
            raise ArgumentError(f"{op}: is_causal=True with an attn_mask; give one or the other")
        attn_mask = np.tril(np.ones((length, source), bool))
    bias = attention_bias(attn_mask, op, "attn_mask", q.dtype, weights_shape)
    return attention(q, k, v, bias, dropout_p, scale)[0]


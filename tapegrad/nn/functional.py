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
from ..ops.registry import Primitive
from ..ops.shape import real_arg, shown
from ..tensor import Tensor, apply, as_array

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
    labels = target.data if isinstance(target, Tensor) else as_array(target, op=f"{name}: target")
    if labels.dtype.kind not in "iu":
        raise DTypeError(f"{name}: class labels must be integers, got dtype {labels.dtype}")
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ShapeError(f"{name}: scores of shape {scores.shape} and target labels of shape {labels.shape}; "
                         f"expected scores of shape (batch, classes) and labels of shape (batch,)")
    if isinstance(target, Tensor):  # an operation, so that tg.compile checks the labels at every call
        return apply(_CHECKED_LABELS, target, classes=scores.shape[1], name=name).data
    return _in_range(labels, scores.shape[1], name)


def _in_range(labels: np.ndarray, classes: int, name: str) -> np.ndarray:
    """``labels`` itself; raises ShapeError naming the loss if one is not in ``[0, classes)``."""
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ShapeError(f"{name}: labels must lie in [0, {classes}), got values from "
                         f"{labels.min()} to {labels.max()}")
    return labels


_CHECKED_LABELS = Primitive("check labels", _in_range, saves_inputs=False)


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

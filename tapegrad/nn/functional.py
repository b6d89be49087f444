"""Loss functions, each with ``reduction`` = "mean" (default), "sum" or "none".

Class labels are integer arrays (or integer Tensors) of shape (batch,); scores and logits have shape
(batch, classes). Every loss is built from tapegrad's primitives, so it is differentiated exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import ArgumentError, DTypeError, ShapeError
from ..functions import elu, leaky_relu, log_softmax, relu, sigmoid, softmax, softplus, tanh  # noqa: F401
from ..grad_mode import SPECIAL_MODES
from ..grad_mode import state as grad_state
from ..ops.registry import Primitive
from ..tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str, name: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ArgumentError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _labels(target: Any, scores: Tensor, name: str) -> np.ndarray:
    labels = np.asarray(target.data if isinstance(target, Tensor) else target)
    if labels.dtype.kind not in "iu":
        raise DTypeError(f"{name}: class labels must be integers, got dtype {labels.dtype}")
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ShapeError(f"{name}: expected scores of shape (batch, classes) and labels of shape (batch,), "
                         f"got {scores.shape} and {labels.shape}")
    labels = _in_range(labels, scores.shape[1], name)
    if isinstance(target, Tensor) and SPECIAL_MODES.count and grad_state.trace is not None:
        # tg.compile traces: check the labels of every later call too (the check above runs once)
        labels = target._record(_CHECKED_LABELS, target, classes=scores.shape[1], name=name).data
    return labels


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
    """Negative log-likelihood of the labels, given log-probabilities (e.g. from ``log_softmax``)."""
    labels = _labels(target, log_probs, "nll_loss")
    return _reduce(-_picked(log_probs, labels), reduction, "nll_loss")


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy from raw scores, stable for logits of any size.

    With ``label_smoothing`` = e, the target puts 1 - e on the label and e spread evenly over all
    classes (as in PyTorch).
    """
    labels = _labels(target, logits, "cross_entropy")
    log_probs = logits.log_softmax(axis=1)
    loss = -_picked(log_probs, labels)
    if label_smoothing:
        loss = (1 - label_smoothing) * loss - label_smoothing * log_probs.mean(axis=1)
    return _reduce(loss, reduction, "cross_entropy")


def svm_loss(scores: Tensor, target: Any, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """The lectures' multiclass SVM (hinge) loss: sum over j != y of max(0, s_j - s_y + margin)."""
    labels = _labels(target, scores, "svm_loss")
    correct = _picked(scores, labels).reshape(-1, 1)
    margins = (scores - correct + margin).relu()
    # A Tensor for Tensor labels, so that tg.compile recomputes it at every call.
    others = (target if isinstance(target, Tensor) else labels).reshape(-1, 1) != np.arange(scores.shape[1])
    return _reduce((margins * others).sum(axis=1), reduction, "svm_loss")


def multi_margin_loss(scores: Tensor, target: Any, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """PyTorch's MultiMarginLoss: the SVM loss divided by the number of classes."""
    per_sample = svm_loss(scores, target, margin=margin, reduction="none") / scores.shape[1]
    return _reduce(per_sample, reduction, "multi_margin_loss")


def binary_cross_entropy_with_logits(logits: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Logistic loss from raw scores: ``log(1 + exp(x)) - x * t``, stable for any x."""
    target = target if isinstance(target, Tensor) else np.asarray(target, dtype=logits.dtype)
    if np.shape(target) != logits.shape:
        raise ShapeError(f"binary_cross_entropy_with_logits: logits {logits.shape} and targets "
                         f"{np.shape(target)} must have the same shape")
    return _reduce(logits.softplus() - logits * target, reduction, "binary_cross_entropy_with_logits")


def mse_loss(prediction: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error."""
    return _reduce((prediction - target) ** 2, reduction, "mse_loss")


def l1_loss(prediction: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error."""
    return _reduce((prediction - target).abs(), reduction, "l1_loss")


def huber_loss(prediction: Tensor, target: Any, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """Quadratic for errors below ``delta``, linear above: ``0.5 d**2`` or ``delta * (|d| - delta/2)``."""
    error = (prediction - target).abs()
    quadratic = error.minimum(delta)
    return _reduce(0.5 * quadratic ** 2 + delta * (error - quadratic), reduction, "huber_loss")


def l2_penalty(parameters: Iterable[Tensor], strength: float) -> Tensor:
    """``strength * sum(p**2)`` over the parameters (weight decay written as a loss term)."""
    total = None
    for parameter in parameters:
        term = (parameter * parameter).sum()
        total = term if total is None else total + term
    if total is None:
        raise ArgumentError("l2_penalty: no parameters given")
    return strength * total

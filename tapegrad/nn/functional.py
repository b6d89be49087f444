"""PyTorch's ``torch.nn.functional``: the same names, parameter names, order and defaults.

Losses take ``reduction`` = "mean" (default), "sum" or "none". Class labels are integer arrays (or
integer Tensors) of shape (batch,); scores and logits have shape (batch, classes). Every function is
built from tapegrad's primitives, so it is differentiated exactly. (tapegrad's own NumPy-style API,
``tg.softmax(x, axis=...)`` and the Tensor methods, keeps ``axis``; only ``tg.nn`` follows PyTorch.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..creation import operand
from ..errors import ArgumentError, DTypeError, ShapeError
from ..functions import where as _where
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


def _probability_targets(target: Any, prediction: Tensor, name: str) -> Tensor:
    """:func:`_targets` for an ``input`` whose targets are probabilities: an array (not a Tensor) is taken in
    the input's dtype, so that float32 stays float32."""
    t = _targets(target, prediction, name, "input")
    if not isinstance(target, Tensor) and t.dtype != prediction.dtype:
        t = Tensor(t.data.astype(prediction.dtype))
    return t


def _reduce(loss: Tensor, reduction: str, name: str) -> Tensor:
    """``loss`` reduced as ``reduction`` (checked by :func:`_check_reduction` at the loss's start) says."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _labels(target: Any, scores: Tensor, name: str, ignore_index: int | None = None) -> np.ndarray | Tensor:
    """The class labels ``target`` for ``scores`` of shape (batch, classes): an integer array of shape
    (batch,), or for a Tensor ``target`` the checked Tensor (an operation, so that tg.compile checks and
    reads the labels at every call; see :func:`_index`). Labels equal to ``ignore_index`` may lie outside
    ``[0, classes)``.

    Raises:
        DTypeError: naming the loss ``name`` for labels that are not integers.
        ShapeError: for shapes other than those, ragged labels, or a label outside ``[0, classes)``.
    """
    labels = target if isinstance(target, Tensor) else as_array(target, op=f"{name}: target")
    if labels.dtype.kind not in "iu":
        raise DTypeError(f"{name}: class labels must be integers, got dtype {labels.dtype}")
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ShapeError(f"{name}: scores of shape {scores.shape} and target labels of shape {labels.shape}; "
                         f"expected scores of shape (batch, classes) and labels of shape (batch,), or scores "
                         f"(batch, classes, d1, ...) and labels (batch, d1, ...), or scores (classes,) and one label")
    if isinstance(target, Tensor):
        return apply(_CHECKED_LABELS, target, classes=scores.shape[1], name=name, ignore_index=ignore_index)
    return _in_range(labels, scores.shape[1], name, ignore_index)


def _in_range(labels: np.ndarray, classes: int, name: str, ignore_index: int | None = None) -> np.ndarray:
    """``labels`` itself; raises ShapeError naming the loss if one is not in ``[0, classes)`` (and not
    ``ignore_index``)."""
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        kept = labels if ignore_index is None else labels[labels != ignore_index]
        if kept.size and (kept.min() < 0 or kept.max() >= classes):
            raise ShapeError(f"{name}: labels must lie in [0, {classes}), got values from "
                             f"{kept.min()} to {kept.max()}")
    return labels


_CHECKED_LABELS = Primitive("check labels", _in_range, saves_inputs=False, batch=batching_ops.leading)


def _index(labels: np.ndarray | Tensor) -> Any:
    """Labels as an index: an array, the array of a checked Tensor (which tg.compile links to the
    operation that made it), or inside tg.vmap the batched Tensor itself."""
    return labels.data if isinstance(labels, Tensor) and labels.__class__ is not Batched else labels


def _picked(scores: Tensor, labels: np.ndarray | Tensor) -> Tensor:
    return scores[np.arange(len(labels)), _index(labels)]


def _legacy_reduction(size_average: Any, reduce: Any, reduction: Any, name: str) -> str:
    """``reduction``, or PyTorch's deprecated ``size_average`` / ``reduce`` turned into one as PyTorch
    does when either is given (``reduce=False``: "none"; else ``size_average=False``: "sum"; else "mean").

    Raises:
        ArgumentError: naming ``name`` for a bad ``reduction``, or ``size_average``/``reduce`` that are
            neither None nor a bool.
    """
    if size_average is None and reduce is None:
        return _check_reduction(reduction, name)
    for arg, value in (("size_average", size_average), ("reduce", reduce)):
        if value is not None and not isinstance(value, (bool, np.bool_)):
            raise ArgumentError(f"{name}: {arg}={shown(value)}; expected None or a bool (deprecated: use reduction)")
    if reduce is not None and not reduce:
        return "none"
    return "sum" if size_average is not None and not size_average else "mean"


def _class_weight(weight: Any, classes: int, dtype: np.dtype, name: str) -> Tensor | None:
    """A loss's per-class ``weight`` (None, or a floating tensor of ``classes`` entries) as a tensor.

    Raises:
        DTypeError: naming ``name`` for a weight that is not floating-point. ShapeError: for another shape.
    """
    if weight is None:
        return None
    w = weight if isinstance(weight, Tensor) else operand(weight, f"{name}: weight")
    if w.dtype.kind != "f":
        raise DTypeError(f"{name}: weight of dtype {w.dtype}; expected a floating-point tensor")
    if w.shape != (classes,):
        raise ShapeError(f"{name}: weight of shape {w.shape} for {classes} classes; expected shape ({classes},)")
    return w if w.dtype == dtype else w.astype(dtype)


def _elementwise_weight(weight: Any, input: Tensor, name: str, arg: str = "weight") -> Tensor | None:  # noqa: A002
    """A loss's elementwise ``weight`` (None, or a floating tensor that broadcasts to the input's shape).

    Raises:
        DTypeError: naming ``name`` for a weight that is not floating-point. ShapeError: for a shape that
            does not broadcast to the input's.
    """
    if weight is None:
        return None
    w = weight if isinstance(weight, Tensor) else operand(weight, f"{name}: {arg}")
    if w.dtype.kind != "f":
        raise DTypeError(f"{name}: {arg} of dtype {w.dtype}; expected a floating-point tensor")
    try:
        fits = np.broadcast_shapes(w.shape, input.shape) == input.shape
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"{name}: {arg} of shape {w.shape} does not broadcast to the input's shape {input.shape}")
    return w if w.dtype == input.dtype else w.astype(input.dtype)


def _shape(value: Any) -> tuple[int, ...] | None:
    """The shape of a target (a Tensor, array, number or nested list), None for ragged or other data."""
    if isinstance(value, (Tensor, np.ndarray)):
        return value.shape
    if isinstance(value, (str, bytes)):
        return None
    try:
        return np.shape(value)
    except ValueError:
        return None


def _class_rows(scores: Tensor, target: Any, name: str) -> tuple[Tensor, Any, tuple[int, ...] | None]:
    """Scores (classes,) or (batch, classes, d1, ...) as rows (n, classes), the target as n labels, and
    the shape of the per-element loss (None: (batch,), nothing to restore)."""
    shape = _shape(target)
    if scores.ndim == 1 and shape == ():
        return scores.reshape(1, -1), target.reshape(1) if isinstance(target, Tensor) else np.reshape(target, 1), ()
    if scores.ndim > 2 and shape == scores.shape[:1] + scores.shape[2:]:
        rows = scores.permute(0, *range(2, scores.ndim), 1).reshape(-1, scores.shape[1])
        return rows, target.reshape(-1) if isinstance(target, Tensor) else np.reshape(target, -1), shape
    return scores, target, None


def _probabilities(target: Any, scores: Tensor) -> bool:
    """Whether a cross_entropy ``target`` is class probabilities: floating-point, of the scores' shape."""
    if isinstance(target, Tensor):
        return target.dtype.kind == "f" and target.shape == scores.shape
    if isinstance(target, np.ndarray):
        return target.dtype.kind == "f" and target.shape == scores.shape
    if isinstance(target, (list, tuple)):
        try:
            array = np.asarray(target)
        except ValueError:
            return False
        return array.dtype.kind == "f" and array.shape == scores.shape
    return False


def _kept(labels: np.ndarray | Tensor, ignore_index: int) -> tuple[Any, Any]:
    """``labels`` with those equal to ``ignore_index`` replaced by 0, and the mask of the others
    (None when none is ignored; always a Tensor for Tensor labels, whose values tg.compile may change)."""
    valid = labels != ignore_index
    if isinstance(labels, Tensor):
        return _where(valid, labels, 0), valid
    if valid.all():
        return labels, None
    return np.where(valid, labels, 0), valid


def _class_loss(name: str, input: Any, target: Any, weight: Any, ignore_index: Any, reduction: str,  # noqa: A002
                label_smoothing: float, from_logits: bool) -> Tensor:
    """nll_loss and cross_entropy (``from_logits``): PyTorch's weighting, ignore_index, label smoothing,
    (batch, classes, d1, ...) layouts and (cross_entropy) class-probability targets."""
    scores = _scores(input, name, "input")
    ignore_index = int_arg(ignore_index, name, "ignore_index")
    if from_logits and scores.ndim and _probabilities(target, scores):
        # class probabilities (PyTorch's second kind of target): -sum_c w_c p_c log q_c per element
        probs = target if isinstance(target, Tensor) else Tensor(np.asarray(target, scores.dtype))
        axis = 1 if scores.ndim > 1 else 0
        w = _class_weight(weight, scores.shape[axis], scores.dtype, name)
        if label_smoothing:
            probs = probs * (1 - label_smoothing) + label_smoothing / scores.shape[axis]
        terms = scores.log_softmax(axis=axis) * probs
        if w is not None:
            terms = terms * w.reshape((-1,) + (1,) * (scores.ndim - 2))
        return _reduce(-terms.sum(axis=axis), reduction, name)
    rows, target, shape = _class_rows(scores, target, name)
    labels = _labels(target, rows, name, ignore_index)
    classes = rows.shape[1]
    w = _class_weight(weight, classes, rows.dtype, name)
    log_probs = rows.log_softmax(axis=1) if from_logits else rows
    safe, valid = _kept(labels, ignore_index)
    loss = -_picked(log_probs, safe)
    smooth = None
    if label_smoothing:
        smooth = -(log_probs * w).sum(axis=1) if w is not None else -log_probs.sum(axis=1)
    if w is not None:
        loss = loss * w[_index(safe)]
    if valid is not None:
        loss = _where(valid, loss, 0.0)
        smooth = None if smooth is None else _where(valid, smooth, 0.0)
    if reduction == "mean" and (w is not None or valid is not None):
        if w is not None:
            total = w[_index(safe)]
            total = (_where(valid, total, 0.0) if valid is not None else total).sum()
        else:
            total = valid.astype(rows.dtype).sum() if isinstance(valid, Tensor) else float(valid.sum())
        loss = loss.sum() / total
        if smooth is not None:
            loss = (1 - label_smoothing) * loss + (label_smoothing / classes) * (smooth.sum() / total)
        return loss
    if smooth is not None:
        loss = (1 - label_smoothing) * loss + (label_smoothing / classes) * smooth
    if reduction == "none" and shape is not None:
        return loss.reshape(shape)
    return _reduce(loss, reduction, name)


def nll_loss(input: Any, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002 (PyTorch's names)
             ignore_index: int = -100, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the labels, given log-probabilities (e.g. from ``log_softmax``), with
    PyTorch's arguments: ``input`` (batch, classes), (classes,) or (batch, classes, d1, ...) and labels
    (batch,), () or (batch, d1, ...); ``weight`` (classes,) scales each class's terms (the mean is then
    divided by the sum of the weights of the labels); labels equal to ``ignore_index`` add nothing (and
    do not count in the mean). ``size_average`` and ``reduce`` are PyTorch's deprecated form of
    ``reduction``.

    Returns the loss (a scalar, or per element with ``reduction="none"``). Raises ArgumentError for
    a bad ``reduction``, DTypeError and ShapeError for inputs that are not as the module docstring
    says (each naming the loss).
    """
    reduction = _legacy_reduction(size_average, reduce, reduction, "nll_loss")
    return _class_loss("nll_loss", input, target, weight, ignore_index, reduction, 0.0, False)


def cross_entropy(input: Any, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002 (PyTorch's names)
                  ignore_index: int = -100, reduce: Any = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy from raw scores (``input``), stable for logits of any size, with PyTorch's
    arguments: ``weight``, ``ignore_index`` and the layouts as :func:`nll_loss`; the target may also be
    class probabilities of the input's shape (floating-point).

    With ``label_smoothing`` = e in [0, 1], the target puts 1 - e on the label and e spread evenly
    over all classes (as in PyTorch). Returns the loss; raises as :func:`nll_loss` does, and
    ArgumentError for ``label_smoothing`` outside [0, 1].
    """
    reduction = _legacy_reduction(size_average, reduce, reduction, "cross_entropy")
    label_smoothing = real_arg(label_smoothing, "cross_entropy", "label_smoothing", 0.0, 1.0)
    return _class_loss("cross_entropy", input, target, weight, ignore_index, reduction, label_smoothing, True)


def _hinge(scores: Tensor, target: Any, margin: float, name: str, p: int = 1,
           weight: Any = None) -> tuple[Tensor, int]:
    """Per sample, sum over j != y of max(0, s_j - s_y + margin) ** p (times ``weight[y]``), after
    checking the arguments; and the number of classes."""
    real_arg(margin, name, "margin")
    scores = _scores(scores, name, "input" if name == "multi_margin_loss" else "scores")
    if scores.ndim == 1 and _shape(target) == ():
        scores = scores.reshape(1, -1)
        target = target.reshape(1) if isinstance(target, Tensor) else np.reshape(target, 1)
    labels = _labels(target, scores, name)
    w = _class_weight(weight, scores.shape[1], scores.dtype, name)
    correct = _picked(scores, labels).reshape(-1, 1)
    margins = (scores - correct + margin).relu()
    if p == 2:
        margins = margins * margins
    # A Tensor for Tensor labels, so that tg.compile recomputes it at every call.
    others = (target if isinstance(target, Tensor) else labels).reshape(-1, 1) != np.arange(scores.shape[1])
    per_sample = (margins * others).sum(axis=1)
    if w is not None:
        per_sample = per_sample * w[_index(labels)]
    return per_sample, scores.shape[1]


def svm_loss(scores: Tensor, target: Any, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """The lectures' multiclass SVM (hinge) loss: sum over j != y of max(0, s_j - s_y + margin).

    Returns the loss; raises as :func:`nll_loss` does, and ArgumentError for a ``margin`` that is
    not a finite real number.
    """
    _check_reduction(reduction, "svm_loss")
    return _reduce(_hinge(scores, target, margin, "svm_loss")[0], reduction, "svm_loss")


def multi_margin_loss(input: Any, target: Any, p: int = 1, margin: float = 1.0, weight: Any = None,  # noqa: A002
                      size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """PyTorch's MultiMarginLoss: per sample, the sum over j != y of
    ``weight[y] * max(0, margin - x_y + x_j) ** p`` divided by the number of classes (``p`` 1 or 2).

    Returns the loss; raises as :func:`svm_loss` does, and ArgumentError for ``p`` other than 1 or 2.
    """
    name = "multi_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction, name)
    if not isinstance(p, (int, np.integer)) or isinstance(p, (bool, np.bool_)) or p not in (1, 2):
        raise ArgumentError(f"{name}: p={shown(p)}; expected 1 or 2")
    per_sample, classes = _hinge(input, target, margin, name, int(p), weight)
    loss = per_sample / classes
    return _reduce(loss.reshape(()) if _shape(target) == () and reduction == "none" else loss, reduction, name)


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002
                                     reduce: Any = None, reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Logistic loss from raw scores: ``log(1 + exp(x)) - x * t``, stable for any x; with PyTorch's
    ``pos_weight`` (broadcast along the last axis: ``-[pos_weight * t * log σ(x) + (1 - t) log σ(-x)]``)
    and ``weight`` (multiplies each element; both broadcast to the input's shape).

    ``target`` (probabilities, bools or 0/1 integers) has the shape of ``input``; an array is
    taken in the dtype of ``input``. Returns the loss; raises ArgumentError for a bad ``reduction``,
    DTypeError for non-floating logits, weights or non-real targets, ShapeError for mismatched shapes.
    """
    name = "binary_cross_entropy_with_logits"
    reduction = _legacy_reduction(size_average, reduce, reduction, name)
    logits = _scores(input, name, "input")
    target = _probability_targets(target, logits, name)
    w = _elementwise_weight(weight, logits, name)
    pw = _elementwise_weight(pos_weight, logits, name, "pos_weight")
    if pw is None:
        loss = logits.softplus() - logits * target
    else:
        loss = pw * target * (-logits).softplus() + (1 - target) * logits.softplus()
    return _reduce(loss if w is None else loss * w, reduction, name)


def _weighted(loss: Tensor, weight: Any, reduction: str, name: str, by_weights: bool) -> Tensor:
    """``loss`` times the elementwise ``weight`` (of the input's shape, as PyTorch requires) and reduced;
    a weighted mean divides by the sum of the weights when ``by_weights`` (mse_loss, l1_loss) and by the
    number of elements otherwise (huber_loss), as PyTorch does."""
    if weight is None:
        return _reduce(loss, reduction, name)
    w = weight if isinstance(weight, Tensor) else operand(weight, f"{name}: weight")
    if w.dtype.kind != "f":
        raise DTypeError(f"{name}: weight of dtype {w.dtype}; expected a floating-point tensor")
    if w.shape != loss.shape:
        raise ShapeError(f"{name}: weight of shape {w.shape} for an input of shape {loss.shape}; expected the "
                         "input's shape")
    w = w if w.dtype == loss.dtype else w.astype(loss.dtype)  # as _elementwise_weight: float32 stays float32
    loss = loss * w
    if reduction == "mean" and by_weights:
        return loss.sum() / w.sum()
    return _reduce(loss, reduction, name)


def mse_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002 (PyTorch's names)
             reduction: str = "mean", weight: Any = None) -> Tensor:
    """Mean squared error between ``input`` and a ``target`` of its shape (``weight``, of that shape too,
    scales each element; the mean is then divided by the sum of the weights, as PyTorch does).

    Returns the loss; raises ArgumentError for a bad ``reduction``, DTypeError for a non-floating
    input or weight or non-real target, ShapeError for mismatched shapes (never broadcast).
    """
    reduction = _legacy_reduction(size_average, reduce, reduction, "mse_loss")
    prediction = _scores(input, "mse_loss", "input")
    loss = (prediction - _targets(target, prediction, "mse_loss", "input")) ** 2
    return _weighted(loss, weight, reduction, "mse_loss", True)


def l1_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002 (PyTorch's names)
            reduction: str = "mean", weight: Any = None) -> Tensor:
    """Mean absolute error; returns and raises as :func:`mse_loss` does."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "l1_loss")
    prediction = _scores(input, "l1_loss", "input")
    loss = (prediction - _targets(target, prediction, "l1_loss", "input")).abs()
    return _weighted(loss, weight, reduction, "l1_loss", True)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0,  # noqa: A002 (PyTorch's names)
               weight: Any = None) -> Tensor:
    """Quadratic for errors below ``delta``, linear above: ``0.5 d**2`` or ``delta * (|d| - delta/2)``;
    PyTorch's argument order (``reduction`` before ``delta``). A ``weight`` of the input's shape scales
    each element (the mean stays over the elements, as in PyTorch).

    Returns and raises as :func:`mse_loss` does, and ArgumentError unless ``delta`` is a finite
    number > 0 (as in PyTorch).
    """
    _check_reduction(reduction, "huber_loss")
    real_arg(delta, "huber_loss", "delta", 0.0, low_open=True)
    prediction = _scores(input, "huber_loss", "input")
    error = (prediction - _targets(target, prediction, "huber_loss", "input")).abs()
    quadratic = error.minimum(delta)
    return _weighted(0.5 * quadratic ** 2 + delta * (error - quadratic), weight, reduction, "huber_loss", False)


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


def _normalized_input(input: Any, normalized_shape: Any, op: str) -> tuple[Tensor, tuple[int, ...]]:  # noqa: A002
    """The floating input of ``op`` (layer_norm, rms_norm) and ``normalized_shape`` as a tuple.

    Raises:
        ArgumentError: for a ``normalized_shape`` that is not positive ints. DTypeError: for a non-floating
        input. ShapeError: when the input's shape does not end with ``normalized_shape``.
    """
    items = normalized_shape if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,)
    shape = _int_tuple(tuple(items), len(items), op, "normalized_shape", 1) if items else ()
    if not shape:
        raise ArgumentError(f"{op}: normalized_shape={shown(normalized_shape)}; expected at least one size")
    x = _float_input(input, op, tuple(range(len(shape), 33)), f"at least {len(shape)}-D, ending with {shape}")
    if x.shape[x.ndim - len(shape):] != shape:
        raise ShapeError(f"{op}: input of shape {x.shape} does not end with normalized_shape {shape}; expected "
                         f"an input of shape (*, {', '.join(map(str, shape))})")
    return x, shape


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
    x, shape = _normalized_input(input, normalized_shape, op)
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


def silu(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``x * sigmoid(x)`` (swish). Returns a tensor like the input; DTypeError for a non-floating one.
    ``inplace`` is accepted for PyTorch's signature; the result is always a new tensor."""
    return _activation(ACT.silu, input, "silu")


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False  # noqa: A002
             ) -> Tensor:
    """``x`` clipped to ``[min_val, max_val]`` (gradient 1 strictly inside, 0 elsewhere, as in PyTorch).
    ``inplace`` is accepted for PyTorch's signature; the result is always a new tensor.

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
    PyTorch does (an in-place change, which ``tg.compile`` refuses to trace: compile without ``max_norm``).
    ``scale_grad_by_freq`` and ``sparse`` (sparse gradients) are PyTorch's arguments that tapegrad does not
    offer: only their defaults are accepted.

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
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """Attention as in PyTorch: ``softmax(query @ key^T * scale + mask) @ value``, with ``scale`` =
    ``1 / sqrt(E)`` unless given, for query (..., L, E), key (..., S, E) and value (..., S, Ev); returns
    (..., L, Ev).

    ``attn_mask`` broadcasts to (..., L, S): a boolean mask says which positions take part (True) and a
    float mask (of the query's dtype) is added to the scores. ``is_causal`` masks out the positions after
    each query's (the upper triangle, aligned top left as in PyTorch). The softmax is stable; a row with
    every position masked gets output 0 (and gradient 0), as in PyTorch. ``dropout_p`` drops attention
    weights at that rate (from tg's seeded generator) and scales the rest by ``1 / (1 - dropout_p)``,
    whenever it is above 0 (PyTorch's function has no training flag either). With ``enable_gqa`` (grouped
    query attention), key and value may have fewer heads (axis -3) than the query, a divisor of its
    number: each of their heads serves that many query heads in turn, as in PyTorch.

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
    if not isinstance(enable_gqa, (bool, np.bool_)):
        raise ArgumentError(f"{op}: enable_gqa={shown(enable_gqa)}; expected a bool")
    if enable_gqa and min(q.ndim, k.ndim, v.ndim) >= 3 and (k.shape[-3] != q.shape[-3] or v.shape[-3] != q.shape[-3]):
        heads = q.shape[-3]
        if k.shape[-3] != v.shape[-3] or not k.shape[-3] or heads % k.shape[-3]:
            raise ShapeError(f"{op}: query {q.shape} with {heads} heads, key {k.shape} and value {v.shape}; with "
                             "enable_gqa, key and value need one number of heads that divides the query's")
        k, v = k.repeat(heads // k.shape[-3], axis=-3), v.repeat(heads // v.shape[-3], axis=-3)
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



# -- PyTorch's signatures for the activations, softmax, dropout and linear, and the common functions ----
# Each takes torch.nn.functional's parameter names, order and defaults, so that PyTorch code runs
# unchanged. ``inplace`` is accepted where PyTorch has it: the result is always a new tensor and the
# input keeps its values (an in-place write would invalidate what autograd saved of the input), which is
# what ``x = F.relu(x, inplace=True)`` relies on.
import warnings  # noqa: E402

from ..ops.shape import axis_arg as _axis_arg  # noqa: E402
from ..ops.shape import dtype_arg as _dtype_arg  # noqa: E402
from ..ops.shape import fill_arg as _fill_arg  # noqa: E402


def _any_input(value: Any, op: str) -> Tensor:
    """``value`` as a tensor of any numeric dtype (errors name ``op``)."""
    return value if isinstance(value, Tensor) else operand(value, f"{op}: input")


def relu(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``max(x, 0)``. Returns a new tensor like the input (``inplace`` is accepted, see above)."""
    return _any_input(input, "relu").relu()


def relu6(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``min(max(x, 0), 6)`` (hardtanh on [0, 6]). Returns a new tensor; DTypeError for a non-floating input."""
    return hardtanh(input, 0.0, 6.0)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x`` where positive, ``negative_slope * x`` elsewhere. Returns a new tensor; ArgumentError for a
    slope that is not a finite number."""
    return _any_input(input, "leaky_relu").leaky_relu(negative_slope)


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere. Returns a new tensor."""
    return _any_input(input, "elu").elu(alpha)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``scale * elu(x, alpha)`` with PyTorch's constants (alpha 1.6733, scale 1.0507). Returns a new
    tensor; DTypeError for a non-floating input."""
    return _float_input(input, "selu", _ANY_RANK, "a tensor").elu(_SELU_ALPHA) * _SELU_SCALE


def celu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``. Returns a new tensor; DTypeError for a
    non-floating input, ArgumentError for an ``alpha`` that is 0 or not a finite number."""
    alpha = float(real_arg(alpha, "celu", "alpha"))
    if alpha == 0:
        raise ArgumentError("celu: alpha=0.0; expected a nonzero alpha (it divides x)")
    x = _float_input(input, "celu", _ANY_RANK, "a tensor")
    if alpha < 0:  # alpha * elu(x / alpha) holds for alpha > 0 only (x / alpha flips the sign of x)
        positive = x > 0
        return _where(positive, x, (_where(positive, 0.0, x) / alpha).expm1() * alpha)
    return (x / alpha).elu(1.0) * alpha if alpha != 1 else x.elu(1.0)


def sigmoid(input: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``1 / (1 + exp(-x))``. Returns a new tensor."""
    return _any_input(input, "sigmoid").sigmoid()


def tanh(input: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``tanh(x)``. Returns a new tensor."""
    return _any_input(input, "tanh").tanh()


def hardsigmoid(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``relu6(x + 3) / 6`` (gradient 1/6 strictly inside (-3, 3), as in PyTorch). Returns a new tensor;
    DTypeError for a non-floating input."""
    x = _float_input(input, "hardsigmoid", _ANY_RANK, "a tensor")
    return hardtanh(x + 3.0, 0.0, 6.0) / 6.0


def hardswish(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``x * relu6(x + 3) / 6``. Returns a new tensor; DTypeError for a non-floating input."""
    x = _float_input(input, "hardswish", _ANY_RANK, "a tensor")
    return x * (hardtanh(x + 3.0, 0.0, 6.0) / 6.0)


def mish(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``x * tanh(softplus(x))``, finite for every finite x. Returns a new tensor; DTypeError for a
    non-floating input."""
    x = _float_input(input, "mish", _ANY_RANK, "a tensor")
    return x * x.softplus().tanh()


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002 (PyTorch's name)
    """PyTorch's softplus: ``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``
    (there the gradient is exactly 1, as in PyTorch).

    Returns a new tensor like the input. Raises DTypeError for a non-floating input, ArgumentError for a
    ``beta`` that is 0 or not a finite number or a ``threshold`` that is not a finite number.
    """
    beta = float(real_arg(beta, "softplus", "beta"))
    threshold = float(real_arg(threshold, "softplus", "threshold"))
    if beta == 0:
        raise ArgumentError("softplus: beta=0.0; expected a nonzero beta (it divides the result)")
    x = _float_input(input, "softplus", _ANY_RANK, "a tensor")
    scaled = x if beta == 1 else x * beta
    smooth = scaled.softplus() if beta == 1 else scaled.softplus() / beta
    return _where(scaled > threshold, x, smooth)


def _softmax_input(input: Any, dim: Any, dtype: Any, op: str, stacklevel: int) -> tuple[Tensor, int]:  # noqa: A002
    """The input (cast to ``dtype`` first, as PyTorch does) and ``dim`` as an axis; ``dim=None`` takes
    PyTorch's implicit choice (0 for 0-, 1- and 3-D inputs, else 1) with PyTorch's warning."""
    x = _any_input(input, op)
    if dtype is not None:
        dtype = _dtype_arg(dtype, op)
        if dtype.kind != "f":
            raise DTypeError(f"{op}: dtype={dtype}; expected a floating-point dtype")
        x = x.astype(dtype) if x.dtype != dtype else x
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: input of dtype {x.dtype}; expected a floating-point tensor (or pass dtype=)")
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include "
                      "dim=X as an argument.", UserWarning, stacklevel=max(int(stacklevel), 1))
        return x, 0 if x.ndim in (0, 1, 3) else 1
    return x, _axis_arg(dim, max(x.ndim, 1), op, "dim")


def _along(x: Tensor, method: str, axis: int) -> Tensor:
    if x.ndim == 0:  # PyTorch takes dim 0 of a 0-d tensor: one entry
        return getattr(x.reshape(1), method)(0).reshape(())
    return getattr(x, method)(axis)


def softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:  # noqa: A002
    """``exp(x) / sum(exp(x))`` along ``dim``, without overflow; ``dtype`` casts the input first.

    Returns a new tensor like the (cast) input. Raises DTypeError for a non-floating input or dtype,
    ShapeError for a ``dim`` out of range, ArgumentError for a ``dim`` that is not an int.
    """
    x, axis = _softmax_input(input, dim, dtype, "softmax", _stacklevel)
    return _along(x, "softmax", axis)


def log_softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:  # noqa: A002
    """``x - logsumexp(x)`` along ``dim``, without overflow; returns and raises as :func:`softmax`."""
    x, axis = _softmax_input(input, dim, dtype, "log_softmax", _stacklevel)
    return _along(x, "log_softmax", axis)


def softmin(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:  # noqa: A002
    """``softmax(-x)`` along ``dim``; returns and raises as :func:`softmax`."""
    x, axis = _softmax_input(input, dim, dtype, "softmin", _stacklevel)
    return _along(-x, "softmax", axis)


def glu(input: Any, dim: int = -1) -> Tensor:  # noqa: A002 (PyTorch's name)
    """The gated linear unit ``a * sigmoid(b)``, ``a`` and ``b`` the two halves of the input along ``dim``.

    Returns a tensor with half the size along ``dim``. Raises DTypeError for a non-floating input,
    ShapeError for a 0-d input, a ``dim`` out of range or an odd size along it.
    """
    x = _float_input(input, "glu", _ANY_RANK[1:], "at least 1-D")
    axis = _axis_arg(dim, x.ndim, "glu", "dim")
    n = x.shape[axis]
    if n % 2:
        raise ShapeError(f"glu: input of shape {x.shape} has {n} entries along dim={dim}; expected an even number")
    before = (slice(None),) * axis
    return x[before + (slice(0, n // 2),)] * x[before + (slice(n // 2, n),)].sigmoid()


def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """In training, zero each entry with probability ``p`` (in [0, 1]; ``p=1`` zeros everything, as in
    PyTorch) and scale the rest by ``1 / (1 - p)``; the input itself otherwise. The draw comes from tg's
    seeded generator and is an operation, so a compiled function draws a new mask at every call.
    ``inplace`` is accepted for PyTorch's signature; the result is always a new tensor.

    Raises:
        DTypeError: for a non-floating input. ArgumentError: for ``p`` outside [0, 1].
    """
    p = float(real_arg(p, "dropout", "p", 0.0, 1.0))
    x = _float_input(input, "dropout", _ANY_RANK, "a tensor")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    keep = rand(*x.shape, dtype=np.float64) >= p
    return x * (keep.astype(x.dtype) * (1 / (1 - p)))


def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``input @ weight.T + bias`` for ``input`` (*, in_features), ``weight`` (out_features, in_features)
    (or (in_features,): one output, the last axis dropped) and ``bias`` (out_features,) or a scalar.

    Operands of two floating dtypes are promoted as NumPy promotes them, as in ``nn.Linear`` (float64 data
    through a float32 layer gives float64; PyTorch refuses mixed dtypes).

    Returns a tensor (*, out_features). Raises ShapeError naming linear when the input's last axis does
    not match the weight's in_features or the bias has another shape, DTypeError for operands that are
    not floating-point.
    """
    op = "linear"
    x = _float_input(input, op, _ANY_RANK[1:], "at least 1-D (*, in_features)")
    w = weight if isinstance(weight, Tensor) else operand(weight, f"{op}: weight")
    if w.dtype.kind != "f":
        raise DTypeError(f"{op}: weight of dtype {w.dtype}; expected a floating-point tensor")
    if w.ndim not in (1, 2):
        raise ShapeError(f"{op}: weight of shape {w.shape}; expected (out_features, in_features)")
    if x.shape[-1] != w.shape[-1]:
        raise ShapeError(f"{op}: input of shape {x.shape} has {x.shape[-1]} features in its last axis; the weight "
                         f"of shape {w.shape} expects {w.shape[-1]} (in_features)")
    out = x @ (w.T if w.ndim == 2 else w)
    if bias is None:
        return out
    b = bias if isinstance(bias, Tensor) else operand(bias, f"{op}: bias")
    if b.dtype.kind != "f":
        raise DTypeError(f"{op}: bias of dtype {b.dtype}; expected a floating-point tensor")
    if b.shape not in (w.shape[:1] if w.ndim == 2 else (), ()):
        raise ShapeError(f"{op}: bias of shape {b.shape} for a weight of shape {w.shape}; expected "
                         f"{w.shape[:1] if w.ndim == 2 else ()} (one per output feature)")
    return out + b


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """The int64 one-hot encoding of the integer labels ``tensor``: shape ``tensor.shape + (num_classes,)``,
    ``num_classes=-1`` meaning one more than the largest label (under tg.compile, the largest label of the
    first call: pass ``num_classes`` there). Not differentiable (as in PyTorch).

    Raises:
        DTypeError: for labels that are not integers. ShapeError: for a negative label or one not below
        ``num_classes``. ArgumentError: for ``num_classes`` that is not an integer >= -1, or -1 with no
        labels.
    """
    op = "one_hot"
    labels = tensor if isinstance(tensor, Tensor) else operand(tensor, f"{op}: tensor")
    if labels.dtype.kind not in "iu":
        raise DTypeError(f"{op}: tensor of dtype {labels.dtype}; expected integer class labels")
    classes = int_arg(num_classes, op, "num_classes")
    if classes == -1:  # reads the values (not inside tg.vmap, where only a given num_classes works)
        values = labels.data
        if not values.size:
            raise ArgumentError(f"{op}: num_classes=-1 with no labels; expected num_classes to be given")
        classes = int(values.max()) + 1
    if not 0 <= classes <= MAX_SIZE // 8 // max(labels.size, 1):  # int64 entries: 8 bytes each
        given = f" (the largest label + 1: {classes} classes)" if num_classes == -1 else ""
        raise ArgumentError(f"{op}: num_classes={num_classes}{given}; expected -1 or a non-negative integer (that "
                            "leaves the result a size NumPy can hold)")
    if isinstance(tensor, Tensor):  # operations, so that tg.compile checks and encodes the labels of every call
        checked = apply(_CHECKED_LABELS, labels, classes=classes, name=op)
        return (checked[..., None] == np.arange(classes)).astype(np.int64)
    values = labels.data
    _in_range(values, classes, op)
    return Tensor((values[..., None] == np.arange(classes)).astype(np.int64))


_PAD_MODES = {"constant": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input: Any, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """PyTorch's pad: ``pad`` = (left, right) widths for the last axis, then for the one before, ...;
    negative widths crop. ``mode``: "constant" (``value``, default 0), "reflect" (mirrored without the
    edge), "replicate" (the edge repeated) or "circular" (wrapped around). Differentiable in the input.

    Returns the padded tensor. Raises ArgumentError for a ``pad`` that is not an even number of ints
    (at most two per axis), another mode, or a ``value`` with a mode other than constant; DTypeError for
    a ``value`` the input's dtype cannot hold; ShapeError when cropping leaves a negative size or a
    reflect/circular width reaches the size of its axis (as PyTorch refuses).
    """
    op = "pad"
    x = _any_input(input, op)
    if not isinstance(pad, (tuple, list)) or len(pad) % 2 or len(pad) > 2 * x.ndim:
        raise ArgumentError(f"{op}: pad={shown(pad)}; expected a tuple of an even number of ints, at most 2 per "
                            f"axis of the input of shape {x.shape}")
    widths = [int_arg(v, op, "pad") for v in pad]
    if not isinstance(mode, str) or mode not in _PAD_MODES:
        raise ArgumentError(f"{op}: mode={shown(mode)}; expected one of {tuple(_PAD_MODES)}")
    if value is not None and mode != "constant":
        raise ArgumentError(f"{op}: value={shown(value)} with mode={mode!r}; a value is for mode='constant' only")
    pairs = [(0, 0)] * x.ndim
    for i in range(len(widths) // 2):
        pairs[x.ndim - 1 - i] = (widths[2 * i], widths[2 * i + 1])
    if any(b < 0 or a < 0 for b, a in pairs):
        if any(n + min(b, 0) + min(a, 0) < 0 for (b, a), n in zip(pairs, x.shape)):
            raise ShapeError(f"{op}: pad={tuple(widths)} crops more than the input of shape {x.shape} holds")
        if mode != "reflect":  # as PyTorch: crop first; reflect crops what it reflected (below)
            x = x[tuple(slice(-min(b, 0), n + min(a, 0)) for (b, a), n in zip(pairs, x.shape))]
            pairs = [(max(b, 0), max(a, 0)) for b, a in pairs]
    if mode == "constant":
        fill = 0 if value is None else value
        _fill_arg(fill, x.dtype, op, "value")
        return x.pad(pairs, constant_values=fill) if any(b or a for b, a in pairs) else x
    for axis, (before, after) in enumerate(pairs):
        if not (before or after):
            continue
        n, grow = x.shape[axis], (max(before, 0), max(after, 0))
        if any(grow) and (n == 0 or (mode == "reflect" and max(grow) >= n) or (mode == "circular" and
                                                                              max(grow) > n)):
            raise ShapeError(f"{op}: widths ({before}, {after}) for axis {axis} of size {n} in mode {mode!r}; expected "
                             f"widths {'below' if mode == 'reflect' else 'at most'} the size of the axis")
        positions = np.pad(np.arange(n), grow, mode=_PAD_MODES[mode])
        positions = positions[-min(before, 0):len(positions) + min(after, 0)]  # reflect's negative widths
        x = x[(slice(None),) * axis + (positions,)]
    return x


def _vector_norm(x: Tensor, p: float, axis: int, keepdims: bool) -> Tensor:
    """The ``p``-norm along ``axis``: NumPy's ``linalg.norm``, which tapegrad computes scaled by the largest
    entry (no overflow for huge entries, no underflow for tiny ones), with gradient 0 (not NaN) where the
    norm is 0, as PyTorch's."""
    return np.linalg.norm(x, ord=p, axis=axis, keepdims=keepdims)


def _norm_order(p: Any, op: str) -> float:
    if isinstance(p, (int, float, np.integer, np.floating)) and not isinstance(p, (bool, np.bool_)) and p == math.inf:
        return math.inf
    p = float(real_arg(p, op, "p", 0.0, low_open=True))
    if p < 1:
        raise ArgumentError(f"{op}: p={p}; expected p >= 1 (or inf)")
    return p


def normalize(input: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None) -> Tensor:  # noqa: A002
    """``x / max(||x||_p, eps)`` along ``dim`` (PyTorch's default dim=1: each row of a batch).

    Returns a new tensor like the input. Raises DTypeError for a non-floating input, ShapeError for a
    ``dim`` out of range, ArgumentError for ``p`` below 1 (inf is the largest magnitude), an ``eps`` below
    0, or an ``out`` tensor (tapegrad writes no results into given tensors).
    """
    op = "normalize"
    if out is not None:
        raise ArgumentError(f"{op}: out= is not supported; use the returned tensor")
    p = _norm_order(p, op)
    eps = float(real_arg(eps, op, "eps", 0.0))
    x = _float_input(input, op, _ANY_RANK[1:], "at least 1-D")
    axis = _axis_arg(dim, x.ndim, op, "dim")
    return x / _vector_norm(x, p, axis, True).maximum(eps)


def _pair(x1: Any, x2: Any, op: str) -> tuple[Tensor, Tensor]:
    a = _float_input(x1, op, _ANY_RANK[1:], "at least 1-D")
    b = _float_input(x2, op, _ANY_RANK[1:], "at least 1-D")
    if a.dtype != b.dtype:
        raise DTypeError(f"{op}: x1 of dtype {a.dtype} and x2 of dtype {b.dtype}; expected one dtype")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"{op}: x1 of shape {a.shape} and x2 of shape {b.shape} do not broadcast") from None
    return a, b


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``x1 . x2 / (max(||x1||, eps) max(||x2||, eps))`` along ``dim`` of the broadcast inputs.

    Returns a tensor without that axis. Raises DTypeError for non-floating inputs or two dtypes,
    ShapeError for shapes that do not broadcast or a ``dim`` out of range, ArgumentError for ``eps``
    below 0.
    """
    op = "cosine_similarity"
    eps = float(real_arg(eps, op, "eps", 0.0))
    a, b = _pair(x1, x2, op)
    shape = np.broadcast_shapes(a.shape, b.shape)
    axis = _axis_arg(dim, len(shape), op, "dim")
    a = a if a.shape == shape else a.broadcast_to(shape)
    b = b if b.shape == shape else b.broadcast_to(shape)
    na, nb = _vector_norm(a, 2, axis, True).maximum(eps), _vector_norm(b, 2, axis, True).maximum(eps)
    return ((a / na) * (b / nb)).sum(axis=axis)


def pairwise_distance(x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` along the last axis (PyTorch's formula: eps is added to the difference).

    Returns a tensor without the last axis (kept, of size 1, with ``keepdim``). Raises as
    :func:`cosine_similarity` and ArgumentError for ``p`` below 1.
    """
    op = "pairwise_distance"
    p = _norm_order(p, op)
    eps = float(real_arg(eps, op, "eps"))
    a, b = _pair(x1, x2, op)
    return _vector_norm(a - b + eps, p, -1, bool(keepdim))


def _clamped_log(x: Tensor) -> Tensor:
    """``log(x)`` no smaller than -100 (PyTorch's clamp in binary_cross_entropy), with a finite gradient
    at x = 0."""
    positive = x > 0
    return _where(positive, _where(positive, x, 1.0).log(), -100.0).maximum(-100.0)


def binary_cross_entropy(input: Any, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002
                         reduce: Any = None, reduction: str = "mean") -> Tensor:
    """``-w (t log x + (1 - t) log(1 - x))`` for probabilities ``input`` in [0, 1] (each log clamped at
    -100, as PyTorch does) and a ``target`` of its shape; ``weight`` broadcasts to the input's shape.
    Prefer :func:`binary_cross_entropy_with_logits` on raw scores (stable). The gradient is the clamped
    loss's own (0 in a term whose log is clamped); PyTorch's backward uses ``(x - t) / max(x (1 - x), 1e-12)``
    instead, which differs only where a log is clamped (``x`` within about 3.7e-44 of 0 or 1).

    Returns the loss. Raises ArgumentError for a bad ``reduction`` or input values outside [0, 1],
    DTypeError for a non-floating input or weight, ShapeError for mismatched shapes.
    """
    name = "binary_cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction, name)
    x = _scores(input, name, "input")
    t = _probability_targets(target, x, name)
    if x.size and x.__class__ is not Batched and not (0 <= x.data.min() and x.data.max() <= 1):
        raise ArgumentError(f"{name}: input values from {x.data.min()} to {x.data.max()}; expected probabilities "
                            "in [0, 1] (binary_cross_entropy_with_logits takes raw scores)")
    w = _elementwise_weight(weight, x, name)
    loss = -(t * _clamped_log(x) + (1 - t) * _clamped_log(1 - x))
    return _reduce(loss if w is None else loss * w, reduction, name)


def smooth_l1_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """``0.5 d**2 / beta`` for errors ``|d| < beta``, ``|d| - beta / 2`` above (``beta=0``: the L1 loss).

    Returns and raises as :func:`mse_loss` does, and ArgumentError unless ``beta`` is a finite number >= 0.
    """
    name = "smooth_l1_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction, name)
    beta = float(real_arg(beta, name, "beta", 0.0))
    x = _scores(input, name, "input")
    error = (x - _targets(target, x, name, "input")).abs()
    if beta == 0:
        return _reduce(error, reduction, name)
    quadratic = error.minimum(beta)
    return _reduce(0.5 * quadratic ** 2 / beta + (error - quadratic), reduction, name)


def kl_div(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002 (PyTorch's names)
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """The Kullback-Leibler divergence ``t (log t - x)`` for log-probabilities ``input`` and probabilities
    ``target`` (log-probabilities with ``log_target``: ``exp(t) (t - x)``); 0 where t = 0, NaN where t < 0
    (as in PyTorch). ``reduction`` may also be "batchmean" (the sum divided by the batch size: the
    mathematical KL divergence); "mean" averages over every element, as PyTorch does.

    Returns the loss. Raises ArgumentError for another ``reduction``, DTypeError for a non-floating input
    or a non-real target, ShapeError for mismatched shapes.
    """
    name = "kl_div"
    if reduction == "batchmean" and size_average is None and reduce is None:
        batch_mean = True
    else:
        reduction, batch_mean = _legacy_reduction(size_average, reduce, reduction, name), False
    x = _scores(input, name, "input")
    t = _probability_targets(target, x, name)
    if log_target:
        loss = t.exp() * (t - x)
    else:
        zero = t == 0  # t log t is 0 there; a negative target gives NaN, as in PyTorch
        loss = _where(zero, 0.0, t * _where(zero, 1.0, t).log()) - t * x
    if batch_mean:
        return loss.sum() / (x.shape[0] if x.ndim else 1)
    return _reduce(loss, reduction, name)


def rms_norm(input: Any, normalized_shape: Any, weight: Any = None, eps: float | None = None) -> Tensor:  # noqa: A002
    """``x / sqrt(mean(x**2) + eps)`` over the last ``len(normalized_shape)`` axes, times ``weight`` (of
    ``normalized_shape``); ``eps=None`` is the input dtype's machine epsilon, as in PyTorch.

    Returns a tensor of the input's shape. Raises as :func:`layer_norm` does.
    """
    op = "rms_norm"
    x, shape = _normalized_input(input, normalized_shape, op)
    eps = float(np.finfo(x.dtype).eps) if eps is None else _eps(eps, op)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    y = x / ((x * x).mean(axis=axes, keepdims=True) + eps).sqrt()
    if weight is None:
        return y
    w = weight if isinstance(weight, Tensor) else operand(weight, f"{op}: weight")
    if w.shape != shape:
        raise ShapeError(f"{op}: weight of shape {w.shape}; expected normalized_shape {shape}")
    return y * w

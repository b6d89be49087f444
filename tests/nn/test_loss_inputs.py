"""Losses check their arguments once, at their start: every bad input is an error naming the loss (or
the loss module) and the argument, never the primitive inside, a bare NumPy/Python error, or a silently
broadcast loss. tests/test_bad_inputs.py tries every loss against the whole table of bad values; these
pin the messages and the cases that used to give wrong answers."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

rng = np.random.default_rng(7)
SCORES = rng.standard_normal((4, 3))
LABELS = np.array([0, 2, 1, 2])

CLASSIFICATION = [F.cross_entropy, F.nll_loss, F.svm_loss, F.multi_margin_loss]
REGRESSION = [F.mse_loss, F.l1_loss, F.huber_loss, F.binary_cross_entropy_with_logits]


@pytest.mark.parametrize("loss", REGRESSION, ids=lambda f: f.__name__)
def test_a_target_of_another_shape_is_refused_not_broadcast(loss):
    # (N, 1) predictions against (N,) targets used to broadcast to an (N, N) loss: a wrong number.
    prediction = tg.tensor(rng.standard_normal((4, 1)), requires_grad=True)
    with pytest.raises(tg.ShapeError, match=rf"{loss.__name__}: \w+ of shape \(4, 1\) and target of shape \(4,\); "
                                            r"expected a target of the same shape"):
        loss(prediction, rng.random(4))
    with pytest.raises(tg.ShapeError, match=rf"{loss.__name__}: .*target of shape \(\)"):
        loss(prediction, 0.5)
    value = loss(prediction, rng.random((4, 1)), reduction="none")
    assert value.shape == (4, 1)


@pytest.mark.parametrize("loss", REGRESSION, ids=lambda f: f.__name__)
def test_bad_regression_targets_name_the_loss_not_the_primitive(loss):
    prediction = tg.tensor(SCORES)
    with pytest.raises(tg.ShapeError, match=rf"{loss.__name__}: target: nested sequences of unequal lengths"):
        loss(prediction, [[1.0, 2.0], [3.0]])
    with pytest.raises(tg.DTypeError, match=rf"{loss.__name__}: target: .*dtype <U1"):
        loss(prediction, np.full((4, 3), "a"))
    with pytest.raises(tg.DTypeError, match=rf"{loss.__name__}: target of dtype complex128; expected real numbers"):
        loss(prediction, SCORES + 1j)
    with pytest.raises(tg.DTypeError, match=rf"{loss.__name__}: \w+ of dtype int64; expected a floating-point"):
        loss(tg.tensor(np.ones((4, 3), np.int64)), SCORES)


@pytest.mark.parametrize("loss", CLASSIFICATION, ids=lambda f: f.__name__)
def test_bad_labels_and_scores_name_the_loss(loss):
    # multi_margin_loss used to say svm_loss; ragged labels gave a bare ValueError.
    name = loss.__name__
    scores = tg.tensor(SCORES)
    with pytest.raises(tg.ShapeError, match=rf"^{name}: target: nested sequences of unequal lengths"):
        loss(scores, [[0, 1], [2]])
    with pytest.raises(tg.ShapeError, match=rf"^{name}: scores of shape \(4, 3\) and target labels of shape "
                                            r"\(3,\); expected scores of shape \(batch, classes\)"):
        loss(scores, LABELS[:3])
    with pytest.raises(tg.ShapeError, match=rf"^{name}: labels must lie in \[0, 3\), got values from -1 to 2"):
        loss(scores, np.array([0, -1, 2, 1]))
    with pytest.raises(tg.DTypeError, match=rf"^{name}: class labels must be integers, got dtype float64"):
        loss(scores, LABELS.astype(float))
    with pytest.raises(tg.DTypeError, match=rf"^{name}: \w+ of dtype bool; expected a floating-point tensor"):
        loss(tg.tensor(SCORES > 0), LABELS)
    with pytest.raises(tg.DTypeError, match=rf"^{name}: \w+: cannot make a numeric tensor from None"):
        loss(None, LABELS)


@pytest.mark.parametrize("loss", CLASSIFICATION + REGRESSION, ids=lambda f: f.__name__)
def test_scores_may_be_arrays(loss):
    # A NumPy array of scores used to fail with AttributeError inside (cross_entropy) or return an
    # ndarray instead of a Tensor (nll_loss, mse_loss).
    target = LABELS if loss in CLASSIFICATION else rng.random((4, 3))
    value = loss(SCORES, target)
    assert isinstance(value, tg.Tensor)
    assert value.item() == pytest.approx(loss(tg.tensor(SCORES), target).item(), rel=1e-15)


@pytest.mark.parametrize("loss", CLASSIFICATION + REGRESSION, ids=lambda f: f.__name__)
@pytest.mark.parametrize("reduction", ["avg", "MEAN", None, 1, ["mean"], np.array(["mean", "sum"])])
def test_a_bad_reduction_is_an_argument_error_naming_the_loss(loss, reduction):
    target = LABELS if loss in CLASSIFICATION else SCORES
    with pytest.raises(tg.ArgumentError, match=rf"^{loss.__name__}: reduction=.*; expected one of "
                                               r"\('mean', 'sum', 'none'\)"):
        loss(tg.tensor(SCORES), target, reduction=reduction)


@pytest.mark.parametrize("call, message", [
    (lambda: F.cross_entropy(SCORES, LABELS, label_smoothing=1.5),
     r"cross_entropy: label_smoothing=1.5 \(float\); expected a finite real number in \[0.0, 1.0\]"),
    (lambda: F.cross_entropy(SCORES, LABELS, label_smoothing=np.nan), "cross_entropy: label_smoothing=nan"),
    (lambda: F.svm_loss(SCORES, LABELS, margin=np.inf), r"svm_loss: margin=inf \(float\); expected a finite"),
    (lambda: F.multi_margin_loss(SCORES, LABELS, margin="1"), r"multi_margin_loss: margin='1' \(str\)"),
    (lambda: F.multi_margin_loss(SCORES, LABELS, margin=np.ones(4)), "multi_margin_loss: margin=array"),
    (lambda: F.huber_loss(SCORES, SCORES, delta=0.0), r"huber_loss: delta=0.0 \(float\); expected a finite real "
                                                      r"number > 0.0"),
    (lambda: F.huber_loss(SCORES, SCORES, delta=1j), r"huber_loss: delta=1j \(complex\)"),
    (lambda: F.l2_penalty([tg.tensor(SCORES)], None), r"l2_penalty: strength=None \(NoneType\)"),
    (lambda: F.l2_penalty(None, 0.1), r"l2_penalty: parameters=None \(NoneType\); expected an iterable of Tensors"),
    (lambda: F.l2_penalty("abc", 0.1), "l2_penalty: parameters='abc'"),
    (lambda: F.l2_penalty([], 0.1), "l2_penalty: no parameters given"),
])
def test_bad_settings_are_argument_errors_naming_the_loss(call, message):
    with pytest.raises(tg.ArgumentError, match=message):
        call()


def test_l2_penalty_takes_floating_tensors_only():
    w = tg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    with pytest.raises(tg.DTypeError, match=r"l2_penalty: parameter 1 is array\(\[1., 2.\]\) \(ndarray\); "
                                            r"expected floating-point Tensors"):
        F.l2_penalty([w, np.array([1.0, 2.0])], 0.5)  # an array would add nothing to the gradient
    with pytest.raises(tg.DTypeError, match=r"l2_penalty: parameter 0 is a Tensor of dtype complex128"):
        F.l2_penalty([tg.tensor(np.array([1j]))], 0.5)  # (1j)**2 = -1: not a squared norm
    with pytest.raises(tg.DTypeError, match=r"l2_penalty: parameter 0 is 'w' \(str\)"):
        F.l2_penalty(["w"], 0.5)
    penalty = F.l2_penalty(w, 0.5)  # a single Tensor is one parameter
    assert penalty.item() == 2.5
    penalty.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, -2.0])
    model = nn.Linear(2, 1)
    expected = 0.1 * sum(float((p.numpy() ** 2).sum()) for p in model.parameters())
    assert F.l2_penalty(model.parameters(), 0.1).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda: nn.MSELoss(reduction="avg"), r"^MSELoss: reduction='avg'; expected one of"),
    (lambda: nn.CrossEntropyLoss(reduction=np.array(["mean", "sum"])), r"^CrossEntropyLoss: reduction=array"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=-0.1), r"^CrossEntropyLoss: label_smoothing=-0.1"),
    (lambda: nn.SVMLoss(margin=np.nan), r"^SVMLoss: margin=nan"),
    (lambda: nn.MultiMarginLoss(margin=None), r"^MultiMarginLoss: margin=None"),
    (lambda: nn.HuberLoss(delta=-1.0), r"^HuberLoss: delta=-1.0 \(float\); expected a finite real number > 0.0"),
])
def test_loss_modules_check_their_settings_when_made(make, message):
    with pytest.raises(tg.ArgumentError, match=message):
        make()


def test_loss_modules_raise_the_errors_of_their_functions():
    with pytest.raises(tg.ShapeError, match=r"^multi_margin_loss: labels must lie in \[0, 3\)"):
        nn.MultiMarginLoss()(tg.tensor(SCORES), np.array([0, 1, 2, 3]))
    with pytest.raises(tg.ShapeError, match=r"^mse_loss: input of shape \(4, 3\) and target of shape \(3,\)"):
        nn.MSELoss()(tg.tensor(SCORES), SCORES[0])
    with pytest.raises(tg.ShapeError, match=r"^huber_loss: target: nested sequences"):
        nn.HuberLoss(delta=0.5)(tg.tensor(SCORES), [[1.0], [1.0, 2.0]])


def test_valid_settings_still_give_the_same_losses():
    scores, y = tg.tensor(SCORES), rng.random((4, 3))
    np.testing.assert_allclose(F.multi_margin_loss(scores, LABELS, margin=np.float32(0.5)).item(),
                               F.svm_loss(scores, LABELS, margin=0.5).item() / 3, rtol=1e-15)
    assert F.huber_loss(scores, y, delta=np.int64(2)).item() == pytest.approx(
        F.huber_loss(scores, y, delta=2.0).item(), rel=1e-15)
    assert F.cross_entropy(scores, LABELS, label_smoothing=1).item() == pytest.approx(
        -scores.log_softmax(axis=1).mean(axis=1).mean().item(), rel=1e-12)
    # Integer and boolean targets of a regression loss are fine; BCE takes them in the logits' dtype.
    logits = tg.tensor(SCORES.astype(np.float32))
    bce = F.binary_cross_entropy_with_logits(logits, SCORES > 0)
    assert bce.dtype == np.float32
    assert bce.item() == pytest.approx(F.binary_cross_entropy_with_logits(logits, (SCORES > 0) * 1.0).item())
    assert F.mse_loss(scores, np.ones((4, 3), np.int64)).item() == pytest.approx(((SCORES - 1) ** 2).mean())

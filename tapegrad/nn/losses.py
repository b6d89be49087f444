"""Loss modules: the functions of :mod:`tapegrad.nn.functional` with their settings held."""

from __future__ import annotations

from typing import Any

from ..ops.shape import real_arg
from ..tensor import Tensor
from . import functional as F
from .module import Module


class _Loss(Module):
    """A loss module: its settings are checked when it is made (errors name the module), its inputs
    at every call by the function it computes (errors name that function)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = F._check_reduction(reduction, type(self).__name__)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        self.label_smoothing = real_arg(label_smoothing, "CrossEntropyLoss", "label_smoothing", 0.0, 1.0)

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(logits, target, self.reduction, self.label_smoothing)


class NLLLoss(_Loss):
    def forward(self, log_probs: Tensor, target: Any) -> Tensor:
        return F.nll_loss(log_probs, target, self.reduction)


class SVMLoss(_Loss):
    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = real_arg(margin, type(self).__name__, "margin")

    def forward(self, scores: Tensor, target: Any) -> Tensor:
        return F.svm_loss(scores, target, self.margin, self.reduction)


class MultiMarginLoss(SVMLoss):
    def forward(self, scores: Tensor, target: Any) -> Tensor:
        return F.multi_margin_loss(scores, target, self.margin, self.reduction)


class BCEWithLogitsLoss(_Loss):
    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, self.reduction)


class MSELoss(_Loss):
    def forward(self, prediction: Tensor, target: Any) -> Tensor:
        return F.mse_loss(prediction, target, self.reduction)


class L1Loss(_Loss):
    def forward(self, prediction: Tensor, target: Any) -> Tensor:
        return F.l1_loss(prediction, target, self.reduction)


class HuberLoss(_Loss):
    def __init__(self, delta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.delta = real_arg(delta, "HuberLoss", "delta", 0.0, low_open=True)

    def forward(self, prediction: Tensor, target: Any) -> Tensor:
        return F.huber_loss(prediction, target, self.delta, self.reduction)

"""Loss modules: the functions of :mod:`tapegrad.nn.functional` with their settings held, with PyTorch's
constructor arguments in PyTorch's order (``weight`` and ``pos_weight`` are buffers, as in PyTorch;
``size_average`` and ``reduce`` are PyTorch's deprecated form of ``reduction``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..creation import operand
from ..errors import ArgumentError, DTypeError
from ..ops.shape import int_arg, real_arg, shown
from ..tensor import Tensor
from . import functional as F
from .module import Module


class _Loss(Module):
    """A loss module: its settings are checked when it is made (errors name the module), its inputs
    at every call by the function it computes (errors name that function)."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = F._legacy_reduction(size_average, reduce, reduction, type(self).__name__)

    def _weight_buffer(self, name: str, value: Any) -> None:
        """Registers ``value`` (None, or floating-point data) as the buffer ``name``.

        Raises:
            DTypeError: naming the module for data that is not floating-point.
        """
        if value is not None:
            layer = type(self).__name__
            value = value if isinstance(value, Tensor) else operand(value, f"{layer}: {name}")
            if value.dtype.kind != "f":
                raise DTypeError(f"{layer}: {name} of dtype {value.dtype}; expected a floating-point tensor")
        self.register_buffer(name, value)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self._weight_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = int_arg(ignore_index, "CrossEntropyLoss", "ignore_index")
        self.label_smoothing = real_arg(label_smoothing, "CrossEntropyLoss", "label_smoothing", 0.0, 1.0)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = int_arg(ignore_index, "NLLLoss", "ignore_index")

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class SVMLoss(_Loss):
    """The lectures' multiclass SVM (hinge) loss (tapegrad's own; PyTorch's MultiMarginLoss divides it by
    the number of classes)."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.margin = real_arg(margin, type(self).__name__, "margin")

    def forward(self, scores: Tensor, target: Any) -> Tensor:
        return F.svm_loss(scores, target, self.margin, self.reduction)


class MultiMarginLoss(_WeightedLoss):
    def __init__(self, p: int = 1, margin: float = 1.0, weight: Any = None, size_average: Any = None,
                 reduce: Any = None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if not isinstance(p, (int, np.integer)) or isinstance(p, (bool, np.bool_)) or p not in (1, 2):
            raise ArgumentError(f"MultiMarginLoss: p={shown(p)}; expected 1 or 2")
        self.p, self.margin = int(p), real_arg(margin, "MultiMarginLoss", "margin")

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 pos_weight: Any = None) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self._weight_buffer("pos_weight", pos_weight)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities (see :func:`tapegrad.nn.functional.binary_cross_entropy`)."""

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class MSELoss(_Loss):
    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = real_arg(delta, "HuberLoss", "delta", 0.0, low_open=True)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.huber_loss(input, target, self.reduction, self.delta)


class SmoothL1Loss(_Loss):
    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = real_arg(beta, "SmoothL1Loss", "beta", 0.0)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class KLDivLoss(_Loss):
    """The KL divergence of log-probabilities (see :func:`tapegrad.nn.functional.kl_div`); ``reduction``
    may also be "batchmean"."""

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 log_target: bool = False) -> None:
        if reduction == "batchmean" and size_average is None and reduce is None:
            super().__init__()
            self.reduction = "batchmean"
        else:
            super().__init__(size_average, reduce, reduction)
        self.log_target = bool(log_target)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

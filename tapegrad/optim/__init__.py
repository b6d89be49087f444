"""Optimizers, learning-rate schedules and gradient clipping."""

from __future__ import annotations

from .lr_scheduler import CosineAnnealingLR, ReduceLROnPlateau, StepLR
from .optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, clip_grad_norm_

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "clip_grad_norm_", "StepLR",
           "CosineAnnealingLR", "ReduceLROnPlateau"]

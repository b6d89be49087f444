"""Normalisation layers with PyTorch's names, constructor arguments, attributes, state_dict keys and
train/eval behaviour: BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm; and Dropout2d (whole channels).

BatchNorm keeps ``running_mean``, ``running_var`` and ``num_batches_tracked`` as buffers (in
``state_dict``, not in ``parameters()``). In training it normalises with the batch's statistics and
updates the running ones (``momentum``, or a cumulative average when ``momentum`` is None); in
evaluation it normalises with the running ones, unless ``track_running_stats=False``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import get_default_dtype
from ..engine import no_grad
from ..errors import ArgumentError, ShapeError
from ..ops.shape import real_arg
from ..tensor import Tensor
from . import functional as F
from .module import Module, Parameter


def _positive_int(value: Any, layer: str, arg: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ArgumentError(f"{layer}: {arg}={value!r}; expected a positive integer")
    return int(value)


class _BatchNorm(Module):
    _ranks: tuple[int, ...] = ()
    _layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None, dtype: Any = None, bias: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = _positive_int(num_features, name, "num_features")
        self.eps = real_arg(eps, name, "eps", 0.0)
        self.momentum = None if momentum is None else real_arg(momentum, name, "momentum", 0.0, 1.0)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dtype = np.dtype(dtype or get_default_dtype())
        if self.affine:
            self.weight = Parameter(np.ones(num_features, dtype))
            self.bias = Parameter(np.zeros(num_features, dtype)) if bias else None
        else:
            self.weight = self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1.0)
                self.num_batches_tracked.zero_()

    def forward(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        shape = getattr(x, "shape", None)
        if shape is not None and (len(shape) not in self._ranks or shape[1] != self.num_features):
            what = f"is {len(shape)}-D" if len(shape) not in self._ranks else f"has {shape[1]} channels"
            raise ShapeError(f"{name}({self.num_features}): input of shape {tuple(shape)} {what}; expected "
                             f"{self._layout} with C={self.num_features}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked += 1
            factor = 1.0 / int(self.num_batches_tracked.item()) if self.momentum is None else self.momentum
        batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        tracked = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if tracked else None, self.running_var if tracked else None,
                            self.weight, self.bias, batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of an (N, C) or (N, C, L) input over all but its channel axis."""

    _ranks = (2, 3)
    _layout = "2-D (N, C) or 3-D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of an (N, C, H, W) input over all but its channel axis."""

    _ranks = (4,)
    _layout = "4-D (N, C, H, W)"


class LayerNorm(Module):
    """Normalisation over the last axes given by ``normalized_shape``, with an elementwise ``weight``
    (ones) and ``bias`` (zeros) of that shape when ``elementwise_affine`` (no bias when ``bias=False``)."""

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        shape = tuple(normalized_shape) if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,)
        self.normalized_shape = tuple(_positive_int(n, "LayerNorm", "normalized_shape") for n in shape)
        self.eps = real_arg(eps, "LayerNorm", "eps", 0.0)
        self.elementwise_affine = bool(elementwise_affine)
        dtype = np.dtype(dtype or get_default_dtype())
        self.weight = Parameter(np.ones(self.normalized_shape, dtype)) if self.elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype)) if self.elementwise_affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Normalisation of each sample's ``num_channels`` channels in ``num_groups`` groups, with a
    per-channel ``weight`` (ones) and ``bias`` (zeros) when ``affine``."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: Any = None, dtype: Any = None, bias: bool = True) -> None:
        super().__init__()
        self.num_groups = _positive_int(num_groups, "GroupNorm", "num_groups")
        self.num_channels = _positive_int(num_channels, "GroupNorm", "num_channels")
        if self.num_channels % self.num_groups:
            raise ArgumentError(f"GroupNorm: num_groups={num_groups} does not divide num_channels={num_channels}")
        self.eps = real_arg(eps, "GroupNorm", "eps", 0.0)
        self.affine = bool(affine)
        dtype = np.dtype(dtype or get_default_dtype())
        self.weight = Parameter(np.ones(num_channels, dtype)) if self.affine else None
        self.bias = Parameter(np.zeros(num_channels, dtype)) if self.affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        shape = getattr(x, "shape", None)
        if shape is not None and len(shape) >= 2 and shape[1] != self.num_channels:
            raise ShapeError(f"GroupNorm({self.num_groups}, {self.num_channels}): input of shape {tuple(shape)} has "
                             f"{shape[1]} channels; expected {self.num_channels}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class Dropout2d(Module):
    """In training, zero whole channels of an (N, C, H, W) or (N, C, L) input with probability ``p``
    and scale the rest by ``1 / (1 - p)`` (see :func:`tapegrad.nn.functional.dropout2d`)."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        self.p = real_arg(p, "Dropout2d", "p", 0.0, 1.0)
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class RMSNorm(Module):
    """Root-mean-square normalisation over the last axes given by ``normalized_shape``, with an
    elementwise ``weight`` (ones) when ``elementwise_affine``; ``eps=None`` is the dtype's machine epsilon
    (see :func:`tapegrad.nn.functional.rms_norm`). ``device`` is accepted for PyTorch's signature."""

    def __init__(self, normalized_shape: Any, eps: float | None = None, elementwise_affine: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        shape = tuple(normalized_shape) if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,)
        self.normalized_shape = tuple(_positive_int(n, "RMSNorm", "normalized_shape") for n in shape)
        self.eps = None if eps is None else real_arg(eps, "RMSNorm", "eps", 0.0)
        self.elementwise_affine = bool(elementwise_affine)
        dtype = np.dtype(dtype or get_default_dtype())
        self.weight = Parameter(np.ones(self.normalized_shape, dtype)) if self.elementwise_affine else None

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"

"""Layers: Linear, Identity, Flatten, Dropout, the activations, Maxout and the MLP helper."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functions as F
from ..creation import rand
from ..dtypes import get_default_dtype
from ..errors import ArgumentError, ShapeError
from ..tensor import Tensor
from . import init
from .module import Module, Parameter, Sequential


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape (out_features, in_features).

    Initialised as PyTorch does: weight and bias uniform in ``±1/sqrt(in_features)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        dtype = dtype or get_default_dtype()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = None
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype))
            bound = 1 / math.sqrt(in_features) if in_features else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ShapeError(f"Linear({self.in_features}, {self.out_features}): input of shape {x.shape} "
                             f"has {x.shape[-1]} features in its last axis, expected {self.in_features}")
        out = x @ self.weight.T
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input."""

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Merges the axes ``start_axis..end_axis`` (all but the batch axis by default)."""

    def __init__(self, start_axis: int = 1, end_axis: int = -1) -> None:
        super().__init__()
        self.start_axis, self.end_axis = start_axis, end_axis

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_axis, self.end_axis)


class Dropout(Module):
    """In training, zero each entry with probability ``p`` and scale the rest by ``1 / (1 - p)``."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ArgumentError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        # The draw is an operation (tg.rand), so a compiled function draws a new mask at every call.
        keep = rand(*x.shape, dtype=np.float64) >= self.p
        return x * (keep.astype(x.dtype) * (1 / (1 - self.p)))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return x.leaky_relu(self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return x.elu(self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class PReLU(Module):
    """``x`` where positive, ``a * x`` elsewhere, with a learnable slope ``a`` (one, or one per channel
    of axis 1)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = Parameter(np.full(num_parameters, init, get_default_dtype()))

    def forward(self, x: Tensor) -> Tensor:
        slope = self.weight
        if self.num_parameters > 1:
            slope = slope.reshape((-1,) + (1,) * (x.ndim - 2))
        return F.where(x > 0, x, x * slope)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Softplus(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.softplus()


class Softmax(Module):
    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return x.softmax(self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Softmax):
    def forward(self, x: Tensor) -> Tensor:
        return x.log_softmax(self.axis)


class Maxout(Module):
    """The maximum of ``k`` linear pieces: ``max_j (x @ W_j.T + b_j)``, each of ``out_features``."""

    def __init__(self, in_features: int, out_features: int, k: int = 2) -> None:
        super().__init__()
        self.out_features, self.k = out_features, k
        self.linear = Linear(in_features, out_features * k)

    def forward(self, x: Tensor) -> Tensor:
        pieces = self.linear(x)
        return pieces.reshape(pieces.shape[:-1] + (self.out_features, self.k)).max(axis=-1)

    def extra_repr(self) -> str:
        return f"out_features={self.out_features}, k={self.k}"


#: The activations :class:`MLP` takes by name (``activation="relu"``), and their modules.
ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "elu": ELU, "prelu": PReLU, "sigmoid": Sigmoid,
               "tanh": Tanh, "softplus": Softplus}


class MLP(Sequential):
    """A multilayer perceptron: ``Linear`` layers of the given sizes with an activation (and optional
    dropout) between them, none after the last: ``MLP([64, 128, 64, 10], activation="relu")``."""

    def __init__(self, sizes: Sequence[int], activation: str = "relu", dropout: float = 0.0) -> None:
        if len(sizes) < 2:
            raise ArgumentError(f"MLP: needs at least an input and an output size, got {list(sizes)}")
        if activation not in ACTIVATIONS:
            raise ArgumentError(f"MLP: unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
        layers: list[Module] = []
        for position, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(n_in, n_out))
            if position < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
                if dropout:
                    layers.append(Dropout(dropout))
        super().__init__(*layers)

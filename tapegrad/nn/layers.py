"""Layers: Linear, Identity, Flatten, Unflatten, Dropout, the activations, Maxout and the MLP helper, with
PyTorch's constructor arguments, defaults and attribute names."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functions as F
from ..dtypes import get_default_dtype
from ..errors import ArgumentError, ShapeError
from ..ops.shape import axis_arg, int_arg, real_arg
from ..tensor import Tensor
from . import functional as nnF
from . import init
from .module import Module, Parameter, Sequential


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape (out_features, in_features).

    Initialised as PyTorch does: weight and bias uniform in ``±1/sqrt(in_features)``. ``device`` is
    accepted for PyTorch's signature (tapegrad computes with NumPy on the CPU).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
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
        return nnF.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input; takes and ignores any arguments, as PyTorch's does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Merges the axes ``start_dim..end_dim`` (all but the batch axis by default)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits axis ``dim`` into ``unflattened_size`` (one entry may be -1)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or not unflattened_size:
            raise ArgumentError(f"Unflatten: unflattened_size={unflattened_size!r}; expected a tuple or list of sizes")
        self.dim, self.unflattened_size = int_arg(dim, "Unflatten", "dim"), tuple(unflattened_size)

    def forward(self, x: Tensor) -> Tensor:
        axis = axis_arg(self.dim, x.ndim, "Unflatten", "dim")
        return x.reshape(x.shape[:axis] + self.unflattened_size + x.shape[axis + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout(Module):
    """In training, zero each entry with probability ``p`` (in [0, 1]; 1 zeros everything) and scale the
    rest by ``1 / (1 - p)`` (see :func:`tapegrad.nn.functional.dropout`). ``inplace`` is accepted for
    PyTorch's signature; the result is always a new tensor."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        self.p = real_arg(p, "Dropout", "p", 0.0, 1.0)
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return nnF.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class _Inplace(Module):
    """An activation with PyTorch's ``inplace`` argument: accepted and kept as an attribute; the result is
    always a new tensor (the input keeps its values)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_Inplace):
    def forward(self, x: Tensor) -> Tensor:
        return nnF.relu(x)


class ReLU6(_Inplace):
    """``min(max(x, 0), 6)``."""

    def forward(self, x: Tensor) -> Tensor:
        return nnF.relu6(x)


class SELU(_Inplace):
    """``scale * elu(x, alpha)`` with PyTorch's constants."""

    def forward(self, x: Tensor) -> Tensor:
        return nnF.selu(x)


class Hardsigmoid(_Inplace):
    """``relu6(x + 3) / 6``."""

    def forward(self, x: Tensor) -> Tensor:
        return nnF.hardsigmoid(x)


class Hardswish(_Inplace):
    """``x * relu6(x + 3) / 6``."""

    def forward(self, x: Tensor) -> Tensor:
        return nnF.hardswish(x)


class Mish(_Inplace):
    """``x * tanh(softplus(x))``."""

    def forward(self, x: Tensor) -> Tensor:
        return nnF.mish(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x: Tensor) -> Tensor:
        return x.leaky_relu(self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x: Tensor) -> Tensor:
        return x.elu(self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(alpha, inplace)
        if real_arg(alpha, "CELU", "alpha") == 0:
            raise ArgumentError("CELU: alpha=0; expected a nonzero alpha (it divides x)")

    def forward(self, x: Tensor) -> Tensor:
        return nnF.celu(x, self.alpha)


class PReLU(Module):
    """``x`` where positive, ``a * x`` elsewhere, with a learnable slope ``a`` (one, or one per channel
    of axis 1). ``device`` is accepted for PyTorch's signature."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = Parameter(np.full(num_parameters, init, dtype or get_default_dtype()))

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
    """PyTorch's softplus: ``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = real_arg(beta, "Softplus", "beta")
        self.threshold = real_arg(threshold, "Softplus", "threshold")
        if self.beta == 0:
            raise ArgumentError("Softplus: beta=0; expected a nonzero beta (it divides the result)")

    def forward(self, x: Tensor) -> Tensor:
        return nnF.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """``softmax`` along ``dim`` (PyTorch's argument and attribute; ``dim=None`` takes PyTorch's implicit,
    deprecated choice, with its warning)."""

    _function = staticmethod(nnF.softmax)

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return type(self)._function(x, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """``log_softmax`` along ``dim``."""

    _function = staticmethod(nnF.log_softmax)


class Softmin(Softmax):
    """``softmax(-x)`` along ``dim``."""

    _function = staticmethod(nnF.softmin)


class Softmax2d(Module):
    """``softmax`` over the channels of a (N, C, H, W) or (C, H, W) input (axis -3)."""

    def forward(self, x: Tensor) -> Tensor:
        if getattr(x, "ndim", None) not in (3, 4):
            raise ShapeError(f"Softmax2d: input of shape {getattr(x, 'shape', None)}; expected 3-D (C, H, W) or "
                             "4-D (N, C, H, W)")
        return nnF.softmax(x, -3)


class GLU(Module):
    """The gated linear unit: ``a * sigmoid(b)`` for the halves ``a``, ``b`` of the input along ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return nnF.glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


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


class CosineSimilarity(Module):
    """The cosine similarity of two inputs along ``dim`` (see :func:`tapegrad.nn.functional.cosine_similarity`)."""

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, real_arg(eps, "CosineSimilarity", "eps", 0.0)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return nnF.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """``||x1 - x2 + eps||_p`` along the last axis (see :func:`tapegrad.nn.functional.pairwise_distance`)."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm, self.eps, self.keepdim = p, real_arg(eps, "PairwiseDistance", "eps"), keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return nnF.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)

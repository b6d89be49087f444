"""The activation modules of transformer-era models, with PyTorch's names and arguments:
GELU, SiLU, Hardtanh, Softsign, LogSigmoid (each calls its function in :mod:`tapegrad.nn.functional`)."""

from __future__ import annotations

import warnings

from ..errors import ArgumentError
from ..ops.shape import real_arg
from ..tensor import Tensor
from . import functional as F
from .module import Module


class GELU(Module):
    """``x * Φ(x)``, exact (``approximate="none"``) or with PyTorch's tanh approximation (``"tanh"``)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ArgumentError(f"GELU: approximate={approximate!r}; expected 'none' or 'tanh'")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """``x * sigmoid(x)``. ``inplace`` is accepted for PyTorch's signature; the result is a new tensor."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


class Hardtanh(Module):
    """``x`` clipped to ``[min_val, max_val]``. ``inplace`` is accepted for PyTorch's signature (the result
    is a new tensor); ``min_value`` and ``max_value`` are PyTorch's deprecated names of the bounds."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__()
        if min_value is not None or max_value is not None:
            warnings.warn("Hardtanh: keyword arguments min_value and max_value are deprecated; use min_val and "
                          "max_val", DeprecationWarning, stacklevel=2)
            min_val = min_val if min_value is None else min_value
            max_val = max_val if max_value is None else max_value
        self.inplace = inplace
        self.min_val = float(real_arg(min_val, "Hardtanh", "min_val"))
        self.max_val = float(real_arg(max_val, "Hardtanh", "max_val", self.min_val))

    def forward(self, x: Tensor) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Softsign(Module):
    """``x / (1 + |x|)``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.softsign(x)


class LogSigmoid(Module):
    """``log(sigmoid(x))``, stable for large ``|x|``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.logsigmoid(x)

"""The activation modules of transformer-era models, with PyTorch's names and arguments:
GELU, SiLU, Hardtanh, Softsign, LogSigmoid (each calls its function in :mod:`tapegrad.nn.functional`)."""

from __future__ import annotations

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
    """``x * sigmoid(x)``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


class Hardtanh(Module):
    """``x`` clipped to ``[min_val, max_val]``."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
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

"""tapegrad: NumPy-native automatic differentiation.

>>> import tapegrad as tg
>>> x = tg.tensor([1.0, 2.0], requires_grad=True)
>>> (x ** 2).sum().backward()
>>> x.grad
tensor([2., 4.])
"""

from __future__ import annotations

from . import (  # scipy: issue 15 (imports no SciPy)
                       autograd,
                       data,
                       func,  # issue 17: torch.func's names and functional_call
                       nn,
                       ops,
                       optim,
                       scipy,
                       viz,
)
from .autograd import (
                       Function,
                       checkpoint,
                       custom_vjp,
                       gradcheck,
                       gradgradcheck,
                       hessian,
                       hvp,
                       jacfwd,
                       jacobian,
                       jacrev,
                       jvp,
                       value_and_grad,
                       vjp,
                       vmap,  # issue 17
)
from .autograd import grad_transform as grad
from .compile import compile
from .creation import (
                       arange,
                       as_tensor,
                       empty,
                       eye,
                       full,
                       full_like,
                       generator,
                       linspace,
                       manual_seed,
                       ones,
                       ones_like,
                       rand,
                       randn,
                       tensor,
                       zeros,
                       zeros_like,
)
from .dtypes import get_default_dtype, set_default_dtype
from .engine import detect_anomaly, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .errors import (
                       AnomalyError,
                       ArgumentError,
                       BackwardError,
                       DroppedGradientError,
                       DTypeError,
                       GradcheckError,
                       GraphReleasedError,
                       InPlaceError,
                       LinAlgError,
                       ShapeError,
                       TapegradError,
                       TracingError,
)
from .functions import (
                       abs,
                       argmax,
                       argmin,
                       broadcast_to,
                       cat,
                       clip,
                       concatenate,
                       cos,
                       dot,
                       einsum,
                       elu,
                       exp,
                       expand_dims,
                       expm1,
                       flatten,
                       flip,
                       leaky_relu,
                       log,
                       log1p,
                       log_softmax,
                       logsumexp,
                       matmul,
                       max,
                       maximum,
                       mean,
                       min,
                       minimum,
                       outer,
                       pad,
                       permute,
                       prod,
                       relu,
                       repeat,
                       reshape,
                       sigmoid,
                       sign,
                       sin,
                       softmax,
                       softplus,
                       split,
                       sqrt,
                       squeeze,
                       stack,
                       std,
                       sum,
                       swapaxes,
                       take_along_axis,
                       tan,
                       tanh,
                       tile,
                       transpose,
                       unsqueeze,
                       var,
                       where,
)
from .serialization import CheckpointError, load, save
from .tensor import Tensor, apply
from .viz import explain

__version__ = "0.1.0"

__all__ = [
    "Tensor", "apply", "autograd", "data", "nn", "ops", "optim", "viz", "explain", "gradcheck", "gradgradcheck",
    "compile", "Function", "custom_vjp", "checkpoint", "grad", "value_and_grad", "vjp", "jvp", "jacobian", "jacrev",
    "jacfwd", "hessian", "hvp", "scipy",
    "vmap", "func",  # issue 17
    "tensor", "as_tensor", "zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand", "randn",
    "zeros_like", "ones_like",
    "full_like", "manual_seed", "generator", "get_default_dtype", "set_default_dtype",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "detect_anomaly", "AnomalyError",
    "TapegradError", "ShapeError", "DTypeError", "ArgumentError", "BackwardError", "GraphReleasedError",
    "DroppedGradientError", "InPlaceError", "LinAlgError", "GradcheckError", "TracingError", "CheckpointError",
    "save", "load",
    "abs", "argmax", "argmin", "broadcast_to", "cat", "clip", "concatenate", "cos", "dot", "einsum",
    "elu", "exp", "expand_dims", "expm1", "flatten", "flip", "leaky_relu", "log", "log1p",
    "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "outer", "pad",
    "permute", "prod", "relu", "repeat", "reshape", "sigmoid", "sign", "sin", "softmax", "softplus",
    "split", "sqrt", "squeeze", "stack", "std", "sum", "swapaxes", "take_along_axis", "tan", "tanh",
    "tile", "transpose", "unsqueeze", "var", "where",
]
# issue 18: complex numbers and numpy.fft (tg.fft)
from . import fft  # noqa: E402
from .functions import angle, complex, conj, conjugate, imag, real  # noqa: E402

__all__ += ["real", "imag", "conj", "conjugate", "angle", "complex", "fft"]
# issue 16: data-parallel training over MPI (imports no MPI)
from . import distributed  # noqa: E402

__all__ += ["distributed"]

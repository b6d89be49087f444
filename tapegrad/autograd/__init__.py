"""Automatic differentiation on top of the Tensor: ``grad``, ``backward``, gradient checking and
the grad modes.

The machinery underneath lives one level down and knows nothing of this package:
:mod:`tapegrad.engine` (the Node in ``node``, the reverse pass in ``backward``, the grad modes in
``modes``, forward mode's state in ``forward``).
"""

from __future__ import annotations

from ..engine import detect_anomaly, enable_grad, graph_nodes, is_grad_enabled, no_grad, set_grad_enabled
from .checkpoint import checkpoint
from .function import Function, FunctionContext, custom_vjp
from .functional import backward, grad
from .gradcheck import gradcheck, gradgradcheck
from .transforms import grad as grad_transform
from .transforms import hessian, hvp, jacfwd, jacobian, jacrev, jvp, tree_flatten, tree_unflatten, value_and_grad, vjp
from .vectorize import vmap  # issue 17

__all__ = ["backward", "grad", "gradcheck", "gradgradcheck", "enable_grad", "is_grad_enabled",
           "no_grad", "set_grad_enabled", "grad_transform", "value_and_grad", "vjp", "jacobian", "jacrev",
           "hessian", "hvp", "jvp", "jacfwd", "tree_flatten", "tree_unflatten", "Function",
           "FunctionContext", "custom_vjp", "detect_anomaly", "checkpoint", "graph_nodes",
           "vmap"]

"""Function transforms under PyTorch's ``torch.func`` names (issue 17): ``vmap``, ``grad``, ``grad_and_value``,
``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian``, and ``functional_call`` to call an ``nn`` module with
the parameters given for the call, so that per-example gradients of a model's loss are one line::

    params = {name: p.detach() for name, p in model.named_parameters()}
    loss = lambda params, x, y: F.cross_entropy(tg.func.functional_call(model, params, (x[None],)), y[None])
    per_example = tg.func.vmap(tg.func.grad(loss), in_axes=(None, 0, 0))(params, inputs, labels)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .autograd import grad_transform as grad
from .autograd import hessian, jacfwd, jacrev, jvp, value_and_grad, vjp, vmap
from .nn import functional_call

__all__ = ["vmap", "grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "functional_call"]


def grad_and_value(f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
                   ) -> Callable[..., Any]:
    """``(gradient, value)`` of a scalar function, in ``torch.func``'s order (``value_and_grad`` gives
    ``(value, gradient)``); with ``has_aux``, ``(gradient, (value, aux))``."""
    both = value_and_grad(f, argnums, has_aux)

    def transformed(*args: Any, **kwargs: Any) -> Any:
        value, gradient = both(*args, **kwargs)
        return gradient, value

    return transformed

"""Gradient checkpointing: ``tg.checkpoint(fn, *args)`` keeps none of ``fn``'s intermediate values;
backward runs ``fn`` again to get them, trading compute for memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import creation
from ..engine import enable_grad
from ..errors import BackwardError
from ..tensor import Tensor, backward_pass, vmap_level
from .function import Function, FunctionContext


class _Checkpoint(Function):
    @staticmethod
    def forward(ctx: FunctionContext, fn: Callable[..., Any], anchor: Tensor, *args: Any) -> Any:
        ctx.fn, ctx.args = fn, args
        ctx.rng_state = creation.generator().bit_generator.state  # so that dropout draws the same masks
        return fn(*args)

    @staticmethod
    def backward(ctx: FunctionContext, *grads: Any) -> tuple:
        if ctx.create_graph:
            raise BackwardError("checkpoint: backward with create_graph=True through a checkpointed function "
                                "is not supported")
        inputs = [a.detach().requires_grad_() if isinstance(a, Tensor) and a.requires_grad else a
                  for a in ctx.args]
        generator = creation.generator().bit_generator
        current, generator.state = generator.state, ctx.rng_state
        try:
            with enable_grad():
                outputs = ctx.fn(*inputs)
        finally:
            generator.state = current
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        live = [(o, g) for o, g in zip(outputs, grads) if isinstance(o, Tensor) and o.requires_grad]
        if live:
            # Parameters used inside fn receive their gradients here, into .grad, as in PyTorch.
            backward_pass([o for o, _ in live], [g for _, g in live], inputs=None, retain_graph=False,
                          create_graph=False, accumulate=True)
        return (None, None) + tuple(i.grad if isinstance(i, Tensor) and i.requires_grad else None for i in inputs)


def checkpoint(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, recorded without its intermediate values: backward recomputes them.

    Gradients equal those without checkpointing (the random generator is replayed, so dropout inside
    ``fn`` draws the same masks). Parameters that ``fn`` uses receive their gradients in ``.grad``
    during the recomputation, so use it with ``loss.backward()`` (as PyTorch's reentrant checkpoint);
    ``create_graph=True`` through it is an error.
    """
    if vmap_level() is not None:
        # Inside tg.vmap the recomputation (user code on one example's values, run by backward) cannot be
        # batched: fn runs as it is, keeping its values (the same result and gradients, not the memory saving).
        return fn(*args)
    # The anchor makes the call recorded even when no argument requires grad (the parameters fn
    # uses are invisible from here); it receives no gradient.
    return _Checkpoint.apply(fn, _ANCHOR, *args)


_ANCHOR = Tensor(np.zeros(()), requires_grad=True)

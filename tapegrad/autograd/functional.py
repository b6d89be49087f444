"""``grad`` and ``backward`` over several outputs, as in ``torch.autograd``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import BackwardError
from ..tensor import Tensor, backward_pass


def _as_sequence(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, returned (not put in ``.grad``).

    Args:
        outputs: a tensor or a sequence of tensors to differentiate.
        inputs: the tensors (leaves or not) to differentiate with respect to.
        grad_outputs: the gradient for each output (None: 1 for one-entry outputs).
        retain_graph: keep the graph for another backward (default: create_graph).
        create_graph: record this computation, so its results can be differentiated again.
        allow_unused: return None for an input the outputs do not depend on, instead of raising.

    Returns:
        A tuple with one gradient per input, shaped and typed like that input.

    Raises:
        BackwardError: if an input was not used and ``allow_unused`` is False, or for the reasons
            :meth:`Tensor.backward` gives.
    """
    outputs, inputs = _as_sequence(outputs), _as_sequence(inputs)
    grads = _as_sequence(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    if len(grads) != len(outputs):
        raise BackwardError(f"grad: {len(grads)} grad_outputs for {len(outputs)} outputs")
    results = backward_pass(outputs, grads, inputs=inputs, retain_graph=retain_graph,
                            create_graph=create_graph, accumulate=False)
    if not allow_unused:
        for position, result in enumerate(results):
            if result is None:
                raise BackwardError(
                    f"grad: input {position} (shape {inputs[position].shape}) was not used to compute "
                    "the outputs; pass allow_unused=True to get None for it")
    return tuple(results)


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Any = None,
             retain_graph: bool | None = None, create_graph: bool = False,
             inputs: Sequence[Tensor] | None = None) -> None:
    """Accumulate into ``.grad`` the gradient of several outputs at once (one pass for all)."""
    tensors = _as_sequence(tensors)
    grads = _as_sequence(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    backward_pass(tensors, grads, inputs=inputs, retain_graph=retain_graph,
                  create_graph=create_graph, accumulate=True)

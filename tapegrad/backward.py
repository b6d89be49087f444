"""Running backward from Tensors: ``tensor.backward()`` and ``tg.autograd.grad`` start here.

:func:`backward_pass` checks the outputs and inputs, makes the outputs' starting gradients, runs
the engine (:func:`tapegrad.engine.backward.run_backward`) and hands the gradients over: accumulated into
``.grad``, or returned. Gradient hooks (``register_hook``) are kept and run here as well.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .engine.backward import run_backward
from .engine.modes import set_grad_enabled
from .engine.node import Node
from .errors import BackwardError, DTypeError, ShapeError
from .tensor_methods import TensorMethods

if TYPE_CHECKING:
    from .tensor import Tensor


class HookHandle:
    """Returned by ``register_hook``: ``remove()`` unregisters the hook."""

    def __init__(self, hooks: list, hook: Any) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


# Hooks of leaf tensors by id (a non-leaf's hooks live on its Node): (weak reference, hooks), dropped
# with the tensor. Not a WeakKeyDictionary: that compares keys with ==, which is elementwise here.
_LEAF_HOOKS: dict[int, tuple[weakref.ReferenceType, list]] = {}


def _leaf_hooks(tensor: Tensor) -> list | None:
    entry = _LEAF_HOOKS.get(id(tensor))
    return entry[1] if entry is not None and entry[0]() is tensor else None


def register_hook(tensor: Tensor, hook: Any) -> HookHandle:
    """Add ``hook`` to those that ``tensor``'s gradient passes through (see ``Tensor.register_hook``)."""
    if tensor._node is not None:
        if tensor._node.hooks is None:
            tensor._node.hooks = []
        hooks = tensor._node.hooks
    else:
        hooks = _leaf_hooks(tensor)
        if hooks is None:
            hooks = []
            _LEAF_HOOKS[id(tensor)] = (weakref.ref(tensor), hooks)
            weakref.finalize(tensor, _LEAF_HOOKS.pop, id(tensor), None)
    hooks.append(hook)
    return HookHandle(hooks, hook)


def run_hooks(hooks: list, grad: Any, wrap: Callable[[np.ndarray], Tensor]) -> Any:
    """Pass ``grad`` (as a Tensor, made by ``wrap``) through ``hooks`` in order; a hook's return
    value replaces it.

    Raises:
        ShapeError, DTypeError: when a hook returns a gradient of another shape or dtype.
    """
    recorded = isinstance(grad, TensorMethods)  # a Tensor in a recorded (create_graph) backward pass
    as_tensor = grad if recorded else wrap(np.asarray(grad))
    shape, dtype = as_tensor.shape, as_tensor.dtype
    with set_grad_enabled(recorded):
        for hook in list(hooks):
            replaced = hook(as_tensor)
            if replaced is not None:
                as_tensor = replaced if isinstance(replaced, TensorMethods) else wrap(np.asarray(replaced))
                if as_tensor.shape != shape or as_tensor.dtype != dtype:
                    name = getattr(hook, "__qualname__", repr(hook))
                    error = ShapeError if as_tensor.shape != shape else DTypeError
                    raise error(f"register_hook: the hook {name} returned a gradient of shape {as_tensor.shape} "
                                f"{as_tensor.dtype} for a gradient of shape {shape} {dtype}; a hook must return "
                                "a gradient of the same shape and dtype, or None to keep it")
    return as_tensor if recorded else as_tensor.data


def _root_gradient(output: Tensor, gradient: Any, create_graph: bool) -> Any:
    if gradient is None:
        data = output.data
        if data.size != 1:
            raise BackwardError(
                f"backward: the output has shape {output.shape}; a gradient can be created implicitly "
                "only for a single value. Pass gradient= with the same shape, or reduce first "
                "(e.g. y.sum().backward()).")
        return np.array(1, data.dtype) if data.ndim == 0 else np.ones(data.shape, data.dtype)
    if isinstance(gradient, TensorMethods) and create_graph:
        if gradient.shape != output.shape:
            raise ShapeError(f"backward: gradient of shape {gradient.shape} for an output of shape "
                             f"{output.shape}; they must match")
        return gradient
    try:
        gradient = np.asarray(gradient.data if isinstance(gradient, TensorMethods) else gradient)
    except ValueError as exc:  # a ragged list
        raise ShapeError(f"backward: gradient= must be an array of the output's shape {output.shape}; "
                         f"NumPy cannot make one from it ({exc})") from None
    if gradient.dtype.kind not in "fiub":
        raise DTypeError(f"backward: gradient= must hold real numbers for an output of shape {output.shape} "
                         f"{output.dtype}; got an array of dtype {gradient.dtype}"
                         + (" (None or other objects in a list?)" if gradient.dtype == object else ""))
    if gradient.shape != output.shape:
        raise ShapeError(f"backward: gradient of shape {gradient.shape} for an output of shape "
                         f"{output.shape}; they must match")
    return gradient.astype(output.dtype, copy=False)


# Adding a gradient into a leaf's ``.grad`` reads and then writes it: backward passes running in
# several threads onto the same leaves take turns there.
_ACCUMULATING = threading.Lock()


def _key(tensor: Tensor) -> Any:
    return tensor._node if tensor._node is not None else tensor


def _as_grad(value: Any, shared: set, wrap: Callable[[np.ndarray], Tensor]) -> Tensor:
    """``value`` as a gradient Tensor: as it is if it is one (a recorded pass), else an array that
    no other gradient shares memory with (copied if it would), wrapped."""
    if value.__class__ is not np.ndarray:
        if isinstance(value, TensorMethods):
            return value
        value = np.asarray(value)
    base = value.base
    owner = id(value if base is None else base)
    if owner in shared:
        value = value.copy()
        owner = id(value)
    shared.add(owner)
    return wrap(value)


def backward_pass(outputs: Sequence[Tensor], gradients: Sequence[Any], *,
                  inputs: Sequence[Tensor] | None, retain_graph: bool | None, create_graph: bool,
                  accumulate: bool) -> list[Any] | None:
    """Run the engine from ``outputs``; accumulate into ``.grad`` or return the inputs' gradients.

    Returns:
        With ``accumulate=False``: per input, its gradient as a Tensor, or None if it was not
        reached. With ``accumulate=True``: None (the gradients are in ``.grad``).

    Raises:
        BackwardError: if there is no output, or an output or input does not require grad.
    """
    if not outputs:
        raise BackwardError("backward: no outputs to start from")
    roots, root_grads = [], []
    for position, output in enumerate(outputs):
        if not isinstance(output, TensorMethods) or not output.requires_grad:
            raise BackwardError(f"backward: output {position} does not require grad (it was not "
                                "computed from a tensor with requires_grad=True, or under no_grad)")
        roots.append(output._node or output)
        root_grads.append(_root_gradient(output, gradients[position], create_graph))
    if inputs is not None:
        for position, tensor in enumerate(inputs):
            if not isinstance(tensor, TensorMethods) or not tensor.requires_grad:
                raise BackwardError(f"backward: input {position} is not a tensor that requires grad")
    wrap = outputs[0]._make  # a Tensor knows how to make plain Tensors and the graph namespace
    hooks_on = functools.partial(run_hooks, wrap=wrap)
    if retain_graph is None:
        retain_graph = create_graph
    targets = None if inputs is None else {_key(t) for t in inputs}
    results = run_backward(roots, root_grads, targets=targets, retain_graph=retain_graph,
                           create_graph=create_graph, graph_namespace=outputs[0]._graph_namespace,
                           run_hooks=hooks_on)
    if _LEAF_HOOKS:
        for key in list(results):
            hooks = _leaf_hooks(key) if isinstance(key, TensorMethods) else None
            if hooks:
                results[key] = hooks_on(hooks, results[key])
    shared = set(map(id, root_grads))  # memory already handed out: a gradient sharing it is copied
    if not accumulate:
        return [None if _key(t) not in results else _as_grad(results[_key(t)], shared, wrap) for t in inputs]
    with _ACCUMULATING:
        for key, grad in results.items():
            if key.__class__ is Node:
                key = key.retained()
                if key is None:
                    continue
            grad = _as_grad(grad, shared, wrap)
            key.grad = grad if key.grad is None else key.grad + grad
    return None

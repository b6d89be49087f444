"""Calling a module with parameters and buffers given for the call (PyTorch's ``functional_call``).

``functional_call(model, params, (x,))`` runs ``model(x)`` with each named parameter or buffer replaced by
the tensor ``params`` gives for its name, for that call only: the model is a function of its parameters,
which ``tg.grad``, ``tg.vmap`` and the other transforms can then differentiate and map over (per-example
gradients of a loss: ``tg.vmap(tg.grad(loss), in_axes=(None, 0, 0))(params, x, y)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ArgumentError
from ..ops.shape import shown
from ..tensor import Tensor
from .module import Module

__all__ = ["functional_call"]


def functional_call(module: Module, parameters_and_buffers: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                    args: Any = (), kwargs: Mapping[str, Any] | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """``module(*args, **kwargs)`` with the parameters and buffers named in ``parameters_and_buffers``
    replaced by the given values for this call (the module is left as it was, also when the call raises).

    Args:
        module: the model.
        parameters_and_buffers: a dict from dotted names (``"0.weight"``, those of ``named_parameters()``
            and ``named_buffers()``) to Tensors or arrays, or a sequence of such dicts (their names distinct).
        args: the positional arguments of the call (a tuple; anything else is the one argument).
        kwargs: its keyword arguments.
        tie_weights: a value given for a parameter that the module uses under several names (tied weights)
            replaces it under all of them, as PyTorch does; with False, only under the name given.
        strict: every parameter and buffer must be given.

    Returns:
        What the module returns.

    Raises:
        ArgumentError: for a name that is not one of the module's parameters or buffers, a name given twice,
            a value that is not a Tensor or array, or (with ``strict``) a parameter or buffer not given.
    """
    if not isinstance(module, Module):
        raise ArgumentError(f"functional_call: module={shown(module)} is a {type(module).__name__}; expected a "
                            "tapegrad.nn.Module")
    given = _merged(parameters_and_buffers)
    places = _places(module)
    unknown = [name for name in given if name not in places]
    if unknown:
        raise ArgumentError(f"functional_call: {unknown} are not parameters or buffers of {type(module).__name__}; "
                            f"it has {sorted(places)}")
    if strict:
        missing = [name for name in places if name not in given and not _tied_and_given(name, places, given)]
        if missing:
            raise ArgumentError(f"functional_call: strict=True, and no value is given for {missing}")
    swaps: dict[tuple[int, str], tuple[Module, str, Any]] = {}
    for name, value in given.items():
        owner, attr, current = places[name]
        value = value if isinstance(value, Tensor) or value is None else _as_value(name, value)
        targets = [(m, a) for m, a, c in places.values() if c is current] if tie_weights and current is not None \
            else [(owner, attr)]
        for m, a in targets:
            swaps[(id(m), a)] = (m, a, value)
    previous = []
    try:
        for m, a, value in swaps.values():
            previous.append((m, a, getattr(m, a)))
            object.__setattr__(m, a, value)  # the name stays registered as a parameter or buffer
        call_args = args if isinstance(args, tuple) else (args,)
        return module(*call_args, **dict(kwargs or {}))
    finally:
        for m, a, value in reversed(previous):
            object.__setattr__(m, a, value)


def _merged(dicts: Any) -> dict[str, Any]:
    if isinstance(dicts, Mapping):
        return dict(dicts)
    if not isinstance(dicts, (list, tuple)) or not all(isinstance(d, Mapping) for d in dicts):
        raise ArgumentError(f"functional_call: parameters_and_buffers={shown(dicts)}; expected a dict from names to "
                            "tensors, or a tuple of such dicts")
    merged: dict[str, Any] = {}
    for d in dicts:
        twice = [name for name in d if name in merged]
        if twice:
            raise ArgumentError(f"functional_call: {twice} given in more than one dict; expected each name once")
        merged.update(d)
    return merged


def _places(module: Module) -> dict[str, tuple[Module, str, Any]]:
    """Every dotted name of a parameter or buffer (tied ones under each of their names): its module, its
    attribute name there, and its current value."""
    places = {}
    for path, sub in module.named_modules():
        for attr in sub._parameter_names + sub._buffer_names:
            places[f"{path}.{attr}" if path else attr] = (sub, attr, getattr(sub, attr))
    return places


def _tied_and_given(name: str, places: dict, given: dict) -> bool:
    current = places[name][2]
    return current is not None and any(places[g][2] is current for g in given)


def _as_value(name: str, value: Any) -> Tensor:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = np.asarray(None)
    if array.dtype.kind not in "biuf":
        raise ArgumentError(f"functional_call: the value for {name!r} is {shown(value)}; expected a Tensor or array")
    return Tensor(array)

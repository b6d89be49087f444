"""Array namespaces: the functions gradient rules call, one per primitive.

A rule written as ``g * xp.cos(x)`` runs on NumPy arrays when ``xp`` is :data:`NUMPY` (the fast
path: nothing is recorded) and builds graph nodes when ``xp`` is the graph namespace that
:mod:`tapegrad.tensor` creates (``create_graph=True``). Both are made from the same registry, so a
rule can only call primitives, and every primitive it calls is itself differentiable.
"""

from __future__ import annotations

from collections.abc import Callable

from .registry import Primitive


class Namespace:
    """A set of functions named after the primitives, e.g. ``ns.exp``, ``ns.sum``, ``ns.matmul``."""

    def __init__(self, label: str, registry: dict[str, Primitive],
                 make: Callable[[Primitive], Callable], call: Callable[..., object],
                 reattach: Callable[[object, object], object]) -> None:
        self.label = label
        #: ``call(prim, *inputs, **params)`` runs any primitive in this namespace.
        self.call = call
        #: ``reattach(saved_array, parent)`` turns a value a Node saved back into an input of this
        #: namespace (the graph namespace makes it a Tensor whose grad_fn is ``parent``).
        self.reattach = reattach
        for name, prim in registry.items():
            setattr(self, name, make(prim))

    def __repr__(self) -> str:
        return f"<array namespace {self.label}>"


def numpy_namespace(registry: dict[str, Primitive]) -> Namespace:
    """The fast-path namespace: each primitive's NumPy forward function."""
    return Namespace("numpy", registry, lambda prim: prim.forward,
                     lambda prim, *inputs, **params: prim.forward(*inputs, **params),
                     lambda value, parent: value)

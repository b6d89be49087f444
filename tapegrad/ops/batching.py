"""Batching rules: how a primitive runs on many examples at once, for ``tg.vmap``.

A batching rule is a plain function written against an array namespace ``xp``, like the VJP and JVP
rules beside it in each primitive's declaration::

    batch(xp, prim, size, batched, *inputs, **params) -> result

``batched[i]`` says whether input ``i`` holds ``size`` examples along its first axis (the examples'
values stacked: a *physical* value of shape ``(size, *shape)`` for examples of shape ``shape``); an input
not batched is shared by every example. The rule returns every example's result, stacked along the first
axis, computed by a few operations on the whole batch (never a loop over the examples). ``prim`` is the
primitive itself, so that the generic rules below can run it (``xp.call(prim, ...)``); ``params`` are the
parameters as the user gave them for one example (axes, shapes and indices of one example's values).

Under ``tg.vmap`` the engine calls the rule with ``xp`` the graph namespace and the inputs Tensors, so
the operations it runs are recorded (for a gradient taken outside the vmap) and may be batched again by
an outer vmap. Like the other rules, a batching rule calls registered primitives only (through ``xp``),
and NumPy only on shapes and on values that take no gradient.

The generic rules here serve whole families: :func:`elementwise` (derived from a primitive's
``elementwise`` flag), :func:`reduction` and :func:`over_axes` (axis parameters), :func:`leading`
(operations that treat leading axes independently), and the shape helpers the specific rules share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: A batching rule (see the module's docstring).
BatchRule = Callable[..., Any]


def ndim(x: Any) -> int:
    """The number of dimensions of an input: an array's or Tensor's, 0 for a number or None."""
    n = getattr(x, "ndim", None)
    return np.ndim(x) if n is None else n


def shape(x: Any) -> tuple[int, ...]:
    """The shape of an input: an array's or Tensor's, () for a number or None."""
    s = getattr(x, "shape", None)
    return np.shape(x) if s is None else tuple(s)


def example_ndim(x: Any, batched: bool) -> int:
    """The number of dimensions of one example's value of an input."""
    return ndim(x) - 1 if batched else ndim(x)


def with_rank(xp: Any, x: Any, rank: int) -> Any:
    """A batched ``x`` with size-1 axes inserted after its batch axis, so that one example's value has
    ``rank`` dimensions and broadcasts, right-aligned, against unbatched values as the example did."""
    s = shape(x)
    missing = rank - (len(s) - 1)
    if missing <= 0:
        return x
    return xp.reshape(x, shape=s[:1] + (1,) * missing + s[1:])


def expanded(xp: Any, x: Any, size: int) -> Any:
    """An unbatched ``x`` repeated for ``size`` examples (a broadcast view: nothing is copied)."""
    return xp.broadcast_to(x, shape=(size,) + shape(x))


def all_batched(xp: Any, size: int, batched: tuple[bool, ...], inputs: tuple) -> list:
    """Every input batched: unbatched ones repeated for ``size`` examples."""
    return [x if b else expanded(xp, x, size) for x, b in zip(inputs, batched)]


def moved_to_front(xp: Any, x: Any, axis: int) -> Any:
    """``x`` with its axis ``axis`` moved to the front."""
    n = ndim(x)
    axis %= n
    if axis == 0:
        return x
    order = (axis,) + tuple(a for a in range(n) if a != axis)
    return xp.transpose(x, axes=order)


def moved_from_front(xp: Any, x: Any, axis: int) -> Any:
    """``x`` with its first axis moved to position ``axis``."""
    n = ndim(x)
    axis %= n
    if axis == 0:
        return x
    order = tuple(range(1, axis + 1)) + (0,) + tuple(range(axis + 1, n))
    return xp.transpose(x, axes=order)


def shifted(axis: Any, rank: int) -> Any:
    """An axis parameter (None for all, an int, or a tuple of ints; negative from the end) of one
    example of ``rank`` dimensions, as the axes of the batched value (one more axis in front)."""
    if axis is None:
        return tuple(range(1, rank + 1))
    if isinstance(axis, (tuple, list)):
        return tuple(int(a) % rank + 1 for a in axis) if rank else tuple(int(a) + 1 for a in axis)
    return int(axis) % rank + 1 if rank else int(axis) + 1


def shifted_one(axis: Any, rank: int) -> int:
    """A single axis (an int; negative from the end) of an example of ``rank`` dimensions, in the batch."""
    return int(axis) % rank + 1 if rank else int(axis) + 1


# -- the generic rules ----------------------------------------------------------------------------

def elementwise(xp: Any, prim: Any, size: int, batched: tuple[bool, ...], /, *inputs: Any, **params: Any) -> Any:
    """Elementwise primitives (NumPy's broadcasting): each batched input gets size-1 axes after its batch
    axis up to the examples' common rank, so that the examples broadcast as they did one by one."""
    rank = max(example_ndim(x, b) for x, b in zip(inputs, batched))
    moved = [with_rank(xp, x, rank) if b else x for x, b in zip(inputs, batched)]
    return xp.call(prim, *moved, **params)


def leading(xp: Any, prim: Any, size: int, batched: tuple[bool, ...], /, *inputs: Any, **params: Any) -> Any:
    """Primitives that treat the leading axes of their inputs independently (stacks of matrices, the batch
    axes of a pooling, a copy, a change of dtype): the batch axis is one more leading axis, and an input
    not batched is repeated for every example (a broadcast view)."""
    if len(inputs) > 1:
        inputs = all_batched(xp, size, batched, inputs)
    return xp.call(prim, *inputs, **params)


def leading_with_shape(name: str) -> BatchRule:
    """:func:`leading` for a primitive whose parameter ``name`` is the shape of one example's result."""
    def rule(xp: Any, prim: Any, size: int, batched: tuple[bool, ...], /, *inputs: Any, **params: Any) -> Any:
        moved = dict(params)
        moved[name] = (size,) + tuple(params[name])
        return xp.call(prim, *all_batched(xp, size, batched, inputs), **moved)
    return rule


def stacked(core: int | tuple[int, ...]) -> BatchRule:
    """A rule for primitives on stacks of ``core``-dimensional blocks (``core`` per input, or one for
    all: 2 for matrices) whose leading axes broadcast: each batched input gets size-1 axes after its
    batch axis so that every input has as many leading axes as the one with the most."""
    def rule(xp: Any, prim: Any, size: int, batched: tuple[bool, ...], /, *inputs: Any, **params: Any) -> Any:
        cores = core if isinstance(core, tuple) else (core,) * len(inputs)
        lead = max(example_ndim(x, b) - c for x, b, c in zip(inputs, batched, cores))
        moved = [with_rank(xp, x, lead + c) if b else x for x, b, c in zip(inputs, batched, cores)]
        return xp.call(prim, *moved, **params)
    return rule


def reduction(xp: Any, prim: Any, size: int, batched: tuple[bool, ...], x: Any, /, axis: Any = None,
              **params: Any) -> Any:
    """Reductions over ``axis`` (None, an int or a tuple): the same axes of every example, one further
    along; None, all of an example's axes (never the batch axis)."""
    return xp.call(prim, x, axis=shifted(axis, ndim(x) - 1), **params)


def over_axes(*names: str, **defaults: Any) -> BatchRule:
    """A rule for a primitive of one input whose parameters ``names`` are axes (None for all of them, an
    int or a tuple of ints) of one example: they move one further along. ``defaults`` gives the value of a
    parameter the caller may leave out, where the primitive's own default would not mean the same in the
    batch (``flip``'s ``axis=None``: all axes)."""
    def rule(xp: Any, prim: Any, size: int, batched: tuple[bool, ...], /, *inputs: Any, **params: Any) -> Any:
        rank = ndim(inputs[0]) - 1
        moved = {**defaults, **params}
        for name in names:
            if name in moved:
                moved[name] = shifted(moved[name], rank)
        return xp.call(prim, *inputs, **moved)
    return rule


def joined_over_axis(name: str = "axis", default: int = 0) -> BatchRule:
    """A rule for a primitive of several inputs of equal rank along one axis ``name`` (concatenate,
    take_along_axis): unbatched inputs are repeated for every example, and the axis moves one along."""
    def rule(xp: Any, prim: Any, size: int, batched: tuple[bool, ...], /, *inputs: Any, **params: Any) -> Any:
        rank = max(example_ndim(x, b) for x, b in zip(inputs, batched))
        moved = dict(params)
        moved[name] = shifted_one(params.get(name, default), rank)
        return xp.call(prim, *all_batched(xp, size, batched, inputs), **moved)
    return rule


def random_draw(xp: Any, prim: Any, size: int, batched: tuple[bool, ...], /, *inputs: Any, shape: Any,
                **params: Any) -> Any:
    """Random draws (no inputs, a ``shape``): one independent draw per example (``randomness="different"``)."""
    return xp.call(prim, *inputs, shape=(size,) + tuple(shape), **params)


# -- indexing -------------------------------------------------------------------------------------

def _advanced(item: Any) -> bool:
    return isinstance(item, (np.ndarray, list, np.bool_, bool))


def batch_axis_of_index(items: tuple) -> tuple[int, bool]:
    """Where the batch axis lands when ``x[(slice(None),) + items]`` indexes a batched ``x``, and whether
    the index is advanced: NumPy puts the axes of advanced indices (arrays, and integers beside them)
    first when they are not next to each other, before the batch axis."""
    if not any(_advanced(i) for i in items):
        return 0, False
    places = [k for k, i in enumerate(items) if _advanced(i) or isinstance(i, (int, np.integer))]
    if places == list(range(places[0], places[-1] + 1)):
        return 0, True
    shapes = [np.shape(i) if not isinstance(i, (np.bool_, bool)) else (1,) for i in items
              if _advanced(i) or isinstance(i, (int, np.integer))]
    return len(np.broadcast_shapes(*shapes)), True


def index_items(index: Any) -> tuple:
    """An index as a tuple of items."""
    return index if isinstance(index, tuple) else (index,)

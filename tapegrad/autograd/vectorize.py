"""``vmap``: a function written for one example, run on a batch of them at once.

``vmap(f)(xs)`` stacks ``f(x)`` over the examples ``x`` of ``xs`` without a loop over them: inside
``f`` every argument mapped by ``in_axes`` is one batched value (:class:`~tapegrad.tensor.Batched`)
that acts as a single example (its ``shape`` is an example's), and each operation runs its primitive's
batching rule once on all the examples (see :mod:`tapegrad.ops.batching`). The semantics of ``in_axes``
and ``out_axes`` are JAX's, those of ``randomness`` and ``chunk_size`` ``torch.func.vmap``'s.

It composes with the other transforms in any order: ``grad`` inside ``vmap`` gives per-example
gradients (the backward pass runs the VJP rules on batched values, and a gradient reaching a parameter
shared by every example is batched too); ``vmap`` inside ``grad`` is differentiated through the
operations the batching rules run; nested ``vmap`` calls map over several axes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..creation import generator
from ..engine import RANDOMNESS, batch_level
from ..errors import ArgumentError, ShapeError
from ..functions import concatenate
from ..ops.shape import shown
from ..tensor import Batched, Tensor, batched, is_traced, unbatched
from .pytrees import tree_flatten, tree_unflatten

__all__ = ["vmap"]

_LEAF_KINDS = (Tensor, np.ndarray, np.generic, int, float, complex, bool)


def vmap(f: Callable[..., Any], in_axes: Any = 0, out_axes: Any = 0, randomness: str = "error",
         chunk_size: int | None = None) -> Callable[..., Any]:
    """``f`` mapped over an axis of its arguments: ``vmap(f)(xs)[i]`` is ``f(xs[i])``, computed for every
    ``i`` at once.

    Args:
        f: a function of Tensors, arrays, numbers and nested lists, tuples and dicts of them (pytrees),
            written for one example.
        in_axes: which axis of each positional argument to map over: an int (for every argument), None (not
            mapped: the same value for every example), or a tuple with one entry per positional argument,
            each an int, None or a nested structure matching that argument's (a pytree prefix), as in JAX.
            Negative axes count from the end. Keyword arguments are not mapped (as in ``torch.func.vmap``).
        out_axes: where the mapped axis goes in each output: an int, None, or a structure matching the
            output's. An output that does not depend on the mapped arguments is broadcast along it (None
            keeps it as it is, which only such outputs may).
        randomness: what a random draw inside ``f`` does: ``"error"`` (raise), ``"different"`` (independent
            draws for each example) or ``"same"`` (one draw shared by every example).
        chunk_size: run at most this many examples at once (the results concatenated), to bound memory;
            None for all at once.

    Returns:
        The mapped function. It returns what ``f`` returns, each output with the mapped axis inserted at
        its ``out_axes`` position: Tensors when an argument is a Tensor, NumPy arrays otherwise.

    Raises:
        ArgumentError: (when called) for an ``in_axes`` whose structure does not match the arguments, or that
            maps no argument, for an ``out_axes`` that does not match the outputs; (at once) for a bad
            ``randomness`` or ``chunk_size``.
        ShapeError: (when called) for an axis out of range of its argument, mapped axes of different sizes
            (each error names the argument, its shape and the axis), or an output mapped where ``out_axes``
            says None.
    """
    if not callable(f):
        raise ArgumentError(f"vmap: f={shown(f)} is not callable; expected a function")
    _check_spec(in_axes, "in_axes")
    _check_spec(out_axes, "out_axes")
    if randomness not in RANDOMNESS:
        raise ArgumentError(f"vmap: randomness={shown(randomness)}; expected one of {', '.join(map(repr, RANDOMNESS))}")
    if chunk_size is not None and (isinstance(chunk_size, (bool, np.bool_)) or not isinstance(
            chunk_size, (int, np.integer)) or chunk_size < 1):
        raise ArgumentError(f"vmap: chunk_size={shown(chunk_size)}; expected a positive int or None")

    @functools.wraps(f)
    def mapped(*args: Any, **kwargs: Any) -> Any:
        chosen = _mapped(_argument_pairs(args, in_axes))
        size = _batch_size(chosen)
        tensors = any(isinstance(leaf, Tensor) for leaf in tree_flatten(list(args))[0])
        if chunk_size is None or chunk_size >= size:
            return _run(f, args, kwargs, chosen, size, out_axes, randomness, tensors)
        return _run_in_chunks(f, args, kwargs, chosen, size, out_axes, randomness, tensors, int(chunk_size))

    return mapped


def _check_spec(spec: Any, name: str) -> None:
    """Raise ArgumentError unless ``spec`` is an int, None, or lists, tuples and dicts of them."""
    if spec is None or (isinstance(spec, (int, np.integer)) and not isinstance(spec, (bool, np.bool_))):
        return
    if isinstance(spec, (list, tuple)):
        for item in spec:
            _check_spec(item, name)
        return
    if isinstance(spec, dict):
        for item in spec.values():
            _check_spec(item, name)
        return
    raise ArgumentError(f"vmap: {name} holds {shown(spec)} ({type(spec).__name__}); expected ints, None, and "
                        "tuples, lists or dicts of them")


def _prefix_pairs(tree: Any, spec: Any, path: str, name: str) -> list[tuple[str, Any, Any]]:
    """``(path, leaf, axis)`` for every leaf of ``tree``, ``spec`` being a pytree prefix of it (an int or
    None stands for every leaf below it).

    Raises:
        ArgumentError: where ``spec``'s structure does not match ``tree``'s.
    """
    if spec is None or isinstance(spec, (int, np.integer)):
        return [(f"{path}{p}", leaf, spec) for p, leaf in zip(_leaf_paths(tree), tree_flatten(tree)[0])]
    if isinstance(spec, (list, tuple)):
        if not isinstance(tree, (list, tuple)) or len(tree) != len(spec):
            what = f"a {type(tree).__name__} of {len(tree)} items" if isinstance(tree, (list, tuple, dict)) else \
                f"a {type(tree).__name__}"
            raise ArgumentError(f"vmap: {name} gives {path} a {type(spec).__name__} of {len(spec)} entries, but "
                                f"{path} is {what}; expected {name} to match its structure (or an int or None)")
        return [pair for k, (item, sub) in enumerate(zip(tree, spec))
                for pair in _prefix_pairs(item, sub, f"{path}[{k}]", name)]
    if not isinstance(tree, dict) or set(tree) != set(spec):
        what = f"a dict with keys {sorted(map(str, tree))}" if isinstance(tree, dict) else f"a {type(tree).__name__}"
        raise ArgumentError(f"vmap: {name} gives {path} a dict with keys {sorted(map(str, spec))}, but {path} is "
                            f"{what}; expected {name} to match its structure (or an int or None)")
    return [pair for key in tree for pair in _prefix_pairs(tree[key], spec[key], f"{path}[{key!r}]", name)]


def _leaf_paths(tree: Any) -> list[str]:
    """The path of every leaf of ``tree`` below it, in :func:`tree_flatten`'s order."""
    if isinstance(tree, dict):
        return [f"[{k!r}]{p}" for k in tree for p in _leaf_paths(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [f"[{i}]{p}" for i, item in enumerate(tree) for p in _leaf_paths(item)]
    return [""]


def _argument_pairs(args: tuple, in_axes: Any) -> list[tuple[str, Any, Any]]:
    if isinstance(in_axes, (list, tuple)):
        if len(in_axes) != len(args):
            raise ArgumentError(f"vmap: in_axes={shown(in_axes)} has {len(in_axes)} entries for {len(args)} "
                                "positional arguments; expected one entry per positional argument (or an int or "
                                "None for all of them)")
        return [pair for k, (arg, spec) in enumerate(zip(args, in_axes))
                for pair in _prefix_pairs(arg, spec, f"argument {k}", "in_axes")]
    return [pair for k, arg in enumerate(args) for pair in _prefix_pairs(arg, in_axes, f"argument {k}", "in_axes")]


def _mapped(pairs: list[tuple[str, Any, Any]]) -> list[tuple[int, str, Any, int]]:
    """``(position, path, leaf, axis)`` of every mapped leaf (``position`` among the flattened arguments'
    leaves, ``axis`` made non-negative).

    Raises:
        ArgumentError: for a mapped leaf that is not an array or Tensor, or no mapped leaf at all.
        ShapeError: for an axis out of range of its leaf.
    """
    chosen = []
    for position, (path, leaf, axis) in enumerate(pairs):
        if axis is None:
            continue
        if not isinstance(leaf, (Tensor, np.ndarray)):
            raise ArgumentError(f"vmap: in_axes maps {path} over axis {axis}, but it is a {type(leaf).__name__} "
                                f"({shown(leaf)}), which has no axes; pass an array or Tensor, or None in in_axes "
                                "for a value shared by every example")
        ndim = leaf.ndim
        if not -ndim <= axis < ndim:
            raise ShapeError(f"vmap: in_axes maps {path} of shape {tuple(leaf.shape)} over axis {axis}; expected "
                             + (f"an axis in [{-ndim}, {ndim})" if ndim else
                                "None for a 0-d value, which has no axis (it is then shared by every example)"))
        chosen.append((position, path, leaf, int(axis) % ndim))
    if not chosen:
        raise ArgumentError("vmap: in_axes maps no argument (every entry is None, or there are no positional "
                            "arguments); expected at least one mapped argument, whose axis gives the number of "
                            "examples")
    return chosen


def _batch_size(chosen: list[tuple[int, str, Any, int]]) -> int:
    """The number of examples: the common length of the mapped axes.

    Raises:
        ShapeError: naming every mapped argument, its shape and axis, when the lengths differ.
    """
    sizes = {leaf.shape[axis] for _, _, leaf, axis in chosen}
    if len(sizes) > 1:
        listed = "; ".join(f"{path} of shape {tuple(leaf.shape)} has {leaf.shape[axis]} along axis {axis}"
                           for _, path, leaf, axis in chosen)
        raise ShapeError(f"vmap: the mapped axes have different lengths: {listed}; expected the same number of "
                         "examples in every mapped argument")
    return sizes.pop()


def _run(f: Callable[..., Any], args: tuple, kwargs: dict, chosen: list, size: int, out_axes: Any,
         randomness: str, tensors: bool) -> Any:
    """One vmapped call over ``size`` examples."""
    leaves, structure = tree_flatten(list(args))
    with batch_level(size, randomness) as level:
        for position, _, leaf, axis in chosen:
            tensor = leaf if isinstance(leaf, Tensor) else Tensor(leaf)
            leaves[position] = batched(_axis_to_front(tensor, axis), level)
        out = f(*tree_unflatten(structure, leaves), **kwargs)
    values = []
    for path, leaf, axis in _prefix_pairs(out, out_axes, "the output", "out_axes"):
        value = _unmapped(leaf, axis, path, level, size)
        if not tensors and isinstance(value, Tensor) and value.__class__ is not Batched and not is_traced(value):
            value = value.data  # arrays in, arrays out
        values.append(value)
    return tree_unflatten(tree_flatten(out)[1], values)


def _axis_to_front(tensor: Tensor, axis: int) -> Tensor:
    if axis == 0:
        return tensor
    return tensor.transpose(*((axis,) + tuple(a for a in range(tensor.ndim) if a != axis)))


def _unmapped(leaf: Any, axis: Any, path: str, level: Any, size: int) -> Any:
    """One output of the vmapped function, its examples along ``axis``: a batched value's physical value
    with the batch axis moved there, anything else broadcast along it (or as it is for None).

    Raises:
        ShapeError: for an axis out of range, or None for an output that depends on the mapped arguments.
    """
    if leaf is None:
        return None
    physical, is_batched = unbatched(leaf, level)
    if not is_batched:
        if axis is None:
            return physical
        if not isinstance(physical, Tensor):
            physical = Tensor(physical if isinstance(physical, np.ndarray) else np.asarray(physical))
        physical = physical.reshape((1,) + tuple(physical.shape)).broadcast_to((size,) + tuple(physical.shape))
    elif axis is None:
        raise ShapeError(f"vmap: out_axes gives {path} None, but it depends on the mapped arguments (shape "
                         f"{tuple(leaf.shape)} per example); only an output that does not can have out_axes None")
    ndim = physical.ndim
    if not -ndim <= axis < ndim:
        raise ShapeError(f"vmap: out_axes puts the mapped axis of {path} (shape {tuple(physical.shape[1:])} per "
                         f"example) at {axis}; expected an axis in [{-ndim}, {ndim})")
    axis = int(axis) % ndim
    if axis == 0:
        return physical
    return physical.transpose(*(tuple(range(1, axis + 1)) + (0,) + tuple(range(axis + 1, ndim))))


def _run_in_chunks(f: Callable[..., Any], args: tuple, kwargs: dict, chosen: list, size: int, out_axes: Any,
                   randomness: str, tensors: bool, chunk: int) -> Any:
    """The vmapped call ``chunk`` examples at a time, the outputs concatenated along their ``out_axes``
    (under randomness="same", every chunk draws the same numbers)."""
    state = generator().bit_generator.state if randomness == "same" else None
    pieces = []
    for start in range(0, size, chunk):
        stop = min(size, start + chunk)
        leaves, structure = tree_flatten(list(args))
        part = []
        for position, path, leaf, axis in chosen:
            leaves[position] = leaf[(slice(None),) * axis + (slice(start, stop),)]
            part.append((position, path, leaves[position], axis))
        if state is not None:
            generator().bit_generator.state = state
        pieces.append(_run(f, tuple(tree_unflatten(structure, leaves)), kwargs, part, stop - start, out_axes,
                           randomness, tensors))
    first = pieces[0]
    joined = []
    for k, (_, leaf, axis) in enumerate(_prefix_pairs(first, out_axes, "the output", "out_axes")):
        if axis is None or leaf is None:
            joined.append(leaf)
            continue
        parts = [tree_flatten(piece)[0][k] for piece in pieces]
        axis = int(axis) % np.ndim(parts[0]) if not isinstance(parts[0], Tensor) else int(axis) % parts[0].ndim
        joined.append(concatenate(parts, axis=axis) if isinstance(parts[0], Tensor) else
                      np.concatenate(parts, axis=axis))
    return tree_unflatten(tree_flatten(first)[1], joined)

"""Function transforms in JAX's style, built on reverse mode: ``grad``, ``value_and_grad``, ``vjp``,
``jacobian`` (``jacrev``), ``hessian`` and ``hvp``.

``f`` may take and return Tensors, NumPy arrays, Python numbers, and nested lists, tuples and dicts of
them (pytrees); NumPy functions called on the Tensors inside ``f`` are differentiated too (see
:mod:`tapegrad.tensor`). Gradients come back in the structure of the input and as its kind:
arrays for arrays, Python floats for Python numbers, Tensors for Tensors.

Transforms nest to any depth (``grad(grad(grad(f)))``, ``jacobian(grad(f))``): a transform called on
inputs that an outer transform is differentiating works on a recorded copy of them (so a variable
captured from outside is never confused with the inner input) and keeps its result on the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..engine import enable_grad, forward_level, give_tangent, tangent_in, tangent_of
from ..errors import BackwardError, DTypeError, ShapeError
from ..tensor import Batched, Tensor, batched_input, is_traced, of_level, tangent_key, vmap_level
from .functional import grad as autograd_grad
from .pytrees import tree_flatten, tree_unflatten
from .vectorize import vmap

# -- inputs and outputs ---------------------------------------------------------------------------

def _as_input(leaf: Any, name: str) -> tuple[Tensor, bool]:
    """A Tensor to differentiate with respect to, and whether it hangs on an outer transform's graph."""
    level = vmap_level()
    if isinstance(leaf, Tensor):
        if leaf.dtype.kind not in "fc":
            raise DTypeError(f"{name}: cannot differentiate with respect to a {leaf.dtype} input")
        if (leaf.requires_grad or tangent_of(tangent_key(leaf)) is not None) and (
                level is None or of_level(leaf, level)):
            # Inside another transform: a recorded copy is the inner input, distinct from captured ones.
            copy = leaf.clone()
            return (copy.requires_grad_() if copy.is_leaf else copy), True
        if level is not None:  # inside tg.vmap: an input of its level (per example, or shared by all)
            return batched_input(leaf, level), is_traced(leaf)
        # A view: each input its own array object (sharing memory), so that the same array passed as two
        # inputs carries two tangents (forward mode tells values apart by their array objects).
        return Tensor(leaf.data.view(), requires_grad=True), False
    array = np.asarray(leaf)
    if array.dtype.kind not in "fc":
        raise DTypeError(f"{name}: cannot differentiate with respect to {type(leaf).__name__} input of dtype "
                         f"{array.dtype}; pass floats (e.g. 1.0, not 1) or complex numbers")
    if level is not None:
        return batched_input(Tensor(array), level), False
    return Tensor(array.view(), requires_grad=True), False


def _as_kind(value: Any, like: Any) -> Any:
    """``value`` (a Tensor) converted to the kind of ``like``: Tensor, array or Python float (a batched
    value, inside tg.vmap, stays a Tensor)."""
    if isinstance(like, Tensor) or value.__class__ is Batched:
        return value
    data = value.data
    if isinstance(like, (int, float)) and not isinstance(like, bool):
        return float(data)
    if isinstance(like, complex):
        return complex(data)
    return np.asarray(data, dtype=np.asarray(like).dtype if np.asarray(like).dtype.kind in "fc" else None)


def _plain(value: Any, nested: bool) -> Any:
    """An output of ``f`` as the caller gets it: Tensors inside transforms, arrays outside."""
    leaves, structure = tree_flatten(value)
    converted = [leaf if nested or not isinstance(leaf, Tensor) or leaf.__class__ is Batched else leaf.data
                 for leaf in leaves]
    return tree_unflatten(structure, converted)


class _Prepared:
    """The arguments of one call of a transformed function, with the differentiated ones made inputs."""

    def __init__(self, name: str, args: tuple, argnums: int | Sequence[int]) -> None:
        self.single = isinstance(argnums, int)
        self.argnums = (argnums,) if self.single else tuple(argnums)
        for n in self.argnums:
            if not -len(args) <= n < len(args):
                raise ValueError(f"{name}: argnums {argnums} but the function got {len(args)} positional arguments")
        self.args = list(args)
        self.inputs: list[list[Tensor]] = []
        self.originals: list[list[Any]] = []
        self.structures = []
        self.nested = False
        for n in self.argnums:
            leaves, structure = tree_flatten(args[n])
            made = [_as_input(leaf, name) for leaf in leaves]
            self.nested = self.nested or any(outer for _, outer in made)
            self.inputs.append([tensor for tensor, _ in made])
            self.originals.append(leaves)
            self.structures.append(structure)
            self.args[n] = tree_unflatten(structure, [tensor for tensor, _ in made])

    def all_inputs(self) -> list[Tensor]:
        return [tensor for group in self.inputs for tensor in group]

    def rebuild(self, gradients: Sequence[Tensor | None]) -> Any:
        """Gradients in the structure and kind of the differentiated arguments."""
        results, position = [], 0
        for group, originals, structure in zip(self.inputs, self.originals, self.structures):
            leaves = []
            for tensor, original in zip(group, originals):
                g = gradients[position]
                position += 1
                if g is None:
                    g = Tensor(np.zeros(tensor.shape, tensor.dtype))
                leaves.append(g if self.nested else _as_kind(g, original))
            results.append(tree_unflatten(structure, leaves))
        return results[0] if self.single else tuple(results)


def _scalar_output(name: str, out: Any) -> Tensor:
    if not isinstance(out, Tensor):
        out = Tensor(np.asarray(out))
    if out.size != 1:
        raise ShapeError(f"{name}: the function must return a single number, got shape {out.shape}; "
                         "use jacobian for functions with several outputs")
    return out


def _gradients(outputs: Sequence[Tensor], inputs: list[Tensor], seeds: Sequence[Any], nested: bool
               ) -> list[Tensor | None]:
    live = [(o, s) for o, s in zip(outputs, seeds) if o.requires_grad]
    if not live:
        return [None] * len(inputs)
    return list(autograd_grad([o for o, _ in live], inputs, grad_outputs=[s for _, s in live],
                              create_graph=nested, retain_graph=True, allow_unused=True))


# -- the transforms -------------------------------------------------------------------------------

def value_and_grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
                   ) -> Callable[..., Any]:
    """A function returning ``(f(*args), gradient of f at args)``; with ``has_aux``, ``f`` returns
    ``(value, aux)`` and the result is ``((value, aux), gradient)``.

    For a NumPy array ``x`` the value is a 0-d array and the gradient a new array of ``x``'s shape and dtype:
    what ``scipy.optimize.minimize(tg.value_and_grad(f), x0, jac=True)`` expects (extra ``args`` of
    ``minimize`` reach ``f`` after ``x``, undifferentiated).

    Raises:
        ShapeError: if ``f`` does not return a single number. DTypeError: for integer inputs.
    """
    def transformed(*args: Any, **kwargs: Any) -> Any:
        with enable_grad():
            prepared = _Prepared("grad", args, argnums)
            result = f(*prepared.args, **kwargs)
            value, aux = result if has_aux else (result, None)
            out = _scalar_output("grad", value)
            seed = np.ones(out.shape, dtype=out.dtype)
            gradients = prepared.rebuild(_gradients([out], prepared.all_inputs(), [seed], prepared.nested))
        if prepared.nested or out.__class__ is Batched:
            shown = out
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            shown = float(value)
        else:
            shown = out.data
        return ((shown, _plain(aux, prepared.nested)) if has_aux else shown), gradients

    return transformed


def grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable[..., Any]:
    """The gradient of a scalar function: ``grad(f)(x)`` has the structure and kind of ``x``.

    ``argnums`` picks the differentiated positional argument (or a tuple of them, giving a tuple of
    gradients). With ``has_aux``, ``f`` returns ``(value, aux)`` and ``grad`` returns ``(gradient, aux)``.
    """
    both = value_and_grad(f, argnums, has_aux)

    def transformed(*args: Any, **kwargs: Any) -> Any:
        value, gradients = both(*args, **kwargs)
        return (gradients, value[1]) if has_aux else gradients

    return transformed


def vjp(f: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[[Any], tuple]]:
    """``f(*primals)`` and a function mapping a cotangent (shaped like the output) to the tuple of
    vector-Jacobian products, one per primal. The function may be called many times."""
    with enable_grad():
        prepared = _Prepared("vjp", primals, tuple(range(len(primals))))
        out = f(*prepared.args)
    out_leaves, out_structure = tree_flatten(out)
    outputs = [leaf if isinstance(leaf, Tensor) else Tensor(np.asarray(leaf)) for leaf in out_leaves]

    def pullback(cotangent: Any) -> tuple:
        seeds, structure = tree_flatten(cotangent)
        if structure != out_structure or len(seeds) != len(outputs):
            raise ShapeError("vjp: the cotangent must have the structure of the function's output")
        seeds = [s if isinstance(s, Tensor) else np.asarray(s, dtype=o.dtype) for s, o in zip(seeds, outputs)]
        for s, o in zip(seeds, outputs):
            if tuple(np.shape(s)) != o.shape:
                raise ShapeError(f"vjp: a cotangent of shape {np.shape(s)} for an output of shape {o.shape}")
        with enable_grad():
            return prepared.rebuild(_gradients(outputs, prepared.all_inputs(), seeds, prepared.nested))

    return _plain(out, prepared.nested), pullback


def jacobian(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The Jacobian by reverse mode, every row from one batched backward pass (``vmap`` over the
    cotangents, as JAX's ``jacrev``): for an output of shape ``(m...)`` and an input of shape ``(n...)``,
    an array (a Tensor for a Tensor input, or inside another transform) of shape ``(m..., n...)``."""
    def transformed(*args: Any, **kwargs: Any) -> Any:
        with enable_grad():
            prepared = _Prepared("jacobian", args, argnums)
            out = f(*prepared.args, **kwargs)
            if not isinstance(out, Tensor):
                out = Tensor(np.asarray(out))
            rows = _rows(out, prepared.all_inputs(), prepared.nested)
        results, position = [], 0
        for group, originals, structure in zip(prepared.inputs, prepared.originals, prepared.structures):
            leaves = []
            for _, original in zip(group, originals):
                block = rows[position]
                position += 1
                keep = prepared.nested or isinstance(original, Tensor) or block.__class__ is Batched
                leaves.append(block if keep else block.data)
            results.append(tree_unflatten(structure, leaves))
        return results[0] if prepared.single else tuple(results)

    return transformed


def _rows(out: Tensor, inputs: list[Tensor], nested: bool) -> list[Tensor]:
    """Per input, the Jacobian of ``out`` with respect to it, ``out.shape + input.shape``: the pullback of
    every basis cotangent at once, vmapped."""
    if not out.requires_grad or out.size == 0:
        return [Tensor(np.zeros(out.shape + t.shape, t.dtype)) for t in inputs]

    def pullback(seed: Tensor) -> list[Tensor]:
        grads = _gradients([out], inputs, [seed], nested)
        return [g if g is not None else Tensor(np.zeros(t.shape, t.dtype)) for g, t in zip(grads, inputs)]

    basis = np.eye(out.size, dtype=out.dtype).reshape((out.size,) + tuple(out.shape))
    stacked = vmap(pullback)(Tensor(basis))
    return [s.reshape(tuple(out.shape) + tuple(t.shape)) for s, t in zip(stacked, inputs)]


jacrev = jacobian


def hessian(f: Callable[..., Any], argnums: int = 0) -> Callable[..., Any]:
    """The matrix of second derivatives of a scalar function, shaped ``x.shape + x.shape``."""
    return jacobian(grad(f, argnums), argnums)


def hvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """``(grad f(x), H(x) v)``: the gradient and the Hessian-vector product, without forming H.

    ``primals`` and ``tangents`` are sequences with one entry per argument of ``f``; with a single
    argument the results are that argument's gradient and product, else tuples of them. ``f`` runs once
    (forward, then two backward passes). As ``scipy.optimize.minimize``'s ``hessp`` (called ``hessp(x, p,
    *args)``): ``hessp=lambda x, p, *args: tg.hvp(lambda v: f(v, *args), (x,), (p,))[1]``.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise BackwardError(f"hvp: {len(primals)} primals but {len(tangents)} tangents")
    argnums: int | tuple[int, ...] = 0 if len(primals) == 1 else tuple(range(len(primals)))

    def directional(*xs: Any) -> tuple[Tensor, Any]:
        gradients = grad(f, argnums=argnums)(*xs)
        total = None
        for g, v in zip(tree_flatten(gradients)[0], tree_flatten(tangents)[0]):
            term = (g * _constant(v)).sum()
            total = term if total is None else total + term
        return total, gradients

    # One evaluation of f: the gradient comes out beside the product, as the auxiliary output.
    (_, gradients), products = value_and_grad(directional, argnums=argnums, has_aux=True)(*primals)
    leaves, structure = tree_flatten(gradients)
    if leaves and not isinstance(leaves[0], Tensor):  # outside any transform: the kind of each input
        originals = tree_flatten(primals[0] if len(primals) == 1 else primals)[0]
        leaves = [_as_kind(Tensor(np.asarray(g)), x) for g, x in zip(leaves, originals)]
        gradients = tree_unflatten(structure, leaves)
    return gradients, products


# -- forward mode ---------------------------------------------------------------------------------

def jvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """``(f(*primals), J(primals) @ tangents)`` by forward mode: one evaluation of ``f`` that carries
    a tangent beside every value through each primitive's JVP rule (no backward pass).

    ``primals`` and ``tangents`` are sequences with one entry per argument of ``f``, each tangent
    with the structure and shapes of its primal. Returns the output and its tangent, as arrays for
    array inputs.

    Raises:
        ShapeError: if a tangent's structure or shape differs from its primal's.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ShapeError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    args, nested = [], False
    for primal, tangent in zip(primals, tangents):
        leaves, structure = tree_flatten(primal)
        tangent_leaves, tangent_structure = tree_flatten(tangent)
        if tangent_structure != structure:
            raise ShapeError("jvp: each tangent must have the structure of its primal")
        made = []
        for leaf, t in zip(leaves, tangent_leaves):
            tensor, outer = _as_input(leaf, "jvp")
            nested = nested or outer
            if _shape(t) != tensor.shape:
                raise ShapeError(f"jvp: a tangent of shape {_shape(t)} for a primal of shape {tensor.shape}")
            made.append((tensor, t if isinstance(t, Tensor) else Tensor(np.asarray(t, dtype=tensor.dtype))))
        args.append((structure, made))
    with forward_level() as level:
        for _, made in args:
            for tensor, t in made:
                give_tangent(level, tangent_key(tensor), t)
        out = f(*[tree_unflatten(structure, [tensor for tensor, _ in made]) for structure, made in args])
    out_leaves, out_structure = tree_flatten(out)
    tangent_out = []
    for leaf in out_leaves:
        t = tangent_in(level, tangent_key(leaf)) if isinstance(leaf, Tensor) else None
        t = Tensor(np.zeros(_shape(leaf))) if t is None else t
        tangent_out.append(t if nested or t.__class__ is Batched else t.data)
    return _plain(out, nested), tree_unflatten(out_structure, tangent_out)


def _constant(value: Any) -> Any:
    """``value`` as a constant of a computation: a Tensor's values (detached from any graph), or an array."""
    if value.__class__ is Batched:
        return value.detach()
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def _shape(value: Any) -> tuple:
    """A Tensor's shape (one example's, inside tg.vmap), or NumPy's shape of anything else."""
    return tuple(value.shape) if isinstance(value, Tensor) else tuple(np.shape(value))


def _zeros_like_tree(tree: Any) -> Any:
    leaves, structure = tree_flatten(tree)
    return tree_unflatten(structure, [np.zeros(_shape(leaf)) for leaf in leaves])


def jacfwd(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The Jacobian by forward mode, every column from one ``jvp`` whose tangents are batched (``vmap``
    over the basis tangents of each input, as JAX's ``jacfwd``): cheap for few inputs and many outputs (the
    opposite of :func:`jacobian`). Shaped ``output.shape + input.shape``."""
    def transformed(*args: Any, **kwargs: Any) -> Any:
        single = isinstance(argnums, int)
        function = lambda *xs: f(*xs, **kwargs)  # noqa: E731
        results = []
        for n in ((argnums,) if single else tuple(argnums)):
            leaves, structure = tree_flatten(args[n])
            blocks = [_columns(function, args, n, leaves, structure, which) for which in range(len(leaves))]
            results.append(tree_unflatten(structure, blocks))
        return results[0] if single else tuple(results)

    return transformed


def _columns(function: Callable[..., Any], args: tuple, n: int, leaves: list, structure: Any, which: int) -> Any:
    """The Jacobian of ``function`` with respect to leaf ``which`` of argument ``n``: the jvp of every basis
    tangent of that leaf at once (vmapped), shaped ``output.shape + leaf.shape``."""
    shape = _shape(leaves[which])
    count = int(np.prod(shape))

    def column(t: Any) -> Any:
        tangent_leaves = [t if i == which else np.zeros(_shape(other)) for i, other in enumerate(leaves)]
        tangents = [tree_unflatten(structure, tangent_leaves) if i == n else _zeros_like_tree(a)
                    for i, a in enumerate(args)]
        return jvp(function, args, tangents)[1]

    if count == 0:
        out = function(*args)
        zeros = np.zeros(_shape(out) + shape)
        return Tensor(zeros) if isinstance(out, Tensor) and (out.requires_grad or out.__class__ is Batched) else zeros
    basis = np.eye(count).reshape((count,) + shape)
    out = vmap(column, out_axes=-1)(basis)
    return out.reshape(tuple(out.shape[:-1]) + shape)

"""Matrix products: ``matmul`` for 1-D, 2-D and batched operands, and ``einsum``.

``matmul`` follows NumPy: a 1-D first operand is a row vector, a 1-D second operand a column vector,
and leading (batch) axes broadcast. The rules return gradients with the broadcast batch axes; the
engine sums them back to each operand's shape.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import ArgumentError, ShapeError
from . import batching as B
from .registry import Primitive
from .shape import shown


def _matmul(a, b):
    """``np.matmul``; for matrices and vectors (no batch axes), ``ndarray.dot``: the same product (the
    same BLAS call) at a third of the cost per call, without NumPy's generalized-ufunc machinery. For
    large operands only when both are C-contiguous: with a transposed one (the gradients' ``x.T @ g``)
    ``dot`` is far slower than ``matmul`` (45 against 32 ms for a (4096, 64) by (64, 4096) float32
    product, one thread); for small ones the call's cost is all there is (0.5 against 0.8 us for a
    (2, 2) matrix times a vector)."""
    if a.__class__ is np.ndarray and b.__class__ is np.ndarray and 1 <= a.ndim <= 2 and 1 <= b.ndim <= 2 \
            and (a.size + b.size <= _SMALL or a.flags.c_contiguous and b.flags.c_contiguous):
        return a.dot(b)
    return np.matmul(a, b)


_SMALL = 1024  # entries of two operands small enough for dot whatever their layout


def _swap_last(xp, x):
    return xp.transpose(x, axes=_swapping_last(x.ndim))


@functools.cache
def _swapping_last(ndim: int) -> tuple[int, ...]:
    """The permutation that swaps the last two of ``ndim`` axes."""
    return tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)


def _with_unit_axis(xp, x, position):
    """``x`` with a new axis of size 1 inserted at ``position`` (-1: last, -2: before last)."""
    shape = x.shape + (1,) if position == -1 else x.shape[:-1] + (1,) + x.shape[-1:]
    return xp.reshape(x, shape=shape)


def _matmul_vjp_a(xp, g, ans, a, b):
    if a.ndim == 2 and b.ndim == 2:  # two matrices, the common case, first (.T: arrays and Tensors)
        return xp.matmul(g, b.T)
    if b.ndim == 1:  # ans[..., i] = sum_k a[..., i, k] b[k]
        return _with_unit_axis(xp, g, -1) * b
    if a.ndim == 1:  # ans[..., j] = sum_k a[k] b[..., k, j]
        product = xp.matmul(b, _with_unit_axis(xp, g, -1))
        return xp.reshape(product, shape=product.shape[:-1])
    return xp.matmul(g, _swap_last(xp, b))


def _matmul_vjp_b(xp, g, ans, a, b):
    if a.ndim == 2 and b.ndim == 2:
        return xp.matmul(a.T, g)
    if a.ndim == 2 and b.ndim == 1:  # a matrix times a vector: g @ a (= a^T g, without the transpose)
        return xp.matmul(g, a)
    if a.ndim == 1:
        if b.ndim == 1:
            return g * a
        if b.ndim == 2:  # the outer product a g^T, as one einsum (batched by vmap into one for every example)
            return xp.einsum(a, g, subscripts="i,j->ij")
        return _with_unit_axis(xp, a, -1) * _with_unit_axis(xp, g, -2)
    if b.ndim == 1:
        product = xp.matmul(_swap_last(xp, a), _with_unit_axis(xp, g, -1))
        return xp.reshape(product, shape=product.shape[:-1])
    return xp.matmul(_swap_last(xp, a), g)


def _matmul_batch(xp, prim, size, batched, /, a, b):
    """matmul of every example, as one product where the shapes allow (a batched vector or matrix times a
    shared matrix: the examples' rows stacked; a shared matrix times batched matrices: their columns side
    by side), else NumPy's broadcast stack of products, the 1-D cases made 2-D as NumPy reads them."""
    ra, rb = a.ndim - batched[0], b.ndim - batched[1]
    if batched[0] and not batched[1]:
        if rb == 1 or (ra == 1 and rb == 2):  # (B, ..., k) @ (k,) and (B, k) @ (k, m)
            return xp.matmul(a, b)
        if ra == 1:  # (B, k) against a stack (..., k, m): each row a 1 x k matrix
            a = xp.reshape(a, shape=(size,) + (1,) * (rb - 2) + (1, a.shape[-1]))
            out = xp.matmul(a, b)
            return xp.reshape(out, shape=out.shape[:-2] + out.shape[-1:])
        if rb == 2:  # every example's rows at once: (B * ... * n, k) @ (k, m)
            rows = xp.reshape(a, shape=(math.prod(a.shape[:-1]), a.shape[-1]))
            return xp.reshape(xp.matmul(rows, b), shape=tuple(a.shape[:-1]) + (b.shape[-1],))
        return xp.matmul(B.with_rank(xp, a, max(ra, rb)), b)
    if batched[1] and not batched[0]:
        if ra == 1:  # (k,) @ (B, k) or (B, ..., k, m)
            return xp.matmul(b, a) if rb == 1 else xp.matmul(a, b)
        if rb == 1:  # (..., n, k) @ (B, k): each example's vector a column
            if ra == 2:
                return xp.transpose(xp.matmul(a, xp.transpose(b, axes=(1, 0))), axes=(1, 0))
            b = xp.reshape(b, shape=(size,) + (1,) * (ra - 2) + (b.shape[-1], 1))
            out = xp.matmul(a, b)
            return xp.reshape(out, shape=out.shape[:-1])
        if ra == 2 and rb == 2:  # (n, k) @ (B, k, m): the examples' columns side by side, one product
            k, m = b.shape[1:]
            columns = xp.reshape(xp.transpose(b, axes=(1, 0, 2)), shape=(k, size * m))
            out = xp.reshape(xp.matmul(a, columns), shape=(a.shape[0], size, m))
            return xp.transpose(out, axes=(1, 0, 2))
        return xp.matmul(a, B.with_rank(xp, b, max(ra, rb)))
    if ra == 1 and rb == 1:
        out = xp.matmul(xp.reshape(a, shape=(size, 1, a.shape[-1])), xp.reshape(b, shape=(size, b.shape[-1], 1)))
        return xp.reshape(out, shape=(size,))
    if ra == 1:
        a = xp.reshape(a, shape=(size,) + (1,) * (rb - 2) + (1, a.shape[-1]))
        out = xp.matmul(a, b)
        return xp.reshape(out, shape=out.shape[:-2] + out.shape[-1:])
    if rb == 1:
        b = xp.reshape(b, shape=(size,) + (1,) * (ra - 2) + (b.shape[-1], 1))
        out = xp.matmul(a, b)
        return xp.reshape(out, shape=out.shape[:-1])
    rank = max(ra, rb)
    a, b = B.with_rank(xp, a, rank), B.with_rank(xp, b, rank)
    if a.shape[-1] == 1 and a.shape[:-2] == b.shape[:-2]:
        # Outer products (a per-example weight gradient x^T g): einsum writes them several times faster than
        # NumPy's stack of rank-1 matrix products.
        lead = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:rank - 1]
        columns = xp.reshape(a, shape=tuple(a.shape[:-1]))
        rows = xp.reshape(b, shape=tuple(b.shape[:-2]) + (b.shape[-1],))
        return xp.einsum(columns, rows, subscripts=f"{lead}i,{lead}k->{lead}ik")
    return xp.matmul(a, b)


matmul = Primitive(
    "matmul", _matmul,
    vjps=(_matmul_vjp_a, _matmul_vjp_b),
    jvps=(lambda xp, t, ans, a, b: xp.matmul(t, b), lambda xp, t, ans, a, b: xp.matmul(a, t)),
    symbol="@",
    # the lectures' dY · W^T and X^T · dY: the leading or trailing "·" says on which side of the upstream
    # gradient the matrix stands (tg.explain writes the product so)
    derivatives=("· {b}^T", "{a}^T ·"),
    expects="operands of at least 1 dimension whose last axis of a equals the second-to-last axis of b "
            "(the only axis of a 1-D b), with batch axes that broadcast",
    batch=_matmul_batch,
)


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def parse_einsum(subscripts: str, n_operands: int) -> tuple[list[str], str]:
    """The input and output subscripts of an explicit einsum specification like ``"ij,jk->ik"``,
    the form the primitive records (:func:`canonical_einsum` makes it from any form NumPy takes).

    A letter may repeat within one operand (``"ii->i"``: the diagonal; ``"ii->"``: the trace), not within
    the output.

    Raises:
        ArgumentError: if ``subscripts`` is not a string.
        ShapeError: if the specification is implicit (no ``->``), uses ``...``, has more than one
            ``->``, a character that is not a letter, repeats a letter within the output, names a letter
            in the output that no operand has, or names a different number of operands.
    """
    if not isinstance(subscripts, str):
        raise ArgumentError(f"einsum: subscripts={shown(subscripts)}; expected a string like 'ij,jk->ik' "
                            "(the specification comes first: einsum('ij,jk->ik', a, b))")
    if subscripts.count("->") != 1 or "." in subscripts:
        raise ShapeError(f"einsum: {shown(subscripts)}; expected an explicit output ('ij,jk->ik') and no '...' "
                         "(tapegrad.ops.linalg.canonical_einsum writes any form NumPy takes so)")
    inputs, output = subscripts.replace(" ", "").split("->")
    terms = inputs.split(",")
    if len(terms) != n_operands:
        raise ShapeError(f"einsum: {subscripts!r} names {len(terms)} operands, {n_operands} given")
    for term in terms + [output]:
        if not all(c.isascii() and c.isalpha() for c in term):
            raise ShapeError(f"einsum: {term!r} in {subscripts!r}; expected only letters a-z, A-Z")
    if len(set(output)) != len(output):
        raise ShapeError(f"einsum: a letter repeats within the output {output!r} of {subscripts!r}; expected "
                         "each output letter once")
    missing = set(output).difference(*terms)
    if missing:
        raise ShapeError(f"einsum: the output of {subscripts!r} names {sorted(missing)}, which no operand has")
    return terms, output


def canonical_einsum(subscripts: str, shapes: list[tuple[int, ...]]) -> str:
    """``subscripts`` for operands of ``shapes`` in the explicit form the primitive records: ``...``
    replaced by letters the specification does not use (right-aligned, so batch axes broadcast as in
    NumPy), and an implicit output (no ``->``) written out as NumPy reads it (the ``...`` axes, then the
    letters that appear once, in alphabetical order).

    Raises:
        ArgumentError: if ``subscripts`` is not a string.
        ShapeError: for a malformed specification, a count of letters that does not match an operand's
            dimensions, a repeated letter whose axes differ in length, or more than 52 letters in all.
    """
    if not isinstance(subscripts, str):
        parse_einsum(subscripts, len(shapes))  # raises the ArgumentError
    text = subscripts.replace(" ", "")
    if text.count("->") > 1:
        raise ShapeError(f"einsum: {shown(subscripts)} has more than one '->'")
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(f"einsum: {shown(subscripts)} names {len(terms)} operands, {len(shapes)} given")
    for term in terms + [output]:
        plain = term.replace("...", "", 1)
        if not all(c.isascii() and c.isalpha() for c in plain):
            raise ShapeError(f"einsum: {term!r} in {shown(subscripts)}; expected only letters a-z, A-Z and at most "
                             "one '...' per operand")
    used = set(text)
    spare = [c for c in _LETTERS if c not in used]
    extra = [len(shape) - len(term.replace("...", "")) if "..." in term else 0 for term, shape in zip(terms, shapes)]
    n_batch = max(extra, default=0)
    if n_batch > len(spare):
        raise ShapeError(f"einsum: {shown(subscripts)} with '...' standing for {n_batch} axes needs more than "
                         "the 52 letters")
    batch = "".join(spare[:n_batch])
    written = []
    for term, shape, n in zip(terms, shapes, extra):
        term = term.replace("...", batch[n_batch - n:] if n > 0 else "")
        if n < 0 or len(term) != len(shape):
            raise ShapeError(f"einsum: operand of shape {tuple(shape)} for the subscripts {term!r} in "
                             f"{shown(subscripts)}; expected one letter per dimension")
        for c in set(term):
            sizes = {shape[i] for i, d in enumerate(term) if d == c}
            if len(sizes) > 1:
                raise ShapeError(f"einsum: the letter {c!r} repeats within {term!r} in {shown(subscripts)} over "
                                 f"axes of lengths {sorted(sizes)} (shape {tuple(shape)}); expected equal lengths")
        written.append(term)
    if not arrow:
        counts = {c: "".join(written).count(c) for c in "".join(written)}
        output = batch + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in batch))
    elif "..." in output:
        output = output.replace("...", batch)
    elif n_batch:
        raise ShapeError(f"einsum: {shown(subscripts)}: the operands' '...' stand for {n_batch} axes, and the "
                         "output has no '...' to put them")
    explicit = ",".join(written) + "->" + output
    parse_einsum(explicit, len(shapes))
    repeats = sum(len(t) - len(set(t)) for t in written)
    if len(set(explicit) - {",", "-", ">"}) + repeats > len(_LETTERS):
        raise ShapeError(f"einsum: {shown(subscripts)} uses too many letters (their gradient needs one more "
                         "letter per repeated one, 52 in all)")
    return explicit


def _einsum(*operands, subscripts):
    parse_einsum(subscripts, len(operands))
    return np.einsum(subscripts, *operands, optimize=len(operands) > 2)


def _einsum_vjp(xp, g, ans, *operands, argnum, subscripts):
    terms, output = parse_einsum(subscripts, len(operands))
    target = terms[argnum]
    others = [terms[i] for i in range(len(terms)) if i != argnum]
    available = set(output).union(*others)
    unique = "".join(dict.fromkeys(target))
    # Letters only this operand has were summed away; the gradient is constant along them.
    kept = "".join(c for c in unique if c in available)
    spec = ",".join([output] + others) + "->" + kept
    grad = xp.einsum(g, *[operands[i] for i in range(len(operands)) if i != argnum], subscripts=spec)
    if kept != unique:
        sizes = dict(zip(kept, grad.shape))
        shape = tuple(sizes.get(c, 1) for c in unique)
        full = tuple(sizes.get(c, operands[argnum].shape[target.index(c)]) for c in unique)
        grad = xp.broadcast_to(xp.reshape(grad, shape=shape), shape=full)
    if unique == target:
        return grad
    # A letter repeated within the operand read its diagonal: the gradient sits on that diagonal, the
    # product with a constant identity matrix per repetition (einsum rules are then einsums again).
    spare = iter(c for c in _LETTERS if c not in subscripts)
    renamed, deltas, eyes, seen = "", [], [], set()
    for c in target:
        if c in seen:
            fresh = next(spare)
            renamed += fresh
            deltas.append(c + fresh)
            eyes.append(np.eye(grad.shape[unique.index(c)], dtype=g.dtype))
        else:
            renamed += c
            seen.add(c)
    return xp.einsum(grad, *eyes, subscripts=",".join([unique] + deltas) + "->" + renamed)


def _einsum_jvp(xp, t, ans, *operands, argnum, subscripts):
    with_tangent = [t if i == argnum else x for i, x in enumerate(operands)]
    return xp.einsum(*with_tangent, subscripts=subscripts)


def _einsum_batch(xp, prim, size, batched, /, *operands, subscripts):
    """One einsum for every example: a letter the specification does not use for the batch axis, in front
    of each batched operand's subscripts and of the output's."""
    terms, output = parse_einsum(subscripts, len(operands))
    letter = next((c for c in _LETTERS if c not in subscripts), None)
    if letter is None:
        raise ShapeError(f"einsum: {shown(subscripts)} inside tg.vmap needs one more letter for the batch axis; "
                         "it uses all 52")
    terms = [letter + t if b else t for t, b in zip(terms, batched)]
    return xp.einsum(*operands, subscripts=",".join(terms) + "->" + letter + output)


einsum = Primitive(
    "einsum", _einsum, vjps=(_einsum_vjp,), jvps=(_einsum_jvp,), variadic=True,
    expects="operands whose axes match the subscripts", batch=_einsum_batch,
)

PRIMITIVES = (matmul, einsum)

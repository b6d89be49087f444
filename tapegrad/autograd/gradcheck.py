"""Gradient checking against central finite differences, to first and second order.

``gradcheck`` compares the full Jacobian that backward computes (one backward pass per output
entry) with the one central differences give (two forward passes per input entry), in float64; complex
values count as pairs of real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..engine import enable_grad, no_grad
from ..errors import GradcheckError
from ..tensor import Tensor
from .functional import grad


def _as_inputs(inputs: Any) -> list:
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def _checked(value: Any) -> bool:
    if isinstance(value, Tensor):
        return value.requires_grad
    return isinstance(value, (np.ndarray, float, complex)) and np.asarray(value).dtype.kind in "fc"


def _wide(dtype: np.dtype) -> np.dtype:
    """float64, or complex128 for a complex dtype: what the checks compute in."""
    return np.dtype(np.complex128) if dtype.kind == "c" else np.dtype(np.float64)


def _reals(array: Any) -> np.ndarray:
    """``array`` flattened as real numbers (float64): a complex entry as its real and imaginary parts."""
    array = np.asarray(array)
    flat = np.ascontiguousarray(array, dtype=_wide(array.dtype)).reshape(-1)
    return flat.view(np.float64) if flat.dtype.kind == "c" else flat


def _prepare(inputs: list) -> tuple[list, list[int]]:
    """Float64 (complex128) leaf copies of the inputs to check; the others as they are."""
    prepared, checked = [], []
    for position, value in enumerate(inputs):
        if _checked(value):
            data = np.asarray(value.data if isinstance(value, Tensor) else value)
            # C order: the central differences perturb entries through a flat view of it
            prepared.append(Tensor(np.array(data, dtype=_wide(data.dtype), order="C"), requires_grad=True))
            checked.append(position)
        else:
            prepared.append(value)
    return prepared, checked


def _outputs(result: Any) -> list[Tensor]:
    items = result if isinstance(result, (list, tuple)) else [result]
    return [t if isinstance(t, Tensor) else Tensor(np.asarray(t, dtype=_wide(np.asarray(t).dtype))) for t in items
            if t is not None]


def _analytical(fn: Callable, args: list, checked: list[int]) -> list[np.ndarray]:
    """Per checked input, its Jacobian of shape (total output entries, input entries), counting a complex
    entry as two real ones (its real and imaginary parts)."""
    outputs = _outputs(fn(*args))
    xs = [args[i] for i in checked]
    sizes = [_reals(o.data).size for o in outputs]
    jacobians = [np.zeros((sum(sizes), _reals(x.data).size)) for x in xs]
    row = 0
    for out, size in zip(outputs, sizes):
        if out.size == 0 and out.requires_grad:
            grads = grad(out, xs, grad_outputs=np.zeros(out.shape, out.dtype), retain_graph=True, allow_unused=True)
            for x, g in zip(xs, grads):
                if g is not None and g.shape != x.shape:
                    raise GradcheckError(f"gradcheck: a gradient of shape {g.shape} for an input of "
                                         f"shape {x.shape}")
        parts = (1, 1j) if out.dtype.kind == "c" else (1,)
        for j in range(size):
            if out.requires_grad:
                seed = np.zeros(out.size, out.dtype)
                seed[j // len(parts)] = parts[j % len(parts)]  # the real, then the imaginary part of entry j
                grads = grad(out, xs, grad_outputs=seed.reshape(out.shape), retain_graph=True, allow_unused=True)
                for k, (x, g) in enumerate(zip(xs, grads)):
                    if g is None:
                        continue
                    if g.shape != x.shape or g.dtype != x.dtype:
                        raise GradcheckError(
                            f"gradcheck: the gradient for input {checked[k]} has shape {g.shape} and "
                            f"dtype {g.dtype}, but the input has shape {x.shape} and dtype {x.dtype}")
                    jacobians[k][row + j] = _reals(g.data)
        row += size
    return jacobians


def _evaluate(fn: Callable, args: list) -> np.ndarray:
    with no_grad():
        outs = _outputs(fn(*args))
    return np.concatenate([_reals(o.data) for o in outs]) if outs else np.zeros(0)


def _numerical(fn: Callable, args: list, checked: list[int], eps: float) -> list[np.ndarray]:
    jacobians = []
    for position in checked:
        x = args[position]
        flat = x.data.reshape(-1)
        if flat.dtype.kind == "c":
            flat = flat.view(np.float64)  # the real and imaginary parts, each perturbed in turn
        columns = []
        for k in range(flat.size):
            original = flat[k]
            flat[k] = original + eps
            plus = _evaluate(fn, args)
            flat[k] = original - eps
            minus = _evaluate(fn, args)
            flat[k] = original
            columns.append((plus - minus) / (2 * eps))
        n_out = _evaluate(fn, args).size
        jacobians.append(np.stack(columns, axis=1) if columns else np.zeros((n_out, 0)))
    return jacobians


def gradcheck(fn: Callable[..., Any], inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Check ``fn``'s gradients against central differences, in float64.

    Inputs checked: Tensors with ``requires_grad=True`` and floating or complex NumPy arrays or numbers (as
    float64 or complex128 copies); other inputs are passed through. ``fn`` returns a tensor or a sequence.
    A complex input or output counts as its real and imaginary parts: each part of an input is perturbed
    in turn, and the gradient of each part of an output (seeds 1 and 1j) is compared, so the check holds
    the gradient of a complex input to the convention ``dL/dRe + i dL/dIm``.

    Returns:
        True when every Jacobian entry satisfies ``|analytical - numerical| <= atol + rtol * |numerical|``.

    Raises:
        GradcheckError: naming the input, the entry, the output entry and both values of the worst
            mismatch (or returns False when ``raise_exception`` is False).
    """
    args, checked = _prepare(_as_inputs(inputs))
    analytical = _analytical(fn, args, checked)
    numerical = _numerical(fn, args, checked, eps)
    for k, (a, n) in enumerate(zip(analytical, numerical)):
        if a.shape != n.shape:
            raise GradcheckError(f"gradcheck: output size changed between calls ({a.shape} vs {n.shape})")
        if a.size == 0:
            continue
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        excess = np.where(np.isnan(a) != np.isnan(n), np.inf, np.nan_to_num(excess, nan=-1.0))
        worst = np.unravel_index(np.argmax(excess), excess.shape)
        if excess[worst] > 0:
            if not raise_exception:
                return False
            x = args[checked[k]]
            pair = x.dtype.kind == "c"
            entry = np.unravel_index(worst[1] // 2 if pair else worst[1], x.shape) if x.ndim else ()
            part = ("" if not pair else " (real part)" if worst[1] % 2 == 0 else " (imaginary part)")
            raise GradcheckError(
                f"gradcheck: input {checked[k]} (shape {x.shape}), entry {tuple(int(i) for i in entry)}{part}, "
                f"output entry {int(worst[0])}: analytical {float(a[worst])!r} vs numerical {float(n[worst])!r} "
                f"(atol={atol}, rtol={rtol})")
    return True


def gradgradcheck(fn: Callable[..., Any], inputs: Any, grad_outputs: Sequence[Any] | None = None,
                  eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  raise_exception: bool = True) -> bool:
    """Check second derivatives: ``gradcheck`` of the map ``(inputs, v) -> v^T J(inputs)``, whose
    gradient is computed with ``create_graph=True``.

    ``grad_outputs`` (one per output of ``fn``) defaults to fixed random values.

    Returns / Raises: as :func:`gradcheck`.
    """
    args, checked = _prepare(_as_inputs(inputs))
    outputs = _outputs(fn(*args))
    rng = np.random.default_rng(0)
    if grad_outputs is None:
        grad_outputs = [rng.standard_normal(o.shape) + (1j * rng.standard_normal(o.shape) if o.dtype.kind == "c"
                                                         else 0) for o in outputs]
    vs = [np.asarray(v.data if isinstance(v, Tensor) else v) for v in grad_outputs]
    vs = [np.array(v, dtype=_wide(v.dtype)) for v in vs]
    n_args = len(args)

    def first_derivatives(*values: Any) -> list[Tensor]:
        xs, seeds = list(values[:n_args]), list(values[n_args:])
        with enable_grad():  # the numerical pass runs under no_grad; this inner gradient must not
            pairs = [(o, s) for o, s in zip(_outputs(fn(*xs)), seeds) if o.requires_grad]
            if not pairs:
                return []
            grads = grad([o for o, _ in pairs], [xs[i] for i in checked],
                         grad_outputs=[s for _, s in pairs], create_graph=True, allow_unused=True)
        return [g for g in grads if g is not None]

    return gradcheck(first_derivatives, args + vs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)

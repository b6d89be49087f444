"""``scipy.integrate.odeint`` on Tensors, its gradient by the adjoint method.

``odeint(func, y0, t, args)`` solves ``dy/dt = func(y, t, *args)`` with SciPy's LSODA (the forward is
SciPy's own ``odeint``) and records the whole solve as one node of the graph. Its gradient in ``y0``, in
``t`` and in the floating Tensors of ``args`` comes from the adjoint method (Pontryagin; Chen et al. 2018,
"Neural ordinary differential equations"; as in HIPS autograd and JAX): between consecutive output times
the augmented system

    dy/dt = f(y, t),   da/dt = -a . df/dy,   da_args/dt = -a . df/dargs

is integrated backwards from ``t[i]`` to ``t[i - 1]``, starting from the forward solution ``y(t[i])``,
the adjoint ``a`` (the gradient of the output so far) and the parameters' adjoint; the vector-Jacobian
products of ``func`` come from tapegrad's reverse mode. The node keeps only ``y0``, ``t``, the arguments
and the solution at the output times, so memory does not grow with the number of solver steps. The
gradient in the times is ``g[i] . f(y(t[i]), t[i])`` for ``t[i]`` (i >= 1) and ``-a(t[0]) . f(y0, t[0])``
for ``t[0]``.

Every order, both modes. A backward pass with ``create_graph=True`` (second derivatives, ``tg.hessian``)
runs the same adjoint as an ``odeint`` of the augmented system on Tensors, which is itself differentiable;
forward mode (``tg.jvp``) integrates the forward sensitivity ``ds/dt = df/dy . s + df/dargs . v`` beside
``y``, again as an ``odeint``. Derivatives of derivatives are accurate to the solver's tolerances (each
is a numerical solution of its own ODE), not to rounding.

What ``func`` sees: ``y`` a Tensor of ``y0``'s shape (float64, the solver's precision), ``t`` a Python
float (a Tensor when a derivative in the times is recorded), and ``args`` as given, their floating
Tensors replaced by Tensors of the same values. It may return a Tensor, an array, or a list of Tensors
and numbers (stacked). A Tensor that requires grad and that ``func`` reads from outside (a closure) would
get no gradient: ``odeint`` detects it and raises; pass it through ``args``. ``tg.compile`` does not
trace into ``func``: a compiled function runs the solve as one operation.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd import jvp as forward_mode
from ..autograd import tree_flatten, tree_unflatten, vjp, vmap
from ..engine import Observer, enable_grad, is_grad_enabled, observing, operations_watched, tangent_of
from ..errors import ArgumentError, BackwardError, BatchingError, DTypeError, ShapeError
from ..functions import concatenate, stack
from ..ops import NUMPY
from ..ops import batching as batching_ops
from ..ops.optional import scipy_module
from ..ops.registry import Primitive
from ..tensor import Batched, Tensor, apply, backward_pass, tangent_key

_SUCCESS = "Integration successful."


# -- the problem: func, the shapes, the arguments -------------------------------------------------------


class _Problem:
    """What one ``odeint`` call integrates, kept as its node's parameter: ``func``, ``y0``'s shape, the
    arguments (those that are floating Tensors requiring grad or carrying a jvp tangent are the node's
    inputs after ``y0`` and ``t``; the rest are constants) and SciPy's options."""

    def __init__(self, func: Callable[..., Any], shape: tuple[int, ...], structure: Any, leaves: list,
                 tensor_positions: list[int], tfirst: bool, options: dict, forward_options: dict) -> None:
        self.func, self.shape, self.size = func, shape, math.prod(shape)
        self.structure, self.constants, self.tensor_positions = structure, leaves, tensor_positions
        self.tfirst, self.options, self.forward_options = tfirst, options, forward_options
        self.info: dict | None = None

    def __repr__(self) -> str:  # what tg.explain shows of the node's parameter
        return f"func {getattr(self.func, '__qualname__', type(self.func).__name__)}, y0 shape {self.shape}"

    def args(self, values: list | tuple) -> tuple:
        """``args`` with the floating Tensors replaced by ``values``: Tensors, or arrays wrapped in Tensors
        as float64 (the solver's precision) and as views (forward mode knows a value by its array object:
        a view carries no tangent)."""
        leaves = list(self.constants)
        for position, value in zip(self.tensor_positions, values):
            leaves[position] = value if isinstance(value, Tensor) else Tensor(_double(np.asarray(value)))
        return tuple(tree_unflatten(self.structure, leaves))

    def call(self, y: Any, t: Any, args: tuple) -> Tensor:
        """``func`` at ``(y, t, *args)`` as a Tensor of ``y0``'s shape.

        Raises:
            ShapeError: func returned a value of another size.
        """
        out = self.func(t, y, *args) if self.tfirst else self.func(y, t, *args)
        if isinstance(out, list | tuple):
            out = stack([o if isinstance(o, Tensor) else Tensor(np.asarray(o, dtype=np.float64)) for o in out])
        elif not isinstance(out, Tensor):
            out = Tensor(np.asarray(out, dtype=np.float64))
        if out.shape != self.shape:
            if out.size != self.size:
                raise ShapeError(f"odeint: func returned shape {out.shape} for y of shape {self.shape}; expected "
                                 "dy/dt of the shape of y0")
            out = out.reshape(self.shape)
        return out


def _as_array(value: Any) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def _double(array: np.ndarray) -> np.ndarray:
    """A float64 copy of a float array of another precision, else a view of it."""
    return array.astype(np.float64) if array.dtype.kind == "f" and array.dtype != np.float64 else array.view()


def _double_tensor(x: Any) -> Tensor:
    """``x`` as a float64 Tensor (a recorded cast for a Tensor of another precision): the solves' arguments
    and adjoints carry the solver's precision, or its tolerances could not be met."""
    if not isinstance(x, Tensor):
        return Tensor(_double(np.asarray(x)))
    return x if x.dtype == np.float64 or x.dtype.kind != "f" else x.astype(np.float64)


def _solve(rhs: Callable[[np.ndarray, float], np.ndarray], state: np.ndarray, times: np.ndarray,
           options: dict) -> tuple[np.ndarray, dict]:
    """SciPy's odeint of ``rhs`` (on flat float64 arrays); the solution and SciPy's info dict."""
    solution, info = scipy_module("scipy.integrate", "odeint").odeint(rhs, state, times, full_output=True, **options)
    return solution, info


def _solve_backward(rhs: Callable[[np.ndarray, float], np.ndarray], state: np.ndarray, times: np.ndarray,
                    options: dict) -> np.ndarray:
    """:func:`_solve` for the adjoint, whose failure is an error rather than SciPy's warning.

    Raises:
        BackwardError: SciPy's solver failed (its message says why).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy_module("scipy.integrate", "odeint").ODEintWarning)
        solution, info = _solve(rhs, state, times, options)
    if info["message"] != _SUCCESS:
        raise BackwardError(f"odeint: the backward (adjoint) solve failed: {info['message']} Loosen rtol/atol "
                            "or raise mxstep.")
    return solution


class _Silent(Observer):
    """Hides the operations of ``func`` inside a solve from an observer (``tg.compile``'s tracer)."""


def _unobserved() -> Any:
    return observing(_Silent()) if operations_watched() else contextlib.nullcontext()


# -- the primitive: forward, the adjoint (vjp_all), forward sensitivities (jvp) -------------------------


def _forward(y0: np.ndarray, t: np.ndarray, *leaves: np.ndarray, problem: _Problem) -> np.ndarray:
    args = problem.args(leaves)
    shape = problem.shape

    def rhs(state: np.ndarray, time: float) -> np.ndarray:
        return problem.call(Tensor(state.reshape(shape)), time, args).data.reshape(-1)

    extra = {**problem.options, **problem.forward_options}
    dfun = extra.pop("Dfun", None)
    if dfun is not None:
        values = tuple(_as_array(a) if isinstance(a, Tensor) else a for a in args)
        extra["Dfun"] = lambda state, time: dfun(state.reshape(shape), time, *values)
    with _unobserved():  # SciPy warns of a failure, as it does without tapegrad
        solution, info = _solve(rhs, np.asarray(y0, dtype=np.float64).reshape(-1),
                                np.asarray(t, dtype=np.float64), extra)
    problem.info = info
    dtype = y0.dtype if y0.dtype.kind == "f" else np.dtype(np.float64)
    return solution.reshape((len(t),) + shape).astype(dtype, copy=False)


def _vjp_all(xp: Any, g: Any, ans: Any, y0: Any, t: Any, *leaves: Any, problem: _Problem) -> tuple:
    if xp is NUMPY:
        return _adjoint_arrays(g, ans, t, leaves, problem)
    return _adjoint_tensors(g, ans, y0, t, leaves, problem)


def _vjp_one(xp: Any, g: Any, ans: Any, *inputs: Any, argnum: int, problem: _Problem) -> Any:
    return _vjp_all(xp, g, ans, *inputs, problem=problem)[argnum]


def _adjoint_arrays(g: np.ndarray, ans: np.ndarray, t: np.ndarray, leaves: tuple, problem: _Problem) -> tuple:
    """The adjoint method on arrays (the usual backward pass): every input's gradient."""
    size, shape = problem.size, problem.shape
    g = np.asarray(g, dtype=np.float64).reshape(len(ans), size)
    ys = np.asarray(ans, dtype=np.float64).reshape(len(ans), size)
    times = np.asarray(t, dtype=np.float64)
    values = [_double(np.asarray(leaf)) for leaf in leaves]
    sizes = [v.size for v in values]

    def dynamics(y: np.ndarray, time: float, cotangent: np.ndarray | None) -> tuple[np.ndarray, list]:
        """f(y, time) and, for a cotangent c, c . df/dy and c . df/dargs."""
        y_in = Tensor(y.reshape(shape), requires_grad=cotangent is not None)
        arguments = [Tensor(v.view(), requires_grad=cotangent is not None) for v in values]
        inputs = [y_in, *arguments]
        with enable_grad():
            out = problem.call(y_in, time, problem.args(arguments))
        if cotangent is None:
            return out.data.reshape(-1), []
        if not out.requires_grad:  # f does not depend on y nor on the arguments
            return out.data.reshape(-1), [np.zeros(i.shape) for i in inputs]
        # Into .grad of the fresh leaves: cheaper than asking for the inputs' gradients (no graph search).
        backward_pass([out], [cotangent.reshape(shape).astype(out.dtype, copy=False)], inputs=None,
                      retain_graph=False, create_graph=False, accumulate=True)
        return out.data.reshape(-1), [np.zeros(i.shape) if i.grad is None else i.grad.data for i in inputs]

    def rhs(state: np.ndarray, time: float) -> np.ndarray:
        f, grads = dynamics(state[:size], time, -state[size:2 * size])
        return np.concatenate([f] + [gr.reshape(-1) for gr in grads])

    adjoint = g[-1].copy()
    parameters = np.zeros(sum(sizes))
    time_grads = np.zeros(len(times))
    with _unobserved():
        for i in range(len(times) - 1, 0, -1):
            time_grads[i] = g[i] @ dynamics(ys[i], times[i], None)[0]
            if times[i] != times[i - 1]:
                state = np.concatenate([ys[i], adjoint, parameters])
                solution = _solve_backward(rhs, state, np.array([times[i], times[i - 1]]), problem.options)
                adjoint, parameters = solution[1, size:2 * size], solution[1, 2 * size:]
            if i == 1:
                time_grads[0] = -adjoint @ dynamics(ys[0], times[0], None)[0]
            adjoint = adjoint + g[i - 1]
    pieces = np.split(parameters, np.cumsum(sizes)[:-1]) if sizes else []
    return (adjoint.reshape(shape), time_grads, *[p.reshape(v.shape) for p, v in zip(pieces, values)])


def _adjoint_tensors(g: Any, ans: Any, y0: Any, t: Any, leaves: tuple, problem: _Problem) -> tuple:
    """The adjoint method as Tensor operations and ``odeint`` calls (a recorded backward pass), so that
    the gradient itself can be differentiated."""
    size, shape = problem.size, problem.shape
    g, ans, y0, t = (x if isinstance(x, Tensor) else Tensor(np.asarray(x)) for x in (g, ans, y0, t))
    leaves = tuple(_double_tensor(x) for x in leaves)
    count = len(ans)
    sizes = [leaf.size for leaf in leaves]

    def augmented(state: Tensor, time: Any, *arguments: Tensor) -> Tensor:
        def f(y: Tensor, *params: Tensor) -> Tensor:
            return problem.call(y, time, problem.args(params))

        out, pullback = vjp(f, state[:size].reshape(shape), *arguments)
        grads = pullback(-state[size:2 * size].reshape(shape))
        return concatenate([_flat(out)] + [_flat(gr) for gr in grads])

    adjoint = g[count - 1].reshape(-1)
    parameters = [Tensor(np.zeros(s)) for s in sizes]
    time_grads: list[Any] = [Tensor(np.zeros(()))] * count
    for i in range(count - 1, 0, -1):
        time_grads[i] = (g[i] * problem.call(ans[i], t[i], problem.args(leaves))).sum()
        state = concatenate([ans[i].reshape(-1), adjoint] + parameters)
        solution = odeint(augmented, state, stack([t[i], t[i - 1]]), args=leaves, **problem.options)
        end = solution[1]
        adjoint = end[size:2 * size]
        parameters, start = [], 2 * size
        for s in sizes:
            parameters.append(end[start:start + s])
            start += s
        if i == 1:
            time_grads[0] = -(adjoint * problem.call(y0, t[0], problem.args(leaves)).reshape(-1)).sum()
        adjoint = adjoint + g[i - 1].reshape(-1)
    return (adjoint.reshape(shape), stack(time_grads), *[p.reshape(leaf.shape) for p, leaf in zip(parameters, leaves)])


def _flat(x: Any) -> Tensor:
    return x.reshape(-1) if isinstance(x, Tensor) else Tensor(np.asarray(x).reshape(-1))


def _jvp(xp: Any, tangent: Any, ans: Any, y0: Any, t: Any, *leaves: Any, argnum: int, problem: _Problem) -> Tensor:
    """Forward mode: the tangent of the solution for the tangent of input ``argnum``, by integrating
    the forward sensitivity beside ``y`` (an ``odeint`` on Tensors, differentiable again)."""
    shape, size = problem.shape, problem.size
    y0, t, tangent = _double_tensor(y0), _double_tensor(t), _double_tensor(tangent)
    leaves = tuple(_double_tensor(x) for x in leaves)
    k = argnum - 2  # the argument whose tangent this is, if any

    def sensitivity(state: Tensor, time: Any, *arguments: Tensor) -> Tensor:
        y, s = state[:size].reshape(shape), state[size:].reshape(shape)
        full, direction = list(arguments[:len(leaves)]), arguments[len(leaves):]
        if k >= 0:
            def f(y_in: Tensor, param: Tensor) -> Tensor:
                changed = list(full)
                changed[k] = param
                return problem.call(y_in, time, problem.args(changed))
            out, derivative = forward_mode(f, (y, full[k]), (s, direction[0]))
        else:
            out, derivative = forward_mode(lambda y_in: problem.call(y_in, time, problem.args(full)), (y,), (s,))
        return concatenate([_flat(out), _flat(derivative)])

    start = Tensor(np.zeros(shape))
    if argnum == 0:
        start = tangent
    elif argnum == 1:
        start = -problem.call(y0, t[0], problem.args(leaves)) * tangent[0]
    direction = (tangent,) if k >= 0 else ()
    state = concatenate([_flat(y0), _flat(start)])
    solution = odeint(sensitivity, state, t, args=leaves + direction, **problem.options)
    result = solution[:, size:].reshape((len(t),) + shape)
    if argnum == 1:
        rates = stack([problem.call(ans[i], t[i], problem.args(leaves)) for i in range(len(t))])
        result = result + rates * tangent.reshape((len(t),) + (1,) * len(shape))
    return result


def _batch(xp: Any, prim: Primitive, size: int, batched: tuple, /, y0: Any, t: Any, *leaves: Any,
           problem: _Problem) -> Any:
    """The batching rule (tg.vmap): the examples' states as one system, solved once, whose func is the
    examples' func vmapped over the states and the batched arguments (the solver's steps are shared, so each
    example's solution agrees with its own solve to the solver's tolerances, as in JAX)."""
    if batched[1]:
        raise BatchingError("odeint: times batched by tg.vmap (a different t for each example); the examples of "
                            "one solve must share their times")
    if problem.forward_options.get("Dfun") is not None:
        raise BatchingError("odeint: Dfun (the Jacobian for the stiff solver) is code for one example's state; "
                            "inside tg.vmap leave it out")
    axes: list[Any] = [None] * len(problem.constants)
    for position, mapped in zip(problem.tensor_positions, batched[2:]):
        axes[position] = 0 if mapped else None
    arguments = tuple(tree_unflatten(problem.structure, axes))
    in_axes = ((None, 0) if problem.tfirst else (0, None)) + arguments
    stacked = _Problem(vmap(problem.func, in_axes=in_axes), (size,) + problem.shape, problem.structure,
                       problem.constants, problem.tensor_positions, problem.tfirst, problem.options,
                       problem.forward_options)
    y0 = y0 if batched[0] else batching_ops.expanded(xp, y0, size)
    return batching_ops.moved_to_front(xp, xp.call(ODEINT, y0, t, *leaves, problem=stacked), 1)


ODEINT = Primitive("odeint", _forward, vjps=(_vjp_one,), jvps=(_jvp,), vjp_all=_vjp_all, variadic=True, batch=_batch,
                   saves_ans=True, expects="func(y, t, *args) returning dy/dt of y0's shape; t monotonic",
                   doc="The solution of an ODE at the times t (scipy.integrate.odeint), by the adjoint method.")


# -- the public function -----------------------------------------------------------------------------


def _times(t: Any) -> Any:
    values = _as_array(t)
    if values.ndim != 1 or values.size == 0:
        raise ShapeError(f"odeint: t has shape {values.shape}; expected a 1-d sequence of times, the first "
                         "the initial time")
    if values.dtype.kind not in "fiu":
        raise DTypeError(f"odeint: t must hold real numbers; got dtype {values.dtype}")
    steps = np.diff(values.astype(np.float64))
    if not (np.all(steps >= 0) or np.all(steps <= 0)) or not np.all(np.isfinite(values)):
        raise ArgumentError(f"odeint: t must be finite and monotonic (increasing or decreasing); got {values}")
    if isinstance(t, Tensor) and t.dtype.kind == "f":
        return t
    return values.astype(np.float64)


def _initial(y0: Any) -> Any:
    if isinstance(y0, Tensor):
        return y0 if y0.dtype.kind == "f" else Tensor(y0.data.astype(np.float64))
    values = np.asarray(y0)
    if values.dtype.kind not in "fiub":
        raise DTypeError(f"odeint: y0 must hold real numbers; got dtype {values.dtype}")
    return values if values.dtype.kind == "f" else values.astype(np.float64)


def _tolerance(value: Any, name: str) -> Any:
    if value is None:
        return None
    values = np.asarray(value, dtype=np.float64)
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ArgumentError(f"odeint: {name} must be finite and >= 0; got {value!r}")
    return value


def odeint(func: Callable[..., Any], y0: Any, t: Any, args: tuple = (), Dfun: Callable[..., Any] | None = None,  # noqa: N803
           col_deriv: int = 0, full_output: bool = False, ml: int | None = None, mu: int | None = None,
           rtol: Any = None, atol: Any = None, tcrit: Any = None, h0: float = 0.0, hmax: float = 0.0,
           hmin: float = 0.0, ixpr: int = 0, mxstep: int = 0, mxhnil: int = 0, mxordn: int = 12, mxords: int = 5,
           printmessg: int = 0, tfirst: bool = False) -> Any:
    """Integrate ``dy/dt = func(y, t, *args)`` from ``y(t[0]) = y0``, as ``scipy.integrate.odeint``, on
    Tensors: differentiable in ``y0``, in ``t`` and in the floating Tensors of ``args`` (to any order, in
    reverse and forward mode; the gradient by the adjoint method, see the module's docstring).

    Args:
        func: ``func(y, t, *args) -> dy/dt`` (``func(t, y, *args)`` with ``tfirst``): ``y`` a Tensor of
            ``y0``'s shape; it returns a Tensor (or an array, or a list of numbers and 0-d Tensors) of
            that shape, written with tapegrad or NumPy operations.
        y0: the initial state, a Tensor, array or number of any shape.
        t: the times (a 1-d Tensor or sequence, monotonic): the solution is returned at each of them,
            the first being the initial time.
        args: extra arguments of ``func``: Tensors (differentiated when they require grad), arrays,
            numbers, or lists, tuples and dicts of them.
        Dfun, col_deriv, ml, mu: the Jacobian of ``func`` for SciPy's stiff solver, as in SciPy; it is
            called with arrays (``y``, ``t``, ``args``' values) and used by the forward solve only.
        rtol, atol, tcrit, h0, hmax, hmin, ixpr, mxstep, mxhnil, mxordn, mxords, printmessg: as in SciPy;
            the backward (adjoint) solves use the same tolerances (a per-component ``atol``: its smallest).
        full_output: also return SciPy's info dict of the forward solve.

    Returns:
        A Tensor of shape ``(len(t),) + y0.shape``: ``y`` at each time (float32 for a float32 ``y0``,
        else float64); with ``full_output``, a tuple ``(solution, info)``.

    Raises:
        ShapeError: ``t`` is not a non-empty 1-d sequence, or ``func`` returns another size than ``y0``'s.
        DTypeError: ``y0`` or ``t`` do not hold real numbers.
        ArgumentError: ``func`` is not callable, ``t`` is not monotonic, a tolerance is negative, or
            ``func`` reads a Tensor that requires grad (or carries a ``jvp`` tangent) from outside instead
            of through ``args`` (its gradient would be lost).
        BackwardError: a backward (adjoint) solve fails (its message says SciPy's reason).
        ImportError: SciPy is not installed.
    """
    if not callable(func):
        raise ArgumentError(f"odeint: func must be callable, func(y, t, *args) -> dy/dt; got {type(func).__name__}")
    if Dfun is not None and not callable(Dfun):
        raise ArgumentError(f"odeint: Dfun must be callable or None; got {type(Dfun).__name__}")
    scipy_module("scipy.integrate", "odeint")
    batched = any(isinstance(v, Batched) for v in tree_flatten([y0, t, list(args) if isinstance(args, tuple)
                                                                 else args])[0])
    if isinstance(t, Batched):  # the same times for every example read as they are; others cannot be
        try:
            _as_array(t)
        except BatchingError:
            raise BatchingError("odeint: times batched by tg.vmap (a different t for each example); the examples "
                                "of one solve must share their times") from None
    y0 = _initial(y0)
    t = _times(t)
    if not isinstance(args, tuple):
        args = (args,)  # as SciPy
    leaves, structure = tree_flatten(list(args))
    # Inside tg.vmap a batched argument is an input of the operation (its batching rule maps over it).
    positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, Tensor) and leaf.dtype.kind == "f"
                 and (leaf.requires_grad or tangent_of(tangent_key(leaf)) is not None or isinstance(leaf, Batched))]
    shape = tuple(y0.shape)
    atol_backward = None if atol is None else float(np.min(_tolerance(atol, "atol")))
    options = {"rtol": None if rtol is None else float(np.min(_tolerance(rtol, "rtol"))), "atol": atol_backward,
               "tcrit": tcrit, "h0": h0, "hmax": hmax, "hmin": hmin, "ixpr": ixpr, "mxstep": mxstep,
               "mxhnil": mxhnil, "mxordn": mxordn, "mxords": mxords}
    forward_options = {"Dfun": Dfun, "col_deriv": col_deriv, "ml": ml, "mu": mu, "printmessg": printmessg}
    problem = _Problem(func, shape, structure, leaves, positions, tfirst,
                       {k: v for k, v in options.items() if v is not None}, forward_options)
    forward_tolerances = {"rtol": rtol, "atol": atol}
    problem.forward_options.update({k: v for k, v in forward_tolerances.items() if v is not None})
    tensors = [leaves[i] for i in positions]
    if not batched:  # (inside tg.vmap, func runs on the examples only when the batching rule solves)
        _check_func(problem, y0, t, tensors)
    solution = apply(ODEINT, y0, t, *tensors, problem=problem)
    return (solution, problem.info) if full_output else solution


def _check_func(problem: _Problem, y0: Any, t: Any, tensors: list) -> None:
    """Call ``func`` once at ``(y0, t[0])`` on values that take no gradient: its result must have ``y0``'s
    size, and must not depend on a Tensor that requires grad (or has a tangent) read from outside.

    Raises:
        ShapeError, ArgumentError: as :func:`odeint` says.
    """
    y = Tensor(np.array(_as_array(y0), dtype=np.float64))  # a copy: no jvp tangent
    time = float(_as_array(t)[0])
    recording = is_grad_enabled()
    with enable_grad(), _unobserved():
        out = problem.call(y, time, problem.args([_as_array(x) for x in tensors]))
    if (recording and out.requires_grad) or tangent_of(out.data) is not None:
        raise ArgumentError(
            "odeint: func reads a Tensor that requires grad (or carries a jvp tangent) from outside, not through "
            "args: its gradient would be lost. Pass it as an argument: odeint(func, y0, t, args=(param,)) with "
            "func(y, t, param).")


__all__ = ["odeint"]

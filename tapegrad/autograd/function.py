"""Custom differentiable functions: ``tg.Function`` (PyTorch style) and ``tg.custom_vjp`` (JAX style).

A Function call is recorded as one node of the graph, like a primitive, whose VJP rule is the
user's ``backward``. A single output is the node's output itself; several outputs are packed into
one flat array for the node and handed out as views of it, so the engine needs nothing special.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from ..engine import is_grad_enabled, no_grad
from ..errors import BackwardError, BatchingError, ShapeError
from ..ops import NUMPY
from ..ops.registry import Primitive
from ..tensor import Batched, Tensor, apply, is_traced, pack_outputs, unpack_outputs


class FunctionContext:
    """What ``forward`` hands to ``backward``: ``save_for_backward(*tensors)``, ``saved_tensors``,
    ``needs_input_grad`` (one bool per argument of ``apply``), and any attribute you set."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self._saved: tuple = ()
        self._cache: tuple[Any, tuple] | None = None
        self.create_graph = False  # True while backward runs inside a recorded (create_graph) pass

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep these (Tensors, arrays or None) for ``backward``; read them back as ``saved_tensors``."""
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        return self._saved


def _grads_from_backward(function: type, ctx: FunctionContext, g: Any, shapes: list[tuple], dtypes: list,
                         arg_shapes: list, tensor_positions: list[int], graph_mode: bool) -> tuple:
    """Run the user's backward once per output gradient ``g`` (cached for the node's inputs).

    In a recorded backward pass (``graph_mode``) the gradients stay Tensors on the graph.
    """
    if ctx._cache is not None and ctx._cache[0] is g:
        return ctx._cache[1]
    key = g
    ctx.create_graph = graph_mode
    if graph_mode and not isinstance(g, Tensor):
        g = Tensor(np.asarray(g))
    pieces = unpack_outputs(g if graph_mode else np.asarray(g), shapes, dtypes)
    if not graph_mode:
        pieces = [Tensor(piece) for piece in pieces]
    if graph_mode:
        grads = function.backward(ctx, *pieces)
    else:  # the user's backward must record nothing outside a recorded backward pass
        with no_grad():
            grads = function.backward(ctx, *pieces)
    grads = grads if isinstance(grads, tuple) else (grads,)
    if len(grads) != len(arg_shapes):
        raise BackwardError(f"{function.__name__}.backward returned {len(grads)} gradients, but forward took "
                            f"{len(arg_shapes)} arguments (return None for those without a gradient)")
    results = []
    for position in tensor_positions:
        grad = grads[position]
        if grad is None:
            results.append(None)
            continue
        shape = tuple(np.shape(grad.data if isinstance(grad, Tensor) else grad))
        if shape != arg_shapes[position]:
            raise ShapeError(f"{function.__name__}.backward returned a gradient of shape {shape} for input "
                             f"{position}, which has shape {arg_shapes[position]}")
        results.append(grad if graph_mode else np.asarray(grad.data if isinstance(grad, Tensor) else grad))
    ctx._cache = (key, tuple(results))
    return ctx._cache[1]


def _function_rule(xp: Any, g: Any, ans: Any, *inputs: Any, argnum: int, function: type, ctx: FunctionContext,
                   shapes: list, dtypes: list, arg_shapes: list, tensor_positions: list, packed: Any = None) -> Any:
    grads = _grads_from_backward(function, ctx, g, shapes, dtypes, arg_shapes, tensor_positions, xp is not NUMPY)
    grad = grads[argnum]
    return grad if grad is not None else _zeros(xp, inputs[argnum])


def _zeros(xp: Any, like: Any) -> Any:
    return xp.zeros_like(like) if isinstance(like, Tensor) else np.zeros(like.shape, like.dtype)


def _no_jvp(xp: Any, t: Any, ans: Any, *inputs: Any, argnum: int, function: type, **params: Any) -> Any:
    raise BackwardError(f"{function.__name__} defines no forward-mode rule: jvp through a custom Function "
                        "is not supported")


@cache
def _primitive(function: type) -> Primitive:
    return Primitive(function.__name__, _packed_forward, vjps=(_function_rule,), jvps=(_no_jvp,),
                     saves_inputs=False, variadic=True)


def _packed_forward(*inputs: Any, packed: np.ndarray, **params: Any) -> np.ndarray:
    return packed


class Function:
    """Subclass with ``@staticmethod forward(ctx, *args)`` and ``@staticmethod backward(ctx,
    *grad_outputs)`` and call ``MyFunction.apply(*args)``.

    ``forward`` runs without recording; it may return one Tensor or a tuple. ``backward`` gets one
    gradient per output and returns one gradient per argument of ``apply`` (None for non-Tensor
    arguments and those that need none), each shaped like its argument; a wrong count or shape is an
    error naming the Function.
    """

    @staticmethod
    def forward(ctx: FunctionContext, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: FunctionContext, *grad_outputs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        if any(isinstance(a, Batched) and is_traced(a) for a in args) and is_grad_enabled():
            raise BatchingError(
                f"{cls.__name__}: a custom Function inside tg.vmap on values a gradient is taken of: its backward is "
                "code for one example's arrays, which tapegrad cannot batch. Without gradients it runs (its forward's "
                "operations are batched); to differentiate, write it with tapegrad operations, or use it outside vmap")
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = FunctionContext(needs)
        with no_grad():
            result = cls.forward(ctx, *args, **kwargs)
        several = isinstance(result, tuple)
        outputs = [o if isinstance(o, Tensor) else Tensor(np.asarray(o)) for o in (result if several else (result,))]
        if not (any(needs) and is_grad_enabled()):
            return tuple(outputs) if several else outputs[0]
        differentiable = [o for o in outputs if o.dtype.kind == "f"]
        if not differentiable:
            return tuple(outputs) if several else outputs[0]
        shapes, dtypes = [o.shape for o in differentiable], [o.dtype for o in differentiable]
        packed = pack_outputs([o.data for o in differentiable])  # one output: itself, no copy
        tensor_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        arg_shapes = [tuple(np.shape(a.data if isinstance(a, Tensor) else a)) for a in args]
        node_output = apply(_primitive(cls), *[args[i] for i in tensor_positions], packed=packed, function=cls,
                            ctx=ctx, shapes=shapes, dtypes=dtypes, arg_shapes=arg_shapes,
                            tensor_positions=tensor_positions)
        pieces = iter(unpack_outputs(node_output, shapes, dtypes))
        unpacked = [next(pieces) if o.dtype.kind == "f" else o for o in outputs]
        return tuple(unpacked) if several else unpacked[0]


class custom_vjp:  # noqa: N801 (named as in JAX)
    """A function with a hand-written VJP, in JAX's style::

        @tg.custom_vjp
        def f(x): ...
        def f_fwd(x): return f(x), residuals
        def f_bwd(residuals, g): return (gradient_for_x,)
        f.defvjp(f_fwd, f_bwd)
    """

    def __init__(self, fun: Callable[..., Any]) -> None:
        self.fun = fun
        self.__name__ = getattr(fun, "__name__", "custom_vjp")
        self.__doc__ = getattr(fun, "__doc__", None)
        self._function: type | None = None

    def defvjp(self, fwd: Callable[..., Any], bwd: Callable[..., Any]) -> custom_vjp:
        """Set the forward (returning ``(output, residuals)``) and backward (``(residuals, g) -> tuple``)."""
        def forward(ctx: FunctionContext, *args: Any) -> Any:
            out, ctx.residuals = fwd(*args)
            return out

        def backward(ctx: FunctionContext, *grads: Any) -> Any:
            result = bwd(ctx.residuals, grads[0] if len(grads) == 1 else grads)
            return tuple(result) if isinstance(result, (tuple, list)) else (result,)

        self._function = type(self.__name__, (Function,), {"forward": staticmethod(forward),
                                                            "backward": staticmethod(backward)})
        return self

    def __call__(self, *args: Any) -> Any:
        if self._function is None:
            return self.fun(*args)
        return self._function.apply(*args)

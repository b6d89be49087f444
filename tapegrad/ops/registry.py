"""The primitive: one operation with its forward, its VJP rules and its JVP rules side by side.

Every differentiable operation in tapegrad is a :class:`Primitive`. Its rules are plain functions
written once against an *array namespace* ``xp``:

* ``forward(*arrays, **params)`` computes the result on NumPy arrays;
* ``vjps[i](xp, g, ans, *inputs, **params)`` returns the gradient for input ``i`` given the
  gradient ``g`` of the output (a vector-Jacobian product);
* ``jvps[i](xp, t, ans, *inputs, **params)`` returns the contribution of the tangent ``t`` of
  input ``i`` to the tangent of the output (a Jacobian-vector product);
* ``batch(xp, prim, size, batched, *inputs, **params)`` runs the operation on ``size`` examples at
  once, for ``tg.vmap``: the inputs marked in ``batched`` hold the examples along their first axis,
  and so does the result (see :mod:`tapegrad.ops.batching`; elementwise primitives get the generic
  rule from their ``elementwise`` flag).

In the fast path ``xp`` is the NumPy namespace and every argument is a raw array; when the backward
pass is itself recorded (``create_graph=True``) ``xp`` is the graph namespace and the arguments are
Tensors, so the same rule builds a differentiable graph. Rules never undo broadcasting: the engine
sums a gradient back to its input's shape in one place (:func:`tapegrad.ops.shape.sum_to_forward`, or
the ``sum_to`` primitive when the backward pass is recorded).

Beside its rules a primitive carries what is said about it in ``tg.explain``: its operator ``symbol``
and the text of each input's local ``derivatives``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from . import batching

Rule = Callable[..., Any]
#: The text of one input's local derivative: a ``str.format`` template whose fields ``{a}`` and ``{b}``
#: stand for the names of the first and second input (``"1 - tanh({a})**2"``), or, when the text
#: depends on the inputs' values, a function ``text(names, values) -> str`` (``values`` holds the
#: input arrays and constants, as the rules receive them).
DerivativeText = str | Callable[[list[str], list[Any]], str]


@dataclass(frozen=True, eq=False)
class Primitive:
    """One operation of the graph.

    Attributes:
        name: the operation's name, as shown in errors and graph pictures.
        forward: computes the result from NumPy arrays and keyword parameters.
        vjps: one VJP rule per input (``None`` where the input takes no gradient);
            ``None`` for the whole tuple marks a primitive without gradient (comparisons, argmax).
        jvps: one JVP rule per input, aligned with ``vjps``.
        saves_inputs: the rules read the inputs' values; otherwise they receive, in place of each
            input, what produced it (a Node or a leaf Tensor), and read only its shape and dtype.
        saves_ans: the rules read the output's value.
        elementwise: the output has the inputs' broadcast shape and every rule returns a gradient of
            the output's shape, so an input that already had that shape (and dtype) needs no summing.
        variadic: the primitive takes any number of inputs (concatenate, einsum); its rules receive
            the input's position as the keyword ``argnum``.
        deterministic: the result is fixed by the inputs and parameters; False for random draws,
            which ``tg.compile`` runs at every call (never folded into a constant, never dropped).
        saved_name: how error messages name a value its Nodes saved, when those are not its inputs and
            output (a compiled call keeps the values its schedule's backward reads); empty otherwise.
        value_shaped: the result's shape depends on the inputs' values, not only on their shapes
            (the positions a boolean mask selects), so ``tg.compile`` checks it at every call.
        expects: what valid inputs look like, quoted in error messages.
        symbol: the operator written between the two inputs (``"+"``, ``"**"``, ``"@"``), or before
            the one input (``"-"`` for negative); empty for a primitive written as a function call.
        derivatives: per input, the text of its local derivative (see :data:`DerivativeText`), as
            ``tg.explain`` prints it; empty when there is none (explain then writes ``dname/dinput``).
        expects_says_nonfinite: ``expects`` also says where the derivative does not exist (repeated
            eigenvalues, a singular matrix): ``tg.detect_anomaly`` quotes it when a gradient is NaN or inf.
        vjp_all: for a primitive whose inputs' gradients come out of one computation (a recurrence
            run backward once), one rule ``vjp_all(xp, g, ans, *inputs, **params)`` returning the
            gradient of every input at once (a tuple aligned with the inputs); the engine and
            ``tg.compile`` then call it once per node. ``vjps`` is then derived from it (each picks its
            input's gradient) unless given.
        batch: the batching rule (``tg.vmap``): ``batch(xp, prim, size, batched, *inputs, **params)``
            computes the results of ``size`` examples at once (see :mod:`tapegrad.ops.batching`);
            derived from ``elementwise`` when not given (:func:`~tapegrad.ops.batching.elementwise`).
        complex: how the rules treat complex values (see :mod:`tapegrad.ops.complex_numbers`): ``""`` (the
            default) when they do not, so that a complex input or result that needs a gradient raises
            ``DTypeError``; ``"holomorphic"`` when the rules compute the complex derivative as they would
            the real one (``g * f'(z)``, ``g @ b.T``: the VJP then runs them between two conjugations,
            giving PyTorch's conjugate Wirtinger gradient); ``"written"`` when the rules are right for
            complex values as written (sums, reshapes, indexing; ``real``, ``abs``, the FFTs). The
            primitives declared before complex numbers were supported are listed in one table in
            :mod:`tapegrad.ops.complex_numbers` instead.
    """

    name: str
    forward: Callable[..., Any]
    vjps: tuple[Rule | None, ...] | None = None
    jvps: tuple[Rule | None, ...] | None = None
    saves_inputs: bool = True
    saves_ans: bool = False
    elementwise: bool = False
    variadic: bool = False
    deterministic: bool = True
    value_shaped: bool = False
    saved_name: str = ""
    expects: str = ""
    doc: str = field(default="", repr=False)
    symbol: str = ""
    derivatives: tuple[DerivativeText | None, ...] = ()
    vjp_all: Rule | None = None
    expects_says_nonfinite: bool = False
    batch: Rule | None = None
    complex: str = ""

    def __post_init__(self) -> None:
        if self.batch is None and self.elementwise:
            object.__setattr__(self, "batch", batching.elementwise)
        if self.vjp_all is not None and self.vjps is None:
            if self.jvps is None:
                raise ValueError(f"primitive {self.name!r}: vjp_all needs the JVP rules beside it")
            object.__setattr__(self, "vjps", tuple(_pick(self.vjp_all, i) for i in range(len(self.jvps))))
        if self.vjps is not None and (self.jvps is None or len(self.jvps) != len(self.vjps)):
            raise ValueError(f"primitive {self.name!r}: every VJP rule needs its JVP rule beside it")
        if self.complex not in ("", "holomorphic", "written"):
            raise ValueError(f"primitive {self.name!r}: complex={self.complex!r}; expected '', 'holomorphic' or "
                             "'written'")
        if self.saves_ans and not self.saves_inputs:
            # Higher-order backward recomputes ``ans`` from the inputs, so they must be kept.
            raise ValueError(f"primitive {self.name!r}: saves_ans requires saves_inputs")
        if self.derivatives and (self.vjps is None or len(self.derivatives) != len(self.vjps)):
            raise ValueError(f"primitive {self.name!r}: one derivative text per VJP rule, got "
                             f"{len(self.derivatives)} for {len(self.vjps or ())} rules")
        for position, text in enumerate(self.derivatives):
            if isinstance(text, str):
                try:
                    text.format(a="a", b="b")
                except (KeyError, IndexError, ValueError) as error:
                    raise ValueError(f"primitive {self.name!r}: derivative text {position} ({text!r}) may "
                                     f"use only the fields {{a}} and {{b}} ({error!r})") from None
            elif text is not None and not callable(text):
                raise ValueError(f"primitive {self.name!r}: derivative text {position} is a "
                                 f"{type(text).__name__}; expected a str, a function or None")

    @property
    def differentiable(self) -> bool:
        return self.vjps is not None

    def derivative_text(self, position: int, names: list[str], values: list[Any]) -> str:
        """The local derivative of the output with respect to input ``position``, as ``tg.explain`` writes it.

        Args:
            position: the input's position.
            names: every input's name (a number for a scalar constant).
            values: every input's value (arrays and constants, as the rules receive them).

        Returns:
            The declared text with the names filled in, or ``d<name>/d<input>`` when the primitive
            declares none for that input.
        """
        text = self.derivatives[position] if position < len(self.derivatives) else None
        if text is None:
            return f"d{self.name}/d{names[position]}"
        if callable(text):
            return text(names, values)
        return text.format(a=names[0], b=names[1] if len(names) > 1 else "")

    def vjp_rules(self, n_inputs: int) -> tuple[Rule | None, ...]:
        """The VJP rules for a call with ``n_inputs`` inputs."""
        if self.variadic:
            return _bind_argnums(self.vjps[0], n_inputs)
        return self.vjps

    def jvp_rules(self, n_inputs: int) -> tuple[Rule | None, ...]:
        """The JVP rules for a call with ``n_inputs`` inputs."""
        if self.variadic:
            return _bind_argnums(self.jvps[0], n_inputs)
        return self.jvps

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def _pick(vjp_all: Rule, position: int) -> Rule:
    """The VJP rule of input ``position`` of a primitive declared with ``vjp_all``."""
    return lambda *args, **params: vjp_all(*args, **params)[position]


@lru_cache(maxsize=256)
def _bind_argnums(rule: Rule, n_inputs: int) -> tuple[Rule, ...]:
    def bind(argnum: int) -> Rule:
        return lambda *args, **params: rule(*args, argnum=argnum, **params)

    return tuple(bind(i) for i in range(n_inputs))

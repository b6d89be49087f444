"""Arithmetic typed at the command line, turned into tensors without ``eval``.

A program is an expression (``(x + y) * z``) or a sequence of assignments separated by ``;`` or new lines
(``q = x + y; f = q * z``), each naming its step, the last one the output, as a lecture writes them. The
text is parsed with Python's own parser into a syntax tree, and only these nodes are accepted:
assignments of one name, numbers, variable names, ``+ - * / **``, unary minus, parentheses, and calls of a
few named functions. Anything else (attributes, subscripts, keywords, imports, other names) is rejected
with a clear error, so ``__import__('os').system(...)`` can never run.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import TapegradError
from ..tensor import Tensor


class ExpressionError(TapegradError, ValueError):
    """An expression that uses something the restricted parser does not accept, or a missing value."""


FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    "sin": lambda x: x.sin(), "cos": lambda x: x.cos(), "tan": lambda x: x.tan(), "exp": lambda x: x.exp(),
    "log": lambda x: x.log(), "log1p": lambda x: x.log1p(), "expm1": lambda x: x.expm1(), "sqrt": lambda x: x.sqrt(),
    "tanh": lambda x: x.tanh(), "sigmoid": lambda x: x.sigmoid(), "relu": lambda x: x.relu(),
    "softplus": lambda x: x.softplus(), "abs": lambda x: x.abs(),
    "max": lambda x, y: x.maximum(y), "min": lambda x, y: x.minimum(y),
}
OPERATORS = {ast.Add: "__add__", ast.Sub: "__sub__", ast.Mult: "__mul__", ast.Div: "__truediv__", ast.Pow: "__pow__"}


MAX_CHARACTERS = 1000
_SHOWN = 100  # characters of the expression echoed in an error message
MAX_DEPTH = 200  # of the syntax tree: a sum of n terms is n levels deep, as are n chained ** and n calls
_PRIME = "\u02b9"  # MODIFIER LETTER PRIME, a letter Python accepts in a name: x2' is read as x2ʹ


def _quoted(text: str) -> str:
    text = text.replace(_PRIME, "'")
    return repr(text) if len(text) <= _SHOWN else f"{text[:_SHOWN]!r}... ({len(text)} characters)"


def _name(identifier: str) -> str:
    """A name as the user wrote it (``x2'``)."""
    return identifier.replace(_PRIME, "'")


def _source(text: str) -> str:
    """The program in Python's syntax: the slides' ``:=`` becomes ``=``, and a prime after a name
    (``x2'``) a letter of the name (a quote that opens a string stays a quote, and the string is then
    rejected)."""
    out: list[str] = []
    quote = ""  # the quote of the string being read, if any
    for char in text.replace(":=", "="):
        if quote:
            quote = "" if char == quote else quote
        elif char == "'" and out and (out[-1].isalnum() or out[-1] in ("_", _PRIME)):
            char = _PRIME
        elif char in "'\"":
            quote = char
        out.append(char)
    return "".join(out)


def _parse(text: str) -> ast.Module:
    """The syntax tree of ``text``, within the limits above (checked without recursion, so that evaluating
    it recursively cannot exhaust Python's stack)."""
    if len(text) > MAX_CHARACTERS:
        raise ExpressionError(f"the expression has {len(text)} characters; tapegrad explain takes at most "
                              f"{MAX_CHARACTERS}")
    try:
        tree = ast.parse(_source(text), mode="exec")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {_quoted(text)}: {exc.msg}") from None
    except (RecursionError, MemoryError):  # Python's own parser gives up on deep nesting
        raise ExpressionError(f"the expression is nested too deeply (at most {MAX_DEPTH} levels)") from None
    pending = [(statement, 0) for statement in tree.body]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep (terms of a sum or "
                                  "product, chained **, parentheses, calls)")
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node)
                       if not isinstance(child, (ast.operator, ast.unaryop, ast.expr_context)))
    return tree


def _check(tree: ast.Module) -> list[tuple[str | None, ast.expr]]:
    """The program as (assigned name or None, expression) pairs, after rejecting every syntax tree node
    the evaluator below does not handle, before anything runs."""
    if not tree.body:
        raise ExpressionError("the expression is empty: nothing to explain (write e.g. \"(x + y) * z\" or "
                              "\"q = x + y; f = q * z\")")
    program: list[tuple[str | None, ast.expr]] = []
    for position, statement in enumerate(tree.body):
        last = position == len(tree.body) - 1
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                and isinstance(statement.targets[0], ast.Name):
            program.append((statement.targets[0].id, statement.value))
        elif isinstance(statement, ast.Expr) and last:
            program.append((None, statement.value))
        elif isinstance(statement, ast.Expr):
            raise ExpressionError(f"{_quoted(ast.unparse(statement))} is not assigned to a name: only the last "
                                  "line may be a bare expression (write NAME = ... for the others)")
        else:
            raise ExpressionError(f"{_quoted(ast.unparse(statement))} is not allowed: write NAME = EXPRESSION "
                                  "(one name, assigned once), separated by ; or new lines")
    allowed_ops = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Load)
    for _, value in program:
        for node in ast.walk(value):
            if isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                    raise ExpressionError(f"{_name(ast.unparse(node.func))}(...) is not allowed: the functions "
                                          f"are {', '.join(sorted(FUNCTIONS))}")
                if node.keywords:
                    raise ExpressionError(f"{node.func.id}(...) takes no keyword arguments")
            elif isinstance(node, ast.Constant):
                if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
                    raise ExpressionError(f"{ast.unparse(node)} is not allowed: only numbers")
            elif not isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Name) + allowed_ops):
                raise ExpressionError(f"{_quoted(ast.unparse(node))} is not allowed: use numbers, variables, "
                                      f"+ - * / **, parentheses and {', '.join(sorted(FUNCTIONS))}")
    return program


def _used(value: ast.expr) -> list[str]:
    """The names an expression reads (not the functions it calls), in order of appearance."""
    calls = {id(node.func) for node in ast.walk(value) if isinstance(node, ast.Call)}
    names: list[str] = []
    for node in ast.walk(value):
        if isinstance(node, ast.Name) and id(node) not in calls and node.id not in names:
            names.append(node.id)
    return names


def _analyse(text: str) -> tuple[list[tuple[str | None, ast.expr]], list[str]]:
    """The checked program and its variables (the names read before any assignment gives them a value).

    Raises:
        ExpressionError: for a name assigned twice, a variable assigned after it was read, an assigned
            name that is a function's or that nothing reads.
    """
    program = _check(_parse(text))
    variables: list[str] = []
    assigned: dict[str, int] = {}
    read: set[str] = set()
    for position, (target, value) in enumerate(program):
        for name in _used(value):
            if name in FUNCTIONS:
                continue
            read.add(name)
            if name not in assigned and name not in variables:
                variables.append(name)
        if target is None:
            continue
        if target in FUNCTIONS:
            raise ExpressionError(f"{target} is a function; assign to another name")
        if target in assigned:
            raise ExpressionError(f"{_name(target)} is assigned twice; give each step its own name")
        if target in variables:
            raise ExpressionError(f"{_name(target)} is read before it is assigned (as a variable, whose value "
                                  f"--at gives); give the step another name")
        assigned[target] = position
    for target, position in assigned.items():
        if position < len(program) - 1 and target not in read:
            raise ExpressionError(f"{_name(target)} is assigned but never used; the last line is the output, "
                                  "and every other line a step towards it")
    return program, variables


def variables(text: str) -> list[str]:
    """The variable names a program reads (those not assigned before), in order of first appearance,
    as written (``x2'``).

    Raises:
        ExpressionError: as :func:`build`.
    """
    return [_name(name) for name in _analyse(text)[1]]


def build(text: str, values: dict[str, float]) -> tuple[Tensor, dict[str, Tensor]]:
    """The program ``text`` computed from float64 leaves named after its variables.

    ``text`` is an expression (``(x + y) * z``), or assignments separated by ``;`` or new lines, each
    naming its step (``q = x + y; f = q * z``), the last one the output; ``:=`` may stand for ``=`` and a
    name may end in primes (``x2' := 3*x2``), as on the slides. An unnamed output is left unnamed (the
    explanation calls it ``f``).

    Returns:
        The result and the leaves by name.

    Raises:
        ExpressionError: for unsupported syntax, unknown functions, a name assigned twice or never used,
            an assigned name also given with --at, or missing or extra values.
    """
    program, needed = _analyse(text)
    written = {name: _name(name) for name in needed}
    given = set(values)
    assigned = [target for target, _ in program if target is not None]
    clashing = [_name(target) for target in assigned if _name(target) in given]
    if clashing:
        raise ExpressionError(f"{clashing[0]} is given with --at and also assigned; a name is either a variable "
                              "or a step")
    missing = [written[n] for n in needed if written[n] not in values]
    extra = [n for n in values if n not in written.values()]
    if missing:
        raise ExpressionError(f"no value given for {', '.join(missing)}: add --at {missing[0]}=...")
    if extra:
        raise ExpressionError(f"{', '.join(extra)} given with --at but not used in {_quoted(text)}")
    leaves = {written[name]: Tensor(np.asarray(float(values[written[name]])), requires_grad=True,
                                    name=written[name]) for name in needed}
    scope: dict[str, Any] = {name: leaves[written[name]] for name in needed}

    def visit(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            try:
                return float(node.value)
            except OverflowError:
                raise ExpressionError(f"the number {_quoted(str(node.value))} is too large for a float") from None
        if isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                raise ExpressionError(f"{node.id} is a function: call it, as in {node.id}(x)")
            return scope[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            left, right = visit(node.left), visit(node.right)
            if not isinstance(left, Tensor) and not isinstance(right, Tensor):
                return _fold(node, left, right)
            if not isinstance(left, Tensor):
                return getattr(Tensor(np.asarray(float(left))), OPERATORS[type(node.op)])(right)
            return getattr(left, OPERATORS[type(node.op)])(right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = visit(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                shown = ast.unparse(node.func)
                raise ExpressionError(f"{shown}(...) is not allowed: only {', '.join(sorted(FUNCTIONS))}")
            if node.keywords:
                raise ExpressionError(f"{node.func.id}(...) takes no keyword arguments")
            args = [visit(a) for a in node.args]
            args = [a if isinstance(a, Tensor) else Tensor(np.asarray(float(a))) for a in args]
            try:
                return FUNCTIONS[node.func.id](*args)
            except TypeError:
                raise ExpressionError(f"{node.func.id} takes {FUNCTIONS[node.func.id].__code__.co_argcount} "
                                      f"argument(s), got {len(args)}") from None
        raise ExpressionError(f"{_quoted(ast.unparse(node))} is not allowed: use numbers, variables, + - * / **, "
                              f"parentheses and {', '.join(sorted(FUNCTIONS))}")

    steps: set[int] = set()  # the tensors already named by an assignment
    result: Any = None
    for target, value in program:
        result = visit(value)
        if target is None:
            break
        if isinstance(result, Tensor):
            if result.grad_fn is None or id(result) in steps:
                shown = _name(ast.unparse(value))[:_SHOWN]
                raise ExpressionError(f"{_name(target)} = {shown} computes nothing new (no operation); write "
                                      f"{shown} where {_name(target)} is used")
            result.name = _name(target)
            steps.add(id(result))
        scope[target] = result
    if not isinstance(result, Tensor):
        raise ExpressionError(f"{_quoted(text)} has no variables: nothing to differentiate")
    return result, leaves


def _fold(node: ast.BinOp, left: float, right: float) -> float:
    """The value of an operation between two numbers, as a float; errors named, never complex."""
    operation = type(node.op)
    if operation is ast.Pow and abs(right) > 64:
        raise ExpressionError(f"{_quoted(ast.unparse(node))}: exponent too large")
    try:
        left, right = float(left), float(right)
        if operation is ast.Add:
            value = left + right
        elif operation is ast.Sub:
            value = left - right
        elif operation is ast.Mult:
            value = left * right
        elif operation is ast.Div:
            value = left / right
        else:
            value = left ** right
    except ZeroDivisionError:
        raise ExpressionError(f"{_quoted(ast.unparse(node))} divides by zero") from None
    except OverflowError:
        raise ExpressionError(f"{_quoted(ast.unparse(node))} is too large for a float") from None
    if isinstance(value, complex):
        raise ExpressionError(f"{_quoted(ast.unparse(node))} is a complex number")
    return value

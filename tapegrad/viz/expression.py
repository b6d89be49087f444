"""Arithmetic expressions typed at the command line, turned into tensors without ``eval``.

The text is parsed with Python's own parser into a syntax tree, and only these nodes are accepted:
numbers, variable names, ``+ - * / **``, unary minus, parentheses, and calls of a few named functions.
Anything else (attributes, subscripts, keywords, other names) is rejected with a clear error, so
``__import__('os').system(...)`` can never run.
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


def variables(text: str) -> list[str]:
    """The variable names an expression uses, in order of first appearance."""
    names: list[str] = []
    for node in ast.walk(_parse(text)):
        if isinstance(node, ast.Name) and node.id not in FUNCTIONS and node.id not in names:
            names.append(node.id)
    return names


MAX_CHARACTERS = 1000
_SHOWN = 100  # characters of the expression echoed in an error message


def _quoted(text: str) -> str:
    return repr(text) if len(text) <= _SHOWN else f"{text[:_SHOWN]!r}... ({len(text)} characters)"

MAX_DEPTH = 200  # of the syntax tree: a sum of n terms is n levels deep, as are n chained ** and n calls


def _parse(text: str) -> ast.Expression:
    """The syntax tree of ``text``, within the limits above (checked without recursion, so that evaluating
    it recursively cannot exhaust Python's stack)."""
    if len(text) > MAX_CHARACTERS:
        raise ExpressionError(f"the expression has {len(text)} characters; tapegrad explain takes at most "
                              f"{MAX_CHARACTERS}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {_quoted(text)}: {exc.msg}") from None
    except (RecursionError, MemoryError):  # Python's own parser gives up on deep nesting
        raise ExpressionError(f"the expression is nested too deeply (at most {MAX_DEPTH} levels)") from None
    pending = [(tree.body, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep (terms of a sum or "
                                  "product, chained **, parentheses, calls)")
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node)
                       if not isinstance(child, (ast.operator, ast.unaryop, ast.expr_context)))
    return tree


def _check(tree: ast.Expression) -> None:
    """Reject every syntax tree node the evaluator below does not handle, before anything runs."""
    allowed_ops = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Load)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ExpressionError(f"{ast.unparse(node.func)}(...) is not allowed: the functions are "
                                      f"{', '.join(sorted(FUNCTIONS))}")
            if node.keywords:
                raise ExpressionError(f"{node.func.id}(...) takes no keyword arguments")
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
                raise ExpressionError(f"{ast.unparse(node)} is not allowed: only numbers")
        elif not isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name) + allowed_ops):
            raise ExpressionError(f"{_quoted(ast.unparse(node))} is not allowed: use numbers, variables, + - * / **, "
                                  f"parentheses and {', '.join(sorted(FUNCTIONS))}")


def build(text: str, values: dict[str, float]) -> tuple[Tensor, dict[str, Tensor]]:
    """The expression as a Tensor computed from float64 leaves named after its variables.

    Returns:
        The result and the leaves by name.

    Raises:
        ExpressionError: for unsupported syntax, unknown functions, or missing or extra values.
    """
    tree = _parse(text)
    _check(tree)
    needed = variables(text)
    missing = [n for n in needed if n not in values]
    extra = [n for n in values if n not in needed]
    if missing:
        raise ExpressionError(f"no value given for {', '.join(missing)}: add --at {missing[0]}=...")
    if extra:
        raise ExpressionError(f"{', '.join(extra)} given with --at but not used in {_quoted(text)}")
    leaves = {name: Tensor(np.asarray(float(values[name])), requires_grad=True, name=name) for name in needed}

    def visit(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return visit(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            try:
                return float(node.value)
            except OverflowError:
                raise ExpressionError(f"the number {_quoted(str(node.value))} is too large for a float") from None
        if isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                raise ExpressionError(f"{node.id} is a function: call it, as in {node.id}(x)")
            return leaves[node.id]
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

    result = visit(tree)
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

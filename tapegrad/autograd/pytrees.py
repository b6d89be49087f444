"""Pytrees: nested lists, tuples and dicts of values, which the transforms take and return."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["tree_flatten", "tree_unflatten"]


def tree_flatten(tree: Any) -> tuple[list[Any], Any]:
    """The leaves of a nested list/tuple/dict structure (in order) and a description to rebuild it."""
    if isinstance(tree, dict):
        keys = list(tree)
        parts = [tree_flatten(tree[k]) for k in keys]
        return [leaf for leaves, _ in parts for leaf in leaves], ("dict", keys, [d for _, d in parts])
    if isinstance(tree, (list, tuple)):
        parts = [tree_flatten(item) for item in tree]
        return [leaf for leaves, _ in parts for leaf in leaves], (type(tree), None, [d for _, d in parts])
    return [tree], None


def tree_unflatten(structure: Any, leaves: Sequence[Any]) -> Any:
    """Rebuild what :func:`tree_flatten` took apart, with new ``leaves``."""
    iterator = iter(leaves)

    def build(node: Any) -> Any:
        if node is None:
            return next(iterator)
        kind, keys, children = node
        items = [build(child) for child in children]
        return dict(zip(keys, items)) if kind == "dict" else kind(items)

    return build(structure)

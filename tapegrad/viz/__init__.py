"""Seeing backprop: the steps of a computation explained in the lectures' notation."""

from __future__ import annotations

from .explain import Explanation, explain

__all__ = ["explain", "Explanation"]

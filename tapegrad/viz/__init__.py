"""Seeing backprop: the steps of a computation in the lectures' notation, and pictures of the graph."""

from __future__ import annotations

from .draw import VizError, draw
from .explain import Explanation, explain

__all__ = ["explain", "Explanation", "draw", "VizError"]

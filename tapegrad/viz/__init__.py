"""Seeing backprop: the steps of a computation in the lectures' notation, and pictures of the graph."""

from __future__ import annotations

from . import expression, gallery
from .draw import VizError, draw
from .explain import Explanation, Flow, Step, Walkthrough, explain, walkthrough
from .html import html

__all__ = ["explain", "Explanation", "walkthrough", "Walkthrough", "Step", "Flow", "draw", "html", "VizError",
           "expression", "gallery"]

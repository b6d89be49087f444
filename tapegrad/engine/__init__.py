"""The engine below the Tensor: what the graph is made of and how backward walks it.

- :mod:`tapegrad.engine.node`: the graph's :class:`~tapegrad.engine.node.Node`, the numbering of Nodes,
  and the version counting of in-place changes;
- :mod:`tapegrad.engine.backward`: the reverse pass, and the public walk of a graph (:func:`graph_nodes`);
- :mod:`tapegrad.engine.modes`: grad modes (``no_grad``, ...), ``detect_anomaly``, the observers of
  operations (:func:`observing`; ``tg.compile`` traces with one) and the guards they are told of;
- :mod:`tapegrad.engine.forward`: forward mode's state (the ``jvp`` levels and the tangents they hold);
- :mod:`tapegrad.engine.batching`: vmap's state (the batching levels, each with its number of examples).

It knows nothing of the Tensor: its functions take Nodes, leaves and arrays. The names below are its
public API, what the layers above the Tensor may use.
"""

from .backward import graph_nodes
from .batching import RANDOMNESS, BatchLevel
from .forward import give_tangent, tangent_in, tangent_of
from .modes import (
    Observer,
    batch_level,
    detect_anomaly,
    enable_grad,
    forward_level,
    is_grad_enabled,
    no_grad,
    note_guard,
    note_unrecorded,
    observing,
    operations_watched,
    set_grad_enabled,
)
from .node import Node

__all__ = ["Node", "graph_nodes", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "detect_anomaly",
           "Observer", "observing", "operations_watched", "note_guard", "note_unrecorded", "forward_level",
           "give_tangent", "tangent_in", "tangent_of",
           "BatchLevel", "batch_level", "RANDOMNESS"]

# issue 16: tg.distributed's collectives write into arrays in place and count the change like any other
from .node import bump  # noqa: E402

__all__ += ["bump"]

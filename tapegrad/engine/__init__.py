"""The engine below the Tensor: what the graph is made of and how backward walks it.

- :mod:`tapegrad.engine.node`: the graph's :class:`~tapegrad.engine.node.Node`, the numbering of Nodes,
  and the version counting of in-place changes;
- :mod:`tapegrad.engine.backward`: the reverse pass, and the public walk of a graph (:func:`graph_nodes`);
- :mod:`tapegrad.engine.modes`: grad modes (``no_grad``, ...), ``detect_anomaly`` and the special-mode counter;
- :mod:`tapegrad.engine.forward`: forward mode's state (the ``jvp`` levels and the tangents they hold).

It knows nothing of the Tensor: its functions take Nodes, leaves and arrays.
"""

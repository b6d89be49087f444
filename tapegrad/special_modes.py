"""What recording does when a special mode is on: ``detect_anomaly`` checks each result, and
``jvp`` (forward mode) carries a tangent beside each value.

:func:`tapegrad.tensor.apply` calls these only while ``SPECIAL_MODES.count`` says such a mode is
open somewhere, so the common path pays nothing for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .engine.forward import FORWARD
from .engine.node import user_code_location
from .errors import AnomalyError
from .ops.registry import Primitive
from .tensor_methods import TensorMethods, describe

if TYPE_CHECKING:
    from .tensor import Tensor


def check_result(prim: Primitive, args: tuple, out: np.ndarray) -> None:
    """Under ``detect_anomaly``: an operation whose result has NaN or inf where its inputs had none."""
    if out.dtype.kind not in "fc" or np.all(np.isfinite(out)):
        return
    for arg in args:
        data = arg.data if isinstance(arg, TensorMethods) else arg
        if isinstance(data, np.ndarray) and data.dtype.kind in "fc" and not np.all(np.isfinite(data)):
            return  # passed on from an input, which was reported when it was made
    raise AnomalyError(
        f"'{prim.name}' produced {'NaN' if np.isnan(out).any() else 'inf'} at {user_code_location()} "
        f"(inputs: {', '.join(describe(a) for a in args)}). If where() or a mask discards these entries "
        "later, their gradient is still NaN (0 * NaN = NaN): compute the discarded branch on safe values, "
        "e.g. where(x > 0, sqrt(where(x > 0, x, 1)), 0).")


def carry_tangents(prim: Primitive, args: tuple, params: dict, result: Tensor) -> None:
    """Forward mode: give ``result`` its tangent at every active ``jvp`` level whose inputs have one.

    The tangent is the sum of the primitive's JVP rules over the inputs that carry a tangent. It is
    computed with only the outer levels active, on Tensors, so outer ``jvp``s and reverse mode see
    (and can differentiate) the tangent computation itself.
    """
    if prim.jvps is None or result.dtype.kind != "f":
        return
    levels = FORWARD.levels
    for depth in range(len(levels) - 1, -1, -1):
        level = levels[depth]
        tangents = []
        for a in args:
            entry = level.get(id(a.data)) if isinstance(a, TensorMethods) else None
            tangents.append(entry[1] if entry is not None and entry[0] is a.data else None)
        if all(t is None for t in tangents):
            continue
        FORWARD.levels = levels[:depth]
        try:
            total = None
            for rule, tangent in zip(prim.jvp_rules(len(args)), tangents):
                if rule is not None and tangent is not None:
                    part = rule(result._graph_namespace, tangent, result, *args, **params)
                    total = part if total is None else total + part
            if total is not None:
                total = result._lift(total)
                if total.shape != result.shape:
                    total = total.broadcast_to(result.shape)
                if total.dtype != result.dtype:
                    total = total.astype(result.dtype)
        finally:
            FORWARD.levels = levels
        if total is not None:
            level[id(result.data)] = (result.data, total)

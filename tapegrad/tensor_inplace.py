"""In-place operations on a Tensor: ``+= -= *= /=``, ``x[i] = v``, ``fill_``, ``zero_``.

Each changes the data in place and counts a version of its memory (:func:`tapegrad.graph.bump`),
so that backward can tell when a value a Node saved was changed since. On a tensor in the graph the
change is recorded like any other operation, and the tensor then stands for its result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DTypeError, InPlaceError, ShapeError
from .grad_mode import SPECIAL_MODES
from .grad_mode import state as _grad_state
from .graph import FORWARD, bump, tangent_of
from .ops import arithmetic as A
from .ops import shape as S
from .ops.registry import Primitive
from .tensor_methods import TensorMethods, _normalize_index, describe

if TYPE_CHECKING:
    from .tensor import Tensor


class TensorInPlace:
    """The in-place methods of :class:`~tapegrad.tensor.Tensor`."""

    __slots__ = ()

    def _in_place(self, prim: Primitive, label: str, value: Any, **params: Any) -> Tensor:
        """Change the data in place as ``prim(self, value)`` would, and bump the version.

        When a gradient must flow (grad mode on and this tensor or ``value`` requires grad), the
        operation is recorded on the graph and this tensor now stands for its result.
        """
        special = SPECIAL_MODES.count
        if special:
            self._not_while_tracing(f"in-place {label}")
            if FORWARD.levels and (tangent_of(self) is not None or tangent_of(value) is not None):
                raise InPlaceError(f"{label}: in-place change of a tensor that carries a jvp tangent; inside "
                                   "jvp use out-of-place operations")
        value_requires_grad = isinstance(value, TensorMethods) and value.requires_grad
        recording = (not special or _grad_state.enabled) and (self.requires_grad or value_requires_grad)
        if recording and self._node is None and self.requires_grad:
            raise InPlaceError(
                f"{label}: in-place change of a leaf tensor that requires grad (shape {self.shape}, "
                f"{self.dtype}). Inside 'with tg.no_grad():' (a weight update) it is allowed; "
                "otherwise use an out-of-place operation.")
        if not self.data.flags.writeable:
            raise InPlaceError(f"{label}: this tensor's data (shape {self.shape}) is a read-only "
                               "view (e.g. from broadcast_to); use .clone() first")
        raw = value.data if isinstance(value, TensorMethods) else value
        try:
            if recording:
                before = self._plain(self.data.copy() if prim.saves_inputs else self.data)
                before._node, before.requires_grad = self._node, self.requires_grad
                result = self._record(prim, before, value, **params)
                if result.shape != self.shape:
                    raise ValueError(f"the result has shape {result.shape}")
                np.copyto(self.data, result.data, casting="same_kind")
                self._node, self.requires_grad = result._node, True
            elif prim is S.setitem:
                self.data[params["index"]] = raw
            else:  # a ufunc writing straight into the data: no temporary copy
                prim.forward(self.data, raw, out=self.data, casting="same_kind")
        except (ShapeError, DTypeError):
            raise
        except TypeError as exc:
            raise DTypeError(f"{label}: cannot store the result in place in a {self.dtype} tensor of "
                             f"shape {self.shape} (value: {describe(value)}; NumPy says: {exc})") from None
        except (ValueError, IndexError) as exc:
            raise ShapeError(f"{label}: an in-place operation must keep the tensor's shape {self.shape}; "
                             f"value: {describe(value)} (NumPy says: {exc})") from None
        bump(self.data, label)
        return self

    def __iadd__(self, other: Any) -> Tensor: return self._in_place(A.add, "+= (add_)", other)
    def __isub__(self, other: Any) -> Tensor: return self._in_place(A.subtract, "-= (sub_)", other)
    def __imul__(self, other: Any) -> Tensor: return self._in_place(A.multiply, "*= (mul_)", other)
    def __itruediv__(self, other: Any) -> Tensor: return self._in_place(A.divide, "/= (div_)", other)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._in_place(S.setitem, "__setitem__", value, index=_normalize_index(index))

    def fill_(self, value: Any) -> Tensor:
        """Set every entry to ``value`` in place; returns the tensor."""
        return self._in_place(S.setitem, "fill_", value, index=Ellipsis)

    def zero_(self) -> Tensor:
        """Set every entry to 0 in place; returns the tensor."""
        return self._in_place(S.setitem, "zero_", 0, index=Ellipsis)

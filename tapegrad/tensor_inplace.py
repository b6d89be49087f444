"""In-place operations on a Tensor: ``+= -= *= /=``, ``x[i] = v``, ``fill_``, ``zero_``, and views.

Each changes the data in place and counts a version of its memory (:func:`tapegrad.engine.node.bump`),
so that backward can tell when a value a Node saved was changed since. On a tensor in the graph the
change is recorded like any other operation, and the tensor then stands for its result.

Views. ``v = y[0:2]`` (and ``reshape``, ``transpose``, ``flip``, ... when NumPy returns a view) shares
``y``'s memory, so an in-place change of either changes the other. :func:`note_view` remembers, on
``v``, the tensor whose memory it views (its *root*) and the chain of view operations from the root
to ``v``; the root keeps weak references to its live views. A recorded in-place change through
``v`` then also rebases the root's history (``y`` becomes ``assign_view(y_before, v_after)``, as
PyTorch's CopySlices), and after any recorded in-place change every other live view of the root
is re-derived from the root's new history, so that a view taken before the change ("stale") still
gives the right gradient.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from .engine.forward import FORWARD, tangent_of
from .engine.modes import SPECIAL_MODES
from .engine.modes import state as _grad_state
from .engine.node import bump
from .errors import DTypeError, InPlaceError, ShapeError
from .ops import arithmetic as A
from .ops import shape as S
from .ops.registry import Primitive
from .tensor_methods import TensorMethods, _normalize_index, describe

if TYPE_CHECKING:
    from .tensor import Tensor


def note_view(view: Tensor, source: Tensor, prim: Primitive, params: dict) -> None:
    """Remember that ``view`` (the result of ``prim(source, **params)``) views ``source``'s memory,
    if it does (NumPy may copy instead, e.g. when reshaping a non-contiguous array).

    The view gets ``_view = (root, chain)``: the tensor whose memory it views and the view operations
    from it, and the root a weak reference to the view, so that a recorded in-place change can
    re-derive the view's history. Where no history will ever need re-deriving, ``chain`` is None and
    the root keeps no reference: a view of a leaf that requires grad (a recorded in-place change of
    it is refused), and a view taken under ``no_grad`` (as in PyTorch, it may not be changed in place
    where that would be recorded, and it stays the constant it was taken as).
    """
    out, data = view.data, source.data
    base, source_base = out.base, data.base  # memory_owner, inline: this runs for every view taken
    if (base if isinstance(base, np.ndarray) else out) is not (
            source_base if isinstance(source_base, np.ndarray) else data):
        return
    link = getattr(source, "_view", None)  # slots that only views and roots set
    if link is None:
        root, chain = source, ((prim, params),)
        keeps_history = source.requires_grad and source._node is None
    else:
        root, chain = link
        keeps_history = chain is None
    if keeps_history or (SPECIAL_MODES.count and not _grad_state.enabled):
        view._view = (root, None)
        return
    view._view = (root, chain if link is None else chain + ((prim, params),))
    views = getattr(root, "_views", None)
    if views is None:
        root._views = views = []
    elif len(views) >= 16 and not len(views) & (len(views) - 1):  # at powers of two: drop the dead ones
        views[:] = [ref for ref in views if ref() is not None]
    views.append(weakref.ref(view))


def _is_complex(value: Any) -> bool:
    try:
        return np.iscomplexobj(value)
    except ValueError:  # a ragged list: the assignment itself says so
        return False


def _rederive_views(root: Tensor, changed: Tensor) -> None:
    """Give every live view of ``root`` (but ``changed``, which has its own) a history derived
    from the root's current one, after a recorded in-place change of their shared memory. Costs
    one small operation per live view and step of its chain."""
    views = getattr(root, "_views", None)
    if not views:
        return
    live = []
    for ref in views:
        view = ref()
        if view is None:
            continue
        live.append(ref)
        if view is changed:
            continue
        derived = root
        for prim, params in view._view[1]:
            derived = root._record_unary(prim, derived, **params)
        view._node, view.requires_grad = derived._node, derived.requires_grad
    views[:] = live


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
        link = getattr(self, "_view", None)  # (root, chain) when this tensor views another one's memory
        root = self if link is None else link[0]
        recording = (not special or _grad_state.enabled) and (
            self.requires_grad or value_requires_grad or root.requires_grad)
        if recording and root._node is None and root.requires_grad:
            what = "a leaf tensor" if link is None else f"a view of a leaf tensor (shape {root.shape})"
            raise InPlaceError(
                f"{label}: in-place change of {what} that requires grad (shape {self.shape}, "
                f"{self.dtype}). Inside 'with tg.no_grad():' (a weight update) it is allowed; "
                "otherwise use an out-of-place operation.")
        if recording and link is not None and link[1] is None:
            raise InPlaceError(
                f"{label}: in-place change, with gradients recorded, of a view (shape {self.shape}) that was "
                f"taken under no_grad from a tensor of shape {root.shape}: whether the change belongs in that "
                "tensor's history is ambiguous (PyTorch refuses it too). Take the view outside no_grad, or "
                "make the change inside no_grad, or change a .clone().")
        if not self.data.flags.writeable:
            raise InPlaceError(f"{label}: this tensor's data (shape {self.shape}) is a read-only "
                               "view (e.g. from broadcast_to); use .clone() first")
        raw = value.data if isinstance(value, TensorMethods) else value
        if prim is S.setitem and self.dtype.kind != "c" and _is_complex(raw):
            raise DTypeError(f"{label}: cannot store a complex value ({describe(value)}) in a {self.dtype} tensor "
                             f"of shape {self.shape} without dropping its imaginary part; expected a real value")
        try:
            if recording:
                before = self._plain(self.data.copy() if prim.saves_inputs else self.data)
                before._node, before.requires_grad = self._node, self.requires_grad
                result = self._record(prim, before, value, **params)
                if result.shape != self.shape:
                    raise ValueError(f"the result has shape {result.shape}")
                np.copyto(self.data, result.data, casting="same_kind")
                self._node, self.requires_grad = result._node, result.requires_grad
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
        if recording:
            if link is not None:  # the root's history now ends in this change of its view
                old = self._plain(root.data)
                old._node, old.requires_grad = root._node, root.requires_grad
                rebased = self._record(S.assign_view, old, self, chain=link[1])
                root._node, root.requires_grad = rebased._node, rebased.requires_grad
            _rederive_views(root, self)
        bump(self.data, label)
        return self

    def __iadd__(self, other: Any) -> Tensor: return self._in_place(A.add, "+= (add_)", other)
    def __isub__(self, other: Any) -> Tensor: return self._in_place(A.subtract, "-= (sub_)", other)
    def __imul__(self, other: Any) -> Tensor: return self._in_place(A.multiply, "*= (mul_)", other)
    def __itruediv__(self, other: Any) -> Tensor: return self._in_place(A.divide, "/= (div_)", other)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._in_place(S.setitem, "__setitem__", value, index=_normalize_index(index, self.shape, "__setitem__"))

    def fill_(self, value: Any) -> Tensor:
        """Set every entry to ``value`` in place; returns the tensor."""
        return self._in_place(S.setitem, "fill_", value, index=Ellipsis)

    def zero_(self) -> Tensor:
        """Set every entry to 0 in place; returns the tensor."""
        return self._in_place(S.setitem, "zero_", 0, index=Ellipsis)

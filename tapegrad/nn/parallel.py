"""``DistributedDataParallel``: one model per process, the same weights everywhere, gradients averaged over
the processes after each backward (issue 16).

How the gradients travel: when the model is wrapped its parameters are put, in reverse order (the order
backward tends to finish them in), into buckets of at most ``bucket_cap_mb`` megabytes of one dtype. A
parameter as large as a bucket is a bucket of its own and is averaged in its gradient's own memory; the
others are copied into their bucket's flat array, averaged there in one message, and copied back. A hook
on each parameter collects the gradients that backward hands out; when the last of them has come, the
buckets are averaged (``tg.distributed.all_reduce``, one ``MPI_Allreduce`` per bucket) before backward
writes ``.grad``. The ranks compare the layout of their parameters once, at wrapping, so the averaging
itself runs without a per-message check.

The averaging starts after the engine has computed every gradient, not while it is still running: with
one core per rank there is no core free to move the first buckets while the last are computed
(``benchmarks/distributed.py`` measures an ``Iallreduce`` beside a matmul: no gain on this 2-core machine;
see ``BENCHMARKS.md``).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .. import distributed
from ..engine import enable_grad
from ..errors import ArgumentError, BackwardError, ShapeError
from ..ops.shape import shown
from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["DistributedDataParallel"]


def _references(array: np.ndarray) -> tuple[int, int]:
    """The references to ``array`` and to the array it views (0 if none), as seen from a hook that holds
    it in a local variable and calls :func:`_exclusive` (the probe measures through the same calls)."""
    base = array.base
    return sys.getrefcount(array), 0 if base is None else sys.getrefcount(base)


_EXCLUSIVE: list[tuple[int, int]] = []


def _exclusive_references() -> tuple[int, int]:
    """How many references a parameter's hook sees to a gradient array that nothing else holds, and to the
    array a transposed gradient views (a Linear weight's gradient is ``(x.T @ g).T``): measured once on a
    probe whose gradient is such a view of a fresh matmul result.

    The hooks average a gradient in its own memory (no copy of a 64 MB weight's gradient) only when no other
    gradient or view holds that memory: backward may hand one array to two leaves (the VJP of ``a + b``),
    and averaging it in place would change the other leaf's gradient too. Another holder adds a reference.
    """
    if not _EXCLUSIVE:
        probe = Parameter(np.zeros((2, 2)))
        counts: list[tuple[int, int]] = []

        def hook(grad: Tensor) -> None:
            array = grad.data
            counts.append(_exclusive(array, measure=True))

        handle = probe.register_hook(hook)
        with enable_grad():
            (Tensor(np.ones((3, 2))) @ probe.T).sum().backward()
        handle.remove()
        _EXCLUSIVE.append(counts[0])
    return _EXCLUSIVE[0]


def _exclusive(array: np.ndarray, measure: bool = False) -> Any:
    """Whether ``array`` is a writable block of memory (C or Fortran order) that no other gradient holds
    (with ``measure``: its reference counts, taken through the same statements, for the probe)."""
    base = array.base
    counts = _references(array)
    if measure:
        return counts
    if not (array.flags.writeable and (array.flags.c_contiguous or array.flags.f_contiguous)):
        return False
    if base is not None and not (isinstance(base, np.ndarray) and base.base is None and base.size == array.size):
        return False
    most = _exclusive_references()
    return counts[0] <= most[0] and (base is None or counts[1] <= most[1])


def _in_memory_order(array: np.ndarray) -> np.ndarray:
    """A flat view of a C- or Fortran-ordered array, its elements in the order of its memory."""
    return array.reshape(-1) if array.flags.c_contiguous else array.T.reshape(-1)


class _Bucket:
    """Parameters whose gradients travel in one message: ``flat`` holds them end to end (None for a bucket
    of one parameter, averaged in its gradient's own memory)."""

    def __init__(self, parameters: list[Parameter]) -> None:
        self.parameters = parameters
        sizes = [p.data.size for p in parameters]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        self.flat = None if len(parameters) == 1 else np.empty(self.offsets[-1], dtype=parameters[0].dtype)


class DistributedDataParallel(Module):
    """Data-parallel training of ``module`` over the processes of ``tg.distributed`` (PyTorch's
    ``torch.nn.parallel.DistributedDataParallel``).

    Every rank builds the same model and wraps it: rank 0's parameters and buffers are copied to the others;
    each rank then runs forward and backward on its own part of the batch, and after each backward every
    rank holds the gradients averaged over the ranks (so an optimizer step keeps the weights identical).
    Buffers (batch norm's running statistics) are copied from rank 0 at every forward. ``state_dict`` keys
    are the wrapped model's prefixed with ``module.``, as in PyTorch. In a world of one it only calls
    ``module``.

    Every parameter that requires grad must get a gradient in each backward (PyTorch's default,
    ``find_unused_parameters=False``); freeze the others with ``requires_grad_(False)`` before wrapping.

    Args:
        module: the model.
        broadcast_buffers: copy rank 0's buffers to the other ranks at every forward.
        bucket_cap_mb: the largest bucket of gradients sent as one message, in megabytes (2**20 bytes).

    Raises:
        ArgumentError: for a ``module`` that is not a Module or a ``bucket_cap_mb`` that is not positive.
        ShapeError: if the ranks' models have different parameters or buffers (raised on every rank).
    """

    def __init__(self, module: Module, broadcast_buffers: bool = True, bucket_cap_mb: float = 25.0) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise ArgumentError(f"DistributedDataParallel: expected a Module to wrap, got {shown(module)}")
        if (not isinstance(bucket_cap_mb, (int, float)) or isinstance(bucket_cap_mb, bool)
                or not 0 < bucket_cap_mb < float("inf")):
            raise ArgumentError(f"DistributedDataParallel: bucket_cap_mb={shown(bucket_cap_mb)}; expected a "
                                "positive number of megabytes")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.world_size = distributed.world_size()
        self._require_sync = True  # no_sync() turns it off
        self._sync_this_backward = True  # what the last forward decided
        trainable = [p for p in module.parameters() if p.requires_grad]
        self._buckets = self._make_buckets(trainable, int(self.bucket_cap_mb * 2**20))
        self._expected = len(trainable)
        self._arrived: dict[int, np.ndarray] = {}  # id of the parameter -> its gradient, in this backward
        self._hooks = []
        if self.world_size > 1:
            self._check_same_model()
            _exclusive_references()
            for tensor in self._state_tensors():
                distributed.broadcast(tensor, root=0, check=False)
            for parameter in trainable:
                self._hooks.append(parameter.register_hook(self._hook_for(parameter)))

    # -- wrapping ----------------------------------------------------------------------------------
    @staticmethod
    def _make_buckets(parameters: list[Parameter], cap: int) -> list[_Bucket]:
        buckets, current, size = [], [], 0
        for parameter in reversed(parameters):
            nbytes = parameter.data.nbytes
            if current and (size + nbytes > cap or parameter.dtype != current[0].dtype):
                buckets.append(_Bucket(current))
                current, size = [], 0
            current.append(parameter)
            size += nbytes
        if current:
            buckets.append(_Bucket(current))
        return buckets

    def _state_tensors(self) -> list[Tensor]:
        return [p for p in self.module.parameters()] + [b for _, b in self.module.named_buffers()]

    def _layout(self) -> str:
        parameters = [(name, p.shape, str(p.dtype), p.requires_grad) for name, p in self.module.named_parameters()]
        buffers = [(name, b.shape, str(b.dtype)) for name, b in self.module.named_buffers()]
        return repr((parameters, buffers))

    def _check_same_model(self) -> None:
        layout = self._layout()
        digest = int.from_bytes(hashlib.blake2b(layout.encode(), digest_size=8).digest(), "little", signed=True)
        counts = np.array([digest, len(list(self.module.parameters())),
                           sum(p.data.size for p in self.module.parameters())], dtype=np.int64)
        everyone = distributed.all_gather(counts)
        if any(not np.array_equal(theirs, everyone[0]) for theirs in everyone):
            listing = "; ".join(f"rank {r}: {int(c[1])} parameters of {int(c[2]):,} numbers"
                                for r, c in enumerate(everyone))
            raise ShapeError(f"DistributedDataParallel: the ranks wrap different models ({listing}; the names, "
                             "shapes, dtypes or buffers differ); every rank must build the same model")

    # -- forward and backward ----------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """``module(*args, **kwargs)``, after copying rank 0's buffers to every rank (``broadcast_buffers``).

        Raises:
            BackwardError: if the last backward through the model gave gradients to only some of the
                parameters that require grad (their average was never taken).
        """
        if self._arrived:
            missing = [name for name, p in self.module.named_parameters()
                       if p.requires_grad and id(p) not in self._arrived]
            self._arrived.clear()
            raise BackwardError(f"DistributedDataParallel: the last backward gave no gradient to {len(missing)} "
                                f"parameter(s) that require grad ({', '.join(missing[:5])}), so the gradients were "
                                "not averaged over the ranks; every parameter that requires grad must be used "
                                "(freeze unused ones with requires_grad_(False) before wrapping)")
        if self.world_size > 1 and self.broadcast_buffers:
            self._broadcast_buffers()
        self._sync_this_backward = self._require_sync
        return self.module(*args, **kwargs)

    def _broadcast_buffers(self) -> None:
        buffers = [b.data for _, b in self.module.named_buffers()]
        if not buffers:
            return
        # one message: the buffers' bytes end to end (running means and the int64 batch counters alike); a
        # buffer that is a view with gaps is copied out and back (reshape would give a copy to write into)
        flat = np.concatenate([np.ascontiguousarray(b).reshape(-1).view(np.uint8) for b in buffers])
        distributed.broadcast(flat, root=0)
        if distributed.rank() != 0:
            offset = 0
            for buffer in buffers:
                buffer[...] = flat[offset:offset + buffer.nbytes].view(buffer.dtype).reshape(buffer.shape)
                offset += buffer.nbytes

    def _hook_for(self, parameter: Parameter) -> Any:
        def hook(grad: Tensor) -> Any:
            if not self._sync_this_backward:
                return None
            if grad.requires_grad:
                raise BackwardError("DistributedDataParallel: backward with create_graph=True is not supported (the "
                                    "averaged gradients are not recorded)")
            array = grad.data
            replaced = None
            if parameter.grad is not None:  # gradients accumulated under no_sync(): average their sum
                replaced = array = parameter.grad.data + array
                parameter.grad = None  # backward now stores the average instead of adding to it
            elif not _exclusive(array):  # shared with another gradient, or scattered: a copy of our own
                replaced = array = np.array(array, order="K")
            self._arrived[id(parameter)] = array
            if len(self._arrived) == self._expected:
                self._average()
            return replaced

        return hook

    def _average(self) -> None:
        arrived = self._arrived
        # The gradients travel in the order of their memory (a Linear weight's is Fortran-ordered): first
        # make sure every rank's is laid out alike (one message of a byte per parameter), else go by C order.
        order = [arrived[id(p)] for bucket in self._buckets for p in bucket.parameters]
        layouts = np.array([0 if a.flags.c_contiguous else 1 for a in order], dtype=np.int8)
        both = np.concatenate([layouts, -layouts])
        distributed.all_reduce(both, "max", check=False)
        alike = iter((both[:len(order)] == -both[len(order):]).tolist())
        for bucket in self._buckets:
            gradients = [arrived[id(p)] for p in bucket.parameters]
            flats = [_in_memory_order(g) if next(alike) else None for g in gradients]
            if bucket.flat is None:
                flat = flats[0] if flats[0] is not None else np.ascontiguousarray(gradients[0]).reshape(-1)
                distributed.all_reduce(flat, "mean", check=False)
                if flats[0] is None:
                    gradients[0][...] = flat.reshape(gradients[0].shape)
                continue
            flat, offsets = bucket.flat, bucket.offsets
            for i, (gradient, view) in enumerate(zip(gradients, flats)):
                flat[offsets[i]:offsets[i + 1]] = view if view is not None else gradient.reshape(-1)
            distributed.all_reduce(flat, "mean", check=False)
            for i, (gradient, view) in enumerate(zip(gradients, flats)):
                if view is not None:
                    view[...] = flat[offsets[i]:offsets[i + 1]]
                else:
                    gradient[...] = flat[offsets[i]:offsets[i + 1]].reshape(gradient.shape)
        arrived.clear()

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside this context, forward passes prepare backward passes that do not average the gradients:
        they accumulate in ``.grad`` on each rank, and the first backward after a forward outside the
        context averages the accumulated sum (gradient accumulation with one message per bucket)."""
        previous = self._require_sync
        self._require_sync = False
        try:
            yield
        finally:
            self._require_sync = previous

    def extra_repr(self) -> str:
        return f"world_size={self.world_size}, buckets={len(self._buckets)}"

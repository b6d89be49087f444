"""``Module`` and ``Parameter``: models as trees of layers whose parameters are found by name.

Assigning a Parameter or a Module to an attribute registers it (in assignment order) and stores it
as an ordinary attribute, so reading attributes needs no ``__getattr__`` hook and a misspelt name
raises AttributeError as usual. ``register_buffer`` does the same for a tensor that is state but not
a parameter (BatchNorm's running statistics): in ``state_dict`` when persistent, not in ``parameters()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ..dtypes import get_default_dtype
from ..engine import no_grad, note_guard, operations_watched
from ..errors import ArgumentError, DTypeError, ShapeError, TapegradError
from ..tensor import Tensor


class Parameter(Tensor):
    """A tensor that is a learnable parameter of a Module: a leaf that requires grad.

    Unless given a ``name``, it is named by its path in the model (``layers.0.weight``) as the
    modules holding it are assigned, so pictures and explanations show that path.

    Args:
        data: the initial values (converted to the default dtype if they are Python floats).
        requires_grad: False for a frozen parameter.
        name: a name to keep instead of the path.
    """

    __slots__ = ("_named_by_path",)

    def __init__(self, data: Any, requires_grad: bool = True, name: str | None = None) -> None:
        array = data.data if isinstance(data, Tensor) else np.asarray(data)
        if array.dtype.kind != "f":
            array = array.astype(get_default_dtype())
        super().__init__(array, requires_grad=requires_grad, name=name)
        self._named_by_path = name is None

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class StateDictError(TapegradError, KeyError):
    """``load_state_dict`` got missing, unexpected or wrongly shaped entries."""

    def __str__(self) -> str:
        return str(self.args[0])


class Module:
    """Base class of every layer and model: subclasses set parameters and submodules as attributes
    in ``__init__`` and compute the output in ``forward``."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameter_names", [])
        object.__setattr__(self, "_module_names", [])
        object.__setattr__(self, "_buffer_names", [])
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)

    @property
    def training(self) -> bool:
        """Whether the module is in training mode (dropout active). A compiled function whose trace
        read it traces again when it changes (see ``tg.compile``)."""
        mode = self.__dict__["_training"]
        if operations_watched():  # perhaps by an observer (tg.compile): the trace holds for this mode only
            note_guard(("training", id(self)), lambda: self.__dict__["_training"], mode)
        return mode

    @training.setter
    def training(self, mode: bool) -> None:
        self.__dict__["_training"] = bool(mode)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameter_names" not in self.__dict__:
            raise TapegradError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if name in self._buffer_names and not isinstance(value, (Parameter, Module)):
            if value is not None and not isinstance(value, Tensor):
                raise DTypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} to the buffer "
                                 f"{name!r}; expected a Tensor or None")
            object.__setattr__(self, name, value)  # stays a buffer, as in PyTorch
            return
        for registry in (self._parameter_names, self._module_names, self._buffer_names):
            if name in registry:
                registry.remove(name)
        self._non_persistent.discard(name)
        if isinstance(value, Parameter):
            self._parameter_names.append(name)
            if value._named_by_path:
                value.name = name
        elif isinstance(value, Module):
            self._module_names.append(name)
            for path, parameter in value.named_parameters():
                if parameter._named_by_path:
                    parameter.name = f"{name}.{path}"
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameter_names, self._module_names, self._buffer_names):
            if name in registry:
                registry.remove(name)
        self._non_persistent.discard(name)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register ``tensor`` as the buffer ``name``: state of the module that is not a parameter (no
        gradient, not in ``parameters()``), such as BatchNorm's running statistics.

        A persistent buffer is in ``state_dict`` under its dotted path and is loaded by
        ``load_state_dict``; a non-persistent one is not. Assigning a Tensor (or None) to the name later
        replaces the buffer and keeps it registered. ``None`` registers a buffer that is left out of
        ``state_dict`` until it is set.

        Raises:
            ArgumentError: if ``name`` is not a non-empty string without ".", or is already an attribute
                that is not a buffer.
            DTypeError: if ``tensor`` is neither a Tensor nor None.
        """
        if "_buffer_names" not in self.__dict__:
            raise TapegradError(f"{type(self).__name__}: call super().__init__() before register_buffer")
        if not isinstance(name, str) or not name or "." in name:
            raise ArgumentError(f"{type(self).__name__}.register_buffer: name={name!r}; expected a non-empty "
                                "string without '.'")
        if hasattr(self, name) and name not in self._buffer_names:
            raise ArgumentError(f"{type(self).__name__}.register_buffer: attribute {name!r} already exists")
        if tensor is not None and (not isinstance(tensor, Tensor) or isinstance(tensor, Parameter)):
            raise DTypeError(f"{type(self).__name__}.register_buffer: {name!r} is a {type(tensor).__name__}; "
                             "expected a Tensor (not a Parameter) or None")
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- the tree --------------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name in self._module_names:
            yield name, getattr(self, name)

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every submodule, depth first, with their dotted paths."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted path (``layers.0.weight``), each once."""
        seen = set()
        for path, module in self.named_modules(prefix):
            for name in module._parameter_names:
                parameter = getattr(module, name)
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    yield (f"{path}.{name}" if path else name), parameter

    def parameters(self) -> Iterator[Parameter]:
        for _, parameter in self.named_parameters():
            yield parameter

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Every buffer that is set (not None) with its dotted path (``bn.running_mean``), each once;
        with ``recurse=False`` only this module's own."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for path, module in modules:
            for name in module._buffer_names:
                buffer = getattr(module, name)
                if buffer is not None and id(buffer) not in seen:
                    seen.add(id(buffer))
                    yield (f"{path}.{name}" if path else name), buffer

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer that is set (see :meth:`named_buffers`)."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def _named_state(self) -> Iterator[tuple[str, Tensor]]:
        """What ``state_dict`` holds, in PyTorch's order: per module, its parameters then its persistent
        buffers, then its submodules'."""
        seen = set()
        for path, module in self.named_modules():
            for name in module._parameter_names + [b for b in module._buffer_names
                                                   if b not in module._non_persistent]:
                value = getattr(module, name)
                if value is not None and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{path}.{name}" if path else name), value

    # -- modes and gradients -----------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active) on this module and all submodules; returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (dropout off); returns self."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Clear every parameter's ``.grad``."""
        for parameter in self.parameters():
            parameter.grad = None

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's and persistent buffer's values, by dotted path (PyTorch's keys:
        ``0.weight``, ``bn.running_mean``, ``bn.num_batches_tracked``)."""
        return {name: value.data.copy() for name, value in self._named_state()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy values into the parameters and persistent buffers (in place, so optimizers stay attached
        to them; each keeps its dtype).

        Raises:
            StateDictError: for missing or unexpected keys (when ``strict``), or wrong shapes.
        """
        own = dict(self._named_state())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise StateDictError(f"load_state_dict into {type(self).__name__}: missing keys {missing}, "
                                 f"unexpected keys {unexpected}")
        for name, parameter in own.items():
            if name not in state:
                continue
            value = np.asarray(state[name].data if isinstance(state[name], Tensor) else state[name])
            if value.shape != parameter.shape:
                raise ShapeError(f"load_state_dict: '{name}' has shape {value.shape} in the state but "
                                 f"{parameter.shape} in the model")
            with no_grad():
                parameter[...] = value.astype(parameter.dtype, copy=False)

    # -- printing --------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The layer's settings, shown inside its parentheses in ``repr``."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


class ModuleList(Module):
    """A list of modules, registered as ``0``, ``1``, ...; indexing and iteration like a list."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        for module in modules or []:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        setattr(self, str(len(self._module_names)), module)
        return self

    def __len__(self) -> int:
        return len(self._module_names)

    def __getitem__(self, index: int) -> Module:
        return getattr(self, self._module_names[index])

    def __iter__(self) -> Iterator[Module]:
        return self.children()


class Sequential(ModuleList):
    """Modules applied one after another; they are named ``0``, ``1``, ... (``layers.0.weight``)."""

    def __init__(self, *modules: Module) -> None:
        super().__init__(modules)

    def forward(self, x: Any) -> Any:
        for module in self.children():
            x = module(x)
        return x

"""Optimizers with PyTorch's update rules: SGD, Adam, AdamW, RMSprop, Adagrad.

Parameters may be split into groups with their own hyperparameters
(``SGD([{"params": a, "lr": 0.1}, {"params": b}], lr=0.01)``). Updates write into the parameters'
memory (no temporaries the size of a weight beyond NumPy's own) under ``no_grad``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..engine import no_grad
from ..errors import ArgumentError, TapegradError
from ..ops.shape import real_arg
from ..tensor import Tensor


class Optimizer:
    """Base class: holds ``param_groups`` and per-parameter ``state``; subclasses define ``_update``."""

    defaults: dict[str, Any]

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}  # by id of the parameter
        groups = list(params)
        if not groups:
            raise ArgumentError(f"{type(self).__name__}: got an empty list of parameters")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones take the defaults)."""
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor) or not p.requires_grad or not p.is_leaf:
                raise TapegradError(f"{type(self).__name__}: can only optimize leaf tensors that require grad")
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise ArgumentError(f"{type(self).__name__}: unknown hyperparameters {sorted(unknown)}")
        group = {**self.defaults, **group, "params": params}
        for name, value in group.items():
            _check_hyperparameter(type(self).__name__, name, value)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients (to None, or to zeros in place)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    def step(self) -> None:
        """Update every parameter that has a gradient, in place under ``no_grad`` (so a graph that saved
        a parameter's value sees the change and raises InPlaceError if it still needs the old one)."""
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        state = self.state.setdefault(id(p), {})
                        scale = self._shrink(group)
                        if scale != 1.0:
                            p *= scale
                        if p.dtype.kind == "c":  # issue 18: a complex parameter as its real and imaginary parts
                            p -= self._update(_as_reals(p.data), _as_reals(p.grad.data), state, group).view(p.dtype)
                        else:
                            p -= self._update(p.data, p.grad.data, state, group)

    def _shrink(self, group: dict[str, Any]) -> float:
        """The factor that multiplies the parameters before each update (decoupled weight decay); 1 for none."""
        return 1.0

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> np.ndarray:
        """The step to subtract from the parameter ``p`` (read only) given its gradient ``g``; updates ``state``."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The hyperparameters and per-parameter state (moments, steps), parameters by position."""
        index = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[key]: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                 for key, s in self.state.items() if key in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (for the same parameters, in the same order)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)):
            raise ArgumentError(f"{type(self).__name__}.load_state_dict: the saved groups do not match this "
                             "optimizer's parameter groups")
        by_position = {}
        for saved, own in zip(groups, self.param_groups):
            for position, p in zip(saved["params"], own["params"]):
                by_position[int(position)] = p
            own.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {}
        for position, values in state_dict["state"].items():
            p = by_position[int(position)]
            dtype = np.finfo(p.dtype).dtype  # a complex parameter's state is real (see _as_reals)
            self.state[id(p)] = {k: (np.array(v, dtype=dtype) if isinstance(v, np.ndarray) else v)
                                 for k, v in values.items()}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for number, group in enumerate(self.param_groups):
            settings = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {number}: {len(group['params'])} tensors, {settings}")
        return "\n".join(lines) + "\n)"


# The range of each hyperparameter (as torch.optim checks them): low, high, and whether high is excluded.
_RANGES = {"lr": (0.0, math.inf, False), "momentum": (0.0, math.inf, False), "dampening": (0.0, math.inf, False),
           "weight_decay": (0.0, math.inf, False), "eps": (0.0, math.inf, False), "lr_decay": (0.0, math.inf, False),
           "initial_accumulator_value": (0.0, math.inf, False), "alpha": (0.0, 1.0, False),
           "betas": (0.0, 1.0, True)}


def _check_hyperparameter(optimizer: str, name: str, value: Any) -> None:
    """Raise ArgumentError naming ``optimizer`` and ``name`` if ``value`` is out of its range."""
    if name not in _RANGES:
        return
    low, high, high_open = _RANGES[name]
    if name != "betas":
        real_arg(value, optimizer, name, low, high)
    elif not (isinstance(value, tuple) and len(value) == 2):
        raise ArgumentError(f"{optimizer}: betas={value!r:.60}; expected a pair of numbers in [0, 1)")
    else:
        for beta in value:
            real_arg(beta, optimizer, "betas", low, high, high_open=high_open)


def _as_reals(array: np.ndarray) -> np.ndarray:
    """A complex array as real numbers, each entry's real and imaginary parts side by side along the last axis
    (PyTorch's ``view_as_real``, flattened): the optimizers update a complex parameter as the pairs of reals it
    is, as PyTorch's do, with its gradient ``dL/dRe + i dL/dIm`` as their gradients."""
    return np.ascontiguousarray(array).view(np.finfo(array.dtype).dtype)


def _decayed(g: np.ndarray, p: np.ndarray, weight_decay: float) -> np.ndarray:
    return g + weight_decay * p if weight_decay else g


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (heavy ball or Nesterov), dampening and
    L2 weight decay, exactly as ``torch.optim.SGD``."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ArgumentError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def _update(self, p, g, state, group):
        g = _decayed(g, p, group["weight_decay"])
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, copy=True)
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        return group["lr"] * g


class Adam(Optimizer):
    """Adam (Kingma and Ba), with L2 weight decay added to the gradient, as ``torch.optim.Adam``."""

    decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

    def _shrink(self, group):
        return 1 - group["lr"] * group["weight_decay"] if self.decoupled else 1.0

    def _update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        if not self.decoupled:
            g = _decayed(g, p, group["weight_decay"])
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))
        state["step"] += 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * (g * g)
        bias1 = 1 - beta1 ** state["step"]
        bias2 = 1 - beta2 ** state["step"]
        denominator = np.sqrt(v) / math.sqrt(bias2) + group["eps"]
        return (group["lr"] / bias1) * (m / denominator)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), as ``torch.optim.AdamW``."""

    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum, as ``torch.optim.RMSprop``."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                                  "momentum": momentum, "centered": centered})

    def _update(self, p, g, state, group):
        g = _decayed(g, p, group["weight_decay"])
        alpha = group["alpha"]
        if not state:
            state.update(step=0, square_avg=np.zeros_like(p))
            if group["momentum"]:
                state["momentum_buffer"] = np.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p)
        state["step"] += 1
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * (g * g)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg *= alpha
            grad_avg += (1 - alpha) * g
            average = np.sqrt(square_avg - grad_avg * grad_avg) + group["eps"]
        else:
            average = np.sqrt(square_avg) + group["eps"]
        if group["momentum"]:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += g / average
            return group["lr"] * buf
        return group["lr"] * (g / average)


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "eps": eps})

    def _update(self, p, g, state, group):
        g = _decayed(g, p, group["weight_decay"])
        if not state:
            state.update(step=0, sum=np.full_like(p, group["initial_accumulator_value"]))
        state["step"] += 1
        rate = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += g * g
        return rate * (g / (np.sqrt(state["sum"]) + group["eps"]))


def clip_grad_norm_(parameters: Iterable[Tensor], max_norm: float, norm_type: float = 2.0) -> float:
    """Scale the gradients in place so that their joint norm is at most ``max_norm``.

    Returns:
        The norm of all gradients together before clipping.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(g.data))) for g in grads)
    else:
        total = float(sum(np.sum(np.abs(g.data) ** norm_type) for g in grads) ** (1 / norm_type))
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        with no_grad():
            for g in grads:
                g *= scale
    return total

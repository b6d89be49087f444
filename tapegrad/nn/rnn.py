"""Recurrent layers with PyTorch's arguments, parameter names and layouts: RNN, LSTM, GRU and their cells.

Each layer ``l`` and direction holds ``weight_ih_l{l}`` (gates * hidden, input), ``weight_hh_l{l}``
(gates * hidden, hidden) and, with ``bias``, ``bias_ih_l{l}`` and ``bias_hh_l{l}`` (the reverse
direction's end in ``_reverse``), gates stacked in PyTorch's order (LSTM: i, f, g, o; GRU: r, z, n),
so a PyTorch ``state_dict`` loads as it is. Every parameter starts uniform in ``±1/sqrt(hidden_size)``.
``device`` is accepted for PyTorch's signature (tapegrad computes with NumPy on the CPU).

Each layer and direction runs as one matrix product for the input projection of every time step, then
one primitive for the recurrence (tapegrad/ops/rnn.py: ``rnn``, ``gru``, ``lstm``), whose backward pass
is one backward recurrence: time and memory linear in the sequence length. The cells are the same
primitives over a sequence of one step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functions as F
from ..creation import as_tensor, rand, zeros
from ..dtypes import get_default_dtype
from ..errors import ArgumentError, ShapeError
from ..ops import rnn as R
from ..ops.shape import int_arg, real_arg, shown
from ..tensor import Tensor, apply
from . import init
from .module import Module, Parameter

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
_NONLINEARITIES = ("tanh", "relu")


def _positive(value: Any, layer: str, arg: str, minimum: int = 1) -> int:
    number = int_arg(value, layer, arg)
    if number < minimum:
        raise ArgumentError(f"{layer}: {arg}={shown(value)}; expected an integer of at least {minimum}")
    return number


def _dropout_mask(shape: tuple[int, ...], p: float, dtype: Any) -> Tensor:
    """A mask of ``shape`` that keeps each entry with probability ``1 - p``, scaled by ``1 / (1 - p)``."""
    keep = rand(*shape, dtype=np.float64) >= p  # as nn.Dropout draws: one seeded draw per call
    return keep.astype(dtype) * (1 / (1 - p) if p < 1 else 0.0)


def _project(x: Tensor, w_ih: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ w_ih.T + bias`` for every time step of ``x`` (time, batch, input) in one matrix product."""
    steps, batch, size = x.shape
    projected = x.reshape(steps * batch, size) @ w_ih.T
    if bias is not None:
        projected = projected + bias
    return projected.reshape(steps, batch, w_ih.shape[0])


def _rnn_sequence(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
                  nonlinearity: str) -> tuple[Tensor, Tensor]:
    """One direction of one Elman RNN layer over ``x`` (time, batch, input): the outputs and h_n."""
    projected = _project(x, w_ih, None if b_ih is None else b_ih + b_hh)
    outputs = apply(R.rnn, projected, w_hh, h0, nonlinearity=nonlinearity)
    return outputs, outputs[-1]


def _gru_sequence(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
                  b_hh: Tensor | None) -> tuple[Tensor, Tensor]:
    """One direction of one GRU layer over ``x`` (time, batch, input): the outputs and h_n."""
    projected = _project(x, w_ih, b_ih)
    if b_hh is None:  # bias=False: gh_n = h @ w_hn.T exactly (adding zeros changes nothing)
        b_hh = zeros(w_hh.shape[0], dtype=w_hh.dtype)
    outputs = apply(R.gru, projected, w_hh, b_hh, h0)[0]
    return outputs, outputs[-1]


def _lstm_sequence(x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
                   b_hh: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """One direction of one LSTM layer over ``x`` (time, batch, input): the outputs, h_n and c_n."""
    out = apply(R.lstm, _project(x, w_ih, None if b_ih is None else b_ih + b_hh), w_hh, h0, c0)
    outputs = out[0]
    return outputs, outputs[-1], out[1, -1]


class RNNBase(Module):
    """What RNN, LSTM and GRU share: arguments, parameters, the checks of inputs and states, the layers.

    Args:
        mode: ``"RNN"``, ``"LSTM"`` or ``"GRU"``.
        input_size: features of each input step.
        hidden_size: features of the hidden state.
        num_layers: stacked layers, each taking the previous one's output.
        bias: whether the layers have ``bias_ih`` and ``bias_hh``.
        batch_first: input and output as (batch, time, features) instead of (time, batch, features);
            the states keep (layers * directions, batch, hidden).
        dropout: in training mode, dropout with this probability on the output of every layer but the last.
        bidirectional: add a layer that reads the sequence backwards; outputs are concatenated.
        nonlinearity: ``"tanh"`` or ``"relu"`` (RNN only).
        dtype: the parameters' dtype (the default dtype if None).

    Raises:
        ArgumentError: for a size that is not a positive integer, a dropout outside [0, 1] or an
            unknown nonlinearity.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 nonlinearity: str = "tanh", dtype: Any = None) -> None:
        super().__init__()
        name = mode
        self.mode = mode
        self.input_size = _positive(input_size, name, "input_size", 0)
        self.hidden_size = _positive(hidden_size, name, "hidden_size")
        self.num_layers = _positive(num_layers, name, "num_layers")
        self.dropout = real_arg(dropout, name, "dropout", 0.0, 1.0)
        if nonlinearity not in _NONLINEARITIES:
            raise ArgumentError(f"{name}: nonlinearity={shown(nonlinearity)}; expected 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        directions = 2 if bidirectional else 1
        gates = _GATES[mode] * self.hidden_size
        dtype = dtype or get_default_dtype()
        for layer in range(self.num_layers):
            size = self.input_size if layer == 0 else self.hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                setattr(self, f"weight_ih_l{layer}{suffix}", Parameter(np.empty((gates, size), dtype)))
                setattr(self, f"weight_hh_l{layer}{suffix}", Parameter(np.empty((gates, self.hidden_size), dtype)))
                if self.bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", Parameter(np.empty(gates, dtype)))
                    setattr(self, f"bias_hh_l{layer}{suffix}", Parameter(np.empty(gates, dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter uniform in ``±1/sqrt(hidden_size)`` (PyTorch's initialisation)."""
        bound = 1 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            init.uniform_(parameter, -bound, bound)

    def _weights(self, layer: int, direction: int) -> tuple[Any, ...]:
        suffix = f"l{layer}" + ("_reverse" if direction else "")
        biases = (getattr(self, f"bias_ih_{suffix}"), getattr(self, f"bias_hh_{suffix}")) if self.bias else (None, None)
        return (getattr(self, f"weight_ih_{suffix}"), getattr(self, f"weight_hh_{suffix}")) + biases

    def _check_input(self, x: Any) -> tuple[Tensor, bool]:
        """The input as (time, batch, features), and whether it came with a batch axis."""
        x = x if isinstance(x, Tensor) else as_tensor(x)
        layout = "(batch, time, input_size)" if self.batch_first else "(time, batch, input_size)"
        if x.ndim not in (2, 3):
            raise ShapeError(f"{self._name()}: input of shape {x.shape} has {x.ndim} dimensions; expected "
                             f"{layout} or, unbatched, (time, input_size)")
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{self._name()}: input of shape {x.shape} has {x.shape[-1]} features in its last "
                             f"axis; expected input_size={self.input_size}")
        batched = x.ndim == 3
        if not batched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.swapaxes(0, 1)
        if x.shape[0] == 0:
            raise ShapeError(f"{self._name()}: input of shape {x.shape} has no time steps")
        return x, batched

    def _check_state(self, state: Any, what: str, batch: int, batched: bool, dtype: Any) -> Tensor:
        """An initial state (zeros if None) as (layers * directions, batch, hidden)."""
        count = self.num_layers * (2 if self.bidirectional else 1)
        if state is None:
            return zeros(count, batch, self.hidden_size, dtype=dtype)
        state = state if isinstance(state, Tensor) else as_tensor(state)
        expected = (count, batch, self.hidden_size) if batched else (count, self.hidden_size)
        if state.shape != expected:
            raise ShapeError(f"{self._name()}: {what} has shape {state.shape}; expected {expected} (num_layers * "
                             f"directions, {'batch, ' if batched else ''}hidden_size) for "
                             f"{'a ' if batched else 'an un'}batched input")
        return state if batched else state.unsqueeze(1)

    def _name(self) -> str:
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size})"

    def _run(self, x: Any, states: list[Any]) -> tuple[Tensor, list[Tensor]]:
        """The output and the final states (each (layers * directions, batch, hidden)), as the caller gets them."""
        x, batched = self._check_input(x)
        batch = x.shape[1]
        dtype = np.result_type(x.dtype, self.weight_ih_l0.dtype)
        names = ("h_0", "c_0")
        states = [self._check_state(s, names[k], batch, batched, dtype) for k, s in enumerate(states)]
        directions = 2 if self.bidirectional else 1
        finals: list[list[Tensor]] = [[] for _ in states]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                initial = [s[index] for s in states]
                weights = self._weights(layer, direction)
                sequence = layer_input.flip(0) if direction else layer_input
                out, last = self._direction(sequence, initial, weights)
                outputs.append(out.flip(0) if direction else out)
                for k, value in enumerate(last):
                    finals[k].append(value)
            layer_input = outputs[0] if directions == 1 else F.concatenate(outputs, axis=-1)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                layer_input = layer_input * _dropout_mask(layer_input.shape, self.dropout, layer_input.dtype)
        finals_stacked = [F.stack(values, axis=0) for values in finals]
        output = layer_input
        if not batched:
            output = output[:, 0]
            finals_stacked = [s[:, 0] for s in finals_stacked]
        elif self.batch_first:
            output = output.swapaxes(0, 1)
        return output, finals_stacked

    def _direction(self, x: Tensor, initial: list[Tensor], weights: tuple[Any, ...]) -> tuple[Tensor, list[Tensor]]:
        """One direction of one layer over ``x`` (time, batch, features) from the initial states."""
        w_ih, w_hh, b_ih, b_hh = weights
        if self.mode == "LSTM":
            out, h, c = _lstm_sequence(x, initial[0], initial[1], w_ih, w_hh, b_ih, b_hh)
            return out, [h, c]
        if self.mode == "GRU":
            out, h = _gru_sequence(x, initial[0], w_ih, w_hh, b_ih, b_hh)
        else:
            out, h = _rnn_sequence(x, initial[0], w_ih, w_hh, b_ih, b_hh, self.nonlinearity)
        return out, [h]

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.mode == "RNN" and self.nonlinearity != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text


class RNN(RNNBase):
    """An Elman RNN: ``h_t = tanh(x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh)`` (or relu), per layer.

    ``rnn(input, h_0=None)`` takes input (time, batch, input_size), or (batch, time, input_size) with
    ``batch_first``, or unbatched (time, input_size); ``h_0`` (num_layers * directions, batch, hidden_size)
    (unbatched: without the batch axis), zeros if None.

    Returns:
        ``output, h_n``: the last layer's hidden state at every step (time, batch, directions * hidden_size)
        (batch first with ``batch_first``) and every layer's final hidden state, shaped as ``h_0``.

    Raises:
        ShapeError: for an input of the wrong rank or feature count, or a state of the wrong shape.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("RNN", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         nonlinearity, dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:  # noqa: A002 (PyTorch's name)
        output, (h_n,) = self._run(input, [hx])
        return output, h_n


class GRU(RNNBase):
    """A gated recurrent unit, gates in PyTorch's order r, z, n:
    ``r, z = sigmoid(W_i[rz] x + b_i[rz] + W_h[rz] h + b_h[rz])``, ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
    ``h' = (1 - z) * n + z * h``.

    ``gru(input, h_0=None)``: shapes as :class:`RNN`.

    Returns:
        ``output, h_n`` as :class:`RNN`.

    Raises:
        ShapeError: for an input of the wrong rank or feature count, or a state of the wrong shape.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:  # noqa: A002 (PyTorch's name)
        output, (h_n,) = self._run(input, [hx])
        return output, h_n


class LSTM(RNNBase):
    """A long short-term memory layer, gates in PyTorch's order i, f, g, o:
    ``c' = f * c + i * g``, ``h' = o * tanh(c')``.

    ``lstm(input, (h_0, c_0)=None)``: input as :class:`RNN`; ``h_0`` and ``c_0`` each
    (num_layers * directions, batch, hidden_size) (unbatched: without the batch axis), zeros if None.
    ``proj_size`` (LSTM with projections) is not supported.

    Returns:
        ``output, (h_n, c_n)``: the last layer's hidden state at every step, and every layer's final
        hidden and cell states.

    Raises:
        ArgumentError: for a ``proj_size`` other than 0, or ``hx`` that is not a pair.
        ShapeError: for an input of the wrong rank or feature count, or a state of the wrong shape.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device: Any = None, dtype: Any = None) -> None:
        if proj_size != 0:
            raise ArgumentError(f"LSTM: proj_size={shown(proj_size)}; LSTM with projections is not supported "
                                "(only proj_size=0)")
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:  # noqa: A002
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise ArgumentError(f"{self._name()}: hx={shown(hx)}; expected a pair (h_0, c_0)")
        output, (h_n, c_n) = self._run(input, list(hx))
        return output, (h_n, c_n)


# -- cells ------------------------------------------------------------------------------------------

class _CellBase(Module):
    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool, nonlinearity: str,
                 dtype: Any) -> None:
        super().__init__()
        name = f"{mode}Cell"
        self.input_size = _positive(input_size, name, "input_size", 0)
        self.hidden_size = _positive(hidden_size, name, "hidden_size")
        if nonlinearity not in _NONLINEARITIES:
            raise ArgumentError(f"{name}: nonlinearity={shown(nonlinearity)}; expected 'tanh' or 'relu'")
        self.nonlinearity, self.bias = nonlinearity, bool(bias)
        gates = _GATES[mode] * self.hidden_size
        dtype = dtype or get_default_dtype()
        self.weight_ih = Parameter(np.empty((gates, self.input_size), dtype))
        self.weight_hh = Parameter(np.empty((gates, self.hidden_size), dtype))
        if self.bias:
            self.bias_ih = Parameter(np.empty(gates, dtype))
            self.bias_hh = Parameter(np.empty(gates, dtype))
        else:
            self.bias_ih = self.bias_hh = None
        bound = 1 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            init.uniform_(parameter, -bound, bound)

    def _name(self) -> str:
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size})"

    def _check(self, x: Any, states: list[Any]) -> tuple[Tensor, list[Tensor], bool]:
        x = x if isinstance(x, Tensor) else as_tensor(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ShapeError(f"{self._name()}: input of shape {x.shape}; expected (batch, {self.input_size}) or, "
                             f"unbatched, ({self.input_size},)")
        batched = x.ndim == 2
        if not batched:
            x = x.unsqueeze(0)
        dtype = np.result_type(x.dtype, self.weight_ih.dtype)
        checked = []
        for what, state in zip(("h", "c"), states):
            if state is None:
                checked.append(zeros(x.shape[0], self.hidden_size, dtype=dtype))
                continue
            state = state if isinstance(state, Tensor) else as_tensor(state)
            expected = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
            if state.shape != expected:
                raise ShapeError(f"{self._name()}: {what} has shape {state.shape}; expected {expected} for an input "
                                 f"of shape {x.shape if batched else x.shape[1:]}")
            checked.append(state if batched else state.unsqueeze(0))
        return x, checked, batched

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """One step of :class:`RNN`: ``cell(input, h=None)`` with input (batch, input_size) or (input_size,).

    Returns:
        The next hidden state (batch, hidden_size) (unbatched: (hidden_size,)).

    Raises:
        ShapeError: for an input or state of the wrong shape.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("RNN", input_size, hidden_size, bias, nonlinearity, dtype)

    def forward(self, input: Any, hx: Any = None) -> Tensor:  # noqa: A002 (PyTorch's name)
        x, (h,), batched = self._check(input, [hx])
        _, h = _rnn_sequence(x.unsqueeze(0), h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                             self.nonlinearity)
        return h if batched else h[0]


class GRUCell(_CellBase):
    """One step of :class:`GRU`: ``cell(input, h=None)``.

    Returns:
        The next hidden state (batch, hidden_size) (unbatched: (hidden_size,)).

    Raises:
        ShapeError: for an input or state of the wrong shape.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, bias, "tanh", dtype)

    def forward(self, input: Any, hx: Any = None) -> Tensor:  # noqa: A002 (PyTorch's name)
        x, (h,), batched = self._check(input, [hx])
        _, h = _gru_sequence(x.unsqueeze(0), h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else h[0]


class LSTMCell(_CellBase):
    """One step of :class:`LSTM`: ``cell(input, (h, c)=None)``.

    Returns:
        ``(h', c')``, each (batch, hidden_size) (unbatched: (hidden_size,)).

    Raises:
        ArgumentError: for ``hx`` that is not a pair. ShapeError: for an input or state of the wrong shape.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, bias, "tanh", dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:  # noqa: A002 (PyTorch's name)
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise ArgumentError(f"{self._name()}: hx={shown(hx)}; expected a pair (h, c)")
        x, (h, c), batched = self._check(input, list(hx))
        _, h, c = _lstm_sequence(x.unsqueeze(0), h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if batched else (h[0], c[0])

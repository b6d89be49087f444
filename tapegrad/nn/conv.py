"""Convolution layers: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, with PyTorch's constructor
arguments, attribute names (``weight``, ``bias``), weight layouts and default initialisation. ``device`` is
accepted for PyTorch's signature (tapegrad computes with NumPy on the CPU)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..dtypes import get_default_dtype
from ..errors import ArgumentError, TapegradError
from ..ops.shape import int_arg, shown
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ints(value: Any, dims: int, layer: str, arg: str, minimum: int) -> tuple[int, ...]:
    """``value`` (an int or ``dims`` ints) as a tuple of ints of at least ``minimum``.

    Raises:
        ArgumentError: naming ``layer`` and ``arg`` for anything else.
    """
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if len(items) != dims:
        raise ArgumentError(f"{layer}: {arg}={shown(value)}; expected an int or {dims} ints")
    ints = tuple(int_arg(v, layer, arg) for v in items)
    if any(v < minimum for v in ints):
        raise ArgumentError(f"{layer}: {arg}={shown(value)}; expected integers of at least {minimum}")
    return ints


class _ConvNd(Module):
    """What the convolution layers share: checked settings, the weight and bias, their initialisation."""

    dims = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any, groups: int, bias: bool, padding_mode: str, dtype: Any,
                 output_padding: Any = 0) -> None:
        super().__init__()
        layer = type(self).__name__
        dims = self.dims
        in_channels = int_arg(in_channels, layer, "in_channels")
        out_channels = int_arg(out_channels, layer, "out_channels")
        groups = int_arg(groups, layer, "groups")
        if in_channels < 1 or out_channels < 1 or groups < 1:
            raise ArgumentError(f"{layer}: in_channels={in_channels}, out_channels={out_channels} and "
                                f"groups={groups}; expected positive integers")
        if in_channels % groups or out_channels % groups:
            raise ArgumentError(f"{layer}: groups={groups} must divide in_channels={in_channels} and "
                                f"out_channels={out_channels}")
        if padding_mode != "zeros":
            if padding_mode in PADDING_MODES:
                raise ArgumentError(f"{layer}: padding_mode={padding_mode!r} is not supported; only 'zeros' is")
            raise ArgumentError(f"{layer}: padding_mode={shown(padding_mode)}; expected one of {PADDING_MODES} "
                                "(only 'zeros' is supported)")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _ints(kernel_size, dims, layer, "kernel_size", 1)
        self.stride = _ints(stride, dims, layer, "stride", 1)
        self.dilation = _ints(dilation, dims, layer, "dilation", 1)
        if isinstance(padding, str) and not self.transposed:
            if padding not in ("same", "valid"):
                raise ArgumentError(f"{layer}: padding={padding!r}; expected 'same', 'valid', an int or {dims} ints")
            if padding == "same" and self.stride != (1,) * dims:
                raise ArgumentError(f"{layer}: padding='same' needs stride 1, got stride={self.stride}")
            self.padding: Any = padding
        else:
            self.padding = _ints(padding, dims, layer, "padding", 0)
        self.output_padding = _ints(output_padding, dims, layer, "output_padding", 0)
        self.padding_mode = padding_mode
        dtype = dtype or get_default_dtype()
        if self.transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype))
        # PyTorch's reset_parameters: kaiming_uniform with a=sqrt(5), i.e. uniform in +-1/sqrt(fan_in),
        # fan_in = weight.shape[1] * prod(kernel) (for the transpose too, as PyTorch computes it)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = None
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype))
            fan_in = shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def _run(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        try:
            return self._run(x)
        except TapegradError as error:  # the layer's name and settings before the function's message
            raise type(error)(f"{self!r}: {error}") from None

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.dims:
            text += f", padding={self.padding!r}"
        if self.dilation != (1,) * self.dims:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.dims:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class _Conv(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype)

    def _run(self, x: Tensor) -> Tensor:
        function = F.conv1d if self.dims == 1 else F.conv2d
        return function(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class _ConvTranspose(_ConvNd):
    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype, output_padding)

    def _run(self, x: Tensor, output_size: Any = None) -> Tensor:
        function = F.conv_transpose1d if self.dims == 1 else F.conv_transpose2d
        output_padding = self.output_padding if output_size is None else self._output_padding(x, output_size)
        return function(x, self.weight, self.bias, self.stride, self.padding, output_padding, self.groups,
                         self.dilation)

    def forward(self, input: Any, output_size: Any = None) -> Tensor:  # noqa: A002 (PyTorch's name)
        """The transposed convolution of ``input``; ``output_size`` (the spatial sizes, or the whole output
        shape) picks the output_padding that gives that size, instead of the layer's ``output_padding``, as
        PyTorch does.

        Raises:
            ArgumentError: for an ``output_size`` of another length, or a size outside the range of sizes
                this input can give, ``(n - 1) stride - 2 padding + dilation (kernel - 1) + 1`` to
                ``stride - 1`` more (naming that range).
            ShapeError, DTypeError: as the layer's function.
        """
        try:
            return self._run(input, output_size)
        except TapegradError as error:  # the layer's name and settings before the function's message
            raise type(error)(f"{self!r}: {error}") from None

    def _output_padding(self, x: Any, output_size: Any) -> tuple[int, ...]:
        dims = self.dims
        shape = tuple(getattr(x, "shape", np.shape(x)))
        sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,)
        lead = len(shape) - dims  # the batch and channel axes (the channel axis alone unbatched)
        if len(sizes) == lead + dims:
            sizes = sizes[lead:]
        if len(sizes) != dims or len(shape) not in (dims + 1, dims + 2):
            raise ArgumentError(f"output_size={shown(output_size)} for an input of shape {shape}; expected "
                                f"{dims} spatial sizes (or the whole output shape)")
        sizes = tuple(int_arg(n, "output_size", "each size") for n in sizes)
        smallest = tuple((n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                         zip(shape[-dims:], self.stride, self.padding, self.dilation, self.kernel_size))
        largest = tuple(low + s - 1 for low, s in zip(smallest, self.stride))
        if any(not low <= n <= high for n, low, high in zip(sizes, smallest, largest)):
            raise ArgumentError(f"output_size={shown(output_size)}: the spatial size {sizes} is not one this input "
                                f"of shape {shape} gives; expected sizes from {smallest} to {largest}")
        return tuple(n - low for n, low in zip(sizes, smallest))


class Conv1d(_Conv):
    """A 1-D convolution layer: input (batch, in_channels, length) or (in_channels, length); ``weight``
    (out_channels, in_channels // groups, kernel_size), ``bias`` (out_channels,). Arguments as PyTorch's
    (``padding_mode`` 'zeros' only); initialised as PyTorch does, from tapegrad's seeded generator.

    Raises (on construction):
        ArgumentError: for non-positive channels, groups that do not divide them, bad kernel sizes,
            strides, paddings or dilations, or a padding_mode other than 'zeros'.
    """

    dims = 1


class Conv2d(_Conv):
    """A 2-D convolution layer: input (batch, in_channels, height, width) or without the batch axis;
    ``weight`` (out_channels, in_channels // groups, kh, kw), ``bias`` (out_channels,). Arguments as
    PyTorch's (``padding_mode`` 'zeros' only); initialised as PyTorch does (kaiming_uniform with
    a=sqrt(5), bias uniform in +-1/sqrt(fan_in)), from tapegrad's seeded generator.

    Raises (on construction):
        ArgumentError: for non-positive channels, groups that do not divide them, bad kernel sizes,
            strides, paddings or dilations, or a padding_mode other than 'zeros'.
    """

    dims = 2


class ConvTranspose1d(_ConvTranspose):
    """A transposed 1-D convolution layer: ``weight`` (in_channels, out_channels // groups, kernel_size),
    ``bias`` (out_channels,); PyTorch's arguments, order and initialisation.

    Raises (on construction):
        ArgumentError: as :class:`Conv1d`.
    """

    dims = 1


class ConvTranspose2d(_ConvTranspose):
    """A transposed 2-D convolution layer: ``weight`` (in_channels, out_channels // groups, kh, kw),
    ``bias`` (out_channels,); PyTorch's arguments (``output_padding`` picks among the output sizes a
    strided convolution maps to one size), order and initialisation.

    Raises (on construction):
        ArgumentError: as :class:`Conv2d`.
    """

    dims = 2

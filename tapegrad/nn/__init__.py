"""Neural-network building blocks: modules, layers, losses, initialisation."""

from __future__ import annotations

from . import functional, init
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .layers import (
                     ACTIVATIONS,
                     ELU,
                     MLP,
                     Dropout,
                     Flatten,
                     Identity,
                     LeakyReLU,
                     Linear,
                     LogSoftmax,
                     Maxout,
                     PReLU,
                     ReLU,
                     Sigmoid,
                     Softmax,
                     Softplus,
                     Tanh,
)
from .losses import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, MultiMarginLoss, NLLLoss, SVMLoss
from .module import Module, ModuleList, Parameter, Sequential, StateDictError
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = [
    "functional", "init", "Module", "ModuleList", "Parameter", "Sequential", "StateDictError",
    "Linear", "Identity", "Flatten", "Dropout", "ReLU", "LeakyReLU", "ELU", "PReLU", "Sigmoid", "Tanh",
    "Softplus", "Maxout", "Softmax", "LogSoftmax", "MLP", "ACTIVATIONS",
    "CrossEntropyLoss", "NLLLoss", "SVMLoss", "MultiMarginLoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss",
    "HuberLoss",
    "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
]

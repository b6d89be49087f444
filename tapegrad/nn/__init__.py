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

# pooling and normalisation (issue 14)
from .normalization import BatchNorm1d, BatchNorm2d, Dropout2d, GroupNorm, LayerNorm  # noqa: I001
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = [
    "functional", "init", "Module", "ModuleList", "Parameter", "Sequential", "StateDictError",
    "Linear", "Identity", "Flatten", "Dropout", "ReLU", "LeakyReLU", "ELU", "PReLU", "Sigmoid", "Tanh",
    "Softplus", "Maxout", "Softmax", "LogSoftmax", "MLP", "ACTIVATIONS",
    "CrossEntropyLoss", "NLLLoss", "SVMLoss", "MultiMarginLoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss",
    "HuberLoss",
    "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "functional_call",  # issue 17 (imported at the end)
]
__all__ += ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
            "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Dropout2d"]

# activations, embedding, attention and the transformer encoder (issue 14)
from .activation import GELU, Hardtanh, LogSigmoid, SiLU, Softsign  # noqa: E402
from .embedding import Embedding  # noqa: E402
from .transformer import MultiheadAttention, TransformerEncoder, TransformerEncoderLayer  # noqa: E402

__all__ += ["GELU", "SiLU", "Hardtanh", "Softsign", "LogSigmoid", "Embedding", "MultiheadAttention",
            "TransformerEncoderLayer", "TransformerEncoder"]

# calling a module with the parameters given for the call (issue 17: per-example gradients with tg.vmap)
# issue 16: tg.nn.parallel.DistributedDataParallel (imports no MPI)
from . import parallel  # noqa: E402
from .stateless import functional_call  # noqa: E402

__all__ += ["parallel"]

# PyTorch's signatures throughout tg.nn (the familiar pass): the activations, losses and layers that
# PyTorch tutorials and small CNN/transformer scripts use
from .layers import (  # noqa: E402
                     CELU,
                     GLU,
                     SELU,
                     CosineSimilarity,
                     Hardsigmoid,
                     Hardswish,
                     Mish,
                     PairwiseDistance,
                     ReLU6,
                     Softmax2d,
                     Softmin,
                     Unflatten,
)
from .losses import BCELoss, KLDivLoss, SmoothL1Loss  # noqa: E402
from .normalization import RMSNorm  # noqa: E402

__all__ += ["ReLU6", "SELU", "CELU", "Mish", "Hardsigmoid", "Hardswish", "GLU", "Softmin", "Softmax2d", "Unflatten",
            "BCELoss", "SmoothL1Loss", "KLDivLoss", "CosineSimilarity", "PairwiseDistance", "RMSNorm"]

"""Data: datasets, batching, and the bundled and local dataset loaders."""

from __future__ import annotations

from . import datasets
from .dataset import DataLoader, Dataset, Subset, TensorDataset, random_split

__all__ = ["datasets", "Dataset", "TensorDataset", "Subset", "DataLoader", "random_split"]

# issue 16: each rank's share of a dataset
from .sampler import DistributedSampler  # noqa: E402

__all__ += ["DistributedSampler"]

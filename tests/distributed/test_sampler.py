"""``tg.data.DistributedSampler`` against PyTorch's (issue 16): the same shards, padding and dropping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler as TorchSampler

import tapegrad as tg
from tapegrad.data import DataLoader, DistributedSampler, TensorDataset


@pytest.mark.parametrize("drop_last", [False, True])
def test_unshuffled_shards_are_pytorchs(drop_last):
    for n in range(0, 14):
        for replicas in range(1, 6):
            for rank in range(replicas):
                options = {"num_replicas": replicas, "rank": rank, "shuffle": False, "drop_last": drop_last}
                ours, theirs = DistributedSampler(range(n), **options), TorchSampler(range(n), **options)
                assert list(ours) == list(theirs) and len(ours) == len(theirs), (n, replicas, rank)


@pytest.mark.parametrize("n, replicas, drop_last", [(10, 3, False), (10, 3, True), (2, 4, False), (12, 4, True)])
def test_shuffled_shards_cover_one_permutation_padded_or_dropped_as_pytorch(n, replicas, drop_last):
    for epoch in (0, 1):
        shards = []
        for rank in range(replicas):
            sampler = DistributedSampler(range(n), num_replicas=replicas, rank=rank, seed=7, drop_last=drop_last)
            sampler.set_epoch(epoch)
            shards.append(list(sampler))
        theirs = [list(TorchSampler(range(n), num_replicas=replicas, rank=r, drop_last=drop_last))
                  for r in range(replicas)]
        assert [len(s) for s in shards] == [len(s) for s in theirs]
        order = np.random.default_rng(7 + epoch).permutation(n)
        total = len(shards[0]) * replicas
        padded = np.resize(order, max(total, n))[:total] if not drop_last else order[:total]
        interleaved = [shards[i % replicas][i // replicas] for i in range(total)]
        assert interleaved == padded.tolist()
        if drop_last:
            assert len(set(interleaved)) == total  # disjoint
        else:
            assert set(interleaved) == set(range(n))  # every example, the first ones repeated to even out


def test_a_data_loader_batches_a_samplers_indices():
    features = np.arange(20.0).reshape(10, 2)
    sampler = DistributedSampler(range(10), num_replicas=3, rank=1, shuffle=False)
    loader = DataLoader(TensorDataset(features, np.arange(10)), batch_size=2, sampler=sampler)
    assert len(loader) == 2
    assert [labels.tolist() for _, labels in loader] == [[1, 4], [7, 0]]  # the last one padded with index 0
    with pytest.raises(ValueError, match="sampler and shuffle"):
        DataLoader(TensorDataset(features), sampler=sampler, shuffle=True)


def test_defaults_come_from_the_world_and_bad_arguments_are_named():
    sampler = DistributedSampler(range(5))
    assert (sampler.num_replicas, sampler.rank, sampler.shuffle, sampler.seed, sampler.drop_last) == (1, 0, True, 0,
                                                                                                     False)
    for kwargs, message in [({"num_replicas": 0}, "num_replicas=0"), ({"num_replicas": 2, "rank": 2}, "rank=2"),
                            ({"seed": -1}, "seed=-1"), ({"rank": 1.5}, "rank=1.5")]:
        with pytest.raises(tg.ArgumentError, match=message):
            DistributedSampler(range(5), **kwargs)
    with pytest.raises(tg.ArgumentError, match="no len"):
        DistributedSampler(iter(range(3)))
    with pytest.raises(tg.ArgumentError, match="epoch=-1"):
        sampler.set_epoch(-1)
    assert torch.__version__  # PyTorch is the oracle above

"""A PyTorch-trained model run with tapegrad: the README's recipe, done literally.

PyTorch trains a small CNN (conv, batch norm, ReLU, max-pool, linear), saves its ``state_dict`` with
``safetensors.torch.save_file``; tapegrad builds the same architecture with ``tg.nn``, loads the file with
``safetensors.numpy.load_file`` and ``Module.load_state_dict``, and gives PyTorch's outputs (evaluation
mode, running statistics) and, in training mode, PyTorch's loss, every gradient and the running statistics'
update.
"""

from __future__ import annotations

import numpy as np
import pytest
import safetensors.numpy as safetensors_numpy  # the test extra installs safetensors
import safetensors.torch as safetensors_torch
import torch

import tapegrad as tg
from tapegrad import nn

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}


def _theirs(dtype):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 3))
    return model.to(torch.float64 if dtype == np.float64 else torch.float32)


def _ours(dtype):
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, dtype=dtype), nn.BatchNorm2d(4, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 3, dtype=dtype))


def _close(ours, theirs, dtype):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    ours = ours.numpy() if isinstance(ours, tg.Tensor) else np.asarray(ours)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    rtol = TOLERANCE[dtype]
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * max(1.0, float(np.abs(theirs).max(initial=0))))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_cnn_trained_in_pytorch_runs_in_tapegrad_from_its_safetensors_file(tmp_path, dtype):
    rng = np.random.default_rng(0)
    images = rng.standard_normal((32, 1, 8, 8)).astype(dtype)
    labels = rng.integers(0, 3, 32)
    theirs = _theirs(dtype)
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    for start in range(0, 32, 8):  # a few steps: trained weights, running statistics and a batch count
        loss = torch.nn.functional.cross_entropy(theirs(torch.tensor(images[start:start + 8])),
                                                 torch.tensor(labels[start:start + 8]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = tmp_path / "model.safetensors"
    safetensors_torch.save_file(theirs.state_dict(), str(path))

    ours = _ours(dtype)
    state = safetensors_numpy.load_file(str(path))
    assert list(ours.state_dict()) == list(theirs.state_dict())  # PyTorch's keys, in its order
    assert set(state) == set(theirs.state_dict())  # (the file keeps them sorted)
    ours.load_state_dict(state)
    assert int(ours[1].num_batches_tracked.item()) == 4 and ours[1].num_batches_tracked.dtype == np.int64
    _close(ours[1].running_var, theirs[1].running_var, dtype)

    x = rng.standard_normal((5, 1, 8, 8)).astype(dtype)
    theirs.eval()
    ours.eval()
    with torch.no_grad():
        expected = theirs(torch.tensor(x))
    with tg.no_grad():
        _close(ours(tg.tensor(x)), expected, dtype)

    # training mode: batch statistics, the loss, every parameter's gradient, the running statistics' update
    theirs.train()
    ours.train()
    batch, targets = images[:8], labels[:8]
    optimizer.zero_grad()
    their_loss = torch.nn.functional.cross_entropy(theirs(torch.tensor(batch)), torch.tensor(targets))
    their_loss.backward()
    our_loss = nn.functional.cross_entropy(ours(tg.tensor(batch)), targets)
    our_loss.backward()
    _close(our_loss, their_loss, dtype)
    their_parameters = dict(theirs.named_parameters())
    for name, parameter in ours.named_parameters():
        _close(parameter.grad, their_parameters[name].grad, dtype)
    their_state = theirs.state_dict()
    for name, value in ours.state_dict().items():
        _close(value, their_state[name], dtype)

"""Optimizers and schedules take the same steps as PyTorch's."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1}),
]


def _pair(seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((5, 4)), rng.standard_normal(5), rng.standard_normal((3, 5)), rng.standard_normal(3)]
    ours = [tg.tensor(w, requires_grad=True) for w in weights]
    theirs = [torch.tensor(w, requires_grad=True) for w in weights]
    x, y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    return ours, theirs, x, y


def _loss_ours(params, x, y):
    w1, b1, w2, b2 = params
    return F.cross_entropy((tg.tensor(x) @ w1.T + b1).tanh() @ w2.T + b2, y)


def _loss_theirs(params, x, y):
    w1, b1, w2, b2 = params
    return torch.nn.functional.cross_entropy(torch.tanh(torch.tensor(x) @ w1.T + b1) @ w2.T + b2, torch.tensor(y))


@pytest.mark.parametrize("name,settings", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_updates_match_pytorch(name, settings):
    ours, theirs, x, y = _pair()
    opt = getattr(tg.optim, name)(ours, **settings)
    ref = getattr(torch.optim, name)(theirs, **settings)
    for _ in range(6):
        opt.zero_grad()
        ref.zero_grad()
        _loss_ours(ours, x, y).backward()
        _loss_theirs(theirs, x, y).backward()
        opt.step()
        ref.step()
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_param_groups_state_dict_and_resuming_give_the_same_weights():
    ours, _, x, y = _pair()
    copy = [tg.tensor(p.numpy().copy(), requires_grad=True) for p in ours]

    def make(params):
        return tg.optim.Adam([{"params": params[:2], "lr": 0.05}, {"params": params[2:]}], lr=0.01)

    straight, first = make(ours), make(copy)
    for _ in range(3):
        for opt, params in ((straight, ours), (first, copy)):
            opt.zero_grad()
            _loss_ours(params, x, y).backward()
            opt.step()
    resumed = make(copy)
    resumed.load_state_dict(first.state_dict())
    for _ in range(3):
        for opt, params in ((straight, ours), (resumed, copy)):
            opt.zero_grad()
            _loss_ours(params, x, y).backward()
            opt.step()
    for p, q in zip(ours, copy):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert straight.param_groups[0]["lr"] == 0.05 and straight.param_groups[1]["lr"] == 0.01


def test_a_step_between_forward_and_backward_is_caught():
    layer = nn.Linear(2, 2)
    opt = tg.optim.SGD(layer.parameters(), lr=0.1)
    loss = layer(tg.ones(3, 2)).sum()
    loss.backward(retain_graph=True)
    line = inspect.currentframe().f_lineno + 1
    opt.step()
    with pytest.raises(tg.InPlaceError, match=rf"by -= \(sub_\) at .*test_optim.py:{line}\b"):
        loss.backward()  # the message names the line of the step


def test_zero_grad_and_bad_arguments():
    p = tg.tensor([1.0], requires_grad=True)
    opt = tg.optim.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad.tolist() == [0.0]
    opt.zero_grad()
    assert p.grad is None
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        tg.optim.SGD([{"params": [p], "lrr": 0.1}])
    with pytest.raises(ValueError, match="empty"):
        tg.optim.Adam([])


@pytest.mark.parametrize("kind", ["step", "cosine", "plateau"])
def test_schedules_match_pytorch(kind):
    p, q = tg.tensor([1.0], requires_grad=True), torch.tensor([1.0], requires_grad=True)
    opt, ref = tg.optim.SGD([p], lr=0.5), torch.optim.SGD([q], lr=0.5)
    if kind == "step":
        ours, theirs = tg.optim.StepLR(opt, 3, 0.5), torch.optim.lr_scheduler.StepLR(ref, 3, 0.5)
    elif kind == "cosine":
        ours = tg.optim.CosineAnnealingLR(opt, 10, 0.01)
        theirs = torch.optim.lr_scheduler.CosineAnnealingLR(ref, 10, 0.01)
    else:
        ours = tg.optim.ReduceLROnPlateau(opt, patience=2, factor=0.5, cooldown=1)
        theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(ref, patience=2, factor=0.5, cooldown=1)
    values = [5, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3]
    for value in values:
        ref.step()
        if kind == "plateau":
            ours.step(value)
            theirs.step(value)
        else:
            ours.step()
            theirs.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(ref.param_groups[0]["lr"], rel=1e-12)


def test_clip_grad_norm_matches_pytorch():
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(4) * 5, rng.standard_normal((2, 3))]
    ours = [tg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    sum((p * p).sum() for p in ours).backward()
    sum((q * q).sum() for q in theirs).backward()
    total = tg.optim.clip_grad_norm_(ours, 1.0)
    ref_total = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert total == pytest.approx(ref_total.item(), rel=1e-12)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("make, what", [
    (lambda p: tg.optim.SGD(p, lr=float("nan")), r"SGD: lr=nan \(float\); expected a finite real number >= 0.0"),
    (lambda p: tg.optim.SGD(p, lr=float("inf")), "SGD: lr=inf"),
    (lambda p: tg.optim.SGD(p, lr=-0.1), "SGD: lr=-0.1"),
    (lambda p: tg.optim.SGD(p, lr="0.1"), "SGD: lr='0.1'"),
    (lambda p: tg.optim.SGD(p, lr=0.1, momentum=-1), "SGD: momentum=-1"),
    (lambda p: tg.optim.SGD(p, lr=0.1, weight_decay=float("nan")), "SGD: weight_decay=nan"),
    (lambda p: tg.optim.Adam(p, betas=(1.0, 0.9)),
     r"Adam: betas=1.0 \(float\); expected a finite real number in \[0.0, 1.0\)"),
    (lambda p: tg.optim.Adam(p, betas=(0.9,)), "Adam: betas="),
    (lambda p: tg.optim.AdamW(p, eps=-1e-8), "AdamW: eps=-1e-08"),
    (lambda p: tg.optim.RMSprop(p, alpha=2.0),
     r"RMSprop: alpha=2.0 \(float\); expected a finite real number in \[0.0, 1.0\]"),
    (lambda p: tg.optim.Adagrad(p, lr_decay=-1), "Adagrad: lr_decay=-1"),
    (lambda p: tg.optim.SGD([{"params": p, "lr": float("nan")}], lr=0.1), "SGD: lr=nan"),
])
def test_optimizers_reject_hyperparameters_out_of_range(make, what):
    params = [tg.tensor(np.ones(2), requires_grad=True)]
    with pytest.raises(tg.ArgumentError, match=what):
        make(params)


def test_optimizers_take_hyperparameters_at_their_limits():
    params = [tg.tensor(np.ones(2), requires_grad=True)]
    tg.optim.SGD(params, lr=0.0, momentum=0.0)
    tg.optim.Adam(params, lr=1, betas=(0.0, 0.0), eps=0.0)
    tg.optim.RMSprop(params, alpha=1.0)

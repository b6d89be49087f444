"""nn: modules, layers, losses (against PyTorch), initialisation, optimizers and schedules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

rng = np.random.default_rng(7)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
        self.scale = nn.Parameter(np.array([1.5]))
        self.note = "not a parameter"

    def forward(self, x):
        return self.layers(x) * self.scale


def test_module_registers_parameters_by_path_and_has_no_attribute_magic():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [  # own parameters first, as in PyTorch
        "scale", "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]
    assert [n for n, _ in net.named_modules()] == ["", "layers", "layers.0", "layers.1", "layers.2"]
    assert len(list(net.children())) == 1
    with pytest.raises(AttributeError):
        net.layer  # a typo is an ordinary AttributeError
    assert "Linear(in_features=4, out_features=6, bias=True)" in repr(net)
    net.layers = nn.Identity()
    assert [n for n, _ in net.named_parameters()] == ["scale"]


def test_state_dict_round_trip_and_clear_errors():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    x = tg.tensor(rng.standard_normal((2, 4)).astype(np.float32))
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    state = a.state_dict()
    state.pop("scale")
    state["extra"] = np.zeros(1)
    with pytest.raises(nn.StateDictError, match=r"missing keys \['scale'\], unexpected keys \['extra'\]"):
        b.load_state_dict(state)
    b.load_state_dict(state, strict=False)
    bad = a.state_dict()
    bad["layers.0.weight"] = np.zeros((2, 2))
    with pytest.raises(tg.ShapeError, match=r"layers.0.weight.*\(2, 2\).*\(6, 4\)"):
        b.load_state_dict(bad)


def test_parameters_take_the_default_dtype_and_gradients_their_dtype():
    layer = nn.Linear(3, 2)
    assert layer.weight.dtype == np.float32
    out = layer(tg.tensor(np.ones((4, 3))))  # float64 data: NumPy promotion gives float64
    assert out.dtype == np.float64
    out.sum().backward()
    assert layer.weight.grad.dtype == np.float32 and layer.bias.grad.dtype == np.float32


def test_dropout_train_and_eval():
    tg.manual_seed(0)
    drop = nn.Dropout(0.5)
    x = tg.ones(1000)
    y = drop(x).numpy()
    assert set(np.unique(y)) == {0.0, 2.0} and 400 < (y == 0).sum() < 600
    assert drop.eval()(x) is x


def test_layers_against_pytorch():
    x = rng.standard_normal((5, 4))
    tx = torch.tensor(x)
    for ours, theirs in [(nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)), (nn.ELU(0.5), torch.nn.ELU(0.5)),
                         (nn.Softplus(), torch.nn.Softplus()), (nn.Softmax(1), torch.nn.Softmax(1)),
                         (nn.LogSoftmax(0), torch.nn.LogSoftmax(0)), (nn.Sigmoid(), torch.nn.Sigmoid())]:
        np.testing.assert_allclose(ours(tg.tensor(x)).numpy(), theirs(tx).numpy(), rtol=1e-12)
    prelu = nn.PReLU()
    assert prelu.weight.tolist() == [0.25]
    np.testing.assert_allclose(prelu(tg.tensor(x)).numpy(), torch.nn.PReLU(init=0.25).double()(tx).detach().numpy())
    maxout = nn.Maxout(4, 3, k=2)
    out = maxout(tg.tensor(x))
    pieces = x @ maxout.linear.weight.numpy().T.astype(np.float64) + maxout.linear.bias.numpy()
    np.testing.assert_allclose(out.numpy(), pieces.reshape(5, 3, 2).max(axis=-1), rtol=1e-6)


def test_mlp_gradients_match_pytorch():
    tg.set_default_dtype(np.float64)
    try:
        mlp = nn.MLP([4, 5, 3], activation="relu")
    finally:
        tg.set_default_dtype(np.float32)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)).double()
    with torch.no_grad():
        for (_, p), q in zip(mlp.named_parameters(), ref.parameters()):
            q.copy_(torch.tensor(p.numpy()))
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    F.cross_entropy(mlp(tg.tensor(x)), y).backward()
    torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y)).backward()
    for p, q in zip(mlp.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12)


LOSSES = [
    ("cross_entropy", lambda s, y: F.cross_entropy(s, y), lambda s, y: torch.nn.functional.cross_entropy(s, y)),
    ("cross_entropy sum smoothed", lambda s, y: F.cross_entropy(s, y, reduction="sum", label_smoothing=0.1),
     lambda s, y: torch.nn.functional.cross_entropy(s, y, reduction="sum", label_smoothing=0.1)),
    ("nll_loss", lambda s, y: F.nll_loss(s.log_softmax(1), y, reduction="none"),
     lambda s, y: torch.nn.functional.nll_loss(torch.log_softmax(s, 1), y, reduction="none")),
    ("multi_margin_loss", lambda s, y: F.multi_margin_loss(s, y, margin=0.5),
     lambda s, y: torch.nn.functional.multi_margin_loss(s, y, margin=0.5)),
]


@pytest.mark.parametrize("name,ours,theirs", LOSSES, ids=[c[0] for c in LOSSES])
def test_classification_losses_match_pytorch(name, ours, theirs):
    scores, labels = rng.standard_normal((8, 5)) * 3, rng.integers(0, 5, 8)
    s = tg.tensor(scores, requires_grad=True)
    t = torch.tensor(scores, requires_grad=True)
    a, b = ours(s, labels), theirs(t, torch.tensor(labels))
    np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12)
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_allclose(s.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_svm_loss_is_the_lectures_formula():
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    labels = np.array([0, 1, 2])
    loss = F.svm_loss(tg.tensor(scores), labels)
    assert loss.item() == pytest.approx((2.9 + 0 + 12.9) / 3)  # the lecture's cat, car, frog example
    assert F.multi_margin_loss(tg.tensor(scores), labels).item() == pytest.approx(loss.item() / 3)


@pytest.mark.parametrize("name", ["bce", "mse", "l1", "huber"])
def test_regression_losses_match_pytorch(name):
    x, y = rng.standard_normal(10) * 3, rng.random(10)
    ours = {"bce": F.binary_cross_entropy_with_logits, "mse": F.mse_loss, "l1": F.l1_loss,
            "huber": lambda a, b: F.huber_loss(a, b, delta=0.7)}[name]
    theirs = {"bce": torch.nn.functional.binary_cross_entropy_with_logits, "mse": torch.nn.functional.mse_loss,
              "l1": torch.nn.functional.l1_loss,
              "huber": lambda a, b: torch.nn.functional.huber_loss(a, b, delta=0.7)}[name]
    s, t = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    a, b = ours(s, y), theirs(t, torch.tensor(y))
    assert a.item() == pytest.approx(b.item(), rel=1e-12)
    a.backward()
    b.backward()
    np.testing.assert_allclose(s.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_losses_are_stable_for_huge_logits_and_check_their_inputs():
    logits = tg.tensor(np.array([[1e3, -1e3, 0.0], [0.0, 1e3, 1e3]], np.float32), requires_grad=True)
    loss = F.cross_entropy(logits, np.array([1, 2]), label_smoothing=0.1)
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(logits.grad.numpy()))
    big = tg.tensor(np.array([1e4, -1e4]), requires_grad=True)
    assert np.isfinite(F.binary_cross_entropy_with_logits(big, [0.0, 1.0]).item())
    with pytest.raises(tg.ShapeError, match=r"labels must lie in \[0, 3\)"):
        F.cross_entropy(logits, np.array([0, 3]))
    with pytest.raises(tg.DTypeError, match="integers"):
        F.cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(big, big, reduction="avg")
    penalty = F.l2_penalty([big], 0.5)
    assert penalty.item() == pytest.approx(1e8)


def test_init_functions_follow_their_formulas():
    tg.manual_seed(1)
    w = nn.Parameter(np.empty((400, 300)))
    bound = np.sqrt(2.0) * np.sqrt(3 / 300)
    nn.init.kaiming_uniform_(w, nonlinearity="relu")
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    nn.init.xavier_normal_(w)
    assert w.numpy().std() == pytest.approx(np.sqrt(2 / 700), rel=0.02)
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(np.sqrt(2 / 300), rel=0.02)
    nn.init.ones_(w)
    assert np.all(w.numpy() == 1)
    nn.init.zeros_(w)
    assert not w.numpy().any()
    with pytest.raises(tg.ShapeError):
        nn.init.xavier_uniform_(nn.Parameter(np.zeros(3)))


def test_loss_modules_match_their_functions():
    scores, labels = tg.tensor(rng.standard_normal((4, 3))), rng.integers(0, 3, 4)
    values, targets = tg.tensor(rng.standard_normal(5)), rng.random(5)
    pairs = [(nn.CrossEntropyLoss(label_smoothing=0.2), F.cross_entropy(scores, labels, label_smoothing=0.2)),
             (nn.NLLLoss(reduction="sum"), F.nll_loss(scores, labels, reduction="sum")),
             (nn.SVMLoss(margin=2.0), F.svm_loss(scores, labels, margin=2.0)),
             (nn.MultiMarginLoss(), F.multi_margin_loss(scores, labels))]
    for module, expected in pairs:
        np.testing.assert_allclose(module(scores, labels).numpy(), expected.numpy())
    pairs = [(nn.BCEWithLogitsLoss(), F.binary_cross_entropy_with_logits(values, targets)),
             (nn.MSELoss(reduction="none"), F.mse_loss(values, targets, reduction="none")),
             (nn.L1Loss(), F.l1_loss(values, targets)),
             (nn.HuberLoss(delta=0.3), F.huber_loss(values, targets, delta=0.3))]
    for module, expected in pairs:
        np.testing.assert_allclose(module(values, targets).numpy(), expected.numpy())
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss(reduction='mean')"
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="average")

"""RNN, LSTM, GRU and their cells against PyTorch with the same weights: outputs, final states and
every gradient, second order and forward mode; compiled against eager; dropout between layers; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.errors import ArgumentError, ShapeError

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def _pair(kind, dtype, **settings):
    """The same layer in PyTorch and tapegrad, weights copied across by the state_dict's keys."""
    torch.manual_seed(0)
    reference = getattr(torch.nn, kind)(**settings).to(TORCH_DTYPE[dtype])
    ours = getattr(tg.nn, kind)(dtype=dtype, **settings)
    state = {k: v.detach().numpy() for k, v in reference.state_dict().items()}
    assert list(ours.state_dict()) == list(state)
    assert all(ours.state_dict()[k].shape == v.shape for k, v in state.items())
    ours.load_state_dict(state)
    return reference, ours


def _close(ours, theirs, dtype, what):
    theirs = theirs.detach().numpy()
    assert ours.dtype == theirs.dtype, what
    scale = max(1.0, float(np.abs(theirs).max(initial=0.0)))
    np.testing.assert_allclose(ours, theirs, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * scale, err_msg=what)


def _states(result, kind):
    output, state = result
    return [output] + (list(state) if kind == "LSTM" else [state])


def _compare(kind, dtype, x, initial=None, **settings):
    reference, ours = _pair(kind, dtype, **settings)
    x_torch = torch.tensor(x, requires_grad=True)
    x_ours = tg.tensor(x, requires_grad=True)
    initial_torch = initial_ours = None
    if initial is not None:
        initial_torch = [torch.tensor(s, requires_grad=True) for s in initial]
        initial_ours = [tg.tensor(s, requires_grad=True) for s in initial]
    pack = (lambda s: tuple(s)) if kind == "LSTM" else (lambda s: s[0])
    theirs = _states(reference(x_torch, None if initial is None else pack(initial_torch)), kind)
    mine = _states(ours(x_ours, None if initial is None else pack(initial_ours)), kind)
    weights = np.random.default_rng(1)
    loss_torch = loss_ours = 0
    for position, (a, b) in enumerate(zip(mine, theirs)):
        assert a.shape == tuple(b.shape)
        _close(a.numpy(), b, dtype, f"{kind} result {position}")
        w = weights.standard_normal(a.shape).astype(dtype)
        loss_ours = loss_ours + (a * tg.tensor(w)).sum()
        loss_torch = loss_torch + (b * torch.tensor(w)).sum()
    loss_ours.backward()
    loss_torch.backward()
    _close(x_ours.grad.numpy(), x_torch.grad, dtype, f"{kind} input gradient")
    for name, parameter in reference.named_parameters():
        _close(dict(ours.named_parameters())[name].grad.numpy(), parameter.grad, dtype, f"{kind} {name} gradient")
    for k, (a, b) in enumerate(zip(initial_ours or [], initial_torch or [])):
        _close(a.grad.numpy(), b.grad, dtype, f"{kind} initial state {k} gradient")


CONFIGURATIONS = [
    {},
    {"num_layers": 2},
    {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True, "batch_first": True},
    {"bias": False, "batch_first": True},
]


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("settings", CONFIGURATIONS,
                         ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "default")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_layers_match_pytorch_in_outputs_states_and_every_gradient(kind, settings, dtype):
    x = np.random.default_rng(0).standard_normal((4, 3, 5)).astype(dtype)  # (time, batch) or (batch, time)
    _compare(kind, dtype, x, input_size=5, hidden_size=6, **settings)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_given_initial_states_match_pytorch_with_their_gradients(kind, bidirectional):
    r = np.random.default_rng(2)
    x = r.standard_normal((5, 2, 3))
    count = 2 * (2 if bidirectional else 1)
    initial = [r.standard_normal((count, 2, 4)) for _ in range(2 if kind == "LSTM" else 1)]
    _compare(kind, np.float64, x, initial, input_size=3, hidden_size=4, num_layers=2, bidirectional=bidirectional)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_unbatched_inputs_match_pytorch(kind):
    r = np.random.default_rng(3)
    x = r.standard_normal((5, 3))
    initial = [r.standard_normal((2, 4)) for _ in range(2 if kind == "LSTM" else 1)]
    _compare(kind, np.float64, x, initial, input_size=3, hidden_size=4, num_layers=2)
    _compare(kind, np.float64, x, None, input_size=3, hidden_size=4, bidirectional=True)


def test_rnn_with_relu_matches_pytorch():
    x = np.random.default_rng(4).standard_normal((6, 2, 3))
    _compare("RNN", np.float64, x, input_size=3, hidden_size=5, nonlinearity="relu", num_layers=2)


@pytest.mark.parametrize(("kind", "extra"), [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("RNN", {"nonlinearity": "relu"})],
                         ids=["LSTM", "GRU", "RNN", "RNN-relu"])
def test_large_inputs_give_finite_outputs_and_gradients(kind, extra):
    layer = getattr(tg.nn, kind)(3, 4, dtype=np.float32, **extra)
    x = tg.tensor(np.full((5, 2, 3), 1e4, np.float32) * np.array([1, -1, 1], np.float32), requires_grad=True)
    out, state = layer(x)
    (out.sum() + (state[1] if kind == "LSTM" else state).sum()).backward()
    assert out.dtype == np.float32 and np.isfinite(out.numpy()).all() and np.isfinite(x.grad.numpy()).all()
    assert all(np.isfinite(p.grad.numpy()).all() for p in layer.parameters())


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_cells_match_pytorch(kind, dtype):
    torch.manual_seed(0)
    reference = getattr(torch.nn, kind)(3, 4).to(TORCH_DTYPE[dtype])
    ours = getattr(tg.nn, kind)(3, 4, dtype=dtype)
    state = {k: v.detach().numpy() for k, v in reference.state_dict().items()}
    assert list(ours.state_dict()) == list(state)
    ours.load_state_dict(state)
    r = np.random.default_rng(5)
    for batch in [(2,), ()]:
        x = r.standard_normal(batch + (3,)).astype(dtype)
        states = [r.standard_normal(batch + (4,)).astype(dtype) for _ in range(2 if kind == "LSTMCell" else 1)]
        xt, st = torch.tensor(x, requires_grad=True), [torch.tensor(s, requires_grad=True) for s in states]
        xo, so = tg.tensor(x, requires_grad=True), [tg.tensor(s, requires_grad=True) for s in states]
        theirs = reference(xt, tuple(st) if kind == "LSTMCell" else st[0])
        mine = ours(xo, tuple(so) if kind == "LSTMCell" else so[0])
        theirs, mine = (list(theirs), list(mine)) if kind == "LSTMCell" else ([theirs], [mine])
        for a, b in zip(mine, theirs):
            _close(a.numpy(), b, dtype, kind)
        sum(((a ** 2).sum() for a in mine), tg.tensor(0.0, dtype=dtype)).backward()
        sum((b ** 2).sum() for b in theirs).backward()
        _close(xo.grad.numpy(), xt.grad, dtype, f"{kind} input gradient")
        for a, b in zip(so, st):
            _close(a.grad.numpy(), b.grad, dtype, f"{kind} state gradient")
        for name, parameter in reference.named_parameters():
            _close(dict(ours.named_parameters())[name].grad.numpy(), parameter.grad, dtype, f"{kind} {name}")
            parameter.grad = None
        ours.zero_grad()
    default = ours(tg.tensor(np.ones((2, 3), dtype)))  # states default to zeros
    expected = reference(torch.ones(2, 3, dtype=TORCH_DTYPE[dtype]))
    for a, b in zip(default if kind == "LSTMCell" else [default], expected if kind == "LSTMCell" else [expected]):
        _close(a.numpy(), b, dtype, f"{kind} with zero states")


def test_parameters_start_uniform_within_one_over_sqrt_hidden_and_follow_the_seed():
    tg.manual_seed(7)
    first = tg.nn.LSTM(10, 16, num_layers=2, bidirectional=True).state_dict()
    tg.manual_seed(7)
    second = tg.nn.LSTM(10, 16, num_layers=2, bidirectional=True).state_dict()
    values = np.concatenate([v.ravel() for v in first.values()])
    assert np.abs(values).max() <= 0.25 and np.abs(values).max() > 0.24 and abs(values.mean()) < 0.01
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert first["weight_ih_l1_reverse"].shape == (64, 32) and first["bias_hh_l0"].shape == (64,)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_dropout_between_layers_acts_in_training_only_and_as_a_seeded_mask(kind):
    reference, ours = _pair(kind, np.float64, input_size=3, hidden_size=4, num_layers=2, dropout=0.5)
    x = np.random.default_rng(6).standard_normal((5, 2, 3))
    ours.eval()
    reference.eval()
    evaluated = ours(tg.tensor(x))[0].numpy()
    np.testing.assert_allclose(evaluated, reference(torch.tensor(x))[0].detach().numpy(), rtol=1e-10, atol=1e-12)
    ours.train()
    tg.manual_seed(3)
    trained = ours(tg.tensor(x))[0].numpy()
    assert not np.allclose(trained, evaluated)
    # The mask is one draw of the first layer's output shape: layer 1 with it applied by hand gives the same.
    tg.manual_seed(3)
    keep = (tg.rand(5, 2, 4, dtype=np.float64).numpy() >= 0.5) * 2.0
    first, second = (getattr(tg.nn, kind)(3 if k == 0 else 4, 4, dtype=np.float64) for k in range(2))
    state = ours.state_dict()
    for k, layer in enumerate((first, second)):
        layer.load_state_dict({name.replace(f"_l{k}", "_l0"): value
                               for name, value in state.items() if f"_l{k}" in name})
    by_hand = second(first(tg.tensor(x))[0] * tg.tensor(keep))[0].numpy()
    np.testing.assert_allclose(trained, by_hand, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_bad_inputs_raise_shape_errors_naming_the_layer_and_the_shapes(kind):
    layer = getattr(tg.nn, kind)(3, 4, num_layers=2)
    with pytest.raises(ShapeError, match=rf"{kind}\(3, 4\): input of shape \(5, 2, 7\) has 7 features .* "
                                         r"expected input_size=3"):
        layer(tg.zeros(5, 2, 7))
    with pytest.raises(ShapeError, match=rf"{kind}\(3, 4\): input of shape \(1, 5, 2, 3\) has 4 dimensions"):
        layer(tg.zeros(1, 5, 2, 3))
    with pytest.raises(ShapeError, match=r"input of shape \(3,\) has 1 dimensions"):
        layer(tg.zeros(3))
    with pytest.raises(ShapeError, match=r"h_0 has shape \(1, 2, 4\); expected \(2, 2, 4\)"):
        layer(tg.zeros(5, 2, 3), (tg.zeros(1, 2, 4), tg.zeros(2, 2, 4)) if kind == "LSTM" else tg.zeros(1, 2, 4))
    with pytest.raises(ShapeError, match=r"h_0 has shape \(2, 2, 4\); expected \(2, 4\) .* unbatched"):
        layer(tg.zeros(5, 3), (tg.zeros(2, 2, 4), tg.zeros(2, 4)) if kind == "LSTM" else tg.zeros(2, 2, 4))
    if kind == "LSTM":
        with pytest.raises(ShapeError, match=r"c_0 has shape \(2, 3, 4\); expected \(2, 2, 4\)"):
            layer(tg.zeros(5, 2, 3), (tg.zeros(2, 2, 4), tg.zeros(2, 3, 4)))
        with pytest.raises(ArgumentError, match="expected a pair"):
            layer(tg.zeros(5, 2, 3), tg.zeros(2, 2, 4))


def test_bad_arguments_and_cell_inputs():
    with pytest.raises(ArgumentError, match="LSTM: proj_size=4; LSTM with projections is not supported"):
        tg.nn.LSTM(3, 8, proj_size=4)
    with pytest.raises(ArgumentError, match="RNN: nonlinearity='sigmoid'"):
        tg.nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ArgumentError, match="GRU: dropout=1.5"):
        tg.nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(ArgumentError, match="LSTM: hidden_size=0"):
        tg.nn.LSTM(3, 0)
    cell = tg.nn.GRUCell(3, 4)
    with pytest.raises(ShapeError, match=r"GRUCell\(3, 4\): input of shape \(2, 5\); expected \(batch, 3\)"):
        cell(tg.zeros(2, 5))
    with pytest.raises(ShapeError, match=r"GRUCell\(3, 4\): h has shape \(3, 4\); expected \(2, 4\)"):
        cell(tg.zeros(2, 3), tg.zeros(3, 4))
    with pytest.raises(ShapeError, match=r"LSTMCell\(3, 4\): c has shape \(2, 5\); expected \(2, 4\)"):
        tg.nn.LSTMCell(3, 4)(tg.zeros(2, 3), (tg.zeros(2, 4), tg.zeros(2, 5)))


# Every recurrence the layers run: RNN (tanh, relu), GRU (with and without biases: the gru primitive then
# gets zeros for b_hh) and LSTM.
KINDS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("GRU", {}), ("GRU", {"bias": False}), ("LSTM", {})]
KIND_IDS = ["RNN", "RNN-relu", "GRU", "GRU-nobias", "LSTM"]


@pytest.mark.parametrize(("kind", "extra"), KINDS, ids=KIND_IDS)
def test_second_order_gradients_match_pytorch(kind, extra):
    # The gradient of the sum of squares of the first gradients (input and every parameter), through
    # two layers: the recorded backward recurrence (the rules against xp) differentiated once more.
    reference, ours = _pair(kind, np.float64, input_size=2, hidden_size=3, num_layers=2, **extra)
    x = np.random.default_rng(8).standard_normal((4, 2, 2))
    xt, xo = torch.tensor(x, requires_grad=True), tg.tensor(x, requires_grad=True)
    names = [name for name, _ in reference.named_parameters()]
    theirs_p, ours_p = dict(reference.named_parameters()), dict(ours.named_parameters())
    first_t = torch.autograd.grad((reference(xt)[0] ** 2).sum(), [xt] + [theirs_p[n] for n in names],
                                  create_graph=True)
    first_o = tg.autograd.grad((ours(xo)[0] ** 2).sum(), [xo] + [ours_p[n] for n in names], create_graph=True)
    for a, b in zip(first_o, first_t):
        _close(a.numpy(), b, np.float64, f"{kind} first order")
    sum((g ** 2).sum() for g in first_t).backward()
    sum(((g ** 2).sum() for g in first_o), tg.tensor(0.0)).backward()
    _close(xo.grad.numpy(), xt.grad, np.float64, f"{kind} second order, input")
    for name in names:
        _close(ours_p[name].grad.numpy(), theirs_p[name].grad, np.float64, f"{kind} second order, {name}")


@pytest.mark.parametrize(("kind", "extra"), KINDS, ids=KIND_IDS)
def test_forward_mode_through_the_layers_matches_pytorch(kind, extra):
    # tg.jvp runs the primitives' JVP rules (the forward recurrence) for tangents of the input and the
    # initial states, through two bidirectional layers.
    reference, ours = _pair(kind, np.float64, input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
                            **extra)
    r = np.random.default_rng(10)
    count = 2 if kind == "LSTM" else 1
    primals = [r.standard_normal((5, 2, 3))] + [r.standard_normal((4, 2, 4)) for _ in range(count)]
    tangents = [r.standard_normal(p.shape) for p in primals]

    def run(layer, pack):
        return lambda x, *states: layer(x, pack(states))[0]

    pack = tuple if kind == "LSTM" else (lambda states: states[0])
    _, mine = tg.jvp(run(ours, pack), [tg.tensor(p) for p in primals], [tg.tensor(t) for t in tangents])
    _, theirs = torch.func.jvp(run(reference, pack), tuple(torch.tensor(p) for p in primals),
                               tuple(torch.tensor(t) for t in tangents))
    _close(np.asarray(mine), theirs, np.float64, f"{kind} tangent")


@pytest.mark.parametrize(("kind", "extra"), KINDS, ids=KIND_IDS)
def test_compiled_layers_give_eager_results_and_gradients(kind, extra):
    tg.manual_seed(4)
    layer = getattr(tg.nn, kind)(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, **extra)
    x = np.random.default_rng(11).standard_normal((6, 2, 3))

    def loss(x):
        return (layer(x)[0] ** 2).sum()

    results = []
    for run in (loss, tg.compile(loss), tg.compile(loss)):  # the second compiled call replays the plan
        layer.zero_grad()
        xo = tg.tensor(x, requires_grad=True)
        value = run(xo)
        value.backward()
        results.append([value.numpy(), xo.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()])
    for compiled in results[1:]:
        for a, b in zip(compiled, results[0]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_long_sequences_match_pytorch(kind, dtype):
    x = np.random.default_rng(12).standard_normal((80, 2, 3)).astype(dtype)
    _compare(kind, dtype, x, None, input_size=3, hidden_size=5, num_layers=2, bidirectional=True)


def test_the_primitives_reject_shapes_that_do_not_fit_and_unknown_nonlinearities():
    from tapegrad.ops import rnn as R

    zeros = np.zeros
    with pytest.raises(ShapeError, match=r"rnn: cannot apply .*expected x \(time, batch, hidden\)"):
        tg.apply(R.rnn, zeros((2, 3, 4)), zeros((4, 4)), zeros((2, 4)))  # a batch of 3 against h0's 2
    with pytest.raises(ShapeError, match=r"rnn: .*expected x \(time, batch, hidden\), w_hh \(hidden, hidden\)"):
        tg.apply(R.rnn, zeros((2, 3, 4)), zeros((4, 1)), zeros((3, 4)))
    with pytest.raises(ArgumentError, match=r"rnn: nonlinearity='sigmoid'; expected 'tanh' or 'relu'"):
        tg.apply(R.rnn, zeros((2, 3, 4)), zeros((4, 4)), zeros((3, 4)), nonlinearity="sigmoid")
    with pytest.raises(ShapeError, match=r"gru: .*b_hh \(3 \* hidden,\)"):
        tg.apply(R.gru, zeros((2, 3, 12)), zeros((12, 4)), zeros((4,)), zeros((3, 4)))
    with pytest.raises(ShapeError, match=r"gru: .*x \(time, batch, 3 \* hidden\)"):
        tg.apply(R.gru, zeros((2, 3, 11)), zeros((12, 4)), zeros((12,)), zeros((3, 4)))


def test_two_lstm_nodes_given_the_same_gradient_object_each_get_their_own_gradients():
    # The lstm primitive's four VJP rules share one backward recurrence per node; two nodes reached by
    # one gradient array (through an addition) must not share it.
    tg.manual_seed(1)
    first, second = tg.nn.LSTM(2, 3, dtype=np.float64), tg.nn.LSTM(2, 3, dtype=np.float64)
    x = np.random.default_rng(9).standard_normal((4, 2, 2))
    (first(tg.tensor(x))[0] + second(tg.tensor(x))[0]).sum().backward()
    together = [p.grad.numpy().copy() for p in list(first.parameters()) + list(second.parameters())]
    first.zero_grad()
    second.zero_grad()
    first(tg.tensor(x))[0].sum().backward()
    second(tg.tensor(x))[0].sum().backward()
    apart = [p.grad.numpy() for p in list(first.parameters()) + list(second.parameters())]
    for a, b in zip(together, apart):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)

"""tg.vmap composed with the other transforms, in both orders and nested (issue 17): per-example gradients
against a loop of tg.grad and against torch.func.vmap(torch.func.grad(...)); grad of vmap; vmap of vjp,
jvp, jacfwd, hessian; jacfwd/jacobian of vmap; vmap inside tg.compile and compile inside vmap; nn modules
through tg.func.functional_call (per-example gradients in one line, ensembles)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.func

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad.errors import ArgumentError, BatchingError, ShapeError

R = np.random.default_rng(170)


def _mlp(dtype):
    tg.manual_seed(3)
    model = tg.nn.Sequential(tg.nn.Linear(6, 16), tg.nn.Tanh(), tg.nn.Linear(16, 16), tg.nn.ReLU(),
                             tg.nn.Linear(16, 4))
    if dtype == np.float64:
        for p in model.parameters():
            with tg.no_grad():
                p.data = p.data.astype(np.float64)
    return model


def _torch_model(model):
    layers = [torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)]
    net = torch.nn.Sequential(*layers)
    dtype = torch.float64 if model[0].weight.dtype == np.float64 else torch.float32
    net = net.to(dtype)
    with torch.no_grad():
        for (_, p), (_, q) in zip(model.named_parameters(), net.named_parameters()):
            q.copy_(torch.from_numpy(p.numpy()))
    return net


def _loss(model):
    def loss(params, x, y):
        logits = tg.func.functional_call(model, params, (x[None],))
        return F.cross_entropy(logits, y[None])
    return loss


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_per_example_gradients_of_a_model_match_a_loop_of_grad_and_torch_func(dtype, tolerance):
    model = _mlp(dtype)
    x = R.standard_normal((7, 6)).astype(dtype)
    y = R.integers(0, 4, 7)
    params = {name: p.detach() for name, p in model.named_parameters()}
    per_example = tg.vmap(tg.grad(_loss(model)), in_axes=(None, 0, 0))(params, x, y)
    for k in range(7):
        one = tg.grad(_loss(model))(params, x[k], y[k])
        for name in params:
            np.testing.assert_allclose(per_example[name].numpy()[k], one[name].numpy(), rtol=tolerance,
                                       atol=tolerance * 1e-2)
    net = _torch_model(model)
    tparams = {k: v.detach() for k, v in net.named_parameters()}

    def tloss(p, xi, yi):
        return torch.nn.functional.cross_entropy(torch.func.functional_call(net, p, (xi[None],)), yi[None])

    expected = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(tparams, torch.from_numpy(x),
                                                                              torch.from_numpy(y))
    for name in params:
        assert per_example[name].dtype == dtype
        np.testing.assert_allclose(per_example[name].numpy(), expected[name].numpy(), rtol=tolerance,
                                   atol=tolerance * 1e-2)


def test_per_example_gradients_of_a_convolutional_model_match_torch_func():
    tg.manual_seed(5)
    model = tg.nn.Sequential(tg.nn.Conv2d(2, 3, 3, padding=1), tg.nn.ReLU(), tg.nn.MaxPool2d(2), tg.nn.Flatten(),
                             tg.nn.Linear(12, 5))
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(12, 5)).double()
    with torch.no_grad():
        for (_, p), (_, q) in zip(model.named_parameters(), net.named_parameters()):
            q.copy_(torch.from_numpy(p.numpy()))
    x, y = R.standard_normal((4, 2, 4, 4)), R.integers(0, 5, 4)
    params = {name: p.detach() for name, p in model.named_parameters()}
    got = tg.vmap(tg.grad(_loss(model)), in_axes=(None, 0, 0))(params, x, y)

    def tloss(p, xi, yi):
        return torch.nn.functional.cross_entropy(torch.func.functional_call(net, p, (xi[None],)), yi[None])

    tparams = {k: v.detach() for k, v in net.named_parameters()}
    expected = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(tparams, torch.from_numpy(x),
                                                                              torch.from_numpy(y))
    for name in params:
        np.testing.assert_allclose(got[name].numpy(), expected[name].numpy(), rtol=1e-10, atol=1e-12)


def test_gradient_of_a_vmapped_function_flows_back_through_the_batching_rules():
    w, b = R.standard_normal((3, 2)), R.standard_normal(2)
    x = R.standard_normal((5, 3))

    def total(w, b, x):
        return tg.vmap(lambda xi, w, b: ((xi @ w + b).tanh() ** 2).sum(), in_axes=(0, None, None))(x, w, b).sum()

    grads = tg.grad(total, argnums=(0, 1, 2))(w, b, x)
    looped = tg.grad(lambda w, b, x: sum(((x[k] @ w + b).tanh() ** 2).sum() for k in range(5)), argnums=(0, 1, 2))
    for got, expected in zip(grads, looped(w, b, x)):
        np.testing.assert_allclose(got, expected, rtol=1e-13)
    tw = torch.tensor(w, requires_grad=True)
    torch.func.vmap(lambda xi: ((xi @ tw + torch.tensor(b)).tanh() ** 2).sum())(torch.tensor(x)).sum().backward()
    np.testing.assert_allclose(grads[0], tw.grad.numpy(), rtol=1e-13)


def test_gradients_of_shared_parameters_inside_vmap_are_per_example_and_second_order_works():
    w = R.standard_normal(3)
    x = R.standard_normal((4, 3))
    f = lambda w, xi: (w * xi).sin().sum() * (w ** 2).sum()  # noqa: E731
    per_example = tg.vmap(tg.grad(f), in_axes=(None, 0))(w, x)
    np.testing.assert_allclose(per_example, np.stack([tg.grad(f)(w, xi) for xi in x]), rtol=1e-14)
    hessians = tg.vmap(tg.hessian(f), in_axes=(None, 0))(w, x)
    expected = torch.func.vmap(torch.func.hessian(lambda w, xi: (w * xi).sin().sum() * (w ** 2).sum()),
                               in_dims=(None, 0))(torch.tensor(w), torch.tensor(x))
    np.testing.assert_allclose(hessians, expected.numpy(), rtol=1e-12)
    # the gradient of a sum of per-example gradients: grad outside, vmap and grad inside
    outer = tg.grad(lambda w: tg.vmap(tg.grad(f), in_axes=(None, 0))(w, x).sum())(w)
    np.testing.assert_allclose(outer, expected.numpy().sum(axis=(0, 1)), rtol=1e-12)


def test_vmap_of_vjp_with_batched_cotangents_and_of_jvp_with_batched_tangents():
    x = R.standard_normal(3)
    f = lambda v: (v[:, None] * v[None, :]).sin()  # noqa: E731
    cotangents = R.standard_normal((6, 3, 3))
    _, pullback = tg.vjp(f, x)
    rows = tg.vmap(lambda c: pullback(c)[0])(cotangents)
    np.testing.assert_allclose(rows, np.stack([pullback(c)[0] for c in cotangents]), rtol=1e-14)
    tangents = R.standard_normal((5, 3))
    columns = tg.vmap(lambda t: tg.jvp(f, (x,), (t,))[1])(tangents)
    np.testing.assert_allclose(columns, np.stack([tg.jvp(f, (x,), (t,))[1] for t in tangents]), rtol=1e-14)
    primals = R.standard_normal((5, 3))  # both batched, and jvp outside vmap
    np.testing.assert_allclose(tg.vmap(lambda p, t: tg.jvp(f, (p,), (t,))[1])(primals, tangents),
                               tg.jvp(tg.vmap(f), (primals,), (tangents,))[1], rtol=1e-14)


def test_jacobians_of_vmapped_functions_and_vmapped_jacobians_match_torch_func():
    x = R.standard_normal((3, 4))

    def f(v):
        return (v.sin() * v.sum()).exp()

    def tf(v):
        return (v.sin() * v.sum()).exp()

    expected = torch.func.jacfwd(torch.func.vmap(tf))(torch.tensor(x)).numpy()
    np.testing.assert_allclose(tg.jacfwd(tg.vmap(f))(x), expected, rtol=1e-12)
    np.testing.assert_allclose(tg.jacobian(tg.vmap(f))(x), expected, rtol=1e-12)
    per_example = torch.func.vmap(torch.func.jacrev(tf))(torch.tensor(x)).numpy()
    np.testing.assert_allclose(tg.vmap(tg.jacfwd(f))(x), per_example, rtol=1e-12)
    np.testing.assert_allclose(tg.vmap(tg.jacobian(f))(x), per_example, rtol=1e-12)


def test_vmap_of_vmap_of_grad():
    x = R.standard_normal((2, 3, 4))
    g = tg.vmap(tg.vmap(tg.grad(lambda v: (v ** 3).sum())))(x)
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-14)


def test_vmap_inside_compile_is_traced_once_and_differentiated():
    w = tg.tensor(R.standard_normal(3), requires_grad=True)

    @tg.compile
    def total(x):
        return tg.vmap(lambda xi: (xi * w).sin().sum())(x).sum()

    for _ in range(3):
        x = R.standard_normal((5, 3))
        out = total(tg.tensor(x))
        out.backward()
        np.testing.assert_allclose(out.numpy(), np.sin(x * w.numpy()).sum(), rtol=1e-13)
        np.testing.assert_allclose(w.grad.numpy(), (np.cos(x * w.numpy()) * x).sum(0), rtol=1e-13)
        w.grad = None
    assert len(total.plans) == 1


def test_a_compiled_function_inside_vmap_runs_as_written():
    w = R.standard_normal(3)
    compiled = tg.compile(lambda v: (v * w).sin().sum())
    x = R.standard_normal((4, 3))
    np.testing.assert_allclose(tg.vmap(compiled)(x), np.sin(x * w).sum(1))
    np.testing.assert_allclose(tg.vmap(tg.grad(compiled))(x), np.cos(x * w) * w)


def test_an_ensemble_of_models_maps_over_stacked_parameters():
    models = [_mlp(np.float64) for _ in range(3)]
    for k, m in enumerate(models):
        for p in m.parameters():
            p.data = p.data * (1 + 0.1 * k)
    stacked = {name: np.stack([dict(m.named_parameters())[name].numpy() for m in models])
               for name, _ in models[0].named_parameters()}
    x = R.standard_normal((5, 6))
    out = tg.vmap(lambda p, x: tg.func.functional_call(models[0], p, (x,)), in_axes=(0, None))(stacked, x)
    expected = np.stack([m(tg.tensor(x)).numpy() for m in models])
    np.testing.assert_allclose(out, expected, rtol=1e-13)


def test_functional_call_puts_the_module_back_and_checks_names():
    model = _mlp(np.float64)
    before = {name: p for name, p in model.named_parameters()}
    zeros = {name: np.zeros(p.shape) for name, p in before.items()}
    out = tg.func.functional_call(model, zeros, tg.tensor(R.standard_normal((2, 6))))
    np.testing.assert_array_equal(out.numpy(), np.zeros((2, 4)))
    assert all(p is before[name] for name, p in model.named_parameters())
    with pytest.raises(ShapeError):  # the call fails: the model is put back all the same
        tg.func.functional_call(model, zeros, (tg.tensor(R.standard_normal((2, 5))),))
    assert all(p is before[name] for name, p in model.named_parameters())
    with pytest.raises(ArgumentError, match=r"\['4.bogus'\] are not parameters or buffers of Sequential"):
        tg.func.functional_call(model, {"4.bogus": np.zeros(2)}, (np.zeros((1, 6)),))
    with pytest.raises(ArgumentError, match="strict=True.*'4.bias'"):
        tg.func.functional_call(model, {k: v for k, v in zeros.items() if k != "4.bias"}, (np.zeros((1, 6)),),
                                strict=True)
    with pytest.raises(ArgumentError, match="given in more than one dict"):
        tg.func.functional_call(model, ({"0.bias": np.zeros(16)}, {"0.bias": np.zeros(16)}), (np.zeros((1, 6)),))


def test_functional_call_replaces_tied_weights_under_every_name_and_buffers():
    shared = tg.nn.Linear(3, 3)
    model = tg.nn.Sequential(shared, tg.nn.Tanh(), shared)
    x = tg.tensor(R.standard_normal((2, 3)))
    w = R.standard_normal((3, 3))
    out = tg.func.functional_call(model, {"0.weight": w, "0.bias": np.zeros(3)}, (x,))
    np.testing.assert_allclose(out.numpy(), np.tanh(x.numpy() @ w.T) @ w.T, rtol=1e-6)
    norm = tg.nn.BatchNorm1d(3).eval()
    mean = R.standard_normal(3)
    out = tg.func.functional_call(norm, {"running_mean": mean}, (x,))
    np.testing.assert_allclose(out.numpy(), (x.numpy() - mean) / np.sqrt(1 + 1e-5), rtol=1e-6)
    assert np.all(norm.running_mean.numpy() == 0)


def test_a_custom_function_with_a_gradient_inside_vmap_is_refused():
    class Cube(tg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            return 3 * ctx.saved_tensors[0] ** 2 * g

    x = R.standard_normal((3, 2))
    np.testing.assert_allclose(tg.vmap(Cube.apply)(x), x ** 3)
    with pytest.raises(BatchingError, match="Cube: a custom Function inside tg.vmap"):
        tg.vmap(tg.grad(lambda v: Cube.apply(v).sum()))(x)
    with pytest.raises(BatchingError, match="Cube: a custom Function inside tg.vmap"):
        tg.grad(lambda v: tg.vmap(Cube.apply)(v).sum())(x)


def test_odeint_maps_over_initial_states_and_arguments_with_per_example_gradients():
    from tapegrad.scipy.integrate import odeint

    def pendulum(y, t, damping, frequency):
        return tg.stack([y[1], -damping * y[1] - frequency ** 2 * y[0].sin()])

    times, tight = np.linspace(0, 2, 5), {"rtol": 1e-10, "atol": 1e-10}
    y0s, dampings = np.array([[1.0, 0.0], [0.5, 0.2], [-0.3, 0.1]]), np.array([0.3, 0.1, 0.5])
    solutions = tg.vmap(lambda y0, d: odeint(pendulum, y0, times, args=(d, 2.0), **tight))(y0s, dampings)
    for k in range(3):  # one solve of the stacked states: each agrees with its own solve to the tolerances
        own = odeint(pendulum, y0s[k], times, args=(tg.tensor(dampings[k]), 2.0), **tight)
        np.testing.assert_allclose(solutions[k], own.numpy(), rtol=1e-7, atol=1e-8)

    def loss(d, y0):
        return (odeint(pendulum, y0, times, args=(d, 2.0), **tight)[:, 0] ** 2).mean()

    np.testing.assert_allclose(tg.vmap(tg.grad(loss))(dampings, y0s),
                               [tg.grad(loss)(d, y0) for d, y0 in zip(dampings, y0s)], rtol=1e-6)
    with pytest.raises(BatchingError, match="odeint: times batched by tg.vmap"):
        tg.vmap(lambda t: odeint(pendulum, y0s[0], t, args=(0.3, 2.0)))(np.stack([times, times]))

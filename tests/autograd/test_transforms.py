"""The transforms and NumPy functions on Tensors, against finite differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tapegrad as tg

rng = np.random.default_rng(11)


def test_grad_of_code_written_for_numpy_alone():
    g = tg.grad(lambda x: np.sum(np.tanh(x) ** 2))(np.ones(3))
    assert isinstance(g, np.ndarray) and g.dtype == np.float64
    np.testing.assert_allclose(g, 2 * np.tanh(1.0) / np.cosh(1.0) ** 2 * np.ones(3), rtol=1e-14)


def test_kinds_and_structures_come_back_as_given():
    params = {"w": np.array([1.0, 2.0]), "b": [1.5, (np.float32(2.0),)]}
    g = tg.grad(lambda p: np.sum(p["w"] ** 2) + p["b"][0] * 3.0 + p["b"][1][0] * 2)(params)
    assert set(g) == {"w", "b"} and isinstance(g["b"], list) and isinstance(g["b"][1], tuple)
    np.testing.assert_array_equal(g["w"], [2.0, 4.0])
    assert g["b"][0] == 3.0 and isinstance(g["b"][0], float)
    assert g["b"][1][0] == 2.0 and g["b"][1][0].dtype == np.float32
    t = tg.tensor([1.0, 2.0], dtype=np.float64)
    gt = tg.grad(lambda x: (x * x).sum())(t)
    assert isinstance(gt, tg.Tensor) and gt.tolist() == [2.0, 4.0] and t.grad is None


def test_argnums_has_aux_and_value_and_grad():
    def f(x, y, scale):
        loss = np.sum(x * y) * scale
        return loss, {"scaled": scale}

    (gx, gy), aux = tg.grad(f, argnums=(0, 1), has_aux=True)(np.ones(2), np.arange(2.0), 3.0)
    np.testing.assert_array_equal(gx, [0.0, 3.0])
    np.testing.assert_array_equal(gy, [3.0, 3.0])
    assert aux == {"scaled": 3.0}
    value, g = tg.value_and_grad(lambda x: x ** 3)(2.0)
    assert value == 8.0 and g == 12.0


def test_nested_grads_to_third_order_and_no_perturbation_confusion():
    f = lambda x: x ** 4 + np.sin(x)  # noqa: E731
    x = 0.7
    assert tg.grad(tg.grad(tg.grad(f)))(x) == pytest.approx(24 * x - np.cos(x), rel=1e-12)
    # d/dx [ d/dy (x * y) at y = x ] = d/dx x = 1, not 2
    assert tg.grad(lambda x: tg.grad(lambda y: x * y)(x))(2.0) == 1.0


def test_vjp_jacobian_hessian_hvp_match_pytorch():
    def ours(x):
        return np.tanh(x[:3] * x[1:]) * np.exp(x[0])

    def theirs(x):
        return torch.tanh(x[:3] * x[1:]) * torch.exp(x[0])

    x, v = rng.standard_normal(4), rng.standard_normal(3)
    out, pullback = tg.vjp(ours, x)
    ref_out, ref_pullback = torch.func.vjp(theirs, torch.tensor(x))
    np.testing.assert_allclose(out, ref_out.numpy(), rtol=1e-12)
    np.testing.assert_allclose(pullback(v)[0], ref_pullback(torch.tensor(v))[0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(tg.jacobian(ours)(x), torch.autograd.functional.jacobian(theirs, torch.tensor(x)),
                               rtol=1e-12)

    def scalar(x):
        return np.sum(np.sin(x) * x ** 2) + np.prod(x[:2])

    def scalar_torch(x):
        return torch.sum(torch.sin(x) * x ** 2) + torch.prod(x[:2])

    h = tg.hessian(scalar)(x)
    np.testing.assert_allclose(h, torch.autograd.functional.hessian(scalar_torch, torch.tensor(x)), rtol=1e-12)
    w = rng.standard_normal(4)
    gradient, product = tg.hvp(scalar, (x,), (w,))
    _, ref_product = torch.autograd.functional.hvp(scalar_torch, torch.tensor(x), torch.tensor(w))
    np.testing.assert_allclose(product, ref_product.numpy(), rtol=1e-12)
    np.testing.assert_allclose(product, h @ w, rtol=1e-12)
    np.testing.assert_allclose(gradient, tg.grad(scalar)(x), rtol=1e-14)


def test_jacobian_shapes_and_nesting():
    jac = tg.jacobian(lambda a: np.outer(a, a))(np.array([1.0, 2.0, 3.0]))
    assert jac.shape == (3, 3, 3)
    np.testing.assert_allclose(jac[0, 1], [2.0, 1.0, 0.0])
    both = tg.jacobian(lambda a, b: a * b, argnums=(0, 1))(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_allclose(both[0], np.diag([3.0, 4.0]))
    np.testing.assert_allclose(both[1], np.diag([1.0, 2.0]))


def test_transform_errors_are_clear():
    with pytest.raises(tg.ShapeError, match=r"single number, got shape \(3,\)"):
        tg.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(tg.DTypeError, match="int"):
        tg.grad(lambda x: x * 2.0)(3)
    with pytest.raises(ValueError, match="argnums"):
        tg.grad(lambda x: x, argnums=2)(1.0)
    _, pullback = tg.vjp(lambda x: x * 2, np.ones(2))
    with pytest.raises(tg.ShapeError, match="cotangent"):
        pullback(np.ones(3))


# -- NumPy functions on Tensors ------------------------------------------------------------------

A, B = rng.uniform(0.5, 1.5, (2, 3)), rng.uniform(0.5, 1.5, (3,))
NUMPY_CASES = {
    "ufuncs": lambda a, b: np.exp(a) * np.log(b) + np.sqrt(a) - np.sin(b) / np.cos(a) + np.tanh(a) ** 2,
    "more ufuncs": lambda a, b: np.log1p(a) + np.expm1(b) + np.abs(a - 1) + np.maximum(a, b) - np.minimum(a, 0.8)
    + np.square(a) + np.reciprocal(b) + np.tan(a * 0.3) + np.power(a, b) - np.negative(b) + np.positive(a),
    "reductions": lambda a, b: np.sum(a, axis=0) + np.mean(a, axis=0) + np.var(a, axis=0) + np.std(a, axis=0)
    + np.prod(a, axis=0) + np.max(a, axis=0) + np.min(a, axis=0) + np.amax(a, axis=0) + np.amin(a, axis=0),
    "linear algebra": lambda a, b: np.dot(a, b) + np.matmul(a, b) + (a @ b) + np.einsum("ij,j->i", a, b)
    + np.linalg.norm(a) + np.linalg.norm(b) + np.sum(np.outer(b, b)),
    "shapes": lambda a, b: np.concatenate([np.reshape(a, (6,)), b]) * np.concatenate(
        [np.ravel(np.transpose(a)), np.flip(b)]),
    "more shapes": lambda a, b: np.sum(np.stack([a, a * 2])) + np.sum(np.squeeze(np.expand_dims(a, 0)))
    + np.sum(np.broadcast_to(b, (2, 3)) * np.tile(b, (2, 1))) + np.sum(np.repeat(b, 2))
    + np.sum(np.swapaxes(a, 0, 1)) + np.sum(np.take_along_axis(a, np.array([[0], [2]]), axis=1)),
    "where and clip": lambda a, b: np.where(a > 1, a, b) + np.clip(a, 0.7, 1.2),
}


@pytest.mark.parametrize("name", sorted(NUMPY_CASES))
def test_numpy_functions_on_tensors_record_gradients(name):
    f = NUMPY_CASES[name]
    out = f(tg.tensor(A, requires_grad=True), tg.tensor(B, requires_grad=True))
    assert isinstance(out, tg.Tensor) and out.requires_grad
    np.testing.assert_allclose(out.numpy(), f(A, B), rtol=1e-12)
    assert tg.gradcheck(f, [A, B])


def test_numpy_functions_without_a_rule_raise_when_a_gradient_would_be_lost():
    x = tg.tensor([0.5, 0.2], requires_grad=True)
    with pytest.raises(TypeError, match="numpy.nextafter is not differentiated"):  # arcsin, cumsum: issue 15 added them
        np.nextafter(x, 1.0)
    with pytest.raises(TypeError, match="numpy.correlate is not differentiated"):  # convolve: issue 15 added it
        np.correlate(x, x)
    with pytest.raises(TypeError, match=r"numpy.add with the options \['out'\]"):
        np.add(x, x, out=np.zeros(2))
    plain = tg.tensor([0.5, 0.2])
    np.testing.assert_allclose(np.arcsin(plain).numpy(), np.arcsin([0.5, 0.2]), rtol=1e-6)
    np.testing.assert_array_equal(np.cumsum(plain), np.cumsum(plain.numpy()))
    assert np.shape(x) == (2,) and np.ndim(x) == 1 and np.allclose(x, [0.5, 0.2])
    assert isinstance(np.array([1.0, 2.0]) * x, tg.Tensor)


# -- forward mode --------------------------------------------------------------------------------

def test_jvp_and_jacfwd_match_pytorch():
    def ours(x, y):
        return np.tanh(x * y[0]) + np.sum(np.exp(y)) * x

    def theirs(x, y):
        return torch.tanh(x * y[0]) + torch.sum(torch.exp(y)) * x

    x, y = rng.standard_normal(3), rng.standard_normal(2)
    tx, ty = rng.standard_normal(3), rng.standard_normal(2)
    out, tangent = tg.jvp(ours, (x, y), (tx, ty))
    ref_out, ref_tangent = torch.func.jvp(theirs, (torch.tensor(x), torch.tensor(y)),
                                          (torch.tensor(tx), torch.tensor(ty)))
    np.testing.assert_allclose(out, ref_out.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tangent, ref_tangent.numpy(), rtol=1e-12)
    jx, jy = tg.jacfwd(ours, argnums=(0, 1))(x, y)
    ref = torch.func.jacfwd(theirs, argnums=(0, 1))(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(jx, ref[0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(jy, ref[1].numpy(), rtol=1e-12)
    np.testing.assert_allclose(jx, tg.jacobian(ours)(x, y), rtol=1e-12)


def test_every_jvp_rule_runs_in_forward_mode():
    a, b = A.copy(), B.copy()
    for name, f in NUMPY_CASES.items():
        ta, tb = rng.standard_normal(a.shape), rng.standard_normal(b.shape)
        _, tangent = tg.jvp(f, (a, b), (ta, tb))
        eps = 1e-6
        numerical = (f(a + eps * ta, b + eps * tb) - f(a - eps * ta, b - eps * tb)) / (2 * eps)
        np.testing.assert_allclose(tangent, numerical, rtol=1e-5, atol=1e-7, err_msg=name)


def test_forward_and_reverse_compose():
    f = lambda x: x ** 3 * np.sin(x)  # noqa: E731
    x = 0.8
    second = 6 * x * np.sin(x) + 6 * x ** 2 * np.cos(x) - x ** 3 * np.sin(x)
    assert tg.jvp(lambda y: tg.jvp(f, (y,), (1.0,))[1], (x,), (1.0,))[1] == pytest.approx(second, rel=1e-12)
    assert tg.grad(lambda y: tg.jvp(f, (y,), (1.0,))[1])(x) == pytest.approx(second, rel=1e-12)
    g = lambda v: np.sum(np.sin(v) * v ** 3)  # noqa: E731
    v = rng.standard_normal(3)
    np.testing.assert_allclose(tg.jacfwd(tg.jacobian(g))(v), tg.hessian(g)(v), rtol=1e-12)
    np.testing.assert_allclose(tg.jacfwd(tg.grad(g))(v), tg.hessian(g)(v), rtol=1e-12)


def test_forward_mode_edges():
    out, tangent = tg.jvp(lambda x: x.detach() * 2 + x, (np.ones(2),), (np.ones(2),))
    np.testing.assert_array_equal(tangent, [1.0, 1.0])  # detach stops the tangent
    with pytest.raises(tg.ShapeError, match="tangent of shape"):
        tg.jvp(lambda x: x, (np.ones(2),), (np.ones(3),))

    def in_place(x):
        y = x * 1
        y += 1
        return y

    with pytest.raises(tg.InPlaceError, match="jvp tangent"):
        tg.jvp(in_place, (np.ones(2),), (np.ones(2),))


@pytest.mark.parametrize("make", [lambda v: v, tg.tensor])
def test_one_array_passed_as_two_primals_carries_each_its_own_tangent(make):
    x = make(np.array([1.0, 2.0]))
    ones, zeros = np.ones(2), np.zeros(2)
    _, tangent = tg.jvp(lambda a, b: a + 2 * b, (x, x), (ones, zeros))
    np.testing.assert_array_equal(np.asarray(tangent), [1.0, 1.0])
    _, tangent = tg.jvp(lambda a, b: a * b, (x, x), (zeros, ones))
    np.testing.assert_array_equal(np.asarray(tangent), [1.0, 2.0])

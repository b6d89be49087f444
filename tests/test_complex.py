"""Complex numbers (issue 18) against PyTorch's complex autograd: values, gradients (PyTorch's ``.grad`` of a
complex leaf is the conjugate Wirtinger gradient, ``dL/dRe + i dL/dIm``, tapegrad's convention too),
second derivatives and forward mode, at float64 to 1e-10 and float32 to 1e-5; the constructors,
``real_if_close``, the errors, and ``tg.compile``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tapegrad as tg

RNG = np.random.default_rng(18)


def _complex(shape, scale=1.0, dtype=np.complex128):
    return ((RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)) * scale).astype(dtype)


def _loss(xp_abs, xp_real, out, weights):
    """A real loss that reads every direction of a complex (or real) result: |out|^2 and Re(out * w)."""
    return (xp_abs(out) ** 2).sum() + xp_real(out * weights).sum()


def _tolerance(dtype):
    return 1e-5 if np.dtype(dtype) in (np.complex64, np.float32) else 1e-10


def compare(fn, inputs, *, second=True, torch_fn=None):
    """``fn`` (written for both libraries: NumPy-style calls on Tensors, tensor methods) on tapegrad and
    PyTorch: the value, the gradient of a real loss of it, and a second derivative (the gradient of the
    gradient's squared norm)."""
    torch_fn = torch_fn or fn
    ours = [tg.tensor(a, requires_grad=True) for a in inputs]
    theirs = [torch.tensor(a, requires_grad=True) for a in inputs]
    out, out_t = fn(*ours), torch_fn(*theirs)
    tol = _tolerance(out_t.detach().numpy().dtype)
    assert out.dtype == out_t.detach().numpy().dtype
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=tol, atol=tol)
    weights = _complex(out.shape, dtype=np.complex128 if out.dtype.itemsize >= 8 and out.dtype != np.complex64
                       else np.complex64)
    if out.dtype.kind == "f":
        weights = weights.real.astype(out.dtype)
    loss = _loss(abs, lambda v: v.real, out, weights)
    loss_t = _loss(torch.abs, torch.real, out_t, torch.tensor(weights))
    grads = tg.autograd.grad(loss, ours, create_graph=second)
    grads_t = torch.autograd.grad(loss_t, theirs, create_graph=second)
    for g, g_t, x in zip(grads, grads_t, ours):
        assert g.dtype == x.dtype
        scale = max(1.0, np.abs(g_t.detach().numpy()).max())
        np.testing.assert_allclose(g.numpy(), g_t.detach().numpy(), rtol=tol, atol=tol * scale)
    if second:
        again = sum((abs(g) ** 2).sum() for g in grads)
        again_t = sum((torch.abs(g) ** 2).sum() for g in grads_t)
        for h, h_t in zip(tg.autograd.grad(again, ours), torch.autograd.grad(again_t, theirs)):
            scale = max(1.0, np.abs(h_t.numpy()).max())
            np.testing.assert_allclose(h.numpy(), h_t.numpy(), rtol=10 * tol, atol=10 * tol * scale)


def test_the_convention_is_pytorchs_the_gradient_of_abs_squared_is_2z():
    z = tg.tensor(np.array([1 + 2j, -3 + 0.5j]), requires_grad=True)
    (abs(z) ** 2).sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [2 + 4j, -6 + 1j])
    # gradient descent on a complex parameter works unchanged: minimise |z - c|^2
    c = np.array([0.5 - 1j, 2 + 2j])
    w = tg.tensor(np.zeros(2, complex), requires_grad=True)
    for _ in range(100):
        loss = (abs(w - c) ** 2).sum()
        (g,) = tg.autograd.grad(loss, [w])
        with tg.no_grad():
            w -= 0.1 * g
    np.testing.assert_allclose(w.numpy(), c, atol=1e-9)


UNARY = {
    "exp": lambda z: z.exp(), "log": lambda z: z.log(), "sqrt": lambda z: z.sqrt(), "sin": lambda z: z.sin(),
    "cos": lambda z: z.cos(), "tan": lambda z: z.tan(), "tanh": lambda z: z.tanh(), "abs": lambda z: z.abs(),
    "real": lambda z: z.real, "imag": lambda z: z.imag, "conj": lambda z: z.conj() * z,
    "angle": lambda z: z.angle(), "neg": lambda z: -z, "square": lambda z: z * z, "reciprocal": lambda z: 1 / z,
    "pow2": lambda z: z ** 2, "pow_half": lambda z: z ** 0.5, "pow_complex": lambda z: z ** (0.5 + 0.25j),
    "exp_base": lambda z: 2.0 ** z, "log1p": lambda z: z.log1p(), "expm1": lambda z: z.expm1(),
}


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_elementwise_functions_match_pytorch(name, dtype):
    compare(UNARY[name], [_complex((3, 4), 0.8, dtype)])


def _sum(z):
    return z.sum(1) if isinstance(z, torch.Tensor) else z.sum(axis=1)


REDUCTIONS_AND_SHAPES = {
    "sum": lambda z: z.sum(), "sum_axis": _sum,
    "mean": lambda z: z.mean(), "prod": lambda z: z.prod(),
    "reshape": lambda z: z.reshape(4, 3) * z.reshape(4, 3).exp(), "transpose": lambda z: z.T @ z,
    "getitem": lambda z: z[1:, ::2] * z[0, :2], "flip": lambda z: z.flip((0,)) * z if isinstance(z, torch.Tensor)
    else z.flip(0) * z, "stack": lambda z: (tg.stack if not isinstance(z, torch.Tensor) else torch.stack)([z, 2 * z]),
    "var": lambda z: z.var() if not isinstance(z, torch.Tensor) else z.var(unbiased=False),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS_AND_SHAPES))
def test_reductions_and_shapes_match_pytorch(name):
    compare(REDUCTIONS_AND_SHAPES[name], [_complex((3, 4), 0.7)])


BINARY = {
    "add": lambda a, b: a + b, "subtract": lambda a, b: a - b, "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a / b, "power": lambda a, b: a ** b, "matmul": lambda a, b: a @ b.T,
    "broadcast_multiply": lambda a, b: a[:, :1] * b,
}


@pytest.mark.parametrize("kinds", ["complex-complex", "real-complex", "complex-real"])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_operations_match_pytorch_also_between_real_and_complex(name, kinds):
    first, second = kinds.split("-")
    a = _complex((3, 4), 0.6) + 1.5
    b = _complex((3, 4), 0.6) + 1.2
    inputs = [a.real.copy() if first == "real" else a, b.real.copy() if second == "real" else b]
    compare(BINARY[name], inputs, torch_fn=lambda a, b: BINARY[name](*_promoted(a, b)))


def _promoted(*tensors):
    """PyTorch's operands made complex (its matmul and einsum do not mix real and complex; its gradient of a
    real tensor cast to complex is the real part, as tapegrad's of a real operand)."""
    return [t.to(torch.complex128) if not t.is_complex() else t for t in tensors]


def test_einsum_matches_pytorch():
    def fn(a, b):
        return (torch.einsum if isinstance(a, torch.Tensor) else tg.einsum)("ij,kj->ik", a, b)
    compare(fn, [_complex((3, 4)), _complex((2, 4))])
    compare(fn, [_complex((3, 4)), RNG.standard_normal((2, 4))], torch_fn=lambda a, b: fn(*_promoted(a, b)))


def test_numpy_functions_on_complex_tensors_match_pytorch():
    def ours(z):
        return np.real(z) * np.imag(z) + np.angle(z) + np.abs(np.conj(z) * np.exp(z)) + np.sum(np.sin(z) ** 2)

    def theirs(z):
        return z.real * z.imag + z.angle() + torch.abs(z.conj() * z.exp()) + (z.sin() ** 2).sum()
    compare(ours, [_complex(5)], torch_fn=theirs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_constructors_match_torch_complex(dtype):
    x, y = RNG.standard_normal(4).astype(dtype), RNG.standard_normal(4).astype(dtype)
    compare(lambda a, b: tg.complex(a, b) if isinstance(a, tg.Tensor) else torch.complex(a, b), [x, y])
    compare(lambda a, b: (a + 1j * b) * (a - 2j), [x, y])
    assert tg.complex(x, y).dtype == (np.complex64 if dtype == np.float32 else np.complex128)
    assert tg.tensor(1j).dtype == np.complex64 and tg.complex(1.0, 2.0).dtype == np.complex64


def test_forward_mode_matches_pytorch():
    z, t = _complex(4), _complex(4)

    def f(v):
        return (v * v).exp() * v.conj() + abs(v) if not isinstance(v, torch.Tensor) else \
            (v * v).exp() * v.conj() + torch.abs(v)
    value, tangent = tg.jvp(f, (z,), (t,))
    value_t, tangent_t = torch.func.jvp(f, (torch.tensor(z),), (torch.tensor(t),))
    np.testing.assert_allclose(value, value_t.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tangent, tangent_t.numpy(), rtol=1e-10, atol=1e-12)


def test_transforms_take_complex_inputs_and_return_the_conjugate_wirtinger_gradient():
    assert tg.grad(lambda z: abs(z) ** 2)(1 + 2j) == 2 + 4j
    z = _complex(3)
    np.testing.assert_allclose(tg.grad(lambda v: np.sum(np.abs(v) ** 2))(z), 2 * z)


def test_real_if_close_follows_numpy():
    almost = tg.tensor(np.array([1 + 1e-17j, 2 - 1e-16j]))
    assert np.real_if_close(almost).dtype == np.float64
    assert np.real_if_close(tg.tensor(np.array([1 + 1e-3j]))).dtype == np.complex128
    assert np.real_if_close(tg.tensor(np.array([1 + 1e-3j])), tol=1e-2).dtype == np.float64
    z = tg.tensor(np.array([1.5 + 1e-17j]), requires_grad=True)
    (np.real_if_close(z) * 3).sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [3 + 0j])


def test_a_complex_output_needs_an_explicit_gradient_and_a_gradient_may_be_complex():
    z = tg.tensor(np.array([1 + 1j]), requires_grad=True)
    with pytest.raises(tg.BackwardError, match="complex .* only for a real loss"):
        (z * 2).sum().backward()
    (z * 2).backward(gradient=np.array([1 - 1j]))
    np.testing.assert_array_equal(z.grad.numpy(), [2 - 2j])  # conj(2) * (1 - 1j)


def test_requires_grad_of_complex_tensors_and_not_of_integers():
    assert tg.tensor(np.array([1j]), requires_grad=True).requires_grad
    with pytest.raises(tg.DTypeError, match="only floating and complex tensors"):
        tg.tensor([1, 2], requires_grad=True)


@pytest.mark.parametrize("call, name", [
    (lambda z: tg.maximum(z, z), "maximum"), (lambda z: tg.relu(z), "relu"), (lambda z: z.max(), "max"),
    (lambda z: np.sort(z), "sort"), (lambda z: tg.clip(z, 0, 1), "clip"), (lambda z: np.arctan2(z, z), "arctan2"),
])
def test_operations_without_complex_rules_raise_dtype_error_naming_themselves(call, name):
    z = tg.tensor(_complex(3), requires_grad=True)
    with pytest.raises(tg.DTypeError, match=rf"^{name}: "):
        call(z)


def test_compiled_complex_functions_give_eager_gradients():
    def f(x, z):
        w = (x * z).exp() + z.conj() * 2j
        return (abs(w) ** 2).sum() + (w * z).real.sum()
    x, z = RNG.standard_normal(3), _complex(3, 0.5)
    eager = [tg.tensor(x, requires_grad=True), tg.tensor(z, requires_grad=True)]
    compiled = [tg.tensor(x, requires_grad=True), tg.tensor(z, requires_grad=True)]
    f(*eager).backward()
    tg.compile(f)(*compiled).backward()
    for e, c in zip(eager, compiled):
        np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=1e-12)
        assert c.grad.dtype == e.grad.dtype


LINALG = {
    "inv": (lambda a: np.linalg.inv(a), lambda a: torch.linalg.inv(a)),
    "det": (lambda a: np.linalg.det(a), lambda a: torch.linalg.det(a)),
    "logabsdet": (lambda a: np.linalg.slogdet(a)[1], lambda a: torch.linalg.slogdet(a)[1]),
    "solve": (lambda a: np.linalg.solve(a, a[..., :1] * 2 + 1j), lambda a: torch.linalg.solve(a, a[..., :1] * 2 + 1j)),
}


@pytest.mark.parametrize("name", sorted(LINALG))
def test_linear_algebra_of_complex_matrices_matches_pytorch(name):
    a = _complex((2, 3, 3), 0.3) + 2 * np.eye(3)
    ours, theirs = LINALG[name]
    compare(ours, [a], torch_fn=theirs)


def test_the_sign_of_slogdet_is_complex_and_takes_no_gradient():
    a = tg.tensor(_complex((3, 3), 0.3) + 2 * np.eye(3), requires_grad=True)
    sign, logabs = np.linalg.slogdet(a)
    expected = np.linalg.slogdet(a.detach().numpy())
    np.testing.assert_allclose(sign.numpy(), expected[0], rtol=1e-12)
    assert not sign.requires_grad and logabs.requires_grad and logabs.dtype == np.float64


@pytest.mark.parametrize("name, options", [("SGD", {"lr": 0.01, "momentum": 0.5}), ("Adam", {"lr": 0.05}),
                                           ("AdamW", {"lr": 0.05, "weight_decay": 0.1}), ("RMSprop", {"lr": 0.05}),
                                           ("Adagrad", {"lr": 0.05})])
def test_optimizers_update_complex_parameters_as_pytorchs_do(name, options):
    # PyTorch's optimizers treat a complex parameter as its real and imaginary parts (view_as_real)
    start = _complex((2, 3), 0.5)
    ours = tg.tensor(start, requires_grad=True)
    theirs = torch.tensor(start, requires_grad=True)
    optimizer, optimizer_t = getattr(tg.optim, name)([ours], **options), getattr(torch.optim, name)([theirs], **options)
    for step in range(15):
        if step == 7:  # the state (real moments of a complex parameter) survives a round trip
            optimizer.load_state_dict(optimizer.state_dict())
        optimizer.zero_grad()
        (abs(ours * ours - 1j) ** 2).sum().backward()
        optimizer.step()
        optimizer_t.zero_grad()
        (torch.abs(theirs * theirs - 1j) ** 2).sum().backward()
        optimizer_t.step()
    assert np.all(np.isfinite(ours.numpy())) and not np.allclose(ours.numpy(), start)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)

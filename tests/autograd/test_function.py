"""Custom functions and hooks."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg


class ScaledExp(tg.Function):
    @staticmethod
    def forward(ctx, x, scale):
        y = np.exp(x.data) * scale
        ctx.save_for_backward(y)
        ctx.seen = ctx.needs_input_grad
        return tg.tensor(y)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y, None


class SumAndDouble(tg.Function):
    @staticmethod
    def forward(ctx, x, y):
        return x * 2, (x * y).sum()

    @staticmethod
    def backward(ctx, g_double, g_sum):
        return g_double * 2 + g_sum, None


def test_function_forward_backward_and_context():
    x = tg.tensor(np.array([0.5, 1.0]), requires_grad=True)
    y = ScaledExp.apply(x, 2.0)
    np.testing.assert_allclose(y.numpy(), 2 * np.exp(x.numpy()))
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(x.numpy()))
    assert tg.gradcheck(lambda t: ScaledExp.apply(t, 2.0), [np.array([0.3, -0.4])])
    # Its backward uses a saved array, a constant: first derivatives are right, second ones are not,
    # and gradgradcheck says so. A backward written with tensor operations is twice differentiable.
    with pytest.raises(tg.GradcheckError):
        tg.gradgradcheck(lambda t: ScaledExp.apply(t, 1.0), [np.array([0.3, -0.4])])

    class Exp(tg.Function):
        @staticmethod
        def forward(ctx, t):
            ctx.save_for_backward(t)
            return t.exp()

        @staticmethod
        def backward(ctx, g):
            (t,) = ctx.saved_tensors
            return g * t.exp()

    assert tg.gradgradcheck(lambda t: Exp.apply(t) * t, [np.array([0.3, -0.4])])


def test_several_outputs_and_inputs_without_gradient():
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    other = tg.tensor(np.array([3.0, 4.0]))
    double, total = SumAndDouble.apply(x, other)
    assert double.tolist() == [2.0, 4.0] and total.item() == 11.0
    (double.sum() + 3 * total).backward()
    assert x.grad.tolist() == [5.0, 5.0]
    with tg.no_grad():
        assert not SumAndDouble.apply(x, other)[0].requires_grad


def test_wrong_backwards_are_named_and_caught_by_gradcheck():
    class TooFew(tg.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    class WrongShape(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.sum()

    class WrongValue(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(tg.BackwardError, match=r"TooFew.backward returned 1 gradients, but forward took 2"):
        TooFew.apply(x, x).sum().backward()
    with pytest.raises(tg.ShapeError, match=r"WrongShape.backward returned a gradient of shape \(\) for input 0, "
                                             r"which has shape \(2,\)"):
        WrongShape.apply(x).sum().backward()
    with pytest.raises(tg.GradcheckError):
        tg.gradcheck(lambda t: WrongValue.apply(t), [np.array([1.0, 2.0])])


def test_custom_vjp_in_jax_style():
    @tg.custom_vjp
    def clipped_identity(x):
        return x

    clipped_identity.defvjp(lambda x: (x, None), lambda residuals, g: (g.clip(-1.0, 1.0),))
    g = tg.grad(lambda x: np.sum(clipped_identity(x) * 5.0))(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g, [1.0, 1.0])

    @tg.custom_vjp
    def plain(x):
        return x * 2

    assert tg.grad(lambda x: plain(x))(3.0) == 2.0  # no defvjp: an ordinary function


def test_hooks_see_and_replace_gradients():
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    seen = []
    h.register_hook(lambda g: seen.append(g.tolist()))
    h.register_hook(lambda g: g * 10)
    (h * h).sum().backward()
    assert seen == [[6.0, 12.0]]
    assert x.grad.tolist() == [180.0, 360.0]
    x.grad = None
    handle = x.register_hook(lambda g: g + 1)
    (x * 2).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    with pytest.raises(tg.BackwardError):
        tg.tensor([1.0]).register_hook(print)


def test_user_code_in_backward_records_only_in_a_recorded_backward_pass():
    seen = []

    class Double(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            seen.append(("function", tg.is_grad_enabled()))
            return g * 2

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = Double.apply(x)
    y.register_hook(lambda g: seen.append(("hook", tg.is_grad_enabled())))
    y.sum().backward(retain_graph=True)
    assert seen == [("hook", False), ("function", False)] and tg.is_grad_enabled()
    seen.clear()
    (g,) = tg.autograd.grad(y.sum(), x, create_graph=True)
    assert seen == [("hook", True), ("function", True)]
    np.testing.assert_array_equal(g.numpy(), [2.0, 2.0])


def test_outputs_of_two_dtypes_give_gradients_in_their_own_dtypes():
    class Two(tg.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * 2.0, b * 3.0

        @staticmethod
        def backward(ctx, ga, gb):
            assert (ga.dtype, gb.dtype) == (np.float32, np.float64)
            return ga * 2.0, gb * 3.0

    a = tg.tensor(np.ones(2, np.float32), requires_grad=True)
    b = tg.tensor(np.ones(3, np.float64), requires_grad=True)
    ya, yb = Two.apply(a, b)
    assert (ya.dtype, yb.dtype) == (np.float32, np.float64)
    (ya.sum() + yb.sum()).backward()
    assert a.grad.dtype == np.float32 and a.grad.tolist() == [2.0, 2.0]
    assert b.grad.dtype == np.float64 and b.grad.tolist() == [3.0, 3.0, 3.0]

"""tapegrad.scipy.integrate.odeint (issue 15): values against scipy.integrate.odeint; gradients in y0, in the
arguments and in the times (the adjoint method) against differentiating through a fine fixed-step RK4
integrator written with tapegrad operations, against finite differences and against HIPS autograd's
autograd.scipy.integrate.odeint; second derivatives and forward mode; memory that does not grow with the
solver's steps; and the errors."""

from __future__ import annotations

import tracemalloc
import warnings

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import scipy.integrate
from autograd.builtins import tuple as atuple
from autograd.scipy.integrate import odeint as aodeint

import tapegrad as tg
from tapegrad.errors import ArgumentError, BackwardError, DTypeError, ShapeError
from tapegrad.scipy.integrate import odeint

TIGHT = {"rtol": 1e-11, "atol": 1e-11}
R = np.random.default_rng(0)


def pendulum(y, t, damping, frequency):
    """A damped, driven pendulum: y = (angle, angular velocity); non-autonomous (the drive cos(t))."""
    return tg.stack([y[1], -damping * y[1] - frequency ** 2 * np.sin(y[0]) + 0.2 * np.cos(t)])


def pendulum_autograd(y, t, damping, frequency):
    return anp.array([y[1], -damping * y[1] - frequency ** 2 * anp.sin(y[0]) + 0.2 * anp.cos(t)])


def pendulum_numpy(y, t, damping, frequency):
    return np.array([y[1], -damping * y[1] - frequency ** 2 * np.sin(y[0]) + 0.2 * np.cos(t)])


def rk4(func, y0, times, args, substeps):
    """Fixed-step RK4 on Tensors from times[0] to each time (``substeps`` steps between outputs)."""
    y, ys = y0, [y0]
    for i in range(1, len(times)):
        h = (times[i] - times[i - 1]) / substeps
        s = times[i - 1]
        for _ in range(substeps):
            k1 = func(y, s, *args)
            k2 = func(y + h / 2 * k1, s + h / 2, *args)
            k3 = func(y + h / 2 * k2, s + h / 2, *args)
            k4 = func(y + h * k3, s + h, *args)
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            s = s + h
        ys.append(y)
    return tg.stack(ys)


Y0 = np.array([1.1, -0.3])
TIMES = np.array([0.0, 0.4, 1.0, 1.7, 2.5, 3.0])
ARGS = (0.35, 1.6)
WEIGHTS = R.normal(size=(len(TIMES), 2))


def trajectory_loss(solve):
    def loss(y0, times, damping, frequency):
        ys = solve(pendulum, y0, times, (damping, frequency))
        return (ys * WEIGHTS[:len(ys)]).sum() + (ys[:, 0] ** 2).sum()
    return loss


ADJOINT = trajectory_loss(lambda f, y0, times, args: odeint(f, y0, times, args=args, **TIGHT))
FIXED_STEP = trajectory_loss(lambda f, y0, times, args: rk4(f, y0, times, args, substeps=200))


def test_values_match_scipy_odeint():
    ours = odeint(pendulum, Y0, TIMES, args=ARGS)
    theirs = scipy.integrate.odeint(pendulum_numpy, Y0, TIMES, args=ARGS)
    assert isinstance(ours, tg.Tensor) and ours.shape == (len(TIMES), 2) and ours.dtype == np.float64
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-12, atol=1e-12)


def test_gradients_match_differentiating_through_fine_fixed_step_rk4():
    adjoint = tg.grad(ADJOINT, argnums=(0, 1, 2, 3))(Y0, TIMES, *ARGS)
    fixed = tg.grad(FIXED_STEP, argnums=(0, 1, 2, 3))(Y0, TIMES, *ARGS)
    assert float(ADJOINT(Y0, TIMES, *ARGS)) == pytest.approx(float(FIXED_STEP(Y0, TIMES, *ARGS)), rel=1e-9)
    for ours, reference in zip(adjoint, fixed):
        np.testing.assert_allclose(ours, reference, rtol=1e-7, atol=1e-8)
    assert np.all(np.abs(adjoint[1]) > 1e-3)  # every time has a real gradient


def test_gradients_match_finite_differences():
    values = np.concatenate([Y0, TIMES, ARGS])

    def flat(v):
        return ADJOINT(v[:2], v[2:2 + len(TIMES)], v[-2], v[-1])

    ours = tg.grad(flat)(values)
    eps = 1e-6
    numeric = np.array([(float(flat(values + eps * e)) - float(flat(values - eps * e))) / (2 * eps)
                        for e in np.eye(len(values))])
    np.testing.assert_allclose(ours, numeric, rtol=1e-6, atol=1e-7)


def test_gradients_match_hips_autograd():
    ours = tg.grad(ADJOINT, argnums=(0, 1, 2, 3))(Y0, TIMES, *ARGS)

    def loss(y0, times, args):
        ys = aodeint(pendulum_autograd, y0, times, args, **TIGHT)
        return anp.sum(ys * WEIGHTS) + anp.sum(ys[:, 0] ** 2)

    theirs = autograd.grad(loss, (0, 1, 2))(Y0, TIMES, atuple(ARGS))
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose([ours[2], ours[3]], [float(v) for v in theirs[2]], rtol=1e-8)


def test_backward_fills_grad_of_tensors_and_a_tensor_argument_of_any_shape():
    # Lotka-Volterra with a (2, 2) interaction matrix: the argument's gradient has its shape.
    interactions = tg.tensor([[0.0, -0.4], [0.3, 0.0]], dtype=np.float64, requires_grad=True)
    growth = tg.tensor([1.0, -0.8], dtype=np.float64, requires_grad=True)
    y0 = tg.tensor([1.2, 0.7], dtype=np.float64, requires_grad=True)

    def lotka_volterra(y, t, a, r):
        return y * (r + a @ y)

    ys = odeint(lotka_volterra, y0, np.linspace(0, 2, 5), args=(interactions, growth), **TIGHT)
    (ys ** 2).sum().backward()
    fixed = [x.detach().requires_grad_() for x in (y0, interactions, growth)]
    (rk4(lotka_volterra, fixed[0], tg.tensor(np.linspace(0, 2, 5)), fixed[1:], 300) ** 2).sum().backward()
    for ours, reference in zip((y0, interactions, growth), fixed):
        assert ours.grad.shape == ours.shape
        np.testing.assert_allclose(ours.grad.numpy(), reference.grad.numpy(), rtol=1e-7, atol=1e-9)


def test_second_derivatives_match_finite_differences_of_the_gradient():
    values = np.concatenate([Y0, TIMES[1:3], ARGS])

    def loss(v):
        times = tg.concatenate([tg.tensor(np.zeros(1)), v[2:4], tg.tensor(TIMES[3:4])])
        return ADJOINT(v[:2], times, v[4], v[5])

    hessian = tg.hessian(loss)(values)
    eps = 1e-5
    numeric = np.array([(tg.grad(loss)(values + eps * e) - tg.grad(loss)(values - eps * e)) / (2 * eps)
                        for e in np.eye(len(values))])
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hessian, numeric, rtol=1e-5, atol=1e-5)


def test_hessian_matches_the_fixed_step_integrators():
    def loss(v, solve):
        return solve(v[:2], TIMES[:3], v[2], v[3])

    values = np.concatenate([Y0, ARGS])
    ours = tg.hessian(lambda v: loss(v, ADJOINT))(values)
    reference = tg.hessian(lambda v: loss(v, trajectory_loss(lambda f, y, t, a: rk4(f, y, t, a, 60))))(values)
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("which", ["y0", "times", "damping", "all"])
def test_forward_mode_matches_reverse_mode(which):
    values = np.concatenate([Y0, TIMES, ARGS])
    tangent = np.zeros_like(values)
    pick = {"y0": slice(0, 2), "times": slice(2, 2 + len(TIMES)), "damping": slice(-2, -1), "all": slice(None)}
    tangent[pick[which]] = R.normal(size=tangent[pick[which]].shape)

    def solution(v):
        return odeint(pendulum, v[:2], v[2:2 + len(TIMES)], args=(v[-2], v[-1]), **TIGHT)

    _, ours = tg.jvp(solution, (values,), (tangent,))
    jacobian = tg.jacobian(solution)(values)
    assert ours.shape == (len(TIMES), 2)
    np.testing.assert_allclose(ours, jacobian @ tangent, rtol=1e-7, atol=1e-8)


def test_forward_over_reverse_gives_the_hessian():
    values = np.array(ARGS)

    def loss(v):
        return ADJOINT(Y0, TIMES[:3], v[0], v[1])

    np.testing.assert_allclose(tg.jacfwd(tg.grad(loss))(values), tg.hessian(loss)(values), rtol=1e-6, atol=1e-7)


def test_shapes_scalar_and_matrix_states_float32_and_lists():
    # a scalar state: the solution has shape (len(t),)
    decay = odeint(lambda y, t, k: -k * y, 2.0, [0.0, 1.0, 2.0], args=(0.5,), **TIGHT)
    np.testing.assert_allclose(decay.numpy(), 2.0 * np.exp(-0.5 * np.array([0.0, 1.0, 2.0])), rtol=1e-9)
    # a (2, 2) state, dY/dt = A Y: the solution is expm(t A) Y0
    a = tg.tensor([[0.0, 1.0], [-2.0, -0.3]], dtype=np.float64, requires_grad=True)
    y0 = np.eye(2)
    ys = odeint(lambda y, t, m: m @ y, y0, [0.0, 0.5, 1.0], args=(a,), **TIGHT)
    import scipy.linalg

    assert ys.shape == (3, 2, 2)
    np.testing.assert_allclose(ys.numpy()[2], scipy.linalg.expm(a.numpy()), rtol=1e-8, atol=1e-10)
    ys[2].sum().backward()
    fixed = a.detach().requires_grad_()
    rk4(lambda y, t, m: m @ y, tg.tensor(y0), tg.tensor(np.array([0.0, 0.5, 1.0])), (fixed,), 200)[2].sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), fixed.grad.numpy(), rtol=1e-8, atol=1e-10)
    # float32 stays float32; gradients too
    y32 = tg.tensor(np.array([1.0, 0.0], np.float32), requires_grad=True)
    out = odeint(pendulum, y32, TIMES, args=ARGS)
    assert out.dtype == np.float32
    out.sum().backward()
    assert y32.grad.dtype == np.float32
    # func may return a list of 0-d Tensors and numbers, as SciPy's users write it; tfirst as in SciPy
    listed = odeint(lambda y, t: [y[1], -y[0]], Y0, TIMES, **TIGHT)
    tfirst = odeint(lambda t, y: tg.stack([y[1], -y[0]]), Y0, TIMES, tfirst=True, **TIGHT)
    expected = scipy.integrate.odeint(lambda y, t: [y[1], -y[0]], Y0, TIMES, **TIGHT)
    np.testing.assert_allclose(listed.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(tfirst.numpy(), expected, rtol=1e-12)


def test_arguments_nested_in_lists_and_constants_among_them():
    weights = tg.tensor([0.35, 1.6], dtype=np.float64, requires_grad=True)

    def func(y, t, params, scale):
        return pendulum(y, t, params[0][0], params[1]) * scale

    ys = odeint(func, Y0, TIMES, args=([weights[:1], weights[1]], 1.0), **TIGHT)
    (ys * WEIGHTS).sum().backward()
    expected = tg.grad(lambda d, w: trajectory_loss(lambda f, y, t, a: odeint(f, y, t, args=a, **TIGHT))(
        Y0, TIMES, d, w) - (odeint(pendulum, Y0, TIMES, args=(d, w), **TIGHT)[:, 0] ** 2).sum(),
        argnums=(0, 1))(*ARGS)
    np.testing.assert_allclose(weights.grad.numpy(), expected, rtol=1e-9)


def test_decreasing_times_and_a_single_time():
    backwards = TIMES[::-1]
    ours = tg.grad(ADJOINT, argnums=(0, 1, 2))(Y0, backwards, *ARGS)
    fixed = tg.grad(FIXED_STEP, argnums=(0, 1, 2))(Y0, backwards, *ARGS)
    for a, b in zip(ours, fixed):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-8)
    y0 = tg.tensor(Y0, requires_grad=True)
    single = odeint(pendulum, y0, [0.5], args=ARGS)
    np.testing.assert_array_equal(single.numpy(), Y0[None])
    (single * 3.0).sum().backward()
    np.testing.assert_array_equal(y0.grad.numpy(), [3.0, 3.0])


def test_memory_kept_for_backward_does_not_grow_with_the_solver_steps():
    def kept(hmax):
        y0 = tg.tensor(Y0, requires_grad=True)
        tracemalloc.start()
        try:
            out = odeint(pendulum, y0, TIMES, args=ARGS, hmax=hmax, mxstep=100000)
            size = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        steps = odeint(pendulum, Y0, TIMES, args=ARGS, hmax=hmax, mxstep=100000, full_output=True)[1]["nst"][-1]
        out.sum().backward()
        return size, steps, y0.grad.numpy()

    few, many = kept(0.0), kept(1e-3)
    assert many[1] > 20 * few[1]  # the solver took 20x more steps
    assert many[0] < few[0] + 4096  # but the graph keeps the same few arrays
    np.testing.assert_allclose(many[2], few[2], rtol=1e-5)


def test_compiled_function_with_odeint_gives_eager_values_and_gradients():
    def loss(y0, damping):
        return (odeint(pendulum, y0, TIMES, args=(damping, ARGS[1]), **TIGHT) * WEIGHTS).sum()

    compiled = tg.compile(loss)
    for _ in range(2):  # traced, then run from the plan
        y0, damping = tg.tensor(Y0, requires_grad=True), tg.tensor(ARGS[0], dtype=np.float64, requires_grad=True)
        out = compiled(y0, damping)
        out.backward()
        expected = tg.grad(loss, argnums=(0, 1))(Y0, ARGS[0])
        assert float(out) == pytest.approx(float(loss(Y0, ARGS[0])), rel=1e-12)
        np.testing.assert_allclose(y0.grad.numpy(), expected[0], rtol=1e-10)
        np.testing.assert_allclose(float(damping.grad), expected[1], rtol=1e-10)


def test_full_output_and_dfun_as_in_scipy():
    def jacobian(y, t, damping, frequency):
        return np.array([[0.0, 1.0], [-frequency ** 2 * np.cos(y[0]), -damping]])

    ours, info = odeint(pendulum, Y0, TIMES, args=ARGS, Dfun=jacobian, full_output=True)
    theirs, their_info = scipy.integrate.odeint(pendulum_numpy, Y0, TIMES, args=ARGS, Dfun=jacobian,
                                                full_output=True)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-12)
    assert info["message"] == their_info["message"] == "Integration successful."
    np.testing.assert_array_equal(info["nst"], their_info["nst"])


def test_captured_tensor_that_requires_grad_is_an_error_not_a_lost_gradient():
    k = tg.tensor(0.5, requires_grad=True)
    with pytest.raises(ArgumentError, match="odeint: func reads a Tensor that requires grad.*args"):
        odeint(lambda y, t: -k * y, 1.0, [0.0, 1.0])
    with pytest.raises(ArgumentError, match="odeint: func reads a Tensor"):
        tg.jvp(lambda c: odeint(lambda y, t: -c * y, 1.0, [0.0, 1.0]), (0.5,), (1.0,))
    with tg.no_grad():  # nothing to lose
        assert odeint(lambda y, t: -k * y, 1.0, [0.0, 1.0]).shape == (2,)


@pytest.mark.parametrize(("call", "error", "words"), [
    (lambda: odeint(pendulum, Y0, [[0.0, 1.0]], args=ARGS), ShapeError, ["odeint", "t has shape (1, 2)"]),
    (lambda: odeint(pendulum, Y0, [], args=ARGS), ShapeError, ["odeint", "t has shape (0,)"]),
    (lambda: odeint(pendulum, Y0, [0.0, 2.0, 1.0], args=ARGS), ArgumentError, ["odeint", "monotonic"]),
    (lambda: odeint(lambda y, t: y[:1], Y0, TIMES), ShapeError, ["odeint", "shape (1,)", "(2,)"]),
    (lambda: odeint("pendulum", Y0, TIMES), ArgumentError, ["odeint", "callable", "str"]),
    (lambda: odeint(pendulum, np.array(["a", "b"]), TIMES, args=ARGS), DTypeError, ["odeint", "y0"]),
    (lambda: odeint(pendulum, Y0, TIMES, args=ARGS, rtol=-1.0), ArgumentError, ["odeint", "rtol"]),
])
def test_bad_inputs_raise_errors_naming_odeint(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_a_failing_backward_solve_is_an_error():
    y0 = tg.tensor(Y0, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = odeint(pendulum, y0, [0.0, 50.0], args=ARGS, mxstep=20)
    with pytest.raises(BackwardError, match="odeint: the backward .adjoint. solve failed: Excess work"):
        out.sum().backward()


def test_explain_names_the_solve_and_its_func():
    damping = tg.tensor(0.35, dtype=np.float64, requires_grad=True, name="damping")
    text = str(tg.explain(odeint(pendulum, Y0, TIMES[:3], args=(damping, 1.6)).sum()))
    assert "odeint(" in text and "func pendulum, y0 shape (2,)" in text

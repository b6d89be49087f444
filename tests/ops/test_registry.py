"""One sweep over the whole primitive registry: no primitive ships without its gradients checked
against finite differences, to first and second order, and its JVP rule checked too."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad.ops import NUMPY, REGISTRY
from tapegrad.ops import linalg as L
from tapegrad.ops.shape import sum_to_forward
from tapegrad.tensor import apply, apply_binary, apply_unary

from .samples import SAMPLERS

DIFFERENTIABLE = sorted(name for name, prim in REGISTRY.items() if prim.differentiable)
NOT_DIFFERENTIABLE = sorted(name for name, prim in REGISTRY.items() if not prim.differentiable)


def test_every_differentiable_primitive_has_a_sampler():
    assert sorted(SAMPLERS) == DIFFERENTIABLE


def _function(prim, params):
    """The primitive as users reach it: the fast paths of the methods and operators where they apply."""
    def run(*args):
        if len(args) == 1:
            return apply_unary(prim, *args, **params)
        if len(args) == 2 and not params:
            return apply_binary(prim, *args)
        return apply(prim, *args, **params)
    return run


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@given(data=st.data())
def test_first_derivatives_match_finite_differences(name, data):
    case = SAMPLERS[name](data.draw)
    assert tg.gradcheck(_function(REGISTRY[name], case.params), case.args, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@given(data=st.data())
def test_second_derivatives_match_finite_differences(name, data):
    case = SAMPLERS[name](data.draw)
    assert tg.gradgradcheck(_function(REGISTRY[name], case.params), case.args, atol=1e-5, rtol=1e-3)


def _jvp(prim, args, tangents, params):
    ans = prim.forward(*args, **params)
    out = np.zeros(np.shape(ans))
    for rule, tangent in zip(prim.jvp_rules(len(args)), tangents):
        if rule is not None and tangent is not None:
            out = out + rule(NUMPY, tangent, ans, *args, **params)
    return np.broadcast_to(out, np.shape(ans))


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@given(data=st.data())
def test_jvp_rules_match_finite_differences_and_vjp(name, data):
    prim = REGISTRY[name]
    case = SAMPLERS[name](data.draw)
    r = np.random.default_rng(1)
    floating = [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in case.args]
    tangents = [r.standard_normal(np.shape(a)) if f else None for a, f in zip(case.args, floating)]
    eps = 1e-6
    shifted = [[a + s * eps * t if t is not None else a for a, t in zip(case.args, tangents)] for s in (1, -1)]
    numerical = (prim.forward(*shifted[0], **case.params) - prim.forward(*shifted[1], **case.params)) / (2 * eps)
    forward = _jvp(prim, case.args, tangents, case.params)
    np.testing.assert_allclose(forward, numerical, rtol=1e-4, atol=1e-6)
    # <v, J t> == <J^T v, t>: the JVP and VJP rules describe the same Jacobian.
    ans = prim.forward(*case.args, **case.params)
    v = r.standard_normal(np.shape(ans))
    adjoint = 0.0
    for position, (rule, tangent) in enumerate(zip(prim.vjp_rules(len(case.args)), tangents)):
        if rule is not None and tangent is not None:
            g = rule(NUMPY, v, ans, *case.args, **case.params)
            adjoint += np.sum(sum_to_forward(g, np.shape(case.args[position])) * tangent)
    np.testing.assert_allclose(np.sum(v * forward), adjoint, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", NOT_DIFFERENTIABLE)
def test_primitives_without_gradient_give_results_that_do_not_require_grad(name):
    x = tg.tensor([[0.5, -1.5], [2.0, 0.0]], requires_grad=True)
    args = {"logical_and": (x > 0, x < 1), "logical_or": (x > 0, x < 1), "logical_not": (x > 0,)}
    binary = {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal"}
    if name in ("uniform", "normal"):  # random draws: no inputs, a shape and a dtype
        out = apply(REGISTRY[name], shape=(3, 2), dtype=np.float32)
        assert out.shape == (3, 2) and out.dtype == np.float32 and len(np.unique(out.numpy())) == 6
    else:
        inputs = args.get(name, (x, x * 2) if name in binary else (x,))
        out = apply(REGISTRY[name], *inputs)
    assert not out.requires_grad and out.grad_fn is None


@pytest.mark.parametrize("dtypes", [("float64", "float64"), ("float32", "float32"), ("float32", "float64"),
                                    ("int64", "float32"), ("int64", "int64")])
def test_matmul_of_two_matrices_equals_numpy_matmul_in_value_and_dtype(dtypes):
    # Two matrices take ndarray.dot; any other operands np.matmul. Both must give np.matmul's dtype and,
    # to rounding, its values (NumPy 2 runs the same BLAS call for both; NumPy 1.26 may sum in another order).
    generator = np.random.default_rng(3)
    a = (generator.standard_normal((5, 4)) * 4).astype(dtypes[0])
    b = (generator.standard_normal((4, 3)) * 4).astype(dtypes[1])
    for x, y in ((a, b), (a.T.copy().T, b[:, ::-1]), (a, b[:, 0]), (np.stack([a, a]), b)):
        result = L.matmul.forward(x, y)
        expected = np.matmul(x, y)
        assert result.dtype == expected.dtype
        tolerance = 1e-6 if expected.dtype == np.float32 else 1e-14
        np.testing.assert_allclose(result, expected, rtol=tolerance, atol=tolerance * np.abs(expected).max())
    with pytest.raises(ValueError):
        L.matmul.forward(a, a)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@given(data=st.data())
def test_compiled_gives_eager_results_and_gradients(name, data):
    # Every primitive through tg.compile: the schedule's rules get what the engine gives them (values,
    # stand-ins for inputs whose values they do not read, ans only where read), and summing over
    # broadcast axes or casting happens only where the traced rule's result needs it.
    case = SAMPLERS[name](data.draw)
    run = _function(REGISTRY[name], case.params)

    def loss(*args):
        return run(*args).sin().sum()

    def inputs():
        return [tg.tensor(a, requires_grad=a.dtype == np.float64) if isinstance(a, np.ndarray) else a
                for a in case.args]

    eager_inputs, compiled_inputs = inputs(), inputs()
    eager, compiled = loss(*eager_inputs), tg.compile(loss)(*compiled_inputs)
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), rtol=1e-12, atol=1e-12)
    if not eager.requires_grad:
        return
    eager.backward()
    compiled.backward()
    for e, c in zip(eager_inputs, compiled_inputs):
        if isinstance(e, tg.Tensor) and e.requires_grad:
            assert c.grad.dtype == e.grad.dtype and c.grad.shape == e.grad.shape
            np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=1e-12, atol=1e-12)

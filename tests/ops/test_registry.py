"""One sweep over the whole primitive registry: no primitive ships without its gradients checked
against finite differences, to first and second order, and its JVP rule checked too.

Each check counts the examples that gave it something to check (a non-empty Jacobian) and fails,
naming the primitive and the count, when fewer than MINIMUM_SHARE of the examples did. Size-0
inputs, which have nothing to compare, get their own test per primitive.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad.ops import NUMPY, REGISTRY
from tapegrad.ops import linalg as L
from tapegrad.ops.complex_numbers import complex_kind, for_complex
from tapegrad.ops.shape import sum_to_forward
from tapegrad.tensor import apply, apply_binary, apply_unary

from .samples import NEVER_EMPTY, SAMPLERS, Case, size_zero_sides
from .samples_complex import complexified
from .samples_complex_linalg import GAUGE_INVARIANT

DIFFERENTIABLE = sorted(name for name, prim in REGISTRY.items() if prim.differentiable)
#: Primitives whose samplers draw complex values themselves (issue 18).
_COMPLEX_NATIVE = frozenset({"real", "imag", "conjugate", "angle", "complex", "fft_c2c", "fft_r2c", "fft_c2r"})
NOT_DIFFERENTIABLE = sorted(name for name, prim in REGISTRY.items() if not prim.differentiable)
MAY_BE_EMPTY = [name for name in DIFFERENTIABLE if name not in NEVER_EMPTY]

# Of the examples a sweep test runs (the profile's max_examples: 25, or TAPEGRAD_EXAMPLES), at least
# this share must have had a non-empty Jacobian to check.
MINIMUM_SHARE = 0.8


class Examples:
    """One test's Hypothesis examples: how many began, how many passed, and how many of those had
    a non-empty Jacobian to check."""

    def __init__(self) -> None:
        self.begun = self.passed = self.checked = 0

    def begin(self) -> None:
        self.begun += 1

    def passed_with(self, entries: int) -> None:
        """Count an example that passed, comparing ``entries`` Jacobian entries (0: nothing)."""
        self.passed += 1
        self.checked += entries > 0

    def require(self, what: str, minimum: int) -> None:
        """Fail, naming ``what`` and the counts, when fewer than ``minimum`` examples checked something.
        Not when an example failed: the test reports that failure itself."""
        if self.passed < self.begun:
            return
        assert self.checked >= minimum, (
            f"{what}: only {self.checked} of {self.passed} examples had something to check "
            f"(a non-empty Jacobian); at least {minimum} must")


# The fixture lives across a test's Hypothesis examples on purpose: it counts them.
SWEEP = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def examples(request: pytest.FixtureRequest):
    """An Examples counter for one sweep test; after the test, requires MINIMUM_SHARE of the
    profile's examples to have checked something."""
    counter = Examples()
    yield counter
    what = f"{request.node.callspec.params['name']!r} in {request.node.originalname}"
    counter.require(what, math.ceil(MINIMUM_SHARE * settings().max_examples))


def test_a_sweep_fails_naming_the_primitive_when_too_few_examples_had_something_to_check():
    counter = Examples()
    for entries in [6] * 19 + [0] * 6:
        counter.begin()
        counter.passed_with(entries)
    with pytest.raises(AssertionError, match=r"'abs' in test_x: only 19 of 25 examples had something "
                                             r"to check \(a non-empty Jacobian\); at least 20 must"):
        counter.require("'abs' in test_x", 20)
    counter.require("'abs' in test_x", 19)
    counter.begin()  # an example that failed: the test reports that failure, not the count
    counter.require("'abs' in test_x", 20)


def _differentiable(value) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind in "fc"


def _jacobian_entries(prim, case: Case, differentiated=_differentiable) -> int:
    """Entries of the Jacobian of ``prim``'s result with respect to the ``differentiated`` inputs."""
    out = prim.forward(*case.args, **case.params)
    return int(np.size(out)) * sum(int(np.size(a)) for a in case.args if differentiated(a))


def _gradchecked(value) -> bool:
    """What tg.gradcheck differentiates: floating and complex arrays, floats."""
    return isinstance(value, (np.ndarray, float)) and np.asarray(value).dtype.kind in "fc"


def test_every_differentiable_primitive_has_a_sampler():
    assert sorted(SAMPLERS) == DIFFERENTIABLE


def _function(prim, params, post=None, case=None):
    """The primitive as users reach it: the fast paths of the methods and operators where they apply; its
    result passed through ``post(result, case)`` if given (a function of it that does not depend on the
    phases of complex eigenvectors, see tests/ops/samples_complex_linalg.py)."""
    def run(*args):
        if len(args) == 1:
            out = apply_unary(prim, *args, **params)
        elif len(args) == 2 and not params:
            out = apply_binary(prim, *args)
        else:
            out = apply(prim, *args, **params)
        return out if post is None else post(out, case)
    return run


def check_first_derivatives(name: str, case: Case, post=None) -> int:
    """gradcheck ``name`` (then ``post``) on ``case``; returns the number of Jacobian entries compared."""
    assert tg.gradcheck(_function(REGISTRY[name], case.params, post, case), case.args, atol=1e-6, rtol=1e-4)
    return _jacobian_entries(REGISTRY[name], case, _gradchecked)


def check_second_derivatives(name: str, case: Case, post=None) -> int:
    """gradgradcheck ``name`` (then ``post``) on ``case``; returns the number of first-order Jacobian entries
    (when 0, the map ``(x, v) -> v^T J`` is constant and nothing of the second derivative is compared)."""
    assert tg.gradgradcheck(_function(REGISTRY[name], case.params, post, case), case.args, atol=1e-5, rtol=1e-3)
    return _jacobian_entries(REGISTRY[name], case, _gradchecked)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@SWEEP
@given(data=st.data())
def test_first_derivatives_match_finite_differences(name, data, examples):
    case = SAMPLERS[name](data.draw)
    examples.begin()
    examples.passed_with(check_first_derivatives(name, case))


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@SWEEP
@given(data=st.data())
def test_second_derivatives_match_finite_differences(name, data, examples):
    case = SAMPLERS[name](data.draw)
    examples.begin()
    examples.passed_with(check_second_derivatives(name, case))


def _jvp(prim, args, tangents, params):
    ans = prim.forward(*args, **params)
    out = np.zeros(np.shape(ans))
    for rule, tangent in zip(prim.jvp_rules(len(args)), tangents):
        if rule is not None and tangent is not None:
            out = out + rule(NUMPY, tangent, ans, *args, **params)
    return np.broadcast_to(out, np.shape(ans))


def _random_like(r, value):
    """Standard normal values shaped like ``value``: complex (both parts drawn) for a complex one."""
    drawn = r.standard_normal(np.shape(value))
    return drawn + 1j * r.standard_normal(np.shape(value)) if np.asarray(value).dtype.kind == "c" else drawn


def check_jvp(name: str, case: Case, post=None) -> int:
    """The JVP rules of ``name`` on ``case`` against central differences and against its VJP rules (complex
    values as pairs of reals: the inner product is ``Re(sum(conj(a) b))``); returns the number of Jacobian
    entries the tangents reach. With ``post``, through the engine (:func:`_check_jvp_through`)."""
    if post is not None:
        return _check_jvp_through(name, case, post)
    prim = REGISTRY[name]
    r = np.random.default_rng(1)
    floating = [isinstance(a, np.ndarray) and a.dtype.kind in "fc" for a in case.args]
    tangents = [_random_like(r, a) if f else None for a, f in zip(case.args, floating)]
    eps = 1e-6
    shifted = [[a + s * eps * t if t is not None else a for a, t in zip(case.args, tangents)] for s in (1, -1)]
    numerical = (prim.forward(*shifted[0], **case.params) - prim.forward(*shifted[1], **case.params)) / (2 * eps)
    forward = _jvp(prim, case.args, tangents, case.params)
    np.testing.assert_allclose(forward, numerical, rtol=1e-4, atol=1e-6)
    # <v, J t> == <J^T v, t>: the JVP and VJP rules describe the same Jacobian.
    ans = prim.forward(*case.args, **case.params)
    v = _random_like(r, ans)
    if np.iscomplexobj(ans) or any(np.iscomplexobj(a) for a in case.args):
        prim = for_complex(prim)  # the VJP rules a complex node runs
    adjoint = 0.0
    for position, (rule, tangent) in enumerate(zip(prim.vjp_rules(len(case.args)), tangents)):
        if rule is not None and tangent is not None:
            g = rule(NUMPY, v, ans, *case.args, **case.params)
            adjoint += np.sum(np.real(np.conj(sum_to_forward(g, np.shape(case.args[position]))) * tangent))
    np.testing.assert_allclose(np.sum(np.real(np.conj(v) * forward)), adjoint, rtol=1e-9, atol=1e-9)
    return _jacobian_entries(prim, case)


def _check_jvp_through(name: str, case: Case, post) -> int:
    """check_jvp for ``post`` after ``name``: forward mode (tg.jvp, which runs the JVP rules) against central
    differences of the function on arrays, and against reverse mode (tg.vjp, the VJP rules)."""
    function = _function(REGISTRY[name], case.params, post, case)
    r = np.random.default_rng(1)
    positions = [i for i, a in enumerate(case.args) if isinstance(a, np.ndarray) and a.dtype.kind in "fc"]
    tangents = [_random_like(r, case.args[i]) for i in positions]

    def at(values):
        args = list(case.args)
        for i, v in zip(positions, values):
            args[i] = v
        return args

    def value(values):
        return function(*[tg.tensor(a) if isinstance(a, np.ndarray) else a for a in at(values)]).numpy()

    eps = 1e-6
    primals = [case.args[i] for i in positions]
    numerical = (value([p + eps * t for p, t in zip(primals, tangents)])
                 - value([p - eps * t for p, t in zip(primals, tangents)])) / (2 * eps)

    def differentiated(*values):
        return function(*at(values))

    out, forward = tg.jvp(differentiated, tuple(primals), tuple(tangents))
    forward = np.asarray(forward)
    np.testing.assert_allclose(forward, numerical, rtol=1e-4, atol=1e-6)
    v = _random_like(r, np.asarray(out))
    _, pullback = tg.vjp(differentiated, *primals)
    grads = pullback(v)
    grads = grads if isinstance(grads, tuple) else (grads,)
    adjoint = sum(np.sum(np.real(np.conj(np.asarray(g)) * t)) for g, t in zip(grads, tangents))
    np.testing.assert_allclose(np.sum(np.real(np.conj(v) * forward)), adjoint, rtol=1e-9, atol=1e-9)
    return _jacobian_entries(REGISTRY[name], case)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@SWEEP
@given(data=st.data())
def test_jvp_rules_match_finite_differences_and_vjp(name, data, examples):
    case = SAMPLERS[name](data.draw)
    examples.begin()
    examples.passed_with(check_jvp(name, case))


@pytest.mark.parametrize("name", NOT_DIFFERENTIABLE)
def test_primitives_without_gradient_give_results_that_do_not_require_grad(name):
    x = tg.tensor([[0.5, -1.5], [2.0, 0.0]], requires_grad=True)
    args = {"logical_and": (x > 0, x < 1), "logical_or": (x > 0, x < 1), "logical_not": (x > 0,)}
    binary = {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal"}
    args.update({"searchsorted": (x.reshape(-1), x), "heaviside": (x, x * 2)})  # issue 15
    if name in ("uniform", "normal"):  # random draws: no inputs, a shape and a dtype
        out = apply(REGISTRY[name], shape=(3, 2), dtype=np.float32)
        assert out.shape == (3, 2) and out.dtype == np.float32 and len(np.unique(out.numpy())) == 6
    else:
        inputs = args.get(name, (x, x * 2) if name in binary else (x,))
        params = {"argpartition": {"kth": 1}}.get(name, {})
        out = apply(REGISTRY[name], *inputs, **params)
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


def check_compiled(name: str, case: Case, post=None) -> int:
    """``name`` (then ``post``) through tg.compile against eager, in value and gradients; returns the number of
    Jacobian entries behind the gradients compared (0 when there are none)."""
    run = _function(REGISTRY[name], case.params, post, case)

    def loss(*args):
        total = run(*args).sin().sum()
        return total.real + total.imag if total.dtype.kind == "c" else total

    def inputs():
        return [tg.tensor(a, requires_grad=a.dtype in (np.float64, np.complex128)) if isinstance(a, np.ndarray)
                else a for a in case.args]

    eager_inputs, compiled_inputs = inputs(), inputs()
    eager, compiled = loss(*eager_inputs), tg.compile(loss)(*compiled_inputs)
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), rtol=1e-12, atol=1e-12)
    if not eager.requires_grad:
        return 0
    eager.backward()
    compiled.backward()
    for e, c in zip(eager_inputs, compiled_inputs):
        if isinstance(e, tg.Tensor) and e.requires_grad:
            assert c.grad.dtype == e.grad.dtype and c.grad.shape == e.grad.shape
            np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=1e-12, atol=1e-12)
    return _jacobian_entries(REGISTRY[name], case,
                             lambda a: isinstance(a, np.ndarray) and a.dtype in (np.float64, np.complex128))


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@SWEEP
@given(data=st.data())
def test_compiled_gives_eager_results_and_gradients(name, data, examples):
    # Every primitive through tg.compile: the schedule's rules get what the engine gives them (values,
    # stand-ins for inputs whose values they do not read, ans only where read), and summing over
    # broadcast axes or casting happens only where the traced rule's result needs it.
    case = SAMPLERS[name](data.draw)
    examples.begin()
    examples.passed_with(check_compiled(name, case))


def _has_size_zero(name: str, case: Case) -> bool:
    out = REGISTRY[name].forward(*case.args, **case.params)
    return np.size(out) == 0 or any(isinstance(a, np.ndarray) and a.size == 0 for a in case.args)


EDGE_EXAMPLES = max(3, settings().max_examples // 5)


@pytest.mark.parametrize("name", MAY_BE_EMPTY)
@settings(max_examples=EDGE_EXAMPLES)
@given(data=st.data())
def test_size_zero_inputs_pass_every_check(name, data):
    # The edge case the sweeps above draw no more: an input with a size-0 axis (or an index selecting
    # nothing). Nothing is compared entry by entry, but every check still runs: results and gradients
    # of the right shapes and dtypes, eager and compiled alike.
    with size_zero_sides():
        case = SAMPLERS[name](data.draw)
    assert _has_size_zero(name, case), f"{name}: the size-0 sampler drew non-empty inputs {case}"
    for check in (check_first_derivatives, check_second_derivatives, check_jvp, check_compiled):
        check(name, case)


# -- complex values (issue 18) ---------------------------------------------------------------------------
# Every primitive that takes complex values, swept again with its cases made complex (an imaginary part on
# its floating inputs, or on some of them where real and complex operands meet): first and second
# derivatives against finite differences on the real and imaginary parts, the JVP rules against finite
# differences and the VJP rules, tg.compile against eager. The primitives of complex numbers and those
# whose samplers draw complex values already (the FFTs) go through the sweeps above. The numpy.linalg
# primitives draw Hermitian, full-rank or well-separated complex matrices (tests/ops/samples_complex_linalg.py),
# and eigh and svd are checked through a function of their result that does not depend on the phases of the
# eigenvectors and singular vectors (which LAPACK picks, and which a loss may not depend on).
TAKES_COMPLEX = sorted(name for name in DIFFERENTIABLE if complex_kind(REGISTRY[name])
                       and name not in _COMPLEX_NATIVE)
REFUSES_COMPLEX = sorted(name for name in DIFFERENTIABLE if not complex_kind(REGISTRY[name]))
COMPLEX_CHECKS = {"first": check_first_derivatives, "second": check_second_derivatives, "jvp": check_jvp,
                  "compiled": check_compiled}


@pytest.mark.parametrize("check", sorted(COMPLEX_CHECKS))
@pytest.mark.parametrize("name", TAKES_COMPLEX)
@SWEEP
@given(data=st.data())
def test_complex_inputs_pass_every_check(name, check, data, examples):
    case = complexified(name, SAMPLERS[name])(data.draw)
    assert any(np.iscomplexobj(a) for a in case.args), f"{name}: the complexified case has no complex input"
    examples.begin()
    examples.passed_with(COMPLEX_CHECKS[check](name, case, post=GAUGE_INVARIANT.get(name)))


@pytest.mark.parametrize("name", REFUSES_COMPLEX)
@settings(max_examples=5)
@given(data=st.data())
def test_primitives_without_complex_rules_refuse_complex_values_that_need_a_gradient(name, data):
    # The check that makes the table in tapegrad/ops/complex_numbers.py sound: apply looks at complex
    # *results* only (the real fast path pays nothing), so no primitive that refuses complex values may
    # turn complex inputs into a real result, whose gradient would silently be wrong.
    case = complexified(name, SAMPLERS[name])(data.draw)
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(REGISTRY[name].forward(*case.args, **case.params))
    except (ValueError, TypeError, IndexError, ArithmeticError, tg.TapegradError):
        return  # NumPy (or the primitive) refuses complex inputs itself: apply raises its error
    assert out.dtype.kind == "c" or not any(np.iscomplexobj(a) for a in case.args), (
        f"{name} turns complex inputs into a {out.dtype} result: declare how it treats complex values "
        "(complex= in its declaration, or the table in tapegrad/ops/complex_numbers.py)")
    inputs = [tg.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) and a.dtype.kind in "fc" else a
              for a in case.args]
    with pytest.raises(tg.TapegradError, match=f"^{name}: "):
        apply(REGISTRY[name], *inputs, **case.params)

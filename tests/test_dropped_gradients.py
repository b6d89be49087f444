"""A gradient is never silently dropped: converting a tensor that requires grad to a NumPy array,
NumPy and SciPy code that converts its arguments all raise ``DroppedGradientError``, saying what to do
instead; an operation that does not differentiate complex values raises ``DTypeError`` naming itself."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.special
import scipy.stats

import tapegrad as tg
from tapegrad.errors import DroppedGradientError


def _leaf(values):
    return tg.tensor(np.array(values, dtype=np.float64), requires_grad=True)


SPD = [[4.0, 1.0], [1.0, 3.0]]

CONVERTING = {
    "np.array of tensors": lambda: np.array([_leaf(1.0), _leaf(2.0)]),
    "np.asarray": lambda: np.asarray(_leaf([1.0, 2.0])),
    "scipy.linalg.cholesky": lambda: scipy.linalg.cholesky(_leaf(SPD)),
    "scipy.linalg.solve_triangular": lambda: scipy.linalg.solve_triangular(_leaf([[2.0, 0.0], [1.0, 1.0]]),
                                                                           np.ones(2), lower=True),
    "scipy.linalg.cho_solve": lambda: scipy.linalg.cho_solve((_leaf([[2.0, 0.0], [0.5, 1.5]]), True), np.ones(2)),
    "scipy.linalg.expm": lambda: scipy.linalg.expm(_leaf(SPD)),
    "scipy.special.logsumexp": lambda: scipy.special.logsumexp(_leaf([1.0, 2.0])),
    "scipy.special.polygamma": lambda: scipy.special.polygamma(1, _leaf([1.0, 2.0])),
    "scipy.special.dawsn (a ufunc)": lambda: scipy.special.dawsn(_leaf([0.1, 0.2])),  # erf is differentiated
    "scipy.stats.norm.logpdf": lambda: scipy.stats.norm.logpdf(_leaf([0.1, 0.2])),
    "np.unwrap": lambda: np.unwrap(_leaf([2.0, 1.0])),  # np.sort and np.partition are differentiated (issue 15)
}


@pytest.mark.parametrize("call", CONVERTING.values(), ids=CONVERTING.keys())
def test_code_that_converts_a_tensor_requiring_grad_raises(call):
    with pytest.raises(DroppedGradientError) as info:
        call()
    assert "requires grad" in str(info.value)
    assert isinstance(info.value, TypeError)  # what NumPy users catch for an unsupported type


def test_the_conversion_error_says_what_to_do():
    with pytest.raises(DroppedGradientError) as info:
        np.array([_leaf(1.0), _leaf(2.0)])
    message = str(info.value)
    assert "shape (), float64" in message and "tg.stack" in message and ".detach()" in message


def test_tg_stack_is_what_np_array_should_have_been():
    a, b = _leaf(1.0), _leaf(2.0)
    (tg.stack([a, b]) ** 2).sum().backward()
    assert (a.grad.item(), b.grad.item()) == (2.0, 4.0)


def test_numpy_functions_that_dispatch_keep_working():
    x = _leaf([0.5, 1.5])
    np.sum(np.exp(x) * np.tanh(x)).backward()
    v = np.array([0.5, 1.5])
    np.testing.assert_allclose(x.grad.numpy(), np.exp(v) * (np.tanh(v) + 1 / np.cosh(v) ** 2))


def test_values_without_gradient_convert_when_asked_explicitly():
    x = _leaf([1.0, 4.0])
    np.testing.assert_array_equal(np.asarray(x.detach()), [1.0, 4.0])
    np.testing.assert_array_equal(x.numpy(), [1.0, 4.0])
    with tg.no_grad():
        assert scipy.special.logsumexp(x) == pytest.approx(np.log(np.e + np.e**4))
    plain = tg.tensor([1.0, 4.0])  # requires no grad: converts as an array does
    assert scipy.linalg.norm(plain) == pytest.approx(np.sqrt(17.0))


@pytest.mark.parametrize("make", [
    lambda x, y: x + 1j * y,
    lambda x, y: x * np.complex128(1 + 2j),
    lambda x, y: np.exp(x) + np.array([1j, 0]),
    lambda x, y: (1j * y).sum(),
], ids=["x + 1j*y", "times a complex scalar", "plus a complex array", "scaled then summed"])
def test_a_complex_result_of_a_tensor_requiring_grad_carries_its_gradient(make):
    # issue 18: complex results are differentiated (tests/test_complex.py checks the values against PyTorch)
    x, y = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    result = make(x, y)
    assert result.requires_grad and result.dtype == np.complex128
    (abs(result) ** 2).sum().backward()
    assert (x.grad is not None or y.grad is not None)


@pytest.mark.parametrize("make, name", [
    (lambda z: np.maximum(z, 0), "maximum"),
    (lambda z: tg.sigmoid(z), "sigmoid"),
    (lambda z: np.sort(z), "sort"),
], ids=["maximum", "sigmoid", "sort"])
def test_an_operation_without_complex_rules_raises_dtype_error_naming_it(make, name):
    z = tg.tensor(np.array([1 + 2j, 3 - 1j]), requires_grad=True)
    with pytest.raises(tg.DTypeError, match=rf"^{name}: does not differentiate complex numbers"):
        make(z)
    with tg.no_grad():  # without gradient, NumPy's values
        np.testing.assert_array_equal(make(z).numpy(), make(z.detach().numpy()))


def test_complex_values_without_gradient_still_compute():
    x = tg.tensor([1.0, 2.0])
    np.testing.assert_array_equal((x + 1j * x).numpy(), [1 + 1j, 2 + 2j])
    with tg.no_grad():
        assert (_leaf([1.0]) * 1j).numpy()[0] == 1j


UNSUPPORTED_FORMS = {
    "reshape order F": (lambda t: np.reshape(t, (3, 1), order="F"), [[1.0], [2.0], [3.0]]),
    "dot of a 3-D operand": (lambda t: np.dot(np.ones((2, 2, 3)), t), np.full((2, 2), 6.0)),
    "svd full_matrices of a wide matrix": (lambda t: np.abs(np.linalg.svd(np.reshape(t, (1, 3)))[0]), [[1.0]]),
    "sum with out=": (lambda t: np.sum(t, out=np.zeros(())), 6.0),
}


@pytest.mark.parametrize("call, expected", UNSUPPORTED_FORMS.values(), ids=UNSUPPORTED_FORMS.keys())
def test_numpy_forms_tapegrad_does_not_differentiate_run_without_gradients_and_raise_with_them(call, expected):
    np.testing.assert_array_equal(call(tg.tensor([1.0, 2.0, 3.0])), expected)
    with pytest.raises(DroppedGradientError, match="supported.*a Tensor that requires grad takes part"):
        call(_leaf([1.0, 2.0, 3.0]))

"""``tg.fft`` and ``numpy.fft`` on Tensors (issue 18) against ``torch.fft``: values, gradients of a real loss
(conjugate Wirtinger gradients of complex inputs, as PyTorch's), second derivatives and forward mode, for
every function with ``n``/``s``, ``axis``/``axes`` and each ``norm``, at float64 to 1e-10 and float32 to
1e-5; NumPy's dispatch, the frequencies, the shifts and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.errors import ArgumentError, DroppedGradientError, DTypeError, ShapeError

RNG = np.random.default_rng(1818)
NORMS = [None, "backward", "ortho", "forward"]


def _data(shape, complex_, dtype=np.float64):
    x = RNG.standard_normal(shape)
    if complex_:
        x = x + 1j * RNG.standard_normal(shape)
    return x.astype(np.result_type(dtype, x.dtype) if not complex_ else
                    (np.complex64 if dtype == np.float32 else np.complex128))


def _call_torch(name, x, kwargs):
    """``torch.fft.<name>`` with NumPy's keyword names mapped (axis -> dim, axes -> dim)."""
    kwargs = dict(kwargs)
    for ours in ("axis", "axes"):
        if ours in kwargs:
            kwargs["dim"] = kwargs.pop(ours)
    return getattr(torch.fft, name)(x, **kwargs)


def _loss(out, weights, absolute, real):
    return (absolute(out) ** 2).sum() * 0.5 + real(out * weights).sum()


def compare(name, x, second=True, **kwargs):
    """``tg.fft.<name>(x, **kwargs)`` against ``torch.fft``: value, gradient, gradient of the gradient's
    squared norm."""
    tol = 1e-5 if x.dtype in (np.float32, np.complex64) else 1e-10
    ours = tg.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out = getattr(tg.fft, name)(ours, **kwargs)
    out_t = _call_torch(name, theirs, kwargs)
    expected = out_t.detach().resolve_conj().numpy()
    assert out.dtype == expected.dtype and out.shape == expected.shape
    scale = max(1.0, np.abs(expected).max())
    np.testing.assert_allclose(out.numpy(), expected, rtol=tol, atol=tol * scale)
    np.testing.assert_allclose(out.numpy(), getattr(np.fft, name)(x, **kwargs), rtol=tol, atol=tol * scale)
    weights = _data(out.shape, out.dtype.kind == "c", np.float32 if tol > 1e-6 else np.float64)
    loss = _loss(out, weights, abs, lambda v: v.real)
    loss_t = _loss(out_t, torch.tensor(weights), torch.abs, torch.real)
    (grad,) = tg.autograd.grad(loss, [ours], create_graph=second)
    (grad_t,) = torch.autograd.grad(loss_t, [theirs], create_graph=second)
    grad_t = grad_t.resolve_conj()
    assert grad.dtype == x.dtype
    scale = max(1.0, np.abs(grad_t.detach().numpy()).max())
    np.testing.assert_allclose(grad.numpy(), grad_t.detach().numpy(), rtol=tol, atol=tol * scale)
    if second:
        (again,) = tg.autograd.grad((abs(grad) ** 2).sum(), [ours])
        (again_t,) = torch.autograd.grad((grad_t.abs() ** 2).sum(), [theirs])
        again_t = again_t.resolve_conj()
        scale = max(1.0, np.abs(again_t.numpy()).max())
        np.testing.assert_allclose(again.numpy(), again_t.numpy(), rtol=10 * tol, atol=10 * tol * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", ["fft", "ifft"])
@pytest.mark.parametrize("n, axis", [(None, -1), (5, -1), (11, 0), (8, 1)])
@pytest.mark.parametrize("complex_", [True, False])
def test_fft_and_ifft_match_torch(name, norm, n, axis, complex_, dtype):
    compare(name, _data((6, 8), complex_, dtype), n=n, axis=axis, norm=norm)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n, axis", [(None, -1), (None, 0), (7, -1), (10, 0), (3, 1), (1, -1)])
def test_rfft_matches_torch(norm, n, axis, dtype):
    compare("rfft", _data((6, 8), False, dtype), n=n, axis=axis, norm=norm)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n, axis", [(None, -1), (None, 0), (7, -1), (8, -1), (14, 0), (3, 1), (1, -1), (2, -1)])
def test_irfft_matches_torch_the_hermitian_halves_included(norm, n, axis, dtype):
    # 5 entries read as the half spectrum of 8 samples (by default), or cropped/zero-padded to n // 2 + 1:
    # the imaginary parts of the zero and Nyquist frequencies are ignored and take no gradient.
    compare("irfft", _data((6, 5), True, dtype), n=n, axis=axis, norm=norm)


ND_CASES = [
    ({}, (4, 5, 6)), ({"axes": (0, 2)}, (4, 5, 6)), ({"s": (6, 3)}, (4, 5, 6)),
    ({"s": (3, 8), "axes": (2, 0)}, (4, 5, 6)), ({"axes": (1,)}, (4, 5, 6)),
    ({"s": (4, -1), "axes": (0, 1)}, (4, 5, 6)),
]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", ["fftn", "ifftn", "rfftn"])
@pytest.mark.parametrize("case", range(len(ND_CASES)))
def test_the_n_dimensional_transforms_match_torch(name, case, norm):
    kwargs, shape = ND_CASES[case]
    if "s" in kwargs and "axes" not in kwargs:  # NumPy 2 deprecates s without axes; PyTorch reads the last axes
        kwargs = {**kwargs, "axes": tuple(range(len(shape) - len(kwargs["s"]), len(shape)))}
    compare(name, _data(shape, name != "rfftn"), norm=norm, **kwargs)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("kwargs, shape", [
    ({}, (4, 5, 3)), ({"axes": (0, 2)}, (4, 5, 3)), ({"s": (6, 4), "axes": (0, 1)}, (4, 5, 3)),
    ({"s": (5, 7), "axes": (2, 0)}, (4, 5, 3)), ({"axes": (1,)}, (4, 5, 3)), ({"s": (4, 9), "axes": (0, 1)}, (4, 5, 3)),
])
def test_irfftn_matches_torch(kwargs, shape, norm):
    compare("irfftn", _data(shape, True), norm=norm, **kwargs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["fft2", "ifft2", "rfft2", "irfft2"])
@pytest.mark.parametrize("kwargs", [{}, {"s": (5, 6)}, {"axes": (0, 2)}, {"norm": "ortho"},
                                    {"s": (3, 4), "axes": (2, 1), "norm": "forward"}])
def test_the_two_dimensional_transforms_match_torch(name, kwargs, dtype):
    compare(name, _data((4, 5, 6), name not in ("rfft2",), dtype), **kwargs)


@pytest.mark.parametrize("name", ["fftshift", "ifftshift"])
@pytest.mark.parametrize("axes", [None, 0, (1,), (0, 1)])
def test_the_shifts_match_torch(name, axes):
    x = _data((5, 4), True)
    kwargs = {} if axes is None else {"axes": axes}
    compare(name, x, **kwargs)


def test_forward_mode_matches_torch():
    x, t = _data((6, 8), False), _data((6, 8), False)

    def ours(v):
        return tg.fft.irfft(tg.fft.rfft(v, n=12, norm="ortho") * tg.fft.rfft(v, n=12), n=12)[:, :8] + \
            tg.fft.fft2(v).imag

    def theirs(v):
        return torch.fft.irfft(torch.fft.rfft(v, n=12, norm="ortho") * torch.fft.rfft(v, n=12), n=12)[:, :8] + \
            torch.fft.fft2(v).imag

    value, tangent = tg.jvp(ours, (x,), (t,))
    value_t, tangent_t = torch.func.jvp(theirs, (torch.tensor(x),), (torch.tensor(t),))
    np.testing.assert_allclose(value, value_t.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(tangent, tangent_t.numpy(), rtol=1e-10, atol=1e-10)


def test_numpy_fft_on_tensors_is_tg_fft_and_records_the_gradient():
    x = tg.tensor(_data(8, False), requires_grad=True)
    y = np.fft.irfft(np.fft.rfft(x) * np.conj(np.fft.rfft(x)), n=8)  # the circular autocorrelation
    assert isinstance(y, tg.Tensor) and y.requires_grad
    np.testing.assert_allclose(y.numpy(), np.fft.irfft(np.abs(np.fft.rfft(x.numpy())) ** 2, n=8), atol=1e-12)
    y[1].backward()
    xt = torch.tensor(x.numpy(), requires_grad=True)
    torch.fft.irfft(torch.fft.rfft(xt) * torch.fft.rfft(xt).conj(), n=8)[1].backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), atol=1e-12)
    with tg.no_grad():
        np.testing.assert_allclose(np.fft.fftshift(x).numpy(), np.fft.fftshift(x.numpy()))


def test_frequencies_follow_numpy_in_the_default_dtype_and_differentiate_in_the_spacing():
    for n in (1, 6, 7):
        np.testing.assert_allclose(tg.fft.fftfreq(n, 0.1).numpy(), np.fft.fftfreq(n, 0.1), rtol=1e-6)
        np.testing.assert_allclose(tg.fft.rfftfreq(n, 0.1).numpy(), np.fft.rfftfreq(n, 0.1), rtol=1e-6)
    assert tg.fft.fftfreq(4).dtype == tg.get_default_dtype()
    d = tg.tensor(0.5, dtype=np.float64, requires_grad=True)
    weights = np.arange(1.0, 6.0)
    (tg.fft.fftfreq(5, d) * weights).sum().backward()
    np.testing.assert_allclose(d.grad.numpy(), -(np.fft.fftfreq(5, 0.5) * weights).sum() / 0.5, rtol=1e-12)
    with pytest.raises(ArgumentError, match="fftfreq: n=0"):
        tg.fft.fftfreq(0)
    with pytest.raises(ArgumentError, match="rfftfreq: d=0"):
        tg.fft.rfftfreq(4, 0)


@pytest.mark.parametrize("call, error, message", [
    (lambda x: tg.fft.fft(x, norm="unitary"), ArgumentError, "fft: norm='unitary'"),
    (lambda x: tg.fft.ifft(x, n=0), ArgumentError, "ifft: n=0"),
    (lambda x: tg.fft.fft(x, n=2.5), ArgumentError, "fft: n must be an integer"),
    (lambda x: tg.fft.fft(x, axis=2), ShapeError, "fft: axis=2 is out of range"),
    (lambda x: tg.fft.fft(x.sum()), ShapeError, "fft: a 0-d input"),
    (lambda x: tg.fft.rfft(x * 1j), DTypeError, r"rfft: got a complex input \(complex128\)"),
    (lambda x: tg.fft.fftn(x, s=(3,), axes=(0, 1)), ShapeError, "fftn: s=.* different lengths"),
    (lambda x: tg.fft.fftn(x, axes=(0, 0)), ShapeError, "fftn: axes=.* names an axis twice"),
    (lambda x: tg.fft.irfft(x[:, :1]), ShapeError, "irfft: axis 1 of shape .* gives a signal of 0 points"),
    (lambda x: tg.fft.fft(x[:0], axis=0), ShapeError, "fft: axis 0 of shape .* is empty"),
    (lambda x: np.fft.fft(x, out=np.zeros((3, 4), complex)), DroppedGradientError, r"fft.fft.*\['out'\]"),
])
def test_bad_arguments_raise_errors_naming_the_function(call, error, message):
    x = tg.tensor(np.ones((3, 4)), requires_grad=True)
    with pytest.raises(error, match=message):
        call(x)


def test_float32_stays_single_precision_through_the_gradient():
    x = tg.tensor(np.ones(8, np.float32), requires_grad=True)
    spectrum = tg.fft.rfft(x)
    assert spectrum.dtype == np.complex64
    back = tg.fft.irfft(spectrum * spectrum)
    assert back.dtype == np.float32
    back.sum().backward()
    assert x.grad.dtype == np.float32


def test_compiled_fft_gives_eager_gradients():
    def f(a, b):
        n = a.shape[0] + b.shape[0] - 1
        return (tg.fft.irfft(tg.fft.rfft(a, n=n) * tg.fft.rfft(b, n=n), n=n) ** 2).sum()
    a, b = _data(7, False), _data(4, False)
    eager = [tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)]
    compiled = [tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)]
    f(*eager).backward()
    tg.compile(f)(*compiled).backward()
    for e, c in zip(eager, compiled):
        np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(f(*eager).numpy(), (np.convolve(a, b) ** 2).sum(), rtol=1e-12)

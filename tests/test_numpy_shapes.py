"""NumPy's shape and construction functions and einsum's full form on Tensors (issue 15): values, first
and second derivatives (reverse mode) and the JVP against PyTorch, float64 to 1e-10 and float32 to 1e-5;
bad input with clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.errors import ArgumentError, DroppedGradientError, ShapeError

TOL = {np.float64: 1e-10, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def _flat_tg(out):
    if isinstance(out, (list, tuple)):
        return tg.concatenate([p.reshape(-1) for p in out]) if out else tg.tensor(np.zeros(0))
    return out


def _flat_torch(out):
    if isinstance(out, (list, tuple)):
        return torch.cat([p.reshape(-1) for p in out])
    return out


def _close(actual, expected, dtype):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    tol = TOL[dtype]
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * max(1.0, float(np.abs(expected).max(initial=0))))


def check(np_fn, torch_fn, *arrays, dtype=np.float64, seed=0):
    """Value, gradient, a second derivative and the JVP of ``np_fn`` (NumPy's function called on Tensors)
    against ``torch_fn``. The loss ``sum(w * out**2)`` makes the second derivative depend on the function's
    structure even where it is linear."""
    r = np.random.default_rng(seed)
    arrays = [np.array(a, dtype=dtype) for a in arrays]
    xs = [tg.tensor(a, requires_grad=True) for a in arrays]
    out = _flat_tg(np_fn(*xs))
    assert out.dtype == dtype
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = _flat_torch(torch_fn(*ts))
    _close(out.data, expected.detach().numpy(), dtype)
    w = r.normal(size=out.shape).astype(dtype)
    loss = (tg.tensor(w) * out * out).sum()
    grads = tg.autograd.grad(loss, xs, create_graph=True)
    t_loss = (torch.tensor(w) * expected * expected).sum()
    t_grads = torch.autograd.grad(t_loss, ts, create_graph=True)
    for g, tg_ in zip(grads, t_grads):
        _close(g.data, tg_.detach().numpy(), dtype)
    vs = [r.normal(size=a.shape).astype(dtype) for a in arrays]
    second = tg.autograd.grad(sum((g * tg.tensor(v)).sum() for g, v in zip(grads, vs)), xs, allow_unused=True)
    t_second = torch.autograd.grad(sum((g * torch.tensor(v)).sum() for g, v in zip(t_grads, vs)), ts,
                                   allow_unused=True)
    for s, ts_, a in zip(second, t_second, arrays):  # None: no second derivative (a linear input)
        _close(np.zeros_like(a) if s is None else s.data, np.zeros_like(a) if ts_ is None else ts_.numpy(), dtype)
    _, tangent = tg.jvp(lambda *a: _flat_tg(np_fn(*a)), arrays, vs)
    _, t_tangent = torch.func.jvp(lambda *a: _flat_torch(torch_fn(*a)), tuple(torch.tensor(a) for a in arrays),
                                  tuple(torch.tensor(v) for v in vs))
    _close(tangent, t_tangent.numpy(), dtype)


R = np.random.default_rng(1)
M = R.normal(size=(4, 5))
S = R.normal(size=(4, 4))
B3 = R.normal(size=(2, 3, 4))
V = R.normal(size=(4,))

CASES = {
    "diag 1-D": (lambda v: np.diag(v), lambda v: torch.diag(v), [V]),
    "diag 1-D k=2": (lambda v: np.diag(v, 2), lambda v: torch.diag(v, 2), [V]),
    "diag 1-D k=-1": (lambda v: np.diag(v, k=-1), lambda v: torch.diag(v, -1), [V]),
    "diag 2-D": (lambda x: np.diag(x), lambda x: torch.diag(x), [M]),
    "diag 2-D k=-2": (lambda x: np.diag(x, -2), lambda x: torch.diag(x, -2), [M]),
    "diagonal 3-D": (lambda x: np.diagonal(x, 1, 2, 0), lambda x: torch.diagonal(x, 1, 2, 0), [B3]),
    "diagonal default": (lambda x: np.diagonal(x), lambda x: torch.diagonal(x), [B3]),
    "triu": (lambda x: np.triu(x), lambda x: torch.triu(x), [M]),
    "triu k=1 batched": (lambda x: np.triu(x, 1), lambda x: torch.triu(x, 1), [B3]),
    "tril k=-1": (lambda x: np.tril(x, -1), lambda x: torch.tril(x, -1), [M]),
    "tril k=2 batched": (lambda x: np.tril(x, k=2), lambda x: torch.tril(x, 2), [B3]),
    "roll flat": (lambda x: np.roll(x, 3), lambda x: torch.roll(x, 3), [M]),
    "roll axis": (lambda x: np.roll(x, -2, axis=1), lambda x: torch.roll(x, -2, 1), [M]),
    "roll axes": (lambda x: np.roll(x, (1, 7), axis=(0, 2)), lambda x: torch.roll(x, (1, 7), (0, 2)), [B3]),
    "rot90": (lambda x: np.rot90(x), lambda x: torch.rot90(x), [M]),
    "rot90 k=2": (lambda x: np.rot90(x, 2), lambda x: torch.rot90(x, 2), [M]),
    "rot90 k=-1 axes": (lambda x: np.rot90(x, -1, axes=(2, 0)), lambda x: torch.rot90(x, -1, (2, 0)), [B3]),
    "moveaxis": (lambda x: np.moveaxis(x, 0, -1), lambda x: torch.movedim(x, 0, -1), [B3]),
    "moveaxis pairs": (lambda x: np.moveaxis(x, (0, 1), (2, 0)), lambda x: torch.movedim(x, (0, 1), (2, 0)), [B3]),
    "rollaxis": (lambda x: np.rollaxis(x, 2), lambda x: torch.movedim(x, 2, 0), [B3]),
    "rollaxis start": (lambda x: np.rollaxis(x, 0, 3), lambda x: torch.movedim(x, 0, 2), [B3]),
    "fliplr": (lambda x: np.fliplr(x), lambda x: torch.fliplr(x), [B3]),
    "flipud": (lambda x: np.flipud(x), lambda x: torch.flipud(x), [M]),
    "atleast_1d": (lambda x: np.atleast_1d(x), lambda x: torch.atleast_1d(x), [np.array(2.0)]),
    "atleast_2d": (lambda x: np.atleast_2d(x), lambda x: torch.atleast_2d(x), [V]),
    "atleast_3d": (lambda x: np.atleast_3d(x), lambda x: torch.atleast_3d(x), [M]),
    "atleast_3d 1-D": (lambda x: np.atleast_3d(x), lambda x: torch.atleast_3d(x), [V]),
    "array_split": (lambda x: np.array_split(x, 3, axis=1), lambda x: torch.tensor_split(x, 3, 1), [M]),
    "array_split indices": (lambda x: np.array_split(x, [1, 3]), lambda x: torch.tensor_split(x, [1, 3]), [M]),
    "hsplit": (lambda x: np.hsplit(x, 3), lambda x: torch.hsplit(x, 3), [B3]),
    "vsplit": (lambda x: np.vsplit(x, [1]), lambda x: torch.vsplit(x, [1]), [M]),
    "dsplit": (lambda x: np.dsplit(x, 2), lambda x: torch.dsplit(x, 2), [B3]),
    "split": (lambda x: np.split(x, 2), lambda x: torch.split(x, 2), [M]),
    "hstack": (lambda a, b: np.hstack([a, b]), lambda a, b: torch.hstack([a, b]), [M, S]),
    "hstack 1-D": (lambda a: np.hstack([a, a]), lambda a: torch.hstack([a, a]), [V]),
    "vstack": (lambda a, b: np.vstack([a, b]), lambda a, b: torch.vstack([a, b]), [V, S]),
    "dstack": (lambda a, b: np.dstack([a, b]), lambda a, b: torch.dstack([a, b]), [V, V]),
    "column_stack": (lambda a, b: np.column_stack([a, b]), lambda a, b: torch.column_stack([a, b]), [V, S]),
    "append flat": (lambda a, b: np.append(a, b), lambda a, b: torch.cat([a.reshape(-1), b.reshape(-1)]), [M, V]),
    "append axis": (lambda a, b: np.append(a, b, axis=0), lambda a, b: torch.cat([a, b]), [S, M[:2, :4]]),
    "kron": (lambda a, b: np.kron(a, b), lambda a, b: torch.kron(a, b), [M[:2, :3], S[:3, :2]]),
    "kron mixed ndim": (lambda a, b: np.kron(a, b), lambda a, b: torch.kron(a, b), [V[:3], B3]),
    "inner": (lambda a, b: np.inner(a, b), lambda a, b: torch.inner(a, b), [M, B3[:, :, :1].repeat(5, 2)]),
    "inner 1-D": (lambda a, b: np.inner(a, b), lambda a, b: torch.inner(a, b), [V, V[::-1].copy()]),
    "tensordot": (lambda a, b: np.tensordot(a, b), lambda a, b: torch.tensordot(a, b), [B3, R.normal(size=(3, 4, 2))]),
    "tensordot axes": (lambda a, b: np.tensordot(a, b, axes=([0, 2], [1, 0])),
                       lambda a, b: torch.tensordot(a, b, ([0, 2], [1, 0])), [B3, R.normal(size=(4, 2, 5))]),
    "tensordot 0": (lambda a, b: np.tensordot(a, b, 0), lambda a, b: torch.tensordot(a, b, 0), [V, V[:2]]),
    "cross": (lambda a, b: np.cross(a, b), lambda a, b: torch.linalg.cross(a, b), [M[:, :3], S[:, 1:]]),
    "cross axis": (lambda a, b: np.cross(a, b, axis=0), lambda a, b: torch.linalg.cross(a, b, dim=0),
                   [M[:3, :4], S[1:]]),
    "cross broadcast": (lambda a, b: np.cross(a, b), lambda a, b: torch.linalg.cross(a.expand(b.shape), b),
                        [V[:3], B3[:, :, 1:]]),
    "cross 2-vectors": (lambda a, b: np.cross(a, b), lambda a, b: a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0],
                        [M[:, :2], S[:, 2:]]),
    "cross 2 and 3": (lambda a, b: np.cross(a, b), lambda a, b: torch.linalg.cross(
        torch.nn.functional.pad(a, (0, 1)), b), [M[:, :2], S[:, 1:]]),
    "outer": (lambda a, b: np.outer(a, b), lambda a, b: torch.outer(a, b), [V, V[:3]]),
}

EINSUM = {
    "...ij,...jk->...ik": [B3, R.normal(size=(4, 2))],
    "...ij,...jk": [R.normal(size=(1, 3, 4)), R.normal(size=(5, 4, 2))],
    "ij,jk": [M, R.normal(size=(5, 3))],
    "ii->i": [S],
    "ii": [S],
    "...ii->...": [R.normal(size=(2, 3, 3))],
    "iij->j": [R.normal(size=(3, 3, 2))],
    "ij,jj->i": [M[:, :4], S],
    "bii,ij->bj": [R.normal(size=(2, 4, 4)), M],
    "iji->j": [R.normal(size=(3, 2, 3))],
    "iii->i": [R.normal(size=(3, 3, 3))],
    "ii,i": [S, V],
    "i...->...": [B3],
    "ba": [M],
    "Ba,aB": [M, M.T.copy()],
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_shapes_against_torch(name, dtype):
    np_fn, torch_fn, arrays = CASES[name]
    check(np_fn, torch_fn, *arrays, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spec", sorted(EINSUM))
def test_einsum_full_form_against_torch(spec, dtype):
    check(lambda *x: np.einsum(spec, *x), lambda *x: torch.einsum(spec, *x), *EINSUM[spec], dtype=dtype)
    check(lambda *x: tg.einsum(spec, *x), lambda *x: torch.einsum(spec, *x), *EINSUM[spec], dtype=dtype)


def test_values_equal_numpy_exactly_and_keep_dtype():
    x = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
    t = tg.tensor(x)
    for f in [lambda a: np.roll(a, 5), lambda a: np.rot90(a, 3, (1, 2)), lambda a: np.diagonal(a, -1, 1, 2),
              lambda a: np.triu(a, -1), lambda a: np.kron(a, a[0]), lambda a: np.tensordot(a, a, ([1, 2], [1, 2])),
              lambda a: np.atleast_3d(a[0, 0]), lambda a: np.einsum("...ii->...i", a[:, :, :3])]:
        got = f(t)
        assert isinstance(got, tg.Tensor) and got.dtype == np.float32
        np.testing.assert_array_equal(got.data, f(x))
    pieces = np.array_split(t, 3, axis=2)
    assert [p.shape for p in pieces] == [p.shape for p in np.array_split(x, 3, axis=2)]


def test_einsum_second_order_of_a_trace_product():
    """d/dA tr(A A) = 2 A^T and its derivative; through einsum's diagonal rule in both modes."""
    a = np.random.default_rng(4).normal(size=(3, 3))
    f = lambda m: np.einsum("ij,ji", m, m) + np.einsum("ii", m) ** 2  # noqa: E731
    g = tg.grad(f)(a)
    np.testing.assert_allclose(g, 2 * a.T + 2 * np.trace(a) * np.eye(3), rtol=1e-12)
    h = tg.jacfwd(tg.grad(f))(a)
    expected = 2 * np.einsum("il,jk->ijkl", np.eye(3), np.eye(3)) + 2 * np.einsum("ij,kl->ijkl", np.eye(3), np.eye(3))
    np.testing.assert_allclose(h, expected, atol=1e-12)


def test_np_array_of_tensors_says_to_stack():
    t0, t1 = tg.tensor(1.0, requires_grad=True), tg.tensor(2.0, requires_grad=True)
    with pytest.raises(DroppedGradientError, match=r"np\.stack.*tg\.stack"):
        np.array([t0, t1])
    stacked = np.stack([t0, t1])
    (stacked * tg.tensor([3.0, 4.0])).sum().backward()
    assert t0.grad.item() == 3.0 and t1.grad.item() == 4.0


BAD = [
    (lambda t: np.diag(t[0, 0]), ShapeError, "diag: got shape \\(\\); expected 1"),
    (lambda t: np.diag(t, 1.5), ArgumentError, "diag: k must be an integer"),
    (lambda t: np.diagonal(t, 0, 1, 1), ShapeError, "diagonal: axis1 and axis2 are both 1"),
    (lambda t: np.diagonal(t, 0, 0, 5), ShapeError, "diagonal: axis2=5 is out of range"),
    (lambda t: np.triu(t[0]), ShapeError, "triu: got shape \\(4,\\); expected at least 2"),
    (lambda t: np.roll(t, 1, axis=3), ShapeError, "roll: axis=3 is out of range"),
    (lambda t: np.roll(t, (1, 2, 3), axis=(0, 1)), ShapeError, "roll: shift=.* different lengths"),
    (lambda t: np.rot90(t, 1, (0, 0)), ShapeError, "rot90: axes=\\(0, 0\\) names an axis twice"),
    (lambda t: np.rot90(t, 1, (0,)), ArgumentError, "rot90: axes=\\(0,\\); expected two axes"),
    (lambda t: np.moveaxis(t, (0, 1), 0), ShapeError, "moveaxis: source=.* different numbers of axes"),
    (lambda t: np.rollaxis(t, 0, 5), ShapeError, "rollaxis: start=5"),
    (lambda t: np.fliplr(t[0]), ShapeError, "fliplr: got shape"),
    (lambda t: np.array_split(t, 0), ArgumentError, "array_split: 0 sections"),
    (lambda t: np.split(t, 2), ShapeError, "split: an axis of length 3 does not split into 2 equal"),
    (lambda t: np.hsplit(t, 3), ShapeError, "hsplit: an axis of length 4 does not split into 3"),
    (lambda t: np.vstack([t, t[:, :2]]), ShapeError, "vstack: arrays of shapes"),
    (lambda t: np.append(t, t[0], axis=0), ShapeError, "append: arrays of shapes"),
    (lambda t: np.tensordot(t, t, 3), ShapeError, "tensordot: axes=3"),
    (lambda t: np.tensordot(t, t, ([0], [1])), ShapeError, "tensordot: .* differ in length"),
    (lambda t: np.tensordot(t, t, "x"), ArgumentError, "tensordot: axes='x'"),
    (lambda t: np.inner(t, t[:, :2]), ShapeError, "inner: shapes .* expected equal last axes"),
    (lambda t: np.cross(t, t), ShapeError, "cross: vectors of lengths 4 and 4"),
    (lambda t: np.einsum("ii", t), ShapeError, "einsum: the letter 'i' repeats within 'ii' .* lengths \\[3, 4\\]"),
    (lambda t: np.einsum("ijk", t), ShapeError, "einsum: operand of shape \\(3, 4\\) for the subscripts 'ijk'"),
    (lambda t: np.einsum("...i->i", t), ShapeError, "output has no '...'"),
    (lambda t: np.einsum("ij->ii", t), ShapeError, "repeats within the output"),
    (lambda t: np.einsum("ij->k", t), ShapeError, "names \\['k'\\], which no operand has"),
    (lambda t: np.einsum("i.j", t), ShapeError, "expected only letters a-z, A-Z and at most one '...'"),
    (lambda t: np.einsum("ij->i->j", t), ShapeError, "more than one '->'"),
    (lambda t: tg.einsum(3, t), ArgumentError, "subscripts=3"),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_input_raises_clear_errors(case):
    f, error, message = BAD[case]
    t = tg.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    with pytest.raises(error, match=message):
        f(t)


# -- construction and interpolation ---------------------------------------------------------------------

W5 = torch.arange(5, dtype=torch.float64).reshape(-1, 1) / 4
W4 = torch.arange(4, dtype=torch.float64).reshape(-1, 1) / 4
COORDS = np.array([0.0, 0.5, 1.5, 1.75, 3.0])

MORE = {
    "linspace scalars": (lambda a, b: np.linspace(a, b, 5), lambda a, b: torch.lerp(a, b, W5[:, 0].to(a.dtype)),
                         [np.array(1.0), np.array(-2.0)]),
    "linspace arrays": (lambda a, b: np.linspace(a, b, 5), lambda a, b: torch.lerp(a, b, W5.to(a.dtype)),
                        [V[:2], V[2:]]),
    "linspace no endpoint axis": (lambda a, b: np.linspace(a, b, 4, endpoint=False, axis=1),
                                  lambda a, b: torch.lerp(a, b, W4.to(a.dtype)).T, [V[:2], V[2:]]),
    "meshgrid xy": (lambda a, b: np.meshgrid(a, b), lambda a, b: torch.meshgrid(a, b, indexing="xy"), [V, V[:3]]),
    "meshgrid ij 3": (lambda a, b, c: np.meshgrid(a, b, c, indexing="ij"),
                      lambda a, b, c: torch.meshgrid(a, b, c, indexing="ij"), [V, V[:3], V[:2]]),
    "polyval": (lambda p, x: np.polyval(p, x),
                lambda p, x: sum(p[i] * x ** (len(p) - 1 - i) for i in range(len(p))), [V, M]),
    "gradient": (lambda f: np.gradient(f), lambda f: torch.gradient(f), [B3]),
    "gradient spacing axis": (lambda f: np.gradient(f, 0.5, axis=1), lambda f: torch.gradient(f, spacing=0.5, dim=1)[0],
                              [M]),
    "gradient order 2": (lambda f: np.gradient(f, 2.0, 0.5, edge_order=2),
                         lambda f: torch.gradient(f, spacing=[2.0, 0.5], edge_order=2), [M]),
    "gradient coordinates": (lambda f: np.gradient(f, COORDS, axis=1),
                             lambda f: torch.gradient(f, spacing=(torch.tensor(COORDS, dtype=f.dtype),), dim=1)[0],
                             [M]),
    "gradient coordinates order 2": (
        lambda f: np.gradient(f, COORDS, COORDS[:4], edge_order=2),
        lambda f: torch.gradient(f, spacing=(torch.tensor(COORDS[:4], dtype=f.dtype),
                                             torch.tensor(COORDS, dtype=f.dtype)), dim=(1, 0), edge_order=2)[::-1],
        [M.T.copy()]),
    "partition": (lambda x: np.partition(x, 2, axis=1),
                  lambda x: torch.take_along_dim(x, torch.tensor(np.argpartition(M, 2, axis=1)), 1),
                  [M]),
    "partition flat kths": (lambda x: np.partition(x, (1, 5), axis=None),
                            lambda x: x.reshape(-1)[torch.tensor(np.argpartition(M.reshape(-1), (1, 5)))], [M]),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(MORE))
def test_construction_against_torch(name, dtype):
    np_fn, torch_fn, arrays = MORE[name]
    check(np_fn, torch_fn, *arrays, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_construction_values_equal_numpy(dtype):
    a, b = np.array([1.0, 2.0], dtype=dtype), np.array([3.0, -1.0], dtype=dtype)
    for kwargs in [{}, {"num": 1}, {"num": 7, "endpoint": False}, {"num": 3, "axis": -1}, {"num": 0}]:
        got = np.linspace(tg.tensor(a), tg.tensor(b), **kwargs)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.data, np.linspace(a, b, **kwargs))
    y, step = np.linspace(tg.tensor(a), tg.tensor(b), 5, retstep=True)
    np.testing.assert_array_equal(step.data, np.linspace(a, b, 5, retstep=True)[1])
    m = M.astype(dtype)
    for args in [(), (0.5,), (COORDS[:4], COORDS)]:
        for got, want in zip(np.gradient(tg.tensor(m), *args), np.gradient(m, *args)):
            assert got.dtype == dtype
            np.testing.assert_allclose(got.data, want, rtol=TOL[dtype], atol=TOL[dtype])
    part = np.partition(tg.tensor(m), 3, axis=0).data
    np.testing.assert_array_equal(part[3], np.partition(m, 3, axis=0)[3])
    assert (part[:3] <= part[3]).all() and (part[4:] >= part[3]).all()
    p = V.astype(dtype)
    np.testing.assert_array_equal(np.polyval(tg.tensor(p), tg.tensor(m)).data, np.polyval(p, m))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_interp_values_and_gradients(dtype):
    knots = np.array([0.0, 1.0, 1.5, 3.0], dtype=dtype)
    fp = np.array([0.0, 2.0, -1.0, 4.0], dtype=dtype)
    x = np.array([-1.0, 0.0, 0.25, 1.0, 1.2, 2.9, 3.0, 3.5], dtype=dtype)
    xs, fps, ks = (tg.tensor(v, requires_grad=True) for v in (x, fp, knots))
    y = np.interp(xs, ks, fps)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.data, np.interp(x, knots, fp), rtol=TOL[dtype], atol=TOL[dtype])
    w = np.linspace(1.0, 2.0, x.size).astype(dtype)
    (tg.tensor(w) * y).sum().backward()
    basis = np.stack([np.interp(x, knots, np.eye(4, dtype=dtype)[k]) for k in range(4)], axis=1)
    np.testing.assert_allclose(fps.grad.data, w @ basis, rtol=TOL[dtype])
    j = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, 2)
    slope = (fp[j + 1] - fp[j]) / (knots[j + 1] - knots[j])
    inside = (x >= knots[0]) & (x <= knots[-1])
    np.testing.assert_allclose(xs.grad.data, w * slope * inside, rtol=TOL[dtype])
    # the knots' gradient against central finite differences (float64: away from every kink)
    if dtype == np.float64:
        eps = 1e-6
        for k in range(4):
            d = np.zeros(4)
            d[k] = eps
            fd = (w @ np.interp(x, knots + d, fp) - w @ np.interp(x, knots - d, fp)) / (2 * eps)
            assert abs(ks.grad.data[k] - fd) < 1e-5 or np.isclose(x, knots[k]).any()
    left = np.interp(xs, ks, fps, left=-7.0, right=tg.tensor(8.0)).data
    np.testing.assert_allclose(left, np.interp(x, knots, fp, left=-7.0, right=8.0), rtol=TOL[dtype])
    # second order in x: the interpolant is piecewise linear, so x's Hessian of sum(y**2) is 2 slope**2
    h = tg.grad(lambda t: (np.interp(t, knots, fp) ** 2).sum())
    hess = tg.jacfwd(h)(x.astype(np.float64))
    k64, f64 = knots.astype(np.float64), fp.astype(np.float64)
    slope64 = (f64[j + 1] - f64[j]) / (k64[j + 1] - k64[j])
    np.testing.assert_allclose(np.diag(hess), 2 * slope64 ** 2 * inside, rtol=TOL[dtype])



@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient_differentiates_its_spacings(dtype, edge_order):
    """Coordinates and a uniform spacing given as Tensors take a gradient (first and second order, JVP)."""
    coords = np.cumsum(np.random.default_rng(3).uniform(0.5, 1.5, 5))
    check(lambda f, x: np.gradient(f, x, axis=1, edge_order=edge_order),
          lambda f, x: torch.gradient(f, spacing=(x,), dim=1, edge_order=edge_order)[0], M, coords, dtype=dtype)
    check(lambda f, h: np.gradient(f, h, edge_order=edge_order),
          lambda f, h: [g / h for g in torch.gradient(f, edge_order=edge_order)], M, np.array(0.7), dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_interp_with_a_period(dtype):
    """``period``: NumPy's values (x and knots wrapped), gradients in x, the values and the knots."""
    knots = np.array([190.0, -190.0, 350.0, -350.0], dtype=dtype)
    fp = np.array([5.0, 10.0, 3.0, 4.0], dtype=dtype)
    x = (np.linspace(-9.0, 9.0, 13) + 0.1).astype(dtype)
    np.testing.assert_allclose(np.interp(tg.tensor(x), knots, fp, period=360).data, np.interp(x, knots, fp, period=360),
                               rtol=TOL[dtype])
    check(lambda x_, k, f: np.interp(x_, k, f, period=360.0),
          lambda x_, k, f: _torch_periodic_interp(x_, k, f, 360.0), x, knots, fp, dtype=dtype)
    assert np.interp(tg.tensor(x), knots, fp, period=-360, left=100.0).dtype == dtype  # left ignored, as NumPy


def _torch_periodic_interp(x, knots, fp, period):
    """NumPy's periodic np.interp, written in PyTorch (the oracle for its gradients)."""
    x, knots = torch.remainder(x, period), torch.remainder(knots, period)
    order = torch.argsort(knots.detach())
    knots, fp = knots[order], fp[order]
    knots = torch.cat([knots[-1:] - period, knots, knots[:1] + period])
    fp = torch.cat([fp[-1:], fp, fp[:1]])
    j = torch.clamp(torch.searchsorted(knots.detach(), x.detach(), right=True) - 1, 0, len(knots) - 2)
    slope = (fp[j + 1] - fp[j]) / (knots[j + 1] - knots[j])
    return fp[j] + slope * (x - knots[j])


def test_argpartition_gives_the_partition_permutation():
    a = np.random.default_rng(5).normal(size=(4, 7))
    t = tg.tensor(a, requires_grad=True)
    for kth, axis in [(3, -1), ((1, 4), 1), (2, 0), (5, None)]:
        got = np.argpartition(t, kth, axis=axis)
        assert not got.requires_grad and got.dtype == np.intp
        np.testing.assert_array_equal(got.data, np.argpartition(a, kth, axis=axis))

MORE_BAD = [
    (lambda t: np.linspace(t, t, -1), ArgumentError, "linspace: num=-1"),
    (lambda t: np.linspace(t, t, 2.5), ArgumentError, "linspace: num must be an integer"),
    (lambda t: np.meshgrid(t, t, indexing="yx"), ArgumentError, "meshgrid: indexing='yx'"),
    (lambda t: np.interp(t, t, t[:2]), ShapeError, "interp: xp of shape \\(3, 4\\)"),
    (lambda t: np.interp(t, t[0], t[0], period=0.0), ArgumentError, "interp: period=0"),
    (lambda t: np.polyval(t[0, 0], t), ShapeError, "polyval: coefficients of shape \\(\\)"),
    (lambda t: np.gradient(t[:1]), ShapeError, "gradient: an axis of length 1"),
    (lambda t: np.gradient(t, edge_order=3), ArgumentError, "gradient: edge_order=3"),
    (lambda t: np.gradient(t, 1.0, 2.0, 3.0), ArgumentError, "gradient: 3 spacings for 2 axes"),
    (lambda t: np.gradient(t, [0.0, 1.0], 1.0), ShapeError, "gradient: coordinates of length 2 along axis 0"),
    (lambda t: np.gradient(t, t[0, :1], 1.0), ShapeError, "gradient: coordinates of length 1 along axis 0"),
    (lambda t: np.argpartition(t, 9, axis=1), ShapeError, "argpartition: kth=9 for an axis of length 4"),
    (lambda t: np.partition(t, 9, axis=1), ShapeError, "partition: kth=9 for an axis of length 4"),
]


@pytest.mark.parametrize("case", range(len(MORE_BAD)))
def test_construction_bad_input(case):
    f, error, message = MORE_BAD[case]
    t = tg.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    with pytest.raises(error, match=message):
        f(t)


def _torch_convolve(a, v, mode):
    """np.convolve written in PyTorch (its conv1d is a correlation: the kernel flipped), the oracle."""
    if v.shape[0] > a.shape[0]:
        a, v = v, a
    n, m = a.shape[0], v.shape[0]
    full = torch.nn.functional.conv1d(a.reshape(1, 1, n), v.flip(0).reshape(1, 1, m), padding=m - 1).reshape(-1)
    start, size = {"full": (0, n + m - 1), "same": ((m - 1) // 2, n), "valid": (m - 1, n - m + 1)}[mode]
    return full[start:start + size]


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("lengths", [(7, 3), (3, 7), (4, 4), (1, 5)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_convolve_values_and_derivatives(mode, lengths, dtype, monkeypatch):
    """``np.convolve`` on Tensors: NumPy's values (the longer input first, as NumPy swaps them), first and
    second derivatives and the JVP against PyTorch; the same without SciPy (NumPy's own convolution)."""
    from tapegrad.ops import signal as ops_signal

    r = np.random.default_rng(sum(lengths))
    a, v = r.normal(size=lengths[0]).astype(dtype), r.normal(size=lengths[1]).astype(dtype)
    for scipy_installed in (True, False):
        if not scipy_installed:
            monkeypatch.setattr(ops_signal, "installed", lambda module: None)
        got = np.convolve(tg.tensor(a), tg.tensor(v), mode)
        assert got.dtype == dtype
        np.testing.assert_allclose(got.data, np.convolve(a, v, mode), rtol=TOL[dtype], atol=TOL[dtype])
        check(lambda x, y: np.convolve(x, y, mode), lambda x, y: _torch_convolve(x, y, mode), a, v, dtype=dtype)


def test_convolve_bad_input_names_convolve():
    t = tg.tensor(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"convolve: a \(2, 3\) and v \(3,\); expected 1-D"):
        np.convolve(t, np.ones(3))
    with pytest.raises(ArgumentError, match="convolve: mode='middle'"):
        np.convolve(tg.tensor(np.ones(3)), np.ones(2), "middle")
    with pytest.raises(ShapeError, match="convolve: .*expected non-empty inputs"):
        np.convolve(tg.tensor(np.ones(3)), np.ones(0))

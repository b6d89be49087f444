"""The Tensor front-end: construction, dtypes, attributes, errors, and composite operations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg


def test_repr_reads_like_pytorch():
    assert repr(tg.tensor([1.0, 2.0], requires_grad=True)) == "tensor([1., 2.], requires_grad=True)"
    assert repr(tg.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(tg.tensor([1.0], dtype=np.float64)) == "tensor([1.], dtype=float64)"
    x = tg.tensor([1.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2.], grad_fn=<multiply>)"


def test_python_floats_take_the_default_dtype_and_numpy_arrays_keep_theirs():
    assert tg.tensor([1.0, 2.0]).dtype == np.float32
    assert tg.tensor(np.array([1.0, 2.0])).dtype == np.float64
    assert tg.tensor([1, 2]).dtype == np.int64
    tg.set_default_dtype(np.float64)
    try:
        assert tg.tensor(1.0).dtype == np.float64 and tg.zeros(2).dtype == np.float64
    finally:
        tg.set_default_dtype(np.float32)
    with pytest.raises(tg.DTypeError):
        tg.set_default_dtype(np.int32)


def test_tensor_copies_and_as_tensor_shares():
    data = np.array([1.0, 2.0])
    copied, shared = tg.tensor(data), tg.as_tensor(data)
    data[0] = 9.0
    assert copied.tolist() == [1.0, 2.0] and shared.tolist() == [9.0, 2.0]
    assert tg.as_tensor(shared) is shared


def test_integer_and_bool_tensors_cannot_require_grad():
    with pytest.raises(tg.DTypeError, match="int64"):
        tg.tensor([1, 2], requires_grad=True)
    with pytest.raises(tg.DTypeError, match="bool"):
        tg.tensor([True]).requires_grad_()


def test_float32_stays_float32_with_python_scalars_and_in_gradients():
    x = tg.tensor(np.ones(3, np.float32), requires_grad=True)
    y = (x * 2.5 + 1) ** 2 / 3.0 - 0.5
    y = y.exp().log().sigmoid().softplus().tanh().sum()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32


def test_mixed_dtypes_follow_numpy_and_gradients_take_the_input_dtype():
    a = tg.tensor(np.ones(2, np.float32), requires_grad=True)
    b = tg.tensor(np.ones(2, np.float64), requires_grad=True)
    y = a * b
    assert y.dtype == np.result_type(np.float32, np.float64)
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_attributes_and_conversions():
    x = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="x")
    assert (x.shape, x.ndim, x.size, len(x)) == ((2, 3), 2, 6, 2)
    assert x.T.shape == (3, 2) and x.name == "x"
    assert x.numpy() is x.data
    with tg.no_grad():
        assert np.asarray(x) is x.data
    with pytest.raises(tg.DroppedGradientError, match=r"shape \(2, 3\), float64.*tg.stack.*\.detach\(\)"):
        np.asarray(x)  # the values, without their gradient: only when asked for explicitly
    assert x.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert x[1, 2].item() == 5.0 and float(x[0, 1]) == 1.0
    d = x.detach()
    assert not d.requires_grad and np.shares_memory(d.data, x.data)
    assert [row.tolist() for row in x] == x.tolist()
    with pytest.raises(tg.ShapeError, match="one entry"):
        x.item()


def test_factories():
    tg.manual_seed(0)
    a = tg.randn(2, 3)
    tg.manual_seed(0)
    b = tg.randn((2, 3))
    assert a.tolist() == b.tolist() and a.dtype == np.float32
    assert tg.zeros(2, 2).tolist() == [[0, 0], [0, 0]] and tg.ones(3).dtype == np.float32
    assert tg.full((2,), 7.0).tolist() == [7.0, 7.0] and tg.full((1,), 3).dtype == np.int64
    assert tg.arange(3).tolist() == [0, 1, 2] and tg.arange(0.0, 1.0, 0.5).dtype == np.float32
    assert tg.linspace(0, 1, 3).tolist() == [0.0, 0.5, 1.0]
    assert tg.eye(2).tolist() == [[1, 0], [0, 1]]
    r = tg.rand(100)
    assert 0 <= r.numpy().min() and r.numpy().max() < 1
    assert tg.empty(2, 3).shape == (2, 3)
    assert tg.zeros_like(a).shape == (2, 3) and tg.ones_like(a).numpy().sum() == 6
    assert tg.full_like(a, 2.0).numpy().sum() == 12
    assert tg.zeros(2, requires_grad=True).requires_grad


# -- clear errors --------------------------------------------------------------------------------

def test_matmul_shape_error_names_both_shapes():
    with pytest.raises(tg.ShapeError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        tg.ones(2, 3) @ tg.ones(4, 5)


def test_broadcast_error_names_both_shapes():
    with pytest.raises(tg.ShapeError, match=r"add.*\(2, 3\).*\(4,\).*broadcast"):
        tg.ones(2, 3) + tg.ones(4)


def test_other_errors_are_clear():
    with pytest.raises(tg.ShapeError, match="reshape"):
        tg.ones(2, 3).reshape(4)
    with pytest.raises(tg.ShapeError, match="squeeze: axis 0"):
        tg.ones(2, 3).squeeze(0)
    with pytest.raises(tg.ShapeError, match="sum"):
        tg.ones(2).sum(axis=3)
    with pytest.raises(tg.ShapeError, match="getitem"):
        tg.ones(2)[5]
    with pytest.raises(tg.ShapeError, match="in-place"):
        x = tg.ones(3)
        x += tg.ones(2, 3)
    with pytest.raises(tg.DTypeError, match="int64"):
        x = tg.tensor([1, 2])
        x += 0.5
    with pytest.raises(tg.ShapeError, match="split"):
        tg.ones(5).split(2)


# -- composite operations and special rules ---------------------------------------------------------

def test_prod_gradient_is_exact_with_zeros():
    x = tg.tensor([2.0, 0.0, 3.0, 4.0], dtype=np.float64, requires_grad=True)
    x.prod().backward()
    assert x.grad.tolist() == [0.0, 24.0, 0.0, 0.0]
    y = tg.tensor([[0.0, 5.0, 0.0], [1.0, 2.0, 3.0]], dtype=np.float64, requires_grad=True)
    y.prod(axis=1).sum().backward()
    assert y.grad.tolist() == [[0.0, 0.0, 0.0], [6.0, 3.0, 2.0]]


def test_max_splits_the_gradient_equally_among_ties():
    x = tg.tensor([1.0, 3.0, 3.0, 2.0], dtype=np.float64, requires_grad=True)
    x.max().backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.5, 0.0]
    y = tg.tensor([[1.0, 1.0], [0.0, 2.0]], dtype=np.float64, requires_grad=True)
    y.min(axis=1).sum().backward()
    assert y.grad.tolist() == [[0.5, 0.5], [1.0, 0.0]]


def test_indexing_gradients_accumulate_over_repeated_indices():
    x = tg.tensor([1.0, 2.0, 3.0], dtype=np.float64, requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]
    m = tg.tensor([[1.0, -2.0], [3.0, -4.0]], dtype=np.float64, requires_grad=True)
    m[m > 0].sum().backward()
    assert m.grad.tolist() == [[1.0, 0.0], [1.0, 0.0]]
    z = tg.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    picked = z[None, ..., 1:3][0, :, tg.tensor([2, 0])]
    assert picked.shape == (2, 2, 2)
    picked.sum().backward()
    assert z.grad.numpy().sum() == 8.0


def test_take_along_axis_picks_and_scatters_back():
    x = tg.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], dtype=np.float64, requires_grad=True)
    idx = np.array([[1, 1], [2, 0]])
    picked = x.take_along_axis(idx, axis=1)
    assert picked.tolist() == np.take_along_axis(x.numpy(), idx, axis=1).tolist()
    picked.sum().backward()
    assert x.grad.tolist() == [[0.0, 2.0, 0.0], [1.0, 0.0, 1.0]]


def test_shape_functions_match_numpy():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = tg.tensor(a)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert x.unsqueeze(0).shape == (1, 2, 3, 4) and x.expand_dims(-1).shape == (2, 3, 4, 1)
    assert x.unsqueeze(0).squeeze().shape == (2, 3, 4)
    assert x.transpose().shape == (4, 3, 2) and x.permute(1, 0, 2).shape == (3, 2, 4)
    assert x.swapaxes(0, 2).shape == (4, 3, 2)
    np.testing.assert_array_equal(x.repeat(2, axis=1).numpy(), np.repeat(a, 2, axis=1))
    np.testing.assert_array_equal(x.repeat([1, 2, 0], axis=1).numpy(), np.repeat(a, [1, 2, 0], axis=1))
    np.testing.assert_array_equal(x.repeat(2).numpy(), np.repeat(a, 2))
    np.testing.assert_array_equal(x.tile((2, 1)).numpy(), np.tile(a, (2, 1)))
    np.testing.assert_array_equal(x.tile(2).numpy(), np.tile(a, 2))
    np.testing.assert_array_equal(x.flip(1).numpy(), np.flip(a, 1))
    np.testing.assert_array_equal(x.pad(1).numpy(), np.pad(a, 1))
    pieces = x.split(3, axis=1)
    assert [p.shape for p in pieces] == [(2, 1, 4)] * 3
    assert [p.shape for p in x.split([1, 3], axis=2)] == [(2, 3, 1), (2, 3, 2), (2, 3, 1)]
    np.testing.assert_array_equal(tg.stack([x, x], axis=1).numpy(), np.stack([a, a], axis=1))
    np.testing.assert_array_equal(tg.concatenate([x, x], axis=-1).numpy(), np.concatenate([a, a], -1))
    np.testing.assert_array_equal(tg.outer([1, 2], [3, 4, 5]).numpy(), np.outer([1, 2], [3, 4, 5]))
    np.testing.assert_array_equal(tg.einsum("ijk->kj", x).numpy(), np.einsum("ijk->kj", a))
    np.testing.assert_array_equal(x.std(axis=1).numpy(), a.std(axis=1))


@pytest.mark.parametrize("name", ["repeat", "tile", "split", "take_along_axis", "stack", "std", "outer", "clip"])
def test_composite_operations_have_correct_gradients(name):
    rng = np.random.default_rng(5)
    a = rng.uniform(0.5, 1.5, (2, 3))
    cases = {
        "repeat": lambda x: x.repeat([2, 0, 1], axis=1),
        "tile": lambda x: x.tile((2, 1, 2)),
        "split": lambda x: x.split([1], axis=1)[1] * 2,
        "take_along_axis": lambda x: x.take_along_axis(np.array([[2, 2], [0, 1]]), axis=1),
        "stack": lambda x: tg.stack([x, x * 2], axis=0),
        "std": lambda x: x.std(axis=0, ddof=1),
        "outer": lambda x: tg.outer(x[0], x[1]),
        "clip": lambda x: x.clip(tg.tensor(0.7, dtype=np.float64), tg.tensor(1.2, dtype=np.float64)),
    }
    assert tg.gradcheck(cases[name], [a])
    assert tg.gradgradcheck(cases[name], [a])


# -- numerical stability --------------------------------------------------------------------------

def test_stable_functions_do_not_overflow_or_warn_for_large_inputs():
    big = np.array([-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4])
    x = tg.tensor(big, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = x.sigmoid()
        sp = x.softplus()
        lse = x.logsumexp()
        ls = x.log_softmax()
        sm = x.softmax()
        (s.sum() + sp.sum() + lse + ls.sum() + sm.sum()).backward()
    for t in (s, sp, lse, ls, sm, x.grad):
        assert np.all(np.isfinite(t.numpy()))
    np.testing.assert_allclose(s.numpy()[[0, 3, 6]], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(sp.numpy()[[0, 6]], [0.0, 1e4])
    assert lse.item() == pytest.approx(1e4)
    np.testing.assert_allclose(sm.numpy()[-1], 1.0)
    assert ls.numpy()[-1] == pytest.approx(0.0) and ls.numpy()[0] == pytest.approx(-2e4)


def test_log_softmax_of_float32_logits_of_1e4():
    logits = tg.tensor(np.array([[1e4, -1e4, 0.0]], np.float32), requires_grad=True)
    out = logits.log_softmax(axis=1)
    out[0, 0].backward()
    assert out.dtype == np.float32 and np.all(np.isfinite(out.numpy()))
    assert logits.grad.tolist() == [[0.0, 0.0, 0.0]]


def test_a_primitive_of_ones_own_runs_with_tg_apply_to_any_order():
    from tapegrad.ops import Primitive
    cube = Primitive("cube", lambda x: x ** 3, vjps=(lambda xp, g, ans, x: g * 3 * x * x,),
                     jvps=(lambda xp, t, ans, x: t * 3 * x * x,))
    x = tg.tensor([2.0, -1.0], requires_grad=True)
    y = tg.apply(cube, x)
    assert y.grad_fn.name == "cube" and y.tolist() == [8.0, -1.0]
    (g,) = tg.autograd.grad(y.sum(), [x], create_graph=True)
    assert g.tolist() == [12.0, 3.0]
    (h,) = tg.autograd.grad(g.sum(), [x])
    assert h.tolist() == [12.0, -6.0]
    _, tangent = tg.jvp(lambda v: tg.apply(cube, v), (x.detach(),), (tg.tensor([1.0, 1.0]),))
    assert tangent.tolist() == [12.0, 3.0]


def test_a_computed_tensors_name_labels_its_step():
    x = tg.tensor(2.0, requires_grad=True, name="x")
    q = x * 3
    assert q.grad_fn.label is None
    q.name = "q"
    assert q.name == "q" and q.grad_fn.label == "q" and "name='q'" in repr(q)
    with pytest.raises(tg.ArgumentError, match="name: expected a str or None"):
        q.name = 3
    r = q.clone()
    r.name = "r"
    r += 1.0
    assert r.grad_fn.name == "add" and r.grad_fn.label == "r"


def test_tg_apply_refuses_what_is_not_a_primitive_even_with_a_forward():
    with pytest.raises(tg.ArgumentError, match="apply: prim=.* is a Linear; expected a Primitive"):
        tg.apply(tg.nn.Linear(2, 2), tg.tensor(np.ones(2)))


def test_detect_anomaly_checks_operations_not_conversions():
    t = tg.tensor(np.array([1e10]))
    with tg.detect_anomaly(), np.errstate(over="ignore"):
        assert np.isinf(tg.tensor(t, dtype=np.float16).numpy()).all()  # as NumPy converts; not an anomaly
        with pytest.raises(tg.AnomalyError, match="'multiply' produced inf"):
            t.astype(np.float32) * np.float32(1e30)

"""tg.vmap (issue 17): JAX's in_axes/out_axes over pytrees, torch.func's randomness and chunk_size, the
errors for bad input (before any computation), per-example shapes inside, data-dependent control flow
refused, batched indices and conditions, nested vmaps. The primitives one by one are swept in
tests/ops/test_batching.py; the composition with the other transforms is in test_vmap_transforms.py."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.errors import ArgumentError, BatchingError, ShapeError

R = np.random.default_rng(17)
X = R.standard_normal((4, 3))


def test_a_function_of_one_example_is_mapped_over_the_first_axis():
    out = tg.vmap(lambda x: (x * x).sum() + x[0])(X)
    np.testing.assert_allclose(out, (X * X).sum(1) + X[:, 0], rtol=1e-15)
    assert isinstance(out, np.ndarray)  # arrays in, arrays out


def test_tensors_in_give_tensors_out_and_python_numbers_pass_through():
    out = tg.vmap(lambda x, s: x * s, in_axes=(0, None))(tg.tensor(X), 2.0)
    assert isinstance(out, tg.Tensor)
    np.testing.assert_allclose(out.numpy(), X * 2)


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_in_axes_pick_the_mapped_axis_and_out_axes_place_it(axis):
    data = R.standard_normal((3, 5))
    f = lambda v: v * np.arange(1.0, v.shape[0] + 1)  # noqa: E731
    out = tg.vmap(f, in_axes=axis, out_axes=axis)(data)
    moved = np.moveaxis(data, axis, 0)
    expected = np.moveaxis(np.stack([f(row) for row in moved]), 0, axis)
    np.testing.assert_allclose(out, expected)


def test_in_axes_and_out_axes_follow_pytrees_as_prefixes():
    params = {"w": R.standard_normal((3, 2)), "b": R.standard_normal(2)}
    batch = [R.standard_normal((5, 3)), R.standard_normal((2, 5))]

    def f(p, xs):
        y = xs[0] @ p["w"] + p["b"]
        return {"y": y, "z": (xs[1] * 2, p["b"])}

    out = tg.vmap(f, in_axes=({"w": None, "b": None}, [0, 1]), out_axes={"y": 1, "z": (0, None)})(params, batch)
    np.testing.assert_allclose(out["y"], (batch[0] @ params["w"] + params["b"]).T)
    np.testing.assert_allclose(out["z"][0], batch[1].T * 2)
    np.testing.assert_allclose(out["z"][1], params["b"])  # out_axes None: as it is


def test_an_output_that_does_not_depend_on_the_mapped_inputs_is_broadcast_along_out_axes():
    out = tg.vmap(lambda x: (tg.ones(2) * 3, 1.5), out_axes=(1, 0))(X)
    np.testing.assert_array_equal(out[0], np.full((2, 4), 3.0))
    np.testing.assert_array_equal(out[1], np.full(4, 1.5))


def test_keyword_arguments_are_shared_by_every_example():
    out = tg.vmap(lambda x, scale=1.0: x * scale)(X, scale=np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(out, X * [1, 2, 3])


def test_every_example_sees_its_own_shape():
    seen = {}

    def f(x):
        seen.update(shape=x.shape, ndim=x.ndim, len=len(x), size=x.size, np_shape=np.shape(x), np_ndim=np.ndim(x))
        return x.reshape(x.shape[0], 1).sum(axis=-1)

    tg.vmap(f, in_axes=1)(R.standard_normal((2, 7)))
    assert seen == {"shape": (2,), "ndim": 1, "len": 2, "size": 2, "np_shape": (2,), "np_ndim": 1}


# -- bad input: named before any computation ---------------------------------------------------------

def _never_called(*args, **kwargs):
    raise AssertionError("f ran although the arguments are bad")


@pytest.mark.parametrize("call, error, words", [
    (lambda: tg.vmap(_never_called)(X, R.standard_normal(5)), ShapeError,
     ["argument 0 of shape (4, 3) has 4 along axis 0", "argument 1 of shape (5,) has 5 along axis 0"]),
    (lambda: tg.vmap(_never_called, in_axes=(0, 1))(X, R.standard_normal((4, 3))), ShapeError,
     ["argument 1 of shape (4, 3) has 3 along axis 1"]),
    (lambda: tg.vmap(_never_called, in_axes=2)(X), ShapeError, ["argument 0 of shape (4, 3) over axis 2", "[-2, 2)"]),
    (lambda: tg.vmap(_never_called, in_axes=(0, -3))(X, X), ShapeError, ["argument 1 of shape (4, 3) over axis -3"]),
    (lambda: tg.vmap(_never_called, in_axes=0)(np.array(1.0)), ShapeError, ["shape ()", "no axis"]),
    (lambda: tg.vmap(_never_called, in_axes=(0, None))(X), ArgumentError, ["2 entries for 1 positional"]),
    (lambda: tg.vmap(_never_called, in_axes=((0, 0),))([X]), ArgumentError,
     ["argument 0 a tuple of 2 entries", "a list of 1 items"]),
    (lambda: tg.vmap(_never_called, in_axes=({"a": 0},))({"a": X, "b": X}), ArgumentError,
     ["keys ['a']", "keys ['a', 'b']"]),
    (lambda: tg.vmap(_never_called, in_axes=([0],))(X), ArgumentError, ["argument 0 a list", "ndarray"]),
    (lambda: tg.vmap(_never_called)(X, 3.0), ArgumentError, ["argument 1 over axis 0", "float"]),
    (lambda: tg.vmap(_never_called, in_axes=None)(X), ArgumentError, ["maps no argument"]),
    (lambda: tg.vmap(_never_called)(), ArgumentError, ["maps no argument"]),
    (lambda: tg.vmap(_never_called, in_axes=1.5), ArgumentError, ["in_axes holds 1.5"]),
    (lambda: tg.vmap(_never_called, out_axes="0"), ArgumentError, ["out_axes holds '0'"]),
    (lambda: tg.vmap(_never_called, randomness="sometimes"), ArgumentError, ["randomness='sometimes'"]),
    (lambda: tg.vmap(_never_called, chunk_size=0), ArgumentError, ["chunk_size=0"]),
    (lambda: tg.vmap(_never_called, chunk_size=True), ArgumentError, ["chunk_size=True"]),
    (lambda: tg.vmap(3), ArgumentError, ["not callable"]),
])
def test_bad_arguments_are_named_before_any_computation(call, error, words):
    with pytest.raises(error) as raised:
        call()
    for word in words:
        assert word in str(raised.value)


@pytest.mark.parametrize("call, words", [
    (lambda: tg.vmap(lambda x: x, out_axes=None)(X), ["out_axes gives the output None", "shape (3,) per example"]),
    (lambda: tg.vmap(lambda x: (x, x), out_axes=(0, 2))(X), ["the output[1]", "at 2", "[-2, 2)"]),
    (lambda: tg.vmap(lambda x: (x, x), out_axes=(0,))(X), ["out_axes gives the output a tuple of 1"]),
])
def test_bad_out_axes_are_named(call, words):
    with pytest.raises((ShapeError, ArgumentError)) as raised:
        call()
    for word in words:
        assert word in str(raised.value)


# -- what a batched value cannot do ------------------------------------------------------------------

@pytest.mark.parametrize("f, what", [
    (lambda x: 1.0 if x.sum() > 0 else 0.0, "bool()"),
    (lambda x: x.sum().item(), "item()"),
    (lambda x: float(x[0]), "float()"),
    (lambda x: int(x[0]), "int()"),
    (lambda x: x.tolist(), "tolist()"),
    (lambda x: x.numpy(), "numpy()"),
    (lambda x: np.asarray(x), "numpy.asarray"),
    (lambda x: [1.0, 2.0][x[0].astype(np.int64)], "__index__"),
    (lambda x: x.sum() > 0 and x, "bool()"),
])
def test_python_control_flow_on_a_batched_value_raises_and_points_to_where(f, what):
    with pytest.raises(BatchingError) as raised:
        tg.vmap(f)(X)
    message = str(raised.value)
    assert what in message and "tg.where" in message and "differs from example to example" in message


def test_in_place_changes_of_batched_values_are_refused():
    def f(x):
        x += 1
        return x

    with pytest.raises(BatchingError, match=r"\+= \(add_\): in-place change of a value batched by tg.vmap"):
        tg.vmap(f)(X)


def test_a_boolean_mask_of_a_batched_value_is_refused():
    with pytest.raises(ShapeError, match="different number of entries in each example.*tg.where"):
        tg.vmap(lambda x: x[x > 0])(X)


def test_a_batched_value_that_escapes_its_vmap_is_refused():
    kept = []
    tg.vmap(lambda x: kept.append(x) or x)(X)
    with pytest.raises(BatchingError, match="used after its vmap ended"):
        kept[0] + 1
    with pytest.raises(BatchingError, match="used after its vmap ended"):
        kept[0].data  # noqa: B018


def test_backward_inside_vmap_is_refused_with_the_transforms_to_use():
    w = tg.tensor(R.standard_normal(3), requires_grad=True)
    with pytest.raises(BatchingError, match="backward\\(\\) inside tg.vmap.*tg.grad"):
        tg.vmap(lambda x: (x * w).sum().backward())(X)


def test_tg_where_chooses_per_example():
    out = tg.vmap(lambda x: tg.where(x > 0, x.abs().sqrt(), -x))(X)
    np.testing.assert_allclose(out, np.where(X > 0, np.sqrt(np.abs(X)), -X))


# -- batched indices ---------------------------------------------------------------------------------

def test_indexing_with_a_batched_index_picks_each_examples_entry():
    table = R.standard_normal((4, 5, 6))
    i = np.array([0, 4, 2, 2])
    j = np.array([[1, 5], [0, 0], [3, 2], [5, 1]])
    np.testing.assert_allclose(tg.vmap(lambda t, k: t[k])(table, i), table[np.arange(4), i])
    np.testing.assert_allclose(tg.vmap(lambda t, k: t[:, k])(table, j), np.stack([t[:, k] for t, k in zip(table, j)]))
    np.testing.assert_allclose(tg.vmap(lambda t, a, b: t[a, b])(table, i, j[:, 0]), table[np.arange(4), i, j[:, 0]])
    np.testing.assert_allclose(tg.vmap(lambda t, b: t[[0, 3], ..., b])(table, j),
                               np.stack([t[[0, 3], ..., b] for t, b in zip(table, j)]))
    shared = R.standard_normal((7, 3))
    np.testing.assert_allclose(tg.vmap(lambda k: tg.tensor(shared)[k])(j), shared[j])  # a shared table
    with pytest.raises(ShapeError, match=r"indices from .* for an axis of length 5"):
        tg.vmap(lambda t, k: t[k])(table, np.array([0, 5, 1, 1]))


def test_indices_batched_gradients_flow_to_each_examples_entries():
    table = R.standard_normal((3, 4))
    labels = np.array([1, 3, 3])
    grads = tg.vmap(tg.grad(lambda t, k: t.log_softmax(axis=0)[k]))(table, labels)
    expected = np.stack([tg.grad(lambda t, k=k: t.log_softmax(axis=0)[int(k)])(t) for t, k in zip(table, labels)])
    np.testing.assert_allclose(grads, expected, rtol=1e-14)


def test_take_along_axis_with_batched_indices():
    x = R.standard_normal((3, 4, 2))
    idx = R.integers(0, 4, (3, 1, 2))
    out = tg.vmap(lambda a, i: a.take_along_axis(i, axis=0))(x, idx)
    np.testing.assert_allclose(out, np.stack([np.take_along_axis(a, i, axis=0) for a, i in zip(x, idx)]))


# -- randomness and chunks ---------------------------------------------------------------------------

def test_random_draws_are_refused_by_default_and_differ_or_agree_as_asked():
    with pytest.raises(BatchingError, match="randomness='error'.*'different'.*'same'"):
        tg.vmap(lambda x: x + tg.randn(3))(X)
    different = tg.vmap(lambda x: tg.rand(3), randomness="different")(X)
    same = tg.vmap(lambda x: tg.rand(3), randomness="same")(X)
    assert different.shape == same.shape == (4, 3)
    assert len(np.unique(different)) == 12
    np.testing.assert_array_equal(same, np.broadcast_to(same[0], (4, 3)))


def test_nested_randomness_same_inside_different_varies_only_along_the_outer_axis():
    draws = tg.vmap(tg.vmap(lambda x: tg.rand(()), randomness="same"), randomness="different")(R.random((3, 5)))
    assert draws.shape == (3, 5)
    np.testing.assert_array_equal(draws, np.broadcast_to(draws[:, :1], (3, 5)))
    assert len(np.unique(draws[:, 0])) == 3


@pytest.mark.parametrize("chunk_size", [1, 3, 4, 10])
def test_chunks_give_the_same_results_and_gradients(chunk_size):
    w = R.standard_normal(3)

    def total(w):
        return tg.vmap(lambda x, w: (x * w).sin().sum(), in_axes=(0, None), chunk_size=chunk_size)(X, w).sum()

    np.testing.assert_allclose(tg.vmap(lambda x: x.exp(), chunk_size=chunk_size, out_axes=1)(X), np.exp(X).T)
    np.testing.assert_allclose(tg.grad(total)(w), (np.cos(X * w) * X).sum(0), rtol=1e-14)


def test_randomness_same_draws_the_same_numbers_in_every_chunk():
    draws = tg.vmap(lambda x: tg.rand(2), randomness="same", chunk_size=3)(X)
    np.testing.assert_array_equal(draws, np.broadcast_to(draws[0], (4, 2)))


# -- nested vmaps ------------------------------------------------------------------------------------

def test_nested_vmaps_map_over_two_axes():
    a, b = R.standard_normal((4, 3)), R.standard_normal((5, 3))
    pairwise = tg.vmap(tg.vmap(lambda u, v: (u * v).sum(), in_axes=(None, 0)), in_axes=(0, None))(a, b)
    np.testing.assert_allclose(pairwise, a @ b.T, rtol=1e-14)
    inner_out = tg.vmap(tg.vmap(lambda u: u * 2, out_axes=1), in_axes=2)(R.standard_normal((2, 3, 4)))
    assert inner_out.shape == (4, 3, 2)


def test_a_value_batched_only_by_the_outer_vmap_is_shared_inside_the_inner_one():
    a = R.standard_normal((4, 3))
    out = tg.vmap(lambda u: tg.vmap(lambda k: u[k])(np.array([2, 0])))(a)
    np.testing.assert_allclose(out, a[:, [2, 0]])


def test_a_shared_tensor_cannot_be_changed_in_place_with_a_batched_value():
    def f(x):
        z = tg.zeros(3)
        z[0] = x.sum()
        return z

    with pytest.raises(BatchingError, match="__setitem__: in-place change of a tensor .* shared by every example"):
        tg.vmap(f)(X)


def test_values_shared_by_every_example_can_be_read_inside_grad_in_vmap():
    # jacfwd vmaps jvp over the basis tangents: the primal is the same for every example, and NumPy code that
    # reads its values (np.interp's positions) still runs
    knots, values = np.array([0.0, 1.0, 2.0]), np.array([0.0, 3.0, 1.0])
    h = tg.jacfwd(tg.grad(lambda t: (np.interp(t, knots, values) ** 2).sum()))(np.array([0.5, 1.5]))
    np.testing.assert_allclose(h, np.diag([2 * 9.0, 2 * 4.0]))
    w = R.standard_normal(3)
    seen = []
    tg.vmap(tg.grad(lambda w, x: seen.append(float(w.sum())) or (w * x).sum()), in_axes=(None, 0))(w, X)
    assert seen == [w.sum()]


def test_hvp_and_checkpoint_inside_vmap():
    f = lambda v: (v ** 3).sum()  # noqa: E731
    products = tg.vmap(lambda x, t: tg.hvp(f, (x,), (t,))[1])(X, X[::-1])
    np.testing.assert_allclose(products, 6 * X * X[::-1], rtol=1e-14)
    grads = tg.vmap(tg.grad(lambda x: tg.checkpoint(lambda v: (v.sin() * 2).sum(), x)))(X)
    np.testing.assert_allclose(grads, 2 * np.cos(X), rtol=1e-14)

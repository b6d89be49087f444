"""The backward engine: order, accumulation, freeing, higher order, grad modes, in-place checks."""

from __future__ import annotations

import gc
import sys
import threading
import time
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.engine.backward import count_consumers
from tapegrad.engine.node import Node
from tapegrad.ops import arithmetic as A
from tapegrad.ops import elementwise as E
from tapegrad.ops import linalg as L
from tapegrad.ops import reduce as R


def f64(values, requires_grad=True):
    return tg.tensor(values, dtype=np.float64, requires_grad=requires_grad)


def test_a_chain_of_a_million_nodes_runs_without_recursion():
    x = f64([1.0])
    y = x
    for _ in range(1_000_000):
        y = y + 1.0
    y.backward(np.ones(1))
    assert x.grad.tolist() == [1.0]
    assert y.item() == 1_000_001.0


def test_a_doubling_diamond_takes_linear_time_and_runs_each_rule_once():
    x = f64(3.0)
    y = x
    for _ in range(200):  # 2**200 paths from y to x
        y = y * 0.5 + y * 0.5
    assert len(count_consumers([y.grad_fn])) == 600
    start = time.perf_counter()
    y.backward()
    assert time.perf_counter() - start < 1.0
    assert x.grad.item() == 1.0


def test_leaf_gradients_accumulate_until_cleared():
    x = f64([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_non_leaf_keeps_grad_only_after_retain_grad():
    x = f64([1.0, 2.0])
    h = x * 2
    k = x * 3
    h.retain_grad()
    (h * k).sum().backward()
    assert h.grad.tolist() == [3.0, 6.0]
    assert k.grad is None
    assert not h.is_leaf and x.is_leaf


def test_inputs_that_do_not_influence_the_output_keep_no_grad():
    x, unused = f64([1.0]), f64([2.0])
    _ = unused * 2
    (x * 2).sum().backward()
    assert unused.grad is None
    assert x.grad.tolist() == [2.0]


def test_second_backward_through_a_released_graph_says_to_retain_it():
    x = f64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(tg.GraphReleasedError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = f64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_backward_frees_every_intermediate_array():
    x = f64(np.ones(1000))
    h = x.exp()
    watched = weakref.ref(h.data)
    loss = (h * h).sum()
    del h
    assert watched() is not None  # saved for backward
    loss.backward()
    assert watched() is None  # released; loss still holds its node


def test_the_graph_has_no_reference_cycles():
    gc.collect()
    gc.disable()
    try:
        x = f64(np.ones(3))
        h = (x * 2).exp()
        h.retain_grad()
        loss = (h.sin() * h).sum()
        node = weakref.ref(loss.grad_fn)
        inner = weakref.ref(h.grad_fn)
        loss.backward(retain_graph=True)
        del loss, h
        assert node() is None and inner() is None  # freed by reference counting alone
    finally:
        gc.enable()


def test_tensor_and_function_returned_grads_do_not_share_memory():
    x, y = f64([1.0, 2.0]), f64([3.0, 4.0])
    (x + y).backward(np.array([1.0, 1.0]))
    x.grad.zero_()
    assert y.grad.tolist() == [1.0, 1.0]


def test_create_graph_second_derivative_of_tanh():
    x = f64([0.3, -1.2])
    (dy,) = tg.autograd.grad(x.tanh().sum(), x, create_graph=True)
    (d2y,) = tg.autograd.grad(dy.sum(), x)
    t = np.tanh(x.numpy())
    np.testing.assert_allclose(dy.numpy(), 1 - t ** 2, rtol=1e-14)
    np.testing.assert_allclose(d2y.numpy(), -2 * t * (1 - t ** 2), rtol=1e-14)


def test_third_derivative_of_x_to_the_fourth():
    x = f64(1.5)
    (d1,) = tg.autograd.grad(x ** 4, x, create_graph=True)
    (d2,) = tg.autograd.grad(d1, x, create_graph=True)
    (d3,) = tg.autograd.grad(d2, x)
    assert (d1.item(), d2.item(), d3.item()) == pytest.approx((4 * 1.5 ** 3, 12 * 1.5 ** 2, 24 * 1.5))


def test_hessian_vector_product():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    A = A + A.T
    x = f64(rng.standard_normal(4))
    v = rng.standard_normal(4)
    f = 0.5 * (x @ tg.tensor(A) @ x) + x.sin().sum()
    (g,) = tg.autograd.grad(f, x, create_graph=True)
    (hv,) = tg.autograd.grad((g * tg.tensor(v)).sum(), x)
    expected = A @ v - np.sin(x.numpy()) * v
    np.testing.assert_allclose(hv.numpy(), expected, rtol=1e-12)


def test_backward_with_create_graph_leaves_a_differentiable_grad():
    x = f64([2.0])
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    g = x.grad
    x.grad = None
    g.sum().backward()
    assert x.grad.tolist() == [12.0]


def test_autograd_grad_with_non_leaf_inputs_and_allow_unused():
    x = f64([1.0, 2.0])
    h = x * 3
    other = f64([5.0])
    y = (h ** 2).sum()
    gh, gx, go = tg.autograd.grad(y, [h, x, other], allow_unused=True, retain_graph=True)
    assert gh.tolist() == [6.0, 12.0] and gx.tolist() == [18.0, 36.0] and go is None
    assert x.grad is None  # grad() returns gradients; it does not accumulate
    with pytest.raises(tg.BackwardError, match="input 2 .* was not used"):
        tg.autograd.grad(y, [h, x, other])


def test_backward_inputs_limits_accumulation():
    x, w = f64([1.0]), f64([2.0])
    (x * w).sum().backward(inputs=[w])
    assert x.grad is None and w.grad.tolist() == [1.0]


def test_backward_on_a_non_scalar_needs_a_gradient():
    x = f64([1.0, 2.0])
    with pytest.raises(tg.BackwardError, match=r"shape \(2,\).*gradient="):
        (x * 2).backward()


def test_backward_of_an_output_without_grad_is_an_error():
    with pytest.raises(tg.BackwardError, match="does not require grad"):
        tg.tensor([1.0]).sum().backward()


def test_multiple_outputs_in_one_pass():
    x = f64([1.0, 2.0])
    a, b = (x * 2).sum(), (x ** 2).sum()
    tg.autograd.backward([a, b])
    assert x.grad.tolist() == [4.0, 6.0]


# -- grad modes ---------------------------------------------------------------------------------

def test_no_grad_context_and_decorator():
    x = f64([1.0])
    with tg.no_grad():
        assert not (x * 2).requires_grad
        with tg.enable_grad():
            assert (x * 2).requires_grad

    @tg.no_grad()
    def evaluate(t):
        return t * 2

    assert not evaluate(x).requires_grad
    assert (x * 2).requires_grad


def test_set_grad_enabled_as_call_context_and_decorator():
    x = f64([1.0])
    tg.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        tg.set_grad_enabled(True)
    with tg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert tg.is_grad_enabled()

    @tg.set_grad_enabled(False)
    def evaluate(t):
        return t * 2

    assert tg.is_grad_enabled()
    assert not evaluate(x).requires_grad
    assert tg.is_grad_enabled()


def test_grad_mode_is_thread_local():
    x = f64([1.0])
    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def worker():
        with tg.no_grad():
            inside.set()
            release.wait(5)
            seen["worker"] = (x * 2).requires_grad, (x * x).requires_grad, x.sin().requires_grad

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(5)
    seen["main"] = (x * 2).requires_grad, (x * x).requires_grad, x.sin().requires_grad
    release.set()
    thread.join()
    assert seen == {"main": (True, True, True), "worker": (False, False, False)}


# -- in-place operations -------------------------------------------------------------------------

def test_in_place_change_of_a_saved_input_is_reported_with_its_location():
    x = f64([1.0, 2.0])
    h = x * 2
    y = (h * h).sum()
    h += 1  # the line the error must point at
    with pytest.raises(tg.InPlaceError, match=r"'multiply'.* by \+= \(add_\) at .*test_engine.py:\d+"):
        y.backward()


def test_in_place_change_of_a_saved_output_is_reported():
    x = f64([1.0, 2.0])
    h = x.exp()
    y = h.sum()
    h *= 2
    z = y + h.sum()
    expected = r"'exp': its output .* changed in place .* by \*= \(mul_\) at .*test_engine.py:\d+"
    with pytest.raises(tg.InPlaceError, match=expected):
        z.backward()


def test_in_place_change_of_a_view_is_seen_by_its_base():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    base = x * 1.0
    y = (base * base).sum()
    view = base.reshape(4)
    view += 1
    with pytest.raises(tg.InPlaceError):
        y.backward()


def test_in_place_on_a_graph_tensor_records_the_operation():
    x = f64([1.0, 2.0])
    h = x * 2
    h += 1
    h *= x
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy() + 1)


def test_in_place_on_a_leaf_that_requires_grad_is_an_error_outside_no_grad():
    w = f64([1.0, 2.0])
    with pytest.raises(tg.InPlaceError, match="leaf tensor that requires grad"):
        w -= 1
    with tg.no_grad():
        w -= 1
    assert w.tolist() == [0.0, 1.0] and w.version == 1


def test_weight_update_between_forward_and_backward_is_detected():
    w = f64([1.0, 2.0])
    loss = (w * w).sum()
    with tg.no_grad():
        w *= 0.5
    with pytest.raises(tg.InPlaceError, match="version"):
        loss.backward()


def test_setitem_fill_and_zero_on_graph_tensors():
    x = f64([1.0, 2.0, 3.0])
    h = x * 1.0
    h[1] = 0.0
    h.sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 1.0]
    v = f64([5.0])
    buf = tg.zeros(3, dtype=np.float64)
    buf[0:1] = v * 2
    buf.sum().backward()
    assert v.grad.tolist() == [2.0]
    z = x * 1.0
    z.fill_(7.0)
    assert z.tolist() == [7.0, 7.0, 7.0]
    x.grad.zero_()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


def _node_fields(tensor):
    """Every field of the Node behind ``tensor`` (each slot of Node; a slot the maker left unset raises),
    but its number, which differs between any two Nodes."""
    node = tensor.grad_fn
    return {name: getattr(node, name) for name in Node.__slots__ if name not in ("sequence", "__weakref__")}


def _assert_same_node(fast, general):
    """The Nodes behind two results hold the same fields (``ans`` only needs to be kept alike)."""
    a, b = _node_fields(fast), _node_fields(general)
    for name in a:
        if name == "ans":
            assert (a[name] is None) == (b[name] is None)
        else:
            assert _same(a[name], b[name]), name


def _same(a, b):
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a is b
    return a == b if isinstance(a, (dict, str, bool, int, float)) else a is b


ELEMENTWISE_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 4)), ((), ()), ((2, 3), (2, 3))]
BINARY_CASES = ([(prim, shapes) for prim in (A.add, A.multiply, A.power) for shapes in ELEMENTWISE_SHAPES]
                + [(L.matmul, shapes) for shapes in [((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 2, 3), (3, 1))]])


@pytest.mark.parametrize("prim, shapes", BINARY_CASES)
@pytest.mark.parametrize("dtypes", [("float64", "float64"), ("float32", "float32"), ("float32", "float64")])
@pytest.mark.parametrize("needs_grad", [(True, True), (True, False), (False, True), (False, False), (True, "number")])
def test_the_binary_fast_path_records_the_node_apply_records(prim, shapes, dtypes, needs_grad):
    """apply_binary fills its Node inline (the one copy of Node's constructor and of record()): field
    by field, it is the Node that apply makes with them."""
    from tapegrad.tensor import apply, apply_binary
    r = np.random.default_rng(0)
    x = tg.tensor(r.uniform(0.5, 2, shapes[0]).astype(dtypes[0]), requires_grad=needs_grad[0])
    if needs_grad[1] == "number":
        y = 1.5 if prim is not L.matmul else np.ones(shapes[1])  # a constant operand that is not a Tensor
    else:
        y = tg.tensor(r.uniform(0.5, 2, shapes[1]).astype(dtypes[1]), requires_grad=needs_grad[1])
    fast, general = apply_binary(prim, x, y), apply(prim, x, y)
    np.testing.assert_array_equal(fast.data, general.data)
    assert fast.dtype == general.dtype and fast.requires_grad == general.requires_grad
    if not general.requires_grad:
        assert fast.grad_fn is None
        return
    _assert_same_node(fast, general)


@pytest.mark.parametrize("shape", [(3,), (), (2, 0)])
@pytest.mark.parametrize("prim, params", [(E.sin, {}), (E.exp, {}), (R.sum_, {"axis": 0, "keepdims": False})])
def test_the_unary_fast_path_records_the_node_apply_records(shape, prim, params):
    from tapegrad.tensor import apply, apply_unary
    if prim is R.sum_ and shape == ():
        params = {"axis": None, "keepdims": False}
    x = tg.tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
    fast, general = apply_unary(prim, x, **params), apply(prim, x, **params)
    np.testing.assert_array_equal(fast.data, general.data)
    _assert_same_node(fast, general)


def test_the_fast_paths_hand_constants_and_modes_to_apply():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    c = tg.tensor([3.0, 4.0])
    y = x * c  # a constant operand: its value is kept apart, as apply does
    assert y.grad_fn.constants[1] is c.data
    (y * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 8.0])
    with tg.no_grad():
        assert not (x * x).requires_grad and not x.sin().requires_grad
    assert (x * x).requires_grad and x.sin().requires_grad


def test_consumers_outside_the_backward_pass_do_not_hold_it_up():
    x = f64([0.5, 1.5])
    y = x * 2.0
    kept_alive = y * 3.0  # noqa: F841  (a consumer of y that the loss does not use)
    (y.sin() + y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(2 * x.numpy()) + 8 * x.numpy())


def test_graphs_built_in_several_threads_on_a_shared_node():
    x = f64(np.linspace(0.1, 1.0, 5))
    shared = x.exp()
    parts = [None] * 4

    def worker(k):
        y = shared
        for _ in range(200):
            y = (y * 0.999 + 0.001 * k).sin() * 0.5 + shared * 0.5
        parts[k] = y

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sum(p.sum() for p in parts).backward()
    # The same computation built in one thread gives the same gradient.
    x2 = f64(x.numpy())
    shared2 = x2.exp()
    total = 0
    for k in range(4):
        y = shared2
        for _ in range(200):
            y = (y * 0.999 + 0.001 * k).sin() * 0.5 + shared2 * 0.5
        total = total + y.sum()
    total.backward()
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-12)


def test_backward_from_no_outputs_says_so():
    with pytest.raises(tg.BackwardError, match="no outputs"):
        tg.autograd.backward([], [])


def test_backward_from_a_leaf_fills_its_own_grad():
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.backward(np.array([3.0, -1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, -1.0])
    x.backward(np.array([1.0, 1.0]))  # accumulates, as any .grad
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 0.0])


def test_backward_in_several_threads_onto_a_shared_leaf_loses_no_contribution():
    x = tg.tensor(np.ones(3), requires_grad=True)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race showed at once
    try:
        def work():
            for _ in range(1000):
                (x * 2.0).sum().backward()

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    np.testing.assert_array_equal(x.grad.numpy(), [16000.0] * 3)


@pytest.mark.parametrize("replacement, error, what", [
    (lambda g: np.ones(5), tg.ShapeError, r"shape \(5,\) float64 for a gradient of shape \(3,\) float64"),
    (lambda g: np.ones(3, dtype=np.int64), tg.DTypeError, r"shape \(3,\) int64 for a gradient of shape \(3,\)"),
    (lambda g: g.float(), tg.DTypeError, "float32"),
])
def test_a_hook_may_not_change_the_gradients_shape_or_dtype(replacement, error, what):
    for make in (lambda x: x, lambda x: x * 1.0):  # on a leaf and on a non-leaf
        x = tg.tensor(np.ones(3), requires_grad=True)
        y = make(x)
        y.register_hook(replacement)
        with pytest.raises(error, match="register_hook: the hook .*" + what):
            (y * 2.0).sum().backward()


def test_a_hook_may_replace_the_gradient_with_one_of_the_same_shape_and_dtype():
    x = tg.tensor(np.ones(3), requires_grad=True)
    (x * 1.0).register_hook(lambda g: g * 3.0)
    y = x * 1.0
    y.register_hook(lambda g: np.full(3, 5.0))
    (y * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0] * 3)


@pytest.mark.parametrize("gradient, error, what", [
    ("a", tg.DTypeError, "dtype <U1"),
    ([None, 1.0, 2.0], tg.DTypeError, "dtype object"),
    ([[1.0], [1.0, 2.0], 3.0], tg.ShapeError, "NumPy cannot make one"),
    ([1j, 1.0, 2.0], tg.DTypeError, "complex128"),
    ([1.0, 2.0], tg.ShapeError, r"shape \(2,\) for an output of shape \(3,\)"),
])
def test_backward_rejects_a_gradient_that_is_not_an_array_of_the_outputs_shape(gradient, error, what):
    x = tg.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(error, match="backward: .*" + what):
        (x * 2.0).backward(gradient=gradient)
    assert x.grad is None


def test_the_shape_table_stays_bounded():
    from tapegrad.engine.node import SHARED_SHAPES, _SharedShapes
    x = tg.tensor(np.ones(3), requires_grad=True)
    for n in range(_SharedShapes.LIMIT + 100):
        (x.sum() * np.ones(n % 5000 + 1)).sum().backward()
    assert len(SHARED_SHAPES.tuples) <= _SharedShapes.LIMIT
    np.testing.assert_array_equal(x.grad.numpy()[0], sum(n % 5000 + 1 for n in range(_SharedShapes.LIMIT + 100)))


class _Recorder(tg.engine.Observer):
    def __init__(self):
        self.operations, self.constants, self.reads, self.guards = [], [], [], []

    def operation(self, prim, args, params, result):
        self.operations.append(prim.name)

    def constant(self, tensor):
        self.constants.append(tensor.shape)

    def unrecorded(self, what):
        self.reads.append(what)

    def guard(self, key, read, value):
        self.guards.append((key, value))


def test_an_observer_sees_this_threads_operations_nested_observers_restore_and_other_threads_are_unseen():
    outer, inner = _Recorder(), _Recorder()
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    seen_elsewhere = []
    with tg.engine.observing(outer):
        y = x * 2.0
        with tg.engine.observing(inner):
            tg.tensor([3.0]).sin()
            y.sum().item()
            tg.get_default_dtype()
            worker = threading.Thread(target=lambda: seen_elsewhere.append((x + 1.0).tolist()))
            worker.start()
            worker.join()
        (y + 1.0).detach()
    assert outer.operations == ["multiply", "add", "detach"]
    assert inner.operations == ["sin", "sum"] and inner.constants == [(1,)]
    assert inner.reads == ["item()"] and set(inner.guards) == {("default dtype", tg.get_default_dtype())}
    assert seen_elsewhere == [[2.0, 3.0]] and tg.engine.modes.state.observer is None
    assert not tg.engine.operations_watched()


def test_the_binary_fast_path_matches_record_when_the_inputs_are_computed():
    from tapegrad.tensor import apply, apply_binary
    for shapes in [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 4))]:
        a = tg.tensor(np.ones(shapes[0]), requires_grad=True) * 1.0  # Node parents, not leaves
        b = tg.tensor(np.full(shapes[1], 2.0), requires_grad=True) * 1.0
        for prim in (A.add, A.multiply):
            _assert_same_node(apply_binary(prim, a, b), apply(prim, a, b))


def test_a_primitive_with_one_rule_for_every_input_is_called_once_per_node_eager_and_compiled():
    from tapegrad.ops import Primitive
    calls = []

    def both(xp, g, ans, x, y):  # d(x * y * y)/dx = y*y, d/dy = 2 x y
        calls.append(1)
        return g * y * y, g * 2.0 * x * y

    prim = Primitive("xyy", lambda x, y: x * y * y, vjp_all=both,
                     jvps=(lambda xp, t, ans, x, y: t * y * y, lambda xp, t, ans, x, y: t * 2.0 * x * y))
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = tg.tensor([3.0, -1.0], requires_grad=True)
    tg.apply(prim, x, y).sum().backward()
    assert calls == [1] and x.grad.tolist() == [9.0, 1.0] and y.grad.tolist() == [6.0, -4.0]
    compiled = tg.compile(lambda a, b: tg.apply(prim, a, b).sum())
    for _ in range(2):
        x.grad = y.grad = None
        calls.clear()
        compiled(x, y).backward()
        assert x.grad.tolist() == [9.0, 1.0] and y.grad.tolist() == [6.0, -4.0]
    assert len(calls) == 1  # the schedule calls it once per run (the trace checked it once more)
    (gx,) = tg.autograd.grad(tg.apply(prim, x, y).sum(), [y], create_graph=True)
    (hy,) = tg.autograd.grad(gx.sum(), [y])
    assert hy.tolist() == [2.0, 4.0]  # d(2 x y)/dy = 2x, through the rule recorded on the graph

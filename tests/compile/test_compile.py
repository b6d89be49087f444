"""tg.compile: the same results and gradients as eager mode, from a schedule traced once."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.nn import functional as F

rng = np.random.default_rng(21)


def _pair(fn, *arrays):
    eager_inputs = [tg.tensor(a, requires_grad=True) for a in arrays]
    compiled_inputs = [tg.tensor(a, requires_grad=True) for a in arrays]
    return fn(*eager_inputs), tg.compile(fn)(*compiled_inputs), eager_inputs, compiled_inputs


@pytest.mark.parametrize("name", ["chain", "broadcast", "matmul", "reductions", "indexing", "two outputs"])
def test_results_and_gradients_equal_eager(name):
    cases = {
        "chain": (lambda x: ((x * 1.5 + 0.2).sin() * 0.9).exp().sum(), [rng.standard_normal(4)]),
        "broadcast": (lambda a, b: ((a * b - a / (b * b + 1)) ** 2).mean(), [rng.standard_normal((3, 1)),
                                                                           rng.standard_normal(4)]),
        "matmul": (lambda a, b: (a @ b).tanh().logsumexp(axis=1).sum(), [rng.standard_normal((3, 4)),
                                                                         rng.standard_normal((4, 2))]),
        "reductions": (lambda a: a.max(axis=0).sum() + a.var() + a.prod(axis=1).mean(), [rng.standard_normal((3, 3))]),
        "indexing": (lambda a: (a[[0, 0, 2]] * a).sum() + tg.where(a > 0, a, a * 0.1).sum(),
                     [rng.standard_normal((3, 2))]),
        "two outputs": (lambda a: (a.sin().sum(), (a * a).mean()), [rng.standard_normal(5)]),
    }
    fn, arrays = cases[name]
    eager, compiled, eager_inputs, compiled_inputs = _pair(fn, *arrays)
    eager = eager if isinstance(eager, tuple) else (eager,)
    compiled = compiled if isinstance(compiled, tuple) else (compiled,)
    for e, c in zip(eager, compiled):
        np.testing.assert_allclose(c.numpy(), e.numpy(), rtol=1e-12, atol=1e-12)
    sum(e for e in eager).backward()
    sum(c for c in compiled).backward()
    for e, c in zip(eager_inputs, compiled_inputs):
        np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_training_a_module_gives_the_same_weights_and_reads_parameters_afresh():
    tg.set_default_dtype(np.float64)
    try:
        tg.manual_seed(0)
        model, twin = tg.nn.MLP([4, 8, 3]), tg.nn.MLP([4, 8, 3])
    finally:
        tg.set_default_dtype(np.float32)
    twin.load_state_dict(model.state_dict())
    x, y = tg.tensor(rng.standard_normal((6, 4))), rng.integers(0, 3, 6)
    loss = tg.compile(lambda batch: F.cross_entropy(model(batch), y))
    opt, twin_opt = tg.optim.SGD(model.parameters(), lr=0.2), tg.optim.SGD(twin.parameters(), lr=0.2)
    for _ in range(5):
        compiled_loss, eager_loss = loss(x), F.cross_entropy(twin(x), y)
        assert compiled_loss.item() == pytest.approx(eager_loss.item(), abs=1e-12)
        for o, value in ((opt, compiled_loss), (twin_opt, eager_loss)):
            o.zero_grad()
            value.backward()
            o.step()  # changes the parameters in place: the compiled schedule must read them afresh
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-12, atol=1e-14)
    assert len(loss.plans) == 1  # traced once


def test_random_draws_are_made_afresh_at_every_call_as_in_eager_mode():
    # Dropout's mask and tg.randn are operations of the schedule, not constants of the trace; tracing
    # does not consume the generator, so a compiled model draws exactly the numbers eager mode draws.
    tg.set_default_dtype(np.float64)
    try:
        tg.manual_seed(3)
        model = tg.nn.Sequential(tg.nn.Linear(4, 16), tg.nn.ReLU(), tg.nn.Dropout(0.5), tg.nn.Linear(16, 3))
        twin = tg.nn.Sequential(tg.nn.Linear(4, 16), tg.nn.ReLU(), tg.nn.Dropout(0.5), tg.nn.Linear(16, 3))
    finally:
        tg.set_default_dtype(np.float32)
    twin.load_state_dict(model.state_dict())
    x, y = tg.tensor(rng.standard_normal((8, 4))), rng.integers(0, 3, 8)
    noisy = lambda m, batch: F.cross_entropy(m(batch + 0.1 * tg.randn(8, 4, dtype=np.float64)), y)  # noqa: E731
    loss = tg.compile(lambda batch: noisy(model, batch))
    opt, twin_opt = tg.optim.SGD(model.parameters(), lr=0.1), tg.optim.SGD(twin.parameters(), lr=0.1)
    values = []
    for step in range(4):
        tg.manual_seed(100 + step)
        compiled_loss = loss(x)
        tg.manual_seed(100 + step)
        eager_loss = noisy(twin, x)
        assert compiled_loss.item() == pytest.approx(eager_loss.item(), abs=1e-12)
        values.append(compiled_loss.item())
        for o, value in ((opt, compiled_loss), (twin_opt, eager_loss)):
            o.zero_grad()
            value.backward()
            o.step()
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-12, atol=1e-14)
    tg.manual_seed(7)
    masks = [loss(x).item() for _ in range(3)]  # the same weights, new draws: new losses
    assert len(set(masks)) == 3 and len(loss.plans) == 1
    plan = next(iter(loss.plans.values()))
    assert [prim.name for prim, *_ in plan.schedule].count("uniform") == 1  # the mask, drawn in the schedule


def test_a_module_switched_between_train_and_eval_is_traced_again():
    # Dropout's `if self.training` is control flow on a Python value: the trace notes it as a guard.
    model = tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.Dropout(0.5))
    x = tg.tensor(rng.standard_normal((5, 4)).astype(np.float32))
    compiled = tg.compile(lambda batch: model(batch).sum())
    train_plan = (compiled(x), next(iter(compiled.plans.values())))[1]
    assert "uniform" in [prim.name for prim, *_ in train_plan.schedule]
    model.eval()
    assert compiled(x).item() == pytest.approx(model(x).sum().item(), rel=1e-6)  # no dropout
    eval_plan = next(iter(compiled.plans.values()))
    assert eval_plan is not train_plan and "uniform" not in [prim.name for prim, *_ in eval_plan.schedule]
    assert compiled(x).item() == compiled(x).item()  # deterministic in evaluation
    model.train()
    tg.manual_seed(5)
    first = compiled(x).item()
    assert compiled(x).item() != first  # dropout again, a new mask per call


def test_a_changed_default_dtype_is_traced_again():
    compiled = tg.compile(lambda a: a * tg.tensor([0.5, 0.5]))  # the constant takes the default dtype
    x = tg.tensor(np.ones(2, np.float16))
    assert compiled(x).dtype == np.float32
    tg.set_default_dtype(np.float64)
    try:
        assert compiled(x).dtype == np.float64 == (x * tg.tensor([0.5, 0.5])).dtype
    finally:
        tg.set_default_dtype(np.float32)
    assert compiled(x).dtype == np.float32


def test_signatures_are_cached_and_bounded():
    calls = []

    def fn(x, scale):
        calls.append(1)
        return (x * scale).sum()

    compiled = tg.compile(fn, cache_size=2)
    x3, x4 = tg.tensor(np.ones(3)), tg.tensor(np.ones(4))
    assert compiled(x3, 2.0).item() == 6.0 and compiled(x3, 2.0).item() == 6.0 and len(calls) == 1
    assert compiled(x4, 2.0).item() == 8.0 and len(calls) == 2  # a new shape traces again
    assert compiled(x3, 3.0).item() == 9.0 and len(calls) == 3  # so does a new constant
    assert len(compiled.plans) == 2


def test_dead_operations_are_dropped_and_constants_folded():
    def fn(x):
        unused = x.exp()  # noqa: F841  (dead)
        c = tg.exp(np.zeros(3)) * 2 + 1  # depends on constants only: computed once, when traced
        return (x * c).sum()

    compiled = tg.compile(fn)
    x = tg.tensor(np.ones(3), requires_grad=True)
    assert compiled(x).item() == 9.0
    (plan,) = compiled.plans.values()
    assert [prim.name for prim, *_ in plan.schedule] == ["multiply", "sum"]


def test_value_dependent_control_flow_and_unsupported_uses_are_clear_errors():
    branchy = tg.compile(lambda a: a * 2 if a.sum() > 0 else a)
    with pytest.raises(tg.TracingError, match="bool\\(\\) of a tensor while tg.compile traces"):
        branchy(tg.tensor([1.0]))
    with pytest.raises(tg.TracingError, match="item\\(\\)"):
        tg.compile(lambda a: a * a.sum().item())(tg.tensor([1.0]))
    x = tg.tensor(np.array([1.5]), dtype=np.float64, requires_grad=True)
    cube = tg.compile(lambda a: (a ** 3).sum())
    with pytest.raises(tg.TracingError, match="create_graph"):
        tg.autograd.grad(cube(x), x, create_graph=True)
    (g,) = tg.autograd.grad(cube(x), x)
    assert g.item() == pytest.approx(3 * 1.5 ** 2)


def test_keyword_arguments_are_constants_of_the_signature():
    compiled = tg.compile(lambda a, scale=1.0, power=2: ((a * scale) ** power).sum())
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert compiled(x).item() == 5.0 and compiled(x, scale=2.0).item() == 20.0
    assert compiled(x, power=3, scale=1.0).item() == 9.0 and len(compiled.plans) == 3
    compiled(x, scale=2.0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [8.0, 16.0])
    with pytest.raises(tg.TracingError, match="keyword argument 'scale' is a Tensor; pass Tensors by position"):
        compiled(x, scale=tg.tensor(2.0))
    with pytest.raises(tg.TracingError, match="keyword argument 'power' \\(list\\) is neither a Tensor nor hashable"):
        compiled(x, power=[2])


def test_as_a_decorator():
    @tg.compile
    def f(x):
        return (x * x).sum()

    @tg.compile(cache_size=1)
    def g(x):
        return x.sum()

    assert f(tg.tensor([1.0, 2.0])).item() == 5.0 and g(tg.tensor([1.0, 2.0])).item() == 3.0
    assert f.__name__ == "f"


@pytest.mark.parametrize("name", ["chain", "views", "transpose in place", "matmul"])
def test_buffer_reuse_keeps_results_and_gradients_equal_to_eager(name):
    cases = {
        "chain": lambda a, b: (((a * b + 1.0).sin() * 2.0).exp() - a).sum(),
        # a temporary read later through a view must not be overwritten
        "views": lambda a, b: ((a * b).reshape(-1) * 1.0).sum() + ((a * b + 1.0).exp() + 2.0).T.sum(),
        "transpose in place": lambda a, b: ((a + b).T * 3.0 + (a + b).T).sum(),
        "matmul": lambda a, b: ((a @ b.T + 1.0) @ (a * 2.0)).tanh().sum(),
    }
    fn = cases[name]
    arrays = [rng.standard_normal((20, 20)), rng.standard_normal((20, 20))]  # reused from 256 entries on
    with tg.no_grad():  # no gradient wanted: every temporary is free after its last use
        eager = fn(*[tg.tensor(a) for a in arrays])
        compiled = tg.compile(fn)
        for _ in range(2):
            result = compiled(*[tg.tensor(a) for a in arrays])
            np.testing.assert_allclose(result.numpy(), eager.numpy(), rtol=1e-12, atol=1e-12)
    plan = next(iter(compiled.plans.values()))
    if name in ("chain", "transpose in place"):
        assert plan.reuses, plan.source  # some result was written into a dead temporary
        assert "out=" in plan.source
    eager, result, eager_inputs, compiled_inputs = _pair(fn, *arrays)
    np.testing.assert_allclose(result.numpy(), eager.numpy(), rtol=1e-12, atol=1e-12)
    eager.backward()
    result.backward()
    for e, c in zip(eager_inputs, compiled_inputs):
        np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_small_temporaries_are_not_reused():
    # Below 256 entries a fresh allocation is as fast, and an out= aliasing an input is slower.
    compiled = tg.compile(lambda a: ((a * 2.0 + 1.0).sin() * 3.0).sum())
    with tg.no_grad():
        compiled(tg.tensor(np.ones((3, 3))))
        compiled(tg.tensor(np.ones((16, 16))))
    small, large = compiled.plans.values()
    assert not small.reuses and "out=" not in small.source
    assert len(large.reuses) == 3  # add, sin, multiply


def test_forward_keeps_only_what_backward_reads():
    compiled = tg.compile(lambda a: (a.exp() * 2.0).sum())
    compiled(tg.tensor(np.ones(3)))  # nothing requires grad: backward reads nothing
    (plan,) = compiled.plans.values()
    outputs, values = plan.forward(np.ones(3))
    assert values == () and outputs[0] == pytest.approx(6 * np.e)
    # As in eager mode, only what the rules read is kept: add and sum read no values, so neither the
    # matmul's result nor the sum's is kept; multiply reads its input, the add's result.
    w = tg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    compiled = tg.compile(lambda a: ((a @ w + 1.0) * 3.0).sum())
    x = tg.tensor(rng.standard_normal((4, 3)))
    compiled(x).backward()
    (plan,) = compiled.plans.values()
    kinds = {out: prim.name for prim, _, _, out in plan.schedule}
    assert sorted(kinds.get(slot, "read") for slot in plan.saved) == ["add", "read", "read"]  # x, w, a @ w + 1
    np.testing.assert_allclose(w.grad.numpy(), np.tile(3.0 * x.numpy().sum(axis=0)[:, None], (1, 2)), rtol=1e-12)


def test_a_captured_tensor_that_changes_shape_or_requires_grad_is_traced_again():
    w = tg.tensor(np.ones((3, 4)), requires_grad=True)
    compiled = tg.compile(lambda x: (x @ w).sum())
    x = tg.tensor(np.ones((2, 3)), requires_grad=True)
    assert compiled(x).item() == 24.0
    w.data = np.full((3, 5), 2.0)  # same argument signature, a different captured shape
    out = compiled(x)
    assert out.item() == 60.0
    out.backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 5), 2.0))
    w.requires_grad_(False)
    w.grad = x.grad = None
    compiled(x).backward()
    assert w.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 10.0))


def test_a_compiled_function_inside_a_trace_and_under_jvp():
    inner = tg.compile(lambda a: (a * a).sin())
    outer = tg.compile(lambda a: (inner(a) * 2.0).sum())
    for value in (0.3, 1.1):  # the outer schedule runs inner's operations, not a stale result
        x = tg.tensor(np.full(3, value))
        assert outer(x).item() == pytest.approx(6 * np.sin(value * value))
    x, t = np.array([0.5, 1.5]), np.array([1.0, -2.0])
    value, tangent = tg.jvp(lambda a: inner(a), (x,), (t,))
    np.testing.assert_allclose(np.asarray(tangent), np.cos(x * x) * 2 * x * t, rtol=1e-12)


def test_under_no_grad_a_call_has_its_own_plan_that_keeps_nothing_for_backward():
    w = tg.tensor(rng.standard_normal((30, 30)), requires_grad=True)
    compiled = tg.compile(lambda x: ((x @ w + 1.0).tanh() * 2.0 + x).exp().sum())
    x = tg.tensor(rng.standard_normal((20, 30)))
    with tg.no_grad():
        inference = compiled(x)
    trained = compiled(x)
    assert not inference.requires_grad and trained.requires_grad
    assert inference.item() == pytest.approx(trained.item(), rel=1e-12)
    assert len(compiled.plans) == 2
    plans = list(compiled.plans.values())
    assert plans[0].saved == [] and len(plans[0].reuses) >= 3  # add, tanh, multiply, add, exp: in place
    assert plans[1].saved and len(plans[1].reuses) < len(plans[0].reuses)


def test_backward_frees_what_the_compiled_call_kept_unless_the_graph_is_retained():
    compiled = tg.compile(lambda a: (a.exp() * a).sum())
    x = tg.tensor(rng.standard_normal(4), requires_grad=True)
    kept = compiled(x)
    kept.backward(retain_graph=True)
    assert kept.grad_fn.ans is not None  # retained: a second backward works
    kept.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (np.exp(x.numpy()) * (x.numpy() + 1)), rtol=1e-12)
    assert kept.grad_fn.ans is None  # the values the schedule kept for backward are freed
    with pytest.raises(tg.GraphReleasedError, match="retain_graph=True"):
        kept.backward()


def test_a_value_changed_in_place_before_backward_is_an_error_as_in_eager_mode():
    w = tg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    x = tg.tensor(rng.standard_normal((4, 3)))
    compiled = tg.compile(lambda: (x @ w).sigmoid().sum())
    compiled().backward()  # traced and run once; the next call reuses the schedule
    w.grad = None
    loss = compiled()
    with tg.no_grad():
        w -= 0.5  # an optimizer step before backward: the schedule kept w's old value
    with pytest.raises(tg.InPlaceError, match=r"compiled <lambda>': a value it kept for backward \(shape \(3, 2\)"):
        loss.backward()


def test_explain_replays_a_compiled_call_as_one_step():
    w = tg.tensor(rng.standard_normal((3, 2)), requires_grad=True, name="w")
    x = tg.tensor(rng.standard_normal((4, 3)))
    loss = tg.compile(lambda: (x @ w).tanh().sum())()
    loss.backward()
    text = str(tg.explain(loss))
    assert "compiled <lambda>(const(4, 3), w)" in text and "df/dw" in text
    expected = x.numpy().T @ (1 - np.tanh(x.numpy() @ w.numpy()) ** 2)
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-12)


def test_under_detect_anomaly_a_compiled_function_runs_as_written_and_names_the_operation():
    compiled = tg.compile(lambda a: (a - 2.0).log().sum())
    x = tg.tensor(np.array([3.0, 4.0]), requires_grad=True)
    assert compiled(x).item() == pytest.approx(np.log(2.0))  # traced and cached outside anomaly mode
    with tg.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(tg.AnomalyError, match="'log' produced NaN"):
            compiled(tg.tensor(np.array([1.0, 4.0]), requires_grad=True))


def test_gradients_are_summed_over_broadcast_axes_and_cast_only_where_needed():
    compiled = tg.compile(lambda a, b: (a * b).sin().sum())
    same = [tg.tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(2)]
    compiled(*same).backward()
    mixed = [tg.tensor(rng.standard_normal((3, 1)).astype(np.float32), requires_grad=True),
             tg.tensor(rng.standard_normal(4), requires_grad=True)]
    compiled(*mixed).backward()
    plain, broadcast = compiled.plans.values()
    assert "sum_to" not in plain.source and "astype" not in plain.source
    assert broadcast.source.count("sum_to(") == 2 and broadcast.source.count(".astype(") == 1
    assert mixed[0].grad.dtype == np.float32 and mixed[0].grad.shape == (3, 1)
    a, b = mixed[0].numpy().astype(np.float64), mixed[1].numpy()
    np.testing.assert_allclose(mixed[1].grad.numpy(), (np.cos(a * b) * a).sum(axis=0), rtol=1e-12)


def test_a_function_of_constants_only():
    compiled = tg.compile(lambda scale: (tg.tensor(np.array([0.5, 1.5])) * scale).sin().sum())
    assert compiled(2.0).item() == pytest.approx(np.sin(1.0) + np.sin(3.0))
    assert not compiled(2.0).requires_grad


def test_outputs_of_different_dtypes_keep_their_dtypes():
    fn = lambda a, b: ((a * a).sum(), b.sin().sum(), (a > 1).sum())  # noqa: E731
    arrays = [np.arange(3, dtype=np.float32), rng.standard_normal(4)]
    eager, compiled, eager_inputs, compiled_inputs = _pair(fn, *arrays)
    assert [c.dtype for c in compiled] == [e.dtype for e in eager] == [np.float32, np.float64, np.int64]
    for e, c in zip(eager, compiled):
        np.testing.assert_allclose(c.numpy(), e.numpy(), rtol=1e-6)
    (eager[0] * 2.0 + eager[1]).backward()
    (compiled[0] * 2.0 + compiled[1]).backward()
    for e, c in zip(eager_inputs, compiled_inputs):
        assert c.grad.dtype == e.grad.dtype
        np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=1e-12)


# -- values computed from the inputs are never constants of the trace ----------------------------------

def _calls_match_eager(fn, *calls, rtol=1e-12):
    """Call ``tg.compile(fn)`` on each tuple of arrays in ``calls`` in turn (the first traces, the others
    run the schedule) and compare every result and gradient with eager mode's. Returns the compiled fn."""
    compiled = tg.compile(fn)
    for arrays in calls:
        eager_inputs = [tg.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        compiled_inputs = [tg.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        eager, result = fn(*eager_inputs), compiled(*compiled_inputs)
        np.testing.assert_allclose(result.numpy(), eager.numpy(), rtol=rtol, atol=1e-12)
        if eager.requires_grad:
            eager.backward()
            result.backward()
        for e, c in zip(eager_inputs, compiled_inputs):
            if e.grad is None:  # no path to the output (x only through argmax): a compiled call gives zeros
                assert c.grad is None or not c.grad.numpy().any()
            else:
                np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=rtol, atol=1e-12)
    return compiled


def test_the_issue_cases_give_eager_values_when_called_again_on_new_values():
    where = tg.compile(lambda x: tg.where(x > 0, x, 0 * x).sum())
    assert where(tg.tensor([1.0, -1.0, 2.0])).item() == 3.0
    assert where(tg.tensor([-1.0, 1.0, -2.0])).item() == 1.0  # was -3: the trace's mask
    masked = tg.compile(lambda x: x[x > 0].sum())
    assert masked(tg.tensor([1.0, -1.0, 2.0])).item() == 3.0
    assert masked(tg.tensor([-1.0, 1.0, -2.0])).item() == 1.0
    picked = tg.compile(lambda x, y: tg.take_along_axis(y, x.argmax(axis=1, keepdims=True), axis=1).sum())
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    assert picked(tg.tensor(a), tg.tensor(10 * a)).item() == 60.0
    assert picked(tg.tensor(-a), tg.tensor(10 * a)).item() == 20.0  # was 60: the trace's argmax


@pytest.mark.parametrize("name", ["where", "mask of an intermediate", "logical ops", "take_along_axis argmax",
                                  "argmin as an index", "relu by maximum", "sign", "cross_entropy labels",
                                  "integer index tensor"])
def test_masks_and_indices_computed_from_the_inputs_are_recomputed_at_every_call(name):
    def values(*shape, seed):
        return np.random.default_rng(seed).standard_normal(shape)

    cases = {
        "where": (lambda x: (tg.where(x > 0, x * x, -x) * x).sum(), lambda s: (values(6, seed=s),)),
        "mask of an intermediate": (lambda x, y: tg.where(x * x > 1, x.sin(), y * x).sum(),
                                    lambda s: (2 * values(5, seed=s), values(5, seed=s + 50))),
        "logical ops": (lambda x: tg.where((x > -0.5) & ~(x > 0.5) | (x < -1.5), x.exp(), x * 3).sum(),
                        lambda s: (2 * values(7, seed=s),)),
        "take_along_axis argmax": (
            lambda x, y: (tg.take_along_axis(y, x.argmax(axis=1, keepdims=True), axis=1) * y.sum()).sum(),
            lambda s: (values(4, 3, seed=s), values(4, 3, seed=s + 50))),
        "argmin as an index": (lambda x: (x[x.argmin()] * x).sum(), lambda s: (values(5, seed=s),)),
        "relu by maximum": (lambda x, w: tg.maximum(x @ w, 0.0).sum() + tg.maximum(0.0, x).sum(),
                            lambda s: (values(3, 4, seed=s), values(4, 2, seed=s + 50))),
        "sign": (lambda x: (x * x.sign() + (x > 0) * x).sum(), lambda s: (values(6, seed=s),)),
        "cross_entropy labels": (lambda x, y: F.cross_entropy(x * 2.0, y),
                                 lambda s: (values(5, 3, seed=s), np.random.default_rng(s).integers(0, 3, 5))),
        "integer index tensor": (lambda x, i: (x[i][:, 1:] * x[i, 1:]).sum() + x[i[:3], 1].sum(),
                                 lambda s: (values(4, 3, seed=s), np.random.default_rng(s).integers(0, 4, 6))),
    }
    fn, make = cases[name]
    compiled = _calls_match_eager(fn, *[make(seed) for seed in range(5)])
    assert len(compiled.plans) == 1  # traced once: the masks and indices are steps of the schedule


def test_a_comparison_of_constants_only_stays_a_folded_constant():
    def fn(x):
        c = tg.tensor(np.array([1.0, -1.0, 2.0]))
        return tg.where(c > 0, x, 0 * x).sum() + x[c < 0].sum()

    compiled = _calls_match_eager(fn, (np.array([1.0, 2.0, 3.0]),), (np.array([-4.0, 5.0, 6.0]),))
    (plan,) = compiled.plans.values()
    names = [prim.name for prim, *_ in plan.schedule]
    assert "greater" not in names and "less" not in names and "nonzero" not in names
    assert not plan.value_shaped
    assert compiled(tg.tensor([-4.0, 5.0, 6.0])).item() == 7.0


def test_boolean_indexing_traces_again_for_each_new_number_of_selected_entries():
    traces = []

    def fn(x, y):
        traces.append(1)
        picked = x[x > 0]
        return (picked * picked).sum() + (y[x.sum(axis=1) > 0, 1:] * 2.0).sum()

    y = rng.standard_normal((4, 3))
    first = (np.array([[1.0, -2, 3], [-1, -1, 0.5], [2, 2, 2], [-3, 1, 1]]), y)  # 8 and 2 selected
    same_counts = (np.array([[-1.0, 2, 3], [1, -1, -0.5], [4, 1, 2], [-3, 1, 1]]), -y)  # elsewhere, 8 and 2
    second = (np.array([[1.0, 1, 1], [1, 1, 1], [-1, -1, -1], [-1, 2, -1]]), y)  # 7 and 2
    third = (np.array([[1.0, 1, 1], [1, 1, -1], [1, 1, -1], [-5, -1, 1]]), y)  # 8 and 3: the second mask
    compiled = _calls_match_eager(fn, first, same_counts)
    assert len(traces) == 3  # two eager calls and one trace: the same counts ran the schedule
    (plan,) = compiled.plans.values()
    assert plan.value_shaped and plan.source.count("changed(") == 3  # one per mask axis
    traces.clear()
    for arrays in (second, first, second, third, same_counts, third):  # never a stale value
        eager_inputs = [tg.tensor(a, requires_grad=True) for a in arrays]
        compiled_inputs = [tg.tensor(a, requires_grad=True) for a in arrays]
        eager, result = fn(*eager_inputs), compiled(*compiled_inputs)
        assert result.item() == pytest.approx(eager.item(), rel=1e-12, abs=1e-12)
        eager.backward()
        result.backward()
        for e, c in zip(eager_inputs, compiled_inputs):
            np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=1e-12, atol=1e-12)
    # Six eager calls and two traces, one per new count; the plans of every count are kept.
    assert len(traces) == 8 and len(compiled.plans) == 1
    assert list(compiled.plans.values())[0] is plan and len(plan.variants) == 2


def test_a_retrace_for_a_changed_mask_draws_the_numbers_eager_mode_draws():
    fn = lambda x: (x[x > 0] * tg.randn(1, dtype=np.float64)).sum()  # noqa: E731
    compiled = tg.compile(fn)
    for values in ([1.0, -1.0, 2.0], [1.0, 2.0, 3.0]):  # the second call retraces
        tg.manual_seed(4)
        result = compiled(tg.tensor(values)).item()
        tg.manual_seed(4)
        assert result == pytest.approx(fn(tg.tensor(values)).item(), rel=1e-12)


@pytest.mark.parametrize("name", ["detach", "tg.tensor of a traced tensor", "a leaf made from a traced tensor",
                                  "as_tensor with a dtype", "PReLU",
                                  "svm_loss labels", "where on a float condition", "numpy.where"])
def test_values_leaving_the_graph_inside_fn_are_still_recomputed_at_every_call(name):
    def values(*shape, seed):
        return np.random.default_rng(seed).standard_normal(shape)

    prelu = tg.nn.PReLU(3, init=0.3)
    prelu.weight.data = prelu.weight.data.astype(np.float64)
    cases = {
        "detach": (lambda x: (x * x.detach() - x.detach().exp()).sum(), lambda s: (values(4, seed=s),)),
        "tg.tensor of a traced tensor": (lambda x: (tg.tensor(x > 0.2, dtype=np.float64) * x + tg.tensor(x * 2)).sum(),
                                         lambda s: (values(5, seed=s),)),
        "a leaf made from a traced tensor": (lambda x: (tg.tensor(x.exp(), requires_grad=True) * x).sum(),
                                             lambda s: (values(5, seed=s),)),
        "as_tensor with a dtype": (lambda x: (tg.as_tensor(x.argmax(), np.float64) * x).sum(),
                                   lambda s: (values(5, seed=s),)),
        "PReLU": (lambda x: (prelu(x) * x).sum(), lambda s: (values(4, 3, seed=s),)),
        "svm_loss labels": (lambda x, y: F.svm_loss(x * 3.0, y),
                            lambda s: (values(6, 4, seed=s), np.random.default_rng(s).integers(0, 4, 6))),
        "where on a float condition": (lambda x: tg.where((x * 2).relu(), x.sin(), x * 5).sum(),
                                       lambda s: (values(6, seed=s),)),
        "numpy.where": (lambda x: np.where(x > 0, x, x * x).sum() + np.where(x.relu(), 1.0, x).sum(),
                        lambda s: (values(6, seed=s),)),
    }
    fn, make = cases[name]
    compiled = _calls_match_eager(fn, *[make(seed) for seed in range(5)])
    assert len(compiled.plans) == 1


def test_labels_out_of_range_in_a_later_call_are_an_error_naming_the_loss():
    # The range check of cross_entropy's labels is a step of the schedule: it runs at every call.
    loss = tg.compile(lambda x, y: F.cross_entropy(x, y))
    x = tg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert loss(x, tg.tensor(np.array([0, 1, 3]))).item() == pytest.approx(
        F.cross_entropy(x, tg.tensor(np.array([0, 1, 3]))).item(), rel=1e-12)
    for bad in ([0, -1, 3], [0, 4, 1]):  # a negative label would pick the last class silently
        with pytest.raises(tg.ShapeError, match=r"cross_entropy: labels must lie in \[0, 4\)"):
            loss(x, tg.tensor(np.array(bad)))
    assert len(loss.plans) == 1


@pytest.mark.parametrize("name", ["numpy.asarray", "a NumPy ufunc tapegrad does not run", "a NumPy function",
                                  "numpy.allclose", "__index__"])
def test_numpy_conversions_of_a_traced_tensor_are_clear_errors_not_constants(name):
    # Each would compute on the trace's values and freeze the answer into the schedule.
    cases = {
        "numpy.asarray": (lambda x: x * tg.tensor(np.asarray(x) > 0), "conversion to a NumPy array"),
        "a NumPy ufunc tapegrad does not run": (lambda x: x * np.signbit(x), "numpy.signbit"),
        "a NumPy function": (lambda x: x * np.unique(x).size, "numpy.unique"),
        "numpy.allclose": (lambda x: x * 2 if np.allclose(x, 0) else x, "numpy.allclose"),
        "__index__": (lambda x: x * [1.0, 2.0, 3.0][x.argmax()], "__index__"),
    }
    fn, what = cases[name]
    x = tg.tensor(np.array([1.0, -2.0, 0.5]))
    fn(x)  # eager mode computes it
    with pytest.raises(tg.TracingError, match=f"{re.escape(what)}.* while tg.compile traces the function"):
        tg.compile(fn)(x)


def test_the_plans_kept_per_number_of_selected_entries_are_bounded_by_cache_size():
    compiled = tg.compile(lambda x: (x[x > 0] ** 2).sum(), cache_size=2)
    for positives in (1, 2, 3, 4, 5, 2, 1):
        values = np.where(np.arange(6) < positives, 1.0, -1.0) * np.arange(1, 7)
        assert compiled(tg.tensor(values)).item() == float((values[values > 0] ** 2).sum())
    (plan,) = compiled.plans.values()
    assert len(plan.variants) == 2


def test_with_several_masks_the_plans_kept_stay_bounded_by_cache_size():
    compiled = tg.compile(lambda x, y: x[x > 0].sum() + y[y > 0].sum(), cache_size=4)
    for a in range(6):
        for b in range(6):
            x = tg.tensor(np.r_[np.ones(a), -np.ones(5 - a)])
            y = tg.tensor(np.r_[np.ones(b), -np.ones(5 - b)])
            assert compiled(x, y).item() == a + b

    def kept(plan):
        return 1 + sum(kept(variant) for variant in plan.variants.values())

    (plan,) = compiled.plans.values()
    assert kept(plan) <= 1 + 4  # the signature's plan and at most cache_size variants in all (21 before)


@pytest.mark.parametrize("fn, what", [
    (lambda x: x.repeat((x > 0).astype(np.int64)).sum(), "repeat counts"),
    (lambda x: sum(p.sum() for p in x.split((x > 0).sum().reshape(1))), "split points"),
])
def test_shapes_that_follow_values_through_counts_or_split_points_are_refused_while_tracing(fn, what):
    x = tg.tensor([1.0, -1.0, 2.0])
    fn(x)  # eager mode computes
    with pytest.raises(tg.TracingError, match=what):
        tg.compile(fn)(x)


def test_indices_out_of_range_on_a_later_call_raise_the_eager_error():
    def pick(x):
        return x[(x * 1.0).astype(np.int64)].sum() + x.take_along_axis((x * 1.0).astype(np.int64), 0).sum()

    f = tg.compile(pick)
    assert f(tg.tensor([0.0, 1.0, 2.0])).item() == 6.0
    with pytest.raises(tg.ShapeError, match="getitem: .*index within the tensor's shape"):
        f(tg.tensor([0.0, 1.0, 7.0]))


def test_a_guard_read_several_times_in_one_trace_holds_its_first_value():
    """A traced function that switches a module to eval and back reads its training flag twice, with
    two values; the trace depends on the value at the start, so calls in training mode reuse it."""
    model = tg.nn.Sequential(tg.nn.Linear(3, 3), tg.nn.Dropout(0.0))

    def f(x):
        model.eval()
        y = model(x)
        model.train()
        return y.sum()

    compiled = tg.compile(f)
    x = tg.tensor(np.ones((2, 3)), requires_grad=True)
    results = [compiled(x).item() for _ in range(4)]
    assert len(compiled.plans) == 1 and sum(len(p.variants) for p in compiled.plans.values()) == 0
    assert results == [f(x).item()] * 4

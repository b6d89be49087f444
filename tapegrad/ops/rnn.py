"""Recurrences over a whole sequence as one primitive each: ``rnn``, ``gru`` and ``lstm``.

Each runs one layer's recurrence in one direction, given the input's projection ``x`` (time, batch,
gates * hidden), already multiplied by ``weight_ih`` (with the biases that can be added outside the
loop), so that the input projection of every time step is one matrix product outside the loop.

``rnn(x, w_hh, h0, nonlinearity)``, ``x`` holding both biases (the result is h, (time, batch, hidden)):

    h_t = act(x_t + h_{t-1} @ w_hh.T)           act = tanh or relu

``gru(x, w_hh, b_hh, h0)``, ``x`` holding ``b_ih``; gates in PyTorch's order r, z, n (the result, of
shape (5, time, batch, hidden), holds ``h, r, z, n`` and ``gh_n`` of every step):

    gh = h_{t-1} @ w_hh.T + b_hh                r, z = sigmoid(x_r + gh_r, x_z + gh_z)
    n = tanh(x_n + r * gh_n)                    h_t = n + z * (h_{t-1} - n)

``lstm(x, w_hh, h0, c0)``, ``x`` holding both biases; gates in PyTorch's order i, f, g, o (the result,
of shape (6, time, batch, hidden), holds ``h, c, i, f, g, o`` of every step):

    a_t = x_t + h_{t-1} @ w_hh.T        i, f, o = sigmoid(a_i, a_f, a_o)        g = tanh(a_g)
    c_t = f * c_{t-1} + i * g           h_t = o * tanh(c_t)

The activated gates are kept (as cuDNN's reserve space keeps them) so that the gradient needs no
second pass through the gates. They are ordinary outputs, with their own gradients.

As one primitive the sequence is one graph node rather than several per time step (slicing a time
step out of a sequence tensor would also cost a gradient of the whole sequence's size per step,
making backward quadratic in the sequence length). Every input's gradient comes out of one backward
recurrence (``vjp_all``): on arrays an in-place NumPy loop, in a recorded backward pass (second
order) the same sums written against ``xp`` with loops over time, a graph of registered primitives.
The JVP rules run the forward recurrence.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError
from . import batching as B
from .registry import Primitive


def _lstm_forward(x, w_hh, h0, c0):
    steps, batch, four = x.shape
    hidden = four // 4
    dtype = np.result_type(x, w_hh, h0, c0)
    out = np.empty((6, steps, batch, hidden), dtype)
    a = np.empty((batch, four), dtype)
    h, c, w_t = h0, c0, np.ascontiguousarray(w_hh.T)  # a product with a transposed operand is ~1.4x slower
    with np.errstate(over="ignore"):  # exp(-a) reaching inf gives sigmoid's exact limit 0
        for t in range(steps):
            np.matmul(h, w_t, out=a)
            a += x[t]
            g = out[4, t]
            np.tanh(a[:, 2 * hidden:3 * hidden], out=g)
            np.negative(a, out=a)
            np.exp(a, out=a)
            a += 1.0
            np.divide(1.0, a, out=a)
            i, f, o = out[2, t], out[3, t], out[5, t]
            i[...], f[...], o[...] = a[:, :hidden], a[:, hidden:2 * hidden], a[:, 3 * hidden:]
            c_prev, c = c, out[1, t]
            np.multiply(f, c_prev, out=c)
            c += i * g
            h = out[0, t]
            np.tanh(c, out=h)
            h *= o
    return out


def _parts(xp, ans, h0, c0):
    """Per step, stacked over time: h, c, the gates i, f, g, o, and h and c of the step before."""
    h, c, i, f, g, o = (ans[k] for k in range(6))
    before = (slice(0, ans.shape[1] - 1),)
    h_prev = xp.concatenate(xp.reshape(h0, shape=(1,) + h0.shape), xp.getitem(h, index=before), axis=0)
    c_prev = xp.concatenate(xp.reshape(c0, shape=(1,) + c0.shape), xp.getitem(c, index=before), axis=0)
    return h, c, i, f, g, o, h_prev, c_prev


def _backward(xp, g_out, ans, x, w_hh, h0, c0):
    """The gradients of all four inputs, by the backward recurrence."""
    _, steps, batch, hidden = ans.shape
    if steps == 0:
        return x * 0.0, w_hh * 0.0, h0 * 0.0, c0 * 0.0
    h, c, i, f, g, o, h_prev, c_prev = _parts(xp, ans, h0, c0)
    tanh_c = xp.tanh(c)
    through_h = o * (1.0 - tanh_c * tanh_c)  # dc_t / dh_t, given o
    # d(activated gate) = [dc * g, dc * c_prev, dc * i, dh * tanh(c)] + incoming, times the
    # activations' derivatives; dc and dh change per step, the rest is computed for all steps here.
    multipliers = xp.concatenate(g, c_prev, i, tanh_c, axis=-1)
    derivatives = xp.concatenate(i * (1.0 - i), f * (1.0 - f), 1.0 - g * g, o * (1.0 - o), axis=-1)
    g_h, g_c = g_out[0], g_out[1]
    g_gates = xp.concatenate(g_out[2], g_out[3], g_out[4], g_out[5], axis=-1)
    dh = dc = None
    pieces = []
    for t in range(steps - 1, -1, -1):
        dh_t = g_h[t] if dh is None else g_h[t] + dh
        dc_t = g_c[t] + dh_t * through_h[t] if dc is None else g_c[t] + dc + dh_t * through_h[t]
        d_acts = xp.concatenate(dc_t, dc_t, dc_t, dh_t, axis=-1) * multipliers[t] + g_gates[t]
        da = d_acts * derivatives[t]
        pieces.append(da)
        dc = dc_t * f[t]
        dh = xp.matmul(da, w_hh)
    dx = xp.reshape(xp.concatenate(*pieces[::-1], axis=0), shape=(steps, batch, 4 * hidden))
    flat_dx = xp.reshape(dx, shape=(steps * batch, 4 * hidden))
    dw = xp.matmul(xp.transpose(flat_dx, axes=(1, 0)), xp.reshape(h_prev, shape=(steps * batch, hidden)))
    return dx, dw, dh, dc


def _backward_arrays(g_out, ans, x, w_hh, h0, c0):
    """:func:`_backward` on arrays (the fast path, nothing recorded): the same sums, in place, one
    step at a time (on arrays of a step's size, which stay in the cache)."""
    _, steps, batch, hidden = ans.shape
    dtype = np.result_type(g_out, ans, x, w_hh, h0, c0)
    h, c, i, f, g, o = ans
    gates_incoming = bool(g_out[2:].any())  # usually not: only h and c feed the loss
    dx = np.empty((steps, batch, 4 * hidden), dtype)
    dh = np.zeros((batch, hidden), dtype)
    dc = np.zeros((batch, hidden), dtype)
    scratch = np.empty((batch, hidden), dtype)
    for t in range(steps - 1, -1, -1):
        da = dx[t]
        tanh_c = np.tanh(c[t])
        dh += g_out[0, t]
        np.multiply(tanh_c, tanh_c, out=scratch)
        np.subtract(1.0, scratch, out=scratch)
        scratch *= o[t]
        scratch *= dh
        dc += scratch
        dc += g_out[1, t]
        # da_k = (d * multiplier_k + incoming_k) * activation_k'; d is dc for i, f, g and dh for o
        for k, (d, multiplier, gate) in enumerate(((dc, g[t], i[t]), (dc, c0 if t == 0 else c[t - 1], f[t]),
                                                   (dc, i[t], g[t]), (dh, tanh_c, o[t]))):
            piece = da[:, k * hidden:(k + 1) * hidden]
            np.multiply(d, multiplier, out=piece)
            if gates_incoming:
                piece += g_out[2 + k, t]
            if k == 2:  # tanh' = 1 - g**2
                np.multiply(gate, gate, out=scratch)
                np.subtract(1.0, scratch, out=scratch)
            else:  # sigmoid' = s (1 - s)
                np.subtract(1.0, gate, out=scratch)
                scratch *= gate
            piece *= scratch
        dc *= f[t]
        dh = da @ w_hh
    h_prev = np.concatenate([h0[None], h[:-1]], axis=0).reshape(steps * batch, hidden)
    dw = dx.reshape(steps * batch, 4 * hidden).T @ h_prev
    return dx, dw, dh, dc


def _vjp_all(xp, g, ans, *inputs):
    """Every input's gradient from one backward recurrence: on arrays, the in-place NumPy version;
    in a recorded backward pass (Tensors), the one written against ``xp``, which records the graph."""
    if g.__class__ is np.ndarray and ans.__class__ is np.ndarray and ans.shape[1] > 0:
        return _backward_arrays(g, ans, *inputs)
    return _backward(xp, g, ans, *inputs)


def _tangent(xp, ans, x, w_hh, h0, c0, tx=None, tw=None, th=None, tc=None):
    """The tangent of the output for tangents of some inputs (None: zero), by the forward recurrence."""
    _, steps, batch, hidden = ans.shape
    h, c, i, f, g, o, h_prev, c_prev = _parts(xp, ans, h0, c0)
    tanh_c = xp.tanh(c)
    derivatives = xp.concatenate(i * (1.0 - i), f * (1.0 - f), 1.0 - g * g, o * (1.0 - o), axis=-1)
    drive = tx  # the part of each step's da that does not go through the recurrence
    if tw is not None:
        from_w = xp.matmul(h_prev, xp.transpose(tw, axes=(1, 0)))
        drive = from_w if drive is None else drive + from_w
    dh, dc = th, tc
    pieces = []
    for t in range(steps):
        da = None if drive is None else drive[t]
        if dh is not None:
            recurrent = xp.matmul(dh, xp.transpose(w_hh, axes=(1, 0)))
            da = recurrent if da is None else da + recurrent
        if da is None:  # nothing moves the gates at this step: only the cell state carries a tangent
            d_acts = None
            dc = None if dc is None else dc * f[t]
        else:
            d_acts = da * derivatives[t]
            di, df, dg, do = (d_acts[..., k * hidden:(k + 1) * hidden] for k in range(4))
            new = df * c_prev[t] + di * g[t] + i[t] * dg
            dc = new if dc is None else new + f[t] * dc
        if dc is None:
            dh = None
            pieces.append(xp.concatenate(*[ans[k, t] * 0.0 for k in range(6)], axis=-1))
            continue
        dh = o[t] * (1.0 - tanh_c[t] * tanh_c[t]) * dc
        if d_acts is None:
            pieces.append(xp.concatenate(dh, dc, *[ans[k, t] * 0.0 for k in range(2, 6)], axis=-1))
            continue
        dh = dh + d_acts[..., 3 * hidden:] * tanh_c[t]
        pieces.append(xp.concatenate(dh, dc, d_acts, axis=-1))
    if not pieces:
        return ans * 0.0
    per_step = xp.reshape(xp.concatenate(*pieces, axis=0), shape=(steps, batch, 6, hidden))
    return xp.transpose(per_step, axes=(2, 0, 1, 3))


# -- batching (tg.vmap) -------------------------------------------------------------------------------
# Examples that share the recurrent weights are one batch: each example's sequences side by side in the
# batch axis, one recurrence. Examples with weights of their own run the recurrence against ``xp`` (a loop
# over time, every example at each step: the per-example products as one batched matmul).

def _batch_recurrence(kind: str, weights: tuple[int, ...]):
    """The batching rule of ``kind`` ("rnn", "lstm" or "gru"), whose inputs at ``weights`` are the weights
    and the others x (time, batch, gates * hidden) and the states (batch, hidden)."""
    def rule(xp, prim, examples, batched, /, *inputs, **params):
        if not any(batched[i] for i in weights):
            inputs = [x if b or i in weights else B.expanded(xp, x, examples)
                      for i, (x, b) in enumerate(zip(inputs, batched))]
            return _shared_weights(xp, prim, examples, inputs, weights, **params)
        return _RECURRENCES[kind](xp, *B.all_batched(xp, examples, batched, inputs), **params)
    return rule


def _shared_weights(xp, prim, examples, inputs, weights, **params):
    merged = []
    for position, value in enumerate(inputs):
        if position in weights:
            merged.append(value)  # the same for every example
        elif value.ndim == 4:  # x (B, time, batch, gates): the examples' batches one after the other
            moved = xp.transpose(value, axes=(1, 0, 2, 3))
            merged.append(xp.reshape(moved, shape=(value.shape[1], examples * value.shape[2], value.shape[3])))
        else:  # a state (B, batch, hidden)
            merged.append(xp.reshape(value, shape=(examples * value.shape[1], value.shape[2])))
    out = xp.call(prim, *merged, **params)
    lead = out.ndim - 2  # (time, B * batch, hidden), or (parts, time, B * batch, hidden)
    split = xp.reshape(out, shape=tuple(out.shape[:lead]) + (examples, out.shape[lead] // examples, out.shape[-1]))
    return B.moved_to_front(xp, split, lead)


def _steps(xp, x):
    """x (B, time, batch, gates) one step at a time: (B, batch, gates) each."""
    return [xp.getitem(x, index=(slice(None), t)) for t in range(x.shape[1])]


def _over_time(xp, parts, like_shape, dtype):
    """Per-step values (lists of (B, batch, hidden), one list per part) stacked as (B, parts, time, batch,
    hidden), or (B, time, batch, hidden) for one part."""
    if not parts[0]:
        shape = (like_shape[0],) + ((len(parts),) if len(parts) > 1 else ()) + (0,) + tuple(like_shape[1:])
        return np.zeros(shape, dtype)
    stacked = [xp.concatenate(*[xp.reshape(v, shape=(v.shape[0], 1) + tuple(v.shape[1:])) for v in values], axis=1)
               for values in parts]
    if len(stacked) == 1:
        return stacked[0]
    return xp.concatenate(*[xp.reshape(s, shape=(s.shape[0], 1) + tuple(s.shape[1:])) for s in stacked], axis=1)


def _gate(xp, a, k, hidden):
    return xp.getitem(a, index=(Ellipsis, slice(k * hidden, (k + 1) * hidden)))


def _rnn_by_steps(xp, x, w_hh, h0, nonlinearity="tanh"):
    _nonlinearity(nonlinearity)
    w_t, h, hs = xp.transpose(w_hh, axes=(0, 2, 1)), h0, []
    for x_t in _steps(xp, x):
        a = x_t + xp.matmul(h, w_t)
        h = xp.tanh(a) if nonlinearity == "tanh" else xp.relu(a)
        hs.append(h)
    return _over_time(xp, [hs], h0.shape, np.result_type(x.dtype, w_hh.dtype, h0.dtype))


def _lstm_by_steps(xp, x, w_hh, h0, c0):
    hidden = h0.shape[-1]
    w_t, h, c, parts = xp.transpose(w_hh, axes=(0, 2, 1)), h0, c0, [[] for _ in range(6)]
    for x_t in _steps(xp, x):
        a = x_t + xp.matmul(h, w_t)
        i, f, o = (xp.sigmoid(_gate(xp, a, k, hidden)) for k in (0, 1, 3))
        g = xp.tanh(_gate(xp, a, 2, hidden))
        c = f * c + i * g
        h = o * xp.tanh(c)
        for values, value in zip(parts, (h, c, i, f, g, o)):
            values.append(value)
    return _over_time(xp, parts, h0.shape, np.result_type(x.dtype, w_hh.dtype, h0.dtype, c0.dtype))


def _gru_by_steps(xp, x, w_hh, b_hh, h0):
    hidden = h0.shape[-1]
    w_t, h, parts = xp.transpose(w_hh, axes=(0, 2, 1)), h0, [[] for _ in range(5)]
    b = xp.reshape(b_hh, shape=(b_hh.shape[0], 1, b_hh.shape[1]))
    for x_t in _steps(xp, x):
        gh = xp.matmul(h, w_t) + b
        r = xp.sigmoid(_gate(xp, x_t, 0, hidden) + _gate(xp, gh, 0, hidden))
        z = xp.sigmoid(_gate(xp, x_t, 1, hidden) + _gate(xp, gh, 1, hidden))
        gh_n = _gate(xp, gh, 2, hidden)
        n = xp.tanh(_gate(xp, x_t, 2, hidden) + r * gh_n)
        h = n + z * (h - n)
        for values, value in zip(parts, (h, r, z, n, gh_n)):
            values.append(value)
    return _over_time(xp, parts, h0.shape, np.result_type(x.dtype, w_hh.dtype, b_hh.dtype, h0.dtype))


_RECURRENCES = {"rnn": _rnn_by_steps, "lstm": _lstm_by_steps, "gru": _gru_by_steps}


lstm = Primitive(
    "lstm", _lstm_forward,
    vjp_all=_vjp_all,
    jvps=(lambda xp, t, ans, x, w, h0, c0: _tangent(xp, ans, x, w, h0, c0, tx=t),
          lambda xp, t, ans, x, w, h0, c0: _tangent(xp, ans, x, w, h0, c0, tw=t),
          lambda xp, t, ans, x, w, h0, c0: _tangent(xp, ans, x, w, h0, c0, th=t),
          lambda xp, t, ans, x, w, h0, c0: _tangent(xp, ans, x, w, h0, c0, tc=t)),
    saves_ans=True,
    expects="x (time, batch, 4 * hidden), w_hh (4 * hidden, hidden), h0 and c0 (batch, hidden)",
    doc="One LSTM layer's recurrence over a sequence: (6, time, batch, hidden) holding h, c, i, f, g, o.",
    batch=_batch_recurrence("lstm", (1,)),
)


# -- rnn: h_t = act(x_t + h_{t-1} @ w_hh.T) ------------------------------------------------------------

_NONLINEARITIES = ("tanh", "relu")


def _check(name, x, w_hh, h0, gates, b_hh=None):
    """Raise ValueError (reported as a ShapeError quoting ``expects``) unless the shapes fit together:
    NumPy would broadcast some mismatches silently."""
    if np.ndim(x) != 3 or np.ndim(w_hh) != 2 or np.ndim(h0) != 2:
        raise ValueError(f"{name} takes x of 3 dimensions and w_hh and h0 of 2")
    hidden = np.shape(h0)[1]
    if (np.shape(x)[2] != gates * hidden or np.shape(w_hh) != (gates * hidden, hidden)
            or np.shape(h0)[0] != np.shape(x)[1]
            or (b_hh is not None and np.shape(b_hh) != (gates * hidden,))):
        shapes = [np.shape(x), np.shape(w_hh)] + ([] if b_hh is None else [np.shape(b_hh)]) + [np.shape(h0)]
        raise ValueError(f"{name}: shapes {', '.join(map(str, shapes))} do not fit together")


def _nonlinearity(nonlinearity):
    if nonlinearity not in _NONLINEARITIES:
        raise ArgumentError(f"rnn: nonlinearity={nonlinearity!r}; expected 'tanh' or 'relu'")
    return nonlinearity


def _rnn_forward(x, w_hh, h0, nonlinearity="tanh"):
    tanh = _nonlinearity(nonlinearity) == "tanh"
    _check("rnn", x, w_hh, h0, 1)
    steps, batch, hidden = x.shape
    out = np.empty((steps, batch, hidden), np.result_type(x, w_hh, h0))
    h, w_t = h0, np.ascontiguousarray(w_hh.T)  # a product with a transposed operand is ~1.4x slower
    for t in range(steps):
        a = out[t]
        np.matmul(h, w_t, out=a)
        a += x[t]
        if tanh:
            np.tanh(a, out=a)
        else:
            np.maximum(a, 0.0, out=a)
        h = a
    return out


def _rnn_derivative(ans, nonlinearity):
    """act'(a) from h = act(a): 1 - h**2 (tanh), h > 0 (relu; 0 at the kink, as relu's own rule)."""
    return 1.0 - ans * ans if nonlinearity == "tanh" else ans > 0


def _previous(xp, h, h0):
    """h_{t-1} for every step: h0, then h without its last step."""
    before = (slice(0, h.shape[0] - 1),)
    return xp.concatenate(xp.reshape(h0, shape=(1,) + h0.shape), xp.getitem(h, index=before), axis=0)


def _rnn_backward(xp, g, ans, x, w_hh, h0, nonlinearity="tanh"):
    """The gradients of x, w_hh and h0, by the backward recurrence, against ``xp``."""
    steps, batch, hidden = ans.shape
    if steps == 0:
        return x * 0.0, w_hh * 0.0, h0 * 0.0
    derivative = _rnn_derivative(ans, nonlinearity)
    dh = None
    pieces = []
    for t in range(steps - 1, -1, -1):
        dh_t = g[t] if dh is None else g[t] + dh
        da = dh_t * derivative[t]
        pieces.append(da)
        dh = xp.matmul(da, w_hh)
    flat_dx = xp.concatenate(*pieces[::-1], axis=0)
    dw = xp.matmul(xp.transpose(flat_dx, axes=(1, 0)),
                   xp.reshape(_previous(xp, ans, h0), shape=(steps * batch, hidden)))
    return xp.reshape(flat_dx, shape=(steps, batch, hidden)), dw, dh


def _rnn_backward_arrays(g, ans, x, w_hh, h0, nonlinearity="tanh"):
    """:func:`_rnn_backward` on arrays (the fast path, nothing recorded), in place one step at a time."""
    steps, batch, hidden = ans.shape
    dtype = np.result_type(g, ans, x, w_hh, h0)
    if nonlinearity == "tanh":
        derivative = ans * ans
        np.subtract(1.0, derivative, out=derivative)
    else:
        derivative = (ans > 0).astype(dtype)
    dx = np.empty((steps, batch, hidden), dtype)
    dh = np.zeros((batch, hidden), dtype)
    for t in range(steps - 1, -1, -1):
        da = dx[t]
        np.add(dh, g[t], out=da)
        da *= derivative[t]
        np.matmul(da, w_hh, out=dh)
    h_prev = np.concatenate([h0[None], ans[:-1]], axis=0).reshape(steps * batch, hidden)
    dw = dx.reshape(steps * batch, hidden).T @ h_prev
    return dx, dw, dh


def _rnn_vjp_all(xp, g, ans, x, w_hh, h0, nonlinearity="tanh"):
    """Every input's gradient from one backward recurrence (the in-place version on arrays)."""
    if g.__class__ is np.ndarray and ans.__class__ is np.ndarray and ans.shape[0] > 0:
        return _rnn_backward_arrays(g, ans, x, w_hh, h0, nonlinearity)
    return _rnn_backward(xp, g, ans, x, w_hh, h0, nonlinearity)


def _rnn_tangent(xp, ans, x, w_hh, h0, nonlinearity, tx=None, tw=None, th=None):
    """The tangent of the output for tangents of some inputs (None: zero), by the forward recurrence."""
    steps, batch, hidden = ans.shape
    if steps == 0:
        return ans * 0.0
    derivative = _rnn_derivative(ans, nonlinearity)
    drive = tx  # the part of each step's da that does not go through the recurrence
    if tw is not None:
        from_w = xp.matmul(_previous(xp, ans, h0), xp.transpose(tw, axes=(1, 0)))
        drive = from_w if drive is None else drive + from_w
    dh = th
    pieces = []
    for t in range(steps):
        da = None if drive is None else drive[t]
        if dh is not None:
            recurrent = xp.matmul(dh, xp.transpose(w_hh, axes=(1, 0)))
            da = recurrent if da is None else da + recurrent
        dh = None if da is None else da * derivative[t]
        pieces.append(ans[t] * 0.0 if dh is None else dh)
    return xp.reshape(xp.concatenate(*pieces, axis=0), shape=(steps, batch, hidden))


rnn = Primitive(
    "rnn", _rnn_forward,
    vjp_all=_rnn_vjp_all,
    jvps=(lambda xp, t, ans, x, w, h0, nonlinearity="tanh": _rnn_tangent(xp, ans, x, w, h0, nonlinearity, tx=t),
          lambda xp, t, ans, x, w, h0, nonlinearity="tanh": _rnn_tangent(xp, ans, x, w, h0, nonlinearity, tw=t),
          lambda xp, t, ans, x, w, h0, nonlinearity="tanh": _rnn_tangent(xp, ans, x, w, h0, nonlinearity, th=t)),
    saves_ans=True,
    expects="x (time, batch, hidden), w_hh (hidden, hidden), h0 (batch, hidden)",
    doc="One Elman RNN layer's recurrence over a sequence, h_t = act(x_t + h_{t-1} @ w_hh.T) with act tanh "
        "or relu: the hidden state of every step, (time, batch, hidden).",
    batch=_batch_recurrence("rnn", (1,)),
)


# -- gru ----------------------------------------------------------------------------------------------

def _gru_forward(x, w_hh, b_hh, h0):
    _check("gru", x, w_hh, h0, 3, b_hh)
    steps, batch, three = x.shape
    hidden = three // 3
    out = np.empty((5, steps, batch, hidden), np.result_type(x, w_hh, b_hh, h0))
    # Per step, each gate's block is kept contiguous: NumPy takes ~10x longer for an elementwise operation
    # on a (batch, hidden) slice of a (batch, 3 * hidden) row than on a contiguous block. So gh comes out
    # of one stacked product as (3, batch, hidden) (w3[k] = w_hk.T), and x is read through a (3, batch,
    # hidden) view per step.
    x3 = x.reshape(steps, batch, 3, hidden).transpose(0, 2, 1, 3)
    w3 = np.ascontiguousarray(w_hh.reshape(3, hidden, hidden).transpose(0, 2, 1))
    b3 = b_hh.reshape(3, 1, hidden)
    gh = np.empty((3, batch, hidden), out.dtype)
    h = h0
    with np.errstate(over="ignore"):  # exp(-a) reaching inf gives sigmoid's exact limit 0
        for t in range(steps):
            np.matmul(h, w3, out=gh)
            gh += b3
            gh_n = out[4, t]
            gh_n[...] = gh[2]
            rz = out[1:3, t]  # r and z
            np.add(gh[:2], x3[t, :2], out=rz)
            np.negative(rz, out=rz)
            np.exp(rz, out=rz)
            rz += 1.0
            np.reciprocal(rz, out=rz)
            r, z, n = out[1, t], out[2, t], out[3, t]
            np.multiply(r, gh_n, out=n)
            n += x3[t, 2]
            np.tanh(n, out=n)
            h_new = out[0, t]
            np.subtract(h, n, out=h_new)
            h_new *= z
            h_new += n
            h = h_new
    return out


def _gru_backward(xp, g_out, ans, x, w_hh, b_hh, h0):
    """The gradients of all four inputs, by the backward recurrence, against ``xp``."""
    _, steps, batch, hidden = ans.shape
    if steps == 0:
        return x * 0.0, w_hh * 0.0, b_hh * 0.0, h0 * 0.0
    h, r, z, n, gh_n = (ans[k] for k in range(5))
    h_prev = _previous(xp, h, h0)
    # Computed for all steps here; only dh changes per step.
    d_r, d_z, d_n = r * (1.0 - r), z * (1.0 - z), 1.0 - n * n
    one_minus_z, h_minus_n = 1.0 - z, h_prev - n
    g_h, g_r, g_z, g_n, g_ghn = (g_out[k] for k in range(5))
    dh = None
    dx_pieces, dgh_pieces = [], []
    for t in range(steps - 1, -1, -1):
        dh_t = g_h[t] if dh is None else g_h[t] + dh
        da_n = (dh_t * one_minus_z[t] + g_n[t]) * d_n[t]
        da_z = (dh_t * h_minus_n[t] + g_z[t]) * d_z[t]
        da_r = (da_n * gh_n[t] + g_r[t]) * d_r[t]
        dgh = xp.concatenate(da_r, da_z, da_n * r[t] + g_ghn[t], axis=-1)
        dx_pieces.append(xp.concatenate(da_r, da_z, da_n, axis=-1))
        dgh_pieces.append(dgh)
        dh = dh_t * z[t] + xp.matmul(dgh, w_hh)
    dx = xp.reshape(xp.concatenate(*dx_pieces[::-1], axis=0), shape=(steps, batch, 3 * hidden))
    flat_dgh = xp.concatenate(*dgh_pieces[::-1], axis=0)
    dw = xp.matmul(xp.transpose(flat_dgh, axes=(1, 0)), xp.reshape(h_prev, shape=(steps * batch, hidden)))
    return dx, dw, xp.sum(flat_dgh, axis=0), dh


def _gru_backward_arrays(g_out, ans, x, w_hh, b_hh, h0):
    """:func:`_gru_backward` on arrays (the fast path, nothing recorded): what does not depend on dh is
    computed for all steps before the loop (few operations per step), gate blocks kept contiguous."""
    _, steps, batch, hidden = ans.shape
    dtype = np.result_type(g_out, ans, x, w_hh, b_hh, h0)
    h, r, z, n, gh_n = ans
    g_h, g_r, g_z, g_n, g_ghn = g_out
    incoming = bool(g_out[1:].any())  # usually not: only h feeds the loss
    h_prev = np.concatenate([h0[None], h[:-1]], axis=0)
    # da_n = dh * (1 - z)(1 - n**2) [+ g_n (1 - n**2)]     da_z = dh * (h_prev - n) z (1 - z) [+ g_z z (1 - z)]
    # da_r = da_n * gh_n r (1 - r) [+ g_r r (1 - r)]       dgh_n = da_n * r [+ g_ghn]
    # dh_prev = dh * z + dgh @ w_hh, with dgh = (da_r, da_z, dgh_n)
    d_n = n * n
    np.subtract(1.0, d_n, out=d_n)
    d_z = 1.0 - z
    d_z *= z
    d_r = 1.0 - r
    d_r *= r
    from_n = 1.0 - z
    from_n *= d_n
    from_z = h_prev - n
    from_z *= d_z
    from_r = gh_n * d_r
    if incoming:
        g_n, g_z, g_r = g_n * d_n, g_z * d_z, g_r * d_r
    dgh = np.empty((3, steps, batch, hidden), dtype)
    da_n = np.empty((steps, batch, hidden), dtype)
    w3 = w_hh.reshape(3, hidden, hidden)
    dh = np.zeros((batch, hidden), dtype)
    recurrent = np.empty((3, batch, hidden), dtype)
    for t in range(steps - 1, -1, -1):
        dh += g_h[t]
        dn, dr, dz, dghn = da_n[t], dgh[0, t], dgh[1, t], dgh[2, t]
        np.multiply(dh, from_n[t], out=dn)
        np.multiply(dh, from_z[t], out=dz)
        if incoming:
            dn += g_n[t]
            dz += g_z[t]
        np.multiply(dn, from_r[t], out=dr)
        np.multiply(dn, r[t], out=dghn)
        if incoming:
            dr += g_r[t]
            dghn += g_ghn[t]
        dh *= z[t]
        np.matmul(dgh[:, t], w3, out=recurrent)
        dh += recurrent[0]
        dh += recurrent[1]
        dh += recurrent[2]
    dx = np.empty((steps, batch, 3, hidden), dtype)
    dx[:, :, :2] = dgh[:2].transpose(1, 2, 0, 3)
    dx[:, :, 2] = da_n
    flat_prev = h_prev.reshape(steps * batch, hidden)
    dw = np.empty((3, hidden, hidden), dtype)
    for k in range(3):
        np.matmul(dgh[k].reshape(steps * batch, hidden).T, flat_prev, out=dw[k])
    return (dx.reshape(steps, batch, 3 * hidden), dw.reshape(3 * hidden, hidden),
            dgh.reshape(3, steps * batch, hidden).sum(axis=1).reshape(3 * hidden), dh)


def _gru_vjp_all(xp, g, ans, *inputs):
    """Every input's gradient from one backward recurrence (the in-place version on arrays)."""
    if g.__class__ is np.ndarray and ans.__class__ is np.ndarray and ans.shape[1] > 0:
        return _gru_backward_arrays(g, ans, *inputs)
    return _gru_backward(xp, g, ans, *inputs)


def _gru_tangent(xp, ans, x, w_hh, b_hh, h0, tx=None, tw=None, tb=None, th=None):
    """The tangent of the output for tangents of some inputs (None: zero), by the forward recurrence."""
    _, steps, batch, hidden = ans.shape
    if steps == 0:
        return ans * 0.0
    h, r, z, n, gh_n = (ans[k] for k in range(5))
    d_r, d_z, d_n = r * (1.0 - r), z * (1.0 - z), 1.0 - n * n
    h_minus_n = _previous(xp, h, h0) - n
    drive = None  # the part of each step's d(gh) that does not go through the recurrence
    if tw is not None:
        drive = xp.matmul(_previous(xp, h, h0), xp.transpose(tw, axes=(1, 0)))
    if tb is not None:
        tb = xp.broadcast_to(tb, shape=(batch, 3 * hidden))
    dh = th
    pieces = []
    for t in range(steps):
        dgh = None if drive is None else drive[t]
        if tb is not None:
            dgh = tb if dgh is None else dgh + tb
        if dh is not None:
            recurrent = xp.matmul(dh, xp.transpose(w_hh, axes=(1, 0)))
            dgh = recurrent if dgh is None else dgh + recurrent
        dxt = None if tx is None else tx[t]
        if dgh is None and dxt is None:  # nothing moves at this step (dh is None too)
            pieces.append(xp.concatenate(*[ans[k, t] * 0.0 for k in range(5)], axis=-1))
            continue
        dgh = dxt * 0.0 if dgh is None else dgh
        da = dgh if dxt is None else dgh + dxt  # the r and z thirds: d(x + gh)
        dr = da[..., :hidden] * d_r[t]
        dz = da[..., hidden:2 * hidden] * d_z[t]
        dgh_n = dgh[..., 2 * hidden:]
        da_n = dr * gh_n[t] + r[t] * dgh_n
        if dxt is not None:
            da_n = da_n + dxt[..., 2 * hidden:]
        dn = da_n * d_n[t]
        new = dn + dz * h_minus_n[t]
        dh = new - z[t] * dn if dh is None else new + z[t] * (dh - dn)
        pieces.append(xp.concatenate(dh, dr, dz, dn, dgh_n, axis=-1))
    per_step = xp.reshape(xp.concatenate(*pieces, axis=0), shape=(steps, batch, 5, hidden))
    return xp.transpose(per_step, axes=(2, 0, 1, 3))


gru = Primitive(
    "gru", _gru_forward,
    vjp_all=_gru_vjp_all,
    jvps=(lambda xp, t, ans, x, w, b, h0: _gru_tangent(xp, ans, x, w, b, h0, tx=t),
          lambda xp, t, ans, x, w, b, h0: _gru_tangent(xp, ans, x, w, b, h0, tw=t),
          lambda xp, t, ans, x, w, b, h0: _gru_tangent(xp, ans, x, w, b, h0, tb=t),
          lambda xp, t, ans, x, w, b, h0: _gru_tangent(xp, ans, x, w, b, h0, th=t)),
    saves_ans=True,
    expects="x (time, batch, 3 * hidden), w_hh (3 * hidden, hidden), b_hh (3 * hidden,), h0 (batch, hidden)",
    doc="One GRU layer's recurrence over a sequence: (5, time, batch, hidden) holding h, r, z, n and gh_n "
        "(h_{t-1} @ w_hn.T + b_hn).",
    batch=_batch_recurrence("gru", (1, 2)),
)

PRIMITIVES = (lstm, rnn, gru)

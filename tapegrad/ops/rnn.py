"""The LSTM recurrence over a whole sequence as one primitive.

``lstm(x, w_hh, h0, c0)`` runs the recurrence of one LSTM layer in one direction, given the input's
projection ``x`` (time, batch, 4 * hidden), already multiplied by ``weight_ih`` and with both biases
added, so that the input projection of every time step is one matrix product outside the loop.
Gates are in PyTorch's order i, f, g, o:

    a_t = x_t + h_{t-1} @ w_hh.T        i, f, o = sigmoid(a_i, a_f, a_o)        g = tanh(a_g)
    c_t = f * c_{t-1} + i * g           h_t = o * tanh(c_t)

The result, of shape (6, time, batch, hidden), holds ``h, c, i, f, g, o`` of every step: the
activated gates are kept (as cuDNN's reserve space keeps them) so that the gradient needs no second
pass through the gates. They are ordinary outputs, with their own gradients.

As one primitive the sequence is one graph node rather than a dozen per time step (slicing a time
step out of a sequence tensor would also cost a gradient of the whole sequence's size per step).
The rules are written against ``xp`` with loops over time, so a recorded backward pass (second
order) is a graph of registered primitives.
"""

from __future__ import annotations

import numpy as np

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
)

PRIMITIVES = (lstm,)

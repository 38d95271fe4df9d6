"""The LSTM recurrence of K members at once: a hand-written autograd function (:class:`_LSTMSeq`)
and the same recurrence as a plain autograd loop (:func:`_lstm_autograd`, the reference).

The input projection ``x @ W_ih`` for all time steps is one ``baddbmm`` outside the loop, each
step does ``h @ W_hh`` plus in-place gate math without building an autograd graph, and the
backward pass is a manual BPTT whose weight gradients are one batched matmul over all time steps.
Gate order is (i, f, o, g) internally.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch


class _LSTMSeq(torch.autograd.Function):
    """One LSTM layer for K members over T steps, gate order (i, f, o, g) internally.

    ``x`` ``[K, B, T, F]`` (any strides), ``w_ih`` ``[K, 4H, F]``, ``w_hh`` ``[K, 4H, H]``,
    biases ``[K, 4H]``. Returns all hidden states ``[K, B, T, H]`` and the last one ``[K, B, H]``.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        w_ih: torch.Tensor,
        w_hh: torch.Tensor,
        b_ih: torch.Tensor,
        b_hh: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        k, b, t_len, f_in = x.shape
        h = w_hh.shape[2]
        # tanh costs ~3x sigmoid on the CPU, so there the step uses tanh(z) = 2*sigmoid(2z) - 1: the
        # g-gate rows of the weights and bias are doubled (exact in floating point), one sigmoid
        # covers all four gates, and the cell update folds the "2s - 1" in; tanh(c) likewise. Only
        # in float32: in bf16/fp16 (CUDA autocast) "2s - 1" near 0 would lose the small values that
        # tanh keeps, and on a GPU the native tanh is no slower.
        via_sigmoid = x.device.type == "cpu" and x.dtype == torch.float32
        xk, acts, whh_t = _input_projection(x, w_ih, w_hh, b_ih, b_hh, via_sigmoid=via_sigmoid)
        hs, cs, tcs = _recurrence(acts, whh_t, via_sigmoid=via_sigmoid)
        if via_sigmoid:
            acts[..., 3 * h :].mul_(2).sub_(1)  # store g = tanh(z_g) itself for the backward pass
        ctx.save_for_backward(xk, w_ih, w_hh, acts, hs, cs, tcs)
        ctx.set_materialize_grads(False)
        ctx.dims = (k, b, t_len, f_in, h)
        return hs[:, 1:].transpose(1, 2), hs[:, t_len]

    @staticmethod
    def backward(
        ctx: Any, g_seq: torch.Tensor | None, g_last: torch.Tensor | None
    ) -> tuple[Any, ...]:
        xk, w_ih, w_hh, acts, hs, cs, tcs = ctx.saved_tensors
        k, b, t_len, f_in, h = ctx.dims
        d_gates = _bptt(acts, cs, tcs, w_hh, g_seq, g_last)
        dgk = d_gates.view(k, t_len * b, 4 * h)
        dgk_t = dgk.transpose(1, 2)
        h_prev = hs[:, :-1].view(k, t_len * b, h)  # T and B merge: a view, no copy
        d_w_ih = torch.bmm(dgk_t, xk)
        d_w_hh = torch.bmm(dgk_t, h_prev)
        d_b = dgk.sum(1)
        d_x = (
            torch.bmm(dgk, w_ih).view(k, t_len, b, f_in).transpose(1, 2)
            if ctx.needs_input_grad[0]
            else None
        )
        return d_x, d_w_ih, d_w_hh, d_b, d_b


def _input_projection(
    x: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
    *,
    via_sigmoid: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(xk, acts, whh_t)``: the input rows ``[K, T*B, F]``, the input projection plus bias of
    all steps ``[K, T, B, 4H]`` and ``W_hh`` transposed (g-gate columns doubled ``via_sigmoid``)."""
    k, b, t_len, f_in = x.shape
    h = w_hh.shape[2]
    # member-major, then time, then batch: [K, T*B, .] rows. Every per-step slice [:, t] is K
    # contiguous [B, .] blocks (what bmm takes), and the weight gradients in backward are one
    # bmm over the [K, T*B, .] views with no transposing copy of the gates or hidden states.
    xk = x.transpose(1, 2).reshape(k, t_len * b, f_in)  # a copy of the (narrow) input only
    bias = (b_ih + b_hh).unsqueeze(1)
    wih_t = w_ih.transpose(1, 2)
    whh_t = w_hh.transpose(1, 2).contiguous()
    if via_sigmoid:
        bias[..., 3 * h :] *= 2
        wih_t = wih_t.clone()
        wih_t[..., 3 * h :] *= 2
        whh_t[..., 3 * h :] *= 2
    acts = torch.baddbmm(bias, xk, wih_t).view(k, t_len, b, 4 * h)
    return xk, acts, whh_t


def _recurrence(
    acts: torch.Tensor, whh_t: torch.Tensor, *, via_sigmoid: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The time loop, in place on ``acts`` (pre-activations -> activations): returns the hidden
    and cell states ``[K, T+1, B, H]`` (zero first) and ``tanh(c)`` ``[K, T, B, H]``."""
    k, t_len, b, h4 = acts.shape
    h = h4 // 4
    hs = acts.new_zeros(k, t_len + 1, b, h)
    cs = acts.new_zeros(k, t_len + 1, b, h)
    tcs = acts.new_empty(k, t_len, b, h)
    # per-step views made once (unbind is one call for all T; indexing in the loop is Python time)
    a_t, sig_t, g_t = acts.unbind(1), acts[..., : 3 * h].unbind(1), acts[..., 3 * h :].unbind(1)
    i_t, f_t, o_t = (
        acts[..., :h].unbind(1),
        acts[..., h : 2 * h].unbind(1),
        acts[..., 2 * h : 3 * h].unbind(1),
    )
    h_t, c_t, tc_t = hs.unbind(1), cs.unbind(1), tcs.unbind(1)
    for t in range(t_len):
        a_t[t].baddbmm_(h_t[t], whh_t)
        c, tc = c_t[t + 1], tc_t[t]
        if via_sigmoid:
            a_t[t].sigmoid_()  # i, f, o and s_g = sigmoid(2 z_g)
            torch.mul(f_t[t], c_t[t], out=c)
            c.addcmul_(i_t[t], g_t[t], value=2).sub_(i_t[t])  # c = f c + i (2 s_g - 1)
            torch.mul(c, 2, out=tc).sigmoid_().mul_(2).sub_(1)  # tanh(c)
        else:
            sig_t[t].sigmoid_()
            g_t[t].tanh_()
            torch.mul(f_t[t], c_t[t], out=c)
            c.addcmul_(i_t[t], g_t[t])
            torch.tanh(c, out=tc)
        torch.mul(o_t[t], tc, out=h_t[t + 1])
    return hs, cs, tcs


def _bptt(
    acts: torch.Tensor,
    cs: torch.Tensor,
    tcs: torch.Tensor,
    w_hh: torch.Tensor,
    g_seq: torch.Tensor | None,
    g_last: torch.Tensor | None,
) -> torch.Tensor:
    """Backpropagation through time: the gradients of the gate pre-activations ``[K, T, B, 4H]``
    from those of the hidden states (``g_seq`` of all steps, ``g_last`` of the last)."""
    k, t_len, b, h4 = acts.shape
    h = h4 // 4
    deriv, odt = _activation_derivatives(acts, tcs, h)
    d_gates = acts.new_empty(k, t_len, b, 4 * h)
    i_t, f_t, g_t = (
        acts[..., :h].unbind(1),
        acts[..., h : 2 * h].unbind(1),
        acts[..., 3 * h :].unbind(1),
    )
    di, df, do, dgg = (
        d_gates[..., :h].unbind(1),
        d_gates[..., h : 2 * h].unbind(1),
        d_gates[..., 2 * h : 3 * h].unbind(1),
        d_gates[..., 3 * h :].unbind(1),
    )
    dg_t, der_t, odt_t, c_t, tc_t = (
        d_gates.unbind(1),
        deriv.unbind(1),
        odt.unbind(1),
        cs.unbind(1),
        tcs.unbind(1),
    )
    dh = g_last.clone() if g_last is not None else acts.new_zeros(k, b, h)
    g_seq_t = None if g_seq is None else g_seq.transpose(1, 2).unbind(1)  # T x [K, B, H]
    dc = acts.new_zeros(k, b, h)
    for t in range(t_len - 1, -1, -1):
        if g_seq_t is not None:
            dh = dh + g_seq_t[t]
        dc.addcmul_(dh, odt_t[t])
        torch.mul(dc, g_t[t], out=di[t])
        torch.mul(dc, c_t[t], out=df[t])
        torch.mul(dh, tc_t[t], out=do[t])
        torch.mul(dc, i_t[t], out=dgg[t])
        dg_t[t].mul_(der_t[t])
        if t > 0:
            dh = torch.bmm(dg_t[t], w_hh)
            dc.mul_(f_t[t])
    return d_gates


def _activation_derivatives(
    acts: torch.Tensor, tcs: torch.Tensor, h: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The derivative of the activations w.r.t. the pre-activations, all steps at once, and
    ``o * (1 - tanh(c)^2)``."""
    deriv = acts * (1 - acts)
    dg = deriv[..., 3 * h :]
    torch.mul(acts[..., 3 * h :], acts[..., 3 * h :], out=dg)
    dg.neg_().add_(1)
    odt = tcs * tcs
    odt.neg_().add_(1).mul_(acts[..., 2 * h : 3 * h])  # o * (1 - tanh(c)^2)
    return deriv, odt


def _lstm_autograd(
    x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference kernel: the same recurrence as a plain autograd loop (slower; for comparison)."""
    k, b, t_len, f_in = x.shape
    h_size = w_hh.shape[2]
    xw = torch.baddbmm(
        (b_ih + b_hh).unsqueeze(1), x.reshape(k, b * t_len, f_in), w_ih.transpose(1, 2)
    )
    xw = xw.view(k, b, t_len, 4 * h_size)
    h = x.new_zeros(k, b, h_size)
    c = x.new_zeros(k, b, h_size)
    whh_t = w_hh.transpose(1, 2)
    outs = []
    for t in range(t_len):
        gates = torch.baddbmm(xw[:, :, t], h, whh_t)
        sig = gates[..., : 3 * h_size].sigmoid()
        g = gates[..., 3 * h_size :].tanh()
        c = sig[..., h_size : 2 * h_size] * c + sig[..., :h_size] * g
        h = sig[..., 2 * h_size :] * c.tanh()
        outs.append(h)
    return torch.stack(outs, 2), h


KERNELS: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor]]] = {
    "manual": cast(Callable[..., tuple[torch.Tensor, torch.Tensor]], _LSTMSeq.apply),
    "autograd": _lstm_autograd,
}

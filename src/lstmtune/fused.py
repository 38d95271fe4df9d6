"""Fused multi-trial training: K LSTM configurations of one shape trained as one batched model.

``vmap`` does not cover ``nn.LSTM``, so :class:`FusedLSTM` is its own model: the parameters of K
independent ``LSTMNet`` members (``cell="lstm"``, ``head="last"``, unidirectional) live in one
``[K, P]`` tensor, and every step of the recurrence is one batched matmul over the member
dimension. The time loop is a hand-written autograd function (:class:`_LSTMSeq`): the input
projection ``x @ W_ih`` for all time steps is one ``baddbmm`` outside the loop, each step does
``h @ W_hh`` plus in-place gate math without building an autograd graph, and the backward pass
is a manual BPTT whose weight gradients are one batched matmul over all time steps. On 2 CPU
cores this is ~2-3x faster per member-step than the same loop under autograd (see
``benchmarks/bench_fused.py``).

Each member keeps its own learning rate, weight decay, optimizer (Adam, AdamW, SGD-nesterov,
RMSprop, vectorised over the member rows of the flat parameter tensor), dropout rates, gradient
clipping (per-member total norm), data order (its own seeded ``randperm``), early stopping, best-
state restore and pruning. On the CPU the dropout masks are drawn from a per-member generator
that continues the global RNG stream ``training.train`` would have used after
``seed_everything(seed)`` + ``build_model``, so a fused member reproduces its unfused run (up to
float rounding). Stopped members are re-packed away at the end of the epoch in which they stop.

:func:`plan_groups` decides what to fuse: members of one shape form a group; ``fuse="auto"``
fuses a group only when :func:`calibrate` measured the fused step at least ``1/AUTO_MARGIN``
times faster than the sequential steps it replaces, on the group's actual shape.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Literal, cast

import torch
import torch.nn.functional as F
from torch import nn

from lstmtune.model import LSTMNet, build_model
from lstmtune.training import (
    ClassifyProblem,
    ForecastProblem,
    NonFiniteLoss,
    Problem,
    TensorSet,
    TrainResult,
    seed_everything,
    select_device,
)

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
#: ``auto`` fuses a group only if fused time <= AUTO_MARGIN x sequential time (calibrated)
AUTO_MARGIN = 0.8
#: on the CPU, ``auto`` does not even calibrate wider members (benchmarks/bench_fused.py on 2 cores:
#: 0.8-1.5x at 128 units, arithmetic-bound beyond)
CPU_MAX_UNITS = 128
#: a fused group never exceeds this many members under ``auto`` (memory, diminishing returns)
AUTO_MAX_MEMBERS = 64

EpochCallback = Callable[[int, float, float], Any]
MemberCallback = Callable[[int, int, float, float], Any]


# --------------------------------------------------------------------------------------------
# kernel


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
        # member-major, then time, then batch: [K, T*B, .] rows. Every per-step slice [:, t] is K
        # contiguous [B, .] blocks (what bmm takes), and the weight gradients in backward are one
        # bmm over the [K, T*B, .] views with no transposing copy of the gates or hidden states.
        xk = x.transpose(1, 2).reshape(k, t_len * b, f_in)  # a copy of the (narrow) input only
        # tanh costs ~3x sigmoid on the CPU, so there the step uses tanh(z) = 2*sigmoid(2z) - 1: the
        # g-gate rows of the weights and bias are doubled (exact in floating point), one sigmoid
        # covers all four gates, and the cell update folds the "2s - 1" in; tanh(c) likewise. Only
        # in float32: in bf16/fp16 (CUDA autocast) "2s - 1" near 0 would lose the small values that
        # tanh keeps, and on a GPU the native tanh is no slower.
        via_sigmoid = x.device.type == "cpu" and x.dtype == torch.float32
        bias = (b_ih + b_hh).unsqueeze(1)
        wih_t = w_ih.transpose(1, 2)
        whh_t = w_hh.transpose(1, 2).contiguous()
        if via_sigmoid:
            bias[..., 3 * h :] *= 2
            wih_t = wih_t.clone()
            wih_t[..., 3 * h :] *= 2
            whh_t[..., 3 * h :] *= 2
        acts = torch.baddbmm(bias, xk, wih_t).view(k, t_len, b, 4 * h)
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
        # derivative of the activations w.r.t. the pre-activations, all steps at once
        deriv = acts * (1 - acts)
        dg = deriv[..., 3 * h :]
        torch.mul(acts[..., 3 * h :], acts[..., 3 * h :], out=dg)
        dg.neg_().add_(1)
        odt = tcs * tcs
        odt.neg_().add_(1).mul_(acts[..., 2 * h : 3 * h])  # o * (1 - tanh(c)^2)
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


# --------------------------------------------------------------------------------------------
# the fused model


def _gate_perm(h: int) -> torch.Tensor:
    """torch's gate rows (i, f, g, o) <-> ours (i, f, o, g); the swap is its own inverse."""
    return torch.cat(
        [torch.arange(0, 2 * h), torch.arange(3 * h, 4 * h), torch.arange(2 * h, 3 * h)]
    )


@dataclass(frozen=True)
class _Slot:
    name: str  # LSTMNet state_dict key
    shape: tuple[int, ...]
    start: int
    gates: bool  # rows are LSTM gates (permuted internally)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def fusable(params: dict[str, Any]) -> str | None:
    """Why a configuration cannot be fused, or None when it can."""
    if str(params.get("cell", "lstm")) != "lstm":
        return "cell is not lstm"
    if str(params.get("head", "last")) != "last":
        return "head is not 'last'"
    if bool(params.get("bidirectional", False)):
        return "bidirectional LSTMs are not fused"
    if "embedding_dim" in params:
        return "text models (token embeddings) are not fused"
    return None


class FusedLSTM:
    """K ``LSTMNet`` members (lstm cell, last-state head, unidirectional) as one batched model.

    Parameters of all members are the rows of ``self.flat`` (``[K, P]``); ``dropout``,
    ``recurrent_dropout`` are ``[K]`` tensors. ``gens`` (optional, one per member) draw the dropout
    masks exactly as the member's unfused run would; without them masks come from one batched
    draw (same distribution, different stream; always so on CUDA).
    """

    def __init__(
        self,
        flat: torch.Tensor,
        *,
        n_features: int,
        n_outputs: int,
        units: int,
        num_layers: int,
        dropout: torch.Tensor,
        recurrent_dropout: torch.Tensor,
        gens: list[torch.Generator] | None = None,
        kernel: str = "manual",
    ) -> None:
        self.n_features, self.n_outputs, self.units, self.num_layers = (
            n_features,
            n_outputs,
            units,
            num_layers,
        )
        self.flat = flat
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.gens = gens
        self.kernel = kernel
        self.slots = self.layout(n_features, n_outputs, units, num_layers)
        self.training = True

    @staticmethod
    def layout(n_features: int, n_outputs: int, units: int, num_layers: int) -> list[_Slot]:
        slots: list[_Slot] = []
        start = 0

        def add(name: str, shape: tuple[int, ...], gates: bool) -> None:
            nonlocal start
            slots.append(_Slot(name, shape, start, gates))
            start += math.prod(shape)

        h4 = 4 * units
        for layer in range(num_layers):
            add(f"lstm.weight_ih_l{layer}", (h4, n_features if layer == 0 else units), True)
            add(f"lstm.weight_hh_l{layer}", (h4, units), True)
            add(f"lstm.bias_ih_l{layer}", (h4,), True)
            add(f"lstm.bias_hh_l{layer}", (h4,), True)
        add("head.weight", (n_outputs, units), False)
        add("head.bias", (n_outputs,), False)
        return slots

    @property
    def k(self) -> int:
        return int(self.flat.shape[0])

    # -- conversion ------------------------------------------------------------------------

    @staticmethod
    def _net_tensor(net: LSTMNet, name: str) -> torch.Tensor:
        if name.startswith("lstm.weight_hh_") and net.recurrent_dropout > 0:
            return cast(torch.Tensor, getattr(net, name.removeprefix("lstm.") + "_raw"))
        return cast(torch.Tensor, net.get_parameter(name))

    @classmethod
    def from_models(
        cls,
        nets: Sequence[LSTMNet],
        params_list: Sequence[dict[str, Any]],
        *,
        n_features: int,
        n_outputs: int,
        gens: list[torch.Generator] | None = None,
        device: torch.device | None = None,
        kernel: str = "manual",
    ) -> FusedLSTM:
        p0 = params_list[0]
        units, layers = int(p0["units"]), int(p0.get("num_layers", 1))
        slots = cls.layout(n_features, n_outputs, units, layers)
        perm = _gate_perm(units)
        rows = []
        for net in nets:
            parts = []
            for s in slots:
                t = cls._net_tensor(net, s.name).detach().to("cpu", torch.float32)
                if tuple(t.shape) != s.shape:
                    raise ValueError(
                        f"member shape mismatch for {s.name}: {tuple(t.shape)} != {s.shape}"
                    )
                parts.append((t.index_select(0, perm) if s.gates else t).reshape(-1))
            rows.append(torch.cat(parts))
        flat = torch.stack(rows).to(device or torch.device("cpu")).requires_grad_(True)
        dev = flat.device
        dropout = torch.tensor([float(p.get("dropout", 0.0)) for p in params_list], device=dev)
        rd = torch.tensor([float(p.get("recurrent_dropout", 0.0)) for p in params_list], device=dev)
        return cls(
            flat,
            n_features=n_features,
            n_outputs=n_outputs,
            units=units,
            num_layers=layers,
            dropout=dropout,
            recurrent_dropout=rd,
            gens=gens,
            kernel=kernel,
        )

    def member_state(
        self, k: int, flat_row: torch.Tensor | None = None, *, recurrent_dropout: bool | None = None
    ) -> dict[str, torch.Tensor]:
        """Member ``k`` as an ``LSTMNet`` state dict (``flat_row`` overrides its current weights)."""
        row = (self.flat[k] if flat_row is None else flat_row).detach().float()
        perm = _gate_perm(self.units).to(row.device)
        rd = (
            float(self.recurrent_dropout[k]) > 0 if recurrent_dropout is None else recurrent_dropout
        )
        state: dict[str, torch.Tensor] = {}
        for s in self.slots:
            t = row[s.start : s.start + s.size].view(s.shape)
            if s.gates:
                t = t.index_select(0, perm)
            name = s.name
            if rd and name.startswith("lstm.weight_hh_"):
                name = name.removeprefix("lstm.") + "_raw"
            state[name] = t.clone()
        return state

    def to_lstmnet(
        self,
        k: int,
        params: dict[str, Any],
        *,
        zero_head: bool,
        flat_row: torch.Tensor | None = None,
        net: LSTMNet | None = None,
    ) -> LSTMNet:
        """Member ``k`` as a regular ``LSTMNet`` (``net``: reuse this instance of the same config)."""
        net = net or build_model(self.n_features, self.n_outputs, params, zero_head=zero_head)
        net.load_state_dict(self.member_state(k, flat_row))
        net._drop_weights()
        return net.to(self.flat.device).eval()

    def select(self, keep: Sequence[int]) -> None:
        """Keep only members ``keep`` (re-pack: dropped members stop costing compute)."""
        idx = torch.tensor(list(keep), device=self.flat.device, dtype=torch.long)
        self.flat = self.flat.detach().index_select(0, idx).requires_grad_(True)
        self.dropout = self.dropout.index_select(0, idx)
        self.recurrent_dropout = self.recurrent_dropout.index_select(0, idx)
        if self.gens is not None:
            self.gens = [self.gens[i] for i in keep]

    # -- forward -----------------------------------------------------------------------------

    def _mask(
        self, p: torch.Tensor, shape: tuple[int, ...], permute_gates: bool = False
    ) -> torch.Tensor | None:
        """Per-member inverted-dropout masks ``[K, *shape]`` (None when no member drops)."""
        if not self.training or float(p.max()) <= 0:
            return None
        dev = self.flat.device
        if self.gens is None:
            keep = (1 - p).view(-1, *([1] * len(shape)))
            return torch.bernoulli(keep.expand(self.k, *shape).contiguous()).div_(keep)
        ps = p.tolist()
        masks = []
        for gen, pk in zip(self.gens, ps, strict=True):
            if pk > 0:  # F.dropout on the CPU: empty_like(x).bernoulli_(1 - p).div_(1 - p)
                masks.append(torch.empty(shape).bernoulli_(1 - pk, generator=gen).div_(1 - pk))
            else:
                masks.append(torch.ones(shape))
        mask = torch.stack(masks)
        if permute_gates:
            mask = mask.index_select(1, _gate_perm(self.units))
        return mask.to(dev)

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        *,
        amp_dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """``x`` ``[K, B, T, F]`` (``lengths`` ``[K, B]`` for padded sequences) -> ``[K, B, n_outputs]``."""
        k, b, t_len, _ = x.shape
        h = self.units
        parts = torch.split(self.flat, [s.size for s in self.slots], dim=1)
        w = {s.name: part.view(k, *s.shape) for s, part in zip(self.slots, parts, strict=True)}
        hh_masks = [
            self._mask(self.recurrent_dropout, (4 * h, h), permute_gates=True)
            for _ in range(self.num_layers)
        ]
        kernel = KERNELS[self.kernel]
        inp = x
        seq = last = x
        cast_to = amp_dtype
        for layer in range(self.num_layers):
            w_hh = w[f"lstm.weight_hh_l{layer}"]
            mask = hh_masks[layer]
            if mask is not None:
                w_hh = w_hh * mask
            args = [
                inp,
                w[f"lstm.weight_ih_l{layer}"],
                w_hh,
                w[f"lstm.bias_ih_l{layer}"],
                w[f"lstm.bias_hh_l{layer}"],
            ]
            if cast_to is not None:
                args = [a.to(cast_to) for a in args]
            ctx = (
                torch.autocast(device_type=x.device.type, enabled=False)
                if cast_to is not None
                else nullcontext()
            )
            with ctx:
                seq, last = kernel(*args)
            if layer < self.num_layers - 1:
                # nn.LSTM's inter-layer dropout: a mask over its time-major layer output [T, B, H]
                drop = self._mask(self.dropout, (t_len, b, h))
                inp = seq if drop is None else seq * drop.permute(0, 2, 1, 3).to(seq.dtype)
        if lengths is not None:
            idx = (lengths.to(x.device).clamp_min(1) - 1).view(k, b, 1, 1).expand(k, b, 1, h)
            pooled = seq.gather(2, idx).squeeze(2)
        else:
            pooled = last
        drop = self._mask(self.dropout, (b, h))
        if drop is not None:
            pooled = pooled * drop.to(pooled.dtype)
        head_w, head_b = w["head.weight"], w["head.bias"]
        if cast_to is not None:
            pooled, head_w, head_b = pooled.to(cast_to), head_w.to(cast_to), head_b.to(cast_to)
        return torch.baddbmm(head_b.unsqueeze(1), pooled, head_w.transpose(1, 2))

    __call__ = forward


# --------------------------------------------------------------------------------------------
# vectorised optimizers


#: optimizer kinds that share one vectorised update (Adam with L2 decay, AdamW with decoupled decay)
FAMILIES = {"adam": "adam", "adamw": "adam", "sgd": "sgd", "rmsprop": "rmsprop"}


class FusedOptimizer:
    """torch.optim's Adam / AdamW / SGD(momentum 0.9, nesterov) / RMSprop on the rows of ``[K, P]``,
    each row with its own optimizer kind, learning rate and weight decay (defaults as in
    ``training._optimizer``). Adam and AdamW rows are one update: each row carries an L2 decay
    (Adam) and a decoupled decay (AdamW), one of them zero, which adds exactly 0 / scales by
    exactly 1, so a mixed group needs no per-kind gather and scatter."""

    def __init__(
        self,
        kinds: Sequence[str],
        lr: Sequence[float],
        weight_decay: Sequence[float],
        device: torch.device,
    ) -> None:
        for kind in kinds:
            if kind not in OPTIMIZERS:
                raise ValueError(f"unknown optimizer {kind!r}")
        self.kinds = list(kinds)
        self.lr64 = list(map(float, lr))
        self.wd64 = list(map(float, weight_decay))
        self.device = device
        self.state: dict[str, torch.Tensor] = {}
        self.steps = [0] * len(self.kinds)
        self._rows()

    def _rows(self) -> None:
        """Per-row coefficient tensors ``[K, 1]`` for the current members."""

        def col(values: list[float]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float32, device=self.device).view(-1, 1)

        self.lr, self.wd = col(self.lr64), col(self.wd64)
        self.wd_l2 = col(
            [w if k != "adamw" else 0.0 for k, w in zip(self.kinds, self.wd64, strict=True)]
        )
        self.decay = col(
            [
                1.0 - lr * w if k == "adamw" else 1.0
                for k, lr, w in zip(self.kinds, self.lr64, self.wd64, strict=True)
            ]
        )
        self.any_l2 = any(
            k != "adamw" and w != 0 for k, w in zip(self.kinds, self.wd64, strict=True)
        )
        self.any_decay = any(
            k == "adamw" and w != 0 for k, w in zip(self.kinds, self.wd64, strict=True)
        )

    def select(self, keep: Sequence[int]) -> None:
        idx = torch.tensor(list(keep), dtype=torch.long, device=self.device)
        self.kinds = [self.kinds[i] for i in keep]
        self.lr64 = [self.lr64[i] for i in keep]
        self.wd64 = [self.wd64[i] for i in keep]
        self.steps = [self.steps[i] for i in keep]
        self.state = {k: v.index_select(0, idx) for k, v in self.state.items()}
        self._rows()

    def _buf(self, name: str, like: torch.Tensor) -> torch.Tensor:
        if name not in self.state:
            self.state[name] = torch.zeros_like(like)
        return self.state[name]

    @torch.no_grad()
    def step(
        self, param: torch.Tensor, grad: torch.Tensor, rows: torch.Tensor | None = None
    ) -> None:
        """Update ``param`` in place (``rows``: bool ``[K]``, members that step; default all)."""
        k = param.shape[0]
        active = list(range(k)) if rows is None else [i for i, r in enumerate(rows.tolist()) if r]
        by_family: dict[str, list[int]] = {}
        for i in active:
            by_family.setdefault(FAMILIES[self.kinds[i]], []).append(i)
        for i in active:
            self.steps[i] += 1
        for family, members in by_family.items():
            self._update(family, param, grad, None if len(members) == k else members)

    def _update(
        self, family: str, param: torch.Tensor, grad: torch.Tensor, members: list[int] | None
    ) -> None:
        names = {
            "adam": ("exp_avg", "exp_avg_sq"),
            "sgd": ("momentum",),
            "rmsprop": ("square_avg",),
        }[family]
        bufs_full = [self._buf(n, param) for n in names]
        if members is None:
            p, g, bufs, steps = param, grad, bufs_full, self.steps
            lr, wd, wd_l2, decay = self.lr, self.wd, self.wd_l2, self.decay
            any_wd = any(w != 0 for w in self.wd64)
        else:
            idx = torch.tensor(members, dtype=torch.long, device=param.device)
            p, g = param.index_select(0, idx), grad.index_select(0, idx)
            lr, wd, wd_l2, decay = (
                t.index_select(0, idx) for t in (self.lr, self.wd, self.wd_l2, self.decay)
            )
            bufs = [b.index_select(0, idx) for b in bufs_full]
            steps = [self.steps[i] for i in members]
            any_wd = any(self.wd64[i] != 0 for i in members)
        if family == "adam":
            exp_avg, exp_avg_sq = bufs
            if self.any_decay:
                p.mul_(decay)  # AdamW rows: p *= 1 - lr * wd; Adam rows: * 1.0
            if self.any_l2:
                g = g + p * wd_l2  # Adam rows: L2 into the gradient; AdamW rows: + 0
            exp_avg.lerp_(g, 0.1)
            exp_avg_sq.mul_(0.999).addcmul_(g, g, value=0.001)
            step = torch.tensor(steps, dtype=torch.float64, device=p.device).view(-1, 1)
            bc1 = 1 - 0.9**step
            bc2_sqrt = (1 - 0.999**step).sqrt()
            denom = (exp_avg_sq.sqrt() / bc2_sqrt.to(p.dtype)).add_(1e-8)
            p.sub_(exp_avg / denom * (lr / bc1.to(p.dtype)))
        elif family == "sgd":
            (buf,) = bufs
            if any_wd:
                g = g + p * wd
            if min(steps) <= 1 and max(steps) <= 1:
                buf.copy_(g)
            else:
                first = torch.tensor([s <= 1 for s in steps], device=p.device).view(-1, 1)
                buf.copy_(torch.where(first, g, buf * 0.9 + g))
            p.sub_((g + buf * 0.9) * lr)
        else:  # rmsprop
            (square_avg,) = bufs
            if any_wd:
                g = g + p * wd
            square_avg.mul_(0.99).addcmul_(g, g, value=0.01)
            p.sub_(g / square_avg.sqrt().add_(1e-8) * lr)
        if members is not None:
            idx = torch.tensor(members, dtype=torch.long, device=param.device)
            param.index_copy_(0, idx, p)
            for full, sub in zip(bufs_full, bufs, strict=True):
                full.index_copy_(0, idx, sub)


def clip_member_norms(grad: torch.Tensor, max_norm: float) -> torch.Tensor:
    """``clip_grad_norm_`` per member row of ``grad`` ``[K, P]`` (in place); returns the norms."""
    norms: torch.Tensor = torch.linalg.vector_norm(grad, 2, dim=1)
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    grad.mul_(coef.unsqueeze(1))
    return norms


# --------------------------------------------------------------------------------------------
# per-member losses and objectives


def _member_losses(
    problems: Sequence[Problem], out: torch.Tensor, y: torch.Tensor, anchor: torch.Tensor | None
) -> torch.Tensor:
    """``[K]`` training losses, each exactly ``problem.loss`` of that member's batch."""
    task = problems[0].task
    same = all(type(p) is type(problems[0]) for p in problems)
    if same and isinstance(problems[0], ForecastProblem):
        assert anchor is not None
        return ((out.float() + anchor) - y).pow(2).mean(dim=(1, 2))
    if same and isinstance(problems[0], ClassifyProblem):
        k, b, c = out.shape
        return (
            F.cross_entropy(out.float().reshape(k * b, c), y.reshape(k * b), reduction="none")
            .view(k, b)
            .mean(1)
        )
    del task
    return torch.stack(
        [
            p.loss(out[i], TensorSet(out[i], y[i], None if anchor is None else anchor[i]))
            for i, p in enumerate(problems)
        ]
    )


def _objective(
    problem: Problem, scaled: torch.Tensor, data: TensorSet, net: Callable[[], LSTMNet]
) -> float:
    """``problem.objective`` from the member's (anchored, float) validation outputs."""
    try:
        return problem.objective_from_outputs(scaled, data)
    except NotImplementedError:
        return problem.objective(net(), data)  # a task without the hook: the regular model path


# --------------------------------------------------------------------------------------------
# training


@dataclass
class FusedResult(TrainResult):
    """A member's :class:`TrainResult` plus how it ended: ``pruned`` (by its callback) or
    ``error`` (e.g. :class:`NonFiniteLoss`, which fails the trial like the unfused run)."""

    pruned: bool = False
    error: BaseException | None = None
    member: int = 0


def _stack_sets(
    sets: Sequence[TensorSet], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    n = {len(s) for s in sets}
    shapes = {tuple(s.x.shape[1:]) for s in sets}
    if len(n) != 1 or len(shapes) != 1:
        raise ValueError(
            f"fused members need the same number of windows and input shape, got {sorted(n)} / {sorted(shapes)}"
        )
    x = torch.stack([s.x for s in sets]).to(device)
    y = torch.stack([s.y for s in sets]).to(device)
    anchor = (
        None
        if sets[0].anchor is None
        else torch.stack([cast(torch.Tensor, s.anchor) for s in sets]).to(device)
    )
    lengths = (
        None
        if sets[0].lengths is None
        else torch.stack([cast(torch.Tensor, s.lengths) for s in sets]).to(device)
    )
    return x, y, anchor, lengths


def _pruned_type() -> type[BaseException]:
    try:
        import optuna

        return cast(type[BaseException], optuna.TrialPruned)
    except ImportError:  # pragma: no cover - optuna is a dependency
        return KeyboardInterrupt


def train_fused(
    problems: Sequence[Problem],
    params_list: Sequence[dict[str, Any]],
    train_sets: Sequence[TensorSet],
    val_sets: Sequence[TensorSet],
    *,
    seeds: Sequence[int],
    epochs: int | None = None,
    patience: int = 10,
    grad_clip: float = 1.0,
    device: torch.device | None = None,
    amp: bool = True,
    on_epoch: Sequence[EpochCallback | None] | MemberCallback | None = None,
    exact_rng: bool | None = None,
    kernel: str = "manual",
    repack: Literal["any", "half"] = "any",
) -> list[FusedResult]:
    """Train K configurations of one shape (see :func:`plan_groups`) as one fused model.

    Member ``k`` behaves like ``training.train(problems[k], params_list[k], train_sets[k],
    val_sets[k], seed=seeds[k], ...)``: same initial weights, data order, dropout masks (CPU,
    ``exact_rng``), optimizer, clipping, early stopping and best-state restore. ``on_epoch`` is a
    list of per-member ``(epoch, value, train_loss)`` callbacks (tuning's own) or one
    ``(member, epoch, value, train_loss)`` callback; raising ``optuna.TrialPruned`` or returning
    ``True`` stops that member (``pruned=True``, its best state so far is kept). Stopped members
    are re-packed away (``repack="any"``: at the end of every epoch in which one stops; ``"half"``:
    once at least half the current members stopped). Results are in input order, each ``.model``
    a regular ``LSTMNet``.
    """
    k_all = len(params_list)
    if not (len(problems) == len(train_sets) == len(val_sets) == len(seeds) == k_all) or k_all == 0:
        raise ValueError(
            "problems, params_list, train_sets, val_sets and seeds need one entry per member"
        )
    for p in params_list:
        why = fusable(p)
        if why:
            raise ValueError(f"cannot fuse this configuration: {why}")
    if len({shape_key(p) for p in params_list}) != 1:
        raise ValueError("fused members must share units, num_layers, lookback and batch_size")
    if any(getattr(pr, "vocab_size", None) for pr in problems):
        raise ValueError(
            "cannot fuse this configuration: text models (token embeddings) are not fused"
        )
    if len({(pr.n_features, pr.n_outputs) for pr in problems}) != 1:
        raise ValueError("fused members must share n_features and n_outputs")
    device = device or select_device()
    exact = (device.type == "cpu") if exact_rng is None else exact_rng
    if exact and device.type != "cpu":
        raise ValueError("exact_rng needs the CPU (CUDA dropout uses a different generator)")
    n_features, n_outputs = problems[0].n_features, problems[0].n_outputs

    # identical starting points: seed_everything + build_model, as training.train does
    nets, gens, data_gens = [], [], []
    for p, pr, seed in zip(params_list, problems, seeds, strict=True):
        seed_everything(int(seed))
        nets.append(build_model(n_features, n_outputs, p, zero_head=pr.zero_head))
        g = torch.Generator()
        g.set_state(torch.get_rng_state())  # the global stream train()'s dropout would continue
        gens.append(g)
        data_gens.append(torch.Generator(device="cpu").manual_seed(int(seed)))
    model = FusedLSTM.from_models(
        nets,
        params_list,
        n_features=n_features,
        n_outputs=n_outputs,
        gens=gens if exact else None,
        device=device,
        kernel=kernel,
    )
    opt = FusedOptimizer(
        [str(p.get("optimizer", "adam")) for p in params_list],
        [float(p["learning_rate"]) for p in params_list],
        [float(p.get("weight_decay", 0.0)) for p in params_list],
        device,
    )
    use_amp = amp and device.type == "cuda"
    amp_dtype: torch.dtype | None = None
    if use_amp:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    loss_scale = 2.0**16 if amp_dtype == torch.float16 else 1.0
    clean_steps = 0

    x_tr, y_tr, a_tr, l_tr = _stack_sets(train_sets, device)
    x_va, _, a_va, l_va = _stack_sets(val_sets, device)
    n = x_tr.shape[1]
    batch_size = max(1, min(int(params_list[0].get("batch_size", 32)), n))
    max_epochs = [int(epochs if epochs is not None else p["epochs"]) for p in params_list]

    alive = list(range(k_all))  # original member index of each row
    best_value = [math.inf] * k_all
    best_epoch = [0] * k_all
    best_row: list[torch.Tensor | None] = [None] * k_all
    stale = [0] * k_all
    histories: list[list[dict[str, float]]] = [[] for _ in range(k_all)]
    results: dict[int, FusedResult] = {}
    stopped_at: dict[int, tuple[int, str, BaseException | None]] = {}
    started = time.perf_counter()
    pruned_exc = _pruned_type()
    member_rows = torch.arange(k_all, device=device)
    epoch = 0
    while alive:
        epoch += 1
        model.training = True
        k = len(alive)
        perms = torch.stack([torch.randperm(n, generator=data_gens[m]) for m in alive]).to(device)
        kk = member_rows[:k].unsqueeze(1)
        total = torch.zeros(k, device=device)
        alive_idx = torch.tensor(alive, device=device)
        xs, ys = x_tr.index_select(0, alive_idx), y_tr.index_select(0, alive_idx)
        an = None if a_tr is None else a_tr.index_select(0, alive_idx)
        ln = None if l_tr is None else l_tr.index_select(0, alive_idx)
        probs = [problems[m] for m in alive]
        for i in range(0, n, batch_size):
            idx = perms[:, i : i + batch_size]
            xb, yb = xs[kk, idx], ys[kk, idx]
            ab = None if an is None else an[kk, idx]
            lb = None if ln is None else ln[kk.cpu(), idx.cpu()]
            ctx = (
                torch.autocast(device_type="cuda", dtype=amp_dtype)
                if amp_dtype is not None
                else nullcontext()
            )
            with ctx:
                out = model(xb, lb, amp_dtype=amp_dtype)
            losses = _member_losses(probs, out, yb, ab)
            model.flat.grad = None
            (losses.sum() * loss_scale).backward()  # type: ignore[no-untyped-call]
            grad = cast(torch.Tensor, model.flat.grad)
            rows = None
            if loss_scale != 1.0:
                grad.div_(loss_scale)
                finite = torch.isfinite(grad).all(dim=1)
                if not bool(finite.all()):
                    rows = finite
                    loss_scale /= 2
                    clean_steps = 0
                else:
                    clean_steps += 1
                    if clean_steps % 2000 == 0:
                        loss_scale *= 2
                grad = torch.where(finite.unsqueeze(1), grad, torch.zeros_like(grad))
            clip_member_norms(grad, grad_clip)
            opt.step(model.flat.data, grad, rows)
            total += losses.detach() * idx.shape[1]
        train_losses = (total / n).tolist()
        # validation: one fused eval forward, then each member's own objective
        model.training = False
        with torch.no_grad():
            va_idx = alive_idx
            xv = x_va.index_select(0, va_idx)
            lv = None if l_va is None else l_va.index_select(0, va_idx)
            outs = []
            for j in range(0, xv.shape[1], 4096):
                ctx = (
                    torch.autocast(device_type="cuda", dtype=amp_dtype)
                    if amp_dtype is not None
                    else nullcontext()
                )
                with ctx:
                    outs.append(
                        model(
                            xv[:, j : j + 4096],
                            None if lv is None else lv[:, j : j + 4096],
                            amp_dtype=amp_dtype,
                        ).float()
                    )
            val_out = torch.cat(outs, 1)
            if a_va is not None:
                val_out = val_out + a_va.index_select(0, va_idx)
        stop: list[int] = []
        for row, m in enumerate(alive):
            if m in results:  # stopped, waiting to be re-packed away
                continue
            tl = train_losses[row]
            if not math.isfinite(tl):
                stopped_at[m] = (
                    epoch,
                    "error",
                    NonFiniteLoss(f"training loss became {tl} at epoch {epoch}"),
                )
                stop.append(row)
                continue
            rec = {"epoch": float(epoch), "train_loss": tl}

            def net_of(row: int = row, m: int = m) -> LSTMNet:
                return model.to_lstmnet(row, params_list[m], zero_head=problems[m].zero_head)

            value = _objective(problems[m], val_out[row], val_sets[m], net_of)
            rec["objective"] = value
            histories[m].append(rec)
            if value < best_value[m]:
                best_value[m], best_epoch[m], stale[m] = value, epoch, 0
                best_row[m] = model.flat[row].detach().clone()
            else:
                stale[m] += 1
            reason = ""
            try:
                if isinstance(on_epoch, Sequence):
                    cb = on_epoch[m]
                    flag = cb(epoch, value, tl) if cb is not None else None
                elif on_epoch is not None:
                    flag = on_epoch(m, epoch, value, tl)
                else:
                    flag = None
                if flag is True:
                    reason = "pruned"
            except pruned_exc:
                reason = "pruned"
            if not reason and stale[m] >= patience:
                reason = "early"
            if not reason and epoch >= max_epochs[m]:
                reason = "done"
            if reason:
                stopped_at[m] = (epoch, reason, None)
                stop.append(row)
        for row in stop:
            m = alive[row]
            ep, reason, err = stopped_at[m]
            elapsed = time.perf_counter() - started
            row_t = best_row[m]
            if err is None and row_t is None:
                err = NonFiniteLoss("the validation objective was never finite")
            net = model.to_lstmnet(
                row, params_list[m], zero_head=problems[m].zero_head, flat_row=row_t, net=nets[m]
            )
            results[m] = FusedResult(
                net,
                best_epoch[m],
                best_value[m] if err is None else math.nan,
                ep,
                histories[m],
                elapsed,
                stopped_early=ep < max_epochs[m],
                pruned=reason == "pruned",
                error=err,
                member=m,
            )
        done_rows = [r for r, m in enumerate(alive) if m in results]
        if done_rows:
            keep = [r for r in range(len(alive)) if alive[r] not in results]
            if not keep:
                break
            # "half": stopped rows keep computing (their results are final) until half have stopped
            if repack == "any" or len(done_rows) * 2 >= len(alive):
                model.select(keep)
                opt.select(keep)
                alive = [alive[r] for r in keep]
    return [results[m] for m in range(k_all)]


# --------------------------------------------------------------------------------------------
# planning


def shape_key(params: dict[str, Any]) -> tuple[Any, ...]:
    """What fused members must share (cell/head/bidirectional: only fusable values are grouped)."""
    lookback = params.get("lookback")
    return (
        int(params["units"]),
        int(params.get("num_layers", 1)),
        None if lookback is None else int(lookback),
        int(params.get("batch_size", 32)),
        str(params.get("cell", "lstm")),
        str(params.get("head", "last")),
        bool(params.get("bidirectional", False)),
    )


_CALIBRATION: dict[tuple[Any, ...], tuple[float, float]] = {}


def calibrate(
    units: int,
    num_layers: int,
    lookback: int,
    batch_size: int,
    members: int,
    *,
    n_features: int = 1,
    n_outputs: int = 1,
    device: torch.device | None = None,
    reps: int = 5,
    steps: int = 3,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
) -> tuple[float, float]:
    """Seconds per training step: (fused step of ``members`` members, ``members`` sequential
    ``LSTMNet`` steps). Real steps (forward, backward, clipping, Adam) on random data of the actual
    shape, interleaved A/B, medians; cached per shape and device."""
    device = device or select_device()
    key = (
        device.type,
        units,
        num_layers,
        lookback,
        batch_size,
        members,
        n_features,
        n_outputs,
        dropout > 0,
        recurrent_dropout > 0,
    )
    if key in _CALIBRATION:
        return _CALIBRATION[key]
    params = {
        "units": units,
        "num_layers": num_layers,
        "batch_size": batch_size,
        "learning_rate": 1e-3,
        "dropout": dropout,
        "recurrent_dropout": recurrent_dropout,
    }
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, lookback, n_features, generator=gen).to(device)
    y = torch.randn(batch_size, n_outputs, generator=gen).to(device)
    nets = [build_model(n_features, n_outputs, params, zero_head=False) for _ in range(members)]
    fused = FusedLSTM.from_models(
        nets, [params] * members, n_features=n_features, n_outputs=n_outputs, device=device
    )
    fopt = FusedOptimizer(["adam"] * members, [1e-3] * members, [0.0] * members, device)
    xk, yk = x.expand(members, *x.shape).contiguous(), y.expand(members, *y.shape).contiguous()
    net = nets[0].to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def fused_step() -> None:
        out = fused(xk)
        fused.flat.grad = None
        (out - yk).pow(2).mean(dim=(1, 2)).sum().backward()  # type: ignore[no-untyped-call]
        grad = cast(torch.Tensor, fused.flat.grad)
        clip_member_norms(grad, 1.0)
        fopt.step(fused.flat.data, grad)

    def seq_step() -> None:
        for _ in range(members):  # the same model stands in for each member: same cost
            out = net(x)
            opt.zero_grad(set_to_none=True)
            F.mse_loss(out, y).backward()  # type: ignore[no-untyped-call]
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()

    def timed(fn: Callable[[], None]) -> float:
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        sync()
        return (time.perf_counter() - t0) / steps

    fused_step()
    seq_step()  # warm-up
    tf, ts = [], []
    for _ in range(reps):
        tf.append(timed(fused_step))
        ts.append(timed(seq_step))
    result = (statistics.median(tf), statistics.median(ts))
    _CALIBRATION[key] = result
    return result


def plan_groups(
    params_list: Sequence[dict[str, Any]],
    fuse: str | int = "auto",
    device: torch.device | None = None,
    *,
    n_features: int = 1,
    n_outputs: int = 1,
    max_members: int | None = None,
    calibrate_fn: Callable[..., tuple[float, float]] | None = None,
) -> list[list[int]]:
    """Split member indices into groups to train together; a group of one trains unfused.

    * ``fuse="off"`` (or 0/1): every member alone.
    * ``fuse=K``: members with the same :func:`shape_key` (units, num_layers, lookback,
      batch_size; lstm cell, ``last`` head, unidirectional only) in groups of at most K, in
      input order; everything else alone.
    * ``fuse="auto"``: like K = ``AUTO_MAX_MEMBERS``, then each group of size m >= 2 is kept only if
      :func:`calibrate` measures ``t_fused(m) <= AUTO_MARGIN * t_sequential(m)`` on its shape
      (else its members train alone): ``auto`` is never meant to be slower than ``off``. On the
      CPU, groups wider than ``CPU_MAX_UNITS`` units train alone without calibrating.

    Groups are ordered by their first member.
    """
    if fuse in ("off", 0, 1) or (isinstance(fuse, int) and fuse < 0):
        return [[i] for i in range(len(params_list))]
    if fuse == "auto":
        limit = max_members or AUTO_MAX_MEMBERS
    elif isinstance(fuse, int) and not isinstance(fuse, bool):
        limit = fuse
    else:
        raise ValueError(f"fuse must be 'auto', 'off' or an integer, got {fuse!r}")
    device = device or select_device()
    buckets: dict[tuple[Any, ...], list[int]] = {}
    groups: list[list[int]] = []
    for i, p in enumerate(params_list):
        if fusable(p) is not None:
            groups.append([i])
            continue
        buckets.setdefault(shape_key(p), []).append(i)
    for key, members in buckets.items():
        for j in range(0, len(members), limit):
            chunk = members[j : j + limit]
            if len(chunk) == 1:
                groups.append(chunk)
                continue
            if fuse == "auto":
                units, layers, lookback, batch_size = key[:4]
                if (
                    device.type == "cpu" and units > CPU_MAX_UNITS
                ):  # measured: fused loses there; skip calibrating
                    groups.extend([i] for i in chunk)
                    continue
                any_drop = max(float(params_list[i].get("dropout", 0.0)) for i in chunk)
                any_rd = max(float(params_list[i].get("recurrent_dropout", 0.0)) for i in chunk)
                t_fused, t_seq = (calibrate_fn or calibrate)(
                    units,
                    layers,
                    lookback or 1,
                    batch_size,
                    len(chunk),
                    n_features=n_features,
                    n_outputs=n_outputs,
                    device=device,
                    dropout=any_drop,
                    recurrent_dropout=any_rd,
                )
                if not t_fused <= AUTO_MARGIN * t_seq:
                    groups.extend([i] for i in chunk)
                    continue
            groups.append(chunk)
    groups.sort(key=lambda g: g[0])
    return groups

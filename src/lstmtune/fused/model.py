"""The fused model: K ``LSTMNet`` members of one shape as one batched model (:class:`FusedLSTM`),
and which configurations can be fused (:func:`fusable`, :func:`shape_key`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, cast

import torch

from lstmtune.fused.kernel import KERNELS
from lstmtune.model import LSTMNet, build_model


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
    for key, plain in _PLAIN_LSTM.items():
        if params.get(key, plain) != plain:
            return f"{key}={params[key]} is not fused (a plain LSTM only)"
    return None


# settings the fused kernel does not implement, with the value that means "off"
_PLAIN_LSTM: dict[str, Any] = {
    "conv": "none",
    "seq_norm": False,
    "patch": 1,
    "augment": "none",
    "label_smoothing": 0.0,
    "class_weight": "none",
}


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
        """Where each ``LSTMNet`` tensor lives in a member's row of ``flat``."""
        h4 = 4 * units
        entries: list[tuple[str, tuple[int, ...], bool]] = []
        for layer in range(num_layers):
            entries += [
                (f"lstm.weight_ih_l{layer}", (h4, n_features if layer == 0 else units), True),
                (f"lstm.weight_hh_l{layer}", (h4, units), True),
                (f"lstm.bias_ih_l{layer}", (h4,), True),
                (f"lstm.bias_hh_l{layer}", (h4,), True),
            ]
        entries += [("head.weight", (n_outputs, units), False), ("head.bias", (n_outputs,), False)]
        slots: list[_Slot] = []
        start = 0
        for name, shape, gates in entries:
            slots.append(_Slot(name, shape, start, gates))
            start += math.prod(shape)
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
    def _member_row(cls, net: LSTMNet, slots: list[_Slot], perm: torch.Tensor) -> torch.Tensor:
        """One member's parameters as a flat float32 CPU row (gate rows permuted)."""
        parts = []
        for s in slots:
            t = cls._net_tensor(net, s.name).detach().to("cpu", torch.float32)
            if tuple(t.shape) != s.shape:
                raise ValueError(
                    f"member shape mismatch for {s.name}: {tuple(t.shape)} != {s.shape}"
                )
            parts.append((t.index_select(0, perm) if s.gates else t).reshape(-1))
        return torch.cat(parts)

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
        rows = [cls._member_row(net, slots, perm) for net in nets]
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
        """Member ``k`` as an ``LSTMNet`` state dict (``flat_row`` overrides its current
        weights)."""
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
        """Member ``k`` as a regular ``LSTMNet`` (``net``: reuse this instance of the same
        config)."""
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
        """``x`` ``[K, B, T, F]`` (``lengths`` ``[K, B]`` for padded sequences) ->
        ``[K, B, n_outputs]``."""
        k = x.shape[0]
        parts = torch.split(self.flat, [s.size for s in self.slots], dim=1)
        w = {s.name: part.view(k, *s.shape) for s, part in zip(self.slots, parts, strict=True)}
        seq, last = self._lstm_layers(x, w, amp_dtype)
        pooled = self._pool(seq, last, lengths, x.device)
        head_w, head_b = w["head.weight"], w["head.bias"]
        if amp_dtype is not None:
            pooled, head_w, head_b = (
                pooled.to(amp_dtype),
                head_w.to(amp_dtype),
                head_b.to(amp_dtype),
            )
        return torch.baddbmm(head_b.unsqueeze(1), pooled, head_w.transpose(1, 2))

    __call__ = forward

    def _lstm_layers(
        self, x: torch.Tensor, w: dict[str, torch.Tensor], amp_dtype: torch.dtype | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The stacked LSTM layers (recurrent DropConnect masks drawn first, then nn.LSTM's
        inter-layer dropout): all hidden states of the last layer and its last state."""
        _, b, t_len, _ = x.shape
        h = self.units
        hh_masks = [
            self._mask(self.recurrent_dropout, (4 * h, h), permute_gates=True)
            for _ in range(self.num_layers)
        ]
        kernel = KERNELS[self.kernel]
        inp = x
        seq = last = x
        for layer in range(self.num_layers):
            args = self._layer_args(inp, w, layer, hh_masks[layer], amp_dtype)
            ctx = (
                torch.autocast(device_type=x.device.type, enabled=False)
                if amp_dtype is not None
                else nullcontext()
            )
            with ctx:
                seq, last = kernel(*args)
            if layer < self.num_layers - 1:
                # nn.LSTM's inter-layer dropout: a mask over its time-major layer output [T, B, H]
                drop = self._mask(self.dropout, (t_len, b, h))
                inp = seq if drop is None else seq * drop.permute(0, 2, 1, 3).to(seq.dtype)
        return seq, last

    @staticmethod
    def _layer_args(
        inp: torch.Tensor,
        w: dict[str, torch.Tensor],
        layer: int,
        mask: torch.Tensor | None,
        amp_dtype: torch.dtype | None,
    ) -> list[torch.Tensor]:
        """The kernel's arguments for one layer (``W_hh`` masked, cast to ``amp_dtype``)."""
        w_hh = w[f"lstm.weight_hh_l{layer}"]
        if mask is not None:
            w_hh = w_hh * mask
        args = [
            inp,
            w[f"lstm.weight_ih_l{layer}"],
            w_hh,
            w[f"lstm.bias_ih_l{layer}"],
            w[f"lstm.bias_hh_l{layer}"],
        ]
        if amp_dtype is not None:
            args = [a.to(amp_dtype) for a in args]
        return args

    def _pool(
        self,
        seq: torch.Tensor,
        last: torch.Tensor,
        lengths: torch.Tensor | None,
        device: torch.device,
    ) -> torch.Tensor:
        """The ``last`` head's input: each sequence's last real state, with dropout."""
        k, b = seq.shape[:2]
        h = self.units
        if lengths is not None:
            idx = (lengths.to(device).clamp_min(1) - 1).view(k, b, 1, 1).expand(k, b, 1, h)
            pooled = seq.gather(2, idx).squeeze(2)
        else:
            pooled = last
        drop = self._mask(self.dropout, (b, h))
        if drop is not None:
            pooled = pooled * drop.to(pooled.dtype)
        return pooled

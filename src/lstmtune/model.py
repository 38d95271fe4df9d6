"""The recurrent network: ``nn.LSTM`` or ``nn.GRU`` (cuDNN on GPU) with AWD-LSTM weight drop for
recurrent dropout, and a choice of head (last hidden state, mean pooling, attention pooling).

Sequence classification adds (:mod:`lstmtune.conv`): per-sequence z-normalisation of the input
(``seq_norm``), a convolutional branch beside the recurrent one whose pooled features are
concatenated before the head (``conv``: ``fcn`` = LSTM-FCN / MLSTM-FCN, ``inception`` = a small
InceptionTime block) and patches of ``patch`` steps read as one recurrent step (the dimension
shuffle of MLSTM-FCN generalised to any length)."""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmtune.conv import CONVS, conv_branch, masked_znorm, patch_steps, valid_mask

CELLS = ("lstm", "gru")
HEADS = ("last", "mean", "attention")


class LSTMNet(nn.Module):
    """Recurrent layers -> pooled representation -> dropout -> linear head.

    ``recurrent_dropout`` is DropConnect on the hidden-to-hidden matrices (Merity et al., 2017):
    a mask is sampled once per forward pass on ``weight_hh_l*`` and the fused kernel runs
    unchanged, unlike per-timestep dropout which forces a Python loop over ``LSTMCell``.
    ``head``: ``last`` = final hidden state of the top layer (both directions), ``mean`` = mean
    of the top layer's outputs over the valid time steps, ``attention`` = a learned softmax
    weighting of those outputs. ``zero_head`` starts the output layer at zero so a forecaster
    begins as its naive anchor. ``seq_norm``, ``conv`` / ``conv_filters`` and ``patch``: see the
    module docstring (numeric sequences only; text keeps the plain recurrent network).
    ``n_series`` / ``series_embedding_dim`` (many series, both > 0): the last input channel holds
    each window's series index, replaced by a learned embedding of that series at every step
    (as in DeepAR).
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        *,
        units: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        bidirectional: bool = False,
        zero_head: bool = False,
        cell: str = "lstm",
        head: str = "last",
        vocab_size: int | None = None,
        embedding_dim: int | None = None,
        seq_norm: bool = False,
        conv: str = "none",
        conv_filters: int = 64,
        patch: int = 1,
        n_series: int = 0,
        series_embedding_dim: int = 0,
    ) -> None:
        super().__init__()
        self.series_embedding = (
            nn.Embedding(n_series, series_embedding_dim)
            if n_series > 0 and series_embedding_dim > 0 and not vocab_size
            else None
        )
        if self.series_embedding is not None:
            n_features = n_features - 1 + series_embedding_dim
        # text: token ids -> embeddings (index 0 is padding); the recurrent input is the embedding
        self.embedding = (
            nn.Embedding(vocab_size, embedding_dim or 64, padding_idx=0) if vocab_size else None
        )
        if self.embedding is not None:
            n_features = self.embedding.embedding_dim
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if conv not in CONVS:
            raise ValueError(f"conv must be one of {CONVS}, got {conv!r}")
        if patch < 1:
            raise ValueError(f"patch must be >= 1, got {patch}")
        numeric = self.embedding is None
        self.seq_norm = bool(seq_norm) and numeric
        self.patch = int(patch) if numeric else 1
        self.conv = conv_branch(conv if numeric else "none", n_features, int(conv_filters))
        rnn_cls = nn.LSTM if cell == "lstm" else nn.GRU
        self.cell, self.head_kind = cell, head
        self.lstm: nn.LSTM | nn.GRU = rnn_cls(
            input_size=n_features * self.patch,
            hidden_size=units,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        self.directions = 2 if bidirectional else 1
        self.recurrent_dropout = float(recurrent_dropout)
        self._hh_names: list[str] = []
        if self.recurrent_dropout > 0:
            for layer in range(num_layers):
                for suffix in ("", "_reverse")[: self.directions]:
                    name = f"weight_hh_l{layer}{suffix}"
                    weight = getattr(self.lstm, name)
                    del self.lstm._parameters[name]
                    self.register_parameter(f"{name}_raw", nn.Parameter(weight.detach().clone()))
                    setattr(self.lstm, name, weight.detach().clone())
                    self._hh_names.append(name)
        width = units * self.directions
        self.attention = nn.Linear(width, 1) if head == "attention" else None
        self.head_dropout = nn.Dropout(dropout)
        conv_width = 0 if self.conv is None else self.conv.out_features
        self.head = nn.Linear(width + conv_width, n_outputs)
        if zero_head:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def _drop_weights(self) -> None:
        for name in self._hh_names:
            raw = getattr(self, f"{name}_raw")
            # view_as: a plain tensor (assigning the Parameter itself would re-register it)
            # p = 0 (PBT can perturb it there): F.dropout hands back the Parameter itself
            drop = self.training and self.recurrent_dropout > 0
            weight = F.dropout(raw, p=self.recurrent_dropout) if drop else raw.view_as(raw)
            setattr(self.lstm, name, weight)

    def _embed_series(self, x: torch.Tensor) -> torch.Tensor:
        """The last channel (the series index) replaced by that series' embedding."""
        assert self.series_embedding is not None
        index = x[:, 0, -1].round().long()
        emb = self.series_embedding(index).to(x.dtype)
        return torch.cat([x[..., :-1], emb[:, None, :].expand(-1, x.shape[1], -1)], dim=2)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        self._drop_weights()
        if self.embedding is not None:
            x = self.embedding(x)
        if self.series_embedding is not None:
            x = self._embed_series(x)
        conv_out: torch.Tensor | None = None
        if self.seq_norm or self.conv is not None:
            full_mask = valid_mask(x, lengths)
            if self.seq_norm:
                x = masked_znorm(x, full_mask)
            if self.conv is not None:
                conv_out = self.conv(x, full_mask)
        x, lengths = patch_steps(x, lengths, self.patch)
        inp: Any = x
        if lengths is not None:
            inp = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        with warnings.catch_warnings():
            # weight drop swaps plain tensors in for weight_hh: cuDNN re-packs them each call
            warnings.filterwarnings(
                "ignore", message="RNN module weights are not part of single contiguous"
            )
            out, state = self.lstm(inp)
        if self.head_kind == "last":
            h_n = state[0] if isinstance(state, tuple) else state
            pooled = h_n[-self.directions :].transpose(0, 1).reshape(x.shape[0], -1)
        else:
            if lengths is not None:
                seq, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
                mask = (
                    torch.arange(x.shape[1], device=x.device)[None, :]
                    < lengths.to(x.device)[:, None]
                )
            else:
                seq = out
                mask = torch.ones(x.shape[0], x.shape[1], dtype=torch.bool, device=x.device)
            if self.attention is None:
                m = mask.unsqueeze(-1).to(seq.dtype)
                pooled = (seq * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
            else:
                scores = self.attention(seq).squeeze(-1).masked_fill(~mask, float("-inf"))
                weights = torch.softmax(scores, dim=1).unsqueeze(-1)
                pooled = (seq * weights).sum(dim=1)
        if conv_out is not None:
            pooled = torch.cat([pooled, conv_out], dim=1)
        result: torch.Tensor = self.head(self.head_dropout(pooled))
        return result


def build_model(
    n_features: int,
    n_outputs: int,
    params: dict[str, Any],
    *,
    zero_head: bool,
    vocab_size: int | None = None,
    n_series: int = 0,
) -> LSTMNet:
    return LSTMNet(
        n_features,
        n_outputs,
        units=int(params["units"]),
        num_layers=int(params.get("num_layers", 1)),
        dropout=float(params.get("dropout", 0.0)),
        recurrent_dropout=float(params.get("recurrent_dropout", 0.0)),
        bidirectional=bool(params.get("bidirectional", False)),
        zero_head=zero_head,
        cell=str(params.get("cell", "lstm")),
        head=str(params.get("head", "last")),
        vocab_size=vocab_size,
        embedding_dim=int(params["embedding_dim"]) if vocab_size else None,
        seq_norm=bool(params.get("seq_norm", False)),
        conv=str(params.get("conv", "none")),
        conv_filters=int(params.get("conv_filters", 64)),
        patch=int(params.get("patch", 1)),
        n_series=n_series,
        series_embedding_dim=int(params.get("series_embedding_dim", 0)) if n_series else 0,
    )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

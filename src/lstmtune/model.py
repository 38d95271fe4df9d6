"""The LSTM network: ``nn.LSTM`` (cuDNN on GPU) with AWD-LSTM weight drop for recurrent dropout."""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class LSTMNet(nn.Module):
    """``nn.LSTM`` -> last hidden state (both directions) -> dropout -> linear head.

    ``recurrent_dropout`` is DropConnect on the hidden-to-hidden matrices (Merity et al., 2017):
    a mask is sampled once per forward pass on ``weight_hh_l*`` and the fused kernel runs
    unchanged, unlike per-timestep dropout which forces a Python loop over ``LSTMCell``.
    ``zero_head`` starts the head at zero so a forecaster begins as its naive anchor.
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
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_size=n_features, hidden_size=units, num_layers=num_layers, batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional,
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
        self.head_dropout = nn.Dropout(dropout)
        self.head = nn.Linear(units * self.directions, n_outputs)
        if zero_head:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def _drop_weights(self) -> None:
        for name in self._hh_names:
            raw = getattr(self, f"{name}_raw")
            # view_as: a plain tensor (assigning the Parameter itself would re-register it)
            weight = F.dropout(raw, p=self.recurrent_dropout) if self.training else raw.view_as(raw)
            setattr(self.lstm, name, weight)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        self._drop_weights()
        inp: Any = x
        if lengths is not None:
            inp = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        with warnings.catch_warnings():
            # weight drop swaps plain tensors in for weight_hh: cuDNN re-packs them each call
            warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous")
            _, (h_n, _) = self.lstm(inp)
        last = h_n[-self.directions :].transpose(0, 1).reshape(x.shape[0], -1)
        out: torch.Tensor = self.head(self.head_dropout(last))
        return out


def build_model(n_features: int, n_outputs: int, params: dict[str, Any], *, zero_head: bool) -> LSTMNet:
    return LSTMNet(
        n_features, n_outputs, units=int(params["units"]), num_layers=int(params.get("num_layers", 1)),
        dropout=float(params.get("dropout", 0.0)), recurrent_dropout=float(params.get("recurrent_dropout", 0.0)),
        bidirectional=bool(params.get("bidirectional", False)), zero_head=zero_head,
    )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

"""Convolutional parts of the sequence classifier and its per-sequence input normalisation.

* :func:`masked_znorm`: each sequence's channels z-normalised over its own valid time steps (UCR
  practice: a shape is classified, not its level or amplitude).
* :class:`FCNBranch`: the fully convolutional block of FCN / LSTM-FCN (Wang et al., 2017; Karim
  et al., 2018): three convolutions (kernels 8, 5, 3; ``filters``, ``2 * filters``, ``filters``
  channels) with batch norm and ReLU, then global average pooling over the valid steps.
* :class:`InceptionBranch`: a small InceptionTime-style block (Ismail Fawaz et al., 2020): a
  1x1 bottleneck, three parallel convolutions of growing kernel beside a max-pool + 1x1 path,
  concatenated, ``depth`` modules with a residual shortcut, then global average pooling.

Every branch takes ``[B, T, C]`` with a boolean mask ``[B, T]`` of the valid steps and keeps
padded steps at zero, so padding never leaks into the pooled features.
"""

from __future__ import annotations

import torch
from torch import nn

from lstmtune.classify_space import CONVS as CONVS  # re-exported


def valid_mask(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``[B, T]`` boolean mask of the valid steps of a padded batch ``[B, T, C]``."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :]
    if lengths is None:
        return torch.ones(x.shape[0], x.shape[1], dtype=torch.bool, device=x.device)
    return steps < lengths.to(x.device)[:, None]


def masked_znorm(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each sequence and channel minus its mean over the valid steps, divided by its standard
    deviation there (a constant channel becomes zeros); padded steps stay zero."""
    m = mask.unsqueeze(-1).to(x.dtype)
    count = m.sum(dim=1, keepdim=True).clamp_min(1.0)
    mean = (x * m).sum(dim=1, keepdim=True) / count
    centred = (x - mean) * m
    std = torch.sqrt((centred * centred).sum(dim=1, keepdim=True) / count)
    return centred / torch.where(std > eps, std, torch.ones_like(std))


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``[B, C, T]`` averaged over the valid steps -> ``[B, C]``."""
    m = mask.unsqueeze(1).to(h.dtype)
    return (h * m).sum(dim=2) / m.sum(dim=2).clamp_min(1.0)


class _ConvBN(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__()
        # "same" padding spelled out: torch warns on padding="same" with an even kernel
        self.pad = nn.ConstantPad1d(((kernel - 1) // 2, kernel // 2), 0.0)
        self.conv = nn.Conv1d(c_in, c_out, kernel, bias=False)
        self.bn = nn.BatchNorm1d(c_out)

    def forward(self, h: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.relu(self.bn(self.conv(self.pad(h)))) * m
        return out


class FCNBranch(nn.Module):
    def __init__(self, n_features: int, filters: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            [
                _ConvBN(n_features, filters, 8),
                _ConvBN(filters, 2 * filters, 5),
                _ConvBN(2 * filters, filters, 3),
            ]
        )
        self.out_features = filters

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1).to(x.dtype)
        h = x.transpose(1, 2) * m
        for block in self.blocks:
            h = block(h, m)
        return masked_mean(h, mask)


class _InceptionModule(nn.Module):
    KERNELS = (9, 19, 39)

    def __init__(self, c_in: int, filters: int) -> None:
        super().__init__()
        self.bottleneck = nn.Conv1d(c_in, filters, 1, bias=False) if c_in > 1 else None
        width = filters if c_in > 1 else c_in
        self.convs = nn.ModuleList(
            nn.Conv1d(width, filters, k, padding="same", bias=False) for k in self.KERNELS
        )
        self.pool = nn.MaxPool1d(3, stride=1, padding=1)
        self.pool_conv = nn.Conv1d(c_in, filters, 1, bias=False)
        self.bn = nn.BatchNorm1d(4 * filters)

    def forward(self, h: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        z = self.bottleneck(h) if self.bottleneck is not None else h
        # padded steps are zero; a max-pool over a zero next to negative values is harmless
        parts = [conv(z) for conv in self.convs] + [self.pool_conv(self.pool(h))]
        out: torch.Tensor = torch.relu(self.bn(torch.cat(parts, dim=1))) * m
        return out


class InceptionBranch(nn.Module):
    def __init__(self, n_features: int, filters: int, depth: int = 3) -> None:
        super().__init__()
        width = 4 * filters
        self.modules_ = nn.ModuleList(
            _InceptionModule(n_features if i == 0 else width, filters) for i in range(depth)
        )
        self.shortcut = nn.Sequential(
            nn.Conv1d(n_features, width, 1, bias=False), nn.BatchNorm1d(width)
        )
        self.out_features = width

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1).to(x.dtype)
        h0 = x.transpose(1, 2) * m
        h = h0
        for module in self.modules_:
            h = module(h, m)
        h = torch.relu(h + self.shortcut(h0)) * m
        return masked_mean(h, mask)


def conv_branch(kind: str, n_features: int, filters: int) -> FCNBranch | InceptionBranch | None:
    if kind not in CONVS:
        raise ValueError(f"conv must be one of {CONVS}, got {kind!r}")
    if kind == "fcn":
        return FCNBranch(n_features, filters)
    if kind == "inception":
        return InceptionBranch(n_features, filters)
    return None


def patch_steps(
    x: torch.Tensor, lengths: torch.Tensor | None, patch: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``[B, T, C]`` -> ``[B, ceil(T / patch), patch * C]``: the recurrent layer reads
    non-overlapping patches of ``patch`` steps as one step. It is the "dimension shuffle" of
    MLSTM-FCN (Karim et al., 2019) for ``patch >= T`` and keeps long series short for the LSTM
    while any length still fits. Masked sequences (``lengths``: classification) are zero-padded
    at the tail, which the packing skips; unmasked ones (forecast windows) at the front, so the
    last patch ends on the latest step."""
    if patch <= 1:
        return x, lengths
    b, t, c = x.shape
    steps = -(-t // patch)
    pad = steps * patch - t
    if pad:
        zeros = x.new_zeros(b, pad, c)
        x = torch.cat([x, zeros] if lengths is not None else [zeros, x], dim=1)
    out = x.reshape(b, steps, patch * c)
    if lengths is None:
        return out, None
    return out, torch.div(lengths + patch - 1, patch, rounding_mode="floor")

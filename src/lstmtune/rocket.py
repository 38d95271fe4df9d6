"""MiniRocket as a member of the published classifier, in torch (no aeon at prediction time).

MiniRocket (Dempster et al., 2021) turns a sequence into about 10 000 features: 84 fixed kernels of
length 9 (weights -1 and 2) at several dilations, each followed by the proportion of positive
values (PPV) of the convolution output above a bias taken from training data; a ridge classifier
reads the features. :class:`RocketNet` computes exactly that transform with ``conv1d`` from the
parameters aeon fitted (dilations, features per dilation, channel combinations as JSON in the
model spec; biases as a tensor) and applies the ridge classifier folded into one linear layer
(its scaling included) times a temperature that turns its scores into calibrated probabilities
(:mod:`lstmtune.rocket_fit`). Its output is logits like a network's, so it sits in an
:class:`~lstmtune.ensemble.EnsembleNet` beside the networks, saved in the same state dict and
loaded with ``weights_only=True``.

The transform follows aeon's (``aeon.transformations.collection.convolution_based.MiniRocket``):
the convolution is zero-padded to the input length; features of every other kernel (by dilation
index + kernel index) are pooled over the unpadded part only; a multivariate combination sums its
channels before the convolution (the kernel is the same for every channel, so this equals aeon's
sum of per-channel convolutions). Each sequence is extended by its last value to the length the
biases were fitted on (a longer one is read at its own length), independently of its batch.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import torch
from torch import nn

KERNEL_LENGTH = 9
INDICES = torch.tensor(list(combinations(range(KERNEL_LENGTH), 3)))  # [84, 3]: where weight is 2
CHUNK = 64  # sequences transformed at once (the PPV comparison holds chunk x features x length)


def kernels() -> torch.Tensor:
    """The 84 MiniRocket kernels ``[84, 1, 9]``: -1 everywhere, 2 at three positions."""
    weight = -torch.ones(len(INDICES), KERNEL_LENGTH)
    weight.scatter_(1, INDICES, 2.0)
    return weight.unsqueeze(1)


def channel_masks(spec: dict[str, Any], n_channels: int) -> torch.Tensor:
    """``[dilations, 84, channels]``: 1 where a (dilation, kernel) combination reads a channel
    (aeon's ``n_channels_per_combination`` / ``channel_indices``, in order)."""
    n_dil = len(spec["dilations"])
    if n_channels == 1:
        return torch.ones(n_dil, len(INDICES), 1)
    mask = torch.zeros(n_dil * len(INDICES), n_channels)
    start = 0
    for comb, count in enumerate(spec["channels_per_combination"]):
        mask[comb, spec["channel_indices"][start : start + count]] = 1.0
        start += count
    return mask.view(n_dil, len(INDICES), n_channels)


def edge_pad(x: torch.Tensor, lengths: torch.Tensor | None, length: int) -> torch.Tensor:
    """``[B, C, max(T, length)]`` from ``[B, T, C]``: each sequence extended past its own length
    by repeating its last value (aeon's MiniRocket needs equal lengths)."""
    batch, steps, _ = x.shape
    total = max(steps, length)
    t = torch.arange(total, device=x.device).expand(batch, total)
    last = (
        torch.full((batch, 1), steps - 1, device=x.device)
        if lengths is None
        else (lengths.to(x.device).long() - 1).clamp(min=0).unsqueeze(1)
    )
    index = torch.minimum(t, last).unsqueeze(2).expand(batch, total, x.shape[2])
    return torch.gather(x, 1, index).transpose(1, 2)


def ppv_features(
    x: torch.Tensor, biases: torch.Tensor, masks: torch.Tensor, spec: dict[str, Any]
) -> torch.Tensor:
    """MiniRocket features ``[B, F]`` of ``x`` ``[B, C, T]`` (aeon's order: dilation, kernel,
    feature). In float64: a constant stretch (a sequence extended by its last value) convolves to
    exactly 0, as in aeon, where float32 rounding would put it on either side of a zero bias."""
    weight = kernels().to(device=x.device, dtype=torch.float64)
    x, biases, masks = x.double(), biases.double(), masks.double()
    out, start = [], 0
    for j, (dilation, count) in enumerate(
        zip(spec["dilations"], spec["features_per_dilation"], strict=True)
    ):
        pad = (KERNEL_LENGTH - 1) * dilation // 2
        summed = torch.einsum("kc,bct->bkt", masks[j], x)
        conv = nn.functional.conv1d(
            summed, weight, padding=pad, dilation=dilation, groups=len(INDICES)
        )
        bias = biases[start : start + len(INDICES) * count].view(len(INDICES), count)
        start += len(INDICES) * count
        above = conv.unsqueeze(2) > bias.unsqueeze(0).unsqueeze(3)  # [B, 84, n, T]
        full = above.sum(dim=3) / above.shape[3]
        inner = above[..., pad : conv.shape[2] - pad].sum(dim=3) / (above.shape[3] - 2 * pad)
        pooled_full = (torch.arange(len(INDICES), device=x.device) + j) % 2 == 0
        out.append(torch.where(pooled_full.view(1, -1, 1), full, inner).flatten(1))
    return torch.cat(out, dim=1)


class RocketNet(nn.Module):
    """MiniRocket features -> the ridge classifier's scores x ``temperature``: logits ``[B,
    classes]`` of ``[B, T, C]`` sequences (``lengths``: their valid steps)."""

    biases: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    masks: torch.Tensor

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = dict(spec)
        n_features = len(INDICES) * sum(spec["features_per_dilation"])
        n_classes, n_channels = int(spec["n_outputs"]), int(spec["n_channels"])
        self.register_buffer("biases", torch.zeros(n_features))
        self.register_buffer("weight", torch.zeros(n_classes, n_features))
        self.register_buffer("bias", torch.zeros(n_classes))
        self.register_buffer("masks", channel_masks(spec, n_channels), persistent=False)

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, F]`` features of ``[B, T, C]`` sequences. Each sequence is read at its own
        length extended to the fitted one (``max(own, fitted)`` steps), whatever else is in the
        batch: a long sequence beside it does not stretch it."""
        x = x.float()
        steps = int(x.shape[1])
        own = torch.full((len(x),), steps) if lengths is None else lengths.cpu().long()
        target = own.clamp(min=int(self.spec["length"]))
        out = torch.zeros(len(x), self.biases.numel(), device=x.device)
        for size in sorted(set(target.tolist())):
            idx = torch.nonzero(target == size).flatten()
            padded = edge_pad(x[idx.to(x.device), : min(size, steps)], own[idx], size)
            for i in range(0, len(idx), CHUNK):
                rows = idx[i : i + CHUNK].to(x.device)
                out[rows] = ppv_features(
                    padded[i : i + CHUNK], self.biases, self.masks, self.spec
                ).float()
        return out

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            scores = self.features(x, lengths) @ self.weight.T + self.bias
        out: torch.Tensor = scores * float(self.spec["temperature"])
        return out

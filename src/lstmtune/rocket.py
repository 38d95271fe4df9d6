"""MiniRocket as a member of the published classifier, in torch (no aeon at prediction time).

MiniRocket (Dempster et al., 2021) turns a sequence into about 10 000 features: 84 fixed kernels of
length 9 (weights -1 and 2) at several dilations, each followed by the proportion of positive
values (PPV) of the convolution output above a bias taken from training data; a ridge classifier
reads the features. :class:`RocketNet` computes exactly that transform (the kernels as a matrix
product over each step's nine dilated neighbours) from the parameters aeon fitted (dilations,
features per dilation, channel combinations as JSON in the model spec; biases as a tensor) and
applies the ridge classifier folded into one linear layer (its scaling included) times a
temperature that turns its scores into calibrated probabilities (:mod:`lstmtune.rocket_fit`). Its
output is logits like a network's, so it sits in an :class:`~lstmtune.ensemble.EnsembleNet` beside
the networks, saved in the same state dict and loaded with ``weights_only=True``.

The transform follows aeon's (``aeon.transformations.collection.convolution_based.MiniRocket``):
the convolution is zero-padded to the input length; features of every other kernel (by dilation
index + kernel index) are pooled over the unpadded part only; a multivariate combination sums the
convolutions of the channels it reads, as aeon does. Each sequence is extended with zeros (the
per-channel scaled data's training mean) to the length the biases were fitted on (a longer one is
read at its own length), independently of its batch. Zeros, not the last value (the rule until
2026-12-02, kept for the versions registered with it: a spec without ``padding`` is ``edge``): a
short sequence repeated to the longest one's length is mostly one arbitrary value, and MiniRocket's
test accuracy on the unequal-length sets was PLAID 0.888 -> 0.940, PickupGestureWiimoteZ 0.64 ->
0.88, JapaneseVowels 0.986 -> 0.989 (three seeds' mean; aeon's ``Padder`` also fills with 0).
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import torch
from torch import nn

KERNEL_LENGTH = 9
INDICES = torch.tensor(list(combinations(range(KERNEL_LENGTH), 3)))  # [84, 3]: where weight is 2
CHUNK_BYTES = 2**22  # a chunk's per-channel convolutions (float64): small enough to stay in cache


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


# how a sequence is extended: zeros (fitted since 2026-12-02), or its last value (before)
PADDINGS = ("zero", "edge")


def zero_pad(x: torch.Tensor, lengths: torch.Tensor | None, length: int) -> torch.Tensor:
    """``[B, C, max(T, length)]`` from ``[B, T, C]``: each sequence extended past its own length
    with zeros (aeon's MiniRocket needs equal lengths)."""
    steps = x.shape[1]
    total = max(steps, length)
    out = nn.functional.pad(x, (0, 0, 0, total - steps))
    if lengths is not None:
        t = torch.arange(total, device=x.device).unsqueeze(0)
        valid = t < lengths.to(x.device).long().unsqueeze(1)
        out = out.masked_fill(~valid.unsqueeze(2), 0.0)
    return out.transpose(1, 2)


def pad_to(
    x: torch.Tensor, lengths: torch.Tensor | None, length: int, padding: str
) -> torch.Tensor:
    """:func:`zero_pad` or :func:`edge_pad`, by ``padding`` (one of :data:`PADDINGS`)."""
    return (zero_pad if padding == "zero" else edge_pad)(x, lengths, length)


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


def dilated_taps(x: torch.Tensor, dilation: int) -> torch.Tensor:
    """``[B, C, 9, T]``: the nine values a kernel of ``dilation`` reads at each step of ``x``
    ``[B, C, T]``, zero past either end (the convolution's padding keeps the length)."""
    steps, pad = x.shape[2], (KERNEL_LENGTH - 1) * dilation // 2
    padded = nn.functional.pad(x, (pad, pad))
    return torch.stack(
        [padded[..., i * dilation : i * dilation + steps] for i in range(KERNEL_LENGTH)], dim=2
    )


def convolutions(
    x: torch.Tensor, weight: torch.Tensor, mask: torch.Tensor, dilation: int
) -> torch.Tensor:
    """``[B, 84, T]``: each kernel ``weight`` ``[84, 9]`` at ``dilation`` over the sum of the
    channels its combination reads (``mask`` ``[84, C]``) of ``x`` ``[B, C, T]``."""
    per_channel = torch.einsum("ki,bcit->bckt", weight, dilated_taps(x, dilation))
    if mask.shape[1] == 1:  # one channel: every combination reads it
        return per_channel[:, 0]
    return torch.einsum("kc,bckt->bkt", mask, per_channel)


def proportions(conv: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``[B, K, n]``: the share of each of ``conv``'s ``[B, K, T]`` rows above each of its
    kernel's ``n`` biases ``[K, n]``."""
    counts = [(conv > b.view(1, -1, 1)).sum(dim=2, dtype=torch.int32) for b in bias.T]
    return torch.stack(counts, dim=2) / conv.shape[2]


def ppv_features(
    x: torch.Tensor, biases: torch.Tensor, masks: torch.Tensor, spec: dict[str, Any]
) -> torch.Tensor:
    """MiniRocket features ``[B, F]`` of ``x`` ``[B, C, T]`` (aeon's order: dilation, kernel,
    feature). In float64: the kernels' weights are -1 and 2, so each output is a sum of nine
    float32 values times small integers, exact in float64 in any order (a matrix product, not a
    grouped convolution, which is several times slower on a CPU); a constant stretch (a sequence
    extended by its last value) convolves to exactly 0, as in aeon, where float32 rounding would
    put it on either side of a zero bias. Every other kernel is pooled over the whole length,
    the rest over the part the padding does not reach."""
    weight = kernels().squeeze(1).to(device=x.device, dtype=torch.float64)  # [84, 9]
    x, biases, masks = x.double(), biases.double(), masks.double()
    out, start = [], 0
    for j, (dilation, count) in enumerate(
        zip(spec["dilations"], spec["features_per_dilation"], strict=True)
    ):
        pad = (KERNEL_LENGTH - 1) * dilation // 2
        conv = convolutions(x, weight, masks[j], dilation)
        bias = biases[start : start + len(INDICES) * count].view(len(INDICES), count)
        start += len(INDICES) * count
        full, inner = j % 2, 1 - j % 2  # the first kernel of each pooling: (k + j) even -> full
        ppv = torch.empty(len(x), len(INDICES), count, dtype=torch.float32, device=x.device)
        ppv[:, full::2] = proportions(conv[:, full::2], bias[full::2])
        ppv[:, inner::2] = proportions(conv[:, inner::2, pad : conv.shape[2] - pad], bias[inner::2])
        out.append(ppv.flatten(1))
    return torch.cat(out, dim=1)


def chunk_rows(channels: int, steps: int) -> int:
    """How many sequences of ``channels`` x ``steps`` are transformed at once: at most 64, and
    no more than keep their per-channel convolutions within :data:`CHUNK_BYTES`."""
    return max(1, min(64, CHUNK_BYTES // (channels * len(INDICES) * steps * 8)))


class RocketNet(nn.Module):
    """MiniRocket features -> the ridge classifier's scores x ``temperature``: logits ``[B,
    classes]`` of ``[B, T, C]`` sequences (``lengths``: their valid steps). With a ``floor``
    (:func:`lstmtune.rocket_fit.laplace_share`) the logits are the log of ``(1 - floor) *
    softmax + floor / classes``: no probability below ``floor / classes``."""

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
        padding = str(self.spec.get("padding", "edge"))
        out = torch.zeros(len(x), self.biases.numel(), device=x.device)
        for size in sorted(set(target.tolist())):
            idx = torch.nonzero(target == size).flatten()
            padded = pad_to(x[idx.to(x.device), : min(size, steps)], own[idx], size, padding)
            chunk = chunk_rows(padded.shape[1], size)
            for i in range(0, len(idx), chunk):
                rows = idx[i : i + chunk].to(x.device)
                out[rows] = ppv_features(
                    padded[i : i + chunk], self.biases, self.masks, self.spec
                ).float()
        return out

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            scores = self.features(x, lengths) @ self.weight.T + self.bias
        out: torch.Tensor = scores * float(self.spec["temperature"])
        floor = float(self.spec.get("floor", 0.0))  # a version fitted before: none
        if floor <= 0:
            return out
        # log((1 - floor) * softmax + floor / K): a probability no n cases can go beyond
        uniform = torch.full_like(out, math.log(floor / out.shape[1]))
        return torch.logaddexp(torch.log_softmax(out, dim=1) + math.log1p(-floor), uniform)

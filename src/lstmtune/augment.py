"""Training-time augmentation of sequence batches (classification), a searchable choice.

* ``jitter``: Gaussian noise (standard deviation 0.05 of the scaled values) on every valid step;
* ``scaling``: each sequence's channels multiplied by a factor drawn from N(1, 0.1);
* ``slice``: window slicing (Le Guennec et al., 2016): a random window of 90 % of each
  sequence's valid steps, stretched back to its length by linear interpolation;
* ``warp``: time warping (Um et al., 2017): each sequence is read along a random smooth,
  monotone time path (speed N(1, 0.2) at a few knots) that keeps its first and last steps, so
  events shift a little earlier or later, as dynamic time warping allows when it compares them.

Um et al. (2017) and Iwana & Uchida (2021) found these the safe ones for time-series
classification. Batches are ``[B, T, C]`` with lengths ``[B]`` (or ``None``: all ``T`` valid);
padded steps stay zero. The random draws come from the given generator (reproducible trials).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lstmtune.classify_space import AUGMENTS as AUGMENTS  # re-exported

JITTER_SIGMA = 0.05
SCALING_SIGMA = 0.1
SLICE_FRACTION = 0.9
WARP_SIGMA = 0.2  # time warping: the speed's standard deviation at each knot
WARP_KNOTS = 4  # ... and the knots inside the sequence


def _mask(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    if lengths is None:
        return torch.ones(x.shape[0], x.shape[1], 1, dtype=x.dtype, device=x.device)
    steps = torch.arange(x.shape[1], device=x.device)[None, :]
    return (steps < lengths.to(x.device)[:, None]).unsqueeze(-1).to(x.dtype)


def _randn(shape: tuple[int, ...], gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(shape, generator=gen).to(device=like.device, dtype=like.dtype)


def _valid_lengths(x: torch.Tensor, lengths: torch.Tensor | None) -> list[int]:
    """Each sequence's valid steps (all ``T`` without ``lengths``), read once as Python ints."""
    return [x.shape[1]] * x.shape[0] if lengths is None else [int(v) for v in lengths]


def _slice(x: torch.Tensor, lengths: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    lens = _valid_lengths(x, lengths)
    out = torch.zeros_like(x)
    starts = torch.rand(b, generator=gen)
    for i, n in enumerate(lens):
        width = max(2, round(SLICE_FRACTION * n))
        if n < 3 or width >= n:
            out[i, :n] = x[i, :n]
            continue
        start = int(starts[i] * (n - width + 1))
        window = x[i, start : start + width].T.unsqueeze(0)  # [1, C, width]
        out[i, :n] = F.interpolate(window, size=n, mode="linear", align_corners=True)[0].T
    return out


def _warp_positions(n: int, gen: torch.Generator) -> torch.Tensor:
    """Where step ``0 .. n-1`` of a warped sequence reads the original: a random smooth speed
    (N(1, WARP_SIGMA) at ``WARP_KNOTS + 2`` evenly spaced knots, linear between them, at least
    0.1), integrated and scaled so that the first and last steps stay in place."""
    knots = (1.0 + WARP_SIGMA * torch.randn(WARP_KNOTS + 2, generator=gen)).clamp(min=0.1)
    grid = torch.linspace(0, WARP_KNOTS + 1, n)
    lo = grid.floor().long().clamp(max=WARP_KNOTS)
    speed = knots[lo] + (grid - lo) * (knots[lo + 1] - knots[lo])
    cum = torch.cumsum(speed, 0) - speed[0]
    return cum / cum[-1].clamp(min=1e-9) * (n - 1)


def _warp(x: torch.Tensor, lengths: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
    out = torch.zeros_like(x)
    for i, n in enumerate(_valid_lengths(x, lengths)):
        if n < 3:
            out[i, :n] = x[i, :n]
            continue
        pos = _warp_positions(n, gen).to(device=x.device, dtype=x.dtype)
        lo = pos.floor().long().clamp(0, n - 2)
        frac = (pos - lo).unsqueeze(-1)
        out[i, :n] = x[i, lo] * (1 - frac) + x[i, lo + 1] * frac
    return out


def augment(
    kind: str, x: torch.Tensor, lengths: torch.Tensor | None, gen: torch.Generator
) -> torch.Tensor:
    """``x`` augmented by ``kind`` (one of :data:`AUGMENTS`); ``none`` returns ``x`` itself."""
    if kind == "none":
        return x
    mask = _mask(x, lengths)
    if kind == "jitter":
        return x + JITTER_SIGMA * _randn(tuple(x.shape), gen, x) * mask
    if kind == "scaling":
        return x * (1.0 + SCALING_SIGMA * _randn((x.shape[0], 1, x.shape[2]), gen, x))
    if kind == "slice":
        return _slice(x, lengths, gen)
    if kind == "warp":
        return _warp(x, lengths, gen)
    raise ValueError(f"augment must be one of {AUGMENTS}, got {kind!r}")

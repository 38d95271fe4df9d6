"""What a fused training run carries: the stacked data, the settings that stay fixed, each
member's bookkeeping, the loss scale, and each member's result (:class:`FusedResult`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import torch

from lstmtune.model import LSTMNet
from lstmtune.training import Problem, TensorSet, TrainResult

EpochCallback = Callable[[int, float, float], Any]
MemberCallback = Callable[[int, int, float, float], Any]
OnEpoch = Sequence[EpochCallback | None] | MemberCallback | None


@dataclass
class FusedResult(TrainResult):
    """A member's :class:`TrainResult` plus how it ended: ``pruned`` (by its callback) or
    ``error`` (e.g. :class:`~lstmtune.training.NonFiniteLoss`, which fails the trial like the
    unfused run)."""

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
            "fused members need the same number of windows and input shape, "
            f"got {sorted(n)} / {sorted(shapes)}"
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


@dataclass(frozen=True)
class _Data:
    """All members' training and validation tensors, stacked ``[K, N, ...]`` on the device."""

    x_tr: torch.Tensor
    y_tr: torch.Tensor
    a_tr: torch.Tensor | None
    l_tr: torch.Tensor | None
    x_va: torch.Tensor
    a_va: torch.Tensor | None
    l_va: torch.Tensor | None

    @classmethod
    def stack(
        cls, train_sets: Sequence[TensorSet], val_sets: Sequence[TensorSet], device: torch.device
    ) -> _Data:
        x_tr, y_tr, a_tr, l_tr = _stack_sets(train_sets, device)
        x_va, _, a_va, l_va = _stack_sets(val_sets, device)
        return cls(x_tr, y_tr, a_tr, l_tr, x_va, a_va, l_va)


@dataclass(frozen=True)
class _Setup:
    """What stays fixed while a group trains (per-member lists in input order)."""

    problems: Sequence[Problem]
    params_list: Sequence[dict[str, Any]]
    val_sets: Sequence[TensorSet]
    nets: list[LSTMNet]
    data_gens: list[torch.Generator]
    max_epochs: list[int]
    batch_size: int
    patience: int
    grad_clip: float
    device: torch.device
    amp_dtype: torch.dtype | None
    on_epoch: OnEpoch
    repack: Literal["any", "half"]
    pruned_exc: type[BaseException]
    started: float  # time.perf_counter() when training started


@dataclass
class _Members:
    """Per-member bookkeeping, indexed by the member's input position."""

    alive: list[int]  # original member index of each row of the fused model
    best_value: list[float]
    best_epoch: list[int]
    best_row: list[torch.Tensor | None]
    stale: list[int]
    histories: list[list[dict[str, float]]]
    results: dict[int, FusedResult]
    stopped_at: dict[int, tuple[int, str, BaseException | None]]

    @classmethod
    def start(cls, k: int) -> _Members:
        return cls(
            alive=list(range(k)),
            best_value=[math.inf] * k,
            best_epoch=[0] * k,
            best_row=[None] * k,
            stale=[0] * k,
            histories=[[] for _ in range(k)],
            results={},
            stopped_at={},
        )


@dataclass
class _LossScale:
    """Dynamic loss scaling for float16 autocast (``scale`` 1.0: no scaling and no checks)."""

    scale: float
    clean_steps: int = 0

    def unscale(self, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The unscaled gradient (non-finite rows zeroed) and which rows may step (None: all)."""
        rows = None
        if self.scale != 1.0:
            grad.div_(self.scale)
            finite = torch.isfinite(grad).all(dim=1)
            if not bool(finite.all()):
                rows = finite
                self.scale /= 2
                self.clean_steps = 0
            else:
                self.clean_steps += 1
                if self.clean_steps % 2000 == 0:
                    self.scale *= 2
            grad = torch.where(finite.unsqueeze(1), grad, torch.zeros_like(grad))
        return grad, rows

"""Train one configuration: in-memory batches, early stopping with best-epoch restore, gradient
clipping, seeding, device auto-selection and mixed precision on CUDA.

A :class:`Problem` (:mod:`lstmtune.task_problems`, its names re-exported here) turns a prepared
dataset plus hyperparameters into tensors and knows the loss and the validation objective of its
task (forecast: RMSE in original units; classify: cross-entropy). :func:`train` reports the
objective after every epoch to ``on_epoch`` (Optuna pruning, Katib's metrics collector).

A tuning trial is judged by :func:`lstmtune.crossval.fit_trial` (k-fold cross-validation for small
classification sets). Classification batches are capped so an epoch has at least
:data:`MIN_STEPS_PER_EPOCH` steps; :attr:`TrainResult.best_steps` counts the optimizer steps up to
the best epoch.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from lstmtune.config import OBJECTIVES as OBJECTIVES  # re-exported
from lstmtune.model import LSTMNet, build_model
from lstmtune.task_problems import MIN_STEPS_PER_EPOCH as MIN_STEPS_PER_EPOCH
from lstmtune.task_problems import ClassifyProblem as ClassifyProblem
from lstmtune.task_problems import ForecastProblem as ForecastProblem
from lstmtune.task_problems import Problem as Problem
from lstmtune.task_problems import TensorSet as TensorSet
from lstmtune.task_problems import TextProblem as TextProblem


class NonFiniteLoss(FloatingPointError):
    """The training loss became NaN or inf; the trial is failed with this reason."""


def select_device(preference: str = "auto") -> torch.device:
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    model: LSTMNet
    best_epoch: int
    best_value: float
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    stopped_early: bool = False
    best_steps: int = 0  # optimizer steps up to the best epoch
    fold_values: list[float] = field(default_factory=list)  # k-fold: each fold's best value
    # classification: each held-out sequence's cross-entropy (k-fold: every sequence of
    # train+val, in its order; otherwise the validation split's) — lstmtune.classify_stack
    oof_log_loss: list[float] | None = None


def _optimizer(name: str, params: Any, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay
        )
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


def make_optimizer(model: nn.Module, params: dict[str, Any]) -> torch.optim.Optimizer:
    return _optimizer(
        str(params.get("optimizer", "adam")),
        model.parameters(),
        float(params["learning_rate"]),
        float(params.get("weight_decay", 0.0)),
    )


@dataclass(frozen=True)
class _Precision:
    """Mixed precision of one run: autocast on CUDA (bf16 where supported, else fp16 with a
    gradient scaler); off on the CPU."""

    autocast: bool
    dtype: torch.dtype
    scaler: torch.amp.GradScaler


def _precision(amp: bool, device: torch.device) -> _Precision:
    use_amp = amp and device.type == "cuda"
    dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and dtype == torch.float16)
    return _Precision(use_amp, dtype, scaler)


@dataclass(frozen=True)
class _Run:
    """What every optimizer step of one training run uses."""

    problem: Problem
    model: LSTMNet
    optimizer: torch.optim.Optimizer
    precision: _Precision
    trainable: list[nn.Parameter]
    grad_clip: float


def new_model(problem: Problem, params: dict[str, Any], device: torch.device) -> LSTMNet:
    """A freshly initialised network for ``problem`` with ``params``, on ``device``."""
    return build_model(
        problem.n_features,
        problem.n_outputs,
        params,
        zero_head=problem.zero_head,
        vocab_size=problem.vocab_size,
        n_series=problem.n_series,
    ).to(device)


def _model_and_optimizer(
    problem: Problem,
    params: dict[str, Any],
    device: torch.device,
    model: LSTMNet | None,
    optimizer: torch.optim.Optimizer | None,
) -> tuple[LSTMNet, torch.optim.Optimizer]:
    """The given model and optimizer, or new ones built from ``params``."""
    if model is None:
        model = new_model(problem, params, device)
    if optimizer is None:
        optimizer = make_optimizer(model, params)
    return model, optimizer


def _step(run: _Run, batch: TensorSet) -> torch.Tensor:
    """One optimizer step on ``batch`` (gradients clipped to ``grad_clip``); its loss, on the
    device."""
    precision = run.precision
    ctx = (
        torch.autocast(device_type="cuda", dtype=precision.dtype)
        if precision.autocast
        else nullcontext()
    )
    with ctx:
        out = run.model(batch.x, batch.lengths)
    loss = run.problem.loss(out, batch)
    run.optimizer.zero_grad(set_to_none=True)
    if precision.scaler.is_enabled():  # fp16 on CUDA: scale, unscale before clipping
        precision.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
        precision.scaler.unscale_(run.optimizer)
        nn.utils.clip_grad_norm_(run.trainable, run.grad_clip, foreach=True)
        precision.scaler.step(run.optimizer)
        precision.scaler.update()
    else:
        loss.backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_(run.trainable, run.grad_clip, foreach=True)
        run.optimizer.step()
    return loss


def _train_epoch(
    run: _Run, data: TensorSet, batch_size: int, gen: torch.Generator, device: torch.device
) -> float:
    """One pass over ``data`` in an order drawn from ``gen`` (at most the problem's
    ``epoch_windows`` of it, drawn afresh every epoch); the mean training loss (one host sync per
    epoch)."""
    run.model.train()
    n = epoch_size(run.problem, len(data))
    perm = torch.randperm(len(data), generator=gen)[:n].to(device)
    total = torch.zeros((), device=device)
    for i in range(0, n, batch_size):
        batch = run.problem.augment(data.take(perm[i : i + batch_size]), gen)
        loss = _step(run, batch)
        total += loss.detach() * len(batch)
    return float(total.item()) / n


def epoch_size(problem: Problem, n: int) -> int:
    """Training items one epoch visits: all ``n``, or the problem's ``epoch_windows`` cap (many
    series: an epoch is a fresh random sample of that many windows)."""
    cap = problem.epoch_windows
    return n if cap is None else max(1, min(n, int(cap)))


@dataclass
class _Best:
    """Early stopping's record: the lowest validation objective so far, its epoch and weights, and
    the epochs since it."""

    value: float = math.inf
    epoch: int = 0
    state: dict[str, Any] | None = None
    stale: int = 0

    def observe(self, value: float, epoch: int, model: nn.Module) -> None:
        if value < self.value:
            self.value, self.epoch, self.stale = value, epoch, 0
            self.state = copy.deepcopy(model.state_dict())
        else:
            self.stale += 1


def _validated_result(
    model: LSTMNet,
    best: _Best,
    history: list[dict[str, float]],
    epochs_run: int,
    max_epochs: int,
    elapsed: float,
    steps_per_epoch: int,
    restore_best: bool,
) -> TrainResult:
    """The result of a run with a validation set: the best epoch's weights restored unless
    ``restore_best`` is False (then the last epoch's weights and objective)."""
    if best.state is None:
        raise NonFiniteLoss("the validation objective was never finite")
    if restore_best:
        model.load_state_dict(best.state)
    model.eval()
    return TrainResult(
        model,
        best.epoch,
        best.value if restore_best else history[-1]["objective"],
        epochs_run,
        history,
        elapsed,
        stopped_early=epochs_run < max_epochs,
        best_steps=best.epoch * steps_per_epoch,
    )


def train(
    problem: Problem,
    params: dict[str, Any],
    train_set: TensorSet,
    val_set: TensorSet | None,
    *,
    epochs: int | None = None,
    patience: int = 10,
    grad_clip: float = 1.0,
    seed: int = 0,
    device: torch.device | None = None,
    amp: bool = True,
    on_epoch: Callable[[int, float, float], None] | None = None,
    model: LSTMNet | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    restore_best: bool = True,
    deadline: float | None = None,
) -> TrainResult:
    """Train from scratch — or continue ``model`` with ``optimizer`` (population-based training).
    With ``val_set`` the best epoch (lowest objective) is restored unless ``restore_best`` is
    False; without it (retraining on train+val) exactly ``epochs`` epochs run. ``deadline`` (a
    ``time.time()`` value, wall-clock so that a worker process reads it alike: the tuning's time
    budget) ends a validated run after the epoch that passes it, as early stopping would: one
    slow trial no longer outlasts ``tune.timeout`` by all its remaining epochs."""
    device = device or select_device()
    seed_everything(seed)
    max_epochs = int(epochs if epochs is not None else params["epochs"])
    model, optimizer = _model_and_optimizer(problem, params, device, model, optimizer)
    trainable = [p for p in model.parameters() if p.requires_grad]
    run = _Run(problem, model, optimizer, _precision(amp, device), trainable, grad_clip)
    train_dev = train_set.to(device)
    val_dev = val_set.to(device) if val_set is not None else None
    batch_size = problem.batch_size(params, len(train_dev))
    steps_per_epoch = math.ceil(epoch_size(problem, len(train_dev)) / batch_size)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    best = _Best()
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        train_loss = _train_epoch(run, train_dev, batch_size, gen, device)
        if not math.isfinite(train_loss):
            raise NonFiniteLoss(f"training loss became {train_loss} at epoch {epoch}")
        record = {"epoch": float(epoch), "train_loss": train_loss}
        if val_dev is None:
            history.append(record)
            continue
        value = problem.objective(model, val_dev)
        record["objective"] = value
        history.append(record)
        best.observe(value, epoch, model)
        if on_epoch is not None:
            on_epoch(epoch, value, train_loss)
        if best.stale >= patience or (deadline is not None and time.time() >= deadline):
            break
    elapsed = time.perf_counter() - started
    if val_dev is None:
        return TrainResult(
            model, max_epochs, math.nan, epoch, history, elapsed, best_steps=epoch * steps_per_epoch
        )
    return _validated_result(
        model, best, history, epoch, max_epochs, elapsed, steps_per_epoch, restore_best
    )

"""Train one configuration: in-memory batches, early stopping with best-epoch restore, gradient
clipping, seeding, device auto-selection and mixed precision on CUDA.

A :class:`Problem` turns a prepared dataset plus hyperparameters into tensors and knows the loss
and the validation objective of its task (forecast: RMSE in original units; classify: cross-
entropy). :func:`train` reports the objective after every epoch to ``on_epoch`` (Optuna pruning,
Katib's metrics collector).

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
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lstmtune.augment import augment as augment_batch
from lstmtune.config import OBJECTIVES as OBJECTIVES  # re-exported
from lstmtune.features import ClassifyFeaturizer, ForecastFeaturizer, forecast_series
from lstmtune.model import LSTMNet, build_model

MIN_STEPS_PER_EPOCH = 4  # classification: batches capped to give at least this many steps


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
class TensorSet:
    x: torch.Tensor
    y: torch.Tensor
    anchor: torch.Tensor | None = None
    lengths: torch.Tensor | None = None
    raw_y: np.ndarray | None = None  # forecast targets in original units

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device) -> TensorSet:
        return TensorSet(
            self.x.to(device),
            self.y.to(device),
            None if self.anchor is None else self.anchor.to(device),
            self.lengths,  # pack_padded_sequence wants lengths on the CPU
            self.raw_y,
        )

    def take(self, idx: torch.Tensor) -> TensorSet:
        cpu_idx = idx.cpu()
        return TensorSet(
            self.x.index_select(0, idx),
            self.y.index_select(0, idx),
            None if self.anchor is None else self.anchor.index_select(0, idx),
            None if self.lengths is None else self.lengths.index_select(0, cpu_idx),
        )


class Problem:
    """Task-specific tensors, loss and objective for one hyperparameter configuration."""

    task: str
    n_features: int
    n_outputs: int
    zero_head: bool
    vocab_size: int | None = None  # text: token ids go through an embedding
    min_steps_per_epoch = 1

    def loss(self, out: torch.Tensor, batch: TensorSet) -> torch.Tensor:
        raise NotImplementedError

    def tensors(self, *splits: str) -> TensorSet:
        raise NotImplementedError

    def batch_size(self, params: dict[str, Any], n: int) -> int:
        """``params["batch_size"]``, capped by the ``n`` training items so that an epoch has at
        least ``min_steps_per_epoch`` optimizer steps."""
        size = max(1, min(int(params.get("batch_size", 32)), n))
        return max(1, min(size, math.ceil(n / self.min_steps_per_epoch)))

    def augment(self, batch: TensorSet, gen: torch.Generator) -> TensorSet:
        """A training batch as the model sees it (classification: the ``augment`` choice)."""
        return batch

    def predict_scaled(
        self, model: LSTMNet, data: TensorSet, batch_size: int = 4096
    ) -> torch.Tensor:
        outs = []
        model.eval()
        with torch.no_grad():
            for i in range(0, len(data), batch_size):
                sl = slice(i, i + batch_size)
                out = model(data.x[sl], None if data.lengths is None else data.lengths[sl])
                if data.anchor is not None:
                    out = out + data.anchor[sl]
                outs.append(out.float())
        return torch.cat(outs) if outs else torch.empty(0)

    def objective(self, model: LSTMNet, data: TensorSet) -> float:
        return self.objective_from_outputs(self.predict_scaled(model, data), data)

    def objective_from_outputs(self, scaled: torch.Tensor, data: TensorSet) -> float:
        """The validation objective from the model's (anchored) outputs on ``data``; fused
        training computes outputs for many members at once and scores each through this."""
        raise NotImplementedError


class ForecastProblem(Problem):
    task = "forecast"

    def __init__(
        self, parts: dict[str, pd.DataFrame], meta: dict[str, Any], params: dict[str, Any]
    ) -> None:
        self.featurizer = ForecastFeaturizer.from_meta(meta, params)
        self.raw = forecast_series(parts, self.featurizer.features)
        self.scaled = self.featurizer.scale(self.raw)
        self.splits = meta["splits"]
        self.n_features = self.featurizer.n_features
        self.n_outputs = self.featurizer.horizon
        self.zero_head = self.featurizer.anchor != "none"

    def ends(self, *splits: str) -> np.ndarray:
        start = self.splits[splits[0]]["start"]
        end = self.splits[splits[-1]]["end"]
        return self.featurizer.split_ends(int(start), int(end))

    def tensors(self, *splits: str) -> TensorSet:
        ends = self.ends(*splits)
        x, anchor = self.featurizer.windows(self.scaled, ends)
        y = self.featurizer.targets(self.scaled, ends)
        return TensorSet(
            torch.from_numpy(x),
            torch.from_numpy(y),
            torch.from_numpy(anchor),
            None,
            self.featurizer.raw_targets(self.raw, ends),
        )

    def loss(self, out: torch.Tensor, batch: TensorSet) -> torch.Tensor:
        assert batch.anchor is not None
        return F.mse_loss((out.float() + batch.anchor), batch.y)

    def predict(self, model: LSTMNet, data: TensorSet) -> np.ndarray:
        """Forecasts in original units, ``[N, horizon]``."""
        scaled = self.predict_scaled(model, data).cpu().numpy().astype(np.float64)
        return self.featurizer.unscale_target(scaled)

    def objective_from_outputs(self, scaled: torch.Tensor, data: TensorSet) -> float:
        assert data.raw_y is not None
        pred = self.featurizer.unscale_target(scaled.cpu().numpy().astype(np.float64))
        if not np.isfinite(pred).all():
            return math.inf
        return float(math.sqrt(float(np.mean((pred - data.raw_y) ** 2))))


class ClassifyProblem(Problem):
    """Sequence classification. Training options from ``params``: ``class_weight`` (``none`` or
    ``balanced``: cross-entropy weighted by ``n / (classes * count)`` of the training sequences),
    ``label_smoothing`` and ``augment`` (:mod:`lstmtune.augment`). The validation objective is the
    plain cross-entropy whatever they are, so trials stay comparable."""

    task = "classify"
    min_steps_per_epoch = MIN_STEPS_PER_EPOCH
    augment_kind = "none"
    label_smoothing = 0.0
    class_weights: torch.Tensor | None = None

    def __init__(
        self, parts: dict[str, pd.DataFrame], meta: dict[str, Any], params: dict[str, Any]
    ) -> None:
        self.featurizer = ClassifyFeaturizer.from_meta(meta)
        self.parts = parts
        self.label = str(meta["columns"]["label"])
        self.n_features = self.featurizer.n_features
        self.n_outputs = len(self.featurizer.classes)
        self.zero_head = False
        self.augment_kind = str(params.get("augment", "none"))
        self.label_smoothing = float(params.get("label_smoothing", 0.0))
        weighting = str(params.get("class_weight", "none"))
        if weighting not in ("none", "balanced"):
            raise ValueError(f"class_weight must be none or balanced, got {weighting!r}")
        if weighting == "balanced":
            y = self.featurizer.label_ids(parts["train"], self.label)
            counts = np.bincount(y, minlength=self.n_outputs).astype(np.float64)
            weights = len(y) / (self.n_outputs * np.maximum(counts, 1.0))
            self.class_weights = torch.tensor(weights, dtype=torch.float32)

    def tensors(self, *splits: str) -> TensorSet:
        frame = pd.concat([self.parts[s] for s in splits], ignore_index=True)
        _, padded, lengths = self.featurizer.sequences(frame)
        y = self.featurizer.label_ids(frame, self.label)
        return TensorSet(
            torch.from_numpy(padded), torch.from_numpy(y), None, torch.from_numpy(lengths)
        )

    def loss(self, out: torch.Tensor, batch: TensorSet) -> torch.Tensor:
        weight = None if self.class_weights is None else self.class_weights.to(out.device)
        return F.cross_entropy(
            out.float(), batch.y, weight=weight, label_smoothing=self.label_smoothing
        )

    def augment(self, batch: TensorSet, gen: torch.Generator) -> TensorSet:
        if self.augment_kind == "none":
            return batch
        x = augment_batch(self.augment_kind, batch.x, batch.lengths, gen)
        return TensorSet(x, batch.y, batch.anchor, batch.lengths, batch.raw_y)

    @property
    def classes(self) -> list[str]:
        return self.featurizer.classes

    def predict_proba(self, model: LSTMNet, data: TensorSet) -> np.ndarray:
        return torch.softmax(self.predict_scaled(model, data), dim=1).cpu().numpy()

    def objective_from_outputs(self, scaled: torch.Tensor, data: TensorSet) -> float:
        return float(F.cross_entropy(scaled, data.y).item())


class TextProblem(ClassifyProblem):
    """Text classification: token ids through an embedding, packed by length."""

    task = "text"

    def __init__(
        self, parts: dict[str, pd.DataFrame], meta: dict[str, Any], params: dict[str, Any]
    ) -> None:
        from lstmtune.data.text import TextFeaturizer

        self.text_featurizer = TextFeaturizer.from_meta(meta)
        self.parts = parts
        self.label = str(meta["columns"]["label"])
        self.n_features = self.text_featurizer.vocab_size
        self.vocab_size = self.text_featurizer.vocab_size
        self.n_outputs = len(self.text_featurizer.classes)
        self.zero_head = False

    @property
    def classes(self) -> list[str]:
        return self.text_featurizer.classes

    def tensors(self, *splits: str) -> TensorSet:
        frame = pd.concat([self.parts[s] for s in splits], ignore_index=True)
        ids, lengths = self.text_featurizer.encode(frame[self.text_featurizer.text_column].tolist())
        index = {c: i for i, c in enumerate(self.text_featurizer.classes)}
        y = np.asarray([index[str(v)] for v in frame[self.label]], dtype=np.int64)
        return TensorSet(
            torch.from_numpy(ids), torch.from_numpy(y), None, torch.from_numpy(lengths)
        )


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
) -> TrainResult:
    """Train from scratch — or continue ``model`` with ``optimizer`` (population-based training).
    With ``val_set`` the best epoch (lowest objective) is restored unless ``restore_best`` is
    False; without it (retraining on train+val) exactly ``epochs`` epochs run."""
    device = device or select_device()
    seed_everything(seed)
    max_epochs = int(epochs if epochs is not None else params["epochs"])
    if model is None:
        model = build_model(
            problem.n_features,
            problem.n_outputs,
            params,
            zero_head=problem.zero_head,
            vocab_size=problem.vocab_size,
        ).to(device)
    if optimizer is None:
        optimizer = make_optimizer(model, params)
    use_amp = amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    train_dev = train_set.to(device)
    val_dev = val_set.to(device) if val_set is not None else None
    n = len(train_dev)
    batch_size = problem.batch_size(params, n)
    steps_per_epoch = math.ceil(n / batch_size)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    best_value, best_epoch, best_state = math.inf, 0, None
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    stale = 0
    epoch = 0
    params_list = [p for p in model.parameters() if p.requires_grad]
    for epoch in range(1, max_epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        total = torch.zeros((), device=device)
        for i in range(0, n, batch_size):
            batch = problem.augment(train_dev.take(perm[i : i + batch_size]), gen)
            ctx = torch.autocast(device_type="cuda", dtype=amp_dtype) if use_amp else nullcontext()
            with ctx:
                out = model(batch.x, batch.lengths)
            loss = problem.loss(out, batch)
            optimizer.zero_grad(set_to_none=True)
            if scaler.is_enabled():  # fp16 on CUDA: scale, unscale before clipping
                scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(params_list, grad_clip, foreach=True)
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()  # type: ignore[no-untyped-call]
                nn.utils.clip_grad_norm_(params_list, grad_clip, foreach=True)
                optimizer.step()
            total += loss.detach() * len(batch)
        train_loss = float(total.item()) / n  # one host sync per epoch
        if not math.isfinite(train_loss):
            raise NonFiniteLoss(f"training loss became {train_loss} at epoch {epoch}")
        record = {"epoch": float(epoch), "train_loss": train_loss}
        if val_dev is None:
            history.append(record)
            continue
        value = problem.objective(model, val_dev)
        record["objective"] = value
        history.append(record)
        if value < best_value:
            best_value, best_epoch, stale = value, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
        if on_epoch is not None:
            on_epoch(epoch, value, train_loss)
        if stale >= patience:
            break
    elapsed = time.perf_counter() - started
    if val_dev is None:
        return TrainResult(
            model, max_epochs, math.nan, epoch, history, elapsed, best_steps=epoch * steps_per_epoch
        )
    if best_state is None:
        raise NonFiniteLoss("the validation objective was never finite")
    if not restore_best:
        model.eval()
        return TrainResult(
            model,
            best_epoch,
            history[-1]["objective"],
            epoch,
            history,
            elapsed,
            stopped_early=epoch < max_epochs,
            best_steps=best_epoch * steps_per_epoch,
        )
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        model,
        best_epoch,
        best_value,
        epoch,
        history,
        elapsed,
        stopped_early=epoch < max_epochs,
        best_steps=best_epoch * steps_per_epoch,
    )

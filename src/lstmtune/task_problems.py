"""The problem each task poses for one hyperparameter configuration: a :class:`Problem` turns a
prepared dataset plus hyperparameters into tensors (:class:`TensorSet`) and knows the loss and the
validation objective of its task (forecast: RMSE in original units; classify and text: cross-
entropy). Classification batches are capped so an epoch has at least :data:`MIN_STEPS_PER_EPOCH`
optimizer steps. :mod:`lstmtune.training` trains on them (and re-exports these names);
:mod:`lstmtune.problems` picks the problem of a prepared dataset.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from lstmtune.augment import augment as augment_batch
from lstmtune.features import (
    CLASSICAL_ANCHORS,
    ClassifyFeaturizer,
    ForecastFeaturizer,
    forecast_series,
)
from lstmtune.model import LSTMNet

MIN_STEPS_PER_EPOCH = 4  # classification: batches capped to give at least this many steps


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
    n_series: int = 0  # many series with a per-series embedding: the last channel is the index
    min_steps_per_epoch = 1
    epoch_windows: int | None = None  # cap on the items one epoch visits (None: all)

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
        self.fold_classical: dict[str, dict[str, Any]] = meta.get("classical_folds") or {}
        self.n_features = self.featurizer.n_features
        self.n_outputs = self.featurizer.horizon
        self.zero_head = self.featurizer.anchor != "none"

    def ends(self, *splits: str) -> np.ndarray:
        start = self.splits[splits[0]]["start"]
        end = self.splits[splits[-1]]["end"]
        return self.featurizer.split_ends(int(start), int(end))

    def tensors(self, *splits: str) -> TensorSet:
        return self.tensors_at(self.ends(*splits))

    def tensors_at(self, ends: np.ndarray, fold_start: int | None = None) -> TensorSet:
        """The windows ending at ``ends`` (rolling-origin folds pick their own). ``fold_start``:
        the first validation row of a rolling-origin fold (:mod:`lstmtune.rolling`); a classical
        anchor is then the model fitted on the rows before it (``meta["classical_folds"]``, when
        that fit succeeded), not the train split's, which has seen the fold's rows."""
        featurizer = self.featurizer
        spec = self.fold_classical.get(str(fold_start), {}).get(featurizer.anchor)
        if fold_start is not None and featurizer.anchor in CLASSICAL_ANCHORS and spec:
            featurizer = dataclasses.replace(featurizer, classical=spec)
        x, anchor = featurizer.windows(self.scaled, ends)
        y = featurizer.targets(self.scaled, ends)
        return TensorSet(
            torch.from_numpy(x),
            torch.from_numpy(y),
            torch.from_numpy(anchor),
            None,
            featurizer.raw_targets(self.raw, ends),
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

    def texts(self, *splits: str) -> tuple[list[str], np.ndarray]:
        """The raw texts of ``splits`` (in order) and their class indices, as the network reads
        them (:meth:`tensors` encodes these texts)."""
        frame = pd.concat([self.parts[s] for s in splits], ignore_index=True)
        index = {c: i for i, c in enumerate(self.text_featurizer.classes)}
        y = np.asarray([index[str(v)] for v in frame[self.label]], dtype=np.int64)
        return [str(t) for t in frame[self.text_featurizer.text_column]], y

    def tensors(self, *splits: str) -> TensorSet:
        texts, y = self.texts(*splits)
        ids, lengths = self.text_featurizer.encode(texts)
        return TensorSet(
            torch.from_numpy(ids), torch.from_numpy(y), None, torch.from_numpy(lengths)
        )

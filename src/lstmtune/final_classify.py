"""The final sequence classifier: how it is trained, and its test evaluation.

* :func:`annealed_train`: a final network is trained on train+val for its epoch budget with the
  learning rate annealed along a cosine from the configuration's rate to near zero, so the model
  is taken where the rate is small instead of at a random point of a noisy trajectory (on
  ArrowHead's 36 sequences a constant rate left the test accuracy of one retrain anywhere in
  0.46-0.77 by seed; annealed, 0.72-0.79).
* :func:`fit_ensemble`: ``evaluate.ensemble`` such networks with consecutive seeds, published as
  one :class:`~lstmtune.ensemble.EnsembleNet` that averages their class probabilities.
* (:mod:`lstmtune.classify_combine` averages those networks with MiniRocket.)
* :func:`evaluate_classify`: metrics, confusion matrix, and the majority-class, one-class, 1-NN
  DTW and MiniRocket baselines on the same test split.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from lstmtune.ensemble import EnsembleNet, member_entry
from lstmtune.evaluate import TestEvaluation, classify_baselines, classify_metrics
from lstmtune.progress import emit
from lstmtune.training import (
    ClassifyProblem,
    Problem,
    TensorSet,
    TextProblem,
    TrainResult,
    make_optimizer,
    new_model,
    seed_everything,
    train,
)

ANNEAL_PIECES = 20  # the cosine schedule runs in this many pieces of constant rate


def annealed_rate(base: float, piece: int, pieces: int) -> float:
    """The learning rate of ``piece`` (0-based) of ``pieces``: a cosine from ``base`` to zero,
    taken at the middle of the piece (the last piece runs at about 0.6 % of ``base`` for 20)."""
    return base * 0.5 * (1.0 + math.cos(math.pi * (piece + 0.5) / pieces))


def annealed_train(
    problem: Problem,
    params: dict[str, Any],
    data: TensorSet,
    *,
    epochs: int,
    seed: int,
    device: torch.device,
    grad_clip: float = 1.0,
    amp: bool = True,
) -> TrainResult:
    """Train a new network on ``data`` for ``epochs`` epochs (no validation set), the learning
    rate annealed by :func:`annealed_rate` in up to :data:`ANNEAL_PIECES` pieces (each a
    :func:`~lstmtune.training.train` call that continues the model and its optimizer, seeded
    ``seed * ANNEAL_PIECES + piece``). The history records each epoch's rate."""
    seed_everything(seed)
    model = new_model(problem, params, device)
    optimizer = make_optimizer(model, params)
    pieces = max(1, min(ANNEAL_PIECES, epochs))
    bounds = np.linspace(0, epochs, pieces + 1).round().astype(int)
    history: list[dict[str, float]] = []
    seconds, steps = 0.0, 0
    for piece in range(pieces):
        rate = annealed_rate(float(params["learning_rate"]), piece, pieces)
        for group in optimizer.param_groups:
            group["lr"] = rate
        part = train(
            problem,
            params,
            data,
            None,
            epochs=int(bounds[piece + 1] - bounds[piece]),
            grad_clip=grad_clip,
            seed=seed * ANNEAL_PIECES + piece,
            device=device,
            amp=amp,
            model=model,
            optimizer=optimizer,
        )
        offset = float(bounds[piece])
        history += [
            {**h, "epoch": h["epoch"] + offset, "learning_rate": rate} for h in part.history
        ]
        seconds += part.train_seconds
        steps += part.best_steps
    model.eval()
    return TrainResult(model, epochs, math.nan, epochs, history, seconds, best_steps=steps)


@dataclass
class FinalClassifier:
    """The published classifier: one network or an :class:`EnsembleNet` of ``members``."""

    model: nn.Module
    members: list[dict[str, Any]]  # :func:`~lstmtune.ensemble.member_entry` of each network
    train_seconds: float
    history: list[dict[str, float]]  # the first member's
    member_accuracy: list[float] = field(default_factory=list)  # each member alone, on test


def fit_ensemble(
    problem: ClassifyProblem,
    params: dict[str, Any],
    k: int,
    *,
    epochs: int,
    seed: int,
    device: torch.device,
    grad_clip: float = 1.0,
    amp: bool = True,
) -> FinalClassifier:
    """``k`` networks of ``params`` trained by :func:`annealed_train` on train+val with seeds
    ``seed .. seed + k - 1``; one network as it is, several as an :class:`EnsembleNet`. Each
    member's test accuracy is recorded (reported, never used to choose)."""
    data = problem.tensors("train", "val")
    test = problem.tensors("test")
    started = time.perf_counter()
    nets, members, accuracy = [], [], []
    history: list[dict[str, float]] = []
    for i in range(max(1, k)):
        result = annealed_train(
            problem,
            params,
            data,
            epochs=epochs,
            seed=seed + i,
            device=device,
            grad_clip=grad_clip,
            amp=amp,
        )
        net = result.model.cpu().eval()
        proba = class_proba(net, test)
        accuracy.append(float(np.mean(proba.argmax(axis=1) == test.y.cpu().numpy())))
        nets.append(net)
        members.append(member_entry(params, epochs, seed + i))
        history = history or result.history
    model: nn.Module = nets[0] if len(nets) == 1 else EnsembleNet(nets).eval()
    return FinalClassifier(model, members, time.perf_counter() - started, history, accuracy)


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> list[list[int]]:
    """Rows: true class, columns: predicted class."""
    return [
        [int(((true == i) & (predicted == j)).sum()) for j in range(n_classes)]
        for i in range(n_classes)
    ]


def class_proba(model: nn.Module, data: TensorSet, batch_size: int = 4096) -> np.ndarray:
    """``softmax(model(x, lengths))`` over ``data`` in batches: class probabilities ``[N, C]``
    (of an :class:`EnsembleNet`, the mean of its members')."""
    outs = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(data), batch_size):
            lengths = None if data.lengths is None else data.lengths[i : i + batch_size]
            outs.append(torch.softmax(model(data.x[i : i + batch_size], lengths).float(), dim=1))
    return torch.cat(outs).cpu().numpy() if outs else np.empty((0, 0), dtype=np.float32)


def ensemble_entries(final: FinalClassifier | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The spec entries (``ensemble``: the members, what the pyfunc rebuilds) and the
    evaluation entries (``ensemble``: members, seeds, each member's test accuracy;
    ``retrain_schedule``) of a final classifier; nothing for ``None``."""
    if final is None:
        return {}, {}
    record = {
        "members": len(final.members),
        "kinds": [m.get("kind", "network") for m in final.members],
        "seeds": [m["seed"] for m in final.members],
        "member_test_accuracy": [round(a, 4) for a in final.member_accuracy],
    }
    spec = {"ensemble": final.members} if len(final.members) > 1 else {}
    return spec, {"ensemble": record, "retrain_schedule": "cosine"}


def gate_for_classifier(
    ev: TestEvaluation, base: tuple[str, float], metric: str
) -> tuple[str, float]:
    """The baseline the promotion names: ``one_class`` for a classifier that predicts one class
    for every test sequence (it can at most tie that baseline, so the summary's reason says why
    it is not champion), else ``base`` (the gate's best)."""
    if ev.details.get("predicted_classes") == 1 and metric in ev.baselines.get("one_class", {}):
        return "one_class", float(ev.baselines["one_class"][metric])
    return base


def evaluate_classify(
    problem: ClassifyProblem,
    model: nn.Module,
    meta: dict[str, Any],
    seed: int,
    final: FinalClassifier | None = None,
) -> TestEvaluation:
    """Test metrics of the classifier and of its baselines (classical ones for sequence
    classification; text gets the majority class only); ``final``: how it was trained (the
    ensemble entries of the spec and of evaluation.json)."""
    test = problem.tensors("test")
    proba = class_proba(model, test)
    true = test.y.cpu().numpy()
    classes = problem.classes
    n_classes = len(classes)
    predicted = proba.argmax(axis=1)
    baselines = classify_baselines(true, classes.index(meta["majority_class"]), n_classes)
    failures: dict[str, str] = {}
    seconds: dict[str, float] = {}
    if meta["task"] == "classify":  # 1-NN DTW and MiniRocket (aeon) on the same test split
        from lstmtune.classify_baselines import classify_classical_baselines, one_class_baseline

        baselines["one_class"] = one_class_baseline(true, n_classes)
        classical, failures, seconds = classify_classical_baselines(problem, seed=seed)
        baselines.update(classical)
        for name, reason in failures.items():
            emit("warning", f"warning: baseline {name} skipped: {reason}")
    featurizer = problem.text_featurizer if isinstance(problem, TextProblem) else problem.featurizer
    spec_ensemble, details = ensemble_entries(final)
    details["predicted_classes"] = len(np.unique(predicted))
    return TestEvaluation(
        test_metrics=classify_metrics(predicted, true, n_classes),
        baselines=baselines,
        spec_extra={
            "featurizer": featurizer.to_dict(),
            "label": meta["columns"]["label"],
            "vocab_size": problem.vocab_size,
            **spec_ensemble,
        },
        details=details,
        baseline_failures=failures,
        baseline_seconds=seconds,
        confusion={
            "categories": list(classes),
            "matrix": confusion_matrix(true, predicted, n_classes),
        },
    )

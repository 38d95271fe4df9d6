"""The final sequence classifier: how it is trained, and its test evaluation.

* (:func:`lstmtune.annealed.annealed_train`: a final network, the learning rate annealed.)
* :func:`fit_ensemble`: ``evaluate.ensemble`` such networks with consecutive seeds, published as
  one :class:`~lstmtune.ensemble.EnsembleNet` that averages their class probabilities.
* (:mod:`lstmtune.classify_combine` averages those networks with MiniRocket.)
* :func:`evaluate_classify`: metrics, confusion matrix, and the majority-class, one-class and
  classical baselines (1-NN DTW and MiniRocket; text: TF-IDF + logistic regression) on the same
  test split.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from lstmtune.classify_baselines import one_class_baseline
from lstmtune.ensemble import EnsembleNet, member_entry
from lstmtune.evaluate import TestEvaluation, classify_baselines, classify_metrics
from lstmtune.progress import emit
from lstmtune.training import (
    ClassifyProblem,
    TensorSet,
    TextProblem,
)


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
    parallel: tuple[int, int | None] = (1, None),
) -> FinalClassifier:
    """``k`` networks of ``params`` trained by :func:`annealed_train` on train+val with seeds
    ``seed .. seed + k - 1`` (side by side where ``parallel`` = ``(train.parallel_fits,
    train.threads)`` allows: :func:`lstmtune.parallel_fit.fit_all`); one network as it is,
    several as an :class:`EnsembleNet`. Each member's test accuracy is recorded (reported, never
    used to choose)."""
    from lstmtune.parallel_fit import FitJob, fit_all

    test = problem.tensors("test")
    started = time.perf_counter()
    jobs = [FitJob(params, epochs, seed + i, None, grad_clip, amp) for i in range(max(1, k))]
    results = fit_all(problem, jobs, device, *parallel)
    nets = [result.model.cpu().eval() for result in results]
    accuracy = [
        float(np.mean(class_proba(net, test).argmax(axis=1) == test.y.cpu().numpy()))
        for net in nets
    ]
    members = [member_entry(params, epochs, job.seed) for job in jobs]
    model: nn.Module = nets[0] if len(nets) == 1 else EnsembleNet(nets).eval()
    return FinalClassifier(
        model, members, time.perf_counter() - started, results[0].history, accuracy
    )


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


#: a sequence classification's test split with fewer sequences than this gets a warning
FIRM_TEST_SEQUENCES = 10


def few_test_sequences(true: np.ndarray) -> str | None:
    """A warning where the test split holds fewer than :data:`FIRM_TEST_SEQUENCES` sequences or
    sequences of one class only (every test figure, and the champion decision, rest on them),
    or None."""
    n, present = len(true), len(np.unique(true))
    if n >= FIRM_TEST_SEQUENCES and present > 1:
        return None
    few = f"{n} sequence(s)" + (" of one class" if present == 1 else f" of {present} classes")
    return (
        f"warning: the test split holds {few}: the test figures and the champion decision rest"
        f" on {'it' if n == 1 else 'them'} alone (more test sequences, by data.test_size or"
        " data.split_column, give firmer ones)"
    )


def classical_baselines(
    problem: ClassifyProblem, seed: int
) -> tuple[dict[str, dict[str, float]], dict[str, str], dict[str, float]]:
    """The classical baselines on the same test split: TF-IDF + logistic regression for text
    (scikit-learn), 1-NN DTW and MiniRocket (aeon) for sequences; ``(metrics, failures ->
    reason, seconds)`` by name."""
    if isinstance(problem, TextProblem):
        from lstmtune.text_baselines import text_classical_baselines

        return text_classical_baselines(problem, seed=seed)
    from lstmtune.classify_baselines import classify_classical_baselines

    return classify_classical_baselines(problem, seed=seed)


def evaluate_classify(
    problem: ClassifyProblem,
    model: nn.Module,
    meta: dict[str, Any],
    seed: int,
    final: FinalClassifier | None = None,
) -> TestEvaluation:
    """Test metrics of the classifier and of its baselines (majority class, one class and the
    classical ones: :func:`classical_baselines`); ``final``: how it was trained (the ensemble
    entries of the spec and of evaluation.json)."""
    test = problem.tensors("test")
    proba = class_proba(model, test)
    unknown = 0
    if isinstance(problem, TextProblem):  # as served: no known word, the class shares
        texts = problem.texts("test")[0]
        proba = problem.text_featurizer.prior_where_unknown(texts, proba)
        unknown = int(problem.text_featurizer.unknown(texts).sum())
    true = test.y.cpu().numpy()
    classes = problem.classes
    n_classes = len(classes)
    predicted = proba.argmax(axis=1)
    baselines = classify_baselines(true, classes.index(meta["majority_class"]), n_classes)
    if meta["task"] == "classify" and (few := few_test_sequences(true)):
        emit("warning", few)
    baselines["one_class"] = one_class_baseline(true, n_classes)
    classical, failures, seconds = classical_baselines(problem, seed)
    baselines.update(classical)
    for name, reason in failures.items():
        emit("warning", f"warning: baseline {name} skipped: {reason}")
    featurizer = problem.text_featurizer if isinstance(problem, TextProblem) else problem.featurizer
    spec_ensemble, details = ensemble_entries(final)
    details["predicted_classes"] = len(np.unique(predicted))
    if isinstance(problem, TextProblem):
        details["test_texts_unknown"] = unknown  # of unknown words only: answered by the prior
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

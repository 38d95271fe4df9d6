"""The final classifier's test evaluation: metrics, confusion matrix, and the majority-class,
one-class, 1-NN DTW and MiniRocket baselines on the same test split."""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmtune.evaluate import TestEvaluation, classify_baselines, classify_metrics
from lstmtune.model import LSTMNet
from lstmtune.progress import emit
from lstmtune.training import ClassifyProblem, TextProblem


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> list[list[int]]:
    """Rows: true class, columns: predicted class."""
    return [
        [int(((true == i) & (predicted == j)).sum()) for j in range(n_classes)]
        for i in range(n_classes)
    ]


def evaluate_classify(
    problem: ClassifyProblem, model: LSTMNet, meta: dict[str, Any], seed: int
) -> TestEvaluation:
    """Test metrics of the classifier and of its baselines (classical ones for sequence
    classification; text gets the majority class only)."""
    test = problem.tensors("test")
    proba = problem.predict_proba(model, test)
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
    return TestEvaluation(
        test_metrics=classify_metrics(predicted, true, n_classes),
        baselines=baselines,
        spec_extra={
            "featurizer": featurizer.to_dict(),
            "label": meta["columns"]["label"],
            "vocab_size": problem.vocab_size,
        },
        baseline_failures=failures,
        baseline_seconds=seconds,
        confusion={
            "categories": list(classes),
            "matrix": confusion_matrix(true, predicted, n_classes),
        },
    )

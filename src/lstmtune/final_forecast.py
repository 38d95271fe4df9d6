"""The final forecaster: classical partners refitted on train+val, the combination weights chosen
on validation, and the test evaluation against naive and classical baselines."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from lstmtune.evaluate import (
    TestEvaluation,
    forecast_baselines,
    forecast_classical_baselines,
    forecast_metrics,
)
from lstmtune.model import LSTMNet
from lstmtune.progress import emit
from lstmtune.training import ForecastProblem


def refit_classical(
    cfg_combine: bool,
    parts: dict[str, Any],
    meta: dict[str, Any],
    params: dict[str, Any],
    fit: Callable[[Any, Any], LSTMNet],
) -> dict[str, Any] | None:
    """Refit the classical anchors on train+val (``meta`` is updated: the final model's anchors);
    with ``evaluate.combine`` return the combination chosen on validation, where ``fit`` trains
    the configuration on train with the tuning-time anchors (fitted on train)."""
    from lstmtune.classical import add_classical
    from lstmtune.combine import validation_combination

    tuning_meta = copy.deepcopy(meta)  # anchors fitted on train, as while tuning
    add_classical(meta, parts, "val", extend_space=False)  # the final model: train+val
    if not cfg_combine:
        return None
    return validation_combination(parts, tuning_meta, params, fit, meta["classical"])


def evaluate_forecast(
    problem: ForecastProblem,
    model: LSTMNet,
    meta: dict[str, Any],
    combination: dict[str, Any] | None,
) -> TestEvaluation:
    """Test metrics of the (combined) forecast and of persistence, seasonal naive, AutoARIMA and
    AutoETS on exactly the same windows."""
    from lstmtune.combine import apply

    test = problem.tensors("test")
    pred = problem.predict(model, test)
    assert test.raw_y is not None
    f = problem.featurizer
    ends = problem.ends("test")
    if combination is not None:
        partners = [k for k in combination["weights"] if k != "network"]
        combination["specs"] = {k: meta["classical"][k] for k in partners}
        pred = apply(combination, pred, problem.raw[:, f.target_index], ends, f.period)
    baselines = forecast_baselines(f, problem.raw, ends)
    fit_end = int(meta["splits"]["test"]["start"])
    classical, failures, seconds, classical_pred = forecast_classical_baselines(
        f, problem.raw, ends, fit_end
    )
    baselines.update(classical)
    for name, reason in failures.items():
        emit(
            "warning",
            f"warning: baseline {name} skipped (it could not be fitted): {reason}",
        )
    return TestEvaluation(
        test_metrics=forecast_metrics(pred, test.raw_y),
        baselines=baselines,
        spec_extra={"featurizer": f.to_dict(), "combination": combination},
        baseline_failures=failures,
        baseline_seconds=seconds,
        baseline_forecasts={k: v.tolist() for k, v in classical_pred.items()},
    )

"""The final forecaster: classical partners refitted on train+val, the combination weights chosen
on validation, the prediction intervals calibrated on validation, and the test evaluation against
naive and classical baselines."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lstmtune.evaluate import (
    TestEvaluation,
    forecast_baselines,
    forecast_classical_baselines,
    forecast_metrics,
)
from lstmtune.model import LSTMNet
from lstmtune.progress import emit
from lstmtune.training import ForecastProblem


@dataclass
class KeptFit:
    """A ``fit(problem, tensors) -> model`` that keeps the last model it trained, so the
    network trained on train for the combination also calibrates the intervals."""

    fit: Callable[[Any, Any], LSTMNet]
    model: LSTMNet | None = None

    def __call__(self, problem: Any, data: Any) -> LSTMNet:
        self.model = self.fit(problem, data)
        return self.model


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


def prepare_final(
    parts: dict[str, Any],
    meta: dict[str, Any],
    params: dict[str, Any],
    fit: Callable[[Any, Any], LSTMNet],
    *,
    combine: bool,
    levels: list[float],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Everything the final forecast needs before the network is trained on train+val:
    ``(combination or None, interval spec or None)``. The classical anchors are refitted on
    train+val when the run has them (``meta`` is updated); ``fit`` trains the configuration on
    train, once, for both the combination and the interval calibration."""
    tuning_meta = copy.deepcopy(meta)  # anchors fitted on train, as while tuning
    kept = KeptFit(fit)
    combination = None
    if meta.get("classical"):
        combination = refit_classical(combine, parts, meta, params, kept)
    if not levels:
        return combination, None
    fallback = meta.get("classical") or {}  # a partner that failed on train: its train+val fit
    return combination, calibrate_intervals(
        parts, tuning_meta, params, kept, combination, levels, fallback
    )


def validation_forecast(
    parts: dict[str, Any],
    tuning_meta: dict[str, Any],
    params: dict[str, Any],
    fit: KeptFit,
    combination: dict[str, Any] | None,
    fallback_specs: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The published forecast as it would have been made at the validation origins, out of
    sample: the network trained on train (the one the combination was chosen with, else trained
    now), its anchors and the combination's partners fitted on train. Returns ``(forecast,
    truth, origins, target series)``, forecasts and truth ``[N, horizon]`` in original units."""
    from lstmtune.combine import apply, is_mix
    from lstmtune.problems import make_problem

    problem = make_problem(parts, tuning_meta, params)
    assert isinstance(problem, ForecastProblem)
    model = fit.model if fit.model is not None else fit(problem, problem.tensors("train"))
    val = problem.tensors("val")
    assert val.raw_y is not None
    pred = problem.predict(model, val)
    f = problem.featurizer
    ends = problem.ends("val")
    series = problem.raw[:, f.target_index]
    if combination is not None and is_mix(combination):
        train_fitted = tuning_meta.get("classical") or {}
        partners = [k for k in combination["weights"] if k != "network"]
        specs = {k: train_fitted.get(k) or fallback_specs[k] for k in partners}
        pred = apply({**combination, "specs": specs}, pred, series, ends, f.period)
    return pred, val.raw_y, ends, series


def calibrate_intervals(
    parts: dict[str, Any],
    tuning_meta: dict[str, Any],
    params: dict[str, Any],
    fit: KeptFit,
    combination: dict[str, Any] | None,
    levels: list[float],
    fallback_specs: dict[str, Any],
) -> dict[str, Any]:
    """The interval spec (:func:`lstmtune.conformal.calibrate`, the scaled method) from the
    validation residuals of :func:`validation_forecast`; a warning when a level had too few
    validation origins."""
    from lstmtune.conformal import calibrate, local_scale, scale_window

    pred, true, ends, series = validation_forecast(
        parts, tuning_meta, params, fit, combination, fallback_specs
    )
    window = scale_window(int(tuning_meta["seasonal_period"]))
    spec = calibrate(pred, true, levels, scale=local_scale(series, ends, window), window=window)
    if spec["extrapolated"]:
        emit(
            "warning",
            f"warning: {len(true)} validation origins are too few for the"
            f" {', '.join(spec['extrapolated'])}% prediction interval (split conformal needs"
            " n >= L/(100-L)); its width is extrapolated from the scores' RMS (Gaussian"
            " tail, never narrower than the largest score)",
        )
    return spec


def evaluate_forecast(
    problem: ForecastProblem,
    model: LSTMNet,
    meta: dict[str, Any],
    combination: dict[str, Any] | None,
    intervals: dict[str, Any] | None = None,
) -> TestEvaluation:
    """Test metrics of the (combined) forecast and of persistence, seasonal naive, AutoARIMA and
    AutoETS on exactly the same windows; with an interval spec also the intervals' coverage and
    mean width per level (:func:`lstmtune.conformal.interval_metrics`)."""
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
        emit("warning", f"warning: baseline {name} skipped (it could not be fitted): {reason}")
    test_metrics = forecast_metrics(pred, test.raw_y)
    if intervals is not None:
        from lstmtune.conformal import origin_scale

        scale = origin_scale(intervals, problem.raw[:, f.target_index], ends)
        test_metrics.update(_interval_test_metrics(pred, test.raw_y, intervals, scale))
    return TestEvaluation(
        test_metrics=test_metrics,
        baselines=baselines,
        spec_extra={"featurizer": f.to_dict(), "combination": combination, "intervals": intervals},
        baseline_failures=failures,
        baseline_seconds=seconds,
        baseline_forecasts={k: v.tolist() for k, v in classical_pred.items()},
    )


def _interval_test_metrics(
    pred: np.ndarray, true: np.ndarray, intervals: dict[str, Any], scale: np.ndarray
) -> dict[str, float]:
    """``coverage_<L>`` and ``width_<L>`` on test; a warning when a level is far off nominal."""
    from lstmtune.conformal import FLAG_POINTS, bounds, coverage_flags, interval_metrics

    metrics = interval_metrics(true, bounds(pred, intervals, scale))
    flags = coverage_flags(metrics)
    if flags:
        emit(
            "warning",
            f"warning: prediction intervals off nominal by more than {FLAG_POINTS:g} points on"
            f" test: {'; '.join(flags)}",
        )
    return metrics

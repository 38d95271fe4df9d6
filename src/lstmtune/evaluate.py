"""Test metrics, naive baselines and the promotion decision (pure functions)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lstmtune.features import ForecastFeaturizer, anchor_fits, mae, naive_forecast, rmse

PRIMARY_METRIC = {"forecast": "rmse", "classify": "macro_f1", "text": "macro_f1"}
HIGHER_IS_BETTER = {"rmse": False, "mae": False, "accuracy": True, "macro_f1": True}


def forecast_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    return {"rmse": rmse(pred, true), "mae": mae(pred, true)}


def forecast_baselines(
    featurizer: ForecastFeaturizer, raw: np.ndarray, ends: np.ndarray
) -> dict[str, dict[str, float]]:
    """Persistence and seasonal naive on exactly the windows the model is scored on, raw values."""
    series = raw[:, featurizer.target_index]
    true = featurizer.raw_targets(raw, ends)
    h, period = featurizer.horizon, featurizer.period
    out = {"persistence": forecast_metrics(naive_forecast(series, ends, "last", h), true)}
    if len(ends) and anchor_fits("seasonal", int(ends.min()) + 1, period):
        out[f"seasonal_naive_{period}"] = forecast_metrics(
            naive_forecast(series, ends, "seasonal", h, period), true
        )
    return out


def classify_metrics(pred: np.ndarray, true: np.ndarray, n_classes: int) -> dict[str, float]:
    accuracy = float(np.mean(pred == true)) if len(true) else math.nan
    f1s = []
    for c in range(n_classes):
        tp = float(np.sum((pred == c) & (true == c)))
        fp = float(np.sum((pred == c) & (true != c)))
        fn = float(np.sum((pred != c) & (true == c)))
        if tp + fp + fn == 0:
            continue  # class absent from both: does not count
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return {"accuracy": accuracy, "macro_f1": float(np.mean(f1s)) if f1s else math.nan}


def classify_baselines(
    true: np.ndarray, majority: int, n_classes: int
) -> dict[str, dict[str, float]]:
    return {"majority_class": classify_metrics(np.full_like(true, majority), true, n_classes)}


def best_baseline(baselines: dict[str, dict[str, float]], metric: str) -> tuple[str, float]:
    values = {
        name: m[metric] for name, m in baselines.items() if metric in m and math.isfinite(m[metric])
    }
    pick = max if HIGHER_IS_BETTER[metric] else min
    name = pick(values, key=lambda k: values[k])
    return name, values[name]


def better(a: float, b: float, metric: str) -> bool:
    return a > b if HIGHER_IS_BETTER[metric] else a < b


@dataclass(frozen=True)
class Decision:
    alias: str  # "champion" or "challenger"
    reason: str


def decide_promotion(
    metric: str,
    new: float,
    champion: float | None,
    baseline: float | None = None,
    baseline_name: str = "baseline",
) -> Decision:
    """Where the alias goes for a new model version.

    The new version becomes ``champion`` only if it beats the naive baseline (when given) and
    the current champion measured on the same, new test split (when there is one). Otherwise it
    is a ``challenger`` and the champion stays where it is.
    """
    if not math.isfinite(new):
        return Decision("challenger", f"test {metric} is not finite")
    if baseline is not None and not better(new, baseline, metric):
        return Decision(
            "challenger", f"test {metric} {new:.4g} does not beat {baseline_name} ({baseline:.4g})"
        )
    if champion is None or not math.isfinite(champion):
        return Decision("champion", "no comparable champion")
    if better(new, champion, metric):
        return Decision(
            "champion",
            f"test {metric} {new:.4g} beats the champion's {champion:.4g} on the same test split",
        )
    return Decision(
        "challenger", f"test {metric} {new:.4g} does not beat the champion's {champion:.4g}"
    )

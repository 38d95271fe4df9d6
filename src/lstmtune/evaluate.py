"""Test metrics, baselines and the promotion decision (pure functions).

Baselines come in two sets, the promotion *gate* (``evaluate.gate``) names the one a new version
must beat: ``naive`` (persistence, seasonal naive; majority class) or ``classical`` (the models a
practitioner fits first — AutoARIMA and AutoETS for forecasting, 1-NN DTW and MiniRocket for
sequence classification, TF-IDF + logistic regression for text — plus the naive ones, which only
decide when every classical fit failed). A task registers its classical baseline names in
:data:`CLASSICAL_BASELINES`; every other baseline name is naive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmtune.features import ForecastFeaturizer, anchor_fits, mae, naive_forecast, rmse

if TYPE_CHECKING:
    from lstmtune.classical_fits import PendingFit

PRIMARY_METRIC = {"forecast": "rmse", "classify": "macro_f1", "text": "macro_f1"}


def primary_metric(meta: dict[str, Any]) -> str:
    """The metric the gate decides on: :data:`PRIMARY_METRIC` of the task, MASE for many series."""
    return "mase" if meta.get("panel") else PRIMARY_METRIC[str(meta["task"])]


HIGHER_IS_BETTER = {
    "rmse": False,
    "mae": False,
    "mase": False,  # many series: mean over series of the scale-free error
    "smape": False,
    "accuracy": True,
    "macro_f1": True,
}


def forecast_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """RMSE and MAE over the observed targets (a NaN in ``true``: a value ``data.missing``
    filled, see :func:`observed`)."""
    ok = np.isfinite(true)
    if not ok.all():
        pred, true = np.asarray(pred)[ok], np.asarray(true)[ok]
    return {"rmse": rmse(pred, true), "mae": mae(pred, true)}


def observed(true: np.ndarray, ends: np.ndarray, filled: list[int] | None) -> np.ndarray:
    """The targets ``[N, horizon]`` of the windows ending at ``ends``, NaN at the rows
    ``data.missing`` filled (``meta["filled_targets"]``): a forecast is scored on what was
    observed, not on a forward fill or an interpolation of it."""
    if not filled:
        return true
    rows = ends[:, None] + np.arange(1, true.shape[1] + 1)[None, :]
    out = np.array(true, dtype=np.float64)
    out[np.isin(rows, filled)] = np.nan
    return out


def forecast_baselines(
    featurizer: ForecastFeaturizer,
    raw: np.ndarray,
    ends: np.ndarray,
    filled: list[int] | None = None,
) -> dict[str, dict[str, float]]:
    """Persistence and seasonal naive on exactly the windows the model is scored on, raw values
    (``filled``: target rows not observed, left out as in :func:`observed`)."""
    series = raw[:, featurizer.target_index]
    true = observed(featurizer.raw_targets(raw, ends), ends, filled)
    h, period = featurizer.horizon, featurizer.period
    out = {"persistence": forecast_metrics(naive_forecast(series, ends, "last", h), true)}
    if len(ends) and anchor_fits("seasonal", int(ends.min()) + 1, period):
        out[f"seasonal_naive_{period}"] = forecast_metrics(
            naive_forecast(series, ends, "seasonal", h, period), true
        )
    return out


def forecast_classical_baselines(
    featurizer: ForecastFeaturizer,
    raw: np.ndarray,
    ends: np.ndarray,
    fit_end: int,
    kinds: tuple[str, ...] = ("arima", "ets"),
    pending: PendingFit | None = None,
    filled: list[int] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, str], dict[str, float], dict[str, np.ndarray]]:
    """AutoARIMA and AutoETS (statsforecast, season from the data) fitted on ``raw[:fit_end]``
    (train+val) and scored on exactly the windows the model is scored on: one forecast of the
    horizon per origin in ``ends`` with the true history, nothing refitted.

    Returns ``(metrics, failures -> reason, seconds, forecasts [N, horizon])`` by baseline name;
    a model that cannot be fitted is reported in the failures, never raised. ``pending`` (the
    step's :class:`~lstmtune.classical_fits.PendingFit`) hands over the forecasts its child
    process made when they are these (AutoARIMA and AutoETS of this series and fit)."""
    series = raw[:, featurizer.target_index]
    true = observed(featurizer.raw_targets(raw, ends), ends, filled)
    h, period = featurizer.horizon, featurizer.period
    got = None
    if pending is not None and kinds == ("arima", "ets") and pending.fit_end == fit_end:
        got = pending.baselines(series, ends, h, period)
    if got is None:
        from lstmtune.classical import classical_baselines

        got = classical_baselines(series, fit_end, ends, h, period, kinds)
    preds, failed, seconds = got
    return {k: forecast_metrics(p, true) for k, p in preds.items()}, failed, seconds, preds


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


#: scores this close (relative) are a tie: a published forecast that is a classical baseline's
#: own model (the network left out) must not beat it by rounding — the JSON recursion and
#: statsforecast's in-sample values of one ARIMA with MA terms differ by up to 1e-5 of the RMSE
TIE_TOLERANCE = 1e-4


def tied(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=TIE_TOLERANCE, abs_tol=0.0)


def better(a: float, b: float, metric: str) -> bool:
    """``a`` is better than ``b`` on ``metric`` (a tie is not)."""
    if tied(a, b):
        return False
    return a > b if HIGHER_IS_BETTER[metric] else a < b


GATES = ("classical", "naive")
# baseline names (keys of ``baseline_metrics``) that belong to the classical set, per task
CLASSICAL_BASELINES: dict[str, frozenset[str]] = {
    "forecast": frozenset({"auto_arima", "auto_ets"}),
    "classify": frozenset({"1nn_dtw", "1nn_dtw_w10", "minirocket"}),  # classify_baselines
    "text": frozenset({"tfidf_logreg"}),  # text_baselines
}


# what a baseline's name does not say, in the promotion reason (the summary's one line)
BASELINE_NOTES = {
    "one_class": (
        ", the best score of one class predicted for every test sequence; a model that does"
        " that can at most tie it"
    ),
}


def baseline_set(task: str, name: str) -> str:
    """``classical`` or ``naive``: the set a baseline of ``task`` belongs to."""
    return "classical" if name in CLASSICAL_BASELINES.get(task, frozenset()) else "naive"


def gate_baselines(
    task: str, baselines: dict[str, dict[str, float]], gate: str
) -> dict[str, dict[str, float]]:
    """The baselines a new version must beat under ``gate``: the naive ones (``naive``), or every
    baseline (``classical``: the classical ones, and the naive ones in case a classical fit
    failed)."""
    if gate not in GATES:
        raise ValueError(f"evaluate.gate must be one of {GATES}, got {gate!r}")
    if gate == "classical":
        return dict(baselines)
    return {k: v for k, v in baselines.items() if baseline_set(task, k) == "naive"}


def gate_baseline(
    task: str, baselines: dict[str, dict[str, float]], metric: str, gate: str
) -> tuple[str, float]:
    """The best baseline on ``metric`` among those ``gate`` counts (name, value)."""
    return best_baseline(gate_baselines(task, baselines, gate), metric)


def margin(new: float, reference: float, metric: str) -> str:
    """How far ``new`` is from ``reference``, in words (``12.3% worse``; ``a tie`` when equal:
    a classifier that equals MiniRocket's test score neither beats nor trails it)."""
    if tied(new, reference):
        return "a tie"
    if reference == 0 or not (math.isfinite(new) and math.isfinite(reference)):
        return f"by {abs(new - reference):.4g}"
    worse = not better(new, reference, metric)
    pct = abs(new - reference) / abs(reference) * 100
    return f"{pct:.1f}% {'worse' if worse else 'better'}"


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

    The new version becomes ``champion`` only if it beats the gate's best baseline (when given:
    :func:`gate_baseline`) and
    the current champion measured on the same, new test split (when there is one). Otherwise it
    is a ``challenger`` and the champion stays where it is.
    """
    if not math.isfinite(new):
        return Decision("challenger", f"test {metric} is not finite")
    if baseline is not None and not better(new, baseline, metric):
        note = BASELINE_NOTES.get(baseline_name, "")
        return Decision(
            "challenger",
            f"test {metric} {new:.4g} does not beat {baseline_name} ({baseline:.4g}{note}):"
            f" {margin(new, baseline, metric)}",
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


@dataclass
class TestEvaluation:
    """A retrained model scored on the test split, beside its baselines (one task's view)."""

    test_metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    spec_extra: dict[str, Any]  # task-specific entries of the saved model's spec
    baseline_failures: dict[str, str] = field(default_factory=dict)
    baseline_seconds: dict[str, float] = field(default_factory=dict)
    baseline_forecasts: dict[str, list[Any]] = field(default_factory=dict)
    confusion: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)  # more entries of evaluation.json

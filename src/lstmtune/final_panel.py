"""The final model of many series on test: metrics over all series, the same baselines per
series aggregated the same way, and a per-series table.

RMSE and MAE in original units pool every window (large series dominate them); MASE (each
series' MAE over its in-sample seasonal-naive MAE on train, as in M4) and sMAPE are averaged
over series, and MASE is the metric the gate decides on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lstmtune.evaluate import TestEvaluation
from lstmtune.features import anchor_fits, naive_forecast
from lstmtune.model import LSTMNet
from lstmtune.panel_problem import (
    PanelForecastProblem,
    PanelTensorSet,
    mean_mase,
    mean_smape,
    unscaled,
    unscaled_warning,
)
from lstmtune.progress import emit

CLASSICAL_MAX_SERIES = 200  # per-series AutoARIMA/AutoETS baselines up to this many series


def panel_metrics(
    pred: np.ndarray, true: np.ndarray, series: np.ndarray, scales: np.ndarray
) -> dict[str, float]:
    """Pooled RMSE and MAE and the means over series of MASE and sMAPE, over the observed
    targets (a NaN in ``true``: a value ``data.missing`` filled, see :func:`panel_observed`)."""
    err = (pred - true)[np.isfinite(true)]
    return {
        "rmse": float(np.sqrt(np.mean(err**2))) if err.size else float("nan"),
        "mae": float(np.mean(np.abs(err))) if err.size else float("nan"),
        "mase": mean_mase(pred, true, series, scales),
        "smape": mean_smape(pred, true, series, scales),
    }


def panel_observed(
    problem: PanelForecastProblem, meta: dict[str, Any], true: np.ndarray, series: np.ndarray
) -> np.ndarray:
    """The stacked test targets with NaN where ``data.missing`` filled a series' value (each
    member's ``filled_targets``, rows of its own history), as :func:`lstmtune.evaluate.observed`
    does for one series."""
    from lstmtune.evaluate import observed

    out = np.array(true, dtype=np.float64)
    members = meta["panel"]["members"]
    for i, (sid, m) in enumerate(zip(problem.series_ids, problem.members, strict=True)):
        rows = series == i
        out[rows] = observed(out[rows], m.ends("test"), members[sid]["meta"].get("filled_targets"))
    return out


def member_forecasts(problem: PanelForecastProblem, kind: str) -> list[np.ndarray] | None:
    """A naive forecast of every series' test windows (None if the season does not fit)."""
    out = []
    for m in problem.members:
        f, ends = m.featurizer, m.ends("test")
        if kind != "last" and not (len(ends) and anchor_fits(kind, int(ends.min()) + 1, f.period)):
            return None
        out.append(naive_forecast(m.raw[:, f.target_index], ends, kind, f.horizon, f.period))
    return out


def classical_forecasts(
    problem: PanelForecastProblem, meta: dict[str, Any]
) -> tuple[dict[str, list[np.ndarray]], dict[str, str], dict[str, float]]:
    """AutoARIMA and AutoETS fitted on each series' train+val; a kind that fails on a series is
    dropped for the whole panel (reported with that series' id)."""
    from lstmtune.classical import CONSTANT
    from lstmtune.evaluate import forecast_classical_baselines

    preds: dict[str, list[np.ndarray]] = {"auto_arima": [], "auto_ets": []}
    failures: dict[str, str] = {}
    seconds: dict[str, float] = {}
    members = meta["panel"]["members"]
    for sid, m in zip(problem.series_ids, problem.members, strict=True):
        fit_end = int(members[sid]["meta"]["splits"]["test"]["start"])
        f, ends = m.featurizer, m.ends("test")
        _, failed, secs, fc = forecast_classical_baselines(f, m.raw, ends, fit_end)
        for name, reason in failed.items():
            if reason.endswith(CONSTANT):  # a constant series: the models' forecast is its value
                fc[name] = naive_forecast(m.raw[:, f.target_index], ends, "last", f.horizon, 1)
            else:
                failures.setdefault(name, f"series {sid!r}: {reason}")
        for name, value in secs.items():
            seconds[name] = seconds.get(name, 0.0) + value
        for name in preds:
            if name in fc:
                preds[name].append(fc[name])
    return {k: v for k, v in preds.items() if k not in failures}, failures, seconds


def per_series_table(
    problem: PanelForecastProblem,
    pred: np.ndarray,
    true: np.ndarray,
    series: np.ndarray,
    band: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, dict[str, float | None]]:
    """Test MASE, sMAPE, RMSE, the number of windows and (with the intervals' ``band``) the
    coverage and width of every series (MASE null for a series without a scale,
    :func:`lstmtune.panel_problem.mase_scale`; its sMAPE is still its own). A pooled coverage
    near nominal can hide series at 40 % and at 100 %."""
    from lstmtune.conformal import interval_metrics

    table: dict[str, dict[str, float | None]] = {}
    for i, sid in enumerate(problem.series_ids):
        rows = series == i
        one = np.zeros(int(rows.sum()), dtype=int)
        m: dict[str, float | None] = {**panel_metrics(pred[rows], true[rows], one, np.ones(1))}
        mase = mean_mase(pred[rows], true[rows], one, problem.scales[i : i + 1])
        m["mase"] = mase if np.isfinite(mase) else None
        if band is not None and rows.any():
            own = {name: (lo[rows], hi[rows]) for name, (lo, hi) in band.items()}
            cover = interval_metrics(true[rows], own)
            m.update(
                {
                    k: v if np.isfinite(v) else None
                    for k, v in cover.items()
                    if k.startswith(("coverage_", "width_"))
                }
            )
        table[sid] = {**m, "windows": int(rows.sum())}
    return table


def validation_choices(
    problem: PanelForecastProblem,
    meta: dict[str, Any],
    fit: Callable[[Any, Any], Any],
    levels: list[float],
    combine: bool,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """What the validation windows decide, from the configuration trained on train (``fit``):
    the combination with per-series AutoARIMA/AutoETS (``combine``, up to
    :data:`CLASSICAL_MAX_SERIES` series; :mod:`lstmtune.panel_combine`; weights chosen with the
    partners as published, fitted on train+val, as for one series) and then the intervals,
    calibrated on the combined forecast with the partners fitted on train, out of sample like the
    network. Returns ``(combination, intervals)``."""
    combine = combine and len(problem.members) <= CLASSICAL_MAX_SERIES
    if not (levels or combine):
        return None, None
    from lstmtune.combine import is_mix
    from lstmtune.panel_combine import (
        calibration_specs,
        choose_panel,
        member_specs,
        mix,
        partner_forecasts,
    )
    from lstmtune.panel_intervals import calibrate_forecasts

    val = problem.tensors("val")
    assert isinstance(val, PanelTensorSet)
    pred = problem.predict(fit(problem, problem.tensors("train")), val)
    combination = None
    if combine:
        specs, failures = member_specs(problem, meta)
        for kind, reason in failures.items():
            emit("warning", f"warning: {kind} left out of the combination: {reason}")
        if specs and specs[0]:
            combination = choose_panel(problem, val, pred, specs)
    if combination is not None and is_mix(combination):  # calibrated out of sample: on train
        calibration = calibration_specs(problem, meta, combination["specs"])
        partners = partner_forecasts(problem, calibration, "val")
        pred = mix(combination["weights"], pred, partners)
    intervals = calibrate_forecasts(problem, val, pred, levels) if levels else None
    return combination, intervals


def combined_test_forecast(
    problem: PanelForecastProblem, model: LSTMNet, test: Any, combination: dict[str, Any] | None
) -> np.ndarray:
    """The published forecast of every test window: the network, mixed with each series'
    classical partners when the combination has any."""
    from lstmtune.combine import is_mix

    pred = problem.predict(model, test)
    if combination is None or not is_mix(combination):
        return pred
    from lstmtune.panel_combine import mix, partner_forecasts

    partners = partner_forecasts(problem, combination["specs"], "test")
    return mix(combination["weights"], pred, partners)


def evaluate_panel(
    problem: PanelForecastProblem,
    model: LSTMNet,
    meta: dict[str, Any],
    intervals: dict[str, Any] | None = None,
    combination: dict[str, Any] | None = None,
    nonnegative: str | bool = "auto",
) -> TestEvaluation:
    """Test metrics of the one model (with its ``combination``, if any) over all series beside
    per-series baselines; with ``intervals`` (:func:`validation_choices`) their coverage and
    width. ``nonnegative`` (``evaluate.nonnegative``, :mod:`lstmtune.nonnegative`): each series'
    forecasts, bounds and classical baselines clipped at 0 as the pyfunc clips them."""
    left_out = unscaled(problem.series_ids, problem.scales)
    if left_out:
        emit("warning", unscaled_warning(left_out, len(problem.series_ids)))
    test = problem.tensors("test")
    assert test.raw_y is not None and test.series is not None
    series = test.series
    true = panel_observed(problem, meta, test.raw_y, series)  # filled values are not scored
    pred = combined_test_forecast(problem, model, test, combination)
    decisions = member_decisions(problem, nonnegative)
    candidates = {"persistence": member_forecasts(problem, "last")}
    period = problem.featurizer.period
    candidates[f"seasonal_naive_{period}"] = member_forecasts(problem, "seasonal")
    failures: dict[str, str] = {}
    seconds: dict[str, float] = {}
    if len(problem.members) <= CLASSICAL_MAX_SERIES:
        classical, failures, seconds = classical_forecasts(problem, meta)
        candidates.update({k: clipped(v, decisions) for k, v in classical.items()})
    else:
        emit(
            "warning",
            f"warning: {len(problem.members)} series: the per-series AutoARIMA/"
            f"AutoETS baselines are skipped (more than {CLASSICAL_MAX_SERIES})",
        )
    baselines = {
        name: panel_metrics(np.concatenate(fc), true, series, problem.scales)
        for name, fc in candidates.items()
        if fc is not None
    }
    for name, reason in failures.items():
        emit("warning", f"warning: baseline {name} skipped (it could not be fitted): {reason}")
    members = meta["panel"]["members"]
    band = None
    if intervals is not None:  # around the forecast as calibrated, then clipped with it
        from lstmtune.conformal import interval_metrics
        from lstmtune.panel_intervals import member_bounds

        band = {
            name: (clipped_rows(lo, series, decisions), clipped_rows(hi, series, decisions))
            for name, (lo, hi) in member_bounds(problem, pred, series, intervals).items()
        }
    pred = clipped_rows(pred, series, decisions)
    metrics = panel_metrics(pred, true, series, problem.scales)
    if band is not None:
        metrics.update(interval_metrics(true, band, n_series=len(np.unique(series))))
    return TestEvaluation(
        test_metrics=metrics,
        baselines=baselines,
        spec_extra={
            "featurizer": problem.featurizer.to_dict(),
            "n_series": problem.n_series,  # > 0: the network embeds each series (its index)
            "panel": {
                "series_column": problem.series_column,
                "combination": _published(combination),
                "intervals_pooled": intervals["pooled"] if intervals else None,
                "nonnegative": {k: decisions[k] for k in ("rule", "unseen")},
                "members": {
                    sid: {
                        "index": i,
                        "featurizer": m.featurizer.to_dict(),
                        "time_axis": members[sid]["meta"].get("time_axis"),
                        "intervals": intervals["members"][sid] if intervals else None,
                        "nonnegative": decisions["series"][sid],
                        "classical": _member_classical(combination, i),
                        **_member_rows(combination, m, members[sid]["meta"]),
                    }
                    for i, (sid, m) in enumerate(
                        zip(problem.series_ids, problem.members, strict=True)
                    )
                },
            },
        },
        baseline_failures=failures,
        baseline_seconds=seconds,
        details={
            "per_series": per_series_table(problem, pred, true, series, band),
            "nonnegative": {
                **decisions,
                "series": {sid: d["clip"] for sid, d in decisions["series"].items()},
            },
        },
    )


def _published(combination: dict[str, Any] | None) -> dict[str, Any] | None:
    """The combination the pyfunc applies: its weights (the specs are stored per series)."""
    from lstmtune.combine import is_mix

    if combination is None or not is_mix(combination):
        return None
    return {"weights": combination["weights"]}


def _member_classical(combination: dict[str, Any] | None, i: int) -> dict[str, Any] | None:
    """Series ``i``'s classical partners (JSON specs, fitted on its train+val), if mixed in."""
    if combination is None or "specs" not in combination:
        return None
    return dict(combination["specs"][i])


def _member_rows(
    combination: dict[str, Any] | None, m: Any, member_meta: dict[str, Any]
) -> dict[str, Any]:
    """A series' last rows of train+val, kept for its classical partners on a served history
    (:mod:`lstmtune.served_history`); nothing where it has none."""
    from lstmtune.served_history import fitted_rows

    if combination is None or "specs" not in combination:
        return {}
    fit_end = int(member_meta["splits"]["test"]["start"])
    return {"history": fitted_rows(m.raw[:, m.featurizer.target_index], fit_end)}


def member_decisions(problem: PanelForecastProblem, rule: str | bool) -> dict[str, Any]:
    """``evaluate.nonnegative`` decided on each series' train+val
    (:func:`lstmtune.nonnegative.panel_decisions`)."""
    from lstmtune.nonnegative import panel_decisions

    targets = {  # each member's rows before its test split
        sid: m.raw[: int(m.splits["test"]["start"]), m.featurizer.target_index]
        for sid, m in zip(problem.series_ids, problem.members, strict=True)
    }
    return panel_decisions(rule, targets)


def clipped(forecasts: list[np.ndarray], decisions: dict[str, Any]) -> list[np.ndarray]:
    """Every series' forecasts (in the panel's order) clipped by its decision."""
    from lstmtune.nonnegative import clip

    return [clip(fc, d) for fc, d in zip(forecasts, decisions["series"].values(), strict=True)]


def clipped_rows(values: np.ndarray, series: np.ndarray, decisions: dict[str, Any]) -> np.ndarray:
    """Stacked forecasts or bounds, each series' rows (``series``: their index) clipped by its
    decision (:func:`lstmtune.nonnegative.clip`, as the pyfunc clips them)."""
    from lstmtune.nonnegative import clip

    out = np.array(values, dtype=np.float64)
    for i, decision in enumerate(decisions["series"].values()):
        rows = series == i
        out[rows] = clip(out[rows], decision)
    return out

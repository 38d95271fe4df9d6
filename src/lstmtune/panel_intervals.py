"""Prediction intervals for many series: split conformal on validation residuals, per series
where a series has enough validation windows, else pooled over series on the scaled residuals.

The configuration is trained on the train split of every series; its validation residuals
``|y - yhat|`` are divided by each series' MASE scale (its in-sample seasonal-naive error), so
series of any level pool into one set of scale-free residuals; the pooled conformal quantile per
horizon step times a series' scale is that series' half-width. A series with at least
:data:`OWN_MIN_WINDOWS` validation windows gets quantiles of its own residuals instead. A series
the model never saw is served with the pooled quantiles times the scale of the history sent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmtune.conformal import calibrate, level_name, step_quantiles
from lstmtune.panel_problem import PanelForecastProblem

OWN_MIN_WINDOWS = 50  # below this, a series' own 95 % quantile rests on too few residuals


def scaled_spec(spec: dict[str, Any], scale: float) -> dict[str, Any]:
    """An interval spec of scale-free quantiles in the units of a series of ``scale``."""
    quantiles = {k: [q * scale for q in v] for k, v in spec["quantiles"].items()}
    return {**spec, "quantiles": quantiles}


def calibrate_panel(
    problem: PanelForecastProblem, model: Any, levels: list[float]
) -> dict[str, Any]:
    """``{"pooled": scale-free spec, "members": {series id: spec in its units}}`` from the
    validation residuals of ``model`` (trained on train)."""
    val = problem.tensors("val")
    return calibrate_forecasts(problem, val, problem.predict(model, val), levels)


def calibrate_forecasts(
    problem: PanelForecastProblem, val: Any, pred: np.ndarray, levels: list[float]
) -> dict[str, Any]:
    """:func:`calibrate_panel` from the validation forecasts ``pred`` of the published forecast
    (the network trained on train, combined with its partners when there is a combination)."""
    assert val.raw_y is not None and val.series is not None
    scaled = np.abs(val.raw_y - pred) / problem.scales[val.series][:, None]
    quantiles, extrapolated = step_quantiles(scaled, levels)
    if extrapolated:
        from lstmtune.conformal import extrapolation_warning
        from lstmtune.progress import emit

        emit(
            "warning",
            extrapolation_warning(extrapolated, f"{len(scaled)} pooled validation windows"),
        )
    pooled = {
        "method": "abs",  # half-widths in units (scale-free here; scaled_spec: per series)
        "pooling": "scaled_by_series",
        "levels": [float(v) for v in levels],
        "quantiles": quantiles,
        "n_calibration": len(scaled),
        "extrapolated": extrapolated,
    }
    members: dict[str, Any] = {}
    for i, sid in enumerate(problem.series_ids):
        rows = val.series == i
        if int(rows.sum()) >= OWN_MIN_WINDOWS:
            members[sid] = calibrate(pred[rows], val.raw_y[rows], levels)
        else:
            members[sid] = scaled_spec(pooled, float(problem.scales[i]))
    return {"pooled": pooled, "members": members}


def member_bounds(
    pred: np.ndarray, series: np.ndarray, ids: list[str], intervals: dict[str, Any]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{level name: (lo, hi)}`` for stacked forecasts, each series with its own half-widths."""
    levels = intervals["pooled"]["levels"]
    half = {level_name(lv): np.zeros_like(pred, dtype=np.float64) for lv in levels}
    for i, sid in enumerate(ids):
        rows = series == i
        for name in half:
            q = np.asarray(intervals["members"][sid]["quantiles"][name])[None, : pred.shape[1]]
            half[name][rows] = q
    return {name: (pred - h, pred + h) for name, h in half.items()}

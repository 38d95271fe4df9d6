"""Prediction intervals for many series: split conformal on validation residuals, each divided by
the local scale of its series at its forecast origin and pooled over series (per series where a
series has enough validation windows).

The configuration is trained on the train split of every series; the absolute residual of every
validation window is divided by the local scale of its series at the origin
(:func:`lstmtune.conformal.local_scale`: the mean absolute one-step change over the last
``max(12, season)`` changes, raised to a floor of :data:`~lstmtune.conformal.SCALE_FLOOR` times
that series' median calibration scale), so series of any level pool into one set of scale-free
scores; the pooled conformal quantile per horizon step times the local scale at an origin is the
half-width there. The scale is a function of the history up to the origin only, so the pyfunc
recomputes it on the history sent, for a series it saw as for one it never saw: widths follow the
history (sent x1000, widths x1000), and on the full history they are the widths measured on test.
A series with at least :data:`OWN_MIN_WINDOWS` validation windows gets quantiles of its own scaled
residuals instead; a series whose history is flat at most validation origins, or constant on train
(no MASE scale, :func:`lstmtune.panel_problem.mase_scale`: the same rule as the metrics), gets
quantiles of its own absolute residuals, in its units, and stays out of the pool.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmtune.conformal import (
    SCALE_FLOOR,
    bounds,
    calibrate,
    local_scale,
    origin_scale,
    scale_window,
    step_quantiles,
)
from lstmtune.panel_problem import PanelForecastProblem

OWN_MIN_WINDOWS = 50  # below this, a series' own 95 % quantile rests on too few residuals


def scaled_spec(spec: dict[str, Any], scale: float) -> dict[str, Any]:
    """An interval spec of scale-free quantiles in the units of a series of ``scale`` (the
    pooled spec of models written before the local scale: one scale per series)."""
    quantiles = {k: [q * scale for q in v] for k, v in spec["quantiles"].items()}
    return {**spec, "quantiles": quantiles}


def history_floor(target: np.ndarray, ends: np.ndarray, window: int) -> float:
    """The scale floor of a series from its local scales at ``ends``: :data:`SCALE_FLOOR` times
    their median (0 when the history is flat at most of them)."""
    s = local_scale(target, ends, window)
    median = float(np.nanmedian(s)) if np.isfinite(s).any() else 0.0
    return SCALE_FLOOR * median if median > 0 else 0.0


def calibrate_panel(
    problem: PanelForecastProblem, model: Any, levels: list[float]
) -> dict[str, Any]:
    """``{"pooled": scale-free spec, "members": {series id: spec}}`` from the validation
    residuals of ``model`` (trained on train)."""
    val = problem.tensors("val")
    return calibrate_forecasts(problem, val, problem.predict(model, val), levels)


def calibrate_forecasts(
    problem: PanelForecastProblem, val: Any, pred: np.ndarray, levels: list[float]
) -> dict[str, Any]:
    """:func:`calibrate_panel` from the validation forecasts ``pred`` of the published forecast
    (the network trained on train, combined with its partners when there is a combination)."""
    assert val.raw_y is not None and val.series is not None
    window = scale_window(problem.featurizer.period)
    residuals = np.abs(val.raw_y - pred)
    floors, scales = validation_scales(problem, window)
    for i in np.flatnonzero(~np.isfinite(problem.scales)):  # no MASE scale: not pooled either
        floors[i] = 0.0
    pooled_rows = np.array([floors[i] > 0 for i in val.series], dtype=bool)
    scores = residuals / scales[:, None]
    pooled = _pooled(scores[pooled_rows] if pooled_rows.any() else residuals, levels, window)
    if not pooled_rows.any():  # no series has a scale: the pooled spec is in units
        pooled = {**pooled, "method": "abs"}
    members: dict[str, Any] = {}
    for i, sid in enumerate(problem.series_ids):
        rows = val.series == i
        if floors[i] == 0:  # flat at most origins, or on train: its own absolute residuals
            members[sid] = calibrate(pred[rows], val.raw_y[rows], levels)
        elif int(rows.sum()) >= OWN_MIN_WINDOWS:
            members[sid] = {
                **_scaled(window, floors[i]),
                **_quantiles(scores[rows], levels),
            }
        else:
            members[sid] = {**pooled, **_scaled(window, floors[i])}
    return {"pooled": pooled, "members": members}


def validation_scales(problem: PanelForecastProblem, window: int) -> tuple[list[float], np.ndarray]:
    """Every series' scale floor and the scale at each validation origin, stacked as
    :meth:`PanelForecastProblem.tensors` stacks the windows."""
    floors, scales = [], []
    for m in problem.members:
        y, ends = m.raw[:, m.featurizer.target_index], m.ends("val")
        floors.append(history_floor(y, ends, window))
        scales.append(origin_scale(_scaled(window, floors[-1]), y, ends))
    return floors, np.concatenate(scales)


def _scaled(window: int, floor: float) -> dict[str, Any]:
    return {"method": "scaled", "scale_window": int(window), "scale_floor": float(floor)}


def _quantiles(scores: np.ndarray, levels: list[float]) -> dict[str, Any]:
    quantiles, extrapolated = step_quantiles(scores, levels)
    return {
        "levels": [float(v) for v in levels],
        "quantiles": quantiles,
        "n_calibration": len(scores),
        "extrapolated": extrapolated,
    }


def _pooled(scores: np.ndarray, levels: list[float], window: int) -> dict[str, Any]:
    """The scale-free spec pooled over series; a series the model never saw gets its floor from
    the history sent (``scale_floor_fraction`` times the median local scale there)."""
    spec = _quantiles(scores, levels)
    if spec["extrapolated"]:
        from lstmtune.conformal import extrapolation_warning
        from lstmtune.progress import emit

        emit(
            "warning",
            extrapolation_warning(spec["extrapolated"], f"{len(scores)} pooled validation windows"),
        )
    return {
        "method": "scaled",
        "pooling": "local_scale_by_series",
        "scale_window": int(window),
        "scale_floor_fraction": SCALE_FLOOR,
        **spec,
    }


def history_spec(
    pooled: dict[str, Any], target: np.ndarray, ends: np.ndarray, period: int
) -> dict[str, Any]:
    """The pooled spec for a series the model never saw: its floor from the history sent."""
    if pooled.get("pooling") == "scaled_by_series":  # written before the local scale
        from lstmtune.panel_problem import mase_scale

        return scaled_spec(pooled, mase_scale(target, len(target), period))
    if pooled.get("method") != "scaled":
        return pooled
    window = int(pooled["scale_window"])
    floor = history_floor(target, ends, window)
    if floor == 0:  # flat at most origins: the largest local scale of the history sent
        s = local_scale(target, ends, window)
        floor = float(np.nanmax(s)) if np.isfinite(s).any() else 0.0
    return {**pooled, "scale_floor": floor}


def member_bounds(
    problem: PanelForecastProblem,
    pred: np.ndarray,
    series: np.ndarray,
    intervals: dict[str, Any],
    split: str = "test",
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{level name: (lo, hi)}`` for the stacked forecasts of ``split``, each series with its
    own spec and the local scale at each of its origins (as the pyfunc computes them)."""
    levels = intervals["pooled"]["levels"]
    from lstmtune.conformal import level_name

    out = {level_name(lv): (np.zeros_like(pred), np.zeros_like(pred)) for lv in levels}
    for i, (sid, m) in enumerate(zip(problem.series_ids, problem.members, strict=True)):
        rows = series == i
        if not rows.any():
            continue
        spec = intervals["members"][sid]
        scale = origin_scale(spec, m.raw[:, m.featurizer.target_index], m.ends(split))
        for name, (lo, hi) in bounds(pred[rows], spec, scale).items():
            out[name][0][rows], out[name][1][rows] = lo, hi
    return out

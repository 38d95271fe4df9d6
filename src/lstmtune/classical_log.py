"""AutoARIMA on log values: the ARIMA model a positive series' network is anchored on and combined
with (:func:`lstmtune.classical.fit_spec` with ``log``) where the validation split prefers it to
AutoARIMA on the values (:func:`lstmtune.classical_fits.log_by_validation`). The ``auto_arima``
baseline stays the plain AutoARIMA a forecaster tries first.

Why: a series whose seasonal swings grow with its level (airline passengers, souvenir sales, UK
gas) is multiplicative, and a linear ARIMA on the raw values misses the swings' growth; AutoETS
has multiplicative forms, AutoARIMA has none. Measured on 55 strictly positive public series
(2026-12-02: the eight benchmark series, 19 R series the sweep found, 28 of the earlier R sweep;
each run's own split and season, one-step test forecasts with the true history, test RMSE over
the better of AutoARIMA and AutoETS): AutoARIMA on raw values 1.083 on average, on log values
1.049; the plain mean of AutoARIMA and AutoETS (the classical part of lstmtune's combination)
1.050 with the raw ARIMA, 1.024 with the log one (geometric means 1.039 and 1.015), 1.022 (1.015)
with the one the run's own validation split chose (log on 32; a margin asked of the log model
was worse: 1.031 at 5 %). Souvenirs: raw AutoARIMA 3.38x AutoETS on test, log 1.03x; wineind
the other way, 1.01x raw and 1.21x log.

The forecast of the log model is ``exp`` of its log forecast (the median, not bias-adjusted: the
measurement above is of that). A history value at or below zero, which the fitted series did not
have, is read as :data:`FLOOR_SHARE` of the fitted series' smallest value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOOR_SHARE = 0.5


def on_log(y: np.ndarray) -> bool:
    """Whether the ARIMA of ``y`` is fitted on its log values: every value finite and positive."""
    y = np.asarray(y, dtype=np.float64)
    return len(y) > 0 and bool(np.isfinite(y).all()) and float(y.min()) > 0


def logged(spec: dict[str, Any], y: np.ndarray) -> dict[str, Any]:
    """An ARIMA spec fitted on ``log(y)`` marked as such (with the floor of its history)."""
    floor = float(np.min(y)) * FLOOR_SHARE
    return {**spec, "method": f"{spec['method']} on log values", "log": True, "log_floor": floor}


def log_values(spec: dict[str, Any], y: np.ndarray) -> np.ndarray:
    """The values the recursion of ``spec`` reads: ``log`` of the history for a log model."""
    if not spec.get("log"):
        return y
    return np.asarray(np.log(np.maximum(y, float(spec["log_floor"]))))


def back(spec: dict[str, Any], forecasts: np.ndarray) -> np.ndarray:
    """Forecasts in the series' units: ``exp`` of a log model's."""
    return np.asarray(np.exp(forecasts)) if spec.get("log") else forecasts

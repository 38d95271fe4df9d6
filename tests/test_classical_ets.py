"""AutoETS on a long series: fitted on its last rows, its states start where the fit started."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

from lstmtune import classical, classical_ets_fit
from lstmtune.classical import classical_baselines, fit_model, fit_spec, spec_forecasts


def _daily(n: int = 1100) -> np.ndarray:
    """Three years of days: a level that climbs, a week and a year."""
    t = np.arange(n)
    rng = np.random.default_rng(0)
    y = 50 + 0.01 * t + 5 * np.sin(2 * np.pi * t / 7) + 10 * np.sin(2 * np.pi * t / 365.25)
    return np.asarray(y + rng.normal(0, 1.5, n))


def _rmse(pred: np.ndarray, y: np.ndarray, ends: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred[:, 0] - y[ends + 1]) ** 2)))


@pytest.mark.parametrize("rows", [240, classical.MAX_ETS_ROWS])
def test_an_ets_fitted_on_the_last_rows_forecasts_from_its_own_start(
    rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The baseline (statsforecast's filter) and the JSON spec (the anchor, the partner, the
    pyfunc) both start at the fit's first row and agree (the spec as AutoETS fits it: no refit,
    :mod:`lstmtune.classical_ets_fit`); origins before it get the seasonal naive forecast.
    Started at row 0 with the fit's initial states, the baseline scored 6.11."""
    monkeypatch.setattr(classical, "MAX_ETS_ROWS", rows)
    monkeypatch.setattr(classical_ets_fit, "STARTS", ())
    monkeypatch.setattr(classical, "_FITTED", OrderedDict())  # no refit kept from before
    y, fit_end = _daily(), 935
    ends = np.arange(fit_end - 1, len(y) - 1)
    preds, failed, _ = classical_baselines(y, fit_end, ends, 1, 7, kinds=("ets",))
    assert failed == {} and _rmse(preds["auto_ets"], y, ends) < 2.0  # noise 1.5
    spec = fit_spec("ets", y[:fit_end], 7)
    start = fit_end - min(rows, fit_end)
    assert spec["fit_start"] == start
    np.testing.assert_allclose(spec_forecasts(spec, y, ends, 1, 7), preds["auto_ets"], rtol=1e-6)
    if start:
        before = np.arange(start - 20, start)
        np.testing.assert_array_equal(spec_forecasts(spec, y, before, 1, 7)[:, 0], y[before - 6])
        _, failed, _ = classical_baselines(y, fit_end, before, 1, 7, kinds=("ets",))
        assert "before the fit's first row" in failed["auto_ets"]  # reported, never wrapped


def test_an_ets_reads_a_long_series_up_to_its_row_limit() -> None:
    y = _daily()
    assert fit_model("ets", y[:935], 7).fit_offset_ == 935  # the whole series, not 240 rows
    assert fit_model("arima", y[:935], 7).fit_offset_ == 240  # ARIMA's cost grows with rows

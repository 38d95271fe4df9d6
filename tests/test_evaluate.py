"""Metrics, naive baselines and the promotion decision (pure functions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstmtune.errors import TrialInfeasible
from lstmtune.evaluate import (
    Decision,
    best_baseline,
    classify_metrics,
    decide_promotion,
    forecast_baselines,
    forecast_metrics,
    margin,
    observed,
)
from lstmtune.features import ForecastFeaturizer, naive_forecast


def _featurizer(horizon: int = 1, period: int = 4) -> ForecastFeaturizer:
    return ForecastFeaturizer(
        features=["y"],
        target="y",
        target_index=0,
        lookback=4,
        horizon=horizon,
        transform="none",
        anchor="last",
        window_norm=False,
        period=period,
        mean=[0.0],
        std=[1.0],
    )


def test_baselines_on_a_perfectly_seasonal_series() -> None:
    raw = np.tile([1.0, 5.0, 2.0, 8.0], 6)[:, None]
    f = _featurizer(horizon=2)
    ends = f.split_ends(16, 24)
    base = forecast_baselines(f, raw, ends)
    assert base["seasonal_naive_4"]["rmse"] == 0.0
    assert base["persistence"]["rmse"] > 0
    assert best_baseline(base, "rmse") == ("seasonal_naive_4", 0.0)


def test_targets_data_missing_filled_are_not_scored() -> None:
    """A forward-filled test value was a target: airline with two of them (ffill) reported a test
    RMSE of 32.2 where the observed targets gave 22.3."""
    f = _featurizer(horizon=2)
    raw = np.tile([1.0, 5.0, 2.0, 8.0], 6)[:, None]
    raw[21] = 1.0  # the forward fill of an unobserved 5.0
    ends = f.split_ends(16, 24)
    true = observed(f.raw_targets(raw, ends), ends, [21])
    assert np.isnan(true).sum() == 2  # row 21 is step 1 of one window and step 2 of the next
    base = forecast_baselines(f, raw, ends, [21])
    assert base["seasonal_naive_4"]["rmse"] == 0.0  # right on every observed target
    assert forecast_baselines(f, raw, ends)["seasonal_naive_4"]["rmse"] > 0  # scored on the fill
    pred = np.zeros_like(true)
    assert forecast_metrics(pred, true)["mae"] == pytest.approx(np.nanmean(np.abs(true)))
    assert observed(true, ends, []) is true and observed(true, ends, None) is true


def test_split_ends_keep_all_targets_inside_the_split() -> None:
    f = _featurizer(horizon=3)
    ends = f.split_ends(10, 20)
    targets = ends[:, None] + np.arange(1, 4)[None, :]
    assert targets.min() == 10 and targets.max() == 19


def test_classify_metrics_macro_f1() -> None:
    m = classify_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    assert m["accuracy"] == 0.75
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


@pytest.mark.parametrize(
    ("metric", "new", "champion", "baseline", "alias"),
    [
        ("rmse", 10.0, None, 20.0, "champion"),  # first model, beats baseline
        ("rmse", 25.0, None, 20.0, "challenger"),  # loses to the naive baseline
        ("rmse", 10.0, 12.0, 20.0, "champion"),  # beats the champion
        ("rmse", 12.0, 12.0, 20.0, "challenger"),  # a tie does not move the champion
        ("rmse", 13.0, 12.0, 20.0, "challenger"),
        ("macro_f1", 0.9, 0.8, 0.5, "champion"),  # higher is better for F1
        ("macro_f1", 0.7, 0.8, 0.5, "challenger"),
        ("rmse", math.nan, None, 20.0, "challenger"),
        ("rmse", 10.0, math.nan, None, "champion"),  # an unscorable champion does not block
    ],
)
def test_promotion_decision(
    metric: str, new: float, champion: float | None, baseline: float | None, alias: str
) -> None:
    decision = decide_promotion(metric, new, champion, baseline)
    assert isinstance(decision, Decision)
    assert decision.alias == alias
    assert decision.reason


def test_naive_forecasts_on_a_seasonal_series_with_a_linear_trend() -> None:
    # y = season + 0.5 t: seasonal naive misses the trend by 0.5 * period * seasons ahead;
    # seasonal_trend is exact
    season = np.array([1.0, 5.0, 2.0, 8.0])
    t = np.arange(40)
    y = season[t % 4] + 0.5 * t
    ends = np.arange(10, 30)
    true = y[
        ends[:, None] + np.arange(1, 7)[None, :]
    ]  # horizon 6 > period 4: steps 5, 6 reach back two seasons
    exact = naive_forecast(y, ends, "seasonal_trend", 6, 4)
    assert np.allclose(exact, true)
    seasonal = naive_forecast(y, ends, "seasonal", 6, 4)
    assert np.allclose(true - seasonal, np.array([2.0, 2.0, 2.0, 2.0, 4.0, 4.0])[None, :])
    assert np.array_equal(
        naive_forecast(y, ends, "last", 2), np.repeat(y[ends][:, None], 2, axis=1)
    )
    with pytest.raises(ValueError, match="unknown naive forecast 'drift'"):
        naive_forecast(y, ends, "drift", 1, 4)


def test_seasonal_trend_anchor_reads_one_step_more_than_a_season() -> None:
    meta = {
        "seasonal_period": 12,
        "scaler": {"none": {"mean": [0.0], "std": [1.0]}},
        "columns": {"features": ["y"], "target": "y"},
        "target_index": 0,
        "horizon": 1,
    }
    with pytest.raises(
        TrialInfeasible, match=r"anchor 'seasonal_trend' needs .*lookback >= 13, got lookback=12"
    ):
        ForecastFeaturizer.from_meta(meta, {"lookback": 12, "anchor": "seasonal_trend"})
    f = ForecastFeaturizer.from_meta(meta, {"lookback": 13, "anchor": "seasonal_trend"})
    y = np.arange(30, dtype=np.float64)[:, None] ** 1.5
    ends = f.history_ends(
        len(y)
    )  # the first window starts at row 0: the anchor must stay inside it
    x, anchor = f.windows(f.scale(y), ends)
    assert x.shape == (len(ends), 13, 1)
    expected = y[ends - 11, 0] + y[ends, 0] - y[ends - 12, 0]
    assert np.allclose(anchor[:, 0], expected, rtol=1e-6)


def test_naive_forecast_refuses_origins_without_enough_history() -> None:
    y = np.arange(30, dtype=np.float64)
    with pytest.raises(ValueError, match="needs 13 rows of history; an origin is at row 11"):
        naive_forecast(y, np.arange(11, 20), "seasonal_trend", 1, 12)
    assert naive_forecast(y, np.arange(11, 20), "seasonal", 1, 12).shape == (9, 1)


def test_the_margin_says_worse_better_or_a_tie() -> None:
    assert margin(0.8, 0.9, "accuracy") == "11.1% worse"
    assert margin(19.0, 20.0, "rmse") == "5.0% better"
    assert margin(0.8867, 0.8867, "macro_f1") == "a tie"  # not "0.0% better"
    decision = decide_promotion("macro_f1", 0.8867, None, 0.8867, "minirocket")
    assert decision.alias == "challenger" and decision.reason.endswith(": a tie")
    # AutoARIMA published alone (the network left out) against the auto_arima baseline: the
    # same forecasts, the RMSE summed in another order (a UK gas series, 2026-12-02)
    same = decide_promotion("rmse", 3092.6682828009725, None, 3092.668282800973, "auto_arima")
    assert same.alias == "challenger" and same.reason.endswith(": a tie")
    assert decide_promotion("rmse", 3090.0, None, 3092.668282800973).alias == "champion"

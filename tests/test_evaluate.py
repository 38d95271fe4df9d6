"""Metrics, naive baselines and the promotion decision (pure functions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstmtune.evaluate import (
    Decision,
    best_baseline,
    classify_metrics,
    decide_promotion,
    forecast_baselines,
)
from lstmtune.features import ForecastFeaturizer


def _featurizer(horizon: int = 1, period: int = 4) -> ForecastFeaturizer:
    return ForecastFeaturizer(features=["y"], target="y", target_index=0, lookback=4, horizon=horizon, transform="none",
                              anchor="last", window_norm=False, period=period, mean=[0.0], std=[1.0])


def test_baselines_on_a_perfectly_seasonal_series() -> None:
    raw = np.tile([1.0, 5.0, 2.0, 8.0], 6)[:, None]
    f = _featurizer(horizon=2)
    ends = f.split_ends(16, 24)
    base = forecast_baselines(f, raw, ends)
    assert base["seasonal_naive_4"]["rmse"] == 0.0
    assert base["persistence"]["rmse"] > 0
    assert best_baseline(base, "rmse") == ("seasonal_naive_4", 0.0)


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
        ("rmse", 10.0, None, 20.0, "champion"),      # first model, beats baseline
        ("rmse", 25.0, None, 20.0, "challenger"),    # loses to the naive baseline
        ("rmse", 10.0, 12.0, 20.0, "champion"),      # beats the champion
        ("rmse", 12.0, 12.0, 20.0, "challenger"),    # a tie does not move the champion
        ("rmse", 13.0, 12.0, 20.0, "challenger"),
        ("macro_f1", 0.9, 0.8, 0.5, "champion"),     # higher is better for F1
        ("macro_f1", 0.7, 0.8, 0.5, "challenger"),
        ("rmse", math.nan, None, 20.0, "challenger"),
        ("rmse", 10.0, math.nan, None, "champion"),  # an unscorable champion does not block
    ],
)
def test_promotion_decision(metric: str, new: float, champion: float | None, baseline: float | None, alias: str) -> None:
    decision = decide_promotion(metric, new, champion, baseline)
    assert isinstance(decision, Decision)
    assert decision.alias == alias
    assert decision.reason

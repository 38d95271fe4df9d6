"""Prediction intervals (split conformal, lstmtune.conformal): exact quantiles on known residuals,
the extrapolation for too few points, the pyfunc's columns, coverage metrics and flags, and
calibration that holds its nominal coverage on exchangeable data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstmtune.config import load_config
from lstmtune.conformal import (
    binomial_p,
    bounds,
    calibrate,
    conformal_quantile,
    conformal_rank,
    coverage_flags,
    interval_columns,
    interval_metrics,
    is_interval_metric,
    level_name,
    local_scale,
    origin_scale,
    scale_window,
    step_quantiles,
    summary_line,
)
from lstmtune.errors import UserError


@pytest.mark.parametrize(
    ("n", "level", "rank"),
    [(19, 95, 19), (9, 80, 8), (10, 80, 9), (18, 95, 19), (99, 90, 90), (3, 50, 2)],
)
def test_conformal_rank_is_exact_at_integer_boundaries(n: int, level: float, rank: int) -> None:
    # (n + 1) * L / 100 hits an integer for (19, 95) and (9, 80): no float rounding upwards
    assert conformal_rank(n, level) == rank


def test_quantile_is_the_ceil_rank_order_statistic() -> None:
    scores = np.array([7.0, 1.0, 10.0, 3.0, 2.0, 9.0, 4.0, 8.0, 6.0, 5.0])  # 1..10 shuffled
    assert conformal_quantile(scores, 80) == (9.0, False)  # ceil(11 * 0.8) = 9
    assert conformal_quantile(scores, 50) == (6.0, False)  # ceil(5.5) = 6
    assert conformal_quantile(scores, 90) == (10.0, False)  # ceil(9.9) = 10
    # NaNs are dropped: 9 points left, ceil(10 * 0.8) = 8
    assert conformal_quantile(np.append(scores[scores != 10.0], np.nan), 80) == (8.0, False)


def test_too_few_points_are_widened_finitely_and_reported() -> None:
    scores = np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # ceil(6 * 0.95) = 6 > 5: not attainable
    q, extrapolated = conformal_quantile(scores, 95)
    assert extrapolated and math.isfinite(q)
    assert q == pytest.approx(1.959964 * math.sqrt(11.0), rel=1e-5)  # z * RMS, above max 5
    assert conformal_quantile(np.array([10.0]), 50) == (10.0, False)  # ceil(2 * 0.5) = 1
    q_one, _ = conformal_quantile(np.array([10.0]), 80)  # z(80 %) * 10 = 12.8
    assert q_one == pytest.approx(1.281552 * 10.0, rel=1e-5)
    q_small, _ = conformal_quantile(np.array([1.0, 1.0, 1.0, 1.0, 30.0]), 95)
    assert q_small == 30.0  # never narrower than the largest residual seen
    with pytest.raises(ValueError, match="no calibration residuals"):
        conformal_quantile(np.array([np.nan]), 80)


def test_step_quantiles_are_per_horizon_step() -> None:
    r = np.column_stack([np.arange(1.0, 11.0), 10 * np.arange(1.0, 11.0)])
    quantiles, extrapolated = step_quantiles(r, [80.0, 95.0])
    assert quantiles["80"] == [9.0, 90.0]
    assert extrapolated == ["95"]  # 10 points cannot give a 95 % split conformal quantile
    assert quantiles["95"][0] > 10.0 and quantiles["95"][1] > 100.0


def test_calibrate_bounds_and_columns() -> None:
    pred = np.array([[10.0, 20.0], [11.0, 21.0], [12.0, 22.0], [13.0, 23.0]])
    true = pred + np.array([[1.0, -2.0], [-3.0, 4.0], [2.0, -1.0], [-4.0, 3.0]])
    spec = calibrate(pred, true, [50.0])
    assert spec["quantiles"] == {"50": [3.0, 3.0]}  # ceil(5 * 0.5) = 3rd of |r|
    assert spec["method"] == "abs" and spec["n_calibration"] == 4 and spec["extrapolated"] == []
    lo, hi = bounds(pred, spec)["50"]
    np.testing.assert_allclose(hi - lo, 6.0)
    names, values = interval_columns(
        pred[:1],
        {**spec, "levels": [50.0, 95.0]} | {"quantiles": {"50": [3.0, 3.0], "95": [5.0, 6.0]}},
    )
    assert names == [
        "step_1_lo_50", "step_1_hi_50", "step_1_lo_95", "step_1_hi_95",
        "step_2_lo_50", "step_2_hi_50", "step_2_lo_95", "step_2_hi_95",
    ]  # fmt: skip
    assert [float(v[0]) for v in values] == [7.0, 13.0, 5.0, 15.0, 17.0, 23.0, 14.0, 26.0]


def test_local_scale_is_the_mean_absolute_change_up_to_the_origin() -> None:
    y = np.array([0.0, 1.0, 3.0, 6.0, 10.0, 15.0])
    s = local_scale(y, np.array([0, 1, 2, 5]), 2)
    assert math.isnan(s[0])  # no change before row 0
    np.testing.assert_allclose(s[1:], [1.0, 1.5, 4.5])  # |1|; (1 + 2) / 2; (4 + 5) / 2
    assert scale_window(12) == 12 and scale_window(4) == 12 and scale_window(48) == 48


def test_scaled_calibration_divides_by_the_origin_scale_and_floors_it() -> None:
    pred = np.zeros((4, 1))
    true = np.array([[1.0], [-4.0], [3.0], [-8.0]])
    scale = np.array([1.0, 2.0, 3.0, 4.0])  # scores |r| / s: 1, 2, 1, 2
    spec = calibrate(pred, true, [50.0], scale=scale, window=12)
    assert spec["method"] == "scaled" and spec["scale_window"] == 12
    assert spec["quantiles"]["50"] == [2.0]  # ceil(5 * 0.5) = 3rd of 1, 1, 2, 2
    assert spec["scale_floor"] == pytest.approx(0.25)  # 0.1 x the median scale 2.5
    # serving: the half-width is q times the scale at the origin, never below the floor
    series = np.array([5.0, 5.0, 5.0, 5.0, 9.0])
    origins = np.array([0, 3, 4])
    s = origin_scale(spec, series, origins)
    np.testing.assert_allclose(s, [0.25, 0.25, 1.0])  # no history, flat history, (0+0+0+4)/4
    lo, hi = bounds(np.full((3, 1), 7.0), spec, s)["50"]
    np.testing.assert_allclose(hi[:, 0] - 7.0, [0.5, 0.5, 2.0])  # q = 2 times the scale
    np.testing.assert_allclose(7.0 - lo[:, 0], [0.5, 0.5, 2.0])
    np.testing.assert_allclose(origin_scale({"method": "abs"}, series, origins), 1.0)
    # a scale that is zero at the median (a constant history) falls back to plain residuals
    assert calibrate(pred, true, [50.0], scale=np.zeros(4), window=12)["method"] == "abs"


def test_interval_metrics_flags_and_summary_line() -> None:
    true = np.array([[1.0], [2.0], [3.0], [10.0]])
    lo, hi = np.zeros((4, 1)), np.full((4, 1), 3.0)
    m = interval_metrics(true, {"80": (lo, hi), "99.5": (lo - 10, hi + 10)})
    assert m == {
        "interval_points": 4.0,
        "coverage_80": 75.0,
        "width_80": 3.0,
        "coverage_99.5": 100.0,
        "width_99.5": 23.0,
    }
    assert all(is_interval_metric(k) for k in m) and not is_interval_metric("rmse")
    # horizon 12 over 12 test times is one window: counted as 12 times, 2 of 12 inside is flagged
    twelve = np.arange(12.0)[None, :]
    late = interval_metrics(twelve, {"80": (twelve + 0.5, twelve + 1.0)})
    late["coverage_80"] = 100 * 2 / 12
    assert late["interval_points"] == 12.0 and coverage_flags(late) == ["80% interval covers 16.7%"]
    stacked = np.tile(twelve, (10, 1))  # ten series of one 12-step window each
    assert interval_metrics(stacked, {}, n_series=10)["interval_points"] == 120.0
    assert coverage_flags(m) == []
    assert coverage_flags({"coverage_80": 65.0, "coverage_95": 90.0}) == [
        "80% interval covers 65.0%"
    ]
    line = summary_line({"rmse": 1.0, "coverage_80": 65.0, "width_80": 3.0})
    assert line is not None and "80% covers 65.0%" in line and "FLAG" in line
    assert summary_line({"rmse": 1.0}) is None
    assert level_name(80.0) == "80" and level_name(99.5) == "99.5"


def test_a_coverage_flag_needs_more_than_the_test_points_explain() -> None:
    # R: binom.test(3, 10)$p.value = 0.34375; binom.test(8, 8, 0.8)$p.value = 0.3709
    assert binomial_p(3, 10, 0.5) == pytest.approx(0.34375)
    assert binomial_p(8, 8, 0.8) == pytest.approx(0.37085, abs=1e-5)
    assert binomial_p(7, 16, 0.8) == pytest.approx(0.0014759, abs=1e-6)
    # 22 of 24 inside the 80% interval (91.7%) and 8 of 8 happen by chance; 7 of 16 does not
    assert coverage_flags({"coverage_80": 22 / 24 * 100, "interval_points": 24}) == []
    assert coverage_flags({"coverage_80": 100.0, "interval_points": 8}) == []
    assert coverage_flags({"coverage_80": 7 / 16 * 100, "interval_points": 16}) == [
        "80% interval covers 43.8%"
    ]
    # 24 points at 95%: 20 inside (83.3%) is beyond chance, 22 (91.7%) is not more than 10 off
    assert coverage_flags({"coverage_95": 20 / 24 * 100, "interval_points": 24}) != []
    line = summary_line({"coverage_80": 100.0, "width_80": 1.0, "interval_points": 8})
    assert line is not None and "FLAG" not in line


def test_split_conformal_holds_nominal_coverage_on_exchangeable_residuals() -> None:
    # a known model (the true conditional mean of an AR(1)) and many calibration/test draws: the
    # expected coverage of split conformal with n = 19 is exactly ceil(20 L) / 20, i.e. L here;
    # an off-by-one rank (75 % or 85 %) or a wrong quantile fails this
    rng = np.random.default_rng(0)
    covered: dict[float, list[float]] = {80.0: [], 95.0: []}
    for _ in range(3000):
        y = np.zeros(40)
        for t in range(1, 40):
            y[t] = 0.7 * y[t - 1] + rng.standard_t(5)
        pred = (0.7 * y[:-1])[:, None]
        true = y[1:][:, None]
        spec = calibrate(pred[:19], true[:19], [80.0, 95.0])
        b = bounds(pred[19:], spec)
        for level in covered:
            lo, hi = b[level_name(level)]
            covered[level].append(float(np.mean((true[19:] >= lo) & (true[19:] <= hi))))
    for level, values in covered.items():
        assert abs(100 * np.mean(values) - level) < 1.0, (level, 100 * np.mean(values))


@pytest.mark.parametrize(
    ("levels", "needle"),
    [
        ([80, 80], "evaluate.levels: .*unique"),
        ([0, 95], "evaluate.levels: .*between 0 and 100"),
        ([100], "evaluate.levels: .*between 0 and 100"),
        (["x"], "evaluate.levels.0"),
        ([True], "evaluate.levels: .*numbers"),
    ],
)
def test_bad_levels_are_one_line_errors_naming_the_key(levels: list[object], needle: str) -> None:
    with pytest.raises(UserError, match=needle) as info:
        load_config(None, {"evaluate.levels": levels})
    assert "\n" not in str(info.value) and info.value.exit_code == 2


def test_levels_default_sorted_and_off() -> None:
    assert load_config().evaluate.levels == [80, 95]
    assert load_config(None, {"evaluate.levels": [95, 50]}).evaluate.levels == [50, 95]
    assert load_config(None, {"evaluate.levels": []}).evaluate.levels == []

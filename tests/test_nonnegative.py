"""Forecasts of a series that is never negative are kept at or above zero
(``evaluate.nonnegative``): the rule, the clipping, and a trained model whose served forecasts
and intervals are clipped exactly as its evaluation clipped them; one series and a panel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_NET

from lstmtune.config import EvaluateConfig, load_config
from lstmtune.errors import UserError
from lstmtune.features import rmse
from lstmtune.nonnegative import (
    applies,
    clip,
    clip_bounds,
    clip_frame,
    decide,
    describe,
    panel_decisions,
    unseen,
)

FIXED: dict[str, Any] = {
    **SMALL_NET,
    "lookback": 12,
    "batch_size": 32,
    "epochs": 4,
    "transform": "none",
    "anchor": "seasonal",
    "window_norm": False,
}
BANDS = [f"step_{k}_{side}_{lv}" for k in (1, 2) for lv in (80, 95) for side in ("lo", "hi")]


def counts(n: int = 150, seed: int = 5) -> np.ndarray:
    """Monthly Poisson counts with mean about 2 and a season (many zeros and ones)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return rng.poisson(2.0 * (1 + 0.6 * np.sin(2 * np.pi * t / 12))).astype(np.float64)


# the rule and the clipping


def test_auto_clips_a_series_without_a_negative_value_in_train_val() -> None:
    assert applies("auto", np.array([0.0, 3.0, np.nan, 1.0]))  # NaN: not counted
    assert not applies("auto", np.array([0.0, 3.0, -0.5]))
    assert applies(True, np.array([-5.0])) and not applies(False, np.array([1.0]))
    assert decide("auto", np.array([1.0])) == {"rule": "auto", "clip": True}
    assert decide(False, np.array([1.0])) == {"rule": "false", "clip": False}
    with pytest.raises(ValueError, match="auto, true or false"):
        applies("yes", np.array([1.0]))


def test_config_key_reads_auto_true_false_and_refuses_anything_else() -> None:
    assert EvaluateConfig().nonnegative == "auto"
    assert EvaluateConfig(nonnegative="false").nonnegative is False
    assert EvaluateConfig(nonnegative=True).nonnegative is True
    with pytest.raises(
        UserError, match=r"evaluate\.nonnegative: .*auto, true or false, got 'sure'"
    ):
        load_config(None, {"evaluate.nonnegative": "sure"})


def test_clipping_raises_values_below_zero_only_where_the_decision_says() -> None:
    values = np.array([[-1.0, 0.5], [2.0, -0.0001]])
    np.testing.assert_array_equal(clip(values, {"clip": True}), [[0.0, 0.5], [2.0, 0.0]])
    assert clip(values, {"clip": False}) is values and clip(values, None) is values
    lo, hi = clip_bounds({"80": (values, values + 1)}, {"clip": True})["80"]
    assert lo.min() == 0.0 and hi[0, 0] == 0.0 and hi[1, 1] == pytest.approx(0.9999)
    frame = pd.DataFrame({"id": [-3, -4], "step_1": [-1.0, 1.0], "step_1_lo_80": [-2.0, 0.5]})
    out = clip_frame(frame, {"clip": True})
    assert out["id"].tolist() == [-3, -4]  # a panel's id column is not a forecast
    assert out["step_1"].tolist() == [0.0, 1.0] and out["step_1_lo_80"].tolist() == [0.0, 0.5]
    assert frame["step_1"].tolist() == [-1.0, 1.0]  # the input is not changed
    assert clip_frame(frame, None) is frame  # a model saved before the key serves as before


def test_panel_decides_per_series_and_a_new_series_by_the_panel() -> None:
    targets = {"counts": np.array([0.0, 2.0]), "signed": np.array([1.0, -1.0])}
    record = panel_decisions("auto", targets)
    assert record["series"]["counts"]["clip"] and not record["series"]["signed"]["clip"]
    assert record["unseen"] is False  # one series of the panel went below zero
    assert unseen({"nonnegative": record}, np.array([1.0, 2.0])) == {"rule": "auto", "clip": False}
    both = panel_decisions("auto", {"a": np.array([0.0]), "b": np.array([3.0])})
    assert unseen({"nonnegative": both}, np.array([1.0]))["clip"]  # type: ignore[index]
    assert not unseen({"nonnegative": both}, np.array([1.0, -2.0]))["clip"]  # type: ignore[index]
    forced = panel_decisions(True, targets)
    assert unseen({"nonnegative": forced}, np.array([-1.0]))["clip"]  # type: ignore[index]
    assert unseen({}, np.array([1.0])) is None  # saved before the key


def test_the_summary_line_says_what_is_kept_at_zero_and_why_only_when_it_applies() -> None:
    assert describe(None) is None and describe({"rule": "auto", "clip": False}) is None
    line = describe({"rule": "auto", "clip": True})
    assert line == (
        "forecasts and interval bounds kept at or above zero (evaluate.nonnegative: auto;"
        " no negative value in train+val)"
    )
    assert describe({"rule": "true", "clip": True}) == (
        "forecasts and interval bounds kept at or above zero (evaluate.nonnegative: true)"
    )
    panel = {"rule": "auto", "series": {"a": True, "b": False}, "unseen": False}
    assert "of 1 of 2 series" in (describe(panel) or "") and "it has no negative" in str(
        describe(panel)
    )
    assert describe({**panel, "series": {"a": False}}) is None


def test_the_run_summary_and_reports_carry_the_line_only_when_it_applies() -> None:
    from lstmtune.plots import PlotSet
    from lstmtune.report import markdown_summary, render_report
    from lstmtune.runner import format_summary

    summary: dict[str, Any] = {
        "task": "forecast",
        "n_trials_complete": 4,
        "n_trials_pruned": 0,
        "n_trials_failed": 0,
        "objective": "val_rmse",
        "best_value": 1.5,
        "best_trial": 1,
        "best_params": {"units": 8},
        "test_metrics": {"rmse": 1.4, "coverage_80": 79.0, "width_80": 3.2},
        "baseline_metrics": {"auto_ets": {"rmse": 1.5}},
        "beats_baseline": True,
        "best_baseline": "auto_ets",
        "primary_metric": "rmse",
        "model_name": "m",
        "model_version": "1",
        "alias": "champion",
        "promotion_reason": "beats auto_ets",
        "model_uri": "models:/m/1",
        "tracking_uri": "sqlite:///x.db",
        "nonnegative": {"rule": "auto", "clip": True},
    }
    line = "forecasts and interval bounds kept at or above zero"
    assert f"  {line} (evaluate.nonnegative: auto; no negative value in train+val)" in (
        format_summary(summary).splitlines()
    )
    assert "Forecasts and interval bounds kept at or above zero" in markdown_summary(summary)
    assert "Forecasts and interval bounds kept at or above zero" in render_report(
        summary, PlotSet()
    )
    for record in ({"rule": "auto", "clip": False}, None):
        quiet = {**summary, "nonnegative": record}
        assert "above zero" not in format_summary(quiet) + markdown_summary(quiet)


# a trained model: evaluation and serving


def _prepared(tmp_path: Path, values: np.ndarray, **extra: Any) -> Any:
    from lstmtune.data.prepare import prepare

    path = tmp_path / "counts.csv"
    months = pd.date_range("2000-01-01", periods=len(values), freq="MS").strftime("%Y-%m")
    frame = pd.DataFrame({"month": months, "y": values})
    frame.to_csv(path, index=False)
    keys = {"data.path": str(path), "data.target": "y", "data.time_column": "month"}
    keys |= {"data.horizon": 2, "data.val_size": 30, "data.test_size": 24}  # type: ignore[dict-item]
    keys |= {"data.seasonal_period": 12}  # type: ignore[dict-item]
    keys |= {"tune.search_space": dict(FIXED), "output_dir": str(tmp_path / "out"), **extra}
    return prepare(load_config(None, keys).resolved())


@pytest.fixture(scope="module")
def count_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A tiny network trained on train+val of 150 Poisson counts and its calibration."""
    from lstmtune.final_forecast import final_networks, prepare_final
    from lstmtune.retrain import FinalTrainer
    from lstmtune.search_space import default_configuration, fixed_params
    from lstmtune.training import select_device

    parts, meta = _prepared(tmp_path_factory.mktemp("counts"), counts())
    space = meta["search_space"]
    params = {**default_configuration(space, meta), **fixed_params(space)}
    cfg = load_config(None, {"data.path": "x.csv", "data.target": "y"})
    trainer = FinalTrainer(cfg, params, 4, 0, select_device("cpu"))
    _, intervals = prepare_final(parts, meta, [trainer], combine=False, levels=[80, 95])
    fits, _ = final_networks(parts, meta, [trainer], {})
    return meta, params, fits, intervals


def _served(
    tmp_path: Path, count_model: Any, rule: str | bool, drop_key: bool = False
) -> tuple[Any, pd.DataFrame, np.ndarray]:
    """The evaluation under ``rule``, the model saved and served on the whole series: ``(the
    evaluation, the served rows of the test origins, their targets)``."""
    from lstmtune.final_forecast import evaluate_forecast
    from lstmtune.serving import Predictor, save_model_dir

    meta, params, fits, intervals = count_model
    ev = evaluate_forecast(fits, meta, None, intervals, nonnegative=rule)
    problem, f = fits.problem, fits.problem.featurizer
    spec = {"task": "forecast", "params": params, "n_features": problem.n_features}
    spec |= {"n_outputs": problem.n_outputs, "zero_head": problem.zero_head, **ev.spec_extra}
    if drop_key:
        spec.pop("nonnegative")
    save_model_dir(tmp_path / f"model-{rule}-{drop_key}", fits.models[0], spec)
    predictor = Predictor.load(tmp_path / f"model-{rule}-{drop_key}")
    served = predictor.predict(pd.DataFrame(problem.raw, columns=f.features))
    ends = problem.ends("test")
    return ev, served.iloc[ends - (f.lookback - 1)], f.raw_targets(problem.raw, ends)


def _metrics(rows: pd.DataFrame, true: np.ndarray) -> dict[str, float]:
    out = {"rmse": rmse(rows[["step_1", "step_2"]].to_numpy(), true)}
    for level in ("80", "95"):
        lo = rows[[f"step_{k}_lo_{level}" for k in (1, 2)]].to_numpy()
        hi = rows[[f"step_{k}_hi_{level}" for k in (1, 2)]].to_numpy()
        out[f"coverage_{level}"] = float(100 * np.mean((true >= lo) & (true <= hi)))
        out[f"width_{level}"] = float(np.mean(hi - lo))
    return out


def test_served_intervals_of_counts_stay_at_zero_as_evaluated(
    tmp_path: Path, count_model: Any
) -> None:
    ev, rows, true = _served(tmp_path, count_model, "auto")
    assert ev.spec_extra["nonnegative"] == {"rule": "auto", "clip": True}
    assert ev.details["nonnegative"] == ev.spec_extra["nonnegative"]  # -> summary.json
    assert (rows[["step_1", "step_2", *BANDS]].to_numpy() >= 0).all()
    served = _metrics(rows, true)
    assert {k: ev.test_metrics[k] for k in served} == pytest.approx(served, rel=1e-9)

    # false: the same model's lower bounds reach below zero; the clipped intervals cover the
    # (non-negative) counts exactly as often, narrower
    off, raw_rows, _ = _served(tmp_path, count_model, False)
    assert off.spec_extra["nonnegative"] == {"rule": "false", "clip": False}
    lows = raw_rows[[c for c in BANDS if "_lo_" in c]].to_numpy()
    assert (lows < 0).mean() > 0.5, lows
    unclipped = _metrics(raw_rows, true)
    assert {k: off.test_metrics[k] for k in unclipped} == pytest.approx(unclipped, rel=1e-9)
    for level in ("80", "95"):
        assert served[f"coverage_{level}"] == unclipped[f"coverage_{level}"]
        assert served[f"width_{level}"] < unclipped[f"width_{level}"]
    assert served["rmse"] <= unclipped["rmse"]
    for name in ("auto_arima", "auto_ets"):  # the classical baselines are clipped alike
        if name in ev.baselines:
            assert ev.baselines[name]["rmse"] <= off.baselines[name]["rmse"]

    # a model saved before the key: served as before (unclipped)
    _, old_rows, _ = _served(tmp_path, count_model, "auto", drop_key=True)
    pd.testing.assert_frame_equal(old_rows, raw_rows)


def test_a_series_with_a_negative_value_in_train_is_not_clipped_under_auto(
    tmp_path: Path,
) -> None:
    from lstmtune.final_forecast import evaluate_forecast, final_networks
    from lstmtune.retrain import FinalTrainer
    from lstmtune.search_space import default_configuration, fixed_params
    from lstmtune.training import select_device

    values = counts()
    values[20] = -1.0  # one negative value in train: a signed series
    parts, meta = _prepared(tmp_path, values)
    space = meta["search_space"]
    params = {**default_configuration(space, meta), **fixed_params(space)}
    cfg = load_config(None, {"data.path": "x.csv", "data.target": "y"})
    fits, _ = final_networks(
        parts, meta, [FinalTrainer(cfg, params, 1, 0, select_device("cpu"))], {}
    )
    assert evaluate_forecast(fits, meta, None).spec_extra["nonnegative"]["clip"] is False
    forced = evaluate_forecast(fits, meta, None, nonnegative=True).spec_extra["nonnegative"]
    assert forced == {"rule": "true", "clip": True}


# many series: one non-negative, one signed


@pytest.fixture(scope="module")
def two_series(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from lstmtune.data.prepare import prepare

    rng = np.random.default_rng(2)
    n = 96
    months = pd.date_range("2000-01-01", periods=n, freq="MS").strftime("%Y-%m")
    signed = 3 * np.sin(2 * np.pi * np.arange(n) / 12) + rng.normal(0, 1.0, n)
    frame = pd.concat(
        [
            pd.DataFrame({"id": "counts", "month": months, "y": counts(n, seed=9)}),
            pd.DataFrame({"id": "signed", "month": months, "y": signed}),
        ]
    )
    path = tmp_path_factory.mktemp("panel") / "panel.csv"
    frame.to_csv(path, index=False)
    keys = {"data.target": "y", "data.time_column": "month", "data.series_column": "id"}
    keys |= {"data.test_size": 12, "data.val_size": 12}  # type: ignore[dict-item]
    return prepare(load_config(None, {"data.path": str(path), **keys}).resolved())


def test_a_panel_clips_its_non_negative_series_only_as_evaluated(two_series: Any) -> None:
    from lstmtune.final_panel import evaluate_panel, validation_choices
    from lstmtune.model import build_model
    from lstmtune.problems import make_problem
    from lstmtune.registry_panel import member_history, panel_score_on_test
    from lstmtune.retrain import _spec
    from lstmtune.serving import Predictor

    parts, meta = two_series
    params = {**FIXED, "lookback": 13}
    problem = make_problem(parts, meta, params)
    # the zero head: the network forecasts its seasonal anchor
    model = build_model(problem.n_features, problem.n_outputs, params, zero_head=True).eval()
    _, intervals = validation_choices(problem, meta, lambda p, d: model, [80.0, 95.0], False)
    ev = evaluate_panel(problem, model, meta, intervals, None)
    record = ev.details["nonnegative"]
    assert record == {"rule": "auto", "series": {"counts": True, "signed": False}, "unseen": False}
    assert "of 1 of 2 series" in str(describe(record))
    predictor = Predictor(_spec(meta, params, problem, 1, ev.spec_extra), model.state_dict())
    assert panel_score_on_test(predictor.predict, parts, meta, 13) == pytest.approx(
        ev.test_metrics["mase"], rel=1e-9
    )
    per_series, h = ev.details["per_series"], int(meta["horizon"])
    for sid in ("counts", "signed"):
        history = member_history(parts, meta, sid)
        test = meta["panel"]["members"][sid]["meta"]["splits"]["test"]
        ends = np.arange(int(test["start"]) - 1, int(test["end"]) - h)  # the test origins
        served = predictor.predict(history).iloc[ends - 12]
        true = history["y"].to_numpy()[ends[:, None] + np.arange(1, h + 1)]
        lows = served[[c for c in served if "_lo_" in c]].to_numpy()
        assert (lows >= 0).all() if sid == "counts" else (lows < 0).any(), (sid, lows)
        for level in ("80", "95"):
            lo = served[[f"step_{k}_lo_{level}" for k in range(1, h + 1)]].to_numpy()
            hi = served[[f"step_{k}_hi_{level}" for k in range(1, h + 1)]].to_numpy()
            covered = 100 * np.mean((true >= lo) & (true <= hi))
            assert covered == pytest.approx(per_series[sid][f"coverage_{level}"])
            assert np.mean(hi - lo) == pytest.approx(per_series[sid][f"width_{level}"])
    new = member_history(parts, meta, "counts").assign(id="new store")
    out = predictor.predict(new)  # the panel had a signed series: a new one is not clipped
    assert (out[[c for c in out if "_lo_" in c]].to_numpy() < 0).any()

"""The published forecast as an average of the best trials' configurations: which trials join,
what the tuning result records, and a two-member ensemble with different preprocessing served by
the pyfunc exactly as it was evaluated."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_NET
from torch import nn

from lstmtune.config import RunConfig, load_config
from lstmtune.features import rmse
from lstmtune.forecast_members import (
    AUTO_SECONDS,
    AUTO_WORK,
    STEP_WORK,
    choose_members,
    history_rows,
    retrain_work,
)

BASE: dict[str, Any] = {
    **SMALL_NET,
    "batch_size": 32,
    "epochs": 8,
    "cell": "lstm",
    "head": "last",
}


def _top(n: int, seconds: float = 1.0) -> list[dict[str, Any]]:
    return [
        {"number": i, "value": float(i), "params": {"units": i}, "best_epoch": 3 + i,
         "train_seconds": seconds}
        for i in range(n)
    ]  # fmt: skip


def _counted(n: int, work: float, seconds: float) -> list[dict[str, Any]]:
    """Top trials with the counts: each retrain ``work`` (4 epochs x (10 windows x 5 steps x
    parameters + one optimizer step)), trained for ``seconds``."""
    tops = _top(n, seconds)
    for t in tops:
        t["params"] = {**t["params"], "lookback": 10, "patch": 2, "batch_size": 16}
        t["best_epoch"], t["n_train"] = 4, 10
        t["param_count"] = round((work / 4 - STEP_WORK) / 50)
    return tops


def test_members_follow_the_winner_within_the_setting_and_the_auto_budget() -> None:
    best = {"best_params": {"units": 0}, "extra": {"top_trials": _top(5)}}
    assert [m["number"] for m in choose_members(best, "auto")] == [1, 2, 3, 4]
    assert [m["number"] for m in choose_members(best, 3)] == [1, 2]
    assert choose_members(best, 1) == []
    slow = {"best_params": {"units": 0}, "extra": {"top_trials": _top(5, AUTO_SECONDS / 2.5)}}
    assert [m["number"] for m in choose_members(slow, "auto")] == [1]  # 3 trials' time: over
    assert len(choose_members(slow, 5)) == 4  # a number is the user's choice, not budgeted
    assert choose_members({**best, "schedule": [{"epoch": 1}]}, "auto") == []  # PBT
    assert choose_members({"best_params": {"units": 0}, "extra": {}}, "auto") == []  # Katib


def test_the_auto_budget_counts_work_so_a_busy_machine_publishes_the_same_members() -> None:
    def auto(tops: list[dict[str, Any]]) -> list[int]:
        best = {"best_params": tops[0]["params"], "extra": {"top_trials": tops}}
        return [m["number"] for m in choose_members(best, "auto")]

    assert retrain_work(_counted(1, AUTO_WORK / 2.5, 1)[0]) == pytest.approx(AUTO_WORK / 2.5, 1e-9)
    # the same counts, trained in 1 s or in 10x the seconds budget: the same members
    assert auto(_counted(5, AUTO_WORK / 10, 1.0)) == [1, 2, 3, 4]
    assert auto(_counted(5, AUTO_WORK / 10, AUTO_SECONDS * 10)) == [1, 2, 3, 4]
    assert auto(_counted(5, AUTO_WORK / 2.5, 1.0)) == [1]  # 3 retrains' work: over
    assert auto(_counted(5, AUTO_WORK * 2, 1.0)) == []  # the winner alone is over: one network
    # a trial without the counts (a study resumed from an older version): seconds, as before
    mixed = _counted(5, AUTO_WORK / 10, AUTO_SECONDS / 2.5)
    mixed[3]["param_count"] = None
    assert retrain_work(mixed[3]) is None
    assert auto(mixed) == [1]


def test_the_tuning_result_records_the_best_distinct_configurations(
    tiny_config: Callable[..., RunConfig],
) -> None:
    from lstmtune.data.prepare import prepare
    from lstmtune.tuning import run_study

    cfg = tiny_config(tune__n_trials=7)
    parts, meta = prepare(cfg)
    result = run_study(cfg, parts, meta)
    tops = result.extra["top_trials"]
    assert 1 < len(tops) <= 5
    assert tops[0]["number"] == result.best_trial and tops[0]["params"] == result.best_params
    assert [t["value"] for t in tops] == sorted(t["value"] for t in tops)
    assert len({repr(sorted(t["params"].items())) for t in tops}) == len(tops)
    assert all(t["train_seconds"] > 0 and t["best_epoch"] >= 1 for t in tops)
    # the counts of the auto budget, as the trial trained them: windows and parameters
    assert all(t["n_train"] == len(parts["train"]) - t["params"]["lookback"] for t in tops)
    assert all((retrain_work(t) or 0) > t["best_epoch"] * t["n_train"] for t in tops)


def test_an_ensemble_with_different_preprocessing_is_served_as_it_was_evaluated(
    airline_csv: str, tmp_path: Path
) -> None:
    from lstmtune.classical_fits import add_classical
    from lstmtune.data.prepare import prepare
    from lstmtune.final_forecast import evaluate_forecast, final_networks, prepare_final
    from lstmtune.forecast_members import member_entries
    from lstmtune.retrain import FinalTrainer
    from lstmtune.serving import Predictor, save_model_dir
    from lstmtune.training import select_device

    overrides = {"data.path": airline_csv, "data.target": "passengers"}
    cfg = load_config(None, {**overrides, "data.time_column": "month"}).resolved()
    parts, meta = prepare(cfg)
    add_classical(meta, parts, "train", extend_space=False)  # as the prepare step does
    first = {**BASE, "lookback": 13, "transform": "log", "anchor": "seasonal_trend"}
    second = {**BASE, "lookback": 24, "transform": "none", "anchor": "seasonal"}
    second["window_norm"] = first["window_norm"] = True
    device = select_device("cpu")
    trainers = [FinalTrainer(cfg, first, 8, 0, device), FinalTrainer(cfg, second, 6, 1, device)]
    combination, intervals = prepare_final(parts, meta, trainers, combine=True, levels=[80])
    assert combination is not None and intervals is not None
    assert combination["rule"] == "equal"  # the default: equal weights of the kept forecasts
    kept = combination["weights"]
    assert sum(kept.values()) == pytest.approx(1.0) and len(set(kept.values())) == 1
    fitted, _ = prepare_final(
        parts, copy.deepcopy(meta), trainers, combine=True, levels=[], rule="validation"
    )
    assert fitted is not None and fitted["rule"] == "validation"
    assert all(round(w / 0.05, 6).is_integer() for w in fitted["weights"].values())  # the grid
    with pytest.raises(ValueError, match="combine_weights"):
        prepare_final(parts, copy.deepcopy(meta), trainers, combine=True, levels=[], rule="mean")
    fits, results = final_networks(parts, meta, trainers, {})
    assert len(results) == 2
    members = member_entries(fits.problems, trainers)
    ev = evaluate_forecast(fits, meta, combination, intervals, members)
    spec = {"task": "forecast", "params": first, "n_outputs": 1, "zero_head": True}
    spec |= {"n_features": fits.problem.n_features, **ev.spec_extra}
    save_model_dir(tmp_path / "model", nn.ModuleList(fits.models), spec)
    assert history_rows(spec) == 24
    predictor = Predictor.load(tmp_path / "model")
    f = fits.problem.featurizer
    history = pd.DataFrame(fits.problem.raw, columns=f.features)
    served = predictor.predict(history)
    ends = fits.problem.ends("test")
    assert len(served) == len(history) - 23  # origins every member can forecast from
    step1 = served["step_1"].to_numpy()[ends - 23]
    assert rmse(step1[:, None], f.raw_targets(fits.problem.raw, ends)) == pytest.approx(
        ev.test_metrics["rmse"], rel=1e-9
    )
    # a consumer sends the last rows only, with or without times: the same forecasts
    assert ev.spec_extra["history"]["start"] == 0 and ev.spec_extra["combination"]["specs"]
    times = pd.read_csv(airline_csv)["month"]
    timed = Predictor(spec | {"time_axis": meta["time_axis"]}, predictor.model.state_dict())
    for first in (30, len(history) - 30):
        tail = history.iloc[first:].reset_index(drop=True)
        expected = served.iloc[first:].to_numpy()
        np.testing.assert_allclose(predictor.predict(tail).to_numpy(), expected, rtol=1e-9)
        dated = tail.assign(month=times.iloc[first:].to_numpy())
        answer = timed.predict(dated)  # the origins' months first, then the same forecasts
        assert (answer.pop("month") == dated["month"].iloc[23:]).all()
        np.testing.assert_allclose(answer.to_numpy(), expected, rtol=1e-9)
    pairs = zip(fits.problems, fits.models, strict=True)
    alone = [p.predict(m, p.tensors("test")) for p, m in pairs]
    assert not np.allclose(alone[0], alone[1])  # two members, two forecasts, averaged
    with pytest.raises(ValueError, match="lookback=24"):
        predictor.predict(history.tail(20))
    holed = history.tail(30).reset_index(drop=True)
    holed.loc[4, f.features[0]] = np.nan  # named: it said "input has missing or infinite values"
    with pytest.raises(ValueError, match=rf"column '{f.features[0]}' .* at input row 5$"):
        predictor.predict(holed)
    # a model trained with data.missing fills a sent history's gaps the same way
    state = predictor.model.state_dict()
    strict = Predictor(spec | {"missing": "error"}, state)
    with pytest.raises(ValueError, match=r"at input row 5 \(the model was trained with data"):
        strict.predict(holed)
    for how in ("ffill", "interpolate"):
        filling = Predictor(spec | {"missing": how}, state)
        by_hand = holed.ffill() if how == "ffill" else holed.interpolate()
        expected = predictor.predict(by_hand).to_numpy()
        np.testing.assert_allclose(filling.predict(holed).to_numpy(), expected, rtol=1e-12)
    leading = holed.assign(**{f.features[0]: [np.nan, *holed[f.features[0]].iloc[1:]]})
    with pytest.raises(ValueError, match=r"at input row 1 \(nothing before it to carry forward"):
        Predictor(spec | {"missing": "ffill"}, state).predict(leading)


def test_the_summary_line_says_the_network_is_an_average() -> None:
    from lstmtune.combine import describe

    assert describe(None, 1) is None
    alone = describe({"weights": {"network": 1.0}}, 5)
    assert alone == (
        "published forecast: the network is the average of the 5 best trials' configurations,"
        " each retrained"
    )
    mixed = describe({"weights": {"network": 0.85, "arima": 0.15}}, 3)
    assert mixed is not None and mixed.startswith("published forecast: 0.85 x network + 0.15")
    assert mixed.endswith(
        "the network is the average of the 3 best trials' configurations, each retrained"
    )
    classical = describe({"weights": {"arima": 1.0}}, 3)
    assert classical is not None and "average" not in classical  # no network in it at all

"""A served forecast carries the times it belongs to: the time column of each origin row (the
last history row a forecast reads), typed as sent, first (after the series id for many series),
and the input's index labels of those rows, so ``history.join(pred)`` lines up; through the
pyfunc, ``RunResult.predict``'s indexed frames and the panel report's plot data. Real objects:
an untrained network behind a hand-made featurizer, a real preparation for the plot."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from lstmtune.api_frame import predict_as_sent
from lstmtune.conformal import calibrate
from lstmtune.features import ForecastFeaturizer
from lstmtune.model import build_model
from lstmtune.serving import Predictor

PARAMS = {"units": 4, "num_layers": 1, "dropout": 0.0, "bidirectional": False}
MONTHS = {"column": "month", "kind": "datetime", "freq": "MS", "style": "month"}
MONTHS |= {"freq_source": "inferred", "first": "2020-01", "last": "2020-12"}
STEPS = {"column": "t", "kind": "number", "freq": "1", "freq_source": "inferred"}
STEPS |= {"first": "100", "last": "111"}
PANEL = {"series_column": "id", "members": {}}  # every series new: scaled on its history


def _predictor(**extra: Any) -> Predictor:
    f = ForecastFeaturizer(
        features=["y"], target="y", target_index=0, lookback=3, horizon=2, transform="none",
        anchor="last", window_norm=False, period=1, mean=[100.0], std=[20.0],
    )  # fmt: skip
    torch.manual_seed(0)
    net = build_model(1, 2, PARAMS, zero_head=False)
    spec = {"task": "forecast", "featurizer": f.to_dict(), "n_features": 1, "n_outputs": 2}
    spec |= {"params": PARAMS, "zero_head": False, "missing": "error", **extra}
    return Predictor(spec, net.state_dict())


def _intervals() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(40, 2))
    return calibrate(pred, pred + rng.normal(size=(40, 2)), [80.0])


def _history(rows: int = 10) -> pd.DataFrame:
    """Monthly values under the labels r0, r1, … (a filtered frame's labels, not 0 … n-1)."""
    values = np.round(100 + 10 * np.sin(np.arange(rows)), 1)
    months = pd.date_range("2020-01-01", periods=rows, freq="MS")
    return pd.DataFrame({"month": months, "y": values}, index=[f"r{i}" for i in range(rows)])


STEP_COLUMNS = ["step_1", "step_2"]
BANDS = ["step_1_lo_80", "step_1_hi_80", "step_2_lo_80", "step_2_hi_80"]


def test_a_datetime_time_column_comes_first_with_each_origins_time_and_label() -> None:
    history = _history()
    model = _predictor(time_axis=MONTHS, intervals=_intervals())
    pred = model.predict(history)
    assert list(pred.columns) == ["month", *STEP_COLUMNS, *BANDS]  # the contract's order kept
    assert pred["month"].dtype == history["month"].dtype  # datetime64, as sent
    assert list(pred.index) == [f"r{i}" for i in range(2, 10)]  # origins: rows 2 (lookback-1) on
    assert (pred["month"] == history["month"].iloc[2:]).all()  # the last month each one read
    joined = history.join(pred.drop(columns="month"))  # each forecast beside its origin row
    assert joined["step_1"].isna().tolist() == [True, True] + [False] * 8
    assert joined.loc["r9", "step_1"] == pred["step_1"].iloc[-1]
    # the same numbers as without the times (a fresh index then)
    untimed = model.predict(history.drop(columns="month"))
    pd.testing.assert_frame_equal(pred.drop(columns="month"), untimed)


@pytest.mark.parametrize("held", ["int", "period", "text"])
def test_the_time_column_is_typed_as_it_was_sent(held: str) -> None:
    history = _history()
    if held == "int":
        sent = history.assign(t=np.arange(100, 110)).drop(columns="month")
        model, column = _predictor(time_axis=STEPS), "t"
    else:
        months = history["month"].dt.to_period("M")
        sent = history.assign(month=months if held == "period" else months.astype(str))
        model, column = _predictor(time_axis=MONTHS), "month"
    pred = model.predict(sent)
    assert list(pred.columns) == [column, *STEP_COLUMNS]
    assert pred[column].dtype == sent[column].dtype  # int64, period[M], object (text)
    assert pred[column].tolist() == sent[column].iloc[2:].tolist()
    expected = _predictor().predict(history.drop(columns="month"))  # no time axis at all
    pd.testing.assert_frame_equal(pred.drop(columns=column), expected)


def test_without_a_time_column_the_answer_is_untimed_under_the_origin_labels() -> None:
    history = _history().drop(columns="month").set_axis(np.arange(50, 60), axis=0)
    for model in (_predictor(), _predictor(time_axis=MONTHS)):  # a model with times, none sent
        pred = model.predict(history)
        assert list(pred.columns) == STEP_COLUMNS
        assert list(pred.index) == list(range(52, 60))
        assert history.join(pred)["step_2"].notna().sum() == 8


def _two_series() -> pd.DataFrame:
    a = _history().assign(id="a")
    b = _history(12).assign(id="b", y=lambda f: f["y"] + 50)
    b.index = [f"b{i}" for i in range(12)]
    return pd.concat([a, b])[["id", "month", "y"]]


def test_a_panel_answer_carries_the_id_then_the_time_under_the_origin_labels() -> None:
    history = _two_series()
    model = _predictor(panel=PANEL, time_axis=MONTHS)
    shuffled = history.sample(frac=1, random_state=0)  # rows in any order
    pred = model.predict(shuffled)
    assert list(pred.columns) == ["id", "month", *STEP_COLUMNS]
    assert pred["month"].dtype == history["month"].dtype
    first, second = shuffled["id"].unique()  # series by first appearance, each in time order
    labels = {"a": [f"r{i}" for i in range(2, 10)], "b": [f"b{i}" for i in range(2, 12)]}
    assert list(pred.index) == labels[first] + labels[second]
    origin = history.loc[pred.index]
    assert (origin["month"] == pred["month"]).all() and (origin["id"] == pred["id"]).all()
    joined = history.join(pred.drop(columns=["id", "month"]))
    assert joined["step_1"].notna().sum() == 18 and np.isnan(joined.loc["b1", "step_1"])
    # each series answers as it does alone, without its times, in time order
    alone = model.predict(history[history["id"] == "a"].drop(columns="month"))
    assert list(alone.columns) == ["id", *STEP_COLUMNS] and list(alone.index) == labels["a"]
    np.testing.assert_allclose(pred.loc[alone.index, STEP_COLUMNS], alone[STEP_COLUMNS])


def test_indexed_frames_get_the_answer_in_their_own_layout() -> None:
    single = _history().set_index("month")
    pred = predict_as_sent(_predictor(time_axis=MONTHS).predict, single)
    assert list(pred.columns) == STEP_COLUMNS and pred.index.name == "month"
    assert (pred.index == single.index[2:]).all()  # the times, as the index held them
    assert single.join(pred)["step_1"].notna().sum() == 8
    periods = single.set_axis(single.index.to_period("M"), axis=0)
    assert isinstance(predict_as_sent(_predictor(time_axis=MONTHS).predict, periods).index,
                      pd.PeriodIndex)  # fmt: skip
    column = _history().assign(month=lambda f: f["month"].dt.to_period("M"))
    served = predict_as_sent(_predictor(time_axis=MONTHS).predict, column)
    assert served["month"].dtype == column["month"].dtype  # a period column comes back periods
    panel = _two_series().set_index(["id", "month"])  # statsforecast's layout
    pred = predict_as_sent(_predictor(panel=PANEL, time_axis=MONTHS).predict, panel)
    assert list(pred.columns) == STEP_COLUMNS and list(pred.index.names) == ["id", "month"]
    joined = panel.join(pred)
    assert joined["step_2"].notna().sum() == 18
    assert joined.loc[("b", pd.Timestamp("2020-12-01")), "step_1"] == pred["step_1"].iloc[-1]


def _panel_view(tmp_path: Path, time_column: bool) -> Any:
    from lstmtune.config import load_config
    from lstmtune.data.prepare import prepare
    from lstmtune.plots.panel import series_view
    from lstmtune.problems import make_problem
    from lstmtune.serving_panel import predict_panel
    from lstmtune.synthetic import panel_frame

    frame = panel_frame(2, 60, seed=3)
    if not time_column:
        frame = frame.drop(columns="month")
    frame.to_csv(tmp_path / "panel.csv", index=False)
    keys = {"data.path": str(tmp_path / "panel.csv"), "data.target": "y"}
    keys |= {"data.series_column": "id", "data.test_size": 8, "data.val_size": 8}
    keys |= {"data.time_column": "month"} if time_column else {"data.seasonal_period": 12}
    parts, meta = prepare(load_config(None, keys).resolved())
    params = {"lookback": 13, "anchor": "last", "transform": "none", "units": 4}
    params |= {"num_layers": 1, "dropout": 0.0, "bidirectional": False, "cell": "lstm"}
    problem = make_problem(parts, meta, params)
    torch.manual_seed(0)
    model = build_model(problem.n_features, problem.n_outputs, params, zero_head=False).eval()
    members = {
        sid: {"index": i, "featurizer": m.featurizer.to_dict()}
        for i, (sid, m) in enumerate(zip(problem.series_ids, problem.members, strict=True))
    }
    spec = {"featurizer": problem.featurizer.to_dict(), "time_axis": meta["time_axis"]}
    spec |= {"panel": {"series_column": "id", "members": members}, "missing": "error"}
    served = SimpleNamespace(predict=lambda history: predict_panel(model, spec, history))
    sid = meta["panel"]["series"][0]
    return series_view(served, parts, meta, sid, 0.5), frame[frame["id"] == sid]


def test_the_panel_plot_puts_dates_on_its_x_axis_when_the_data_had_times(tmp_path: Path) -> None:
    view, frame = _panel_view(tmp_path, time_column=True)
    months = pd.to_datetime(frame["month"]).to_numpy()
    assert view.times.dtype.kind == "M" and view.forecast_times.dtype.kind == "M"
    assert (view.times == months[-len(view.actual) :]).all()
    assert (view.forecast_times == months[-8:]).all()  # the 8 test months, each forecast's target
    assert len(view.forecast) == 8 and len(view.times) == len(view.actual) == 32


def test_the_panel_plot_counts_steps_without_a_time_column(tmp_path: Path) -> None:
    view, frame = _panel_view(tmp_path, time_column=False)
    n = len(frame)
    assert view.times.tolist() == list(range(n - 32, n))
    assert view.forecast_times.tolist() == list(range(n - 8, n))


def test_repeated_input_labels_get_a_fresh_index_not_labels_shared_by_series() -> None:
    """A panel of ``pd.concat``-ed frames labels each series 0 … n-1: a label names no one row, so
    the answer is numbered afresh (``history.join`` would otherwise put series b's forecasts
    beside series a's rows: 22 rows joined into 38)."""
    a = _history().reset_index(drop=True).assign(id="a")
    b = _history(12).reset_index(drop=True).assign(id="b")
    panel = pd.concat([a, b])[["id", "month", "y"]]
    pred = _predictor(panel=PANEL, time_axis=MONTHS).predict(panel)
    assert list(pred.index) == list(range(18)) and list(pred["id"]) == ["a"] * 8 + ["b"] * 10
    unique = _predictor(panel=PANEL, time_axis=MONTHS).predict(panel.reset_index(drop=True))
    np.testing.assert_allclose(pred[STEP_COLUMNS], unique[STEP_COLUMNS])
    assert list(unique.index) == [*range(2, 10), *range(12, 22)]  # unique labels: the origins'
    twice = _history().set_axis([0, 1, 2, 3, 4] * 2, axis=0)  # one series, labels repeating
    assert list(_predictor(time_axis=MONTHS).predict(twice).index) == list(range(8))


def test_an_unnamed_time_index_is_the_time_column_training_named_index() -> None:
    """``lstmtune.run`` stores an unnamed DatetimeIndex as the column ``index``; predicting from
    such a frame reads it as that column, so the history's order is checked (until 2026-12-04 a
    shuffled history was forecast from the wrong windows, labelled with its dates)."""
    from lstmtune.data.timeaxis import TimeAxisError

    model = _predictor(time_axis=dict(MONTHS, column="index"))
    history = _history().set_index("month").rename_axis(None)
    pred = predict_as_sent(model.predict, history)
    assert list(pred.columns) == STEP_COLUMNS and (pred.index == history.index[2:]).all()
    with pytest.raises(TimeAxisError, match="not in time order"):
        predict_as_sent(model.predict, history.sample(frac=1, random_state=1))

"""Quarters, months, ISO weeks and halves written as R's tsibble, FRED, EViews and Stata write
them (``1970 Q1``, ``1970M01``, ``2019 W01``) are read as their periods' first days, in training
and in serving, and a column of them is left out as dates, not as text
(:mod:`lstmtune.data.period_text` through the real prepare step and the published model's
history check)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import untrained_forecaster

from lstmtune.config import load_config
from lstmtune.data.history_check import check_history, history_offset
from lstmtune.data.period_text import read_periods, spelled_unit
from lstmtune.data.prepare import prepare
from lstmtune.data.textdates import read_text_dates
from lstmtune.data.timeaxis import TimeAxisError, infer_freq, parse_times
from lstmtune.prepare_notes import _unread_dates
from lstmtune.serving import Predictor
from lstmtune.steps import _inputs_note

QUARTERS = pd.date_range("1970-01-01", periods=12, freq="QS")
MONTHS = pd.date_range("1970-01-01", periods=30, freq="MS")
WEEKS = pd.date_range("2018-12-31", periods=60, freq="W-MON")  # ISO week 1 of 2019 on
HALVES = pd.date_range("1970-01-01", periods=8, freq="6MS")


def _quarter(ts: pd.Timestamp, spelling: str) -> str:
    return spelling.format(y=ts.year, q=(ts.month - 1) // 3 + 1)


def _week(ts: pd.Timestamp, spelling: str) -> str:
    year, week, _ = ts.isocalendar()
    return spelling.format(y=year, w=week)


def _month(ts: pd.Timestamp, spelling: str) -> str:
    return spelling.format(y=ts.year, m=ts.month)


def _written(times: pd.DatetimeIndex, spelling: str) -> pd.Series:
    """``times`` as text in ``spelling`` (a format with y and q, m, w or h)."""
    if "{q" in spelling:
        return pd.Series([_quarter(t, spelling) for t in times])
    if "{w" in spelling:
        return pd.Series([_week(t, spelling) for t in times])
    if "{m" in spelling:
        return pd.Series([_month(t, spelling) for t in times])
    return pd.Series([spelling.format(y=t.year, h=(t.month - 1) // 6 + 1) for t in times])


SPELLINGS = [
    *[(QUARTERS, s, "QS-JAN", "quarter") for s in ("{y} Q{q}", "Q{q} {y}", "{y}:Q{q}")],
    *[(QUARTERS, s, "QS-JAN", "quarter") for s in ("{y}.Q{q}", "Q{q}-{y}", "Q{q}/{y}")],
    *[(QUARTERS, s, "QS-JAN", "quarter") for s in ("{y}Q{q}", "{y}-Q{q}", "{y}q{q}")],
    *[(MONTHS, s, "MS", "month") for s in ("{y}M{m:02d}", "{y}m{m}", "{y} M{m:02d}")],
    (MONTHS, "{y}:{m:02d}", "MS", "month"),  # EViews, FRED
    *[(WEEKS, s, "W-MON", "week") for s in ("{y} W{w:02d}", "{y}-W{w:02d}", "{y}W{w:02d}")],
    (HALVES, "{y} H{h}", "6MS", "date"),
    (HALVES, "{y}S{h}", "6MS", "date"),
]


@pytest.mark.parametrize(("times", "spelling", "freq", "style"), SPELLINGS)
def test_every_spelling_is_read_as_its_periods_first_day(
    times: pd.DatetimeIndex, spelling: str, freq: str, style: str
) -> None:
    written = _written(times, spelling)
    read = read_text_dates(written, lambda _: 0.0)
    np.testing.assert_array_equal(read.to_numpy(), times.to_numpy())
    _, read_style, keys = parse_times(
        written, "t", rows=np.arange(len(written)), row_word="data row"
    )
    np.testing.assert_array_equal(keys, times.to_numpy())
    assert read_style == style and infer_freq(keys, "datetime") == freq


def test_iso_week_one_starts_on_the_monday_of_the_week_holding_4_january() -> None:
    unit_and_starts = read_periods(pd.Series(["2020 W53", "2021 W01", "2026 W01"]))
    assert unit_and_starts is not None and unit_and_starts[0] == "week"
    assert unit_and_starts[1].strftime("%Y-%m-%d").tolist() == [
        "2020-12-28",
        "2021-01-04",
        "2025-12-29",
    ]


@pytest.mark.parametrize(
    ("written", "bad"),
    [
        (["2019 W52", "2019 W53"], "2019 W53"),  # 2019 has 52 ISO weeks
        (["1970M12", "1970M13"], "1970M13"),
        (["1970:11", "1970:00"], "1970:00"),
    ],
)
def test_a_period_that_does_not_exist_is_refused_naming_it(written: list[str], bad: str) -> None:
    with pytest.raises(TimeAxisError, match=rf"unparsable time '{bad}' at data row 2"):
        parse_times(pd.Series(written), "t", rows=np.arange(2), row_word="data row")


@pytest.mark.parametrize(
    "written",
    [
        ["1970 Q1", "1970 Q2", "the third quarter"],  # free text beside quarters
        ["1970 Q1", "1970M02"],  # two units
        ["1970w1", "1970w2"],  # Stata's weeks start on 1 January: no ISO weeks
        ["12:30", "12:45"],  # times of day, not EViews' months
        ["Q5 1970", "Q6 1970"],
    ],
)
def test_a_column_not_wholly_in_one_units_spellings_is_not_read_as_periods(
    written: list[str],
) -> None:
    assert spelled_unit(pd.Series(written)) is None and read_periods(pd.Series(written)) is None


@pytest.mark.parametrize("stray", ["1980 Q5", "", "1980 Q2x"])
def test_a_stray_cell_among_periods_is_named_at_its_own_row(stray: str) -> None:
    """A mistyped or blank cell in a column of ``Q1 1970``-style quarters is refused naming its
    row and value, in training and in a served history (a review found row 1's valid value
    named: the whole column had fallen back to pandas, which reads none of them)."""
    quarters = pd.date_range("1970-01-01", periods=60, freq="QS")
    written = _written(quarters, "Q{q} {y}").tolist()
    written[40] = stray
    values = pd.Series(written)
    assert spelled_unit(values) == "quarter"
    _, read = read_periods(values) or ("", pd.DatetimeIndex([]))
    assert read.isna().sum() == 1 and pd.isna(read[40]) and read[39] == quarters[39]
    shown = (
        f"an unparsable time {re.escape(repr(stray))}" if stray else r"no time \(an empty cell\)"
    )
    for word in ("data row", "input row"):
        with pytest.raises(TimeAxisError, match=rf"has {shown} at {word} 41"):
            parse_times(values.replace("", np.nan), "t", rows=np.arange(60), row_word=word)
    assert spelled_unit(pd.Series(written[:35] + ["free text"] * 5)) is None  # 1 in 8: text


def _sales(n: int, season: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return 100 + 10 * np.sin(np.arange(n) * 2 * np.pi / season) + rng.normal(0, 1, n)


def _prepared(tmp_path: Path, frame: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    path = tmp_path / "s.csv"
    frame.to_csv(path, index=False)
    keys = {"data.path": str(path), "data.target": "sales", "output_dir": str(tmp_path / "o")}
    _, meta = prepare(load_config(None, {**keys, **extra}).resolved())
    return meta


def _predictor(axis: dict[str, Any]) -> Predictor:
    """An untrained network behind a real featurizer, with the prepared time axis."""
    return untrained_forecaster("sales", 100.0, 10.0, time_axis=axis)


def test_a_tsibble_quarter_file_is_quarterly_in_training_and_in_serving(tmp_path: Path) -> None:
    """fpp2's uschange writes ``1970 Q1``: it was left out as text (a series without a time
    axis); named, it is quarterly with a season of 4, and without data.time_column it is left
    out as dates with the warning that names the setting."""
    quarters = pd.date_range("1970-01-01", periods=60, freq="QS")
    frame = pd.DataFrame({"Quarter": _written(quarters, "{y} Q{q}"), "sales": _sales(60, 4)})
    untimed = _prepared(tmp_path, frame)
    assert _inputs_note(untimed) == "; left out, dates: Quarter"  # was "as text: Quarter"
    assert _unread_dates(untimed) == (
        "warning: column 'Quarter' holds dates but data.time_column is not set: the rows are read"
        " in file order, with no time axis (set data.time_column: Quarter, --time-column Quarter)"
    )
    meta = _prepared(tmp_path, frame, **{"data.time_column": "Quarter"})
    axis = meta["time_axis"]
    assert (axis["freq"], axis["style"], axis["first"], axis["last"]) == (
        "QS-JAN",
        "quarter",
        "1970Q1",
        "1984Q4",
    )
    assert meta["seasonal_period"] == 4 and _unread_dates(meta) is None
    history = frame.tail(12).reset_index(drop=True)  # served as the file writes it
    check_history(history, axis)
    assert history_offset(history, axis) == 48
    with pytest.raises(TimeAxisError, match="missing"):
        check_history(history.drop(index=[5]), axis)
    pred = _predictor(axis).predict(history)
    assert pred["Quarter"].tolist() == history["Quarter"].iloc[2:].tolist()  # typed as sent


def test_iso_weeks_and_eviews_months_are_their_frequencies_when_prepared(tmp_path: Path) -> None:
    weeks = pd.date_range("2018-12-31", periods=160, freq="W-MON")
    frame = pd.DataFrame({"week": _written(weeks, "{y} W{w:02d}"), "sales": _sales(160, 52)})
    axis = _prepared(tmp_path, frame, **{"data.time_column": "week"})["time_axis"]
    assert (axis["freq"], axis["style"], axis["first"]) == ("W-MON", "week", "2019-W01")
    check_history(frame.tail(20), axis)  # the label '2019-W01' read back as the model's start
    assert history_offset(frame.tail(20), axis) == 140
    months = pd.date_range("1990-01-01", periods=60, freq="MS")
    frame = pd.DataFrame({"obs": _written(months, "{y}:{m:02d}"), "sales": _sales(60, 12)})
    meta = _prepared(tmp_path, frame, **{"data.time_column": "obs"})
    assert (meta["time_axis"]["freq"], meta["time_axis"]["first"]) == ("MS", "1990-01")
    assert meta["seasonal_period"] == 12

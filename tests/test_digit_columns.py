"""A forecast's integer column of dates written as digits (``yyyymm``: 202001, 202002, …) without
``data.time_column``: left out as dates with the warning a text date column gets, not read as an
input; integer inputs (temperatures, counts, large ids) stay inputs (lstmtune.data.digit_columns
through the real prepare step)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstmtune.config import DataConfig, load_config
from lstmtune.data.columns import date_columns, feature_columns
from lstmtune.data.digit_columns import dates_as_digits
from lstmtune.data.prepare import prepare
from lstmtune.prepare_notes import _unread_dates
from lstmtune.steps import _inputs_note

N = 60
MONTHS = pd.date_range("2015-01-01", periods=N, freq="MS")
YYYYMM = pd.Series(MONTHS.year * 100 + MONTHS.month)
#: 28 days of January 2020 as ``yyyymmdd``: no month end crossed, so only a time word says dates
DAYS = pd.Series(pd.date_range("2020-01-01", periods=28).strftime("%Y%m%d").astype(int))


def _sales(n: int = N) -> np.ndarray:
    rng = np.random.default_rng(0)
    return 100 + 10 * np.sin(np.arange(n) * 2 * np.pi / 12) + rng.normal(0, 1, n)


def _prepared(tmp_path: Path, frame: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    path = tmp_path / "s.csv"
    frame.to_csv(path, index=False)
    keys = {"data.path": str(path), "data.target": "sales", **extra}
    _, meta = prepare(load_config(None, keys).resolved())
    return meta


def test_a_yyyymm_column_is_left_out_as_dates_as_a_text_date_column_is(tmp_path: Path) -> None:
    """The user's probe: ``yyyymm,sales`` was read as an input (a trend no future row has)."""
    digits = _prepared(tmp_path, pd.DataFrame({"yyyymm": YYYYMM, "sales": _sales()}))
    assert digits["columns"]["features"] == ["sales"]  # was ['yyyymm', 'sales']
    assert _inputs_note(digits) == "; left out, dates: yyyymm"
    assert _unread_dates(digits) == (
        "warning: column 'yyyymm' holds dates but data.time_column is not set: the rows are read"
        " in file order, with no time axis (set data.time_column: yyyymm, --time-column yyyymm)"
    )
    text = pd.DataFrame({"yyyymm": MONTHS.strftime("%Y-%m"), "sales": _sales()})
    written = _prepared(tmp_path, text)  # the same months as text: the same behaviour
    assert written["columns"]["features"] == digits["columns"]["features"]
    assert _unread_dates(written) == _unread_dates(digits)
    named = _prepared(tmp_path, pd.DataFrame({"yyyymm": YYYYMM, "sales": _sales()}),
                      **{"data.time_column": "yyyymm"})  # fmt: skip
    assert named["time_axis"]["freq"] == "MS" and named["time_axis"]["style"] == "yyyymm"
    assert _unread_dates(named) is None and _inputs_note(named) == ""


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("period", YYYYMM),  # months, named as time
        ("key", YYYYMM),  # months across a year's end: 201512 -> 201601 is no counter's step
        ("quarter", YYYYMM[::3]),  # 201501, 201504, …: quarters
        ("day", pd.Series(pd.date_range("2020-01-25", periods=20).strftime("%Y%m%d").astype(int))),
        ("k", pd.Series(pd.date_range("2020-01-25", periods=20).strftime("%Y%m%d").astype(int))),
        ("year", pd.Series(np.arange(1990, 2020))),  # years need the name
        ("fiscal_yr", pd.Series(np.arange(1990, 2020))),
        ("time", pd.Series(np.arange(1871, 1971))),  # Rdatasets' Nile: R's time() of years
        ("Date", pd.Series(np.arange(1821, 1935))),
        ("month", YYYYMM.drop(index=[10, 30])),  # two months missing of 60: a few gaps
        ("order_date", DAYS),  # a word of the name
        ("reportDate", DAYS),
        ("YearMonth", YYYYMM),
        ("year", pd.Series(np.arange(201901, 203001, 100))),  # yearly yyyymm: named
    ],
)
def test_dates_written_as_digits(name: str, values: pd.Series) -> None:
    assert dates_as_digits(values.reset_index(drop=True), name), name


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("temperature", pd.Series([201001, 201005, 201012, 201104, 201109])),  # no regular step
        ("count", pd.Series(np.arange(200001, 200013))),  # one year, no name: a counter maybe
        ("total", pd.Series(np.arange(200001, 200020))),  # 200013 is no month
        ("units", YYYYMM.iloc[::-1]),  # decreasing
        ("units", pd.concat([YYYYMM, YYYYMM])),  # repeated
        ("units", YYYYMM.astype(float)),  # not integers
        ("units", YYYYMM.drop(index=range(10, 30))),  # a third of the months missing
        ("id", pd.Series(np.arange(1990, 2020))),  # consecutive integers near 2000: not named
        ("year", pd.Series(np.arange(1990, 2050, 2))),  # every other year: not consecutive
        ("month", YYYYMM.iloc[:3]),  # too few to tell
        ("flag", pd.Series([True, False, True, False, True])),
        ("price", pd.Series(np.arange(201901, 203001, 100))),  # steps of 100: no name, no month
        ("n_updates", DAYS),  # 'date' inside a word is no time word
        ("holiday", DAYS),
        ("runtime", DAYS),
        ("day", pd.Series(np.arange(1000, 1100))),  # a count of days: only year words read years
    ],
)
def test_numbers_that_are_not_dates_stay_numbers(name: str, values: pd.Series) -> None:
    assert not dates_as_digits(values.reset_index(drop=True), name), name


def test_large_integer_inputs_stay_inputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "sales": _sales(),
            "temperature": rng.integers(200001, 209912, N),  # large integers, no dates
            "visitors": np.cumsum(rng.integers(1, 50, N)) + 201000,  # increasing, no dates
            "serial": np.arange(201501, 201501 + N),  # increasing by one: 201513 is no month
        }
    )
    meta = _prepared(tmp_path, frame)
    assert meta["columns"]["features"] == ["sales", "temperature", "visitors", "serial"]
    assert _unread_dates(meta) is None and meta["columns"]["left_out"] == []


def test_a_panel_reads_each_series_dates(tmp_path: Path) -> None:
    """Many series repeat the months: the digits are dates within each series."""
    frame = pd.concat(
        [pd.DataFrame({"store": s, "yyyymm": YYYYMM, "sales": _sales()}) for s in ("a", "b")]
    )
    meta = _prepared(tmp_path, frame, **{"data.series_column": "store"})
    assert meta["columns"]["features"] == ["sales"]
    assert meta["columns"]["left_out_dates"] == ["yyyymm"]
    assert _unread_dates(meta) is not None
    shuffled = frame.assign(units=np.tile(np.arange(N)[::-1] + 201501, 2))  # decreasing per series
    meta = _prepared(tmp_path, shuffled, **{"data.series_column": "store"})
    assert meta["columns"]["features"] == ["sales", "units"]


def test_only_a_forecast_reads_digits_as_dates() -> None:
    frame = pd.DataFrame({"yyyymm": YYYYMM, "x": np.arange(N, dtype=float)})
    assert feature_columns(frame, DataConfig(), set(), "f.csv") == ["x"]
    classify = DataConfig(task="classify", sequence_column="s", label="lab")
    assert feature_columns(frame, classify, set(), "f.csv") == ["yyyymm", "x"]  # as before
    assert date_columns(frame, ["yyyymm", "x"]) == ["yyyymm"]

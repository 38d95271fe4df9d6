"""A time written over several columns (``year, month[, day]``, ``year, quarter``) read as one
time column (real files, real prepare step): the airline series so written prepares as the
bundled file, quarters and days are read, the year named as the time column reads the parts, and
parts that are no time (a 13th month, a setting naming another column) are read as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstmtune.config import load_config
from lstmtune.data.date_parts import date_parts_line
from lstmtune.data.prepare import prepare

AIRLINE = Path(__import__("lstmtune").__file__).parent / "example_data" / "airline_passengers.csv"


def _prepare(path: Path, **keys: Any) -> tuple[Any, dict[str, Any]]:
    return prepare(load_config(None, {"data.path": str(path), **keys}).resolved())


def _parts_file(tmp_path: Path, months: list[Any] | None = None) -> Path:
    air = pd.read_csv(AIRLINE)
    frame = pd.DataFrame(
        {
            "Year": air["month"].str[:4].astype(int),
            "Month": months if months is not None else air["month"].str[5:].astype(int),
            "passengers": air["passengers"],
        }
    )
    path = tmp_path / "parts.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("time_column", [None, "Year"])
def test_year_and_month_prepare_as_the_bundled_file(
    tmp_path: Path, time_column: str | None
) -> None:
    keys = {"data.target": "passengers", "data.time_column": time_column}
    parts, meta = _prepare(_parts_file(tmp_path), **keys)
    want_parts, want = _prepare(
        AIRLINE, **{"data.target": "passengers", "data.time_column": "month"}
    )
    for split in ("train", "val", "test"):
        assert parts[split]["passengers"].tolist() == want_parts[split]["passengers"].tolist()
        assert list(pd.to_datetime(parts[split]["time"])) == list(
            pd.to_datetime(want_parts[split]["month"])
        )
    assert meta["time_axis"]["freq"] == "MS"
    assert meta["columns"]["features"] == want["columns"]["features"]  # no year, month inputs
    assert date_parts_line(meta["date_parts"]) == (
        "read the columns Year, Month as one time (their months' first days), the column time"
    )


def test_month_names_quarters_and_days_are_read(tmp_path: Path) -> None:
    names = [
        m
        for _ in range(12)
        for m in (
            "Jan",
            "Feb",
            "Mar",
            "Apr",
            "May",
            "Jun",
            "Jul",
            "Aug",
            "Sep",
            "Oct",
            "Nov",
            "Dec",
        )
    ]
    _, meta = _prepare(_parts_file(tmp_path, names), **{"data.target": "passengers"})
    assert meta["time_axis"]["freq"] == "MS"
    quarters = tmp_path / "macro.csv"
    years = np.repeat(np.arange(1959, 1989), 4)
    pd.DataFrame(
        {
            "year": years,
            "quarter": np.tile([1, 2, 3, 4], 30),
            "realgdp": np.arange(120.0),
            "cpi": np.arange(120.0) ** 0.5,
        }
    ).to_csv(quarters, index=False)
    parts, meta = _prepare(quarters, **{"data.target": "realgdp"})
    assert meta["time_axis"]["freq"] == "QS-JAN" and pd.Timestamp(
        parts["train"]["time"].iloc[1]
    ) == pd.Timestamp("1959-04-01")
    days = tmp_path / "days.csv"
    dates = pd.date_range("2020-01-01", periods=120, freq="D")
    pd.DataFrame(
        {"year": dates.year, "month": dates.month, "day": dates.day, "y": np.sin(np.arange(120))}
    ).to_csv(days, index=False)
    _, meta = _prepare(days, **{"data.target": "y"})
    assert meta["time_axis"]["freq"] == "D" and meta["date_parts"]["unit"] == "day"


def test_parts_that_are_no_time_are_read_as_before(tmp_path: Path) -> None:
    months = [13, *pd.read_csv(AIRLINE)["month"].str[5:].astype(int).tolist()[1:]]
    _, meta = _prepare(_parts_file(tmp_path, months), **{"data.target": "passengers"})
    assert "date_parts" not in meta  # a 13th month: the columns are inputs, as before
    path = _parts_file(tmp_path)
    _, meta = _prepare(path, **{"data.target": "Month"})  # a part predicted: no time of parts
    assert "date_parts" not in meta


def _write(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "file.csv"
    frame.to_csv(path, index=False)
    return path


def test_parts_of_other_times_and_named_parts_are_read_as_before(tmp_path: Path) -> None:
    weeks = pd.date_range("2015-01-04", periods=150, freq="W")
    weekly = pd.DataFrame({"year": weeks.year, "month": weeks.month, "sales": np.arange(150.0)})
    _, meta = _prepare(_write(tmp_path, weekly), **{"data.target": "sales"})
    assert "date_parts" not in meta  # weeks: a month repeats
    dated = weekly.assign(week=weeks.strftime("%Y-%m-%d"))
    _, meta = _prepare(_write(tmp_path, dated), **{"data.target": "sales"})
    assert "date_parts" not in meta and "week" in meta["columns"]["left_out"]  # the date's helpers
    peaks = pd.DataFrame(
        {
            "year": range(1950, 2010),
            "month": [1 + k % 12 for k in range(60)],
            "flow": np.arange(60.0),
        }
    )
    _, meta = _prepare(
        _write(tmp_path, peaks), **{"data.target": "flow", "data.time_column": "year"}
    )
    assert "date_parts" not in meta and meta["time_axis"]["column"] == "year"  # one row a year
    months = pd.date_range("2015-01-01", periods=72, freq="MS")
    by_year = pd.DataFrame({"year": months.year, "month": months.month, "sales": np.arange(72.0)})
    _, meta = _prepare(
        _write(tmp_path, by_year), **{"data.target": "sales", "data.series_column": "year"}
    )
    assert "date_parts" not in meta and meta["panel"]  # the year names the series


def test_quarters_written_q1_and_a_panel_of_months_are_read(tmp_path: Path) -> None:
    quarters = pd.DataFrame(
        {
            "year": np.repeat(np.arange(2000, 2015), 4),
            "quarter": ["Q1", "Q2", "Q3", "Q4"] * 15,
            "gdp": np.arange(60.0),
        }
    )
    _, meta = _prepare(_write(tmp_path, quarters), **{"data.target": "gdp"})
    assert meta["time_axis"]["freq"] == "QS-JAN"
    months = pd.date_range("2015-01-01", periods=72, freq="MS")
    panel = pd.concat(
        pd.DataFrame(
            {"store": s, "year": months.year, "month": months.month, "sales": np.arange(72.0) + k}
        )
        for k, s in enumerate("abc")
    )
    _, meta = _prepare(
        _write(tmp_path, panel), **{"data.target": "sales", "data.series_column": "store"}
    )
    assert meta["date_parts"]["columns"] == ["year", "month"] and meta["time_axis"]["freq"] == "MS"

"""A table of years by months or quarters read as its one series (real files, real prepare
step): the airline table prepares as the bundled long file, a year not yet over ends the series,
a total column is left out and named, quarters are quarters, a gap is named by its year and
column, and a table that is no such layout (or whose target is named) is read as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lstmtune.config import load_config
from lstmtune.data.calendar_table import calendar_line
from lstmtune.data.prepare import prepare
from lstmtune.errors import UserError

AIRLINE = Path(__import__("lstmtune").__file__).parent / "example_data" / "airline_passengers.csv"
MONTHS = "Jan,Feb,Mar,Apr,May,Jun,Jul,Aug,Sep,Oct,Nov,Dec"


def _prepare(path: Path, **keys: Any) -> tuple[Any, dict[str, Any]]:
    return prepare(load_config(None, {"data.path": str(path), **keys}).resolved())


def _wide(tmp_path: Path, header: str, cut: int = 0, extra: bool = False) -> Path:
    air = pd.read_csv(AIRLINE)
    rows = []
    for year, group in air.groupby(air["month"].str[:4]):
        values = [str(v) for v in group["passengers"]]
        if year == "1960" and cut:
            values = values[:-cut] + [""] * cut
        total = f",{group['passengers'].sum()}" if extra else ""
        rows.append(f"{year},{','.join(values)}{total}\n")
    path = tmp_path / "wide.csv"
    path.write_text(header + (",Annual" if extra else "") + "\n" + "".join(rows))
    return path


def test_the_airline_table_prepares_as_the_long_file(tmp_path: Path) -> None:
    parts, meta = _prepare(_wide(tmp_path, f"Year,{MONTHS}"))
    want_parts, _ = _prepare(AIRLINE, **{"data.target": "passengers", "data.time_column": "month"})
    for split in ("train", "val", "test"):
        assert parts[split]["value"].tolist() == want_parts[split]["passengers"].tolist()
        times = pd.to_datetime(want_parts[split]["month"])
        assert list(pd.to_datetime(parts[split]["time"])) == list(times)
    assert meta["time_axis"]["freq"] == "MS" and meta["seasonal_period"] == 12
    assert calendar_line(meta["calendar"]) == (
        "read the table of years by months (Year; Jan … Dec) as one monthly series of 144 "
        "months, as the columns time, value"
    )


def test_a_year_not_yet_over_ends_the_series_and_a_total_is_left_out(tmp_path: Path) -> None:
    full = "January,February,March,April,May,June,July,August,Sep.,OCTOBER,November,December"
    parts, meta = _prepare(_wide(tmp_path, f"year,{full}", cut=3, extra=True))
    assert sum(len(p) for p in parts.values()) == 141
    assert pd.Timestamp(parts["test"]["time"].iloc[-1]) == pd.Timestamp("1960-09-01")
    assert calendar_line(meta["calendar"]).endswith(
        "141 months, as the columns time, value; left out: Annual"
    )


def test_quarters_are_read_as_quarters(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(
        "Year,Q1,Q2,Q3,Q4\n"
        + "".join(f"{y},{y},{y + 1},{y + 3},{y + 2}\n" for y in range(1990, 2010))
    )
    parts, meta = _prepare(path)
    assert meta["time_axis"]["freq"] == "QS-JAN" and meta["calendar"]["unit"] == "quarter"
    assert pd.Timestamp(parts["train"]["time"].iloc[1]) == pd.Timestamp("1990-04-01")


def test_a_gap_is_named_by_its_year_and_column(tmp_path: Path) -> None:
    path = _wide(tmp_path, f"Year,{MONTHS}")
    path.write_text(path.read_text().replace("1955,242,233,", "1955,242,,"))
    with pytest.raises(UserError, match=r"no value for 1955 Feb \(the row of 1955, column 'Feb'\)"):
        _prepare(path)
    parts, _ = _prepare(path, **{"data.missing": "interpolate"})
    assert sum(len(p) for p in parts.values()) == 144


def test_another_layout_or_a_named_target_is_read_as_before(tmp_path: Path) -> None:
    path = _wide(tmp_path, f"Year,{MONTHS}")
    with pytest.raises(UserError, match=r"series too short: 12 rows"):
        _prepare(path, **{"data.target": "Jan"})  # the user's own reading: one column
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text(path.read_text().replace(f"Year,{MONTHS}", f"Year,Feb,Jan,{MONTHS[8:]}"))
    with pytest.raises(UserError, match=r"data.target is required"):
        _prepare(shuffled)


def test_years_pandas_cannot_hold_give_the_values_in_order(tmp_path: Path) -> None:
    path = tmp_path / "cet.csv"
    rows = "".join(
        f"{y},{','.join(str(3 + m % 12) for m in range(12))}\n" for y in range(1659, 1680)
    )
    path.write_text(f"Year,{MONTHS}\n{rows}")
    parts, meta = _prepare(path)
    assert "time" not in parts["train"].columns and meta["columns"]["target"] == "value"
    assert sum(len(p) for p in parts.values()) == 21 * 12
    said = (
        "as the column value (years outside 1678-2261, the years pandas' times hold: no dates, "
        "the months in order)"
    )
    assert said in calendar_line(meta["calendar"])

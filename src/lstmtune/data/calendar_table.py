"""A table of years by months or quarters (``Year,Jan,Feb,…,Dec``; ``Year,Q1,Q2,Q3,Q4``), as
statistics offices and textbooks print a monthly or quarterly series, read as that one series:
the columns ``time`` (each month's or quarter's first day) and ``value``, month after month. The
year column holds whole years, one a row, each the one before plus one; the period columns are
named by the months' English names or their first three letters (any case), or ``Q1`` … ``Q4``
(``Qtr1``, ``Quarter 1``), in calendar order. Other columns (an ``Annual`` total) are left out
and named. Missing cells before the first value and after the last one (a year not yet over)
are no periods; a missing cell between values is a missing value for ``data.missing``.
Read so only where the target, time and series settings are unset."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.config import DataConfig
from lstmtune.errors import UserError

#: the months' English names, in calendar order
MONTHS = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
_QUARTER = re.compile(r"^(?:q|qtr|quarter)\s*([1-4])$")
#: the years read as dates: those pandas' nanosecond times hold whole
FIRST_YEAR, LAST_YEAR = 1678, 2261


def _period(name: str) -> tuple[str, int] | None:
    """``("month", 1)`` for ``Jan`` / ``January``, ``("quarter", 2)`` for ``Q2``; else None."""
    word = name.strip().lower().rstrip(".")
    for k, month in enumerate(MONTHS, start=1):
        if word in (month, month[:3]):
            return "month", k
    found = _QUARTER.match(word)
    return ("quarter", int(found[1])) if found else None


def _years(column: pd.Series) -> np.ndarray | None:
    """The column's years where it holds whole years, each the one before plus one."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    if len(values) < 2 or np.isnan(values).any() or (values != np.round(values)).any():
        return None
    if not ((values >= 1000) & (values <= 2999)).all() or (np.diff(values) != 1).any():
        return None
    return np.asarray(values, dtype=np.int64)


def _layout(frame: pd.DataFrame) -> tuple[str, str, list[str]] | None:
    """The year column, the unit (``month``/``quarter``) and the period columns in order."""
    named = [(str(c), p) for c in frame.columns if (p := _period(str(c))) is not None]
    periods = [c for c, _ in named]
    units = {p[0] for _, p in named}
    if len(units) != 1:
        return None
    unit = units.pop()
    if [p[1] for _, p in named] != list(range(1, (12 if unit == "month" else 4) + 1)):
        return None
    year = next((str(c) for c in frame.columns if _years(frame[c]) is not None), None)
    if year is None or not all(pd.api.types.is_numeric_dtype(frame[c]) for c in periods):
        return None
    return year, unit, periods


def _no_gaps(
    source: str, unit: str, values: np.ndarray, years: np.ndarray, columns: list[str]
) -> None:
    """With ``data.missing: error``, the first missing cell between values (each cell's year
    and column given), named by its year and column."""
    gaps = np.flatnonzero(np.isnan(values))
    if len(gaps):
        year, column = years[gaps[0]], columns[gaps[0]]
        raise UserError(
            f"{source}: the table of years by {unit}s has no value for {year} {column} (the row "
            f"of {year}, column '{column}'); set data.missing: ffill or interpolate to fill gaps"
        )


def calendar_series(
    frame: pd.DataFrame, data: DataConfig, source: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The series a years-by-periods table holds, and what was read (an empty dict: ``frame``
    is no such table, or a setting names a column)."""
    if data.task != "forecast" or any(
        getattr(data, key) is not None for key in ("target", "time_column", "series_column")
    ):
        return frame, {}
    layout = _layout(frame)
    if layout is None:
        return frame, {}
    year, unit, periods = layout
    years = _years(frame[year])
    assert years is not None
    values = frame[periods].to_numpy(dtype=np.float64).ravel()
    step = 12 // len(periods)
    months = np.repeat((years - 1970) * 12, len(periods)) + np.tile(
        np.arange(len(periods)) * step, len(years)
    )
    present = np.flatnonzero(~np.isnan(values))
    keep = slice(present[0], present[-1] + 1)
    if data.missing == "error":
        cells = np.repeat(years, len(periods))[keep], (periods * len(years))[keep]
        _no_gaps(source, unit, values[keep], *cells)
    series = pd.DataFrame({"value": values[keep]})
    dated = years[0] >= FIRST_YEAR and years[-1] <= LAST_YEAR  # else no dates: values in order
    if dated:
        series.insert(0, "time", months[keep].astype("datetime64[M]").astype("datetime64[ns]"))
    others = [str(c) for c in frame.columns if str(c) not in (year, *periods)]
    note = {"year": year, "unit": unit, "periods": periods, "left_out": others, "n": len(series)}
    return series, note | {"dated": bool(dated)}


def calendar_line(note: dict[str, Any]) -> str:
    """The prepare step's line, e.g. ``read the table of years by months (Year; Jan … Dec) as
    one monthly series of 144 months, as the columns time, value``."""
    unit, periods = note["unit"], note["periods"]
    left = f"; left out: {', '.join(note['left_out'])}" if note["left_out"] else ""
    columns = (
        "time, value"
        if note["dated"]
        else (
            f"value (years outside {FIRST_YEAR}-{LAST_YEAR}, the years pandas' times hold: no "
            f"dates, the {unit}s in order)"
        )
    )
    return (
        f"read the table of years by {unit}s ({note['year']}; {periods[0]} … {periods[-1]}) as "
        f"one {unit}ly series of {note['n']} {unit}s, as the column{'s' * note['dated']} "
        f"{columns}{left}"
    )

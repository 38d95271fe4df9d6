"""A time written over several columns, as statistics offices, statsmodels' ``macrodata`` and many
spreadsheets write it: ``year, month[, day]`` or ``year, quarter``, read as one time column
``time`` (each period's first day; the day's date), the parts left out. Read so for a forecast
whose time column is unset, or names the year column; the parts are found by name (``year``,
``month``, ``day``, ``quarter``, ``qtr``; any case) and hold whole numbers in their ranges
(months 1-12 or their English names, quarters 1-4 or ``Q1`` … ``Q4``, days that exist in their
month), each time once (within each series). Parts that are no such time (weekly or hourly rows
with a year and a month, one row a year with the month of its peak), a setting naming a part,
or another column of dates (a ``date`` beside its helper columns) leave the file as it was read
before. The prepare step says so in one line."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lstmtune.config import DataConfig
from lstmtune.data.calendar_table import MONTHS
from lstmtune.data.columns import date_columns

#: the names of each part (lower case), in the order a time is built from them
_NAMES = {
    "year": ("year", "yr"),
    "quarter": ("quarter", "qtr"),
    "month": ("month", "mon"),
    "day": ("day",),
}
_RANGES = {"year": (1678, 2261), "quarter": (1, 4), "month": (1, 12), "day": (1, 31)}


def _column(frame: pd.DataFrame, part: str) -> str | None:
    names = _NAMES[part]
    return next((str(c) for c in frame.columns if str(c).strip().lower() in names), None)


def _numbers(values: pd.Series, part: str) -> np.ndarray | None:
    """The part's whole numbers in range (month names read as their numbers), else None."""
    if part == "month" and not pd.api.types.is_numeric_dtype(values):
        names = {m[:3]: k for k, m in enumerate(MONTHS, start=1)}
        values = values.astype(str).str.strip().str[:3].str.lower().map(names)
    elif part == "quarter" and not pd.api.types.is_numeric_dtype(values):  # Q1 … Q4
        values = values.astype(str).str.strip().str.upper().str.removeprefix("Q")
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    low, high = _RANGES[part]
    if np.isnan(numbers).any() or (numbers != np.round(numbers)).any():
        return None
    if (numbers < low).any() or (numbers > high).any():
        return None
    return np.asarray(numbers, dtype=np.int64)


def _parts(frame: pd.DataFrame) -> dict[str, str] | None:
    """The columns of year and month (or quarter), and of day where there is one."""
    found = {part: c for part in _NAMES if (c := _column(frame, part)) is not None}
    if "year" not in found or ("month" in found) == ("quarter" in found):
        return None
    if "day" in found and "month" not in found:
        found.pop("day")
    return found


def _times(numbers: dict[str, np.ndarray]) -> pd.Series:
    """Each row's time from its parts: the period's first day, or the day's date (NaT: a day
    its month has not)."""
    year = numbers["year"]
    month = numbers["month"] if "month" in numbers else 3 * (numbers["quarter"] - 1) + 1
    day = numbers["day"] if "day" in numbers else np.ones_like(year)
    pieces = pd.DataFrame({"year": year, "month": month, "day": day})
    return pd.to_datetime(pieces, errors="coerce")


def _applies(frame: pd.DataFrame, data: DataConfig, parts: dict[str, str]) -> bool:
    """Whether the settings leave the parts to be read as the time: none names a part but the
    time column naming the year, a year is there more than once (within a series), and no other
    column holds dates (a ``date`` column beside its helper columns ``year``, ``month`` is the
    time)."""
    named = [data.target, data.series_column, data.split_column, *(data.feature_columns or [])]
    if data.time_column not in (None, parts["year"]) or set(parts.values()) & set(named):
        return False
    keys = [c for c in (data.series_column, parts["year"]) if c is not None and c in frame.columns]
    if not frame.duplicated(subset=keys).any():
        return False  # one row a year (and the month of its peak): the year is the time
    others = [str(c) for c in frame.columns if str(c) not in parts.values()]
    return not date_columns(frame, others)


def _unique(times: pd.Series, frame: pd.DataFrame, data: DataConfig) -> bool:
    """Whether each time is there once (within each series): weekly or hourly rows, or one row a
    year with the month of its peak, are no months (their parts are read as before)."""
    keys = pd.DataFrame({"time": times.to_numpy()})
    if data.series_column is not None and data.series_column in frame.columns:
        keys["series"] = frame[data.series_column].to_numpy()
    return not times.isna().any() and not keys.duplicated().any()


def date_parts(frame: pd.DataFrame, data: DataConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``frame`` with its time built from its parts (``time``; the parts dropped), and what was
    read (an empty dict: no such parts, a setting names one, or they are no time)."""
    if data.task != "forecast" or "time" in frame.columns:
        return frame, {}
    parts = _parts(frame)
    if parts is None or not _applies(frame, data, parts):
        return frame, {}
    numbers: dict[str, np.ndarray] = {}
    for part, column in parts.items():
        read = _numbers(frame[column], part)
        if read is None:
            return frame, {}
        numbers[part] = read
    times = _times(numbers)
    if not _unique(times, frame, data):  # NaT: a day its month has not (31 April)
        return frame, {}
    out = frame.drop(columns=list(parts.values()))
    out.insert(0, "time", times.to_numpy())
    unit = next(u for u in ("day", "month", "quarter") if u in parts)
    return out, {"columns": list(parts.values()), "unit": unit}


def date_parts_line(note: dict[str, Any]) -> str:
    """The prepare step's line, e.g. ``read the columns year, month as one time (their months'
    first days), the column time``."""
    first = {
        "day": "their dates",
        "month": "their months' first days",
        "quarter": "their quarters' first days",
    }
    return (
        f"read the columns {', '.join(note['columns'])} as one time ({first[note['unit']]}), "
        "the column time"
    )

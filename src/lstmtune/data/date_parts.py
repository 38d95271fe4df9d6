"""A time written over several columns, as statistics offices, statsmodels' ``macrodata`` and many
spreadsheets write it: ``year, month[, day]`` or ``year, quarter``, read as one time column
``time`` (each period's first day; the day's date), the parts left out. Read so for a forecast
whose time column is unset, or names the year column; the parts are found by name (``year``,
``month``, ``day``, ``quarter``, ``qtr``; any case) and hold whole numbers in their ranges
(months 1-12 or their English names, quarters 1-4, days that exist in their month). The
prepare step says so in one line."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lstmtune.config import DataConfig

#: the names of each part (lower case), in the order a time is built from them
_NAMES = {
    "year": ("year", "yr"),
    "quarter": ("quarter", "qtr"),
    "month": ("month", "mon"),
    "day": ("day",),
}
_RANGES = {"year": (1678, 2261), "quarter": (1, 4), "month": (1, 12), "day": (1, 31)}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _column(frame: pd.DataFrame, part: str) -> str | None:
    names = _NAMES[part]
    return next((str(c) for c in frame.columns if str(c).strip().lower() in names), None)


def _numbers(values: pd.Series, part: str) -> np.ndarray | None:
    """The part's whole numbers in range (month names read as their numbers), else None."""
    if part == "month" and not pd.api.types.is_numeric_dtype(values):
        values = (
            values.astype(str)
            .str.strip()
            .str[:3]
            .str.lower()
            .map({m: k for k, m in enumerate(_MONTHS, start=1)})
        )
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


def date_parts(frame: pd.DataFrame, data: DataConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``frame`` with its time built from its parts (``time``; the parts dropped), and what was
    read (an empty dict: no such parts, or a setting names another column)."""
    if data.task != "forecast" or "time" in frame.columns:
        return frame, {}
    parts = _parts(frame)
    if parts is None or data.time_column not in (None, parts["year"]):
        return frame, {}
    if data.target in parts.values() or set(parts.values()) & set(data.feature_columns or []):
        return frame, {}
    numbers: dict[str, np.ndarray] = {}
    for part, column in parts.items():
        read = _numbers(frame[column], part)
        if read is None:
            return frame, {}
        numbers[part] = read
    times = _times(numbers)
    if times.isna().any():
        return frame, {}  # a day its month has not (31 April): read as written
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

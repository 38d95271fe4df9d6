"""Forecast straight from a file of the Monash Time Series Forecasting Repository
(``tourism_monthly_dataset.tsf``; :mod:`lstmtune.data.tsf_read` parses it) into lstmtune's long
frame: ``series`` (the first attribute, ``series_name`` in the repository's files; only where the
file holds more than one series), ``time`` (each series' times from its ``start_timestamp`` and
the file's ``@frequency``; where it has no date attribute or frequency, the steps 0, 1, …) and
``value``. The data settings of those columns are filled in; a setting that names another
column is refused. The file's ``@horizon`` (the repository's benchmark horizon) is said in the
read line, not applied: ``data.horizon`` decides.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.config import DataConfig
from lstmtune.data.archive import ArchiveRead, settings_of
from lstmtune.data.io import gunzipped, read_bytes
from lstmtune.data.tsf_read import TsfHeader, TsfSeries, parse_tsf, start_time
from lstmtune.errors import UserError

#: the Monash repository's frequencies: a calendar or clock unit and how many of it a step is
_STEPS = {
    "yearly": ("years", 1),
    "quarterly": ("months", 3),
    "monthly": ("months", 1),
    "weekly": ("weeks", 1),
    "daily": ("days", 1),
    "hourly": ("hours", 1),
    "half_hourly": ("minutes", 30),
    "minutely": ("minutes", 1),
}
_COUNTED = re.compile(r"^(\d+)_(second|minute|hour|day|week|month|year)s?$")
#: why a file's steps are numbered where its times would leave the years pandas' times hold
OUT_OF_RANGE = "times outside the years 1677-2262 that pandas' times hold"
#: the data settings a .tsf file fills in, and the columns of its long frame they name
COLUMNS = {"target": "value", "time_column": "time", "series_column": "series"}


def step_of(frequency: str | None) -> tuple[str, int] | None:
    """The unit and count of one step (``10_minutes``: minutes, 10), None where unknown."""
    if frequency is None:
        return None
    if frequency in _STEPS:
        return _STEPS[frequency]
    counted = _COUNTED.match(frequency)
    return None if counted is None else (f"{counted[2]}s", int(counted[1]))


def _times(start: pd.Timestamp, n: int, step: tuple[str, int]) -> np.ndarray:
    """The ``n`` times from ``start`` a step apart (a month after 31 January: 28/29 February,
    as pandas adds months)."""
    unit, count = step
    if unit in ("years", "months"):
        months = count * (12 if unit == "years" else 1)
        if start == start.normalize() and start.day == 1:  # the common case, vectorized
            first = np.datetime64(start.strftime("%Y-%m"), "M")
            return (first + np.arange(n) * months).astype("datetime64[ns]")
        return np.array(
            [start + pd.DateOffset(months=k * months) for k in range(n)], dtype="datetime64[ns]"
        )
    delta = pd.Timedelta(**{unit: count}).to_timedelta64()
    first = np.datetime64(start.as_unit("ns").to_datetime64(), "ns")
    return np.asarray(first + np.arange(n) * delta, dtype="datetime64[ns]")


def _no_gaps(uri: str, names: list[str], series: list[TsfSeries]) -> None:
    """With ``data.missing: error``, the first missing value named by line, series and place."""
    for name, one in zip(names, series, strict=True):
        gaps = np.flatnonzero(np.isnan(one.values))
        if len(gaps):
            raise UserError(
                f"{uri}: line {one.line}: series {name!r}: value {int(gaps[0]) + 1} is missing "
                "('?'); data.missing: interpolate (or ffill) fills missing values"
            )


def _names(uri: str, header: TsfHeader, series: list[TsfSeries]) -> list[str]:
    """Each series' name: its first attribute, or where that repeats (``series_group``, then
    ``series_name``) its attributes but dates joined by ``/`` (``G1/T1``); ``1``, ``2``, …
    where it has none. A name given twice is refused."""
    kept = [k for k, (_, kind) in enumerate(header.attributes) if kind != "date"]
    names = [s.attributes[0] if s.attributes else str(k + 1) for k, s in enumerate(series)]
    if len(set(names)) < len(names) and len(kept) > 1:
        names = ["/".join(s.attributes[k] for k in kept) for s in series]
    seen: dict[str, int] = {}
    for name, one in zip(names, series, strict=True):
        if name in seen:
            raise UserError(
                f"{uri}: line {one.line}: series {name!r} again (line {seen[name]}); a series is "
                "named by its attributes"
            )
        seen[name] = one.line
    return names


def _in_range(start: pd.Timestamp, n: int, step: tuple[str, int]) -> bool:
    """Whether the ``n`` times from ``start`` end within pandas' times (up to 2262-04-11)."""
    unit, count = step
    if unit in ("years", "months"):
        months = (n - 1) * count * (12 if unit == "years" else 1)
        last_year: int = start.year + (start.month - 1 + months) // 12
        return bool(last_year <= pd.Timestamp.max.year - 1)
    try:  # a span past pandas' Timedelta (292 years) or Timestamp range: out of range
        end: pd.Timestamp = start + (n - 1) * pd.Timedelta(**{unit: count})
    except (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta):
        return False
    return bool(end <= pd.Timestamp.max)


def _starts(uri: str, header: TsfHeader, series: list[TsfSeries]) -> list[pd.Timestamp] | str:
    """Each series' first time, or why the steps are numbered instead."""
    step = step_of(header.frequency)
    try:
        starts = [start_time(s, header, uri) for s in series]
    except pd.errors.OutOfBoundsDatetime:
        return OUT_OF_RANGE
    if not any(kind == "date" for _, kind in header.attributes):
        return "no date attribute"
    if step is None:
        return (
            f"@frequency {header.frequency} is no unit of time lstmtune counts in"
            if header.frequency
            else "no @frequency"
        )
    dated = [start for start in starts if start is not None]
    if not all(_in_range(t, len(s.values), step) for t, s in zip(dated, series, strict=True)):
        return OUT_OF_RANGE
    return dated


def _frame(
    uri: str, header: TsfHeader, series: list[TsfSeries], names: list[str]
) -> tuple[pd.DataFrame, str | None]:
    """One row a value: ``series`` (more than one series), ``time`` and ``value``; and why the
    times are step numbers (None: they are dates)."""
    starts, step = _starts(uri, header, series), step_of(header.frequency)
    if isinstance(starts, str) or step is None:
        times = [np.arange(len(s.values)) for s in series]
    else:
        times = [_times(t, len(s.values), step) for t, s in zip(starts, series, strict=True)]
    frame = pd.DataFrame({"time": np.concatenate(times)})
    frame["value"] = np.concatenate([s.values for s in series])
    if len(series) > 1:
        lengths = [len(s.values) for s in series]
        frame.insert(0, "series", np.repeat(np.array(names, dtype=object), lengths))
    return frame, starts if isinstance(starts, str) else None


def _filled(data: DataConfig, uri: str, many: bool) -> DataConfig:
    """``data`` with the frame's columns filled in; a setting naming another is refused."""
    names = ["series", "time", "value"] if many else ["time", "value"]
    update = settings_of(data, uri, COLUMNS, names, "a .tsf file")
    if data.feature_columns:
        raise UserError(
            f"{uri}: data.feature_columns {data.feature_columns[0]!r} names no input of a .tsf "
            f"file, read as the columns {', '.join(names)} (leave data.feature_columns unset)"
        )
    return data.model_copy(update=update)


def _is_tsf(data: DataConfig) -> bool:
    name = (data.path or "").rstrip("/").rsplit("/", 1)[-1].lower().removesuffix(".gz")
    return data.format == "auto" and name.endswith(".tsf")


def _text(uri: str, raw: bytes) -> str:
    try:
        return gunzipped(uri, raw).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{uri}: not a UTF-8 text file (a .tsf file is text)") from None


def read_tsf(data: DataConfig) -> ArchiveRead | None:
    """The series of the ``.tsf`` file ``data.path`` names, or None where it is none."""
    if not _is_tsf(data):
        return None
    uri = str(data.path)
    if data.task != "forecast":
        raise UserError(
            f"{uri}: a .tsf file of the Monash forecasting repository holds series to forecast "
            f"(data.task forecast, not {data.task})"
        )
    raw = read_bytes(uri, s3_endpoint_url=data.s3_endpoint_url)
    header, series = parse_tsf(_text(uri, raw), uri)
    names = _names(uri, header, series)
    if data.missing == "error":
        _no_gaps(uri, names, series)
    frame, numbered = _frame(uri, header, series, names)
    note = _note(uri, header, series, names, frame) | {"numbered": numbered}
    filled = _filled(data, uri, len(series) > 1)
    return ArchiveRead(frame, filled, uri, hashlib.sha256(raw).hexdigest(), note)


def _note(
    uri: str, header: TsfHeader, series: list[TsfSeries], names: list[str], frame: pd.DataFrame
) -> dict[str, Any]:
    lengths = [len(s.values) for s in series]
    return {
        "kind": "tsf",
        "files": [uri.rstrip("/").rsplit("/", 1)[-1]],
        "series": len(series),
        "name": names[0],
        "min_length": int(min(lengths)),
        "max_length": int(max(lengths)),
        "frequency": header.frequency,
        "horizon": header.horizon,
        "columns": [str(c) for c in frame.columns],
    }


def tsf_line(note: dict[str, Any], horizon: int) -> str:
    """The prepare step's line of what was read, e.g. ``read the Monash repository's
    m1_yearly_dataset.tsf: 181 series of 15 to 58 yearly values, as the columns series, time,
    value; its @horizon 6 is not applied (data.horizon 1; --horizon 6 forecasts as it does)``."""
    low, high = note["min_length"], note["max_length"]
    count = f"{low}" if low == high else f"{low} to {high}"
    unit = f" {note['frequency']}" if note["frequency"] else ""
    what = f"{note['series']} series of {count}" if note["series"] > 1 else f"{count}"
    line = (
        f"read the Monash repository's {note['files'][0]}: {what}{unit} values, as the columns "
        f"{', '.join(note['columns'])}"
    )
    if note["numbered"]:
        line += f" ({note['numbered']}: the steps are numbered 0, 1, …)"
    wanted = note["horizon"]
    if wanted is not None and wanted != horizon:
        line += (
            f"; its @horizon {wanted} is not applied (data.horizon {horizon}; --horizon {wanted}"
            " forecasts as its benchmark does)"
        )
    return line

"""Whether the current champion was trained on the new run's test values.

A recurring run re-scores the champion on its own test split. When that split reaches back into
the champion's training data (the data shrank, or ``data.test_size`` grew), the champion is
scored partly on values it was fitted on, and the comparison favours it. Each forecast version
records the last time of its train+val data (tag :data:`TAG`); a new run counts its test values
at or before the champion's and says so in one line.

On a date axis the count is in the run's periods: a test value whose period (on the run's
frequency, :func:`~lstmtune.data.timesnap.period_stamp`) is the champion's last one or earlier
lies within it, however either writes its periods (a run stamping months by their last day
against a champion trained through ``2019-12-01`` counts ``2019-12-31``; until 2026-12-04 it
compared the raw times and missed that month). Number axes compare the raw values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lstmtune.data.period_stamps import period_unit
from lstmtune.data.timeaxis import parse_times, quiet_offset
from lstmtune.data.timesnap import end_anchored, period_stamp

#: the version tag holding the last time of the train+val data the version was fitted on
TAG = "trained_through"

#: what the warning calls one period of a weekly, daily or hourly frequency (by rule code)
_UNITS = {"W": "week", "D": "day", "B": "business day", "h": "hour"}


def _keys(parts: dict[str, pd.DataFrame], axis: dict[str, Any]) -> tuple[str, np.ndarray]:
    """The time keys of train, val and test read as one column, as the prepare step read it
    (the day order of ``01/02/2020`` and date digits are decided by the whole column)."""
    column = str(axis["column"])
    values = pd.concat([parts[s][column] for s in ("train", "val", "test")], ignore_index=True)
    kind, _, keys = parse_times(
        values,
        column,
        rows=np.arange(len(values)),
        row_word="row",
        freq=axis.get("freq"),
        style=axis.get("style"),
    )
    dtype = "datetime64[ns]" if kind == "datetime" else np.float64
    return kind, np.asarray(keys, dtype=dtype)


def trained_through(parts: dict[str, pd.DataFrame], meta: dict[str, Any]) -> str | None:
    """The last time of the train+val data as tag text (None: no time axis, or many series)."""
    axis = meta.get("time_axis")
    if meta.get("task") != "forecast" or not axis or meta.get("panel"):
        return None
    kind, keys = _keys(parts, axis)
    return f"{kind}:{keys[len(parts['train']) + len(parts['val']) - 1]}"


def _offset(freq: Any) -> Any:
    """pandas' offset of one period of a date frequency (``2MS``: a month); None where ``freq``
    is missing or a number step."""
    offset = quiet_offset(freq) if isinstance(freq, str) else None
    return None if offset is None else offset.base


def _stamp(bound: np.datetime64, freq: Any) -> pd.Timestamp | None:
    """The run's own stamp of the period the champion's last time falls in (None: no date
    frequency)."""
    offset = _offset(freq)
    return None if offset is None else period_stamp(pd.Timestamp(bound), offset)


def _period_end(bound: np.datetime64, freq: Any) -> np.datetime64 | None:
    """The first time after the period ``bound`` falls in on ``freq``'s grid: a time before it
    is in that period or an earlier one (None: no date frequency, compare the raw times)."""
    offset = _offset(freq)
    if offset is None:
        return None
    stamp = period_stamp(pd.Timestamp(bound), offset)
    # a start-stamped period runs to the next grid point; an end-stamped one to its last day's end
    end = stamp + pd.Timedelta(days=1) if end_anchored(offset) else stamp + offset
    return np.datetime64(pd.Timestamp(end).as_unit("ns").to_datetime64(), "ns")


def overlap(parts: dict[str, pd.DataFrame], meta: dict[str, Any], tag: str | None) -> int:
    """How many of this run's test values lie at or before the champion's ``tag`` time, in the
    run's periods on a date axis (0 when either has no time axis or the two differ in kind)."""
    axis = meta.get("time_axis")
    if not tag or not axis or meta.get("panel") or ":" not in tag:
        return 0
    kind, text = tag.split(":", 1)
    mine, keys = _keys(parts, axis)
    if mine != kind:
        return 0
    test = keys[len(keys) - len(parts["test"]) :]
    if kind != "datetime":
        return int((test <= float(text)).sum())
    bound = np.datetime64(text, "ns")
    end = _period_end(bound, axis.get("freq"))
    return int((test <= bound).sum() if end is None else (test < end).sum())


def _time_text(time: pd.Timestamp) -> str:
    """A time as the warning writes it: the date alone at midnight."""
    return str(time.date()) if time == time.normalize() else time.isoformat(sep=" ")


def _unit(freq: Any) -> str:
    """One period of a date frequency in words: month, quarter, year, week, day, hour."""
    found = period_unit(freq)
    if found is not None:
        return found[0]
    return _UNITS.get(str(_offset(freq).rule_code).split("-")[0], "period")


def _through(tag: str, freq: Any) -> str:
    """The champion's last time as the run writes that period, with the tag's own time where
    it stamps the period at its other end (``2019-12-31 (tagged 2019-12-01, the same month)``)."""
    kind, text = tag.split(":", 1)
    if kind != "datetime":
        return text
    bound = np.datetime64(text, "ns")
    stamp, raw = _stamp(bound, freq), pd.Timestamp(bound)
    if stamp is None or stamp == raw:
        return _time_text(raw)
    return f"{_time_text(stamp)} (tagged {_time_text(raw)}, the same {_unit(freq)})"


def overlap_warning(version: str, tag: str, seen: int, total: int, freq: Any = None) -> str:
    """The one line a run prints when the champion was trained on some of its test values
    (``freq``: the run's, on which the champion's last time is named)."""
    return (
        f"warning: the current champion v{version} was trained on data through "
        f"{_through(tag, freq)}: {seen} of the {total} test values lie within it, so the "
        "comparison with it favours it"
    )

"""The published model's input: the history a consumer sends must be on the model's time grid.

The same checks as the prepare step's (:mod:`lstmtune.data.timeaxis`), with the input's row
numbers in the messages. Years written with two digits (``Jan-27``) are read in the century
nearest to the times the model was trained on (its axis' ``first`` and ``last``), not by the file
rule alone: a slice of the future months of a file running past today is where the model has it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.data.period_stamps import PeriodReading, read_as_periods
from lstmtune.data.textdates import Span
from lstmtune.data.timeaxis import TimeAxisError, describe_gaps, parse_freq, parse_times, place
from lstmtune.data.timeaxis_steps import written_slack
from lstmtune.data.timesnap import period_stamp

__all__ = ["check_history", "history_offset"]


def check_history(frame: pd.DataFrame, axis: dict[str, Any] | None) -> None:
    """The consumer's history must be in time order on the model's grid, without duplicates or
    gaps. Nothing to check when the model has no time axis or the input has no time column."""
    if not axis or axis.get("column") not in frame.columns:
        return
    column = str(axis["column"])
    values = frame[column].reset_index(drop=True)
    if values.empty:  # the caller refuses a history shorter than the lookback
        return
    kind, keys, read = _history_keys(values, axis)
    if kind != axis["kind"]:
        words = {"number": "numbers", "datetime": "dates"}
        raise TimeAxisError(
            f"input column '{column}' holds {words[kind]}; the model was trained on "
            f"{words.get(str(axis['kind']), axis['kind'])}"
        )
    snap = axis.get("freq_source") == "data.freq"  # trained on times put on the data.freq grid
    if read is not None:  # month ends for a model of month starts: the months they fall in
        warnings.warn(read.note(f"input column '{column}'", str(axis["freq"])), stacklevel=2)
    placed = place(
        values if read is None else pd.Series(read.keys),
        column,
        freq=axis["freq"],
        snap=snap,
        row_word="input row",
        style=axis.get("style"),
        span=trained_span(axis),
    )
    if placed.gaps:
        raise TimeAxisError(
            f"input column '{column}' (frequency {axis['freq']}): {describe_gaps(placed)}; send "
            "the history without gaps (the model forecasts from consecutive periods)"
        )
    if axis.get("first") and not snap:  # a grid that starts at the history's first time
        _check_model_grid(values, keys, axis)
    order = np.asarray(keys)
    order = order.view("int64") if order.dtype.kind == "M" else order.astype(np.float64)
    back = np.flatnonzero(np.diff(order) < 0)
    if len(back):  # the first row whose time is earlier than the row sent before it
        i = int(back[0] + 1)
        raise TimeAxisError(
            f"input column '{column}': the history is not in time order ({values.iloc[i]!r} at "
            f"input row {i + 1} comes after a later time); sort it by '{column}'"
        )


def _history_keys(
    values: pd.Series, axis: dict[str, Any]
) -> tuple[str, np.ndarray, PeriodReading | None]:
    """``(kind, keys, reading)``: the history's times parsed as the model's axis reads them,
    and where they name the model's months, quarters or years by their other end (month ends
    for a model of month starts) the grid's stamps of those periods and how they were read
    (:func:`~lstmtune.data.period_stamps.read_as_periods`; a model trained with ``data.freq``
    puts every time in its period already)."""
    column, freq = str(axis["column"]), axis["freq"]
    rows = np.arange(len(values))
    kind, _, keys = parse_times(
        values,
        column,
        rows=rows,
        row_word="input row",
        freq=freq,
        style=axis.get("style"),
        span=trained_span(axis),
    )
    if kind != "datetime" or axis.get("freq_source") == "data.freq":
        return kind, keys, None
    named = f"input column '{column}'"
    read = read_as_periods(keys, freq, named=named, values=values, row_word="input row")
    return kind, keys if read is None else read.keys, read


def trained_span(axis: dict[str, Any]) -> Span | None:
    """The first and the last time a model of dates was trained on (``axis["first"]``,
    ``axis["last"]``; the first alone for a model that recorded no last), which place a served
    history's two-digit years; None for a model of numbers or one without its first recorded."""
    if axis.get("kind") != "datetime" or not axis.get("first"):
        return None
    labels = pd.Series([axis["first"], axis.get("last") or axis["first"]])
    _, _, keys = parse_times(
        labels, str(axis["column"]), rows=np.arange(2), row_word="row", style=axis.get("style")
    )
    return pd.Timestamp(keys[0]), pd.Timestamp(keys[1])


def _check_model_grid(values: pd.Series, keys: np.ndarray, axis: dict[str, Any]) -> None:
    """The history's first time must lie on the model's grid, not between two of its periods
    (hours at :30 for a model of hours at :00): it is placed among the stored rows by it.
    Dates on a calendar frequency (``MS``, ``W-SUN``) are checked by ``place()`` already."""
    column, freq = str(axis["column"]), axis["freq"]
    first = pd.Series([axis["first"]])
    _, _, origin = parse_times(
        first, column, rows=np.arange(1), row_word="input row", freq=freq, style=axis.get("style")
    )
    offset = parse_freq(freq, str(axis["kind"]), column)
    i = int(np.argmin(keys))
    if axis["kind"] == "number":
        step = float(offset)
        where = (float(keys[i]) - float(origin[0])) / step
        written = np.append(np.asarray(keys, dtype=np.float64), float(origin[0]))
        off = abs(where - round(where)) > 1e-6 + 2 * written_slack(written, step) / step
    elif isinstance(offset, pd.offsets.Tick):
        off = (pd.Timestamp(keys[i]) - pd.Timestamp(origin[0])) % pd.Timedelta(
            offset
        ) != pd.Timedelta(0)
    else:
        return
    if off:
        raise TimeAxisError(
            f"input column '{column}': the history's first time {values.iloc[i]!r} (input row "
            f"{i + 1}) lies between two periods of the model's {freq} grid, which starts at "
            f"{axis['first']!r}; send times on that grid"
        )


def history_offset(frame: pd.DataFrame, axis: dict[str, Any] | None) -> int | None:
    """The period of the model's time grid where the history ``frame`` starts, counted from the
    first period the model was trained on (``axis["first"]``); None without a time axis, a
    recorded first period or a time column in the input. Checked by :func:`check_history`."""
    if not axis or not axis.get("first") or axis.get("column") not in frame.columns:
        return None
    column, freq = str(axis["column"]), axis["freq"]
    values = frame[column].reset_index(drop=True)
    if values.empty:
        return None
    _, keys, _ = _history_keys(values, axis)
    first = pd.Series([axis["first"]])
    _, _, origin = parse_times(
        first, column, rows=np.arange(1), row_word="input row", freq=freq, style=axis.get("style")
    )
    return _periods(origin[0], keys, axis)


def _periods(origin: Any, keys: np.ndarray, axis: dict[str, Any]) -> int:
    """Periods of the axis's grid from ``origin`` (a grid period) to the period the first of
    ``keys`` falls in (:func:`~lstmtune.data.timesnap.period_stamp`)."""
    start = np.min(keys)
    offset = parse_freq(axis["freq"], str(axis["kind"]), str(axis["column"]))
    if axis["kind"] == "number":  # the tolerance of place(): times written with few digits
        step = float(offset)
        written = np.append(np.asarray(keys, dtype=np.float64), float(origin))
        slack = 1e-6 + 2 * written_slack(written, step) / step
        return int(np.floor((float(start) - float(origin)) / step + slack))
    a, b = pd.Timestamp(origin), pd.Timestamp(start)
    if isinstance(offset, pd.offsets.Tick):
        return int((b - a) // pd.Timedelta(offset))
    b = period_stamp(b, offset)  # the period it falls in, as place() puts it (ME: ceil)
    if b < a:
        return -(len(pd.date_range(b, a, freq=offset)) - 1)
    return len(pd.date_range(a, b, freq=offset)) - 1

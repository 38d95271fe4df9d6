"""The time axis of a panel: one grid for every series, and where the panel starts and ends.

Each series infers its frequency from its own dates, and an anchored alias names the month its
first date falls in: a quarterly series from January is ``QS-JAN``, one from July ``QS-JUL``, yet
both are periods of the one calendar-quarter grid (so are ``QE-MAR`` and ``QE-DEC``). Two series
are on one grid when the periods of one are periods of the other: with the other's frequency,
the grid through the earlier first date reaches the later one, and from there steps through the
series' own dates. Aliases that differ by more than their anchor are refused (yearly from July
against yearly from January: July 1 is no period of the January grid; weeks ending Sunday against
weeks ending Monday; months against quarters). Series that write the same months, quarters or
years by their other end (``ME`` beside ``MS``, ``QE-DEC`` beside ``QS-JAN``) are on the one grid
too, their times read as the periods they fall in, and the panel says so in one line
(``panel.axis_note``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.data.period_stamps import period_unit, read_as_periods
from lstmtune.data.timeaxis import Axis, TimeAxisError, parse_times
from lstmtune.errors import UserError


def _start(axis: Mapping[str, Any]) -> Any:
    """The first period of a series' axis (its recorded label, read back as the axis reads it)."""
    _, _, keys = parse_times(
        pd.Series([axis["first"]]),
        str(axis["column"]),
        rows=np.arange(1),
        row_word="row",
        freq=axis["freq"],
        style=axis.get("style"),
    )
    return pd.Timestamp(keys[0]) if axis["kind"] == "datetime" else float(keys[0])


def same_grid(axis: Mapping[str, Any], periods: int, other: Mapping[str, Any]) -> bool:
    """Whether the ``periods`` periods of ``axis`` from its first are consecutive periods of
    ``other``'s grid (dates only: numbers of different steps are different grids)."""
    if axis["kind"] != "datetime" or other["kind"] != "datetime":
        return bool(axis["freq"] == other["freq"])
    first, anchor = _start(axis), _start(other)
    own = pd.date_range(first, periods=max(periods, 2), freq=axis["freq"])
    low = min(first, anchor)
    grid = pd.date_range(low, max(anchor, own[-1]), freq=other["freq"])
    if len(grid) == 0 or grid[0] != low or anchor not in grid:
        return False
    return bool(grid[(grid >= first) & (grid <= own[-1])].equals(own))


def _on_grid_of(key: pd.Timestamp, freq: Any) -> pd.Timestamp | None:
    """The stamp of ``freq``'s grid for the period ``key`` names by its other end (a month end
    for ``MS``: that month's first day); None where it names none that way."""
    try:
        read = read_as_periods(
            np.array([key.to_datetime64()]), freq, named="", values=pd.Series([key]), row_word=""
        )
    except TimeAxisError:
        return None
    return None if read is None else pd.Timestamp(read.keys[0])


def same_periods(axis: Mapping[str, Any], periods: int, other: Mapping[str, Any]) -> bool:
    """Whether the ``periods`` periods of ``axis`` from its first are consecutive months,
    quarters or years of ``other``'s grid written by their other end (``ME`` for ``MS``)."""
    mine, theirs = period_unit(axis.get("freq")), period_unit(other.get("freq"))
    if mine is None or theirs is None or mine[0] != theirs[0] or mine[1] == theirs[1]:
        return False
    own = pd.date_range(_start(axis), periods=max(periods, 2), freq=axis["freq"])
    try:
        read = read_as_periods(
            own.to_numpy(), other["freq"], named="", values=pd.Series(own), row_word=""
        )
    except TimeAxisError:
        return False
    if read is None:
        return False
    return bool(
        pd.DatetimeIndex(read.keys).equals(
            pd.date_range(read.keys[0], periods=len(own), freq=other["freq"])
        )
    )


def one_frequency(
    members: Mapping[str, dict[str, Any]], column: str, source: str
) -> tuple[str | None, str | None]:
    """The panel's frequency: the one most series infer; a series on another frequency is refused,
    naming it, unless its periods are periods of that grid (:func:`same_grid`) or the same periods
    written by their other end (:func:`same_periods`: then the note that says so)."""
    axes = {sid: m.get("time_axis") or {} for sid, m in members.items()}
    counts = Counter(a.get("freq") for a in axes.values())
    freq = counts.most_common(1)[0][0]
    ref = next(a for a in axes.values() if a.get("freq") == freq)
    other_end: list[str] = []
    for sid, axis in axes.items():
        if axis.get("freq") == freq:
            continue
        n = int(members[sid]["n_rows"])
        if axis and ref and same_grid(axis, n, ref):
            continue
        if axis and ref and same_periods(axis, n, ref):
            other_end.append(sid)
            continue
        raise UserError(
            f"{source}: series {sid!r} (column '{column}', data.series_column) has frequency "
            f"{axis.get('freq')}, the others {freq}; a model of many series reads one "
            "frequency (set data.freq to put every series on one grid, or split the file)"
        )
    time = str(ref.get("column"))
    note = _other_end_note(other_end, len(axes), time, freq) if other_end else None
    return (None if freq is None else str(freq)), note


def _other_end_note(sids: list[str], n: int, time: str, freq: Any) -> str:
    """``series 'c' (1 of 4) writes its times (column 'date') as the last days of their months,
    the others (MS) as the first: read as the months they fall in``."""
    unit, begin, _ = period_unit(freq) or ("period", True, "")
    more = f" and {len(sids) - 5} more" if len(sids) > 5 else ""
    named = ", ".join(repr(s) for s in sids[:5]) + more
    verb = "writes its" if len(sids) == 1 else "write their"
    mine, theirs = ("last", "first") if begin else ("first", "last")
    return (
        f"series {named} ({len(sids)} of {n}) {verb} times (column '{time}') as the {mine} days "
        f"of their {unit}s, the others ({freq}) as the {theirs}: read as the {unit}s they fall in"
    )


def panel_time_axis(
    members: Mapping[str, dict[str, Any]], reference: dict[str, Any], freq: str | None
) -> dict[str, Any]:
    """The panel's time axis in metadata: the ``reference`` series' axis with the frequency of
    most series, the first time of the earliest-starting series and the last of the
    latest-ending one (what the served history of a new series is placed on)."""
    axes = [m["time_axis"] for m in members.values()]
    firsts = [_on_panel_grid(a, "first", freq) for a in axes]
    lasts = [_on_panel_grid(a, "last", freq) for a in axes]
    first = min(firsts, key=lambda x: x[0])[1]
    last = max(lasts, key=lambda x: x[0])[1]
    return {**reference, "freq": freq, "first": first, "last": last}


def _on_panel_grid(axis: Mapping[str, Any], which: str, freq: Any) -> tuple[Any, str]:
    """A series' first or last time (``which``) and its label, on the panel's grid: a series
    that writes the panel's months by their other end has them read as the months they are."""
    key = _start({**axis, "first": axis[which]})
    if axis["kind"] != "datetime" or axis["freq"] == freq:
        return key, str(axis[which])
    moved = _on_grid_of(key, freq)
    if moved is None:
        return key, str(axis[which])
    label = Axis(str(axis["column"]), "datetime", str(freq), str(axis["style"])).label(moved)
    return moved, label

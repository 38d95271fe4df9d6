"""The time axis of a panel: one grid for every series, and where the panel starts and ends.

Each series infers its frequency from its own dates, and an anchored alias names the month its
first date falls in: a quarterly series from January is ``QS-JAN``, one from July ``QS-JUL``, yet
both are periods of the one calendar-quarter grid (so are ``QE-MAR`` and ``QE-DEC``). Two series
are on one grid when the periods of one are periods of the other: with the other's frequency,
the grid through the earlier first date reaches the later one, and from there steps through the
series' own dates. Aliases that differ by more than their anchor are refused (yearly from July
against yearly from January: July 1 is no period of the January grid; weeks ending Sunday against
weeks ending Monday; months against quarters).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.data.timeaxis import parse_times
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


def one_frequency(members: Mapping[str, dict[str, Any]], column: str, source: str) -> str | None:
    """The panel's frequency: the one most series infer; a series on another frequency is refused,
    naming it, unless its periods are periods of that grid (:func:`same_grid`)."""
    axes = {sid: m.get("time_axis") or {} for sid, m in members.items()}
    counts = Counter(a.get("freq") for a in axes.values())
    freq = counts.most_common(1)[0][0]
    ref = next(a for a in axes.values() if a.get("freq") == freq)
    for sid, axis in axes.items():
        if axis.get("freq") == freq:
            continue
        if not (axis and ref and same_grid(axis, int(members[sid]["n_rows"]), ref)):
            raise UserError(
                f"{source}: series {sid!r} (column '{column}', data.series_column) has frequency "
                f"{axis.get('freq')}, the others {freq}; a model of many series reads one "
                "frequency (set data.freq to put every series on one grid, or split the file)"
            )
    return None if freq is None else str(freq)


def panel_time_axis(
    members: Mapping[str, dict[str, Any]], reference: dict[str, Any], freq: str | None
) -> dict[str, Any]:
    """The panel's time axis in metadata: the ``reference`` series' axis with the frequency of
    most series, the first time of the earliest-starting series and the last of the
    latest-ending one (what the served history of a new series is placed on)."""
    axes = [m["time_axis"] for m in members.values()]
    first = min(axes, key=_start)["first"]
    last = max(axes, key=lambda a: _start({**a, "first": a["last"]}))["last"]
    return {**reference, "freq": freq, "first": first, "last": last}

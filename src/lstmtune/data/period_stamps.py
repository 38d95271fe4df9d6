"""Dates that name calendar periods by their other end: a month written ``2020-01-31`` by one
system and ``2020-01-01`` by another is the same month.

On a frequency whose periods are months, quarters or years (``MS``/``ME``, ``QS-JAN``/``QE-DEC``,
``YS-JAN``/``YE-DEC``, one period a step), times that all fall on the first day of their period
where the grid stamps the last (or all on the last where it stamps the first) are read as the
periods they fall in and put on the grid's own stamps. Times that mix both ends are refused in
one line; times inside a period (``2020-01-15``), times of day and sub-monthly frequencies are
left to :func:`lstmtune.data.timeaxis.place` (an hour at :30 is not an hour at :00).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.data.timeaxis import MONTHS, TimeAxisError, parse_times, quiet_offset

__all__ = ["MixedEnds", "PeriodReading", "mixed_ends", "period_unit", "read_as_periods"]

_UNITS = {
    pd.offsets.MonthBegin: ("month", True),
    pd.offsets.MonthEnd: ("month", False),
    pd.offsets.QuarterBegin: ("quarter", True),
    pd.offsets.QuarterEnd: ("quarter", False),
    pd.offsets.YearBegin: ("year", True),
    pd.offsets.YearEnd: ("year", False),
}


class MixedEnds(TimeAxisError):
    """Times that write some periods by their first day and others by their last."""


@dataclass(frozen=True)
class PeriodReading:
    """Times read as the periods they fall in: ``keys`` the grid's stamps of those periods (in
    the order of the times), ``unit`` month, quarter or year, ``sent`` the end they were
    written at (``first`` or ``last`` day) where the grid writes the other."""

    keys: np.ndarray
    unit: str
    sent: str

    def note(self, named: str, freq: str) -> str:
        """The one warning line: what was read, and how."""
        grid = "last" if self.sent == "first" else "first"
        return (
            f"{named}: the times are the {self.sent} days of their {self.unit}s and the model's "
            f"{freq} grid writes the {grid}: read as the {self.unit}s they fall in"
        )


def _offset(freq: Any) -> Any:
    return quiet_offset(freq) if isinstance(freq, str) else None


def period_unit(freq: Any) -> tuple[str, bool, str] | None:
    """``(unit, stamped at the start, pandas period alias)`` of a frequency of one month, quarter
    or year a step (``QS-JAN``: quarter, True, ``Q-DEC``); None for any other frequency."""
    offset = _offset(freq)
    if offset is None or type(offset) not in _UNITS or offset.n != 1:
        return None
    unit, begin = _UNITS[type(offset)]
    if unit == "month":
        return unit, begin, "M"
    month = int(offset.startingMonth if unit == "quarter" else offset.month)
    end = (month - 2) % 12 + 1 if begin else month  # the month its periods' year ends in
    return unit, begin, f"{'Q' if unit == 'quarter' else 'Y'}-{MONTHS[end - 1]}"


def read_as_periods(
    keys: np.ndarray, freq: Any, *, named: str, values: pd.Series, row_word: str
) -> PeriodReading | None:
    """``keys`` (datetime64) read as the periods of ``freq``'s grid they fall in, where every one
    is the other end of its period than the grid stamps; None where they are on the grid already,
    where ``freq`` has no calendar periods, where one is a time of day or inside its period, or
    where two are equal (:func:`~lstmtune.data.timeaxis.place` names those). Times at both ends
    of their periods are a :class:`TimeAxisError` naming one of each (``values``: as sent)."""
    found = period_unit(freq)
    times = pd.DatetimeIndex(keys)
    if found is None or not len(times) or times.has_duplicates:
        return None
    if not bool((times == times.normalize()).all()):
        return None
    unit, begin, alias = found
    periods = times.to_period(alias)
    starts = np.asarray(times == periods.start_time)
    ends = np.asarray(times == periods.end_time.normalize())
    own, other = (starts, ends) if begin else (ends, starts)
    if own.all() or not (own | other).all():
        return None
    if own.any():
        i, j = int(np.flatnonzero(starts)[0]), int(np.flatnonzero(ends)[0])
        first, last = sorted((i, j))
        raise MixedEnds(
            f"{named} mixes the first and the last days of {unit}s ({values.iloc[first]!r} at "
            f"{row_word} {first + 1}, {values.iloc[last]!r} at {row_word} {last + 1}); write "
            f"every {unit} the same way"
        )
    stamps = periods.start_time if begin else periods.end_time.normalize()
    grid = np.asarray(stamps.as_unit("ns").to_numpy(dtype="datetime64[ns]"))
    return PeriodReading(keys=grid, unit=unit, sent="last" if begin else "first")


def mixed_ends(values: pd.Series, column: str) -> str | None:
    """Why a file's time column fits no frequency where it writes some months by their first day
    and others by their last (``2015-01-01`` … ``2017-01-31``): the one-line message, naming one
    time of each and ``data.freq``, which reads each time as the month it falls in (``MS`` stamps
    it by its first day, ``ME`` by its last); else None."""
    named = f"column '{column}' (data.time_column)"
    try:
        kind, _, keys = parse_times(
            values, column, rows=np.arange(len(values)), row_word="data row"
        )
        if kind == "datetime":
            read_as_periods(keys, "MS", named=named, values=values, row_word="data row")
    except MixedEnds as exc:
        return (
            f"{exc}, or set data.freq: MS or ME (QS or QE, YS or YE for quarters, years) to "
            "read each as its period"
        )
    except TimeAxisError:
        return None
    return None

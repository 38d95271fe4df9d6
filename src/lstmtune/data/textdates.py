"""Dates written as text, read the way their writer meant them.

pandas reads every value of a column in the format it guesses from the first value. Two ways
that goes wrong on public files:

* **Day first** (``13/01/2019``, the European order): a first value such as ``01/02/2019`` is
  guessed month first, every value with a day above 12 fails, and a mixed-format retry reads the
  rest in both orders, inventing gaps. Where every value is written ``D/M/Y`` (or with ``.``
  or ``-``), :func:`read_text_dates` also reads it day first and keeps that reading when the
  month-first one fails on some value, or when it leaves fewer periods missing on its
  frequency's grid (``01/02/2019``, ``01/03/2019``…: monthly day first, twelve days and a
  jump of a year month first). On ties the month-first reading stays (pandas' default). ISO
  dates (``2019-01-02``) are never read day first: pandas would read them year-day-month.
* **UTC offsets that change** (``2021-03-28T01:00:00+01:00`` then ``…03:00:00+02:00``, summer
  time): pandas refuses to put two offsets in one column. They are read as instants in UTC,
  where an hourly series stays hourly across the change (local days keep their day:
  :mod:`lstmtune.data.wallclock`).
* **Two-digit years** (``Jan-49``, ``1/31/49``): pandas' pivot puts 49 in 2049 and does not read
  ``Jan-10`` as a month. ``Mon-yy`` is read as a month and a year, and years that land in the
  future are a century earlier (data to learn from are the past), unless the column then spans
  more years than as written: a file running past today keeps its century. A history sent to a
  published model is read by the model's trained span instead (``span``): each year in the
  century nearest to it, so a slice of the future months of a file running past today is read
  where the model has them (until 2026-12-04 ``Jan-27`` … ``Dec-28`` alone was 1927-1928).
* **Periods by number** (``1970 Q1``, ``Q1 1970``, ``1970M01``, ``1970:01``, ``2019 W01``,
  ``1970 H1``): R's tsibble, FRED, EViews and Stata write them and pandas reads none. Where every
  value is one unit's spelling, each is its period's first day (:mod:`~.period_text`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from lstmtune.data.period_text import read_periods
from lstmtune.data.wallclock import local_midnights

#: a day, a month and a year written with one separator: the order is ambiguous
NUMERIC_DMY = re.compile(r"^\s*\d{1,2}([/.\-])\d{1,2}\1\d{2,4}(\s|$|T)")


#: a month's name and a two-digit year (Excel's ``mmm-yy``: ``Jan-49``, ``Sept 10``)
MONTH_YY = re.compile(r"^\s*[A-Za-z]{3,9}[\s/.'\-]+\d{2}\s*$")

#: a date whose year is written with two digits (``1/31/49``, ``31.01.49``): no 4-digit number
TWO_DIGIT_YEAR = re.compile(r"^(?!.*\d{4})\s*\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}\s*$")

#: a time that ends in a UTC offset (``Z``, ``+01:00``, ``-0500``)
OFFSET = re.compile(r"(Z|[+-]\d\d:?\d\d)\s*$")


class MixedOffsets(ValueError):
    """Times with a UTC offset beside times without one: no axis places both (``row``: the
    first value without an offset)."""

    def __init__(self, row: int) -> None:
        super().__init__(row)
        self.row = row


def _read(values: pd.Series, *, dayfirst: bool, mixed: bool) -> pd.DatetimeIndex:
    """``values`` as times (NaT where unreadable); several UTC offsets read in UTC, unless every
    time is a local midnight (days: kept as written). Raises
    :class:`MixedOffsets` where only some values carry an offset."""
    kwargs: dict[str, object] = {"errors": "coerce", "dayfirst": dayfirst}
    if mixed:
        kwargs["format"] = "mixed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.DatetimeIndex(pd.to_datetime(values, **kwargs))
        except (ValueError, TypeError):  # offsets that change: only one UTC axis holds them
            offset = values.astype(str).str.contains(OFFSET).to_numpy()
            if not offset.all():  # a plain time beside them: in which zone?
                raise MixedOffsets(int((~offset).argmax())) from None
            wall = pd.DatetimeIndex(
                pd.to_datetime(values.astype(str).str.replace(OFFSET, "", regex=True), **kwargs)
            )
            if local_midnights(wall):  # local days: the day each names
                return wall
            return pd.DatetimeIndex(pd.to_datetime(values, utc=True, **kwargs))


#: the first and the last time a model was trained on (its axis' ``first`` and ``last``)
Span = tuple[pd.Timestamp, pd.Timestamp]


def read_text_dates(
    values: pd.Series, missing: Callable[[pd.DatetimeIndex], float], span: Span | None = None
) -> pd.DatetimeIndex:
    """``values`` (text) as times, NaT where no reading parses a value. ``missing(times)``: the
    periods fully parsed times leave out of their frequency's grid (``inf``: on no grid), the
    tie-break of the day order; ``span``: the times a model was trained on, which place years
    written with two digits (a served history), else they are read as a file's."""
    periods = read_periods(values)
    if periods is not None:  # 1970 Q1, 1970M01, 2019 W01: pandas reads none of them
        return periods[1]
    text = values.astype(str)
    if text.str.match(MONTH_YY).all():  # Jan-49, Sept 10: pandas reads day 10 or nothing
        words = text.str.strip().str.replace(r"[\s/.'\-]+", "-", regex=True).str.slice(0, 3)
        digits = text.str.strip().str[-2:]
        months = (words + "-" + digits).pipe(pd.to_datetime, format="%b-%y", errors="coerce")
        return _century(months, span)
    plain = _read(values, dayfirst=False, mixed=False)
    if text.str.match(NUMERIC_DMY).all():
        dayfirst = _read(values, dayfirst=True, mixed=False)
        if not dayfirst.isna().any() and (plain.isna().any() or missing(dayfirst) < missing(plain)):
            return _two_digit_years(dayfirst, text, span)
    if not plain.isna().any():
        return _two_digit_years(plain, text, span)
    return _read(values, dayfirst=False, mixed=True)  # several formats in one column


def _two_digit_years(
    times: pd.DatetimeIndex, text: pd.Series, span: Span | None
) -> pd.DatetimeIndex:
    """Years written with two digits (``1/31/49``) put in the last century where pandas' pivot
    puts them in the future: data to learn from are the past (a served history: by ``span``)."""
    return _century(times, span) if text.str.match(TWO_DIGIT_YEAR).all() else times


def _century(times: pd.Series | pd.DatetimeIndex, span: Span | None = None) -> pd.DatetimeIndex:
    """Future times a century earlier, unless that spreads the column wider than pandas' pivot
    reading does: ``Jan-20`` … ``Dec-30`` read today is one decade running past today (a
    projection), not 1927-1930 joined to 2020-2026 by a 90-year gap. With a model's ``span``
    each time goes to the century nearest to it (:func:`_nearest`)."""
    index = pd.DatetimeIndex(times)
    if span is not None:
        return _nearest(index, span)
    future = index > pd.Timestamp.now(tz=index.tz)
    if not future.any():
        return index
    shifted = pd.DatetimeIndex(index.where(~future, index - pd.DateOffset(years=100)))
    return index if _span(index) < _span(shifted) else shifted


def _span(index: pd.DatetimeIndex) -> pd.Timedelta:
    return pd.Timedelta(index.max() - index.min())


def _nearest(index: pd.DatetimeIndex, span: Span) -> pd.DatetimeIndex:
    """Each time in the century (a hundred years earlier, as read, or later) that puts it
    nearest to ``span``, the earlier on a tie: a served slice of a model trained on
    ``Jan-15`` … ``Dec-30`` is read where the model has it, ``Jan-27`` in 2027 (on the file's
    reading, a slice only of future months would go to 1927), and months after a model trained
    on 1949-1960 follow it (``Jan-61``: 1961)."""
    first, last = (pd.Timestamp(t).tz_localize(None).as_unit("ns").value for t in span)
    best, best_gap = index, np.full(len(index), np.inf)
    for years in (-100, 0, 100):
        moved = pd.DatetimeIndex(index + pd.DateOffset(years=years)) if years else index
        at = moved.tz_localize(None).as_unit("ns").asi8.astype(np.float64)
        gap = np.maximum(np.maximum(first - at, at - last), 0.0)
        closer = gap < best_gap
        best = pd.DatetimeIndex(best.where(~closer, moved))
        best_gap = np.where(closer, gap, best_gap)
    return best

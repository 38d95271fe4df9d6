"""Dates written as decimal years, as R writes the times of a ``ts`` (``time(AirPassengers)``:
``1949, 1949.08333333333, 1949.16666666667, …``; the CSVs of Rdatasets and of any
``write.csv(data.frame(time = time(x), value = x))``): read as the first day of each period, not
as numbers, which give a step of ``0.0833333333333`` and a model that knows no calendar.

A column of numbers is decimal years where (:func:`read_decimal_years`):

* every value is a year (:data:`FIRST_YEAR` to :data:`LAST_YEAR`: plausible years that pandas'
  timestamps hold) plus a whole number of periods of ``1/f``, for one ``f`` of
  :data:`PER_YEAR` (halves, quarters, months: the smallest that fits), written rounded to any
  number of decimals that still tells the periods apart (R's 15 significant digits,
  ``1949.08333333333``; ``1949.083``, ``1949.0833``; ``1949.25`` exactly): each value is
  ``k/f`` rounded to some number of places, at least the places whose rounding stays within
  :data:`MAX_ROUNDING` of a period (``1949.05`` is no month, ``1949.1`` no month written with
  one decimal);
* at least one value lies between two whole years (whole years stay numbers with a step of 1,
  as they read already), and of the distinct values sorted, at least half step by one period
  (the other steps are gaps of whole periods).

Each value is read as the first day of its period (``1949.0833``: 1949-02-01; ``1960.25``:
1960-04-01), so the frequency inferred is ``MS``, ``QS-JAN`` or ``6MS`` as for periods written
as text (:mod:`lstmtune.data.period_text`), and the axis' ``style`` is :data:`DECIMAL_YEARS`:
its times are written back as decimal years (:func:`decimal_label`, :func:`as_decimal_years`)
and a served history's numbers are read as the months they start (:func:`decimal_years`).
Numbers that fit by chance (prices stepping by 0.25 around 1500) are a time axis only where
``data.time_column`` names them; left out as dates without it they need a time-like name too
(:mod:`lstmtune.data.digit_columns`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmtune.data.timeaxis_steps import MIN_REGULAR_SHARE

__all__ = [
    "DECIMAL_YEARS",
    "PER_YEAR",
    "as_decimal_years",
    "decimal_label",
    "decimal_years",
    "read_decimal_years",
]

#: the axis style of times written as decimal years
DECIMAL_YEARS = "decimal_year"
#: periods per year read: halves, quarters, months (the smallest that fits every value wins)
PER_YEAR = (2, 4, 12)
#: the years read: plausible ones that pandas' nanosecond timestamps hold
FIRST_YEAR, LAST_YEAR = 1678, 2261
#: a value may be written rounded by at most this share of a period (half a unit of its places)
MAX_ROUNDING = 0.1
#: the most decimal places a value is compared at (R writes 15 significant digits)
_MAX_PLACES = 15
#: two floats this close are the same written value
_SAME = 1e-9


def _periods(arr: np.ndarray, per_year: int) -> tuple[np.ndarray, np.ndarray]:
    """``(k, fits)``: the period ``k`` (of ``1/per_year`` since year 0) each value is nearest,
    and whether the value is ``k / per_year`` rounded to some number of places fine enough
    (:data:`MAX_ROUNDING`) and in the years read."""
    k = np.round(arr * per_year)
    exact = k / per_year
    fewest = int(np.ceil(np.log10(per_year / (2 * MAX_ROUNDING)) - 1e-9))
    fits = np.zeros(len(arr), dtype=bool)
    for places in range(max(fewest, 0), _MAX_PLACES + 1):
        fits |= np.abs(np.round(exact, places) - arr) <= _SAME
    fits &= (arr >= FIRST_YEAR) & (arr < LAST_YEAR + 1)
    return k.astype(np.int64), fits


def read_decimal_years(arr: np.ndarray) -> tuple[int, np.ndarray] | None:
    """``(per_year, k)``: the periods per year and each value's period since year 0 where the
    numbers ``arr`` are decimal years by the rules above; else None."""
    if len(arr) < 2 or not np.isfinite(arr).all() or bool((arr == np.round(arr)).all()):
        return None
    for per_year in PER_YEAR:
        k, fits = _periods(arr, per_year)
        if not fits.all():
            continue
        steps = np.diff(np.unique(k))
        return (per_year, k) if float(np.mean(steps == 1)) >= MIN_REGULAR_SHARE else None
    return None


def _starts(months: np.ndarray) -> np.ndarray:
    """The first day of each month counted from January of year 0, as datetime64[ns]."""
    stamps = (months - 1970 * 12).astype("datetime64[M]")
    out: np.ndarray = stamps.astype("datetime64[ns]")
    return out


def decimal_years(
    arr: np.ndarray, style: str | None = None, freq: Any = None
) -> tuple[str, np.ndarray] | None:
    """``(DECIMAL_YEARS, keys)``: the first day of the period of each number of ``arr``, or
    None where they are not read as decimal years. ``style``: how a model's time axis was
    written (:data:`DECIMAL_YEARS`: every value as the month it starts, a single one too, NaT
    where one starts none, which the caller refuses naming it; any other: never); None: the
    rules above decide, unless ``freq`` (a user's ``data.freq``) is a number, a step that keeps
    the times numbers."""
    if style == DECIMAL_YEARS:
        k, fits = _periods(arr, 12)
        keys = _starts(np.where(fits, k, 1970 * 12))
        return DECIMAL_YEARS, np.where(fits, keys, np.datetime64("NaT", "ns"))
    if style is not None or _is_step(freq):
        return None
    read = read_decimal_years(arr)
    if read is None:
        return None
    per_year, k = read
    return DECIMAL_YEARS, _starts(k * (12 // per_year))


def _is_step(freq: Any) -> bool:
    """Whether ``data.freq`` is a number (``0.25``, ``"1"``): a step of number times."""
    if freq is None or isinstance(freq, bool):
        return False
    try:
        float(freq)
    except (TypeError, ValueError):
        return False
    return True


def as_decimal_years(grid: np.ndarray) -> np.ndarray:
    """Month starts (datetime64) as decimal years: the year plus the months before over 12."""
    months = np.asarray(grid, dtype="datetime64[M]").astype(np.int64) + 1970 * 12
    out: np.ndarray = months / 12.0
    return out


def decimal_label(stamp: Any) -> str:
    """A month start written as R writes a decimal year (15 significant digits: ``1949``,
    ``1949.08333333333``, ``1960.25``), which :func:`decimal_years` reads back."""
    value = float(as_decimal_years(np.array([np.datetime64(stamp, "ns")]))[0])
    return f"{value:.15g}"

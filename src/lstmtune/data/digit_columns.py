"""A column of integers that are dates written as digits (``202001, 202002, …``: ``yyyymm``;
``20200131``; years ``1990, 1991, …``) where ``data.time_column`` names no column: the time
axis not named, like a column of text dates, not an input of the network.

Only where nothing else fits: integers, no missing value, at least :data:`MIN_ROWS`, strictly
increasing (within each series, with ``data.series_column``), every one a valid date of one
style (:mod:`lstmtune.data.digitdates`) on one frequency with at most a tenth of its periods
missing; and a word of the name says time (``yyyymm``, ``month``, ``order_date``,
``YearMonth``, …; not ``updates`` or ``holiday``) or the values cross a calendar boundary that
no counter crosses (``201912`` to ``202001``: a step of 89 as a number, one month as a date).
Years need the name (``year``, ``yyyy``, ``yr``; or ``time``, ``date``: R's ``time()`` of a
yearly series, Rdatasets' ``time`` column of the Nile or lynx): a column of consecutive
integers around 2000 is as likely a count. Amounts (``temperature``, a cumulative
count) fail one of these and stay inputs.

R's decimal years (``1949, 1949.08333333333, …``: the ``time`` column of Rdatasets' CSVs,
:mod:`lstmtune.data.decimal_years`) are such a column too where the name says time, the numbers
increase strictly and are decimal years of months, quarters or halves with at most a tenth of
their periods missing: without the name, a price that steps by 0.25 around 1500 stays an input.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from lstmtune.data.decimal_years import read_decimal_years
from lstmtune.data.digitdates import digit_dates

__all__ = ["MIN_ROWS", "dates_as_digits"]

#: fewer rows than this tell nothing about a frequency
MIN_ROWS = 4
#: at most this share of the periods between the first and the last date may be missing
MAX_MISSING_SHARE = 0.1
#: whole words of a column name that say time (``order_date``, ``YearMonth``, ``yyyymm``); a
#: word inside another does not (``updates``, ``holiday``, ``runtime`` stay inputs)
_TIME_WORDS = frozenset(
    [
        "date",
        "dates",
        "datetime",
        "datekey",
        "time",
        "timestamp",
        "stamp",
        "month",
        "months",
        "monthyear",
        "period",
        "periods",
        "year",
        "years",
        "yearmonth",
        "yearweek",
        "yyyy",
        "quarter",
        "quarters",
        "week",
        "weeks",
        "day",
        "days",
        "dt",
        "ds",
        "ym",
        "yyyymm",
        "yyyymmdd",
        "t",
    ]
)
_YEAR_WORDS = frozenset({"year", "years", "yyyy", "yr", "yrs", "time", "date", "dates"})
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _words(name: str) -> set[str]:
    """The words of a column name: split at anything but letters and at camelCase."""
    return {w.lower() for w in _WORD.findall(name)}


def dates_as_digits(values: pd.Series, name: str, ids: pd.Series | None = None) -> bool:
    """Whether the integer column ``values`` (named ``name``) is dates written as digits, or the
    float one decimal years, by the rules above; ``ids``: the series each row belongs to (a
    panel's dates repeat per series)."""
    floats = pd.api.types.is_float_dtype(values)
    integers = pd.api.types.is_integer_dtype(values)
    if not (integers or floats) or values.isna().any() or len(values) < MIN_ROWS:
        return False
    arr = values.to_numpy(dtype=np.float64)
    groups = [arr] if ids is None else [arr[i] for i in ids.groupby(ids).indices.values()]
    if any(len(g) < 2 or (np.diff(g) <= 0).any() for g in groups):
        return False
    if floats:
        return bool(_words(name) & _TIME_WORDS) and all(_decimal_years(g) for g in groups)
    if _words(name) & _YEAR_WORDS and all(_consecutive_years(g) for g in groups):
        return True
    styles = {_digit_style(g) for g in groups}
    if len(styles) != 1 or None in styles:
        return False
    named = bool(_words(name) & _TIME_WORDS)
    return named or any(_crosses(g) for g in groups)


def _decimal_years(arr: np.ndarray) -> bool:
    """Whether the increasing ``arr`` are decimal years with few periods missing."""
    read = read_decimal_years(arr)
    if read is None:
        return False
    missing = int(read[1][-1] - read[1][0]) + 1 - len(arr)
    return missing <= MAX_MISSING_SHARE * len(arr)


def _consecutive_years(years: np.ndarray) -> bool:
    if years.min() < 1000 or years.max() > 2999:
        return False
    missing = int(years[-1] - years[0]) + 1 - len(years)
    return missing <= MAX_MISSING_SHARE * len(years)


def _digit_style(arr: np.ndarray) -> str | None:
    """The digit style (``yyyymm``, ``yyyymmdd``) the sorted ``arr`` write dates in on one
    frequency with few periods missing; None otherwise."""
    from lstmtune.data.timeaxis import grid_missing, infer_freq

    read = digit_dates(arr)
    if read is None:
        return None
    style, keys = read
    freq = infer_freq(keys, "datetime")
    if freq is None:
        return None
    missing = grid_missing(pd.DatetimeIndex(keys), freq)
    return style if missing <= MAX_MISSING_SHARE * len(arr) else None


def _crosses(arr: np.ndarray) -> bool:
    """Whether the dates pass from one year (``yyyymm``) or month (``yyyymmdd``) to the next
    while their last two digits move too: months (days) that cross a year (month) end. Values
    that step by whole hundreds (``201901, 202001, …``: yearly dates, or any count by 100) do
    not say dates without a time-like name."""
    last = np.mod(arr, 100)
    return bool((np.diff(np.floor(arr / 100)) > 0).any() and len(np.unique(last)) > 1)

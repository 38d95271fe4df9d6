"""Quarters, months, ISO weeks and halves written as text the way pandas does not read them.

R's tsibble/fpp3, FRED, EViews, Stata and statistics offices key periods by a year and a period
number; pandas reads ``1970Q1``, ``1970-Q1``, ``1970q1``, ``1970-01`` and ``Jan 1970``, and
nothing of the rest. Where **every** value of a column is written in the spellings of one unit
(:func:`read_periods`), each is read as the first day of its period:

* **Quarters** (``1970 Q1``, ``Q1 1970``, ``1970:Q1``, ``1970.Q1``, ``Q1-1970``, ``Q1/1970`` and
  pandas' own): the quarter's first day, so the frequency inferred is ``QS-JAN``.
* **Months** (``1970M01``, ``1970m1``, ``1970 M01``; EViews' and FRED's ``1970:01``, two digits
  after the colon): the month's first day (``MS``).
* **ISO weeks** (``2019 W01``, ``2019-W01``, ``2019W01``: tsibble's ``yearweek``, a capital W
  and two digits): the Monday that starts the ISO week (``W-MON``; 2019 W01 is 2018-12-31).
  Stata's weeks (``1970w1``) start on 1 January, are no ISO weeks and stay unread.
* **Halves** (``1970 H1``, ``1970S1``): 1 January and 1 July.

A period that does not exist (month 13, week 53 of a year of 52 weeks) is NaT, which the time
axis refuses naming it; so is a value in no spelling of the unit where the first value and at
least :data:`MOST` of them are in one (a blank or mistyped cell: ``1980 Q5``, ``1973M05x``; until
a review of 2026-12-04 the refusal named row 1's valid value). A column with fewer (free text,
``1970 Q1`` beside ``1970M02``) is not read here: pandas' readings follow.
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

__all__ = ["SPELLINGS", "read_periods", "spelled_unit"]

_YEAR = r"(?P<year>\d{4})"
#: between the year and the period: nothing, or one of ``-/.:`` or a space (spaces around it)
_SEP = r"\s*[-/.: ]?\s*"

#: the spellings of each unit; each names the year and the period number ``n``
SPELLINGS: dict[str, tuple[re.Pattern[str], ...]] = {
    "quarter": (
        re.compile(rf"^{_YEAR}{_SEP}[Qq](?P<n>[1-4])$"),
        re.compile(rf"^[Qq](?P<n>[1-4]){_SEP}{_YEAR}$"),
    ),
    "month": (
        re.compile(rf"^{_YEAR}{_SEP}[Mm](?P<n>\d{{1,2}})$"),
        re.compile(rf"^{_YEAR}:(?P<n>\d{{2}})$"),
    ),
    "week": (re.compile(rf"^{_YEAR}{_SEP}W(?P<n>\d{{2}})$"),),
    "half": (re.compile(rf"^{_YEAR}{_SEP}[HhSs](?P<n>[12])$"),),
}

#: the month a quarter's or a half's period ``n`` starts in: ``(n - 1) * months + 1``
_MONTHS_PER = {"quarter": 3, "month": 1, "half": 6}


def _matched(text: pd.Series, unit: str) -> pd.DataFrame:
    """``year`` and ``n`` of each value of ``text`` in a spelling of ``unit`` (NaN where none)."""
    fields = pd.DataFrame({"year": np.nan, "n": np.nan}, index=text.index, dtype=object)
    for pattern in SPELLINGS[unit]:
        found = text.str.extract(pattern)
        fields = fields.fillna(found[["year", "n"]])
    return fields


#: the share of a column's values in one unit's spellings that makes it a column of periods: a
#: blank or mistyped cell among them is then named at its own row, not the column read as text
MOST = 0.9


def spelled_unit(values: pd.Series) -> str | None:
    """The unit (``quarter``, ``month``, ``week``, ``half``) the first value and at least
    :data:`MOST` of ``values`` are written in a spelling of, or None (an empty column, fewer in
    one unit, units mixed)."""
    text = values.astype(str).str.strip()
    if text.empty:
        return None
    first = str(text.iloc[0])
    for unit, patterns in SPELLINGS.items():
        if any(p.match(first) for p in patterns):
            found = _matched(text, unit).notna().all(axis=1)
            return unit if found.mean() >= MOST else None
    return None


def read_periods(values: pd.Series) -> tuple[str, pd.DatetimeIndex] | None:
    """``(unit, starts)``: the first day of each value's period (NaT for a period that does not
    exist and for a value in no spelling of the unit, which the time axis refuses naming its
    row), where :func:`spelled_unit` finds the column's unit; else None."""
    unit = spelled_unit(values)
    if unit is None:
        return None
    fields = _matched(values.astype(str).str.strip(), unit)
    read = fields.notna().all(axis=1).to_numpy()
    fields.loc[~read, ["year", "n"]] = [2000, 1]  # a placeholder where none reads it: NaT below
    fields = fields.astype(int)
    year, n = fields["year"].to_numpy(), fields["n"].to_numpy()
    if unit == "week":
        pairs = zip(year, n, read, strict=True)
        mondays = [_iso_monday(y, w) if r else pd.NaT for y, w, r in pairs]
        return unit, pd.DatetimeIndex(mondays)
    month = (n - 1) * _MONTHS_PER[unit] + 1
    valid = (month >= 1) & (month <= 12) & read
    stamps = pd.to_datetime(
        {"year": year, "month": np.where(valid, month, 1), "day": np.ones_like(year)}
    )
    return unit, pd.DatetimeIndex(stamps.where(valid)).as_unit("ns")


def _iso_monday(year: int, week: int) -> pd.Timestamp:
    """The Monday that starts ISO week ``week`` of ``year`` (NaT where the year has no such
    week: 53 in most years, 0)."""
    try:
        return pd.Timestamp(date.fromisocalendar(int(year), int(week), 1))
    except ValueError:
        return pd.NaT

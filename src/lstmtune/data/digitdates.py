"""Integer times that are dates written as digits (``201001`` for January 2010, ``20100131``), as
spreadsheets and databases key periods: read as dates, not as numbers (which would put 88
missing "periods" between 201012 and 201101), and written back as such integers."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: integer times written as digits of a date: ``201001`` (year and month), ``20100131``
DIGIT_DATES = {"yyyymm": "%Y%m", "yyyymmdd": "%Y%m%d"}


_RANGES = {"yyyymm": (100001, 299912), "yyyymmdd": (10000101, 29991231)}


def read_digits(arr: np.ndarray, style: str) -> np.ndarray | None:
    """The dates of ``style`` the numbers ``arr`` write, or None where one is not such a date."""
    low, high = _RANGES[style]
    if not len(arr) or not np.all(arr == np.round(arr)) or arr.min() < low or arr.max() > high:
        return None
    text = pd.Series(arr.astype(np.int64).astype(str))
    keys = pd.to_datetime(text, format=DIGIT_DATES[style], errors="coerce")
    return None if keys.isna().any() else keys.to_numpy(dtype="datetime64[ns]")


def digit_dates(arr: np.ndarray, style: str | None = None) -> tuple[str, np.ndarray] | None:
    """``(style, keys)`` where every number is a whole ``YYYYMM`` (years 1000-2999, months
    1-12) or ``YYYYMMDD`` date, as spreadsheets and databases key periods; else None. ``style``:
    how a model's time axis was read (``number``: never dates; a digit style: that one, even for
    a single value); None: at least two values decide."""
    if style in DIGIT_DATES:
        keys = read_digits(arr, str(style))
        return None if keys is None else (str(style), keys)
    if style is not None or len(arr) < 2:
        return None
    for name in DIGIT_DATES:
        keys = read_digits(arr, name)
        if keys is not None:
            return name, keys
    return None


def digits_of(grid: np.ndarray, style: str) -> np.ndarray:
    """Grid times written back as the integers of ``style`` (:data:`DIGIT_DATES`)."""
    stamps = pd.DatetimeIndex(grid)
    out = stamps.year * 100 + stamps.month
    if style == "yyyymmdd":
        out = out * 100 + stamps.day
    return np.asarray(out, dtype=np.int64)

"""Integer times that are dates written as digits (``201001`` for January 2010, ``20100131``), as
spreadsheets and databases key periods: read as dates, not as numbers (which would put 88
missing "periods" between 201012 and 201101), and written back as such integers."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: integer times written as digits of a date: ``201001`` (year and month), ``20100131``
DIGIT_DATES = {"yyyymm": "%Y%m", "yyyymmdd": "%Y%m%d"}


def digit_dates(arr: np.ndarray) -> tuple[str, np.ndarray] | None:
    """``(style, keys)`` where every number is a whole ``YYYYMM`` (years 1000-2999, months
    1-12) or ``YYYYMMDD`` date, as spreadsheets and databases key periods; else None."""
    if len(arr) < 2 or not np.all(arr == np.round(arr)):
        return None
    for style, fmt in DIGIT_DATES.items():
        low, high = (100001, 299912) if style == "yyyymm" else (10000101, 29991231)
        if arr.min() < low or arr.max() > high:
            continue
        text = pd.Series(arr.astype(np.int64).astype(str))
        keys = pd.to_datetime(text, format=fmt, errors="coerce")
        if not keys.isna().any():
            return style, keys.to_numpy(dtype="datetime64[ns]")
    return None


def digits_of(grid: np.ndarray, style: str) -> np.ndarray:
    """Grid times written back as the integers of ``style`` (:data:`DIGIT_DATES`)."""
    stamps = pd.DatetimeIndex(grid)
    out = stamps.year * 100 + stamps.month
    if style == "yyyymmdd":
        out = out * 100 + stamps.day
    return np.asarray(out, dtype=np.int64)

"""Timezone-aware times on a time axis without a timezone (:mod:`lstmtune.data.timeaxis`).

Times that all fall at one time of day where they were written (local midnights of days,
months, business days; a 09:00 reading) keep that wall-clock time: ``1949-01-01 00:00+01:00``
stays 1949-01-01, and a summer-time change shifts nothing. Others (hours, minutes) are placed in
UTC, where every hour exists once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def one_clock_time(times: pd.DatetimeIndex) -> bool:
    """Whether every time falls at the same time of day where it was written."""
    return len((times - times.normalize()).dropna().unique()) <= 1


def naive(keys: pd.DatetimeIndex) -> np.ndarray:
    """``keys`` without a timezone: wall-clock times for one time of day, else UTC."""
    if keys.tz is not None:
        keys = (
            keys.tz_localize(None)
            if one_clock_time(keys)
            else keys.tz_convert("UTC").tz_localize(None)
        )
    out: np.ndarray = keys.to_numpy(dtype="datetime64[ns]")
    return out


def with_zone(grid: pd.Series, raw: pd.Series) -> pd.Series:
    """Grid times (as :func:`naive` made them) back in the timezone of the column ``raw``."""
    zone = raw.dtype.tz
    if one_clock_time(pd.DatetimeIndex(raw)):
        return grid.dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
    return grid.dt.tz_localize("UTC").dt.tz_convert(zone)

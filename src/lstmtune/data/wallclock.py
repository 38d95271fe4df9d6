"""Timezone-aware times on a time axis without a timezone (:mod:`lstmtune.data.timeaxis`).

Times that are all local midnights (days, business days, months, written with their timezone)
keep that wall-clock time: ``1949-01-01 00:00+01:00`` stays 1949-01-01, and a summer-time change
shifts nothing. Others (hours, minutes; a daily reading at 09:00) are placed in UTC, where every
hour exists once. Midnights, not "one time of day": a slice of a column is read the way the
whole column was (a served history, a model trained in one season), which a time of day that
the clock change moves (UTC midnights kept in Berlin: 01:00 in winter, 02:00 in summer) would
not guarantee.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def local_midnights(times: pd.DatetimeIndex) -> bool:
    """Whether every time is a midnight where it was written."""
    present = times.dropna()
    return bool((present == present.normalize()).all())


def naive(keys: pd.DatetimeIndex) -> np.ndarray:
    """``keys`` without a timezone: wall-clock times for local midnights, else UTC."""
    if keys.tz is not None:
        keys = (
            keys.tz_localize(None)
            if local_midnights(keys)
            else keys.tz_convert("UTC").tz_localize(None)
        )
    out: np.ndarray = keys.to_numpy(dtype="datetime64[ns]")
    return out


def with_zone(grid: pd.Series, raw: pd.Series) -> pd.Series:
    """Grid times (as :func:`naive` made them) back in the timezone of the column ``raw``."""
    zone = raw.dtype.tz
    if local_midnights(pd.DatetimeIndex(raw)):
        standard = np.zeros(len(grid), dtype=bool)  # a midnight the clock change repeats
        return grid.dt.tz_localize(zone, ambiguous=standard, nonexistent="shift_forward")
    return grid.dt.tz_localize("UTC").dt.tz_convert(zone)

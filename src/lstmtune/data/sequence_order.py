"""The order of each sequence's rows in classification data: ``data.time_column`` read as
numbers or as dates, the same way in the prepare step and in the published model.

Dates written as text are read as the forecast side reads them
(:func:`~lstmtune.data.textdates.read_text_dates`): ``13/01/2020`` day first where the month-first
reading fails, and where both read every value, the reading whose sequences leave fewer periods
missing on their own grid (a daily sequence written ``01/02/2020``, ``02/02/2020`` … is daily day
first and irregular month first). Until 2026-12-03 pandas' month-first guess read ``13/01/2020``
as no time at all: the prepare step refused the column and the published model sorted such rows
last without a word.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lstmtune.data.textdates import MixedOffsets, read_text_dates
from lstmtune.data.timeaxis import grid_missing

#: sequences whose grids break a tie between the day-first and the month-first reading
TIE_BREAK_SEQUENCES = 50


def _sequences_missing(times: pd.DatetimeIndex, codes: np.ndarray) -> float:
    """Periods missing from the grids of the first sequences' times (``inf``: some lie on no
    grid); a sequence of one distinct time says nothing."""
    total = 0.0
    for code in np.unique(codes)[:TIE_BREAK_SEQUENCES]:
        own = times[codes == code]
        if len(own.unique()) > 1:
            total += grid_missing(own)
        if math.isinf(total):
            break
    return total


def order_keys(values: pd.Series, codes: np.ndarray) -> tuple[np.ndarray, int | None]:
    """``(keys, bad)``: sort keys of the order column (float64 or datetime64[ns]) for the rows of
    sequences ``codes``, and the position of the first value read as neither a number nor a time
    (None where every value is read)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        times = pd.DatetimeIndex(values)
    else:
        numeric = pd.to_numeric(values, errors="coerce")
        if not numeric.isna().any():
            return numeric.to_numpy(dtype=np.float64), None
        if numeric.notna().mean() >= 0.5:  # numbers but for some: name the first that is not
            return numeric.to_numpy(dtype=np.float64), int(np.flatnonzero(numeric.isna())[0])
        try:
            times = read_text_dates(values.astype(str), lambda t: _sequences_missing(t, codes))
        except MixedOffsets as exc:
            return np.zeros(len(values)), exc.row
    if times.tz is not None:
        times = times.tz_convert("UTC").tz_localize(None)
    bad = np.flatnonzero(np.asarray(times.isna()))
    return times.to_numpy(dtype="datetime64[ns]"), (int(bad[0]) if len(bad) else None)


def sorted_rows(codes: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, tuple[int, int] | None]:
    """The rows in sequence (``codes``) and time (``keys``) order, and the first two rows (in
    row order) of a sequence that share a time, if any."""
    order: np.ndarray = np.lexsort((keys, codes))
    same = np.flatnonzero(
        (codes[order][1:] == codes[order][:-1]) & (keys[order][1:] == keys[order][:-1])
    )
    if not len(same):
        return order, None
    a, b = sorted(int(r) for r in order[same[0] : same[0] + 2])
    return order, (a, b)

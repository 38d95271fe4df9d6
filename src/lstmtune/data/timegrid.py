"""A time column on its grid (:mod:`lstmtune.data.timeaxis`): the file's own values where it has
rows, and values of the same kind for the periods ``data.missing`` fills."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lstmtune.data.decimal_years import DECIMAL_YEARS, as_decimal_years
from lstmtune.data.digitdates import DIGIT_DATES, digits_of
from lstmtune.data.timeaxis import Placed
from lstmtune.data.wallclock import with_zone


def grid_column(placed: Placed, raw: pd.Series) -> np.ndarray:
    """The time column on the grid: the file's own values (``raw``, already in time order) where
    it has rows, and for filled periods a value of the same kind (a timestamp, a number, or text
    written like the file's)."""
    sorted_raw = raw.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(raw) and placed.axis.kind == "datetime":
        stamps = pd.Series(pd.DatetimeIndex(placed.grid))
        if getattr(raw.dtype, "tz", None) is not None:
            stamps = with_zone(stamps, raw)
        filled = stamps.astype(raw.dtype)
    elif placed.axis.style in DIGIT_DATES and pd.api.types.is_numeric_dtype(raw):
        filled = pd.Series(digits_of(placed.grid, placed.axis.style))
    elif placed.axis.style == DECIMAL_YEARS and pd.api.types.is_numeric_dtype(raw):
        filled = pd.Series(as_decimal_years(placed.grid))
    elif pd.api.types.is_numeric_dtype(raw) and placed.axis.kind == "number":
        grid = pd.Series(placed.grid)
        integral = pd.api.types.is_integer_dtype(raw) and bool((grid % 1 == 0).all())
        filled = grid.astype(raw.dtype) if integral else grid
    else:
        filled = pd.Series([placed.axis.label(v) for v in placed.grid], dtype=object)
    filled.iloc[placed.positions] = sorted_raw.to_numpy()
    out: np.ndarray = filled.to_numpy()
    return out


def on_grid(placed: Placed, values: np.ndarray, fill: Any) -> np.ndarray:
    """Values of the sorted rows spread over the grid; ``fill`` in the missing periods."""
    dtype = np.float64 if fill is not None and fill != fill else values.dtype
    out = np.full(len(placed.grid), fill, dtype=dtype if fill is not None else object)
    out[placed.positions] = values
    return out

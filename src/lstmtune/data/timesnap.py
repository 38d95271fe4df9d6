"""Times on a frequency's grid (:func:`lstmtune.data.timeaxis.place`): the grid from the first
time to the last, and the grid point of each time's period.

A time on the grid is its own period. Between two grid points (``data.freq`` puts such times on
the grid, ``snap``) a time goes to the period it falls in, as pandas' periods and ``resample``
read it. Start-anchored frequencies (``MS``, ``QS``, ``YS``, ``D``, ``B``, ``h``, ``30min``)
label a period by its start: the grid point at or before the time (``2015-01-15`` is the month
``2015-01-01``, ``10:30`` the hour ``10:00``). End-anchored ones (``ME``, ``QE``, ``YE``,
``BME``, ``BQE``, ``BYE``, weeks ``W-SUN`` named by their last day) label it by its last day:
the grid point on or after the time's day (``2015-01-01`` is the month ``2015-01-31``, Monday
``2015-01-05`` the week ending Sunday ``2015-01-11``). Numeric steps start at the first time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.data.timeaxis_steps import written_slack

__all__ = ["END_ANCHORED", "date_grid", "end_anchored", "number_grid", "period_stamp"]

#: pandas' end-anchored offsets (its ``resample`` closes and labels their bins on the right)
END_ANCHORED = frozenset({"ME", "QE", "YE", "BME", "BQE", "BYE", "W"})

#: ``(positions, grid, on_grid)``: each sorted time's grid index, the grid, whether it is on it
Snapped = tuple[np.ndarray, np.ndarray, np.ndarray]


def end_anchored(offset: Any) -> bool:
    """Whether a pandas offset labels its periods by their last day (``ME``, ``QE-DEC``,
    ``W-SUN``), pandas' own rule for ``resample``'s right-closed bins."""
    if isinstance(offset, pd.offsets.Tick):
        return False
    return str(offset.rule_code).split("-")[0] in END_ANCHORED


def period_stamp(time: pd.Timestamp, offset: Any) -> pd.Timestamp:
    """The grid point that labels the period ``time`` falls in (itself where it is on the grid)."""
    if isinstance(offset, pd.offsets.Tick):
        return time.floor(offset)
    day = time.normalize()
    return pd.Timestamp(offset.rollforward(day) if end_anchored(offset) else offset.rollback(day))


def number_grid(keys: np.ndarray, step: float, check: Callable[[int], None]) -> Snapped:
    """Sorted number times on the grid ``keys[0] + k * step``: a time between two points goes to
    the earlier one; times written rounded (:func:`written_slack`) count as on it. ``check(n)``
    sees the number of periods before the grid is built."""
    start = float(keys[0])
    where = (keys - start) / step
    tolerance = 1e-6 + 2 * written_slack(keys, step) / step
    positions = np.floor(where + tolerance).astype(np.int64)
    on_grid = np.abs(where - np.round(where)) <= tolerance
    check(int(positions[-1]) + 1)
    grid = start + np.arange(int(positions[-1]) + 1) * step
    return positions, grid, on_grid


def date_grid(keys: np.ndarray, offset: Any, snap: bool, check: Callable[[int], None]) -> Snapped:
    """Sorted datetime64 times on the offset's grid. ``snap``: the grid runs from the first
    time's period to the last one's, and each time goes to its period (:func:`period_stamp`);
    otherwise it starts at the first time (rolled back onto the grid) and a time between two
    points goes to the earlier one, off the grid. ``check(n)`` sees the number of periods."""
    first, last = pd.Timestamp(keys[0]), pd.Timestamp(keys[-1])
    tick = isinstance(offset, pd.offsets.Tick)
    if snap:
        start, end = period_stamp(first, offset), period_stamp(last, offset)
    else:
        start, end = first, last
        if not tick and not offset.is_on_offset(start):  # off the grid: refused by the caller
            start = offset.rollback(start)
    if tick:
        check((end - start) // pd.Timedelta(offset) + 1)
    grid_index = pd.date_range(start, end, freq=offset)
    check(len(grid_index))
    grid = grid_index.as_unit("ns").to_numpy()
    if snap and end_anchored(offset):  # the grid point on or after each time's day
        days = keys.astype("datetime64[D]").astype(keys.dtype)
        positions = np.searchsorted(grid, days, side="left").astype(np.int64)
    else:
        positions = np.searchsorted(grid, keys, side="right").astype(np.int64) - 1
    return positions, grid, grid[positions] == keys

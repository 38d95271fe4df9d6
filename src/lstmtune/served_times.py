"""A served forecast's rows labelled with the history they were made from.

Each row of a forecast answers one origin: the last history row its window reads. The answer
carries that row's index label (so ``history.join(pred)`` puts each forecast beside its origin,
as a classifier of texts answers under the input's own index) and, when the history was sent
with the model's time column, that row's time, typed as it was sent (dates stay dates, periods
periods, numbers numbers): the forecast's ``step_k`` is the k-th period after it. Until
2026-12-04 the answer had no times and a fresh 0…n-1 index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def time_column(axis: dict[str, Any] | None, frame: pd.DataFrame) -> str | None:
    """The model's time column (``spec["time_axis"]["column"]``) when ``frame`` holds it."""
    column = (axis or {}).get("column")
    return str(column) if column and column in frame.columns else None


def origin_labels(index: pd.Index, positions: np.ndarray) -> pd.Index:
    """The answer's index: ``index``'s labels at the origin ``positions`` where the input's labels
    are unique; where they repeat (a panel of ``pd.concat``-ed frames, each 0…n-1) a label names
    no one row, and ``history.join`` would put every series' forecast beside each row of that
    label: a fresh 0…n-1 index then, as before 2026-12-04 (join on the series and time columns)."""
    if not index.is_unique:
        return pd.RangeIndex(len(positions))
    return index.take(np.asarray(positions, dtype=np.int64))


def at_origins(
    out: pd.DataFrame,
    frame: pd.DataFrame,
    origins: np.ndarray,
    axis: dict[str, Any] | None,
    at: int = 0,
) -> pd.DataFrame:
    """``out`` (one row per origin, in order) under ``frame``'s index labels of the rows at the
    positions ``origins`` (:func:`origin_labels`), with the model's time column inserted at
    column position ``at`` when ``frame`` holds it (the times of those rows, of the input's
    type)."""
    origins = np.asarray(origins, dtype=np.int64)
    out = out.set_axis(origin_labels(frame.index, origins), axis=0)
    column = time_column(axis, frame)
    if column is not None and column not in out.columns:
        times = frame[column].iloc[origins]
        out.insert(at, column, pd.Series(times.array, index=out.index, name=column))
    return out

"""A served forecast's history placed among the rows the model was fitted on, and the classical
models (AutoARIMA, AutoETS: anchors and partners) rebased to it.

A consumer sends the last ``history_rows`` rows (the longest lookback), but AutoETS's states belong
to the row its fit started and AutoARIMA's filter reads the whole series: run over those few rows
alone, AutoETS applied the states of the series' first year to its last ones (airline, its last
24 months each from the 30 before: test RMSE 110.5 against 25.9 over the whole history; wineind
7699 against 2507), and AutoARIMA forgot what the rows before told it (wineind 2864 against
2533). So the published spec keeps the target from the first row AutoETS read (up to
:data:`lstmtune.classical.MAX_ETS_ROWS` rows of train+val) to the series' end
(``spec["history"]``: the values and the row they start at), and the served specs read those
rows before the history: the forecast from any history equals the forecast the test split was
scored with. A history that starts after them, past a gap, gets AutoETS's states carried
through the gap (:func:`lstmtune.classical_ets.ets_after`) and AutoARIMA's filter started on it.

Where the history starts comes from its time column (``time_axis["first"]`` is the model's first
period); without one, from its values (the stored rows it repeats), else it is read as following
the stored rows directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.classical import MAX_ETS_ROWS
from lstmtune.classical_ets import ets_after
from lstmtune.data.history_check import history_offset

#: a history matched by its values must repeat at least this many stored rows (or all of its own)
MIN_MATCH = 4

#: a sent value repeats a stored one within this share of it (or of the largest stored value):
#: float32 keeps 7 digits, so a history sent as float32 was matched to nothing at 1e-9 and read
#: as following the stored rows (co2 served from float32 tails: test RMSE 1.84 against 0.267)
SAME = 1e-6


def _atol(values: np.ndarray) -> float:
    """The absolute part of :data:`SAME`'s tolerance: a millionth of the largest stored value."""
    return SAME * float(np.max(np.abs(values), initial=0.0))


def fitted_rows(target: np.ndarray, fit_end: int) -> dict[str, Any]:
    """What the published spec keeps: the target from the first row an AutoETS fitted on the
    rows before ``fit_end`` (train+val) reads, to the series' end (the test rows too: a consumer's
    latest rows start among them, and the recursions read only rows before each origin)."""
    start = max(0, fit_end - MAX_ETS_ROWS)
    return {"start": start, "values": [float(v) for v in target[start:]]}


def rebase(spec: dict[str, Any], rows: dict[str, Any], offset: int) -> dict[str, Any]:
    """The classical ``spec`` for a history whose first row is row ``offset`` of the series it was
    fitted on, ``rows`` being :func:`fitted_rows` of that series."""
    start, values = int(rows["start"]), np.asarray(rows["values"], dtype=np.float64)
    end = start + len(values)
    fit_start = int(spec.get("fit_start", 0))
    ets = spec["kind"] == "ets"
    if offset <= start:  # the history holds every stored row: read it alone, as in testing
        return {**spec, "fit_start": fit_start - offset} if ets else spec
    if offset <= end:  # the stored rows before the history are read first
        out = {**spec, "prefix": lead_rows(rows, offset).tolist()}
        return {**out, "fit_start": fit_start - start} if ets else out
    if ets:  # a gap after the stored rows
        return ets_after(spec, values[fit_start - start :], offset - end)
    return spec  # AutoARIMA's exact filter starts afresh on the history


def lead_rows(rows: dict[str, Any], offset: int) -> np.ndarray:
    """The stored rows just before a history that starts at row ``offset`` (none where it
    starts before them, or after them past a gap)."""
    start, values = int(rows["start"]), np.asarray(rows["values"], dtype=np.float64)
    if offset > start + len(values):
        return np.zeros(0)
    return values[: max(0, offset - start)]


def offset_by_values(rows: dict[str, Any], y: np.ndarray) -> int:
    """The row of the fitted series where the history ``y`` starts, found by the stored rows it
    repeats; a history that repeats none of them is read as following them directly."""
    start, values = int(rows["start"]), np.asarray(rows["values"], dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    atol = _atol(values)
    # (rows repeated, -error, offset): the longest, then the closest, then the latest
    best: tuple[int, float, int] | None = None
    for i in np.flatnonzero(np.isclose(values, y[0], SAME, atol)) if len(y) else []:
        k = min(len(y), len(values) - int(i))  # the history starts inside the stored rows
        if k >= min(len(y), MIN_MATCH) and np.allclose(values[i : i + k], y[:k], SAME, atol):
            err = float(np.abs(values[i : i + k] - y[:k]).sum())
            best = max(best or (k, -err, start + int(i)), (k, -err, start + int(i)))
    for j in np.flatnonzero(np.isclose(y, values[0], SAME, atol)) if len(values) else []:
        k = min(len(values), len(y) - int(j))  # the history starts before the stored rows
        if k >= min(len(values), MIN_MATCH) and np.allclose(y[j : j + k], values[:k], SAME, atol):
            err = float(np.abs(y[j : j + k] - values[:k]).sum())
            best = max(best or (k, -err, start - int(j)), (k, -err, start - int(j)))
    return start + len(values) if best is None else best[2]


def served_spec(
    spec: dict[str, Any], frame: pd.DataFrame, target: np.ndarray
) -> tuple[dict[str, Any], np.ndarray]:
    """The published forecaster's spec for the history ``frame`` (its target ``target``), every
    classical spec rebased to where the history starts, and the stored target rows just before
    it (the intervals' local scale reads them too). Specs without stored rows (models published
    before 2026-12-03) are read from the history's first row, as then."""
    rows = spec.get("history")
    if not rows:
        return spec, np.zeros(0)
    offset = _offset(rows, frame, spec.get("time_axis"), target)
    return map_classical(spec, lambda s: rebase(s, rows, offset)), lead_rows(rows, offset)


def served_member(
    known: dict[str, Any] | None, frame: pd.DataFrame, target: np.ndarray
) -> dict[str, Any] | None:
    """A panel series' entry (``spec["panel"]["members"][id]``) for its history ``frame``: its
    classical partners rebased as :func:`served_spec` rebases a single series'."""
    rows = (known or {}).get("history")
    if not rows or not known or not known.get("classical"):
        return known
    offset = _offset(rows, frame, known.get("time_axis"), target)
    specs = {k: rebase(s, rows, offset) for k, s in known["classical"].items()}
    return {**known, "classical": specs}


def _offset(
    rows: dict[str, Any], frame: pd.DataFrame, axis: dict[str, Any] | None, target: np.ndarray
) -> int:
    offset = history_offset(frame, axis)
    if offset is None:
        return offset_by_values(rows, target)
    moved = _values_disagree(rows, offset, target)
    if moved:
        assert axis is not None
        raise ValueError(
            f"input column '{axis['column']}': the history repeats the model's stored values "
            f"from {abs(moved)} period(s) {'later' if moved > 0 else 'earlier'} than its times "
            "say; check the time column (shifted? local clock times for a model trained on UTC?)"
        )
    return offset


def _values_disagree(rows: dict[str, Any], offset: int, target: np.ndarray) -> int:
    """How many periods the history's values place it from where its times do (0: they agree,
    or the values do not say). Revised values disagree with the stored ones at a few rows; a
    history placed by its times among stored rows it repeats at none of, while repeating them
    elsewhere, has times that are off."""
    start, values = int(rows["start"]), np.asarray(rows["values"], dtype=np.float64)
    i, y = offset - start, np.asarray(target, dtype=np.float64)
    n = min(len(y), len(values) - i) if 0 <= i < len(values) else 0
    if n < MIN_MATCH:
        return 0
    atol = _atol(values)
    if np.isclose(values[i : i + n], y[:n], SAME, atol).mean() >= 0.5:
        return 0
    found = offset_by_values(rows, y)
    return 0 if found == start + len(values) else found - offset


def map_classical(
    spec: dict[str, Any], fn: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """A copy of ``spec`` with ``fn`` applied to each classical spec it holds: the anchor of its
    featurizer and of each member's, and the combination's partners."""
    out = dict(spec)
    out["featurizer"] = _featurizer(spec["featurizer"], fn)
    if spec.get("members"):
        out["members"] = [
            {**m, "featurizer": _featurizer(m["featurizer"], fn)} for m in spec["members"]
        ]
    combination = spec.get("combination")
    if combination and combination.get("specs"):
        specs = {k: fn(s) for k, s in combination["specs"].items()}
        out["combination"] = {**combination, "specs": specs}
    return out


def _featurizer(
    featurizer: dict[str, Any], fn: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    classical = featurizer.get("classical")
    return {**featurizer, "classical": fn(classical)} if classical else featurizer

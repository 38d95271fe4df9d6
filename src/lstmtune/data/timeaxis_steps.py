"""The steps of a time column (:mod:`lstmtune.data.timeaxis`): the most common one, and the step
of number times, which may be written rounded (monthly decimal years as ``1987.083333``)."""

from __future__ import annotations

from typing import Any

import numpy as np

#: the modal step must cover at least this share of the steps for a frequency to be inferred
MIN_REGULAR_SHARE = 0.5


def modal_step(diffs: np.ndarray) -> tuple[Any, float]:
    """The most common positive step and the share of steps equal to it."""
    values, counts = np.unique(diffs, return_counts=True)
    keep = values > 0
    if not keep.any():
        return None, 0.0
    i = int(np.argmax(np.where(keep, counts, -1)))
    return values[i], float(counts[i] / len(diffs))


def written_slack(keys: np.ndarray, step: float) -> float:
    """How far a number time may sit from its grid point because it was written rounded: half a
    unit of the last decimal place the times are written with, where that unit is under a
    hundredth of the step (monthly decimal years written ``1987.083333``: 5e-7); else 0."""
    for places in range(10):
        unit = 10.0**-places
        scaled = keys / unit
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-3):  # written with ``places`` places
            return unit / 2 if places > 0 and unit <= step / 100 else 0.0  # whole numbers: exact
    return 0.0


def number_step(keys: np.ndarray) -> float | None:
    """The step of sorted, distinct number times, or None: the span over the periods it holds,
    where every step is a whole number of periods (up to :func:`written_slack`) and single steps
    are at least :data:`MIN_REGULAR_SHARE` of them."""
    diffs = np.diff(keys)
    modal, _ = modal_step(np.round(diffs, 9))
    if modal is None:
        return None
    periods = np.round(diffs / modal)
    if (periods < 1).any():
        return None
    step = float((keys[-1] - keys[0]) / periods.sum())  # precise beyond one rounded difference
    slack = written_slack(keys, step)
    whole = round(1 / step) if 0 < step < 1 else 0
    if slack and whole > 1 and abs(step - 1 / whole) * periods.sum() <= 4 * slack:
        step = 1 / whole  # rounded times of a step of 1/k (R's decimal years): the exact step
    periods = np.round(diffs / step)
    tolerance = 1e-6 * step + 4 * slack
    if (periods < 1).any() or (np.abs(diffs - periods * step) > tolerance).any():
        return None
    return step if float(np.mean(periods == 1)) >= MIN_REGULAR_SHARE else None

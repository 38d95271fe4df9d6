"""Whether the current champion was trained on the new run's test values.

A recurring run re-scores the champion on its own test split. When that split reaches back into
the champion's training data (the data shrank, or ``data.test_size`` grew), the champion is
scored partly on values it was fitted on, and the comparison favours it. Each forecast version
records the last time of its train+val data (tag :data:`TAG`); a new run counts its test values
at or before the champion's and says so in one line.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lstmtune.data.timeaxis import parse_times

#: the version tag holding the last time of the train+val data the version was fitted on
TAG = "trained_through"


def _keys(parts: dict[str, pd.DataFrame], axis: dict[str, Any]) -> tuple[str, np.ndarray]:
    """The time keys of train, val and test read as one column, as the prepare step read it
    (the day order of ``01/02/2020`` and date digits are decided by the whole column)."""
    column = str(axis["column"])
    values = pd.concat([parts[s][column] for s in ("train", "val", "test")], ignore_index=True)
    kind, _, keys = parse_times(
        values,
        column,
        rows=np.arange(len(values)),
        row_word="row",
        freq=axis.get("freq"),
        style=axis.get("style"),
    )
    dtype = "datetime64[ns]" if kind == "datetime" else np.float64
    return kind, np.asarray(keys, dtype=dtype)


def trained_through(parts: dict[str, pd.DataFrame], meta: dict[str, Any]) -> str | None:
    """The last time of the train+val data as tag text (None: no time axis, or many series)."""
    axis = meta.get("time_axis")
    if meta.get("task") != "forecast" or not axis or meta.get("panel"):
        return None
    kind, keys = _keys(parts, axis)
    return f"{kind}:{keys[len(parts['train']) + len(parts['val']) - 1]}"


def overlap(parts: dict[str, pd.DataFrame], meta: dict[str, Any], tag: str | None) -> int:
    """How many of this run's test values lie at or before the champion's ``tag`` time (0 when
    either has no time axis or the two axes differ in kind)."""
    axis = meta.get("time_axis")
    if not tag or not axis or meta.get("panel") or ":" not in tag:
        return 0
    kind, text = tag.split(":", 1)
    mine, keys = _keys(parts, axis)
    if mine != kind:
        return 0
    bound = np.datetime64(text, "ns") if kind == "datetime" else float(text)
    return int((keys[len(keys) - len(parts["test"]) :] <= bound).sum())


def overlap_warning(version: str, tag: str, seen: int, total: int) -> str:
    """The one line a run prints when the champion was trained on some of its test values."""
    through = tag.split(":", 1)[1].replace("T00:00:00.000000000", "")
    return (
        f"warning: the current champion v{version} was trained on data through {through}: "
        f"{seen} of the {total} test values lie within it, so the comparison with it favours it"
    )

"""A classification table of one sequence per row and a column per step (``label,att1,…,att96``
as sktime's tabular layout, Kaggle's and many papers' CSV copies of UCR sets write one), read as
lstmtune's long frame: ``case`` (the row's number in the file: ``row-1`` …), ``t`` (0, 1, …),
``c0`` (the row's values) and the label (and split) columns as written. Empty cells at a row's
end are padding: that sequence is shorter. Read so where the label is set and neither the
sequence nor the time column is, no feature columns are named, and three or more columns of
numbers are left (the steps, in file order); columns of text and the file's row numbers are
left out and named. The prepare step says so in one line."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lstmtune.config import DataConfig
from lstmtune.data.row_numbers import row_number_columns
from lstmtune.errors import UserError

#: the fewest step columns a row of a wide table holds
MIN_STEPS = 3
#: the long frame's columns and the data settings they fill
COLUMNS = {"sequence_column": "case", "time_column": "t"}


def _steps(frame: pd.DataFrame, data: DataConfig) -> tuple[list[str], list[str]]:
    """The step columns (numbers, in file order) and the columns left out (text, row numbers)."""
    named = {data.label, data.split_column}
    rest = [str(c) for c in frame.columns if str(c) not in named]
    numbers = [c for c in rest if pd.api.types.is_numeric_dtype(frame[c])]
    counted = row_number_columns(frame, numbers)
    steps = [c for c in numbers if c not in counted]
    return steps, [c for c in rest if c not in steps]


def wide_sequences(
    frame: pd.DataFrame, data: DataConfig, source: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The long frame of a table of one sequence per row, and what was read (an empty dict:
    ``frame`` is read as it is)."""
    if data.task != "classify" or data.label is None or data.feature_columns:
        return frame, {}
    if data.sequence_column is not None or data.time_column is not None:
        return frame, {}
    if data.label not in frame.columns or set(COLUMNS.values()) & {str(c) for c in frame.columns}:
        return frame, {}  # the label's own refusal; a column named like the long frame's
    steps, left_out = _steps(frame, data)
    if len(steps) < MIN_STEPS:
        return frame, {}
    values = frame[steps].to_numpy(dtype=np.float64)
    present = ~np.isnan(values)
    empty = np.flatnonzero(~present.any(axis=1))
    if len(empty):
        raise UserError(
            f"{source}: data row {int(empty[0]) + 1} holds no value in its {len(steps)} step "
            f"columns ({steps[0]} … {steps[-1]}; a table of one sequence per row)"
        )
    lengths = values.shape[1] - np.argmax(present[:, ::-1], axis=1)  # padding at the end: none
    rows = np.repeat(np.arange(len(frame)), lengths)
    cases = np.array([f"row-{i + 1}" for i in range(len(frame))], dtype=object)
    long = pd.DataFrame(
        {
            "case": cases[rows],
            "t": np.concatenate([np.arange(n) for n in lengths]),
            "c0": np.concatenate([values[i, :n] for i, n in enumerate(lengths)]),
        }
    )
    for column in (data.label, data.split_column):
        if column is not None and column in frame.columns:
            long[column] = frame[column].to_numpy()[rows]
    note = {
        "steps": [steps[0], steps[-1]],
        "count": len(steps),
        "sequences": len(frame),
        "left_out": left_out,
        "columns": [str(c) for c in long.columns],
    }
    return long, note


def wide_line(note: dict[str, Any]) -> str:
    """The prepare step's line, e.g. ``read one sequence per row: the 96 columns att1 … att96
    as its steps, 200 sequences, as the columns case, t, c0, target``."""
    first, last = note["steps"]
    left = f"; left out: {', '.join(note['left_out'])}" if note["left_out"] else ""
    return (
        f"read one sequence per row: the {note['count']} columns {first} … {last} as its steps, "
        f"{note['sequences']} sequences, as the columns {', '.join(note['columns'])}{left}"
    )

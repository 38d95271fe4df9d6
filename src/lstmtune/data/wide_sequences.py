"""A classification table of one sequence per row and a column per step (``label,att1,…,att96``
as sktime's tabular layout, Kaggle's and many papers' CSV copies of UCR sets write one), read as
lstmtune's long frame: ``case`` (the row's number in the file: ``row-1`` …), ``t`` (0, 1, …),
``c0`` (the row's values) and the label (and split) columns as written. Empty cells at a row's
end are padding: that sequence is shorter. Read so where the label is set and neither the
sequence nor the time column is, no feature columns are named, three or more columns of numbers
are named by one prefix and numbers one after another (``att1`` … ``att96``, ``0`` … ``23``) or
by increasing numbers (``0.0``, ``0.1``, …): the steps, in file order; and no other column
repeats its value from row to row as a sequence id of a file of one row per step does (holding
more values than the label: a constant or a class's name is no id); the other columns (text,
the file's row numbers) are left out and named. A missing label, or value inside a sequence, is
named by the file's data row. The prepare step says what it read in one line."""

from __future__ import annotations

import re
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


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def _numbered(names: list[str]) -> list[str]:
    """The longest run of names sharing a prefix and numbered one after another in file order
    (``att1`` … ``att96``, ``0`` … ``23``, ``V1`` …); empty where none."""
    floats = pd.to_numeric(pd.Series(names, dtype=object), errors="coerce")
    if len(names) and floats.notna().all() and (np.diff(floats.to_numpy()) > 0).all():
        return names  # named by their times: 0.0, 0.1, … (a sampling period's multiples)
    groups: dict[str, list[tuple[str, int]]] = {}
    for name in names:
        found = _NUMBERED.match(name)
        if found:
            groups.setdefault(found[1], []).append((name, int(found[2])))
    best = max(groups.values(), key=len, default=[])
    numbers = [n for _, n in best]
    if not numbers or numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        return []
    return [name for name, _ in best]


def _steps(frame: pd.DataFrame, data: DataConfig) -> tuple[list[str], list[str]]:
    """The step columns (numbers, numbered in file order) and the columns left out."""
    named = {data.label, data.split_column}
    rest = [str(c) for c in frame.columns if str(c) not in named]
    numbers = [c for c in rest if pd.api.types.is_numeric_dtype(frame[c])]
    counted = row_number_columns(frame, numbers)
    steps = _numbered([c for c in numbers if c not in counted])
    return steps, [c for c in rest if c not in steps]


def _long_file(frame: pd.DataFrame, columns: list[str], label: str) -> bool:
    """Whether a column other than the steps repeats its value from one row to the next in most
    rows and holds more values than the label (a sequence id of a file of one row per step; a
    constant or a class's name is none)."""
    classes = frame[label].nunique()
    for c in columns:
        same = (frame[c].iloc[1:].to_numpy() == frame[c].iloc[:-1].to_numpy()).mean()
        if same > 0.5 and frame[c].nunique() > classes:
            return True
    return False


def _refuse_gaps(
    frame: pd.DataFrame,
    data: DataConfig,
    source: str,
    values: np.ndarray,
    steps: list[str],
    lengths: np.ndarray,
) -> None:
    """A missing label, and with ``data.missing: error`` a missing value inside a sequence,
    named by the file's data row (and column)."""
    label = frame[str(data.label)].isna().to_numpy()
    if label.any():
        row = int(np.flatnonzero(label)[0]) + 1
        raise UserError(
            f"{source}: column '{data.label}' (data.label) has a missing value at data row {row}"
        )
    inside = np.isnan(values) & (np.arange(values.shape[1]) < lengths[:, None])
    if data.missing == "error" and inside.any():
        row, step = (int(x) for x in np.argwhere(inside)[0])
        raise UserError(
            f"{source}: data row {row + 1}, column '{steps[step]}': a missing value inside the "
            "sequence; data.missing: interpolate (or ffill) fills it"
        )


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
    if len(steps) < MIN_STEPS or _long_file(frame, left_out, str(data.label)):
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
    _refuse_gaps(frame, data, source, values, steps, lengths)
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

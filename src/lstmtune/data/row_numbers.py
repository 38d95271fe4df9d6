"""A forecast's or a classifier's column that is the file's row number (``0, 1, 2, …`` or
``1, 2, 3, …`` in file order: the index pandas writes with a frame, headed ``Unnamed: 0`` when
read back; R's ``Obs``) where ``data.feature_columns`` is not set: it tells each row's place in
the file and nothing else, so it is not an input of the network (as one it is a trend that the
network must carry on past the file at serving time, and where the user sorted or sliced the
file it means nothing; as a classifier's channel it gives the label away in a file grouped by
class).

Only what is clearly the file's row index: integers, no missing value, at least
:data:`MIN_ROWS`, each equal to its row's position in the file over the whole file (from 0 or
from 1); a column with no name (blank, ``Unnamed: 3``: a written index) is one also where its
values are the row numbers in another order (a frame sorted before it was written). A counter
within each series of a panel, a step count that starts elsewhere and the time column are not:
they stay what they were.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["MIN_ROWS", "row_number_columns", "row_numbers"]

#: fewer rows than this tell nothing: 0, 1, 2 may as well be a small count
MIN_ROWS = 4
#: the header pandas gives a column without a name (``Unnamed: 0``; ``Unnamed: 0_level_0``)
_UNNAMED = re.compile(r"\s*|Unnamed: \d+(_level_\d+)?")


def row_numbers(values: pd.Series, name: str, rows: np.ndarray | None = None) -> bool:
    """Whether the integer column ``values`` (named ``name``; ``rows``: each value's row in the
    file, where the frame was put in time order) is the file's row numbers, by the rules above."""
    if not pd.api.types.is_integer_dtype(values) or values.isna().any() or len(values) < MIN_ROWS:
        return False
    arr = values.to_numpy(dtype=np.int64)
    place = np.arange(len(arr)) if rows is None else np.asarray(rows, dtype=np.int64)
    if any(np.array_equal(arr, place + start) for start in (0, 1)):
        return True
    if _UNNAMED.fullmatch(name) is None:
        return False
    ordered = np.sort(arr)
    return any(np.array_equal(ordered, np.arange(len(arr)) + start) for start in (0, 1))


def row_number_columns(frame: pd.DataFrame, names: list[str]) -> list[str]:
    """The columns of ``names`` that are the file's row numbers (``frame``: in file order)."""
    return [c for c in names if c in frame.columns and row_numbers(frame[c], str(c))]

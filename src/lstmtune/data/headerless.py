"""A CSV without a header, as ``numpy.savetxt``, R's ``write(x, file)`` and many old data files
write a series: one column of numbers, or a time and a number a line (``1949-01,112``). Its
first line holds values, not names: it is data, and the columns are named ``value`` (and
``time`` before it). Only files of one or two columns are read so: in a wider table a header of
numbers (years, sensor ids) may be names; and ``0`` / ``0,1`` stay a header (pandas writes those
names for a Series or a frame of unnamed columns)."""

from __future__ import annotations

import warnings

import pandas as pd

#: the names given to a file's columns where it has no header, by its number of columns
NAMES = {1: ["value"], 2: ["time", "value"]}


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _time(cell: str) -> bool:
    """A number or a date pandas reads (``1949-01``, ``1956Q1``, ``Jan-1949``), not a name."""
    if _number(cell):
        return True
    if not any(ch.isdigit() for ch in cell):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(pd.notna(pd.to_datetime(cell, errors="coerce")))


def headerless_names(cells: list[str]) -> list[str] | None:
    """The column names of a file whose first line (``cells``) holds values, or None where it
    is a header (pandas' default column names ``0`` and ``0,1``, as ``Series.to_csv`` writes
    them, are one)."""
    if len(cells) not in NAMES or not _number(cells[-1]):
        return None
    if cells == [str(i) for i in range(len(cells))]:
        return None
    if len(cells) == 2 and not _time(cells[0]):
        return None
    return NAMES[len(cells)]


def headerless_note(uri: str, cells: list[str], names: list[str]) -> str:
    """The warning line saying the file was read without a header."""
    first = ",".join(cells)
    return (
        f"warning: {uri} has no header (its first line {first!r} holds values): read as the "
        f"column{'s' * (len(names) > 1)} {', '.join(names)}"
    )

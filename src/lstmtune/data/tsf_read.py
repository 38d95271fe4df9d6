"""Read a file of the Monash Time Series Forecasting Repository (``.tsf``) into its series.

The format (Godahewa et al. 2021, the repository's own ``convert_tsf_to_dataframe``): ``#``
comment lines; a header of ``@relation``, ``@attribute <name> <numeric|string|date>`` (one per
attribute a series carries, in order), ``@frequency`` (``yearly``, ``monthly``,
``half_hourly``, ``10_minutes``, ``4_seconds`` …), ``@horizon``, ``@missing``,
``@equallength``; then ``@data`` and one series a line: its attribute values, each followed by
``:``, then its values separated by ``,`` (``?``: missing). A ``date`` attribute (the series'
first time) is written ``1972-01-01 00-00-00``.

Every refusal is one line naming the file and its line. sktime's and aeon's readers are not
used: they take a path only (no S3) and name no line in their errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lstmtune.errors import UserError

_HINT = "a .tsf file holds @attribute, @frequency and @horizon lines, then @data"
_TYPES = ("numeric", "string", "date")


@dataclass
class TsfHeader:
    """The header: the attributes in order (name, type), the ``@frequency`` and ``@horizon``
    as written (None where absent)."""

    attributes: list[tuple[str, str]] = field(default_factory=list)
    frequency: str | None = None
    horizon: int | None = None


@dataclass(frozen=True)
class TsfSeries:
    """One series: its attribute values as written, its values (NaN: missing) and its line."""

    attributes: list[str]
    values: np.ndarray
    line: int


def _fail(uri: str, line: int, what: str) -> UserError:
    return UserError(f"{uri}: line {line}: {what}")


def _header_line(header: TsfHeader, words: list[str], uri: str, line: int) -> None:
    """One ``@`` line of the header into ``header`` (``@relation``, ``@missing`` and
    ``@equallength`` say nothing the values do not)."""
    tag = words[0].lower()
    if tag == "@attribute":
        if len(words) != 3 or words[2].lower() not in _TYPES:
            raise _fail(
                uri,
                line,
                f"'{' '.join(words)}': an attribute is @attribute <name> <numeric|string|date>",
            )
        header.attributes.append((words[1], words[2].lower()))
    elif tag == "@frequency" and len(words) == 2:
        header.frequency = words[1].lower()
    elif tag == "@horizon" and len(words) == 2:
        if not words[1].isdigit() or int(words[1]) < 1:
            raise _fail(uri, line, f"@horizon {words[1]!r} is not a whole number of steps")
        header.horizon = int(words[1])
    elif tag not in ("@relation", "@missing", "@equallength"):
        raise _fail(uri, line, f"'{' '.join(words)}' is no tag of a .tsf file ({_HINT})")


def _value(cell: str, uri: str, line: int, place: int) -> float:
    cell = cell.strip()
    if cell in ("?", "", "NaN", "nan"):
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        raise _fail(uri, line, f"value {place} {cell[:40]!r} is not a number") from None
    if math.isinf(value):
        raise _fail(uri, line, f"value {place} {cell[:40]!r} is not a finite number")
    return value


def _series(text: str, header: TsfHeader, uri: str, line: int) -> TsfSeries:
    """One ``@data`` line: the attribute values (``:``-separated), then the values."""
    count = len(header.attributes)
    cells = text.split(":", count)
    if len(cells) != count + 1:
        raise _fail(
            uri,
            line,
            f"{len(cells) - 1} attribute value(s) where the header declares {count} "
            "(each followed by ':'), then the values",
        )
    values = [_value(c, uri, line, k + 1) for k, c in enumerate(cells[-1].split(","))]
    array = np.asarray(values, dtype=np.float64)
    if np.isnan(array).all():
        raise _fail(uri, line, f"series {cells[0]!r} holds no value")
    return TsfSeries([c.strip() for c in cells[:-1]], array, line)


def parse_tsf(text: str, uri: str) -> tuple[TsfHeader, list[TsfSeries]]:
    """The header and series of a ``.tsf`` file's text."""
    header, series, data = TsfHeader(), [], False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if data:
            series.append(_series(line, header, uri, number))
        elif line.lower() == "@data":
            data = True
        elif line.startswith("@"):
            _header_line(header, line.split(), uri, number)
        else:
            raise _fail(uri, number, f"'{line[:40]}' before @data ({_HINT})")
    if not series:
        raise UserError(f"{uri}: no series after @data ({_HINT})")
    return header, series


def start_time(series: TsfSeries, header: TsfHeader, uri: str) -> pd.Timestamp | None:
    """The series' first time (its ``date`` attribute, ``1972-01-01 00-00-00``), or None where
    the header declares no date attribute; :class:`pandas.errors.OutOfBoundsDatetime` for a time
    outside the years 1677-2262 that pandas' times hold."""
    where = [k for k, (_, kind) in enumerate(header.attributes) if kind == "date"]
    if not where:
        return None
    text, name = series.attributes[where[0]], header.attributes[where[0]][0]
    if not text:
        raise _fail(
            uri, series.line, f"{name} is empty (a series' first time: 1972-01-01 00-00-00)"
        )
    for layout in ("%Y-%m-%d %H-%M-%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return pd.Timestamp(pd.to_datetime(text, format=layout))
        except pd.errors.OutOfBoundsDatetime:
            raise  # a time, outside the years pandas' times hold: the caller numbers the steps
        except ValueError:
            continue
    raise _fail(uri, series.line, f"{name} {text!r} is not a time (written 1972-01-01 00-00-00)")

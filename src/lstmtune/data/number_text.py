"""Numbers in a CSV written as a spreadsheet shows them: columns of them read as numbers.

Two spellings, one per file, chosen by the file's own evidence:

- **decimal comma** (a European spreadsheet's CSV, separated by semicolons): ``168,0``,
  ``-0,5``, ``1.234,5``, ``1 234,5`` (a space or a no-break space between groups of three),
  ``1.234`` (a thousands dot where the file writes decimal commas);
- **thousands commas** (Excel's or Google Sheets' export of formatted numbers, quoted in a
  comma-separated file): ``"1,120"``, ``"-12,345.5"``, ``"1,234,567"``.

A value such as ``1,120`` is either; the file decides: a value only one spelling reads (``168,0``,
``0,125``, ``1.234,5`` a decimal comma; ``1,234,567``, ``1,234.5`` thousands commas) chooses that
spelling for every column; without one, the separator does (a semicolon: decimal commas; a
comma: thousands commas; a tab or ``|``: neither); with both, neither (the columns are refused
later naming a value, as before). A column pandas read as text is read as numbers only where
every value is a number of the file's spelling or missing (plain numbers such as ``112`` count;
an empty cell and a token of :data:`MISSING_TOKENS`, Destatis' ``-``, are missing values),
so dates (``01.02.2019``), codes and words stay text. Where a column was read
with decimal commas, a column pandas read as decimals whose every value is an integer with
thousands dots (``1.120`` and ``999``) is read again as those integers (``1120``, not ``1.12``).
Currencies (``$1,120``), percentages (``12.5%``) and units are not read: they stay text,
refused by :func:`lstmtune.data.columns.feature_columns` naming a value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pandas as pd

__all__ = ["MISSING_TOKENS", "missing_cells", "numbers_as_written"]

_GROUP = r"[ \u00a0\u202f]"  # a space, a no-break space, a narrow no-break space
#: a number with a decimal comma: groups of three after a dot or a space, a comma before decimals
_DECIMAL_COMMA = re.compile(
    rf"[-+]?(\d+|[1-9]\d{{0,2}}(\.\d{{3}})+|[1-9]\d{{0,2}}({_GROUP}\d{{3}})+)(,\d+)?"
)
#: a number with thousands commas: groups of three after a comma, a dot before decimals
_THOUSANDS_COMMA = re.compile(r"[-+]?(\d+|[1-9]\d{0,2}(,\d{3})+)(\.\d+)?")
#: an integer with thousands dots (``1.120``): in a file of decimal commas, not ``1.12``
_DOTTED_INTEGER = re.compile(r"[-+]?(\d+|[1-9]\d{0,2}(\.\d{3})+)")

DECIMAL, THOUSANDS = "decimal comma", "thousands commas"
_SPELLING = {DECIMAL: _DECIMAL_COMMA, THOUSANDS: _THOUSANDS_COMMA}
#: the spelling a file's separator implies where no value tells
_BY_SEPARATOR = {";": DECIMAL, ",": THOUSANDS}


#: what public files write for a value that is not there, beside an empty cell and pandas' own
#: ``NA``/``NaN``/``null``: FRED's ``.``, ARFF's and the UEA ``.ts`` format's ``?``, the ``..``
#: of OECD and ABS tables, Eurostat's ``:``, a dash in a printed table, ``n.a.`` (lower case)
MISSING_TOKENS = frozenset({"", ".", "..", "...", "?", ":", "-", "--", "\u2013", "\u2014", "n.a."})


def missing_cells(values: pd.Series) -> pd.Series:
    """Which cells hold no value: NaN, nothing but spaces, or a token of :data:`MISSING_TOKENS`
    (any case), in a column of numbers spelt for people as in one of plain numbers."""
    tokens = values.astype(str).str.strip().str.lower().isin(MISSING_TOKENS)
    return values.isna() | tokens


def _present(column: pd.Series) -> pd.Series:
    """The column's cells as stripped text, NaN where :func:`missing_cells`."""
    return column.astype(str).str.strip().where(~missing_cells(column))


def _values(column: pd.Series) -> pd.Series:
    """The column's distinct values as stripped text, missing ones left out: a Destatis column
    of ``100,0`` with a ``-`` is a column of decimal commas."""
    return _present(column).dropna().drop_duplicates()


def _every(values: pd.Series, pattern: re.Pattern[str]) -> bool:
    """Whether ``pattern`` reads every value (a column of words fails at its first)."""
    return all(pattern.fullmatch(v) for v in values)


def _may_be_numbers(column: pd.Series) -> bool:
    """Whether a text column's first values are numbers of either spelling (a column of words
    is passed over without reading all of it)."""
    head = _values(column.dropna().head(100))
    return any(_every(head, p) for p in (_DECIMAL_COMMA, _THOUSANDS_COMMA))


def _told(values: pd.Series) -> set[str]:
    """The spelling a column of text ``values`` shows: one that reads every value and alone
    reads one of them (``168,0``: a decimal comma; ``1,234,567``: thousands commas)."""
    for kind, other in ((DECIMAL, THOUSANDS), (THOUSANDS, DECIMAL)):
        if _every(values, _SPELLING[kind]) and not _every(values, _SPELLING[other]):
            return {kind}
    return set()


def spellings(columns: dict[str, pd.Series], sep: str) -> dict[str, str]:
    """The spelling to read each text column by: its own where it shows one, else the file's
    (shown by another column, else implied by its separator ``sep``); none for any column where
    two columns disagree, nor for a column that shows none where the file's values and its
    separator disagree (``1,120`` in a comma-separated file of ``51,3``)."""
    told = {c: _told(_values(v)) for c, v in columns.items()}
    seen = set().union(*told.values())
    if len(seen) > 1:
        return {}
    implied = _BY_SEPARATOR.get(sep)
    if seen and implied not in (None, *seen):
        implied = None
    elif seen:
        implied = next(iter(seen))
    kinds = {c: next(iter(t)) if t else implied for c, t in told.items()}
    return {c: k for c, k in kinds.items() if k is not None}


def as_numbers(column: pd.Series, kind: str) -> pd.Series | None:
    """``column`` read as numbers of the spelling ``kind`` (integers where pandas would read
    integers); None where a value is not one."""
    if not _every(_values(column), _SPELLING[kind]):
        return None
    text = _present(column)
    if kind == DECIMAL:
        text = text.str.replace(rf"[.]|{_GROUP}", "", regex=True).str.replace(",", ".")
    else:
        text = text.str.replace(",", "", regex=False)
    numbers: pd.Series = pd.to_numeric(text)
    return numbers


def numbers_as_written(
    frame: pd.DataFrame,
    sep: str,
    raw: Callable[[], pd.DataFrame],
    skip: Sequence[str] = (),
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """``frame`` with its columns of numbers spelt for people read as numbers (module doc), and
    a warning line for each column of thousands dots read again (``1.120``: 1120, where pandas
    read 1.12; decimals written with a dot in a file of decimal commas would read so too);
    ``raw`` reads the file's cells as text (called only where a decimal column is read again);
    the columns ``skip`` (ids) are left as they are."""
    texts = [
        c
        for c in frame.columns
        if c not in skip and frame[c].dtype == object and _may_be_numbers(frame[c])
    ]
    kinds = spellings({c: frame[c] for c in texts}, sep)
    read = {c: n for c, k in kinds.items() if (n := as_numbers(frame[c], k)) is not None}
    commas = any(
        kinds[c] == DECIMAL and _values(frame[c]).str.contains(",", regex=False).any() for c in read
    )
    floats = [c for c in frame.columns if c not in skip and frame[c].dtype == "float64"]
    dotted = _dotted_integers(raw(), floats) if commas and floats else {}
    if not read and not dotted:
        return frame, ()
    frame = frame.copy()
    for c, numbers in read.items():
        frame[c] = numbers
    for c, (numbers, _) in dotted.items():
        frame[c] = numbers
    return frame, tuple(_dotted_note(c, written) for c, (_, written) in dotted.items())


def _dotted_integers(cells: pd.DataFrame, floats: list[str]) -> dict[str, tuple[pd.Series, str]]:
    """The ``floats`` columns whose cells (as text) are all integers with thousands dots, one at
    least with a dot (``1.120``, ``999``): each read as those integers (1120), with the first
    value written with a dot."""
    out = {}
    for c in floats:
        values = _values(cells[c])
        if values.str.contains(".", regex=False).any() and _every(values, _DOTTED_INTEGER):
            text = _present(cells[c])
            numbers = pd.to_numeric(text.str.replace(".", "", regex=False))
            out[c] = (numbers, next(v for v in values if "." in v))
    return out


def _dotted_note(column: str, written: str) -> str:
    return (
        f"warning: column '{column}' read {written!r} as {written.replace('.', '')}, with"
        " thousands dots, as the file writes decimal commas; if its values are decimals, write"
        " them with a comma"
    )

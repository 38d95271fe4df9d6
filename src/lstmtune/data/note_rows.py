"""Title lines above a CSV's table and note lines below it, as statistics offices and spreadsheets
write them (``Monthly airline passengers`` / ``Source: Box & Jenkins``), left out of the table
with one warning line each.

Title lines: the lines before the header that hold one cell of text and no separator (but
trailing ones, ``Title,,,``: a spreadsheet's), where the line after them is a header (two or more
cells, none a number) and most of the lines below it hold two or more cells. Note lines: the
lines after the table whose only cell is the first one (blank lines among them), written unlike
that column's values and holding letters (``Source: …`` under ``1949-01``; a column whose values
are written in many ways decides nothing). A missing value at the table's end (``1960-12,``) is
written like its column and stays data, and so does a line inside a quoted cell of many lines
(a review's text).
"""

from __future__ import annotations

import csv
import re
import statistics

_SEPARATORS = ",\t;|"
#: Excel's first line naming the separator (``sep=;``): no title, left out without a word
_EXCEL_SEP = re.compile(r"^sep=.$", re.IGNORECASE)
#: how many lines at most are a title, and how many lines of the table are sampled
_MOST_TITLES, _SAMPLE = 20, 200


def _cells(line: str, sep: str) -> list[str]:
    return [c.strip() for c in next(csv.reader([line], delimiter=sep), [])]


def _is_number(cell: str) -> bool:
    try:
        float(cell.replace(",", ""))
    except ValueError:
        return False
    return True


def _title(line: str) -> bool:
    """A blank line, or one cell of text with no separator but trailing ones."""
    text = line.strip().rstrip(_SEPARATORS).strip()
    return not any(s in text for s in _SEPARATORS)


def _header_sep(line: str) -> str | None:
    """The separator of a header line (two or more cells, none a number), else None."""
    for sep in _SEPARATORS:
        cells = [c for c in _cells(line, sep) if c]
        if len(cells) >= 2:
            return None if any(_is_number(c) for c in cells) else sep
    return None


def title_lines(lines: list[str]) -> int:
    """How many lines above the header are a title (0: the first line is the header)."""
    k = 0
    while k < min(len(lines), _MOST_TITLES) and _title(lines[k]):
        k += 1
    if not any(line.strip() for line in lines[:k]) or k >= len(lines):
        return 0  # no title (blank lines alone are read as before)
    sep = _header_sep(lines[k])
    body = [line for line in lines[k + 1 : k + 1 + _SAMPLE] if line.strip()]
    if sep is None or not body:
        return 0
    filled = statistics.median(sum(1 for c in _cells(line, sep) if c) for line in body)
    return k if filled >= 2 else 0


def _shape(cell: str) -> str:
    """A cell's writing: letters ``a``, digits ``9``, runs of either as one (``1949-01``:
    ``9-9``; ``Source: Box & Jenkins``: ``a: a & a``)."""
    return re.sub(r"([a9])\1+", r"\1", re.sub(r"\d", "9", re.sub(r"[^\W\d_]", "a", cell)))


def _lone_first(cells: list[str]) -> bool:
    return not any(cells[1:])


def _tail(lines: list[str], sep: str, usual: str) -> tuple[int, int]:
    """How many lines at the end look like notes (blank lines among them), and how many of
    them are notes (not blank), by their cells alone."""
    k, notes = 0, 0
    while k < len(lines) - 2:
        cells = _cells(lines[-1 - k], sep)
        shape = _shape(cells[0]) if cells else ""
        if any(cells) and (not _lone_first(cells) or shape == usual or "a" not in shape):
            break
        notes += bool(any(cells))
        k += 1
    return k, notes


def _unquoted(lines: list[str], sep: str, k: int) -> int:
    """Of the last ``k`` lines, how many at the end lie outside any quoted cell of many lines
    (a ``"`` that opens no cell, an inch mark, is no quote)."""
    opened = re.compile(rf'(?:^|{re.escape(sep)})\s*"')
    if not any(opened.search(line) for line in lines):
        return k
    quotes = sum(line.count('"') for line in lines)  # then: those before the line looked at
    for i in range(k):
        line = lines[-1 - i]
        quotes -= line.count('"')
        if quotes % 2 or line.count('"') % 2:
            return i  # a line inside or closing a quoted cell of many lines: the table's
    return k


def note_lines(lines: list[str], sep: str) -> int:
    """How many lines at the end (below the header, line 0) are notes, blank lines among them."""
    rows = [_cells(line, sep) for line in lines[1 : 1 + _SAMPLE] if line.strip()]
    shapes = [_shape(c[0]) for c in rows if c and c[0] and not _lone_first(c)]  # whole rows
    if not shapes:
        return 0
    usual = statistics.mode(shapes)
    if shapes.count(usual) < 0.9 * len(shapes):
        return 0
    k, notes = _tail(lines, sep, usual)
    if not notes:
        return 0  # the common case: no quote counting over the whole file
    k = _unquoted(lines, sep, k)
    return k if any(line.strip() for line in lines[len(lines) - k :]) else 0


def _shown(line: str) -> str:
    return repr(line.strip().rstrip(_SEPARATORS).strip()[:60])


def _lines(count: int) -> str:
    return "line is" if count == 1 else f"{count} lines are"


def without_title(uri: str, text: str) -> tuple[str, list[str], int]:
    """``text`` from its header on, the warning line where title lines were left out, and how
    many were."""
    head = text.lstrip()[:65536].splitlines()[:1]  # the first line that holds anything
    if not any(_title(line) or _EXCEL_SEP.match(line.strip()) for line in head):
        return text, [], 0  # the common case: a header first (no split of a large file)
    lines = text.splitlines(keepends=True)
    hint = int(bool(lines) and _EXCEL_SEP.match(lines[0].strip()) is not None)  # Excel's sep=;
    first = hint + title_lines(lines[hint:])
    if first == hint:
        return "".join(lines[hint:]), [], hint
    title = next(line for line in lines[hint:first] if line.strip())
    return (
        "".join(lines[first:]),
        [
            f"warning: {uri}: its first {_lines(first)} a title, not the table "
            f"({_shown(title)}): read from line {first + 1}, the header"
        ],
        first,
    )


def without_notes(uri: str, text: str, sep: str, skipped: int = 0) -> tuple[str, list[str]]:
    """``text`` (the header first, ``skipped`` title lines above it in the file) without its
    note lines, and the warning line where some were left out."""
    tail = text.rstrip()[-65536:].splitlines()  # \n, \r\n and the old Mac's \r alike
    cells = _cells(tail[-1], sep) if tail else []  # the last line that holds anything
    if not cells or not _lone_first(cells):
        return text, []  # the common case: a row of data last (no split of a large file)
    lines = text.splitlines(keepends=True)
    last = note_lines(lines, sep)
    if not last:
        return text, []
    start = len(lines) - last
    at = next(i for i in range(start, len(lines)) if any(_cells(lines[i], sep)))
    return "".join(lines[:start]), [
        f"warning: {uri}: its last {_lines(last)} notes, not data ({_shown(lines[at])}, "
        f"line {skipped + at + 1}): left out"
    ]

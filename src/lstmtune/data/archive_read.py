"""Read one file of the UCR / UEA time-series classification archive into its cases.

Two layouts (:mod:`lstmtune.data.archive` finds the file's pair and makes the long frame):

* the UCR archive's header-less text (2018: ``Chinatown_TRAIN.tsv``, tab separated; older
  ``.txt`` and extension-less files: whitespace or comma separated): one case a line, the class
  label first (``1``, ``-1``, ``1.0000000e+00``), then the values; ``NaN`` at the end pads a
  shorter case to the longest;
* the ``.ts`` format of the UEA archive, sktime and aeon: ``@tags`` (``@classLabel true a b``,
  ``@univariate``, ``@equalLength``, ``@dimensions``), ``@data``, then one case a line: its
  channels separated by ``:``, each channel's values by ``,`` (``?`` or ``NaN``: missing), the
  label last.

Steps missing in every channel at a case's end are padding, not values: the case is shorter.
aeon's own reader (``aeon.datasets.load_from_ts_file``) is not used: it lower-cases every line
(``Standing`` is read as ``standing``), takes a path only (no S3) and names no line in its errors.
Every refusal here is one line naming the file and its line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lstmtune.errors import UserError

_TS_HINT = "a .ts file holds @tags, then @data and one case a line"
_CASE_HINT = "a case is its channels (values separated by ','), then its label, separated by ':'"


@dataclass(frozen=True)
class Cases:
    """One file's cases in file order: each case's values (channels x steps, padding removed),
    its label as written (UCR: a number; ``.ts``: text) and the file line it is on."""

    values: list[np.ndarray]
    labels: list[float] | list[str]
    lines: list[int]


def _cells(line: str) -> list[str]:
    """A UCR line's cells: tab separated, else comma separated, else by runs of spaces; empty
    cells at the end (a trailing separator) are none."""
    line = line.strip()
    sep = "\t" if "\t" in line else "," if "," in line else None
    cells = [c.strip() for c in line.split(sep)]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _number(cell: str) -> float | None:
    """The cell's number (NaN for ``NaN`` and an empty cell), or None where it holds none."""
    if not cell:
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        return None
    return None if math.isinf(value) else value


def looks_ucr(text: str) -> bool:
    """Whether the first line that holds anything is a UCR case: a label and at least one
    value, every cell a number (a header would have names)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    numbers = [_number(c) for c in _cells(first)]
    label = numbers[0] if numbers else None
    return len(numbers) >= 2 and None not in numbers and label is not None and math.isfinite(label)


def _trimmed(values: np.ndarray) -> np.ndarray:
    """A case (channels x steps) without the steps at its end that are missing in every channel
    (the padding of a shorter case)."""
    present = np.flatnonzero(~np.isnan(values).all(axis=0))
    return values[:, : present[-1] + 1] if len(present) else values[:, :0]


def parse_ucr(text: str, name: str) -> Cases:
    """Every case of a UCR archive text file (labels as numbers)."""
    values: list[np.ndarray] = []
    labels: list[float] = []
    lines: list[int] = []
    for i, line in enumerate(text.splitlines(), start=1):
        cells = _cells(line)
        if not cells:
            continue
        numbers = [_number(c) for c in cells]
        bad = next((j for j, v in enumerate(numbers) if v is None), None)
        if bad is not None:
            raise UserError(
                f"{name}: line {i}, cell {bad + 1}: {cells[bad][:40]!r} is not a number (a UCR "
                "archive file holds one case a line: its class label, then its values)"
            )
        label = numbers[0]
        if label is None or math.isnan(label):
            raise UserError(f"{name}: line {i}: the class label (the first cell) is missing")
        case = _trimmed(np.array([numbers[1:]], dtype=np.float64))
        if case.shape[1] == 0:
            raise UserError(f"{name}: line {i}: no values after the class label {cells[0]}")
        values.append(case)
        labels.append(label)
        lines.append(i)
    if not values:
        raise UserError(f"{name}: no cases (a UCR archive file holds one case a line)")
    return Cases(values, labels, lines)


def _ts_header(lines: list[str], name: str) -> tuple[dict[str, list[str]], int]:
    """The ``@tags`` (name lower-cased: its words) and the index of the line after ``@data``."""
    tags: dict[str, list[str]] = {}
    for i, line in enumerate(lines):
        text = line.strip()
        if not text or text.startswith(("#", "%")):
            continue
        if not text.startswith("@"):
            raise UserError(f"{name}: line {i + 1}: {text[:40]!r} before @data ({_TS_HINT})")
        tag, *words = text.split()
        if tag.lower() == "@data":
            return tags, i + 1
        tags[tag[1:].lower()] = words
    raise UserError(f"{name}: no @data line ({_TS_HINT})")


def _flag(tags: dict[str, list[str]], key: str, name: str) -> bool | None:
    """A ``true``/``false`` tag's value; None where the file has no such tag."""
    words = tags.get(key)
    if words is None:
        return None
    if len(words) != 1 or words[0].lower() not in ("true", "false"):
        raise UserError(f"{name}: @{key} {' '.join(words)!r}: true or false expected")
    return words[0].lower() == "true"


def _class_values(tags: dict[str, list[str]], name: str) -> list[str] | None:
    """The labels ``@classLabel true …`` allows (None: any); refused where the file holds no
    class labels (a regression set, timestamped values)."""
    if _flag(tags, "timestamps", name):
        raise UserError(
            f"{name}: @timeStamps true: values written as (time,value) pairs are not read; write "
            "the values alone"
        )
    if _flag(tags, "targetlabel", name):
        raise UserError(
            f"{name}: @targetLabel true: a regression set (a number per case to predict); "
            "sequence classification needs class labels"
        )
    words = tags.get("classlabel")
    if words is None:
        return None
    if not words or words[0].lower() not in ("true", "false"):
        raise UserError(f"{name}: @classLabel {' '.join(words)!r}: true or false expected")
    if words[0].lower() == "false":
        raise UserError(f"{name}: @classLabel false: the cases have no class labels to learn from")
    return words[1:] or None


def _ts_channel(text: str, name: str, line: int, k: int) -> list[float]:
    """One channel's values; ``?`` and ``NaN`` are missing."""
    out: list[float] = []
    for cell in text.split(","):
        cell = cell.strip()
        value = math.nan if cell == "?" else _number(cell) if cell else None
        if value is None:
            shown = repr(cell[:40]) if cell else "an empty value"
            raise UserError(
                f"{name}: line {line}, channel {k + 1}: {shown} is not a number ({_CASE_HINT})"
            )
        out.append(value)
    return out


def _ts_case(
    text: str, name: str, line: int, allowed: list[str] | None
) -> tuple[np.ndarray, str, int]:
    """One ``.ts`` data line: its values (channels x steps, padding removed), its label and its
    length as written."""
    *channels, label = text.split(":")
    label = label.strip()
    if not channels or not label:
        raise UserError(f"{name}: line {line}: no class label after the last ':' ({_CASE_HINT})")
    if allowed is not None and label not in allowed:
        raise UserError(
            f"{name}: line {line}: class label {label!r} is not one of @classLabel's "
            f"{', '.join(allowed)}"
        )
    rows = [_ts_channel(c, name, line, k) for k, c in enumerate(channels)]
    other = next((k for k, r in enumerate(rows) if len(r) != len(rows[0])), None)
    if other is not None:
        raise UserError(
            f"{name}: line {line}: channel {other + 1} has {len(rows[other])} values, channel 1 "
            f"has {len(rows[0])}; a case's channels must be equally long"
        )
    case = _trimmed(np.array(rows, dtype=np.float64))
    if case.shape[1] == 0:
        raise UserError(f"{name}: line {line}: the case has no values")
    return case, label, len(rows[0])


def _ts_shape(tags: dict[str, list[str]], name: str) -> int | None:
    """The channel count the tags declare (``@univariate true``: 1; ``@dimensions k``)."""
    words = tags.get("dimensions", tags.get("dimension"))
    declared = int(words[0]) if words and len(words) == 1 and words[0].isdigit() else None
    if _flag(tags, "univariate", name):
        if declared not in (None, 1):
            raise UserError(f"{name}: @univariate true but @dimensions {declared}")
        return 1
    return declared


def parse_ts(text: str, name: str) -> Cases:
    """Every case of a ``.ts`` file (labels as text); channel counts as the tags declare them,
    one length where ``@equalLength true``."""
    lines = text.splitlines()
    tags, start = _ts_header(lines, name)
    allowed = _class_values(tags, name)
    channels = _ts_shape(tags, name)
    equal = _flag(tags, "equallength", name)
    values: list[np.ndarray] = []
    labels: list[str] = []
    where: list[int] = []
    first_length = 0
    for i in range(start, len(lines)):
        text_line = lines[i].strip()
        if not text_line or text_line.startswith(("#", "%")):
            continue
        case, label, length = _ts_case(text_line, name, i + 1, allowed)
        channels = case.shape[0] if channels is None else channels
        if case.shape[0] != channels:
            raise UserError(
                f"{name}: line {i + 1}: {case.shape[0]} channel(s), the file's cases have "
                f"{channels}"
            )
        first_length = first_length or length
        if equal and length != first_length:
            raise UserError(
                f"{name}: line {i + 1}: {length} values a channel, line {where[0]} has "
                f"{first_length}; the file says @equalLength true"
            )
        values.append(case)
        labels.append(label)
        where.append(i + 1)
    if not values:
        raise UserError(f"{name}: no cases after @data ({_TS_HINT})")
    return Cases(values, labels, where)

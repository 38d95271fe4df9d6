"""Classify straight from the UCR / UEA archive's files: ``Chinatown_TRAIN.tsv`` (UCR 2018, tab
separated, no header; the older ``.txt`` alike) or ``BasicMotions_TRAIN.ts`` (the ``.ts`` format
of the UEA archive, sktime and aeon), each read with its ``_TEST`` file beside it (same directory
or S3 prefix) into lstmtune's long frame: ``case`` (``train-0`` …, ``test-0`` …), ``t`` (0, 1, …),
the channels ``c0`` … ``ck``, ``label`` and ``split`` (the archive's official split: the
``_TRAIN`` file's cases ``train``, the ``_TEST`` file's ``test``; validation is carved from
train as for any ``data.split_column`` without ``val``). The data settings of those columns are
filled in; a setting that names another column is refused.

Which file is an archive file (``data.task: classify``, ``data.format: auto``): a ``.ts`` file,
or a file named ``…_TRAIN`` / ``…_TEST`` (``.tsv``, ``.txt``, ``.csv`` or no extension) whose
first line is all numbers (a table with a header is read as a table). Naming the ``_TEST`` file,
or a ``_TRAIN`` file without its ``_TEST`` file, is refused in one line: the archive's test set
is what its published results are measured on, and a carved one would silently be another. A
``.ts`` file named otherwise is read alone and split by ``data.val_size`` / ``data.test_size``.
The labels keep their written form: UCR's numbers (as integers where all are whole: ``1``,
``-1``, ``1.0000000e+00``), ``.ts`` labels as text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.config import DataConfig
from lstmtune.config_base import ARCHIVE_NAME
from lstmtune.data.archive_read import Cases, looks_ucr, parse_ts, parse_ucr
from lstmtune.data.io import read_bytes
from lstmtune.errors import UserError

_UCR_EXTENSIONS = ("", ".tsv", ".txt", ".csv")
#: the data settings an archive fills in, and the columns of its long frame they name
COLUMNS = {"sequence_column": "case", "time_column": "t", "label": "label", "split_column": "split"}


@dataclass(frozen=True)
class ArchiveRead:
    """An archive set as lstmtune's long frame, the data settings that read it, its source (the
    file named), the SHA-256 of its files' bytes and what was read (for the prepare line)."""

    frame: pd.DataFrame
    data: DataConfig
    source: str
    sha256: str
    note: dict[str, Any]


def _name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _kind(data: DataConfig) -> str | None:
    """``ts``, ``ucr`` (by name only: the first line decides) or None."""
    if data.task != "classify" or data.format != "auto" or data.path is None:
        return None
    name = _name(data.path)
    if name.lower().endswith(".ts"):
        return "ts"
    match = ARCHIVE_NAME.match(name)
    return "ucr" if match and (match["ext"] or "").lower() in _UCR_EXTENSIONS else None


def _text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _utf8(uri: str, text: str | None) -> str:
    if text is None:
        raise UserError(f"{uri}: not a UTF-8 text file (an archive file is text)")
    return text


def _other(uri: str, match: re.Match[str], role: str) -> str:
    """The file of the pair whose role is ``role`` (``TRAIN``/``TEST``), in the case the name
    is written in (``_TRAIN`` -> ``_TEST``, ``_train`` -> ``_test``)."""
    written = match["role"]
    if written.isupper():
        role = role.upper()
    elif written.islower():
        role = role.lower()
    else:
        role = role.capitalize()
    name = f"{match['stem']}_{role}{match['ext'] or ''}"
    return uri[: len(uri) - len(_name(uri))] + name


def _test_file(uri: str, data: DataConfig, match: re.Match[str]) -> tuple[str, bytes]:
    """The ``_TEST`` file beside the ``_TRAIN`` file ``uri``: its URI and bytes."""
    if match["role"].lower() == "test":
        train = _name(_other(uri, match, "train"))
        raise UserError(
            f"{uri}: names the archive's test file; name its training file {train} instead (read"
            f" with {_name(uri)} beside it: the _TRAIN cases train, the _TEST cases test)"
        )
    test = _other(uri, match, "test")
    try:
        return test, read_bytes(test, s3_endpoint_url=data.s3_endpoint_url)
    except UserError as exc:
        why = str(exc).removeprefix(f"{test}: ")
        raise UserError(
            f"{uri}: its test file {test}: {why}; an archive's _TRAIN file is read with the _TEST"
            " file beside it (the official test split)"
        ) from None


def _labels(cases: list[Cases], kind: str) -> np.ndarray:
    """Every case's label, typed as written: UCR's as integers where all are whole numbers,
    else as numbers; a ``.ts`` file's as text."""
    labels = [label for c in cases for label in c.labels]
    if kind == "ts":
        return np.array(labels, dtype=object)
    numbers = np.array(labels, dtype=np.float64)
    return numbers.astype(np.int64) if (numbers == np.round(numbers)).all() else numbers


def _long_frame(cases: list[Cases], prefixes: list[str], labels: np.ndarray) -> pd.DataFrame:
    """One row a time step: ``case`` (``<prefix>-<i>``), ``t``, ``c0`` … and ``label`` (and
    ``split``, the prefix, where the files are a ``train`` and ``test`` pair)."""
    values = [v for c in cases for v in c.values]
    lengths = np.array([v.shape[1] for v in values])
    ids = [f"{p}-{i}" for p, c in zip(prefixes, cases, strict=True) for i in range(len(c.values))]
    stacked = np.concatenate([v.T for v in values])
    frame = pd.DataFrame(
        {
            "case": np.repeat(np.array(ids, dtype=object), lengths),
            "t": np.concatenate([np.arange(n) for n in lengths]),
        }
    )
    for k in range(stacked.shape[1]):
        frame[f"c{k}"] = stacked[:, k]
    frame["label"] = np.repeat(labels, lengths)
    if prefixes != ["case"]:
        split = [p for p, c in zip(prefixes, cases, strict=True) for _ in c.values]
        frame["split"] = np.repeat(np.array(split, dtype=object), lengths)
    return frame


def _same_channels(files: list[tuple[str, Cases]]) -> int:
    """The channel count, the same in both files."""
    (uri, first), *rest = files
    channels = first.values[0].shape[0]
    for other, cases in rest:
        if cases.values[0].shape[0] != channels:
            raise UserError(
                f"{other}: {cases.values[0].shape[0]} channel(s) a case, {_name(uri)} has "
                f"{channels}; the two files of an archive set hold the same channels"
            )
    return int(channels)


def _no_gaps(files: list[tuple[str, Cases]]) -> None:
    """With ``data.missing: error``, the first missing value (inside a case: the padding at its
    end is gone) named by file, line, channel and place."""
    for uri, cases in files:
        for values, line in zip(cases.values, cases.lines, strict=True):
            gaps = np.argwhere(np.isnan(values))
            if len(gaps):
                k, step = (int(x) for x in gaps[0])
                channel = f", channel {k + 1}" if values.shape[0] > 1 else ""
                raise UserError(
                    f"{uri}: line {line}{channel}: value {step + 1} is missing; data.missing: "
                    "interpolate (or ffill) fills missing values inside a case"
                )


def settings_of(
    data: DataConfig, source: str, columns: dict[str, str], names: list[str], what: str
) -> dict[str, Any]:
    """The data settings (``columns``: setting -> column) whose column is among ``names``, the
    columns ``what`` (``an archive file``) is read as; a setting naming another is refused."""
    update: dict[str, Any] = {}
    for key, column in columns.items():
        given, exists = getattr(data, key), column in names
        if given is not None and (given != column or not exists):
            raise UserError(
                f"{source}: data.{key} {given!r} names no column of {what}, read as the columns "
                f"{', '.join(names)} (leave data.{key} unset)"
            )
        if exists:
            update[key] = column
    return update


def _filled(data: DataConfig, source: str, channels: int, pair: bool) -> DataConfig:
    """``data`` with the long frame's columns filled in; a setting naming another is refused."""
    names = [
        "case",
        "t",
        *(f"c{k}" for k in range(channels)),
        "label",
        *(["split"] if pair else []),
    ]
    update = settings_of(data, source, COLUMNS, names, "an archive file")
    channel_names = {f"c{k}" for k in range(channels)}
    unknown = [c for c in data.feature_columns or [] if c not in channel_names]
    if unknown:
        raise UserError(
            f"{source}: data.feature_columns names {unknown[0]!r}, not a channel of an archive "
            f"file (its channels: c0 … c{channels - 1})"
        )
    return data.model_copy(update=update)


def read_archive(data: DataConfig) -> ArchiveRead | None:
    """The archive set ``data.path`` names (with its ``_TEST`` file), or None where it is no
    archive file (a table: :func:`lstmtune.data.io.read_table` reads it)."""
    kind = _kind(data)
    if kind is None:
        return None
    uri = str(data.path)
    raw = read_bytes(uri, s3_endpoint_url=data.s3_endpoint_url)
    text = _text(raw)
    if kind == "ucr" and (text is None or not looks_ucr(text)):
        return None  # a table of its own (a header, text)
    match = ARCHIVE_NAME.match(_name(uri))
    pair = [(uri, raw, text)]
    if match is not None:
        test, test_raw = _test_file(uri, data, match)
        pair.append((test, test_raw, _text(test_raw)))
    parse = parse_ts if kind == "ts" else parse_ucr
    cases = [(u, parse(_utf8(u, t), u)) for u, _, t in pair]
    channels = _same_channels(cases)
    if data.missing == "error":
        _no_gaps(cases)
    prefixes = ["train", "test"] if len(pair) == 2 else ["case"]
    labels = _labels([c for _, c in cases], kind)
    frame = _long_frame([c for _, c in cases], prefixes, labels)
    sha = hashlib.sha256(b"".join(r for _, r, _ in pair)).hexdigest()
    note = _note(kind, cases, channels, labels)
    return ArchiveRead(frame, _filled(data, uri, channels, len(pair) == 2), uri, sha, note)


def _note(
    kind: str, files: list[tuple[str, Cases]], channels: int, labels: np.ndarray
) -> dict[str, Any]:
    lengths = [v.shape[1] for _, c in files for v in c.values]
    return {
        "kind": kind,
        "files": [_name(u) for u, _ in files],
        "sequences": [len(c.values) for _, c in files],
        "min_length": int(min(lengths)),
        "max_length": int(max(lengths)),
        "channels": channels,
        "classes": len(set(labels.tolist())),
    }


def archive_line(note: dict[str, Any]) -> str:
    """The prepare step's line of what was read, e.g. ``read the UCR archive's
    Chinatown_TRAIN.tsv and Chinatown_TEST.tsv as the train and test splits: 20 + 22 sequences,
    length 24, 2 classes``."""
    files = note["files"]
    what = "the UCR archive's" if note["kind"] == "ucr" else "the .ts file" + "s" * (len(files) > 1)
    how = (
        " as the train and test splits"
        if len(files) == 2
        else " (no _TRAIN/_TEST pair: split by data.val_size and data.test_size)"
    )
    low, high = note["min_length"], note["max_length"]
    length = f"length {low}" if low == high else f"lengths {low} to {high}"
    channels = f", {note['channels']} channels" if note["channels"] > 1 else ""
    counts = " + ".join(str(n) for n in note["sequences"])
    return (
        f"read {what} {' and '.join(files)}{how}: {counts} sequences, {length}{channels},"
        f" {note['classes']} classes"
    )

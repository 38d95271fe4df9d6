"""Sequence ids as text: one rule for the prepare step and the published classifier.

A sequence is the rows that share an id. Training reads the id column of a file (as numbers where
that keeps every id apart: :func:`lstmtune.data.io.read_table`); a served frame brings whatever
pandas made of its ids: ``5`` in one frame, ``5.0`` in a float column (a column that once held a
gap) or next to ``5`` in an object column of ints and floats. A float that is a whole number is
the id of that integer (``5.0 == 5``), so ``5`` and ``5.0`` are one sequence named ``'5'`` on both
sides. Until 2026-12-04 ids were ``str(value)``: the published model scored ``5`` and ``5.0`` of
one batch as two sequences, and training named a float column's sequences ``'5.0'``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def _text(value: Any) -> str:
    whole = isinstance(value, float | np.floating) and math.isfinite(value)
    return str(int(value)) if whole and float(value).is_integer() else str(value).strip()


def _unpadded(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def id_text(ids: pd.Series) -> pd.Series:
    """Each id as text: a whole-number float as its integer (``5.0`` -> ``'5'``), anything else
    as ``str`` writes it (``'5.5'``, ``'wave-0'``, ``'007'``) without surrounding spaces (a CSV
    cell's padding: training reads ``'104 '`` as 104, :func:`lstmtune.data.io.read_table`)."""
    return ids.astype(object).map(_text).astype(object)


def served_ids(frame: pd.DataFrame, col: str, word: str = "sequence") -> pd.Series:
    """The rows' ``word`` ids as text (:func:`id_text`), indexed from 0. A missing id (or one of
    spaces only) is refused, as in training; so are two ids that are different values read as
    one id (``5`` and ``'5'``: one sequence as text, two as sent), naming both rows (input row 1
    is the first)."""
    sent = frame[col].reset_index(drop=True)
    ids = id_text(sent)
    missing = np.flatnonzero((sent.isna() | (ids == "")).to_numpy())
    if len(missing):
        raise ValueError(
            f"input column '{col}' has a missing value at input row {missing[0] + 1}; "
            f"every row needs its {word} id"
        )
    by_text = pd.factorize(ids)[0]
    pairs = pd.DataFrame({"text": by_text, "value": pd.factorize(sent.map(_unpadded))[0]})
    alike = pairs.drop_duplicates()
    twice = alike["text"].duplicated()
    if twice.any():  # rows of one text with two values: the first of each
        b = int(alike.index[twice.to_numpy()][0])
        a = int(alike.index[alike["text"].to_numpy() == by_text[b]][0])
        raise ValueError(
            f"input column '{col}' has the {word} ids {sent.iloc[a]!r} (input row "
            f"{a + 1}) and {sent.iloc[b]!r} (input row {b + 1}): different values that read "
            f"as the same id; send each {word}'s id as one type"
        )
    return ids


def first_sent(frame: pd.DataFrame, col: str) -> dict[str, Any]:
    """Each id's text (:func:`id_text`) to the value its first row sent: the published model
    answers with the ids as they were sent (``5``, not ``'5'``)."""
    sent = frame[col].reset_index(drop=True)
    texts = id_text(sent)
    first = ~texts.duplicated().to_numpy()
    return dict(zip(texts[first], sent[first], strict=True))

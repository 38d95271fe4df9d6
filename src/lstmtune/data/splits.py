"""Split helpers shared by the preparers (forecast, classify and text).

Nothing here reads files or knows a task: each function checks or assigns one thing and raises a
:class:`~lstmtune.errors.UserError` that names the file (``source``) and the data row as it is in
the file.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

from lstmtune.errors import UserError

SPLITS = ("train", "val", "test")
#: the fewest training windows a forecast may leave (the preparer and the search space check it)
MIN_TRAIN_WINDOWS = 8
#: the shortest lookback any space holds: the history a forecast origin needs at least
MIN_HISTORY = 2


def split_size(value: float, total: int, key: str) -> int:
    """Items in a split: ``value`` >= 1 is a count, below 1 a share of ``total``."""
    n = int(value) if value >= 1 else round(value * total)
    if n < 1:
        raise UserError(f"data.{key}: {value} gives no {key.split('_')[0]} items out of {total}")
    return n


def time_split_size(value: float, total: int, key: str, horizon: int) -> int:
    """Time steps in a forecast's val or test split: a count as given; a share of ``total`` (the
    default 0.15) at least ``horizon``, so a short series' split still holds one whole forecast
    (an M-competition panel's last ``horizon`` years), instead of the series being refused."""
    if value >= 1:
        return split_size(value, total, key)
    return max(round(value * total), horizon)


def raised_splits(sizes: dict[str, tuple[float, int]], horizon: int) -> list[str]:
    """The splits (name -> (size, the steps it is a share of)) whose share
    :func:`time_split_size` raised to ``horizon``."""
    return [
        n for n, (value, total) in sizes.items() if value < 1 and round(value * total) < horizon
    ]


def split_values(
    frame: pd.DataFrame, col: str, source: str, rows: np.ndarray | None = None
) -> pd.Series:
    """The user's split column as ``train``/``val``/``test`` (``rows`` maps sorted -> file row)."""
    rows = np.arange(len(frame)) if rows is None else rows
    values = frame[col].astype(str).str.strip().str.lower()
    bad = ~values.isin(SPLITS)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserError(
            f"{source}: column '{col}' (data.split_column) has value {frame[col].iloc[i]!r} "
            f"at data row {int(rows[i]) + 1}; expected train, val or test"
        )
    if not (values == "train").any() or not (values == "test").any():
        raise UserError(
            f"{source}: column '{col}' (data.split_column) needs both 'train' and 'test' rows"
        )
    return values


def stratified_pick(
    ids: list[str], labels: pd.Series, n: int, rng: np.random.Generator
) -> list[str]:
    """Pick ``n`` ids with class proportions kept (largest-remainder rounding)."""
    by_class: dict[str, list[str]] = {}
    for s in ids:
        by_class.setdefault(str(labels[s]), []).append(s)
    total = len(ids)
    quotas = {c: n * len(v) / total for c, v in by_class.items()}
    take = {c: math.floor(q) for c, q in quotas.items()}
    for c in sorted(quotas, key=lambda c: quotas[c] - take[c], reverse=True)[
        : n - sum(take.values())
    ]:
        take[c] += 1
    picked: list[str] = []
    for c, members in sorted(by_class.items()):
        perm = rng.permutation(len(members))
        picked.extend(members[i] for i in perm[: min(take[c], len(members) - 1)])
    return picked


def grouped_stratified_pick(
    ids: list[str], labels: pd.Series, groups: pd.Series, n: int, rng: np.random.Generator
) -> list[str]:
    """Pick about ``n`` ids in whole groups (``groups[id]``: ids of one group never split apart),
    with class proportions kept as :func:`stratified_pick` keeps them.

    A group counts for its most frequent label (ties: the first in sorted order). Each class's
    quota (in ids, largest-remainder rounding) is filled with its groups in a random order; a
    group that would overshoot the quota is passed over, and so is one that would take the last
    id of any class it holds out of ``ids``. Where every group is a single id this is exactly
    :func:`stratified_pick` (the same draws, the same ids)."""
    members: dict[str, list[str]] = {}
    for s in ids:
        members.setdefault(str(groups[s]), []).append(s)
    by_class: dict[str, list[str]] = {}
    for g, group_ids in members.items():
        counts = Counter(str(labels[s]) for s in group_ids)
        top = min(counts, key=lambda c: (-counts[c], c))
        by_class.setdefault(top, []).append(g)
    rows = {c: sum(len(members[g]) for g in gs) for c, gs in by_class.items()}
    quotas = {c: n * rows[c] / len(ids) for c in by_class}
    take = {c: math.floor(q) for c, q in quotas.items()}
    for c in sorted(quotas, key=lambda c: quotas[c] - take[c], reverse=True)[
        : n - sum(take.values())
    ]:
        take[c] += 1
    left = Counter(str(labels[s]) for s in ids)
    picked: list[str] = []
    for c, class_groups in sorted(by_class.items()):
        taken = 0
        for i in rng.permutation(len(class_groups)):
            group_ids = members[class_groups[i]]
            held = Counter(str(labels[s]) for s in group_ids)
            if taken + len(group_ids) > take[c] or any(left[k] <= v for k, v in held.items()):
                continue
            picked.extend(group_ids)
            taken += len(group_ids)
            left.subtract(held)
            if taken == take[c]:
                break
    return picked


def carve_val(ids: list[str], labels: pd.Series, n: int, rng: np.random.Generator) -> list[str]:
    """``n`` validation ids out of ``ids``: :func:`stratified_pick`, which leaves every class a
    sequence; where every class has only the one (a set such as UCR's Fungi, one training
    sequence per class), ``n`` of them at random, so those classes are learnt from train+val
    only (the k-fold selection of a small set and the published training read train+val)."""
    picked = stratified_pick(ids, labels, n, rng)
    if picked or len(ids) < 2:
        return picked
    return [ids[i] for i in rng.permutation(len(ids))[: min(n, len(ids) - 1)]]

"""Prepare sequence classification data (long format, one row per time step): order each
sequence's rows, check one label per sequence, fill missing values inside each sequence, and split
by sequence (from ``data.split_column`` or stratified by class)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lstmtune.config import DataConfig
from lstmtune.data.columns import (
    class_names,
    configured_columns,
    feature_columns,
    fill_gaps,
    fill_missing,
    input_dtypes,
    label_kind,
    numeric_column,
    refuse_missing,
    require_columns,
    scaler_stats,
    text_columns,
    wide_hint,
)
from lstmtune.data.sequence_ids import id_text
from lstmtune.data.sequence_order import order_keys, sorted_rows
from lstmtune.data.splits import SPLITS, carve_val, split_size, split_values, stratified_pick
from lstmtune.errors import UserError


def _require_columns(frame: pd.DataFrame, cfg: DataConfig, source: str) -> tuple[str, str]:
    """The sequence and label columns, present and without missing values."""
    seq_col, label_col = configured_columns(
        frame, cfg, source, "classify", ("sequence_column", "label")
    )
    require_columns(
        frame,
        source,
        sequence_column=seq_col,
        label=label_col,
        time_column=cfg.time_column,
        split_column=cfg.split_column,
    )
    if label_col == seq_col:
        raise UserError(
            f"{source}: data.label and data.sequence_column both name column '{seq_col}'; the "
            "label is a class each sequence belongs to"
        )
    refuse_missing(frame, [seq_col, label_col], source)
    return seq_col, label_col


def _unique_across_splits(frame: pd.DataFrame, cfg: DataConfig, source: str, seq_col: str) -> None:
    """A sequence id used in two splits (ids numbered anew in each file of an archive)."""
    if cfg.split_column is None:
        return
    splits = split_values(frame, cfg.split_column, source, np.arange(len(frame)))
    per_seq = splits.groupby(id_text(frame[seq_col]), sort=False).unique()
    reused = per_seq[per_seq.map(len) > 1]
    if len(reused):
        names = " and ".join(f"'{v}'" for v in reused.iloc[0])
        raise UserError(
            f"{source}: sequence {reused.index[0]!r} of column '{seq_col}' "
            f"(data.sequence_column) has rows in the {names} splits (column "
            f"'{cfg.split_column}'); sequence ids must be unique across splits (e.g. prefix "
            "them with the split)"
        )


def _row_order(frame: pd.DataFrame, cfg: DataConfig, source: str, seq_col: str) -> np.ndarray:
    """Rows grouped by sequence (in order of first appearance), each sequence's rows in the order
    of ``data.time_column`` (numbers or dates) or else as given."""
    codes = pd.factorize(id_text(frame[seq_col]))[0]  # the sequences _sequence_table makes
    if cfg.time_column is None:
        return np.argsort(codes, kind="stable")
    keys, bad = order_keys(frame[cfg.time_column], codes)
    if bad is not None:
        value = frame[cfg.time_column].iloc[bad]  # text quoted, numbers plain (nan, not np.float64)
        shown = repr(value) if isinstance(value, str) else str(value)
        raise UserError(
            f"{source}: column '{cfg.time_column}' (data.time_column) has an unusable order "
            f"value {shown} at data row {bad + 1} (numbers or dates are read)"
        )
    order, twice = sorted_rows(codes, keys)
    if twice is not None:
        a, b = twice
        raise UserError(
            f"{source}: sequence {id_text(frame[seq_col].iloc[[a]]).iloc[0]!r} has the time "
            f"{str(frame[cfg.time_column].iloc[a])!r} (data.time_column) twice, at data rows "
            f"{a + 1} and {b + 1}; each time of a sequence may appear once"
        )
    return order


def _check_one_label(frame: pd.DataFrame, seq_ids: pd.Series, label_col: str, source: str) -> None:
    labels_per_seq = frame.groupby(seq_ids, sort=False)[label_col].agg(
        lambda s: s.astype(str).str.strip().nunique()
    )
    if (labels_per_seq > 1).any():
        bad = labels_per_seq[labels_per_seq > 1].index[0]
        raise UserError(
            f"{source}: sequence {bad!r} has more than one value in column "
            f"'{label_col}' (data.label)"
        )


def _sequence_table(
    frame: pd.DataFrame,
    cfg: DataConfig,
    source: str,
    rows: np.ndarray,
    columns: tuple[str, str],
    features: list[str],
) -> pd.DataFrame:
    """Sequence id, (time), features and label of every row, missing values filled."""
    seq_col, label_col = columns
    clean = pd.DataFrame({seq_col: id_text(frame[seq_col]).to_numpy()})  # 5.0: '5'
    for c in features:
        clean[c] = numeric_column(frame, c, source, rows)
    if cfg.missing != "error":
        for c in features:
            clean[c] = clean.groupby(seq_col, sort=False)[c].transform(
                fill_gaps, cfg.missing
            )  # each sequence
    for c in features:
        fill_missing(clean[c].to_numpy(dtype=np.float64), c, source, "error", rows)
    _check_one_label(frame, clean[seq_col], label_col, source)
    # 'a ' is the class 'a' (a CSV's leading spaces are dropped in reading already)
    clean[label_col] = frame[label_col].astype(str).str.strip().to_numpy()
    if cfg.time_column is not None:
        clean.insert(1, cfg.time_column, frame[cfg.time_column].to_numpy())
    return clean


def _splits_from_column(
    frame: pd.DataFrame,
    seq_ids: pd.Series,
    seq_labels: pd.Series,
    cfg: DataConfig,
    source: str,
    rows: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, str]:
    """Each sequence's split from ``data.split_column``; without val, a stratified part of train."""
    split_vals = split_values(frame, str(cfg.split_column), source, rows)
    per_seq = split_vals.groupby(seq_ids, sort=False).agg(lambda s: s.nunique())
    if (per_seq > 1).any():
        raise UserError(
            f"{source}: sequence {per_seq[per_seq > 1].index[0]!r} has more than one value in "
            f"column '{cfg.split_column}' (data.split_column)"
        )
    assign: dict[str, str] = split_vals.groupby(seq_ids, sort=False).first().to_dict()
    if "val" not in assign.values():
        train_ids = [s for s, v in assign.items() if v == "train"]
        n_val = split_size(cfg.val_size, len(train_ids), "val_size")
        for s in carve_val(train_ids, seq_labels, n_val, rng):
            assign[s] = "val"
    return assign


def _stratified_splits(
    seq_labels: pd.Series, cfg: DataConfig, source: str, rng: np.random.Generator
) -> dict[str, str]:
    """Each sequence's split: ``data.test_size`` and ``data.val_size``, stratified by class."""
    n_seq = len(seq_labels)
    n_test = split_size(cfg.test_size, n_seq, "test_size")
    n_val = split_size(cfg.val_size, n_seq, "val_size")
    if n_test + n_val >= n_seq:
        raise UserError(
            f"{source}: {n_seq} sequences are too few for data.val_size={cfg.val_size:g} and "
            f"data.test_size={cfg.test_size:g}"
        )
    ids = list(seq_labels.index)
    test_ids = set(stratified_pick(ids, seq_labels, n_test, rng))
    rest = [s for s in ids if s not in test_ids]
    val_ids = set(carve_val(rest, seq_labels, n_val, rng))
    return {s: "test" if s in test_ids else "val" if s in val_ids else "train" for s in ids}


def _check_splits(
    assign: dict[str, str], seq_labels: pd.Series, classes: list[str], label_col: str, source: str
) -> dict[str, int]:
    """Sequences per split; every split has some and train+val has every class."""
    counts = {name: sum(1 for v in assign.values() if v == name) for name in SPLITS}
    for name, n in counts.items():
        if n == 0:
            raise UserError(
                f"{source}: the {name} split has no sequences "
                "(check data.val_size / data.test_size)"
            )
    learnt = set(seq_labels[[s for s, v in assign.items() if v != "test"]])
    if len(learnt) < len(classes):
        missing = sorted(set(classes) - learnt)[0]
        raise UserError(
            f"{source}: class {missing!r} of column '{label_col}' has no sequence "
            "in the train or val split"
        )
    return counts


def val_only_classes(assign: dict[str, str], seq_labels: pd.Series) -> list[str]:
    """Classes with validation sequences but none in train (see
    :func:`~lstmtune.data.splits.carve_val`): the trials on the train split never see them."""
    train = set(seq_labels[[s for s, v in assign.items() if v == "train"]])
    val = set(seq_labels[[s for s, v in assign.items() if v == "val"]])
    return sorted(str(c) for c in val - train)


def single_sequence_classes(assign: dict[str, str], seq_labels: pd.Series) -> list[str]:
    """Classes with one sequence in train+val: the model learns each from one example."""
    learnt = seq_labels[[s for s, v in assign.items() if v != "test"]].value_counts()
    return sorted(str(c) for c in learnt.index[learnt.to_numpy() == 1])


def majority_class(assign: dict[str, str], seq_labels: pd.Series, classes: list[str]) -> str:
    """The class with the most sequences in train+val (what the published model and the
    classical baselines are fitted on); of classes with equally many, the first in the sorted
    class list, whatever order the rows came in."""
    fitted = seq_labels[[s for s, v in assign.items() if v != "test"]].value_counts()
    counts = {str(c): int(n) for c, n in fitted.items()}
    top = max(counts.values())
    return next(str(c) for c in classes if counts.get(str(c), 0) == top)


def _classify_meta(
    frame: pd.DataFrame,
    clean: pd.DataFrame,
    parts: dict[str, pd.DataFrame],
    features: list[str],
    columns: tuple[str, str],
    time_column: str | None,
    classes: list[str],
    seq_labels: pd.Series,
    assign: dict[str, str],
    counts: dict[str, int],
) -> dict[str, Any]:
    seq_col, label_col = columns
    lengths = clean.groupby(seq_col, sort=False).size()
    return {
        "task": "classify",
        "columns": {
            "features": features,
            "sequence_column": seq_col,
            "label": label_col,
            "time_column": time_column,
            "dtypes": input_dtypes(frame, features),
            "label_kind": label_kind(frame[label_col]),
        },
        "classes": classes,
        "val_only_classes": val_only_classes(assign, seq_labels),
        "single_sequence_classes": single_sequence_classes(assign, seq_labels),
        "majority_class": majority_class(assign, seq_labels, classes),
        "scaler": {"none": scaler_stats(parts["train"], features)},
        "splits": {name: {"sequences": counts[name], "rows": len(parts[name])} for name in SPLITS},
        "max_sequence_length": int(lengths.max()),
        "min_sequence_length": int(lengths.min()),
        "n_rows": len(clean),
        "n_sequences": len(seq_labels),
    }


def prepare_classify(
    frame: pd.DataFrame, cfg: DataConfig, source: str, seed: int
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The train, val and test sequences and their metadata.json."""
    seq_col, label_col = _require_columns(frame, cfg, source)
    _unique_across_splits(frame, cfg, source, seq_col)
    order = _row_order(frame, cfg, source, seq_col)
    frame = frame.iloc[order].reset_index(drop=True)
    rows = np.arange(len(order))[order]
    exclude = {c for c in (seq_col, label_col, cfg.time_column, cfg.split_column) if c}
    features = feature_columns(frame, cfg, exclude, source, rows=rows)
    if not features:
        raise UserError(f"{source}: no numeric feature columns (set data.feature_columns)")
    clean = _sequence_table(frame, cfg, source, rows, (seq_col, label_col), features)
    if clean.groupby(seq_col, sort=False).size().max() < 2:
        raise UserError(
            f"{source}: every sequence of column '{seq_col}' (data.sequence_column) has one row;"
            " sequence classification needs sequences of two or more time steps"
            + (
                wide_hint(
                    "one row per sequence and a column per step", len(features), "one row per step"
                )
                if len(features) > 2
                else ""
            )
        )
    seq_labels = clean.groupby(seq_col, sort=False)[label_col].first()
    classes = class_names(seq_labels, label_col, source)
    rng = np.random.default_rng(seed)
    if cfg.split_column is not None:
        assign = _splits_from_column(frame, clean[seq_col], seq_labels, cfg, source, rows, rng)
    else:
        assign = _stratified_splits(seq_labels, cfg, source, rng)
    counts = _check_splits(assign, seq_labels, classes, label_col, source)
    split_of_row = clean[seq_col].map(assign)
    parts = {name: clean[split_of_row == name].reset_index(drop=True) for name in SPLITS}
    meta = _classify_meta(
        frame,
        clean,
        parts,
        features,
        (seq_col, label_col),
        cfg.time_column,
        classes,
        seq_labels,
        assign,
        counts,
    )
    meta["columns"]["missing"] = cfg.missing  # the published model fills a served sequence alike
    meta["columns"]["left_out"] = (
        [] if cfg.feature_columns else text_columns(frame, exclude, features)
    )
    return parts, meta

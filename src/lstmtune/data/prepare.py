"""Validate raw data, split it, fit scaler statistics on train only, write Parquet + metadata.

Output directory layout (a KFP ``Dataset`` artifact)::

    train.parquet  val.parquet  test.parquet  metadata.json

Forecast splits are contiguous segments of the (sorted) series, split by *target* time step:
a window belongs to the split that holds all of its targets; its inputs may reach back into
earlier segments (that is history, not leakage). Classification splits are by sequence.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.config import DataConfig, RunConfig
from lstmtune.data.columns import (
    feature_columns,
    fill_missing,
    input_dtypes,
    numeric_column,
    require_columns,
    scaler_stats,
)
from lstmtune.data.io import read_table
from lstmtune.data.panel import declared_max_lookback, prepare_panel, space_meta
from lstmtune.data.splits import (
    MIN_TRAIN_WINDOWS,
    SPLITS,
    split_size,
    split_values,
    stratified_pick,
)
from lstmtune.data.text import prepare_text
from lstmtune.data.timeaxis import (
    Placed,
    TimeAxisError,
    describe_gaps,
    grid_column,
    on_grid,
    place,
)
from lstmtune.errors import UserError
from lstmtune.search_space import resolve_search_space

FORMAT_VERSION = 1


def _infer_period(values: np.ndarray, times: pd.Series | None) -> int:
    """Season length from the time column's spacing, confirmed by autocorrelation; else ACF peak."""
    diff = np.diff(values)
    n = len(diff)

    def acf(lag: int) -> float:
        if lag >= n - 2:
            return -1.0
        a, b = diff[:-lag] - diff.mean(), diff[lag:] - diff.mean()
        denom = math.sqrt(float((a * a).sum() * (b * b).sum()))
        return float((a * b).sum() / denom) if denom > 0 else -1.0

    if times is not None and len(times) > 2:
        step = times.diff().dropna().median()
        if pd.notna(step):
            days = step / pd.Timedelta(days=1)
            guesses = [(0.9, 1.1, 7), (6.5, 7.5, 52), (27, 32, 12), (85, 95, 4)]
            hours = step / pd.Timedelta(hours=1)
            if 0.9 < hours < 1.1:
                guesses.insert(0, (0.0, 1.0, 24))
            for lo, hi, period in guesses:
                if lo < days <= hi and acf(period) > 0.1:
                    return period
    best, best_lag = 0.3, 1
    for lag in range(2, min(n // 3, 400) + 1):
        r = acf(lag)
        # a multiple of the season ties with it up to float rounding (which differs between
        # numpy builds): only a clearly higher peak replaces the shorter lag
        if r > best + 1e-6:
            best, best_lag = r, lag
    return best_lag


def place_times(values: pd.Series, cfg: DataConfig, source: str) -> Placed:
    """The time column on its grid (``data.freq`` or inferred); duplicated or irregular times, and
    missing periods unless ``data.missing`` fills them, are a :class:`UserError`."""
    column = str(cfg.time_column)
    try:
        placed = place(values, column, freq=cfg.freq, snap=cfg.freq is not None)
    except TimeAxisError as exc:
        raise UserError(f"{source}: {exc}") from None
    if placed.gaps and cfg.missing == "error":
        raise UserError(
            f"{source}: column '{column}' (data.time_column, frequency {placed.axis.freq}) has "
            f"missing periods: {describe_gaps(placed)}; set data.missing: ffill or interpolate "
            "to fill them, or data.freq if the frequency is wrong"
        )
    return placed


def time_axis_meta(placed: Placed, cfg: DataConfig) -> dict[str, Any]:
    """What metadata.json (and the published model's spec) records about the time axis."""
    filled = placed.n_missing
    return {
        **placed.axis.to_dict(),
        "freq_source": "data.freq" if cfg.freq is not None else "inferred",
        "gaps": len(placed.gaps),
        "filled_periods": filled,
        "fill": cfg.missing if filled else None,
        "first": placed.axis.label(placed.grid[0]),
        "last": placed.axis.label(placed.grid[-1]),
    }


def prepare_forecast(
    frame: pd.DataFrame, cfg: DataConfig, source: str
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    if cfg.target is None:
        raise UserError(
            f"{source}: data.target is required for task 'forecast' (columns: "
            f"{', '.join(frame.columns[:20])})"
        )
    require_columns(
        frame, source, target=cfg.target, time_column=cfg.time_column, split_column=cfg.split_column
    )
    rows = np.arange(len(frame))
    times: pd.Series | None = None
    placed: Placed | None = None
    if cfg.time_column is not None:
        placed = place_times(frame[cfg.time_column], cfg, source)
        frame = frame.iloc[placed.order].reset_index(drop=True)
        rows = rows[placed.order]
        if placed.axis.kind == "datetime":
            times = pd.Series(pd.DatetimeIndex(placed.grid))
    elif cfg.freq is not None:
        raise UserError(f"data.freq: {cfg.freq!r} needs data.time_column (the column it describes)")
    exclude = {c for c in (cfg.time_column, cfg.split_column) if c}
    features = feature_columns(frame, cfg, exclude, source)
    if cfg.target not in features:
        features = [cfg.target, *features]
    numeric_cols = {c: numeric_column(frame, c, source, rows) for c in features}
    labels = (
        split_values(frame, cfg.split_column, source, rows)
        if cfg.split_column is not None
        else None
    )
    if placed is not None and placed.gaps:  # missing periods become missing values to fill
        numeric_cols = {c: on_grid(placed, arr, np.nan) for c, arr in numeric_cols.items()}
        if labels is not None:
            labels = pd.Series(on_grid(placed, labels.to_numpy(dtype=object), None)).ffill()
        rows = on_grid(placed, rows, -1)
    total = len(rows)
    horizon = cfg.horizon

    if labels is not None:
        rank = labels.map({"train": 0, "val": 1, "test": 2}).to_numpy()
        if (np.diff(rank) < 0).any():
            raise UserError(
                f"{source}: column '{cfg.split_column}' (data.split_column) must be train, then "
                "val, then test in time order"
            )
        n_test = int((rank == 2).sum())
        n_val = int((rank == 1).sum())
        if n_val == 0:
            n_val = split_size(cfg.val_size, total - n_test, "val_size")
    else:
        n_test = split_size(cfg.test_size, total, "test_size")
        n_val = split_size(cfg.val_size, total, "val_size")
    n_train = total - n_val - n_test
    for name, n in (("test_size", n_test), ("val_size", n_val)):
        if n < horizon:
            raise UserError(
                f"data.{name}: the {name.split('_')[0]} split has {n} time steps, fewer than "
                f"data.horizon={horizon}"
            )
    if n_train < horizon + MIN_TRAIN_WINDOWS + 1:
        raise UserError(
            f"{source}: series too short: {total} rows leave {n_train} for training after "
            f"val={n_val} and test={n_test}; need more than {horizon + MIN_TRAIN_WINDOWS} "
            f"(data.horizon={horizon}) plus the lookback"
        )
    bounds = {
        "train": (0, n_train),
        "val": (n_train, n_train + n_val),
        "test": (n_train + n_val, total),
    }
    # fill after splitting: ffill only looks back, interpolation stays inside each split
    # (no leakage)
    filled: dict[str, np.ndarray] = {}
    for c, arr in numeric_cols.items():
        if cfg.missing == "interpolate":
            filled[c] = np.concatenate(
                [
                    fill_missing(arr[a:b], c, source, "interpolate", rows[a:b])
                    for a, b in bounds.values()
                ]
            )
        else:
            filled[c] = fill_missing(arr, c, source, cfg.missing, rows)
    clean = pd.DataFrame(filled)
    if placed is not None:
        clean.insert(0, placed.axis.column, grid_column(placed, frame[placed.axis.column]))
    parts = {name: clean.iloc[a:b].reset_index(drop=True) for name, (a, b) in bounds.items()}

    target_values = clean[cfg.target].to_numpy()
    train_target = target_values[:n_train]
    period = cfg.seasonal_period or _infer_period(
        train_target, times.iloc[:n_train] if times is not None else None
    )
    positive = bool((target_values > 0).all())
    scalers: dict[str, Any] = {"none": scaler_stats(parts["train"], features)}
    if positive:
        logged = parts["train"][features].copy()
        logged[cfg.target] = np.log(logged[cfg.target])
        scalers["log"] = scaler_stats(logged, features)
    meta: dict[str, Any] = {
        "task": "forecast",
        "columns": {
            "features": features,
            "target": cfg.target,
            "time_column": cfg.time_column,
            "dtypes": input_dtypes(frame, features),
        },
        "target_index": features.index(cfg.target),
        "horizon": horizon,
        "seasonal_period": int(period),
        "target_positive": positive,
        "scaler": scalers,
        "splits": {name: {"start": a, "end": b, "rows": b - a} for name, (a, b) in bounds.items()},
        "n_rows": total,
        "time_axis": None if placed is None else time_axis_meta(placed, cfg),
    }
    return parts, meta


def prepare_classify(
    frame: pd.DataFrame, cfg: DataConfig, source: str, seed: int
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    for key in ("sequence_column", "label"):
        if getattr(cfg, key) is None:
            raise UserError(
                f"{source}: data.{key} is required for task 'classify' (columns: "
                f"{', '.join(frame.columns[:20])})"
            )
    seq_col, label_col = str(cfg.sequence_column), str(cfg.label)
    require_columns(
        frame,
        source,
        sequence_column=seq_col,
        label=label_col,
        time_column=cfg.time_column,
        split_column=cfg.split_column,
    )
    rows = np.arange(len(frame))
    if frame[seq_col].isna().any() or frame[label_col].isna().any():
        col = seq_col if frame[seq_col].isna().any() else label_col
        i = int(np.flatnonzero(frame[col].isna().to_numpy())[0])
        raise UserError(f"{source}: column '{col}' has a missing value at data row {i + 1}")
    if cfg.time_column is not None:
        order_key = pd.to_numeric(frame[cfg.time_column], errors="coerce")
        if order_key.isna().any():
            order_key = pd.to_datetime(frame[cfg.time_column], errors="coerce")
        if order_key.isna().any():
            i = int(np.flatnonzero(order_key.isna().to_numpy())[0])
            raise UserError(
                f"{source}: column '{cfg.time_column}' (data.time_column) has an unusable order "
                f"value {frame[cfg.time_column].iloc[i]!r} at data row {i + 1}"
            )
        order = np.lexsort((order_key.to_numpy(), pd.factorize(frame[seq_col])[0]))
    else:
        order = np.argsort(pd.factorize(frame[seq_col])[0], kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    rows = rows[order]
    exclude = {c for c in (seq_col, label_col, cfg.time_column, cfg.split_column) if c}
    features = feature_columns(frame, cfg, exclude, source)
    if not features:
        raise UserError(f"{source}: no numeric feature columns (set data.feature_columns)")
    clean = pd.DataFrame({seq_col: frame[seq_col].astype(str).to_numpy()})
    for c in features:
        clean[c] = numeric_column(frame, c, source, rows)
    if cfg.missing != "error":
        for c in features:
            clean[c] = clean.groupby(seq_col, sort=False)[c].transform(
                lambda s: (
                    s.ffill() if cfg.missing == "ffill" else s.interpolate(limit_direction="both")
                )
            )
    for c in features:
        fill_missing(clean[c].to_numpy(dtype=np.float64), c, source, "error", rows)
    labels_per_seq = frame.groupby(clean[seq_col], sort=False)[label_col].agg(
        lambda s: s.astype(str).nunique()
    )
    if (labels_per_seq > 1).any():
        bad = labels_per_seq[labels_per_seq > 1].index[0]
        raise UserError(
            f"{source}: sequence {bad!r} has more than one value in column "
            f"'{label_col}' (data.label)"
        )
    clean[label_col] = frame[label_col].astype(str).to_numpy()
    if cfg.time_column is not None:
        clean.insert(1, cfg.time_column, frame[cfg.time_column].to_numpy())
    seq_labels = clean.groupby(seq_col, sort=False)[label_col].first()
    classes = sorted(seq_labels.unique().tolist())
    if len(classes) < 2:
        raise UserError(
            f"{source}: column '{label_col}' (data.label) has a single class {classes[0]!r}; "
            "classification needs at least two"
        )
    n_seq = len(seq_labels)

    rng = np.random.default_rng(seed)
    assign: dict[str, str] = {}
    if cfg.split_column is not None:
        split_vals = split_values(frame, cfg.split_column, source, rows)
        per_seq = split_vals.groupby(clean[seq_col], sort=False).agg(lambda s: s.nunique())
        if (per_seq > 1).any():
            raise UserError(
                f"{source}: sequence {per_seq[per_seq > 1].index[0]!r} has more than one value in "
                f"column '{cfg.split_column}' (data.split_column)"
            )
        assign = split_vals.groupby(clean[seq_col], sort=False).first().to_dict()
        if "val" not in assign.values():
            train_ids = [s for s, v in assign.items() if v == "train"]
            n_val = split_size(cfg.val_size, len(train_ids), "val_size")
            for s in stratified_pick(train_ids, seq_labels, n_val, rng):
                assign[s] = "val"
    else:
        n_test = split_size(cfg.test_size, n_seq, "test_size")
        n_val = split_size(cfg.val_size, n_seq, "val_size")
        if n_test + n_val >= n_seq:
            raise UserError(
                f"{source}: {n_seq} sequences are too few for data.val_size={cfg.val_size} and "
                f"data.test_size={cfg.test_size}"
            )
        ids = list(seq_labels.index)
        test_ids = set(stratified_pick(ids, seq_labels, n_test, rng))
        rest = [s for s in ids if s not in test_ids]
        val_ids = set(stratified_pick(rest, seq_labels, n_val, rng))
        for s in ids:
            assign[s] = "test" if s in test_ids else "val" if s in val_ids else "train"
    counts = {name: sum(1 for v in assign.values() if v == name) for name in SPLITS}
    for name, n in counts.items():
        if n == 0:
            raise UserError(
                f"{source}: the {name} split has no sequences "
                "(check data.val_size / data.test_size)"
            )
    train_classes = set(seq_labels[[s for s, v in assign.items() if v == "train"]])
    if len(train_classes) < len(classes):
        missing = sorted(set(classes) - train_classes)[0]
        raise UserError(
            f"{source}: class {missing!r} of column '{label_col}' has no sequence "
            "in the train split"
        )

    split_of_row = clean[seq_col].map(assign)
    parts = {name: clean[split_of_row == name].reset_index(drop=True) for name in SPLITS}
    lengths = clean.groupby(seq_col, sort=False).size()
    train_counts = seq_labels[[s for s, v in assign.items() if v == "train"]].value_counts()
    meta: dict[str, Any] = {
        "task": "classify",
        "columns": {
            "features": features,
            "sequence_column": seq_col,
            "label": label_col,
            "time_column": cfg.time_column,
            "dtypes": input_dtypes(frame, features),
        },
        "classes": classes,
        "majority_class": str(train_counts.idxmax()),
        "scaler": {"none": scaler_stats(parts["train"], features)},
        "splits": {name: {"sequences": counts[name], "rows": len(parts[name])} for name in SPLITS},
        "max_sequence_length": int(lengths.max()),
        "min_sequence_length": int(lengths.min()),
        "n_rows": len(clean),
        "n_sequences": n_seq,
    }
    return parts, meta


def load_frame(cfg: RunConfig) -> tuple[pd.DataFrame, str, str]:
    assert cfg.data.path is not None
    table = read_table(cfg.data.path, fmt=cfg.data.format, s3_endpoint_url=cfg.data.s3_endpoint_url)
    return table.frame, table.source, table.sha256


def prepare(cfg: RunConfig) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Validate and split in memory (no files written). Raises :class:`UserError` on bad input."""
    frame, source, sha = load_frame(cfg)
    if cfg.data.task == "forecast" and cfg.data.series_column is not None:
        declared = declared_max_lookback((cfg.tune.search_space or {}).get("lookback"))
        parts, meta = prepare_panel(frame, cfg.data, source, prepare_forecast, declared)
    elif cfg.data.task == "forecast":
        parts, meta = prepare_forecast(frame, cfg.data, source)
    elif cfg.data.task == "text":
        parts, meta = prepare_text(frame, cfg.data, source, cfg.train.seed)
    else:
        parts, meta = prepare_classify(frame, cfg.data, source, cfg.train.seed)
    meta.update(
        {
            "format_version": FORMAT_VERSION,
            "source": source,
            "sha256": sha,
            "dataset_name": cfg.dataset_name(),
        }
    )
    meta["search_space"] = resolve_search_space(
        cfg, space_meta(meta), min_train_windows=MIN_TRAIN_WINDOWS
    )
    return parts, meta


def write_prepared(parts: dict[str, pd.DataFrame], meta: dict[str, Any], out_dir: str) -> None:
    """Write atomically: into a temp dir beside ``out_dir``, then rename."""
    out = Path(out_dir)
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        part.to_parquet(tmp / f"{name}.parquet", index=False)
    (tmp / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    if out.exists():
        for child in out.iterdir():
            child.unlink()
        out.rmdir()
    os.replace(tmp, out)


def read_prepared(path: str) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    p = Path(path)
    meta_path = p / "metadata.json"
    if not meta_path.is_file():
        raise UserError(f"{path}: not a prepared dataset (metadata.json missing)")
    meta: dict[str, Any] = json.loads(meta_path.read_text())
    parts = {name: pd.read_parquet(p / f"{name}.parquet") for name in SPLITS}
    return parts, meta

"""Many series, one model: long-format input with a series id column (``data.series_column``).

Every series is prepared on its own by the single-series preparer (its time axis, its split by
time — the last ``test_size`` target steps test, the ``val_size`` before them validation — and its
scaler fitted on its own train part), then the parts are stacked with the series column in front.
``metadata.json`` keeps the single-series fields of a *reference* series (the one with the
shortest train part: the search space must fit every series) and, under ``panel``, each series'
own metadata and its row range in every stacked part. One season length serves the whole panel
(``data.seasonal_period``, else the one the series infer or, where they disagree, the one their
pooled train parts support: :mod:`~.panel_season`), so one anchor choice is feasible for
every series. A series too short for the split is left out with a warning, named by its id.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.config import DataConfig
from lstmtune.data.columns import feature_columns, require_columns, text_columns
from lstmtune.data.panel_axis import one_frequency, panel_time_axis
from lstmtune.data.panel_season import panel_season
from lstmtune.data.sequence_ids import id_text
from lstmtune.data.splits import MIN_HISTORY, MIN_TRAIN_WINDOWS, time_split_size
from lstmtune.errors import UserError
from lstmtune.forecast_space import default_lookbacks, longest_lookback

Prepared = tuple[dict[str, pd.DataFrame], dict[str, Any]]
SeriesPreparer = Callable[[pd.DataFrame, DataConfig, str], Prepared]
#: the fewest training windows one series of many must feed: none. The model trains on every
#: series' windows pooled (the panel as a whole needs :data:`MIN_TRAIN_WINDOWS`), so a series
#: whose train part only holds the lookback is still forecast and scored on its validation and
#: test origins. M1's yearly series with a horizon of 6: 33 of 181 fed 8 windows each, which
#: left out the rest until 2026-12-04; one window each left out 75 until 2026-12-05.
MIN_SERIES_WINDOWS = None
_ROW = re.compile(r"(data rows? )(\d+)(?:( and )(\d+))?")


def series_ids(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    """The series column as text by the sequence ids' rule (:func:`~.sequence_ids.id_text`:
    ``5.0`` is ``'5'``, surrounding spaces dropped; a file's ``'007'`` and ``'7'`` stay two ids,
    :func:`lstmtune.data.io.read_table`); a missing id is an error naming its row."""
    ids = id_text(frame[column])
    empty = (frame[column].isna() | (ids == "")).to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0]) + 1
        raise UserError(
            f"{source}: column '{column}' (data.series_column) is empty at data row {row}"
        )
    return ids


def check_duplicates(frame: pd.DataFrame, ids: pd.Series, cfg: DataConfig, source: str) -> None:
    """Two rows of one series at the same time: an error naming the series, time and rows."""
    if cfg.time_column is None:
        return
    key = pd.DataFrame({"id": ids.to_numpy(), "t": frame[cfg.time_column].astype(str).to_numpy()})
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        first = int(np.flatnonzero(dup)[0])
        same = key.iloc[first]
        rows = np.flatnonzero(((key["id"] == same["id"]) & (key["t"] == same["t"])).to_numpy())
        raise UserError(
            f"{source}: series {same['id']!r} (column '{cfg.series_column}') has the time "
            f"{same['t']!r} (column '{cfg.time_column}') twice, at data rows {rows[0] + 1} and "
            f"{rows[1] + 1}"
        )


def check_numeric(frame: pd.DataFrame, ids: pd.Series, column: str, source: str) -> None:
    """A value that is not a number in one series: an error naming column, series and row."""
    values = frame[column]
    bad = (pd.to_numeric(values, errors="coerce").isna() & values.notna()).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserError(
            f"{source}: column '{column}' has a non-numeric value {str(values.iloc[i])!r} in "
            f"series {ids.iloc[i]!r} at data row {i + 1}"
        )


def fits_split(n_rows: int, cfg: DataConfig) -> str | None:
    """Why a series of ``n_rows`` steps cannot be split like the others (None when it can)."""
    try:
        n_test = time_split_size(cfg.test_size, n_rows, "test_size", cfg.horizon)
        n_val = time_split_size(cfg.val_size, n_rows, "val_size", cfg.horizon)
    except UserError as exc:
        return str(exc)
    if min(n_test, n_val) < cfg.horizon:  # a count below the horizon
        name, n = ("test", n_test) if n_test < cfg.horizon else ("val", n_val)
        return (
            f"{n_rows} time steps give its {name} split {n}, fewer than "
            f"data.horizon={cfg.horizon} (data.{name}_size={getattr(cfg, name + '_size'):g})"
        )
    need = n_test + n_val + MIN_HISTORY  # and the history of the first validation origin
    if n_rows < need:
        return f"{n_rows} time steps, fewer than the {need} that val, test and a lookback need"
    return None


def _file_rows(message: str, rows: np.ndarray) -> str:
    """A per-series error names rows of that series; name the rows of the file instead."""

    def swap(m: re.Match[str]) -> str:
        text = m.group(1) + str(int(rows[int(m.group(2)) - 1]) + 1)
        if m.group(4):
            text += m.group(3) + str(int(rows[int(m.group(4)) - 1]) + 1)
        return text

    return _ROW.sub(swap, message)


def _prepare_each(
    frame: pd.DataFrame, ids: pd.Series, cfg: DataConfig, source: str, prepare: SeriesPreparer
) -> tuple[dict[str, Prepared], dict[str, str]]:
    """Each series through the single-series preparer; too-short ones are left out (reason)."""
    sub_cfg = cfg.model_copy(update={"series_column": None})
    prepared: dict[str, Prepared] = {}
    dropped: dict[str, str] = {}
    for sid, rows in ids.groupby(ids, sort=False).indices.items():
        reason = fits_split(len(rows), cfg)
        if reason is not None:
            dropped[str(sid)] = reason
            continue
        sub = frame.iloc[rows].drop(columns=[str(cfg.series_column)]).reset_index(drop=True)
        try:
            prepared[str(sid)] = prepare(sub, sub_cfg, f"{source} series {sid!r}")
        except UserError as exc:
            raise UserError(_file_rows(str(exc), np.asarray(rows))) from None
    return prepared, dropped


def _panel_inputs(
    frame: pd.DataFrame, cfg: DataConfig, source: str
) -> tuple[DataConfig, list[str]]:
    """The inputs chosen once over every series (a column of numbers as text for one series and
    words for another is one column: not an input of some series only) and the text columns
    left out; ``cfg`` with them declared."""
    if cfg.feature_columns:
        return cfg, []
    target = str(cfg.target)
    exclude = {c for c in (cfg.series_column, cfg.time_column, cfg.split_column) if c}
    features = feature_columns(frame, cfg, exclude, source, frozenset({target}))
    inputs = [target, *(c for c in features if c != target)]
    left_out = text_columns(frame, exclude, inputs)
    return cfg.model_copy(update={"feature_columns": inputs}), left_out


def fitted_max_lookback(prepared: dict[str, Prepared], period: int, horizon: int) -> int:
    """The longest default lookback the median series' train part can feed with
    ``MIN_TRAIN_WINDOWS`` windows (or the longest lookback it can feed, at least 2), so a panel of
    short series keeps at least half of them instead of losing every one to lookback 32 (20 yearly
    M1 series of 18-45 values: none had the 40 train steps it needs). The default lookbacks then
    shrink to the shortest kept series (:func:`lstmtune.forecast_space.fit_default_lookbacks`)."""
    trains = sorted(int(meta["splits"]["train"]["rows"]) for _, meta in prepared.values())
    fits = longest_lookback(trains[(len(trains) - 1) // 2], horizon, MIN_TRAIN_WINDOWS)
    choices = [lb for lb in default_lookbacks(period) if lb <= fits]  # what the space will keep
    return max(choices) if choices else max(2, fits)


def declared_max_lookback(entry: Any) -> int | None:
    """The longest lookback a ``tune.search_space.lookback`` entry allows (None: not declared)."""
    if entry is None:
        return None
    if isinstance(entry, dict):
        return int(entry.get("high") or entry.get("value") or max(entry.get("choices") or [0]))
    if isinstance(entry, list):
        return max(int(v) for v in entry)
    return int(entry)


def drop_short(prepared: dict[str, Prepared], dropped: dict[str, str], lookback: int) -> None:
    """Leave out the series whose train part cannot hold ``lookback`` steps, the history of its
    first validation origin (it need not feed a training window of its own: the panel pools
    every series' windows, :data:`MIN_SERIES_WINDOWS`)."""
    for sid in list(prepared):
        n_train = int(prepared[sid][1]["splits"]["train"]["rows"])
        if n_train < lookback:
            dropped[sid] = f"{n_train} train steps, fewer than lookback {lookback}"
            del prepared[sid]


def check_pooled_windows(
    prepared: dict[str, Prepared], lookback: int, horizon: int, source: str
) -> None:
    """The series kept must feed :data:`MIN_TRAIN_WINDOWS` windows of ``lookback`` together."""
    trains = [int(meta["splits"]["train"]["rows"]) for _, meta in prepared.values()]
    windows = sum(max(0, n - lookback - horizon + 1) for n in trains)
    if prepared and windows < MIN_TRAIN_WINDOWS:
        raise UserError(
            f"{source}: the {len(trains)} series long enough to split feed {windows} training"
            f" window(s) of lookback {lookback} and data.horizon={horizon} together, fewer than"
            f" {MIN_TRAIN_WINDOWS}; send longer or more series"
        )


def _panel_period(prepared: dict[str, Prepared], cfg: DataConfig) -> tuple[int, str | None]:
    """``data.seasonal_period``, else the season the series agree on or the pooled test picks
    (:func:`~.panel_season.panel_season`), and the note when they disagree."""
    if cfg.seasonal_period:
        return int(cfg.seasonal_period), None
    inferred = {sid: int(meta["seasonal_period"]) for sid, (_, meta) in prepared.items()}
    target = str(cfg.target)
    trains = {sid: parts["train"][target].to_numpy(float) for sid, (parts, _) in prepared.items()}
    return panel_season(inferred, trains)


def stack(prepared: dict[str, Prepared], column: str) -> Prepared:
    """The series' parts one after the other (series column first) and each one's row ranges."""
    parts: dict[str, pd.DataFrame] = {}
    members: dict[str, Any] = {}
    offsets: dict[str, dict[str, list[int]]] = {sid: {} for sid in prepared}
    for split in ("train", "val", "test"):
        frames, start = [], 0
        for sid, (sub_parts, _) in prepared.items():
            part = sub_parts[split].copy()
            part.insert(0, column, sid)
            frames.append(part)
            offsets[sid][split] = [start, start + len(part)]
            start += len(part)
        parts[split] = pd.concat(frames, ignore_index=True)
    for sid, (_, meta) in prepared.items():
        members[sid] = {"meta": meta, "rows": offsets[sid]}
    return parts, members


def prepare_panel(
    frame: pd.DataFrame,
    cfg: DataConfig,
    source: str,
    prepare: SeriesPreparer,
    max_lookback: int | None = None,
) -> Prepared:
    """Validate, split and scale every series; the stacked parts and the panel's metadata."""
    column = str(cfg.series_column)
    require_columns(
        frame, source, series_column=column, target=cfg.target, time_column=cfg.time_column
    )
    if cfg.split_column is not None:
        raise UserError(
            "data.split_column: not supported with data.series_column"
            " (each series is split by time)"
        )
    if column in (cfg.target, cfg.time_column):
        raise UserError(
            f"{source}: data.series_column names column '{column}', which is also the "
            f"{'target' if column == cfg.target else 'time column'}; name the series id column"
        )
    ids = series_ids(frame, column, source)
    check_duplicates(frame, ids, cfg, source)
    for col in [str(cfg.target), *(cfg.feature_columns or [])]:
        check_numeric(frame, ids, col, source)
    cfg, left_out = _panel_inputs(frame, cfg, source)
    prepared, dropped = _prepare_each(frame, ids, cfg, source, prepare)
    freq, season_note, axis_note = None, None, None
    if prepared:
        freq, axis_note = one_frequency(
            {sid: m for sid, (_, m) in prepared.items()}, column, source
        )
        period, season_note = _panel_period(prepared, cfg)
        lookback = max_lookback or fitted_max_lookback(prepared, period, cfg.horizon)
        drop_short(prepared, dropped, lookback)
        check_pooled_windows(prepared, lookback, cfg.horizon, source)
    if not prepared:
        first = next(iter(dropped.items()))
        raise UserError(
            f"{source}: no series is long enough to split (column '{column}', "
            f"{len(dropped)} series; e.g. {first[0]!r}: {first[1]})"
        )
    for _, meta in prepared.values():
        meta["seasonal_period"] = period
    parts, members = stack(prepared, column)
    reference = min(members, key=lambda s: members[s]["meta"]["splits"]["train"]["rows"])
    meta = dict(members[reference]["meta"])
    meta.update(
        target_positive=all(m["meta"]["target_positive"] for m in members.values()),
        splits={s: {"rows": len(p)} for s, p in parts.items()},
        n_rows=sum(len(p) for p in parts.values()),
        reference_splits=members[reference]["meta"]["splits"],
        panel={
            "series_column": column,
            "series": list(members),
            "members": members,
            "dropped": dropped,
            "reference": reference,
            "lookback_cut": lookback,  # every series kept feeds it one window at least
            "season_note": season_note,  # the series' seasons disagree: how one was chosen
            "axis_note": axis_note,  # series writing the months by their other end
        },
    )
    meta["columns"] = {**meta["columns"], "series_column": column, "left_out": left_out}
    # filled test targets are rows of each series' own history: its member meta holds them
    meta.pop("filled_targets", None)
    meta.pop("split_raised", None)  # the reference series': each member's meta holds its own
    meta["filled_test_values"] = sum(
        len(m["meta"].get("filled_targets") or []) for m in members.values()
    )
    if meta.get("time_axis"):  # the panel's span and every series' filled periods
        meta["time_axis"] = panel_time_axis(
            {s: m["meta"] for s, m in members.items()}, meta["time_axis"], freq
        )
        filled = {s: int(m["meta"]["time_axis"]["filled_periods"]) for s, m in members.items()}
        gaps = sum(int(m["meta"]["time_axis"]["gaps"]) for m in members.values())
        meta["time_axis"] = {**meta["time_axis"], "filled_periods": sum(filled.values())}
        meta["time_axis"].update(gaps=gaps, fill=cfg.missing if sum(filled.values()) else None)
        meta["time_axis"]["filled_series"] = sorted(s for s, n in filled.items() if n)
    return parts, meta


def space_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """What the search space is resolved against: the series with the shortest train part, a log
    transform only if every series is positive, and the number of series."""
    if "panel" not in meta:
        return meta
    panel = meta["panel"]
    reference = panel["members"][panel["reference"]]["meta"]
    if "lookback_cut" in panel:  # the shortest series feeds one window: judge the space by the
        # cut-off lookback with MIN_TRAIN_WINDOWS (what the median series feeds), no longer
        rows = int(panel["lookback_cut"]) + int(reference["horizon"]) + MIN_TRAIN_WINDOWS - 1
        train = int(reference["splits"]["train"]["rows"])
        splits = {
            **reference["splits"],
            "train": {**reference["splits"]["train"], "rows": max(train, rows)},
        }
        reference = {**reference, "splits": splits}
    return {
        **reference,
        "target_positive": meta["target_positive"],
        "n_series": len(panel["series"]),
    }

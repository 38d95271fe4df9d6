"""Validate raw data, split it, fit scaler statistics on train only, write Parquet + metadata.

Output directory layout (a KFP ``Dataset`` artifact)::

    train.parquet  val.parquet  test.parquet  metadata.json

Forecast splits are contiguous segments of the (sorted) series, split by *target* time step:
a window belongs to the split that holds all of its targets; its inputs may reach back into
earlier segments (that is history, not leakage). Classification splits are by sequence. Each task
prepares in its own module (:mod:`~lstmtune.data.prepare_forecast`,
:mod:`~lstmtune.data.prepare_classify`, :mod:`~lstmtune.data.text`; many series with
``data.series_column``: :mod:`~lstmtune.data.panel`); this one dispatches, and reads and writes
the result.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lstmtune.config import DataConfig, RunConfig
from lstmtune.data.archive import read_archive
from lstmtune.data.calendar_table import calendar_series
from lstmtune.data.columns import date_columns, series_of
from lstmtune.data.date_parts import date_parts
from lstmtune.data.io import RawTable, read_table
from lstmtune.data.layouts import nixtla_settings
from lstmtune.data.panel import (
    MIN_SERIES_WINDOWS,
    declared_max_lookback,
    prepare_panel,
    space_meta,
)
from lstmtune.data.prepare_classify import prepare_classify as prepare_classify
from lstmtune.data.prepare_forecast import place_times as place_times
from lstmtune.data.prepare_forecast import prepare_forecast as prepare_forecast
from lstmtune.data.prepare_forecast import time_axis_meta as time_axis_meta
from lstmtune.data.read_lines import as_read, read_lines
from lstmtune.data.row_numbers import row_number_columns
from lstmtune.data.splits import MIN_TRAIN_WINDOWS, SPLITS
from lstmtune.data.text import prepare_text
from lstmtune.data.tsf import read_tsf
from lstmtune.data.wide_sequences import wide_sequences
from lstmtune.data.zip_choice import zip_member
from lstmtune.errors import UserError
from lstmtune.search_space import resolve_search_space

FORMAT_VERSION = 1


def load_frame(cfg: RunConfig) -> RawTable:
    assert cfg.data.path is not None
    # ids as text where numbers would join two of them ('007' and '7': :mod:`.sequence_ids`)
    by_task = {"classify": cfg.data.sequence_column, "forecast": cfg.data.series_column}
    ids = (by_task.get(cfg.data.task),)
    return read_table(
        cfg.data.path,
        fmt=cfg.data.format,
        s3_endpoint_url=cfg.data.s3_endpoint_url,
        ids=tuple(c for c in ids if c is not None),
    )


@dataclass(frozen=True)
class _Read:
    """What was read: the frame, the configuration with the settings the file's layout filled
    in, its source, SHA-256, warning lines, and ``metadata.json`` entries saying how."""

    frame: pd.DataFrame
    cfg: RunConfig
    source: str
    sha256: str
    notes: tuple[str, ...] = ()
    said: dict[str, Any] = field(default_factory=dict)
    header_note: str | None = None  # the file had no header: its columns are lstmtune's


def _filled(cfg: RunConfig, settings: dict[str, str]) -> RunConfig:
    return cfg.model_copy(update={"data": cfg.data.model_copy(update=settings)})


def _read(cfg: RunConfig) -> _Read:
    """The file as a frame: an archive's pair or a ``.tsf`` file as its long frame, a table as
    written, in statsforecast's columns or a table of years by months as they lay it out (a zip
    archive: the file chosen inside it)."""
    data, zipped = zip_member(cfg.data)
    cfg, said = cfg.model_copy(update={"data": data}), {"zip": zipped} if zipped else {}
    archive = read_archive(cfg.data) or read_tsf(cfg.data)
    if archive is not None:
        cfg = cfg.model_copy(update={"data": archive.data})
        said["archive"] = archive.note
        return _Read(archive.frame, cfg, archive.source, archive.sha256, said=said)
    table = load_frame(cfg)
    frame = table.frame
    if table.header_note and cfg.data.task == "forecast":  # value (time): named by lstmtune
        named = {"target": "value", "time_column": "time" if "time" in frame.columns else None}
        cfg = _filled(cfg, {k: v for k, v in named.items() if v and getattr(cfg.data, k) is None})
    if nixtla_settings(frame, cfg.data):  # unique_id, ds, y; ids as text: 001 and 1 apart
        if "unique_id" in frame.columns and cfg.data.series_column is None:
            frame = load_frame(_filled(cfg, {"series_column": "unique_id"})).frame
        layout = nixtla_settings(frame, cfg.data)
        cfg, said["layout"] = _filled(cfg, layout), layout
    frame, parts = date_parts(frame, cfg.data)  # year, month[, day] / year, quarter
    if parts:
        cfg, said["date_parts"] = _filled(cfg, {"time_column": "time"}), parts
    frame, calendar = calendar_series(frame, cfg.data, table.source)  # Year, Jan, …, Dec
    if calendar:
        named = {"target": "value", "time_column": "time" if calendar["dated"] else None}
        cfg, said["calendar"] = _filled(cfg, {k: v for k, v in named.items() if v}), calendar
    frame, wide = wide_sequences(frame, cfg.data, table.source)  # label, att1, …, att96
    if wide:
        cfg, said["wide"] = _filled(cfg, {"sequence_column": "case", "time_column": "t"}), wide
    return _Read(frame, cfg, table.source, table.sha256, table.notes, said, table.header_note)


def prepare(cfg: RunConfig) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Validate and split in memory (no files written). Raises :class:`UserError` on bad input.
    A UCR / UEA archive file (:mod:`~lstmtune.data.archive`) is read with its ``_TEST`` file
    into the long frame, its columns' settings filled in (``metadata.json``'s ``archive``); a
    Monash repository's ``.tsf`` file (:mod:`~lstmtune.data.tsf`) alike."""
    read = _read(cfg)
    try:
        return _prepared(read)
    except UserError as exc:  # its columns may be lstmtune's: say how the file was read
        header = [read.header_note.removeprefix("warning: ")] if read.header_note else []
        raise as_read(exc, [*read_lines(read.said, cfg.data.horizon), *header]) from None


def _prepared(read: _Read) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The splits and metadata of the frame read."""
    frame, cfg, source = read.frame, read.cfg, read.source
    if cfg.data.task == "forecast" and cfg.data.series_column is not None:
        declared = declared_max_lookback((cfg.tune.search_space or {}).get("lookback"))
        each = functools.partial(prepare_forecast, min_windows=MIN_SERIES_WINDOWS)
        parts, meta = prepare_panel(frame, cfg.data, source, each, declared)
    elif cfg.data.task == "forecast":
        parts, meta = prepare_forecast(frame, cfg.data, source)
    elif cfg.data.task == "text":
        parts, meta = prepare_text(frame, cfg.data, source, cfg.train.seed)
    else:
        parts, meta = prepare_classify(frame, cfg.data, source, cfg.train.seed)
    if (meta.get("columns") or {}).get("left_out"):  # row numbers, dates: no text
        _name_left_out(meta["columns"], frame, cfg.data)
    meta.update(
        {
            "format_version": FORMAT_VERSION,
            "source": source,
            "sha256": read.sha256,
            "dataset_name": cfg.dataset_name(),
        }
    )
    if read.notes:  # how the file was read (its encoding): warning lines of the prepare step
        meta["read_notes"] = list(read.notes)
    meta.update(read.said)  # archive, layout, calendar: the prepare step's read lines
    meta["search_space"] = resolve_search_space(
        cfg, space_meta(meta), min_train_windows=MIN_TRAIN_WINDOWS
    )
    return parts, meta


def _name_left_out(columns: dict[str, Any], frame: pd.DataFrame, data: DataConfig) -> None:
    """Of the columns left out (``frame``: in file order), those that are the file's row
    numbers (a forecast's or a classifier's) and those that hold dates, apart from the text
    ones: the prepare line and its warnings name each kind."""
    left = columns["left_out"]
    numbers = row_number_columns(frame, left) if data.task in ("forecast", "classify") else []
    if numbers:
        columns["left_out_row_numbers"] = numbers
    rest = [c for c in left if c not in numbers]
    columns["left_out_dates"] = date_columns(frame, rest, series_of(frame, data))


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

"""Column checks and cleaning shared by the preparers (forecast, classify and text).

Errors are one-line :class:`~lstmtune.errors.UserError` messages that name the file (``source``),
the column and the data row as it is in the file (``rows`` maps sorted -> file row).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pandas as pd

from lstmtune.config import DataConfig
from lstmtune.data.number_text import missing_cells
from lstmtune.errors import UserError

FrameOrSeries = TypeVar("FrameOrSeries", pd.DataFrame, pd.Series)


def require_columns(frame: pd.DataFrame, source: str, **named: str | None) -> None:
    """Every named column (``data.<key>``) that is set must be in ``frame``."""
    for key, col in named.items():
        if col is not None and col not in frame.columns:
            hint = _closest(col, [str(c) for c in frame.columns])
            if not hint and key == "series_column":
                hint = _wide_series(frame, col, named)
            cols = ", ".join(map(str, frame.columns[:20]))
            more = f" ({len(frame.columns)} in all)" if len(frame.columns) > 20 else ""
            raise UserError(
                f"{source}: column '{col}' (data.{key}) not found{hint}; columns are: {cols}{more}"
            )


def wide_hint(layout: str, columns: int, long: str, how: str = "pandas' melt") -> str:
    """`` (a wide file, ...: N columns here, write it long, ...)``: the hint for data laid out
    one column per step or per series where the tool reads one row per step."""
    return f" (a wide file, {layout}: {columns} columns here, write it long, {long}: {how})"


def _wide_series(frame: pd.DataFrame, series: str, named: dict[str, str | None]) -> str:
    """The wide-file hint where the series column is missing from a file that holds three or
    more numeric columns besides its time column, named as numbers (``week,101,102,103``: a
    column per series, as a pivot table writes them) or with no target column among them."""
    time, target = named.get("time_column"), named.get("target")
    values = [
        str(c)
        for c in frame.columns
        if c != time and pd.api.types.is_numeric_dtype(frame[c]) and not frame[c].isna().all()
    ]
    numbered = all(pd.notna(pd.to_numeric(c, errors="coerce")) for c in values)
    if len(values) < 3 or not (numbered or target not in frame.columns):
        return ""
    ids = [time] if time in frame.columns else [str(c) for c in frame.columns if c not in values]
    keep = f"id_vars={ids!r}, " if ids else ""
    value = target if target is not None and target not in frame.columns else "value"
    melt = f"df.melt({keep}var_name={series!r}, value_name={value!r})"
    return wide_hint(
        "a column per series", len(values), "one row per series and time (id, time, value)", melt
    )


def _closest(name: str, columns: list[str]) -> str:
    """' (did you mean 'x'?)' for a column that differs only in case and surrounding spaces, or
    is the one close spelling; '' otherwise."""
    folded = [c for c in columns if c.strip().casefold() == name.strip().casefold()]
    near = folded or difflib.get_close_matches(name.strip(), columns, n=2, cutoff=0.8)
    return f" (did you mean '{near[0]}'?)" if len(near) == 1 else ""


def configured_columns(
    frame: pd.DataFrame, cfg: DataConfig, source: str, task: str, keys: tuple[str, ...]
) -> list[str]:
    """The columns that the ``data.<key>`` settings name, in order; each must be set (``task``
    needs it)."""
    for key in keys:
        if getattr(cfg, key) is None:
            cols = ", ".join(map(str, frame.columns[:20]))
            raise UserError(f"{source}: data.{key} is required for task '{task}' (columns: {cols})")
    return [str(getattr(cfg, key)) for key in keys]


def refuse_missing(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    """No missing value in ``columns``: the first column that has one is named, with its first
    data row."""
    for col in columns:
        missing = frame[col].isna().to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise UserError(f"{source}: column '{col}' has a missing value at data row {i + 1}")


def class_names(labels: pd.Series, label_col: str, source: str) -> list[str]:
    """The class names of the (string) labels, sorted as numbers where all are numbers (1, 2,
    10: the ``proba_<class>`` columns in that order), else as text; at least two."""
    classes = sorted(str(c) for c in labels.unique().tolist())
    numbers = pd.to_numeric(pd.Series(classes), errors="coerce")
    if numbers.notna().all():
        classes = [c for _, c in sorted(zip(numbers.tolist(), classes, strict=True))]
    if len(classes) < 2:
        raise UserError(
            f"{source}: column '{label_col}' (data.label) has a single class {classes[0]!r}; "
            "classification needs at least two"
        )
    return classes


def label_kind(labels: pd.Series) -> str:
    """How the labels are typed (``text``, ``integer``, ``float``, ``bool``), so the published
    model's labels are typed alike (:func:`lstmtune.features.typed_labels`)."""
    if pd.api.types.is_bool_dtype(labels):
        return "bool"
    if not pd.api.types.is_numeric_dtype(labels):
        return "text"
    return "integer" if pd.api.types.is_integer_dtype(labels) else "float"


def numeric_column(
    frame: pd.DataFrame, col: str, source: str, rows: np.ndarray | None = None
) -> np.ndarray:
    """Column as float64; errors name the row as it is in the file (``rows``: sorted -> file)."""
    series = frame[col]
    rows = np.arange(len(frame)) if rows is None else rows
    if series.dtype == bool:
        as_float: np.ndarray = series.to_numpy(dtype=np.float64)
        return as_float
    if series.dtype == object:  # numbers held as text: a blank cell or "." is a missing value
        series = series.where(~missing_cells(series), None)
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna() & series.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserError(
            f"{source}: column '{col}' has a non-numeric value {str(series.iloc[i])!r} at data row "
            f"{int(rows[i]) + 1}"
        )
    arr: np.ndarray = values.to_numpy(dtype=np.float64)
    inf = np.isinf(arr)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise UserError(
            f"{source}: column '{col}' has an infinite value at data row {int(rows[i]) + 1}"
        )
    return arr


def fill_gaps(values: FrameOrSeries, policy: str) -> FrameOrSeries:
    """``values`` with missing values filled by ``data.missing`` (``ffill`` carries the last
    value forward; ``interpolate`` is linear, both ends carried), in training and serving alike."""
    return values.ffill() if policy == "ffill" else values.interpolate(limit_direction="both")


def fill_missing(
    arr: np.ndarray, col: str, source: str, policy: str, rows: np.ndarray
) -> np.ndarray:
    """Fill the gaps of one column by ``policy`` (``error``, ``ffill`` or ``interpolate``)."""
    nan = np.isnan(arr)
    if not nan.any():
        return arr
    if policy == "error":
        i = int(np.flatnonzero(nan)[0])
        raise UserError(
            f"{source}: column '{col}' has a missing value at data row {int(rows[i]) + 1} "
            "(set data.missing: ffill or interpolate to fill gaps)"
        )
    s = pd.Series(arr)
    filled = fill_gaps(s, policy)
    if filled.isna().any():
        i = int(np.flatnonzero(filled.isna().to_numpy())[0])
        raise UserError(
            f"{source}: column '{col}' has a missing value at data row {int(rows[i]) + 1} that "
            f"{policy} cannot fill"
        )
    out: np.ndarray = filled.to_numpy(dtype=np.float64)
    return out


#: a number written for people: a sign or parentheses, a currency, digits with separators
#: (``1,234.5``, ``51,3``, ``1 234``), a percent sign or a unit after a space (``12 kg``)
_FORMATTED = re.compile(
    r"[-+\u2212(]?\s*[$\u20ac\u00a3\u00a5]?\s*[-+\u2212]?\d[\d.,'\u2019 \u00a0]*"
    r"(%|\s[A-Za-z\u00b5\u00b0/]{1,6})?\s*\)?"
)

_DATE = re.compile(r"\d{1,4}[./]\d{1,2}[./]\d{1,4}\b")  # 31.01.2019: a date, not a number
_CLOCK = re.compile(r"\d\s*[AaPp]\.?[Mm]\.?$")  # 10 AM: a time of day, not 10 of a unit


def feature_columns(
    frame: pd.DataFrame,
    cfg: DataConfig,
    exclude: set[str],
    source: str,
    checked: frozenset[str] = frozenset(),
    rows: np.ndarray | None = None,
) -> list[str]:
    """The declared feature columns, else every numeric or bool column not in ``exclude`` and
    every column of numbers held as text (``"51.3"``, a database's decimals); a column of
    numbers but for a few tokens, or of numbers written for people (``51,3``, ``12%``), is
    refused (``checked``: columns whose values are checked with their rows elsewhere, a
    forecast's target). Text columns are not inputs: :func:`text_columns` names them; nor are a
    forecast's dates written as digits and the file's row numbers (``rows``: each row's place in
    the file, where ``frame`` was put in time order)."""
    if cfg.feature_columns:
        require_columns(
            frame, source, **{f"feature_columns[{i}]": c for i, c in enumerate(cfg.feature_columns)}
        )
        return list(cfg.feature_columns)
    placed = _placed(frame, cfg, rows)
    return [
        c
        for c in frame.columns
        if c not in exclude and _is_input(frame[c], c, source, checked, placed)
    ]


def series_of(frame: pd.DataFrame, cfg: DataConfig) -> pd.Series | None:
    """The series ids of a forecast of many series (``data.series_column``); else None."""
    column = cfg.series_column
    if cfg.task != "forecast" or column is None or column not in frame.columns:
        return None
    return frame[column]


def _placed(
    frame: pd.DataFrame, cfg: DataConfig, rows: np.ndarray | None
) -> Callable[[pd.Series, str], bool] | None:
    """The test of integer columns that tell only where a row is, neither an input: the file's
    row numbers (``0, 1, 2, …``: a written index; in a classifier's file as much as a forecast's,
    where rows grouped by class would give the label away) and a forecast's dates written as
    digits or decimal years (``202001``, ``1949.0833``: the time axis ``data.time_column`` did
    not name); None for text."""
    from lstmtune.data.digit_columns import dates_as_digits
    from lstmtune.data.row_numbers import row_numbers

    if cfg.task == "classify":
        return lambda values, name: row_numbers(values, name, rows)
    if cfg.task != "forecast":
        return None
    ids = series_of(frame, cfg)
    return lambda values, name: (
        row_numbers(values, name, rows) or dates_as_digits(values, name, ids)
    )


def _is_input(
    values: pd.Series,
    col: str,
    source: str,
    checked: frozenset[str],
    placed: Callable[[pd.Series, str], bool] | None,
) -> bool:
    if pd.api.types.is_numeric_dtype(values):  # a bool column (a flag) is read as 0/1
        return col in checked or placed is None or not placed(values, col)
    return col not in checked and values.dtype == object and _numbers_as_text(values, col, source)


def text_columns(frame: pd.DataFrame, exclude: set[str], features: list[str]) -> list[str]:
    """The columns that are neither inputs nor given another role: left out, and said so."""
    return [str(c) for c in frame.columns if c not in exclude and c not in features]


def date_columns(frame: pd.DataFrame, names: list[str], ids: pd.Series | None = None) -> list[str]:
    """The columns of ``names`` that hold dates or times (datetime64, periods, text that every
    value of reads as a date, or integers that are dates written as digits, ``202001``, within
    each series of ``ids``, or R's decimal years, ``1949.08333333333``, under a time-like name):
    left out as dates, not as text, since one of them is most likely the time axis that
    ``data.time_column`` was not set to."""
    return [c for c in names if c in frame.columns and _holds_dates(frame[c], str(c), ids)]


def _holds_dates(values: pd.Series, name: str, ids: pd.Series | None) -> bool:
    from lstmtune.data.digit_columns import dates_as_digits
    from lstmtune.data.textdates import read_text_dates

    if pd.api.types.is_datetime64_any_dtype(values) or isinstance(values.dtype, pd.PeriodDtype):
        return True
    if pd.api.types.is_numeric_dtype(values):  # digits (202001), decimal years (1949.0833)
        return dates_as_digits(values, name, ids)
    if values.dtype != object:
        return False
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""].drop_duplicates().head(1000)  # enough to tell, fast on a long file
    if text.empty or not text.str.contains(r"\d").all():
        return False
    return not read_text_dates(text.reset_index(drop=True), lambda _: 0.0).isna().any()


def _numbers_as_text(values: pd.Series, col: str, source: str) -> bool:
    """Whether an object column holds numbers (all of them parse); refused when it holds
    numbers but for a few tokens ('?'), or numbers written for people ('51,3', '12%')."""
    present = values.dropna()
    present = present[~missing_cells(present)]  # blank cells and "." or "?": missing values
    if present.empty:
        return False
    parsed = pd.to_numeric(present, errors="coerce")
    bad = present[parsed.isna()]
    if bad.empty:  # numbers, unless written with leading zeros: codes ('01234'), not amounts
        return not present.astype(str).str.match(r"\s*[-+]?0\d").any()
    if parsed.notna().mean() >= 0.5:
        raise UserError(
            f"{source}: column '{col}' holds numbers but for {len(bad)} value(s) such as "
            f"{bad.iloc[0]!r}; fix them (a missing value is an empty cell), or set "
            "data.feature_columns to leave the column out"
        )
    text = bad.astype(str).str.strip()
    formatted = text.map(
        lambda v: (
            _FORMATTED.fullmatch(v) is not None and not _DATE.match(v) and not _CLOCK.search(v)
        )
    )
    if formatted.mean() >= 0.9:
        raise UserError(
            f"{source}: column '{col}' holds numbers written as text such as {bad.iloc[0]!r} "
            "(a decimal comma, thousands separators, a unit or a sign); write them as plain "
            "numbers (51.3, 1234), or set data.feature_columns to leave the column out"
        )
    return False


def input_dtypes(frame: pd.DataFrame, cols: list[str]) -> dict[str, str]:
    """Raw dtypes of the input columns: the published model's signature accepts what it was fed."""
    return {c: "integer" if pd.api.types.is_integer_dtype(frame[c]) else "float" for c in cols}


def scaler_stats(frame: pd.DataFrame, cols: list[str]) -> dict[str, list[float]]:
    """Per-column mean and standard deviation (1.0 for a constant column)."""
    values = frame[cols].to_numpy(dtype=np.float64)
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    return {"mean": mean.tolist(), "std": std.tolist()}

"""A DataFrame as the Parquet file the pipeline reads, its index read the pandas way.

A DatetimeIndex is the usual way pandas holds one series' times; a MultiIndex of (series id,
time) is how statsforecast and sktime hold many series (``df.set_index(["id", "date"])``), and a
MultiIndex of (sequence id, time step) how sktime and tslearn users hold sequences to classify in
long format. They become columns, and the roles their levels play are returned, so
``lstmtune.run`` needs no ``time_column`` and ``series_column`` (forecast) or
``sequence_column`` (classify) for them (a setting the user gave wins).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstmtune.errors import UserError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class IndexRoles:
    """The columns the index became that a run reads: its times, and its series ids (a
    forecast) or sequence ids (a classifier)."""

    time: str | None = None
    series: str | None = None
    sequence: str | None = None


@dataclass(frozen=True)
class _Layout:
    """How a task reads a MultiIndex: the words of its refusals and the setting of its ids."""

    reads: str  # what the task reads, for the refusals
    id_key: str  # the data.<key> that names the id level


_LAYOUTS = {
    "forecast": _Layout("a forecast of many series reads (series id, time)", "series_column"),
    "classify": _Layout("a classifier reads (sequence id, time step)", "sequence_column"),
}


def write_frame(
    frame: pd.DataFrame,
    path: Path,
    *,
    series_column: str | None = None,
    time_column: str | None = None,
    sequence_column: str | None = None,
    task: str = "forecast",
) -> IndexRoles:
    """The DataFrame as the Parquet file the pipeline reads: a named or DatetimeIndex, or the
    levels of a MultiIndex, become columns; what Parquet cannot store (repeated column names, a
    column mixing numbers and text) is refused naming the column. Returns the roles of the
    columns the index became: a DatetimeIndex the time (its name, else pandas' ``index`` or
    ``level_0``), a MultiIndex's levels the series and the time of a forecast, the sequence and
    the time of a classifier (:func:`multiindex_roles`; a text task's levels are columns like
    any other)."""
    from pandas import DatetimeIndex, MultiIndex

    repeated = frame.columns[frame.columns.duplicated()]
    if len(repeated):
        raise UserError(f"data: the DataFrame has the column {repeated[0]!r} more than once")
    frame = _periods_as_times(frame)
    is_time = isinstance(frame.index, DatetimeIndex)
    roles = IndexRoles(time=str(frame.index.name) if is_time else None)
    if task in _LAYOUTS and isinstance(frame.index, MultiIndex):
        ids = series_column if task == "forecast" else sequence_column
        roles = multiindex_roles(frame.index, ids, time_column, task)
    try:
        if is_time or any(n is not None for n in frame.index.names):
            kept = all(n in frame.columns for n in frame.index.names)  # set_index(drop=False)
            before = set(frame.columns)
            frame = _periods_as_times(frame.reset_index(drop=kept))  # a MultiIndex's periods
            if is_time and not kept:  # pandas names an unnamed one index, or level_0
                roles = IndexRoles(time=str(next(c for c in frame.columns if c not in before)))
        frame.to_parquet(path, index=False)
    except (ValueError, TypeError) as exc:  # pyarrow's ArrowInvalid / ArrowTypeError among them
        column = next((c for c in frame.columns if _mixed(frame[c])), None)
        named = f"column {column!r} mixes numbers and text" if column else str(exc).splitlines()[0]
        raise UserError(
            f"data: the DataFrame cannot be stored: {named}; cast it (.astype(str))"
        ) from None
    return roles


def multiindex_roles(
    index: pd.MultiIndex,
    id_column: str | None,
    time_column: str | None,
    task: str = "forecast",
) -> IndexRoles:
    """Which levels of a MultiIndex are the time and the ids: a forecast's (series id, time),
    the statsforecast / sktime layout, or a classifier's (sequence id, time step). The time is
    the level ``time_column`` names, else the one level of dates (or, as sktime has it, a last
    level of numbers); the ids are the level ``id_column`` (``series_column`` of a forecast,
    ``sequence_column`` of a classifier) names, else the one level left. ``id_column`` naming a
    column, not a level, wins: the levels are then columns like any other. Levels that cannot be
    read so are refused in one line."""
    layout = _LAYOUTS[task]
    names = [str(n) for n in index.names]
    shown = f"MultiIndex ({', '.join(map(repr, index.names))})"
    ids = "series" if task == "forecast" else "sequence"
    if any(n is None for n in index.names):
        example = "['id', 'date']" if task == "forecast" else "['id', 'step']"
        raise UserError(
            f"data: the DataFrame's {shown} has unnamed levels; name them"
            f" (df.rename_axis({example})): their names are the {ids} and time columns"
        )
    time = time_column if time_column in names else _time_level(index, names, shown, layout)
    if id_column is not None:
        return _roles(task, time, id_column if id_column in names else None)
    rest = [n for n in names if n != time]
    if len(rest) != 1:
        raise UserError(
            f"data: the DataFrame's {shown} has {len(rest)} levels besides the time {time!r};"
            f" {layout.reads}: set {layout.id_key} to one of them, or make one id of them"
        )
    return _roles(task, time, rest[0])


def _roles(task: str, time: str, ids: str | None) -> IndexRoles:
    if task == "forecast":
        return IndexRoles(time=time, series=ids)
    return IndexRoles(time=time, sequence=ids)


def _time_level(index: pd.MultiIndex, names: list[str], shown: str, layout: _Layout) -> str:
    """The one level of dates or periods, else a last level of numbers (sktime's time level)."""
    from pandas.api.types import is_datetime64_any_dtype, is_numeric_dtype

    levels = [index.get_level_values(i) for i in range(index.nlevels)]
    dates = [n for n, lv in zip(names, levels, strict=True) if _is_dates(lv)]
    if len(dates) == 1:
        return dates[0]
    last = levels[-1]
    if not dates and is_numeric_dtype(last) and not is_datetime64_any_dtype(last):
        return names[-1]
    which = "two levels of dates" if dates else "no level of dates"
    raise UserError(
        f"data: the DataFrame's {shown} has {which}; {layout.reads}: set time_column to its"
        " time level"
    )


def _is_dates(level: Any) -> bool:
    from pandas import PeriodDtype
    from pandas.api.types import is_datetime64_any_dtype

    return bool(is_datetime64_any_dtype(level) or isinstance(level.dtype, PeriodDtype))


def index_as_columns(frame: pd.DataFrame, needed: Sequence[str] = ()) -> pd.DataFrame:
    """A frame sent to ``predict`` as the model reads it: a DatetimeIndex's or MultiIndex's
    named levels as columns (as :func:`write_frame` wrote the training data), periods as the
    times they start at. A MultiIndex with unnamed levels, where a column the model reads
    (``needed``) is missing, is refused in one line, as training refuses it."""
    from pandas import DatetimeIndex, MultiIndex, PeriodIndex

    if not isinstance(frame.index, DatetimeIndex | MultiIndex | PeriodIndex):
        return frame
    frame = _name_time_index(frame)
    if isinstance(frame.index, MultiIndex) and None in frame.index.names:
        _refuse_unnamed(frame, needed)
    named = [n for n in frame.index.names if n is not None and n not in frame.columns]
    if named:
        frame = frame.reset_index(level=named)
    return _periods_as_times(frame)


def _name_time_index(frame: pd.DataFrame) -> pd.DataFrame:
    """An unnamed DatetimeIndex or PeriodIndex named as training named it (:func:`write_frame`:
    pandas' ``index``, or ``level_0`` beside a column ``index``), so the model finds its time
    column and checks the history's order and gaps (until 2026-12-04 such a frame was served
    without its times: shuffled or gappy histories were forecast from the wrong windows)."""
    from pandas import DatetimeIndex, PeriodIndex

    if not isinstance(frame.index, DatetimeIndex | PeriodIndex) or frame.index.name is not None:
        return frame
    return frame.rename_axis("index" if "index" not in frame.columns else "level_0")


def _refuse_unnamed(frame: pd.DataFrame, needed: Sequence[str]) -> None:
    """A MultiIndex with unnamed levels is refused where the frame then lacks a column the model
    reads (an unnamed level may hold it); one whose columns are all there is served."""
    present = {*frame.columns, *frame.index.names}
    missing = [c for c in needed if c not in present]
    if missing:
        shown = f"MultiIndex ({', '.join(map(repr, frame.index.names))})"
        raise UserError(
            f"data: the DataFrame's {shown} has unnamed levels and no column {missing[0]!r};"
            " name its levels as the columns the model was trained on (df.rename_axis([...]))"
        )


def _periods_as_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Periods (a ``PeriodIndex``, ``pd.Period`` columns: pandas' monthly or quarterly series)
    as the times they start at, which the time axis reads (Parquet would store them as text that
    no time axis reads, so the series would train without its times)."""
    from pandas import PeriodDtype, PeriodIndex

    if isinstance(frame.index, PeriodIndex):
        frame = frame.set_axis(frame.index.to_timestamp(), axis=0)
    periods = [c for c in frame.columns if isinstance(frame[c].dtype, PeriodDtype)]
    if periods:
        frame = frame.assign(**{str(c): frame[c].dt.to_timestamp() for c in periods})
    return frame


def _mixed(values: Any) -> bool:
    text = [isinstance(v, str) for v in values.dropna()]
    return any(text) and not all(text)


def predict_as_sent(
    predict: Callable[[pd.DataFrame], pd.DataFrame],
    frame: pd.DataFrame,
    needed: Sequence[str] = (),
) -> pd.DataFrame:
    """``predict`` of ``frame`` read as :func:`index_as_columns` reads it, answered in the
    frame's own layout: where the model answers row by row (a forecast: one row per origin), the
    answer is indexed as the frame was (a ``DatetimeIndex``'s times, a MultiIndex's (id, time),
    periods as periods), without the columns that index became, so ``frame.join(answer)`` lines
    up; a time column of periods comes back as periods. ``needed``: the columns the model
    reads (:func:`index_as_columns` refuses unnamed levels that may hold one)."""
    sent = index_as_columns(frame, needed)
    if sent is frame:
        return predict(frame)
    unnamed = frame.index.set_names([None] * frame.index.nlevels)  # its levels are columns now
    out = predict(sent.set_axis(unnamed, axis=0))
    if isinstance(out.index, type(frame.index)) and out.index.nlevels == frame.index.nlevels:
        names = _name_time_index(frame).index.names
        moved = [n for n in names if n is not None and n not in frame.columns]
        out = out.drop(columns=[c for c in moved if c in out.columns])
        out = out.rename_axis(frame.index.names)
    return _times_as_sent(out, frame)


def _times_as_sent(out: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The answer's time column as periods where the frame's column held periods: the model
    reads them as the times they start at, and answers in those."""
    from pandas import DatetimeTZDtype, PeriodDtype

    for column in out.columns:
        dtype = frame[column].dtype if column in frame.columns else None
        dated = out[column].dtype.kind == "M" and not isinstance(out[column].dtype, DatetimeTZDtype)
        if isinstance(dtype, PeriodDtype) and dated:
            out[column] = out[column].dt.to_period(dtype.freq)
    return out

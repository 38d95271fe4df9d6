"""The time axis of a forecast series: parse the time column, infer (or take) its frequency,
refuse duplicated times, find missing periods and place the rows on their regular grid.

Pure functions over pandas and numpy (nothing heavier: the CLI preflight imports this). The
preparer calls them on the file and the published pyfunc (:mod:`lstmtune.data.history_check`) on
the history a consumer sends, so both apply the same checks. Errors are :class:`TimeAxisError` (a
``ValueError``) with a one-line message that names the column, the time value and the row
(``row_word``: "data row" for a file, "input row" for a pyfunc input); the preparer prefixes the
file name.

Times are dates (``1949-01``, ``2000-06-05 13:30``), periods by number (``1956Q1``, ``1956 Q1``,
``1956M01``, ``2019 W01``: :mod:`~lstmtune.data.period_text`), R's decimal years of months,
quarters or halves (``1949.08333333333``: :mod:`~lstmtune.data.decimal_years`) or numbers (``0,
1, 2``; decimal years of finer steps). The frequency is a pandas offset alias (``MS``,
``QS-JAN``, ``D``, ``30min``, ``W-SUN``, ``B``) or, for numbers, the step (``1``).
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from lstmtune.data.decimal_years import DECIMAL_YEARS, decimal_label, decimal_years
from lstmtune.data.digitdates import DIGIT_DATES, digit_dates, digits_of
from lstmtune.data.period_text import spelled_unit
from lstmtune.data.textdates import MixedOffsets, Span, read_text_dates
from lstmtune.data.timeaxis_steps import MIN_REGULAR_SHARE, modal_step, number_step
from lstmtune.data.timesnap import date_grid, number_grid
from lstmtune.data.wallclock import naive

__all__ = [
    "Axis",
    "Placed",
    "TimeAxisError",
    "axis_note",
    "describe_gaps",
    "parse_times",
    "place",
]

YEAR_MONTH = re.compile(r"^\s*\d{4}-\d{1,2}\s*$")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
#: a grid may hold at most this many periods per row (guards against a far too fine data.freq)
MAX_PERIODS_PER_ROW = 20
#: reading dates in either day order: a reading whose grid would hold more periods is wrong
MAX_GRID = 10_000_000


class TimeAxisError(ValueError):
    """Duplicated, missing, irregular or unparsable times (one line)."""


@dataclass(frozen=True)
class Axis:
    """How a time column is read: ``kind`` datetime or number, the frequency and how its values
    are written (``style``: quarter, month, week, date, datetime, number, digits, decimal_year)."""

    column: str
    kind: str
    freq: str
    style: str

    def to_dict(self) -> dict[str, str]:
        return {"column": self.column, "kind": self.kind, "freq": self.freq, "style": self.style}

    def label(self, value: Any) -> str:
        """A grid value as text, the way the file writes its times."""
        if self.kind == "number":
            v = float(value)
            return str(int(v)) if v.is_integer() else f"{v:.12g}"
        ts = pd.Timestamp(value)
        if self.style in DIGIT_DATES:
            return str(digits_of(np.array([ts.to_datetime64()]), self.style)[0])
        if self.style == DECIMAL_YEARS:
            return decimal_label(ts)
        if self.style == "quarter":
            return f"{ts.year}Q{(ts.month - 1) // 3 + 1}"
        if self.style == "week":
            year, week, _ = ts.isocalendar()
            return f"{year}-W{week:02d}"
        if self.style == "month":
            return f"{ts.year:04d}-{ts.month:02d}"
        if self.style == "date":
            return str(ts.strftime("%Y-%m-%d"))
        return str(ts.isoformat(sep=" "))


@dataclass(frozen=True)
class Placed:
    """Sorted rows on the grid: ``order`` sorts the input, ``positions[i]`` is the grid index of
    sorted row i, ``grid`` holds every period from the first to the last time."""

    axis: Axis
    order: np.ndarray
    positions: np.ndarray
    grid: np.ndarray

    @property
    def gaps(self) -> list[tuple[int, int]]:
        """``(first missing grid index, number of periods)`` of every gap, in time order."""
        jumps = np.diff(self.positions)
        return [(int(self.positions[i]) + 1, int(jumps[i]) - 1) for i in np.flatnonzero(jumps > 1)]

    @property
    def n_missing(self) -> int:
        return len(self.grid) - len(self.positions)


# --- parsing -----------------------------------------------------------------------------------


def _period_starts(values: pd.Series) -> pd.Series:
    """pandas periods (``Period('1959-12', 'M')``, a ``period[M]`` column) as the times they
    start at; anything else as it is."""
    if isinstance(values.dtype, pd.PeriodDtype):
        return values.dt.to_timestamp()
    first = values.dropna().iloc[:1] if values.dtype == object else values.iloc[:0]
    if len(first) and isinstance(first.iloc[0], pd.Period):
        try:
            return pd.Series(pd.PeriodIndex(values).to_timestamp(), index=values.index)
        except (TypeError, ValueError):  # mixed frequencies or other objects: read as text
            return values
    return values


def parse_times(
    values: pd.Series,
    column: str,
    *,
    rows: np.ndarray,
    row_word: str,
    freq: Any = None,
    style: str | None = None,
    span: Span | None = None,
) -> tuple[str, str, np.ndarray]:
    """``(kind, style, keys)``: keys are float64 (numbers) or datetime64[ns] (dates, quarters).
    ``freq``: the frequency the times are known to have (a model's, a user's ``data.freq``),
    which decides the day order of dates written ``D/M/Y`` that read both ways; ``style``: how
    a model's axis was written, which decides whether numbers are date digits or decimal years
    (a numeric ``freq``: numbers); ``span``: the first and last time a model was trained on,
    which place years written with two digits."""
    values = _period_starts(values)
    if pd.api.types.is_datetime64_any_dtype(values):
        keys = pd.DatetimeIndex(values).as_unit("ns")
        _refuse(keys.isna(), values, column, rows, row_word)
        return "datetime", _date_style(keys), naive(keys)
    bool_column = pd.api.types.is_bool_dtype(values)
    numeric = None if bool_column else pd.to_numeric(values, errors="coerce")
    if numeric is not None and not numeric.isna().any():
        arr = numeric.to_numpy(dtype=np.float64)
        _refuse(~np.isfinite(arr), values, column, rows, row_word)
        dated = digit_dates(arr, style) or decimal_years(arr, style, freq)
        if dated is None:  # 201001: January 2010, 1949.0833: February 1949, else numbers
            return "number", "number", arr
        _refuse(np.isnat(dated[1]), values, column, rows, row_word)
        return "datetime", *dated
    text = values.astype(str)
    known = freq if isinstance(freq, str) else None
    try:
        parsed = read_text_dates(values, functools.partial(grid_missing, freq=known), span)
    except MixedOffsets as exc:
        raise TimeAxisError(
            f"{_named(column, row_word)} mixes times with a UTC offset and without one: "
            f"{values.iloc[exc.row]!r} at {row_word} {int(rows[exc.row]) + 1} has none"
        ) from None
    _refuse(parsed.isna(), values, column, rows, row_word)
    keys = parsed.as_unit("ns")
    return "datetime", _text_style(text, keys), naive(keys)


def grid_missing(times: pd.DatetimeIndex, freq: str | None = None) -> float:
    """The periods missing from the grid of ``freq`` (None: the frequency distinct ``times`` lie
    on) between the first and the last of ``times``; ``inf`` where they lie on no grid or it
    would hold over :data:`MAX_GRID` periods. Times off a given ``freq``'s grid, each in a period
    of its own, count :data:`MAX_GRID` more (month starts for ``data.freq: ME``: any reading on
    the grid comes first)."""
    keys = np.unique(naive(times))
    given, freq = freq is not None, freq or infer_freq(keys, "datetime")
    if freq is None or len(keys) < 2:
        return math.inf
    offset = quiet_offset(freq)
    if offset is None:  # a data.freq that is no offset alias: refused where it is parsed
        return math.inf
    step = offset.nanos if isinstance(offset, pd.offsets.Tick) else pd.Timedelta(days=1).value
    if int((keys[-1] - keys[0]).astype(np.int64)) // step > MAX_GRID:
        return math.inf
    grid = pd.date_range(keys[0], keys[-1], freq=offset).to_numpy(dtype="datetime64[ns]")
    if not np.isin(keys, grid).all():  # times off that frequency's grid: their periods
        positions, grid, _ = date_grid(keys, offset, True, lambda n: None)
        distinct = given and len(np.unique(positions)) == len(keys)
        return float(MAX_GRID + len(grid) - len(keys)) if distinct else math.inf
    return float(len(grid) - len(keys))


def _text_style(text: pd.Series, keys: pd.DatetimeIndex) -> str:
    """How times read from ``text`` are written back: quarters (``1970 Q1``: 1970Q1), months
    (``1970M01``, ``1970-01``: 1970-01), ISO weeks (2019-W01), else as dates or times."""
    unit = spelled_unit(text)
    if unit in ("quarter", "month", "week"):
        return str(unit)
    return "month" if text.str.match(YEAR_MONTH).all() else _date_style(keys)


def _date_style(keys: pd.DatetimeIndex) -> str:
    return "date" if bool((keys == keys.normalize()).all()) else "datetime"


def _refuse(
    bad: np.ndarray, values: pd.Series, column: str, rows: np.ndarray, row_word: str
) -> None:
    if np.asarray(bad).any():
        i = int(np.flatnonzero(np.asarray(bad))[0])
        value = values.iloc[i : i + 1].tolist()[0]  # 1949.05, not np.float64(1949.05)
        blank = pd.isna(value) or not str(value).strip()
        what = "no time (an empty cell)" if blank else f"an unparsable time {value!r}"
        raise TimeAxisError(
            f"{_named(column, row_word)} has {what} at {row_word} {int(rows[i]) + 1}"
        )


# --- frequency ---------------------------------------------------------------------------------


def _regular(diffs: np.ndarray) -> Any:
    """The step when every step is a multiple of the modal one and that covers most steps."""
    step, share = modal_step(diffs)
    if step is None or share < MIN_REGULAR_SHARE or (diffs % step != 0).any():
        return None
    return step


def infer_freq(keys: np.ndarray, kind: str) -> str | None:
    """The frequency of sorted, distinct times, or None if they fit none (gaps are allowed)."""
    if len(keys) < 2:
        return None
    if kind == "number":
        step = number_step(keys)
        return None if step is None else _step_name(step)
    times = pd.DatetimeIndex(keys)
    midnight = bool((times == times.normalize()).all())
    for flag, begin in ((times.day == 1, True), (times.is_month_end, False)):
        if midnight and bool(np.asarray(flag).all()):
            months = times.year.to_numpy() * 12 + times.month.to_numpy()
            k = _regular(np.diff(months))
            return None if k is None else _monthly(int(k), int(times[0].month), begin)
    step = _regular(np.diff(times.asi8))
    if step is None:
        return None
    delta = pd.Timedelta(int(step), "ns")
    day = pd.Timedelta(days=1)
    weekdays_only = not bool((times.dayofweek >= 5).any())
    if delta == day and weekdays_only and bool((np.diff(times.asi8) == 3 * day.value).any()):
        return "B"
    if delta == 7 * day:
        return f"W-{DAYS[times[0].dayofweek]}"
    if delta % day == pd.Timedelta(0):
        return "D" if delta == day else f"{delta // day}D"
    return str(to_offset(delta).freqstr)


def _step_name(step: float) -> str:
    """A numeric step as ``data.freq`` text, precise enough to place every row: the step is the
    span over the number of periods, not one rounded difference (R's decimal years, 1949 +
    k/12, are off a 6-digit step by a millionth of a step after a few rows)."""
    whole = round(float(step))
    if whole >= 1 and abs(step - whole) <= 1e-9 * step:
        return str(whole)
    return f"{float(step):.12g}"


def _monthly(k: int, month: int, begin: bool) -> str:
    suffix = "S" if begin else "E"
    if k == 1:
        return f"M{suffix}"
    if k == 3:
        return f"Q{suffix}-{MONTHS[month - 1]}"
    if k == 12:
        return f"Y{suffix}-{MONTHS[month - 1]}"
    return f"{k}M{suffix}"


def parse_freq(freq: str | int | float, kind: str, column: str) -> Any:
    """A user's ``data.freq``: a pandas offset for dates, a positive step for numbers."""
    if kind == "number":
        try:
            step = float(freq)
        except ValueError:
            raise TimeAxisError(
                f"data.freq: {freq!r} is not a step; column '{column}' holds numbers, so give "
                "a positive number such as 1"
            ) from None
        if not np.isfinite(step) or step <= 0:
            raise TimeAxisError(f"data.freq: {freq!r} must be a positive step")
        return step
    if isinstance(freq, int | float):
        raise TimeAxisError(
            f"data.freq: {freq!r} is a number but column '{column}' holds dates; give a pandas "
            "offset alias such as MS, QS, D, h or 30min"
        )
    offset = quiet_offset(freq)
    if offset is None:
        raise TimeAxisError(
            f"data.freq: {freq!r} is not a pandas offset alias (e.g. MS, QS, D, h, 30min)"
        )
    return offset


def quiet_offset(freq: Any) -> Any:
    """pandas' offset for the alias ``freq`` (its deprecation warnings silenced); None where
    ``freq`` is no alias."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return to_offset(freq)
    except ValueError:
        return None


# --- placing on the grid -----------------------------------------------------------------------


def place(
    values: pd.Series,
    column: str,
    *,
    freq: str | int | float | None,
    snap: bool,
    rows: np.ndarray | None = None,
    row_word: str = "data row",
    style: str | None = None,
    span: Span | None = None,
) -> Placed:
    """Sort the times, refuse duplicates, infer the frequency (``freq`` None) and put every row on
    the grid. ``snap``: a time between two grid points goes to the period it falls in (a user's
    ``data.freq``: the earlier point, or the later one on an end-anchored grid such as ``ME``,
    :mod:`lstmtune.data.timesnap`); otherwise such a time is an error. Gaps are left to the
    caller (:attr:`Placed.gaps`); ``style``, ``span``: as :func:`parse_times` reads them."""
    rows = np.arange(len(values)) if rows is None else rows
    if len(values) == 0:
        raise TimeAxisError(f"{_named(column, row_word)} has no times")
    kind, style, keys = parse_times(
        values, column, rows=rows, row_word=row_word, freq=freq, style=style, span=span
    )
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    dup = np.flatnonzero(keys[1:] == keys[:-1])
    if len(dup):
        a, b = sorted((int(rows[order[dup[0]]]), int(rows[order[dup[0] + 1]])))
        raise TimeAxisError(
            f"{_named(column, row_word)} has the time "
            f"{str(values.iloc[order[dup[0]]])!r} twice, at {row_word}s {a + 1} and {b + 1}; "
            "each time may appear once"
        )
    name = freq if freq is None else str(freq)
    if freq is None:
        name = infer_freq(keys, kind)
        if name is None:
            raise TimeAxisError(_irregular(keys, kind, column))
    assert name is not None
    axis = Axis(column=column, kind=kind, freq=name, style=style)
    offset = parse_freq(freq if freq is not None else name, kind, column)
    check = functools.partial(_check_size, n=len(keys), name=name)
    if kind == "number":
        positions, grid, on_grid = number_grid(keys, float(offset), check)
    else:
        positions, grid, on_grid = date_grid(keys, offset, snap, check)
    if not snap and not on_grid.all():
        i = int(np.flatnonzero(~on_grid)[0])
        raise TimeAxisError(
            f"{_named(column, row_word)}: the time {str(values.iloc[order[i]])!r} at "
            f"{row_word} {int(rows[order[i]]) + 1} is not on the {name} grid that starts at "
            f"{axis.label(grid[0])}"
            + ("" if freq is not None else "; set data.freq to put the times on a grid")
        )
    same = np.flatnonzero(positions[1:] == positions[:-1])
    if len(same):
        i = int(same[0])
        a, b = sorted((int(rows[order[i]]), int(rows[order[i + 1]])))
        raise TimeAxisError(
            f"column '{column}' (data.time_column): data.freq {name} puts {row_word}s {a + 1} and "
            f"{b + 1} ({str(values.iloc[order[i]])!r}, {str(values.iloc[order[i + 1]])!r}) in "
            f"the same period {axis.label(grid[positions[i]])}; aggregate them or choose a "
            "finer data.freq"
        )
    return Placed(axis=axis, order=order, positions=positions, grid=grid)


def _named(column: str, row_word: str) -> str:
    """How a message names the time column: the user's config key for a file, else the input."""
    named = "column '{}' (data.time_column)" if row_word == "data row" else "input column '{}'"
    return named.format(column)


def _check_size(periods: int, *, n: int, name: str) -> None:
    if periods > MAX_PERIODS_PER_ROW * n + 100:
        raise TimeAxisError(
            f"data.freq: {name} gives {periods} periods for {n} rows; choose a coarser frequency"
        )


def _irregular(keys: np.ndarray, kind: str, column: str) -> str:
    if len(keys) < 2:
        return f"column '{column}' (data.time_column) has fewer than two times: no frequency"
    diffs = np.diff(keys) if kind == "number" else np.diff(keys.astype(np.int64))
    step, share = modal_step(diffs)
    shown = (
        f"{float(step):g}" if kind == "number" else str(pd.Timedelta(int(step), "ns").round("s"))
    )
    return (
        f"column '{column}' (data.time_column) has irregular times that fit no frequency (the "
        f"most common step, {shown}, is {share:.0%} of the steps); set data.freq (a pandas "
        "offset alias such as D, h or MS, or a numeric step) to put them on that grid"
    )


def describe_gaps(placed: Placed) -> str:
    """``1951-04 … 1951-06 missing, 3 periods``, and how many gaps there are in all."""
    gaps = placed.gaps
    start, count = gaps[0]
    first = placed.axis.label(placed.grid[start])
    last = placed.axis.label(placed.grid[start + count - 1])
    span = f"{first} … {last}" if count > 1 else first
    text = f"{span} missing, {count} period{'s' if count > 1 else ''}"
    if len(gaps) > 1:
        text += f" (first of {len(gaps)} gaps, {placed.n_missing} missing periods in all)"
    else:
        text += " (1 gap)"
    return text


def axis_note(time_axis: dict[str, Any] | None) -> str:
    """``, freq MS, 3 periods filled`` for the prepare step's summary line ('' without a time
    column)."""
    if not time_axis:
        return ""
    note = f", freq {time_axis['freq']}"
    filled = int(time_axis.get("filled_periods", 0))
    if filled:
        note += f", {filled} missing period{'s' if filled > 1 else ''} filled ({time_axis['fill']})"
    return note

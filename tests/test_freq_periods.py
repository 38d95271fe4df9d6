"""``data.freq`` puts each time in the period it falls in, as pandas reads periods: by the grid
point at or before it on a start-anchored grid (``MS``, ``h``), by the one on or after its day on
an end-anchored grid (``ME``, ``QE``, ``YE``, ``W-SUN``). Month starts with ``data.freq: ME``
went one month early (2015-01-01 into the month ending 2014-12-31) until 2026-12-04. The served
model places a history the same way (lstmtune.data.timesnap, through place() and history_check).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstmtune.config import load_config
from lstmtune.data.history_check import check_history, history_offset
from lstmtune.data.prepare import SPLITS, prepare
from lstmtune.data.timeaxis import TimeAxisError, place
from lstmtune.data.timesnap import end_anchored, period_stamp

TIMES = [
    "2015-01-01", "2015-01-03", "2015-01-04", "2015-01-05", "2015-01-15 13:30",
    "2015-01-30 23:00", "2015-01-31", "2015-01-31 13:00", "2015-02-01", "2015-03-31",
    "2015-06-30 10:00", "2015-12-31", "2016-02-29 12:00",
]  # fmt: skip
FREQS = [
    "MS", "ME", "QS", "QE", "QE-NOV", "YS", "YE", "YE-JUN", "BME", "BQE", "BYE", "W-SUN",
    "W-MON", "D", "B", "h", "30min", "SME", "SMS", "BMS",
]  # fmt: skip


@pytest.mark.parametrize("freq", FREQS)
def test_a_time_goes_to_the_period_pandas_resample_puts_it_in(freq: str) -> None:
    """Every time, alone, on the data.freq grid: the label of pandas' own resample bin."""
    for time in TIMES:
        placed = place(pd.Series([time]), "t", freq=freq, snap=True)
        label = pd.Series([1.0], index=[pd.Timestamp(time)]).resample(freq).sum().index[0]
        assert pd.Timestamp(placed.grid[placed.positions[0]]) == label, (freq, time)


def test_end_anchored_is_pandas_set_of_right_closed_offsets() -> None:
    offsets = {f: pd.tseries.frequencies.to_offset(f) for f in FREQS}
    ends = {f for f, o in offsets.items() if end_anchored(o)}
    assert ends == {"ME", "QE", "QE-NOV", "YE", "YE-JUN", "BME", "BQE", "BYE", "W-SUN", "W-MON"}
    assert period_stamp(pd.Timestamp("2015-01-01"), offsets["ME"]) == pd.Timestamp("2015-01-31")
    assert period_stamp(pd.Timestamp("2015-01-31 13:00"), offsets["MS"]) == pd.Timestamp(
        "2015-01-01"
    )


# --- training: a file whose dates are the other end of data.freq's periods --------------------


def _write(tmp_path: Path, freq: str, start: str, n: int, drop: int | None = None) -> Path:
    times = pd.date_range(start, periods=n, freq=freq).strftime("%Y-%m-%d")
    frame = pd.DataFrame({"date": times, "y": 100 + np.arange(n, dtype=np.float64) ** 1.5})
    if drop is not None:
        frame = frame.drop(index=[drop])
    path = tmp_path / "s.csv"
    frame.to_csv(path, index=False)
    return path


def _prepare(path: Path, freq: str, **extra: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    keys = {"data.path": str(path), "data.target": "y", "data.time_column": "date"}
    parts, meta = prepare(load_config(None, {**keys, "data.freq": freq, **extra}).resolved())
    return pd.concat([parts[s] for s in SPLITS], ignore_index=True), meta


@pytest.mark.parametrize(
    ("written", "start", "freq", "first", "last", "missing"),
    [
        ("MS", "2015-01-01", "ME", "2015-01-31", "2019-12-31", "2015-04-30"),
        ("QS", "2015-01-01", "QE", "2015-03-31", "2029-12-31", "2015-12-31"),
        ("W-MON", "2015-01-05", "W-SUN", "2015-01-11", "2016-02-28", "2015-02-01"),
        ("YS", "1950-01-01", "YE", "1950-12-31", "2009-12-31", "1953-12-31"),
        ("ME", "2015-01-31", "MS", "2015-01-01", "2019-12-01", "2015-04-01"),  # as before
    ],
)
def test_times_at_the_other_end_of_data_freq_keep_their_periods(
    tmp_path: Path, written: str, start: str, freq: str, first: str, last: str, missing: str
) -> None:
    """Month starts on an ``ME`` grid are their own months: the series is not shifted, the
    first period is 2015-01-31 (it was 2014-12-31), and a missing month is named as itself."""
    n = 60
    frame, meta = _prepare(_write(tmp_path, written, start, n), freq)
    axis = meta["time_axis"]
    assert (axis["freq"], axis["first"], axis["last"]) == (freq, first, last)
    assert axis["filled_periods"] == 0 and len(frame) == n
    np.testing.assert_allclose(frame["y"], 100 + np.arange(n) ** 1.5)  # values in order
    written_times = pd.date_range(start, periods=n, freq=written).strftime("%Y-%m-%d")
    assert frame["date"].tolist() == list(written_times)  # the file's own times, kept
    with pytest.raises(Exception, match=rf"{missing} missing, 1 period"):
        _prepare(_write(tmp_path, written, start, n, drop=3), freq)  # its 4th period is gone
    frame, meta = _prepare(
        _write(tmp_path, written, start, n, drop=3), freq, **{"data.missing": "interpolate"}
    )
    assert meta["time_axis"]["filled_periods"] == 1 and len(frame) == n
    y = 100 + np.arange(n) ** 1.5
    np.testing.assert_allclose(np.delete(frame["y"].to_numpy(), 3), np.delete(y, 3))


def test_two_times_in_one_end_anchored_period_are_refused(tmp_path: Path) -> None:
    """2015-01-01 and 2015-01-31 are one month on the ME grid (2015-01-31 and 2014-12-31
    before); named by the grid's label of that month."""
    path = tmp_path / "s.csv"
    pd.DataFrame({"date": ["2015-01-01", "2015-01-31", "2015-02-28"], "y": [1.0, 2.0, 3.0]}).to_csv(
        path, index=False
    )
    with pytest.raises(TimeAxisError, match=r"rows 1 and 2 .* the same period 2015-01-31"):
        place(pd.read_csv(path)["date"], "date", freq="ME", snap=True)


# --- serving: the history sent is placed as training placed the file ----------------------------


@pytest.mark.parametrize(
    ("written", "start", "freq"),
    [("MS", "2015-01-01", "ME"), ("QS", "2015-01-01", "QE"), ("W-MON", "2015-01-05", "W-SUN")],
)
def test_a_served_history_is_placed_as_training_placed_the_file(
    tmp_path: Path, written: str, start: str, freq: str
) -> None:
    """The model's time axis from a real prepare step; its last 12 rows, sent as the file writes
    them, start 48 periods after its first, as training placed them (an offset that counts a
    month start up to the month-end before it says 47: the forecast read from the wrong row)."""
    n = 60
    _, meta = _prepare(_write(tmp_path, written, start, n), freq)
    axis = meta["time_axis"]
    assert axis["freq_source"] == "data.freq"
    times = pd.date_range(start, periods=n, freq=written).strftime("%Y-%m-%d")
    tail = pd.DataFrame({"date": times[-12:], "y": np.arange(12.0)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read as trained: no warning either
        check_history(tail, axis)
    assert history_offset(tail, axis) == n - 12
    own = pd.date_range(axis["first"], periods=n, freq=freq).strftime("%Y-%m-%d")
    stamps = pd.DataFrame({"date": own[-12:], "y": np.arange(12.0)})  # the grid's own stamps
    check_history(stamps, axis)
    assert history_offset(stamps, axis) == n - 12
    earlier = pd.DataFrame({"date": times[:3], "y": np.arange(3.0)})
    assert history_offset(earlier, axis) == 0
    with pytest.raises(TimeAxisError, match="missing, 1 period"):
        check_history(tail.drop(index=[4]), axis)


@pytest.mark.parametrize(("freq", "first"), [("MS", "2019-01-01"), ("ME", "2019-01-31")])
def test_day_first_month_starts_are_read_day_first_for_either_end(freq: str, first: str) -> None:
    """``01/02/2019`` … reads both ways; with data.freq ME the month-first reading (twelve days of
    January 2019) won the tie and was refused as two rows in one period until 2026-12-04."""
    written = pd.Series(pd.date_range("2019-01-01", periods=24, freq="MS").strftime("%d/%m/%Y"))
    placed = place(written, "date", freq=freq, snap=True)
    assert (len(placed.grid), placed.gaps) == (24, [])
    assert pd.Timestamp(placed.grid[0]) == pd.Timestamp(first)
    assert pd.Timestamp(placed.grid[-1]).month == 12

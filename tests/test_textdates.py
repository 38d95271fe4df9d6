"""Dates written day first, and times whose UTC offset changes with summer time, are read as
their writer meant them (:mod:`lstmtune.data.textdates`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstmtune.config import load_config
from lstmtune.data.history_check import check_history, history_offset
from lstmtune.data.prepare import prepare
from lstmtune.data.timeaxis import TimeAxisError, infer_freq, parse_times
from lstmtune.served_history import fitted_rows, served_spec

DAYS = pd.date_range("2019-01-01", periods=400, freq="D")
MONTHS = pd.date_range("2019-01-01", periods=30, freq="MS")


def _read(written: pd.Index) -> np.ndarray:
    values = pd.Series(written)
    _, _, keys = parse_times(values, "date", rows=np.arange(len(values)), row_word="data row")
    return keys


@pytest.mark.parametrize(
    ("times", "fmt"),
    [
        (DAYS, "%d/%m/%Y"),  # 13/01/2019 fails month first
        (DAYS, "%d.%m.%Y"),
        (DAYS, "%m/%d/%Y"),  # month first stays month first
        (DAYS, "%Y-%m-%d"),  # ISO is never read day first
        (MONTHS, "%d/%m/%Y"),  # every day <= 12: month first is 12 days and a year's jump
        (MONTHS, "%m/%d/%Y"),
        (MONTHS, "%Y-%m-%d"),
    ],
)
def test_both_day_orders_read_the_times_written(times: pd.DatetimeIndex, fmt: str) -> None:
    np.testing.assert_array_equal(_read(times.strftime(fmt)), times.to_numpy())


def test_an_ambiguous_day_order_stays_month_first() -> None:
    """Twelve days written day first are also twelve months written month first, both on a
    grid without gaps: pandas' reading (month first) stays."""
    days = pd.date_range("2019-01-01", periods=12, freq="D").strftime("%d/%m/%Y")
    expected = pd.date_range("2019-01-01", periods=12, freq="MS")
    np.testing.assert_array_equal(_read(days), expected.to_numpy())


def test_a_value_no_order_reads_is_refused_naming_it() -> None:
    written = [*DAYS[:20].strftime("%d/%m/%Y").tolist(), "32/01/2020"]
    with pytest.raises(TimeAxisError, match=r"unparsable time '32/01/2020' at data row 21"):
        _read(pd.Index(written))


def _summer_time(days: int) -> pd.DatetimeIndex:
    return pd.date_range("2021-03-20", periods=days * 24, freq="h", tz="Europe/Paris")


def _with_offsets(times: pd.DatetimeIndex) -> pd.Index:
    return times.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"(\d\d)(\d\d)$", r"\1:\2", regex=True)


def test_offsets_that_change_with_summer_time_are_read_in_utc() -> None:
    local = _summer_time(14)  # 2021-03-28: clocks go from +01:00 to +02:00
    keys = _read(_with_offsets(local))
    np.testing.assert_array_equal(keys, local.tz_convert("UTC").tz_localize(None).to_numpy())
    assert set(np.diff(keys).astype(np.int64).tolist()) == {3600 * 10**9}  # one hour each


@pytest.mark.parametrize("freq", ["MS", "D", "B"])
def test_local_dates_with_a_timezone_keep_their_calendar_day(freq: str) -> None:
    """Local midnights (a timezone-aware Parquet column, or '+01:00' written in a CSV) are
    the days they name: in UTC they were the evening before, a month or a day early, and a
    summer-time change made the steps irregular."""
    local = pd.date_range("2021-01-01", periods=240, freq=freq, tz="Europe/Berlin")
    expected = local.tz_localize(None).to_numpy()
    np.testing.assert_array_equal(_read(pd.Index(local)), expected)
    np.testing.assert_array_equal(_read(_with_offsets(local)), expected)
    assert infer_freq(expected, "datetime") == freq


def _prepared(frame: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    """The metadata of ``frame`` (time column first, target second) as the prepare step reads it
    from a CSV file."""
    return _prepared_with(frame, tmp_path)


def _prepared_with(frame: pd.DataFrame, tmp_path: Path, **keys: Any) -> dict[str, Any]:
    frame.to_csv(tmp_path / "series.csv", index=False)
    overrides: dict[str, Any] = {
        "data.path": str(tmp_path / "series.csv"),
        "data.target": str(frame.columns[1]),
        "data.time_column": str(frame.columns[0]),
        "output_dir": str(tmp_path / "out"),
        **keys,
    }
    _, meta = prepare(load_config(None, overrides).resolved())
    return meta


def test_a_local_time_series_across_the_clock_change_runs_hourly(tmp_path: Path) -> None:
    """Prepared: hourly, no missing hour, a daily season; the published model's history check
    takes a history written the same way."""
    local = _summer_time(30)
    hours = np.asarray(local.hour)
    load = 20 + 8 * np.sin(2 * np.pi * hours / 24) + np.random.default_rng(0).normal(0, 1, 720)
    frame = pd.DataFrame({"time": _with_offsets(local), "load": load})
    meta = _prepared(frame, tmp_path)
    axis = meta["time_axis"]
    assert axis["freq"] == "h" and axis["filled_periods"] == 0 and axis["gaps"] == 0
    assert meta["seasonal_period"] == 24
    check_history(frame.tail(100), axis)


def test_a_day_first_daily_file_is_daily_without_gaps(tmp_path: Path) -> None:
    y = 50 + 5 * np.sin(2 * np.pi * np.arange(400) / 7)
    y += np.random.default_rng(0).normal(0, 1, 400)
    frame = pd.DataFrame({"date": DAYS.strftime("%d/%m/%Y"), "y": y})
    meta = _prepared(frame, tmp_path)
    axis = meta["time_axis"]
    assert axis["freq"] == "D" and axis["filled_periods"] == 0 and axis["gaps"] == 0
    assert meta["n_rows"] == 400 and meta["seasonal_period"] == 7


def test_a_short_history_is_read_in_the_models_day_order() -> None:
    """Ten days written day first read as ten months without gaps month first: the frequency
    the model was trained on decides, so the published model's check takes the history."""
    days = pd.date_range("2024-01-01", periods=10, freq="D")
    values = pd.Series(days.strftime("%d/%m/%Y"))
    rows = np.arange(10)
    _, _, keys = parse_times(values, "date", rows=rows, row_word="input row", freq="D")
    np.testing.assert_array_equal(keys, days.to_numpy())
    _, _, keys = parse_times(values, "date", rows=rows, row_word="input row")
    assert pd.Timestamp(keys[1]) == pd.Timestamp("2024-02-01")  # alone: pandas' month first
    axis = {"column": "date", "kind": "datetime", "freq": "D", "style": "date"}
    check_history(pd.DataFrame({"date": values}), axis)
    _, _, keys = parse_times(values, "date", rows=rows, row_word="input row", freq="nonsense")
    assert len(keys) == 10  # a data.freq that is no frequency is refused later, by its parser


def test_a_frequency_hint_never_prefers_times_off_its_grid() -> None:
    """Month starts written day first read month first are twelve days a year, more times than
    a monthly grid holds: with the model's frequency MS the day-first reading still wins, and
    the published model's check takes the history."""
    values = pd.Series(MONTHS.strftime("%d/%m/%Y"))
    rows = np.arange(len(values))
    _, _, keys = parse_times(values, "date", rows=rows, row_word="input row", freq="MS")
    np.testing.assert_array_equal(keys, MONTHS.to_numpy())
    axis = {"column": "date", "kind": "datetime", "freq": "MS", "style": "date"}
    check_history(pd.DataFrame({"date": values.tail(6)}), axis)


def test_times_with_and_without_an_offset_are_refused_naming_one() -> None:
    written = pd.Index(["2021-03-28T01:00:00+01:00", "2021-03-28T02:00:00", "2021-03-28T03:00Z"])
    with pytest.raises(TimeAxisError, match=r"'2021-03-28T02:00:00' at data row 2 has none"):
        _read(written)


def test_a_filled_day_of_a_timezone_aware_column_is_that_local_day(tmp_path: Path) -> None:
    days = pd.date_range("2021-03-01", periods=60, freq="D", tz="Europe/Berlin")  # spans 28 March
    frame = pd.DataFrame({"day": days, "y": np.arange(60.0)}).drop(index=[40])
    frame.to_parquet(tmp_path / "s.parquet")
    overrides: dict[str, Any] = {
        "data.path": str(tmp_path / "s.parquet"),
        "data.target": "y",
        "data.time_column": "day",
        "data.missing": "ffill",
        "output_dir": str(tmp_path / "out"),
    }
    parts, meta = prepare(load_config(None, overrides).resolved())
    assert meta["time_axis"]["freq"] == "D" and meta["time_axis"]["filled_periods"] == 1
    written = pd.concat([parts[s]["day"] for s in ("train", "val", "test")], ignore_index=True)
    assert written.tolist() == days.tolist()  # the filled day too, at its local midnight


def test_year_month_digits_are_months_in_training_and_serving(tmp_path: Path) -> None:
    """201001 … 202112 keyed as integers (a spreadsheet's or database's period key) is monthly;
    read as numbers it had 88 "missing periods" each December."""
    months = pd.date_range("2010-01-01", periods=48, freq="MS")
    keys = (months.year * 100 + months.month).to_numpy()
    frame = pd.DataFrame({"ym": keys, "y": np.arange(48.0)}).drop(index=[30])
    meta = _prepared_with(frame, tmp_path, **{"data.missing": "ffill"})
    axis = meta["time_axis"]
    assert (axis["freq"], axis["style"], axis["first"], axis["last"]) == (
        "MS",
        "yyyymm",
        "201001",
        "201312",
    )
    assert axis["filled_periods"] == 1
    history = pd.DataFrame({"ym": keys[-13:], "y": np.arange(13.0)})
    check_history(history, axis)  # the model's own keys: accepted, placed where they are
    assert history_offset(history, axis) == 48 - 13
    with pytest.raises(TimeAxisError, match="missing"):
        check_history(history.drop(index=[5]), axis)
    old_model = {**axis, "kind": "number", "style": "number", "freq": "1", "first": "201001"}
    check_history(history.tail(12), old_model)  # a model that read them as numbers still does
    days = pd.date_range("2020-01-01", periods=60, freq="D")
    digits = (days.year * 10000 + days.month * 100 + days.day).to_numpy()
    daily = _prepared_with(pd.DataFrame({"d": digits, "y": np.arange(60.0)}), tmp_path)
    daily_axis = daily["time_axis"]
    assert (daily_axis["freq"], daily_axis["style"]) == ("D", "yyyymmdd")
    served = pd.DataFrame({"d": digits[20:30], "y": np.arange(10.0)})
    check_history(served, daily_axis)  # its first period read as a date, not as nanoseconds
    assert history_offset(served, daily_axis) == 20
    _, _, days = parse_times(
        pd.Series([20100131, 20100201, 20100202]), "d", rows=np.arange(3), row_word="row"
    )
    assert pd.DatetimeIndex(days).strftime("%Y-%m-%d").tolist() == [
        "2010-01-31",
        "2010-02-01",
        "2010-02-02",
    ]
    _, _, steps = parse_times(
        pd.Series([100011, 100012, 100013]), "s", rows=np.arange(3), row_word="row"
    )
    assert steps.tolist() == [100011.0, 100012.0, 100013.0]  # month 13: numbers, not dates


@pytest.mark.parametrize(
    ("written", "first", "last"),
    [
        ("%b-%y", "1949-01-01", "1960-12-01"),  # Excel's mmm-yy; pandas put it in 2049
        ("%m/%d/%y", "1949-01-01", "1960-12-01"),
        ("%B %y", "1995-01-01", "2006-12-01"),  # across 2000: 'January 00' was refused
        ("%b-%y", "2010-01-01", "2021-12-01"),  # 'Jan-10' was read as 10 January, or refused
        ("%b-%y", "1960-01-01", "1975-12-01"),  # pandas put 60-68 in the 2060s, 69-75 not
        ("%b-%y", "2020-01-01", "2030-12-01"),  # past today: was 1927-1930 then 2020-2026
        ("%m/%d/%y", "1990-01-01", "2030-12-01"),
    ],
)
def test_two_digit_years_are_read_in_the_past(written: str, first: str, last: str) -> None:
    months = pd.date_range(first, last, freq="MS")
    keys = _read(pd.Index(months.strftime(written)))
    np.testing.assert_array_equal(keys, months.to_numpy())


def test_a_served_slice_is_read_in_the_clock_its_model_was_trained_in() -> None:
    """UTC midnights kept in Berlin are 01:00 in winter and 02:00 in summer: not local days,
    read in UTC, in the whole year and in a winter month alike."""
    utc = pd.date_range("2021-01-01", periods=365, freq="D", tz="UTC").tz_convert("Europe/Berlin")
    whole = _read(pd.Index(utc))
    winter = _read(pd.Index(utc[:30]))
    np.testing.assert_array_equal(winter, whole[:30])
    assert pd.DatetimeIndex(whole).hour.unique().tolist() == [0]  # midnight UTC, every day


@pytest.mark.parametrize("written", ["%b-%y", "%m/%d/%y"])
def test_a_served_slice_of_future_two_digit_years_is_read_where_the_model_has_it(
    tmp_path: Path, written: str
) -> None:
    """A model trained on ``Jan-15`` … ``Dec-30`` (2015-2030: it runs past today, so it keeps
    its century) and sent ``Jan-27`` … ``Dec-28`` alone: read by the file rule, every month is in
    the future and went to 1927, 1056 periods before the model's first (its classical models
    rebased there: the served forecast 6.1 off the whole history's)."""
    months = pd.date_range("2015-01-01", "2030-12-01", freq="MS")
    frame = pd.DataFrame({"month": months.strftime(written), "y": np.arange(len(months), 0.0, -1)})
    axis = _prepared(frame, tmp_path)["time_axis"]
    assert (axis["first"], axis["last"]) == ("2015-01-01", "2030-12-01")  # training: unchanged
    start = months.get_loc(pd.Timestamp("2027-01-01"))
    for first, count in ((start, 24), (start - 6, 12), (len(months) - 5, 5)):  # future, across
        served = frame.iloc[first : first + count]
        check_history(served, axis)
        assert history_offset(served, axis) == first
        spec = {"history": fitted_rows(frame["y"].to_numpy(), 150), "time_axis": axis}
        _, lead = served_spec({**spec, "featurizer": {}}, served, served["y"].to_numpy())
        assert lead.tolist() == frame["y"].iloc[:first].tolist()  # the stored rows before it
    values = frame["month"].iloc[start : start + 24].reset_index(drop=True)
    _, _, alone = parse_times(values, "month", rows=np.arange(24), row_word="input row")
    assert pd.Timestamp(alone[0]).year == 1927  # a file of those months alone: still the past
    after = pd.Series(pd.date_range("1961-01-01", periods=6, freq="MS").strftime(written))
    old = {"column": "m", "kind": "datetime", "freq": "MS", "style": "date", "first": "1949-01-01"}
    for model in (old, {**old, "last": "1960-12-01"}):  # a model that recorded no last, too
        check_history(pd.DataFrame({"m": after}), model)
        assert history_offset(pd.DataFrame({"m": after}), model) == 144  # Jan-61: 1961

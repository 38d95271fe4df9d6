"""Forecasting straight from a Monash repository ``.tsf`` file (real files, real prepare step):
aeon's copy of the M1 yearly file read as 181 series equal to aeon's own reader, the bundled
airline series written as a one-series ``.tsf`` preparing exactly as its CSV, times counted in
every frequency the repository uses, missing values, and the refusals (one line naming the file
and its line; exit 2 from the CLI with nothing written)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstmtune.cli import main
from lstmtune.config import load_config
from lstmtune.data.prepare import prepare
from lstmtune.data.tsf import read_tsf, tsf_line
from lstmtune.errors import UserError

M1 = Path(__import__("aeon").__file__).parent / "datasets/data/m1_yearly_dataset"
AIRLINE = Path(__import__("lstmtune").__file__).parent / "example_data" / "airline_passengers.csv"
HEADER = "@relation x\n@attribute series_name string\n@attribute start_timestamp date\n"


def _data(path: Path | str, **keys: Any) -> Any:
    return load_config(None, {"data.path": str(path), **keys}).resolved().data


def _write(tmp_path: Path, body: str, frequency: str = "monthly", name: str = "x.tsf") -> Path:
    path = tmp_path / name
    path.write_text(f"# comment\n{HEADER}@frequency {frequency}\n@horizon 2\n@data\n{body}")
    return path


def _airline_tsf(tmp_path: Path) -> Path:
    values = ",".join(str(v) for v in pd.read_csv(AIRLINE)["passengers"])
    return _write(tmp_path, f"T1:1949-01-01 00-00-00:{values}\n", name="airline.tsf")


def test_the_m1_yearly_file_reads_as_aeons_reader_does() -> None:
    from aeon.datasets import load_from_tsf_file

    read = read_tsf(_data(M1 / "m1_yearly_dataset.tsf"))
    assert read is not None
    want, info = load_from_tsf_file(str(M1 / "m1_yearly_dataset.tsf"))
    frame = read.frame
    assert list(frame.columns) == ["series", "time", "value"] and frame["series"].nunique() == 181
    for name, start, values in want.itertuples(index=False):
        one = frame[frame["series"] == name]
        np.testing.assert_array_equal(one["value"].to_numpy(), np.asarray(values, dtype=float))
        years = pd.DatetimeIndex(one["time"]).year
        assert list(years) == list(range(start.year, start.year + len(values)))
    assert (read.data.target, read.data.time_column, read.data.series_column) == (
        "value",
        "time",
        "series",
    )
    assert read.note["horizon"] == info["forecast_horizon"] == 6
    assert tsf_line(read.note, 1) == (
        "read the Monash repository's m1_yearly_dataset.tsf: 181 series of 15 to 58 yearly "
        "values, as the columns series, time, value; its @horizon 6 is not applied (data.horizon"
        " 1; --horizon 6 forecasts as its benchmark does)"
    )
    assert "@horizon" not in tsf_line(read.note, 6)


def test_a_one_series_file_prepares_as_its_csv(tmp_path: Path) -> None:
    path = _airline_tsf(tmp_path)
    parts, meta = prepare(load_config(None, {"data.path": str(path)}).resolved())
    csv_cfg = load_config(
        None, {"data.path": str(AIRLINE), "data.target": "passengers", "data.time_column": "month"}
    ).resolved()
    want_parts, want = prepare(csv_cfg)
    for split in ("train", "val", "test"):
        assert parts[split]["value"].tolist() == want_parts[split]["passengers"].tolist()
        times = pd.to_datetime(want_parts[split]["month"])
        assert list(pd.to_datetime(parts[split]["time"])) == list(times)
    assert meta["time_axis"]["freq"] == want["time_axis"]["freq"] == "MS"
    assert meta["seasonal_period"] == want["seasonal_period"] == 12
    assert meta["archive"]["kind"] == "tsf" and not meta.get("panel")
    assert meta["dataset_name"] == "airline"
    assert tsf_line(meta["archive"], 2).startswith(
        "read the Monash repository's airline.tsf: 144 monthly values, as the columns time, value"
    )


@pytest.mark.parametrize(
    ("frequency", "start", "second", "last"),
    [
        ("yearly", "1972-01-01 00-00-00", "1973-01-01", "1975-01-01"),
        ("quarterly", "1990-04-01 00-00-00", "1990-07-01", "1991-01-01"),
        ("monthly", "2000-01-31 00-00-00", "2000-02-29", "2000-04-30"),
        ("weekly", "2015-01-04 00-00-00", "2015-01-11", "2015-01-25"),
        ("half_hourly", "2014-01-01 23-30-00", "2014-01-02 00:00", "2014-01-02 01:00"),
        ("10_minutes", "2019-06-01 00-00-00", "2019-06-01 00:10", "2019-06-01 00:30"),
        ("4_seconds", "2019-08-01 00-00-00", "2019-08-01 00:00:04", "2019-08-01 00:00:12"),
    ],
)
def test_times_are_counted_from_the_start_in_the_files_frequency(
    tmp_path: Path, frequency: str, start: str, second: str, last: str
) -> None:
    read = read_tsf(_data(_write(tmp_path, f"A:{start}:1,2,3,4\n", frequency)))
    assert read is not None
    times = pd.DatetimeIndex(read.frame["time"])
    assert (times[1], times[-1]) == (pd.Timestamp(second), pd.Timestamp(last))


def test_without_a_date_attribute_the_steps_are_numbered(tmp_path: Path) -> None:
    path = tmp_path / "x.tsf"
    path.write_text("@attribute series_name string\n@frequency monthly\n@data\nA:1,2,3\nB:4,5\n")
    read = read_tsf(_data(path))
    assert read is not None
    assert read.frame["time"].tolist() == [0, 1, 2, 0, 1]
    assert read.frame["series"].tolist() == ["A", "A", "A", "B", "B"]
    assert "(no date attribute: the steps are numbered 0, 1, …)" in tsf_line(read.note, 1)


def test_missing_values_are_named_or_left_to_the_missing_setting(tmp_path: Path) -> None:
    path = _write(tmp_path, "A:2000-01-01 00-00-00:1,2,3\nB:2000-01-01 00-00-00:4,?,6\n")
    with pytest.raises(UserError) as caught:
        read_tsf(_data(path))
    assert str(caught.value) == (
        f"{path}: line 9: series 'B': value 2 is missing ('?'); data.missing: interpolate (or"
        " ffill) fills missing values"
    )
    read = read_tsf(_data(path, **{"data.missing": "interpolate"}))
    assert read is not None and np.isnan(read.frame["value"].to_numpy()[4])


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("A:1,2,3\n", r"line 8: 1 attribute value\(s\) where the header declares 2"),
        ("A:2000-01-01 00-00-00:1,x,3\n", r"line 8: value 2 'x' is not a number"),
        ("A:2000-13-01 00-00-00:1,2\n", r"line 8: start_timestamp '2000-13-01 00-00-00' is not"),
        ("A:2000-01-01 00-00-00:?,?\n", r"line 8: series 'A' holds no value"),
        (
            "A:2000-01-01 00-00-00:1,2\nA:2000-01-01 00-00-00:3\n",
            r"line 9: series 'A' again \(line 8\); a series is named by its attributes",
        ),
        ("", r"no series after @data"),
    ],
)
def test_a_malformed_file_is_refused_naming_its_line(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(UserError, match=match):
        read_tsf(_data(_write(tmp_path, body)))


def test_an_unknown_tag_and_settings_naming_other_columns_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.tsf"
    path.write_text("@attribute series_name string\n@seasonality 12\n@data\nA:1,2\n")
    with pytest.raises(UserError, match=r"line 2: '@seasonality 12' is no tag of a .tsf file"):
        read_tsf(_data(path))
    good = _airline_tsf(tmp_path)
    with pytest.raises(UserError, match=r"data.target 'passengers' names no column of a .tsf"):
        read_tsf(_data(good, **{"data.target": "passengers"}))
    with pytest.raises(UserError, match=r"data.series_column 'series' names no column"):
        read_tsf(_data(good, **{"data.series_column": "series"}))  # one series: no such column
    with pytest.raises(UserError, match=r"holds series to forecast \(data.task forecast"):
        read_tsf(_data(good, **{"data.task": "classify"}))
    same = read_tsf(_data(good, **{"data.target": "value"}))
    assert same is not None and same.data.target == "value"


def test_a_gzip_file_reads_as_the_file_it_holds(tmp_path: Path) -> None:
    plain = _airline_tsf(tmp_path)
    packed = tmp_path / "airline.tsf.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    read, want = read_tsf(_data(packed)), read_tsf(_data(plain))
    assert read is not None and want is not None
    pd.testing.assert_frame_equal(read.frame, want.frame)


def test_the_cli_refuses_a_bad_file_in_one_line_writing_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "A:2000-01-01 00-00-00:1,2,oops\n")
    dataset = tmp_path / "dataset"
    args = ["prepare", "--data", str(path), "--dataset-dir", str(dataset)]
    rc = main([*args, "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and not dataset.exists()
    assert err[0].endswith(f"{path}: line 8: value 3 'oops' is not a number")


def test_the_prepare_step_says_what_it_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _airline_tsf(tmp_path)
    args = ["prepare", "--data", str(path), "--dataset-dir", str(tmp_path / "dataset")]
    assert main([*args, "--output-dir", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr()
    assert (
        "read the Monash repository's airline.tsf: 144 monthly values, as the columns time, "
        "value; its @horizon 2 is not applied (data.horizon 1; --horizon 2 forecasts as its "
        "benchmark does)"
    ) in printed.out + printed.err


def test_series_named_by_a_group_and_a_name_are_told_apart() -> None:
    path = M1.parent / "UnitTest" / "UnitTest_Tsf_Loader_hierarchical.tsf"
    read = read_tsf(_data(path))
    assert read is not None
    assert list(read.frame["series"].unique()[:3]) == ["G1/T1", "G1/T2", "G2/T3"]


@pytest.mark.parametrize(
    ("start", "frequency", "count"),
    [("1600-01-01 00-00-00", "yearly", 40), ("2240-01-01 00-00-00", "yearly", 40)],
)
def test_times_pandas_cannot_hold_are_numbered_steps_saying_why(
    tmp_path: Path, start: str, frequency: str, count: int
) -> None:
    values = ",".join(str(v) for v in range(count))
    read = read_tsf(_data(_write(tmp_path, f"A:{start}:{values}\n", frequency)))
    assert read is not None and read.frame["time"].tolist() == list(range(count))
    assert "(times outside the years 1677-2262 that pandas' times hold: the steps are numbered" in (
        tsf_line(read.note, 1)
    )


def test_an_empty_start_time_is_refused_naming_its_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"line 8: start_timestamp is empty"):
        read_tsf(_data(_write(tmp_path, "A::1,2,3\n")))


def test_a_daily_file_from_long_ago_is_dated(tmp_path: Path) -> None:
    values = ",".join(str(v) for v in range(200))
    read = read_tsf(_data(_write(tmp_path, f"A:1818-01-01 00-00-00:{values}\n", "daily")))
    assert read is not None  # the sunspots' daily file starts in 1818
    times = pd.DatetimeIndex(read.frame["time"])
    assert (times[0], times[-1]) == (pd.Timestamp("1818-01-01"), pd.Timestamp("1818-07-19"))

"""The time axis of a forecast series: frequency inference, duplicates, missing periods, irregular
times and data.freq, in the preparer and in the published pyfunc (one code path, data.timeaxis).

The CLI contract for the rejected cases (exit 2, one line) is in test_bad_input.py; the slow test
here runs the whole pipeline through the CLI on a series with a gap and checks the registered
model's tag and its pyfunc's checks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY_SPACE

from lstmtune.config import RunConfig, example_data_path, load_config
from lstmtune.data.history_check import check_history
from lstmtune.data.prepare import SPLITS, prepare
from lstmtune.data.timeaxis import TimeAxisError, infer_freq, place
from lstmtune.errors import UserError

DATA = Path(__file__).parent / "data"


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., RunConfig]:
    def make(path: str | Path, **overrides: Any) -> RunConfig:
        base: dict[str, Any] = {"data.path": str(path), "output_dir": str(tmp_path / "out")}
        base.update({k.replace("__", "."): v for k, v in overrides.items()})
        return load_config(None, base).resolved()

    return make


def airline() -> pd.DataFrame:
    return pd.read_csv(example_data_path())


def without(frame: pd.DataFrame, times: list[str], column: str = "month") -> pd.DataFrame:
    keep = ~frame[column].astype(str).isin(times)
    assert (~keep).sum() == len(times)
    return frame[keep].reset_index(drop=True)


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def joined(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([parts[s] for s in SPLITS], ignore_index=True)


# --- the bundled and the development series ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "column", "target", "freq", "rows", "first", "last", "season"),
    [
        ("ausbeer.csv", "quarter", "megalitres", "QS-JAN", 211, "1956Q1", "2008Q3", 4),
        ("woolyrnq.csv", "quarter", "tonnes", "QS-JAN", 119, "1965Q1", "1994Q3", 4),
        ("wineind.csv", "month", "sales", "MS", 176, "1980-01", "1994-08", 12),
        ("taylor_2weeks.csv", "step", "demand_mw", "1", 672, "0", "671", None),
    ],
)
def test_dev_series_parse_with_their_frequency(
    make_cfg,
    name: str,
    column: str,
    target: str,
    freq: str,
    rows: int,
    first: str,
    last: str,
    season: int | None,
) -> None:
    cfg = make_cfg(DATA / name, data__target=target, data__time_column=column)
    parts, meta = prepare(cfg)
    axis = meta["time_axis"]
    assert axis["freq"] == freq and axis["freq_source"] == "inferred"
    assert (axis["first"], axis["last"]) == (first, last)
    assert axis["gaps"] == 0 and axis["filled_periods"] == 0 and axis["fill"] is None
    assert meta["n_rows"] == rows
    if season is not None:
        assert meta["seasonal_period"] == season
    # the file's own time values are kept as they are
    raw = pd.read_csv(DATA / name)
    assert joined(parts)[column].astype(str).tolist() == raw[column].astype(str).tolist()


def test_bundled_airline_is_monthly_without_gaps(make_cfg) -> None:
    _, meta = prepare(
        make_cfg(example_data_path(), data__target="passengers", data__time_column="month")
    )
    assert meta["time_axis"]["freq"] == "MS"
    assert meta["time_axis"]["filled_periods"] == 0
    assert meta["n_rows"] == 144 and meta["seasonal_period"] == 12


def test_without_time_column_rows_are_taken_as_they_are(tmp_path: Path, make_cfg) -> None:
    frame = airline().drop(columns=["month"])
    _, meta = prepare(make_cfg(write(frame, tmp_path / "s.csv"), data__target="passengers"))
    assert meta["time_axis"] is None and meta["n_rows"] == 144


# --- frequency inference ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "freq"),
    [
        (pd.date_range("2020-01-01", periods=40, freq="D"), "D"),
        (pd.date_range("2020-01-06", periods=40, freq="B"), "B"),
        (pd.date_range("2020-01-05", periods=40, freq="W-SUN"), "W-SUN"),
        (pd.date_range("2020-01-01 08:00", periods=40, freq="30min"), "30min"),
        (pd.date_range("2020-01-01", periods=40, freq="h"), "h"),
        (pd.date_range("2020-01-31", periods=40, freq="ME"), "ME"),
        (pd.date_range("2020-02-01", periods=40, freq="QS-FEB"), "QS-FEB"),
        (pd.date_range("1900-01-01", periods=40, freq="YS"), "YS-JAN"),
        (pd.date_range("2020-01-01", periods=40, freq="2MS"), "2MS"),
    ],
)
def test_infer_freq_of_dates(times: pd.DatetimeIndex, freq: str) -> None:
    keys = times.as_unit("ns").to_numpy()
    assert infer_freq(keys, "datetime") == freq
    # a few missing periods do not hide the frequency
    assert infer_freq(np.delete(keys, [3, 4, 20]), "datetime") == freq


@pytest.mark.parametrize(
    ("values", "freq"),
    [(np.arange(40.0), "1"), (np.arange(0, 200, 5.0), "5"), (np.arange(0, 20, 0.5), "0.5")],
)
def test_infer_freq_of_numbers(values: np.ndarray, freq: str) -> None:
    assert infer_freq(values, "number") == freq
    assert infer_freq(np.delete(values, [10, 11]), "number") == freq


@pytest.mark.parametrize("per_year", [7, 52])
def test_decimal_years_as_r_writes_them(per_year: int) -> None:
    """R's ``time()`` of a ts object (``1949, 1949.14285714286, ...``; 12 significant digits in
    a CSV) of a step that is no month, quarter or half (read as dates since 2026-12-04:
    :mod:`tests.test_decimal_years`): every row is on the grid of numbers, also in a long
    series, and the consumer's history of the same kind passes the published model's check."""
    times = np.array([float(f"{1949 + i / per_year:.12g}") for i in range(2000)])
    placed = place(pd.Series(times), "time", freq=None, snap=False)
    assert np.array_equal(placed.positions, np.arange(2000))
    assert abs(float(placed.axis.freq) - 1 / per_year) < 1e-10
    axis = {**placed.axis.to_dict(), "freq_source": "inferred"}
    check_history(pd.DataFrame({"time": times[-300:]}), axis)
    gap = np.delete(times, 700)
    assert place(pd.Series(gap), "time", freq=None, snap=False).gaps == [(700, 1)]


@pytest.mark.parametrize(("per_year", "places"), [(7, 6), (7, 4), (52, 6), (52, 4)])
def test_decimal_years_written_rounded(per_year: int, places: int) -> None:
    """Decimal years of a step that is no month, quarter or half, rounded to a few places
    (``1987.142857``, as many exports write them): the exact 1/k step, every row on its grid,
    a missing period found as a gap, and a history written the same way passes the model's
    check (months and quarters so written are dates: :mod:`tests.test_decimal_years`)."""
    times = np.round(1987 + np.arange(300) / per_year, places)
    placed = place(pd.Series(times), "time", freq=None, snap=False)
    assert placed.axis.freq == f"{1 / per_year:.12g}"
    assert np.array_equal(placed.positions, np.arange(300))
    gap = np.delete(times, [100, 101])
    assert place(pd.Series(gap), "time", freq=None, snap=False).gaps == [(100, 2)]
    axis = {**placed.axis.to_dict(), "freq_source": "inferred"}
    check_history(pd.DataFrame({"time": np.round(times[-50:], places)}), axis)
    with pytest.raises(TimeAxisError, match="fit no frequency"):  # off the grid by a tenth
        place(pd.Series(np.r_[times[:50], times[50:] + 0.1 / per_year]), "time", freq=None,
              snap=False)  # fmt: skip


def test_whole_number_times_get_no_rounding_slack() -> None:
    """Whole numbers are exact: a step of 1000 with a row 1 off is irregular, not rounded."""
    times = np.arange(0, 50_000, 1000.0)
    times[[10, 20]] += 1
    with pytest.raises(TimeAxisError, match="fit no frequency"):
        place(pd.Series(times), "time", freq=None, snap=False)


def test_decimal_years_file_is_monthly_with_season_12(tmp_path: Path, make_cfg) -> None:
    """A monthly series as R writes ``data.frame(time = time(x), value = x)``: prepared as
    months (``MS``, since 2026-12-04; a step of 0.0833333333333 before), the season 12 from the
    calendar, the last time labelled as R writes it; a history of the same kind passes the
    published model's check, an empty one is left to the lookback check, and the grid refuses
    no times with one line."""
    t = np.arange(144)  # a season too weak for the scan alone (it finds none)
    values = 100 + 2 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 1, 144)
    times = [float(f"{1949 + i / 12:.15g}") for i in t]
    pd.DataFrame({"time": times, "value": values}).to_csv(tmp_path / "air.csv", index=False)
    _, meta = prepare(
        make_cfg(tmp_path / "air.csv", data__target="value", data__time_column="time")
    )
    assert meta["seasonal_period"] == 12 and meta["time_axis"]["gaps"] == 0
    assert meta["time_axis"]["last"] == "1960.91666666667"
    assert meta["time_axis"]["freq"] == "MS" and meta["time_axis"]["style"] == "decimal_year"
    check_history(pd.DataFrame({"time": pd.Series([], dtype=float)}), meta["time_axis"])
    with pytest.raises(TimeAxisError, match="has no times"):
        place(pd.Series([], dtype=float), "time", freq=None, snap=False)


@pytest.mark.parametrize("written", ["1956Q1", "1956 Q1", "1956-Q1", "1956q1"])
def test_quarters_are_read_in_common_spellings(written: str) -> None:
    sep = written[4:-2]
    q = "q" if written.endswith("q1") else "Q"
    values = pd.Series([f"{1956 + i // 4}{sep}{q}{i % 4 + 1}" for i in range(20)])
    placed = place(values, "quarter", freq=None, snap=False)
    assert placed.axis.freq == "QS-JAN" and placed.axis.style == "quarter"
    assert placed.axis.label(placed.grid[-1]) == "1960Q4"


def test_parquet_datetime_column(tmp_path: Path, make_cfg) -> None:
    frame = airline()
    frame["month"] = pd.to_datetime(frame["month"])
    frame = frame.drop(index=[30, 31]).reset_index(drop=True)
    frame.to_parquet(tmp_path / "s.parquet")
    parts, meta = prepare(
        make_cfg(
            tmp_path / "s.parquet",
            data__target="passengers",
            data__time_column="month",
            data__missing="ffill",
        )
    )
    times = joined(parts)["month"]
    assert pd.api.types.is_datetime64_any_dtype(times)
    assert times.tolist() == list(pd.date_range("1949-01-01", periods=144, freq="MS"))
    assert meta["time_axis"]["filled_periods"] == 2


# --- duplicates, gaps, irregular times in the preparer ----------------------------------------


def test_duplicated_month_names_value_and_both_rows(tmp_path: Path, make_cfg) -> None:
    frame = pd.concat([airline(), airline().iloc[[5]]], ignore_index=True)
    path = write(frame, tmp_path / "dup.csv")
    with pytest.raises(UserError) as info:
        prepare(make_cfg(path, data__target="passengers", data__time_column="month"))
    msg = str(info.value)
    assert str(path) in msg and "'1949-06' twice" in msg and "data rows 6 and 145" in msg


def test_duplicate_is_refused_even_with_a_fill_policy(tmp_path: Path, make_cfg) -> None:
    frame = pd.DataFrame({"t": [0, 1, 2, 2, 3, *range(4, 60)], "y": np.arange(61.0)})
    path = write(frame, tmp_path / "dup.csv")
    with pytest.raises(UserError, match=r"'2' twice, at data rows 3 and 4"):
        prepare(
            make_cfg(path, data__target="y", data__time_column="t", data__missing="interpolate")
        )


@pytest.mark.parametrize(
    ("removed", "message"),
    [
        (["1949-02", "1949-03"], "1949-02 … 1949-03 missing, 2 periods (1 gap)"),
        (["1951-04", "1951-05", "1951-06"], "1951-04 … 1951-06 missing, 3 periods (1 gap)"),
        (["1960-11"], "1960-11 missing, 1 period (1 gap)"),
        (
            ["1951-04", "1951-05", "1951-06", "1955-01", "1960-11"],
            "1951-04 … 1951-06 missing, 3 periods (first of 3 gaps, 5 missing periods in all)",
        ),
    ],
    ids=["start", "middle", "end", "three-gaps"],
)
def test_missing_months_name_the_first_gap(
    tmp_path: Path, make_cfg, removed: list[str], message: str
) -> None:
    path = write(without(airline(), removed), tmp_path / "gap.csv")
    with pytest.raises(UserError) as info:
        prepare(make_cfg(path, data__target="passengers", data__time_column="month"))
    msg = str(info.value)
    assert message in msg, msg
    assert "column 'month'" in msg and "frequency MS" in msg and "data.missing" in msg


@pytest.mark.parametrize("fill", ["ffill", "interpolate"])
def test_missing_months_filled_on_the_grid(tmp_path: Path, make_cfg, fill: str) -> None:
    full = airline()
    path = write(without(full, ["1951-04", "1951-05", "1951-06"]), tmp_path / "gap.csv")
    parts, meta = prepare(
        make_cfg(path, data__target="passengers", data__time_column="month", data__missing=fill)
    )
    series = joined(parts)
    assert series["month"].tolist() == full["month"].tolist()  # filled periods written as months
    assert meta["n_rows"] == 144 and meta["seasonal_period"] == 12
    axis = meta["time_axis"]
    assert (axis["gaps"], axis["filled_periods"], axis["fill"]) == (1, 3, fill)
    before, after = full.loc[26, "passengers"], full.loc[30, "passengers"]  # 1951-03, 1951-07
    got = series.loc[27:29, "passengers"].to_numpy()
    if fill == "ffill":
        np.testing.assert_allclose(got, [before] * 3)
    else:
        np.testing.assert_allclose(got, before + (after - before) * np.arange(1, 4) / 4)
    # every other month keeps its own value
    keep = ~series["month"].isin(["1951-04", "1951-05", "1951-06"])
    np.testing.assert_allclose(series.loc[keep, "passengers"], full.loc[keep, "passengers"])


def test_interpolation_of_a_gap_stays_inside_each_split(tmp_path: Path, make_cfg) -> None:
    """The airline split is 100/22/22: the gap covers the last train month and the first two
    validation months. Train is filled from train alone (no leakage), validation from validation."""
    full = airline()
    gap = ["1957-04", "1957-05", "1957-06"]  # data rows 100 … 102; train is the first 100
    path = write(without(full, gap), tmp_path / "gap.csv")
    parts, meta = prepare(
        make_cfg(
            path,
            data__target="passengers",
            data__time_column="month",
            data__missing="interpolate",
        )
    )
    assert meta["splits"]["train"]["end"] == 100
    assert parts["train"]["month"].iloc[-1] == "1957-04"
    assert parts["train"]["passengers"].iloc[-1] == full.loc[98, "passengers"]  # 1957-03
    assert parts["val"]["month"].iloc[:2].tolist() == ["1957-05", "1957-06"]
    np.testing.assert_allclose(parts["val"]["passengers"].iloc[:2], full.loc[102, "passengers"])


def test_split_column_follows_filled_periods(tmp_path: Path, make_cfg) -> None:
    full = airline()
    full["split"] = ["train"] * 110 + ["val"] * 14 + ["test"] * 20
    path = write(without(full, ["1958-02", "1958-03"]), tmp_path / "gap.csv")  # rows 110, 111
    parts, meta = prepare(
        make_cfg(
            path,
            data__target="passengers",
            data__time_column="month",
            data__split_column="split",
            data__missing="ffill",
        )
    )
    # a filled period belongs to the split of the row before it: 1958-03 (val in the full
    # series) follows 1958-01 (train) here
    assert tuple(meta["splits"][s]["rows"] for s in SPLITS) == (111, 13, 20)
    assert parts["train"]["month"].iloc[-2:].tolist() == ["1958-02", "1958-03"]
    assert parts["val"]["month"].iloc[0] == "1958-04"


@pytest.mark.parametrize(
    ("name", "column", "target", "drop", "message"),
    [
        ("ausbeer.csv", "quarter", "megalitres", [137], "1990Q2 missing, 1 period"),
        ("woolyrnq.csv", "quarter", "tonnes", [1, 2], "1965Q2 … 1965Q3 missing, 2 periods"),
        (
            "taylor_2weeks.csv",
            "step",
            "demand_mw",
            list(range(300, 305)),
            "300 … 304 missing, 5 periods",
        ),
        ("taylor_2weeks.csv", "step", "demand_mw", [670], "670 missing, 1 period"),
    ],
)
def test_gaps_in_quarters_and_integer_steps(
    tmp_path: Path, make_cfg, name: str, column: str, target: str, drop: list[int], message: str
) -> None:
    raw = pd.read_csv(DATA / name)
    path = write(raw.drop(index=drop), tmp_path / name)
    cfg = make_cfg(path, data__target=target, data__time_column=column)
    with pytest.raises(UserError) as info:
        prepare(cfg)
    assert message in str(info.value), str(info.value)
    parts, meta = prepare(
        make_cfg(path, data__target=target, data__time_column=column, data__missing="interpolate")
    )
    assert meta["time_axis"]["filled_periods"] == len(drop)
    assert joined(parts)[column].astype(str).tolist() == raw[column].astype(str).tolist()


def _jittered_hours(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Readings once an hour at a random minute (and two hours without a reading)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-03-01")
    stamps = [start + pd.Timedelta(hours=i, seconds=int(rng.integers(0, 3600))) for i in range(n)]
    y = 50 + 10 * np.sin(np.arange(n) * 2 * np.pi / 24) + rng.normal(0, 1, n)
    frame = pd.DataFrame({"time": [s.isoformat(sep=" ") for s in stamps], "y": y})
    return frame.drop(index=[100, 101]).reset_index(drop=True)


def test_irregular_times_refused_without_freq(tmp_path: Path, make_cfg) -> None:
    path = write(_jittered_hours(), tmp_path / "irregular.csv")
    with pytest.raises(UserError, match=r"column 'time'.*irregular times.*data.freq"):
        prepare(make_cfg(path, data__target="y", data__time_column="time"))


def test_irregular_times_put_on_the_data_freq_grid(tmp_path: Path, make_cfg) -> None:
    frame = _jittered_hours()
    path = write(frame, tmp_path / "irregular.csv")
    cfg = make_cfg(path, data__target="y", data__time_column="time", data__freq="h")
    with pytest.raises(UserError, match=r"2024-03-05 04:00:00 … 2024-03-05 05:00:00 missing"):
        prepare(cfg)  # the two hours without a reading are a gap like any other
    parts, meta = prepare(
        make_cfg(
            path,
            data__target="y",
            data__time_column="time",
            data__freq="h",
            data__missing="interpolate",
        )
    )
    axis = meta["time_axis"]
    assert (axis["freq"], axis["freq_source"], axis["filled_periods"]) == ("h", "data.freq", 2)
    assert meta["n_rows"] == 300 and meta["seasonal_period"] == 24
    series = joined(parts)
    np.testing.assert_allclose(series["y"].drop(index=[100, 101]), frame["y"])
    # a coarser grid than the data puts two readings in one period: refused, naming both rows
    with pytest.raises(UserError, match=r"data.freq D puts data rows 1 and 2"):
        prepare(make_cfg(path, data__target="y", data__time_column="time", data__freq="D"))


@pytest.mark.parametrize(
    ("freq", "fragment"),
    [("bogus", "not a pandas offset alias"), (3, "is a number"), ("s", "choose a coarser")],
)
def test_bad_data_freq_for_dates(tmp_path: Path, make_cfg, freq: Any, fragment: str) -> None:
    path = write(airline(), tmp_path / "s.csv")
    with pytest.raises(UserError, match=fragment):
        prepare(
            make_cfg(path, data__target="passengers", data__time_column="month", data__freq=freq)
        )


def test_data_freq_for_numbers_and_without_time_column(tmp_path: Path, make_cfg) -> None:
    frame = pd.DataFrame({"t": np.arange(0, 300, 5), "y": np.sin(np.arange(60.0))})
    path = write(frame.drop(index=[7]), tmp_path / "s.csv")
    parts, meta = prepare(
        make_cfg(path, data__target="y", data__time_column="t", data__freq=5, data__missing="ffill")
    )
    assert meta["time_axis"]["freq"] == "5" and meta["time_axis"]["filled_periods"] == 1
    assert joined(parts)["t"].tolist() == list(range(0, 300, 5))
    with pytest.raises(UserError, match="not a step"):
        prepare(make_cfg(path, data__target="y", data__time_column="t", data__freq="MS"))
    with pytest.raises(UserError, match=r"needs data\.time_column"):
        prepare(make_cfg(path, data__target="y", data__freq="MS"))


# --- the published model's check of a consumer's history --------------------------------------

MONTHLY = {"column": "month", "kind": "datetime", "freq": "MS", "style": "month"}


def test_check_history_accepts_a_regular_history_and_one_without_times() -> None:
    check_history(airline().tail(30), MONTHLY)
    check_history(airline().drop(columns=["month"]), MONTHLY)
    check_history(airline(), None)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda f: pd.concat([f, f.iloc[[3]]]), "'1960-04' twice, at input rows 4 and 13"),
        (lambda f: f.drop(index=f.index[4:6]), "1960-05 … 1960-06 missing, 2 periods"),
        (lambda f: f.iloc[::-1], "not in time order ('1960-11' at input row 2 comes after"),
        (
            lambda f: f.iloc[[0, 1, 2, 4, 3, 5, 6, 7, 8, 9, 10, 11]],
            "('1960-04' at input row 5 comes after a later time)",
        ),
        (
            lambda f: f.assign(month=f["month"].str.replace("1960-05", "1960-05-15")),
            "'1960-05-15' at input row 5 is not on the MS grid",
        ),
        (lambda f: f.assign(month=np.arange(len(f))), "holds numbers; the model was trained on"),
    ],
    ids=["duplicate", "gap", "order", "swapped", "off-grid", "kind"],
)
def test_check_history_refuses(edit: Callable[[pd.DataFrame], pd.DataFrame], fragment: str) -> None:
    history = airline().tail(12).reset_index(drop=True)
    with pytest.raises(TimeAxisError) as info:
        check_history(edit(history), MONTHLY)
    assert fragment in str(info.value), str(info.value)
    assert str(info.value).startswith("input column 'month'"), str(info.value)
    assert isinstance(info.value, ValueError)


def test_check_history_puts_times_on_a_stated_data_freq_grid() -> None:
    """A model trained with data.freq takes a history of irregular times the same way: each row
    in its period; a missing period is still refused."""
    history = _jittered_hours().head(48)
    hourly = {"column": "time", "kind": "datetime", "freq": "h", "style": "datetime"}
    with pytest.raises(TimeAxisError, match="is not on the h grid"):
        check_history(history, hourly)
    check_history(history, {**hourly, "freq_source": "data.freq"})
    with pytest.raises(TimeAxisError, match=r"2024-03-01 05:00:00 missing, 1 period"):
        check_history(history.drop(index=[5]), {**hourly, "freq_source": "data.freq"})


# --- the whole pipeline through the CLI: a filled gap, the tag and the pyfunc's checks ---------


@pytest.mark.slow
def test_cli_run_fills_a_gap_and_the_pyfunc_checks_the_history(tmp_path: Path) -> None:
    import mlflow

    full = airline()
    path = write(without(full, ["1951-04", "1951-05", "1951-06"]), tmp_path / "gap.csv")
    out = tmp_path / "out"
    config = {
        "data": {
            "path": str(path),
            "target": "passengers",
            "time_column": "month",
            "missing": "interpolate",
        },
        "tune": {"n_trials": 2, "search_space": dict(TINY_SPACE)},
        "train": {"patience": 3},
        "output_dir": str(out),
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "lstmtune.cli", "run", "--config", str(tmp_path / "c.yaml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "freq MS, 3 missing periods filled (interpolate)" in proc.stdout, proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    metadata = [json.loads(p.read_text()) for p in out.rglob("metadata.json")]
    assert metadata and all(m["time_axis"]["filled_periods"] == 3 for m in metadata)

    mlflow.set_tracking_uri(summary["tracking_uri"])
    client = mlflow.MlflowClient(summary["tracking_uri"])
    version = client.get_model_version(summary["model_name"], summary["model_version"])
    assert version.tags["freq"] == "MS"
    model = mlflow.pyfunc.load_model(summary["model_version_uri"])
    lookback = int(summary["history_rows"])  # the longest member lookback
    history = full.tail(lookback + 4).reset_index(drop=True)
    with_times = model.predict(history)
    without_times = model.predict(history.drop(columns=["month"]))
    assert len(with_times) == 5
    assert with_times["month"].tolist() == history["month"].iloc[-5:].tolist()  # the origins'
    pd.testing.assert_frame_equal(with_times.drop(columns="month"), without_times)
    duplicated = pd.concat([history, history.iloc[[2]]], ignore_index=True)
    with pytest.raises(Exception, match=r"twice, at input rows 3 and"):
        model.predict(duplicated)
    gap = history.drop(index=[6, 7, 8]).reset_index(drop=True)
    missing = f"{history['month'].iloc[6]} … {history['month'].iloc[8]} missing, 3 periods"
    with pytest.raises(Exception, match=missing):
        model.predict(gap)


@pytest.mark.parametrize("held", ["period", "object"])
def test_pandas_periods_are_the_times_they_start_at(held: str) -> None:
    from lstmtune.data.timeaxis import parse_times

    months = pd.Series(pd.period_range("1959-11", periods=3, freq="M"))
    if held == "object":
        months = months.astype(object)
    rows = np.arange(3)
    kind, _, keys = parse_times(months, "month", rows=rows, row_word="input row")
    expected = pd.to_datetime(["1959-11-01", "1959-12-01", "1960-01-01"]).as_unit("ns")
    assert kind == "datetime" and (keys == expected.to_numpy()).all()

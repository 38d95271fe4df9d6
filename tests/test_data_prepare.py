"""prepare: chronological / stratified splits, train-only scaling, missing values, metadata, I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import make_classify_frame

from lstmtune.config import RunConfig, load_config
from lstmtune.data.prepare import SPLITS, prepare, read_prepared, write_prepared
from lstmtune.data.splits import carve_val
from lstmtune.errors import UserError
from lstmtune.features import ClassifyFeaturizer, ForecastFeaturizer

DATA = Path(__file__).parent / "data"
N_ROWS = 120


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., RunConfig]:
    def make(path: str | Path, **overrides: Any) -> RunConfig:
        base: dict[str, Any] = {"data.path": str(path), "output_dir": str(tmp_path / "out")}
        base.update({k.replace("__", "."): v for k, v in overrides.items()})
        return load_config(None, base).resolved()

    return make


def series_frame(n: int = N_ROWS, seed: int = 0) -> pd.DataFrame:
    """Monthly series with trend + season; the target value encodes its own time step."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 100.0 + t + 10 * np.sin(2 * np.pi * t / 12)
    return pd.DataFrame(
        {
            "date": pd.date_range("2000-01-01", periods=n, freq="MS").strftime("%Y-%m-%d"),
            "step": t,
            "y": y,
            "x": rng.normal(0, 1, n),
        }
    )


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def shuffled(frame: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def forecast_cfg(make_cfg: Callable[..., RunConfig], path: Path, **kw: Any) -> RunConfig:
    return make_cfg(path, data__target="y", data__time_column="date", **kw)


# --- forecast: chronological split ---------------------------------------------------------


def test_forecast_split_is_chronological_and_contiguous(tmp_path: Path, make_cfg) -> None:
    frame = series_frame()
    path = write_csv(shuffled(frame), tmp_path / "s.csv")
    parts, meta = prepare(forecast_cfg(make_cfg, path))

    splits = meta["splits"]
    assert splits["train"]["start"] == 0
    assert splits["train"]["end"] == splits["val"]["start"]
    assert splits["val"]["end"] == splits["test"]["start"]
    assert splits["test"]["end"] == meta["n_rows"] == N_ROWS
    for name in SPLITS:
        assert (
            len(parts[name]) == splits[name]["rows"] == splits[name]["end"] - splits[name]["start"]
        )

    # train ++ val ++ test is exactly the series in time order (the file was shuffled)
    joined = pd.concat([parts[s] for s in SPLITS], ignore_index=True)
    assert joined["date"].tolist() == frame["date"].tolist()
    np.testing.assert_allclose(joined["y"].to_numpy(), frame["y"].to_numpy())
    np.testing.assert_allclose(joined["x"].to_numpy(), frame["x"].to_numpy())
    # every train time is before every val time, every val time before every test time
    times = {s: pd.to_datetime(parts[s]["date"]) for s in SPLITS}
    assert times["train"].max() < times["val"].min()
    assert times["val"].max() < times["test"].min()


def test_forecast_sorted_by_numeric_time_column(tmp_path: Path, make_cfg) -> None:
    frame = series_frame().drop(columns=["date"])
    path = write_csv(shuffled(frame, seed=7), tmp_path / "s.csv")
    parts, meta = prepare(make_cfg(path, data__target="y", data__time_column="step"))
    assert "step" not in _features(meta)
    joined = pd.concat([parts[s] for s in SPLITS], ignore_index=True)
    assert joined["step"].tolist() == list(range(N_ROWS))
    np.testing.assert_allclose(joined["y"].to_numpy(), frame["y"].to_numpy())


def _features(meta: dict[str, Any]) -> list[str]:
    return list(meta["columns"]["features"])


def test_forecast_features_default_to_numeric_columns(tmp_path: Path, make_cfg) -> None:
    path = write_csv(series_frame(), tmp_path / "s.csv")
    _, meta = prepare(make_cfg(path, data__target="y", data__time_column="date"))
    assert _features(meta) == ["y", "x"]  # 'step' is the file's row numbers: not an input
    assert meta["columns"]["left_out_row_numbers"] == ["step"]
    _, meta = prepare(make_cfg(write_csv(shuffled(series_frame()), tmp_path / "r.csv"),
                               data__target="y", data__time_column="date"))  # fmt: skip
    assert _features(meta) == ["step", "y", "x"]  # a counter, not the file's order: an input
    assert meta["target_index"] == 1
    _, meta = prepare(
        make_cfg(path, data__target="y", data__time_column="date", data__feature_columns=["x"])
    )
    assert _features(meta) == ["y", "x"]
    assert meta["target_index"] == 0
    flagged = series_frame().assign(promo=lambda f: np.arange(len(f)) % 7 == 0)
    path = write_csv(flagged, tmp_path / "flag.csv")  # written True/False, read back as bool
    parts, meta = prepare(make_cfg(path, data__target="y", data__time_column="date"))
    assert _features(meta) == ["y", "x", "promo"]  # it was left out without a word
    assert parts["train"]["promo"].sum() > 0


def test_the_prepared_line_names_the_inputs_besides_the_target(tmp_path: Path, make_cfg) -> None:
    """Numeric columns read by default are named where the run starts, not used silently."""
    from lstmtune.steps import _inputs_note

    path = write_csv(series_frame(), tmp_path / "s.csv")
    _, meta = prepare(make_cfg(path, data__target="y", data__time_column="date"))
    assert _inputs_note(meta) == (
        ", inputs besides the target: x (data.feature_columns chooses); left out, row numbers: step"
    )
    only = series_frame()[["date", "y"]]
    _, meta = prepare(make_cfg(write_csv(only, tmp_path / "y.csv"), data__target="y"))
    assert _inputs_note(meta) == "; left out, dates: date"  # not the time column, nor text
    _, meta = prepare(
        make_cfg(write_csv(only, tmp_path / "y.csv"), data__target="y", data__time_column="date")
    )
    assert _inputs_note(meta) == ""


def test_a_test_split_of_a_few_values_is_flagged(tmp_path: Path, make_cfg) -> None:
    """15 yearly values leave 2 for test: the run says its test figures rest on them."""
    from lstmtune.prepare_notes import FIRM_TEST_POINTS, _few_test_points

    short = write_csv(series_frame(n=15)[["date", "y"]], tmp_path / "short.csv")
    _, meta = prepare(make_cfg(short, data__target="y"))
    rows = meta["splits"]["test"]["rows"]
    assert rows < FIRM_TEST_POINTS
    assert _few_test_points(meta) == (
        f"warning: the test split holds {rows} value(s): the test figures and the champion"
        " decision rest on them alone (a longer series, or data.test_size, gives firmer ones)"
    )
    path = write_csv(series_frame()[["date", "y"]], tmp_path / "long.csv")
    _, meta = prepare(make_cfg(path, data__target="y"))
    assert meta["splits"]["test"]["rows"] >= FIRM_TEST_POINTS and _few_test_points(meta) is None


@pytest.mark.parametrize(
    ("val_size", "test_size", "expected"),
    [
        (10, 15, (95, 10, 15)),
        (0.2, 0.1, (84, 24, 12)),
        (0.15, 0.15, (84, 18, 18)),
        (1, 30, (89, 1, 30)),
        (0.25, 20, (70, 30, 20)),
    ],
)
def test_forecast_split_sizes(
    tmp_path: Path, make_cfg, val_size: float, test_size: float, expected: tuple[int, int, int]
) -> None:
    path = write_csv(series_frame(), tmp_path / "s.csv")
    parts, meta = prepare(
        forecast_cfg(make_cfg, path, data__val_size=val_size, data__test_size=test_size)
    )
    got = tuple(meta["splits"][s]["rows"] for s in SPLITS)
    assert got == expected
    assert tuple(len(parts[s]) for s in SPLITS) == expected


def test_forecast_val_smaller_than_horizon_rejected(tmp_path: Path, make_cfg) -> None:
    path = write_csv(series_frame(), tmp_path / "s.csv")
    with pytest.raises(UserError, match=r"data\.val_size"):
        prepare(forecast_cfg(make_cfg, path, data__val_size=2, data__horizon=3))


def test_forecast_fraction_giving_zero_rows_gets_the_horizon(tmp_path: Path, make_cfg) -> None:
    path = write_csv(series_frame(), tmp_path / "s.csv")  # 0.001 x 120: one whole forecast
    _, meta = prepare(forecast_cfg(make_cfg, path, data__test_size=0.001))
    assert meta["splits"]["test"]["rows"] == 1 and meta["split_raised"] == ["test"]


def test_forecast_too_short_series_rejected(tmp_path: Path, make_cfg) -> None:
    path = write_csv(series_frame(n=10), tmp_path / "s.csv")
    with pytest.raises(UserError, match="series too short: 10 rows leave"):
        prepare(forecast_cfg(make_cfg, path))
    # 14 values are enough once the default lookbacks shrink to what the train split allows
    path = write_csv(series_frame(n=14), tmp_path / "t.csv")
    _, meta = prepare(forecast_cfg(make_cfg, path))
    assert max(meta["search_space"]["lookback"]["choices"]) <= meta["splits"]["train"]["rows"] - 8


# --- forecast: scaler statistics from train only -------------------------------------------


def test_scaler_statistics_are_train_only(tmp_path: Path, make_cfg) -> None:
    frame = series_frame()
    path = write_csv(frame, tmp_path / "s.csv")
    parts, meta = prepare(forecast_cfg(make_cfg, path))
    feats = _features(meta)
    train = parts["train"][feats].to_numpy(dtype=np.float64)
    np.testing.assert_allclose(meta["scaler"]["none"]["mean"], train.mean(axis=0))
    np.testing.assert_allclose(meta["scaler"]["none"]["std"], train.std(axis=0))
    logged = train.copy()
    ti = meta["target_index"]
    logged[:, ti] = np.log(logged[:, ti])
    np.testing.assert_allclose(meta["scaler"]["log"]["mean"], logged.mean(axis=0))
    np.testing.assert_allclose(meta["scaler"]["log"]["std"], logged.std(axis=0))
    # and not the whole-series statistics
    whole = frame[feats].to_numpy(dtype=np.float64)
    assert not np.allclose(meta["scaler"]["none"]["mean"], whole.mean(axis=0))


def test_changing_test_values_does_not_change_scaler(tmp_path: Path, make_cfg) -> None:
    frame = series_frame()
    _, meta = prepare(forecast_cfg(make_cfg, write_csv(frame, tmp_path / "a.csv")))
    test_start = meta["splits"]["test"]["start"]
    val_start = meta["splits"]["val"]["start"]

    changed = frame.copy()
    changed.loc[test_start + 3, "y"] = 1e6
    changed.loc[test_start + 5, "x"] = -1e6
    changed.loc[val_start + 1, "y"] = 5e5
    _, meta2 = prepare(forecast_cfg(make_cfg, write_csv(changed, tmp_path / "b.csv")))
    assert meta2["scaler"] == meta["scaler"]
    assert meta2["sha256"] != meta["sha256"]

    # control: a changed *train* value does move the statistics
    changed_train = frame.copy()
    changed_train.loc[2, "y"] = 1e6
    _, meta3 = prepare(forecast_cfg(make_cfg, write_csv(changed_train, tmp_path / "c.csv")))
    assert meta3["scaler"]["none"]["mean"] != meta["scaler"]["none"]["mean"]


def test_non_positive_target_has_no_log_scaler(tmp_path: Path, make_cfg) -> None:
    frame = series_frame()
    frame.loc[N_ROWS - 1, "y"] = -1.0  # in the test split: still decides positivity
    _, meta = prepare(forecast_cfg(make_cfg, write_csv(frame, tmp_path / "s.csv")))
    assert meta["target_positive"] is False
    assert set(meta["scaler"]) == {"none"}
    assert meta["search_space"]["transform"] == {"type": "fixed", "value": "none"}


# --- forecast: no overlap of target indices between splits ---------------------------------


@pytest.mark.parametrize(("lookback", "horizon"), [(12, 1), (24, 3), (4, 6)])
def test_split_windows_targets_do_not_overlap(
    tmp_path: Path, make_cfg, lookback: int, horizon: int
) -> None:
    path = write_csv(series_frame(), tmp_path / "s.csv")
    _, meta = prepare(
        forecast_cfg(make_cfg, path, data__horizon=horizon, data__val_size=12, data__test_size=12)
    )
    feat = ForecastFeaturizer.from_meta(
        meta, {"lookback": lookback, "transform": "none", "anchor": "last"}
    )
    steps = np.arange(1, horizon + 1)
    targets: dict[str, set[int]] = {}
    for name in SPLITS:
        s = meta["splits"][name]
        ends = feat.split_ends(s["start"], s["end"])
        assert len(ends) > 0
        idx = ends[:, None] + steps[None, :]
        assert idx.min() >= s["start"]
        assert idx.max() < s["end"]
        assert (ends - lookback + 1).min() >= 0  # inputs exist (may reach back into earlier splits)
        targets[name] = set(idx.ravel().tolist())
    assert targets["train"].isdisjoint(targets["val"])
    assert targets["train"].isdisjoint(targets["test"])
    assert targets["val"].isdisjoint(targets["test"])
    # val and test targets cover their whole segment
    for name in ("val", "test"):
        s = meta["splits"][name]
        assert targets[name] == set(range(s["start"], s["end"]))


# --- forecast: seasonal period -------------------------------------------------------------


def test_seasonal_period_inferred_on_airline(make_cfg, airline_csv: str) -> None:
    _, meta = prepare(make_cfg(airline_csv, data__target="passengers", data__time_column="month"))
    assert meta["seasonal_period"] == 12
    assert meta["target_positive"] is True
    assert meta["n_rows"] == 144
    assert meta["search_space"]["anchor"]["choices"] == ["last", "seasonal", "seasonal_trend"]
    assert meta["search_space"]["lookback"]["choices"] == [13, 24]


def test_seasonal_period_inferred_on_bundled_default(tmp_path: Path) -> None:
    cfg = load_config(None, {"output_dir": str(tmp_path / "o")}).resolved()
    _, meta = prepare(cfg)
    assert meta["seasonal_period"] == 12
    assert meta["dataset_name"] == "airline_passengers"


def test_seasonal_period_inferred_without_dates(tmp_path: Path, make_cfg) -> None:
    frame = series_frame().drop(columns=["date"])
    _, meta = prepare(
        make_cfg(
            write_csv(frame, tmp_path / "s.csv"),
            data__target="y",
            data__time_column="step",
            data__feature_columns=["x"],
        )
    )
    assert meta["seasonal_period"] == 12


def test_seasonal_period_config_wins(make_cfg, airline_csv: str) -> None:
    _, meta = prepare(
        make_cfg(
            airline_csv,
            data__target="passengers",
            data__time_column="month",
            data__seasonal_period=4,
        )
    )
    assert meta["seasonal_period"] == 4


# --- forecast: split column ----------------------------------------------------------------


def test_forecast_split_column_train_val_test(tmp_path: Path, make_cfg) -> None:
    frame = series_frame()
    frame["split"] = ["train"] * 80 + [" Val"] * 17 + ["TEST"] * 23
    path = write_csv(shuffled(frame), tmp_path / "s.csv")
    parts, meta = prepare(forecast_cfg(make_cfg, path, data__split_column="split"))
    assert tuple(meta["splits"][s]["rows"] for s in SPLITS) == (80, 17, 23)
    assert "split" not in _features(meta)
    assert "split" not in parts["train"].columns
    assert parts["val"]["date"].tolist() == frame["date"].iloc[80:97].tolist()
    assert parts["test"]["date"].tolist() == frame["date"].iloc[97:].tolist()


def test_forecast_split_column_train_test_carves_val_from_train_end(
    tmp_path: Path, make_cfg
) -> None:
    frame = series_frame()
    frame["split"] = ["train"] * 100 + ["test"] * 20
    path = write_csv(frame, tmp_path / "s.csv")
    parts, meta = prepare(
        forecast_cfg(make_cfg, path, data__split_column="split", data__val_size=10)
    )
    assert tuple(meta["splits"][s]["rows"] for s in SPLITS) == (90, 10, 20)
    assert parts["val"]["date"].tolist() == frame["date"].iloc[90:100].tolist()
    assert parts["test"]["date"].tolist() == frame["date"].iloc[100:].tolist()
    # fraction of the non-test rows
    _, meta = prepare(forecast_cfg(make_cfg, path, data__split_column="split", data__val_size=0.2))
    assert tuple(meta["splits"][s]["rows"] for s in SPLITS) == (80, 20, 20)


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [
        (["train"] * 100 + ["holdout"] * 20, "'holdout'"),
        (["train"] * 120, "both 'train' and 'test'"),
        (["train"] * 60 + ["test"] * 20 + ["train"] * 40, "in time order"),
    ],
)
def test_forecast_split_column_bad_values(
    tmp_path: Path, make_cfg, labels: list[str], fragment: str
) -> None:
    frame = series_frame()
    frame["split"] = labels
    path = write_csv(frame, tmp_path / "s.csv")
    with pytest.raises(UserError) as info:
        prepare(forecast_cfg(make_cfg, path, data__split_column="split"))
    assert "'split'" in str(info.value)
    assert fragment in str(info.value)


# --- missing values --------------------------------------------------------------------------


def test_missing_error_names_row_and_column(tmp_path: Path, make_cfg) -> None:
    frame = series_frame()
    frame.loc[40, "y"] = np.nan
    path = write_csv(frame, tmp_path / "s.csv")
    with pytest.raises(UserError) as info:
        prepare(forecast_cfg(make_cfg, path))
    msg = str(info.value)
    assert str(path) in msg
    assert "column 'y'" in msg
    assert "data row 41" in msg
    assert "data.missing" in msg


def test_missing_error_row_is_the_file_row_when_shuffled(tmp_path: Path, make_cfg) -> None:
    frame = series_frame()
    frame.loc[10, "x"] = np.nan
    frame = frame.iloc[::-1].reset_index(drop=True)  # the gap is now on data row 110
    path = write_csv(frame, tmp_path / "s.csv")
    with pytest.raises(UserError) as info:
        prepare(forecast_cfg(make_cfg, path))
    assert "column 'x'" in str(info.value)
    assert "data row 110" in str(info.value)


def test_non_numeric_error_row_is_the_file_row_when_shuffled(tmp_path: Path, make_cfg) -> None:
    frame = series_frame()
    frame["y"] = frame["y"].astype(object)
    frame.loc[5, "y"] = "abc"
    frame = frame.iloc[::-1].reset_index(drop=True)  # 'abc' is now on data row 115
    path = write_csv(frame, tmp_path / "s.csv")
    with pytest.raises(UserError) as info:
        prepare(forecast_cfg(make_cfg, path))
    assert "'abc'" in str(info.value)
    assert "data row 115" in str(info.value)


def test_missing_ffill(tmp_path: Path, make_cfg) -> None:
    frame = series_frame()
    frame.loc[[30, 31], "y"] = np.nan
    frame.loc[50, "x"] = np.nan
    path = write_csv(frame, tmp_path / "s.csv")
    parts, _ = prepare(forecast_cfg(make_cfg, path, data__missing="ffill"))
    joined = pd.concat([parts[s] for s in SPLITS], ignore_index=True)
    assert not joined[["y", "x"]].isna().any().any()
    assert joined.loc[30, "y"] == pytest.approx(frame.loc[29, "y"])
    assert joined.loc[31, "y"] == pytest.approx(frame.loc[29, "y"])
    assert joined.loc[50, "x"] == pytest.approx(frame.loc[49, "x"])
    assert joined.loc[32, "y"] == pytest.approx(frame.loc[32, "y"])
    _, meta = prepare(forecast_cfg(make_cfg, path, data__missing="ffill"))
    assert meta["filled_targets"] == []  # rows 30, 31 are train rows: only test rows are listed
    frame.loc[[len(frame) - 3], "y"] = np.nan
    path = write_csv(frame, tmp_path / "t.csv")
    _, meta = prepare(forecast_cfg(make_cfg, path, data__missing="ffill"))
    assert meta["filled_targets"] == [len(frame) - 3]  # not scored: an unobserved target


def test_the_prepare_step_says_filled_test_values_are_not_scored(
    tmp_path: Path, make_cfg, capsys: pytest.CaptureFixture[str]
) -> None:
    from lstmtune import steps

    frame = series_frame()
    frame.loc[[len(frame) - 3, len(frame) - 5], "y"] = np.nan
    path = write_csv(frame, tmp_path / "s.csv")
    cfg = forecast_cfg(make_cfg, path, data__missing="interpolate")
    steps.prepare_step(cfg.model_dump_json(), str(tmp_path / "ds"))
    line = [x for x in capsys.readouterr().out.splitlines() if "filled by data.missing" in x]
    assert len(line) == 1 and "2 test value(s)" in line[0] and "(interpolate)" in line[0]


def test_the_prepare_line_names_the_inputs_and_the_text_columns_left_out(
    tmp_path: Path, make_cfg, capsys: pytest.CaptureFixture[str]
) -> None:
    from lstmtune import steps

    frame = series_frame()
    frame["price"] = frame["x"].map(lambda v: f"{v:.3f}")  # numbers held as text: an input
    frame["note"] = np.where(np.arange(len(frame)) % 2, "promo", "none")
    path = write_csv(frame, tmp_path / "s.csv")
    steps.prepare_step(forecast_cfg(make_cfg, path).model_dump_json(), str(tmp_path / "ds"))
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "prepared" in x]
    assert "inputs besides the target: x, price (data.feature_columns chooses)" in line
    assert "; left out, as text: note; left out, row numbers: step" in line


def test_a_date_column_left_out_is_named_as_dates_with_a_warning_not_as_text(
    tmp_path: Path, make_cfg, capsys: pytest.CaptureFixture[str]
) -> None:
    """A datetime64 column (a DataFrame's, a Parquet file's) without data.time_column: the rows
    are read in file order, which a warning says, naming the setting; never 'as text'."""
    from lstmtune import steps

    frame = series_frame()[["date", "y"]].assign(date=lambda f: pd.to_datetime(f["date"]))
    frame["note"] = "x"
    path = tmp_path / "s.parquet"
    frame.to_parquet(path, index=False)
    untimed = make_cfg(path, data__target="y")
    steps.prepare_step(untimed.model_dump_json(), str(tmp_path / "ds"))
    lines = capsys.readouterr().out.splitlines()
    (line,) = [x for x in lines if "prepared" in x]
    assert "; left out, as text: note; left out, dates: date" in line
    (warning,) = [x for x in lines if "holds dates" in x]
    assert "column 'date' holds dates but data.time_column is not set" in warning
    assert "--time-column date" in warning
    steps.prepare_step(forecast_cfg(make_cfg, path).model_dump_json(), str(tmp_path / "ds2"))
    assert "holds dates" not in capsys.readouterr().out


def test_missing_interpolate(tmp_path: Path, make_cfg) -> None:
    frame = series_frame()
    original = frame.copy()
    frame.loc[30, "y"] = np.nan
    frame.loc[[60, 61], "x"] = np.nan
    path = write_csv(shuffled(frame), tmp_path / "s.csv")
    parts, _ = prepare(forecast_cfg(make_cfg, path, data__missing="interpolate"))
    joined = pd.concat([parts[s] for s in SPLITS], ignore_index=True)
    assert not joined[["y", "x"]].isna().any().any()
    assert joined.loc[30, "y"] == pytest.approx((original.loc[29, "y"] + original.loc[31, "y"]) / 2)
    a, b = original.loc[59, "x"], original.loc[62, "x"]
    assert joined.loc[60, "x"] == pytest.approx(a + (b - a) / 3)
    assert joined.loc[61, "x"] == pytest.approx(a + 2 * (b - a) / 3)


def test_interpolate_does_not_leak_val_into_train_scaler(tmp_path: Path, make_cfg) -> None:
    frame = series_frame()
    frame.loc[83, "y"] = np.nan  # the last train row (train = 84 rows)
    _, meta = prepare(
        forecast_cfg(make_cfg, write_csv(frame, tmp_path / "a.csv"), data__missing="interpolate")
    )
    assert meta["splits"]["train"]["end"] == 84
    changed = frame.copy()
    changed.loc[84, "y"] = 1e5  # the first val row
    _, meta2 = prepare(
        forecast_cfg(make_cfg, write_csv(changed, tmp_path / "b.csv"), data__missing="interpolate")
    )
    assert meta2["scaler"] == meta["scaler"]


def test_ffill_cannot_fill_leading_gap(tmp_path: Path, make_cfg) -> None:
    frame = series_frame()
    frame.loc[0, "y"] = np.nan
    path = write_csv(frame, tmp_path / "s.csv")
    with pytest.raises(UserError, match=r"column 'y'.*data row 1.*ffill"):
        prepare(forecast_cfg(make_cfg, path, data__missing="ffill"))
    # interpolate fills it from the next value
    parts, _ = prepare(forecast_cfg(make_cfg, path, data__missing="interpolate"))
    assert parts["train"].loc[0, "y"] == pytest.approx(frame.loc[1, "y"])


def test_classify_missing_feature_policies(tmp_path: Path, make_cfg) -> None:
    frame = make_classify_frame()
    first = frame.index[frame["seq"] == "wave-3"]
    frame.loc[first[2], "x1"] = np.nan
    path = write_csv(frame, tmp_path / "c.csv")
    kw = {
        "data__task": "classify",
        "data__sequence_column": "seq",
        "data__label": "y",
        "data__time_column": "t",
    }
    with pytest.raises(UserError) as info:
        prepare(make_cfg(path, **kw))
    assert "column 'x1'" in str(info.value)
    assert f"data row {first[2] + 1}" in str(info.value)
    parts, _ = prepare(make_cfg(path, data__missing="ffill", **kw))
    joined = pd.concat([parts[s] for s in SPLITS], ignore_index=True)
    got = joined[joined["seq"] == "wave-3"].sort_values("t")["x1"].to_numpy()
    assert got[2] == pytest.approx(frame.loc[first[1], "x1"])


# --- classify ---------------------------------------------------------------------------------

AIRLINE = {"data__target": "passengers", "data__time_column": "month"}
CLASSIFY = {
    "data__task": "classify",
    "data__sequence_column": "seq",
    "data__label": "y",
    "data__time_column": "t",
}


def test_classify_sequences_kept_whole(tmp_path: Path, make_cfg) -> None:
    frame = make_classify_frame()
    path = write_csv(shuffled(frame, seed=3), tmp_path / "c.csv")
    parts, meta = prepare(make_cfg(path, **CLASSIFY))
    true_lengths = frame.groupby("seq").size().to_dict()
    assert len(set(true_lengths.values())) > 3  # really variable-length
    feat = ClassifyFeaturizer.from_meta(meta)
    seen: dict[str, int] = {}
    for name in SPLITS:
        ids, padded, lengths = feat.sequences(parts[name])
        assert padded.shape[0] == len(ids) == meta["splits"][name]["sequences"]
        assert padded.shape[1] == lengths.max()
        for sid, n in zip(ids, lengths, strict=True):
            assert sid not in seen  # a sequence is in exactly one split
            seen[sid] = int(n)
        # rows of every sequence are in time order inside the split table
        for _, g in parts[name].groupby("seq"):
            assert g["t"].tolist() == list(range(len(g)))
    assert seen == true_lengths
    assert meta["max_sequence_length"] == max(true_lengths.values())
    assert meta["min_sequence_length"] == min(true_lengths.values())
    assert meta["n_sequences"] == len(true_lengths)
    assert meta["n_rows"] == len(frame)
    assert _features(meta) == ["x1", "x2"]


def test_classify_values_follow_their_rows(tmp_path: Path, make_cfg) -> None:
    frame = make_classify_frame()
    path = write_csv(shuffled(frame, seed=5), tmp_path / "c.csv")
    parts, _ = prepare(make_cfg(path, **CLASSIFY))
    joined = pd.concat([parts[s] for s in SPLITS], ignore_index=True)
    merged = joined.merge(frame, on=["seq", "t"], suffixes=("", "_orig"))
    assert len(merged) == len(frame)
    np.testing.assert_allclose(merged["x1"], merged["x1_orig"])
    assert (merged["y"] == merged["y_orig"]).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classify_stratified_split(tmp_path: Path, make_cfg, seed: int) -> None:
    frame = make_classify_frame(n_per_class=10, seed=seed)
    path = write_csv(frame, tmp_path / "c.csv")
    parts, meta = prepare(make_cfg(path, train__seed=seed, **CLASSIFY))
    assert meta["classes"] == ["ramp", "wave"]
    for name in SPLITS:
        per_seq = parts[name].groupby("seq")["y"].first()
        assert set(per_seq) == {"ramp", "wave"}, name
        counts = per_seq.value_counts()
        assert abs(counts["ramp"] - counts["wave"]) <= 1, name  # proportions kept
    total = sum(meta["splits"][s]["sequences"] for s in SPLITS)
    assert total == 20
    assert meta["splits"]["test"]["sequences"] == 3  # round(0.15 * 20)
    assert meta["splits"]["val"]["sequences"] == 3


def test_classify_split_sizes_as_counts(tmp_path: Path, make_cfg) -> None:
    path = write_csv(make_classify_frame(), tmp_path / "c.csv")
    _, meta = prepare(make_cfg(path, data__val_size=6, data__test_size=10, **CLASSIFY))
    assert {s: meta["splits"][s]["sequences"] for s in SPLITS} == {
        "train": 32,
        "val": 6,
        "test": 10,
    }


def test_classify_scaler_train_only(tmp_path: Path, make_cfg) -> None:
    frame = make_classify_frame()
    parts, meta = prepare(make_cfg(write_csv(frame, tmp_path / "a.csv"), **CLASSIFY))
    train = parts["train"][["x1", "x2"]].to_numpy()
    np.testing.assert_allclose(meta["scaler"]["none"]["mean"], train.mean(axis=0))
    test_seq = parts["test"]["seq"].iloc[0]
    changed = frame.copy()
    changed.loc[changed["seq"] == test_seq, "x2"] = 1e6
    _, meta2 = prepare(make_cfg(write_csv(changed, tmp_path / "b.csv"), **CLASSIFY))
    assert meta2["scaler"] == meta["scaler"]


def test_classify_split_column_train_val_test(tmp_path: Path, make_cfg) -> None:
    frame = make_classify_frame()
    ids = sorted(frame["seq"].unique())
    assign = {
        s: ("test" if i % 5 == 0 else "val" if i % 5 == 1 else "train") for i, s in enumerate(ids)
    }
    frame["split"] = frame["seq"].map(assign)
    path = write_csv(shuffled(frame), tmp_path / "c.csv")
    parts, meta = prepare(make_cfg(path, data__split_column="split", **CLASSIFY))
    for name in SPLITS:
        got = set(parts[name]["seq"])
        assert got == {s for s, v in assign.items() if v == name}
        assert meta["splits"][name]["sequences"] == len(got)
    assert "split" not in _features(meta)


def test_classify_split_column_train_test(tmp_path: Path, make_cfg) -> None:
    frame = make_classify_frame()
    ids = sorted(frame["seq"].unique())
    assign = {s: ("test" if i % 4 == 0 else "train") for i, s in enumerate(ids)}
    frame["split"] = frame["seq"].map(assign)
    path = write_csv(frame, tmp_path / "c.csv")
    parts, _ = prepare(make_cfg(path, data__split_column="split", data__val_size=6, **CLASSIFY))
    assert set(parts["test"]["seq"]) == {s for s, v in assign.items() if v == "test"}
    val = set(parts["val"]["seq"])
    assert len(val) == 6
    assert all(assign[s] == "train" for s in val)
    assert set(parts["val"].groupby("seq")["y"].first()) == {"ramp", "wave"}
    assert set(parts["train"]["seq"]) | val == {s for s, v in assign.items() if v == "train"}


def _one_per_class(frame: pd.DataFrame) -> pd.DataFrame:
    """Four training sequences of four classes (one each), the other four the test split."""
    ids = sorted(frame["seq"].unique())[:8]
    frame = frame[frame["seq"].isin(ids)].copy()
    frame["y"] = frame["seq"].map({s: f"k{i % 4}" for i, s in enumerate(ids)})
    frame["split"] = frame["seq"].map({s: "train" if i < 4 else "test" for i, s in enumerate(ids)})
    return frame


def test_classify_one_sequence_per_class_carves_val(tmp_path: Path, make_cfg) -> None:
    """UCR's Fungi has one training sequence per class: the val split takes one anyway (its class
    is learnt from train+val) instead of the run failing on an empty val split."""
    path = write_csv(_one_per_class(make_classify_frame(n_per_class=4)), tmp_path / "c.csv")
    parts, meta = prepare(make_cfg(path, data__split_column="split", **CLASSIFY))
    val_classes = sorted(parts["val"].groupby("seq")["y"].first())
    assert meta["splits"]["val"]["sequences"] == 1  # round(0.15 * 4)
    assert meta["val_only_classes"] == val_classes
    learnt = set(parts["train"]["y"]) | set(parts["val"]["y"])
    assert learnt == {"k0", "k1", "k2", "k3"}
    assert val_classes[0] not in set(parts["train"]["y"])


def test_prepare_step_says_which_classes_only_val_holds(
    tmp_path: Path, make_cfg, capsys: pytest.CaptureFixture[str]
) -> None:
    from lstmtune import steps

    path = write_csv(_one_per_class(make_classify_frame(n_per_class=4)), tmp_path / "c.csv")
    cfg = make_cfg(path, data__split_column="split", **CLASSIFY)
    steps.prepare_step(cfg.model_dump_json(), str(tmp_path / "ds"))
    _, meta = read_prepared(str(tmp_path / "ds"))
    out = capsys.readouterr().out.splitlines()
    lines = [x for x in out if "none in train" in x]
    assert len(lines) == 1 and f"({meta['val_only_classes'][0]!r})" in lines[0]
    single = [x for x in out if "single sequence in train+val" in x]
    assert meta["single_sequence_classes"] == ["k0", "k1", "k2", "k3"]
    assert len(single) == 1 and "4 class(es) ('k0', 'k1', 'k2', 'k3')" in single[0]


def test_classify_class_only_in_test_rejected(tmp_path: Path, make_cfg) -> None:
    frame = _one_per_class(make_classify_frame(n_per_class=4))
    frame.loc[frame["split"] == "test", "y"] = frame.loc[frame["split"] == "test", "y"] + "x"
    frame.loc[frame["seq"] == frame["seq"].iloc[-1], "y"] = "only-test"
    path = write_csv(frame, tmp_path / "c.csv")
    with pytest.raises(UserError, match=r"class '.*' of column 'y' has no sequence in the train"):
        prepare(make_cfg(path, data__split_column="split", **CLASSIFY))


def test_carve_val_leaves_every_class_a_training_sequence_where_it_can() -> None:
    rng = np.random.default_rng(0)
    labels = pd.Series({"a0": "a", "a1": "a", "a2": "a", "b0": "b"})
    picked = carve_val(list(labels.index), labels, 2, rng)
    assert picked and all(labels[s] == "a" for s in picked)  # b's only sequence stays
    singletons = pd.Series({"a0": "a", "b0": "b", "c0": "c"})
    assert len(carve_val(list(singletons.index), singletons, 2, rng)) == 2
    assert carve_val(["a0"], singletons, 1, rng) == []


def test_classify_sequence_in_two_splits_rejected(tmp_path: Path, make_cfg) -> None:
    frame = make_classify_frame()
    frame["split"] = np.where(frame["seq"].str.endswith("-0"), "test", "train")
    frame.loc[frame.index[frame["seq"] == "wave-0"][0], "split"] = "train"
    path = write_csv(frame, tmp_path / "c.csv")
    with pytest.raises(UserError, match=r"'wave-0'.*'split'"):
        prepare(make_cfg(path, data__split_column="split", **CLASSIFY))


def test_classify_mixed_labels_in_sequence_rejected(tmp_path: Path, make_cfg) -> None:
    frame = make_classify_frame()
    frame.loc[frame.index[frame["seq"] == "ramp-2"][1], "y"] = "wave"
    path = write_csv(frame, tmp_path / "c.csv")
    with pytest.raises(UserError, match=r"'ramp-2'.*column 'y'"):
        prepare(make_cfg(path, **CLASSIFY))


def test_classify_sequences_of_one_step_rejected(tmp_path: Path, make_cfg) -> None:
    frame = make_classify_frame()
    path = write_csv(frame[frame["t"] == 0], tmp_path / "c.csv")
    with pytest.raises(UserError, match=r"column 'seq' \(data.sequence_column\) has one row"):
        prepare(make_cfg(path, **CLASSIFY))
    one = frame[frame["t"] == 0][["seq", "y"]]  # wide: a column per step
    wide = one.assign(**{f"t{i}": np.arange(len(one)) * 0.1 + i for i in range(8)})
    path = write_csv(wide, tmp_path / "wide.csv")
    with pytest.raises(UserError, match=r"a wide file, .* 8 columns here, write it long"):
        prepare(make_cfg(path, **{**CLASSIFY, "data__time_column": None}))


def test_classify_single_class_rejected(tmp_path: Path, make_cfg) -> None:
    frame = make_classify_frame()
    frame["y"] = "wave"
    path = write_csv(frame, tmp_path / "c.csv")
    with pytest.raises(UserError, match=r"column 'y'.*single class 'wave'"):
        prepare(make_cfg(path, **CLASSIFY))


# --- metadata + files -------------------------------------------------------------------------


def test_metadata_sha256_of_input_bytes(
    tmp_path: Path, make_cfg, airline_csv: str, classify_csv: str
) -> None:
    _, meta = prepare(make_cfg(airline_csv, **AIRLINE))
    assert meta["sha256"] == hashlib.sha256(Path(airline_csv).read_bytes()).hexdigest()
    assert meta["source"] == airline_csv
    assert meta["format_version"] == 1
    _, meta = prepare(make_cfg(classify_csv, **CLASSIFY))
    assert meta["sha256"] == hashlib.sha256(Path(classify_csv).read_bytes()).hexdigest()
    # a one-byte change changes the hash
    changed = tmp_path / "changed.csv"
    changed.write_bytes(Path(airline_csv).read_bytes().replace(b"112", b"113", 1))
    _, meta2 = prepare(make_cfg(changed, data__target="passengers", data__time_column="month"))
    assert meta2["sha256"] == hashlib.sha256(changed.read_bytes()).hexdigest()
    assert meta2["sha256"] != hashlib.sha256(Path(airline_csv).read_bytes()).hexdigest()


def test_parquet_input_is_read(tmp_path: Path, make_cfg) -> None:
    frame = series_frame()
    path = tmp_path / "s.parquet"
    frame.to_parquet(path, index=False)
    parts, meta = prepare(forecast_cfg(make_cfg, path))
    assert meta["n_rows"] == N_ROWS
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(parts["train"]) + len(parts["val"]) + len(parts["test"]) == N_ROWS


@pytest.mark.parametrize("task", ["forecast", "classify"])
def test_write_read_prepared_round_trip(
    tmp_path: Path, make_cfg, airline_csv: str, classify_csv: str, task: str
) -> None:
    cfg = (
        make_cfg(airline_csv, **AIRLINE)
        if task == "forecast"
        else make_cfg(classify_csv, **CLASSIFY)
    )
    parts, meta = prepare(cfg)
    out = tmp_path / "dataset"
    write_prepared(parts, meta, str(out))
    assert sorted(p.name for p in out.iterdir()) == [
        "metadata.json",
        "test.parquet",
        "train.parquet",
        "val.parquet",
    ]
    assert not (tmp_path / "dataset.tmp").exists()
    assert json.loads((out / "metadata.json").read_text()) == json.loads(json.dumps(meta))
    parts2, meta2 = read_prepared(str(out))
    assert meta2 == json.loads(json.dumps(meta))
    for name in SPLITS:
        pd.testing.assert_frame_equal(parts2[name], parts[name])
        assert len(pd.read_parquet(out / f"{name}.parquet")) == len(parts[name])


def test_write_prepared_replaces_existing(
    tmp_path: Path, make_cfg, airline_csv: str, classify_csv: str
) -> None:
    out = tmp_path / "dataset"
    parts, meta = prepare(make_cfg(classify_csv, **CLASSIFY))
    write_prepared(parts, meta, str(out))
    parts, meta = prepare(make_cfg(airline_csv, **AIRLINE))
    write_prepared(parts, meta, str(out))
    parts2, meta2 = read_prepared(str(out))
    assert meta2["task"] == "forecast"
    pd.testing.assert_frame_equal(parts2["test"], parts["test"])
    assert not (tmp_path / "dataset.tmp").exists()


def test_read_prepared_without_metadata(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"empty: not a prepared dataset"):
        read_prepared(str(tmp_path / "empty"))


@pytest.mark.parametrize("time_column", ["date", "step"])
def test_filled_periods_round_trip_through_parquet(
    tmp_path: Path, make_cfg, time_column: str
) -> None:
    """Missing periods filled on the grid keep the time column's type (text or integers) in the
    Parquet files, and metadata.json records the frequency and the filled periods."""
    frame = series_frame().drop(index=[40, 41, 42, 90]).reset_index(drop=True)
    if time_column == "step":
        frame = frame.drop(columns=["date"])
    cfg = make_cfg(
        write_csv(frame, tmp_path / "gaps.csv"),
        data__target="y",
        data__time_column=time_column,
        data__missing="interpolate",
        data__feature_columns=["x"],
    )
    parts, meta = prepare(cfg)
    out = tmp_path / "dataset"
    write_prepared(parts, meta, str(out))
    parts2, meta2 = read_prepared(str(out))
    axis = meta2["time_axis"]
    assert axis["freq"] == ("MS" if time_column == "date" else "1")
    assert (axis["gaps"], axis["filled_periods"], axis["fill"]) == (2, 4, "interpolate")
    full = series_frame()[time_column].tolist()
    assert pd.concat([parts2[s][time_column] for s in SPLITS]).tolist() == full
    for name in SPLITS:
        pd.testing.assert_frame_equal(parts2[name], parts[name])


def test_no_season_from_a_noise_peak_in_a_short_series() -> None:
    """19 yearly values (series 149 of the M1 competition's yearly set, as aeon ships it): the
    differences' autocorrelation at lag 4 passes 0.3 by chance, but not Bartlett's bound for 18
    differences, so no season is inferred (it was 4: AutoARIMA/AutoETS and the anchors then read
    a 4-year season); a clear season in as few values is still found."""
    from lstmtune.data.prepare_forecast import _infer_period

    m1 = [900, 1002, 1048, 1132, 1252, 1413, 1573, 1786, 1858, 1962, 2143, 2368, 2291, 2403.99]
    m1 += [2794.99, 3050.99, 3316.99, 3514.99, 3774.99]
    assert _infer_period(np.asarray(m1, dtype=np.float64), None) == 1
    rng = np.random.default_rng(0)
    t = np.arange(20)
    seasonal = 10 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 1, 20) + 0.5 * t
    assert _infer_period(seasonal, None) == 4
    # a scan tries many lags: at most 1 in 10 random walks of 36 values may get a season
    walks = np.cumsum(np.random.default_rng(2).normal(0, 1, (200, 36)), axis=1)
    assert np.mean([_infer_period(w, None) > 1 for w in walks]) < 0.1  # 0.24 with 0.3 + Bartlett
    months = pd.Series(pd.date_range("2000-01-01", periods=36, freq="MS"))
    season = (
        100
        + 10 * np.sin(2 * np.pi * np.arange(36) / 12)
        + np.random.default_rng(2).normal(0, 1, 36)
    )
    assert _infer_period(season, months) == 12


def test_a_step_that_divides_a_day_suggests_a_daily_season() -> None:
    """Half-hours get 48 from the calendar, as hours get 24: on 4 days of a solar-like profile
    (night zeros, a day's bell of varying height) the scan alone finds 2 or 3, and on aeon's
    half-hourly solar generation it found 49. Quarter-hours 96, three hours 8; five minutes
    (288) is longer than a season the calendar suggests, and 7-minute steps divide no day."""
    from lstmtune.data.prepare_forecast import _calendar_period, _infer_period

    rng = np.random.default_rng(0)
    t = np.arange(203)
    bell = np.clip(np.sin(((t % 48) / 2.0 - 5) / 14 * np.pi), 0, None)
    y = bell * np.repeat(rng.uniform(0.3, 1.0, 5), 48)[: len(t)] + rng.normal(0, 0.02, len(t)) * (
        bell > 0
    )
    times = pd.Series(pd.date_range("2021-05-01", periods=len(t), freq="30min"))
    assert _infer_period(y, None) in (2, 3)
    assert _infer_period(y, times) == 48

    def period(freq: str) -> int | None:
        return _calendar_period(pd.Series(pd.date_range("2021-05-01", periods=50, freq=freq)))

    assert (period("15min"), period("3h"), period("h"), period("D")) == (96, 8, 24, 7)
    assert period("5min") is None and period("7min") is None


def test_scanned_season_is_the_shortest_peak_not_a_multiple_or_a_trend() -> None:
    """Without a time column the season comes from the scan: quarterly beer production (the
    first 70 %) gets 4 and monthly wine sales 12, not a multiple (48 and 12 with the overlapping
    correlation the scan used before: it does not shrink with the lag); a smooth series, whose
    differences are correlated at every lag, gets no season (lag 2 passed the bounds on 9 in 10
    such series of 40 values without being a peak)."""
    from lstmtune.data.prepare_forecast import _infer_period, _sample_acf

    beer = pd.read_csv(DATA / "ausbeer.csv")["megalitres"].to_numpy(dtype=np.float64)
    assert _infer_period(beer[: int(0.7 * len(beer))], None) == 4
    wine = pd.read_csv(DATA / "wineind.csv")["sales"].to_numpy(dtype=np.float64)
    assert _infer_period(wine[: int(0.7 * len(wine))], None) == 12
    rng = np.random.default_rng(0)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(100, 40)), axis=1), axis=1)
    assert np.mean([_infer_period(s, None) > 1 for s in smooth]) < 0.05
    # a monthly pattern whose autocorrelation is higher at 24 than at 12 (by noise): still 12
    rng = np.random.default_rng(2)
    t = np.arange(150)
    pattern = rng.normal(0, 1, 12)
    y = 10 + pattern[t % 12] + rng.normal(0, 0.7, 150) + np.cumsum(rng.normal(0, 0.2, 150))
    acf = _sample_acf(np.diff(y), 25)
    assert acf[24] > acf[12] > 0.9 * acf[24]
    assert _infer_period(y, None) == 12


def test_a_long_calendar_season_needs_two_seasons_of_differences() -> None:
    """60 weekly values of noise: a lag-52 autocorrelation from 7 pairs passed 0.1 four times
    in ten; a season above 24 is tried only on two seasons of differences. Short seasons keep
    the weak test on few values (a season missed costs more than one too many)."""
    from lstmtune.data.prepare_forecast import _infer_period

    noise = np.random.default_rng(3).normal(size=(50, 60))
    weeks = pd.Series(pd.date_range("2000-01-02", periods=60, freq="W-SUN"))
    assert not any(_infer_period(row, weeks) == 52 for row in noise)
    assert not any(_infer_period(row, pd.Series(2000 + np.arange(60) / 52)) == 52 for row in noise)
    t = np.arange(110)
    yearly = np.random.default_rng(1).normal(size=110) + 3 * np.sin(2 * np.pi * t / 52)
    assert _infer_period(yearly, pd.Series(2000 + t / 52)) == 52


@pytest.mark.parametrize(
    ("step", "season", "amplitude", "expected"),
    [(1 / 12, 12, 1.0, 12), (1 / 4, 4, 0.5, 4)]
    + [(step, 12, 1.0, 1) for step in (1.0, 0.5, 1 / 12.5, 1 / 1000)],
)
def test_season_from_a_numeric_step_of_one_over_k(
    step: float, season: int, amplitude: float, expected: int
) -> None:
    """R's decimal years (``time()`` of a ts: 1949, 1949.0833, ...): a step of 1/k suggests
    the season k as a calendar does, on the same weak evidence; a step of 1, 1/2 or one that is
    not 1/k suggests none (the scan alone decides: here it finds none)."""
    from lstmtune.data.prepare_forecast import _infer_period

    t = np.arange(60)
    noise = np.random.default_rng(2).normal(0, 1, 60)
    weak = 100 + amplitude * np.sin(2 * np.pi * t / season) + noise
    assert _infer_period(weak, None) == 1  # the scan alone finds no season
    assert _infer_period(weak, pd.Series(1949 + t * step)) == expected


def test_a_smooth_calendar_season_is_found_beside_noise_and_trend() -> None:
    """Five years of weekly values with a yearly sine of amplitude 10, noise 2 and a trend: the
    differences correlate 0.08 at lag 52 (no season before), the values less their moving
    average 0.5. Noise, random walks and trends on the same weeks seldom get the season."""
    from lstmtune.data.prepare_forecast import _detrended_acf, _infer_period

    weeks = pd.Series(pd.date_range("2015-01-04", periods=182, freq="W-SUN"))
    t = np.arange(182)
    rng = np.random.default_rng(0)
    y = 100 + 0.2 * t + 10 * np.sin(2 * np.pi * t / 52.18) + rng.normal(0, 2, 182)
    assert _infer_period(y, weeks) == 52 and _detrended_acf(y, 52) > 0.3
    noise = rng.normal(0, 1, (100, 182))
    found = [_infer_period(v, weeks) == 52 for v in (*noise, *np.cumsum(noise, axis=1))]
    assert np.mean(found) < 0.25  # as often as the differences alone passed 0.1 (0.12-0.15)
    line = np.arange(182.0)  # no season in a straight line
    assert _detrended_acf(line, 52) == -1.0 and _infer_period(line, weeks) == 1

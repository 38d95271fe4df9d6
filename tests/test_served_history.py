"""A served history placed among the fitted rows: the classical models forecast from any history
exactly as they did from the whole series in testing (lstmtune.served_history)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstmtune.classical import fit_spec, spec_forecasts
from lstmtune.config import example_data_path
from lstmtune.data.history_check import history_offset
from lstmtune.served_history import fitted_rows, offset_by_values, rebase

FIT_END = 120  # airline: train+val, the last 24 months are test


@pytest.fixture(scope="module")
def airline() -> np.ndarray:
    return pd.read_csv(example_data_path())["passengers"].to_numpy(dtype=np.float64)


@pytest.fixture(scope="module")
def specs(airline: np.ndarray) -> dict[str, dict[str, Any]]:
    return {kind: fit_spec(kind, airline[:FIT_END], 12, False) for kind in ("ets", "arima")}


@pytest.mark.parametrize("kind", ["ets", "arima"])
@pytest.mark.parametrize("first", [0, 40, 100, 110, 120, 130])
def test_a_tail_of_the_history_is_forecast_as_the_whole_series_was(
    airline: np.ndarray, specs: dict[str, dict[str, Any]], kind: str, first: int
) -> None:
    spec, rows = specs[kind], fitted_rows(airline, FIT_END)
    ends = np.arange(FIT_END - 1, len(airline) - 1)  # the test origins
    whole = spec_forecasts(spec, airline, ends, 2, 12)
    tail = airline[first:]
    served = spec_forecasts(rebase(spec, rows, first), tail, ends - first, 2, 12)
    np.testing.assert_allclose(served, whole, rtol=1e-9)
    # read from its own first row, as before: far off (3.3-4.0x; a history that starts at the
    # first origin is not: the refitted level, alpha 0.79, catches up at once there, 1.04x)
    if kind == "ets" and first not in (0, FIT_END):
        alone = spec_forecasts(spec, tail, ends - first, 1, 12)[:, 0]
        true = airline[ends + 1]
        error = np.sqrt(np.mean((alone - true) ** 2))
        assert error > 1.5 * np.sqrt(np.mean((served[:, 0] - true) ** 2))


def test_the_stored_rows_start_where_ets_reads_and_run_to_the_series_end() -> None:
    y = np.arange(1500.0)
    rows = fitted_rows(y, 1400)  # the last 1000 of train+val, then the test rows
    assert rows["start"] == 400 and rows["values"] == list(np.arange(400.0, 1500.0))
    assert fitted_rows(y[:30], 20) == {"start": 0, "values": list(np.arange(30.0))}


def test_ets_states_are_carried_through_a_gap_after_the_fitted_rows(
    airline: np.ndarray, specs: dict[str, dict[str, Any]]
) -> None:
    spec, rows = specs["ets"], fitted_rows(airline[:FIT_END], FIT_END)  # a series ending there
    gap, history = 5, airline[FIT_END + 5 :]  # new months, after 5 nobody sent
    # the brute force: each unobserved month is the model's own one-step forecast
    filled = list(airline[:FIT_END])
    for _ in range(gap):
        filled.append(
            float(spec_forecasts(spec, np.array(filled), np.array([len(filled) - 1]), 1)[0, 0])
        )
    series = np.concatenate([filled, history])
    ends = np.arange(len(filled) + 12, len(series))
    expected = spec_forecasts(spec, series, ends, 3, 12)
    served = spec_forecasts(rebase(spec, rows, FIT_END + gap), history, ends - len(filled), 3, 12)
    np.testing.assert_allclose(served, expected, rtol=1e-9)
    arima = rebase(specs["arima"], rows, FIT_END + gap)
    assert arima == specs["arima"]  # its exact filter starts afresh on the history


def test_a_history_without_times_is_placed_by_the_fitted_rows_it_repeats(
    airline: np.ndarray,
) -> None:
    rows = fitted_rows(airline, FIT_END)
    assert offset_by_values(rows, airline) == 0  # the whole series
    assert offset_by_values(rows, airline[57:]) == 57
    co2 = 315.0 + np.sin(np.arange(144.0)) + np.arange(144.0) * 0.1234567  # 7 digits and more
    sent = co2[57:].astype(np.float32).astype(np.float64)  # a float32 column, or 7 digits written
    assert offset_by_values(fitted_rows(co2, FIT_END), sent) == 57
    level = 5e6 + np.arange(200.0)  # high and smooth: within a millionth at several offsets
    assert offset_by_values(fitted_rows(level, 150), level[140:160]) == 140  # the closest wins
    assert offset_by_values(rows, airline[FIT_END + 3 :]) == FIT_END + 3  # among the test rows
    new = np.array([700.0, 710.0, 720.0])
    assert offset_by_values(rows, new) == 144  # none repeated: read as following them
    assert offset_by_values(rows, np.concatenate([airline[-2:], new])) == 144  # 2: too few
    long = np.arange(2000.0)
    assert offset_by_values(fitted_rows(long, 1500), long[100:]) == 100  # before the stored rows
    counts = np.array([0, 0, 0, 0, 3, 1, 0, 2, 5, 0, 1, 0, 0, 0, 0, 2, 4, 1] * 3, dtype=float)
    assert offset_by_values(fitted_rows(counts, 40), counts) == 0  # the longest match wins


@pytest.mark.parametrize(
    ("freq", "first", "times", "expected"),
    [
        ("MS", "1949-01", ["1950-03", "1950-04"], 14),
        ("MS", "1949-01", ["1948-11"], -2),
        ("QS-OCT", "1956Q1", ["1957Q2", "1957Q3"], 5),
        ("h", "2020-01-01 00:00:00", ["2020-01-02 03:00"], 27),
        ("W-SUN", "2020-01-05", ["2020-02-02"], 4),
        ("D", "2019-01-01", ["13/01/2019", "14/01/2019"], 12),  # day first, as the column reads
    ],
)
def test_the_history_offset_counts_periods_from_the_model_first(
    freq: str, first: str, times: list[str], expected: int
) -> None:
    axis = {"column": "t", "kind": "datetime", "freq": freq, "first": first}
    assert history_offset(pd.DataFrame({"t": times}), axis) == expected


def test_numeric_times_and_missing_columns() -> None:
    axis = {"column": "t", "kind": "number", "freq": "0.5", "first": "5"}
    assert history_offset(pd.DataFrame({"t": [7.5, 8.0]}), axis) == 5
    years = {"column": "t", "kind": "number", "freq": "0.0833333333333", "first": "1949"}
    rounded = pd.DataFrame({"t": np.round(1949 + np.arange(121, 130) / 12, 4)})  # 1959.0833
    assert history_offset(rounded, years) == 121
    assert history_offset(pd.DataFrame({"y": [1.0]}), axis) is None  # no time column sent
    assert history_offset(pd.DataFrame({"t": [7.5]}), {**axis, "first": None}) is None


def test_a_history_between_two_periods_of_the_model_grid_is_refused() -> None:
    """Hours at :30 for a model of hours at :00 were placed a half period off, silently."""
    from lstmtune.data.history_check import check_history
    from lstmtune.data.timeaxis import TimeAxisError

    hours = {"column": "t", "kind": "datetime", "freq": "h", "first": "2020-01-01 00:00:00"}
    check_history(pd.DataFrame({"t": ["2020-01-02 03:00", "2020-01-02 04:00"]}), hours)
    late = pd.DataFrame({"t": ["2020-01-02 03:30", "2020-01-02 04:30"]})
    with pytest.raises(TimeAxisError, match=r"first time '2020-01-02 03:30' \(input row 1\) lies"):
        check_history(late, hours)
    check_history(late, {**hours, "freq_source": "data.freq"})  # snapped: floored, as trained
    check_history(late, {**hours, "first": None})  # a model without its first period recorded
    halves = {"column": "t", "kind": "number", "freq": "0.5", "first": "5"}
    check_history(pd.DataFrame({"t": [7.5, 8.0]}), halves)
    with pytest.raises(TimeAxisError, match=r"model's 0\.5 grid, which starts at '5'"):
        check_history(pd.DataFrame({"t": [7.25, 7.75]}), halves)
    years = {"column": "t", "kind": "number", "freq": "0.0833333333333", "first": "1949"}
    check_history(pd.DataFrame({"t": np.round(1949 + np.arange(121, 130) / 12, 4)}), years)


def test_every_classical_spec_of_a_model_is_rebased_and_the_rows_before_returned(
    airline: np.ndarray, specs: dict[str, dict[str, Any]]
) -> None:
    from lstmtune.served_history import served_spec

    rows = fitted_rows(airline, FIT_END)
    months = pd.read_csv(example_data_path())["month"]
    axis = {"column": "month", "kind": "datetime", "freq": "MS", "first": "1949-01"}
    spec = {
        "history": rows,
        "time_axis": axis,
        "featurizer": {"lookback": 12, "classical": specs["ets"]},
        "members": [{"featurizer": {"classical": specs["arima"]}}, {"featurizer": {}}],
        "combination": {"weights": {"network": 0.5, "ets": 0.5}, "specs": {"ets": specs["ets"]}},
    }
    before = repr(spec)
    frame = pd.DataFrame({"month": months[100:], "passengers": airline[100:]})
    served, lead = served_spec(spec, frame, airline[100:])
    assert lead.tolist() == airline[:100].tolist()  # the intervals' local scale reads them
    assert served["featurizer"]["classical"] == rebase(specs["ets"], rows, 100)
    assert served["members"][0]["featurizer"]["classical"]["prefix"] == airline[:100].tolist()
    assert served["members"][1]["featurizer"] == {}
    assert served["combination"]["specs"]["ets"] == served["featurizer"]["classical"]
    spec["history"] = fitted_rows(airline[:FIT_END], FIT_END)  # a series that ended at 120
    late = pd.DataFrame({"month": months[FIT_END + 5 :]})  # after a gap: nothing before it
    served, lead = served_spec(spec, late, airline[FIT_END + 5 :])
    assert len(lead) == 0 and served["featurizer"]["classical"]["fit_start"] == 0
    assert repr({**spec, "history": rows}) == before  # the published spec is left as it was
    assert served_spec({"featurizer": {}}, frame, airline)[0] == {"featurizer": {}}  # older
    spec["history"] = rows
    shifted = frame.assign(month=[*months[101:].tolist(), "1961-01"])  # times one month late
    with pytest.raises(ValueError, match=r"'month'.* values from 1 period\(s\) earlier than"):
        served_spec(spec, shifted, airline[100:])
    revised = airline[100:].copy()
    revised[-1] *= 1.5  # a revised value: the times stay right
    assert served_spec(spec, frame, revised)[1].tolist() == airline[:100].tolist()

"""R's decimal years (``time(x)`` of a ``ts`` as Rdatasets' CSVs write it: ``1949,
1949.08333333333, …``) of months, quarters and halves: read as the first day of each period
(``MS``, ``QS-JAN``, ``6MS``), not as a numeric step; left out as dates under a time-like name
where ``data.time_column`` is not set; and a served history of them is placed at the right
period (lstmtune.data.decimal_years through the real time axis, prepare step and pyfunc)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from lstmtune.classical import fit_spec
from lstmtune.config import example_data_path, load_config
from lstmtune.data.decimal_years import DECIMAL_YEARS, decimal_years, read_decimal_years
from lstmtune.data.digit_columns import dates_as_digits
from lstmtune.data.history_check import check_history, history_offset
from lstmtune.data.prepare import prepare
from lstmtune.data.timeaxis import TimeAxisError, place
from lstmtune.features import ForecastFeaturizer
from lstmtune.model import build_model
from lstmtune.prepare_notes import _unread_dates
from lstmtune.served_history import fitted_rows, rebase, served_spec
from lstmtune.serving import Predictor
from lstmtune.steps import _inputs_note


def _r_times(per_year: int, n: int, first: float = 1949.0, digits: int = 15) -> np.ndarray:
    """The times R writes for a ts of ``per_year`` starting at ``first``: ``digits`` significant
    digits (R's default 15; ``format(time(x), digits = 7)`` writes 1949.083)."""
    return np.array([float(f"{first + i / per_year:.{digits}g}") for i in range(n)])


def _airline() -> pd.DataFrame:
    return pd.read_csv(example_data_path())


def _rdatasets_csv(path: Path, times: np.ndarray | None = None) -> Path:
    """AirPassengers as Rdatasets writes it: a quoted ``rownames`` column, ``time``, ``value``."""
    passengers = _airline()["passengers"].to_numpy()
    times = _r_times(12, len(passengers)) if times is None else times
    lines = ['"rownames","time","value"']
    lines += [
        f'"{i + 1}",{t:.15g},{v}' for i, (t, v) in enumerate(zip(times, passengers, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _prepared(path: Path, **extra: Any) -> dict[str, Any]:
    keys = {"data.path": str(path), "data.target": "value", **extra}
    return prepare(load_config(None, keys).resolved())[1]


# --- reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_year", "freq", "label"),
    [(12, "MS", "1960.91666666667"), (4, "QS-JAN", "1984.75"), (2, "6MS", "1976.5")],
)
@pytest.mark.parametrize("digits", [15, 17, 7, 8])  # 1949.08333333333, repr, 1949.083, 1949.0833
def test_months_quarters_and_halves_are_dates(
    per_year: int, freq: str, label: str, digits: int
) -> None:
    """Was a number axis (``freq 0.0833333333333``); now each time is its period's first day."""
    n = {12: 144, 4: 100, 2: 34}[per_year]
    times = _r_times(per_year, n, 1949.0 if per_year == 12 else 1960.0, digits)
    placed = place(pd.Series(times), "time", freq=None, snap=False)
    assert placed.axis.kind == "datetime" and placed.axis.style == DECIMAL_YEARS
    assert placed.axis.freq == freq and np.array_equal(placed.positions, np.arange(n))
    months = 12 // per_year
    expected = pd.date_range(f"{int(times[0])}-01-01", periods=n, freq=f"{months}MS")
    assert pd.DatetimeIndex(placed.grid).equals(expected)
    assert placed.axis.label(placed.grid[-1]) == label  # written back as R writes it
    gap = place(pd.Series(np.delete(times, 7)), "time", freq=None, snap=False)
    assert gap.axis.freq == freq and gap.gaps == [(7, 1)]  # a missing period: a gap, as dates


def test_single_values_read_by_the_months_of_a_model() -> None:
    """``1949.0833`` is February 1949 with the model's style, however it was rounded."""
    _, keys = decimal_years(np.array([1949.0833, 1949.083, 1950.0, 1960.25]), DECIMAL_YEARS)
    assert [str(k)[:10] for k in keys] == ["1949-02-01"] * 2 + ["1950-01-01", "1960-04-01"]
    _, keys = decimal_years(np.array([1949.05]), DECIMAL_YEARS)
    assert np.isnat(keys[0])  # no month's start: refused naming it by the caller
    assert decimal_years(np.array([1949.0833]), "number") is None  # a model of numbers


@pytest.mark.parametrize(
    ("why", "values"),
    [
        ("steps of 1949.05", 1949 + np.arange(40) * 0.05),
        ("months with one decimal", np.round(1949 + np.arange(40) / 12, 1)),
        ("temperatures by 0.25", 18.0 + np.arange(40) * 0.25),
        ("years past 2261", 2400 + np.arange(40) / 4),
        ("whole years", 1949.0 + np.arange(40)),
        ("mid-years every year", 1949.5 + np.arange(40)),
        ("one value", np.array([1949.25])),
        ("quarters off by a tenth", 1949 + np.arange(40) / 4 + 0.01),
    ],
)
def test_numbers_that_are_no_decimal_years_stay_numbers(why: str, values: np.ndarray) -> None:
    assert read_decimal_years(values) is None, why
    assert decimal_years(values) is None, why


def test_a_numeric_data_freq_keeps_decimal_years_numbers() -> None:
    times = _r_times(4, 40)
    placed = place(pd.Series(times), "time", freq="0.25", snap=True)
    assert placed.axis.kind == "number" and placed.axis.freq == "0.25"
    assert place(pd.Series(times), "time", freq="QS", snap=True).axis.freq == "QS"


# --- left out as dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "values", "dates"),
    [
        ("time", _r_times(12, 60), True),
        ("Time", _r_times(4, 60, digits=7), True),
        ("year_month", _r_times(12, 60), True),
        ("price", _r_times(4, 60), False),  # no time word: 1500.25, 1500.5 … may be prices
        ("time", _r_times(12, 60)[::-1], False),  # not increasing
        ("time", np.delete(_r_times(12, 80), np.arange(10, 30, 2)), False),  # a tenth missing
    ],
)
def test_decimal_years_are_dates_under_a_time_word(
    name: str, values: np.ndarray, dates: bool
) -> None:
    assert dates_as_digits(pd.Series(values), name) is dates


def test_an_rdatasets_file_is_prepared_monthly_like_the_bundled_one(tmp_path: Path) -> None:
    """Rdatasets' AirPassengers: ``time`` was an input of the network without
    ``data.time_column`` and a number axis with it; now left out as dates with the warning, and
    with it the months of the bundled file: the same season, splits and values."""
    path = _rdatasets_csv(tmp_path / "AirPassengers.csv")
    unnamed = _prepared(path)
    assert unnamed["columns"]["features"] == ["value"]  # was ['time', 'value']
    assert unnamed["columns"]["left_out_dates"] == ["time"]
    assert _inputs_note(unnamed) == "; left out, dates: time; left out, row numbers: rownames"
    assert "--time-column time" in str(_unread_dates(unnamed))
    parts, meta = prepare(
        load_config(
            None, {"data.path": str(path), "data.target": "value", "data.time_column": "time"}
        ).resolved()
    )
    axis = meta["time_axis"]
    assert (axis["kind"], axis["freq"], axis["style"]) == ("datetime", "MS", DECIMAL_YEARS)
    assert (axis["first"], axis["last"]) == ("1949", "1960.91666666667")
    bundled_parts, bundled = prepare(load_config(None, {}).resolved())
    assert meta["seasonal_period"] == bundled["seasonal_period"] == 12
    for split in ("train", "val", "test"):
        assert len(parts[split]) == len(bundled_parts[split])
        np.testing.assert_array_equal(parts[split]["value"], bundled_parts[split]["passengers"])
    assert parts["train"]["time"].dtype == np.float64  # the file's own times kept


def test_a_missing_month_is_filled_with_a_decimal_year(tmp_path: Path) -> None:
    times = np.delete(_r_times(12, 144), 30)
    frame = pd.read_csv(_rdatasets_csv(tmp_path / "a.csv", _r_times(12, 144)))
    frame.drop(index=30).assign(time=times).to_csv(tmp_path / "gap.csv", index=False)
    parts, meta = prepare(
        load_config(
            None,
            {
                "data.path": str(tmp_path / "gap.csv"),
                "data.target": "value",
                "data.time_column": "time",
                "data.missing": "interpolate",
            },
        ).resolved()
    )
    assert meta["time_axis"]["freq"] == "MS" and meta["time_axis"]["filled_periods"] == 1
    filled = pd.concat([parts[s]["time"] for s in ("train", "val", "test")], ignore_index=True)
    assert filled.dtype == np.float64 and abs(filled[30] - (1949 + 30 / 12)) < 1e-9


# --- served ------------------------------------------------------------------------------------

AXIS = {"column": "time", "kind": "datetime", "freq": "MS", "style": DECIMAL_YEARS}
AXIS |= {"freq_source": "inferred", "first": "1949", "last": "1960.91666666667"}


@pytest.mark.parametrize("digits", [15, 7])
def test_a_served_history_of_decimal_years_is_placed_at_its_months(digits: int) -> None:
    times = _r_times(12, 144, digits=digits)
    history = pd.DataFrame({"time": times[100:]})
    check_history(history, AXIS)
    assert history_offset(history, AXIS) == 100
    with pytest.raises(TimeAxisError, match=r"unparsable time 1949\.05 at input row 2"):
        check_history(pd.DataFrame({"time": [1949.0, 1949.05]}), AXIS)
    with pytest.raises(TimeAxisError, match="missing, 1 period"):
        check_history(pd.DataFrame({"time": np.delete(times[100:], 5)}), AXIS)


def test_served_spec_rebases_the_classical_models_at_the_history_s_months() -> None:
    """The pyfunc places a history of decimal years among its stored rows by its times."""
    airline = _airline()["passengers"].to_numpy(dtype=np.float64)
    times = _r_times(12, len(airline))
    ets = fit_spec("ets", airline[:120], 12, False)
    rows = fitted_rows(airline, 120)
    spec = {"history": rows, "time_axis": AXIS, "featurizer": {"lookback": 12, "classical": ets}}
    frame = pd.DataFrame({"time": times[100:], "value": airline[100:]})
    served, lead = served_spec(spec, frame, airline[100:])
    assert lead.tolist() == airline[:100].tolist()
    assert served["featurizer"]["classical"] == rebase(ets, rows, 100)
    late = frame.assign(time=[*times[101:].tolist(), 1961.0])  # times one month late
    with pytest.raises(ValueError, match=r"'time'.* values from 1 period\(s\) earlier than"):
        served_spec(spec, late, airline[100:])


def test_a_served_forecast_keeps_the_decimal_years_as_sent() -> None:
    f = ForecastFeaturizer(
        features=["value"], target="value", target_index=0, lookback=3, horizon=2,
        transform="none", anchor="last", window_norm=False, period=1, mean=[300.0], std=[100.0],
    )  # fmt: skip
    params = {"units": 4, "num_layers": 1, "dropout": 0.0, "bidirectional": False}
    torch.manual_seed(0)
    net = build_model(1, 2, params, zero_head=False)
    spec = {"task": "forecast", "featurizer": f.to_dict(), "n_features": 1, "n_outputs": 2}
    spec |= {"params": params, "zero_head": False, "missing": "error", "time_axis": AXIS}
    times = _r_times(12, 144)[130:]
    history = pd.DataFrame({"time": times, "value": _airline()["passengers"].to_numpy()[130:]})
    pred = Predictor(spec, net.state_dict()).predict(history)
    assert pred["time"].dtype == np.float64 and pred["time"].tolist() == times[2:].tolist()

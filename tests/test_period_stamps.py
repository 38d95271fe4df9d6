"""Months, quarters and years written by their other end (month ends sent to a model of month
starts, a panel with month-start and month-end series): read as the periods they fall in, with
one warning line; times at both ends, inside a period or on a sub-monthly grid stay refused
(lstmtune.data.period_stamps, with the served check, the panel and the prepare step for real)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from lstmtune.config import load_config
from lstmtune.data.history_check import check_history, history_offset
from lstmtune.data.period_stamps import period_unit
from lstmtune.data.prepare import prepare
from lstmtune.data.timeaxis import TimeAxisError
from lstmtune.errors import UserError
from lstmtune.features import ForecastFeaturizer
from lstmtune.model import build_model
from lstmtune.serving import Predictor


def _axis(freq: str, first: str, column: str = "date", style: str = "date") -> dict[str, Any]:
    return {"column": column, "kind": "datetime", "freq": freq, "style": style, "first": first}


def _history(freq: str, start: str, n: int = 12, column: str = "date") -> pd.DataFrame:
    stamps = pd.date_range(start, periods=n, freq=freq)
    times = stamps.strftime(
        "%Y-%m-%d" if (stamps == stamps.normalize()).all() else "%Y-%m-%d %H:%M"
    )
    return pd.DataFrame({column: times, "y": 100 + np.arange(n, dtype=np.float64)})


def _checked(history: pd.DataFrame, axis: dict[str, Any]) -> list[str]:
    """The warnings ``check_history`` gives (it raises what it refuses)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_history(history, axis)
    return [str(w.message) for w in caught]


@pytest.mark.parametrize(
    ("model", "own", "sent", "unit", "ends"),
    [
        ("MS", "2020-03-01", ("ME", "2020-03-31"), "month", ("last", "first")),
        ("ME", "2020-03-31", ("MS", "2020-03-01"), "month", ("first", "last")),
        ("QS-JAN", "2020-07-01", ("QE-DEC", "2020-09-30"), "quarter", ("last", "first")),
        ("QS-JAN", "2020-07-01", ("QE-JUN", "2020-09-30"), "quarter", ("last", "first")),
        ("QE-DEC", "2020-09-30", ("QS-JAN", "2020-07-01"), "quarter", ("first", "last")),
        ("YS-JAN", "2002-01-01", ("YE-DEC", "2002-12-31"), "year", ("last", "first")),
        ("YE-JUN", "2002-06-30", ("YS-JUL", "2001-07-01"), "year", ("first", "last")),
    ],
)
def test_periods_written_by_their_other_end_are_the_periods_they_fall_in(
    model: str, own: str, sent: tuple[str, str], unit: str, ends: tuple[str, str]
) -> None:
    """A history on the model's own grid, and the same periods written by their other end: the
    same offset among the stored rows (2 periods after the model's first), one warning line."""
    first = pd.date_range(end=own, periods=3, freq=model)[0].strftime("%Y-%m-%d")
    axis = _axis(model, first)
    theirs, history = _history(model, own), _history(*sent)
    assert _checked(theirs, axis) == []
    assert _checked(history, axis) == [
        f"input column 'date': the times are the {ends[0]} days of their {unit}s and the "
        f"model's {model} grid writes the {ends[1]}: read as the {unit}s they fall in"
    ]
    assert history_offset(history, axis) == history_offset(theirs, axis) == 2


def test_a_history_that_mixes_both_ends_is_refused_in_one_line() -> None:
    starts = _history("MS", "2021-01-01", 6)
    ends = _history("ME", "2021-07-31", 6)
    mixed = pd.concat([starts, ends], ignore_index=True)
    with pytest.raises(TimeAxisError) as info:
        check_history(mixed, _axis("MS", "2020-01-01"))
    assert str(info.value) == (
        "input column 'date' mixes the first and the last days of months ('2021-01-01' at input "
        "row 1, '2021-07-31' at input row 7); write every month the same way"
    )


@pytest.mark.parametrize(
    ("axis", "history", "fragment"),
    [
        (  # an hour at :30 is not the hour at :00 (documented; sub-monthly grids stay strict)
            _axis("h", "2024-01-01 00:00:00", style="datetime"),
            _history("h", "2024-02-01 00:30"),
            "lies between two periods of the model's h grid",
        ),
        (  # weeks ending Saturday are not weeks ending Sunday
            _axis("W-SUN", "2024-01-07"),
            _history("W-SAT", "2024-02-03"),
            "is not on the W-SUN grid",
        ),
        (  # a day inside the month names no end of it
            _axis("MS", "2020-01-01"),
            _history("MS", "2021-01-01").assign(date=lambda f: f["date"].str[:8] + "15"),
            "'2021-01-15' at input row 1 is not on the MS grid",
        ),
        (  # month ends for a model of quarters: most are no quarter's last day
            _axis("QS-JAN", "2020-01-01"),
            _history("ME", "2021-01-31"),
            "'2021-01-31' at input row 1 is not on the QS-JAN grid",
        ),
        (  # a time of day at the month's end is no month's last day
            _axis("MS", "2020-01-01"),
            _history("ME", "2021-01-31").assign(date=lambda f: f["date"] + " 12:00"),
            "is not on the MS grid",
        ),
        (  # the same month-end twice: named as sent
            _axis("MS", "2020-01-01"),
            _history("ME", "2021-01-31", 4).iloc[[0, 1, 1, 2, 3]],
            "the time '2021-02-28' twice, at input rows 2 and 3",
        ),
        (  # a gap among month ends: named on the model's grid
            _axis("MS", "2020-01-01"),
            _history("ME", "2021-01-31").drop(index=[3]),
            "2021-04-01 missing, 1 period",
        ),
    ],
    ids=["half-hour", "weeks", "mid-month", "months-for-quarters", "clock", "twice", "gap"],
)
def test_other_times_stay_refused(
    axis: dict[str, Any], history: pd.DataFrame, fragment: str
) -> None:
    with pytest.raises(TimeAxisError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the gap's month ends are read as their months
        check_history(history.reset_index(drop=True), axis)
    assert fragment in str(info.value), str(info.value)


def test_frequencies_without_calendar_periods_have_no_other_end() -> None:
    assert period_unit("MS") == ("month", True, "M")
    assert period_unit("QS-FEB") == ("quarter", True, "Q-JAN")
    assert period_unit("YE-JUN") == ("year", False, "Y-JUN")
    for freq in ("2MS", "BMS", "SMS", "D", "W-SUN", "h", "30min", "1", None, "nonsense"):
        assert period_unit(freq) is None, freq


def test_the_served_model_forecasts_month_ends_as_the_month_starts_it_was_trained_on() -> None:
    """A real Predictor (an untrained network behind a hand-made featurizer): the user's probe,
    month ends sent to a model of month starts, was refused; now the same forecasts."""
    f = ForecastFeaturizer(
        features=["y"], target="y", target_index=0, lookback=4, horizon=2, transform="none",
        anchor="last", window_norm=False, period=1, mean=[100.0], std=[20.0],
    )  # fmt: skip
    params = {"units": 4, "num_layers": 1, "dropout": 0.0, "bidirectional": False}
    torch.manual_seed(0)
    net = build_model(1, 2, params, zero_head=False)
    spec = {"task": "forecast", "featurizer": f.to_dict(), "n_features": 1, "n_outputs": 2}
    spec |= {"params": params, "zero_head": False, "missing": "error"}
    spec["time_axis"] = {**_axis("MS", "2019-01-01"), "freq_source": "inferred"}
    model = Predictor(spec, net.state_dict())
    starts = _history("MS", "2021-01-01")
    ends = _history("ME", "2021-01-31")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        served, own = model.predict(ends), model.predict(starts)
    steps = ["step_1", "step_2"]
    np.testing.assert_array_equal(served[steps], own[steps])
    assert served["date"].tolist() == ends["date"].iloc[3:].tolist()  # each origin as sent
    assert any("read as the months they fall in" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="mixes the first and the last days of months"):
        model.predict(pd.concat([starts.iloc[:6], ends.iloc[6:]], ignore_index=True))


# --- training: a panel of month-start and month-end series, a file that mixes them ------------


def _panel(tmp_path: Path, series: list[tuple[str, str, str, int]]) -> Path:
    rng = np.random.default_rng(0)
    frames = []
    for sid, freq, start, n in series:
        times = pd.date_range(start, periods=n, freq=freq).strftime("%Y-%m-%d")
        y = 100 + 10 * np.sin(np.arange(n) * 2 * np.pi / 12) + rng.normal(0, 1, n)
        frames.append(pd.DataFrame({"store": sid, "date": times, "sales": y}))
    path = tmp_path / "panel.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def _prepare(path: Path, **extra: Any) -> Any:
    keys = {"data.target": "sales", "data.time_column": "date", "data.series_column": "store"}
    return prepare(load_config(None, {"data.path": str(path), **keys, **extra}).resolved())


def test_a_panel_of_month_starts_and_month_ends_is_one_monthly_panel(tmp_path: Path) -> None:
    series = [("a", "MS", "2015-01-01", 72), ("b", "MS", "2015-01-01", 72)]
    series += [("c", "ME", "2014-01-31", 60), ("d", "MS", "2015-06-01", 66)]
    _, meta = _prepare(_panel(tmp_path, series))
    members = meta["panel"]["members"]
    assert {s: m["meta"]["time_axis"]["freq"] for s, m in members.items()} == {
        "a": "MS", "b": "MS", "c": "ME", "d": "MS",
    }  # fmt: skip
    assert meta["panel"]["axis_note"] == (
        "series 'c' (1 of 4) writes its times (column 'date') as the last days of their months, "
        "the others (MS) as the first: read as the months they fall in"
    )
    axis = meta["time_axis"]  # 'c' is the shortest: the reference, on the panel's MS grid
    assert meta["panel"]["reference"] == "c"
    assert (axis["freq"], axis["first"], axis["last"]) == ("MS", "2014-01-01", "2020-12-01")
    new = _history("ME", "2021-01-31", column="date")  # a new series, sent as month ends
    assert len(_checked(new, axis)) == 1 and history_offset(new, axis) == 84
    assert _checked(new, members["c"]["meta"]["time_axis"]) == []  # 'c' its own way


@pytest.mark.parametrize(
    ("other", "freq"),
    [
        (("q", "QE-DEC", "2015-03-31", 40), "QE-MAR"),  # quarter ends among months
        (("q", "QE-NOV", "2015-02-28", 40), "QE-FEB"),  # quarters Dec-Feb: not Jan-Mar
    ],
)
def test_a_panel_series_of_other_periods_is_still_refused(
    tmp_path: Path, other: tuple[str, str, str, int], freq: str
) -> None:
    base = "QS-JAN" if other[2] == "2015-02-28" else "MS"
    n = 40 if base == "QS-JAN" else 72
    series = [("a", base, "2015-01-01", n), ("b", base, "2015-01-01", n), other]
    with pytest.raises(UserError, match=rf"series 'q' .* has frequency {freq}, the others {base};"):
        _prepare(_panel(tmp_path, series))


def test_a_file_that_mixes_month_starts_and_ends_is_told_so(tmp_path: Path) -> None:
    months = pd.date_range("2015-01-01", periods=48, freq="MS")
    written = list(months[:24].strftime("%Y-%m-%d"))
    written += list((months[24:] + pd.offsets.MonthEnd(0)).strftime("%Y-%m-%d"))
    path = tmp_path / "mixed.csv"
    pd.DataFrame({"date": written, "sales": np.arange(48.0)}).to_csv(path, index=False)
    keys = {"data.path": str(path), "data.target": "sales", "data.time_column": "date"}
    with pytest.raises(UserError) as info:
        prepare(load_config(None, keys).resolved())
    assert str(info.value) == (
        f"{path}: column 'date' (data.time_column) mixes the first and the last days of months "
        "('2015-01-01' at data row 1, '2017-01-31' at data row 25); write every month the same "
        "way, or set data.freq: MS or ME (QS or QE, YS or YE for quarters, years) to read each "
        "as its period"
    )  # it said "irregular times that fit no frequency"
    for freq, first, last in (
        ("MS", "2015-01-01", "2018-12-01"),
        ("ME", "2015-01-31", "2018-12-31"),
    ):
        parts, meta = prepare(load_config(None, {**keys, "data.freq": freq}).resolved())
        axis = meta["time_axis"]  # ME put 2015-01-01 in December 2014 until 2026-12-04
        assert (axis["filled_periods"], axis["first"], axis["last"]) == (0, first, last)
        assert sum(len(parts[s]) for s in parts) == 48

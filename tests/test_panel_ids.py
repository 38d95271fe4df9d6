"""Many series (``data.series_column``): ids read as the file writes them, served ids read as in
training, series on one calendar grid under different anchors, and the panel's season where the
series disagree; with real preparation and a real network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstmtune.config import load_config
from lstmtune.data.panel_axis import same_grid
from lstmtune.data.panel_season import panel_season
from lstmtune.data.prepare import prepare
from lstmtune.errors import UserError
from lstmtune.model import build_model
from lstmtune.problems import make_problem
from lstmtune.serving_panel import predict_panel
from lstmtune.synthetic import panel_frame


def _prepare(path: Path, time_column: str, **extra: Any) -> Any:
    keys = {"data.target": "y", "data.time_column": time_column, "data.series_column": "id"}
    keys.update({"data.test_size": 8, "data.val_size": 8, **extra})
    return prepare(load_config(None, {"data.path": str(path), **keys}).resolved())


def _series(sid: str, start: str, n: int, freq: str, level: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=n, freq=freq)
    season = 0.3 * np.tile([0.1, -0.2, 0.3, -0.2], n)[:n]
    y = level * (1 + season + 0.03 * rng.standard_normal(n))
    return pd.DataFrame({"id": sid, "t": times.strftime("%Y-%m-%d"), "y": y.round(4)})


def _quarterly(*specs: tuple[str, str, int, float]) -> pd.DataFrame:
    """Quarterly series (id, first quarter, length, level), seeded 1, 2, … in order."""
    return pd.concat(
        [
            _series(sid, start, n, "QS", level, seed)
            for seed, (sid, start, n, level) in enumerate(specs, start=1)
        ]
    )


def test_ids_that_numbers_would_join_stay_apart_as_the_file_writes_them(tmp_path: Path) -> None:
    frame = _quarterly(
        ("7", "2005-01-01", 48, 100),
        ("007", "2006-01-01", 44, 5000),
        ("1", "2008-07-01", 40, 20),
        ("1.0", "2008-01-01", 42, 900),
    )
    path = tmp_path / "q.csv"
    frame.to_csv(path, index=False)
    parts, meta = _prepare(path, "t")
    assert sorted(meta["panel"]["series"]) == ["007", "1", "1.0", "7"]  # 3 before: 007 was 7
    levels = parts["train"].groupby("id")["y"].mean()
    assert levels["007"] > 40 * levels["7"]  # not one series jumping 50-fold
    frame.iloc[[1], 1] = frame.iloc[60, 1]  # '7' twice at one time: the error names '7'
    frame.iloc[[1], 0] = "007"
    frame.to_csv(path, index=False)
    with pytest.raises(UserError, match=r"series '007' \(column 'id'\) has the time"):
        _prepare(path, "t")


def test_an_id_padded_with_spaces_is_the_id_and_numbers_stay_numbers(tmp_path: Path) -> None:
    frame = pd.concat([_series("104", "2005-01-01", 48, "QS", 100, 1)])
    frame = pd.concat([frame, _series("7", "2005-01-01", 48, "QS", 10, 2)])
    lines = frame.to_csv(index=False).splitlines()
    lines[3] = lines[3].replace("104,", "104 ,")  # a padded cell of one series
    path = tmp_path / "pad.csv"
    path.write_text("\n".join(lines) + "\n")
    _, meta = _prepare(path, "t")
    assert meta["panel"]["series"] == ["104", "7"]


def test_quarterly_series_starting_in_different_quarters_are_one_grid(tmp_path: Path) -> None:
    frame = _quarterly(
        ("A", "2005-01-01", 48, 100), ("B", "2006-07-01", 44, 50), ("C", "2007-04-01", 40, 10)
    )
    path = tmp_path / "ragged.csv"
    frame.to_csv(path, index=False)
    _, meta = _prepare(path, "t")
    members = meta["panel"]["members"]
    assert {members[s]["meta"]["time_axis"]["freq"] for s in "ABC"} == {
        "QS-JAN",
        "QS-JUL",
        "QS-APR",
    }
    axis = meta["time_axis"]
    assert axis["freq"] == "QS-JAN" and meta["panel"]["reference"] == "C"
    assert (axis["first"], axis["last"]) == ("2005-01-01", "2017-04-01")  # the panel's span


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (("2005-07-01", "QS-JUL"), ("2005-01-01", "QS-JAN"), True),
        (("2004-10-01", "QS-OCT"), ("2005-01-01", "QS-JAN"), True),  # earlier than the grid's
        (("2005-06-30", "QE-JUN"), ("2005-03-31", "QE-MAR"), True),
        (("2005-07-01", "YS-JUL"), ("2005-01-01", "YS-JAN"), False),
        (("2005-01-02", "W-SUN"), ("2005-01-03", "W-MON"), False),
        (("2005-01-01", "QS-JAN"), ("2005-01-01", "MS"), False),
        (("2005-02-01", "QS-FEB"), ("2005-01-01", "QS-JAN"), False),
    ],
)
def test_two_frequencies_are_one_grid_when_the_periods_of_one_are_periods_of_the_other(
    a: tuple[str, str], b: tuple[str, str], same: bool
) -> None:
    def axis(first: str, freq: str) -> dict[str, Any]:
        return {"first": first, "freq": freq, "kind": "datetime", "column": "t", "style": "date"}

    assert same_grid(axis(*a), 12, axis(*b)) is same


@pytest.mark.parametrize(("other", "freq"), [("2005-07-01", "YS"), ("2005-01-04", "W-TUE")])
def test_a_series_on_another_grid_is_still_refused(tmp_path: Path, other: str, freq: str) -> None:
    first = "2005-01-01" if freq == "YS" else "2005-01-03"
    want = "YS-JAN" if freq == "YS" else "W-MON"
    frame = pd.concat(
        [
            _series("A", first, 48, want, 100, 1),
            _series("B", first, 48, want, 100, 2),
            _series("C", other, 48, freq if freq != "YS" else "YS-JUL", 10, 3),
        ]
    )
    path = tmp_path / "mixed.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(UserError, match=rf"series 'C' .* has frequency \S+, the others {want};"):
        _prepare(path, "t")


def _served_spec(parts: Any, meta: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    problem = make_problem(parts, meta, params)
    members = meta["panel"]["members"]
    return {
        "featurizer": problem.featurizer.to_dict(),
        "n_series": 0,
        "time_axis": meta["time_axis"],
        "missing": meta["columns"]["missing"],
        "panel": {
            "series_column": "id",
            "members": {
                sid: {
                    "index": i,
                    "featurizer": m.featurizer.to_dict(),
                    "time_axis": members[sid]["meta"]["time_axis"],
                }
                for i, (sid, m) in enumerate(zip(problem.series_ids, problem.members, strict=True))
            },
        },
    }


def test_served_ids_are_read_as_in_training_and_a_missing_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    frame = panel_frame(3, 60, seed=3)
    frame["id"] = frame["id"].str.replace("s000", "").astype(int)  # ids 0, 1, 2
    frame.to_csv(path, index=False)
    parts, meta = _prepare(path, "month")
    params = {"lookback": 13, "anchor": "seasonal", "transform": "none", "units": 8}
    params.update({"num_layers": 1, "dropout": 0.0, "bidirectional": False, "cell": "lstm"})
    problem = make_problem(parts, meta, params)
    model = build_model(problem.n_features, problem.n_outputs, params, zero_head=False).eval()
    spec = _served_spec(parts, meta, params)
    history = frame[frame["id"] == 1].tail(24).reset_index(drop=True)
    known = predict_panel(model, spec, history)
    for sent in (" 1", "1 ", 1.0):  # unseen series (scaled on the history sent) before
        padded = history.assign(id=sent)
        np.testing.assert_allclose(
            predict_panel(model, spec, padded).iloc[:, 2:],
            known.iloc[:, 2:],  # id, month first
        )
    gap = history.astype({"id": object})
    gap.loc[5, "id"] = None
    with pytest.raises(
        ValueError, match="missing value at input row 6; every row needs its series"
    ):
        predict_panel(model, spec, gap)
    with pytest.raises(ValueError, match="input row 1;"):
        predict_panel(model, spec, history.assign(id=np.nan))


def _weekly(n: int, seed: int, amplitude: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 100 * (1 + amplitude * np.sin(2 * np.pi * t / 52) + 0.05 * rng.standard_normal(n))


def test_a_tie_between_series_seasons_is_decided_by_the_pooled_series_not_silently() -> None:
    trains = {str(i): _weekly(n, i, 0.2) for i, n in enumerate((160, 140, 120, 150))}
    inferred = {"0": 52, "1": 52, "2": 1, "3": 1}  # a vote tied, and gave no season
    season, note = panel_season(inferred, trains)
    assert season == 52 and note is not None
    assert "52 in 2, 1 in 2 (e.g. '2')" in note and "set data.seasonal_period" in note
    noise = {k: _weekly(len(v), 10 + int(k), 0.0) for k, v in trains.items()}
    season, note = panel_season(inferred, noise)
    assert season == 1 and note is not None and "none of them passes" in note
    assert panel_season({"a": 4, "b": 4}, {}) == (4, None)  # agreement: no test, no note


def test_the_panel_season_and_its_note_come_from_preparation(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)  # the user's probe: two stores infer 52 weeks, two none
    stores = {101: (160, "2019-01-07", 100), 102: (140, "2019-06-03", 2000)}
    stores.update({103: (120, "2020-01-06", 50), 104: (150, "2019-03-04", 10)})
    frames = []
    for sid, (n, start, level) in stores.items():
        season = 1 + 0.2 * np.sin(2 * np.pi * np.arange(n) / 52)
        y = level * season + level * 0.05 * rng.standard_normal(n)
        times = pd.date_range(start, periods=n, freq="W-MON").strftime("%Y-%m-%d")
        frames.append(pd.DataFrame({"id": sid, "t": times, "y": y}))
    path = tmp_path / "weekly.csv"
    pd.concat(frames).to_csv(path, index=False)
    _, meta = _prepare(path, "t", **{"data.test_size": 13, "data.val_size": 13})
    assert meta["seasonal_period"] == 52  # the vote tied: no season
    note = meta["panel"]["season_note"]
    assert "of 4: 52 in 2, 1 in 2" in note and "the panel uses 52" in note
    assert meta["time_axis"]["first"] == "2019-01-07"  # the panel's first week, not 103's

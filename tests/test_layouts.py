"""statsforecast's / NeuralForecast's long frame (``unique_id``, ``ds``, ``y``) read without
naming its columns (real files, real prepare step): many series as a panel, one id as a single
series, ids that numbers would join kept apart, and a file whose settings name a column read as
those settings say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from lstmtune.config import load_config
from lstmtune.data.layouts import layout_line
from lstmtune.data.prepare import prepare

AIRLINE = Path(__import__("lstmtune").__file__).parent / "example_data" / "airline_passengers.csv"


def _prepare(path: Path, **keys: Any) -> tuple[Any, dict[str, Any]]:
    return prepare(load_config(None, {"data.path": str(path), **keys}).resolved())


def _nixtla(tmp_path: Path, ids: list[str]) -> Path:
    air = pd.read_csv(AIRLINE)
    frames = [
        pd.DataFrame({"unique_id": i, "ds": air["month"] + "-01", "y": air["passengers"] * (k + 1)})
        for k, i in enumerate(ids)
    ]
    path = tmp_path / "nixtla.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def test_many_ids_are_a_panel_of_y_over_ds(tmp_path: Path) -> None:
    parts, meta = _prepare(_nixtla(tmp_path, ["007", "7", "a"]))
    assert meta["layout"] == {"target": "y", "time_column": "ds", "series_column": "unique_id"}
    assert meta["panel"] and sorted(parts["train"]["unique_id"].unique()) == ["007", "7", "a"]
    assert meta["time_axis"]["freq"] == "MS"
    assert layout_line(meta["layout"]) == (
        "read the columns unique_id, ds, y as statsforecast and NeuralForecast lay them out: "
        "data.target y, data.time_column ds, data.series_column unique_id (name other columns in "
        "those settings to read the file otherwise)"
    )


def test_ids_that_numbers_would_join_are_two_series(tmp_path: Path) -> None:
    parts, meta = _prepare(_nixtla(tmp_path, ["001", "1"]))
    assert meta["layout"]["series_column"] == "unique_id"
    assert sorted(parts["train"]["unique_id"].unique()) == ["001", "1"]


def test_one_id_is_a_single_series_as_the_csv_with_its_columns_named(tmp_path: Path) -> None:
    parts, meta = _prepare(_nixtla(tmp_path, ["AirPassengers"]))
    want_parts, want = _prepare(
        AIRLINE, **{"data.target": "passengers", "data.time_column": "month"}
    )
    assert meta["layout"] == {"target": "y", "time_column": "ds"} and not meta.get("panel")
    for split in ("train", "val", "test"):
        assert parts[split]["y"].tolist() == want_parts[split]["passengers"].tolist()
    assert meta["seasonal_period"] == want["seasonal_period"] == 12


def test_settings_left_unset_are_filled_in_and_others_read_as_they_say(tmp_path: Path) -> None:
    path = _nixtla(tmp_path, ["a", "b"])
    _, meta = _prepare(path, **{"data.target": "y"})  # the habit of naming the target
    assert meta["layout"] == {"time_column": "ds", "series_column": "unique_id"} and meta["panel"]
    assert layout_line(meta["layout"]).startswith(
        "read the columns unique_id, ds as statsforecast and NeuralForecast lay them out: "
        "data.time_column ds, data.series_column unique_id"
    )
    named = {"data.target": "y", "data.time_column": "ds", "data.series_column": "unique_id"}
    _, meta = _prepare(path, **named)
    assert "layout" not in meta and meta["panel"]
    other = tmp_path / "other.csv"
    pd.read_csv(path).assign(z=lambda f: f["y"] * 2).query("unique_id == 'a'").to_csv(other)
    _, meta = _prepare(other, **{"data.target": "z"})  # another target: no layout
    assert "layout" not in meta and meta["columns"]["target"] == "z"

"""A classification table of one sequence per row read as the long frame (real files, real
prepare step): Chinatown written wide prepares as its long file, empty cells at a row's end make
it shorter, text and row-number columns are left out and named, an empty row is refused naming
it, and a table named otherwise is read as the settings say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstmtune.config import load_config
from lstmtune.data.prepare import prepare
from lstmtune.data.wide_sequences import wide_line
from lstmtune.errors import UserError

DATA = Path(__file__).parent / "data"


def _prepare(path: Path, **keys: Any) -> tuple[Any, dict[str, Any]]:
    overrides = {"data.path": str(path), "data.task": "classify", **keys}
    return prepare(load_config(None, overrides).resolved())


def _wide(tmp_path: Path) -> pd.DataFrame:
    long = pd.read_csv(DATA / "chinatown_long.csv")
    wide = long.pivot(index="case", columns="t", values="c0")
    wide.columns = [f"att{t + 1}" for t in wide.columns]
    meta = long.groupby("case")[["label", "split"]].first()
    return pd.concat([meta["label"].rename("target"), wide, meta["split"]], axis=1)


def _sequences(part: pd.DataFrame, case: str, label: str) -> list[tuple[Any, ...]]:
    groups = part.groupby(case, sort=False)
    return sorted((g[label].iloc[0], *g["c0"].round(6)) for _, g in groups)


def test_chinatown_written_wide_prepares_as_its_long_file(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    _wide(tmp_path).to_csv(path, index=False)
    parts, meta = _prepare(path, **{"data.label": "target", "data.split_column": "split"})
    long = {
        "data.sequence_column": "case",
        "data.time_column": "t",
        "data.label": "label",
        "data.split_column": "split",
    }
    want_parts, want = _prepare(DATA / "chinatown_long.csv", **long)
    assert _sequences(parts["test"], "case", "target") == _sequences(
        want_parts["test"], "case", "label"
    )
    both = pd.concat([parts["train"], parts["val"]])
    want_both = pd.concat([want_parts["train"], want_parts["val"]])
    assert _sequences(both, "case", "target") == _sequences(want_both, "case", "label")
    assert meta["classes"] == want["classes"] and meta["max_sequence_length"] == 24
    assert wide_line(meta["wide"]) == (
        "read one sequence per row: the 24 columns att1 … att24 as its steps, 42 sequences, as "
        "the columns case, t, c0, target, split"
    )


def test_padding_shortens_a_row_and_text_and_row_numbers_are_left_out(tmp_path: Path) -> None:
    wide = _wide(tmp_path).drop(columns="split").reset_index(drop=True)
    wide.insert(0, "name", [f"day {i}" for i in range(len(wide))])
    wide.loc[3, ["att23", "att24"]] = np.nan
    path = tmp_path / "wide.csv"
    wide.to_csv(path)  # pandas' written index: 'Unnamed: 0'
    parts, meta = _prepare(path, **{"data.label": "target"})
    lengths = pd.concat(parts.values()).groupby("case").size()
    assert lengths["row-4"] == 22 and (lengths.drop("row-4") == 24).all()
    assert meta["wide"]["left_out"] == ["Unnamed: 0", "name"]
    assert wide_line(meta["wide"]).endswith(
        "as the columns case, t, c0, target; left out: Unnamed: 0, name"
    )


def test_a_row_without_values_is_refused_naming_it(tmp_path: Path) -> None:
    wide = _wide(tmp_path).reset_index(drop=True)
    wide.loc[5, [f"att{t}" for t in range(1, 25)]] = np.nan
    path = tmp_path / "wide.csv"
    wide.to_csv(path, index=False)
    with pytest.raises(UserError, match=r"data row 6 holds no value in its 24 step columns"):
        _prepare(path, **{"data.label": "target", "data.split_column": "split"})


def test_a_table_named_otherwise_is_read_as_its_settings_say(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    _wide(tmp_path).to_csv(path, index=False)
    with pytest.raises(UserError, match=r"data.sequence_column is required"):
        _prepare(path, **{"data.label": "target", "data.feature_columns": ["att1", "att2"]})
    _, meta = _prepare(
        DATA / "chinatown_long.csv", **{"data.sequence_column": "case", "data.label": "label"}
    )
    assert "wide" not in meta


def test_a_file_of_one_row_per_step_is_not_read_as_wide(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cases = np.repeat(np.arange(40), 20)
    channels = {f"x{k}": rng.normal(size=800) for k in range(1, 10)}  # numbered channels
    long = pd.DataFrame({"id": cases, "t_step": np.tile(np.arange(20), 40), **channels})
    long["activity"] = np.where(cases % 2, "walk", "run")
    path = tmp_path / "long.csv"
    long.to_csv(path, index=False)
    with pytest.raises(UserError, match=r"data.sequence_column is required"):
        _prepare(path, **{"data.label": "activity"})  # the id repeats from row to row
    flat = tmp_path / "flat.csv"
    pd.DataFrame(
        {"sepal": rng.normal(size=30), "petal": rng.normal(size=30), "kind": ["a", "b"] * 15}
    ).to_csv(flat, index=False)
    with pytest.raises(UserError, match=r"data.sequence_column is required"):
        _prepare(flat, **{"data.label": "kind"})  # columns not numbered: no steps


def test_a_gap_or_a_missing_label_is_named_by_the_files_row(tmp_path: Path) -> None:
    wide = _wide(tmp_path).reset_index(drop=True)
    wide.loc[1, "att5"] = np.nan
    path = tmp_path / "gap.csv"
    wide.to_csv(path, index=False)
    keys = {"data.label": "target", "data.split_column": "split"}
    with pytest.raises(UserError, match=r"data row 2, column 'att5': a missing value inside"):
        _prepare(path, **keys)
    parts, _ = _prepare(path, **keys, **{"data.missing": "interpolate"})
    assert pd.concat(parts.values()).groupby("case").size()["row-2"] == 24
    wide.loc[1, "att5"] = 3.0
    wide["target"] = wide["target"].astype(float)
    wide.loc[2, "target"] = np.nan
    wide.to_csv(path, index=False)
    with pytest.raises(
        UserError, match=r"column 'target' \(data.label\) has a missing value at data row 3$"
    ):
        _prepare(path, **keys)


def test_a_constant_a_class_name_and_steps_named_by_times_are_read(tmp_path: Path) -> None:
    wide = _wide(tmp_path).drop(columns="split").sort_values("target").reset_index(drop=True)
    wide.insert(1, "sensor", "acc")  # a constant
    wide.insert(2, "class_name", wide["target"].map({1: "weekend", 2: "weekday"}))
    wide.columns = [*wide.columns[:3], *(f"{t / 10:.1f}" for t in range(24))]  # 0.0 … 2.3
    path = tmp_path / "wide.csv"
    wide.to_csv(path, index=False)
    parts, meta = _prepare(path, **{"data.label": "target"})
    assert meta["wide"]["count"] == 24 and meta["wide"]["left_out"] == ["sensor", "class_name"]
    assert sum(p["case"].nunique() for p in parts.values()) == 42

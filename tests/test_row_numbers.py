"""A forecast's column that is the file's row number (pandas' index written with the frame, read
back as ``Unnamed: 0``; R's ``Obs`` = 1..n) where data.feature_columns is not set: left out of
the inputs with a warning and named in the prepare line, and the published model does not ask
for it; a counter that is not the file's order, the time column, the target and a declared
input stay what they were (lstmtune.data.row_numbers through the real prepare step)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstmtune.config import DataConfig, RunConfig, load_config
from lstmtune.data.columns import feature_columns
from lstmtune.data.prepare import prepare
from lstmtune.data.row_numbers import row_numbers
from lstmtune.prepare_notes import _row_numbers
from lstmtune.steps import _inputs_note

N = 80


def _frame(n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = np.arange(n)
    income = rng.normal(0, 1, n)
    sales = 10 + np.sin(t * 2 * np.pi / 4) + 0.5 * income + rng.normal(0, 0.2, n)
    return pd.DataFrame({"sales": sales, "income": income})


def _prepared(tmp_path: Path, frame: pd.DataFrame, index: bool = False, **extra: Any) -> Any:
    path = tmp_path / "s.csv"
    frame.to_csv(path, index=index)
    keys = {"data.path": str(path), "data.target": "sales", **extra}
    _, meta = prepare(load_config(None, keys).resolved())
    return meta


def test_a_written_index_is_not_an_input(tmp_path: Path) -> None:
    """The probe: aeon's Uschange.csv (``,Quarter,Consumption,…``, 0..186) fed its row numbers
    to the network as 'Unnamed: 0'."""
    meta = _prepared(tmp_path, _frame(), index=True)
    assert meta["columns"]["features"] == ["sales", "income"]  # was ['Unnamed: 0', 'sales', …]
    assert meta["columns"]["left_out_row_numbers"] == ["Unnamed: 0"]
    assert _inputs_note(meta) == (
        ", inputs besides the target: income (data.feature_columns chooses);"
        " left out, row numbers: Unnamed: 0"
    )
    assert _row_numbers(meta) == (
        "warning: column 'Unnamed: 0' holds the file's row numbers and nothing else: not an"
        " input, since it tells only each row's place in the file (data.feature_columns naming"
        " it brings it back)"
    )
    plain = _prepared(tmp_path, _frame())
    assert _row_numbers(plain) is None and _inputs_note(plain) == _inputs_note(meta).split(";")[0]


def test_a_named_observation_number_from_one_is_not_an_input(tmp_path: Path) -> None:
    """The probe: aeon's Longley.csv (``"Obs","TOTEMP",…``, Obs = 1..16)."""
    frame = _frame().assign(Obs=np.arange(1, N + 1))
    meta = _prepared(tmp_path, frame)
    assert meta["columns"]["features"] == ["sales", "income"]
    assert _inputs_note(meta).endswith("; left out, row numbers: Obs")
    declared = _prepared(tmp_path, frame, **{"data.feature_columns": ["income", "Obs"]})
    assert declared["columns"]["features"] == ["sales", "income", "Obs"]  # named: an input
    assert _row_numbers(declared) is None


def test_the_file_order_decides_where_rows_are_sorted_by_time(tmp_path: Path) -> None:
    """With data.time_column the rows are put in time order: a column is the row numbers where
    it numbers the file's rows, not the sorted ones."""
    months = pd.date_range("2000-01-01", periods=N, freq="MS").strftime("%Y-%m-%d")
    frame = _frame().assign(month=months, step=np.arange(N))
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    timed = {"data.time_column": "month"}
    counter = _prepared(tmp_path, shuffled, **timed)  # 'step' counts months, not file rows
    assert counter["columns"]["features"] == ["sales", "income", "step"]
    numbered = _prepared(tmp_path, shuffled.assign(row=np.arange(N)), **timed)
    assert numbered["columns"]["features"] == ["sales", "income", "step"]
    assert numbered["columns"]["left_out_row_numbers"] == ["row"]
    written = _prepared(tmp_path, shuffled, index=True, **timed)  # a sorted frame's index
    assert written["columns"]["left_out_row_numbers"] == ["Unnamed: 0"]
    axis = _prepared(tmp_path, frame, **{"data.time_column": "step"})  # the time axis
    assert axis["columns"]["features"] == ["sales", "income"] and _row_numbers(axis) is None


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("Unnamed: 0", np.arange(N)),
        ("Obs", np.arange(1, N + 1)),
        ("", np.arange(N)),
        ("Unnamed: 0", np.random.default_rng(2).permutation(N)),  # a shuffled frame's index
    ],
)
def test_row_numbers(name: str, values: np.ndarray) -> None:
    assert row_numbers(pd.Series(values), name)


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("Obs", np.arange(2, N + 2)),  # a count from 2: not the rows' numbers
        ("Obs", np.arange(N) * 2),
        ("Obs", np.random.default_rng(2).permutation(N)),  # named: only in file order
        ("Unnamed: 0", np.arange(100, 100 + N)),  # a slice's index: not these rows' numbers
        ("Obs", np.arange(N).astype(float)),  # not integers
        ("Obs", np.arange(3)),  # too few to tell
        ("Obs", np.tile(np.arange(N // 2), 2)),  # a counter per series
    ],
)
def test_not_row_numbers(name: str, values: np.ndarray) -> None:
    assert not row_numbers(pd.Series(values), name)


def test_the_target_stays_the_target(tmp_path: Path) -> None:
    frame = pd.DataFrame({"sales": np.arange(N), "x": np.random.default_rng(3).normal(size=N)})
    meta = _prepared(tmp_path, frame)
    assert meta["columns"]["features"] == ["sales", "x"] and _row_numbers(meta) is None


def test_a_panel_keeps_its_counters(tmp_path: Path) -> None:
    """A step counter per series is no file row number."""
    frame = pd.concat(
        [_frame().assign(store=s, step=np.arange(N)) for s in ("a", "b")], ignore_index=True
    )
    meta = _prepared(tmp_path, frame, **{"data.series_column": "store"})
    assert meta["columns"]["features"] == ["sales", "income", "step"]
    written = _prepared(tmp_path, frame, index=True, **{"data.series_column": "store"})
    assert written["columns"]["features"] == ["sales", "income", "step"]
    assert written["columns"]["left_out_row_numbers"] == ["Unnamed: 0"]


def _sequences(n_cases: int = 24, length: int = 10) -> pd.DataFrame:
    """A long-format classification file grouped by class, as archives often are."""
    rng = np.random.default_rng(5)
    rows = []
    for case in range(n_cases):
        label = "a" if case < n_cases // 2 else "b"
        for t in range(length):
            shift = 1.0 if label == "b" else 0.0
            rows.append({"case": case, "t": t, "c0": shift + rng.normal(), "label": label})
    return pd.DataFrame(rows)


def test_a_classifier_leaves_out_a_written_index(tmp_path: Path) -> None:
    """A written index of a file grouped by class gives the label away (rows 0..119 are class
    a): it is no channel; the per-sequence step column ``t`` and a real channel stay as they
    were, and a channel named in data.feature_columns is read as declared."""
    path = tmp_path / "seq.csv"
    _sequences().to_csv(path)  # pandas writes its index: 'Unnamed: 0' when read back
    keys = {"data.path": str(path), "data.task": "classify", "data.sequence_column": "case"}
    keys |= {"data.time_column": "t", "data.label": "label"}
    _, meta = prepare(load_config(None, keys).resolved())
    assert meta["columns"]["features"] == ["c0"]
    assert meta["columns"]["left_out_row_numbers"] == ["Unnamed: 0"]
    assert "'Unnamed: 0' holds the file's row numbers" in (_row_numbers(meta) or "")
    keys["data.feature_columns"] = ["c0", "Unnamed: 0"]
    _, declared = prepare(load_config(None, keys).resolved())
    assert declared["columns"]["features"] == ["c0", "Unnamed: 0"]
    sequences = pd.DataFrame({"x": np.linspace(0, 1, 8), "y": np.arange(8) % 3})
    classify = DataConfig(task="classify", sequence_column="s", label="lab")
    assert feature_columns(sequences, classify, set(), "f.csv") == ["x", "y"]


@pytest.mark.slow
def test_the_published_model_does_not_ask_for_the_row_numbers(
    tmp_path: Path, tiny_config: Callable[..., RunConfig]
) -> None:
    import mlflow

    from lstmtune.runner import run_local

    path = tmp_path / "indexed.csv"
    _frame().to_csv(path)  # pandas writes its index: 'Unnamed: 0' when read back
    cfg = tiny_config(**{"data.path": str(path), "data.target": "sales", "evaluate.gate": "naive"})
    summary = run_local(cfg)
    mlflow.set_tracking_uri(summary["tracking_uri"])
    model = mlflow.pyfunc.load_model(summary["model_version_uri"])
    names = model.metadata.get_input_schema().input_names()
    assert "Unnamed: 0" not in names and set(names) == {"sales", "income"}
    history = _frame().tail(int(summary["history_rows"]) + 2).reset_index(drop=True)
    served = model.predict(history)  # no row numbers sent
    assert len(served) == 3 and np.isfinite(served.select_dtypes("number").to_numpy()).all()

"""Classification straight from the UCR / UEA archive's files (real files, real prepare step): the
UCR 2018 ``.tsv`` pair, the ``.ts`` format aeon ships (univariate, multivariate of unequal
length), the older whitespace ``.txt`` with labels written as floats, padding ``NaN`` and the
refusals (a missing ``_TEST`` file, the ``_TEST`` file named, channels of unequal length in a
``.ts`` case, a column setting naming another column)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstmtune.cli import main
from lstmtune.config import load_config
from lstmtune.data.archive import archive_line
from lstmtune.data.prepare import prepare
from lstmtune.errors import UserError

DATA = Path(__file__).parent / "data"
AEON = Path(__import__("aeon").__file__).parent / "datasets" / "data"
LONG = {
    "data.sequence_column": "case",
    "data.time_column": "t",
    "data.label": "label",
    "data.split_column": "split",
}


def _prepare(path: Path | str, tmp_path: Path, **keys: Any) -> tuple[Any, dict[str, Any]]:
    overrides = {
        "data.path": str(path),
        "data.task": "classify",
        "output_dir": str(tmp_path / "out"),
        **keys,
    }
    return prepare(load_config(None, overrides).resolved())


def _pair(tmp_path: Path, name: str, train: str, test: str) -> Path:
    (tmp_path / f"{name}_TEST{Path(name).suffix or '.ts'}").write_text(test)
    path = tmp_path / f"{name}_TRAIN.ts"
    path.write_text(train)
    return path


def test_the_chinatown_tsv_pair_prepares_as_its_long_format_csv(tmp_path: Path) -> None:
    parts, meta = _prepare(DATA / "Chinatown_TRAIN.tsv", tmp_path)
    want_parts, want = _prepare(DATA / "chinatown_long.csv", tmp_path, **LONG)
    for name in ("train", "val", "test"):
        pd.testing.assert_frame_equal(parts[name], want_parts[name])
    for key in ("classes", "splits", "columns", "scaler", "max_sequence_length"):
        assert meta[key] == want[key], key
    assert meta["columns"]["label_kind"] == "integer"  # UCR's 1 and 2, served as integers
    assert meta["source"] == str(DATA / "Chinatown_TRAIN.tsv")
    assert archive_line(meta["archive"]) == (
        "read the UCR archive's Chinatown_TRAIN.tsv and Chinatown_TEST.tsv as the train and test"
        " splits: 20 + 22 sequences, length 24, 2 classes"
    )
    named = load_config(None, {"data.path": str(DATA / "Chinatown_TRAIN.tsv")}).resolved()
    assert named.mlflow.model_name == "lstmtune-chinatown"  # the set's name, not '…_train'
    assert meta["dataset_name"] == "chinatown"


def test_a_univariate_ts_pair_prepares_with_the_archive_split(tmp_path: Path) -> None:
    from aeon.datasets import load_from_ts_file

    parts, meta = _prepare(AEON / "ArrowHead" / "ArrowHead_TRAIN.ts", tmp_path)
    assert meta["n_sequences"] == 36 + 175
    assert meta["splits"]["test"]["sequences"] == 175
    assert meta["splits"]["train"]["sequences"] + meta["splits"]["val"]["sequences"] == 36
    assert meta["classes"] == ["0", "1", "2"] and meta["columns"]["label_kind"] == "text"
    assert meta["max_sequence_length"] == meta["min_sequence_length"] == 251
    x, y = load_from_ts_file(str(AEON / "ArrowHead" / "ArrowHead_TEST.ts"))
    test = parts["test"]
    first = test[test["case"] == "test-0"]
    np.testing.assert_allclose(first["c0"].to_numpy(), x[0, 0])
    assert first["label"].iloc[0] == y[0]


def test_a_multivariate_ts_pair_of_unequal_lengths_keeps_every_step(tmp_path: Path) -> None:
    from aeon.datasets import load_from_ts_file

    parts, meta = _prepare(AEON / "JapaneseVowels" / "JapaneseVowels_TRAIN.ts", tmp_path)
    train, _ = load_from_ts_file(str(AEON / "JapaneseVowels" / "JapaneseVowels_TRAIN.ts"))
    test, _ = load_from_ts_file(str(AEON / "JapaneseVowels" / "JapaneseVowels_TEST.ts"))
    assert meta["n_sequences"] == 270 + 370 and meta["splits"]["test"]["sequences"] == 370
    assert meta["columns"]["features"] == [f"c{k}" for k in range(12)]
    assert meta["n_rows"] == sum(c.shape[1] for c in [*train, *test])
    assert (meta["min_sequence_length"], meta["max_sequence_length"]) == (7, 29)
    assert meta["classes"] == [str(k) for k in range(1, 10)]
    assert "12 channels, 9 classes" in archive_line(meta["archive"])
    first = parts["test"][parts["test"]["case"] == "test-0"]
    np.testing.assert_allclose(first[meta["columns"]["features"]].to_numpy(), test[0].T)


def test_ts_labels_keep_their_case_and_missing_values_are_filled_as_asked(tmp_path: Path) -> None:
    header = "# made here\n@problemName Toy\n@univariate false\n@dimensions 2\n"
    header += "@equalLength false\n@classLabel true Up Down\n@data\n"
    train = header + "".join(
        f"{i},{i + 1},?,{i + 3}:{i + 1},{i},{i},{i}:{'Up' if i % 2 else 'Down'}\n" for i in range(6)
    )
    test = header + "1,2,3:3,2,1:Up\n3,2,1,NaN:1,2,3,NaN:Down\n"
    path = _pair(tmp_path, "Toy", train, test)
    with pytest.raises(UserError, match=r"Toy_TRAIN.ts: line 8, channel 1: value 3 is missing"):
        _prepare(path, tmp_path)
    parts, meta = _prepare(path, tmp_path, **{"data.missing": "interpolate"})
    assert meta["classes"] == ["Down", "Up"]  # aeon's own reader lower-cases them
    last = parts["test"][parts["test"]["case"] == "test-1"]
    assert len(last) == 3  # the step missing in both channels at the end is padding
    assert parts["train"]["c0"].notna().all()


def test_padding_nan_at_the_end_is_no_value_and_old_txt_labels_are_integers(
    tmp_path: Path,
) -> None:
    rows = ["1\t1.0\t2.0\t3.0\t4.0", "2\t4.0\t3.0\tNaN\tNaN", "1\t1.0\t2.0\t2.5\tNaN"]
    (tmp_path / "Pad_TRAIN.tsv").write_text("\n".join(rows * 3) + "\n")
    (tmp_path / "Pad_TEST.tsv").write_text("\n".join(rows) + "\n")
    _, meta = _prepare(tmp_path / "Pad_TRAIN.tsv", tmp_path)
    assert (meta["min_sequence_length"], meta["max_sequence_length"]) == (2, 4)
    assert meta["n_rows"] == 4 * (4 + 2 + 3)
    old = ["  1.0000000e+00  -1.5  0.5  2.0", " -1.0000000e+00   2.5  0.5 -1.0"]
    (tmp_path / "Old_TRAIN.txt").write_text("\n".join(old * 4) + "\n")
    (tmp_path / "Old_TEST.txt").write_text("\n".join(old) + "\n")
    _, meta = _prepare(tmp_path / "Old_TRAIN.txt", tmp_path)
    assert meta["classes"] == ["-1", "1"] and meta["columns"]["label_kind"] == "integer"
    assert meta["splits"]["test"]["sequences"] == 2


def test_a_missing_test_file_is_refused_naming_it_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(DATA / "Chinatown_TRAIN.tsv", tmp_path)
    args = ["prepare", "--task", "classify", "--data", str(tmp_path / "Chinatown_TRAIN.tsv")]
    dataset = tmp_path / "dataset"
    rc = main([*args, "--dataset-dir", str(dataset), "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and not dataset.exists()
    assert f"its test file {tmp_path / 'Chinatown_TEST.tsv'}: file not found" in err[0]


def test_naming_the_test_file_is_refused_naming_the_training_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"name its training file Chinatown_TRAIN.tsv instead"):
        _prepare(DATA / "Chinatown_TEST.tsv", tmp_path)


def test_channels_of_unequal_length_in_a_ts_case_are_refused(tmp_path: Path) -> None:
    header = (
        "@problemName Toy\n@univariate false\n@equalLength false\n@classLabel true a b\n@data\n"
    )
    good = header + "1,2,3:3,2,1:a\n1,2:2,1:b\n"
    path = _pair(tmp_path, "Toy", good, header + "1,2,3:3,2,1:a\n1,2,3:3,2:b\n")
    with pytest.raises(
        UserError,
        match=r"Toy_TEST.ts: line 7: channel 2 has 2 values, channel 1 has 3; a case's channels",
    ):
        _prepare(path, tmp_path)
    path = _pair(tmp_path, "Toy", good, header + "1,2,3:3,2,1:c\n")
    with pytest.raises(
        UserError, match=r"line 6: class label 'c' is not one of @classLabel's a, b"
    ):
        _prepare(path, tmp_path)


def test_a_column_setting_naming_another_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        UserError,
        match=r"data.sequence_column 'id' names no column of an archive file, read as the "
        r"columns case, t, c0, label, split \(leave data.sequence_column unset\)",
    ):
        _prepare(DATA / "Chinatown_TRAIN.tsv", tmp_path, **{"data.sequence_column": "id"})
    _, meta = _prepare(DATA / "Chinatown_TRAIN.tsv", tmp_path, **LONG)  # the same names: fine
    assert meta["n_sequences"] == 42


def test_a_table_with_a_header_named_train_is_read_as_a_table(tmp_path: Path) -> None:
    path = tmp_path / "waves_TRAIN.csv"
    shutil.copy(DATA / "chinatown_long.csv", path)
    _, meta = _prepare(path, tmp_path, **LONG)
    assert "archive" not in meta and meta["n_sequences"] == 42


def test_a_ts_file_without_a_pair_is_split_by_the_sizes(tmp_path: Path) -> None:
    header = "@problemName Toy\n@univariate true\n@classLabel true a b\n@data\n"
    path = tmp_path / "toy.ts"
    path.write_text(header + "".join(f"{i},{i + 1},{i % 3}:{'ab'[i % 2]}\n" for i in range(20)))
    _, meta = _prepare(path, tmp_path, **{"data.test_size": 4, "data.val_size": 4})
    assert {k: v["sequences"] for k, v in meta["splits"].items()} == {
        "train": 12,
        "val": 4,
        "test": 4,
    }
    assert "no _TRAIN/_TEST pair" in archive_line(meta["archive"])
    with pytest.raises(UserError, match=r"data.split_column 'split' names no column"):
        _prepare(path, tmp_path, **{"data.split_column": "split"})

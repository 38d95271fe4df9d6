"""Data inside a zip archive, as the Monash repository and the UCR / UEA archive ship it (real
archives written here, real prepare step): a one-file archive reads as its file, a UCR set's
archive (``.arff``, ``.ts`` or ``.tsv`` pairs) classifies from its ``_TRAIN`` file with the
``_TEST`` file inside, ``a.zip/b.csv`` names a file, and an archive of several tables or an
Excel workbook is refused in one line (exit 2, nothing written)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lstmtune.cli import main
from lstmtune.config import load_config
from lstmtune.data.prepare import prepare
from lstmtune.data.zip_choice import zip_line
from lstmtune.errors import UserError

DATA = Path(__file__).parent / "data"
M1 = Path(__import__("aeon").__file__).parent / "datasets/data/m1_yearly_dataset"


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return path


def _prepare(path: Path | str, **keys: Any) -> tuple[Any, dict[str, Any]]:
    return prepare(load_config(None, {"data.path": str(path), **keys}).resolved())


def test_a_monash_archive_reads_as_its_tsf_file(tmp_path: Path) -> None:
    tsf = (M1 / "m1_yearly_dataset.tsf").read_bytes()
    packed = _zip(tmp_path / "m1_yearly_dataset.zip", {"m1_yearly_dataset.tsf": tsf})
    parts, meta = _prepare(packed)
    want_parts, _ = _prepare(M1 / "m1_yearly_dataset.tsf")
    for split in ("train", "val", "test"):
        pd.testing.assert_frame_equal(parts[split], want_parts[split])
    assert meta["source"] == f"{packed}/m1_yearly_dataset.tsf"
    assert meta["dataset_name"] == "m1_yearly_dataset"
    assert zip_line(meta["zip"]) == (
        "read m1_yearly_dataset.tsf from the zip archive m1_yearly_dataset.zip (one of its 1 "
        "files; --data m1_yearly_dataset.zip/<file> names another)"
    )


def test_a_ucr_set_archive_classifies_from_its_training_file(tmp_path: Path) -> None:
    files = {
        f"Chinatown/{n}": (DATA / n).read_bytes()
        for n in ("Chinatown_TRAIN.tsv", "Chinatown_TEST.tsv")
    }
    files["Chinatown/Chinatown_TRAIN.arff"] = b"@relation Chinatown\n"  # read by no one
    files["Chinatown/Chinatown_TEST.arff"] = b"@relation Chinatown\n"
    files["__MACOSX/Chinatown/._Chinatown_TRAIN.tsv"] = b"\x00\x05"
    packed = _zip(tmp_path / "Chinatown.zip", files)
    parts, meta = _prepare(packed, **{"data.task": "classify"})
    want_parts, _ = _prepare(DATA / "Chinatown_TRAIN.tsv", **{"data.task": "classify"})
    for split in ("train", "val", "test"):
        pd.testing.assert_frame_equal(parts[split], want_parts[split])
    assert meta["zip"]["member"] == "Chinatown/Chinatown_TRAIN.tsv"
    assert meta["archive"]["files"] == ["Chinatown_TRAIN.tsv", "Chinatown_TEST.tsv"]
    named = load_config(None, {"data.path": str(packed)}).resolved()
    assert named.mlflow.model_name == "lstmtune-chinatown"


def test_a_file_named_inside_an_archive_is_read(tmp_path: Path) -> None:
    air = (
        Path(__import__("lstmtune").__file__).parent / "example_data" / "airline_passengers.csv"
    ).read_bytes()
    packed = _zip(tmp_path / "two.zip", {"a.csv": air, "b.csv": air.replace(b"passengers", b"pax")})
    _, meta = _prepare(f"{packed}/b.csv", **{"data.target": "pax", "data.time_column": "month"})
    assert meta["columns"]["target"] == "pax" and "zip" not in meta
    with pytest.raises(
        UserError, match=r"two.zip/c.csv: file not found in .*two.zip \(it holds a.csv, b.csv\)"
    ):
        _prepare(f"{packed}/c.csv", **{"data.target": "pax"})


def test_an_archive_of_several_tables_is_refused_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    packed = _zip(tmp_path / "two.zip", {"a.csv": b"x,y\n1,2\n", "b.csv": b"x,y\n1,2\n"})
    dataset = tmp_path / "dataset"
    args = ["prepare", "--data", str(packed), "--dataset-dir", str(dataset)]
    assert main([*args, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and not dataset.exists()
    assert err[0].endswith(
        f"{packed}: a zip archive of 2 data files (a.csv, b.csv); name the one to read: "
        f"--data {packed}/a.csv"
    )


def test_an_excel_workbook_is_refused_as_one(tmp_path: Path) -> None:
    book = _zip(
        tmp_path / "sales.csv", {"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<x/>"}
    )
    with pytest.raises(UserError, match=r"sales.csv: an Excel workbook; save the sheet as CSV"):
        _prepare(book, **{"data.target": "y"})


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_a_damaged_member_is_refused_in_one_line(tmp_path: Path, method: int) -> None:
    air = (
        Path(__import__("lstmtune").__file__).parent / "example_data" / "airline_passengers.csv"
    ).read_bytes()
    packed = tmp_path / "bad.zip"
    with zipfile.ZipFile(packed, "w", method) as archive:
        archive.writestr("air.csv", air)
    raw = bytearray(packed.read_bytes())
    raw[60:90] = bytes(b ^ 0xFF for b in raw[60:90])  # the compressed stream, not the directory
    packed.write_bytes(bytes(raw))
    with pytest.raises(UserError, match=r"bad.zip/air.csv: cannot read it from the zip archive"):
        _prepare(packed, **{"data.target": "passengers"})


def test_an_archive_of_nothing_readable_says_to_unzip_it(tmp_path: Path) -> None:
    packed = _zip(tmp_path / "nested.zip", {"one.zip": b"PK\x05\x06" + b"\x00" * 18})
    with pytest.raises(
        UserError, match=r"a zip archive of no file lstmtune reads \(one.zip\): unzip"
    ):
        _prepare(packed, **{"data.target": "y"})

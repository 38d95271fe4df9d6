"""Numbers as spreadsheets write them in a CSV (:mod:`lstmtune.data.number_text`): decimal
commas in a European file, thousands commas in an American one, read as numbers where the file
tells which; dates, codes, currencies and columns the file leaves in doubt stay text. The
airline series written as a Spanish Excel on Windows writes it (Windows-1252, ``168,0``) or
with thousands commas prepares as the series it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmtune.config import example_data_path, load_config
from lstmtune.data.io import read_table
from lstmtune.data.prepare import prepare


def _read(tmp_path: Path, name: str, text: str, ids: tuple[str, ...] = ()) -> pd.DataFrame:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_table(str(path), ids=ids).frame


@pytest.mark.parametrize(
    ("sep", "cells", "numbers"),
    [
        # decimal commas in a semicolon file
        (";", ["168,0", "-0,5", "12"], [168.0, -0.5, 12.0]),
        (";", ["1.234,5", "1\u00a0234,5", "1\u202f234,5", "1 234,5"], [1234.5] * 4),
        (";", ["1.234.567,25", "0,125", ""], [1234567.25, 0.125, np.nan]),
        (";", ["1,120", "2,000"], [1.12, 2.0]),  # a semicolon file: a decimal comma
        # thousands commas in a comma file
        (",", ['"1,120"', "999", '"-12,345.5"'], [1120.0, 999.0, -12345.5]),
        (",", ['"1,234,567"', "3.5", ""], [1234567.0, 3.5, np.nan]),
        (",", ['"1,120"', '"6,220"'], [1120.0, 6220.0]),  # a comma file: thousands
    ],
)
def test_numbers_in_the_files_spelling_are_numbers(
    tmp_path: Path, sep: str, cells: list[str], numbers: list[float]
) -> None:
    text = f"t{sep}y\n" + "".join(f"{i}{sep}{c}\n" for i, c in enumerate(cells))
    frame = _read(tmp_path, "eu.csv" if sep == ";" else "us.csv", text)
    np.testing.assert_array_equal(frame["y"].to_numpy(dtype=float), numbers)


def test_thousands_dots_where_the_file_writes_decimal_commas_are_integers(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("t;count;rate\n1;1.120;1,5\n2;999;2,5\n", encoding="utf-8")
    table = read_table(str(path))
    assert table.frame["count"].tolist() == [1120, 999]  # not 1.12, pandas' own reading of 1.120
    assert table.notes == (  # said, since decimals written with a dot would read so too
        "warning: column 'count' read '1.120' as 1120, with thousands dots, as the file writes"
        " decimal commas; if its values are decimals, write them with a comma",
    )
    written = _read(tmp_path, "p.csv", "x;y\n1.125;7.4\n2.250;0.076\n")  # pandas' sep=";"
    assert written["x"].tolist() == [1.125, 2.25]


def test_what_the_file_leaves_in_doubt_or_is_not_a_number_stays_text(tmp_path: Path) -> None:
    frame = _read(
        tmp_path,
        "t.csv",
        "date;code;price;share;note\n"
        "01.02.2019;A-12;$1,5;12,5%;1,5 kg\n02.02.2019;A-13;$2,5;3%;2 kg\n",
    )
    assert frame.drop(columns="date").map(type).eq(str).all().all()
    assert frame["date"].tolist() == ["01.02.2019", "02.02.2019"]
    # 1,120 in a comma file whose other column writes 51,3: thousands or a decimal comma
    mixed = _read(tmp_path, "m.csv", 'a,b\n"1,120","51,3"\n"2,000","4,5"\n')
    assert mixed["a"].tolist() == ["1,120", "2,000"]
    assert mixed["b"].tolist() == [51.3, 4.5]
    # a tab-separated file: only a value that reads one way tells
    assert _read(tmp_path, "a.tsv", "a\tb\n1,120\t1\n")["a"].tolist() == ["1,120"]
    assert _read(tmp_path, "e.tsv", "a\tb\n1,120\t1,5\n")["a"].tolist() == [1.12]
    disagree = _read(tmp_path, "x.csv", "a;b\n1,5;1,234,567\n")  # one column each way
    assert disagree["a"].tolist() == ["1,5"]


def test_a_long_classification_file_of_decimal_commas_keeps_its_ids(tmp_path: Path) -> None:
    text = "seq;step;x;label\n001;1;0,5;a\n001;2;1,5;a\n1;1;2,5;b\n1;2;-3,5;b\n"
    frame = _read(tmp_path, "c.csv", text, ids=("seq",))
    assert frame["seq"].tolist() == ["001", "001", "1", "1"]
    assert frame["x"].tolist() == [0.5, 1.5, 2.5, -3.5]


def _airline(path: Path, sep: str, spell: str, encoding: str) -> None:
    """The airline file as a spreadsheet writes it: ``Año;Pasajeros`` and ``1949-01;168,0``
    (1.5 times the passengers), or ``1949-01,"1,120"`` (10 times)."""
    frame = pd.read_csv(example_data_path())
    written = {
        "eu": frame["passengers"].map(lambda v: f"{v * 1.5:.1f}".replace(".", ",")),
        "us": frame["passengers"].map(lambda v: f"{v * 10:,}"),
    }[spell]
    out = pd.DataFrame({"Año": frame["month"], "Pasajeros": written})
    path.write_bytes(out.to_csv(sep=sep, index=False).encode(encoding))


@pytest.mark.parametrize(
    ("name", "sep", "spell", "encoding", "scale"),
    [
        ("eu.csv", ";", "eu", "cp1252", 1.5),  # Excel on Windows, Spanish: Año;Pasajeros
        ("eu8.csv", ";", "eu", "utf-8", 1.5),
        ("thousands.csv", ",", "us", "utf-8", 10.0),  # "1,120"
    ],
)
def test_the_airline_series_as_spreadsheets_write_it_prepares_alike(
    tmp_path: Path, name: str, sep: str, spell: str, encoding: str, scale: float
) -> None:
    def prepared(path: str, target: str) -> tuple[pd.Series, dict[str, object]]:
        settings = {"data.path": path, "data.target": target, "output_dir": str(tmp_path / "o")}
        parts, meta = prepare(load_config(None, settings).resolved())
        return pd.concat([parts[s][target] for s in ("train", "val", "test")]), meta

    path = tmp_path / name
    _airline(path, sep, spell, encoding)
    values, meta = prepared(str(path), "Pasajeros")
    original, _ = prepared(example_data_path(), "passengers")
    np.testing.assert_allclose(values.to_numpy() / scale, original.to_numpy())
    notes = meta.get("read_notes", [])
    if encoding == "utf-8":
        assert notes == []
    else:
        assert notes == [
            f"warning: {path} is not UTF-8: read as Windows-1252 ('Año' as read), as Excel"
            " saves a CSV on Windows; if its text reads wrong, save it as CSV UTF-8"
        ]

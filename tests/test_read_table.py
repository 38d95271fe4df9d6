"""Tables as users' tools write them: tab- and semicolon-separated text, UTF-16, Windows-1252
(with a note), gzip, trailing rows of separators read as the data they hold; a repeated header
name, JSON and an Excel workbook refused in one line naming the file."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pandas as pd
import pytest

from lstmtune.data.io import read_table
from lstmtune.errors import UserError

FRAME = pd.DataFrame({"month": ["1949-01", "1949-02", "1949-03"], "passengers": [112, 118, 132]})


def _same(path: Path) -> None:
    frame = read_table(str(path)).frame
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), FRAME)


@pytest.mark.parametrize(
    ("name", "sep"), [("t.tsv", "\t"), ("t.txt", "\t"), ("eu.csv", ";"), ("p.csv", "|")]
)
def test_tab_semicolon_and_pipe_separated_files_are_read(
    tmp_path: Path, name: str, sep: str
) -> None:
    path = tmp_path / name
    FRAME.to_csv(path, sep=sep, index=False)
    _same(path)


def test_utf16_gzip_and_trailing_separator_rows_are_read(tmp_path: Path) -> None:
    utf16 = tmp_path / "u.csv"
    utf16.write_bytes(FRAME.to_csv(index=False).encode("utf-16"))  # with its byte-order mark
    _same(utf16)
    packed = tmp_path / "p.csv.gz"
    packed.write_bytes(gzip.compress(FRAME.to_csv(index=False).encode()))
    _same(packed)
    trailing = tmp_path / "x.csv"
    trailing.write_text(FRAME.to_csv(index=False) + ",\n,\n")  # a spreadsheet's empty rows
    _same(trailing)
    assert read_table(str(packed)).sha256 != read_table(str(trailing)).sha256


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "d.csv",
            b"month,passengers,passengers\n1949-01,1,2\n",
            "column 'passengers' appears twice",
        ),
        ("j.json", b'[{"month": "1949-01", "passengers": 112}]', "looks like JSON"),
        ("j.jsonl", b'{"month": "1949-01", "passengers": 112}\n', "looks like JSON"),
        ("w.xlsx", b"PK\x03\x04" + b"\x00" * 64, "an Excel workbook; save the sheet as CSV"),
        ("z.csv.gz", b"\x1f\x8b\x08\x00broken", "a damaged gzip file"),
    ],
)
def test_what_is_not_a_table_is_refused_naming_the_file(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError, match=rf"^{re.escape(str(path))}: .*{re.escape(message)}"):
        read_table(str(path))


def test_old_mac_line_ends_bracketed_headers_and_a_gzipped_tsv_are_read(tmp_path: Path) -> None:
    mac = tmp_path / "m.csv"
    mac.write_bytes(FRAME.to_csv(index=False, lineterminator="\r").encode())
    _same(mac)
    sql = tmp_path / "s.csv"
    sql.write_text("[month],[passengers]\n1949-01,112\n")  # as SQL tools write headers
    assert list(read_table(str(sql)).frame.columns) == ["[month]", "[passengers]"]
    tsv = tmp_path / "t.tsv.gz"
    tsv.write_bytes(
        gzip.compress(
            FRAME.rename(columns={"month": "month, start"}).to_csv(sep="\t", index=False).encode()
        )
    )
    assert list(read_table(str(tsv)).frame.columns) == ["month, start", "passengers"]


def test_id_columns_keep_apart_ids_that_read_as_one_number(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("case,x\n1,0.5\n001,0.7\n2,0.1\n")
    frame = read_table(str(path), ids=("case",)).frame
    assert list(frame["case"]) == ["1", "001", "2"]  # two sequences, as written
    assert read_table(str(path)).frame["case"].tolist() == [1, 1, 2]  # not an id: a number
    path.write_text("case,x\n1,0.5\n10,0.7\n2,0.1\n")
    same = read_table(str(path), ids=("case",)).frame["case"]
    assert same.dtype == "int64" and same.tolist() == [1, 10, 2]  # as pandas reads them
    path.write_text("case,x\na,0.5\n,0.7\n")
    assert read_table(str(path), ids=("case", "nope")).frame["case"].isna().tolist() == [
        False,
        True,
    ]


def test_a_windows_1252_file_is_read_with_one_note_and_utf8_with_none(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    # Año, € (0x80) and 0x81, a byte Windows-1252 leaves undefined (read as latin-1's U+0081)
    path.write_bytes(b"A\xf1o;Precio \x80;x\n1949-01;112;a\x81b\n")
    table = read_table(str(path))
    assert list(table.frame.columns) == ["Año", "Precio €", "x"]
    assert table.frame["x"].tolist() == ["a\x81b"]
    assert table.notes == (
        f"warning: {path} is not UTF-8: read as Windows-1252 ('Año' as read), as Excel saves a"
        " CSV on Windows; if its text reads wrong, save it as CSV UTF-8",
    )
    path.write_bytes("Año;Precio €\n1949-01;112\n".encode("utf-8-sig"))
    assert list(read_table(str(path)).frame.columns) == ["Año", "Precio €"]
    assert read_table(str(path)).notes == ()
    path.write_bytes(b"\xc3\x28" * 900 + b"\n")  # not UTF-8, and no text: refused as before
    with pytest.raises(UserError, match=r"not a text CSV file .*UTF-8.*binary content"):
        read_table(str(path))


def test_a_utf8_file_with_one_windows_1252_line_keeps_its_utf8_header(tmp_path: Path) -> None:
    """One cell pasted from a Windows tool makes a UTF-8 file invalid UTF-8: its lines are read
    one by one, UTF-8 where they are, so the header ``Año`` stays ``Año`` (a review found the
    whole file read as Windows-1252, ``AÃ±o``, and the run refused for a column not found)."""
    path = tmp_path / "m.csv"
    path.write_bytes("fecha,Año,nota\n".encode() + b"1949-01,112,ni\xf1o\n1949-02,118,\xe9t\xe9\n")
    table = read_table(str(path))
    assert list(table.frame.columns) == ["fecha", "Año", "nota"]
    assert table.frame["nota"].tolist() == ["niño", "été"]
    assert table.notes == (
        f"warning: {path} mixes UTF-8 and Windows-1252: line 2 and 1 more read as Windows-1252"
        " ('niño' as read); if its text reads wrong, save it as CSV UTF-8",
    )

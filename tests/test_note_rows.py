"""Title lines above a CSV's table and note lines below it (real files through the reader and
the prepare step): left out with a warning line each, the table read as without them; what
looks like them but is data (a missing value at the end, a header of one name, a column of ids
written in many ways) read as before."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lstmtune.config import load_config
from lstmtune.data.io import read_table
from lstmtune.data.note_rows import note_lines, title_lines
from lstmtune.data.prepare import prepare
from lstmtune.errors import UserError

AIRLINE = Path(__import__("lstmtune").__file__).parent / "example_data" / "airline_passengers.csv"


def _table(sep: str = ",") -> str:
    frame = pd.read_csv(AIRLINE)
    return "".join(f"{m}{sep}{v}\n" for m, v in frame.itertuples(index=False))


def test_a_title_and_notes_are_left_out_with_a_line_each(tmp_path: Path) -> None:
    path = tmp_path / "both.csv"
    path.write_text(
        "Monthly airline passengers,,\nThousands\n\nmonth,passengers\n"
        + _table()
        + "\nSource: Box & Jenkins (1976),\nNote: international,\n"
    )
    read = read_table(str(path))
    pd.testing.assert_frame_equal(read.frame, pd.read_csv(AIRLINE))
    assert read.notes == (
        f"warning: {path}: its first 3 lines are a title, not the table ('Monthly airline "
        "passengers'): read from line 4, the header",
        f"warning: {path}: its last 3 lines are notes, not data ('Source: Box & Jenkins "
        "(1976)', line 150): left out",
    )
    keys = {"data.path": str(path), "data.target": "passengers", "data.time_column": "month"}
    parts, meta = prepare(load_config(None, keys).resolved())
    assert len(parts["test"]) == 22 and meta["time_axis"]["freq"] == "MS"
    assert meta["read_notes"] == list(read.notes)


def test_a_semicolon_table_under_a_title_keeps_its_separator(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("Passagiere;;\nmonth;passengers\n" + _table(";"))
    read = read_table(str(path))
    assert list(read.frame.columns) == ["month", "passengers"] and len(read.frame) == 144
    assert read.notes == (
        f"warning: {path}: its first line is a title, not the table ('Passagiere'): read from "
        "line 2, the header",
    )


@pytest.mark.parametrize(
    "text",
    [
        "month,passengers\n" + _table(),  # a plain table
        '"","x"\n"1",112\n"2",118\n"3",132\n',  # R's write.csv: the header's first name empty
        "x\n1,112\n2,118\n",  # one name above two cells: no header below it
        "passengers\n112\n118\n132\n",  # one column
    ],
)
def test_what_is_no_title_is_read_as_before(text: str) -> None:
    assert title_lines(text.splitlines(keepends=True)) == 0


def test_a_missing_value_at_the_end_stays_data(tmp_path: Path) -> None:
    path = tmp_path / "gap.csv"
    path.write_text("month,passengers\n" + _table() + "1961-01,\n")
    assert note_lines(path.read_text().splitlines(), ",") == 0
    keys = {"data.path": str(path), "data.target": "passengers", "data.time_column": "month"}
    with pytest.raises(UserError, match=r"column 'passengers' has a missing value at data row 145"):
        prepare(load_config(None, keys).resolved())


def test_ids_written_in_many_ways_decide_nothing() -> None:
    lines = ["store,sales", "north,1", "South-2,2", "east 3,3", "Source: ours,"]
    assert note_lines(lines, ",") == 0
    dated = ["month,sales", "2020-01,1", "2020-02,2", "2020-03,3", "", "Source: ours,"]
    assert note_lines(dated, ",") == 2


def test_a_quoted_cell_of_many_lines_at_the_end_stays_data(tmp_path: Path) -> None:
    rows = "".join(f'{i},pos,"fine film {i}"\n' for i in range(1, 60))
    path = tmp_path / "reviews.csv"
    path.write_text(f'id,label,review\n{rows}60,pos,"great movie\nsee it twice"\n')
    assert note_lines(path.read_text().splitlines(), ",") == 0
    read = read_table(str(path))
    assert len(read.frame) == 60 and read.frame["review"].iloc[-1] == "great movie\nsee it twice"


def test_excels_separator_line_is_no_title(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text("sep=;\nmonth;passengers\n" + _table(";"))
    read = read_table(str(path))
    assert list(read.frame.columns) == ["month", "passengers"] and len(read.frame) == 144
    assert read.notes == ()


def test_an_inch_mark_is_no_quote(tmp_path: Path) -> None:
    path = tmp_path / "inch.csv"
    path.write_text("month,passengers\n" + _table() + '\nNote: 1" is one inch,\n')
    read = read_table(str(path))
    assert len(read.frame) == 144 and "its last 2 lines are notes" in read.notes[0]

"""A CSV without a header (``numpy.savetxt``, R's ``write``): one column of numbers, or a time and
a number a line, read as ``value`` (and ``time``) with a warning line, the first line kept as
data, and the target and time settings filled in (real files, real prepare step); a first line of
names, and wider files, are read as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmtune.config import load_config
from lstmtune.data.headerless import headerless_names
from lstmtune.data.io import read_table
from lstmtune.data.prepare import prepare

AIRLINE = Path(__import__("lstmtune").__file__).parent / "example_data" / "airline_passengers.csv"


def test_a_column_of_numbers_is_the_series(tmp_path: Path) -> None:
    air = pd.read_csv(AIRLINE)
    path = tmp_path / "air.txt"
    np.savetxt(path, air["passengers"].to_numpy(), fmt="%d")
    read = read_table(str(path))
    assert list(read.frame.columns) == ["value"] and read.headerless
    assert read.frame["value"].tolist() == air["passengers"].tolist()  # 112 is data
    assert read.notes == (
        f"warning: {path} has no header (its first line '112' holds values): read as the column"
        " value",
    )
    parts, meta = prepare(load_config(None, {"data.path": str(path)}).resolved())
    assert meta["columns"]["target"] == "value" and meta["seasonal_period"] == 12
    assert sum(len(p) for p in parts.values()) == 144


def test_a_time_and_a_number_a_line_prepare_as_the_named_file(tmp_path: Path) -> None:
    path = tmp_path / "air.csv"
    path.write_text("".join(AIRLINE.read_text().splitlines(keepends=True)[1:]))
    parts, meta = prepare(load_config(None, {"data.path": str(path)}).resolved())
    keys = {"data.path": str(AIRLINE), "data.target": "passengers", "data.time_column": "month"}
    want_parts, want = prepare(load_config(None, keys).resolved())
    assert meta["time_axis"]["freq"] == want["time_axis"]["freq"] == "MS"
    for split in ("train", "val", "test"):
        assert parts[split]["value"].tolist() == want_parts[split]["passengers"].tolist()


@pytest.mark.parametrize(
    ("cells", "names"),
    [
        (["112"], ["value"]),
        (["1949-01", "112"], ["time", "value"]),
        (["1956Q1", "284.0"], ["time", "value"]),
        (["0", "3.5"], ["time", "value"]),
        (["passengers"], None),  # a name
        (["month", "passengers"], None),
        (["x1", "2"], None),  # a name with a digit
        (["2019", "2020", "2021"], None),  # three columns: years may be names
        (["1949-01", "n/a"], None),
        (["0"], None),  # pandas' Series.to_csv(index=False): the header 0
        (["0", "1"], None),  # a frame of unnamed columns
    ],
)
def test_only_a_first_line_of_values_in_one_or_two_columns_is_no_header(
    cells: list[str], names: list[str] | None
) -> None:
    assert headerless_names(cells) == names


def test_a_refusal_says_where_the_columns_names_came_from(tmp_path: Path) -> None:
    from lstmtune.errors import UserError

    path = tmp_path / "gap.txt"
    path.write_text("112\n118\n?\n" + "".join(f"{v}\n" for v in range(120, 160)))
    with pytest.raises(UserError) as caught:
        prepare(load_config(None, {"data.path": str(path)}).resolved())
    assert "column 'value' has a missing value at data row 3" in str(caught.value)
    assert str(caught.value).endswith(
        f"(as read: {path} has no header (its first line '112' holds values): read as the "
        "column value)"
    )

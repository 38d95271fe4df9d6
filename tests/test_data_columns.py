"""The column checks every preparer shares: a required ``data.<key>`` that is not set, and a
missing value in an id, label or text column, each one line naming the file, key or column and
data row."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from lstmtune.config import DataConfig
from lstmtune.data.columns import (
    class_names,
    configured_columns,
    date_columns,
    feature_columns,
    numeric_column,
    refuse_missing,
    require_columns,
    text_columns,
)
from lstmtune.errors import UserError

FRAME = pd.DataFrame({"s": [1, 1, 2, 2], "lab": ["a", "a", "b", None], "x": [0.1, 0.2, 0.3, 0.4]})


def test_configured_columns_are_the_named_ones_in_order() -> None:
    cfg = DataConfig(task="classify", sequence_column="s", label="lab")
    assert configured_columns(FRAME, cfg, "f.csv", "classify", ("sequence_column", "label")) == [
        "s",
        "lab",
    ]


def test_an_unset_key_names_the_key_the_task_and_the_columns() -> None:
    cfg = DataConfig(task="classify", sequence_column="s")
    message = "f.csv: data.label is required for task 'classify' (columns: s, lab, x)"
    with pytest.raises(UserError, match=re.escape(message)):
        configured_columns(FRAME, cfg, "f.csv", "classify", ("sequence_column", "label"))


@pytest.mark.parametrize(
    ("asked", "hint"),
    [(" Lab ", " (did you mean 'lab'?)"), ("lbl", ""), ("labb", " (did you mean 'lab'?)")],
)
def test_a_column_not_found_suggests_the_one_spelt_nearly_so(asked: str, hint: str) -> None:
    message = f"f.csv: column '{asked}' (data.label) not found{hint}; columns are: s, lab, x"
    with pytest.raises(UserError, match="^" + re.escape(message) + "$"):
        require_columns(FRAME, "f.csv", label=asked)


def test_a_wide_file_names_its_first_20_columns_and_counts_them_all() -> None:
    wide = pd.DataFrame({f"c{i}": [0.0] for i in range(25)})
    with pytest.raises(UserError, match=r"c18, c19 \(25 in all\)$"):
        require_columns(wide, "f.csv", target="y")


def test_the_first_column_with_a_missing_value_is_named_with_its_data_row() -> None:
    frame = FRAME.assign(s=[1.0, np.nan, 2.0, 2.0])
    with pytest.raises(
        UserError, match=re.escape("f.csv: column 's' has a missing value at data row 2")
    ):
        refuse_missing(frame, ["s", "lab"], "f.csv")
    with pytest.raises(
        UserError, match=re.escape("column 'lab' has a missing value at data row 4")
    ):
        refuse_missing(FRAME, ["s", "lab"], "f.csv")
    refuse_missing(FRAME, ["s", "x"], "f.csv")


def test_class_names_are_sorted_and_one_class_is_refused() -> None:
    assert class_names(pd.Series(["b", "a", "b"]), "lab", "f.csv") == ["a", "b"]
    numbers = pd.Series(["10", "2", "1", "-1", "2.5"])  # as numbers: proba_1, proba_2, proba_10
    assert class_names(numbers, "lab", "f.csv") == ["-1", "1", "2", "2.5", "10"]
    assert class_names(pd.Series(["10", "2", "x"]), "lab", "f.csv") == ["10", "2", "x"]
    message = "f.csv: column 'lab' (data.label) has a single class 'a'; classification needs"
    with pytest.raises(UserError, match=re.escape(message)):
        class_names(pd.Series(["a", "a"]), "lab", "f.csv")


@pytest.mark.parametrize(
    "written",
    [["51,3", "48,7"], ["5,130", "4,870"], ["51%", "48%"], ["$51", "(48)"], ["51 kg", "48 kg"]],
)
def test_numbers_written_for_people_are_refused_naming_the_column(written: list[str]) -> None:
    frame = pd.DataFrame({"y": [1.0, 2.0], "temp": written})
    message = f"f.csv: column 'temp' holds numbers written as text such as {written[0]!r}"
    with pytest.raises(UserError, match=re.escape(message)):
        feature_columns(frame, DataConfig(), {"t"}, "f.csv")


def test_numbers_held_as_text_are_inputs_and_text_columns_are_named_as_left_out() -> None:
    from decimal import Decimal

    frame = pd.DataFrame(
        {
            "t": ["2000-01", "2000-02", "2000-03"],
            "y": [1.0, 2.0, 3.0],
            "db": [Decimal("1.50"), Decimal("2.25"), None],  # a database's NUMERIC
            "text": ["51.3", "-4e2", " 7 "],
            "store": ["north", "south", "north"],
            "code": ["12A", "7B", "12A"],
            "zip": ["01234", "02345", "00012"],  # digits with leading zeros: a code
            "day": ["31.01.2019", "01.02.2019", "02.02.2019"],
        }
    )
    features = feature_columns(frame, DataConfig(), {"t"}, "f.csv")
    assert features == ["y", "db", "text"]
    assert text_columns(frame, {"t"}, features) == ["store", "code", "zip", "day"]
    np.testing.assert_allclose(numeric_column(frame, "text", "f.csv"), [51.3, -400.0, 7.0])
    np.testing.assert_allclose(numeric_column(frame, "db", "f.csv"), [1.5, 2.25, np.nan])


def test_blank_cells_of_numbers_held_as_text_are_missing_values() -> None:
    frame = pd.DataFrame(
        {"y": [1.0, 2.0, 3.0], "p": ["51.3", " ", "7"], "at": ["10 AM", "9 PM", "1 pm"]}
    )
    assert feature_columns(frame, DataConfig(), set(), "f.csv") == ["y", "p"]  # 'at': a clock
    np.testing.assert_allclose(numeric_column(frame, "p", "f.csv"), [51.3, np.nan, 7.0])


def test_columns_of_dates_are_told_from_text() -> None:
    """A column of dates left out is not text: the prepare line names it a date column."""
    months = pd.date_range("2020-01-01", periods=3, freq="MS")
    frame = pd.DataFrame(
        {
            "dt": months,  # datetime64, as a DataFrame or a Parquet file holds it
            "utc": months.tz_localize("UTC"),
            "period": months.to_period("M"),
            "iso": ["2020-01", "2020-02", None],  # dates written as text, one missing
            "dmy": ["31.01.2019", "01.02.2019", "02.02.2019"],
            "store": ["north", "south", "north"],
            "zip": ["01234", "02345", "00012"],
            "code": ["A-12", "B-7", "A-12"],
        }
    )
    names = [str(c) for c in frame.columns]
    assert date_columns(frame, names) == ["dt", "utc", "period", "iso", "dmy"]
    assert date_columns(frame, ["store", "gone"]) == []


WIDE = pd.DataFrame(
    {
        "week": ["07/01/2019", "14/01/2019", "21/01/2019"],
        **{str(s): [1.0, 2.0, np.nan] for s in (101, 102, 103, 104)},
    }
)


def test_a_wide_file_without_its_series_column_is_told_to_write_it_long() -> None:
    melt = "df.melt(id_vars=['week'], var_name='store', value_name='sales')"
    message = (
        "w.csv: column 'store' (data.series_column) not found (a wide file, a column per series:"
        " 4 columns here, write it long, one row per series and time (id, time, value): "
        f"{melt}); columns are: week, 101, 102, 103, 104"
    )
    with pytest.raises(UserError, match="^" + re.escape(message) + "$"):
        require_columns(WIDE, "w.csv", series_column="store", target="sales", time_column="week")
    with pytest.raises(UserError, match=re.escape("df.melt(id_vars=['week'], var_name='store',")):
        require_columns(WIDE, "w.csv", series_column="store", target="101")  # week: not a value


def test_a_long_file_without_its_series_column_gets_no_wide_hint() -> None:
    long = pd.DataFrame({"date": ["2020-01"], "y": [1.0], "price": [2.0], "promo": [0]})
    with pytest.raises(UserError, match=r"not found; columns are: date, y, price, promo$"):
        require_columns(long, "l.csv", series_column="store", target="y", time_column="date")
    with pytest.raises(UserError, match=r"not found; columns are"):  # two series: too few
        require_columns(WIDE.iloc[:, :3], "w.csv", series_column="store", target="sales")

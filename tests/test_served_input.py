"""What a consumer sends the published forecaster (one series, or a panel): pandas' missing
values (``pd.NA`` of nullable or object columns) read as NaN, text in a numeric column and
infinities named by column and input row (serving + serving_panel + features, real objects:
an untrained network behind a hand-made featurizer)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import untrained_forecaster

from lstmtune.serving import Predictor


def _predictor(missing: str, **extra: Any) -> Predictor:
    return untrained_forecaster("passengers", 100.0, 20.0, missing, **extra)


def _history(rows: int = 10) -> pd.DataFrame:
    values = 100 + 10 * np.sin(np.arange(rows))
    return pd.DataFrame({"month": [f"2020-{m:02d}" for m in range(1, rows + 1)],
                         "passengers": np.round(values).astype(np.int64)})  # fmt: skip


def _with(history: pd.DataFrame, dtype: str, row: int, value: Any) -> pd.DataFrame:
    sent = history.astype({"passengers": dtype})
    sent.iloc[row, 1] = value
    return sent


@pytest.mark.parametrize("dtype", ["Int64", "Float64", "object"])
def test_a_pandas_na_is_read_as_a_nan_is(dtype: str) -> None:
    history = _history()
    holed = _with(history, "float64", 2, np.nan)
    sent = _with(history, dtype, 2, pd.NA)
    for how in ("error", "", "ffill", "interpolate"):
        model = _predictor(how)
        if how in ("error", ""):  # refused in the very words a NaN is
            with pytest.raises(ValueError) as nan:
                model.predict(holed)
            with pytest.raises(ValueError) as na:
                model.predict(sent)
            assert str(na.value) == str(nan.value)
            assert str(na.value).startswith(
                "input column 'passengers' has a missing or infinite value at input row 3"
            )
        else:  # filled as a NaN is
            pd.testing.assert_frame_equal(model.predict(sent), model.predict(holed))


@pytest.mark.parametrize("text", ["", "abc"])
def test_text_in_a_numeric_input_column_names_the_column_and_the_input_row(text: str) -> None:
    sent = _with(_history(), "object", 4, text)
    for how in ("error", "ffill"):
        with pytest.raises(
            ValueError,
            match=rf"^input column 'passengers' has a value '{text}' that is not a number at "
            r"input row 5$",
        ):
            _predictor(how).predict(sent)


def test_an_infinite_value_is_named_as_such_and_never_filled() -> None:
    sent = _with(_history(), "float64", 5, np.inf)  # five rows precede it
    for how, why in [
        ("ffill", " (data.missing fills missing values, not infinite ones)"),
        ("interpolate", " (data.missing fills missing values, not infinite ones)"),
        ("error", ""),
        ("", ""),
    ]:
        message = f"input column 'passengers' has an infinite value at input row 6{why}"
        with pytest.raises(ValueError) as err:
            _predictor(how).predict(sent)
        assert str(err.value) == message
    # a missing value before it is named first, with its own suffix
    both = _with(sent, "float64", 1, np.nan)
    with pytest.raises(ValueError, match=r"missing or infinite value at input row 2 \(the model"):
        _predictor("error").predict(both)
    with pytest.raises(ValueError, match=r"infinite value at input row 6 \(data.missing fills"):
        _predictor("ffill").predict(both.assign(passengers=-both["passengers"]))


def test_the_panel_pyfunc_reads_pandas_na_as_nan_and_names_text_by_input_row() -> None:
    panel = {"series_column": "id", "members": {}}  # every series new: scaled on its history
    history = _history()
    two = pd.concat([history.assign(id="a"), history.assign(id="b")], ignore_index=True)
    two["passengers"] = two["passengers"] + np.where(two["id"] == "b", 50, 0)
    holed = _with(two, "float64", 12, np.nan)
    for dtype in ("Int64", "object"):
        sent = _with(two, dtype, 12, pd.NA)
        strict = _predictor("error", panel=panel)
        with pytest.raises(ValueError, match=r"^series 'b': input column 'passengers' has a miss"):
            strict.predict(sent)
        filling = _predictor("ffill", panel=panel)
        pd.testing.assert_frame_equal(filling.predict(sent), filling.predict(holed))
    with pytest.raises(
        ValueError,
        match=r"^series 'b': input column 'passengers' has a value 'abc' that is not a number at "
        r"input row 13$",
    ):
        _predictor("ffill", panel=panel).predict(_with(two, "object", 12, "abc"))

"""What public files write for a value that is not there (FRED's ``.``, ARFF's ``?``, the OECD's
``..``, Eurostat's ``:``, a printed table's dash) is a missing value, as an empty cell is:
``data.missing`` decides what becomes of it, in place of a refusal of the file as text
(lstmtune.data.columns through the real prepare step)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmtune.config import load_config
from lstmtune.data.number_text import missing_cells
from lstmtune.data.prepare import prepare
from lstmtune.errors import UserError


def _fred(tmp_path: Path, token: str) -> Path:
    """FRED's CSV layout (``DATE,VALUE``) with two values not there, written ``token``."""
    rng = np.random.default_rng(0)
    t = np.arange(60)
    values = [f"{v:.3f}" for v in 100 + t + 5 * np.sin(2 * np.pi * t / 12) + rng.normal(size=60)]
    values[30] = values[31] = token
    frame = pd.DataFrame(
        {"DATE": pd.date_range("2015-01-01", periods=60, freq="MS"), "PAX": values}
    )
    path = tmp_path / "fred.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("token", [".", "?", "..", ":", "-", "n.a."])
def test_a_missing_value_token_follows_data_missing(tmp_path: Path, token: str) -> None:
    keys = {"data.path": str(_fred(tmp_path, token)), "data.target": "PAX"}
    keys |= {"data.time_column": "DATE", "output_dir": str(tmp_path / "out")}
    with pytest.raises(UserError, match=r"column 'PAX' has a missing value at data row 31 \(set"):
        prepare(load_config(None, keys).resolved())
    parts, _ = prepare(load_config(None, {**keys, "data.missing": "interpolate"}).resolved())
    series = pd.concat([parts[s] for s in ("train", "val", "test")])["PAX"].to_numpy()
    assert len(series) == 60 and np.isfinite(series).all()
    step = (series[32] - series[29]) / 3  # filled on the line between its neighbours
    np.testing.assert_allclose(series[30:32], series[29] + step * np.array([1, 2]))


def test_only_whole_tokens_are_missing() -> None:
    cells = pd.Series([" . ", "?", "", "N.A.", "-5", "1.5", ".5", "x", "0", "—"], dtype=object)
    assert missing_cells(cells).tolist() == [True, True, True, True] + [False] * 5 + [True]


@pytest.mark.parametrize(
    ("sep", "cell", "token"), [(";", "{:.1f}", "-"), (",", '"{:,.0f}"', "n.a.")]
)
def test_a_token_beside_numbers_spelt_for_people_is_missing_too(
    tmp_path: Path, sep: str, cell: str, token: str
) -> None:
    """A Destatis column (``100,0`` with a ``-``) or thousands commas with an ``n.a.``: the
    column is still read as numbers of its spelling, the token a missing value (a review found
    the column refused naming its first value)."""
    values = [cell.format(1000 + 10 * i) for i in range(48)]
    if sep == ";":
        values = [v.replace(".", ",") for v in values]
    values[20] = token
    months = pd.date_range("2019-01-01", periods=48, freq="MS").strftime("%Y-%m")
    path = tmp_path / "destatis.csv"
    rows = "".join(f"{m}{sep}{v}\n" for m, v in zip(months, values, strict=True))
    path.write_text(f"Monat{sep}Wert\n" + rows)
    keys = {"data.path": str(path), "data.target": "Wert", "data.time_column": "Monat"}
    keys |= {"output_dir": str(tmp_path / "out"), "data.missing": "interpolate"}
    parts, _ = prepare(load_config(None, keys).resolved())
    series = pd.concat([parts[s] for s in ("train", "val", "test")])["Wert"].to_numpy()
    np.testing.assert_allclose(series, 1000 + 10 * np.arange(48))  # 20 filled on its line

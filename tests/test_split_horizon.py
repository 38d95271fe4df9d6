"""A share of a short series (``data.test_size`` / ``data.val_size`` below 1) that holds fewer
time steps than ``data.horizon`` gives that split the horizon, with one warning line, instead of
refusing the series (one series) or leaving it out (many series: M1's yearly series with the
competition's horizon of 6 lost 162 of 181 to ``0.15 x 28 = 4``). A count stays as given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstmtune.config import load_config
from lstmtune.data.prepare import prepare
from lstmtune.data.splits import raised_splits, time_split_size
from lstmtune.errors import UserError
from lstmtune.prepare_notes import prepare_notes


def test_a_share_is_at_least_the_horizon_and_a_count_stays_as_given() -> None:
    assert time_split_size(0.15, 28, "test_size", 6) == 6  # 4.2 -> the horizon
    assert time_split_size(0.15, 100, "test_size", 6) == 15  # the share where it is enough
    assert time_split_size(0.001, 120, "test_size", 1) == 1  # no rows -> one whole forecast
    assert time_split_size(3, 28, "val_size", 6) == 3  # a count: the caller refuses it
    sizes = {"test": (0.15, 28), "val": (0.15, 100)}
    assert raised_splits(sizes, 6) == ["test"]
    assert raised_splits({"test": (6.0, 28)}, 6) == []


def _yearly(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = 100 + np.cumsum(rng.normal(1, 3, n))
    return pd.DataFrame({"year": np.arange(1950, 1950 + n), "y": y})


def _cfg(path: Path, **keys: Any) -> Any:
    base = {"data.path": str(path), "data.target": "y", "data.time_column": "year"}
    return load_config(None, {**base, **keys}).resolved()


def test_a_short_series_gets_test_and_val_of_the_horizon_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    _yearly(40, 0).to_csv(path, index=False)
    cfg = _cfg(path, **{"data.horizon": 8})
    parts, meta = prepare(cfg)
    assert [len(parts[s]) for s in ("train", "val", "test")] == [24, 8, 8]  # 0.15 x 40 = 6 < 8
    assert meta["split_raised"] == ["test", "val"]
    assert prepare_notes(meta, cfg.data)[0] == (
        "warning: data.test_size=0.15 and data.val_size=0.15 of 40 time steps give fewer than"
        " data.horizon=8: the test and val split(s) hold 8 time steps (one whole forecast; a"
        " count such as data.test_size: 12 sets them yourself)"
    )
    counted = _cfg(path, **{"data.horizon": 8, "data.test_size": 8, "data.val_size": 0.25})
    _, meta = prepare(counted)
    assert meta["split_raised"] == [] and not any(
        "hold 8" in n for n in prepare_notes(meta, counted.data)
    )
    with pytest.raises(UserError, match=r"data\.test_size: the test split has 6 time steps"):
        prepare(_cfg(path, **{"data.horizon": 8, "data.test_size": 6}))  # a count is as given


def test_many_short_series_are_kept_with_splits_of_the_horizon(tmp_path: Path) -> None:
    """Three series of 30 years and one of 80 with a horizon of 6: before, the three were left
    out (0.15 x 30 = 4 test steps); now each has 6 test and 6 val steps, the long one its 12."""
    frames = [_yearly(30, i).assign(id=f"s{i}") for i in range(3)]
    frames.append(_yearly(80, 9).assign(id="long"))
    path = tmp_path / "panel.csv"
    pd.concat(frames).to_csv(path, index=False)
    cfg = _cfg(path, **{"data.horizon": 6, "data.series_column": "id"})
    _, meta = prepare(cfg)
    panel = meta["panel"]
    assert panel["dropped"] == {} and sorted(panel["series"]) == ["long", "s0", "s1", "s2"]
    rows = {s: m["meta"]["splits"]["test"]["rows"] for s, m in panel["members"].items()}
    assert rows == {"s0": 6, "s1": 6, "s2": 6, "long": 12}
    assert "split_raised" not in meta  # the reference series' own: each member's meta says
    assert prepare_notes(meta, cfg.data)[0] == (
        "warning: 3 of 4 series are short for data.test_size=0.15 and data.val_size=0.15: their"
        " test and val split(s) hold data.horizon=6 time steps (one whole forecast), e.g. 's0'"
        " of 30 time steps"
    )

"""Many series with ``data.missing``: a test value that was filled is not scored, in the run's
evaluation and in the champion's re-score, and the warning counts every series' filled values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import PANEL_KEYS

from lstmtune.config import load_config
from lstmtune.data.prepare import prepare
from lstmtune.final_panel import panel_metrics, panel_observed
from lstmtune.problems import make_problem
from lstmtune.registry_panel import panel_score_on_test
from lstmtune.synthetic import panel_frame

KEYS = {**PANEL_KEYS, "data.missing": "ffill"}
PARAMS = {"lookback": 13, "anchor": "seasonal", "transform": "none", "window_norm": False}


def _gappy(tmp_path: Path) -> tuple[Path, pd.DataFrame, dict[str, list[int]]]:
    """A panel whose series s0001 lacks two test values and s0003 one (their positions in
    each series' own history)."""
    frame = panel_frame(4, 60, seed=3)
    holes = {"s0001": [52, 57], "s0003": [50]}
    for sid, rows in holes.items():
        index = frame.index[frame["id"] == sid][rows]
        frame.loc[index, "y"] = np.nan
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    return path, panel_frame(4, 60, seed=3), holes


def _cfg(path: Path, **extra: Any) -> Any:
    return load_config(None, {"data.path": str(path), **KEYS, **extra}).resolved()


def test_filled_test_values_of_any_series_are_left_out_of_the_panel_metrics(
    tmp_path: Path,
) -> None:
    path, truth, holes = _gappy(tmp_path)
    parts, meta = prepare(_cfg(path))
    assert "filled_targets" not in meta  # rows of one series' history mean nothing to the panel
    assert meta["filled_test_values"] == 3
    members = meta["panel"]["members"]
    assert {s: members[s]["meta"]["filled_targets"] for s in holes} == holes
    problem = make_problem(parts, meta, {**PARAMS, "units": 8})
    test = problem.tensors("test")
    assert test.series is not None and test.raw_y is not None
    true = panel_observed(problem, meta, test.raw_y, test.series)
    assert int(np.isnan(true).sum()) == 3
    for i, sid in enumerate(problem.series_ids):  # type: ignore[attr-defined]
        own = truth.loc[truth["id"] == sid, "y"].to_numpy()
        ends = problem.members[i].ends("test")  # type: ignore[attr-defined]
        mine = true[test.series == i, 0]
        hidden = np.isin(ends + 1, holes.get(sid, []))
        assert np.isnan(mine[hidden]).all()
        np.testing.assert_allclose(mine[~hidden], own[ends[~hidden] + 1])
    # a forecast of the real values: no error on what was observed, whatever was filled
    exact = np.where(np.isnan(true), test.raw_y + 1e3, true)
    scales = np.ones(len(problem.series_ids))  # type: ignore[attr-defined]
    assert panel_metrics(exact, true, test.series, scales) == pytest.approx(
        {"rmse": 0.0, "mae": 0.0, "mase": 0.0, "smape": 0.0}
    )
    assert panel_metrics(exact, test.raw_y, test.series, scales)["rmse"] > 100


def test_the_champion_re_score_leaves_filled_values_out(tmp_path: Path) -> None:
    path, truth, holes = _gappy(tmp_path)
    parts, meta = prepare(_cfg(path))
    lookback = 13

    def predict(history: pd.DataFrame) -> pd.DataFrame:
        """Step 1 from every origin is the series' true next value (the one before filling)."""
        rows = []
        for sid, own in history.groupby("id", sort=False):
            real = truth.loc[truth["id"] == sid, "y"].to_numpy()
            nxt = np.append(real[1:], np.nan)[lookback - 1 : len(own)]
            rows.append(pd.DataFrame({"id": sid, "step_1": nxt}))
        return pd.concat(rows, ignore_index=True)

    assert panel_score_on_test(predict, parts, meta, lookback) == pytest.approx(0.0, abs=1e-12)
    for sid in holes:  # scored as before, the filled values would count
        meta["panel"]["members"][sid]["meta"]["filled_targets"] = []
    assert panel_score_on_test(predict, parts, meta, lookback) > 0.01


def test_the_prepare_step_counts_every_series_filled_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lstmtune import steps

    path, _, _ = _gappy(tmp_path)
    steps.prepare_step(_cfg(path).model_dump_json(), str(tmp_path / "ds"))
    line = [x for x in capsys.readouterr().out.splitlines() if "filled by data.missing" in x]
    assert len(line) == 1 and "3 test value(s)" in line[0] and "(ffill)" in line[0]


@pytest.mark.slow
def test_a_panel_trained_with_ffill_serves_its_own_gappy_file(tmp_path: Path) -> None:
    """The registered model fills a sent history's gaps as training did (it refused the very
    file it was trained on), and its summary scores only the observed test values."""
    import mlflow

    from lstmtune.runner import run_local

    path, _, _ = _gappy(tmp_path)
    cfg = _cfg(
        path,
        **{
            "tune.n_trials": 1,
            "tune.search_space": {"units": 8, "epochs": 4, "lookback": 13, "batch_size": 16},
            "evaluate.gate": "naive",
            "mlflow.model_name": "panel-gaps",
            "output_dir": str(tmp_path / "out"),
            "train.threads": 1,
        },
    )
    summary = run_local(cfg)
    assert summary["test_metrics"]["interval_points"] == 4 * 12 - 3
    mlflow.set_tracking_uri(summary["tracking_uri"])
    model = mlflow.pyfunc.load_model(f"models:/panel-gaps@{summary['alias']}")
    gappy = pd.read_csv(path)
    by_hand = gappy.assign(y=gappy.groupby("id")["y"].ffill())
    np.testing.assert_allclose(
        model.predict(gappy).filter(regex="^step_").to_numpy(),
        model.predict(by_hand).filter(regex="^step_").to_numpy(),
        rtol=1e-12,
    )


def test_a_column_read_for_one_series_is_read_for_all(tmp_path: Path) -> None:
    """Numbers held as text for one store and words for another: one column, chosen once (it
    was an input of the first series only, NaN in the stacked rows of the other)."""
    frame = panel_frame(3, 60, seed=3)
    frame["promo"] = np.where(frame["id"] == "s0001", "0", "none")  # numbers for one store
    frame["price"] = (frame.index % 7).astype(str)  # numbers held as text in every series
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    parts, meta = prepare(_cfg(path, **{"data.missing": "error"}))
    assert meta["columns"]["features"] == ["y", "price"]
    assert meta["columns"]["left_out"] == ["promo"]
    for sid in meta["panel"]["series"]:
        assert meta["panel"]["members"][sid]["meta"]["columns"]["features"] == ["y", "price"]
    assert not parts["train"][["y", "price"]].isna().any().any()

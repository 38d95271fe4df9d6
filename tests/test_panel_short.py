"""Many series: a series whose train part holds the lookback but no training window of its own
(M1's and M3's yearly series at their benchmark's horizon) is kept, forecast and scored on its
validation and test origins, trained on the other series' windows, and served."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import PANEL_KEYS

from lstmtune.config import load_config
from lstmtune.data.prepare import prepare
from lstmtune.panel_problem import PanelTensorSet
from lstmtune.prepare_notes import prepare_notes
from lstmtune.problems import make_problem
from lstmtune.synthetic import panel_frame

KEYS = {**PANEL_KEYS, "data.horizon": 3}
PARAMS: dict[str, Any] = {"lookback": 13, "anchor": "seasonal", "transform": "none"}


def _short_panel(path: Path) -> Path:
    """Four series of up to 72 months and ``short``: 38 months, 14 of them train, so 13 steps of
    history for its first validation origin and none of the 16 a training window of lookback 13
    and horizon 3 takes."""
    frame = panel_frame(5, 72, seed=4)
    ids = sorted(frame["id"].unique())
    short = frame[frame["id"] == ids[-1]].head(38).assign(id="short")
    pd.concat([frame[frame["id"] != ids[-1]], short]).to_csv(path, index=False)
    return path


def test_a_series_without_a_training_window_is_kept_and_forecast_on_val_and_test(
    tmp_path: Path,
) -> None:
    path = _short_panel(tmp_path / "p.csv")
    space = {"tune.search_space": {"lookback": 13}}  # the lookback the panel is cut for
    cfg = load_config(None, {"data.path": str(path), **KEYS, **space}).resolved()
    parts, meta = prepare(cfg)
    assert "short" in meta["panel"]["series"] and meta["panel"]["dropped"] == {}
    assert meta["panel"]["members"]["short"]["meta"]["splits"]["train"]["rows"] == 14
    assert (
        "warning: 1 of 5 series feed no training window of lookback 13 and data.horizon=3"
        " (e.g. 'short': 14 train steps)" in "\n".join(prepare_notes(meta, cfg.data))
    )
    params = {**PARAMS, "window_norm": False, "units": 8, "num_layers": 1, "dropout": 0.0}
    problem = make_problem(parts, meta, {**params, "bidirectional": False, "cell": "lstm"})
    index = meta["panel"]["series"].index("short")
    counts = {}
    for split in ("train", "val", "test"):
        data = problem.tensors(split)
        assert isinstance(data, PanelTensorSet) and data.series is not None
        counts[split] = int((data.series == index).sum())
        rows = [
            int(m["meta"]["splits"][split]["rows"])
            for sid, m in meta["panel"]["members"].items()
            if sid != "short"
        ]
        windows = [n - 13 - 3 + 1 if split == "train" else n - 3 + 1 for n in rows]
        assert int((data.series != index).sum()) == sum(windows) > 0
    assert counts == {"train": 0, "val": 10, "test": 10}
    assert math.isfinite(float(problem.scales[index]))  # its MASE scale: its 14 train steps


@pytest.mark.slow
def test_a_series_without_a_training_window_is_scored_published_and_served(
    tmp_path: Path,
) -> None:
    from lstmtune import load_model
    from lstmtune.runner import run_local

    path = _short_panel(tmp_path / "p.csv")
    cfg = load_config(
        None,
        {
            "data.path": str(path),
            **KEYS,
            "tune.n_trials": 2,
            "tune.search_space": {**PARAMS, "units": 8, "epochs": 4, "batch_size": 16},
            "evaluate.gate": "naive",
            "mlflow.model_name": "panel-short",
            "output_dir": str(tmp_path / "out"),
        },
    ).resolved()
    summary = run_local(cfg)
    per_series = summary["panel"]["per_series"]
    assert summary["panel"]["n_series"] == 5 and "short" in per_series
    assert all(math.isfinite(per_series["short"][k]) for k in ("rmse", "mase"))
    frame = pd.read_csv(path)
    model = load_model("panel-short", alias=summary["alias"], tracking_uri=summary["tracking_uri"])
    forecast = model.predict(frame[frame["id"] == "short"].tail(13))
    assert len(forecast) == 1 and np.isfinite(forecast[["step_1", "step_3"]].to_numpy()).all()
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["panel"]["n_series"] == 5

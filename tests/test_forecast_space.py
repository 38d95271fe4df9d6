"""The forecast default space for long seasons (patches) and the tuning budget of long series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from lstmtune import classify_space
from lstmtune.config import load_config
from lstmtune.conv import patch_steps
from lstmtune.data.prepare import prepare
from lstmtune.data.splits import MIN_TRAIN_WINDOWS
from lstmtune.forecast_space import BUDGET_WINDOWS, default_tuning_seconds, training_windows
from lstmtune.model import build_model
from lstmtune.search_space import default_configuration, default_space, resolve_search_space
from lstmtune.tuning.study_config import tuning_budget

META: dict[str, Any] = {
    "task": "forecast",
    "seasonal_period": 336,
    "target_positive": True,
    "horizon": 1,
    "splits": {"train": {"rows": 2822}},
    "columns": {"target": "y"},
}


def test_a_long_season_is_read_in_patches_and_a_short_one_step_by_step() -> None:
    space = default_space("forecast", META)
    assert space["lookback"]["choices"] == [337, 672]
    assert space["patch"]["choices"] == [16, 32]  # 672 steps -> at most 42 LSTM steps
    assert default_configuration(space, META)["patch"] == 16
    assert default_space("forecast", {**META, "seasonal_period": 48})["patch"]["choices"] == [2, 4]
    assert "patch" not in default_space("forecast", {**META, "seasonal_period": 12})
    assert "patch" not in default_space("forecast", {**META, "seasonal_period": 1})


def test_patches_follow_the_declared_lookback_and_skip_many_series() -> None:
    def resolved(meta: dict[str, Any], **declared: Any) -> dict[str, Any]:
        cfg = load_config(None, {"tune.search_space": declared} if declared else {})
        return resolve_search_space(cfg, meta, min_train_windows=MIN_TRAIN_WINDOWS)

    assert "patch" not in resolved(META, lookback=24)  # read step by step, as before
    daily = {**META, "seasonal_period": 24}
    assert "patch" not in resolved(daily)  # lookbacks 25 and 48
    assert resolved(daily, lookback=500)["patch"]["choices"] == [8, 16]
    assert resolved(META, lookback=24, patch=[1, 2])["patch"]["choices"] == [1, 2]  # declared
    assert "patch" not in default_space("forecast", {**META, "seasonal_period": 48, "n_series": 5})


def test_unmasked_windows_are_padded_at_the_front_masked_sequences_at_the_tail() -> None:
    x = torch.arange(1.0, 11.0).reshape(1, 10, 1)  # steps 1..10
    out, lengths = patch_steps(x, None, 4)
    assert lengths is None
    assert out[0].tolist() == [[0, 0, 1, 2], [3, 4, 5, 6], [7, 8, 9, 10]]  # ends on step 10
    masked, masked_lengths = patch_steps(x, torch.tensor([10]), 4)
    assert masked[0, -1].tolist() == [9, 10, 0, 0]
    assert masked_lengths is not None and masked_lengths.tolist() == [3]


def test_a_forecast_network_reads_patches_of_a_window_that_they_do_not_divide() -> None:
    params = {"units": 8, "num_layers": 1, "patch": 16, "lookback": 337}
    model = build_model(2, 1, params, zero_head=False)
    x = torch.randn(3, 337, 2)
    assert model(x).shape == (3, 1)
    latest = x.clone()
    latest[:, -1] += 1.0
    assert not torch.allclose(model(x), model(latest))


def test_a_long_single_series_gets_a_tuning_budget() -> None:
    long = {**META, "search_space": {"lookback": {"type": "categorical", "choices": [337, 672]}}}
    assert training_windows(long) == 2822 - 337
    assert default_tuning_seconds(long) == classify_space.TUNE_SECONDS
    assert tuning_budget(long) == classify_space.TUNE_SECONDS
    rows = BUDGET_WINDOWS + 24  # exactly BUDGET_WINDOWS windows with lookback 24: no budget
    short = {**long, "splits": {"train": {"rows": rows}}, "search_space": {}}
    short["search_space"]["lookback"] = {"type": "fixed", "value": 24}
    assert training_windows(short) == BUDGET_WINDOWS and tuning_budget(short) is None
    assert tuning_budget({**long, "panel": True}) is None  # many series: epochs are capped


def _long_series(path: Path, n: int = 1600) -> None:
    t = np.arange(n)
    y = 100 + 10 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(0).normal(0, 1, n)
    pd.DataFrame({"t": t, "y": y}).to_csv(path, index=False)


def test_the_budget_stops_tuning_and_a_set_timeout_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lstmtune.tuning.study import run_study

    path = tmp_path / "long.csv"
    _long_series(path)
    overrides: dict[str, Any] = {
        "data.path": str(path),
        "data.target": "y",
        "data.time_column": "t",
        "output_dir": str(tmp_path / "out"),
        "tune.n_trials": 1,
        "tune.search_space": {"units": 4, "epochs": 1, "lookback": 25, "batch_size": 256},
    }
    cfg = load_config(None, overrides).resolved()
    parts, meta = prepare(cfg)
    assert training_windows(meta) > BUDGET_WINDOWS
    assert tuning_budget(meta) == classify_space.TUNE_SECONDS
    monkeypatch.setattr(classify_space, "TUNE_SECONDS", 0.0)
    with pytest.raises(RuntimeError, match="no completed trial"):
        run_study(cfg, parts, meta)
    cfg.tune.timeout = 3600.0  # the user's budget wins
    assert run_study(cfg, parts, meta).n_trials_complete == 1

"""Population-based training: explore within bounds, exploit copies state, the schedule replays."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
import torch

from lstmtune.config import RunConfig
from lstmtune.data.prepare import prepare
from lstmtune.errors import UserError
from lstmtune.pbt import apply_hyperparameters, explore, replay_schedule, run_pbt
from lstmtune.problems import make_problem
from lstmtune.training import make_optimizer

#: a small fixed network for population runs; each test adds what PBT perturbs
PBT_NET: dict[str, Any] = {
    "units": 8,
    "num_layers": 1,
    "epochs": 6,
    "batch_size": 32,
    "optimizer": "adam",
    "recurrent_dropout": 0.0,
    "bidirectional": False,
}

SPACE: dict[str, Any] = {
    "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "step": None, "log": True},
    "weight_decay": {"type": "float", "low": 0.0, "high": 1e-3, "step": None, "log": False},
    "dropout": {"type": "float", "low": 0.0, "high": 0.3, "step": None, "log": False},
    "recurrent_dropout": {"type": "fixed", "value": 0.1},
}


def test_explore_stays_inside_the_search_space() -> None:
    rng = random.Random(0)
    params = {
        "learning_rate": 0.0099,
        "weight_decay": 1e-3,
        "dropout": 0.3,
        "recurrent_dropout": 0.1,
        "units": 16,
    }
    changed = 0
    for _ in range(50):
        out = explore(params, SPACE, rng)
        assert (
            1e-3 <= out["learning_rate"] <= 1e-2
            and 0.0 <= out["dropout"] <= 0.3
            and out["weight_decay"] <= 1e-3
        )
        assert (
            out["recurrent_dropout"] == 0.1 and out["units"] == 16
        )  # fixed and structural values never move
        changed += out["learning_rate"] != params["learning_rate"]
    assert changed > 10


def test_apply_hyperparameters_changes_the_live_optimizer_and_dropouts(
    tiny_config: Callable[..., RunConfig],
) -> None:
    cfg = tiny_config()
    parts, meta = prepare(cfg)
    params = {
        "units": 8,
        "num_layers": 2,
        "dropout": 0.1,
        "recurrent_dropout": 0.1,
        "learning_rate": 0.01,
        "weight_decay": 0.0,
        "lookback": 12,
        "anchor": "seasonal",
        "transform": "none",
        "window_norm": True,
        "batch_size": 16,
        "optimizer": "adam",
    }
    problem = make_problem(parts, meta, params)
    from lstmtune.model import build_model

    model = build_model(problem.n_features, 1, params, zero_head=True)
    opt = make_optimizer(model, params)
    apply_hyperparameters(
        model,
        opt,
        {
            **params,
            "learning_rate": 0.002,
            "weight_decay": 1e-4,
            "dropout": 0.25,
            "recurrent_dropout": 0.05,
        },
    )
    assert opt.param_groups[0]["lr"] == 0.002 and opt.param_groups[0]["weight_decay"] == 1e-4
    assert (
        model.head_dropout.p == 0.25
        and model.lstm.dropout == 0.25
        and model.recurrent_dropout == 0.05
    )


def test_pbt_population_exploits_and_the_schedule_replays(
    tiny_config: Callable[..., RunConfig],
) -> None:
    cfg = tiny_config(
        **{
            "tune.strategy": "pbt",
            "tune.population": 4,
            "tune.pbt_rounds": 2,
            "tune.pbt_quantile": 0.25,
            "tune.search_space": {
                **PBT_NET,
                "dropout": [0.0, 0.1],
                "learning_rate": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True},
            },
        }
    )
    parts, meta = prepare(cfg)
    result = run_pbt(cfg, parts, meta)
    assert result["n_trials_complete"] == 4 and result["extra"]["rounds"] == 2
    schedule = result["schedule"]
    assert [s["round"] for s in schedule] == [1, 2] and all(s["epochs"] == 3 for s in schedule)
    assert result["best_epoch"] == 6 and result["best_value"] < 60
    import optuna

    study = optuna.load_study(study_name=result["study_name"], storage=str(cfg.tune.storage))
    assert len(study.trials) == 4 and any(
        t.user_attrs["pbt_parent"] is not None for t in study.trials
    )
    problem = make_problem(parts, meta, result["best_params"])
    replay = replay_schedule(
        problem,
        result["best_params"],
        schedule,
        problem.tensors("train", "val"),
        seed=0,
        grad_clip=1.0,
        device=torch.device("cpu"),
        amp=False,
    )
    assert len(replay.history) == 3  # the last segment's epochs; the model carried through both
    assert torch.isfinite(problem.predict_scaled(replay.model, problem.tensors("test"))).all()


def test_pbt_refuses_structure_on_katib_and_parallel_workers(
    tiny_config: Callable[..., RunConfig],
) -> None:
    from lstmtune.katib import build_experiment

    cfg = tiny_config(**{"tune.strategy": "pbt"})
    _, meta = prepare(cfg)
    with pytest.raises(
        UserError, match=r"Katib's pbt perturbs .* only; fix .*units"
    ):  # default space searches structure
        build_experiment(cfg, meta, name="x", data_uri="/d")
    with pytest.raises(UserError, match=r"tune\.workers"):
        run_pbt(tiny_config(**{"tune.strategy": "pbt", "tune.workers": 2}), {}, meta)


def test_weight_drop_perturbed_to_zero_keeps_training(
    tiny_config: Callable[..., RunConfig],
) -> None:
    """PBT may move recurrent_dropout to 0 on a member built with weight drop: the model must
    keep running (F.dropout with p=0 returned the Parameter itself, which the LSTM then
    re-registered, and the next forward pass failed)."""
    from lstmtune.model import build_model

    params = {"units": 8, "num_layers": 2, "recurrent_dropout": 0.1, "learning_rate": 0.01}
    model = build_model(3, 1, params, zero_head=True)
    opt = make_optimizer(model, params)
    apply_hyperparameters(model, opt, {**params, "recurrent_dropout": 0.0})
    x = torch.randn(4, 5, 3)
    for training in (True, False, True):
        model.train(training)
        assert model(x).shape == (4, 1)


def test_pbt_stops_after_the_round_that_passes_the_timeout(
    tiny_config: Callable[..., RunConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    """tune.timeout bounds PBT too: no round starts after it, the winner is the best member of
    the last round trained, and its schedule and epochs count only the rounds that ran."""
    cfg = tiny_config(
        **{
            "tune.strategy": "pbt",
            "tune.population": 2,
            "tune.pbt_rounds": 3,
            "tune.timeout": 1e-3,
            "tune.search_space": {**PBT_NET, "dropout": 0.0, "learning_rate": 1e-2},
        }
    )
    parts, meta = prepare(cfg)
    result = run_pbt(cfg, parts, meta)
    assert result["extra"]["rounds"] == 1 and result["extra"]["rounds_planned"] == 3
    assert result["best_epoch"] == 2
    assert [s["round"] for s in result["schedule"]] == [1]
    assert "pbt stopped by tune.timeout (0.001 s) after round 1 of 3" in capsys.readouterr().out

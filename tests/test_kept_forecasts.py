"""The tune step keeps its best trials' validation forecasts (:mod:`lstmtune.kept_forecasts`)
and the retrain step uses them instead of training each member on train again: a kept forecast
is bit for bit what that training gives, so the combination and the intervals are the same
either way; nothing is kept where that would not hold (a subset), and a kept forecast is not
used for a member trained otherwise (other parameters, such as a conditional parameter the
trial left inactive, epochs, seed, data or settings) or that does not fit the origins."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import numpy as np
import torch
from conftest import TINY_SPACE

from lstmtune.classical_fits import add_classical
from lstmtune.config import RunConfig
from lstmtune.data.prepare import prepare
from lstmtune.final_forecast import prepare_final
from lstmtune.kept_forecasts import key, usable
from lstmtune.problems import make_problem
from lstmtune.retrain import FinalTrainer
from lstmtune.tuning import run_study


def _trainers(cfg: RunConfig, tops: list[dict]) -> list[FinalTrainer]:
    return [
        FinalTrainer(
            cfg,
            t["params"],
            max(1, int(t["best_epoch"])),
            cfg.train.seed + int(t["number"]),
            torch.device("cpu"),
        )
        for t in tops
    ]


def test_a_kept_forecast_is_what_training_the_trial_again_gives(
    tiny_config: Callable[..., RunConfig],
) -> None:
    cfg = tiny_config(**{"tune.n_trials": 5, "tune.warm_start": False})
    parts, meta = prepare(cfg)
    tops = run_study(cfg, parts, meta).extra["top_trials"]
    assert len(tops) >= 2 and all("val_forecast" in t for t in tops)
    for trainer, top in zip(_trainers(cfg, tops), tops, strict=True):
        problem = make_problem(parts, meta, top["params"])
        model = trainer(problem, problem.tensors("train"))
        again = problem.predict(model, problem.tensors("val"))
        assert np.array_equal(again, np.asarray(top["val_forecast"]["forecast"]))
        assert np.array_equal(again, usable(top, trainer, problem, key(cfg, meta)))


def test_the_combination_and_intervals_are_the_same_with_kept_forecasts(
    tiny_config: Callable[..., RunConfig],
) -> None:
    cfg = tiny_config(**{"tune.n_trials": 4, "tune.warm_start": False})
    parts, meta = prepare(cfg)
    add_classical(meta, parts, "train", extend_space=False)  # as the prepare step does
    tops = run_study(cfg, parts, meta).extra["top_trials"]
    trainers = _trainers(cfg, tops)
    outcomes = [
        prepare_final(
            parts, copy.deepcopy(meta), trainers, combine=True, levels=[80.0, 95.0], entries=e
        )
        for e in (tops, None)
    ]
    assert outcomes[0] == outcomes[1]
    combination, intervals = outcomes[0]
    assert combination is not None and intervals is not None


def test_nothing_is_kept_for_trials_on_a_subset(tiny_config: Callable[..., RunConfig]) -> None:
    cfg = tiny_config(**{"tune.n_trials": 2, "tune.warm_start": False, "tune.subset": 0.5})
    parts, meta = prepare(cfg)
    tops = run_study(cfg, parts, meta).extra["top_trials"]
    assert tops and not any("val_forecast" in t for t in tops)


def test_a_kept_forecast_is_used_only_for_the_training_that_made_it(
    tiny_config: Callable[..., RunConfig],
) -> None:
    cfg = tiny_config(**{"tune.n_trials": 2, "tune.warm_start": False})
    parts, meta = prepare(cfg)
    top = run_study(cfg, parts, meta).extra["top_trials"][0]
    (trainer,) = _trainers(cfg, [top])
    problem = make_problem(parts, meta, top["params"])
    expected = key(cfg, meta)
    assert usable(top, trainer, problem, expected) is not None
    others = [
        dataclasses.replace(trainer, params={**trainer.params, "units": 999}),
        dataclasses.replace(trainer, epochs=trainer.epochs + 1),
        dataclasses.replace(trainer, seed=trainer.seed + 1),
        dataclasses.replace(trainer, device=torch.device("meta")),
    ]
    assert all(usable(top, other, problem, expected) is None for other in others)
    assert usable(top, trainer, problem, key(cfg, {**meta, "sha256": "other data"})) is None
    short = {**top, "val_forecast": {**top["val_forecast"], "forecast": [[1.0]]}}
    assert usable(short, trainer, problem, expected) is None
    assert usable({}, trainer, problem, expected) is None
    assert usable(None, trainer, problem, expected) is None


def test_a_trial_with_an_inactive_conditional_parameter_is_trained_again(
    tiny_config: Callable[..., RunConfig],
) -> None:
    """The trial trains with the inactive parameter's stand-in value, which its recorded
    parameters lack: the member the retrain step would build is not the trial's network."""
    space = {
        **TINY_SPACE,
        "dropout": {"type": "float", "low": 0.2, "high": 0.3, "when": "units > 100"},
    }
    cfg = tiny_config(**{"tune.n_trials": 3, "tune.warm_start": False, "tune.search_space": space})
    parts, meta = prepare(cfg)
    tops = run_study(cfg, parts, meta).extra["top_trials"]
    expected = key(cfg, meta)
    for trainer, top in zip(_trainers(cfg, tops), tops, strict=True):
        problem = make_problem(parts, meta, top["params"])
        assert "dropout" not in top["params"]
        assert usable(top, trainer, problem, expected) is None

"""Single-process tuning (SQLite): exact budget, resume, every sampler and pruner, heartbeats."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import optuna
import pytest

from lstmtune.config import RunConfig
from lstmtune.data.prepare import prepare
from lstmtune.errors import UserError
from lstmtune.tuning import (
    _storage,
    best_from_study,
    check_study_config,
    default_study_name,
    run_study,
)

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _study(cfg: RunConfig, meta: dict[str, Any]) -> optuna.Study:
    return optuna.load_study(study_name=cfg.tune.study_name or default_study_name(cfg, meta), storage=str(cfg.tune.storage))


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(states=FINISHED)


def test_exact_n_trials_and_progress_lines(tiny_config: Callable[..., RunConfig], capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tiny_config(**{"tune.n_trials": 4, "tune.warm_start": False})
    parts, meta = prepare(cfg)
    result = run_study(cfg, parts, meta)
    study = _study(cfg, meta)
    assert len(_finished(study)) == 4 and len(study.trials) == 4
    assert result.n_trials_complete + result.n_trials_pruned == 4 and result.n_trials_reused == 0
    out = capsys.readouterr().out
    assert re.search(r"lstmtune \| study '.+' on sqlite:///.+optuna\.db: 0 finished trial\(s\) reused, 4 to run, device cpu\n", out)
    lines = re.findall(r"lstmtune \| trial +(\d+) (complete|pruned) +val_rmse=\S+ +best=\S+  \[(\d)/4\]", out)
    assert [int(n) for n, _, _ in lines] == [0, 1, 2, 3]
    assert [int(d) for _, _, d in lines] == [1, 2, 3, 4]
    assert best_from_study(cfg, meta).best_trial == result.best_trial
    assert best_from_study(cfg, meta).best_params == result.best_params


def test_resume_on_same_storage_reuses_and_never_repeats(tiny_config: Callable[..., RunConfig]) -> None:
    cfg = tiny_config(**{"tune.n_trials": 3, "tune.warm_start": False})
    parts, meta = prepare(cfg)
    first = run_study(cfg, parts, meta)
    before = {t.number: (t.params, t.value, t.state) for t in _study(cfg, meta).trials}
    cfg.tune.n_trials = 5
    second = run_study(cfg, parts, meta)
    study = _study(cfg, meta)
    assert second.n_trials_reused == 3 and len(_finished(study)) == 5 and len(study.trials) == 5
    assert {t.number: (t.params, t.value, t.state) for t in study.trials if t.number in before} == before
    third = run_study(cfg, parts, meta)  # nothing left to do
    assert third.n_trials_reused == 5 and len(_study(cfg, meta).trials) == 5
    assert third.best_value <= first.best_value


@pytest.mark.parametrize(("sampler", "pruner"), [("tpe", "hyperband"), ("random", "median"), ("grid", "none"), ("cmaes", "hyperband"),
                                                 ("random", "none"), ("tpe", "median")])
def test_every_sampler_and_pruner_runs(tiny_config: Callable[..., RunConfig], sampler: str, pruner: str) -> None:
    space = {"units": [8, 16], "num_layers": 1, "dropout": 0.0, "recurrent_dropout": 0.0, "bidirectional": False,
             "learning_rate": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True}, "batch_size": 32,
             "optimizer": "adam", "weight_decay": 1e-6, "epochs": 4, "lookback": 12, "anchor": "last", "transform": "none", "window_norm": False}
    # grid: 2 units x 3 learning rates = 6 points, fewer than n_trials -> the grid size is the budget
    cfg = tiny_config(**{"tune.n_trials": 7 if sampler == "grid" else 4, "tune.sampler": sampler, "tune.pruner": pruner,
                         "tune.search_space": space, "tune.warm_start": False})
    parts, meta = prepare(cfg)
    result = run_study(cfg, parts, meta)
    study = _study(cfg, meta)
    expected = 6 if sampler == "grid" else 4
    assert len(_finished(study)) == expected == result.n_trials_complete + result.n_trials_pruned
    if pruner == "none":  # nothing is pruned without a pruner (the space has no infeasible combination)
        assert result.n_trials_pruned == 0
    if sampler == "grid":
        combos = {(t.params["units"], round(t.params["learning_rate"], 9)) for t in study.trials}
        assert len(combos) == 6  # every grid point once


def test_sqlite_single_process_heartbeat_retries_an_abandoned_trial(tiny_config: Callable[..., RunConfig]) -> None:
    """A RUNNING trial whose process died (here: asked, heartbeat recorded, never finished) is
    failed after the grace period and re-run once with the same parameters."""
    cfg = tiny_config(**{"tune.n_trials": 3, "tune.heartbeat_seconds": 1, "tune.warm_start": False})
    parts, meta = prepare(cfg)
    name = default_study_name(cfg, meta)
    storage = _storage(str(cfg.tune.storage), 1)
    study = optuna.create_study(study_name=name, storage=storage)
    dead = study.ask()
    dead_params = {"units": dead.suggest_categorical("units", [8, 16]), "recurrent_dropout": dead.suggest_categorical("recurrent_dropout", [0.0, 0.1]),
                   "learning_rate": dead.suggest_float("learning_rate", 3e-3, 3e-2, log=True)}
    storage.record_heartbeat(dead._trial_id)
    time.sleep(0.1)
    started = time.monotonic()
    result = run_study(cfg, parts, meta)
    assert time.monotonic() - started < 60
    trials = _study(cfg, meta).trials
    assert trials[0].state == optuna.trial.TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(retries) == 1 and retries[0].state in FINISHED
    assert {k: retries[0].params[k] for k in dead_params} == dead_params
    assert len([t for t in trials if t.state in FINISHED]) == 3
    assert result.n_trials_failed == 1


def test_workers_on_sqlite_are_refused(tiny_config: Callable[..., RunConfig]) -> None:
    cfg = tiny_config(**{"tune.workers": 2})
    with pytest.raises(UserError) as err:
        check_study_config(cfg)
    assert str(err.value) == "tune.workers: 2 workers need a shared RDB storage such as postgresql://...; SQLite cannot take concurrent writers"
    parts, meta = prepare(cfg)
    with pytest.raises(UserError, match=r"tune\.workers: 2 workers need a shared RDB storage"):
        run_study(cfg, parts, meta)
    check_study_config(tiny_config())  # one worker on SQLite is fine
    check_study_config(tiny_config(**{"tune.workers": 2, "tune.storage": "postgresql://u@db:5432/optuna"}))

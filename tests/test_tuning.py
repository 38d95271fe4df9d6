"""Single-process tuning (SQLite): exact budget, resume, every sampler and pruner, heartbeats."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
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
    tell,
)

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _study(cfg: RunConfig, meta: dict[str, Any]) -> optuna.Study:
    return optuna.load_study(
        study_name=cfg.tune.study_name or default_study_name(cfg, meta),
        storage=str(cfg.tune.storage),
    )


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(states=FINISHED)


def test_exact_n_trials_and_progress_lines(
    tiny_config: Callable[..., RunConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tiny_config(**{"tune.n_trials": 4, "tune.warm_start": False})
    parts, meta = prepare(cfg)
    result = run_study(cfg, parts, meta)
    study = _study(cfg, meta)
    assert len(_finished(study)) == 4 and len(study.trials) == 4
    assert result.n_trials_complete + result.n_trials_pruned == 4 and result.n_trials_reused == 0
    out = capsys.readouterr().out
    assert re.search(
        r"lstmtune \| study '.+' on sqlite:///.+optuna\.db: "
        r"0 finished trial\(s\) reused, 4 to run, device cpu\n",
        out,
    )
    lines = re.findall(
        r"lstmtune \| trial +(\d+) (complete|pruned) +val_rmse=\S+ +best=\S+  \[(\d)/4\]", out
    )
    assert [int(n) for n, _, _ in lines] == [0, 1, 2, 3]
    assert [int(d) for _, _, d in lines] == [1, 2, 3, 4]
    assert best_from_study(cfg, meta).best_trial == result.best_trial
    assert best_from_study(cfg, meta).best_params == result.best_params


def test_resume_on_same_storage_reuses_and_never_repeats(
    tiny_config: Callable[..., RunConfig],
) -> None:
    cfg = tiny_config(**{"tune.n_trials": 3, "tune.warm_start": False})
    parts, meta = prepare(cfg)
    first = run_study(cfg, parts, meta)
    before = {t.number: (t.params, t.value, t.state) for t in _study(cfg, meta).trials}
    cfg.tune.n_trials = 5
    second = run_study(cfg, parts, meta)
    study = _study(cfg, meta)
    assert second.n_trials_reused == 3 and len(_finished(study)) == 5 and len(study.trials) == 5
    assert {
        t.number: (t.params, t.value, t.state) for t in study.trials if t.number in before
    } == before
    third = run_study(cfg, parts, meta)  # nothing left to do
    assert third.n_trials_reused == 5 and len(_study(cfg, meta).trials) == 5
    assert third.best_value <= first.best_value


@pytest.mark.parametrize(
    ("sampler", "pruner"),
    [
        ("tpe", "hyperband"),
        ("random", "median"),
        ("grid", "none"),
        ("cmaes", "hyperband"),
        ("random", "none"),
        ("tpe", "median"),
        ("tpe", "successive_halving"),
    ],
)
def test_every_sampler_and_pruner_runs(
    tiny_config: Callable[..., RunConfig], sampler: str, pruner: str
) -> None:
    space = {
        "units": [8, 16],
        "num_layers": 1,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "bidirectional": False,
        "learning_rate": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True},
        "batch_size": 32,
        "optimizer": "adam",
        "weight_decay": 1e-6,
        "epochs": 4,
        "lookback": 12,
        "anchor": "last",
        "transform": "none",
        "window_norm": False,
    }
    # grid: 2 units x 3 learning rates = 6 points, fewer than n_trials -> the grid size is the
    # budget
    cfg = tiny_config(
        **{
            "tune.n_trials": 7 if sampler == "grid" else 4,
            "tune.sampler": sampler,
            "tune.pruner": pruner,
            "tune.search_space": space,
            "tune.warm_start": False,
        }
    )
    parts, meta = prepare(cfg)
    result = run_study(cfg, parts, meta)
    study = _study(cfg, meta)
    expected = 6 if sampler == "grid" else 4
    assert len(_finished(study)) == expected == result.n_trials_complete + result.n_trials_pruned
    if (
        pruner == "none"
    ):  # nothing is pruned without a pruner (the space has no infeasible combination)
        assert result.n_trials_pruned == 0
    if sampler == "grid":
        combos = {(t.params["units"], round(t.params["learning_rate"], 9)) for t in study.trials}
        assert len(combos) == 6  # every grid point once


@pytest.mark.parametrize("beat", [True, False], ids=["after-heartbeats", "before-first-heartbeat"])
def test_sqlite_single_process_heartbeat_retries_an_abandoned_trial(
    tiny_config: Callable[..., RunConfig], beat: bool
) -> None:
    """A RUNNING trial whose process died (asked, then never finished) is failed after the grace
    period and re-run once with the same parameters — also when the worker died before the
    trial's first heartbeat, which Optuna's own stale-trial check never looks at."""
    cfg = tiny_config(**{"tune.n_trials": 3, "tune.heartbeat_seconds": 1, "tune.warm_start": False})
    parts, meta = prepare(cfg)
    name = default_study_name(cfg, meta)
    storage = _storage(str(cfg.tune.storage), 1)
    study = optuna.create_study(study_name=name, storage=storage)
    dead = study.ask()
    dead_params = {
        "units": dead.suggest_categorical("units", [8, 16]),
        "recurrent_dropout": dead.suggest_categorical("recurrent_dropout", [0.0, 0.1]),
        "learning_rate": dead.suggest_float("learning_rate", 3e-3, 3e-2, log=True),
    }
    if beat:
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
    assert (
        str(err.value)
        == "tune.workers: 2 workers need a shared RDB storage such as postgresql://...; "
        "SQLite cannot take concurrent writers"
    )
    parts, meta = prepare(cfg)
    with pytest.raises(UserError, match=r"tune\.workers: 2 workers need a shared RDB storage"):
        run_study(cfg, parts, meta)
    check_study_config(tiny_config())  # one worker on SQLite is fine
    check_study_config(
        tiny_config(**{"tune.workers": 2, "tune.storage": "postgresql://u@db:5432/optuna"})
    )


# --------------------------------------------------------------------------- fuse_trials

FUSE_SPACE: dict[
    str, Any
] = {  # shape fixed (units, num_layers, lookback, batch_size): every trial can join one fused group
    "units": 8,
    "num_layers": 1,
    "lookback": 12,
    "batch_size": 32,
    "bidirectional": False,
    "dropout": 0.0,
    "recurrent_dropout": [0.0, 0.1],
    "learning_rate": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True},
    "optimizer": ["adam", "adamw"],
    "weight_decay": 1e-6,
    "epochs": 5,
    "anchor": ["last", "seasonal"],
    "transform": "none",
    "window_norm": False,
}
FUSE_ENQUEUED: list[dict[str, Any]] = [
    {"recurrent_dropout": 0.0, "learning_rate": 0.01, "optimizer": "adam", "anchor": "last"},
    {"recurrent_dropout": 0.1, "learning_rate": 0.02, "optimizer": "adamw", "anchor": "seasonal"},
    {"recurrent_dropout": 0.0, "learning_rate": 0.005, "optimizer": "adamw", "anchor": "seasonal"},
    {"recurrent_dropout": 0.1, "learning_rate": 0.003, "optimizer": "adam", "anchor": "last"},
    {"recurrent_dropout": 0.0, "learning_rate": 0.02, "optimizer": "adam", "anchor": "seasonal"},
]


def _enqueued_study(cfg: RunConfig, meta: dict[str, Any]) -> None:
    study = optuna.create_study(
        study_name=cfg.tune.study_name or default_study_name(cfg, meta),
        storage=_storage(str(cfg.tune.storage)),
    )
    for params in FUSE_ENQUEUED:
        study.enqueue_trial(params)


def test_fused_trials_match_unfused_study_and_keep_the_budget(
    tiny_config: Callable[..., RunConfig], tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """fuse_trials=4 with 6 trials: one fused group of 4, then 2 (fused too); exactly 6 finished
    trials whose values and per-epoch intermediate values equal those of the same enqueued
    configurations trained one by one."""
    common = {
        "tune.n_trials": 6,
        "tune.search_space": FUSE_SPACE,
        "tune.warm_start": False,
        "tune.pruner": "none",
        "tune.sampler": "random",
    }
    unfused_cfg = tiny_config(**common, **{"output_dir": str(tmp_path / "off")})
    fused_cfg = tiny_config(
        **common, **{"tune.fuse_trials": 4, "output_dir": str(tmp_path / "fused")}
    )
    parts, meta = prepare(unfused_cfg)
    runs = {}
    for name, cfg in (("off", unfused_cfg), ("fused", fused_cfg)):
        _enqueued_study(cfg, meta)
        result = run_study(cfg, parts, meta)
        runs[name] = (result, _study(cfg, meta).trials)
    out = capsys.readouterr().out
    (off_result, off_trials), (fused_result, fused_trials) = runs["off"], runs["fused"]
    assert len(fused_trials) == 6 and len([t for t in fused_trials if t.state in FINISHED]) == 6
    assert fused_result.n_trials_complete + fused_result.n_trials_pruned == 6
    groups = {tuple(t.user_attrs["fused_group"]) for t in fused_trials}
    assert groups == {(0, 1, 2, 3), (4, 5)}
    assert all("fused_group" not in t.user_attrs for t in off_trials)
    for a, b in zip(off_trials, fused_trials, strict=True):
        assert a.params == b.params and a.state == b.state == optuna.trial.TrialState.COMPLETE
        assert b.value == pytest.approx(a.value, rel=1e-4)
        assert len(b.intermediate_values) == b.user_attrs["epochs_run"] > 0
        assert sorted(b.intermediate_values) == sorted(a.intermediate_values)
        for step, value in a.intermediate_values.items():
            assert b.intermediate_values[step] == pytest.approx(value, rel=1e-4)
        assert b.user_attrs["best_epoch"] == a.user_attrs["best_epoch"]
    assert (
        fused_result.best_trial == off_result.best_trial
        and fused_result.best_params == off_result.best_params
    )
    lines = re.findall(
        r"lstmtune \| trial +(\d+) complete +val_rmse=\S+ +best=\S+  \[(\d)/6\]", out
    )
    assert len(lines) == 12  # both studies print one line per trial, same format


def test_fused_trials_with_pruning_finish_exactly_n_trials(
    tiny_config: Callable[..., RunConfig],
) -> None:
    space = {**FUSE_SPACE, "epochs": 8}
    cfg = tiny_config(
        **{
            "tune.n_trials": 7,
            "tune.search_space": space,
            "tune.warm_start": False,
            "tune.fuse_trials": 3,
            "tune.pruner": "median",
            "train.patience": 2,
        }
    )
    parts, meta = prepare(cfg)
    result = run_study(cfg, parts, meta)
    trials = _study(cfg, meta).trials
    assert len(trials) == 7 and all(t.state in FINISHED for t in trials)
    assert result.n_trials_complete + result.n_trials_pruned == 7
    for t in trials:
        assert t.intermediate_values  # every trial reported its epochs to the pruner
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert len(t.intermediate_values) == t.user_attrs["epochs_run"]


# --------------------------------------------------------------------------- subset


@pytest.mark.parametrize("task", ["forecast", "classify"])
def test_subset_trains_on_half_the_training_data(
    tiny_config: Callable[..., RunConfig], classify_csv: str, task: str
) -> None:
    from lstmtune.problems import make_problem
    from lstmtune.tuning import subset_indices

    extra: dict[str, Any] = {}
    space: dict[str, Any] = {**TINY_SPACE_FIXED}
    if task == "forecast":
        space["lookback"] = 12
    else:
        extra = {
            "data.path": classify_csv,
            "data.task": "classify",
            "data.sequence_column": "seq",
            "data.time_column": "t",
            "data.label": "y",
        }
    full_cfg = tiny_config(
        **{"tune.n_trials": 2, "tune.search_space": space, "tune.warm_start": False, **extra}
    )
    half_cfg = tiny_config(
        **{
            "tune.n_trials": 2,
            "tune.search_space": space,
            "tune.warm_start": False,
            "tune.subset": 0.5,
            **extra,
        }
    )
    parts, meta = prepare(full_cfg)
    full = run_study(full_cfg, parts, meta)
    half = run_study(half_cfg, parts, meta)
    assert default_study_name(full_cfg, meta) != default_study_name(
        half_cfg, meta
    )  # different values: a different study
    n_full = len(make_problem(parts, meta, full.best_params).tensors("train"))
    full_trials, half_trials = _study(full_cfg, meta).trials, _study(half_cfg, meta).trials
    assert [t.user_attrs["n_train"] for t in full_trials] == [n_full, n_full]
    assert [t.user_attrs["n_train"] for t in half_trials] == [int(n_full * 0.5 + 0.5)] * 2
    assert len([t for t in half_trials if t.state in FINISHED]) == 2
    assert half.extra["subset"] == 0.5 and "subset" not in full.extra
    data = make_problem(parts, meta, full.best_params).tensors("train")
    idx = subset_indices(meta["task"], data, 0.5, 42)
    if task == "forecast":  # the most recent windows, contiguous
        assert list(idx) == list(range(n_full - len(idx), n_full))
    else:  # stratified: each class keeps half of its sequences (+-1 for rounding), deterministic
        labels = data.y.numpy()
        for c in set(labels.tolist()):
            assert abs(int((labels[idx] == c).sum()) - (labels == c).sum() * 0.5) <= 1
        assert list(idx) == list(subset_indices(meta["task"], data, 0.5, 42))
        assert list(idx) != list(subset_indices(meta["task"], data, 0.5, 43))


TINY_SPACE_FIXED: dict[str, Any] = {
    "units": 8,
    "num_layers": 1,
    "dropout": 0.0,
    "recurrent_dropout": 0.0,
    "bidirectional": False,
    "learning_rate": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True},
    "batch_size": 16,
    "optimizer": "adam",
    "weight_decay": 1e-6,
    "epochs": 3,
}


def test_subset_stratified_counts_round_half_up() -> None:
    import torch

    from lstmtune.training import TensorSet
    from lstmtune.tuning import subset_indices, subset_size

    y = torch.tensor([0] * 17 + [1] * 17 + [2] * 3)
    data = TensorSet(torch.zeros(len(y), 4, 1), y, None, torch.full((len(y),), 4))
    idx = subset_indices("classify", data, 0.5, 0)
    assert len(idx) == subset_size(37, 0.5) == 19  # 18.5 rounds up
    # quotas 8.73, 8.73, 1.54 -> floors 8, 8, 1 and the 2 left go to the largest remainders
    assert [int((y[idx] == c).sum()) for c in range(3)] == [9, 9, 1]
    assert subset_size(10, 0.01) == 1 and subset_size(10, None) == 10


class _RacingSampler(optuna.samplers.RandomSampler):
    """Plays another worker whose stale-trial check fails our trial *inside* Optuna's tell:
    after its "already finished?" check, before its write (Optuna calls ``after_trial`` there)."""

    def __init__(self, other: optuna.storages.RDBStorage) -> None:
        super().__init__(seed=0)
        self.other = other

    def after_trial(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        state: optuna.trial.TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.other.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        super().after_trial(study, trial, state, values)


def test_tell_discards_a_result_when_another_worker_fails_the_trial_during_the_tell(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    storage = _storage(url)
    study = optuna.create_study(
        storage=storage, sampler=_RacingSampler(optuna.storages.RDBStorage(url))
    )
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    frozen = tell(
        study, storage, trial, values=1.0
    )  # plain study.tell raises UpdateFinishedTrialError here
    assert frozen.state == optuna.trial.TrialState.FAIL and frozen.value is None
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL]


def test_start_from_default_makes_the_default_configuration_trial_0(
    tiny_config: Callable[..., RunConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tiny_config(
        **{"tune.n_trials": 2, "tune.warm_start": False, "tune.start_from_default": True}
    )
    parts, meta = prepare(cfg)
    run_study(cfg, parts, meta)
    first = min(_study(cfg, meta).trials, key=lambda t: t.number)
    assert first.user_attrs["warm_start"] == "default configuration"
    # TINY_SPACE holds units 8/16 (nearest to 32: 16), recurrent dropout 0.0/0.1, lr 3e-3..3e-2;
    # the airline defaults the rest
    assert first.params == {
        "units": 16,
        "recurrent_dropout": 0.0,
        "learning_rate": 3e-3,
        "lookback": 24,
        "anchor": "seasonal_trend",
        "transform": "log",
        "window_norm": True,
    }
    assert "first trial: lstmtune's default configuration (units=16, " in capsys.readouterr().out
    # resuming does not enqueue it again; a study without it samples trial 0
    cfg.tune.n_trials = 3
    run_study(cfg, parts, meta)
    assert (
        sum(
            t.user_attrs.get("warm_start") == "default configuration"
            for t in _study(cfg, meta).trials
        )
        == 1
    )
    off = tiny_config(
        **{"tune.n_trials": 1, "tune.warm_start": False, "tune.study_name": "no-default"}
    )  # the default: off
    run_study(off, parts, meta)
    assert "warm_start" not in _study(off, meta).trials[0].user_attrs


def test_sampler_and_pruner_settings(tiny_config: Callable[..., RunConfig]) -> None:
    from lstmtune.tuning import _pruner, _sampler

    default = tiny_config(**{"tune.n_trials": 30})
    assert _sampler(default, {})._n_startup_trials == 10
    assert _sampler(tiny_config(**{"tune.n_trials": 6}), {})._n_startup_trials == 3
    assert (
        _sampler(
            tiny_config(**{"tune.n_trials": 30, "tune.n_startup_trials": 5}), {}
        )._n_startup_trials
        == 5
    )
    assert type(_pruner(default, 100)).__name__ == "HyperbandPruner"
    sha = _pruner(tiny_config(**{"tune.pruner": "successive_halving"}), 100)
    assert (
        type(sha).__name__ == "SuccessiveHalvingPruner"
        and sha._min_resource == 5
        and sha._reduction_factor == 3
    )

"""The pruner is asked only at the epochs where it can decide: the same trials are pruned at the
same epochs as when it is asked every epoch, with far fewer reads of the study."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

from lstmtune.config import load_config
from lstmtune.tuning.samplers import _pruner, may_prune_at, prune_schedule

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_successive_halving_decides_at_its_rungs_only() -> None:
    at = [s for s in range(1, 200) if may_prune_at(s, (2, 3))]
    assert at == [2, 6, 18, 54, 162]
    assert [s for s in range(1, 30) if may_prune_at(s, (1, 3))] == [1, 3, 9, 27]
    assert all(may_prune_at(s, None) for s in range(1, 50))  # a median pruner: every step


@pytest.mark.parametrize(
    ("pruner", "schedule"),
    [("hyperband", (5, 3)), ("successive_halving", (5, 3)), ("median", None), ("none", None)],
)
def test_the_schedule_of_each_configured_pruner(
    tmp_path: Path, pruner: str, schedule: tuple[int, int] | None
) -> None:
    cfg = load_config(None, {"tune.pruner": pruner, "output_dir": str(tmp_path)})
    assert prune_schedule(_pruner(cfg, 200)) == schedule


def _curve(trial: int, epoch: int) -> float:
    """A learning curve per trial: some trials level off high, some low, some diverge late."""
    level = 0.1 + 0.05 * ((trial * 7) % 11)
    value = level + 1.0 / (1 + epoch * (1 + trial % 3))
    return math.nan if trial % 9 == 4 and epoch > 40 else value


def _prune_epochs(path: Path, gated: bool) -> tuple[list[int | None], int]:
    """Each trial's pruning epoch (None: it ran all 120) and how often the pruner was asked."""
    pruner = optuna.pruners.HyperbandPruner(min_resource=2, max_resource=120, reduction_factor=3)
    storage = f"sqlite:///{path}"
    study = optuna.create_study(storage=storage, study_name="s", pruner=pruner)
    schedule = prune_schedule(study.pruner)
    pruned_at: list[int | None] = []
    asked = 0
    for number in range(24):
        trial = study.ask()
        stop = None
        for epoch in range(1, 121):
            trial.report(_curve(number, epoch), epoch)
            if gated and not may_prune_at(epoch, schedule):
                continue
            asked += 1
            if trial.should_prune():
                stop = epoch
                break
        pruned_at.append(stop)
        state = optuna.trial.TrialState.PRUNED if stop else optuna.trial.TrialState.COMPLETE
        study.tell(trial, None if stop else _curve(number, 120), state=state)
    return pruned_at, asked


def test_gated_pruning_prunes_the_same_trials_at_the_same_epochs(tmp_path: Path) -> None:
    every, asked_every = _prune_epochs(tmp_path / "every.db", gated=False)
    gated, asked_gated = _prune_epochs(tmp_path / "gated.db", gated=True)
    assert gated == every
    assert any(e is not None for e in every) and any(e is None for e in every)
    assert asked_gated * 10 < asked_every

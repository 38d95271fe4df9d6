"""Rolling-origin validation of forecasting trials (:mod:`lstmtune.rolling`): the folds before
the validation split, how many a setting gives, and a trial judged by them."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import SMALL_NET, TINY_SPACE

from lstmtune import steps
from lstmtune.classical import fit_specs, spec_forecasts
from lstmtune.classical_fits import add_classical
from lstmtune.config import RunConfig
from lstmtune.crossval import fit_trial
from lstmtune.data.prepare import prepare, read_prepared
from lstmtune.errors import UserError
from lstmtune.fused_plan import fuse_off_reason, fuse_setting
from lstmtune.problems import make_problem
from lstmtune.rolling import (
    MIN_FIT_WINDOWS,
    add_fold_classical,
    fold_ends,
    fold_starts,
    resolve_folds,
)
from lstmtune.run_checks import check_study_config
from lstmtune.task_problems import ForecastProblem
from lstmtune.training import train
from lstmtune.tuning import run_study
from lstmtune.tuning.study_config import default_study_name

PARAMS: dict[str, Any] = {
    **SMALL_NET,
    "lookback": 12,
    "batch_size": 32,
    "epochs": 4,
    "anchor": "last",
    "transform": "none",
}


def _problem(cfg: RunConfig) -> ForecastProblem:
    parts, meta = prepare(cfg)
    problem = make_problem(parts, meta, PARAMS)
    assert isinstance(problem, ForecastProblem)
    return problem


@pytest.mark.parametrize("horizon", [1, 3])
def test_each_fold_validates_the_window_before_the_last_and_trains_on_the_rows_before_it(
    tiny_config: Callable[..., RunConfig], horizon: int
) -> None:
    problem = _problem(tiny_config(**{"data.horizon": horizon}))
    v0 = int(problem.splits["val"]["start"])
    length = int(problem.splits["val"]["end"]) - v0
    folds = fold_ends(problem, 3)
    assert len(folds) == 2
    for j, (start, fit, val) in enumerate(folds, start=1):
        assert start == v0 - j * length
        assert (val + 1).min() == start  # the first target of the first window
        assert (val + horizon).max() == start + length - 1  # the last target of the last one
        assert (fit + horizon).max() == start - 1  # every earlier row trains, none of the window
        assert len(fit) >= MIN_FIT_WINDOWS


def test_a_fold_that_would_leave_too_few_training_windows_is_not_used(
    tiny_config: Callable[..., RunConfig],
) -> None:
    problem = _problem(tiny_config())
    folds = fold_ends(problem, 100)
    assert 2 <= len(folds) < 99
    fits = [len(fit) for _, fit, _ in folds]
    assert min(fits) >= MIN_FIT_WINDOWS and fits == sorted(fits, reverse=True)


def test_a_study_s_folds_are_those_its_longest_lookback_can_feed(
    tiny_config: Callable[..., RunConfig], classify_csv: str
) -> None:
    cfg = tiny_config(**{"tune.search_space": {**TINY_SPACE, "lookback": [12, 36]}})
    parts, meta = prepare(cfg)
    assert resolve_folds(3, meta) == 3 and resolve_folds(1, meta) == 1
    most = resolve_folds(100, meta)
    longest = make_problem(parts, meta, {**PARAMS, "lookback": 36})
    shortest = make_problem(parts, meta, PARAMS)
    assert isinstance(longest, ForecastProblem) and isinstance(shortest, ForecastProblem)
    assert 2 <= most == 1 + len(fold_ends(longest, 100)) < 1 + len(fold_ends(shortest, 100))
    assert len(fold_ends(shortest, most)) == most - 1  # every trial: the same folds
    cfg = tiny_config(
        **{
            "data.task": "classify",
            "data.path": classify_csv,
            "data.sequence_column": "seq",
            "data.label": "y",
            "data.time_column": "t",
        }
    )
    meta = prepare(cfg)[1]
    assert resolve_folds(3, meta) == 1


def test_a_trial_is_the_ordinary_split_s_network_judged_by_the_mean_over_folds(
    tiny_config: Callable[..., RunConfig],
) -> None:
    problem = _problem(tiny_config())
    train_set, val_set = problem.tensors("train"), problem.tensors("val")
    seen: list[int] = []
    rolled = fit_trial(
        problem,
        PARAMS,
        train_set,
        val_set,
        forecast_folds=3,
        seed=7,
        on_epoch=lambda epoch, value, loss: seen.append(epoch),
    )
    plain = train(problem, PARAMS, train_set, val_set, seed=7)
    assert len(rolled.fold_values) == 3
    assert rolled.fold_values[0] == plain.best_value
    assert rolled.best_value == float(np.mean(rolled.fold_values))
    assert rolled.best_value != plain.best_value
    assert rolled.best_epoch == plain.best_epoch and seen == list(range(1, len(seen) + 1))
    assert len(seen) == plain.epochs_run  # pruning saw the ordinary split's epochs only
    with torch.no_grad():
        ours, theirs = (problem.predict_scaled(r.model, val_set) for r in (rolled, plain))
    assert torch.equal(ours, theirs)
    start, fit, val = fold_ends(problem, 2)[0]
    fold1 = train(
        problem, PARAMS, problem.tensors_at(fit, start), problem.tensors_at(val, start), seed=8
    )
    assert rolled.fold_values[1] == fold1.best_value


def test_the_study_s_values_are_the_fold_means(tiny_config: Callable[..., RunConfig]) -> None:
    cfg = tiny_config(**{"tune.n_trials": 2, "tune.forecast_folds": 3})
    parts, meta = prepare(cfg)
    tops = run_study(cfg, parts, meta).extra["top_trials"]
    assert len(tops) == 2
    for top in tops:
        problem = make_problem(parts, meta, top["params"])
        again = fit_trial(
            problem,
            top["params"],
            problem.tensors("train"),
            problem.tensors("val"),
            forecast_folds=3,
            patience=cfg.train.patience,
            seed=cfg.train.seed + top["number"],
        )
        assert len(again.fold_values) == 3 and top["value"] == again.best_value


def test_a_classical_anchor_in_an_earlier_fold_is_fitted_on_the_rows_before_it(
    tiny_config: Callable[..., RunConfig],
) -> None:
    parts, meta = prepare(tiny_config())
    add_classical(meta, parts, "train", extend_space=False)
    add_fold_classical(meta, parts, 3)
    y = np.concatenate([parts[s]["passengers"].to_numpy(np.float64) for s in ("train", "val")])
    problem = make_problem(parts, meta, {**PARAMS, "anchor": "arima"})
    assert isinstance(problem, ForecastProblem)
    for start, _, val in fold_ends(problem, 3):
        spec = fit_specs(y, start, int(meta["seasonal_period"]))[0]["arima"]
        assert meta["classical_folds"][str(start)]["arima"] == spec != meta["classical"]["arima"]
        fold = problem.tensors_at(val, start)
        honest = spec_forecasts(spec, y, val, 1, int(meta["seasonal_period"]))
        assert problem.featurizer.unscale_target(fold.anchor.numpy()) == pytest.approx(honest)
        leaky = problem.tensors_at(val)  # the train split's fit
        assert not np.allclose(fold.anchor.numpy(), leaky.anchor.numpy())


def test_the_prepare_step_fits_the_folds_classical_models(
    tiny_config: Callable[..., RunConfig], tmp_path: Path
) -> None:
    data = tmp_path / "dataset"
    for folds in (1, 3):
        cfg = tiny_config(**{"tune.forecast_folds": folds})
        steps.prepare_step(cfg.model_dump_json(), str(data / str(folds)))
        meta = read_prepared(str(data / str(folds)))[1]
        got = sorted(int(k) for k in meta.get("classical_folds", {}))
        assert got == ([] if folds == 1 else sorted(fold_starts(meta, 3)))


def test_trials_are_not_fused_where_folds_judge_them(
    tiny_config: Callable[..., RunConfig],
) -> None:
    cfg = tiny_config(**{"tune.fuse_trials": 4, "tune.forecast_folds": 3})
    meta = prepare(cfg)[1]
    why = fuse_off_reason(cfg, meta)
    assert why is not None and why.startswith("3 rolling-origin folds judge each trial")
    assert fuse_setting(cfg, meta) == "off"
    assert fuse_setting(tiny_config(**{"tune.fuse_trials": 4}), meta) == 4


def test_only_a_study_judged_by_folds_gets_a_name_of_its_own(
    tiny_config: Callable[..., RunConfig], capsys: Any
) -> None:
    meta = prepare(tiny_config())[1]
    names = [
        default_study_name(tiny_config(**extra), meta)
        for extra in ({}, {"tune.forecast_folds": 1}, {"tune.forecast_folds": 3})
    ]
    assert names[0] == names[1] != names[2]  # a study judged otherwise is never resumed
    cfg = tiny_config(**{"tune.forecast_folds": 3, "tune.n_trials": 1})
    run_study(cfg, *prepare(cfg))
    assert "rolling-origin validation: a trial's val_rmse is the mean over 3 windows" in (
        capsys.readouterr().out
    )


def test_folds_are_refused_where_nothing_would_use_them(
    tiny_config: Callable[..., RunConfig],
) -> None:
    for extra, says in (
        ({"data.task": "classify"}, "forecasting only (data.task is classify)"),
        ({"data.series_column": "store"}, "one series only"),
        ({"tune.strategy": "pbt"}, "population-based training"),
        ({"tune.subset": 0.5}, "tune.subset trains trials on part of the windows"),
    ):
        with pytest.raises(UserError, match=f"tune.forecast_folds: 3 folds: {re.escape(says)}"):
            check_study_config(tiny_config(**{"tune.forecast_folds": 3, **extra}))
    check_study_config(tiny_config(**{"tune.forecast_folds": 3}))


def test_a_classical_anchored_trial_trains_and_validates_each_fold_on_its_own_fit(
    tiny_config: Callable[..., RunConfig],
) -> None:
    parts, meta = prepare(tiny_config())
    add_classical(meta, parts, "train", extend_space=False)
    assert add_fold_classical(meta, parts, 2) == []
    params = {**PARAMS, "anchor": "arima"}
    problem = make_problem(parts, meta, params)
    assert isinstance(problem, ForecastProblem)
    sets = problem.tensors("train"), problem.tensors("val")
    rolled = fit_trial(problem, params, *sets, forecast_folds=2, seed=7)
    start, fit, val = fold_ends(problem, 2)[0]
    honest = train(problem, params, *(problem.tensors_at(e, start) for e in (fit, val)), seed=8)
    leaky = train(problem, params, *(problem.tensors_at(e) for e in (fit, val)), seed=8)
    assert rolled.fold_values[1] == honest.best_value != leaky.best_value


def test_a_fold_too_short_for_a_classical_fit_says_so_and_keeps_the_train_split_s(
    tiny_config: Callable[..., RunConfig],
) -> None:
    parts, meta = prepare(tiny_config())
    add_classical(meta, parts, "train", extend_space=False)
    short = {**meta, "splits": {**meta["splits"], "val": {"start": 12, "end": 16, "rows": 4}}}
    warnings = add_fold_classical(short, parts, 2)
    assert short["classical_folds"] == {"8": {}}
    assert warnings == [
        f"warning: {name} could not be fitted on the 8 rows before a rolling-origin fold"
        f" ({name}: 8 rows cannot be fitted); its anchor there is the train split's fit"
        for name in ("auto_arima", "auto_ets")
    ]


def test_a_text_study_says_it_is_not_fused(tiny_config: Callable[..., RunConfig]) -> None:
    """A text run with --fuse-trials 4 trained trial by trial without a word."""
    cfg = tiny_config(**{"tune.fuse_trials": 4, "data.task": "text"})
    assert fuse_off_reason(cfg, {"task": "text"}) == "text models (token embeddings) are not fused"
    assert fuse_setting(cfg, {"task": "text"}) == "off"

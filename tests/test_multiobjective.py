"""Multi-objective tuning (``tune.objectives``): a real study, its Pareto front, the selection
rule on synthetic trials, and the configuration checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest

from lstmtune.config import RunConfig, load_config
from lstmtune.data.prepare import prepare
from lstmtune.errors import UserError
from lstmtune.tuning import (
    _pruner,
    _result,
    _sampler,
    _storage,
    best_from_study,
    default_study_name,
    dominates,
    pareto_choice,
    run_study,
)

TS = optuna.trial.TrialState
MO_SPACE: dict[str, Any] = {
    "units": [4, 8, 16],
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


def _study(cfg: RunConfig, meta: dict[str, Any]) -> optuna.Study:
    return optuna.load_study(
        study_name=cfg.tune.study_name or default_study_name(cfg, meta),
        storage=str(cfg.tune.storage),
    )


@pytest.mark.parametrize(
    ("objectives", "sampler"),
    [(["val", "param_count"], "tpe"), (["val", "train_seconds"], "cmaes")],
)
def test_real_multi_objective_study(
    tiny_config: Callable[..., RunConfig],
    capsys: pytest.CaptureFixture[str],
    objectives: list[str],
    sampler: str,
) -> None:
    cfg = tiny_config(
        **{
            "tune.n_trials": 6,
            "tune.objectives": objectives,
            "tune.sampler": sampler,
            "tune.search_space": MO_SPACE,
            "tune.warm_start": False,
            "tune.pruner": "hyperband",
            "tune.fuse_trials": 2,
        }
    )
    parts, meta = prepare(cfg)
    # warm start = an enqueued trial: it still runs first in a multi-objective study
    study = optuna.create_study(
        study_name=default_study_name(cfg, meta),
        storage=_storage(str(cfg.tune.storage)),
        directions=["minimize", "minimize"],
    )
    study.enqueue_trial({"units": 8, "learning_rate": 0.01})
    result = run_study(cfg, parts, meta)
    out = capsys.readouterr().out
    study = _study(cfg, meta)
    trials = study.trials
    assert len(trials) == 6 and all(
        t.state == TS.COMPLETE for t in trials
    )  # nothing pruned (no pruner for several objectives)
    assert result.n_trials_pruned == 0 and result.n_trials_complete == 6
    assert trials[0].params == {"units": 8, "learning_rate": 0.01}
    assert all(not t.intermediate_values for t in trials)
    expected = {"tpe": optuna.samplers.TPESampler, "cmaes": optuna.samplers.NSGAIISampler}[sampler]
    assert isinstance(_sampler(cfg, meta["search_space"]), expected)
    assert isinstance(_pruner(cfg, 4), optuna.pruners.NopPruner)
    names = ["val_rmse", objectives[1]]
    assert result.extra["objectives"] == names and result.objective == "val_rmse"
    front = result.extra["pareto_front"]
    assert front and {m["number"] for m in front} == {t.number for t in study.best_trials}
    values = {t.number: list(t.values) for t in trials}
    for m in front:  # non-dominated among all trials
        assert set(m["values"]) == set(names) and m["params"]["epochs"] == 4
        assert not any(
            dominates(values[n], values[m["number"]]) for n in values if n != m["number"]
        )
    for n, v in values.items():  # everything off the front is dominated by a front member
        if n not in {m["number"] for m in front}:
            assert any(dominates(values[m["number"]], v) for m in front)
    # the chosen trial obeys the rule
    best_val = min(v[0] for v in (values[m["number"]] for m in front))
    eligible = [
        m["number"]
        for m in front
        if values[m["number"]][0] <= best_val * (1 + cfg.tune.pareto_tolerance)
    ]
    chosen = min(eligible, key=lambda n: (values[n][1], values[n][0], n))
    assert result.best_trial == chosen and result.best_value == values[chosen][0]
    assert result.best_epoch == trials[chosen].user_attrs["best_epoch"]
    if objectives[1] == "param_count":
        assert all(float(v[1]).is_integer() and v[1] > 0 for v in values.values())
        assert len({t.params["units"] for t in trials}) == len(
            {v[1] for v in values.values()}
        )  # param_count follows units
    else:
        assert all(
            v[1] == pytest.approx(trials[n].user_attrs["train_seconds"], abs=1e-3)
            for n, v in values.items()
        )
        assert "fuse_trials: off, because the train_seconds objective" in out
        assert all("fused_group" not in t.user_attrs for t in trials)
    # the collect step (multi-worker) reads the same choice from the storage
    again = best_from_study(cfg, meta)
    assert again.best_trial == result.best_trial and again.extra["pareto_front"] == front
    # progress lines show every objective
    assert re.search(r"multi-objective: minimising val_rmse, " + objectives[1], out)
    lines = re.findall(
        r"lstmtune \| trial +(\d+) complete +val_rmse=\S+ +"
        + objectives[1]
        + r"=\S+ +best=\S+ front=\d+  \[(\d)/6\]",
        out,
    )
    assert [int(n) for n, _ in lines] == list(range(6))


def _synthetic(rows: list[tuple[float, float]]) -> optuna.Study:
    study = optuna.create_study(directions=["minimize", "minimize"])
    dist: dict[str, optuna.distributions.BaseDistribution] = {
        "units": optuna.distributions.CategoricalDistribution([8, 16, 32])
    }
    for i, values in enumerate(rows):
        study.add_trial(
            optuna.trial.create_trial(
                values=list(values),
                params={"units": [8, 16, 32][i % 3]},
                distributions=dist,
                user_attrs={"best_epoch": i + 1},
            )
        )
    return study


def test_selection_rule_prefers_the_cheapest_trial_within_tolerance() -> None:
    rows = [
        (10.0, 5.0),  # 0: best val, slow
        (10.3, 1.0),  # 1: within 5 % of the best val, fast -> chosen at the default tolerance
        (12.0, 0.5),  # 2: fastest, but 20 % worse
        (11.0, 6.0),  # 3: dominated by 0
        (10.45, 1.0),  # 4: within 5 %, as fast as 1 but worse -> the tie goes to lower val (1)
    ]
    study = _synthetic(rows)
    front = study.best_trials
    assert {t.number for t in front} == {0, 1, 2}  # 4 is dominated by 1, 3 by 0
    assert pareto_choice(front, 0.05).number == 1
    assert pareto_choice(front, 0.0).number == 0  # no tolerance: the best validation value
    assert pareto_choice(front, 0.25).number == 2
    assert pareto_choice(front, 0.05).number != min(front, key=lambda t: t.values[0]).number
    tie = _synthetic([(10.0, 5.0), (10.4, 1.0), (10.2, 1.0)])
    assert pareto_choice(tie.best_trials, 0.05).number == 2  # equal cost: lower validation value
    with pytest.raises(ValueError, match="empty"):
        pareto_choice([], 0.05)
    result = _result(
        study,
        "s",
        "sqlite:///x.db",
        "val_rmse",
        {"epochs": 9},
        0,
        1.0,
        names=["val_rmse", "train_seconds"],
        tolerance=0.05,
    )
    assert result.best_trial == 1 and result.best_value == 10.3 and result.best_epoch == 2
    assert result.best_params == {"epochs": 9, "units": 16}
    assert (
        result.extra["objectives"] == ["val_rmse", "train_seconds"]
        and result.extra["pareto_tolerance"] == 0.05
    )
    assert result.extra["pareto_front"] == [
        {
            "number": 0,
            "values": {"val_rmse": 10.0, "train_seconds": 5.0},
            "params": {"epochs": 9, "units": 8},
        },
        {
            "number": 1,
            "values": {"val_rmse": 10.3, "train_seconds": 1.0},
            "params": {"epochs": 9, "units": 16},
        },
        {
            "number": 2,
            "values": {"val_rmse": 12.0, "train_seconds": 0.5},
            "params": {"epochs": 9, "units": 32},
        },
    ]
    counted = _result(
        _synthetic([(1.0, 3000.0), (1.01, 200.0)]),
        "s",
        "sqlite:///x.db",
        "val_loss",
        {},
        0,
        1.0,
        names=["val_loss", "param_count"],
        tolerance=0.05,
    )
    assert counted.extra["pareto_front"][1]["values"] == {"val_loss": 1.01, "param_count": 200}
    assert (
        isinstance(counted.extra["pareto_front"][1]["values"]["param_count"], int)
        and counted.best_trial == 1
    )


def test_random_and_grid_samplers_stay(tiny_config: Callable[..., RunConfig]) -> None:
    for name, cls in (
        ("random", optuna.samplers.RandomSampler),
        ("grid", optuna.samplers.GridSampler),
    ):
        cfg = tiny_config(
            **{
                "tune.objectives": ["val", "param_count"],
                "tune.sampler": name,
                "tune.search_space": MO_SPACE,
            }
        )
        _, meta = prepare(cfg)
        assert isinstance(_sampler(cfg, meta["search_space"]), cls)


def test_objectives_must_start_with_val() -> None:
    with pytest.raises(UserError) as err:
        load_config(None, {"tune.objectives": ["train_seconds"]})
    assert (
        str(err.value)
        == "config: tune.objectives: Value error, objectives must start with 'val' and not repeat, "
        "e.g. [val, train_seconds]"
    )
    with pytest.raises(UserError, match="objectives must start with 'val'"):
        load_config(None, {"tune.objectives": ["val", "val"]})
    assert load_config(None, {"tune.objectives": ["val", "param_count"]}).tune.objectives == [
        "val",
        "param_count",
    ]


def test_objectives_change_the_study(tiny_config: Callable[..., RunConfig]) -> None:
    single = tiny_config(**{"tune.warm_start": False})
    multi = tiny_config(**{"tune.objectives": ["val", "param_count"], "tune.warm_start": False})
    parts, meta = prepare(single)
    assert default_study_name(single, meta) != default_study_name(multi, meta)
    assert default_study_name(single, meta) == default_study_name(
        tiny_config(**{"tune.objectives": ["val"]}), meta
    )
    # an explicitly named single-objective study cannot be continued with two objectives
    named = tiny_config(
        **{
            "tune.objectives": ["val", "param_count"],
            "tune.study_name": "one",
            "tune.warm_start": False,
        }
    )
    optuna.create_study(study_name="one", storage=_storage(str(named.tune.storage)))
    with pytest.raises(
        UserError, match=r"tune\.objectives: study 'one' was created with 1 objective\(s\), not 2"
    ):
        run_study(named, parts, meta)


def test_plots_of_a_multi_objective_study(tmp_path: Path) -> None:
    """The report draws a Pareto front and the per-objective plots on the validation objective."""
    import optuna

    from lstmtune.plots import first_objective_view, render_plots

    study = optuna.create_study(
        directions=["minimize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0)
    )
    study.optimize(
        lambda t: (t.suggest_float("x", 0, 1), 1 - t.suggest_float("y", 0, 1) ** 2), n_trials=8
    )
    view = first_objective_view(study)
    assert len(view.directions) == 1 and [t.value for t in view.trials] == [
        t.values[0] for t in study.trials
    ]
    plots = render_plots(study, None, None, tmp_path / "plots", objective="val_rmse")
    files = plots.files()
    assert "pareto_front" in files and "optimization_history" in files
    assert (tmp_path / "plots" / "pareto_front.png").stat().st_size > 5000


def test_katib_refuses_multi_objective_and_subset(tiny_config: Callable[..., RunConfig]) -> None:
    from lstmtune.data.prepare import prepare
    from lstmtune.errors import UserError
    from lstmtune.katib import build_experiment

    _, meta = prepare(tiny_config())
    with pytest.raises(UserError, match="one objective"):
        build_experiment(
            tiny_config(**{"tune.objectives": ["val", "param_count"]}),
            meta,
            name="x",
            data_uri="/d",
        )
    with pytest.raises(UserError, match=r"tune\.subset"):
        build_experiment(tiny_config(**{"tune.subset": 0.5}), meta, name="x", data_uri="/d")

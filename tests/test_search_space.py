"""One declaration, rendered for Optuna (suggest / grid) with data-aware defaults."""

from __future__ import annotations

import math
import re
from typing import Any

import optuna
import pytest

from lstmtune.config import load_config
from lstmtune.data.splits import MIN_TRAIN_WINDOWS
from lstmtune.errors import UserError
from lstmtune.search_space import (
    default_configuration,
    default_space,
    grid_size,
    grid_space,
    resolve_search_space,
    suggest,
)

META: dict[str, Any] = {
    "task": "forecast",
    "seasonal_period": 12,
    "target_positive": True,
    "horizon": 1,
    "splits": {"train": {"rows": 100}},
    "columns": {"target": "y"},
}


def _space(**declared: Any) -> dict[str, Any]:
    cfg = load_config(None, {"tune.search_space": declared} if declared else {})
    return resolve_search_space(cfg, META, min_train_windows=MIN_TRAIN_WINDOWS)


def test_defaults_are_data_aware() -> None:
    space = default_space("forecast", META)
    assert space["lookback"]["choices"] == [
        13,
        24,
    ]  # one season plus the step seasonal_trend reads, two seasons
    assert space["anchor"]["choices"] == ["last", "seasonal", "seasonal_trend"]
    assert space["transform"]["choices"] == ["none", "log"]
    flat = default_space("forecast", {**META, "seasonal_period": 1, "target_positive": False})
    assert flat["anchor"] == {"type": "fixed", "value": "last"}
    assert flat["transform"] == {"type": "fixed", "value": "none"}
    assert "lookback" not in default_space("classify")


def test_declaration_overrides_defaults_and_suggest_samples_inside_it() -> None:
    space = _space(
        units=[8, 12],
        learning_rate={"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
        num_layers={"type": "int", "low": 1, "high": 3},
        lookback=12,
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        p = suggest(trial, space)
        assert p["units"] in (8, 12)
        assert 1e-3 <= p["learning_rate"] <= 1e-2
        assert p["num_layers"] in (1, 2, 3)
        assert p["lookback"] == 12  # fixed: not a searched parameter
        assert "lookback" not in trial.params
        study.tell(trial, 0.0)
    dist = study.trials[0].distributions["learning_rate"]
    assert isinstance(dist, optuna.distributions.FloatDistribution) and dist.log


def test_unknown_or_invalid_parameters_are_named() -> None:
    with pytest.raises(UserError, match=r"tune.search_space.unitz"):
        _space(unitz=[8])
    with pytest.raises(UserError, match=r"tune.search_space.optimizer"):
        _space(optimizer=["adam", "lbfgs"])
    with pytest.raises(UserError, match=r"tune.search_space.dropout"):
        _space(dropout=[0.0, 1.5])
    with pytest.raises(UserError, match=r"tune.search_space.lookback: series too short"):
        _space(lookback=95)


def test_log_transform_refused_for_non_positive_target() -> None:
    cfg = load_config(None, {"tune.search_space": {"transform": ["none", "log"]}})
    with pytest.raises(UserError, match="strictly positive"):
        resolve_search_space(
            cfg, {**META, "target_positive": False}, min_train_windows=MIN_TRAIN_WINDOWS
        )


def test_grid_space_is_finite_and_drives_optuna_grid_sampler() -> None:
    space = _space(
        units=[8, 16],
        num_layers={"type": "int", "low": 1, "high": 2},
        dropout={"type": "float", "low": 0.0, "high": 0.2, "step": 0.1},
        learning_rate={"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
    )
    grid = grid_space(space)
    assert grid["units"] == [8, 16]
    assert grid["num_layers"] == [1, 2]
    assert grid["dropout"] == pytest.approx([0.0, 0.1, 0.2])
    assert grid["learning_rate"] == pytest.approx([1e-3, 1e-2, 1e-1])
    assert "epochs" not in grid
    n = grid_size(space)
    assert n == math.prod(len(v) for v in grid.values())
    assert grid["optimizer"] == ["adam", "adamw", "rmsprop", "sgd"]
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(grid, seed=0))
    seen = set()
    for _ in range(12):
        t = study.ask()
        seen.add(tuple(sorted(suggest(t, space).items())))
        study.tell(t, 0.0)
    assert len(seen) == 12  # no configuration twice


def test_architecture_parameters_and_conditions() -> None:
    space = _space(
        cell=["lstm", "gru"],
        head=["last", "mean", "attention"],
        num_layers={"type": "int", "low": 1, "high": 2},
        recurrent_dropout={
            "type": "float",
            "low": 0.05,
            "high": 0.3,
            "when": "num_layers > 1",
            "default": 0.0,
        },
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen_layers = set()
    for _ in range(30):
        trial = study.ask()
        p = suggest(trial, space)
        seen_layers.add(p["num_layers"])
        if p["num_layers"] == 1:
            assert p["recurrent_dropout"] == 0.0 and "recurrent_dropout" not in trial.params
        else:
            assert 0.05 <= p["recurrent_dropout"] <= 0.3 and "recurrent_dropout" in trial.params
        assert p["cell"] in ("lstm", "gru") and p["head"] in ("last", "mean", "attention")
        study.tell(trial, 0.0)
    assert seen_layers == {1, 2}
    assert default_space("classify")["cell"] == {"type": "fixed", "value": "lstm"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"type": "float", "low": 0.0, "high": 0.3, "when": "num_layers ~ 1"},
            "is not '<parameter> <op> <value>'",
        ),
        (
            {"type": "float", "low": 0.0, "high": 0.3, "when": "num_layers >>> 1"},
            "cannot read the value",
        ),
        ({"type": "float", "low": 0.0, "high": 0.3, "when": "num_layers > big"}, "needs a number"),
        (
            {"type": "float", "low": 0.0, "high": 0.3, "when": "layers > 1"},
            "is not another parameter",
        ),
        ({"type": "float", "low": 0.0, "high": 0.3, "when": "cell in gru"}, "'in' needs a list"),
    ],
)
def test_bad_conditions_are_named(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=r"tune\.search_space\.recurrent_dropout\.when"):
        _space(recurrent_dropout=entry)
    with pytest.raises(UserError, match=re.escape(message)):
        _space(recurrent_dropout=entry)


def test_katib_refuses_conditional_parameters() -> None:
    from lstmtune.katib import katib_parameters

    space = _space(
        recurrent_dropout={"type": "float", "low": 0.0, "high": 0.3, "when": "num_layers > 1"}
    )
    with pytest.raises(UserError, match="Katib cannot express conditional"):
        katib_parameters(space)
    with pytest.raises(UserError, match="cell"):
        _space(cell=["lstm", "transformer"])


def test_default_configuration_takes_the_nearest_value_the_space_holds() -> None:
    space = default_space("forecast", META)
    assert default_configuration(space, META) == {
        "units": 32,
        "num_layers": 1,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "bidirectional": False,
        "learning_rate": 3e-3,
        "batch_size": 32,
        "optimizer": "adam",
        "weight_decay": 1e-6,
        "lookback": 24,
        "anchor": "seasonal_trend",
        "transform": "log",
        "window_norm": True,
    }
    declared = _space(
        units={"type": "int", "low": 40, "high": 200, "step": 8},
        learning_rate={"type": "float", "low": 1e-2, "high": 1e-1, "log": True},
        optimizer=["sgd", "rmsprop"],
        batch_size=[100, 200],
        recurrent_dropout={
            "type": "float",
            "low": 0.1,
            "high": 0.3,
            "when": "num_layers > 1",
            "default": 0.0,
        },
    )
    chosen = default_configuration(declared, META)
    assert chosen["units"] == 40 and chosen["learning_rate"] == 1e-2 and chosen["batch_size"] == 100
    assert (
        "optimizer" not in chosen
    )  # no preference among the declared choices: the sampler draws it
    assert "recurrent_dropout" not in chosen  # conditional: drawn when its condition holds
    assert "epochs" not in chosen  # fixed
    flat = {**META, "seasonal_period": 1, "target_positive": False}
    assert default_configuration(default_space("forecast", flat), flat)["lookback"] == 16
    # a lookback of one season cannot feed seasonal_trend: the default falls back to the
    # seasonal anchor
    short = _space(lookback=12)
    assert default_configuration(short, META)["anchor"] == "seasonal"


def test_default_configuration_snaps_to_the_grid_and_keeps_bools_apart() -> None:
    space = _space(
        units={"type": "int", "low": 8, "high": 30, "step": 8},
        bidirectional=[True, False],
        batch_size=[1, 2],
        anchor=["none", "seasonal_trend"],
        lookback=12,
    )
    chosen = default_configuration(space, META)
    assert chosen["units"] == 24  # 32 clipped to 30 would be off the 8, 16, 24 grid
    assert chosen["bidirectional"] is False  # the bool, not the int 0 / 1
    assert chosen["batch_size"] == 2  # nearest number to 32; True/False are never numbers here
    assert chosen["anchor"] == "none"  # seasonal_trend needs lookback 13: the feasible fallback
    assert default_configuration(_space(anchor=["last", "seasonal"]), META)["anchor"] == "seasonal"


def test_default_anchors_fit_a_declared_lookback() -> None:
    assert _space(lookback=12)["anchor"]["choices"] == [
        "last",
        "seasonal",
    ]  # 12 cannot feed seasonal_trend (needs 13)
    assert _space(lookback=8)["anchor"] == {"type": "fixed", "value": "last"}
    assert _space(lookback={"type": "int", "low": 8, "high": 30})["anchor"]["choices"] == [
        "last",
        "seasonal",
        "seasonal_trend",
    ]
    assert _space(lookback=12, anchor=["last", "seasonal_trend"])["anchor"]["choices"] == [
        "last",
        "seasonal_trend",
    ]  # declared: kept


def test_default_lookbacks_shrink_to_fit_a_short_series() -> None:
    """A short series gets the default lookbacks that fit, not an error about a lookback the user
    never declared (55 quarters of a non-seasonal series: 39 train rows, defaults 8, 16, 32)."""
    cfg = load_config(None, {})

    def lookbacks(rows: int) -> list[int]:
        meta = {**META, "seasonal_period": 1, "splits": {"train": {"rows": rows}}}
        space = resolve_search_space(cfg, meta, min_train_windows=MIN_TRAIN_WINDOWS)
        return [int(v) for v in space["lookback"]["choices"]]

    assert lookbacks(100) == [8, 16, 32]
    assert lookbacks(39) == [8, 16]  # 39 - 32 < 8 training windows
    assert lookbacks(14) == [14 - MIN_TRAIN_WINDOWS]  # none fits: the longest that does
    with pytest.raises(UserError, match=r"series too short: the train split has 9 time steps"):
        lookbacks(MIN_TRAIN_WINDOWS + 1)  # not even two steps of history fit
    seasonal = {**META, "splits": {"train": {"rows": 30}}}  # season 12: defaults 13 and 24
    space = resolve_search_space(cfg, seasonal, min_train_windows=MIN_TRAIN_WINDOWS)
    assert space["lookback"]["choices"] == [13]
    assert "seasonal_trend" in space["anchor"]["choices"]  # 13 still feeds it
    with pytest.raises(UserError, match=r"series too short for lookback 24"):
        resolve_search_space(  # declared by the user: still refused, naming the key
            load_config(None, {"tune.search_space": {"lookback": [13, 24]}}),
            seasonal,
            min_train_windows=MIN_TRAIN_WINDOWS,
        )
    # a declared anchor the shrunk lookbacks cannot feed (seasonal_trend needs 13 with season 12)
    seasonal = {**META, "splits": {"train": {"rows": 20}}}  # lookbacks shrink to [12]
    with pytest.raises(UserError, match=r"tune.search_space.anchor: no lookback can feed"):
        resolve_search_space(
            load_config(None, {"tune.search_space": {"anchor": "seasonal_trend"}}),
            seasonal,
            min_train_windows=MIN_TRAIN_WINDOWS,
        )
    with pytest.raises(UserError, match=r"seasonal lookback >= 2 and a season"):
        resolve_search_space(  # a seasonal anchor on a series without a season
            load_config(None, {"tune.search_space": {"anchor": ["seasonal"]}}),
            {**META, "seasonal_period": 1},
            min_train_windows=MIN_TRAIN_WINDOWS,
        )
    assert resolve_search_space(  # one feasible choice is enough: the trials skip the other
        load_config(None, {"tune.search_space": {"anchor": ["last", "seasonal_trend"]}}),
        seasonal,
        min_train_windows=MIN_TRAIN_WINDOWS,
    )["anchor"]["choices"] == ["last", "seasonal_trend"]

"""A rerun that reproduces the newest version's model registers nothing: the decision, the digest
it compares, and two publishes of one model against a real MLflow registry (SQLite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pytest
import torch

from lstmtune.config import RunConfig, example_data_path, load_config
from lstmtune.registry_same import (
    Newest,
    held_alias,
    kept_version,
    model_digest,
    unchanged_line,
)

DIGEST = "a" * 64


def _newest(digest: str | None = DIGEST, run: str = "r1", aliases: tuple[str, ...] = ("x",)) -> Any:
    return Newest("3", digest, run, aliases, "test rmse 17.8 beats the champion's 18")


def test_only_the_newest_version_holding_the_same_digest_and_an_alias_is_kept() -> None:
    assert kept_version(_newest(), DIGEST, "r2") == "3"
    assert kept_version(None, DIGEST, "r2") is None  # nothing registered yet
    assert kept_version(_newest("b" * 64), DIGEST, "r2") is None  # another model
    assert kept_version(_newest(None), DIGEST, "r2") is None  # registered before the digest
    assert kept_version(_newest(aliases=()), DIGEST, "r2") is None  # its alias taken off
    # this very run registered it and failed before its tags and alias: the retry finishes it
    assert kept_version(_newest(run="r2"), DIGEST, "r2") is None


def test_the_alias_reported_is_champion_then_challenger_then_another() -> None:
    assert held_alias(("challenger", "champion")) == "champion"
    assert held_alias(("prod", "challenger")) == "challenger"
    assert held_alias(("prod", "blue")) == "blue"
    assert unchanged_line("3") == (
        "unchanged: version 3 already holds this model (same data, configuration, code and"
        " weights); nothing registered"
    )


def _model_dir(path: Path, seed: int = 0, seconds: float = 1.0) -> str:
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    torch.save(
        {"w": torch.randn(3, 2), "b": torch.zeros(2, dtype=torch.bfloat16)}, path / "weights.pt"
    )
    (path / "spec.json").write_text(json.dumps({"task": "forecast", "params": {"units": 8}}))
    (path / "evaluation.json").write_text(json.dumps({"retrain_seconds": seconds}))
    return str(path)


def _cfg(tmp_path: Path, **keys: Any) -> RunConfig:
    return load_config(None, {"output_dir": str(tmp_path / "out"), **keys}).resolved()


def test_the_digest_follows_the_model_data_and_configuration_not_where_or_how_fast(
    tmp_path: Path,
) -> None:
    meta = {"sha256": "d" * 64}
    reqs = ["torch==2.0"]
    base = model_digest(_cfg(tmp_path), meta, _model_dir(tmp_path / "m"), reqs)
    # the same model retrained elsewhere, in another time, from a copy of the data (its content
    # is in by its sha256), stored and tracked elsewhere
    copy = tmp_path / "copy.csv"
    copy.write_bytes(Path(example_data_path()).read_bytes())
    moved = {"data.path": str(copy), "data.target": "passengers", "data.time_column": "month"}
    same = model_digest(
        _cfg(tmp_path / "x", **moved, **{"train.threads": 1, "mlflow.experiment": "e"}),
        meta,
        _model_dir(tmp_path / "m2", seconds=9.5),
        reqs,
    )
    assert same == base
    changed = [
        model_digest(_cfg(tmp_path), meta, _model_dir(tmp_path / "m3", seed=1), reqs),
        model_digest(_cfg(tmp_path), {"sha256": "e" * 64}, _model_dir(tmp_path / "m"), reqs),
        model_digest(
            _cfg(tmp_path, **{"train.patience": 5}), meta, _model_dir(tmp_path / "m"), reqs
        ),
        model_digest(_cfg(tmp_path), meta, _model_dir(tmp_path / "m"), ["torch==2.1"]),
    ]
    assert len({base, *changed}) == 5


@pytest.mark.parametrize(
    ("keys", "same"),
    [
        ({"tune.n_trials": 60}, True),  # how long the search runs: the weights tell the rest
        ({"tune.timeout": 600}, True),
        ({"tune.max_failed_trials": 0}, True),
        ({"tune.n_trials": 60, "tune.timeout": 7.5, "tune.max_failed_trials": 9}, True),
        ({"train.patience": 30}, False),  # what a trial is or how it is judged
        ({"tune.pruner": "median"}, False),
        ({"tune.n_startup_trials": 4}, False),
        ({"tune.pbt_rounds": 3}, False),
        ({"tune.subset": 0.5}, False),
        ({"tune.sampler": "random"}, False),
        ({"data.test_size": 0.2}, False),
    ],
)
def test_the_digest_leaves_out_how_long_the_search_runs_only(
    tmp_path: Path, keys: dict[str, Any], same: bool
) -> None:
    meta, reqs = {"sha256": "d" * 64}, ["torch==2.0"]
    model = _model_dir(tmp_path / "m")
    base = model_digest(_cfg(tmp_path), meta, model, reqs)
    assert (model_digest(_cfg(tmp_path, **keys), meta, model, reqs) == base) is same


def _published(tmp_path: Path, cfg: RunConfig, parts: Any, meta: Any, seed: int) -> dict[str, Any]:
    """One run's register step on an untrained network of the default configuration."""
    from lstmtune import tracking
    from lstmtune.model import build_model
    from lstmtune.problems import make_problem
    from lstmtune.registry import publish
    from lstmtune.search_space import default_configuration, fixed_params
    from lstmtune.serving import save_model_dir

    space = meta["search_space"]
    params = {**default_configuration(space, meta), **fixed_params(space)}
    problem = make_problem(parts, meta, params)
    torch.manual_seed(seed)
    net = build_model(problem.n_features, problem.n_outputs, params, zero_head=problem.zero_head)
    spec = {"task": "forecast", "params": params, "n_features": problem.n_features}
    spec |= {"n_outputs": problem.n_outputs, "zero_head": problem.zero_head}
    model_dir = tmp_path / f"model-{seed}"
    save_model_dir(model_dir, net, spec | {"featurizer": problem.featurizer.to_dict()})
    evaluation = {
        "test_metrics": {"rmse": 20.0},
        "baseline_metrics": {"persistence": {"rmse": 50.0}},
        "best_baseline": "persistence",
        "beats_baseline": True,
    }
    best = {"objective": "val_rmse", "best_params": params, "best_value": 1.0, "best_trial": 0}
    best |= {"best_epoch": 1, "study_name": "s", "storage": "sqlite://", "seconds": 1.0}
    best |= {"n_trials_complete": 1, "n_trials_pruned": 0, "n_trials_failed": 0}
    run_id = tracking.start_parent_run(cfg, meta)
    return publish(
        cfg, parts, meta, str(model_dir), best | {"n_trials_reused": 0}, evaluation, run_id
    )


def _restored_after(monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    """publish points MLflow's process-wide URIs (and their environment variables) at its
    registry, as a pipeline step in its own process may: put them back after this test."""
    from mlflow.tracking._model_registry import utils as registry
    from mlflow.tracking._tracking_service import utils as tracking

    monkeypatch.setattr(registry, "_registry_uri", uri)
    monkeypatch.setattr(tracking, "_tracking_uri", uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)


def test_a_rerun_of_the_same_model_registers_nothing_and_a_changed_one_registers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lstmtune.data.prepare import prepare

    cfg = _cfg(tmp_path, **{"mlflow.model_name": "m"})
    _restored_after(monkeypatch, str(cfg.mlflow.tracking_uri))
    parts, meta = prepare(cfg)
    first = _published(tmp_path, cfg, parts, meta, seed=0)
    assert (first["model_version"], first["alias"], first["unchanged"]) == ("1", "champion", False)
    capsys.readouterr()

    again = _published(tmp_path, cfg, parts, meta, seed=0)  # the same weights, data and code
    assert again["unchanged"] is True and again["model_digest"] == first["model_digest"]
    assert (again["model_version"], again["alias"]) == ("1", "champion")
    assert again["model_uri"] == "models:/m@champion"
    assert again["promotion_reason"] == first["promotion_reason"] == "no comparable champion"
    assert again["previous_champion_version"] == "1"
    out = capsys.readouterr().out
    assert unchanged_line("1") in out and "registered m version" not in out
    client = mlflow.MlflowClient(str(cfg.mlflow.tracking_uri))
    assert [str(v.version) for v in client.search_model_versions("name='m'")] == ["1"]
    parent = client.get_run(again["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["lstmtune.unchanged_version"] == "1"

    longer = _cfg(tmp_path, **{"mlflow.model_name": "m", "tune.n_trials": 90, "tune.timeout": 900})
    more = _published(tmp_path, longer, parts, meta, seed=0)  # a longer search, the same model
    assert (more["unchanged"], more["model_version"]) == (True, "1")
    assert more["model_digest"] == first["model_digest"]

    changed = _published(tmp_path, cfg, parts, meta, seed=1)  # other weights
    assert (changed["model_version"], changed["unchanged"]) == ("2", False)
    assert changed["model_digest"] != first["model_digest"]
    versions = {str(v.version): v for v in client.search_model_versions("name='m'")}
    assert sorted(versions) == ["1", "2"]
    assert versions["2"].tags["model_digest"] == changed["model_digest"]
    assert versions["1"].tags["model_digest"] == first["model_digest"]

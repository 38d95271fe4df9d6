"""The published classifier of a small set: annealed retrains, a seed ensemble that averages its
members' probabilities, saved without pickle and served by the pyfunc contract unchanged."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from lstmtune.annealed import ANNEAL_PIECES, annealed_rate, annealed_train
from lstmtune.classify_space import (
    MAX_EPOCHS,
    MIN_EPOCHS,
    SMALL_SET_EPOCHS,
    TRIAL_CELLS,
    TUNE_SECONDS,
    budget_reason,
    classify_space,
    default_tuning_seconds,
    epoch_bound,
)
from lstmtune.config import RunConfig, load_config
from lstmtune.crossval import (
    AUTO_ENSEMBLE,
    MIN_RETRAIN_STEPS,
    ensemble_size,
    final_epochs,
    retrain_epochs,
    small_set,
)
from lstmtune.data.prepare import prepare
from lstmtune.ensemble import EnsembleNet, build_ensemble
from lstmtune.errors import UserError
from lstmtune.evaluate import TestEvaluation
from lstmtune.final_classify import (
    FinalClassifier,
    class_proba,
    evaluate_classify,
    fit_ensemble,
)
from lstmtune.model import build_model
from lstmtune.problems import make_problem
from lstmtune.serving import WEIGHTS, Predictor, save_model_dir
from lstmtune.synthetic import classify_frame
from lstmtune.training import ClassifyProblem

PARAMS: dict[str, Any] = {
    "units": 8,
    "num_layers": 1,
    "learning_rate": 1e-2,
    "batch_size": 16,
    "optimizer": "adam",
    "epochs": 400,
    "head": "last",
    "seq_norm": True,
    "conv": "fcn",
    "conv_filters": 4,
    "patch": 1,
}


def with_new_rocket(
    final: FinalClassifier,
    problem: ClassifyProblem,
    *,
    seed: int,
    network: tuple[float, int, str] | None = None,
    oof: list[float] | None = None,
) -> tuple[FinalClassifier, dict[str, Any]]:
    """MiniRocket fitted on ``problem``, its shares chosen, and combined with ``final``'s
    networks (what the retrain step does, :mod:`lstmtune.classify_publish`, in one call)."""
    from lstmtune.classify_combine import rocket_member, rocket_shares, with_rocket

    member = rocket_member(problem, seed)
    return with_rocket(final, problem, member, rocket_shares(member, problem, network, oof))


def classify_config(tmp_path: Path, n_per_class: int = 12, **overrides: Any) -> RunConfig:
    """A resolved configuration of a generated classification set of ``n_per_class`` sequences
    per class under ``tmp_path``, with ``overrides``."""
    path = tmp_path / "seq.csv"
    classify_frame(n_per_class, seed=1).to_csv(path, index=False)
    base = {
        "data.path": str(path),
        "data.task": "classify",
        "data.sequence_column": "seq",
        "data.time_column": "t",
        "data.label": "y",
        "output_dir": str(tmp_path / "out"),
    }
    return load_config(None, {**base, **overrides}).resolved()


def _prepared(tmp_path: Path, n_per_class: int = 12) -> tuple[dict[str, Any], dict[str, Any]]:
    return prepare(classify_config(tmp_path, n_per_class))


def _problem(tmp_path: Path, n_per_class: int = 12) -> ClassifyProblem:
    parts, meta = _prepared(tmp_path, n_per_class)
    problem = make_problem(parts, meta, PARAMS)
    assert isinstance(problem, ClassifyProblem)
    return problem


def test_the_ensembles_probabilities_are_the_mean_of_its_members() -> None:
    torch.manual_seed(0)
    members = [
        build_model(2, 3, {**PARAMS, "conv_filters": 2 + i}, zero_head=False) for i in range(3)
    ]
    ensemble = EnsembleNet(members).eval()
    x, lengths = torch.randn(5, 9, 2) * 3, torch.tensor([9, 4, 7, 9, 1])
    with torch.no_grad():
        mean = torch.stack([torch.softmax(m.eval()(x, lengths), dim=1) for m in members]).mean(0)
        assert torch.allclose(torch.softmax(ensemble(x, lengths), dim=1), mean, atol=1e-6)
        single = EnsembleNet(members[:1]).eval()
        assert torch.allclose(
            torch.softmax(single(x, lengths), dim=1),
            torch.softmax(members[0](x, lengths), dim=1),
            atol=1e-6,
        )
    with pytest.raises(ValueError, match="at least one member"):
        EnsembleNet([])


def test_the_learning_rate_anneals_to_near_zero() -> None:
    rates = [annealed_rate(1e-3, p, ANNEAL_PIECES) for p in range(ANNEAL_PIECES)]
    assert rates[0] == pytest.approx(1e-3, rel=0.01)
    assert rates[-1] < 1e-5
    assert all(a > b for a, b in itertools.pairwise(rates))


def test_annealed_train_runs_its_epochs_at_falling_rates(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    data = problem.tensors("train", "val")
    result = annealed_train(problem, PARAMS, data, epochs=30, seed=0, device=torch.device("cpu"))
    assert [h["epoch"] for h in result.history] == [float(e) for e in range(1, 31)]
    rates = [h["learning_rate"] for h in result.history]
    assert rates[0] > rates[-1] and len(set(rates)) == ANNEAL_PIECES
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    again = annealed_train(problem, PARAMS, data, epochs=30, seed=0, device=torch.device("cpu"))
    assert [h["train_loss"] for h in again.history] == [h["train_loss"] for h in result.history]


def test_a_small_set_gets_the_step_floor_and_the_auto_ensemble(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    assert small_set(problem)
    n = len(problem.tensors("train", "val"))
    floor = retrain_epochs(problem, PARAMS, MIN_RETRAIN_STEPS, n)
    assert final_epochs(problem, PARAMS, 10) == floor > 10
    assert final_epochs(problem, PARAMS, floor + 5) == floor + 5  # the trial's count when larger
    assert final_epochs(problem, {**PARAMS, "epochs": 6}, 3) == 6  # never past the upper bound
    assert ensemble_size("auto", problem) == AUTO_ENSEMBLE and ensemble_size(2, problem) == 2
    # the default space lets the floor run: at least 4 steps per epoch, MAX_EPOCHS epochs
    _, meta = _prepared(tmp_path)
    assert classify_space(meta)["epochs"]["value"] * 4 >= MIN_RETRAIN_STEPS


def test_a_larger_set_keeps_the_trials_epochs_and_one_network(tmp_path: Path) -> None:
    problem = _problem(tmp_path, n_per_class=200)  # 400 sequences: the validation split
    assert not small_set(problem)
    assert final_epochs(problem, PARAMS, 10) == 10
    assert ensemble_size("auto", problem) == 1


def _meta(train: int, val: int, longest: int, task: str = "classify") -> dict[str, Any]:
    splits = {"train": {"sequences": train}, "val": {"sequences": val}, "test": {"sequences": 9}}
    return {"task": task, "splits": splits, "max_sequence_length": longest}


def test_larger_sets_get_a_cells_bound_on_epochs_and_a_tuning_time_budget() -> None:
    """The default budget (200 sequences x 500 steps in 5 minutes on 2 cores): a trial of a set
    too large for k-fold stays within TRIAL_CELLS, and tuning stops starting trials after
    TUNE_SECONDS unless tune.timeout is set; small sets keep the retrain's room and get the
    same time budget (their trials are five k-fold trainings each)."""
    small, budget_case = _meta(29, 7, 251), _meta(140, 30, 500)
    assert epoch_bound(small) == SMALL_SET_EPOCHS and default_tuning_seconds(small) == TUNE_SECONDS
    assert budget_reason(small) == "a small set: each trial is five k-fold trainings"
    assert budget_reason(budget_case) == "a set too large for k-fold"
    assert epoch_bound(budget_case) == TRIAL_CELLS // (140 * 500) < MAX_EPOCHS
    assert default_tuning_seconds(budget_case) == TUNE_SECONDS
    assert epoch_bound(_meta(340, 60, 30)) == MAX_EPOCHS  # many short sequences: not capped
    assert epoch_bound(_meta(5000, 800, 1000)) == MIN_EPOCHS
    assert default_tuning_seconds(_meta(140, 30, 500, task="forecast")) is None
    assert classify_space(budget_case)["epochs"]["value"] == epoch_bound(budget_case)


def test_evaluate_ensemble_is_auto_or_a_positive_count() -> None:
    assert load_config(None, {}).evaluate.ensemble == "auto"
    assert load_config(None, {"evaluate.ensemble": 3}).evaluate.ensemble == 3
    for bad in (0, -1, "many", True):
        with pytest.raises(UserError, match="ensemble"):
            load_config(None, {"evaluate.ensemble": bad})


def model_spec(problem: ClassifyProblem, ev: TestEvaluation) -> dict[str, Any]:
    """The model spec the retrain step writes for a classifier of :data:`PARAMS`."""
    return {
        "task": "classify",
        "params": PARAMS,
        "n_features": problem.n_features,
        "n_outputs": problem.n_outputs,
        "zero_head": False,
        **ev.spec_extra,
    }


def _frame(problem: ClassifyProblem, split: str) -> pd.DataFrame:
    return problem.parts[split].drop(columns=[problem.label])


def test_a_saved_ensemble_serves_the_mean_of_its_members(tmp_path: Path) -> None:
    """Three annealed networks saved as one model directory (state dict + JSON, no pickle): the
    pyfunc's probabilities are the mean of each member's, rebuilt on its own from the saved
    weights, and the label is their argmax."""
    problem = _problem(tmp_path)
    final = fit_ensemble(problem, PARAMS, 3, epochs=8, seed=5, device=torch.device("cpu"))
    assert isinstance(final.model, EnsembleNet) and len(final.member_accuracy) == 3
    assert [m["seed"] for m in final.members] == [5, 6, 7]
    _, meta = _prepared(tmp_path)
    ev = evaluate_classify(problem, final.model, meta, seed=0, final=final)
    assert ev.details["ensemble"]["members"] == 3
    spec = model_spec(problem, ev)
    save_model_dir(tmp_path / "model", final.model, spec)
    assert json.loads((tmp_path / "model" / "spec.json").read_text())["ensemble"] == final.members
    state = torch.load(tmp_path / "model" / WEIGHTS, map_location="cpu", weights_only=True)
    predictor = Predictor.load(tmp_path / "model")
    out = predictor.predict(_frame(problem, "test"))
    classes = problem.classes
    assert list(out.columns) == ["seq", "label", *[f"proba_{c}" for c in classes]]
    test = problem.tensors("test")
    members = []
    for i, entry in enumerate(spec["ensemble"]):
        net = build_model(problem.n_features, problem.n_outputs, entry["params"], zero_head=False)
        prefix = f"members.{i}."
        net.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
        members.append(class_proba(net, test))
    mean = np.mean(members, axis=0)
    assert not np.allclose(members[0], members[1])  # the seeds make different networks
    assert np.allclose(out[[f"proba_{c}" for c in classes]].to_numpy(), mean, atol=1e-5)
    assert out["label"].tolist() == [classes[i] for i in mean.argmax(axis=1)]
    assert ev.test_metrics["accuracy"] == pytest.approx(
        float(np.mean(mean.argmax(axis=1) == test.y.numpy()))
    )


def test_one_network_is_saved_as_a_plain_model(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    final = fit_ensemble(problem, PARAMS, 1, epochs=3, seed=0, device=torch.device("cpu"))
    assert not isinstance(final.model, EnsembleNet)
    _, meta = _prepared(tmp_path)
    ev = evaluate_classify(problem, final.model, meta, seed=0, final=final)
    assert "ensemble" not in ev.spec_extra and ev.details["ensemble"]["members"] == 1
    rebuilt = build_ensemble(problem.n_features, problem.n_outputs, final.members)
    assert len(rebuilt.members) == 1


@pytest.mark.parametrize(
    ("n_per_class", "why"),
    [
        (200, "a set too large for k-fold"),  # 400 sequences
        (12, "a small set: each trial is five k-fold trainings"),  # 24 sequences: k-fold
    ],
)
def test_the_study_stops_starting_trials_after_the_default_budget(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    n_per_class: int,
    why: str,
) -> None:
    """Small or large set: no trial starts once the default budget is spent (here none at
    all), unless tune.timeout is set; the run says so, and why, at its start and when the
    budget stops it."""
    import lstmtune.classify_space as space
    from lstmtune.tuning.study import run_study

    cfg = classify_config(
        tmp_path,
        n_per_class,
        **{"tune.n_trials": 1, "tune.search_space": {**PARAMS, "units": 4, "epochs": 1}},
    )
    parts, meta = prepare(cfg)
    assert default_tuning_seconds(meta) == TUNE_SECONDS
    monkeypatch.setattr(space, "TUNE_SECONDS", 0.0)
    with pytest.raises(RuntimeError, match="no completed trial"):
        run_study(cfg, parts, meta)
    out = capsys.readouterr().out
    assert f"tuning budget: no trial starts after 0 s ({why};" in out
    assert "tuning stopped by its 0 s budget: 0 of 1 trials finished" in out
    cfg.tune.timeout = 3600.0  # the user's budget wins
    assert run_study(cfg, parts, meta).n_trials_complete == 1
    assert "budget" not in capsys.readouterr().out

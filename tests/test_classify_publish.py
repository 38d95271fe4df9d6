"""The published classifier as the retrain step assembles it: MiniRocket and the shares first,
then as many networks as the networks' share needs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from lstmtune.classify_combine import rocket_member
from lstmtune.classify_publish import networks_needed, publish_classifier, stacking_record
from lstmtune.classify_record import RECORD_BY
from lstmtune.retrain import FinalTrainer
from tests.test_classify_ensemble import PARAMS, _problem, classify_config

CPU = torch.device("cpu")


def test_a_negligible_share_trains_one_network() -> None:
    assert networks_needed(0.0, 5) == networks_needed(0.0099, 5) == 1
    assert networks_needed(0.01, 5) == networks_needed(0.6, 5) == 5
    assert networks_needed(0.0, 1) == networks_needed(1.0, 1) == 1
    assert networks_needed(0.0, 3, auto=False) == 3  # evaluate.ensemble set by the user


def test_a_perfect_minirocket_record_skips_the_kfold_of_the_published_training(
    tmp_path: Path,
) -> None:
    """MiniRocket right on every held-out sequence (by its leave-one-out accuracy; a fit from
    before the Laplace bound: a cross-entropy of zero): the k trainings are not run and the
    trial's record stands; a record with a mistake runs them."""
    problem = _problem(tmp_path)
    n = len(problem.tensors("train", "val"))
    trainer = FinalTrainer(classify_config(tmp_path), PARAMS, 20, 4, CPU)
    member = rocket_member(problem, 0)
    trial, evidence = [0.5] * n, (0.5, n, "k-fold cross-validation")
    perfect = dataclasses.replace(member, losses=[0.0] * n, fit={"loo_accuracy": 0.95})
    assert stacking_record(problem, trainer, trial, evidence, perfect) == (trial, evidence)
    right = dataclasses.replace(member, losses=[0.1] * n, fit={"loo_accuracy": 1.0})
    assert stacking_record(problem, trainer, trial, evidence, right) == (trial, evidence)
    # a trial without a per-sequence record (Katib's) gets the k-fold record all the same
    record, measured = stacking_record(problem, trainer, None, evidence, perfect)
    assert record is not None and measured[1:] == (n, RECORD_BY)
    unsure = dataclasses.replace(member, losses=[0.1] * n, fit={"loo_accuracy": 0.95})
    record, measured = stacking_record(problem, trainer, trial, evidence, unsure)
    assert record != trial and measured[1:] == (n, RECORD_BY)


def test_the_networks_share_decides_how_many_networks_are_trained(tmp_path: Path) -> None:
    """Beyond k-fold's size the trial's validation record weighs the networks: certain and right
    on every validation sequence they keep a share (half, where MiniRocket is right too) and the
    ensemble is trained; wrong and sure of it they get none and one network is trained."""
    problem = _problem(tmp_path, n_per_class=200)
    n_val = len(problem.tensors("val"))
    cfg = classify_config(tmp_path, n_per_class=200)
    trainer = FinalTrainer(cfg, PARAMS, 2, 4, CPU)
    for record, networks in (([0.0] * n_val, 2), ([30.0] * n_val, 1)):
        best = {"best_value": record[0], "objective": "val_loss"}
        best["extra"] = {"oof_log_loss": record}
        final, combination = publish_classifier(cfg, problem, best, trainer, 2)
        assert combination is not None and combination["rule"] == "stacking"
        assert (combination["weights"]["network"] >= 0.5) == (networks == 2)
        kinds = [m.get("kind", "network") for m in final.members]
        assert kinds == ["network"] * networks + ["minirocket"]


def test_a_combination_that_fails_publishes_the_whole_ensemble(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MiniRocket fitted, but building the combined classifier fails (say, out of memory on the
    test set): the networks are published, as many as ``evaluate.ensemble`` asks, with a
    warning, not a failed step."""
    import lstmtune.classify_publish as publish

    def fail(*args: object) -> None:
        raise MemoryError("test set")

    problem = _problem(tmp_path, n_per_class=200)
    n_val = len(problem.tensors("val"))
    cfg = classify_config(tmp_path, n_per_class=200)
    trainer = FinalTrainer(cfg, PARAMS, 2, 4, CPU)
    best = {"best_value": 30.0, "objective": "val_loss", "extra": {"oof_log_loss": [30.0] * n_val}}
    monkeypatch.setattr(publish, "with_rocket", fail)
    final, combination = publish_classifier(cfg, problem, best, trainer, 2)
    assert combination is None and len(final.members) == 2

"""The networks' stacking record on a small set: k-fold of the published (annealed) training,
each sequence scored by a network that never saw it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lstmtune.annealed import annealed_train
from lstmtune.classify_publish import stacking_record
from lstmtune.classify_record import RECORD_BY, published_record
from lstmtune.crossval import sequence_log_loss
from lstmtune.data.prepare import prepare
from lstmtune.problems import make_problem
from lstmtune.retrain import FinalTrainer
from lstmtune.synthetic import classify_frame
from lstmtune.training import ClassifyProblem
from tests.test_classify_ensemble import PARAMS, _problem, classify_config

CPU = torch.device("cpu")


def _shuffled_problem(tmp_path: Path) -> ClassifyProblem:
    """The generated set with its labels dealt at random: nothing to learn but the sequences."""
    frame = classify_frame(12, seed=1)
    cases = frame["seq"].unique()
    dealt = np.random.default_rng(0).permutation(np.arange(len(cases)) % 2)
    labels = dict(zip(cases, dealt, strict=True))
    frame["y"] = frame["seq"].map(labels).map({0: "wave", 1: "ramp"})
    path = tmp_path / "shuffled.csv"
    frame.to_csv(path, index=False)
    parts, meta = prepare(classify_config(tmp_path, **{"data.path": str(path)}))
    problem = make_problem(parts, meta, PARAMS)
    assert isinstance(problem, ClassifyProblem)
    return problem


def test_every_sequence_is_scored_by_a_network_that_did_not_see_it(tmp_path: Path) -> None:
    """Labels dealt at random: a network trained on all of train+val memorises them (low
    cross-entropy on its own sequences), the k-fold record stays near chance or worse."""
    problem = _shuffled_problem(tmp_path)
    full = problem.tensors("train", "val")
    seen = annealed_train(problem, PARAMS, full, epochs=150, seed=0, device=CPU).model
    memorised = float(sequence_log_loss(problem, seen, full).mean())
    record = published_record(problem, PARAMS, 150, seed=0, device=CPU)
    assert record is not None and len(record) == len(full)
    assert all(np.isfinite(v) and v >= 0 for v in record)
    assert memorised < 0.4 < float(np.mean(record))
    assert published_record(problem, PARAMS, 150, seed=0, device=CPU) == record  # seeded


def test_on_a_learnable_set_the_record_is_low(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    record = published_record(problem, PARAMS, 60, seed=3, device=CPU)
    assert record is not None and float(np.mean(record)) < 0.3
    assert RECORD_BY.startswith("k-fold cross-validation")


def test_a_larger_set_has_no_record(tmp_path: Path) -> None:
    """Beyond k-fold's size the validation split judges the trials and no record is measured."""
    problem = _problem(tmp_path, n_per_class=200)  # 340 in train+val: above CV_MAX_SEQUENCES
    assert published_record(problem, PARAMS, 1, seed=0, device=CPU) is None


def test_the_retrain_step_stacks_on_the_published_record_of_a_small_set(tmp_path: Path) -> None:
    """In place of the winning trial's record (Katib's: none) on a small set, with the evidence
    it gives; a larger set keeps the trial's."""
    problem = _problem(tmp_path)
    n = len(problem.tensors("train", "val"))
    trainer = FinalTrainer(classify_config(tmp_path), PARAMS, 20, 4, CPU)
    trial, evidence = [0.5] * n, (0.5, n, "k-fold cross-validation")
    for given in (trial, None):
        record, ev = stacking_record(problem, trainer, given, evidence)
        again = published_record(problem, PARAMS, 20, seed=4, device=CPU, parallel=trainer.parallel)
        assert record == again
        assert record is not None and ev == (float(np.mean(record)), n, RECORD_BY)
    (tmp_path / "big").mkdir()
    big = _problem(tmp_path / "big", n_per_class=200)
    assert stacking_record(big, trainer, trial, evidence) == (trial, evidence)

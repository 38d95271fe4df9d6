"""Stacking the networks and MiniRocket: the winning trial's held-out cross-entropies reach the
retrain step through the study, and the shares are the mix's lowest held-out cross-entropy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmtune.classify_combine import _description
from lstmtune.classify_stack import aligned, record_floor, stacking_evidence, stacking_shares
from lstmtune.combine import describe
from lstmtune.data.prepare import prepare
from lstmtune.final_classify import class_proba, fit_ensemble
from lstmtune.kept_forecasts import without_forecasts
from lstmtune.rocket_fit import fit_rocket
from tests.test_classify_ensemble import PARAMS, _problem, classify_config, with_new_rocket


def _ce(p: np.ndarray) -> np.ndarray:
    return -np.log(p)


def test_complementary_sides_get_both_and_the_mix_beats_each() -> None:
    """Each side is sure and right where the other is unsure: the mix is better than either, so
    both get a share (exp(-n x cross-entropy) would give nearly all to the lower mean)."""
    net = _ce(np.array([0.99] * 6 + [0.2] * 4))
    rocket = _ce(np.array([0.5] * 6 + [0.95] * 4))
    w_net, w_rocket, mix = stacking_shares(net, rocket, classes=2)
    assert 0.2 < w_net < 0.9 and w_net + w_rocket == pytest.approx(1.0)
    assert mix < min(net.mean(), rocket.mean())
    grid = np.linspace(0, 1, 101)
    cap = np.log(12 / 11)  # 10 sequences of 2 classes support p <= 11/12
    a, b = np.maximum(net, cap), np.maximum(rocket, cap)
    direct = [-np.log(w * np.exp(-a) + (1 - w) * np.exp(-b)).mean() for w in grid]
    best = grid[int(np.argmin(direct))]
    assert w_net == pytest.approx(best)
    plain = -np.log(best * np.exp(-net) + (1 - best) * np.exp(-rocket)).mean()
    assert mix == pytest.approx(plain)  # the published mix's plain held-out cross-entropy


def test_a_side_better_on_every_sequence_takes_everything() -> None:
    net = _ce(np.array([0.9, 0.95, 0.8, 0.99]))
    rocket = _ce(np.array([0.6, 0.7, 0.5, 0.9]))
    assert stacking_shares(net, rocket, classes=2)[:2] == (1.0, 0.0)
    assert stacking_shares(rocket, net, classes=2)[:2] == (0.0, 1.0)


def test_a_record_surer_than_its_sequences_support_takes_no_share_from_that() -> None:
    """20 sequences support p <= 21/22 (Laplace): a side right and certain on every one
    (cross-entropy 0) no longer takes everything from a side right and 0.96 sure on every one;
    a real mistake of the other side still decides."""
    perfect, sure = np.zeros(20), _ce(np.full(20, 0.96))
    assert record_floor(20, 2) == pytest.approx(np.log(22 / 21))
    assert stacking_shares(perfect, sure, classes=2)[:2] == (0.5, 0.5)
    assert stacking_shares(sure, perfect, classes=2)[:2] == (0.5, 0.5)
    wrong = sure.copy()
    wrong[0] = _ce(np.array([0.1]))[0]
    assert stacking_shares(perfect, wrong, classes=2)[:2] == (1.0, 0.0)


def test_equal_sides_share_half_and_half() -> None:
    same = _ce(np.array([0.7, 0.8, 0.9]))
    assert stacking_shares(same, same, classes=3)[:2] == (0.5, 0.5)
    perfect = np.zeros(4)  # both right and certain everywhere (BasicMotions' MiniRocket)
    mix = stacking_shares(perfect, perfect, classes=4)[2]
    ev = stacking_evidence(perfect, perfect, "k-fold", mix)
    assert all(math.copysign(1.0, ev[k]) == 1.0 for k in ("network_ce", "rocket_ce", "mix_ce"))


def test_the_network_record_is_lined_up_with_minirocket_or_left_out() -> None:
    rocket = [0.1, 0.2, 0.3, 0.4, 0.5]
    both = aligned([1.0, 2.0, 3.0, 4.0, 5.0], rocket, 2)
    assert both is not None and both[1].tolist() == rocket  # k-fold: every sequence
    tail = aligned([1.0, 2.0], rocket, 2)
    assert tail is not None and tail[1].tolist() == [0.4, 0.5]  # the validation split's
    assert aligned([1.0, 2.0, 3.0], rocket, 2) is None
    assert aligned(None, rocket, 2) is None and aligned([], rocket, 2) is None


def test_with_a_held_out_record_the_shares_are_stacked(tmp_path: Path) -> None:
    """The published mix's shares are :func:`stacking_shares` of the record and MiniRocket's
    leave-one-out cross-entropies; the summary line says so; a record of other sequences falls
    back to exp(-n x cross-entropy)."""
    problem = _problem(tmp_path)
    final = fit_ensemble(problem, PARAMS, 1, epochs=4, seed=0, device=torch.device("cpu"))
    data = problem.tensors("train", "val")
    _, fit = fit_rocket(data.x, data.lengths, data.y.numpy(), len(problem.classes), seed=0)
    loo = np.asarray(fit["loo_log_losses"])
    assert loo.mean() == pytest.approx(fit["loo_log_loss"], abs=1e-4)
    record = [0.05 if i % 2 else 3.0 for i in range(len(data))]  # right on half, wrong on half
    expected = stacking_shares(np.asarray(record), loo, classes=len(problem.classes))
    combined, combination = with_new_rocket(
        final, problem, seed=0, network=(1.5, len(data), "k-fold"), oof=record
    )
    assert combination["rule"] == "stacking" and "loo_log_losses" not in combination["minirocket"]
    assert combination["weights"]["network"] == pytest.approx(expected[0], abs=1e-6)
    assert combined.members[-1]["weight"] == pytest.approx(expected[1])
    assert combination["evidence"]["mix_ce"] == pytest.approx(expected[2], abs=1e-6)
    line = describe(combination)
    assert line is not None and "stacking: the shares whose mix" in line
    assert f"on the same {len(data)} sequences" in line
    test = problem.tensors("test")
    nets, rocket = class_proba(final.model, test), class_proba(combined.model.members[-1], test)
    w = combination["weights"]["network"]
    assert np.allclose(class_proba(combined.model, test), w * nets + (1 - w) * rocket, atol=1e-5)
    _, fallback = with_new_rocket(
        final, problem, seed=0, network=(1.5, 10, "k-fold"), oof=[0.1] * 3
    )
    assert fallback["rule"] == "evidence"
    sure = [0.0] * len(data)  # the networks right and certain on every held-out sequence
    cap = record_floor(len(data), len(problem.classes))
    sure_rocket = np.minimum(loo, cap)  # MiniRocket as sure as the n sequences support: a tie
    ties = stacking_shares(np.asarray(sure), sure_rocket, classes=len(problem.classes))
    assert ties[:2] == (0.5, 0.5)  # ... shares nearest to half
    _, tie = with_new_rocket(final, problem, seed=0, network=(0.0, len(data), "k-fold"), oof=sure)
    assert tie["weights"]["network"] >= 0.5  # no more than MiniRocket's own record gives them
    worse = loo + 0.1 + cap
    assert stacking_shares(np.zeros(len(data)), worse, classes=2)[:2] == (1.0, 0.0)
    alone = _description((1.0, 0.0), 1, tie["evidence"])  # the line of networks taking all
    assert "MiniRocket got almost no weight: the classifier is the networks'" in alone


@pytest.mark.parametrize("objectives", [None, ["val", "param_count"]])
def test_the_study_hands_the_winners_held_out_record_to_the_retrain(
    tmp_path: Path, objectives: list[str] | None
) -> None:
    """A small set: the winning trial (or the Pareto choice) keeps one cross-entropy per
    train+val sequence (k-fold), whose mean is its objective up to the folds' sizes; the run
    summary leaves it out."""
    from lstmtune.tuning.study import run_study

    extra = {} if objectives is None else {"tune.objectives": objectives}
    cfg = classify_config(
        tmp_path,
        10,
        **{"tune.n_trials": 2, "tune.search_space": {**PARAMS, "units": 4, "epochs": 3}, **extra},
    )
    parts, meta = prepare(cfg)
    result = run_study(cfg, parts, meta)
    record = result.extra["oof_log_loss"]
    n_all = len(parts["train"]["seq"].unique()) + len(parts["val"]["seq"].unique())
    assert len(record) == n_all and all(v >= 0 for v in record)
    assert float(np.mean(record)) == pytest.approx(result.best_value, rel=0.05)
    assert "oof_log_loss" not in without_forecasts(result.extra)

"""The networks' held-out record for stacking on a small set: k-fold of the published training.

The winning trial's own record (:attr:`lstmtune.training.TrainResult.oof_log_loss`) is read from
each fold's network at the epoch where that fold's cross-entropy was lowest, and the winner is the
best of the trials on the same folds: both choices saw the held-out sequences, so the record is
optimistic. The published networks are also trained otherwise (annealed for
:func:`~lstmtune.crossval.final_epochs`, on all of train+val). So on a small set (k-fold) the
retrain step measures what it publishes: stratified k-fold of
:func:`~lstmtune.annealed.annealed_train` with the winning configuration and the retrain's
optimizer steps, each train+val sequence's cross-entropy under the network that did not see it.
That record, beside MiniRocket's leave-one-out one, sets the stacked shares
(:mod:`lstmtune.classify_stack`). It costs k more trainings (each on (k-1)/k of the data).

Measured (2026-12-02, ``bench_classify.py --n-trials 20``, README): on Covid3Month_disc (140
sequences) the winner's record was 0.787, this one 0.922, the networks' cross-entropy on the test
split 0.864; the shares went 0.97 / 0.03 -> 0.34 / 0.66 and test accuracy 0.607 -> 0.705
(MiniRocket alone 0.721). ArrowHead 0.874 -> 0.886; Chinatown (0.0079 against 0.081),
ItalyPowerDemand, BasicMotions, GunPoint and JapaneseVowels unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lstmtune.crossval import (
    cv_folds,
    epoch_steps,
    retrain_epochs,
    sequence_log_loss,
    stratified_folds,
)
from lstmtune.training import ClassifyProblem

RECORD_BY = "k-fold cross-validation of the published training"
FOLD_SEED = 1000  # folds and seeds apart from the trials' (the winner was chosen on theirs)


def published_record(
    problem: ClassifyProblem,
    params: dict[str, Any],
    epochs: int,
    *,
    seed: int,
    device: torch.device,
    grad_clip: float = 1.0,
    amp: bool = True,
    parallel: tuple[int, int | None] = (1, None),
) -> list[float] | None:
    """Each train+val sequence's cross-entropy under an annealed network of ``params`` trained
    on the other folds for the optimizer steps of ``epochs`` epochs over all of train+val (folds
    and seeds from ``seed + FOLD_SEED``); None where train+val is not judged by k-fold (not a
    small set). The k trainings run side by side where ``parallel`` = ``(train.parallel_fits,
    train.threads)`` allows (:func:`lstmtune.parallel_fit.fit_all`)."""
    from lstmtune.parallel_fit import FitJob, fit_all

    full = problem.tensors("train", "val")
    k = cv_folds(problem, len(full), int(full.x.shape[1]))
    if k == 0:
        return None
    steps = epochs * epoch_steps(problem, params, len(full))
    seed += FOLD_SEED
    fold_of = stratified_folds(full.y.cpu().numpy(), k, seed)
    record = np.zeros(len(full))
    jobs = []
    for i in range(k):
        fit = np.flatnonzero(fold_of != i)
        epochs_i = retrain_epochs(problem, params, steps, len(fit))
        rows = tuple(int(r) for r in fit)
        jobs.append(FitJob(params, epochs_i, seed + i, rows, grad_clip, amp))
    for i, result in enumerate(fit_all(problem, jobs, device, *parallel)):
        held = np.flatnonzero(fold_of == i)
        net = result.model
        record[held] = sequence_log_loss(problem, net, full.take(torch.from_numpy(held)))
    return [float(v) for v in record]

"""How a tuning trial is judged: the validation split, or k-fold cross-validation for a small
classification set.

A classification set of fewer than :data:`CV_MAX_SEQUENCES` sequences in train+val is judged by
stratified k-fold cross-validation inside train+val (the objective averaged over the folds,
pruning on fold 1) instead of a validation split of a handful of sequences. A classification
trial's ``best_epoch`` is the number of epochs of the retrain set (train+val) that take the same
number of optimizer steps as the trial's best epoch: the retrain's budget is counted in steps,
never as "N epochs" of a different data size. Classification trials wait at least
:data:`MIN_PATIENCE` epochs without improvement before they stop (``train.patience`` when larger):
the validation loss of a few sequences is noisy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lstmtune.classify_space import CV_MAX_CELLS as CV_MAX_CELLS  # re-exported
from lstmtune.classify_space import CV_MAX_SEQUENCES as CV_MAX_SEQUENCES
from lstmtune.classify_space import small_classify_set
from lstmtune.classify_stack import RECORD_MAX
from lstmtune.rolling import fit_rolling
from lstmtune.task_problems import ForecastProblem
from lstmtune.training import Problem, TensorSet, TrainResult, select_device, train

CV_FOLDS = 5
MIN_PATIENCE = 20  # classification trials: early stopping waits at least this many epochs
MIN_RETRAIN_STEPS = 1600  # small classification sets: the final retrain's least steps
AUTO_ENSEMBLE = 5  # small classification sets: networks in the published classifier


def stratified_folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The fold (``0..k-1``) of each item: every class dealt round-robin over the folds in a
    seeded random order, continuing where the previous class stopped, so the folds differ in size
    by at most one and keep the class proportions."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    offset = 0
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)
    return fold


def cv_folds(problem: Problem, n_items: int, longest: int = 1) -> int:
    """How many folds judge a trial: :data:`CV_FOLDS` for a classification set of fewer than
    :data:`CV_MAX_SEQUENCES` sequences (train+val) whose ``n_items * longest`` stays within
    :data:`CV_MAX_CELLS` (k-fold costs k trainings: it is spent where the data is small), else 0
    (the validation split)."""
    if problem.task != "classify" or not small_classify_set(n_items, longest):
        return 0
    return max(2, min(CV_FOLDS, n_items // 2))


def epoch_steps(problem: Problem, params: dict[str, Any], n_items: int) -> int:
    """Optimizer steps of one epoch over ``n_items`` items (the batch capped by the set)."""
    return math.ceil(n_items / problem.batch_size(params, n_items))


def retrain_epochs(problem: Problem, params: dict[str, Any], steps: float, n_retrain: int) -> int:
    """Epochs over ``n_retrain`` items that take ``steps`` optimizer steps (at least one)."""
    return max(1, round(steps / epoch_steps(problem, params, n_retrain)))


def small_set(problem: Problem) -> bool:
    """Whether train+val is judged by k-fold (:func:`cv_folds`): a small classification set."""
    full = problem.tensors("train", "val")
    return cv_folds(problem, len(full), int(full.x.shape[1])) > 0


def final_epochs(problem: Problem, params: dict[str, Any], best_epoch: int) -> int:
    """Epochs of the final classifier's retrain on train+val: the trial's ``best_epoch`` — on a
    :func:`small_set`, as many as take :data:`MIN_RETRAIN_STEPS` optimizer steps when that is
    more, up to the configuration's ``epochs`` (the trials' upper bound). There the trial's early
    stopping watches the cross-entropy of a few validation sequences, which rises (the network
    grows confident) long before accuracy stops improving; the annealed retrain needs the steps
    to fit (ArrowHead, 36 sequences: 97 epochs chosen by 5-fold gave a 5-network ensemble 0.60
    test accuracy, 1600 steps 0.82)."""
    if not small_set(problem):
        return int(best_epoch)
    n_retrain = len(problem.tensors("train", "val"))
    floor = retrain_epochs(problem, params, MIN_RETRAIN_STEPS, n_retrain)
    return max(int(best_epoch), min(floor, int(params.get("epochs", floor))))


def ensemble_size(setting: str | int, problem: Problem) -> int:
    """Networks in the published classifier: ``evaluate.ensemble``, where ``auto`` is
    :data:`AUTO_ENSEMBLE` on a :func:`small_set` (one retrain's seed moves test accuracy by
    tenths there, and a network costs seconds) and 1 otherwise."""
    if setting != "auto":
        return int(setting)
    return AUTO_ENSEMBLE if small_set(problem) else 1


def fit_trial(
    problem: Problem,
    params: dict[str, Any],
    train_set: TensorSet,
    val_set: TensorSet,
    *,
    cross_validate: bool = True,
    forecast_folds: int = 1,
    seed: int = 0,
    on_epoch: Callable[[int, float, float], None] | None = None,
    parallel: tuple[int, int | None] = (1, None),
    **train_kwargs: Any,
) -> TrainResult:
    """Judge one configuration for tuning: :func:`train` on ``train_set`` with early stopping on
    ``val_set`` — or, for a small classification set (``cross_validate`` and :func:`cv_folds`),
    stratified k-fold cross-validation inside train+val: fold ``i`` trains on the other folds
    (seed ``seed + i``) and early-stops on fold ``i``; ``on_epoch`` sees fold 1 only (pruning
    compares trials on the same fold); the value is the mean of the folds' best values and the
    model is fold 1's. Classification: ``best_epoch`` becomes the epochs of train+val that take
    the same optimizer steps (the folds' mean), so the retrain's budget is counted in steps.
    Folds 2..k run side by side where ``parallel`` = ``(train.parallel_fits, train.threads)``
    allows (:func:`lstmtune.parallel_fit.fit_all`), once fold 1 has passed pruning; every fold
    stops after the epoch that passes ``deadline`` (in ``train_kwargs``: a ``time.time()``
    value, which worker processes read alike)."""
    if problem.task == "forecast" and cross_validate and forecast_folds > 1:
        assert isinstance(problem, ForecastProblem)
        return fit_rolling(
            problem,
            params,
            train_set,
            val_set,
            forecast_folds,
            seed=seed,
            on_epoch=on_epoch,
            **train_kwargs,
        )
    n_all = len(train_set) + len(val_set)
    longest = max(int(train_set.x.shape[1]), int(val_set.x.shape[1]))
    k = cv_folds(problem, n_all, longest) if cross_validate else 0
    if problem.task == "classify":  # noisy small validation sets: do not stop too soon
        train_kwargs["patience"] = max(int(train_kwargs.get("patience", 10)), MIN_PATIENCE)
    if k == 0:
        result = train(
            problem, params, train_set, val_set, seed=seed, on_epoch=on_epoch, **train_kwargs
        )
        if problem.task == "classify":  # the retrain set is all of train+val (tune.subset too)
            n_retrain = len(problem.tensors("train", "val"))
            result.best_epoch = retrain_epochs(problem, params, result.best_steps, n_retrain)
            if len(val_set) <= RECORD_MAX:  # the stacking record (lstmtune.classify_stack)
                result.oof_log_loss = sequence_log_loss(problem, result.model, val_set).tolist()
        return result
    full = problem.tensors("train", "val")
    fold_of = stratified_folds(full.y.cpu().numpy(), k, seed)
    first = train(  # fold 1 here: pruning watches it
        problem,
        params,
        full.take(torch.from_numpy(np.flatnonzero(fold_of != 0))),
        full.take(torch.from_numpy(np.flatnonzero(fold_of == 0))),
        seed=seed,
        on_epoch=on_epoch,
        **train_kwargs,
    )
    results = [first, *_other_folds(problem, params, fold_of, seed, parallel, train_kwargs)]
    oof = np.zeros(len(full))  # each sequence's cross-entropy under the fold model that held it
    for i, result in enumerate(results):
        held = np.flatnonzero(fold_of == i)
        oof[held] = sequence_log_loss(problem, result.model, full.take(torch.from_numpy(held)))
    values = [r.best_value for r in results]
    steps = float(np.mean([r.best_steps for r in results]))
    return TrainResult(
        first.model,
        retrain_epochs(problem, params, steps, len(full)),
        float(np.mean(values)),
        first.epochs_run,
        first.history,
        sum(r.train_seconds for r in results),
        first.stopped_early,
        best_steps=round(steps),
        fold_values=values,
        oof_log_loss=oof.tolist(),
    )


def _other_folds(
    problem: Problem,
    params: dict[str, Any],
    fold_of: np.ndarray,
    seed: int,
    parallel: tuple[int, int | None],
    train_kwargs: dict[str, Any],
) -> list[TrainResult]:
    """Folds 2..k of :func:`fit_trial` (fold ``i`` trains on the others with seed ``seed + i``
    and early-stops on fold ``i``, or after the epoch that passes the tuning's ``deadline``, as
    fold 1 does), side by side where ``parallel`` allows."""
    from lstmtune.parallel_fit import FitJob, fit_all

    jobs = [
        FitJob(
            params,
            train_kwargs.get("epochs"),
            seed + i,
            tuple(int(r) for r in np.flatnonzero(fold_of != i)),
            float(train_kwargs.get("grad_clip", 1.0)),
            bool(train_kwargs.get("amp", True)),
            tuple(int(r) for r in np.flatnonzero(fold_of == i)),
            int(train_kwargs.get("patience", 10)),
            train_kwargs.get("deadline"),
        )
        for i in range(1, int(fold_of.max()) + 1)
    ]
    return fit_all(problem, jobs, train_kwargs.get("device") or select_device(), *parallel)


def sequence_log_loss(problem: Problem, model: torch.nn.Module, data: TensorSet) -> np.ndarray:
    """Each sequence's cross-entropy under ``model`` (at its restored best epoch): the
    per-sequence terms of the classification objective."""
    device = next(model.parameters()).device
    on = data.to(device)
    scaled = problem.predict_scaled(model, on)  # type: ignore[arg-type]
    losses = torch.nn.functional.cross_entropy(scaled.float(), on.y, reduction="none")
    return losses.detach().cpu().numpy().astype(np.float64)

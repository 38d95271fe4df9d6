"""Rolling-origin validation for forecasting: a trial is judged on the validation window and on
the windows of the same length just before it, each forecast by a network trained on the rows
before that window (``cross_validation`` in statsforecast and NeuralForecast).

A short series has 12-30 validation points; the best of 30 trials on them is chosen partly on
noise. With ``k`` folds the objective is the mean of ``k`` windows' validation RMSE. Fold 1 is the
ordinary split (train -> validation): pruning watches it, and its network and best epoch are the
trial's, so the kept forecasts and the retrain are those of the validation split; the other folds
only add their scores.

Opt-in (``tune.forecast_folds``, default 1): three folds on 16 public series (README) moved the
published forecast's test RMSE over the better classical model from 1.014 to 0.990 on average
with the default seed (better on 7 series, worse on 6, most of it lynx) and from 1.015 to 1.017
with seed 1 (better on 5, worse on 7), at 1.2x the run time (median): no consistent gain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmtune.forecast_space import lookback_range

if TYPE_CHECKING:
    from lstmtune.task_problems import ForecastProblem
    from lstmtune.training import TensorSet, TrainResult

MIN_FIT_WINDOWS = 8  # an earlier fold is used only if it leaves this many training windows


def fold_starts(meta: dict[str, Any], k: int) -> list[int]:
    """The first validation row of each fold before the validation split, nearest first: fold
    ``j`` validates on the rows ``[v0 - j*L, v0 - (j-1)*L)`` (``v0`` the validation split's first
    row, ``L`` its length)."""
    v0 = int(meta["splits"]["val"]["start"])
    length = int(meta["splits"]["val"]["end"]) - v0
    return [v0 - j * length for j in range(1, k) if v0 - j * length > 0]


def fold_ends(problem: ForecastProblem, k: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(first validation row, training window ends, validation window ends) of the folds before
    the validation split (:func:`fold_starts`): each validates on the windows whose targets lie
    in its rows and trains on those whose targets all lie before them. A fold that would leave
    fewer than :data:`MIN_FIT_WINDOWS` training windows, or no validation window, ends the list
    (:func:`resolve_folds` asks only for folds the study's every lookback can feed)."""
    length = int(problem.splits["val"]["end"]) - int(problem.splits["val"]["start"])
    out: list[tuple[int, np.ndarray, np.ndarray]] = []
    for start in fold_starts({"splits": problem.splits}, k):
        fit = problem.featurizer.split_ends(0, start)
        val = problem.featurizer.split_ends(start, start + length)
        if len(fit) < MIN_FIT_WINDOWS or len(val) == 0:
            break
        out.append((start, fit, val))
    return out


def resolve_folds(setting: int, meta: dict[str, Any]) -> int:
    """``tune.forecast_folds`` for a study (1 for another task or many series), cut to the folds
    that leave the space's longest lookback :data:`MIN_FIT_WINDOWS` training windows, so every
    trial of the study is judged on the same windows."""
    if meta.get("task") != "forecast" or meta.get("panel") or int(meta.get("n_series", 1)) > 1:
        return 1
    horizon = int(meta.get("horizon", 1))
    longest = lookback_range(meta["search_space"]["lookback"])[1]
    feasible = 0
    for start in fold_starts(meta, setting):  # training windows: split_ends(0, start)
        if start - horizon - longest + 1 < MIN_FIT_WINDOWS:
            break
        feasible += 1
    return 1 + feasible


def add_fold_classical(meta: dict[str, Any], parts: dict[str, Any], folds: int) -> list[str]:
    """AutoARIMA and AutoETS fitted on the rows before each earlier fold's validation window, as
    ``meta["classical_folds"]`` (first row -> specs), for the classical anchors of those folds:
    the train split's fit has seen their rows. Only where the train split's fit exists. A kind
    that fails on a fold's shorter history keeps the train split's fit in that fold; the
    returned warnings (one line each) say so."""
    from lstmtune.classical import BASELINE_NAMES, fit_specs
    from lstmtune.classical_fits import arima_log

    if folds < 2 or not meta.get("classical"):
        return []
    target = meta["columns"]["target"]
    y = np.concatenate([parts[s][target].to_numpy(np.float64) for s in ("train", "val")])
    kinds = tuple(meta["classical"])
    period = int(meta["seasonal_period"])
    meta["classical_folds"], warnings = {}, []
    for start in fold_starts(meta, folds):
        specs, failed = fit_specs(y, start, period, kinds, log=arima_log(meta))
        meta["classical_folds"][str(start)] = specs
        warnings += [
            f"warning: {BASELINE_NAMES[k]} could not be fitted on the {start} rows before a"
            f" rolling-origin fold ({why}); its anchor there is the train split's fit"
            for k, why in failed.items()
        ]
    return warnings


def fit_rolling(
    problem: ForecastProblem,
    params: dict[str, Any],
    train_set: TensorSet,
    val_set: TensorSet,
    k: int,
    *,
    seed: int = 0,
    on_epoch: Callable[[int, float, float], None] | None = None,
    **train_kwargs: Any,
) -> TrainResult:
    """Train on the ordinary split (``on_epoch`` sees it: pruning), then on each earlier fold of
    :func:`fold_ends` (seed ``seed + j``); the value is the mean of the folds' best validation
    RMSE, the network and best epoch are the ordinary split's."""
    from lstmtune.training import train

    first = train(problem, params, train_set, val_set, seed=seed, on_epoch=on_epoch, **train_kwargs)
    results = [first]
    for j, (start, fit, val) in enumerate(fold_ends(problem, k), start=1):
        results.append(
            train(
                problem,
                params,
                problem.tensors_at(fit, start),
                problem.tensors_at(val, start),
                seed=seed + j,
                **train_kwargs,
            )
        )
    values = [r.best_value for r in results]
    first.best_value = float(np.mean(values))
    first.fold_values = values
    first.train_seconds = sum(r.train_seconds for r in results)
    return first

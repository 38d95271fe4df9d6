"""The published forecast networks checked against their own validation record.

A member retrained on train+val has the validation rows in its training data, so it should fit
them about as well as its network trained on train forecast them out of sample (the forecast
that chose the combination weights). Where it fits them more than :data:`CHECK_RATIO` times
worse, the retrain landed somewhere else (a short or high-rate training stops at an arbitrary
point of its trajectory): measured on a smooth trend + season series of 100 months, a member
(seasonal anchor, RMSprop at 0.026, 34 epochs) retrained with a bias of 2.4 % of the level on
the validation rows it had just been trained on, 33x its trial's out-of-sample RMSE, and a third
of its forecast in the published mix made the test RMSE 7.6x AutoETS's. Such a member is trained
once more with another seed; if that fails too, a member other than the winner is left out and
the winner is kept (the better attempt) with the network's weight in the combination handed to
the classical partners. The retrain step chooses the combination and calibrates the intervals
after this check, on the validation forecasts of the members kept
(:func:`lstmtune.final_forecast.choose_final`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from lstmtune.features import rmse
from lstmtune.final_forecast import NetworkFits

CHECK_RATIO = 2.0  # in-sample validation RMSE over the trial's out-of-sample one
RETRY_SEED = 7919  # added to a failed member's seed for its second training
FLOOR = 1e-5  # the least out-of-sample RMSE counted, relative to the validation targets' size


def in_sample_rmse(problem: Any, model: Any) -> float:
    """RMSE of ``model``'s forecasts of the validation rows, in original units."""
    val = problem.tensors("val")
    return rmse(problem.predict(model, val), val.raw_y)


def _ratio(problem: Any, model: Any, record: float) -> float:
    """In-sample over out-of-sample validation RMSE; the out-of-sample figure is floored at
    :data:`FLOOR` of the validation targets' mean size, so float rounding on a series an anchor
    forecasts almost exactly never fails a member. NaN (a network that forecasts NaN) is
    infinity."""
    val = problem.tensors("val")
    fit = rmse(problem.predict(model, val), val.raw_y)
    scale = float(np.mean(np.abs(val.raw_y)))
    ratio = fit / max(record, FLOOR * scale, float(np.finfo(np.float64).tiny))
    return ratio if np.isfinite(ratio) else float("inf")


@dataclasses.dataclass
class Checked:
    """The members that passed (the winner always first) and what the check did."""

    fits: NetworkFits
    results: list[Any]
    trainers: list[Any]
    kept: list[int]  # the indexes of the members kept
    notes: list[str]
    winner_failed: bool
    extra_seconds: float = 0.0  # training time of the attempts not kept


def check_members(
    fits: NetworkFits, results: list[Any], trainers: list[Any], records: list[float]
) -> Checked:
    """Each member's in-sample validation RMSE against ``records`` (its out-of-sample one);
    a failed member is retrained with another seed, then left out (the winner: kept)."""
    kept: tuple[list[Any], list[Any], list[Any], list[Any]] = ([], [], [], [])
    indexes: list[int] = []
    notes: list[str] = []
    winner_failed, extra = False, 0.0
    for i, (problem, trainer) in enumerate(zip(fits.problems, trainers, strict=True)):
        result, model = results[i], fits.models[i]
        ratio = _ratio(problem, model, records[i])
        if ratio > CHECK_RATIO:
            retry = dataclasses.replace(trainer, seed=trainer.seed + RETRY_SEED)
            second = retry.final(problem, {})
            second.model = second.model.cpu().eval()
            ratio2 = _ratio(problem, second.model, records[i])
            what = "the winner" if i == 0 else f"member {i + 1}"
            notes.append(
                f"warning: {what}'s retrain on train+val fits the validation rows {ratio:.1f}x"
                f" worse than its trial forecast them; trained again with seed {retry.seed}:"
                f" {ratio2:.1f}x" + _outcome(i, ratio2)
            )
            keep_second = ratio2 <= CHECK_RATIO or (i == 0 and ratio2 < ratio)
            extra += (result if keep_second else second).train_seconds  # the attempt not kept
            if keep_second:
                result, model, trainer = second, second.model, retry
            if ratio2 > CHECK_RATIO:
                if i > 0:  # left out: its kept attempt's time is spent too
                    extra += result.train_seconds
                    continue
                winner_failed = True
        for store, item in zip(kept, (problem, model, result, trainer), strict=True):
            store.append(item)
        indexes.append(i)
    problems, models, kept_results, kept_trainers = kept
    fits = NetworkFits(problems, models)
    return Checked(fits, kept_results, kept_trainers, indexes, notes, winner_failed, extra)


def _outcome(index: int, ratio: float) -> str:
    if ratio <= CHECK_RATIO:
        return ""
    if index > 0:
        return ", left out"
    return ", kept (the better training): the combination leaves it out where a partner had weight"

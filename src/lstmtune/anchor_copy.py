"""Whether the published networks are a copy of the classical model they correct.

A network anchored on AutoARIMA or AutoETS forecasts that model's forecast plus a learnt
correction; its head starts at zero. On a short series the tuning often keeps a trial whose
correction stayed near zero (the best epoch was the first): its forecast *is* the anchor's. The
equal-weight combination then counted one forecast twice — ``(network + AutoARIMA + AutoETS) / 3``
with the network equal to AutoARIMA gives AutoARIMA two thirds. Measured on the default runs of
the benchmark's short series (2026-12-03): the trial networks of wineind, co2 and ausbeer moved
their anchor's validation forecast by 0.0-2 % of the anchor's validation RMSE; those of airline,
sunspots, the Nile and woolyrnq by 8-90 %.

:func:`copied_partner` names the partner the networks copy, where every member is anchored on the
same classical model and their average validation forecast lies within :data:`COPY_SHARE` of its
anchors' validation RMSE from them; :func:`lstmtune.combine.equal_weights` then gives the two one
share between them, as one forecast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lstmtune.features import CLASSICAL_ANCHORS, rmse

if TYPE_CHECKING:
    from lstmtune.task_problems import ForecastProblem

#: a network whose validation forecast moves its anchor's by less than this share of the anchor's
#: validation RMSE (RMS of the difference) is that anchor's forecast: 0.0-2 % where the tuning
#: kept an untrained correction, 8 % and more where it learnt one (the benchmark's short series)
COPY_SHARE = 0.05


def anchor_forecast(problem: ForecastProblem, split: str) -> np.ndarray:
    """The member's anchor forecast of ``split`` (``[N, horizon]``, original units): what the
    network forecasts with a zero correction."""
    f = problem.featurizer
    _, anchor = f.windows(problem.scaled, problem.ends(split))
    return np.asarray(f.unscale_target(anchor.astype(np.float64)))


def copied_partner(problems: list[ForecastProblem], network: np.ndarray) -> str | None:
    """The classical partner (``arima`` or ``ets``) that the members' average validation forecast
    ``network`` copies, or None: members on different anchors, a naive anchor, or a correction
    of at least :data:`COPY_SHARE` of the anchors' validation RMSE."""
    kinds = {p.featurizer.anchor for p in problems}
    if len(kinds) != 1 or (kind := kinds.pop()) not in CLASSICAL_ANCHORS:
        return None
    anchors = np.mean([anchor_forecast(p, "val") for p in problems], axis=0)
    truth = problems[0].tensors("val").raw_y
    assert truth is not None
    error = rmse(anchors, truth)
    moved = rmse(network, anchors)
    return kind if np.isfinite(moved) and moved < COPY_SHARE * error else None

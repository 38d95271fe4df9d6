"""One season length for a panel whose series infer different ones.

Each series infers its season from its own train part (:func:`~.prepare_forecast._infer_period`),
and a short or noisy series misses a season its neighbours show: 52-week seasons in four weekly
series of 120-160 weeks were found in two and missed in two, and a vote then tied and gave the
panel no season at all (a constant fifth series flipped it). Where the series disagree, each
season some series found is tested on the train parts of every series pooled: the differences'
autocorrelation at that lag, each series weighted by its number of pairs, must pass 0.1 and the
one-sided 95 % bound of the pooled pairs (or the detrended values' pooled autocorrelation pass
:data:`~.prepare_forecast.DETRENDED_MIN`): the single series' calendar test, with the evidence of
all. Of the seasons that pass, the one most series found (then the best supported); none: no
season. The disagreement is reported (``panel.season_note``), never silent.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

import numpy as np

from lstmtune.data.prepare_forecast import ACF_Z, DETRENDED_MIN, _acf, _detrended_acf


def pooled_acf(trains: list[np.ndarray], lag: int) -> tuple[float, float, int]:
    """The differences' and the detrended values' autocorrelation at ``lag``, means over the
    series weighted by their pairs, and the pairs; a series too short for the lag (fewer than two
    seasons of differences for a season above 24, as for one series) or a straight line adds
    nothing."""
    diff_sum = detrended_sum = 0.0
    pairs = 0
    for values in trains:
        n = len(values) - 1
        if lag >= n - 2 or (lag > 24 and n < 2 * lag) or np.ptp(np.diff(values)) == 0:
            continue  # too short, or a straight line (a constant series): no evidence either way
        k = n - lag
        diff_sum += k * _acf(np.diff(values), lag)
        detrended_sum += k * max(_detrended_acf(values, lag), -1.0)
        pairs += k
    if not pairs:
        return -1.0, -1.0, 0
    return diff_sum / pairs, detrended_sum / pairs, pairs


def _supported(trains: list[np.ndarray], lag: int) -> tuple[bool, float]:
    diff, detrended, pairs = pooled_acf(trains, lag)
    bound = max(0.1, ACF_Z / math.sqrt(pairs)) if pairs else math.inf
    return diff > bound or detrended > DETRENDED_MIN, diff


def panel_season(
    inferred: Mapping[str, int], trains: Mapping[str, np.ndarray]
) -> tuple[int, str | None]:
    """The panel's season from each series' ``inferred`` one and its train values, and a note
    when the series disagree (None when they agree)."""
    counts = Counter(inferred.values())
    if len(counts) == 1:
        return next(iter(counts)), None
    pooled = list(trains.values())
    tested = {p: _supported(pooled, p) for p in counts if p > 1}
    passed = [p for p, (ok, _) in tested.items() if ok]
    season = max(passed, key=lambda p: (counts[p], tested[p][1])) if passed else 1
    found = ", ".join(
        f"{p} in {n}" + (f" (e.g. {_example(inferred, p)!r})" if p != season else "")
        for p, n in counts.most_common()
    )
    why = (
        f"the one the series' pooled autocorrelation supports ({tested[season][1]:.2f} at lag "
        f"{season})"
        if season > 1
        else "none of them passes the test on the series pooled"
    )
    note = (
        f"the series infer different seasons (of {len(inferred)}: {found}); the panel uses "
        f"{season}, {why}; set data.seasonal_period to choose"
    )
    return season, note


def _example(inferred: Mapping[str, int], period: int) -> str:
    return next(sid for sid, p in inferred.items() if p == period)

"""AutoETS as a JSON spec: the state recursion of R ``forecast``'s etscalc (which statsforecast
ports) with the fitted smoothing parameters and initial states, run over any history.

The initial states belong to the first row the fit read (``spec["fit_start"]``: a long series is
fitted on its last :data:`lstmtune.classical.MAX_ETS_ROWS` rows), so the recursion starts there;
the origins before it have no state (:func:`ets_forecasts` marks them for the caller's
fallback). Started at row 0 instead, a daily series of 935 rows fitted on its last 240 scored
6.11 one step ahead on test against 1.70 from its own start: the states of 2020 read the values
of 2018.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def ets_states(spec: dict[str, Any], y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Level, trend and seasonal states after each observation (R ``forecast``'s etscalc
    update, which statsforecast ports). ``season[t, j]``: ``j = 0`` is the most recent."""
    trend, season = spec["trend"], spec["season"]
    m = int(spec["m"]) if season != "N" else 1
    alpha, beta, gamma, phi = spec["alpha"], spec["beta"], spec["gamma"], spec["phi"]
    init = list(spec["init"])
    level = init[0]
    b = init[1] if trend != "N" else 0.0
    s = list(init[(2 if trend != "N" else 1) :]) if season != "N" else [0.0]
    n = len(y)
    levels, trends, seasons = np.empty(n), np.empty(n), np.empty((n, len(s)))
    for t in range(n):
        phib = phi * b if trend != "N" else 0.0
        q = level + phib
        last_s = s[m - 1] if season != "N" else 0.0
        yt = float(y[t])
        if season == "A":
            p = yt - last_s
        elif season == "M":
            p = yt / last_s
        else:
            p = yt
        new_level = q + alpha * (p - q)
        if trend != "N":
            b = phib + (beta / alpha) * (new_level - level - phib)
        if season != "N":
            target = yt - q if season == "A" else yt / q
            s = [last_s + gamma * (target - last_s), *s[:-1]]
        level = new_level
        levels[t], trends[t], seasons[t] = level, b, s
    return levels, trends, seasons


def _from_states(spec: dict[str, Any], y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
    levels, trends, seasons = ets_states(spec, y)
    trend, season = spec["trend"], spec["season"]
    m = seasons.shape[1]
    phi = spec["phi"]
    out = np.empty((len(ends), horizon))
    phistar = phi if spec["damped"] else 1.0
    for k in range(horizon):
        f = levels[ends] + (phistar * trends[ends] if trend != "N" else 0.0)
        j = (m - 1 - k) % m
        if season == "A":
            f = f + seasons[ends, j]
        elif season == "M":
            f = f * seasons[ends, j]
        out[:, k] = f
        phistar += phi ** (k + 1) if spec["damped"] else 1.0
    return out


def ets_forecasts(
    spec: dict[str, Any], y: np.ndarray, ends: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """``([N, horizon] forecasts, early)`` of the ETS ``spec`` from the origins ``ends`` of ``y``,
    the recursion starting at the fit's first row; ``early``: origins before it (their rows of
    the forecasts are NaN)."""
    start = int(spec.get("fit_start", 0))
    early = ends < start
    out = np.full((len(ends), horizon), np.nan)
    if (~early).any():
        out[~early] = _from_states(spec, y[start:], ends[~early] - start, horizon)
    return out, early


def ets_after(spec: dict[str, Any], values: np.ndarray, gap: int) -> dict[str, Any]:
    """The spec for a history that starts ``gap`` periods after ``values`` (the rows from the
    fit's first row on) end: its initial states are the states after ``values``, carried through
    the periods nobody observed by the model's own equations (level plus damped trend, the
    seasons rotating unchanged), as a state-space model treats missing observations."""
    levels, trends, seasons = ets_states(spec, values)
    level, b, season = float(levels[-1]), float(trends[-1]), np.asarray(seasons[-1])
    if spec["trend"] != "N" and gap > 0:
        phi = float(spec["phi"])
        powers = phi ** np.arange(1, gap + 1)
        level += b * float(powers.sum())
        b *= float(powers[-1])
    init = [level] + ([b] if spec["trend"] != "N" else [])
    if spec["season"] != "N":
        init += [float(v) for v in np.roll(season, gap % len(season))]
    return {**spec, "init": init, "fit_start": 0}

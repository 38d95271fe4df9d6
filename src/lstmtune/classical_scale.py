"""The unit a classical model is fitted in: statsforecast's optimisers and order searches work with
absolute tolerances, so a series in tiny or huge units is fitted as a different model. A series
whose typical step (:func:`step_size`) lies outside :data:`BAND` is fitted divided by a power of
two that brings the step into [16, 32), and the forecasts and the spec's level terms are
multiplied back (:func:`fit_scale`, :func:`unscaled_spec`); inside the band nothing changes.

Why: the airline passengers (typical step 19) fitted as they are and multiplied by 1e-9: AutoARIMA
chose ARIMA(0,0,0)(0,1,0)[12] (the seasonal naive forecast, test RMSE 25.77 passengers against
17.51), AutoTheta scored 20.69 against 19.78; from 1e5 on, AutoARIMA 17.57. Times 1e-7 to 1e-12,
1e-3 and 1e5 to 1e12 on airline, co2, wineind and nile (steps 19, 1.05, 3620, 110): AutoARIMA
went wrong below a step of about 1e-5 and drifted above 1e5, AutoETS below 1e-10, AutoTheta
below a step of about 1. The band keeps those four series and the log values of a positive
series (airline's step 0.097) in the units they come in.

A power of two divides exactly in floating point, so the fit sees the series times a constant
and nothing else: the same model, multiplied back exactly. A location is not subtracted:
multiplicative ETS and the log values ARIMA may be fitted on need the series' own sign. A
level far above the series' variation (airline plus 1e10: AutoARIMA 25.77) is a property of the
series, the same in every unit, and this does not change it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

BAND = (2.0**-10, 2.0**14)  # typical steps fitted in their own units
TARGET = 4  # log2 of the bottom of the octave a step outside the band is brought into


def step_size(y: np.ndarray) -> float:
    """The series' typical step: the median absolute change from one row to the next (the mean
    where most rows repeat the last), a scale its level does not enter."""
    steps = np.abs(np.diff(np.asarray(y, dtype=np.float64)))
    if not len(steps):
        return 0.0
    median = float(np.median(steps))
    return median if median > 0 else float(np.mean(steps))


def fit_scale(y: np.ndarray) -> float:
    """The power of two ``y`` is divided by before a fit: 1 where its step is inside
    :data:`BAND` (or is 0 or not finite), else the one that brings it into ``[16, 32)``."""
    step = step_size(y)
    if not math.isfinite(step) or step <= 0 or BAND[0] <= step <= BAND[1]:
        return 1.0
    scale = 2.0 ** (math.floor(math.log2(step)) - TARGET)
    with np.errstate(all="ignore"):
        finite = bool(np.isfinite(np.asarray(y, dtype=np.float64) / scale).all())
    return scale if finite else 1.0


def unscaled_spec(spec: dict[str, Any], scale: float) -> dict[str, Any]:
    """A JSON spec fitted on the series divided by ``scale``, in the series' own units: the ETS
    level, trend and additive seasonal states, the ARIMA intercept and drift (the smoothing
    parameters, the ARMA coefficients and multiplicative seasons have no unit)."""
    if scale == 1.0:
        return spec
    if spec["kind"] == "ets":
        init = [float(v) for v in spec["init"]]
        states = 2 if spec["trend"] != "N" else 1
        init[:states] = [v * scale for v in init[:states]]
        if spec["season"] == "A":
            init[states:] = [v * scale for v in init[states:]]
        return {**spec, "init": init}
    coef = {k: v * scale if k in ("intercept", "drift") else v for k, v in spec["coef"].items()}
    return {**spec, "coef": coef}

"""Classical forecasters (AutoARIMA, AutoETS, AutoTheta from Nixtla's statsforecast): fitted once,
then applied without refitting to any history, one forecast per origin with the true history.

Two uses:

* **baselines** (:func:`classical_baselines`): fitted on train+val and scored on the test origins
  with the protocol the LSTM is scored with. The forecasts come from statsforecast itself
  (``forward``: the fitted model filtered over the true history, nothing re-estimated).
* **anchors and combinations** (:func:`fit_spec`, :func:`spec_forecasts`): a fitted ARIMA (on
  log values for a positive series: :mod:`lstmtune.classical_log`) or ETS model (AutoETS's
  models at a better optimum of their likelihood: :mod:`lstmtune.classical_ets_fit`) as a JSON spec
  (orders and coefficients, or components, parameters and initial states) and a numpy recursion
  that forecasts from it, stored in the registered model and recomputed on the consumer's
  history (no pickle; statsforecast only to fit a series a many-series model never saw). Both
  reproduce statsforecast's ``forward``: the ETS recursion, and for ARIMA the exact Kalman filter
  of R's ``arima`` (the seasonal naive forecast before ``d + D*m + p + P*m`` rows).
A fit that fails (too short, constant, odd data) raises :class:`ClassicalError`; callers go on."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import time
import warnings
from collections import OrderedDict
from typing import Any

import numpy as np

from lstmtune.classical_ets import ets_forecasts
from lstmtune.classical_log import back, log_values, logged, on_log
from lstmtune.classical_scale import fit_scale, unscaled_spec

KINDS = ("arima", "ets")  # anchors / combination partners the LSTM can use
BASELINE_NAMES = {"arima": "auto_arima", "ets": "auto_ets", "theta": "auto_theta"}
# AutoARIMA's cost grows with the season: fit on the last FIT_SEASONS seasons (>= MIN_FIT_POINTS
# rows), above a season of 24 with CSS in the order search (R ``auto.arima``'s default for long
# series); no fit above MAX_ARIMA_SEASON (a weekly season of half-hours, 336, takes hours).
FIT_SEASONS = 8
MIN_FIT_POINTS = 240
MAX_ARIMA_SEASON = 60
# AutoETS's cost grows with the rows alone (0.7 s for 1000 hours with a daily season, 2.4 s for
# 2000; a panel fits every series): it reads up to this many, and its states start at the first
# (lstmtune.classical_ets)
MAX_ETS_ROWS = 1000
DIFFUSE = 1e6  # variance of the differencing states at the start (R's and statsforecast's kappa)


class ClassicalError(RuntimeError):
    """A classical model could not be fitted or applied to this series."""


#: why a constant series has no fit (statsforecast cannot fit one)
CONSTANT = "its values never change"
#: what stands in for AutoARIMA and AutoETS on a constant series of a panel: its last value
RANDOM_WALK = {
    "kind": "arima",
    "method": "ARIMA(0,1,0) (a constant series: its last value)",
    "order": [0, 1, 0],
    "seasonal_order": [0, 0, 0],
    "m": 1,
    "coef": {},
    "fit_start": 0,
}


def _fit_window(n: int, period: int) -> int:
    return min(n, max(MIN_FIT_POINTS, FIT_SEASONS * max(period, 1)))


def _quiet() -> contextlib.AbstractContextManager[Any]:
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(np.errstate(all="ignore"))
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    return stack


def fit_model(kind: str, y: np.ndarray, period: int) -> Any:
    """A fitted statsforecast model (``AutoARIMA``/``AutoETS``/``AutoTheta``) on the series ``y``
    (its last :data:`FIT_SEASONS` seasons), divided by ``model.scale_`` where its unit is tiny or
    huge (:mod:`lstmtune.classical_scale`). Raises :class:`ClassicalError` when it cannot be
    fitted."""
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

    y = np.asarray(y, dtype=np.float64)
    rows = min(len(y), MAX_ETS_ROWS) if kind == "ets" else _fit_window(len(y), period)
    y = y[len(y) - rows :]
    key = hashlib.sha1(f"{kind}/{period}/".encode() + y.tobytes()).hexdigest()
    if key in _FITTED:  # the evaluation and the final model's anchor share one fit
        return _FITTED[key]
    season = max(int(period), 1)
    if kind == "ets" and season > 24:
        season = 1  # statsforecast's ETS has no seasonal models beyond 24 (R's ets neither)
    if len(y) < 2 * max(season, 2) + 2 or not np.isfinite(y).all() or np.ptp(y) == 0:
        why = CONSTANT if np.ptp(y) == 0 else f"{len(y)} rows cannot be fitted"
        raise ClassicalError(f"{BASELINE_NAMES[kind]}: {why}")
    if kind == "arima" and season > MAX_ARIMA_SEASON:
        raise ClassicalError(
            f"auto_arima: season {season} is longer than {MAX_ARIMA_SEASON}; not fitted (cost)"
        )
    model: Any = AutoTheta(season_length=season)
    if kind == "arima":
        model = AutoARIMA(season_length=season, approximation=season > 24)
    elif kind == "ets":
        model = AutoETS(season_length=season)
    scale = fit_scale(y)
    try:
        with _quiet():
            model.fit(y / scale)
    except Exception as exc:  # statsforecast raises bare Exceptions on odd data
        raise ClassicalError(f"{BASELINE_NAMES[kind]}: {exc}") from exc
    model.fit_offset_ = len(y)  # rows the fit read, for the record
    model.scale_ = scale  # model_forecasts and the spec go back to the series' units
    model.season_ = season  # the season it was fitted with (ETS: 1 above 24)
    _FITTED[key] = model
    while len(_FITTED) > MAX_FITTED:  # bounded: a serving process fits unseen series' histories
        _FITTED.popitem(last=False)
    return model


MAX_FITTED = 512  # 100 series x 2 kinds x (train, train+val) fits stay shared within a step
_FITTED: OrderedDict[str, Any] = OrderedDict()


def _causal_fitted(model: Any) -> bool:
    """Whether the model's in-sample fitted values serve as one-step forecasts. AutoETS's are a
    filter over the past. AutoARIMA's never read a later row, but with MA terms they carry a
    small share of the target row itself (statsforecast returns standardised innovations): at
    most 7e-7 of the forecast on the benchmark's fits, 0.7 % on white noise fitted with
    ma1 = -1. AutoTheta's are not forecasts at all: its ``forward`` decomposes the whole history
    by centred moving averages and tests the season on it, and its standard models' trend comes
    from all of it, so a fitted value reads later rows."""
    return type(model).__name__ in ("AutoARIMA", "AutoETS")


def model_forecasts(model: Any, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
    """``[N, horizon]`` forecasts of a fitted statsforecast model from the origins ``ends`` of
    ``y``, each with the true history ``y[: t + 1]`` and nothing re-estimated (``forward``; one
    pass of in-sample fitted values where they read only the past, :func:`_causal_fitted`)."""
    scale = float(getattr(model, "scale_", 1.0))
    y = np.asarray(y, dtype=np.float64) / scale
    out = np.full((len(ends), horizon), np.nan)
    try:
        with _quiet():
            if horizon == 1 and len(ends) and _causal_fitted(model):
                fitted = np.asarray(
                    model.forward(y=y[: int(ends.max()) + 2], h=1, fitted=True)["fitted"]
                )
                out[:, 0] = fitted[ends + 1]
            else:
                for i, t in enumerate(ends):
                    out[i] = np.asarray(model.forward(y=y[: int(t) + 1], h=horizon)["mean"])
    except Exception as exc:
        raise ClassicalError(f"forecasting failed: {exc}") from exc
    if not np.isfinite(out).all():
        raise ClassicalError("non-finite forecasts")
    return out * scale


def classical_baselines(
    y: np.ndarray,
    fit_end: int,
    ends: np.ndarray,
    horizon: int,
    period: int,
    kinds: tuple[str, ...] = ("arima", "ets"),
) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, float]]:
    """Fit each kind on ``y[:fit_end]`` and forecast from ``ends`` with the true history.

    Returns ``(forecasts by baseline name, failures by name -> reason, seconds by name)``; a
    model that cannot be fitted is in the failures, never an exception."""
    preds: dict[str, np.ndarray] = {}
    failed: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for kind in kinds:
        name = BASELINE_NAMES[kind]
        t0 = time.perf_counter()
        try:
            model = fit_model(kind, y[:fit_end], period)
            start = fit_end - model.fit_offset_ if kind == "ets" else 0  # its states start there
            if len(ends) and int(ends.min()) < start:
                raise ClassicalError(f"{name}: origins before the fit's first row {start}")
            preds[name] = model_forecasts(model, y[start:], ends - start, horizon)
        except ClassicalError as exc:
            failed[name] = str(exc)
        seconds[name] = round(time.perf_counter() - t0, 3)
    return preds, failed, seconds


# --- JSON specs and numpy recursions (anchors, combinations, serving) ---------------------------


def fit_spec(kind: str, y: np.ndarray, period: int, log: bool = False) -> dict[str, Any]:
    """Fit ``kind`` (``arima``/``ets``; ARIMA on log values with ``log`` where :func:`on_log`) on
    ``y`` as a JSON spec for :func:`spec_forecasts`. Raises :class:`ClassicalError`."""
    if kind == "arima" and log and on_log(y):
        return logged(_fitted_spec(kind, np.log(y), period), y)
    return _fitted_spec(kind, y, period)


def _fitted_spec(kind: str, y: np.ndarray, period: int) -> dict[str, Any]:
    model = fit_model(kind, y, period)
    spec = _spec_of(kind, model, len(y))
    if kind == "ets":  # the anchor and partner: AutoETS's models at a better optimum
        spec = {**_refit(model, y, spec), "fit_start": spec["fit_start"]}
    return unscaled_spec(spec, model.scale_)


def _refit(model: Any, y: np.ndarray, spec: dict[str, Any]) -> dict[str, Any]:
    """:func:`lstmtune.classical_ets_fit.refined` of a fitted AutoETS, once per fitted model
    (:func:`fit_model` shares it: a served series sent again is not refitted again)."""
    if not hasattr(model, "refit_"):
        from lstmtune.classical_ets_fit import refined

        rows = np.asarray(y, dtype=np.float64)[len(y) - model.fit_offset_ :] / model.scale_
        model.refit_ = refined(spec, rows, model.season_, float(model.model_["aicc"]))
    return {**model.refit_, "init": list(model.refit_["init"])}  # the caller's own lists


def _spec_of(kind: str, model: Any, n: int) -> dict[str, Any]:
    """The spec of a fitted model, in the units it was fitted in."""
    m = model.model_
    if kind == "ets":
        comp = str(m["components"])
        if comp[1] == "M":
            raise ClassicalError("auto_ets: multiplicative trend is not supported as an anchor")
        par = [float(v) for v in np.asarray(m["par"], dtype=np.float64)]
        return {
            "kind": "ets",
            "method": str(m.get("method", "")),
            "trend": comp[1],
            "season": comp[2],
            "damped": comp[3] != "N",
            "m": int(m["m"]),
            "alpha": par[0],
            "beta": 0.0 if math.isnan(par[1]) else par[1],
            "gamma": 0.0 if math.isnan(par[2]) else par[2],
            "phi": 1.0 if comp[3] == "N" or math.isnan(par[3]) else par[3],
            "init": par[4:],
            "fit_start": n - model.fit_offset_,
        }
    p, q, sp, sq, period_, d, sd = (int(v) for v in m["arma"])
    coef = {str(k): float(v) for k, v in m["coef"].items()}
    return {
        "kind": "arima",
        "method": f"ARIMA({p},{d},{q})({sp},{sd},{sq})[{period_}]",
        "order": [p, d, q],
        "seasonal_order": [sp, sd, sq],
        "m": period_,
        "coef": coef,
        "fit_start": n - model.fit_offset_,
    }


def _poly_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.convolve(a, b)


def _arima_parts(spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(phi, theta, delta)`` as R's ``makeARIMA`` reads them: the AR coefficients of the
    differenced series (seasonal ones multiplied in), the MA coefficients, and the differencing
    (``y_t = sum(delta_i * y_{t-i}) + w_t``, ``w`` the differenced series)."""
    p, d, q = spec["order"]
    sp, sd, sq = spec["seasonal_order"]
    m = max(int(spec["m"]), 1)
    c = spec["coef"]

    def poly(prefix: str, n: int, lag: int, sign: float) -> np.ndarray:
        out = np.zeros(n * lag + 1)
        out[0] = 1.0
        for i in range(1, n + 1):
            out[i * lag] = sign * c[f"{prefix}{i}"]
        return out

    ar = _poly_mul(poly("ar", p, 1, -1.0), poly("sar", sp, m, -1.0))
    ma = _poly_mul(poly("ma", q, 1, 1.0), poly("sma", sq, m, 1.0))
    diff = np.array([1.0])
    for _ in range(d):
        diff = _poly_mul(diff, np.array([1.0, -1.0]))
    for _ in range(sd):
        seasonal = np.zeros(m + 1)
        seasonal[0], seasonal[m] = 1.0, -1.0
        diff = _poly_mul(diff, seasonal)
    return -ar[1:], ma[1:], -diff[1:]


def _stationary_covariance(t: np.ndarray, shock: np.ndarray) -> np.ndarray:
    """The ARMA state's stationary covariance (``P = T P T' + R R'``; Gardner et al. 1980 compute
    the same matrix), made exactly symmetric (scipy's bilinear solver leaves rounding asymmetry
    that a near-unit seasonal AR root would grow); diffuse where none exists (a unit root)."""
    from scipy.linalg import solve_discrete_lyapunov  # type: ignore[import-untyped,unused-ignore]

    try:
        cov = solve_discrete_lyapunov(t, np.outer(shock, shock))
    except (np.linalg.LinAlgError, ValueError):
        cov = np.full((len(t), len(t)), np.nan)
    if not np.isfinite(cov).all():
        return np.eye(len(t)) * DIFFUSE
    return np.asarray((cov + cov.T) / 2.0)


def _arima_state_space(
    spec: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(Z, T, V, P0)`` of R's ``makeARIMA`` (which statsforecast ports): the ARMA part starts at
    its stationary covariance, the differencing states are diffuse (variance :data:`DIFFUSE`)."""
    phi, theta, delta = _arima_parts(spec)
    p, q, nd = len(phi), len(theta), len(delta)
    r = max(p, q + 1)
    rd = r + nd
    z = np.concatenate(([1.0], np.zeros(r - 1), delta))
    t = np.zeros((rd, rd))
    t[:p, 0] = phi
    t[np.arange(r - 1), np.arange(1, r)] = 1.0
    if nd:
        t[r] = z
        t[np.arange(r + 1, rd), np.arange(r, rd - 1)] = 1.0
    shock = np.zeros(rd)
    shock[0], shock[1 : 1 + q] = 1.0, theta
    p0 = np.zeros((rd, rd))
    p0[:r, :r] = _stationary_covariance(t[:r, :r], shock[:r])
    p0[np.arange(r, rd), np.arange(r, rd)] = DIFFUSE
    return z, t, np.outer(shock, shock), p0


def _arima_states(spec: dict[str, Any], u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Kalman filter of R's ``ARIMA_Like`` over ``u`` (the series less its regression):
    ``(filtered state after each row [n, rd], Z, T)``. Kept for the last few series: a trial's
    train, validation and test windows read one filter pass (about a second on taylor's 4032
    half-hours with a season of 48)."""
    key = hashlib.sha1(json.dumps(spec, sort_keys=True).encode() + u.tobytes()).hexdigest()
    if key not in _STATES:
        _STATES[key] = _filter(spec, u)
        while len(_STATES) > 4:
            _STATES.popitem(last=False)
    return _STATES[key]


_STATES: OrderedDict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()


def _filter(spec: dict[str, Any], u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass of the filter (:func:`_arima_states`)."""
    z, t, v, cov = _arima_state_space(spec)
    a = np.zeros(len(z))
    states = np.empty((len(u), len(z)))
    for i, value in enumerate(u):
        ahead = t @ a
        if i:
            cov = t @ cov @ t.T + v
        m = cov @ z
        gain = m / float(z @ m)
        a = ahead + gain * (float(value) - float(z @ ahead))
        cov = cov - np.outer(m, gain)
        cov = (cov + cov.T) / 2.0
        states[i] = a
    return states, z, t


def _arima_forecasts(
    spec: dict[str, Any], y: np.ndarray, ends: np.ndarray, horizon: int
) -> np.ndarray:
    """Exact forecasts (statsforecast's ``forward``, to rounding): the state filtered up to each
    origin, carried ``horizon`` steps ahead."""
    c = spec["coef"]
    n = len(y)
    idx = np.arange(1, n + horizon + 1, dtype=np.float64)
    reg = c.get("intercept", 0.0) + c.get("drift", 0.0) * idx
    states, z, t = _arima_states(spec, y - reg[:n])  # a state reads only the rows up to its own
    out = np.empty((len(ends), horizon))
    ahead = states[ends].T if len(ends) else np.zeros((len(z), 0))
    for k in range(horizon):
        ahead = t @ ahead
        out[:, k] = z @ ahead + reg[ends + 1 + k]
    return out


def arima_warmup(spec: dict[str, Any]) -> int:
    """Rows of history before the ARIMA forecasts are used: ``p + P*m + d + D*m`` (before them
    the filter still reads mostly its diffuse start)."""
    phi, _, delta = _arima_parts(spec)
    return len(phi) + len(delta)


_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()


def spec_forecasts(
    spec: dict[str, Any], y: np.ndarray, ends: np.ndarray, horizon: int, period: int = 1
) -> np.ndarray:
    """``[N, horizon]`` forecasts of the classical model ``spec`` from the origins ``ends`` of the
    series ``y`` (each with the history ``y[: t + 1]``, the recursion starting at ``y[0]``; an
    ETS one at the row its fit started, ``spec["fit_start"]``; a ``prefix`` of values is read
    before ``y``). Origins the recursion cannot serve yet get the seasonal naive (or
    persistence) forecast."""
    y = np.asarray(y, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.int64)
    if spec.get("prefix"):  # the fitted rows before a served history (lstmtune.served_history)
        lead = np.asarray(spec["prefix"], dtype=np.float64)
        rest = {k: v for k, v in spec.items() if k != "prefix"}
        return spec_forecasts(rest, np.concatenate([lead, y]), ends + len(lead), horizon, period)
    key = hashlib.sha1(
        json.dumps(spec, sort_keys=True).encode()
        + y.tobytes()
        + ends.tobytes()
        + str(horizon).encode()
    ).hexdigest()
    if key in _CACHE:
        return _CACHE[key].copy()
    with np.errstate(all="ignore"):
        if spec["kind"] == "ets":
            out, early = ets_forecasts(spec, y, ends, horizon)
        elif spec["kind"] == "arima":
            out = back(spec, _arima_forecasts(spec, log_values(spec, y), ends, horizon))
            early = ends + 1 < arima_warmup(spec)
        else:
            raise ValueError(f"unknown classical model {spec['kind']!r}")
    bad = early | ~np.isfinite(out).all(axis=1)
    for i in np.flatnonzero(bad):  # seasonal naive where a season of history exists, else last
        t = int(ends[i])
        steps = np.arange(1, horizon + 1)
        if period >= 2 and t + 1 >= period:
            out[i] = y[t + steps - period * np.ceil(steps / period).astype(int)]
        else:
            out[i] = y[t]
    _CACHE[key] = out
    while len(_CACHE) > 64:
        _CACHE.popitem(last=False)
    return out.copy()


def fit_specs(
    y: np.ndarray, fit_end: int, period: int, kinds: tuple[str, ...] = KINDS, log: bool = False
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """JSON specs of the classical models fitted on ``y[:fit_end]`` (ARIMA on log values with
    ``log``) and, for the ones that could not be fitted, the reason."""
    specs: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    for kind in kinds:
        try:
            specs[kind] = fit_spec(kind, y[:fit_end], period, log)
        except ClassicalError as exc:
            failed[kind] = str(exc)
    return specs, failed

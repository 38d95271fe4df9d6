"""Prediction intervals by split conformal prediction, per horizon step (pure functions).

Calibration: the published forecast (the network trained on the train split, the combination
applied with classical partners fitted on train) scores the validation origins. The score of an
origin is its absolute residual divided by a local scale of the history at that origin, the mean
absolute one-step change of the target over the last :func:`scale_window` changes (a MASE-style
scale: it grows with the level of a multiplicative series and with the noise of a volatile
stretch, and is about constant otherwise). For every horizon step ``k`` the half-width of the
level-``L`` interval is the finite-sample conformal quantile of the ``n`` scores, the
``ceil((n + 1) L / 100)``-th smallest, times the scale at the forecast origin: ``yhat -+ q_k s``,
symmetric, in original units. ``method="abs"`` (scale 1) is plain split conformal on absolute
residuals. A scale below :data:`SCALE_FLOOR` times the median calibration scale is raised to it
(a flat stretch of history must not give a zero-width interval).

When the rank exceeds ``n`` (too few validation origins for the level: ``n < L / (100 - L)``, e.g.
fewer than 19 for 95 %) the split conformal quantile is infinite; it is replaced by
``max(largest score, z * RMS of the scores)`` with ``z`` the two-sided normal quantile of the
level (a Gaussian tail fitted to the scores, never narrower than any score seen), and the
calibration records the level as extrapolated so the caller can warn.

Every function takes plain arrays, so a caller may calibrate per series (or pool scaled scores
over series) by calling them once per group.
"""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist
from typing import Any

import numpy as np

FLAG_POINTS = 10.0  # coverage further than this from nominal (percentage points) is flagged
FLAG_P = 0.05  # ... and further than the test points explain (two-sided exact binomial test)
POINTS = "interval_points"  # test metric: on how many distinct test times it was counted
FLAG_TEXT = f"more than {FLAG_POINTS:g} points off nominal, beyond chance (p < {FLAG_P:g})"
METHODS = ("scaled", "abs")
SCALE_FLOOR = 0.1  # a local scale is at least this fraction of the median calibration scale


def level_name(level: float) -> str:
    """``80`` for 80.0, ``99.5`` for 99.5: the suffix of the output columns and metrics."""
    return f"{float(level):g}"


def conformal_rank(n: int, level: float) -> int:
    """The 1-based rank ``ceil((n + 1) * level / 100)`` of the sorted scores that is the split
    conformal quantile (exact arithmetic: no float rounding at integer boundaries). A rank above
    ``n`` means the quantile is not attainable with ``n`` points."""
    return math.ceil(Fraction(n + 1) * Fraction(str(float(level))) / 100)


def conformal_quantile(scores: np.ndarray, level: float) -> tuple[float, bool]:
    """The level-``level`` split conformal quantile of the nonnegative ``scores`` (NaNs
    dropped) and whether it had to be extrapolated (see the module docstring)."""
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    s = s[np.isfinite(s)]
    n = len(s)
    if n == 0:
        raise ValueError("no calibration residuals")
    rank = conformal_rank(n, level)
    if rank <= n:
        return float(s[rank - 1]), False
    z = NormalDist().inv_cdf(0.5 + float(level) / 200)
    return float(max(s[-1], z * math.sqrt(float(np.mean(s**2))))), True


def step_quantiles(
    abs_residuals: np.ndarray, levels: list[float]
) -> tuple[dict[str, list[float]], list[str]]:
    """Per horizon step quantiles of ``abs_residuals`` (``[N, horizon]``) for every level:
    ``({"80": [q_1, ..., q_H], ...}, [level names that were extrapolated])``."""
    r = np.asarray(abs_residuals, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"residuals must be [N, horizon], got shape {r.shape}")
    quantiles: dict[str, list[float]] = {}
    extrapolated: list[str] = []
    for level in levels:
        name = level_name(level)
        values = [conformal_quantile(r[:, k], level) for k in range(r.shape[1])]
        quantiles[name] = [q for q, _ in values]
        if any(ex for _, ex in values):
            extrapolated.append(name)
    return quantiles, extrapolated


def extrapolation_warning(levels: list[str], scores: str) -> str:
    """The line that says which levels' widths were extrapolated, and why."""
    return (
        f"warning: {scores} are too few for the {', '.join(levels)}% prediction interval (split"
        " conformal needs n >= L/(100-L)); its width is extrapolated from the scores' RMS"
        " (Gaussian tail, never narrower than the largest score)"
    )


def scale_window(period: int) -> int:
    """One-step changes of history whose mean absolute value is the local scale: a season, at
    least 12."""
    return max(12, int(period))


def local_scale(series: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    """Mean absolute one-step change of ``series`` over the last ``window`` changes up to each
    origin in ``ends`` (``window + 1`` rows; fewer at the start of the series, NaN at row 0)."""
    y = np.asarray(series, dtype=np.float64)
    change = np.abs(np.diff(y))
    cum = np.concatenate([[0.0], np.cumsum(change)])  # cum[i] = sum of change[:i]
    e = np.asarray(ends, dtype=np.int64)
    first = np.maximum(e - int(window), 0)  # the changes y[i + 1] - y[i], first <= i < e
    count = e - first
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = (cum[e] - cum[first]) / count
    return np.where(count > 0, out, np.nan)


def origin_scale(spec: dict[str, Any], series: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The scale of every origin in ``ends`` under the interval spec: ones for ``abs``, else the
    local scale raised to the spec's floor."""
    if spec.get("method") != "scaled":  # abs (and specs written before the scaled method)
        return np.ones(len(ends))
    s = local_scale(series, ends, int(spec["scale_window"]))
    floor = float(spec["scale_floor"])
    return np.where(np.isfinite(s), np.maximum(s, floor), floor)


def calibrate(
    pred: np.ndarray,
    true: np.ndarray,
    levels: list[float],
    *,
    scale: np.ndarray | None = None,
    window: int = 0,
) -> dict[str, Any]:
    """The interval spec (JSON) from forecasts ``pred`` and outcomes ``true`` (``[N, horizon]``,
    original units) on the calibration origins; with ``scale`` (:func:`local_scale` of those
    origins over ``window`` rows) the scaled method, else plain absolute residuals. A scale that
    is zero at the median falls back to absolute residuals."""
    residuals = np.abs(np.asarray(true, dtype=np.float64) - np.asarray(pred, dtype=np.float64))
    spec: dict[str, Any] = {"method": "abs"}
    if scale is not None:
        s = np.asarray(scale, dtype=np.float64)
        median = float(np.nanmedian(s)) if np.isfinite(s).any() else 0.0
        if median > 0:
            floor = SCALE_FLOOR * median
            spec = {"method": "scaled", "scale_window": int(window), "scale_floor": floor}
            residuals = residuals / np.where(np.isfinite(s), np.maximum(s, floor), floor)[:, None]
    quantiles, extrapolated = step_quantiles(residuals, levels)
    return {
        **spec,
        "levels": [float(v) for v in levels],
        "quantiles": quantiles,
        "n_calibration": int(residuals.shape[0]),
        "extrapolated": extrapolated,
    }


def bounds(
    pred: np.ndarray, spec: dict[str, Any], scale: np.ndarray | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{level name: (lo, hi)}``, each ``[N, horizon]`` like ``pred``, from an interval spec of
    :func:`calibrate` and the origins' scale (:func:`origin_scale`; ones when omitted)."""
    pred = np.asarray(pred, dtype=np.float64)
    s = np.ones(len(pred)) if scale is None else np.asarray(scale, dtype=np.float64)
    out = {}
    for level in spec["levels"]:
        name = level_name(level)
        q = np.asarray(spec["quantiles"][name], dtype=np.float64)[None, : pred.shape[1]]
        half = q * s[:, None]
        out[name] = (pred - half, pred + half)
    return out


def interval_columns(
    pred: np.ndarray, spec: dict[str, Any], scale: np.ndarray | None = None
) -> tuple[list[str], list[np.ndarray]]:
    """The pyfunc's interval columns, step by step and level by level: ``step_1_lo_80``,
    ``step_1_hi_80``, ``step_1_lo_95``, …, ``step_2_lo_80``, … and their values (``scale``: the
    origins' :func:`origin_scale`)."""
    b = bounds(pred, spec, scale)
    names: list[str] = []
    values: list[np.ndarray] = []
    for k in range(np.asarray(pred).shape[1]):
        for name, (lo, hi) in b.items():
            names += [f"step_{k + 1}_lo_{name}", f"step_{k + 1}_hi_{name}"]
            values += [lo[:, k], hi[:, k]]
    return names, values


def interval_metrics(
    true: np.ndarray,
    bounds_by_level: dict[str, tuple[np.ndarray, np.ndarray]],
    n_series: int = 1,
) -> dict[str, float]:
    """``coverage_<L>`` (percent of the targets, every step of every window, inside
    ``[lo, hi]``) and ``width_<L>`` (mean ``hi - lo``, original units) per level, and
    :data:`POINTS`, the number of distinct test times the coverage was counted on: the windows
    (one per origin) plus the steps the last one reaches beyond them. Not every step of every
    window (a time is counted in up to ``horizon`` windows), nor the windows alone: with a
    horizon of 12 and 12 test times that is one window, and no coverage could be flagged.
    ``n_series``: the windows of that many series stacked, each reaching its own last steps."""
    y = np.asarray(true, dtype=np.float64)
    times = y.shape[0] + n_series * (y.shape[1] - 1) if y.ndim > 1 and y.shape[0] else y.size
    seen = np.isfinite(y)  # NaN: a target data.missing filled, not counted
    out: dict[str, float] = {POINTS: float(round(times * seen.mean())) if y.size else 0.0}
    for name, (lo, hi) in bounds_by_level.items():
        inside = (y >= lo) & (y <= hi)
        out[f"coverage_{name}"] = float(100.0 * np.mean(inside[seen])) if seen.any() else math.nan
        out[f"width_{name}"] = float(np.mean(hi - lo)) if y.size else math.nan
    return out


def is_interval_metric(name: str) -> bool:
    """Whether a test metric name is one of :func:`interval_metrics`' (not a point metric)."""
    return name.startswith(("coverage_", "width_")) or name == POINTS


def binomial_p(k: int, n: int, p: float) -> float:
    """Two-sided exact binomial test: the probability, with ``n`` draws of probability ``p``, of
    a count at most as likely as ``k`` (R's ``binom.test``)."""

    def log_pmf(i: int) -> float:
        if p in (0.0, 1.0):
            return 0.0 if i == round(n * p) else -math.inf
        comb = math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
        return comb + i * math.log(p) + (n - i) * math.log1p(-p)

    observed = log_pmf(k) + 1e-7  # relative tolerance, as R
    return min(1.0, sum(math.exp(v) for i in range(n + 1) if (v := log_pmf(i)) <= observed))


def coverage_flags(metrics: dict[str, float], points: float = FLAG_POINTS) -> list[str]:
    """One phrase per level whose coverage is more than ``points`` from nominal, e.g.
    ``80% interval covers 62.5%``, and (when :data:`POINTS` says on how many test times it was
    counted) further from it than that many times explain: a two-sided exact binomial test at
    :data:`FLAG_P` (8 of 8 inside an 80% interval happens 17% of the time: not flagged)."""
    flags = []
    n = int(metrics.get(POINTS, 0) or 0)
    for key, value in metrics.items():
        if not key.startswith("coverage_") or not math.isfinite(value):
            continue
        nominal = float(key.removeprefix("coverage_"))
        if abs(value - nominal) <= points:
            continue
        if n and binomial_p(round(value * n / 100), n, nominal / 100) >= FLAG_P:
            continue
        flags.append(f"{key.removeprefix('coverage_')}% interval covers {value:.1f}%")
    return flags


def summary_line(metrics: dict[str, float]) -> str | None:
    """``intervals: 80% covers 81.8% (mean width 45.2), 95% covers ...`` with a flag when a
    coverage is off nominal (:func:`coverage_flags`); None without interval metrics."""
    parts = [
        f"{key.removeprefix('coverage_')}% covers {value:.1f}%"
        f" (mean width {metrics.get('width_' + key.removeprefix('coverage_'), math.nan):.4g})"
        for key, value in metrics.items()
        if key.startswith("coverage_")
    ]
    if not parts:
        return None
    flags = coverage_flags(metrics)
    text = FLAG_TEXT if POINTS in metrics else f"more than {FLAG_POINTS:g} points off nominal"
    flag = f"  <- FLAG: {text}" if flags else ""
    return "intervals on test: " + ", ".join(parts) + flag

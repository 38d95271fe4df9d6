"""Prediction intervals by split conformal prediction, per horizon step (pure functions).

Calibration: the published forecast (the network trained on the train split, the combination
applied with classical partners fitted on train) scores the validation origins; for every horizon
step ``k`` the absolute residuals ``|y - yhat|`` give the half-width of the level-``L`` interval
as their finite-sample conformal quantile: the ``ceil((n + 1) L / 100)``-th smallest of the
``n`` residuals. Intervals are symmetric, ``yhat -+ q_k``, in original units.

When that rank exceeds ``n`` (too few validation origins for the level: ``n < L / (100 - L)``,
e.g. fewer than 19 for 95 %) the split conformal quantile is infinite; it is replaced by
``max(largest residual, z * RMS of the residuals)`` with ``z`` the two-sided normal quantile of
the level (a Gaussian tail fitted to the residuals, never narrower than any residual seen), and
the calibration records it as extrapolated so the caller can warn.

Every function takes plain residual arrays, so a caller may calibrate per series (or pool
scaled residuals) by calling them once per group.
"""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist
from typing import Any

import numpy as np

DEFAULT_LEVELS = (80.0, 95.0)
FLAG_POINTS = 10.0  # coverage further than this from nominal (percentage points) is flagged


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


def calibrate(pred: np.ndarray, true: np.ndarray, levels: list[float]) -> dict[str, Any]:
    """The interval spec (JSON) from forecasts ``pred`` and outcomes ``true`` (``[N, horizon]``,
    original units) on the calibration origins."""
    residuals = np.abs(np.asarray(true, dtype=np.float64) - np.asarray(pred, dtype=np.float64))
    quantiles, extrapolated = step_quantiles(residuals, levels)
    return {
        "method": "split_conformal_abs",
        "levels": [float(v) for v in levels],
        "quantiles": quantiles,
        "n_calibration": int(residuals.shape[0]),
        "extrapolated": extrapolated,
    }


def bounds(pred: np.ndarray, spec: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{level name: (lo, hi)}``, each ``[N, horizon]`` like ``pred``, from an interval spec of
    :func:`calibrate`."""
    pred = np.asarray(pred, dtype=np.float64)
    out = {}
    for level in spec["levels"]:
        name = level_name(level)
        q = np.asarray(spec["quantiles"][name], dtype=np.float64)[None, : pred.shape[1]]
        out[name] = (pred - q, pred + q)
    return out


def interval_columns(pred: np.ndarray, spec: dict[str, Any]) -> tuple[list[str], list[np.ndarray]]:
    """The pyfunc's interval columns, step by step and level by level: ``step_1_lo_80``,
    ``step_1_hi_80``, ``step_1_lo_95``, …, ``step_2_lo_80``, … and their values."""
    b = bounds(pred, spec)
    names: list[str] = []
    values: list[np.ndarray] = []
    for k in range(np.asarray(pred).shape[1]):
        for name, (lo, hi) in b.items():
            names += [f"step_{k + 1}_lo_{name}", f"step_{k + 1}_hi_{name}"]
            values += [lo[:, k], hi[:, k]]
    return names, values


def interval_metrics(
    true: np.ndarray, bounds_by_level: dict[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, float]:
    """``coverage_<L>`` (percent of the targets, every step of every window, inside
    ``[lo, hi]``) and ``width_<L>`` (mean ``hi - lo``, original units) per level."""
    y = np.asarray(true, dtype=np.float64)
    out: dict[str, float] = {}
    for name, (lo, hi) in bounds_by_level.items():
        inside = (y >= lo) & (y <= hi)
        out[f"coverage_{name}"] = float(100.0 * np.mean(inside)) if y.size else math.nan
        out[f"width_{name}"] = float(np.mean(hi - lo)) if y.size else math.nan
    return out


def is_interval_metric(name: str) -> bool:
    """Whether a test metric name is one of :func:`interval_metrics`' (not a point metric)."""
    return name.startswith(("coverage_", "width_"))


def coverage_flags(metrics: dict[str, float], points: float = FLAG_POINTS) -> list[str]:
    """One phrase per level whose coverage is more than ``points`` from nominal, e.g.
    ``80% interval covers 62.5%``."""
    flags = []
    for key, value in metrics.items():
        if not key.startswith("coverage_") or not math.isfinite(value):
            continue
        nominal = float(key.removeprefix("coverage_"))
        if abs(value - nominal) > points:
            flags.append(f"{key.removeprefix('coverage_')}% interval covers {value:.1f}%")
    return flags


def summary_line(metrics: dict[str, float]) -> str | None:
    """``intervals: 80% covers 81.8% (mean width 45.2), 95% covers ...`` with a flag when a
    coverage is more than :data:`FLAG_POINTS` from nominal; None without interval metrics."""
    parts = [
        f"{key.removeprefix('coverage_')}% covers {value:.1f}%"
        f" (mean width {metrics.get('width_' + key.removeprefix('coverage_'), math.nan):.4g})"
        for key, value in metrics.items()
        if key.startswith("coverage_")
    ]
    if not parts:
        return None
    flags = coverage_flags(metrics)
    flag = f"  <- FLAG: more than {FLAG_POINTS:g} points off nominal" if flags else ""
    return "intervals on test: " + ", ".join(parts) + flag

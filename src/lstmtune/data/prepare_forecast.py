"""Prepare a forecast series: order it on its time axis, split it by time, fill missing values
inside each split, and record scaler statistics (train only) and the season length.

The splits are contiguous segments of the series, split by *target* time step (see
:mod:`lstmtune.data.prepare`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.config import DataConfig
from lstmtune.data.columns import (
    configured_columns,
    feature_columns,
    fill_missing,
    input_dtypes,
    numeric_column,
    require_columns,
    scaler_stats,
    text_columns,
)
from lstmtune.data.period_stamps import mixed_ends
from lstmtune.data.splits import (
    MIN_HISTORY,
    MIN_TRAIN_WINDOWS,
    raised_splits,
    split_values,
    time_split_size,
)
from lstmtune.data.timeaxis import Placed, TimeAxisError, describe_gaps, place
from lstmtune.data.timegrid import grid_column, on_grid
from lstmtune.errors import UserError

Bounds = dict[str, tuple[int, int]]  # split name -> [start, end) on the (gap-free) series


def _acf(diff: np.ndarray, lag: int) -> float:
    """Autocorrelation of the differenced series at ``lag`` (-1 where it cannot be computed)."""
    if lag >= len(diff) - 2:
        return -1.0
    a, b = diff[:-lag] - diff.mean(), diff[lag:] - diff.mean()
    denom = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else -1.0


def _infer_period(values: np.ndarray, times: pd.Series | None) -> int:
    """Season length from the time column's spacing, confirmed by autocorrelation at that lag
    (of the differences above 0.1, or of the detrended values above :data:`DETRENDED_MIN`; a
    season above 24 only on two seasons of differences); else a scan of the
    differences' sample autocorrelation (:func:`_sample_acf`): of its peaks (:func:`_local_peak`)
    above 0.3 that also pass :func:`_acf_bound` and a Bonferroni bound over the lags tried
    (:func:`_scan_z`), the highest, or the shortest at a divisor of its lag that reaches
    :data:`SHORTER_PEAK_SHARE` of its height.

    The calendar's season needs little evidence: a season missed costs more than one too many
    (55 quarters of Danish money demand: AutoETS 0.0245 with season 4, 0.0302 without, and
    AutoARIMA/AutoETS drop a season the data does not support). A peak found by scanning
    needs more: on 20 yearly values a 4-year "season" of noise passed 0.3."""
    diff = np.diff(values)
    n = len(diff)
    calendar = _calendar_period(times)
    # weak evidence suffices; a long season needs two seasons of differences (noise of 60 weekly
    # values passed 0.1 at lag 52, from 7 pairs, 4 times in 10)
    long_season = calendar is not None and calendar > 24 and n < 2 * calendar
    if (
        calendar is not None
        and not long_season
        and (_acf(diff, calendar) > 0.1 or _detrended_acf(values, calendar) > DETRENDED_MIN)
    ):
        return calendar
    max_lag = min(n // 3, 400)
    acf = _sample_acf(diff, max_lag + 1)  # one lag more: a peak must come down after it
    z_scan = _scan_z(max_lag - 1)  # every lag from 2 on is a chance for noise to peak
    peaks = [
        lag
        for lag in range(2, max_lag + 1)
        if acf[lag] > 0.3
        and _local_peak(acf, lag)
        and acf[lag] > max(_acf_bound(acf, lag, n), z_scan / math.sqrt(n))
    ]
    if not peaks:
        return 1
    top = max(peaks, key=lambda lag: acf[lag])
    return min(lag for lag in peaks if top % lag == 0 and acf[lag] >= SHORTER_PEAK_SHARE * acf[top])


def _detrended_acf(values: np.ndarray, period: int) -> float:
    """Autocorrelation at ``period`` of the values less their centred moving average over one
    season (``2 x period`` for an even one: the trend of the classical decomposition), -1 where
    fewer than ``period + 3`` values are left. A smooth season is small beside the noise in the
    differences (a yearly sine of amplitude 10 in weekly values with noise 2: 0.08 there, 0.9
    here), while the trend is gone as well as by differencing."""
    weights = np.ones(period + 1 - period % 2)
    weights[[0, -1]] = 0.5 if period % 2 == 0 else 1.0
    if len(values) < len(weights) + period + 2:
        return -1.0
    trend = np.convolve(values, weights / period, mode="valid")
    half = (len(weights) - 1) // 2
    rest = values[half : len(values) - half] - trend
    left = float(((rest - rest.mean()) ** 2).sum())
    if left <= 1e-12 * float(((values - values.mean()) ** 2).sum()):  # a straight line: no season
        return -1.0
    return _sample_acf(rest, period)[period]


#: the calendar's season holds where :func:`_detrended_acf` passes this (on 200 synthetic series
#: each: a smooth season found 0.17 -> 0.80 of the time in 5 years of weekly values, 0.22 -> 1.00
#: in 30 days of hours, 0.79 -> 1.00 in 10 years of months; white noise, random walks and AR(1)
#: processes 0-2 points more often than by the differences alone)
DETRENDED_MIN = 0.3


def _sample_acf(diff: np.ndarray, max_lag: int) -> list[float]:
    """The sample autocorrelation of R's ``acf`` at lags 0..``max_lag``: sums over the ``n - lag``
    pairs divided by the whole series' sum of squares. It shrinks with the lag, so a season's
    multiples score below the season itself (a correlation of the overlapping parts, as the
    calendar's test uses, does not: it gave quarterly beer 48 and monthly CO2 108 read without
    dates), and it is the estimator Bartlett's bound is for."""
    d = diff - diff.mean()
    denom = float((d * d).sum())
    if denom <= 0:
        return [1.0] + [-1.0] * max_lag
    return [1.0] + [float((d[:-k] * d[k:]).sum() / denom) for k in range(1, max_lag + 1)]


def _local_peak(acf: list[float], lag: int) -> bool:
    """A season is a peak of the autocorrelation, higher than the lag before it and not lower
    than the one after (``acf`` holds it): on a smooth series (US population by decade) the
    differences are correlated at every lag, decaying, and lag 2 passed the bounds without being
    a peak."""
    return acf[lag] > acf[lag - 1] and acf[lag] >= acf[lag + 1]


def _calendar_period(times: pd.Series | None) -> int | None:
    """The season the time column's spacing suggests: 24 for hours (a day of any step that divides
    it, :func:`_steps_per_day`), 7 for days, 52 for weeks, 12 for months, 4 for quarters; for
    numbers, ``k`` when the step is ``1/k`` (R's decimal years and its ``ts`` frequency: ``1949 +
    i/12`` is monthly, ``1 + i/7`` daily with a week)."""
    if times is None or len(times) <= 2:
        return None
    step = times.diff().dropna().median()
    if pd.isna(step):
        return None
    if pd.api.types.is_numeric_dtype(times):
        per_unit = 1.0 / float(step) if 0 < float(step) < 1 else 0.0
        k = round(per_unit)
        return k if MIN_PER_UNIT <= k <= MAX_PER_UNIT and abs(per_unit - k) < 1e-6 * k else None
    days = step / pd.Timedelta(days=1)
    if 0.9 < step / pd.Timedelta(hours=1) < 1.1:
        return 24
    for lo, hi, period in ((0.9, 1.1, 7), (6.5, 7.5, 52), (27, 32, 12), (85, 95, 4)):
        if lo < days <= hi:
            return period
    return _steps_per_day(1.0 / days) if 0 < days < 1 else None


def _steps_per_day(per_day: float) -> int | None:
    """A step that divides a day into ``k`` equal parts (half-hours: 48, quarter-hours: 96, three
    hours: 8) suggests a daily season of ``k``, up to :data:`MAX_DAILY_STEPS`. Without it a few
    days of half-hourly solar generation got 49 from the scan, a peak of noise beside the day."""
    k = round(per_day)
    exact = abs(per_day - k) < 1e-6 * k
    return k if exact and MIN_PER_UNIT <= k <= MAX_DAILY_STEPS else None


#: the longest daily season the calendar suggests: quarter-hours (96); at five minutes (288) the
#: classical fits drop the season and no default lookback spans a day
MAX_DAILY_STEPS = 96

#: a numeric step of 1/k suggests a season of k within these bounds (below: halves and thirds of
#: a unit are rarely a calendar; above: no season the networks or the classical fits could use)
MIN_PER_UNIT, MAX_PER_UNIT = 4, 400

#: a peak at a divisor of the highest one's lag, at least this share of its height, is the season:
#: the season's multiples are peaks too, and noise lifts one of them above it now and then (on
#: 200 synthetic series each of seasons 4-52 and 60-400 values: the exact season 65-100 % of the
#: time against 49-100 % taking the highest peak; 0.8 gave a season's divisor more often)
SHORTER_PEAK_SHARE = 0.9

ACF_Z = 1.645  # a season's autocorrelation must pass the one-sided 95 % bound (Bartlett)


def _scan_z(lags: int) -> float:
    """The one-sided normal quantile of ``1 - 0.05 / lags`` (Bonferroni over the ``lags`` lags a
    scan tries; :data:`ACF_Z` for one)."""
    from statistics import NormalDist

    return max(ACF_Z, NormalDist().inv_cdf(1.0 - 0.05 / max(lags, 1)))


def _acf_bound(acf: list[float], lag: int, n: int) -> float:
    """How large the autocorrelation at ``lag`` of ``n`` differences must be to count as a season:
    :data:`ACF_Z` standard errors by Bartlett's formula, ``sqrt((1 + 2 * sum r_k^2, k < lag) /
    n)`` (the seasonality test of the Theta method and R's ``forecast``). Below the 0.3 floor
    on long series; it matters on short ones, where a peak of noise passes 0.3 (20 yearly values
    of the M1 competition: 9 of 20 got a season of 2 to 7 years without it)."""
    ssq = sum(r**2 for r in acf[1:lag] if r > -1.0)  # -1: a lag too long to compute
    return ACF_Z * math.sqrt((1.0 + 2.0 * ssq) / max(n, 1))


def place_times(values: pd.Series, cfg: DataConfig, source: str) -> Placed:
    """The time column on its grid (``data.freq`` or inferred); duplicated or irregular times, and
    missing periods unless ``data.missing`` fills them, are a :class:`UserError`."""
    column = str(cfg.time_column)
    try:
        placed = place(values, column, freq=cfg.freq, snap=cfg.freq is not None)
    except TimeAxisError as exc:  # month starts beside month ends: said so, not "irregular"
        mixed = mixed_ends(values, column) if cfg.freq is None else None
        raise UserError(f"{source}: {mixed or exc}") from None
    if placed.gaps and cfg.missing == "error":
        raise UserError(
            f"{source}: column '{column}' (data.time_column, frequency {placed.axis.freq}) has "
            f"missing periods: {describe_gaps(placed)}; set data.missing: ffill or interpolate "
            "to fill them, or data.freq if the frequency is wrong"
        )
    return placed


def time_axis_meta(placed: Placed, cfg: DataConfig) -> dict[str, Any]:
    """What metadata.json (and the published model's spec) records about the time axis."""
    filled = placed.n_missing
    return {
        **placed.axis.to_dict(),
        "freq_source": "data.freq" if cfg.freq is not None else "inferred",
        "gaps": len(placed.gaps),
        "filled_periods": filled,
        "fill": cfg.missing if filled else None,
        "first": placed.axis.label(placed.grid[0]),
        "last": placed.axis.label(placed.grid[-1]),
    }


@dataclass(frozen=True)
class _Ordered:
    """The input in time order."""

    frame: pd.DataFrame
    rows: np.ndarray  # each row's position in the input (for error messages)
    placed: Placed | None  # the time column on its grid (None: no time column)
    times: pd.Series | None  # the grid's times, dates or numbers (for the season length)


def _require_target(frame: pd.DataFrame, cfg: DataConfig, source: str) -> str:
    (target,) = configured_columns(frame, cfg, source, "forecast", ("target",))
    require_columns(
        frame, source, target=target, time_column=cfg.time_column, split_column=cfg.split_column
    )
    return target


def _order_by_time(frame: pd.DataFrame, cfg: DataConfig, source: str) -> _Ordered:
    rows = np.arange(len(frame))
    if cfg.time_column is None:
        if cfg.freq is not None:
            raise UserError(
                f"data.freq: {cfg.freq!r} needs data.time_column (the column it describes)"
            )
        return _Ordered(frame, rows, None, None)
    placed = place_times(frame[cfg.time_column], cfg, source)
    frame = frame.iloc[placed.order].reset_index(drop=True)
    datetime = placed.axis.kind == "datetime"
    times = pd.Series(pd.DatetimeIndex(placed.grid) if datetime else placed.grid)
    return _Ordered(frame, rows[placed.order], placed, times)


def _series_values(
    ordered: _Ordered, cfg: DataConfig, source: str, features: list[str]
) -> tuple[dict[str, np.ndarray], pd.Series | None, np.ndarray]:
    """Each feature's values, the split column's labels (if any) and the input row of each time
    step, on the time grid: a missing period is a missing value there (row -1) to be filled."""
    frame, rows, placed = ordered.frame, ordered.rows, ordered.placed
    numeric_cols = {c: numeric_column(frame, c, source, rows) for c in features}
    labels = (
        split_values(frame, cfg.split_column, source, rows)
        if cfg.split_column is not None
        else None
    )
    if placed is not None and placed.gaps:  # missing periods become missing values to fill
        numeric_cols = {c: on_grid(placed, arr, np.nan) for c, arr in numeric_cols.items()}
        if labels is not None:
            labels = pd.Series(on_grid(placed, labels.to_numpy(dtype=object), None)).ffill()
        rows = on_grid(placed, rows, -1)
    return numeric_cols, labels, rows


def _split_counts(
    labels: pd.Series | None, cfg: DataConfig, source: str, total: int
) -> tuple[int, int]:
    """Time steps in the val and test splits: from the split column, else from the sizes."""
    if labels is None:
        n_test = time_split_size(cfg.test_size, total, "test_size", cfg.horizon)
        return time_split_size(cfg.val_size, total, "val_size", cfg.horizon), n_test
    rank = labels.map({"train": 0, "val": 1, "test": 2}).to_numpy()
    if (np.diff(rank) < 0).any():
        raise UserError(
            f"{source}: column '{cfg.split_column}' (data.split_column) must be train, then "
            "val, then test in time order"
        )
    n_test = int((rank == 2).sum())
    n_val = int((rank == 1).sum())
    if n_val == 0:
        n_val = time_split_size(cfg.val_size, total - n_test, "val_size", cfg.horizon)
    return n_val, n_test


def _raised(labels: pd.Series | None, cfg: DataConfig, total: int, n_test: int) -> list[str]:
    """The splits whose share of the series was raised to ``data.horizon`` (a warning says)."""
    if labels is None:
        return raised_splits(
            {"test": (cfg.test_size, total), "val": (cfg.val_size, total)}, cfg.horizon
        )
    if (labels == "val").any():
        return []
    return raised_splits({"val": (cfg.val_size, total - n_test)}, cfg.horizon)


def _split_bounds(
    labels: pd.Series | None, cfg: DataConfig, source: str, total: int, windows: int | None
) -> Bounds:
    """Contiguous train, val and test segments, each long enough for ``data.horizon``; train feeds
    ``windows`` training windows of a lookback of 2, or (None: one series of many, which trains
    on the others' windows) holds that lookback, the first validation origin's history."""
    n_val, n_test = _split_counts(labels, cfg, source, total)
    n_train = total - n_val - n_test
    horizon = cfg.horizon
    for name, n in (("test_size", n_test), ("val_size", n_val)):
        if n < horizon:
            raise UserError(
                f"data.{name}: the {name.split('_')[0]} split has {n} time steps, fewer than "
                f"data.horizon={horizon}"
            )
    need = MIN_HISTORY if windows is None else horizon + windows + 1
    if n_train < need:
        raise UserError(
            f"{source}: series too short: {total} rows leave {n_train} for training after "
            f"val={n_val} and test={n_test}; need more than {need - 1} "
            f"(data.horizon={horizon}) plus the lookback"
        )
    return {
        "train": (0, n_train),
        "val": (n_train, n_train + n_val),
        "test": (n_train + n_val, total),
    }


def _fill_series(
    numeric_cols: dict[str, np.ndarray], bounds: Bounds, how: str, source: str, rows: np.ndarray
) -> pd.DataFrame:
    """Missing values filled after splitting: ffill only looks back, interpolation stays inside
    each split (no leakage); ``error`` refuses them."""
    filled: dict[str, np.ndarray] = {}
    for c, arr in numeric_cols.items():
        if how == "interpolate":
            filled[c] = np.concatenate(
                [
                    fill_missing(arr[a:b], c, source, "interpolate", rows[a:b])
                    for a, b in bounds.values()
                ]
            )
        else:
            filled[c] = fill_missing(arr, c, source, how, rows)
    return pd.DataFrame(filled)


def _scalers(
    train: pd.DataFrame, features: list[str], target: str, positive: bool
) -> dict[str, Any]:
    """Scaler statistics of the train split, plain and (for a positive target) with log target."""
    scalers: dict[str, Any] = {"none": scaler_stats(train, features)}
    if positive:
        logged = train[features].copy()
        logged[target] = np.log(logged[target])
        scalers["log"] = scaler_stats(logged, features)
    return scalers


def _forecast_meta(
    ordered: _Ordered,
    clean: pd.DataFrame,
    train: pd.DataFrame,
    features: list[str],
    target: str,
    bounds: Bounds,
    cfg: DataConfig,
) -> dict[str, Any]:
    target_values = clean[target].to_numpy()
    n_train = bounds["train"][1]
    times = ordered.times
    period = cfg.seasonal_period or _infer_period(
        target_values[:n_train], times.iloc[:n_train] if times is not None else None
    )
    positive = bool((target_values > 0).all())
    return {
        "task": "forecast",
        "columns": {
            "features": features,
            "target": target,
            "time_column": cfg.time_column,
            "dtypes": input_dtypes(ordered.frame, features),
            "missing": cfg.missing,  # the published model fills a served history alike
        },
        "target_index": features.index(target),
        "horizon": cfg.horizon,
        "seasonal_period": int(period),
        "target_positive": positive,
        "scaler": _scalers(train, features, target, positive),
        "splits": {name: {"start": a, "end": b, "rows": b - a} for name, (a, b) in bounds.items()},
        "n_rows": len(clean),
        "time_axis": None if ordered.placed is None else time_axis_meta(ordered.placed, cfg),
    }


def prepare_forecast(
    frame: pd.DataFrame,
    cfg: DataConfig,
    source: str,
    *,
    min_windows: int | None = MIN_TRAIN_WINDOWS,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The train, val and test segments and metadata.json; train feeds ``min_windows`` windows,
    or (None: one series of many, pooling the others' windows) holds :data:`MIN_HISTORY` steps."""
    target = _require_target(frame, cfg, source)
    ordered = _order_by_time(frame, cfg, source)
    exclude = {c for c in (cfg.time_column, cfg.split_column) if c}
    features = feature_columns(
        ordered.frame, cfg, exclude, source, frozenset({target}), ordered.rows
    )
    if target not in features:
        features = [target, *features]
    left_out = [] if cfg.feature_columns else text_columns(ordered.frame, exclude, features)
    numeric_cols, labels, rows = _series_values(ordered, cfg, source, features)
    bounds = _split_bounds(labels, cfg, source, len(rows), min_windows)
    unseen = np.flatnonzero(np.isnan(numeric_cols[target]))  # test rows filled: not scored
    clean = _fill_series(numeric_cols, bounds, cfg.missing, source, rows)
    placed = ordered.placed
    if placed is not None:
        clean.insert(0, placed.axis.column, grid_column(placed, ordered.frame[placed.axis.column]))
    parts = {name: clean.iloc[a:b].reset_index(drop=True) for name, (a, b) in bounds.items()}
    meta = _forecast_meta(ordered, clean, parts["train"], features, target, bounds, cfg)
    meta["filled_targets"] = [int(r) for r in unseen if r >= bounds["test"][0]]
    n_test = bounds["test"][1] - bounds["test"][0]
    meta["split_raised"] = _raised(labels, cfg, len(rows), n_test)
    meta["columns"]["left_out"] = left_out  # text columns: not inputs (the prepare line names them)
    return parts, meta

"""Turn prepared tables into model tensors, and model outputs back into original units.

The same code runs in training, in evaluation and inside the registered MLflow model, so the
serving path cannot drift from the training path. Everything a featurizer needs is a small
JSON-able dict (:meth:`ForecastFeaturizer.to_dict`), never a pickle.

Forecasting works on ``z = log(y)`` or ``y`` (``transform``), standardised with train-only
statistics. The network predicts a *correction to a naive anchor* for each horizon step:
``anchor="last"`` (persistence), ``"seasonal"`` (seasonal naive), ``"seasonal_trend"`` (seasonal
naive plus the last season-over-season change: the forecast of the seasonal-and-first differenced
random walk, ARIMA(0,1,0)(0,1,0)s, multiplicative on log values), ``"arima"`` / ``"ets"`` (the
forecast of AutoARIMA / AutoETS fitted on train — train+val for the final model — kept as a JSON
spec and run over the whole history given, from its first row: :mod:`lstmtune.classical`) or
``"none"``. With a zero-initialised head the untrained model equals its anchor's forecast, and
a trending series no longer asks the LSTM to extrapolate past the training range.
``window_norm`` subtracts each window's last row so the inputs are level-free.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.data.columns import fill_gaps
from lstmtune.data.sequence_ids import id_text, served_ids
from lstmtune.data.sequence_order import order_keys, sorted_rows
from lstmtune.errors import TrialInfeasible, UserError


@dataclass(frozen=True)
class ForecastFeaturizer:
    features: list[str]
    target: str
    target_index: int
    lookback: int
    horizon: int
    transform: str
    anchor: str
    window_norm: bool
    period: int
    mean: list[float]
    std: list[float]
    # anchor "arima" / "ets": the fitted classical model as a JSON spec (lstmtune.classical)
    classical: dict[str, Any] | None = None

    @classmethod
    def from_meta(cls, meta: dict[str, Any], params: dict[str, Any]) -> ForecastFeaturizer:
        transform = str(params.get("transform", "none"))
        anchor = str(params.get("anchor", "last"))
        lookback = int(params["lookback"])
        period = int(meta["seasonal_period"])
        if transform not in meta["scaler"]:
            raise TrialInfeasible(f"transform '{transform}' needs a strictly positive target")
        classical = None
        if anchor in CLASSICAL_ANCHORS:
            fitted = meta.get("classical") or {}
            classical = fitted.get(anchor)
            if not isinstance(classical, dict):
                raise TrialInfeasible(
                    f"anchor '{anchor}' has no fitted model on this series"
                    f" ({(meta.get('classical_failures') or {}).get(anchor, 'not fitted')})"
                )
        if not anchor_fits(anchor, lookback, period):
            raise TrialInfeasible(
                f"anchor '{anchor}' needs a season (period={period}) and lookback >= "
                f"{NAIVE_HISTORY[anchor](max(period, 2))}, "
                f"got lookback={lookback}"
            )
        stats = meta["scaler"][transform]
        return cls(
            features=list(meta["columns"]["features"]),
            target=str(meta["columns"]["target"]),
            target_index=int(meta["target_index"]),
            lookback=lookback,
            horizon=int(meta["horizon"]),
            transform=transform,
            anchor=anchor,
            window_norm=bool(params.get("window_norm", False)),
            period=period,
            mean=list(stats["mean"]),
            std=list(stats["std"]),
            classical=classical,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ForecastFeaturizer:
        return cls(**d)

    @property
    def n_features(self) -> int:
        return len(self.features)

    def scale(self, raw: np.ndarray) -> np.ndarray:
        z = raw.astype(np.float64, copy=True)
        if self.transform == "log":
            col = z[:, self.target_index]
            if (col <= 0).any():
                raise UserError(
                    f"column '{self.target}' must be > 0 for a model trained on log values"
                )
            z[:, self.target_index] = np.log(col)
        out: np.ndarray = (z - np.asarray(self.mean)) / np.asarray(self.std)
        return out

    def unscale_target(self, scaled: np.ndarray) -> np.ndarray:
        t = self.target_index
        z: np.ndarray = scaled * self.std[t] + self.mean[t]
        return np.exp(z) if self.transform == "log" else z

    def scale_target(self, raw: np.ndarray, floor: float = 0.0) -> np.ndarray:
        """Target values in original units to the scaled space (log values are floored at
        ``floor`` > 0, so a classical forecast at or below zero stays finite)."""
        t = self.target_index
        z = np.log(np.maximum(raw, floor)) if self.transform == "log" else raw
        out: np.ndarray = (z - self.mean[t]) / self.std[t]
        return out

    def classical_forecast(self, scaled: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """``[N, horizon]`` forecasts in original units of the classical model (anchor ``arima``
        or ``ets``) from the origins ``ends``, the history read from row 0 of ``scaled``."""
        from lstmtune.classical import spec_forecasts

        if self.classical is None:
            raise ValueError(f"anchor '{self.anchor}' has no classical model")
        raw = self.unscale_target(scaled[:, self.target_index].astype(np.float64))
        return spec_forecasts(self.classical, raw, ends, self.horizon, self.period)

    def windows(self, scaled: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inputs ``[N, lookback, F]`` and anchors ``[N, horizon]`` (scaled) for windows ending
        at ``ends``."""
        offsets = np.arange(-self.lookback + 1, 1)
        x = scaled[ends[:, None] + offsets[None, :]]
        if self.anchor == "none":
            anchor = np.zeros((len(ends), self.horizon))
        elif self.anchor in CLASSICAL_ANCHORS:
            raw = self.unscale_target(scaled[:, self.target_index].astype(np.float64))
            floor = float(np.min(raw)) / 10 if self.transform == "log" else 0.0
            anchor = self.scale_target(self.classical_forecast(scaled, ends), floor)
        else:
            anchor = naive_forecast(
                scaled[:, self.target_index], ends, self.anchor, self.horizon, self.period
            )
        if self.window_norm:
            x = x - x[:, -1:, :]
        return x.astype(np.float32), anchor.astype(np.float32)

    def targets(self, scaled: np.ndarray, ends: np.ndarray) -> np.ndarray:
        steps = np.arange(1, self.horizon + 1)
        out: np.ndarray = scaled[ends[:, None] + steps[None, :], self.target_index].astype(
            np.float32
        )
        return out

    def raw_targets(self, raw: np.ndarray, ends: np.ndarray) -> np.ndarray:
        steps = np.arange(1, self.horizon + 1)
        out: np.ndarray = raw[ends[:, None] + steps[None, :], self.target_index].astype(np.float64)
        return out

    def split_ends(self, start: int, end: int) -> np.ndarray:
        """Window end indices whose targets all lie in ``[start, end)``."""
        first = max(start - 1, self.lookback - 1)
        return np.arange(first, end - self.horizon)

    def history_ends(self, n_rows: int) -> np.ndarray:
        """Every complete window in a history of ``n_rows`` (serving: forecast after each)."""
        return np.arange(self.lookback - 1, n_rows)


# anchors that are a fitted classical model's forecast (read the whole history from row 0)
CLASSICAL_ANCHORS = ("arima", "ets")
# rows of history (ending at the forecast origin) each naive forecast reads, as a function of
# the period
NAIVE_HISTORY = {"seasonal": lambda period: period, "seasonal_trend": lambda period: period + 1}


def anchor_fits(kind: str, rows: int, period: int) -> bool:
    """Whether ``rows`` of history (a lookback, or an origin's row + 1) can feed the naive forecast
    ``kind`` (``last``/``none`` always can; the seasonal ones need a season and enough rows)."""
    return kind not in NAIVE_HISTORY or (period >= 2 and rows >= NAIVE_HISTORY[kind](period))


def naive_forecast(
    series: np.ndarray, ends: np.ndarray, kind: str, horizon: int, period: int = 1
) -> np.ndarray:
    """``[N, horizon]`` naive forecasts of a 1-D ``series`` from the origins ``ends``.

    ``last``: persistence. ``seasonal``: the value one season back (``k`` seasons for steps past
    the first season). ``seasonal_trend``: seasonal naive plus ``k`` times the last
    season-over-season change ``y[t] - y[t - period]`` — the forecast of ARIMA(0,1,0)(0,1,0)s, the
    differencing of the classic airline model. Every kind reads only ``y[t - period .. t]``."""
    steps = np.arange(1, horizon + 1)
    if kind == "last":
        return np.repeat(series[ends][:, None], horizon, axis=1)
    if kind not in NAIVE_HISTORY:
        raise ValueError(f"unknown naive forecast '{kind}'")
    if len(ends) and not anchor_fits(
        kind, int(ends.min()) + 1, period
    ):  # numpy would wrap a negative index silently
        raise ValueError(
            f"naive forecast '{kind}' needs {NAIVE_HISTORY[kind](period)} rows of history;"
            f" an origin is at row {int(ends.min())}"
        )
    seasons = np.ceil(steps / period).astype(int)
    out: np.ndarray = series[ends[:, None] + (steps - period * seasons)[None, :]]
    if kind == "seasonal_trend":
        out = out + seasons[None, :] * (series[ends] - series[ends - period])[:, None]
    return out


def forecast_series(parts: dict[str, pd.DataFrame], features: list[str]) -> np.ndarray:
    return np.concatenate(
        [parts[s][features].to_numpy(dtype=np.float64) for s in ("train", "val", "test")]
    )


def first_bad(bad: np.ndarray) -> tuple[int, int]:
    """``(row, column)`` of the first True cell of a 2-D mask (a value a message names)."""
    row, col = (int(v[0]) for v in np.nonzero(bad))
    return row, col


def input_values(
    frame: pd.DataFrame, columns: list[str], rows: np.ndarray | None = None
) -> np.ndarray:
    """The served ``frame[columns]`` as float64 ``[T, F]``, column by column: pandas' missing
    values (``pd.NA`` of a nullable ``Int64`` / ``Float64`` column or of an object column,
    ``None``) are NaN, filled or refused as a NaN is. A cell that is not a number (text, ``""``)
    is refused, naming its column and input row (``rows``: each row's 0-based position in the
    input; by default its position in ``frame``)."""
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, c in enumerate(columns):
        col = frame[c]
        try:
            out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            i = _first_not_number(col)
            if i is None:
                raise ValueError(f"input column '{c}' is not numeric ({exc})") from None
            row = i if rows is None else int(rows[i])
            raise ValueError(
                f"input column '{c}' has a value {col.iloc[i]!r} that is not a number at "
                f"input row {row + 1}"
            ) from None
    return out


def _first_not_number(col: pd.Series) -> int | None:
    """Position of the first cell of ``col`` that is neither a number nor missing."""
    for i, v in enumerate(col.to_numpy(dtype=object)):
        try:
            float(v)
        except (TypeError, ValueError):
            if not (pd.api.types.is_scalar(v) and pd.isna(v)):
                return i
    return None


def filled_history(raw: np.ndarray, policy: str, features: list[str], where: str) -> np.ndarray:
    """A served forecast history ``[T, F]`` with its missing values filled as the model's
    training data were (``data.missing``: ``ffill`` or ``interpolate``); a value left missing,
    or infinite (never filled), is refused, naming its column and ``where`` it is (e.g.
    ``input row 7``)."""
    infinite = np.isinf(raw)
    filling = policy in ("ffill", "interpolate")
    if filling and np.isnan(raw).any():
        raw = fill_gaps(pd.DataFrame(raw), policy).to_numpy(dtype=np.float64)
    bad = infinite | np.isnan(raw)
    if bad.any():
        row, col = first_bad(bad)
        if infinite[row, col]:  # the suffix below explains a *missing* value left so
            why = " (data.missing fills missing values, not infinite ones)" if filling else ""
            raise ValueError(
                f"input column '{features[col]}' has an infinite value {where} {row + 1}{why}"
            )
        fix = {
            "error": " (the model was trained with data.missing: error)",
            "ffill": " (nothing before it to carry forward)",
        }.get(policy, "")
        raise ValueError(
            f"input column '{features[col]}' has a missing or infinite value {where} {row + 1}{fix}"
        )
    return raw


def typed_labels(names: list[str], kind: str) -> list[Any]:
    """Class names typed as the training labels were (``kind``: see
    :func:`lstmtune.data.columns.label_kind`)."""
    if kind == "integer":
        return [int(n) for n in names]
    if kind == "float":
        return [float(n) for n in names]
    if kind == "bool":
        return [n == "True" for n in names]
    return list(names)


@dataclass(frozen=True)
class ClassifyFeaturizer:
    features: list[str]
    sequence_column: str
    time_column: str | None
    classes: list[str]
    mean: list[float]
    std: list[float]
    missing: str = "error"  # data.missing: a served sequence's gaps are filled as in training
    label_kind: str = "text"  # integer, float: served labels have the training labels' type

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> ClassifyFeaturizer:
        cols = meta["columns"]
        stats = meta["scaler"]["none"]
        return cls(
            features=list(cols["features"]),
            sequence_column=str(cols["sequence_column"]),
            time_column=cols.get("time_column"),
            classes=[str(c) for c in meta["classes"]],
            mean=list(stats["mean"]),
            std=list(stats["std"]),
            missing=str(cols.get("missing", "error")),
            label_kind=str(cols.get("label_kind", "text")),
        )

    def label_values(self, names: list[str]) -> list[Any]:
        """Class names as the training labels were typed (``-1`` for the class ``'-1'``)."""
        return typed_labels(names, self.label_kind)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassifyFeaturizer:
        return cls(**d)

    @property
    def n_features(self) -> int:
        return len(self.features)

    def sequences(self, frame: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Sequence ids (first-appearance order), padded ``[N, T, F]`` float32 and lengths
        ``[N]``. Each row needs an id (a missing one is refused, as in training); ids are read as
        text as training reads them (``5.0`` is ``5``: :mod:`lstmtune.data.sequence_ids`), and
        two that differ but read alike (``5`` and ``'5'``) are refused rather than joined into
        one sequence. A time repeated within a sequence is refused, as in training;
        messages name rows by their position in ``frame`` (input row 1 is the first)."""
        ids = served_ids(frame, self.sequence_column)
        values = input_values(frame, self.features)
        order = np.arange(len(frame))
        if self.time_column is not None and self.time_column in frame.columns:
            times = frame[self.time_column]
            codes = pd.factorize(ids)[0]
            keys, bad = order_keys(times, codes)
            if bad is not None:
                raise ValueError(
                    f"input column '{self.time_column}' has an order value "
                    f"{str(times.iloc[bad])!r} that is neither a number nor a date"
                )
            order, twice = sorted_rows(codes, keys)
            if twice is not None:
                a, b = twice
                raise ValueError(
                    f"sequence {ids.iloc[a]!r} has the time {str(times.iloc[a])!r} (input column "
                    f"'{self.time_column}') twice, at input rows {a + 1} and {b + 1}; each time "
                    "of a sequence may appear once"
                )
        ids = ids.iloc[order].reset_index(drop=True)
        raw = self._filled(pd.DataFrame(values[order], columns=self.features), ids)
        values = (raw - np.asarray(self.mean)) / np.asarray(self.std)
        codes, uniques = pd.factorize(ids)
        n = len(uniques)
        lengths = np.bincount(codes, minlength=n)
        padded = np.zeros((n, int(lengths.max()), len(self.features)), dtype=np.float32)
        pos = pd.Series(codes).groupby(codes).cumcount().to_numpy()
        padded[codes, pos] = values
        return [str(u) for u in uniques], padded, lengths.astype(np.int64)

    def _filled(self, raw: pd.DataFrame, ids: pd.Series) -> np.ndarray:
        """The channels with each sequence's gaps filled by ``data.missing`` (as in training);
        a value left missing is refused, naming its column and sequence."""
        if self.missing in ("ffill", "interpolate") and raw.isna().any(axis=None):
            how = self.missing
            raw = raw.groupby(ids.to_numpy(), sort=False).transform(fill_gaps, how)
        values: np.ndarray = raw.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row, col = first_bad(bad)
            fix = (
                ""
                if self.missing != "error"
                else " (the model was trained with data.missing: error)"
            )
            raise ValueError(
                f"input column '{self.features[col]}' has a missing or infinite value in "
                f"sequence {ids.iloc[row]!r}{fix}"
            )
        return values

    def label_ids(self, frame: pd.DataFrame, label_col: str) -> np.ndarray:
        per_seq = (
            frame.groupby(id_text(frame[self.sequence_column]), sort=False)[label_col]
            .first()
            .astype(str)
        )
        index = {c: i for i, c in enumerate(self.classes)}
        return np.asarray([index[v] for v in per_seq], dtype=np.int64)


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(math.sqrt(float(np.mean((pred - true) ** 2))))


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - true)))

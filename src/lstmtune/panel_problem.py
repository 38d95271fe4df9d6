"""One model for many series: the forecast problem of a panel (``data.series_column``).

Each series keeps its own :class:`~lstmtune.task_problems.ForecastProblem` (its scaler, anchors and
windows, fitted on its own train part); the panel stacks their windows, so batches mix series and
the loss is the mean squared error in each series' own scale. With ``series_embedding_dim`` > 0
every window also carries its series index, which the network turns into a learned embedding.
The validation objective is scale free: the mean over series of MASE (mean absolute error over
that series' in-sample seasonal-naive error on train, as in M4), so a series of large values does
not drown the others. A series whose train part has no such error (constant there) has no MASE:
it is left out of the means over series of MASE and sMAPE, wherever they are taken (objective,
combination weights, gate, registry comparison), rather than scaled by 1 in its own units (then it
decides the panel at x1000) or scored 0 by every method (constant throughout: it would pull every
mean down alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from lstmtune.model import LSTMNet
from lstmtune.training import ForecastProblem, TensorSet


@dataclass
class PanelTensorSet(TensorSet):
    """Stacked windows of many series; ``series[i]`` is the series index of window ``i``."""

    series: np.ndarray | None = None

    def to(self, device: torch.device) -> PanelTensorSet:
        moved = super().to(device)
        return PanelTensorSet(
            moved.x, moved.y, moved.anchor, moved.lengths, moved.raw_y, series=self.series
        )


def member_parts(parts: dict[str, pd.DataFrame], rows: dict[str, list[int]], column: str) -> Any:
    """One series' train/val/test frames out of the stacked parts."""
    return {
        split: parts[split].iloc[a:b].drop(columns=[column]).reset_index(drop=True)
        for split, (a, b) in rows.items()
    }


def mase_scale(series: np.ndarray, n_train: int, period: int) -> float:
    """In-sample mean absolute error of the seasonal naive forecast on the train part (lag 1 when
    there is no season or too little history); NaN when that error is zero (no scale: the series
    is left out of every mean over series, :func:`mean_mase`)."""
    lag = period if period >= 2 and n_train > 2 * period else 1
    train = series[:n_train]
    err = float(np.mean(np.abs(train[lag:] - train[:-lag]))) if n_train > lag else 0.0
    return err if err > 0 and np.isfinite(err) else float("nan")


def unscaled(ids: list[str], scales: np.ndarray) -> list[str]:
    """The series without a MASE scale (left out of the means over series)."""
    return [sid for sid, s in zip(ids, scales, strict=True) if not np.isfinite(s)]


def unscaled_warning(ids: list[str], n: int) -> str:
    """The one line naming the series left out of the means over series."""
    named = ", ".join(repr(s) for s in ids[:10]) + (
        f" and {len(ids) - 10} more" if len(ids) > 10 else ""
    )
    return (
        f"warning: {len(ids)} of {n} series constant on their train part (no in-sample error to"
        f" scale by) left out of the mean MASE and sMAPE (tuning objective, combination, gate):"
        f" {named}; their own errors are in panel.per_series"
    )


def _series_means(values: np.ndarray, series: np.ndarray, n: int, ok: np.ndarray) -> np.ndarray:
    """Each series' mean of ``values`` ``[N, horizon]`` over the cells ``ok`` (a target that is
    NaN was filled by ``data.missing``, not scored; a forecast that is not finite still counts);
    NaN for a series with none."""
    cells = np.repeat(series, values.shape[1])
    counts = np.bincount(cells, weights=ok.ravel().astype(float), minlength=n)
    sums = np.bincount(cells, weights=np.where(ok, values, 0.0).ravel(), minlength=n)
    sums[np.bincount(cells, weights=(ok & ~np.isfinite(values)).ravel(), minlength=n) > 0] = np.inf
    out = np.full(n, np.nan)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out


def mean_mase(pred: np.ndarray, true: np.ndarray, series: np.ndarray, scales: np.ndarray) -> float:
    """Mean over the series present of (MAE of that series / its scale); a series without a scale
    (NaN, :func:`mase_scale`) is left out, NaN when none is left."""
    ok = np.isfinite(true)
    means = _series_means(np.abs(pred - true), series, len(scales), ok) / scales
    return float(np.nanmean(means)) if not np.isnan(means).all() else float("nan")


def mean_smape(pred: np.ndarray, true: np.ndarray, series: np.ndarray, scales: np.ndarray) -> float:
    """Mean over series of sMAPE in percent (200 |e| / (|y| + |ŷ|), 0 where both are 0), over the
    same series as :func:`mean_mase` (those with a scale)."""
    n = len(scales)
    denom = np.abs(pred) + np.abs(true)
    ratio = np.divide(200 * np.abs(pred - true), denom, out=np.zeros_like(denom), where=denom > 0)
    ratio = np.where(np.isfinite(pred), ratio, np.inf)  # a forecast that is not a number
    means = _series_means(ratio, series, n, np.isfinite(true))
    means[~np.isfinite(scales)] = np.nan
    return float(np.nanmean(means)) if not np.isnan(means).all() else float("nan")


def with_index(x: torch.Tensor, index: int) -> torch.Tensor:
    """Windows ``[N, T, F]`` with a last channel holding the series index (read by the network's
    per-series embedding, ``series_embedding_dim``)."""
    return torch.cat([x, torch.full((*x.shape[:2], 1), float(index), dtype=x.dtype)], dim=2)


EPOCH_WINDOWS = 4096  # an epoch of a panel: this many windows, sampled afresh each time


class PanelForecastProblem(ForecastProblem):
    """The stacked forecast problem; ``featurizer`` is the reference series' (shapes only). An
    epoch visits at most :data:`EPOCH_WINDOWS` windows (a random sample over all series), so the
    cost of an epoch, and of a trial, stops growing with the number of series."""

    epoch_windows = EPOCH_WINDOWS

    def __init__(
        self, parts: dict[str, pd.DataFrame], meta: dict[str, Any], params: dict[str, Any]
    ) -> None:
        panel = meta["panel"]
        self.series_column = str(panel["series_column"])
        self.series_ids = [str(s) for s in panel["series"]]
        self.members = [
            ForecastProblem(
                member_parts(parts, panel["members"][sid]["rows"], self.series_column),
                panel["members"][sid]["meta"],
                params,
            )
            for sid in self.series_ids
        ]
        first = self.members[0]
        self.featurizer = first.featurizer
        self.splits = meta["splits"]
        embed = int(params.get("series_embedding_dim", 0)) > 0
        self.n_series = len(self.series_ids) if embed else 0
        self.n_features = first.n_features + (1 if embed else 0)  # + the series index channel
        self.n_outputs = first.n_outputs
        self.zero_head = first.zero_head
        self.scales = np.array(
            [
                mase_scale(
                    m.raw[:, m.featurizer.target_index],
                    int(m.splits["train"]["rows"]),
                    m.featurizer.period,
                )
                for m in self.members
            ]
        )
        if not np.isfinite(self.scales).any():
            from lstmtune.errors import UserError

            raise UserError(
                "every series is constant on its train part: the panel's MASE has no scale"
                " (give train more rows: data.val_size, data.test_size)"
            )

    def ends(self, *splits: str) -> np.ndarray:
        raise TypeError("a panel has no single time axis; use each member's ends()")

    def tensors(self, *splits: str) -> PanelTensorSet:
        sets = [m.tensors(*splits) for m in self.members]
        raw = [s.raw_y for s in sets]
        assert all(r is not None for r in raw)
        anchors = [s.anchor for s in sets if s.anchor is not None]
        xs = [with_index(s.x, i) if self.n_series else s.x for i, s in enumerate(sets)]
        return PanelTensorSet(
            torch.cat(xs),
            torch.cat([s.y for s in sets]),
            torch.cat(anchors) if len(anchors) == len(sets) else None,
            None,
            np.concatenate(raw),  # type: ignore[arg-type]
            series=np.concatenate([np.full(len(s), i) for i, s in enumerate(sets)]).astype(int),
        )

    def unscale(self, scaled: np.ndarray, series: np.ndarray) -> np.ndarray:
        """Scaled outputs to original units, each row with its own series' scaler."""
        out = np.empty_like(scaled, dtype=np.float64)
        for i, member in enumerate(self.members):
            rows = series == i
            if rows.any():
                out[rows] = member.featurizer.unscale_target(scaled[rows].astype(np.float64))
        return out

    def predict(self, model: LSTMNet, data: TensorSet) -> np.ndarray:
        """Forecasts in original units, ``[N, horizon]``, in the stacked order of ``data``."""
        assert isinstance(data, PanelTensorSet) and data.series is not None
        scaled = self.predict_scaled(model, data).cpu().numpy()
        return self.unscale(scaled, data.series)

    def objective_from_outputs(self, scaled: torch.Tensor, data: TensorSet) -> float:
        assert isinstance(data, PanelTensorSet) and data.series is not None
        assert data.raw_y is not None
        pred = self.unscale(scaled.cpu().numpy(), data.series)
        if not np.isfinite(pred).all():
            return float("inf")
        return mean_mase(pred, data.raw_y, data.series, self.scales)

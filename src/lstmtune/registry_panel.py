"""The registry's view of a model of many series: its input example, and any registered model's
mean test MASE on this panel (how a new version is compared with the champion)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lstmtune.evaluate import observed
from lstmtune.features import forecast_series
from lstmtune.panel_problem import mase_scale, mean_mase, member_parts

SPLITS = ("train", "val", "test")


def member_history(parts: dict[str, pd.DataFrame], meta: dict[str, Any], sid: str) -> pd.DataFrame:
    """One series' whole history (train, val, test) with the series column, as a consumer
    sends it."""
    panel = meta["panel"]
    rows = panel["members"][sid]["rows"]
    return pd.concat([parts[s].iloc[rows[s][0] : rows[s][1]] for s in SPLITS], ignore_index=True)


def panel_input_example(
    parts: dict[str, pd.DataFrame], meta: dict[str, Any], lookback: int
) -> pd.DataFrame:
    """The last ``lookback + 2`` rows of the first two series."""
    column = meta["panel"]["series_column"]
    time_col = (meta.get("time_axis") or {}).get("column")
    cols = [c for c in (column, time_col, *meta["columns"]["features"]) if c]
    frames = [
        member_history(parts, meta, sid)[cols].tail(lookback + 2)
        for sid in meta["panel"]["series"][:2]
    ]
    example = pd.concat(frames, ignore_index=True)
    for col, kind in meta["columns"].get("dtypes", {}).items():
        if kind == "integer":
            example[col] = example[col].round().astype("int64")
    return example


def _truth(raw: np.ndarray, ends: np.ndarray, horizon: int, target: int) -> np.ndarray:
    steps = np.arange(1, horizon + 1)
    out: np.ndarray = raw[ends[:, None] + steps[None, :], target]
    return out


def panel_score_on_test(
    predict: Any, parts: dict[str, pd.DataFrame], meta: dict[str, Any], lookback: int
) -> float:
    """Mean test MASE over the series of any model with the panel pyfunc contract (the values
    ``data.missing`` filled left out, as in the run's own evaluation)."""
    panel = meta["panel"]
    column = panel["series_column"]
    features = meta["columns"]["features"]
    target, horizon = int(meta["target_index"]), int(meta["horizon"])
    out = predict(pd.concat([member_history(parts, meta, s) for s in panel["series"]]))
    cols = [f"step_{h}" for h in range(1, horizon + 1)]
    preds, truths, index, scales = [], [], [], []
    for i, sid in enumerate(panel["series"]):
        member = panel["members"][sid]["meta"]
        raw = forecast_series(member_parts(parts, panel["members"][sid]["rows"], column), features)
        test = member["splits"]["test"]
        ends = np.arange(max(int(test["start"]) - 1, lookback - 1), int(test["end"]) - horizon)
        mine = out[(out[column].astype(str) == sid).to_numpy()][cols].to_numpy(dtype=np.float64)
        preds.append(mine[ends - (lookback - 1)])
        truths.append(
            observed(_truth(raw, ends, horizon, target), ends, member.get("filled_targets"))
        )
        index.append(np.full(len(ends), i))
        n_train = int(member["splits"]["train"]["rows"])
        scales.append(mase_scale(raw[:, target], n_train, int(member["seasonal_period"])))
    return mean_mase(
        np.concatenate(preds), np.concatenate(truths), np.concatenate(index), np.array(scales)
    )


def panel_summary(meta: dict[str, Any], evaluation: dict[str, Any]) -> dict[str, Any]:
    """summary.json's ``panel``: the series column, the series modelled and left out, and every
    series' test metrics."""
    panel = meta["panel"]
    return {
        "series_column": panel["series_column"],
        "n_series": len(panel["series"]),
        "dropped": panel["dropped"],
        "per_series": evaluation.get("per_series") or {},
    }

"""Many series: small multiples of the test forecasts of the best and the worst series (by test
MASE), each with its own axis, the first forecast step and the intervals when the model has them;
dates on the x-axis when the data had a time column (as in the single-series forecast plot; until
2026-12-04 the steps 0, 1, 2 … of the part shown).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.plots.figures import ACTUAL_COLOR, MODEL_COLOR, mpl
from lstmtune.plots.forecast import as_times

PER_END = 3  # series shown from each end of the MASE ranking


@dataclass
class SeriesView:
    sid: str
    mase: float | None  # None: constant on train, no scale
    actual: np.ndarray  # the last part of the history, test split included
    forecast: np.ndarray  # step-1 forecasts of the test targets (aligned to actual's tail)
    lo: np.ndarray | None
    hi: np.ndarray | None
    times: np.ndarray  # actual's x: its times (dates where the data had them), else its steps
    forecast_times: np.ndarray  # forecast's x: the times of the targets it forecasts


def _mase_key(mase: float | None) -> tuple[bool, float]:
    """Best MASE first; a series without one (constant on train, no scale) last."""
    return (mase is None, float(mase or 0.0))


def _mase_text(mase: float | None) -> str:
    return "no MASE: constant on train" if mase is None else f"MASE {mase:.3g}"


def pick_series(per_series: dict[str, dict[str, Any]], per_end: int = PER_END) -> list[str]:
    """The ``per_end`` best and ``per_end`` worst series by test MASE (each once)."""
    ranked = sorted(per_series, key=lambda s: _mase_key(per_series[s].get("mase")))
    picked = ranked[:per_end] + ranked[max(per_end, len(ranked) - per_end) :]
    return list(dict.fromkeys(picked))


def series_view(
    predictor: Any, parts: Any, meta: dict[str, Any], sid: str, mase: float | None
) -> Any:
    """What one small multiple shows: the series' history, its test forecasts and bands."""
    from lstmtune.registry_panel import member_history

    history = member_history(parts, meta, sid)  # indexed 0 … n-1: the answer's labels are rows
    n_test = int(meta["panel"]["members"][sid]["meta"]["splits"]["test"]["rows"])
    out = predictor.predict(history)
    target = meta["columns"]["target"]
    test_pred = out.iloc[-n_test - 1 : -1]  # forecasts made at the origins before each target
    band = "step_1_lo_80" in out.columns
    times = history_times(history, meta)
    shown = slice(max(0, len(history) - 4 * n_test), None)
    return SeriesView(
        sid,
        mase,
        history[target].to_numpy(dtype=np.float64)[shown],
        test_pred["step_1"].to_numpy(),
        test_pred["step_1_lo_80"].to_numpy() if band else None,
        test_pred["step_1_hi_80"].to_numpy() if band else None,
        times[shown],
        times[test_pred.index.to_numpy() + 1],  # each origin's next period: the step-1 target
    )


def history_times(history: pd.DataFrame, meta: dict[str, Any]) -> np.ndarray:
    """The x of a series' rows: its times as dates (numbers stay numbers, as
    :func:`~lstmtune.plots.forecast.as_times` reads them), else its row steps."""
    column = (meta.get("time_axis") or {}).get("column") or meta["columns"].get("time_column")
    if column and column in history.columns:
        return as_times(history[column])
    return np.arange(len(history))


def _panel_mpl(views: list[SeriesView]) -> Any:
    plt = mpl()
    cols = 3
    rows = (len(views) + cols - 1) // cols
    mfig, axes = plt.subplots(rows, cols, figsize=(12, 3.2 * rows), squeeze=False)
    for ax, v in zip(axes.flat, views, strict=False):
        x, xt = v.times, v.forecast_times
        if v.lo is not None and v.hi is not None:
            ax.fill_between(xt, v.lo, v.hi, color=MODEL_COLOR, alpha=0.15, lw=0)
        ax.plot(x, v.actual, color=ACTUAL_COLOR, lw=1.2)
        ax.plot(xt, v.forecast, color=MODEL_COLOR, lw=2)
        ax.set_title(f"{v.sid}  ({_mase_text(v.mase)})", fontsize=9)
        ax.tick_params(axis="x", labelsize=7, labelrotation=30)  # dates need the room
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(views) :]:
        ax.axis("off")
    mfig.tight_layout()
    return mfig


def _panel_plotly(views: list[SeriesView]) -> Any:
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    cols = 3
    rows = (len(views) + cols - 1) // cols
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=[f"{v.sid} ({_mase_text(v.mase)})" for v in views]
    )
    for i, v in enumerate(views):
        r, c = i // cols + 1, i % cols + 1
        x, xt = v.times, v.forecast_times
        fig.add_scatter(
            x=x,
            y=v.actual,
            line={"color": ACTUAL_COLOR},
            name="actual",
            row=r,
            col=c,
            showlegend=i == 0,
        )
        fig.add_scatter(
            x=xt,
            y=v.forecast,
            line={"color": MODEL_COLOR, "width": 3},
            name="forecast",
            row=r,
            col=c,
            showlegend=i == 0,
        )
        if v.lo is not None and v.hi is not None:
            fig.add_scatter(x=xt, y=v.hi, line={"width": 0}, showlegend=False, row=r, col=c)
            fig.add_scatter(
                x=xt,
                y=v.lo,
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(214,39,40,0.15)",
                name="80% interval",
                row=r,
                col=c,
                showlegend=i == 0,
            )
    fig.update_layout(height=300 * rows, template="plotly_white", margin={"t": 40})
    return fig


def panel_figures(prepared_dir: str | Path, model_dir: str | Path) -> tuple[Any, Any, str]:
    """The small multiples (plotly, matplotlib) and a caption note."""
    from lstmtune.data.prepare import read_prepared
    from lstmtune.serving import Predictor

    parts, meta = read_prepared(str(prepared_dir))
    evaluation = json.loads((Path(model_dir) / "evaluation.json").read_text())
    per_series = evaluation.get("per_series") or {}
    predictor = Predictor.load(model_dir)
    views = [
        series_view(predictor, parts, meta, sid, per_series[sid].get("mase"))
        for sid in pick_series(per_series)
    ]
    n = len(per_series)
    note = f"{len(views)} of {n} series: the {PER_END} best and the {PER_END} worst by test MASE"
    return _panel_plotly(views), _panel_mpl(views), note

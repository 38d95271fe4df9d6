"""Forecast plots: the final model's one-step-ahead forecasts on the test split beside the
naive and classical baselines, computed through the serving predictor on raw history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.plots.catalog import SkipPlot
from lstmtune.plots.figures import ACTUAL_COLOR, BASELINE_COLORS, MODEL_COLOR, mpl


def forecast_test_frame(prepared_dir: str | Path, model_dir: str | Path) -> pd.DataFrame:
    """The final model's step-1 forecasts on the test split, computed through the serving
    :class:`~lstmtune.serving.Predictor` on raw history, with the naive baselines beside them.

    Columns: ``time`` (the time column's value, else the row index), ``actual``, ``model``,
    ``persistence``, with a season ``seasonal_naive_<period>``, and the classical baselines the
    evaluation fitted (``auto_arima``, ``auto_ets``); the model's step-1 prediction intervals as
    ``lo_<L>`` / ``hi_<L>`` when it has them; one row per test target."""
    from lstmtune.data.prepare import read_prepared
    from lstmtune.features import ForecastFeaturizer, anchor_fits, forecast_series, naive_forecast
    from lstmtune.forecast_members import history_rows
    from lstmtune.serving import Predictor

    parts, meta = read_prepared(str(prepared_dir))
    predictor = Predictor.load(model_dir)
    f = predictor.featurizer
    if not isinstance(f, ForecastFeaturizer):
        raise SkipPlot("not a forecasting model")
    raw = forecast_series(parts, f.features)
    test = meta["splits"]["test"]
    ends = f.split_ends(int(test["start"]), int(test["end"]))
    served = predictor.predict(pd.DataFrame(raw, columns=f.features))
    rows = ends - (history_rows(predictor.spec) - 1)  # served rows start at the longest lookback
    t = f.target_index
    target_at = ends + 1
    out = pd.DataFrame(
        {
            "time": series_times(parts, meta)[target_at],
            "actual": raw[target_at, t],
            "model": served["step_1"].to_numpy(dtype=np.float64)[rows],
            "persistence": raw[ends, t],
        }
    )
    for col in served.columns:  # step 1's prediction intervals
        if str(col).startswith(("step_1_lo_", "step_1_hi_")):
            out[str(col).removeprefix("step_1_")] = served[col].to_numpy(dtype=np.float64)[rows]
    if len(ends) and anchor_fits("seasonal", int(ends.min()) + 1, f.period):
        out[f"seasonal_naive_{f.period}"] = naive_forecast(
            raw[:, t], ends, "seasonal", 1, f.period
        )[:, 0]
    evaluation = Path(model_dir) / "evaluation.json"
    if evaluation.is_file():  # the classical baselines' test forecasts, saved by the evaluation
        saved = json.loads(evaluation.read_text()).get("baseline_forecasts") or {}
        for name, values in saved.items():
            if len(values) == len(out):
                out[name] = np.asarray(values, dtype=np.float64)[:, 0]
    return out


def series_times(parts: dict[str, pd.DataFrame], meta: dict[str, Any]) -> np.ndarray:
    col = meta["columns"].get("time_column")
    frames = [parts[s] for s in ("train", "val", "test")]
    if col and all(col in p.columns for p in frames):
        return as_times(pd.concat([p[col] for p in frames], ignore_index=True))
    return np.arange(sum(len(p) for p in frames))


def as_times(values: pd.Series) -> np.ndarray:
    """A time column as a plot's x: text read as dates where every value is one, numbers and
    dates as they are, periods as the times they start at."""
    if isinstance(values.dtype, pd.PeriodDtype):
        return np.asarray(values.dt.to_timestamp())
    if pd.api.types.is_numeric_dtype(values):
        return np.asarray(values)
    as_time = pd.to_datetime(values, errors="coerce")
    return np.asarray(values if pd.isna(as_time).any() else as_time)


@dataclass
class _ForecastView:
    """What both forecast figures show: the actual series from some context before the test
    split on, and the test-split forecasts with their RMSE."""

    frame: pd.DataFrame  # forecast_test_frame
    target: str
    raw: np.ndarray  # the target over the whole series
    times: np.ndarray
    test_start: int
    context_from: int
    baselines: list[str]
    bands: list[str]  # interval levels, widest first (``lo_<L>`` / ``hi_<L>`` in the frame)

    def rmse(self, col: str) -> float:
        return float(np.sqrt(np.mean((self.frame[col] - self.frame["actual"]) ** 2)))


def _forecast_view(prepared_dir: str | Path, model_dir: str | Path) -> tuple[_ForecastView, Any]:
    from lstmtune.data.prepare import read_prepared
    from lstmtune.features import forecast_series
    from lstmtune.serving import Predictor

    frame = forecast_test_frame(prepared_dir, model_dir)
    parts, meta = read_prepared(str(prepared_dir))
    f = Predictor.load(model_dir).featurizer
    test_start = int(meta["splits"]["test"]["start"])
    view = _ForecastView(
        frame=frame,
        target=str(meta["columns"]["target"]),
        raw=forecast_series(parts, meta["columns"]["features"])[:, int(meta["target_index"])],
        times=series_times(parts, meta),
        test_start=test_start,
        context_from=max(0, test_start - 3 * max(len(frame), getattr(f, "lookback", 1))),
        baselines=[
            c
            for c in frame.columns
            if c not in ("time", "actual", "model") and not c.startswith(("lo_", "hi_"))
        ],
        bands=sorted(
            (c.removeprefix("lo_") for c in frame.columns if c.startswith("lo_")),
            key=float,
            reverse=True,
        ),
    )
    return view, meta


def _forecast_plotly(v: _ForecastView, time_title: str) -> Any:
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    fig = go.Figure()
    for i, level in enumerate(v.bands):  # the intervals under everything else
        for side in ("hi", "lo"):
            fig.add_trace(
                go.Scatter(
                    x=v.frame["time"],
                    y=v.frame[f"{side}_{level}"],
                    name=f"{level}% interval",
                    mode="lines",
                    line={"width": 0},
                    fill="tonexty" if side == "lo" else None,
                    fillcolor=f"rgba(214, 39, 40, {0.12 + 0.1 * i})",  # MODEL_COLOR
                    showlegend=side == "lo",
                    legendgroup=f"band{level}",
                )
            )
    fig.add_trace(
        go.Scatter(
            x=v.times[v.context_from :],
            y=v.raw[v.context_from :],
            name=f"actual {v.target}",
            mode="lines+markers",
            line={"color": ACTUAL_COLOR, "width": 1.5},
            marker_size=4,
        )
    )
    for i, b in enumerate(v.baselines):
        fig.add_trace(
            go.Scatter(
                x=v.frame["time"],
                y=v.frame[b],
                name=f"{b} (RMSE {v.rmse(b):.4g})",
                mode="lines",
                line={
                    "color": BASELINE_COLORS[i % len(BASELINE_COLORS)],
                    "dash": "dash",
                    "width": 1.3,
                },
            )
        )
    fig.add_trace(
        go.Scatter(
            x=v.frame["time"],
            y=v.frame["model"],
            name=f"lstmtune model (RMSE {v.rmse('model'):.4g})",
            mode="lines+markers",
            line={"color": MODEL_COLOR, "width": 2.5},
            marker_size=5,
        )
    )
    fig.add_vrect(
        x0=v.times[v.test_start],
        x1=v.times[-1],
        fillcolor="#ffe9a8",
        opacity=0.35,
        line_width=0,
        annotation_text="test",
        annotation_position="top left",
    )
    fig.update_layout(
        title=f"{v.target}: one-step-ahead forecast on the test split",
        xaxis_title=time_title,
        yaxis_title=v.target,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def _forecast_mpl(v: _ForecastView) -> Any:
    plt = mpl()
    mfig, ax = plt.subplots(figsize=(10, 4.8))
    ax.axvspan(
        v.times[v.test_start], v.times[-1], color="#ffe9a8", alpha=0.5, lw=0, label="test split"
    )
    for i, level in enumerate(v.bands):
        ax.fill_between(
            v.frame["time"],
            v.frame[f"lo_{level}"],
            v.frame[f"hi_{level}"],
            color=MODEL_COLOR,
            alpha=0.12 + 0.1 * i,
            lw=0,
            label=f"{level}% interval",
        )
    ax.plot(
        v.times[v.context_from :],
        v.raw[v.context_from :],
        color=ACTUAL_COLOR,
        lw=1.5,
        marker="o",
        ms=2.5,
        label=f"actual {v.target}",
    )
    for i, b in enumerate(v.baselines):
        ax.plot(
            v.frame["time"],
            v.frame[b],
            color=BASELINE_COLORS[i % len(BASELINE_COLORS)],
            ls="--",
            lw=1.3,
            label=f"{b} (RMSE {v.rmse(b):.4g})",
        )
    ax.plot(
        v.frame["time"],
        v.frame["model"],
        color=MODEL_COLOR,
        lw=2.5,
        marker="o",
        ms=3,
        label=f"lstmtune model (RMSE {v.rmse('model'):.4g})",
    )
    ax.set_title(f"{v.target}: one-step-ahead forecast on the test split")
    ax.set_ylabel(v.target)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    mfig.autofmt_xdate()
    return mfig


def forecast_figures(prepared_dir: str | Path, model_dir: str | Path) -> tuple[Any, Any, str]:
    view, meta = _forecast_view(prepared_dir, model_dir)
    fig = _forecast_plotly(view, str(meta["columns"].get("time_column") or "step"))
    mfig = _forecast_mpl(view)
    note = (
        f"horizon {meta['horizon']}: the first forecast step is shown"
        if int(meta["horizon"]) > 1
        else ""
    )
    return fig, mfig, note

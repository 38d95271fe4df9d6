"""Plots of a finished run: the Optuna study and the final model.

Every plot is written twice: a PNG (matplotlib, Agg backend; what MLflow previews and the report
inlines) and an interactive HTML page (plotly). Nothing needs the network: per-plot HTML pages
load ``plotly.min.js`` from their own directory (``plotlyjs="directory"``, the default) or embed
it (``plotlyjs="inline"``); :mod:`lstmtune.report` embeds it once in a single page.

A plot that cannot be drawn (too few trials, a missing file, a bug) is logged and skipped:
plotting never fails a run. :func:`render_plots` also says *why* a plot was skipped, so the
report can show it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("lstmtune")

PlotFiles = dict[str, dict[str, str]]

#: plot name -> (title, one-line description); the order is the report's order
PLOTS: dict[str, tuple[str, str]] = {
    "forecast": (
        "Forecast vs. actual on the test split",
        "One-step-ahead forecasts of the final model and the naive baselines against the actual series.",
    ),
    "confusion_matrix": (
        "Confusion matrix on the test split",
        "Rows: true class; columns: predicted class (count and share of the row).",
    ),
    "training_curve": (
        "Training curve",
        "Retrain loss per epoch and the best trial's validation objective during tuning.",
    ),
    "optimization_history": (
        "Optimisation history",
        "Objective of every completed trial and the best value so far.",
    ),
    "intermediate_values": (
        "Learning curves of the trials",
        "Validation objective per epoch; pruned trials dashed, the best trial bold.",
    ),
    "param_importances": (
        "Hyperparameter importances",
        "fANOVA importance of each searched hyperparameter for the objective.",
    ),
    "parallel_coordinate": (
        "Parallel coordinates",
        "Each line is a completed trial; colour is the objective (darker is better).",
    ),
    "slice": (
        "Objective vs. the most important parameters",
        "Objective of each completed trial against the two most important parameters.",
    ),
    "contour": (
        "Contour of the two most important parameters",
        "Objective interpolated over the two most important parameters.",
    ),
    "pareto_front": (
        "Pareto front",
        "Multi-objective study: every trial by its objectives; the front is highlighted.",
    ),
}

MODEL_COLOR = "#d62728"
ACTUAL_COLOR = "#222222"
BASELINE_COLORS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b"]
PRUNED_COLOR = "#9e9e9e"
COMPLETE_COLOR = "#1f77b4"
BEST_COLOR = "#d62728"


@dataclass
class RenderedPlot:
    name: str
    title: str
    description: str
    png: str | None = None
    html: str | None = None
    figure: Any = None  # the plotly figure (for the report), or None
    note: str = ""  # a caption line (e.g. which curve is shown)


@dataclass
class PlotSet:
    plots: list[RenderedPlot] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> reason

    def files(self) -> PlotFiles:
        return {
            p.name: {k: v for k, v in (("png", p.png), ("html", p.html)) if v} for p in self.plots
        }


class SkipPlot(Exception):
    """This plot does not apply to the run (reason in the message); not an error."""


# --------------------------------------------------------------------------- study helpers


def _complete(study: Any) -> list[Any]:
    import optuna

    return list(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _searched_params(study: Any) -> list[str]:
    """Parameters that actually vary across completed trials (fixed values are not searched)."""
    values: dict[str, set[str]] = {}
    for t in _complete(study):
        for k, v in t.params.items():
            values.setdefault(k, set()).add(repr(v))
    return sorted(k for k, v in values.items() if len(v) > 1)


def param_importances(study: Any) -> dict[str, float]:
    """fANOVA importances (seeded, so PNG and HTML agree), most important first.

    Raises :class:`SkipPlot` with fewer than 2 completed trials or nothing searched; a single
    searched parameter gets importance 1.0 without fitting anything."""
    import optuna

    complete = _complete(study)
    if len(complete) < 2:
        raise SkipPlot(f"needs at least 2 completed trials (the study has {len(complete)})")
    searched = _searched_params(study)
    if not searched:
        raise SkipPlot("no hyperparameter varies across the completed trials")
    if len(searched) == 1:
        return {searched[0]: 1.0}
    key = (
        id(study),
        len(complete),
    )  # four plots ask; fitting fANOVA once per study state is enough
    if key in _IMPORTANCES:
        return dict(_IMPORTANCES[key])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        imp = optuna.importance.get_param_importances(study, evaluator=evaluator, params=searched)
    result = {str(k): float(v) for k, v in sorted(imp.items(), key=lambda kv: -kv[1])}
    _IMPORTANCES.clear()
    _IMPORTANCES[key] = result
    return dict(result)


_IMPORTANCES: dict[tuple[int, int], dict[str, float]] = {}


def top_params(study: Any, k: int = 2) -> list[str]:
    try:
        ranked = list(param_importances(study))
    except Exception:
        ranked = _searched_params(study)
    return ranked[:k]


# --------------------------------------------------------------------------- figure makers
# each returns (plotly figure, matplotlib figure, note)


def _mpl() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def _mpl_style() -> Iterator[None]:
    """A clean style for one figure; optuna's matplotlib plots switch the global style to ggplot,
    and the context restores it afterwards."""
    import matplotlib

    plt = _mpl()
    with matplotlib.rc_context():
        plt.style.use("default")
        matplotlib.rcParams.update(
            {"axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100}
        )
        yield


def _mpl_from_axes(ax: Any) -> Any:
    import numpy as _np

    if isinstance(ax, _np.ndarray):
        ax = ax.flat[0]
    return ax.figure


def first_objective_view(study: Any) -> Any:
    """An in-memory single-objective copy (first objective = validation) of a multi-objective
    study, so the per-objective plots apply unchanged."""
    import optuna

    view = optuna.create_study(direction="minimize")
    for t in study.get_trials(deepcopy=False):
        values = t.values
        view.add_trial(
            optuna.trial.create_trial(
                params=t.params,
                distributions=t.distributions,
                value=values[0] if values else None,
                intermediate_values=t.intermediate_values,
                user_attrs=t.user_attrs,
                state=t.state,
            )
        )
    return view


def _pareto(study: Any, objective: str) -> tuple[Any, Any, str]:
    import optuna.visualization as ov

    complete = [t for t in study.get_trials(deepcopy=False) if t.values]
    if len(complete) < 2:
        raise SkipPlot("fewer than two completed trials")
    names = list(study.user_attrs.get("objectives") or [])
    if len(names) != len(study.directions):
        names = [objective] + [f"objective {i + 1}" for i in range(1, len(study.directions))]
    fig = (
        ov.plot_pareto_front(study, target_names=names[:3]) if len(study.directions) <= 3 else None
    )
    if fig is None:
        raise SkipPlot("more than three objectives")
    plt = _mpl()
    front = {t.number for t in study.best_trials}
    mfig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [t.values[0] for t in complete]
    ys = [t.values[1] for t in complete]
    colors = [MODEL_COLOR if t.number in front else PRUNED_COLOR for t in complete]
    ax.scatter(xs, ys, c=colors)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title("Pareto front (red) of the multi-objective study")
    return fig, mfig, ""


def _history(study: Any, objective: str) -> tuple[Any, Any, str]:
    import optuna.visualization as ov
    import optuna.visualization.matplotlib as om

    if not _complete(study):
        raise SkipPlot("no completed trial")
    fig = ov.plot_optimization_history(study, target_name=objective)
    return fig, _mpl_from_axes(om.plot_optimization_history(study, target_name=objective)), ""


def _importances(study: Any, objective: str) -> tuple[Any, Any, str]:
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    imp = param_importances(study)
    names = list(reversed(list(imp)))
    values = [imp[n] for n in names]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            marker_color=COMPLETE_COLOR,
            text=[f"{v:.2f}" for v in values],
            textposition="outside",
        )
    )
    fig.update_layout(
        title=f"Hyperparameter importances for {objective}",
        xaxis_title="importance (fANOVA)",
        xaxis_range=[0, max(values) * 1.15 + 1e-9],
        height=max(320, 60 + 32 * len(names)),
    )
    plt = _mpl()
    mfig, ax = plt.subplots(figsize=(7, max(3.0, 0.9 + 0.4 * len(names))))
    ax.barh(names, values, color=COMPLETE_COLOR)
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.2f}", va="center")
    ax.set_xlim(0, max(values) * 1.18 + 1e-9)
    ax.set_xlabel("importance (fANOVA)")
    ax.set_title(f"Hyperparameter importances for {objective}")
    note = (
        "Only one hyperparameter is searched; it explains all variation by definition."
        if len(names) == 1
        else ""
    )
    return fig, mfig, note


def _parallel(study: Any, objective: str) -> tuple[Any, Any, str]:
    import optuna.visualization as ov
    import optuna.visualization.matplotlib as om

    if not _complete(study):
        raise SkipPlot("no completed trial")
    params = top_params(study, 8)
    if not params:
        raise SkipPlot("no hyperparameter varies across the completed trials")
    fig = ov.plot_parallel_coordinate(study, params=params, target_name=objective)
    return (
        fig,
        _mpl_from_axes(om.plot_parallel_coordinate(study, params=params, target_name=objective)),
        "",
    )


def _intermediate(study: Any, objective: str) -> tuple[Any, Any, str]:
    import optuna
    import plotly.graph_objects as go

    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    if not trials:
        raise SkipPlot("no trial reported intermediate values")
    best = None
    with contextlib.suppress(ValueError):
        best = study.best_trial.number
    style = {
        optuna.trial.TrialState.COMPLETE: ("complete", COMPLETE_COLOR, "solid", 0.7),
        optuna.trial.TrialState.PRUNED: ("pruned", PRUNED_COLOR, "dash", 0.6),
    }
    fig = go.Figure()
    plt = _mpl()
    mfig, ax = plt.subplots(figsize=(8, 4.5))
    shown: set[str] = set()
    ordered = sorted(trials, key=lambda t: (t.number == best, t.number))  # best drawn last, on top
    for t in ordered:
        steps = sorted(t.intermediate_values)
        vals = [t.intermediate_values[s] for s in steps]
        label, color, dash, alpha = style.get(
            t.state, (t.state.name.lower(), "#ff7f0e", "dot", 0.6)
        )
        width = 1.3
        if t.number == best:
            label, color, dash, alpha, width = (
                f"best (trial {t.number})",
                BEST_COLOR,
                "solid",
                1.0,
                3.0,
            )
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=vals,
                mode="lines+markers",
                name=label,
                legendgroup=label,
                showlegend=label not in shown,
                opacity=alpha,
                marker_size=3,
                line={"color": color, "dash": dash, "width": width},
                hovertemplate=f"trial {t.number} ({t.state.name.lower()})<br>epoch %{{x}}<br>{objective} %{{y:.4g}}<extra></extra>",
            )
        )
        ax.plot(
            steps,
            vals,
            color=color,
            alpha=alpha,
            linewidth=width,
            linestyle="--" if dash == "dash" else ":" if dash == "dot" else "-",
            label=label if label not in shown else None,
            marker="o" if len(steps) == 1 else None,
            markersize=3,
        )
        if t.state == optuna.trial.TrialState.PRUNED and steps:
            ax.plot(steps[-1], vals[-1], marker="x", color=PRUNED_COLOR, markersize=6)
        shown.add(label)
    finite = [v for t in trials for v in t.intermediate_values.values() if math.isfinite(v)]
    log_y = bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 20
    fig.update_layout(
        title=f"Learning curves ({objective} per epoch)",
        xaxis_title="epoch",
        yaxis_title=objective,
        yaxis_type="log" if log_y else "linear",
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel(objective)
    if log_y:
        ax.set_yscale("log")
    ax.set_title(f"Learning curves ({objective} per epoch)")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    n_pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    return (
        fig,
        mfig,
        f"{len(trials)} trials with curves, {n_pruned} of them pruned (dashed, ending in x).",
    )


def _slice(study: Any, objective: str) -> tuple[Any, Any, str]:
    import optuna.visualization as ov
    import optuna.visualization.matplotlib as om

    params = top_params(study, 2)
    if not params:
        raise SkipPlot("no hyperparameter varies across the completed trials")
    fig = ov.plot_slice(study, params=params, target_name=objective)
    return (
        fig,
        _mpl_from_axes(om.plot_slice(study, params=params, target_name=objective)),
        f"parameters: {', '.join(params)}",
    )


def _contour(study: Any, objective: str) -> tuple[Any, Any, str]:
    import optuna.visualization as ov
    import optuna.visualization.matplotlib as om

    params = top_params(study, 2)
    if len(params) < 2:
        raise SkipPlot("needs two searched hyperparameters that vary across completed trials")
    complete = _complete(study)
    if len(complete) < 3:
        raise SkipPlot(f"needs at least 3 completed trials (the study has {len(complete)})")
    fig = ov.plot_contour(study, params=params, target_name=objective)
    return (
        fig,
        _mpl_from_axes(om.plot_contour(study, params=params, target_name=objective)),
        f"parameters: {params[0]} (x), {params[1]} (y)",
    )


STUDY_PLOTS: dict[str, Callable[[Any, str], tuple[Any, Any, str]]] = {
    "optimization_history": _history,
    "param_importances": _importances,
    "parallel_coordinate": _parallel,
    "intermediate_values": _intermediate,
    "slice": _slice,
    "contour": _contour,
}


# --------------------------------------------------------------------------- model plots


def forecast_test_frame(prepared_dir: str | Path, model_dir: str | Path) -> pd.DataFrame:
    """The final model's step-1 forecasts on the test split, computed through the serving
    :class:`~lstmtune.serving.Predictor` on raw history, with the naive baselines beside them.

    Columns: ``time`` (the time column's value, else the row index), ``actual``, ``model``,
    ``persistence`` and, with a season, ``seasonal_naive_<period>``; one row per test target."""
    from lstmtune.data.prepare import read_prepared
    from lstmtune.features import ForecastFeaturizer, anchor_fits, forecast_series, naive_forecast
    from lstmtune.serving import Predictor

    parts, meta = read_prepared(str(prepared_dir))
    predictor = Predictor.load(model_dir)
    f = predictor.featurizer
    if not isinstance(f, ForecastFeaturizer):
        raise SkipPlot("not a forecasting model")
    raw = forecast_series(parts, f.features)
    test = meta["splits"]["test"]
    ends = f.split_ends(int(test["start"]), int(test["end"]))
    pred = predictor.predict(pd.DataFrame(raw, columns=f.features)).to_numpy(dtype=np.float64)
    rows = ends - (f.lookback - 1)
    t = f.target_index
    target_at = ends + 1
    out = pd.DataFrame(
        {
            "time": _times(parts, meta)[target_at],
            "actual": raw[target_at, t],
            "model": pred[rows, 0],
            "persistence": raw[ends, t],
        }
    )
    if len(ends) and anchor_fits("seasonal", int(ends.min()) + 1, f.period):
        out[f"seasonal_naive_{f.period}"] = naive_forecast(
            raw[:, t], ends, "seasonal", 1, f.period
        )[:, 0]
    return out


def _times(parts: dict[str, pd.DataFrame], meta: dict[str, Any]) -> np.ndarray:
    col = meta["columns"].get("time_column")
    frames = [parts[s] for s in ("train", "val", "test")]
    if col and all(col in p.columns for p in frames):
        values = pd.concat([p[col] for p in frames], ignore_index=True)
        as_time = (
            pd.to_datetime(values, errors="coerce")
            if not pd.api.types.is_numeric_dtype(values)
            else values
        )
        if not pd.isna(as_time).any():
            return np.asarray(as_time)
        return np.asarray(values)
    return np.arange(sum(len(p) for p in frames))


def _forecast(prepared_dir: str | Path, model_dir: str | Path) -> tuple[Any, Any, str]:
    import plotly.graph_objects as go

    from lstmtune.data.prepare import read_prepared
    from lstmtune.features import forecast_series
    from lstmtune.serving import Predictor

    frame = forecast_test_frame(prepared_dir, model_dir)
    parts, meta = read_prepared(str(prepared_dir))
    f = Predictor.load(model_dir).featurizer
    target = str(meta["columns"]["target"])
    raw = forecast_series(parts, meta["columns"]["features"])[:, int(meta["target_index"])]
    times = _times(parts, meta)
    test_start = int(meta["splits"]["test"]["start"])
    context_from = max(0, test_start - 3 * max(len(frame), getattr(f, "lookback", 1)))
    baselines = [c for c in frame.columns if c not in ("time", "actual", "model")]

    def rmse(col: str) -> float:
        return float(np.sqrt(np.mean((frame[col] - frame["actual"]) ** 2)))

    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=times[context_from:],
            y=raw[context_from:],
            name=f"actual {target}",
            mode="lines+markers",
            line={"color": ACTUAL_COLOR, "width": 1.5},
            marker_size=4,
        )
    )
    for i, b in enumerate(baselines):
        fig.add_trace(
            go.Scatter(
                x=frame["time"],
                y=frame[b],
                name=f"{b} (RMSE {rmse(b):.4g})",
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
            x=frame["time"],
            y=frame["model"],
            name=f"lstmtune model (RMSE {rmse('model'):.4g})",
            mode="lines+markers",
            line={"color": MODEL_COLOR, "width": 2.5},
            marker_size=5,
        )
    )
    fig.add_vrect(
        x0=times[test_start],
        x1=times[-1],
        fillcolor="#ffe9a8",
        opacity=0.35,
        line_width=0,
        annotation_text="test",
        annotation_position="top left",
    )
    fig.update_layout(
        title=f"{target}: one-step-ahead forecast on the test split",
        xaxis_title=str(meta["columns"].get("time_column") or "step"),
        yaxis_title=target,
        legend={"orientation": "h", "y": -0.2},
    )
    plt = _mpl()
    mfig, ax = plt.subplots(figsize=(10, 4.8))
    ax.axvspan(times[test_start], times[-1], color="#ffe9a8", alpha=0.5, lw=0, label="test split")
    ax.plot(
        times[context_from:],
        raw[context_from:],
        color=ACTUAL_COLOR,
        lw=1.5,
        marker="o",
        ms=2.5,
        label=f"actual {target}",
    )
    for i, b in enumerate(baselines):
        ax.plot(
            frame["time"],
            frame[b],
            color=BASELINE_COLORS[i % len(BASELINE_COLORS)],
            ls="--",
            lw=1.3,
            label=f"{b} (RMSE {rmse(b):.4g})",
        )
    ax.plot(
        frame["time"],
        frame["model"],
        color=MODEL_COLOR,
        lw=2.5,
        marker="o",
        ms=3,
        label=f"lstmtune model (RMSE {rmse('model'):.4g})",
    )
    ax.set_title(f"{target}: one-step-ahead forecast on the test split")
    ax.set_ylabel(target)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    mfig.autofmt_xdate()
    note = (
        f"horizon {meta['horizon']}: the first forecast step is shown"
        if int(meta["horizon"]) > 1
        else ""
    )
    return fig, mfig, note


def confusion_matrix(
    prepared_dir: str | Path, model_dir: str | Path
) -> tuple[list[str], np.ndarray]:
    """Class names and the test-split confusion matrix ``[true, predicted]`` of the final model,
    through the serving :class:`~lstmtune.serving.Predictor`."""
    from lstmtune.data.prepare import read_prepared
    from lstmtune.features import ClassifyFeaturizer
    from lstmtune.serving import Predictor

    parts, meta = read_prepared(str(prepared_dir))
    predictor = Predictor.load(model_dir)
    f = predictor.featurizer
    if meta["task"] == "text":
        label = str(meta["columns"]["label"])
        classes = [str(c) for c in meta["classes"]]
        idx = {c: i for i, c in enumerate(classes)}
        out = predictor.predict(parts["test"])
        m = np.zeros((len(classes), len(classes)), dtype=np.int64)
        for t, p in zip(parts["test"][label].astype(str), out["label"].astype(str), strict=True):
            m[idx[t], idx[p]] += 1
        return classes, m
    if not isinstance(f, ClassifyFeaturizer):
        raise SkipPlot("not a classification model")
    label = str(meta["columns"]["label"])
    test = parts["test"]
    out = predictor.predict(test.drop(columns=[label]))
    truth = test.groupby(test[f.sequence_column].astype(str), sort=False)[label].first().astype(str)
    predicted = (
        out.set_index(out[f.sequence_column].astype(str))["label"].astype(str).reindex(truth.index)
    )
    index = {c: i for i, c in enumerate(f.classes)}
    matrix = np.zeros((len(f.classes), len(f.classes)), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t], index[p]] += 1
    return list(f.classes), matrix


def _confusion(prepared_dir: str | Path, model_dir: str | Path) -> tuple[Any, Any, str]:
    import plotly.graph_objects as go

    classes, m = confusion_matrix(prepared_dir, model_dir)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    text = [
        [f"{m[i, j]}<br>{share[i, j]:.0%}" for j in range(len(classes))]
        for i in range(len(classes))
    ]
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=classes,
            y=classes,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": "row share"},
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Confusion matrix (test, {int(m.sum())} sequences)",
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis_autorange="reversed",
        height=max(380, 120 + 60 * len(classes)),
        width=max(480, 160 + 70 * len(classes)),
    )
    plt = _mpl()
    size = max(4.0, 1.5 + 0.8 * len(classes))
    mfig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                f"{m[i, j]}\n{share[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(classes)), classes, rotation=45 if len(classes) > 4 else 0)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix (test, {int(m.sum())} sequences)")
    mfig.colorbar(im, ax=ax, label="row share")
    return fig, mfig, ""


def _training_curve(study: Any, model_dir: str | Path, objective: str) -> tuple[Any, Any, str]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    evaluation = _read_json(Path(model_dir) / "evaluation.json")
    history = (
        evaluation.get("history")
        or _read_json(Path(model_dir) / "history.json").get("history")
        or []
    )
    retrain = [
        (float(h["epoch"]), float(h["train_loss"]))
        for h in history
        if "train_loss" in h and "epoch" in h
    ]
    best_curve: list[tuple[float, float]] = []
    best_number = None
    if study is not None:
        try:
            best = study.best_trial
            best_number = best.number
            best_curve = sorted((float(k), float(v)) for k, v in best.intermediate_values.items())
        except ValueError:
            pass
    if not retrain and not best_curve:
        raise SkipPlot("no retrain history and no tuning curve of the best trial")
    epochs = evaluation.get("retrain_epochs")
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    plt = _mpl()
    mfig, ax = plt.subplots(figsize=(8, 4.5))
    handles = []
    if retrain:
        fig.add_trace(
            go.Scatter(
                x=[e for e, _ in retrain],
                y=[v for _, v in retrain],
                name="retrain loss (train+val)",
                mode="lines+markers",
                line={"color": MODEL_COLOR, "width": 2},
                marker_size=4,
            ),
            secondary_y=False,
        )
        handles += ax.plot(
            [e for e, _ in retrain],
            [v for _, v in retrain],
            color=MODEL_COLOR,
            lw=2,
            marker="o",
            ms=3,
            label="retrain loss (train+val)",
        )
        ax.set_ylabel("training loss (scaled)")
    ax2 = ax.twinx() if retrain and best_curve else ax
    if best_curve:
        fig.add_trace(
            go.Scatter(
                x=[e for e, _ in best_curve],
                y=[v for _, v in best_curve],
                name=f"trial {best_number}: validation {objective}",
                mode="lines+markers",
                line={"color": COMPLETE_COLOR, "width": 2, "dash": "dot"},
                marker_size=4,
            ),
            secondary_y=bool(retrain),
        )
        handles += ax2.plot(
            [e for e, _ in best_curve],
            [v for _, v in best_curve],
            color=COMPLETE_COLOR,
            lw=2,
            ls=":",
            marker="o",
            ms=3,
            label=f"trial {best_number}: validation {objective}",
        )
        ax2.set_ylabel(objective)
    if epochs:
        fig.add_vline(
            x=float(epochs),
            line_dash="dash",
            line_color="#555",
            annotation_text=f"retrain epochs = {epochs}",
        )
        handles.append(
            ax.axvline(
                float(epochs), color="#555", ls="--", lw=1, label=f"retrain epochs = {epochs}"
            )
        )
    fig.update_layout(
        title="Training curve of the final model",
        xaxis_title="epoch",
        legend={"orientation": "h", "y": -0.2},
    )
    fig.update_yaxes(
        title_text="training loss (scaled)" if retrain else objective, secondary_y=False
    )
    if retrain and best_curve:
        fig.update_yaxes(title_text=objective, secondary_y=True)
    ax.set_xlabel("epoch")
    ax.set_title("Training curve of the final model")
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    note = (
        ""
        if retrain
        else "The retrain's per-epoch history was not recorded; the best trial's validation curve from tuning is shown."
    )
    return fig, mfig, note


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# --------------------------------------------------------------------------- writing


def _save(plot: RenderedPlot, fig: Any, mfig: Any, out: Path, plotlyjs: str) -> None:
    if mfig is not None:
        try:
            png = out / f"{plot.name}.png"
            if not mfig.get_axes():
                raise ValueError("empty figure")
            mfig.tight_layout()
            mfig.savefig(png, dpi=110)
            plot.png = str(png)
        except Exception as exc:
            log.warning("lstmtune: PNG of plot %s skipped: %s", plot.name, exc)
        finally:
            _mpl().close(mfig)
    if fig is not None:
        try:
            fig.update_layout(template="plotly_white", margin={"t": 60, "l": 60, "r": 30, "b": 60})
            html = out / f"{plot.name}.html"
            include: bool | str = True if plotlyjs == "inline" else "directory"
            fig.write_html(
                str(html),
                include_plotlyjs=include,
                full_html=True,
                config={"displaylogo": False, "responsive": True},
            )
            plot.html = str(html)
            plot.figure = fig
        except Exception as exc:
            log.warning("lstmtune: HTML of plot %s skipped: %s", plot.name, exc)


def render_plots(
    study: Any,
    prepared_dir: str | Path | None,
    model_dir: str | Path | None,
    out_dir: str | Path,
    *,
    objective: str | None = None,
    plotlyjs: str = "directory",
) -> PlotSet:
    """Draw every plot that applies; return what was written and why the rest was skipped."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target: str = objective or _objective(study, prepared_dir)
    task = _read_json(Path(prepared_dir) / "metadata.json").get("task") if prepared_dir else None
    makers: dict[str, Callable[[], tuple[Any, Any, str]]] = {}
    if (
        study is not None and len(study.directions) > 1
    ):  # multi-objective: a front, and the validation objective alone
        makers["pareto_front"] = functools.partial(_pareto, study, target)
        study = first_objective_view(study)
    for name, maker in STUDY_PLOTS.items():
        makers[name] = (
            functools.partial(maker, study, target)
            if study is not None
            else _skip("no Optuna study")
        )
    if prepared_dir is None or model_dir is None:
        missing = _skip("no prepared dataset or model directory")
        makers.update({"forecast": missing, "confusion_matrix": missing, "training_curve": missing})
    else:
        if task == "forecast":
            makers["forecast"] = functools.partial(_forecast, prepared_dir, model_dir)
        elif task in ("classify", "text"):
            makers["confusion_matrix"] = functools.partial(_confusion, prepared_dir, model_dir)
        makers["training_curve"] = functools.partial(_training_curve, study, model_dir, target)
    result = PlotSet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna's ExperimentalWarning, matplotlib layout chatter
        for name in PLOTS:
            if name not in makers:
                continue
            title, description = PLOTS[name]
            plot = RenderedPlot(name, title, description)
            try:
                with _mpl_style():
                    fig, mfig, note = makers[name]()
                    plot.note = note
                    _save(plot, fig, mfig, out, plotlyjs)
            except SkipPlot as exc:
                result.skipped[name] = str(exc)
                log.info("lstmtune: plot %s skipped: %s", name, exc)
                continue
            except Exception as exc:  # plotting must never fail a run
                result.skipped[name] = (
                    f"failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                )
                log.warning("lstmtune: plot %s failed and is skipped", name, exc_info=True)
                continue
            if plot.png or plot.html:
                result.plots.append(plot)
            else:
                result.skipped[name] = "failed: neither PNG nor HTML could be written"
    return result


def _skip(reason: str) -> Callable[[], tuple[Any, Any, str]]:
    def raise_skip() -> tuple[Any, Any, str]:
        raise SkipPlot(reason)

    return raise_skip


def _objective(study: Any, prepared_dir: str | Path | None) -> str:
    task = _read_json(Path(prepared_dir) / "metadata.json").get("task") if prepared_dir else None
    return {"forecast": "val_rmse", "classify": "val_loss", "text": "val_loss"}.get(
        str(task), "objective"
    )  # what tuning minimises


def write_plots(
    study: Any,
    prepared_dir: str | Path | None,
    model_dir: str | Path | None,
    out_dir: str | Path,
    *,
    objective: str | None = None,
    plotlyjs: str = "directory",
) -> PlotFiles:
    """Write every applicable plot of ``study`` (an ``optuna.Study`` or None) and of the final model
    to ``out_dir``. Returns ``{name: {"png": path, "html": path}}``; a plot that fails is logged and
    left out, never raised. ``plotlyjs``: ``"directory"`` (one ``plotly.min.js`` beside the pages)
    or ``"inline"`` (every page self-contained, ~4.7 MB each)."""
    try:
        return render_plots(
            study, prepared_dir, model_dir, out_dir, objective=objective, plotlyjs=plotlyjs
        ).files()
    except Exception:  # pragma: no cover - belt and braces: never fail a run
        log.warning("lstmtune: plots skipped", exc_info=True)
        return {}

"""Learning curves of the trials: the validation objective per epoch, pruned trials dashed."""

from __future__ import annotations

import contextlib
import math
from typing import Any

from lstmtune.plots.catalog import SkipPlot
from lstmtune.plots.figures import BEST_COLOR, COMPLETE_COLOR, PRUNED_COLOR, mpl

LineStyle = tuple[str, str, str, float, float]  # label, colour, dash, opacity, width


def _line_style(trial: Any, best: int | None) -> LineStyle:
    """How one trial's curve is drawn: by its state, the best trial bold and red."""
    import optuna

    style = {
        optuna.trial.TrialState.COMPLETE: ("complete", COMPLETE_COLOR, "solid", 0.7),
        optuna.trial.TrialState.PRUNED: ("pruned", PRUNED_COLOR, "dash", 0.6),
    }
    label, color, dash, alpha = style.get(
        trial.state, (trial.state.name.lower(), "#ff7f0e", "dot", 0.6)
    )
    if trial.number == best:
        return f"best (trial {trial.number})", BEST_COLOR, "solid", 1.0, 3.0
    return label, color, dash, alpha, 1.3


def _draw_trial(
    fig: Any, ax: Any, t: Any, line: LineStyle, shown: set[str], objective: str
) -> None:
    """One trial's curve on both figures; the legend names each kind of line once."""
    import optuna
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    label, color, dash, alpha, width = line
    steps = sorted(t.intermediate_values)
    vals = [t.intermediate_values[s] for s in steps]
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
            hovertemplate=(
                f"trial {t.number} ({t.state.name.lower()})<br>epoch %{{x}}<br>"
                f"{objective} %{{y:.4g}}<extra></extra>"
            ),
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


def intermediate_figures(study: Any, objective: str) -> tuple[Any, Any, str]:
    import optuna
    import plotly.graph_objects as go

    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    if not trials:
        raise SkipPlot("no trial reported intermediate values")
    best = None
    with contextlib.suppress(ValueError):
        best = study.best_trial.number
    fig = go.Figure()
    plt = mpl()
    mfig, ax = plt.subplots(figsize=(8, 4.5))
    shown: set[str] = set()
    ordered = sorted(trials, key=lambda t: (t.number == best, t.number))  # best drawn last, on top
    for t in ordered:
        _draw_trial(fig, ax, t, _line_style(t, best), shown, objective)
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

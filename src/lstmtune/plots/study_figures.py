"""Figures of the Optuna study: optimisation history, importances, parallel coordinates,
slice, contour and the Pareto front. Each maker returns ``(plotly figure, matplotlib figure,
note)`` or raises :class:`~lstmtune.plots.catalog.SkipPlot`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lstmtune.plots.catalog import SkipPlot
from lstmtune.plots.figures import COMPLETE_COLOR, MODEL_COLOR, PRUNED_COLOR, mpl, mpl_from_axes
from lstmtune.plots.study import complete_trials, param_importances, top_params
from lstmtune.plots.trial_curves import intermediate_figures


def pareto_figures(study: Any, objective: str) -> tuple[Any, Any, str]:
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
    plt = mpl()
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


def history_figures(study: Any, objective: str) -> tuple[Any, Any, str]:
    import optuna.visualization as ov
    import optuna.visualization.matplotlib as om

    if not complete_trials(study):
        raise SkipPlot("no completed trial")
    fig = ov.plot_optimization_history(study, target_name=objective)
    return fig, mpl_from_axes(om.plot_optimization_history(study, target_name=objective)), ""


def importances_figures(study: Any, objective: str) -> tuple[Any, Any, str]:
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
    plt = mpl()
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


def parallel_figures(study: Any, objective: str) -> tuple[Any, Any, str]:
    import optuna.visualization as ov
    import optuna.visualization.matplotlib as om

    if not complete_trials(study):
        raise SkipPlot("no completed trial")
    params = top_params(study, 8)
    if not params:
        raise SkipPlot("no hyperparameter varies across the completed trials")
    fig = ov.plot_parallel_coordinate(study, params=params, target_name=objective)
    return (
        fig,
        mpl_from_axes(om.plot_parallel_coordinate(study, params=params, target_name=objective)),
        "",
    )


def slice_figures(study: Any, objective: str) -> tuple[Any, Any, str]:
    import optuna.visualization as ov
    import optuna.visualization.matplotlib as om

    params = top_params(study, 2)
    if not params:
        raise SkipPlot("no hyperparameter varies across the completed trials")
    fig = ov.plot_slice(study, params=params, target_name=objective)
    return (
        fig,
        mpl_from_axes(om.plot_slice(study, params=params, target_name=objective)),
        f"parameters: {', '.join(params)}",
    )


def contour_figures(study: Any, objective: str) -> tuple[Any, Any, str]:
    import optuna.visualization as ov
    import optuna.visualization.matplotlib as om

    params = top_params(study, 2)
    if len(params) < 2:
        raise SkipPlot("needs two searched hyperparameters that vary across completed trials")
    complete = complete_trials(study)
    if len(complete) < 3:
        raise SkipPlot(f"needs at least 3 completed trials (the study has {len(complete)})")
    fig = ov.plot_contour(study, params=params, target_name=objective)
    return (
        fig,
        mpl_from_axes(om.plot_contour(study, params=params, target_name=objective)),
        f"parameters: {params[0]} (x), {params[1]} (y)",
    )


STUDY_PLOTS: dict[str, Callable[[Any, str], tuple[Any, Any, str]]] = {
    "optimization_history": history_figures,
    "param_importances": importances_figures,
    "parallel_coordinate": parallel_figures,
    "intermediate_values": intermediate_figures,
    "slice": slice_figures,
    "contour": contour_figures,
}

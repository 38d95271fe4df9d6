"""What a run can plot: the catalogue of plots (title and caption) and the result types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PlotFiles = dict[str, dict[str, str]]


PLOTS: dict[str, tuple[str, str]] = {
    "forecast": (
        "Forecast vs. actual on the test split",
        "One-step-ahead forecasts of the final model and the naive baselines against the actual "
        "series.",
    ),
    "panel_forecast": (
        "Forecasts of the best and worst series on the test split",
        "Many series: the actual series and the model's one-step-ahead test forecasts (80% "
        "interval shaded) of the series with the lowest and the highest test MASE.",
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

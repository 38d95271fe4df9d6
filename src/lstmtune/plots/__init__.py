"""Plots of a finished run: the Optuna study and the final model.

Every plot is written twice: a PNG (matplotlib, Agg backend; what MLflow previews and the report
inlines) and an interactive HTML page (plotly). Nothing needs the network: per-plot HTML pages
load ``plotly.min.js`` from their own directory (``plotlyjs="directory"``, the default) or embed
it (``plotlyjs="inline"``); :mod:`lstmtune.report` embeds it once in a single page.

A plot that cannot be drawn (too few trials, a missing file, a bug) is logged and skipped:
plotting never fails a run. :func:`render_plots` also says *why* a plot was skipped, so the
report can show it.

Modules: :mod:`~lstmtune.plots.catalog` (which plots exist, result types),
:mod:`~lstmtune.plots.figures` (shared colours and matplotlib helpers),
:mod:`~lstmtune.plots.study` and :mod:`~lstmtune.plots.study_figures` (the Optuna study),
:mod:`~lstmtune.plots.trial_curves` (learning curves of the trials),
:mod:`~lstmtune.plots.forecast`, :mod:`~lstmtune.plots.classification`,
:mod:`~lstmtune.plots.training_curve` (the final model) and :mod:`~lstmtune.plots.render`
(drawing and writing them all).
"""

from __future__ import annotations

from lstmtune.plots.catalog import PLOTS, PlotFiles, PlotSet, RenderedPlot, SkipPlot
from lstmtune.plots.classification import confusion_matrix
from lstmtune.plots.figures import (
    ACTUAL_COLOR,
    BASELINE_COLORS,
    BEST_COLOR,
    COMPLETE_COLOR,
    MODEL_COLOR,
    PRUNED_COLOR,
)
from lstmtune.plots.forecast import forecast_test_frame
from lstmtune.plots.render import render_plots, write_plots
from lstmtune.plots.study import first_objective_view, param_importances, top_params
from lstmtune.plots.study_figures import STUDY_PLOTS

__all__ = [
    "ACTUAL_COLOR",
    "BASELINE_COLORS",
    "BEST_COLOR",
    "COMPLETE_COLOR",
    "MODEL_COLOR",
    "PLOTS",
    "PRUNED_COLOR",
    "STUDY_PLOTS",
    "PlotFiles",
    "PlotSet",
    "RenderedPlot",
    "SkipPlot",
    "confusion_matrix",
    "first_objective_view",
    "forecast_test_frame",
    "param_importances",
    "render_plots",
    "top_params",
    "write_plots",
]

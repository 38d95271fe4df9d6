"""The problem a prepared dataset poses, for one hyperparameter configuration."""

from __future__ import annotations

from typing import Any

import pandas as pd

from lstmtune.panel_problem import PanelForecastProblem
from lstmtune.training import ClassifyProblem, ForecastProblem, TextProblem


def make_problem(
    parts: dict[str, pd.DataFrame], meta: dict[str, Any], params: dict[str, Any]
) -> ForecastProblem | ClassifyProblem:
    """Forecast (one series, or many stacked: :class:`PanelForecastProblem`), classification or
    text classification, by the dataset's metadata."""
    if meta["task"] == "forecast" and meta.get("panel"):
        return PanelForecastProblem(parts, meta, params)
    if meta["task"] == "forecast":
        return ForecastProblem(parts, meta, params)
    if meta["task"] == "text":
        return TextProblem(parts, meta, params)
    return ClassifyProblem(parts, meta, params)

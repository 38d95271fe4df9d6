"""Column layouts other tools write, read without naming their columns: statsforecast's,
NeuralForecast's and mlforecast's long frame (``unique_id``, ``ds``, ``y``; Prophet's ``ds`` and
``y``). A forecast whose file holds ``ds`` and ``y`` and whose target, time and series settings
name no other column is read as that layout: the settings left unset are filled in, ``y`` the
target, ``ds`` the time column and, where ``unique_id`` holds more than one series, ``unique_id``
the series column (one id: a single series). The prepare step says so in one line."""

from __future__ import annotations

import pandas as pd

from lstmtune.config import DataConfig

#: the layout's columns: the data setting each fills in
NIXTLA = {"target": "y", "time_column": "ds", "series_column": "unique_id"}


def nixtla_settings(frame: pd.DataFrame, data: DataConfig) -> dict[str, str]:
    """The settings the layout fills in (empty: not that layout, a setting names another
    column, or every one is set)."""
    columns = {str(c) for c in frame.columns}
    if data.task != "forecast" or not {"ds", "y"} <= columns:
        return {}
    if any(getattr(data, key) not in (None, column) for key, column in NIXTLA.items()):
        return {}
    settings = {"target": "y", "time_column": "ds"}
    if "unique_id" in columns and frame["unique_id"].nunique(dropna=True) > 1:
        settings["series_column"] = "unique_id"
    return {key: column for key, column in settings.items() if getattr(data, key) is None}


def layout_line(settings: dict[str, str]) -> str:
    """The prepare step's line, e.g. ``read the columns unique_id, ds, y as statsforecast and
    NeuralForecast lay them out: ...``."""
    named = ", ".join(f"data.{key} {column}" for key, column in settings.items())
    columns = ", ".join(c for c in ("unique_id", "ds", "y") if c in settings.values())
    return (
        f"read the columns {columns} as statsforecast and NeuralForecast lay them out: {named}"
        " (name other columns in those settings to read the file otherwise)"
    )

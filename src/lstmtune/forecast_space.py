"""The default search space of forecasting (data-aware, like the classification one) and its
tuning budget for long series.

* ``lookback``: one season (plus the step ``seasonal_trend`` reads) and two seasons when a season
  was found, else 8, 16, 32 steps; the seasonal anchors only with a season;
* ``patch``: when the longest lookback (the default one or the user's) exceeds
  :data:`~lstmtune.classify_space.LSTM_STEPS` steps (a half-hourly series with its weekly season
  reads 672), the LSTM reads patches of steps, so it sees at most about 64 (two choices, as for
  classification; one series only). Measured on 4032 half-hours
  (season 336, 2150 training windows of 672 steps, 32 units): one step at a time 2.7 s an epoch
  and no learning in 13 epochs (validation RMSE 1101, the anchor's); patches of 16 steps 0.26 s
  an epoch and 885 after 38 epochs. Short lookbacks get no ``patch`` key;
* ``transform: log`` only for a strictly positive target; larger batches and the per-series
  embedding key for many series.

A long single series (more than :data:`BUDGET_WINDOWS` training windows) gets a tuning time
budget when ``tune.timeout`` is not set (:func:`default_tuning_seconds`), so a default run stays
within minutes on a laptop; below that the number of trials decides.
"""

from __future__ import annotations

from typing import Any

from lstmtune import classify_space as _classify
from lstmtune.errors import UserError
from lstmtune.features import NAIVE_HISTORY, anchor_fits

Spec = dict[str, Any]

BUDGET_WINDOWS = 1000  # a single series with more training windows than this is time-boxed


def _cat(*choices: Any) -> Spec:
    return {"type": "categorical", "choices": list(choices)}


def _fixed(value: Any) -> Spec:
    return {"type": "fixed", "value": value}


def default_lookbacks(period: int) -> list[int]:
    """One season + 1 (room for ``seasonal_trend``) and two seasons; 8, 16, 32 without a season."""
    return sorted({max(period + 1, 4), 2 * period}) if period >= 2 else [8, 16, 32]


def forecast_space(meta: dict[str, Any]) -> dict[str, Spec]:
    """The forecasting entries of the default space (over the common ones)."""
    period = int(meta.get("seasonal_period", 1))
    space: dict[str, Spec] = {}
    space["lookback"] = _cat(*default_lookbacks(period))
    if period >= 2:
        space["anchor"] = _cat("last", "seasonal", "seasonal_trend")
    else:
        space["anchor"] = _fixed("last")
    positive = meta.get("target_positive", False)
    space["transform"] = _cat("none", "log") if positive else _fixed("none")
    space["window_norm"] = _cat(False, True)
    fit_default_patch(space, meta)
    if int(meta.get("n_series", 1)) > 1:  # many series: an epoch is thousands of windows
        space["batch_size"] = _cat(64, 128, 256)
        # off by default, so any series can be served; e.g. [0, 8] lets the tuner choose
        space["series_embedding_dim"] = _fixed(0)
    return space


def lookback_range(spec: Spec) -> tuple[int, int]:
    """The shortest and the longest lookback a ``lookback`` spec allows."""
    if spec["type"] == "fixed":
        return int(spec["value"]), int(spec["value"])
    if spec["type"] == "categorical":
        values = [int(v) for v in spec["choices"]]
        return min(values), max(values)
    return int(spec["low"]), int(spec["high"])


def fit_default_patch(space: dict[str, Spec], meta: dict[str, Any]) -> None:
    """Set the default ``patch`` choices for the longest lookback ``space`` holds (called again
    after a user's declaration that leaves ``patch`` undeclared): none up to
    :data:`~lstmtune.classify_space.LSTM_STEPS` steps, and never for many series (their windows
    are short and their defaults unchanged)."""
    space.pop("patch", None)
    lookback = space.get("lookback")
    if not lookback or int(meta.get("n_series", 1)) > 1:
        return
    patches = _classify.patch_choices(lookback_range(lookback)[1])
    if patches != [1]:
        space["patch"] = _cat(*patches)


def longest_lookback(n_train: int, horizon: int, windows: int) -> int:
    """The longest lookback that leaves a train part of ``n_train`` steps ``windows`` training
    windows of ``horizon`` steps."""
    return n_train - horizon + 1 - windows


def fit_default_lookbacks(space: dict[str, Spec], meta: dict[str, Any], min_windows: int) -> None:
    """Keep the default lookbacks that leave the train split at least ``min_windows`` training
    windows: a short series (55 quarters: 39 train rows) gets the shorter defaults instead of an
    error about a lookback the user never declared; when none fits, the longest lookback that does
    (at least 2 steps); a :class:`~lstmtune.errors.UserError` naming the data when even that
    does not exist. Many series: ``meta`` is the shortest series kept
    (:func:`lstmtune.data.panel.fitted_max_lookback`)."""
    spec = space.get("lookback")
    if not spec or spec["type"] != "categorical":
        return
    n_train = int(meta.get("splits", {}).get("train", {}).get("rows", 0))
    longest = longest_lookback(n_train, int(meta.get("horizon", 1)), min_windows)
    keep = [int(lb) for lb in spec["choices"] if int(lb) <= longest]
    if not keep and longest < 2:
        raise UserError(
            f"{meta.get('source', 'data.path')}: series too short: the train split has {n_train}"
            f" time steps, fewer than {min_windows} training windows even with a lookback of 2"
            f" (data.horizon={meta.get('horizon', 1)})"
        )
    space["lookback"] = _cat(*(keep or [longest]))


def check_declared_anchors(space: dict[str, Spec], period: int) -> None:
    """A declared ``anchor`` none of whose choices any lookback of the space can feed (a seasonal
    one without a season, or ``seasonal_trend: season + 1`` steps on a short series whose
    lookbacks shrank below that) is a :class:`~lstmtune.errors.UserError` naming the key, not a
    run whose every trial is infeasible."""
    spec = space["anchor"]
    choices = [spec["value"]] if spec["type"] == "fixed" else list(spec.get("choices", []))
    longest = lookback_range(space["lookback"])[1]
    if not choices or any(anchor_fits(str(a), longest, period) for a in choices):
        return
    needs = ", ".join(f"{a} lookback >= {NAIVE_HISTORY[a](max(period, 2))}" for a in choices)
    raise UserError(
        f"tune.search_space.anchor: no lookback can feed {', '.join(map(str, choices))} (season"
        f" {period}, longest lookback {longest}; {needs}{' and a season' if period < 2 else ''})"
    )


def training_windows(meta: dict[str, Any]) -> int:
    """The most training windows a single series' trial can have: train rows minus the shortest
    lookback and the horizon, plus one."""
    rows = int(meta.get("splits", {}).get("train", {}).get("rows", 0))
    spec = meta.get("search_space", {}).get("lookback")
    lookback = lookback_range(spec)[0] if spec else 1
    return max(0, rows - lookback - int(meta.get("horizon", 1)) + 1)


def default_tuning_seconds(meta: dict[str, Any]) -> float | None:
    """:data:`~lstmtune.classify_space.TUNE_SECONDS` for a single series with more than
    :data:`BUDGET_WINDOWS` training windows, else None (the number of trials decides)."""
    if meta.get("task") != "forecast" or meta.get("panel"):
        return None
    return _classify.TUNE_SECONDS if training_windows(meta) > BUDGET_WINDOWS else None

"""What a run's configuration says about its study: its name, its size (the trial budget), the
training subset, and the settings refused before anything runs."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lstmtune import classify_space, forecast_space
from lstmtune.config import RunConfig
from lstmtune.rolling import resolve_folds
from lstmtune.run_checks import check_study_config as check_study_config
from lstmtune.search_space import grid_size


def default_study_name(cfg: RunConfig, meta: dict[str, Any]) -> str:
    """Same data + same space + same split => same study (a rerun resumes it)."""
    parts: dict[str, Any] = {
        "sha": meta["sha256"],
        "space": meta["search_space"],
        "splits": meta["splits"],
        "task": meta["task"],
        "horizon": meta.get("horizon"),
        "seed": cfg.train.seed,
    }
    # settings that change what a trial's values mean; only when set, so existing studies keep
    # their names
    if list(cfg.tune.objectives) != ["val"]:
        parts["objectives"] = list(cfg.tune.objectives)
    if cfg.tune.subset is not None and cfg.tune.subset < 1:
        parts["subset"] = cfg.tune.subset
    folds = resolve_folds(cfg.tune.forecast_folds, meta)
    if folds > 1:
        parts["forecast_folds"] = folds
    key = json.dumps(parts, sort_keys=True)
    return f"{cfg.mlflow.model_name}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def study_target(cfg: RunConfig, space: dict[str, Any]) -> int:
    target = cfg.tune.n_trials
    if cfg.tune.sampler == "grid":
        target = min(target, grid_size(space))
    return target


def subset_fraction(cfg: RunConfig) -> float | None:
    """``tune.subset`` when trials train on part of the data, else ``None``."""
    return cfg.tune.subset if cfg.tune.subset is not None and cfg.tune.subset < 1 else None


def tuning_budget(meta: dict[str, Any]) -> float | None:
    """The tuning time budget when ``tune.timeout`` is not set: a classification set too large
    for k-fold, or a long single series (:mod:`lstmtune.forecast_space`); else None (the number
    of trials decides)."""
    if meta.get("task") == "forecast":
        return forecast_space.default_tuning_seconds(meta)
    return classify_space.default_tuning_seconds(meta)


def time_budget(cfg: RunConfig, meta: dict[str, Any]) -> float | None:
    """The tuning's seconds: ``tune.timeout``, else :func:`tuning_budget`; None: no limit. No
    trial starts after it, and one still training stops after the epoch that passes it."""
    return cfg.tune.timeout if cfg.tune.timeout is not None else tuning_budget(meta)


def budget_reason(meta: dict[str, Any]) -> str:
    """Why :func:`tuning_budget` gives this run a budget, for its progress line."""
    if meta.get("task") == "forecast":
        return "a long series"
    return classify_space.budget_reason(meta)

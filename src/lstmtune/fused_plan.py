"""Which tuning trials train together as one fused model (``tune.fuse_trials``).

:func:`fuse_setting` reads the setting (``off`` where fusing cannot work), :func:`fuse_width` says
how many trials one ask round takes, and :func:`plan_trial_groups` groups the asked trials: same
input/output shape first, then :func:`lstmtune.fused.plan_groups` within each shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lstmtune.config import RunConfig
from lstmtune.rolling import resolve_folds

if TYPE_CHECKING:
    import torch

    from lstmtune.training import ClassifyProblem, ForecastProblem


def fuse_off_reason(cfg: RunConfig, meta: dict[str, Any]) -> str | None:
    """Why fusing cannot work for this study, or None: a ``train_seconds`` objective measures
    each trial's own training time; a classification trial is judged by
    :func:`lstmtune.crossval.fit_trial` (k folds on small sets, a minimum number of epochs) and a
    short series' forecasting trial by rolling-origin folds (:mod:`lstmtune.rolling`), which the
    fused kernel does not do; many series (a scale-free objective over series) and text models
    (token embeddings) are not fused yet."""
    if cfg.data.task == "classify":
        return "classification trials are judged by k-fold cross-validation"
    if cfg.data.task == "text":
        return "text models (token embeddings) are not fused"
    if cfg.data.series_column is not None:
        return "many series are not fused yet"
    if "train_seconds" in cfg.tune.objectives:
        return "the train_seconds objective needs each trial's own training time"
    folds = resolve_folds(cfg.tune.forecast_folds, meta)
    if folds > 1:
        return (
            f"{folds} rolling-origin folds judge each trial (tune.forecast_folds), which fused"
            " training does not do"
        )
    return None


def fuse_setting(cfg: RunConfig, meta: dict[str, Any]) -> str | int:
    """``tune.fuse_trials`` as :func:`lstmtune.fused.plan_groups` takes it; ``off`` where fusing
    cannot work (:func:`fuse_off_reason`)."""
    fuse = cfg.tune.fuse_trials
    if fuse in ("off", 0, 1) or fuse_off_reason(cfg, meta) is not None:
        return "off"
    return fuse


def fuse_width(fuse: str | int) -> int:
    """How many trials one ask round takes: K, ``AUTO_MAX_MEMBERS`` for auto, 1 for off."""
    if fuse == "auto":
        from lstmtune.fused import AUTO_MAX_MEMBERS

        return int(AUTO_MAX_MEMBERS)
    if isinstance(fuse, int) and not isinstance(fuse, bool):
        return max(1, fuse)
    return 1


def plan_trial_groups(
    params: Sequence[dict[str, Any]],
    problems: Sequence[ForecastProblem | ClassifyProblem],
    fuse: str | int,
    device: torch.device,
) -> list[list[int]]:
    """Fused groups of trials (indices into ``params``/``problems``, groups ordered by their first
    member): trials with the same ``n_features``/``n_outputs`` are planned together by
    :func:`lstmtune.fused.plan_groups`."""
    from lstmtune import fused

    buckets: dict[tuple[int, int], list[int]] = {}
    for i, problem in enumerate(problems):
        buckets.setdefault((int(problem.n_features), int(problem.n_outputs)), []).append(i)
    groups: list[list[int]] = []
    for (n_features, n_outputs), members in buckets.items():
        local = fused.plan_groups(
            [params[i] for i in members],
            fuse,
            device,
            n_features=n_features,
            n_outputs=n_outputs,
        )
        groups.extend([members[j] for j in g] for g in local)
    return sorted(groups, key=lambda g: g[0])

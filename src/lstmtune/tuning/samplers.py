"""The study's sampler and pruner, from ``tune.sampler`` / ``tune.pruner`` and the space."""

from __future__ import annotations

from typing import Any

from lstmtune.config import RunConfig
from lstmtune.search_space import grid_space
from lstmtune.tuning.objectives import is_multi_objective


def _sampler(cfg: RunConfig, space: dict[str, Any], worker_id: int = 0, n_existing: int = 0) -> Any:
    """Seeded per worker and per resume point: workers, and a resumed run, must not replay the
    random (startup) configurations already drawn."""
    import optuna

    seed = cfg.train.seed + 7919 * worker_id + 104729 * n_existing
    name = cfg.tune.sampler
    if name == "tpe":  # with several objectives this is Optuna's multi-objective TPE
        startup = cfg.tune.n_startup_trials or min(10, max(3, cfg.tune.n_trials // 3))
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=startup)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_space(space), seed=seed)
    if is_multi_objective(cfg):  # CMA-ES is single-objective
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _pruner(cfg: RunConfig, max_epochs: int) -> Any:
    import optuna

    if is_multi_objective(cfg):
        # Optuna's pruners compare one intermediate value: none for several objectives
        return optuna.pruners.NopPruner()
    min_resource = max(2, min(5, max_epochs // 10))
    if cfg.tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=min_resource, max_resource=max_epochs, reduction_factor=3
        )
    if cfg.tune.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=3)
    if cfg.tune.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    return optuna.pruners.NopPruner()


def _max_epochs(space: dict[str, Any]) -> int:
    spec = space["epochs"]
    if spec["type"] == "fixed":
        return int(spec["value"])
    if spec["type"] == "categorical":
        return int(max(spec["choices"]))
    return int(spec["high"])


def prune_schedule(pruner: Any) -> tuple[int, int] | None:
    """``(min_resource, reduction_factor)`` of a successive-halving pruner (Hyperband's brackets
    too): it decides only at the steps ``min_resource * reduction_factor ** j`` and answers
    False at any other without a side effect, yet asking it reads the whole trial back from the
    RDB storage, every intermediate value (about 8 ms an epoch on SQLite, growing with the
    epochs); None for a pruner that may prune at any step (median) or an unresolved one."""
    import optuna

    if not isinstance(
        pruner, optuna.pruners.HyperbandPruner | optuna.pruners.SuccessiveHalvingPruner
    ):
        return None
    resource = getattr(pruner, "_min_resource", None)
    factor = getattr(pruner, "_reduction_factor", None)
    if isinstance(resource, int) and isinstance(factor, int) and resource >= 1 and factor >= 2:
        return resource, factor
    return None


def may_prune_at(step: int, schedule: tuple[int, int] | None) -> bool:
    """Whether the pruner of ``schedule`` (:func:`prune_schedule`) can decide at ``step``."""
    if schedule is None:
        return True
    resource, factor = schedule
    if step < resource or step % resource:
        return False
    rest = step // resource
    while rest % factor == 0:
        rest //= factor
    return rest == 1

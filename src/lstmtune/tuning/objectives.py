"""Several objectives (``tune.objectives``): their names, the values a trial reports, the Pareto
order and the trial a multi-objective study registers (:func:`pareto_choice`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lstmtune.config import RunConfig, objective_name

if TYPE_CHECKING:
    from lstmtune.training import TrainResult


def is_multi_objective(cfg: RunConfig) -> bool:
    return len(cfg.tune.objectives) > 1


def objective_names(cfg: RunConfig, meta: dict[str, Any]) -> list[str]:
    """``tune.objectives`` with ``val`` spelled as the dataset's validation objective
    (``val_rmse``, ``val_mase`` for many series...)."""
    val = objective_name(meta)
    return [val if name == "val" else str(name) for name in cfg.tune.objectives]


def objective_values(cfg: RunConfig, value: float, result: TrainResult) -> list[float]:
    """The values a completed trial tells, in ``tune.objectives`` order (``value``: its
    validation objective)."""
    from lstmtune.model import count_parameters

    values = []
    for name in cfg.tune.objectives:
        if name == "val":
            values.append(float(value))
        elif name == "train_seconds":
            values.append(round(float(result.train_seconds), 4))
        else:
            values.append(float(count_parameters(result.model)))
    return values


def pareto_choice(front: list[Any], tolerance: float) -> Any:
    """The trial a multi-objective study registers, from its Pareto front (``study.best_trials``).

    Rule: let ``best`` be the lowest validation value (objective 0) on the front. Trials whose
    validation value is at most ``best * (1 + tolerance)`` (``best + |best| * tolerance``, which is
    the same for the non-negative RMSE / cross-entropy objectives) are *good enough*; among them
    the one with the lowest second objective (``train_seconds`` or ``param_count``) is chosen.
    Ties go to the lower validation value, then to the further objectives, then to the lower trial
    number. With ``tolerance: 0`` this is the best-validation trial (the cheapest of equals).
    """
    if not front:
        raise ValueError("the Pareto front is empty")
    best = min(float(t.values[0]) for t in front)
    limit = best + abs(best) * float(tolerance)
    eligible = [t for t in front if float(t.values[0]) <= limit]
    return min(
        eligible,
        key=lambda t: (
            float(t.values[1]) if len(t.values) > 1 else 0.0,
            float(t.values[0]),
            tuple(float(v) for v in t.values[2:]),
            t.number,
        ),
    )


def dominates(a: list[float], b: list[float]) -> bool:
    """``a`` Pareto-dominates ``b`` (all objectives minimised)."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )

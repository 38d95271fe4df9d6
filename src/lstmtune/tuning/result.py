"""The outcome of a study as stored: the best trial (single objective) or the
:func:`~lstmtune.tuning.objectives.pareto_choice` of the Pareto front (several objectives)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lstmtune.config import RunConfig, objective_name
from lstmtune.errors import UserError
from lstmtune.search_space import fixed_params
from lstmtune.tuning.failures import _fail_reason, _failures
from lstmtune.tuning.objectives import objective_names, pareto_choice
from lstmtune.tuning.retry import with_retry
from lstmtune.tuning.storage import _storage, redact
from lstmtune.tuning.study_config import default_study_name, subset_fraction


@dataclass
class StudyResult:
    study_name: str
    storage: str
    objective: str
    best_params: dict[str, Any]
    best_value: float
    best_epoch: int
    best_trial: int
    n_trials_complete: int
    n_trials_pruned: int
    n_trials_failed: int
    n_trials_reused: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _result(
    study: Any,
    study_name: str,
    storage_url: str,
    objective_name: str,
    fixed: dict[str, Any],
    reused: int,
    seconds: float,
    *,
    names: list[str] | None = None,
    tolerance: float = 0.05,
    subset: float | None = None,
) -> StudyResult:
    """The study's outcome. Single objective: the lowest-value trial. Several objectives: the
    :func:`pareto_choice` of the Pareto front (``extra["pareto_front"]``,
    ``extra["objectives"]``)."""
    import optuna

    TS = optuna.trial.TrialState
    trials = with_retry("read trials", lambda: study.get_trials(deepcopy=False))
    complete = [t for t in trials if t.state == TS.COMPLETE]
    if not complete:
        failed = _failures(trials)
        last = (
            f"trial {failed[-1].number}: {_fail_reason(failed[-1])}"
            if failed
            else "every trial was pruned"
        )
        raise RuntimeError(f"tuning finished with no completed trial ({last})")
    extra: dict[str, Any] = {}
    n_objectives = len(study.directions)
    if n_objectives > 1:
        if names is None or len(names) != n_objectives:
            names = [objective_name] + [f"objective_{i}" for i in range(1, n_objectives)]
        best = _pareto_best(study, names, fixed, tolerance, extra)
        best_value = float(best.values[0])
    else:
        ranked = sorted(complete, key=lambda t: (float(t.value), t.number))
        best = ranked[0]
        best_value = float(best.value if best.value is not None else math.nan)
        extra["top_trials"] = top_trials(ranked, fixed)
    if best.user_attrs.get("oof_log_loss"):  # classification: lstmtune.classify_stack
        extra["oof_log_loss"] = list(best.user_attrs["oof_log_loss"])
    if subset is not None:
        extra["subset"] = float(subset)
    best_params = {**fixed, **best.params}
    return StudyResult(
        study_name=study_name,
        storage=redact(storage_url),
        objective=objective_name,
        best_params=best_params,
        best_value=best_value,
        best_epoch=int(best.user_attrs.get("best_epoch", best_params.get("epochs", 1))),
        best_trial=best.number,
        n_trials_complete=len(complete),
        n_trials_pruned=sum(t.state == TS.PRUNED for t in trials),
        n_trials_failed=sum(t.state == TS.FAIL for t in trials),
        n_trials_reused=reused,
        seconds=round(seconds, 2),
        extra=extra,
    )


TOP_TRIALS = 5  # the best trials recorded for an ensemble of configurations (evaluate.ensemble)


def top_trials(ranked: list[Any], fixed: dict[str, Any]) -> list[dict[str, Any]]:
    """The :data:`TOP_TRIALS` best of ``ranked`` (completed trials, best first), distinct
    configurations: number, value, parameters, best epoch, training seconds, training windows and
    parameter count of each (the last two None for a trial recorded without them)."""
    out: list[dict[str, Any]] = []
    for t in ranked:
        params = {**fixed, **t.params}
        if any(o["params"] == params for o in out):
            continue
        out.append(
            {
                "number": t.number,
                "value": float(t.value),
                "params": params,
                "best_epoch": int(t.user_attrs.get("best_epoch", params.get("epochs", 1))),
                "train_seconds": float(t.user_attrs.get("train_seconds", 0.0)),
                "n_train": t.user_attrs.get("n_train"),
                "param_count": t.user_attrs.get("param_count"),
            }
        )
        if len(out) == TOP_TRIALS:
            break
    return out


def _pareto_best(
    study: Any, names: list[str], fixed: dict[str, Any], tolerance: float, extra: dict[str, Any]
) -> Any:
    """The :func:`pareto_choice` of a multi-objective study; records the objectives, the
    tolerance and the front (trial numbers, values, params) in ``extra``."""
    front = sorted(with_retry("best trials", lambda: study.best_trials), key=lambda t: t.number)
    best = pareto_choice(front, tolerance)

    def shown(name: str, value: float) -> float | int:
        return int(value) if name == "param_count" else float(value)

    extra["objectives"] = list(names)
    extra["pareto_tolerance"] = float(tolerance)
    extra["pareto_front"] = [
        {
            "number": t.number,
            "values": {n: shown(n, v) for n, v in zip(names, t.values, strict=True)},
            "params": {**fixed, **t.params},
        }
        for t in front
    ]
    return best


def best_from_study(
    cfg: RunConfig, meta: dict[str, Any], *, reused: int = 0, seconds: float = 0.0
) -> StudyResult:
    """The result of a (shared) study as it is in the storage — what the retrain step reads after
    N workers finished. Raises ``RuntimeError`` when the study has no completed trial and
    :class:`UserError` when it does not exist."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage_url = str(cfg.tune.storage)
    study_name = cfg.tune.study_name or default_study_name(cfg, meta)
    storage = _storage(storage_url)
    try:
        study = with_retry(
            "load study", lambda: optuna.load_study(study_name=study_name, storage=storage)
        )
    except KeyError:
        raise UserError(
            f"tune.study_name: no study '{study_name}' in {redact(storage_url)}"
        ) from None
    return _result(
        study,
        study_name,
        storage_url,
        objective_name(meta),
        fixed_params(meta["search_space"]),
        reused,
        seconds,
        names=objective_names(cfg, meta),
        tolerance=cfg.tune.pareto_tolerance,
        subset=subset_fraction(cfg),
    )

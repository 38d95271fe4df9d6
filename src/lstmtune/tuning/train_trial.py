"""Running asked trials: suggest a configuration, build its problem, train it alone or with others
as one fused model, and say how it ended (:class:`_Outcome`) — Optuna's ``_run_trial`` without
the tell (:mod:`.finish`)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lstmtune.crossval import fit_trial
from lstmtune.data.subset import tuning_train_set
from lstmtune.errors import TrialInfeasible
from lstmtune.kept_forecasts import keep_forecast
from lstmtune.problems import make_problem
from lstmtune.rolling import resolve_folds
from lstmtune.search_space import suggest
from lstmtune.training import NonFiniteLoss, TrainResult
from lstmtune.tuning.context import Problem, TuningRun
from lstmtune.tuning.events import progress
from lstmtune.tuning.failures import _free_memory, _is_oom, _oom_reason
from lstmtune.tuning.retry import with_retry
from lstmtune.tuning.samplers import may_prune_at, prune_schedule
from lstmtune.tuning.study_config import time_budget

if TYPE_CHECKING:
    import optuna


@dataclass
class _Outcome:
    """How one trained (or skipped) trial ended, before it is told."""

    state: Any
    value: float | None  # the validation objective (COMPLETE only)
    reason: str
    history: list[dict[str, float]]
    result: TrainResult | None = None
    n_train: int | None = None  # training windows/sequences it saw
    group: list[int] | None = None  # trial numbers trained together (fused)


def begin(run: TuningRun, trial: optuna.Trial) -> tuple[dict[str, Any], Problem | None, str]:
    """Suggest a configuration and build its problem; (params, None, reason) if infeasible."""
    if run.n_workers > 1:
        with_retry("set_user_attr", functools.partial(trial.set_user_attr, "worker", run.worker_id))
    params = with_retry("suggest", lambda: suggest(trial, run.space))
    try:
        return params, make_problem(run.parts, run.meta, params), ""
    except TrialInfeasible as exc:
        return params, None, str(exc)


def _epoch_callback(
    run: TuningRun, trial: optuna.Trial, history: list[dict[str, float]]
) -> Callable[[int, float, float], None]:
    """Records each epoch in ``history``, prints it when chatty, reports it and prunes (asking
    the pruner only at the epochs where it can decide: :func:`.samplers.prune_schedule`)."""
    import optuna

    schedule = prune_schedule(run.study.pruner)
    name = run.objective_name

    def on_epoch(epoch: int, value: float, train_loss: float) -> None:
        history.append({"epoch": float(epoch), name: value, "train_loss": train_loss})
        if run.chatty:
            progress(
                f"trial {trial.number} epoch {epoch}: {name}={value:.4g} "
                f"train_loss={train_loss:.4g}",
                "epoch",
                trial=trial.number,
                epoch=epoch,
                value=value,
                train_loss=train_loss,
            )
        if run.multi:  # Optuna keeps no intermediate values (and no pruning) for several objectives
            return
        with_retry("report", lambda: trial.report(value, epoch))
        if may_prune_at(epoch, schedule) and with_retry("should_prune", trial.should_prune):
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")

    return on_epoch


def _deadline(run: TuningRun) -> float | None:
    """When the tuning's time budget (:func:`.study_config.time_budget`) runs out, as a
    ``time.time()`` value (wall-clock: the folds 2..k of a k-fold trial may train in worker
    processes): a trial still training then stops after its epoch, in every fold."""
    timeout = time_budget(run.cfg, run.meta)
    if timeout is None:
        return None
    return time.time() + (run.started + timeout - time.perf_counter())


def train_one(
    run: TuningRun, trial: optuna.Trial, params: dict[str, Any], problem: Problem
) -> _Outcome:
    """Train one configuration alone."""
    import optuna

    TS = optuna.trial.TrialState
    cfg = run.cfg
    history: list[dict[str, float]] = []
    n_train: int | None = None
    try:
        train_set = tuning_train_set(problem, run.subset, cfg.train.seed)
        n_train = len(train_set)
        result = fit_trial(  # small classification sets: k-fold cross-validation
            problem,
            params,
            train_set,
            problem.tensors("val"),
            cross_validate=run.subset is None,
            forecast_folds=resolve_folds(cfg.tune.forecast_folds, run.meta),
            patience=cfg.train.patience,
            grad_clip=cfg.train.grad_clip,
            seed=cfg.train.seed + trial.number,
            device=run.device,
            amp=cfg.train.amp,
            on_epoch=_epoch_callback(run, trial, history),
            parallel=(cfg.train.parallel_fits, cfg.train.threads),
            deadline=_deadline(run),
        )
    except optuna.TrialPruned:
        return _Outcome(TS.PRUNED, None, "", history, n_train=n_train)
    except NonFiniteLoss as exc:
        return _Outcome(TS.FAIL, None, str(exc), history, n_train=n_train)
    except (MemoryError, RuntimeError) as exc:
        if not _is_oom(exc):
            raise
        _free_memory()
        return _Outcome(TS.FAIL, None, _oom_reason(exc), history, n_train=n_train)
    keep_forecast(run, trial.number, params, problem, result)
    return _Outcome(TS.COMPLETE, float(result.best_value), "", history, result, n_train)


def train_group(
    run: TuningRun,
    trials: list[optuna.Trial],
    params_g: list[dict[str, Any]],
    problems_g: list[Problem],
) -> list[_Outcome]:
    """Train same-shape configurations as one fused model; out of memory -> one by one."""
    from lstmtune import fused

    cfg = run.cfg
    histories: list[list[dict[str, float]]] = [[] for _ in trials]
    numbers = [t.number for t in trials]
    try:
        train_sets = [tuning_train_set(p, run.subset, cfg.train.seed) for p in problems_g]
        results = fused.train_fused(
            problems_g,
            params_g,
            train_sets,
            [p.tensors("val") for p in problems_g],
            seeds=[cfg.train.seed + t.number for t in trials],
            patience=cfg.train.patience,
            grad_clip=cfg.train.grad_clip,
            device=run.device,
            amp=cfg.train.amp,
            on_epoch=[_epoch_callback(run, t, h) for t, h in zip(trials, histories, strict=True)],
        )
    except (MemoryError, RuntimeError) as exc:
        if not _is_oom(exc):
            raise
        del exc
        _free_memory()
        progress(
            f"trials {', '.join(map(str, numbers))} ran out of memory as one fused model; "
            "training them one by one"
        )
        return [
            train_one(run, t, p, pr) for t, p, pr in zip(trials, params_g, problems_g, strict=True)
        ]
    return [
        _fused_outcome(r, h, len(tr), numbers)
        for r, h, tr in zip(results, histories, train_sets, strict=True)
    ]


def _fused_outcome(
    r: Any, history: list[dict[str, float]], n_train: int, numbers: list[int]
) -> _Outcome:
    """How one member of a fused group ended (``r``: its fused training result)."""
    import optuna

    TS = optuna.trial.TrialState
    if r.pruned:
        return _Outcome(TS.PRUNED, None, "", history, n_train=n_train, group=numbers)
    if r.error is not None:
        reason = _oom_reason(r.error) if _is_oom(r.error) else str(r.error)
        return _Outcome(TS.FAIL, None, reason, history, n_train=n_train, group=numbers)
    return _Outcome(TS.COMPLETE, float(r.best_value), "", history, r, n_train, numbers)

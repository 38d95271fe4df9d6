"""Finishing a trained trial: its user attributes, its MLflow run, the tell (with retry, accepting
a lost race against the heartbeat check) and its progress line — Optuna's ``_tell`` for this loop.
Also the failure limit checked after each failure."""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any

from lstmtune.tuning.context import TuningRun
from lstmtune.tuning.events import log, progress
from lstmtune.tuning.failures import _abort_message, _failures
from lstmtune.tuning.heartbeat import tell
from lstmtune.tuning.objectives import objective_values
from lstmtune.tuning.retry import with_retry
from lstmtune.tuning.train_trial import _Outcome

if TYPE_CHECKING:
    import optuna


def record(trial: optuna.Trial, outcome: _Outcome) -> None:
    """User attributes of a trained trial (while its heartbeat still runs)."""
    import optuna

    from lstmtune.model import count_parameters

    TS = optuna.trial.TrialState
    attrs: dict[str, Any] = {}
    if outcome.state == TS.COMPLETE:
        assert outcome.result is not None
        r = outcome.result
        attrs = {
            "best_epoch": r.best_epoch,
            "epochs_run": r.epochs_run,
            "train_seconds": round(r.train_seconds, 3),
            "param_count": count_parameters(r.model),  # the ensemble's work budget
        }
        if r.oof_log_loss:  # lstmtune.classify_stack
            attrs["oof_log_loss"] = [round(v, 5) for v in r.oof_log_loss]
    if outcome.n_train is not None:
        attrs["n_train"] = outcome.n_train
    if outcome.group is not None:
        attrs["fused_group"] = outcome.group
    for key, val in attrs.items():
        with_retry("set_user_attr", functools.partial(trial.set_user_attr, key, val))
    if outcome.reason and outcome.state == TS.FAIL:
        with_retry(
            "set_user_attr",
            functools.partial(trial.set_user_attr, "fail_reason", outcome.reason),
        )


def conclude(
    run: TuningRun, trial: optuna.Trial, params: dict[str, Any], outcome: _Outcome
) -> None:
    """MLflow run, tell (with retry), progress line."""
    import optuna

    from lstmtune import tracking

    TS = optuna.trial.TrialState
    state, reason = outcome.state, outcome.reason
    if run.parent_run_id:
        tracking.log_trial_run(
            run.cfg,
            run.parent_run_id,
            trial.number,
            {**run.fixed, **params},
            outcome.history,
            state.name,
            {"reason": reason} if reason else None,
        )
    if state == TS.COMPLETE:
        assert outcome.value is not None and outcome.result is not None
        values = objective_values(run.cfg, outcome.value, outcome.result)
        frozen = tell(run.study, run.storage, trial, values=values if run.multi else values[0])
    else:
        frozen = tell(run.study, run.storage, trial, state=state)
    if frozen.state != state:
        progress(
            f"trial {trial.number:>3} was marked {frozen.state.name} by another worker "
            f"(no heartbeat for {run.grace} s); its result is discarded"
        )
    if state == TS.FAIL:
        log.warning("trial %d failed: %s", trial.number, reason)
    report_progress(run, frozen)


def fail_unfinished(run: TuningRun, trials: list[optuna.Trial]) -> None:
    """Fail trials that will not be trained (an error, or the failure limit), best effort."""
    import optuna

    for t in trials:
        with contextlib.suppress(Exception):
            with_retry(
                "tell",
                functools.partial(
                    run.study.tell, t, state=optuna.trial.TrialState.FAIL, skip_if_finished=True
                ),
                seconds=10,
            )


def over_failure_limit(run: TuningRun) -> str | None:
    """The abort message when the study's failures exceed ``tune.max_failed_trials``."""
    failed = _failures(run.all_trials())
    return (
        _abort_message(run.cfg, failed, run.study_name)
        if len(failed) > run.cfg.tune.max_failed_trials
        else None
    )


def report_progress(run: TuningRun, frozen: Any) -> None:
    """The progress line (and event) of a told trial."""
    done = run.n_finished()
    state = frozen.state.name.lower()
    run.counts[state] = run.counts.get(state, 0) + 1
    common = {
        "number": frozen.number,
        "state": state,
        "objective": run.objective_name,
        "done": done,
        "total": run.target,
        "counts": dict(run.counts),
        "worker": run.worker_id,
    }
    if run.multi:
        _report_multi(run, frozen, common)
    else:
        _report_single(run, frozen, common)


def _report_multi(run: TuningRun, frozen: Any, common: dict[str, Any]) -> None:
    import optuna

    names = run.names
    complete = [
        t for t in run.all_trials() if t.state == optuna.trial.TrialState.COMPLETE and t.values
    ]
    best_value = min((float(t.values[0]) for t in complete), default=None)
    front = with_retry("best trials", lambda: run.study.best_trials) if complete else []
    values = dict(zip(names, frozen.values, strict=True)) if frozen.values else {}
    shown = "  ".join(f"{n}={(f'{values[n]:.4g}' if n in values else '-'):<10}" for n in names)
    best = f"{best_value:.4g}" if best_value is not None else "-"
    progress(
        f"trial {frozen.number:>3} {common['state']:<8} {shown} best={best} "
        f"front={len(front)}  [{common['done']}/{run.target}]",
        "trial",
        value=values.get(run.objective_name),
        values=values,
        best=best_value,
        front=len(front),
        **common,
    )


def _report_single(run: TuningRun, frozen: Any, common: dict[str, Any]) -> None:
    best_single: float | None
    try:
        best_single = float(with_retry("best value", lambda: run.study.best_value))
        best = f"{best_single:.4g}"
    except ValueError:
        best_single, best = None, "-"
    value = f"{frozen.value:.4g}" if frozen.value is not None else "-"
    progress(
        f"trial {frozen.number:>3} {common['state']:<8} "
        f"{run.objective_name}={value:<10} best={best}  [{common['done']}/{run.target}]",
        "trial",
        value=frozen.value,
        best=best_single,
        **common,
    )

"""Running the trials of one ask round, as Optuna's ``_run_trial``: each under its heartbeat,
trained (:mod:`.train_trial`) and told (:mod:`.finish`); an unexpected error fails the trials not
told yet and stops the worker. Several trials (``tune.fuse_trials``) are planned into fused groups
(:func:`lstmtune.fused_plan.plan_trial_groups`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lstmtune.fused_plan import plan_trial_groups
from lstmtune.tuning.context import Problem, TuningRun
from lstmtune.tuning.finish import conclude, fail_unfinished, over_failure_limit, record
from lstmtune.tuning.heartbeat import _Heartbeat
from lstmtune.tuning.train_trial import _Outcome, begin, train_group, train_one

if TYPE_CHECKING:
    import optuna


def _run_single(run: TuningRun, trial: optuna.Trial) -> str | None:
    """One asked trial, exactly as without fusing. Returns an abort message or None."""
    import optuna

    with _Heartbeat(run.storage, trial._trial_id, run.heartbeat):
        try:
            params, problem, why = begin(run, trial)
            outcome = (
                _Outcome(optuna.trial.TrialState.PRUNED, None, why, [])
                if problem is None
                else train_one(run, trial, params, problem)
            )
        except BaseException as exc:  # an unexpected error fails the trial and the worker
            fail_unfinished(run, [trial])
            raise exc
        record(trial, outcome)
    conclude(run, trial, params, outcome)
    return over_failure_limit(run) if outcome.state == optuna.trial.TrialState.FAIL else None


def _run_batch(run: TuningRun, asked: list[optuna.Trial]) -> str | None:
    """Several asked trials (``tune.fuse_trials``): infeasible ones are pruned at once, the
    rest planned into fused groups; a group of one trains alone. Every trial keeps its own
    heartbeat until it is told. Returns an abort message or None."""
    batch = _Batch(run, {t.number: t for t in asked})
    with contextlib.ExitStack() as stack:
        batch.beats = {
            t.number: stack.enter_context(_Heartbeat(run.storage, t._trial_id, run.heartbeat))
            for t in asked
        }
        try:
            abort = batch.train(asked)
        except (
            BaseException
        ) as exc:  # an unexpected error fails the unfinished trials and the worker
            fail_unfinished(run, list(batch.pending.values()))
            raise exc
        if abort:
            return abort
    return over_failure_limit(run)


@dataclass
class _Batch:
    """The trials of one fused ask round: those not told yet, and their heartbeats."""

    run: TuningRun
    pending: dict[int, Any]
    beats: dict[int, _Heartbeat] | None = None

    def train(self, asked: list[optuna.Trial]) -> str | None:
        """Prune the infeasible trials, train the others group by group and tell each; stop
        (failing the rest) when the failure limit is exceeded. Returns an abort message or None."""
        import optuna

        run = self.run
        items: list[tuple[optuna.Trial, dict[str, Any], Problem]] = []
        for trial in asked:
            params, problem, why = begin(run, trial)
            if problem is None:
                self.finish(trial, params, _Outcome(optuna.trial.TrialState.PRUNED, None, why, []))
            else:
                items.append((trial, params, problem))
        groups = (
            plan_trial_groups([i[1] for i in items], [i[2] for i in items], run.fuse, run.device)
            if items
            else []
        )
        for gi, group in enumerate(groups):
            abort_now = over_failure_limit(run)
            if abort_now:  # the rest is not trained; failed without a reason, they do not count
                fail_unfinished(run, [items[i][0] for g in groups[gi:] for i in g])
                return abort_now
            members = [items[i] for i in group]
            if len(members) == 1:
                outcomes = [train_one(run, *members[0])]
            else:
                outcomes = train_group(
                    run, [m[0] for m in members], [m[1] for m in members], [m[2] for m in members]
                )
            for (trial, params, _), outcome in zip(members, outcomes, strict=True):
                self.finish(trial, params, outcome)
        return None

    def finish(self, trial: optuna.Trial, params: dict[str, Any], outcome: _Outcome) -> None:
        """Record the trial, stop its heartbeat, tell it."""
        assert self.beats is not None
        record(trial, outcome)
        self.beats[trial.number].__exit__(None, None, None)
        conclude(self.run, trial, params, outcome)
        self.pending.pop(trial.number, None)

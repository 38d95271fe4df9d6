"""The tuning loop, modelled on Optuna's ``study/_optimize.py``: :func:`run_study` opens (creates,
warm-starts or resumes) the study, :func:`_optimize_sequential` asks for trials under the study
lock until the budget is used up, and :func:`_run_single` / :func:`_run_batch` run the asked
trials under their heartbeats and tell them (:mod:`.run_trial`)."""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lstmtune.config import RunConfig, objective_name
from lstmtune.errors import UserError
from lstmtune.fused_plan import fuse_off_reason, fuse_setting
from lstmtune.kept_forecasts import attach_forecasts
from lstmtune.rolling import resolve_folds
from lstmtune.search_space import fixed_params
from lstmtune.training import select_device
from lstmtune.tuning.context import TuningRun
from lstmtune.tuning.events import progress
from lstmtune.tuning.failures import _abort_message, _failures
from lstmtune.tuning.heartbeat import fail_unbeaten_trials
from lstmtune.tuning.objectives import objective_names
from lstmtune.tuning.result import StudyResult, _result
from lstmtune.tuning.retry import _retry_create, with_retry
from lstmtune.tuning.run_trial import _run_batch, _run_single
from lstmtune.tuning.samplers import _max_epochs, _pruner, _sampler
from lstmtune.tuning.storage import _storage, _StudyLock, redact
from lstmtune.tuning.study_config import (
    budget_reason,
    check_study_config,
    default_study_name,
    study_target,
    subset_fraction,
    time_budget,
    tuning_budget,
)
from lstmtune.tuning.warm_start import _start_from_default, _warm_start

if TYPE_CHECKING:
    import pandas as pd

STALE_WAIT_FACTOR = (
    2.0  # waiting for other workers' running trials: at most this x grace + 5 s idle
)


def run_study(
    cfg: RunConfig,
    parts: dict[str, pd.DataFrame],
    meta: dict[str, Any],
    *,
    parent_run_id: str | None = None,
    worker_id: int = 0,
    n_workers: int | None = None,
) -> StudyResult:
    """Run (or resume, or join) the study until it has ``tune.n_trials`` finished trials.

    ``worker_id``/``n_workers`` (default: 0 and ``tune.workers``): one of N processes sharing the
    study through an RDB storage; each stops when the *study* has its trials, so together they run
    exactly ``n_trials``. The result describes the whole study (see
    :func:`~lstmtune.tuning.result.best_from_study`).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n_workers = cfg.tune.workers if n_workers is None else n_workers
    if n_workers > 1:
        check_study_config(cfg, n_workers)
    if not 0 <= worker_id < max(1, n_workers):
        raise UserError(f"tune: worker_id {worker_id} is outside 0..{n_workers - 1}")
    run = _open_run(cfg, parts, meta, parent_run_id, worker_id, n_workers)
    _announce(run)
    abort = _optimize_sequential(run)
    if abort:
        raise RuntimeError(abort)
    result = _result(
        run.study,
        run.study_name,
        run.storage_url,
        run.objective_name,
        run.fixed,
        run.reused,
        time.perf_counter() - run.started,
        names=run.names,
        tolerance=cfg.tune.pareto_tolerance,
        subset=run.subset,
    )
    attach_forecasts(result.extra, run.forecasts)
    return result


def _open_run(
    cfg: RunConfig,
    parts: dict[str, pd.DataFrame],
    meta: dict[str, Any],
    parent_run_id: str | None,
    worker_id: int,
    n_workers: int,
) -> TuningRun:
    """Connect, create or load the study (warm start when new, reseeded sampler when resumed)
    and describe this worker's run of it."""
    from lstmtune.progress import verbose

    space: dict[str, Any] = meta["search_space"]
    storage_url = str(cfg.tune.storage)
    study_name = cfg.tune.study_name or default_study_name(cfg, meta)
    heartbeat = int(cfg.tune.heartbeat_seconds)
    storage = _storage(storage_url, heartbeat)
    lock = _StudyLock(storage_url, study_name)
    names = objective_names(cfg, meta)
    sampler, pruner = _sampler(cfg, space, worker_id), _pruner(cfg, _max_epochs(space))
    study = _create_study(study_name, storage, names, sampler, pruner)
    with lock():
        existing = with_retry("read trials", lambda: study.get_trials(deepcopy=False))
        if not existing:
            _enqueue_first_trial(cfg, meta, study)
    if existing:  # resuming: a sampler seeded as in the first run would replay its configurations
        sampler = _sampler(cfg, space, worker_id, len(existing))
        study = _load_study(study_name, storage, sampler, pruner)
    finished = _finished_states()
    device = select_device(cfg.train.device)
    fixed = fixed_params(space)
    return TuningRun(
        cfg=cfg,
        parts=parts,
        meta=meta,
        parent_run_id=parent_run_id,
        worker_id=worker_id,
        n_workers=n_workers,
        storage_url=storage_url,
        study_name=study_name,
        heartbeat=heartbeat,
        storage=storage,
        lock=lock,
        study=study,
        names=names,
        objective_name=objective_name(meta),
        subset=subset_fraction(cfg),
        fuse=fuse_setting(cfg, meta),
        device=device,
        fixed=fixed,
        target=study_target(cfg, space),
        reused=sum(t.state in finished for t in existing),
        started=time.perf_counter(),
        chatty=verbose() >= 2,
    )


def _finished_states() -> tuple[Any, ...]:
    import optuna

    return (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _create_study(
    study_name: str, storage: Any, names: list[str], sampler: Any, pruner: Any
) -> Any:
    """Create the study, or load it if it exists; refuse one with another number of objectives."""
    import optuna

    study = _retry_create(
        lambda: optuna.create_study(
            study_name=study_name,
            storage=storage,
            directions=["minimize"] * len(names),
            load_if_exists=True,
            sampler=sampler,
            pruner=pruner,
        )
    )
    if len(study.directions) != len(names):
        raise UserError(
            f"tune.objectives: study '{study_name}' was created with {len(study.directions)} "
            f"objective(s), not {len(names)} ({', '.join(names)}); use a new tune.study_name"
        )
    return study


def _enqueue_first_trial(cfg: RunConfig, meta: dict[str, Any], study: Any) -> None:
    """A new study's first trial: the champion's configuration, else the default one."""
    started_warm = cfg.tune.warm_start and _warm_start(cfg, meta, study)
    if not started_warm and cfg.tune.start_from_default and cfg.tune.sampler != "grid":
        _start_from_default(meta, study)


def _load_study(study_name: str, storage: Any, sampler: Any, pruner: Any) -> Any:
    """The existing study, with this run's sampler and pruner."""
    import optuna

    return with_retry(
        "load study",
        lambda: optuna.load_study(
            study_name=study_name, storage=storage, sampler=sampler, pruner=pruner
        ),
    )


def _announce(run: TuningRun) -> None:
    """The progress lines that open a run: the study, and the settings that change its trials."""
    cfg, names = run.cfg, run.names
    remaining = max(0, run.target - run.reused)
    who = f" (worker {run.worker_id + 1}/{run.n_workers})" if run.n_workers > 1 else ""
    progress(
        f"study '{run.study_name}' on {redact(run.storage_url)}: {run.reused} finished trial(s) "
        f"reused, {remaining} to run, device {run.device}{who}"
    )
    if run.multi:
        how = {"tpe": "multi-objective TPE", "cmaes": "NSGA-II"}.get(
            cfg.tune.sampler, cfg.tune.sampler
        )
        progress(
            f"multi-objective: minimising {', '.join(names)} ({how}, no pruning); the registered "
            f"trial is the lowest {names[1]} within {cfg.tune.pareto_tolerance:.0%} of the best "
            f"{names[0]} on the Pareto front"
        )
    if run.subset is not None:
        what = (
            "most recent training windows"
            if run.meta["task"] == "forecast"
            else "training sequences (stratified)"
        )
        progress(f"subset: trials train on {run.subset:.0%} of the {what}; validation is unchanged")
    folds = resolve_folds(cfg.tune.forecast_folds, run.meta)
    if folds > 1 and run.subset is None:
        progress(
            f"rolling-origin validation: a trial's {run.objective_name} is the mean over {folds}"
            " windows of the validation split's length, the validation split and the ones before"
            " it, each forecast by a network trained on the rows before it (tune.forecast_folds)"
        )
    why_not = fuse_off_reason(cfg, run.meta)
    if cfg.tune.fuse_trials not in ("off", 0, 1) and why_not is not None:
        progress(f"fuse_trials: off, because {why_not}")
    budget = tuning_budget(run.meta)
    if cfg.tune.timeout is None and budget is not None:
        progress(
            f"tuning budget: no trial starts after {budget:.0f} s ({budget_reason(run.meta)};"
            " tune.timeout or --timeout sets another)"
        )


@dataclass
class _Round:
    """What one ask round under the study lock found: the trials asked for, the trials other
    workers are running, and whether the loop is to stop (with an abort message)."""

    asked: list[Any]
    running: frozenset[int]
    stop: bool = False
    abort: str | None = None


@dataclass
class _Waiting:
    """This worker waiting for the last trials, which other workers are running: if one dies, its
    trial is failed after the heartbeat grace period and re-queued, and this worker runs it."""

    since: float | None = None
    on: frozenset[int] = frozenset()

    def gives_up(self, running: frozenset[int], grace: int) -> bool:
        """True when the same trials have been running without progress for too long."""
        now = time.monotonic()
        if running != self.on or self.since is None:
            if self.since is None:
                progress(
                    f"waiting for {len(running)} running trial(s) of other workers (a dead "
                    f"worker's trial is retried after {grace} s without heartbeat)"
                )
            self.since, self.on = now, running
        elif now - self.since > STALE_WAIT_FACTOR * grace + 5:
            progress(
                f"stopping: trial(s) {', '.join(map(str, sorted(running)))} still RUNNING "
                "without progress"
            )
            return True
        return False


def _say_out_of_time(run: TuningRun, timeout: float) -> None:
    """One line when the time budget, not the number of trials, ends the tuning."""
    finished = sum(t.state in _finished_states() for t in run.all_trials())
    who = f"worker {run.worker_id + 1}/{run.n_workers}: " if run.n_workers > 1 else ""
    if finished < run.target:
        progress(
            f"{who}tuning stopped by its {timeout:.0f} s budget: {finished} of {run.target} "
            "trials finished (tune.timeout / --timeout)"
        )


def _optimize_sequential(run: TuningRun) -> str | None:
    """Ask, run and tell trials until the study has its trials (or the time is up, the sampler
    stops the study, or too many trials failed). Returns an abort message or None."""
    cfg, study = run.cfg, run.study
    abort: str | None = None
    waiting = _Waiting()
    timeout = time_budget(cfg, run.meta)
    study._thread_local.in_optimize_loop = True  # lets samplers (grid exhausted) call study.stop()
    try:
        while not study._stop_flag:
            if timeout is not None and time.perf_counter() - run.started >= timeout:
                _say_out_of_time(run, timeout)
                break
            round_ = _ask_round(run)
            if round_.stop:
                abort = round_.abort
                break
            if not round_.asked:
                if waiting.gives_up(round_.running, run.grace):
                    break
                time.sleep(min(1.0, run.heartbeat / 2))
                continue
            waiting.since = None
            asked = round_.asked
            abort = _run_single(run, asked[0]) if len(asked) == 1 else _run_batch(run, asked)
            if abort:
                break
    finally:
        study._thread_local.in_optimize_loop = False
        run.lock.dispose()
    return abort


def _ask_round(run: TuningRun) -> _Round:
    """Under the study lock: fail dead workers' trials, check the failure limit and the budget,
    and ask for as many trials as the budget has room for (up to the fused width)."""
    import optuna

    with run.lock():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with_retry("fail stale trials", lambda: optuna.storages.fail_stale_trials(run.study))
        trials = run.all_trials()
        if run.heartbeat and with_retry(
            "fail unbeaten trials",
            functools.partial(fail_unbeaten_trials, run.study, run.grace, trials),
        ):
            trials = run.all_trials()  # states changed (and retries were enqueued)
        failed = _failures(trials)
        if len(failed) > run.cfg.tune.max_failed_trials:
            abort = _abort_message(run.cfg, failed, run.study_name)
            return _Round([], frozenset(), stop=True, abort=abort)
        finished = sum(t.state in _finished_states() for t in trials)
        running = frozenset(t.number for t in trials if t.state == optuna.trial.TrialState.RUNNING)
        if finished >= run.target:
            return _Round([], running, stop=True)
        free = run.target - finished - len(running)
        return _Round(_ask(run, min(run.width, max(0, free))), running)


def _ask(run: TuningRun, n: int) -> list[Any]:
    """Ask for ``n`` trials; each records its first heartbeat at once (still under the lock: a
    RUNNING trial with no heartbeat is a dead worker's)."""
    asked = []
    with warnings.catch_warnings():
        # "heartbeat ... supposed to be used with Study.optimize": we beat ourselves
        warnings.simplefilter("ignore")
        for _ in range(n):
            trial = with_retry("ask", run.study.ask)
            if run.heartbeat:
                with_retry(
                    "first heartbeat",
                    functools.partial(run.storage.record_heartbeat, trial._trial_id),
                )
            asked.append(trial)
    return asked

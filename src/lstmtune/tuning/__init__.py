"""Optuna backend: one trial = one training run reporting the objective after every epoch.

One process runs :func:`run_study`; N processes (KFP ``ParallelFor`` iterations on a cluster, or
local processes) run it with ``worker_id=0..N-1`` and share one study through an RDB storage
(PostgreSQL). The loop is Optuna's ask/tell so that every storage call can be retried:

* **Budget** — ``tune.n_trials`` is the number of *finished* (COMPLETE + PRUNED) trials of the
  study, all workers and all runs together. Before each ``ask`` a worker counts finished + RUNNING
  trials in the storage under a study-wide lock (a PostgreSQL advisory lock; MySQL ``GET_LOCK``;
  none needed for single-writer SQLite), so N workers never overshoot. FAIL trials do not use up
  the budget; they are bounded by ``tune.max_failed_trials``, counted over the whole study.
* **Dead workers** — trials send heartbeats every ``tune.heartbeat_seconds``; a RUNNING trial
  without a heartbeat for 2x that long is marked FAIL by the next worker that checks and is
  re-queued once (Optuna's ``RetryHeartbeatStaleTrialCallback(max_retry=1)``). A trial's first
  heartbeat is written under the study lock right after ``ask``, so a RUNNING trial that never
  beat belongs to a worker that died in between; :func:`fail_unbeaten_trials` fails and re-queues
  it.
* **Failed trials** — non-finite loss and out-of-memory (CUDA OOM, ``MemoryError``) fail the
  trial, not the worker; the reason is the trial's ``fail_reason`` user attribute and the
  ``reason`` tag of its MLflow run.
* **Database outages** — ``pool_pre_ping`` plus retries with exponential backoff (up to
  ``DB_RETRY_SECONDS``) around every storage call, so a PostgreSQL restart loses no trial.
* **Warm start** — a *new* study first runs the registered ``@champion``'s hyperparameters (the
  ``best.<name>`` params of the champion version's MLflow run, restricted to the current space).
* **Fused trials** (``tune.fuse_trials``: off | auto | K) — each round asks up to K trials
  (``fused.AUTO_MAX_MEMBERS`` for auto) without exceeding the budget, prunes infeasible ones at
  once, and trains same-shape configurations as one fused model
  (:func:`lstmtune.fused.train_fused`, grouped by :func:`lstmtune.fused_plan.plan_trial_groups`);
  each trial keeps its own heartbeat, intermediate values, pruning, seed (``train.seed + number``)
  and result. A group that runs out of memory is retrained one by one. ``off`` (the default) is
  the one-trial-at-a-time loop.
* **Several objectives** (``tune.objectives``, e.g. ``[val, param_count]``) — a multi-objective
  study (MO-TPE for ``tpe``, NSGA-II for ``cmaes``; random and grid unchanged), no pruning; the
  result is the :func:`pareto_choice` of the Pareto front.
* **Subset** (``tune.subset``) — trials train on part of the training data
  (:func:`lstmtune.data.subset.subset_indices`); validation is unchanged, retraining uses
  everything.

Modules: :mod:`.study` (the loop), :mod:`.run_trial` / :mod:`.train_trial` (one ask round's
trials), :mod:`.finish` (tell and progress lines), :mod:`.heartbeat`, :mod:`.storage` (RDB storage,
study lock), :mod:`.retry`, :mod:`.samplers`, :mod:`.objectives`, :mod:`.warm_start`,
:mod:`.failures`, :mod:`.result`, :mod:`.study_config`; subsets live in :mod:`lstmtune.data.subset`
and fused-group planning in :mod:`lstmtune.fused_plan`. Every name is re-exported here.
"""

from __future__ import annotations

from lstmtune.data.subset import subset_indices, subset_size, take_rows, tuning_train_set
from lstmtune.fused_plan import fuse_setting, fuse_width
from lstmtune.tuning.context import Problem as Problem
from lstmtune.tuning.context import TuningRun as TuningRun
from lstmtune.tuning.events import log as log
from lstmtune.tuning.events import progress
from lstmtune.tuning.failures import _abort_message as _abort_message
from lstmtune.tuning.failures import _fail_reason as _fail_reason
from lstmtune.tuning.failures import _failures as _failures
from lstmtune.tuning.failures import _free_memory as _free_memory
from lstmtune.tuning.failures import _is_oom as _is_oom
from lstmtune.tuning.heartbeat import _Heartbeat as _Heartbeat
from lstmtune.tuning.heartbeat import _stale_callback as _stale_callback
from lstmtune.tuning.heartbeat import fail_unbeaten_trials, tell
from lstmtune.tuning.objectives import (
    dominates,
    is_multi_objective,
    objective_names,
    objective_values,
    pareto_choice,
)
from lstmtune.tuning.result import StudyResult, best_from_study
from lstmtune.tuning.result import _result as _result
from lstmtune.tuning.retry import DB_RETRY_SECONDS, with_retry
from lstmtune.tuning.retry import _retry_create as _retry_create
from lstmtune.tuning.retry import _retryable as _retryable
from lstmtune.tuning.samplers import _max_epochs as _max_epochs
from lstmtune.tuning.samplers import _pruner as _pruner
from lstmtune.tuning.samplers import _sampler as _sampler
from lstmtune.tuning.storage import _backend as _backend
from lstmtune.tuning.storage import _is_sqlite as _is_sqlite
from lstmtune.tuning.storage import _storage as _storage
from lstmtune.tuning.storage import _StudyLock as _StudyLock
from lstmtune.tuning.storage import redact
from lstmtune.tuning.study import STALE_WAIT_FACTOR, run_study
from lstmtune.tuning.study_config import (
    check_study_config,
    default_study_name,
    study_target,
    subset_fraction,
)
from lstmtune.tuning.train_trial import _Outcome as _Outcome
from lstmtune.tuning.warm_start import _MISSING as _MISSING
from lstmtune.tuning.warm_start import _coerce as _coerce
from lstmtune.tuning.warm_start import _same_number as _same_number
from lstmtune.tuning.warm_start import _spec_json_params as _spec_json_params
from lstmtune.tuning.warm_start import _start_from_default as _start_from_default
from lstmtune.tuning.warm_start import _warm_start as _warm_start
from lstmtune.tuning.warm_start import champion_params

__all__ = [
    "DB_RETRY_SECONDS",
    "STALE_WAIT_FACTOR",
    "StudyResult",
    "best_from_study",
    "champion_params",
    "check_study_config",
    "default_study_name",
    "dominates",
    "fail_unbeaten_trials",
    "fuse_setting",
    "fuse_width",
    "is_multi_objective",
    "objective_names",
    "objective_values",
    "pareto_choice",
    "progress",
    "redact",
    "run_study",
    "study_target",
    "subset_fraction",
    "subset_indices",
    "subset_size",
    "take_rows",
    "tell",
    "tuning_train_set",
    "with_retry",
]

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
  beat belongs to a worker that died in between; :func:`fail_unbeaten_trials` fails and re-queues it.
* **Failed trials** — non-finite loss and out-of-memory (CUDA OOM, ``MemoryError``) fail the
  trial, not the worker; the reason is the trial's ``fail_reason`` user attribute and the
  ``reason`` tag of its MLflow run.
* **Database outages** — ``pool_pre_ping`` plus retries with exponential backoff (up to
  ``DB_RETRY_SECONDS``) around every storage call, so a PostgreSQL restart loses no trial.
* **Warm start** — a *new* study first runs the registered ``@champion``'s hyperparameters (the
  ``best.<name>`` params of the champion version's MLflow run, restricted to the current space).
* **Fused trials** (``tune.fuse_trials``: off | auto | K) — each round asks up to K trials
  (``fused.AUTO_MAX_MEMBERS`` for auto) without exceeding the budget, prunes infeasible ones at
  once, and trains same-shape configurations as one fused model (:func:`lstmtune.fused.train_fused`,
  grouped by :func:`lstmtune.fused.plan_groups`); each trial keeps its own heartbeat, intermediate
  values, pruning, seed (``train.seed + number``) and result. A group that runs out of memory is
  retrained one by one. ``off`` (the default) is the one-trial-at-a-time loop.
* **Several objectives** (``tune.objectives``, e.g. ``[val, param_count]``) — a multi-objective
  study (MO-TPE for ``tpe``, NSGA-II for ``cmaes``; random and grid unchanged), no pruning; the
  result is the :func:`pareto_choice` of the Pareto front.
* **Subset** (``tune.subset``) — trials train on part of the training data
  (:func:`subset_indices`); validation is unchanged, retraining uses everything.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import gc
import hashlib
import json
import logging
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from lstmtune.config import OBJECTIVES, RunConfig
from lstmtune.errors import TrialInfeasible, UserError
from lstmtune.search_space import (
    default_configuration,
    fixed_params,
    grid_size,
    grid_space,
    suggest,
)
from lstmtune.training import (
    ClassifyProblem,
    ForecastProblem,
    NonFiniteLoss,
    TensorSet,
    TrainResult,
    make_problem,
    select_device,
    train,
)

log = logging.getLogger("lstmtune")

T = TypeVar("T")

DB_RETRY_SECONDS = 120.0  # how long a storage call is retried through a database outage
Problem = ForecastProblem | ClassifyProblem  # what make_problem returns
STALE_WAIT_FACTOR = (
    2.0  # waiting for other workers' running trials: at most this x grace + 5 s idle
)


def progress(message: str, event: str = "info", **fields: Any) -> None:
    """A progress event (text line or JSON, see :mod:`lstmtune.progress`)."""
    from lstmtune.progress import emit

    emit(event, message, **fields)


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


def redact(url: str) -> str:
    """A storage URL safe to print and record (password hidden)."""
    if "@" not in url:
        return url
    from sqlalchemy.engine import make_url

    try:
        return str(make_url(url).render_as_string(hide_password=True))
    except Exception:
        return url.split("@")[-1]


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
    # settings that change what a trial's values mean; only when set, so existing studies keep their names
    if list(cfg.tune.objectives) != ["val"]:
        parts["objectives"] = list(cfg.tune.objectives)
    if cfg.tune.subset is not None and cfg.tune.subset < 1:
        parts["subset"] = cfg.tune.subset
    key = json.dumps(parts, sort_keys=True)
    return f"{cfg.mlflow.model_name}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _backend(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return str(make_url(url).get_backend_name())
    except Exception:
        return url.split(":", 1)[0].split("+", 1)[0]


def _retryable(exc: BaseException) -> bool:
    """Connection-level database errors (server restarting, connection dropped, lock timeout)."""
    import sqlalchemy.exc
    from optuna.exceptions import StorageInternalError

    if isinstance(exc, StorageInternalError):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(
            exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
        )
    return isinstance(exc, sqlalchemy.exc.DisconnectionError | sqlalchemy.exc.TimeoutError)


def with_retry(what: str, func: Callable[[], T], *, seconds: float | None = None) -> T:
    """Call ``func``; on a connection-level database error retry with exponential backoff
    (0.25 s doubling up to 8 s) for up to ``seconds`` (default :data:`DB_RETRY_SECONDS`)."""
    budget = DB_RETRY_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + budget
    delay = 0.25
    attempt = 0
    while True:
        try:
            return func()
        except Exception as exc:
            attempt += 1
            if not _retryable(exc) or time.monotonic() + delay > deadline:
                raise
            first = (
                str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            )
            if attempt == 1:
                progress(
                    f"storage unavailable during {what} ({type(exc).__name__}: {first}); retrying for up to {budget:.0f} s"
                )
            log.warning(
                "storage error during %s (attempt %d), retrying in %.2f s: %s",
                what,
                attempt,
                delay,
                exc,
            )
            time.sleep(delay)
            delay = min(delay * 2, 8.0)


def _stale_callback() -> Any:
    import optuna

    cls = (
        getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
        or optuna.storages.RetryFailedTrialCallback
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" since Optuna 2.8
        return cls(max_retry=1)


def _storage(url: str, heartbeat_seconds: int | None = None) -> Any:
    """An Optuna RDB storage. With ``heartbeat_seconds`` the trials send heartbeats and a trial
    whose process died (no heartbeat for 2x the interval) is failed and re-queued once."""
    import optuna

    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    engine_kwargs: dict[str, Any] = (
        {"connect_args": {"timeout": 60}} if _is_sqlite(url) else {"pool_pre_ping": True}
    )
    kwargs: dict[str, Any] = {}
    if heartbeat_seconds:
        callback_key = (
            "heartbeat_stale_trial_callback"
            if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback")
            else "failed_trial_callback"
        )
        kwargs = {
            "heartbeat_interval": int(heartbeat_seconds),
            "grace_period": 2 * int(heartbeat_seconds),
            callback_key: _stale_callback(),
        }

    def make() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # heartbeats are an "experimental" Optuna feature
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)

    return _retry_create(make)


def _retry_create(make: Callable[[], T]) -> T:
    """Creating the schema concurrently (N workers on an empty database) can collide once."""
    import sqlalchemy.exc

    for attempt in range(5):
        try:
            return with_retry("connect", make)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


class _StudyLock:
    """A study-wide mutex held while counting the budget and asking for a trial, so N workers
    never start more than ``n_trials`` (PostgreSQL advisory lock, MySQL ``GET_LOCK``; a no-op
    for SQLite, which admits one worker). A worker that dies releases it with its connection."""

    def __init__(self, url: str, study_name: str) -> None:
        self.backend = _backend(url)
        self.key = int.from_bytes(
            hashlib.sha256(f"lstmtune:{study_name}".encode()).digest()[:8], "big", signed=True
        )
        self.name = f"lstmtune-{hashlib.sha256(study_name.encode()).hexdigest()[:40]}"
        self.engine: Any = None
        if self.backend in ("postgresql", "mysql", "mariadb"):
            import sqlalchemy
            from sqlalchemy.pool import NullPool

            self.engine = sqlalchemy.create_engine(url, poolclass=NullPool, pool_pre_ping=True)

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if self.engine is None:
            yield
            return
        from sqlalchemy import text

        def acquire() -> Any:
            conn = self.engine.connect()
            try:
                if self.backend == "postgresql":
                    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
                else:
                    conn.execute(text("SELECT GET_LOCK(:n, 600)"), {"n": self.name})
            except Exception:
                conn.close()
                raise
            return conn

        conn = with_retry("lock", acquire)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # a lost connection has released the lock already
                if self.backend == "postgresql":
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                else:
                    conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": self.name})
            with contextlib.suppress(Exception):
                conn.close()

    def dispose(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


def fail_unbeaten_trials(study: Any, grace: float, trials: list[Any]) -> list[int]:
    """Fail (and re-queue once, like a stale trial) RUNNING trials that never recorded a heartbeat
    and started more than ``grace`` seconds ago: their worker died between ``ask`` and the first
    beat, a window Optuna's :func:`~optuna.storages.fail_stale_trials` does not cover (it only
    looks at trials *with* a heartbeat). ``trials``: the study's trials as just read (no second
    read per round). Call it under the study lock, in which every live worker records a trial's
    first heartbeat before releasing the lock. Returns the failed numbers."""
    import optuna
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    storage = study._storage  # an RDBStorage, usually inside Optuna's _CachedStorage
    rdb = getattr(storage, "_backend", storage)
    if not isinstance(rdb, optuna.storages.RDBStorage) or rdb.get_heartbeat_interval() is None:
        return []
    now = datetime.datetime.now()  # Optuna stamps datetime_start with the worker's local clock
    candidates = [
        t
        for t in trials
        if t.state == optuna.trial.TrialState.RUNNING
        and t.datetime_start is not None
        and (now - t.datetime_start).total_seconds() > grace
    ]
    failed: list[int] = []
    for trial in candidates:
        with _create_scoped_session(rdb.scoped_session) as session:
            beaten = models.TrialHeartbeatModel.where_trial_id(trial._trial_id, session) is not None
        if beaten:
            continue  # fail_stale_trials judges it by its heartbeat
        try:
            if storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL):
                failed.append(trial._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker got there first
    callback = rdb.get_heartbeat_stale_trial_callback()
    numbers = []
    for trial_id in failed:
        frozen = storage.get_trial(trial_id)
        numbers.append(frozen.number)
        if callback is not None:
            callback(study, copy.deepcopy(frozen))
    return numbers


def tell(
    study: Any,
    storage: Any,
    trial: Any,
    *,
    values: float | list[float] | None = None,
    state: Any = None,
) -> Any:
    """``study.tell`` (with retry) that accepts losing a race: when another worker has failed the
    trial meanwhile (its heartbeat looked stale), our result is discarded and the trial as stored
    is returned. ``skip_if_finished`` covers a trial failed *before* the tell; a failure that lands
    between Optuna's check and its write raises ``UpdateFinishedTrialError``, handled here."""
    import optuna

    try:
        return with_retry(
            "tell", functools.partial(study.tell, trial, values, state=state, skip_if_finished=True)
        )
    except optuna.exceptions.UpdateFinishedTrialError:
        return with_retry("read trial", functools.partial(storage.get_trial, trial._trial_id))


class _Heartbeat:
    """Records the running trial's heartbeat every ``interval`` s. Unlike Optuna's own thread it
    survives a database outage (errors are logged and the next beat retried)."""

    def __init__(self, storage: Any, trial_id: int, interval: int | None) -> None:
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if self.interval:
            self.thread = threading.Thread(
                target=self._beat, name=f"heartbeat-{self.trial_id}", daemon=True
            )
            self.thread.start()
        return self

    def _beat(self) -> None:
        assert self.interval is not None
        while True:
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception as exc:
                log.warning("heartbeat of trial id %d failed: %s", self.trial_id, exc)
            if self.stop_event.wait(self.interval):
                return

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=30)


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except Exception:  # pragma: no cover - torch always importable here
        pass
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("out of memory", "can't allocate memory", "not enough memory")
    )


def _free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover
        pass


# --------------------------------------------------------------------------- multi-objective


def is_multi_objective(cfg: RunConfig) -> bool:
    return len(cfg.tune.objectives) > 1


def objective_names(cfg: RunConfig, task: str) -> list[str]:
    """``tune.objectives`` with ``val`` spelled as the task's validation objective (``val_rmse``...)."""
    return [OBJECTIVES[task] if name == "val" else str(name) for name in cfg.tune.objectives]


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


# --------------------------------------------------------------------------- subset


def subset_size(n: int, fraction: float | None) -> int:
    """How many of ``n`` training windows/sequences ``tune.subset`` keeps (round half up, >= 1)."""
    if fraction is None or fraction >= 1 or n == 0:
        return n
    return max(1, min(n, math.floor(n * float(fraction) + 0.5)))


def subset_indices(task: str, data: TensorSet, fraction: float | None, seed: int) -> np.ndarray:
    """Rows of ``data`` (a task's training tensors) that tuning trains on with ``tune.subset``.

    * forecast: the most recent ``fraction`` of the training windows — one contiguous block ending
      at the end of the train split, so time order holds and no window is newer than validation;
    * classify / text: a stratified random ``fraction`` of the training sequences, seeded (the same
      sample in every trial and worker): each class keeps its share (largest-remainder rounding,
      so the total is ``round(n * fraction)``), rows stay in their original order.
    """
    n = len(data)
    keep = subset_size(n, fraction)
    if keep >= n:
        return np.arange(n)
    if task == "forecast":
        return np.arange(n - keep, n)
    labels = data.y.cpu().numpy().reshape(n, -1)[:, 0]
    classes, counts = np.unique(labels, return_counts=True)
    quotas = counts * float(keep) / n
    take = np.floor(quotas).astype(int)
    order = sorted(range(len(classes)), key=lambda i: (-(quotas[i] - take[i]), i))
    for i in order[: keep - int(take.sum())]:
        take[i] = min(int(counts[i]), int(take[i]) + 1)
    rng = np.random.default_rng(seed)
    chosen = [
        rng.permutation(np.flatnonzero(labels == c))[: int(k)]
        for c, k in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.arange(0)


def take_rows(data: TensorSet, idx: np.ndarray) -> TensorSet:
    """``data`` restricted to rows ``idx`` (keeps ``raw_y``, unlike :meth:`TensorSet.take`)."""
    import torch

    rows = torch.as_tensor(idx, dtype=torch.long)
    return TensorSet(
        data.x.index_select(0, rows.to(data.x.device)),
        data.y.index_select(0, rows.to(data.y.device)),
        None if data.anchor is None else data.anchor.index_select(0, rows.to(data.anchor.device)),
        None if data.lengths is None else data.lengths.index_select(0, rows),
        None if data.raw_y is None else data.raw_y[idx],
    )


def tuning_train_set(problem: Problem, fraction: float | None, seed: int) -> TensorSet:
    """The training tensors of one trial: all of them, or the ``tune.subset`` sample."""
    data = problem.tensors("train")
    if fraction is None or fraction >= 1:
        return data
    return take_rows(data, subset_indices(problem.task, data, fraction, seed))


# --------------------------------------------------------------------------- fused trials


def fuse_setting(cfg: RunConfig) -> str | int:
    """``tune.fuse_trials`` as :func:`lstmtune.fused.plan_groups` takes it; ``off`` where fusing
    cannot work: a ``train_seconds`` objective measures each trial's own training time."""
    fuse = cfg.tune.fuse_trials
    if fuse in ("off", 0, 1):
        return "off"
    if "train_seconds" in cfg.tune.objectives:
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

    if is_multi_objective(
        cfg
    ):  # Optuna's pruners compare one intermediate value: none for several objectives
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


_MISSING = object()


def _coerce(spec: dict[str, Any], raw: Any) -> Any:
    """``raw`` (typed, or the string MLflow stored) as a value of ``spec``; ``_MISSING`` when it
    is not one of its choices or lies outside its bounds/step."""
    kind = spec["type"]
    if kind == "categorical":
        for choice in spec["choices"]:
            if isinstance(raw, str) and not isinstance(choice, str):
                if str(choice) == raw or (
                    not isinstance(choice, bool) and _same_number(choice, raw)
                ):
                    return choice
            elif choice == raw and isinstance(choice, bool) == isinstance(raw, bool):
                return choice
        return _MISSING
    if kind not in ("int", "float") or isinstance(raw, bool):
        return _MISSING
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return _MISSING
    low, high, step = float(spec["low"]), float(spec["high"]), spec.get("step")
    if not math.isfinite(value) or not low - 1e-12 * abs(low) <= value <= high + 1e-12 * abs(high):
        return _MISSING
    if kind == "int":
        if value != int(value) or (int(value) - int(low)) % int(step or 1):
            return _MISSING
        return int(value)
    if step:
        k = (value - low) / float(step)
        if abs(k - round(k)) > 1e-6:
            return _MISSING
    return min(max(value, low), high)


def _same_number(choice: Any, raw: str) -> bool:
    try:
        return float(choice) == float(raw)
    except (TypeError, ValueError):
        return False


def _spec_json_params(cfg: RunConfig, name: str, version: str) -> dict[str, Any]:
    """Fallback source: ``spec.json`` inside the registered model's artifacts (typed params)."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        uri = str(cfg.mlflow.tracking_uri)
        mlflow.set_registry_uri(uri)
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=tmp, tracking_uri=uri
        )
        for path in Path(local).rglob("spec.json"):
            params = json.loads(path.read_text()).get("params", {})
            return dict(params) if isinstance(params, dict) else {}
    return {}


def champion_params(cfg: RunConfig, meta: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The current ``@champion``'s hyperparameters that fit the current search space, and its
    version; ``None`` when there is no registry, model or champion (or it is for another task).

    Source: the ``best.<name>`` params of the champion version's MLflow run (the pipeline's parent
    run, logged by the tune step) — cheap and always there for lstmtune-registered versions;
    fallback: ``spec.json`` in the model's artifacts. Values are matched against the space:
    fixed parameters, names not searched now, values not among the choices or outside the
    bounds/step are dropped (Optuna samples those).
    """
    from mlflow.exceptions import MlflowException

    from lstmtune import tracking

    name = str(cfg.mlflow.model_name)
    client = tracking.client(cfg)
    try:
        version = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None
    task = (version.tags or {}).get("task")
    if task and task != meta["task"]:
        return None
    raw: dict[str, Any] = {}
    if version.run_id:
        try:
            params = client.get_run(version.run_id).data.params
            raw = {k[len("best.") :]: v for k, v in params.items() if k.startswith("best.")}
        except MlflowException:
            raw = {}
    if not raw:
        try:
            raw = _spec_json_params(cfg, name, str(version.version))
        except Exception as exc:
            log.warning(
                "warm start: cannot read spec.json of %s v%s: %s", name, version.version, exc
            )
    chosen: dict[str, Any] = {}
    for pname, spec in meta["search_space"].items():
        if spec["type"] == "fixed" or pname not in raw:
            continue
        value = _coerce(spec, raw[pname])
        if value is not _MISSING:
            chosen[pname] = value
    return chosen, str(version.version)


def _warm_start(cfg: RunConfig, meta: dict[str, Any], study: Any) -> bool:
    """Enqueue the champion's configuration as trial 0 of a new (empty) study; True if it did.
    Never raises."""
    try:
        found = champion_params(cfg, meta)
    except Exception as exc:  # no reachable registry must not block tuning
        progress(
            f"warm start skipped: cannot read the model registry ({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})"
        )
        return False
    if found is None or not found[0]:
        return False
    params, version = found
    with_retry(
        "enqueue",
        lambda: study.enqueue_trial(
            params,
            user_attrs={"warm_start": f"{cfg.mlflow.model_name}@champion v{version}"},
            skip_if_exists=True,
        ),
    )
    progress(
        f"warm start: first trial uses the hyperparameters of {cfg.mlflow.model_name}@champion (version {version}): {len(params)} parameter(s)"
    )
    return True


def _start_from_default(meta: dict[str, Any], study: Any) -> None:
    """Enqueue lstmtune's default configuration (:func:`default_configuration`) as trial 0."""
    params = default_configuration(meta["search_space"], meta)
    if params:
        with_retry(
            "enqueue",
            lambda: study.enqueue_trial(
                params, user_attrs={"warm_start": "default configuration"}, skip_if_exists=True
            ),
        )
        progress(
            f"first trial: lstmtune's default configuration ({', '.join(f'{k}={v}' for k, v in params.items())})"
        )


def _fail_reason(trial: Any) -> str | None:
    reason = trial.user_attrs.get("fail_reason")
    return str(reason) if reason else None


def _failures(trials: list[Any]) -> list[Any]:
    """FAIL trials that count against ``tune.max_failed_trials``: those whose objective failed
    (a recorded ``fail_reason``). Trials failed by the heartbeat check (their worker died) are
    retried instead and do not count."""
    import optuna

    return sorted(
        (t for t in trials if t.state == optuna.trial.TrialState.FAIL and _fail_reason(t)),
        key=lambda t: t.number,
    )


def _abort_message(cfg: RunConfig, failed: list[Any], study_name: str) -> str:
    last = failed[-1]
    return (
        f"tuning aborted: {len(failed)} failed trials exceed tune.max_failed_trials={cfg.tune.max_failed_trials}; "
        f"last failure: trial {last.number}: {_fail_reason(last)} (failures are counted over the whole study '{study_name}'; "
        f"raise tune.max_failed_trials or use a new tune.study_name to go on)"
    )


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


def study_target(cfg: RunConfig, space: dict[str, Any]) -> int:
    target = cfg.tune.n_trials
    if cfg.tune.sampler == "grid":
        target = min(target, grid_size(space))
    return target


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
    exactly ``n_trials``. The result describes the whole study (see :func:`best_from_study`).
    """
    import optuna

    from lstmtune import tracking

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n_workers = cfg.tune.workers if n_workers is None else n_workers
    if n_workers > 1:
        check_study_config(cfg, n_workers)
    if not 0 <= worker_id < max(1, n_workers):
        raise UserError(f"tune: worker_id {worker_id} is outside 0..{n_workers - 1}")
    space: dict[str, Any] = meta["search_space"]
    objective_name = OBJECTIVES[meta["task"]]
    storage_url = str(cfg.tune.storage)
    study_name = cfg.tune.study_name or default_study_name(cfg, meta)
    heartbeat = int(cfg.tune.heartbeat_seconds)
    storage = _storage(storage_url, heartbeat)
    lock = _StudyLock(storage_url, study_name)
    multi = is_multi_objective(cfg)
    names = objective_names(cfg, meta["task"])
    subset = cfg.tune.subset if cfg.tune.subset is not None and cfg.tune.subset < 1 else None
    fuse = fuse_setting(cfg)
    width = fuse_width(fuse)
    sampler, pruner = _sampler(cfg, space, worker_id), _pruner(cfg, _max_epochs(space))
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
            f"tune.objectives: study '{study_name}' was created with {len(study.directions)} objective(s), "
            f"not {len(names)} ({', '.join(names)}); use a new tune.study_name"
        )
    TS = optuna.trial.TrialState
    finished_states = (TS.COMPLETE, TS.PRUNED)

    def all_trials() -> list[Any]:
        return with_retry("read trials", lambda: study.get_trials(deepcopy=False))

    def n_finished() -> int:
        return sum(t.state in finished_states for t in all_trials())

    with lock():
        existing = all_trials()
        if not existing:
            started_warm = cfg.tune.warm_start and _warm_start(cfg, meta, study)
            if not started_warm and cfg.tune.start_from_default and cfg.tune.sampler != "grid":
                _start_from_default(meta, study)
    if existing:  # resuming: a sampler seeded as in the first run would replay its configurations
        sampler = _sampler(cfg, space, worker_id, len(existing))
        study = with_retry(
            "load study",
            lambda: optuna.load_study(
                study_name=study_name, storage=storage, sampler=sampler, pruner=pruner
            ),
        )
    reused = sum(t.state in finished_states for t in existing)
    target = study_target(cfg, space)
    remaining = max(0, target - reused)
    device = select_device(cfg.train.device)
    fixed = fixed_params(space)
    started = time.perf_counter()
    who = f" (worker {worker_id + 1}/{n_workers})" if n_workers > 1 else ""
    progress(
        f"study '{study_name}' on {redact(storage_url)}: {reused} finished trial(s) reused, {remaining} to run, device {device}{who}"
    )
    if multi:
        how = {"tpe": "multi-objective TPE", "cmaes": "NSGA-II"}.get(
            cfg.tune.sampler, cfg.tune.sampler
        )
        progress(
            f"multi-objective: minimising {', '.join(names)} ({how}, no pruning); the registered trial is the lowest "
            f"{names[1]} within {cfg.tune.pareto_tolerance:.0%} of the best {names[0]} on the Pareto front"
        )
    if subset is not None:
        what = (
            "most recent training windows"
            if meta["task"] == "forecast"
            else "training sequences (stratified)"
        )
        progress(f"subset: trials train on {subset:.0%} of the {what}; validation is unchanged")
    if cfg.tune.fuse_trials not in ("off", 0, 1) and fuse == "off":
        progress(
            "fuse_trials: off, because the train_seconds objective needs each trial's own training time"
        )

    def begin(trial: optuna.Trial) -> tuple[dict[str, Any], Problem | None, str]:
        """Suggest a configuration and build its problem; (params, None, reason) if infeasible."""
        if n_workers > 1:
            with_retry("set_user_attr", functools.partial(trial.set_user_attr, "worker", worker_id))
        params = with_retry("suggest", lambda: suggest(trial, space))
        try:
            return params, make_problem(parts, meta, params), ""
        except TrialInfeasible as exc:
            return params, None, str(exc)

    def epoch_callback(
        trial: optuna.Trial, history: list[dict[str, float]]
    ) -> Callable[[int, float, float], None]:
        def on_epoch(epoch: int, value: float, train_loss: float) -> None:
            history.append({"epoch": float(epoch), objective_name: value, "train_loss": train_loss})
            if chatty:
                progress(
                    f"trial {trial.number} epoch {epoch}: {objective_name}={value:.4g} train_loss={train_loss:.4g}",
                    "epoch",
                    trial=trial.number,
                    epoch=epoch,
                    value=value,
                    train_loss=train_loss,
                )
            if multi:  # Optuna keeps no intermediate values (and no pruning) for several objectives
                return
            with_retry("report", lambda: trial.report(value, epoch))
            if with_retry("should_prune", trial.should_prune):
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        return on_epoch

    def oom_reason(exc: BaseException) -> str:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return f"out of memory: {first}"

    def train_one(trial: optuna.Trial, params: dict[str, Any], problem: Problem) -> _Outcome:
        """Train one configuration alone (today's path)."""
        history: list[dict[str, float]] = []
        n_train: int | None = None
        try:
            train_set = tuning_train_set(problem, subset, cfg.train.seed)
            n_train = len(train_set)
            result = train(
                problem,
                params,
                train_set,
                problem.tensors("val"),
                patience=cfg.train.patience,
                grad_clip=cfg.train.grad_clip,
                seed=cfg.train.seed + trial.number,
                device=device,
                amp=cfg.train.amp,
                on_epoch=epoch_callback(trial, history),
            )
        except optuna.TrialPruned:
            return _Outcome(TS.PRUNED, None, "", history, n_train=n_train)
        except NonFiniteLoss as exc:
            return _Outcome(TS.FAIL, None, str(exc), history, n_train=n_train)
        except (MemoryError, RuntimeError) as exc:
            if not _is_oom(exc):
                raise
            _free_memory()
            return _Outcome(TS.FAIL, None, oom_reason(exc), history, n_train=n_train)
        return _Outcome(TS.COMPLETE, float(result.best_value), "", history, result, n_train)

    def train_group(
        trials: list[optuna.Trial], params_g: list[dict[str, Any]], problems_g: list[Problem]
    ) -> list[_Outcome]:
        """Train same-shape configurations as one fused model; out of memory -> one by one."""
        from lstmtune import fused

        histories: list[list[dict[str, float]]] = [[] for _ in trials]
        numbers = [t.number for t in trials]
        try:
            train_sets = [tuning_train_set(p, subset, cfg.train.seed) for p in problems_g]
            results = fused.train_fused(
                problems_g,
                params_g,
                train_sets,
                [p.tensors("val") for p in problems_g],
                seeds=[cfg.train.seed + t.number for t in trials],
                patience=cfg.train.patience,
                grad_clip=cfg.train.grad_clip,
                device=device,
                amp=cfg.train.amp,
                on_epoch=[epoch_callback(t, h) for t, h in zip(trials, histories, strict=True)],
            )
        except (MemoryError, RuntimeError) as exc:
            if not _is_oom(exc):
                raise
            del exc
            _free_memory()
            progress(
                f"trials {', '.join(map(str, numbers))} ran out of memory as one fused model; training them one by one"
            )
            return [
                train_one(t, p, pr) for t, p, pr in zip(trials, params_g, problems_g, strict=True)
            ]
        outcomes = []
        for r, h, tr in zip(results, histories, train_sets, strict=True):
            if r.pruned:
                outcomes.append(_Outcome(TS.PRUNED, None, "", h, n_train=len(tr), group=numbers))
            elif r.error is not None:
                reason = oom_reason(r.error) if _is_oom(r.error) else str(r.error)
                outcomes.append(_Outcome(TS.FAIL, None, reason, h, n_train=len(tr), group=numbers))
            else:
                outcomes.append(
                    _Outcome(TS.COMPLETE, float(r.best_value), "", h, r, len(tr), numbers)
                )
        return outcomes

    def plan(items: list[tuple[optuna.Trial, dict[str, Any], Problem]]) -> list[list[int]]:
        """Fused groups (indices into ``items``): same n_features/n_outputs first, then fused.plan_groups."""
        from lstmtune import fused

        buckets: dict[tuple[int, int], list[int]] = {}
        for i, (_, _, problem) in enumerate(items):
            buckets.setdefault((int(problem.n_features), int(problem.n_outputs)), []).append(i)
        groups: list[list[int]] = []
        for (n_features, n_outputs), members in buckets.items():
            local = fused.plan_groups(
                [items[i][1] for i in members],
                fuse,
                device,
                n_features=n_features,
                n_outputs=n_outputs,
            )
            groups.extend([members[j] for j in g] for g in local)
        return sorted(groups, key=lambda g: g[0])

    def values_of(outcome: _Outcome) -> list[float]:
        """The told values, in ``tune.objectives`` order."""
        from lstmtune.model import count_parameters

        assert outcome.value is not None and outcome.result is not None
        values = []
        for name in cfg.tune.objectives:
            if name == "val":
                values.append(float(outcome.value))
            elif name == "train_seconds":
                values.append(round(float(outcome.result.train_seconds), 4))
            else:
                values.append(float(count_parameters(outcome.result.model)))
        return values

    def record(trial: optuna.Trial, outcome: _Outcome) -> None:
        """User attributes of a trained trial (while its heartbeat still runs)."""
        attrs: dict[str, Any] = {}
        if outcome.state == TS.COMPLETE:
            assert outcome.result is not None
            r = outcome.result
            attrs = {
                "best_epoch": r.best_epoch,
                "epochs_run": r.epochs_run,
                "train_seconds": round(r.train_seconds, 3),
            }
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

    def conclude(trial: optuna.Trial, params: dict[str, Any], outcome: _Outcome) -> None:
        """MLflow run, tell (with retry), progress line."""
        state, reason = outcome.state, outcome.reason
        if parent_run_id:
            tracking.log_trial_run(
                cfg,
                parent_run_id,
                trial.number,
                {**fixed, **params},
                outcome.history,
                state.name,
                {"reason": reason} if reason else None,
            )
        if state == TS.COMPLETE:
            values = values_of(outcome)
            frozen = tell(study, storage, trial, values=values if multi else values[0])
        else:
            frozen = tell(study, storage, trial, state=state)
        if frozen.state != state:
            progress(
                f"trial {trial.number:>3} was marked {frozen.state.name} by another worker (no heartbeat for {grace} s); its result is discarded"
            )
        if state == TS.FAIL:
            log.warning("trial %d failed: %s", trial.number, reason)
        report_progress(frozen)

    def fail_unfinished(trials: list[optuna.Trial]) -> None:
        for t in trials:
            with contextlib.suppress(Exception):
                with_retry(
                    "tell",
                    functools.partial(study.tell, t, state=TS.FAIL, skip_if_finished=True),
                    seconds=10,
                )

    def over_failure_limit() -> str | None:
        failed = _failures(all_trials())
        return (
            _abort_message(cfg, failed, study_name)
            if len(failed) > cfg.tune.max_failed_trials
            else None
        )

    def run_single(trial: optuna.Trial) -> str | None:
        """One asked trial, exactly as without fusing. Returns an abort message or None."""
        with _Heartbeat(storage, trial._trial_id, heartbeat):
            try:
                params, problem, why = begin(trial)
                outcome = (
                    _Outcome(TS.PRUNED, None, why, [])
                    if problem is None
                    else train_one(trial, params, problem)
                )
            except BaseException as exc:  # an unexpected error fails the trial and the worker
                fail_unfinished([trial])
                raise exc
            record(trial, outcome)
        conclude(trial, params, outcome)
        return over_failure_limit() if outcome.state == TS.FAIL else None

    def run_batch(asked: list[optuna.Trial]) -> str | None:
        """Several asked trials (``tune.fuse_trials``): infeasible ones are pruned at once, the
        rest planned into fused groups; a group of one trains alone. Every trial keeps its own
        heartbeat until it is told. Returns an abort message or None."""
        pending = {t.number: t for t in asked}
        with contextlib.ExitStack() as stack:
            beats = {
                t.number: stack.enter_context(_Heartbeat(storage, t._trial_id, heartbeat))
                for t in asked
            }

            def finish(trial: optuna.Trial, params: dict[str, Any], outcome: _Outcome) -> None:
                record(trial, outcome)
                beats[trial.number].__exit__(None, None, None)
                conclude(trial, params, outcome)
                pending.pop(trial.number, None)

            try:
                items: list[tuple[optuna.Trial, dict[str, Any], Problem]] = []
                for trial in asked:
                    params, problem, why = begin(trial)
                    if problem is None:
                        finish(trial, params, _Outcome(TS.PRUNED, None, why, []))
                    else:
                        items.append((trial, params, problem))
                groups = plan(items) if items else []
                for gi, group in enumerate(groups):
                    abort_now = over_failure_limit()
                    if (
                        abort_now
                    ):  # the rest is not trained; failed without a reason, they do not count
                        fail_unfinished([items[i][0] for g in groups[gi:] for i in g])
                        return abort_now
                    members = [items[i] for i in group]
                    if len(members) == 1:
                        outcomes = [train_one(*members[0])]
                    else:
                        outcomes = train_group(
                            [m[0] for m in members],
                            [m[1] for m in members],
                            [m[2] for m in members],
                        )
                    for (trial, params, _), outcome in zip(members, outcomes, strict=True):
                        finish(trial, params, outcome)
            except (
                BaseException
            ) as exc:  # an unexpected error fails the unfinished trials and the worker
                fail_unfinished(list(pending.values()))
                raise exc
        return over_failure_limit()

    counts: dict[str, int] = {}
    from lstmtune.progress import verbose

    chatty = verbose() >= 2

    def report_progress(frozen: Any) -> None:
        done = n_finished()
        counts[frozen.state.name.lower()] = counts.get(frozen.state.name.lower(), 0) + 1
        common = {
            "number": frozen.number,
            "state": frozen.state.name.lower(),
            "objective": objective_name,
            "done": done,
            "total": target,
            "counts": dict(counts),
            "worker": worker_id,
        }
        if multi:
            complete = [t for t in all_trials() if t.state == TS.COMPLETE and t.values]
            best_value = min((float(t.values[0]) for t in complete), default=None)
            front = with_retry("best trials", lambda: study.best_trials) if complete else []
            values = dict(zip(names, frozen.values, strict=True)) if frozen.values else {}
            shown = "  ".join(
                f"{n}={(f'{values[n]:.4g}' if n in values else '-'):<10}" for n in names
            )
            best = f"{best_value:.4g}" if best_value is not None else "-"
            progress(
                f"trial {frozen.number:>3} {frozen.state.name.lower():<8} {shown} best={best} front={len(front)}  [{done}/{target}]",
                "trial",
                value=values.get(objective_name),
                values=values,
                best=best_value,
                front=len(front),
                **common,
            )
            return
        best_single: float | None
        try:
            best_single = float(with_retry("best value", lambda: study.best_value))
            best = f"{best_single:.4g}"
        except ValueError:
            best_single, best = None, "-"
        value = f"{frozen.value:.4g}" if frozen.value is not None else "-"
        progress(
            f"trial {frozen.number:>3} {frozen.state.name.lower():<8} {objective_name}={value:<10} best={best}  [{done}/{target}]",
            "trial",
            value=frozen.value,
            best=best_single,
            **common,
        )

    abort: str | None = None
    waiting_since: float | None = None
    waiting_on: frozenset[int] = frozenset()
    grace = 2 * heartbeat
    study._thread_local.in_optimize_loop = True  # lets samplers (grid exhausted) call study.stop()
    try:
        while not study._stop_flag:
            if cfg.tune.timeout is not None and time.perf_counter() - started >= cfg.tune.timeout:
                break
            asked: list[optuna.Trial] = []
            with lock():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    with_retry(
                        "fail stale trials", lambda: optuna.storages.fail_stale_trials(study)
                    )
                trials = all_trials()
                if heartbeat and with_retry(
                    "fail unbeaten trials",
                    functools.partial(fail_unbeaten_trials, study, grace, trials),
                ):
                    trials = all_trials()  # states changed (and retries were enqueued)
                failed = _failures(trials)
                if len(failed) > cfg.tune.max_failed_trials:
                    abort = _abort_message(cfg, failed, study_name)
                    break
                finished = sum(t.state in finished_states for t in trials)
                running = frozenset(t.number for t in trials if t.state == TS.RUNNING)
                if finished >= target:
                    break
                free = target - finished - len(running)
                with warnings.catch_warnings():
                    warnings.simplefilter(
                        "ignore"
                    )  # "heartbeat ... supposed to be used with Study.optimize": we beat ourselves
                    for _ in range(min(width, max(0, free))):
                        trial = with_retry("ask", study.ask)
                        if heartbeat:  # before the lock is released: a RUNNING trial with no heartbeat is a dead worker's
                            with_retry(
                                "first heartbeat",
                                functools.partial(storage.record_heartbeat, trial._trial_id),
                            )
                        asked.append(trial)
            if not asked:
                # the last trials are running in other workers; if one dies, its trial is failed
                # after the heartbeat grace period and re-queued, and this worker runs it
                now = time.monotonic()
                if running != waiting_on or waiting_since is None:
                    if waiting_since is None:
                        progress(
                            f"waiting for {len(running)} running trial(s) of other workers (a dead worker's trial is retried after {grace} s without heartbeat)"
                        )
                    waiting_since, waiting_on = now, running
                elif now - waiting_since > STALE_WAIT_FACTOR * grace + 5:
                    progress(
                        f"stopping: trial(s) {', '.join(map(str, sorted(running)))} still RUNNING without progress"
                    )
                    break
                time.sleep(min(1.0, heartbeat / 2))
                continue
            waiting_since = None
            abort = run_single(asked[0]) if len(asked) == 1 else run_batch(asked)
            if abort:
                break
    finally:
        study._thread_local.in_optimize_loop = False
        lock.dispose()
    if abort:
        raise RuntimeError(abort)
    return _result(
        study,
        study_name,
        storage_url,
        objective_name,
        fixed,
        reused,
        time.perf_counter() - started,
        names=names,
        tolerance=cfg.tune.pareto_tolerance,
        subset=subset,
    )


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
    :func:`pareto_choice` of the Pareto front (``extra["pareto_front"]``, ``extra["objectives"]``)."""
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
        best_value = float(best.values[0])
    else:
        best = min(complete, key=lambda t: (float(t.value), t.number))
        best_value = float(best.value if best.value is not None else math.nan)
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
    space = meta["search_space"]
    subset = cfg.tune.subset if cfg.tune.subset is not None and cfg.tune.subset < 1 else None
    return _result(
        study,
        study_name,
        storage_url,
        OBJECTIVES[meta["task"]],
        fixed_params(space),
        reused,
        seconds,
        names=objective_names(cfg, meta["task"]),
        tolerance=cfg.tune.pareto_tolerance,
        subset=subset,
    )


def check_study_config(cfg: RunConfig, n_workers: int | None = None) -> None:
    """Refuse settings that cannot work before anything runs."""
    storage = cfg.tune.storage or "sqlite:///"
    workers = cfg.tune.workers if n_workers is None else n_workers
    if storage.startswith("sqlite") and ":memory:" in storage:
        raise UserError(
            "tune.storage: an in-memory SQLite study cannot be shared between pipeline steps"
        )
    if workers > 1 and cfg.tune.backend == "optuna" and _is_sqlite(storage):
        raise UserError(
            f"tune.workers: {workers} workers need a shared RDB storage such as postgresql://...; SQLite cannot take concurrent writers"
        )

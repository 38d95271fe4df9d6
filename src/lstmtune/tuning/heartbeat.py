"""Heartbeats of running trials, and what happens to trials whose worker died.

A trial beats every ``tune.heartbeat_seconds`` (:class:`_Heartbeat`); a RUNNING trial without a
beat for twice that long is failed and re-queued once by the next worker that checks (Optuna's
stale-trial callback, :func:`_stale_callback`), and a RUNNING trial that never beat is failed by
:func:`fail_unbeaten_trials`. :func:`tell` accepts losing the race against such a check.
"""

from __future__ import annotations

import copy
import datetime
import functools
import threading
import warnings
from typing import Any

from lstmtune.tuning.events import log
from lstmtune.tuning.retry import with_retry


def _stale_callback() -> Any:
    import optuna

    cls = (
        getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
        or optuna.storages.RetryFailedTrialCallback
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" since Optuna 2.8
        return cls(max_retry=1)


def fail_unbeaten_trials(study: Any, grace: float, trials: list[Any]) -> list[int]:
    """Fail (and re-queue once, like a stale trial) RUNNING trials that never recorded a heartbeat
    and started more than ``grace`` seconds ago: their worker died between ``ask`` and the first
    beat, a window Optuna's :func:`~optuna.storages.fail_stale_trials` does not cover (it only
    looks at trials *with* a heartbeat). ``trials``: the study's trials as just read (no second
    read per round). Call it under the study lock, in which every live worker records a trial's
    first heartbeat before releasing the lock. Returns the failed numbers."""
    import optuna

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
    failed = [trial._trial_id for trial in candidates if _fail_if_unbeaten(storage, rdb, trial)]
    callback = rdb.get_heartbeat_stale_trial_callback()
    numbers = []
    for trial_id in failed:
        frozen = storage.get_trial(trial_id)
        numbers.append(frozen.number)
        if callback is not None:
            callback(study, copy.deepcopy(frozen))
    return numbers


def _fail_if_unbeaten(storage: Any, rdb: Any, trial: Any) -> bool:
    """Mark ``trial`` FAIL if it has no heartbeat row; True if this call failed it."""
    import optuna
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(rdb.scoped_session) as session:
        beaten = models.TrialHeartbeatModel.where_trial_id(trial._trial_id, session) is not None
    if beaten:
        return False  # fail_stale_trials judges it by its heartbeat
    try:
        return bool(
            storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL)
        )
    except optuna.exceptions.UpdateFinishedTrialError:
        return False  # another worker got there first


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

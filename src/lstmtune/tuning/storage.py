"""The study's storage: RDB URLs (redacted for printing), the Optuna RDB storage with heartbeats,
and the study-wide lock taken while the budget is counted and trials are asked for."""

from __future__ import annotations

import contextlib
import hashlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lstmtune.tuning.heartbeat import _stale_callback
from lstmtune.tuning.retry import _retry_create, with_retry


def redact(url: str) -> str:
    """A storage URL safe to print and record (password hidden)."""
    if "@" not in url:
        return url
    from sqlalchemy.engine import make_url

    try:
        return str(make_url(url).render_as_string(hide_password=True))
    except Exception:
        return url.split("@")[-1]


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _backend(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return str(make_url(url).get_backend_name())
    except Exception:
        return url.split(":", 1)[0].split("+", 1)[0]


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
        conn = with_retry("lock", self._acquire)
        try:
            yield
        finally:
            self._release(conn)

    def _acquire(self) -> Any:
        from sqlalchemy import text

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

    def _release(self, conn: Any) -> None:
        from sqlalchemy import text

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

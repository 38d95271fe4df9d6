"""Retries of storage calls through database outages (connection-level errors only)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from lstmtune.tuning.events import log, progress

T = TypeVar("T")

DB_RETRY_SECONDS = 120.0  # how long a storage call is retried through a database outage


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
                    f"storage unavailable during {what} ({type(exc).__name__}: {first}); "
                    f"retrying for up to {budget:.0f} s"
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

"""The servers a local run talks to (an MLflow tracking server, an Optuna RDB storage), reached
once before it starts: a URL with a wrong host or port is one line naming its key, not minutes
of the clients' retries and a step's traceback. A TCP connection only (no credentials are sent,
no client library imported); what the servers answer is the steps' business. Where the client
would connect elsewhere than the URL's host and port (a Unix socket, a host or port in the
query, a proxy), nothing is checked."""

from __future__ import annotations

import socket
import urllib.request
from urllib.parse import urlsplit

from lstmtune.config import RunConfig
from lstmtune.errors import UserError

WEB_PORTS = {"http": 80, "https": 443}
DB_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mariadb": 3306}
# query settings with which the driver connects elsewhere than the URL's host and port
ELSEWHERE = {"host", "hostaddr", "port", "unix_socket", "service"}
TIMEOUT_S = 5.0


def check_servers(cfg: RunConfig, timeout: float = TIMEOUT_S) -> None:
    """Refuse a tracking URI or study storage whose server cannot be reached (UserError)."""
    check_server("mlflow.tracking_uri", cfg.mlflow.tracking_uri, "MLflow tracking server", timeout)
    check_server("tune.storage", cfg.tune.storage, "Optuna storage database", timeout)


def server_address(key: str, url: str) -> tuple[str, int] | None:
    """``(host, port)`` the client of ``url`` connects to (``postgresql+psycopg://u:p@db/x``:
    ``db``, 5432); None for a file, a Unix socket, a proxied web address or a scheme this check
    does not know. Database URLs are read as SQLAlchemy (Optuna's storage) reads them, so a
    password holding ``/``, ``#`` or ``?`` is never taken for a host or port."""
    scheme = url.split("://", 1)[0].split("+")[0].lower() if "://" in url else ""
    if scheme in DB_PORTS:
        return _database_address(key, url, scheme)
    if scheme not in WEB_PORTS:
        return None
    parts = urlsplit(url)
    if not parts.hostname or _proxied(scheme, parts.hostname):
        return None
    try:
        port = parts.port
    except ValueError:
        raise UserError(f"{key}: the URL's port is not a number from 0 to 65535") from None
    return parts.hostname, port or WEB_PORTS[scheme]


def _database_address(key: str, url: str, scheme: str) -> tuple[str, int] | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise UserError(f"{key}: not a database URL SQLAlchemy can read") from None
    host = parsed.host
    if not host or ELSEWHERE & set(parsed.query):
        return None
    if scheme in ("mysql", "mariadb") and host == "localhost":  # its drivers use the socket
        return None
    return host, parsed.port or DB_PORTS[scheme]


def _proxied(scheme: str, host: str) -> bool:
    """Whether requests (MLflow's client) reaches ``host`` through a proxy of the environment."""
    return scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(host)


def check_server(key: str, url: str | None, what: str, timeout: float = TIMEOUT_S) -> None:
    """One TCP connection to the server ``url`` names; the URL itself is never printed (it may
    hold a password), only its host and port."""
    address = None if url is None else server_address(key, url)
    if address is None:
        return
    try:
        with socket.create_connection(address, timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        host, port = address
        raise UserError(f"{key}: cannot reach the {what} at {host}:{port} ({reason})") from None

"""The servers a local run talks to (an MLflow tracking server, an Optuna RDB storage), reached
once before it starts: a URL with a wrong host or port is one line naming its key, not minutes
of the clients' retries and a step's traceback. A TCP connection only (no credentials are sent,
no client library imported); what the servers answer is the steps' business."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from lstmtune.config import RunConfig
from lstmtune.errors import UserError

DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "postgresql": 5432,
    "postgres": 5432,
    "mysql": 3306,
    "mariadb": 3306,
}
TIMEOUT_S = 5.0


def check_servers(cfg: RunConfig, timeout: float = TIMEOUT_S) -> None:
    """Refuse a tracking URI or study storage whose server cannot be reached (UserError)."""
    check_server("mlflow.tracking_uri", cfg.mlflow.tracking_uri, "MLflow tracking server", timeout)
    check_server("tune.storage", cfg.tune.storage, "Optuna storage database", timeout)


def server_address(key: str, url: str) -> tuple[str, int] | None:
    """``(host, port)`` of a server URL (``postgresql+psycopg://u:p@db:5432/x``); None for a
    file, a Unix socket (no host) or a scheme this check does not know."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0].lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        raise UserError(f"{key}: the URL's port is not a number from 0 to 65535") from None
    return parts.hostname, port or DEFAULT_PORTS[scheme]


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

"""A local run reaches the servers its URLs name before it starts: a wrong host or port is one
line naming the key (host and port, never the URL with its password), not minutes of retries."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from lstmtune.config import RunConfig
from lstmtune.errors import UserError
from lstmtune.reachable import check_server, check_servers, server_address


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback servers are reached directly, whatever proxies the machine has."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def open_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("postgresql+psycopg://u:p@db.example:6543/x", ("db.example", 6543)),
        ("postgresql://u@db/x", ("db", 5432)),
        ("mysql+pymysql://root@127.0.0.1/test", ("127.0.0.1", 3306)),
        ("https://mlflow.example", ("mlflow.example", 443)),
        ("http://mlflow.lstmtune.svc:5000", ("mlflow.lstmtune.svc", 5000)),
        ("sqlite:////tmp/x/optuna.db", None),
        ("postgresql:///x?host=/var/run/postgresql", None),  # a Unix socket
        ("postgresql://u:p@localhost/x?host=/var/run/postgresql", None),  # the query's socket
        ("postgresql://u:p@db/x?port=6543", None),  # the query's port: the driver's business
        ("mysql+pymysql://u:p@localhost/db?unix_socket=/run/mysqld.sock", None),
        ("mysql://root@localhost/example", None),  # MySQL's drivers take the socket
        # passwords with '#', '/' and ':' read as SQLAlchemy reads them: never a host or port
        ("postgresql://u:pa#ss@db/x", ("db", 5432)),
        ("postgresql://u:pa/ss@db/x", ("db", 5432)),
        ("postgresql://optuna:5432/abc@db.internal/optuna", ("db.internal", 5432)),
        ("file:///tmp/mlruns", None),
        ("databricks", None),
    ],
)
def test_server_address_reads_host_and_port(url: str, address: tuple[str, int] | None) -> None:
    assert server_address("k", url) == address


def test_a_refused_server_names_the_key_host_and_port_but_not_the_password(
    closed_port: int,
) -> None:
    url = f"postgresql://lstmtune:s3cret@127.0.0.1:{closed_port}/optuna"
    with pytest.raises(UserError) as info:
        check_server("tune.storage", url, "Optuna storage database")
    assert str(info.value) == (
        f"tune.storage: cannot reach the Optuna storage database at 127.0.0.1:{closed_port}"
        " (Connection refused)"
    )


def test_a_listening_server_and_local_files_pass(open_port: int) -> None:
    cfg = RunConfig.model_validate(
        {"mlflow": {"tracking_uri": f"http://127.0.0.1:{open_port}"}, "tune": {"storage": None}}
    ).resolved()
    check_servers(cfg)  # the tracking server listens; the storage is the output dir's SQLite


def test_a_proxied_tracking_server_is_left_to_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert server_address("k", "https://mlflow.example") is None  # requests goes by the proxy
    assert server_address("k", "https://mlflow.internal.example") == (
        "mlflow.internal.example",
        443,
    )


def test_a_bad_port_is_named() -> None:
    with pytest.raises(UserError, match=r"^mlflow\.tracking_uri: the URL's port is not a number"):
        server_address("mlflow.tracking_uri", "http://mlflow:50o0")
    with pytest.raises(UserError, match=r"^tune\.storage: not a database URL SQLAlchemy can read"):
        server_address("tune.storage", "postgresql://u@db:50o0/x")


def test_the_tracking_server_is_checked_first(closed_port: int, open_port: int) -> None:
    cfg = RunConfig.model_validate(
        {
            "mlflow": {"tracking_uri": f"http://127.0.0.1:{closed_port}"},
            "tune": {"storage": f"postgresql://u@127.0.0.1:{open_port}/x"},
        }
    )
    with pytest.raises(UserError, match=r"^mlflow\.tracking_uri: cannot reach the MLflow tracking"):
        check_servers(cfg)

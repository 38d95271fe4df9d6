"""A real ``mlflow server`` process on loopback, for the integration tests.

``serve`` starts the server in its own process group (so its uvicorn workers die with it), waits
for ``/health`` and stops the whole group on exit. ``clean_env`` gives subprocesses an
environment without the caller's ``MLFLOW_*`` settings, so a developer's tracking URI or
credentials never leak into a test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

HEALTH_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without MLFLOW_* variables, loopback exempt from proxies, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's whole process group (uvicorn workers included), then SIGKILL."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
    # stragglers in the group (workers) even when the leader is gone
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else "(no log)"


@contextlib.contextmanager
def serve(
    root: Path,
    *,
    backend_store_uri: str | None = None,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Run ``mlflow server`` with proxied artifacts under ``root``; yield its url, paths, process.

    ``backend_store_uri`` defaults to a SQLite file in ``root``. Raises RuntimeError (with the
    server log's tail) when the server exits or does not answer ``/health`` in time.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    artifacts = root / "artifacts"
    log_path = root / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_store_uri or f"sqlite:///{root}/mlflow.db",
        "--serve-artifacts",
        "--artifacts-destination",
        str(artifacts),
        "--workers",
        "1",
        *extra_args,
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(root),
            env=clean_env(**(env or {})),
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + HEALTH_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"mlflow server exited with {proc.returncode}:\n{_tail(log_path)}"
                    )
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=3) as resp:
                        if resp.status == 200 and resp.read().strip() == b"OK":
                            break
                except (urllib.error.URLError, ConnectionError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"mlflow server did not answer /health within {HEALTH_TIMEOUT_S} s:\n"
                        f"{_tail(log_path)}"
                    )
                time.sleep(0.5)
            yield {"url": url, "root": root, "artifacts": artifacts, "log": log_path, "proc": proc}
        finally:
            stop(proc)


def log_tail(server: dict[str, Any], n: int = 2000) -> str:
    return _tail(server["log"], n)


def run_cli(
    server: dict[str, Any],
    config: Path,
    out: Path,
    model_name: str,
    *extra: str,
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> dict[str, Any]:
    """``lstmtune run`` (2 trials of ``config``) as a subprocess against ``server``; its summary.

    ``env`` defaults to :func:`clean_env`; a failing run fails with the CLI's and the server's
    output."""
    cmd = [
        sys.executable,
        "-m",
        "lstmtune.cli",
        "run",
        "--tracking-uri",
        server["url"],
        "--model-name",
        model_name,
        "--n-trials",
        "2",
        "--config",
        str(config),
        "--output-dir",
        str(out),
        *extra,
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else clean_env(),
        cwd=str(out.parent),
    )
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout[-4000:]}\nSTDERR:\n{proc.stderr[-4000:]}"
        f"\nSERVER LOG:\n{log_tail(server)}"
    )
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary

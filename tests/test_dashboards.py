"""`lstmtune dashboard` / `lstmtune ui` start real servers on loopback; `lstmtune config`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_and_fetch(args: list[str], path: str, timeout: float = 120) -> tuple[int, str, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lstmtune.cli", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(
                    f"server exited early: {proc.stdout.read() if proc.stdout else ''}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
                    return (
                        resp.status,
                        resp.read().decode(errors="replace"),
                        f"http://127.0.0.1:{port}",
                    )
            except OSError:
                time.sleep(0.5)
        raise AssertionError("server did not answer in time")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.integration
def test_dashboard_serves_the_study(tmp_path: Path) -> None:
    import optuna

    study = optuna.create_study(study_name="lt-dash", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    status, _, _ = _serve_and_fetch(["dashboard", "--output-dir", str(tmp_path)], "/api/studies")
    assert status == 200


@pytest.mark.integration
def test_mlflow_ui_serves_the_tracking_store(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}").create_experiment("lstmtune")
    status, _, _ = _serve_and_fetch(["ui", "--output-dir", str(tmp_path)], "/health")
    assert status == 200


def test_dashboard_without_a_run_is_a_clear_error(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lstmtune.cli", "dashboard", "--output-dir", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        out.returncode == 2
        and "no Optuna study storage" in out.stderr
        and "Traceback" not in out.stderr
    )


def test_config_schema_and_effective_config() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lstmtune.cli", "config", "--schema"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    schema = json.loads(out.stdout)
    assert schema["additionalProperties"] is False
    assert {"data", "tune", "train", "mlflow", "cluster", "output_dir"} <= schema[
        "properties"
    ].keys()
    out = subprocess.run(
        [sys.executable, "-m", "lstmtune.cli", "config", "--n-trials", "7"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "n_trials: 7" in out.stdout

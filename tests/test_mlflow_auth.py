"""The pipeline against a REAL ``mlflow server --app-name basic-auth`` (loopback), configured as
the cluster configures it: the basic-auth settings the MLflow Deployment's init container writes
(k8s/base/mlflow.yaml), backend store and auth database on PostgreSQL, the admin bootstrapped
from environment variables, the pipeline's user created by the same code the ``mlflow-users``
Job runs (``python -m lstmtune.mlflow_users``).

Checked: anonymous and wrong-password requests get 401; the pipeline, logging in through
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, registers a @champion; a read-only user
(READ on the registered model and its experiment) loads ``models:/NAME@champion`` in a fresh
process but cannot move or delete the alias; re-running the user job rotates a password.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow_proc
import pg
import pytest
import yaml
from conftest import TINY_SPACE

from lstmtune.config import example_data_path

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "lt-auth"
ADMIN = "admin"
PIPELINE_USER = "lstmtune-pipeline"


def _cluster_auth_ini(database_uri: str) -> str:
    """The basic_auth.ini that k8s/base/mlflow.yaml's init container writes, for this server."""
    docs = yaml.safe_load_all((ROOT / "k8s" / "base" / "mlflow.yaml").read_text())
    deployment = next(d for d in docs if d and d["kind"] == "Deployment")
    (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
    script = init["args"][0]
    match = re.search(r"<<EOF\n(.*?)\nEOF\n", script, re.S)
    assert match, f"no basic_auth.ini heredoc in the init container:\n{script}"
    ini = match.group(1)
    cluster_uri = "postgresql://${PGUSER}:${PGPASSWORD}@postgres:5432/mlflow_auth"
    assert cluster_uri in ini
    return ini.replace(cluster_uri, database_uri) + "\n"


def _password() -> str:
    return secrets.token_hex(16)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    reason = pg.reachable()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("mlflow-auth")
    store_db, auth_db = pg.create_database(), pg.create_database()
    ini = root / "basic_auth.ini"
    ini.write_text(_cluster_auth_ini(pg.url(auth_db)))
    admin_password = _password()
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(32),
    }
    try:
        with mlflow_proc.serve(
            root,
            backend_store_uri=pg.url(store_db),
            extra_args=["--app-name", "basic-auth"],
            env=env,
        ) as srv:
            yield {**srv, "admin_password": admin_password}
    finally:
        for db in (store_db, auth_db):
            pg.drop_database(db)


def _as(user: str, password: str, **extra: str) -> dict[str, str]:
    return mlflow_proc.clean_env(
        MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=password, **extra
    )


def _admin_env(server: dict[str, Any], **extra: str) -> dict[str, str]:
    return _as(ADMIN, server["admin_password"], **extra)


@contextlib.contextmanager
def _admin(server: dict[str, Any]) -> Iterator[Any]:
    """An MlflowClient of this server, logged in as the admin (credentials from env, as always)."""
    from mlflow import MlflowClient

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
        mp.setenv("MLFLOW_TRACKING_PASSWORD", server["admin_password"])
        yield MlflowClient(tracking_uri=server["url"], registry_uri=server["url"])


def _sync_user(server: dict[str, Any], user: str, password: str) -> str:
    """What the mlflow-users Job does: as the admin, create the user or reset its password."""
    proc = subprocess.run(
        [sys.executable, "-m", "lstmtune.mlflow_users"],
        capture_output=True,
        text=True,
        timeout=300,
        env=_admin_env(
            server,
            MLFLOW_TRACKING_URI=server["url"],
            LSTMTUNE_MLFLOW_USERNAME=user,
            LSTMTUNE_MLFLOW_PASSWORD=password,
        ),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr + mlflow_proc.log_tail(server)
    return proc.stdout


def _status(url: str, *, auth: tuple[str, str] | None = None, data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    if data:
        request.add_header("Content-Type", "application/json")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.fixture(scope="module")
def pipeline_password(server: dict[str, Any]) -> str:
    password = _password()
    assert f"{PIPELINE_USER!r} created" in _sync_user(server, PIPELINE_USER, password)
    return password


@pytest.fixture(scope="module")
def run_summary(
    server: dict[str, Any], pipeline_password: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("auth-run")
    config = work / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "tune": {"search_space": dict(TINY_SPACE)},
                "train": {"patience": 3},
                "evaluate": {"gate": "naive"},  # 2 tiny trials need not beat AutoARIMA
            }
        )
    )
    return mlflow_proc.run_cli(
        server, config, work / "out", MODEL_NAME, env=_as(PIPELINE_USER, pipeline_password)
    )


def test_anonymous_and_wrong_password_requests_get_401(
    server: dict[str, Any], pipeline_password: str
) -> None:
    url = server["url"]
    assert _status(f"{url}/health") == 200  # the probes need no credentials
    search = f"{url}/api/2.0/mlflow/experiments/search?max_results=1"
    create = f"{url}/api/2.0/mlflow/experiments/create"
    body = json.dumps({"name": "anonymous-write"}).encode()
    assert _status(search) == 401
    assert _status(create, data=body) == 401
    assert _status(f"{url}/api/2.0/mlflow/registered-models/create", data=b'{"name":"x"}') == 401
    assert _status(search, auth=(PIPELINE_USER, "wrong-password-123")) == 401
    assert _status(create, auth=(ADMIN, pipeline_password), data=body) == 401
    assert _status(search, auth=(PIPELINE_USER, pipeline_password)) == 200


def test_pipeline_registers_champion_with_credentials(
    server: dict[str, Any], run_summary: dict[str, Any]
) -> None:
    s = run_summary
    assert s["model_name"] == MODEL_NAME and s["model_version"] == "1"
    assert s["alias"] == "champion", s["promotion_reason"]
    with _admin(server) as client:
        version = client.get_model_version_by_alias(MODEL_NAME, "champion")
        assert str(version.version) == "1" and version.run_id == s["parent_run_id"]
        assert client.get_run(s["parent_run_id"]).info.status == "FINISHED"
    assert list(server["artifacts"].rglob("MLmodel")), "artifacts went through the proxy"


READER_SCRIPT = r"""
import json, sys
import pandas as pd
import mlflow
from mlflow import MlflowClient

name, csv_path = sys.argv[1], sys.argv[2]
client = MlflowClient()
result = {"version": str(client.get_model_version_by_alias(name, "champion").version)}
model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
out = model.predict(pd.read_csv(csv_path).tail(30).reset_index(drop=True))
result["n_rows"] = int(len(out))
for action, call in (
    ("set_alias", lambda: client.set_registered_model_alias(name, "champion", "1")),
    ("delete_alias", lambda: client.delete_registered_model_alias(name, "champion")),
    ("tag_version", lambda: client.set_model_version_tag(name, "1", "promotion", "forged")),
    ("delete_model", lambda: client.delete_registered_model(name)),
):
    try:
        call()
        result[action] = "allowed"
    except Exception as exc:
        result[action] = str(getattr(exc, "error_code", "")) + " " + str(exc)[:200]
print("RESULT " + json.dumps(result))
"""


def test_read_only_user_loads_champion_but_cannot_move_it(
    server: dict[str, Any], run_summary: dict[str, Any], tmp_path: Path
) -> None:
    from lstmtune import mlflow_users

    reader_password = _password()
    assert "'reader' created" in _sync_user(server, "reader", reader_password)
    with _admin(server):
        experiments = mlflow_users.grant_model_read(server["url"], "reader", MODEL_NAME)
    assert len(experiments) == 1

    script = tmp_path / "reader.py"
    script.write_text(READER_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), MODEL_NAME, example_data_path()],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(tmp_path),
        env=_as("reader", reader_password, MLFLOW_TRACKING_URI=server["url"]),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    r = json.loads(line.removeprefix("RESULT "))
    assert r["version"] == "1" and r["n_rows"] > 0
    for action in ("set_alias", "delete_alias", "tag_version", "delete_model"):
        assert "PERMISSION_DENIED" in r[action] or "403" in r[action], (action, r[action])

    # nothing moved: the champion is still version 1 and its tags are intact
    with _admin(server) as client:
        assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == "1"
        assert client.get_model_version(MODEL_NAME, "1").tags.get("promotion") != "forged"


def test_rerunning_the_user_job_rotates_the_password(server: dict[str, Any]) -> None:
    search = f"{server['url']}/api/2.0/mlflow/experiments/search?max_results=1"
    old, new = _password(), _password()
    assert "'rotating' created" in _sync_user(server, "rotating", old)
    assert _status(search, auth=("rotating", old)) == 200
    assert "'rotating' updated" in _sync_user(server, "rotating", new)
    assert _status(search, auth=("rotating", old)) == 401
    assert _status(search, auth=("rotating", new)) == 200

"""Users of an MLflow server that runs the basic-auth app (``mlflow server --app-name basic-auth``).

``python -m lstmtune.mlflow_users`` is what the cluster's ``mlflow-users`` Job runs: as the admin
(``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``) it makes sure the user named by
``LSTMTUNE_MLFLOW_USERNAME`` exists with the password ``LSTMTUNE_MLFLOW_PASSWORD`` -- created the
first time, its password reset on every later run, so re-running the Job after changing the
Secret rotates the password. ``grant_model_read`` gives a registry consumer read-only access to
one registered model.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

__all__ = ["ensure_user", "grant_model_read", "main", "wait_for_server"]


def _auth_client(tracking_uri: str) -> Any:
    from mlflow.server.auth.client import AuthServiceClient

    return AuthServiceClient(tracking_uri)


def wait_for_server(tracking_uri: str, *, timeout_s: float = 600.0, poll_s: float = 3.0) -> None:
    """Block until ``<tracking_uri>/health`` answers 200 (it needs no credentials)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{tracking_uri.rstrip('/')}/health", timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"MLflow at {tracking_uri} did not answer /health in {timeout_s} s")
        time.sleep(poll_s)


def ensure_user(tracking_uri: str, username: str, password: str) -> str:
    """Create ``username`` or reset its password; returns ``"created"`` or ``"updated"``.

    Needs admin credentials in ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``.
    """
    from mlflow.exceptions import MlflowException

    if not username or not password:
        raise ValueError("ensure_user needs a non-empty username and password")
    auth = _auth_client(tracking_uri)
    try:
        auth.get_user(username)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        auth.create_user(username, password)
        return "created"
    auth.update_user_password(username, password)
    return "updated"


def grant_model_read(tracking_uri: str, username: str, model_name: str) -> list[str]:
    """Let ``username`` load ``models:/<model_name>@<alias>`` and nothing more: READ on the
    registered model (versions, aliases, tags) and on each experiment that holds one of its
    versions' runs, because the server authorizes artifact downloads per experiment. Returns
    those experiment ids. Needs admin credentials or MANAGE on the model and experiments; run
    it again after a version is registered from a new experiment.
    """
    from mlflow import MlflowClient

    auth = _auth_client(tracking_uri)
    auth.grant_user_permission(username, "registered_model", model_name, "READ")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment_ids = sorted(
        {
            client.get_run(v.run_id).info.experiment_id
            for v in client.search_model_versions(f"name='{model_name}'")
            if v.run_id
        }
    )
    for experiment_id in experiment_ids:
        auth.grant_user_permission(username, "experiment", experiment_id, "READ")
    return experiment_ids


def main(argv: list[str] | None = None) -> int:
    del argv
    env = os.environ
    missing = [
        k
        for k in (
            "MLFLOW_TRACKING_URI",
            "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD",
            "LSTMTUNE_MLFLOW_USERNAME",
            "LSTMTUNE_MLFLOW_PASSWORD",
        )
        if not env.get(k)
    ]
    if missing:
        print(f"error: missing environment variables: {', '.join(missing)}", file=sys.stderr)
        return 2
    uri = env["MLFLOW_TRACKING_URI"]
    wait_for_server(uri)
    user = env["LSTMTUNE_MLFLOW_USERNAME"]
    outcome = ensure_user(uri, user, env["LSTMTUNE_MLFLOW_PASSWORD"])
    print(f"MLflow user {user!r} {outcome} on {uri}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Real-PostgreSQL helpers for the distributed-tuning tests, and a tuning worker entry point.

As a module: a throwaway database per test session (created and dropped by the fixture in
``test_distributed.py``), cluster control (restart, ensure running) and storage queries.
As a script: ``python tests/pg.py CONFIG_YAML WORKER_ID N_WORKERS`` runs one tuning worker —
``lstmtune.tuning.run_study`` on the bundled/configured data — and prints ``RESULT {json}``
(exit 0) or ``ABORT <message>`` (exit 3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HOST, PORT, USER = "127.0.0.1", 5432, "postgres"
WORKER = str(Path(__file__).resolve())


def _connect(dbname: str = "postgres") -> Any:
    import psycopg2

    conn = psycopg2.connect(host=HOST, port=PORT, user=USER, dbname=dbname, connect_timeout=3)
    conn.autocommit = True
    return conn


def reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        _connect().close()
        return None
    except Exception as exc:
        return (
            f"PostgreSQL at {HOST}:{PORT} (user {USER}) is unreachable: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"
        )


def create_database() -> str:
    name = f"lstmtune_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    conn = _connect()
    try:
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return name


def drop_database(name: str) -> None:
    ensure_running()
    conn = _connect()
    try:
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def url(dbname: str) -> str:
    return f"postgresql+psycopg2://{USER}@{HOST}:{PORT}/{dbname}"


def cluster_version() -> str:
    return sorted(os.listdir("/etc/postgresql"))[0]


def ensure_running(timeout: float = 60) -> None:
    """Start the cluster if it is down; wait until it accepts connections."""
    deadline = time.monotonic() + timeout
    started = False
    while time.monotonic() < deadline:
        if reachable() is None:
            return
        if not started:
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", cluster_version(), "main", "start"],
                check=False,
                capture_output=True,
            )
            started = True
        time.sleep(0.5)
    raise RuntimeError(f"PostgreSQL did not come back within {timeout} s")


def pg_ctl(action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", cluster_version(), "main", action],
        check=True,
        capture_output=True,
        timeout=120,
    )


def trial_states(dbname: str, study_name: str) -> list[tuple[int, str]]:
    """(number, state) of every trial of the study, straight from the database."""
    return [(n, s) for n, s, _ in trial_progress(dbname, study_name)]


def trial_progress(dbname: str, study_name: str) -> list[tuple[int, str, int]]:
    """(number, state, epochs reported) of every trial of the study, straight from the database."""
    conn = _connect(dbname)
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT t.number, t.state, "
            "(SELECT count(*) FROM trial_intermediate_values v WHERE v.trial_id = t.trial_id) "
            "FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "WHERE s.study_name = %s ORDER BY t.number",
            (study_name,),
        )
        return [(int(n), str(s), int(k)) for n, s, k in cur.fetchall()]
    except Exception:  # tables not created yet
        return []
    finally:
        conn.close()


def start_worker(
    config_json: Path, worker_id: int = 0, n_workers: int = 1, log: Path | None = None
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
    }
    out = open(log, "w") if log is not None else subprocess.PIPE  # noqa: SIM115 - closed by the OS at exit
    return subprocess.Popen(
        [sys.executable, WORKER, str(config_json), str(worker_id), str(n_workers)],
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def main(argv: list[str]) -> int:
    import torch

    from lstmtune.config import RunConfig
    from lstmtune.data.prepare import prepare
    from lstmtune.tuning import run_study

    torch.set_num_threads(1)
    import yaml

    cfg = RunConfig.model_validate(yaml.safe_load(Path(argv[0]).read_text())).resolved()
    parts, meta = prepare(cfg)
    try:
        result = run_study(cfg, parts, meta, worker_id=int(argv[1]), n_workers=int(argv[2]))
    except RuntimeError as exc:
        print(f"ABORT {exc}", flush=True)
        return 3
    print("RESULT " + json.dumps(result.to_dict(), default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main(sys.argv[1:]))

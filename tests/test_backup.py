"""Backups that restore: the cluster's dump script (k8s/base/backup/pg-dump.sh, run by CronJob
postgres-backup) and scripts/restore-db.sh against the real local PostgreSQL.

An MLflow registry (model versions, aliases, tags) and an Optuna study (trials, params, values,
attributes) are written to throwaway databases through MLflow's and Optuna's own stores, dumped,
dropped, restored, and read back through the same stores: nothing may be lost.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pg
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
DUMP_SCRIPT = ROOT / "k8s" / "base" / "backup" / "pg-dump.sh"
RESTORE_SCRIPT = ROOT / "scripts" / "restore-db.sh"
MODEL = "lt-backup"
STUDY = "lt-backup-study"


def _skip_reason() -> str | None:
    for tool in ("pg_dump", "pg_restore", "psql"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (postgresql-client)"
    return pg.reachable()


def _libpq_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "MLFLOW_"))}
    env.update(PGHOST=pg.HOST, PGPORT=str(pg.PORT), PGUSER=pg.USER, **extra)
    return env


def _run(cmd: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env=_libpq_env(**extra), cwd=ROOT
    )


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    names = (pg.create_database(), pg.create_database())
    try:
        yield names
    finally:
        for name in names:
            pg.drop_database(name)


def _mlflow_client(db: str) -> Any:
    from mlflow import MlflowClient

    uri = pg.url(db)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _fill_registry(db: str, artifacts: Path) -> None:
    client = _mlflow_client(db)
    experiment_id = client.create_experiment("backup", artifact_location=artifacts.as_uri())
    client.create_registered_model(MODEL, tags={"task": "forecast"}, description="backup test")
    for i in (1, 2, 3):
        run = client.create_run(experiment_id, run_name=f"run-{i}")
        client.log_metric(run.info.run_id, "test_rmse", 30.0 - i)
        client.log_param(run.info.run_id, "units", str(8 * i))
        client.set_terminated(run.info.run_id)
        client.create_model_version(
            MODEL,
            source=f"{artifacts.as_uri()}/{run.info.run_id}/model",
            run_id=run.info.run_id,
            tags={"test_rmse": str(30.0 - i), "promotion": f"round {i}"},
        )
    client.set_registered_model_alias(MODEL, "champion", "3")
    client.set_registered_model_alias(MODEL, "challenger", "2")


def _registry_state(db: str) -> dict[str, Any]:
    client = _mlflow_client(db)
    model = client.get_registered_model(MODEL)
    versions = sorted(client.search_model_versions(f"name='{MODEL}'"), key=lambda v: int(v.version))
    versions = [client.get_model_version(MODEL, str(v.version)) for v in versions]
    runs = {v.run_id: client.get_run(v.run_id) for v in versions}
    return {
        "aliases": {alias: str(version) for alias, version in model.aliases.items()},
        "tags": dict(model.tags),
        "description": model.description,
        "versions": [
            (str(v.version), v.run_id, v.source, dict(v.tags), sorted(v.aliases), v.status)
            for v in versions
        ],
        "runs": {
            rid: (r.info.status, dict(r.data.metrics), dict(r.data.params))
            for rid, r in runs.items()
        },
        "champion": str(client.get_model_version_by_alias(MODEL, "champion").version),
    }


def _fill_study(db: str) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=STUDY, storage=pg.url(db), direction="minimize")
    study.set_user_attr("dataset", "airline")

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -3.0, 3.0)
        units = trial.suggest_categorical("units", [8, 16])
        trial.set_user_attr("epochs", 5)
        trial.report(x * x, step=1)
        return (x - 1.0) ** 2 + units / 100

    study.optimize(objective, n_trials=6)


def _study_state(db: str) -> dict[str, Any]:
    import optuna

    study = optuna.load_study(study_name=STUDY, storage=pg.url(db))
    return {
        "user_attrs": study.user_attrs,
        "best": (study.best_trial.number, study.best_value),
        "trials": [
            (t.number, t.state.name, t.params, t.value, t.user_attrs, t.intermediate_values)
            for t in study.get_trials(deepcopy=False)
        ],
    }


def _dump(out: Path, *dbs: str) -> Path:
    proc = _run(
        ["sh", str(DUMP_SCRIPT)],
        BACKUP_DIR=str(out),
        BACKUP_NAME="20250131T021700Z",
        BACKUP_DATABASES=" ".join(dbs),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    backup = out / "20250131T021700Z"
    assert sorted(p.name for p in backup.iterdir()) == sorted(f"{db}.dump" for db in dbs)
    return backup


def _restore(backup: Path, *dbs: str) -> subprocess.CompletedProcess[str]:
    return _run(["bash", str(RESTORE_SCRIPT), "--yes", str(backup), *dbs])


def _exists(db: str) -> bool:
    conn = pg._connect()
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
        return cur.fetchone() is not None
    finally:
        conn.close()


def test_dump_drop_restore_keeps_every_model_version_alias_and_trial(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    mlflow_db, optuna_db = databases
    _fill_registry(mlflow_db, tmp_path / "artifacts")
    _fill_study(optuna_db)
    registry, study = _registry_state(mlflow_db), _study_state(optuna_db)
    assert len(registry["versions"]) == 3 and registry["aliases"] == {
        "champion": "3",
        "challenger": "2",
    }
    assert len(study["trials"]) == 6

    backup = _dump(tmp_path / "backups", mlflow_db, optuna_db)
    for db in databases:  # the volume is gone
        pg.drop_database(db)
        assert not _exists(db)

    proc = _restore(backup)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _registry_state(mlflow_db) == registry
    assert _study_state(optuna_db) == study

    # the restored stores are live, not just readable: MLflow registers, Optuna runs trials
    client = _mlflow_client(mlflow_db)
    run = client.create_run(client.get_experiment_by_name("backup").experiment_id)
    mv = client.create_model_version(MODEL, source="file:///x/model", run_id=run.info.run_id)
    assert str(mv.version) == "4"
    import optuna

    restored = optuna.load_study(study_name=STUDY, storage=pg.url(optuna_db))
    restored.optimize(lambda t: t.suggest_float("x", -3.0, 3.0) ** 2 + 0.08, n_trials=1)
    assert len(restored.trials) == 7


def test_restore_replaces_a_database_that_still_exists(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    mlflow_db, _ = databases
    _fill_registry(mlflow_db, tmp_path / "artifacts")
    registry = _registry_state(mlflow_db)
    backup = _dump(tmp_path / "backups", mlflow_db)

    # damage after the backup: the alias consumers load moves, a version disappears
    client = _mlflow_client(mlflow_db)
    client.set_registered_model_alias(MODEL, "champion", "1")
    client.delete_model_version(MODEL, "2")
    assert _registry_state(mlflow_db) != registry

    proc = _restore(backup, mlflow_db)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _registry_state(mlflow_db) == registry


def test_restore_refuses_without_confirmation_and_unknown_databases(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    mlflow_db, optuna_db = databases
    _fill_study(optuna_db)
    backup = _dump(tmp_path / "backups", optuna_db)
    proc = _run(["bash", str(RESTORE_SCRIPT), str(backup)])
    assert proc.returncode != 0 and "--yes" in proc.stderr
    proc = _restore(backup, mlflow_db)  # no such dump in the backup
    assert proc.returncode != 0 and f"no {mlflow_db}.dump" in proc.stderr
    assert len(_study_state(optuna_db)["trials"]) == 6  # nothing was touched


def test_dump_of_a_missing_database_fails_and_leaves_no_dump(tmp_path: Path) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    proc = _run(
        ["sh", str(DUMP_SCRIPT)],
        BACKUP_DIR=str(tmp_path),
        BACKUP_NAME="b",
        BACKUP_DATABASES="lstmtune_no_such_database",
    )
    assert proc.returncode != 0
    assert not list(tmp_path.rglob("*.dump"))

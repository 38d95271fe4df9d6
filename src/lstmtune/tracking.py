"""MLflow bookkeeping: the experiment, one parent run per pipeline run, a nested run per trial.

Everything goes through ``MlflowClient`` with explicit run ids (no global active run), so each
pipeline step — a separate process, locally or on a cluster — logs into the same parent run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from lstmtune import prefork
from lstmtune._version import __version__
from lstmtune.config import RunConfig

SQLITE = "sqlite:///"
CACHE_ENV = "LSTMTUNE_CACHE_DIR"
DB_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")  # MLflow's SQLAlchemy store


def client(cfg: RunConfig) -> Any:
    from mlflow.tracking import MlflowClient

    seed_sqlite_store(cfg.mlflow.tracking_uri)
    return MlflowClient(tracking_uri=cfg.mlflow.tracking_uri, registry_uri=cfg.mlflow.tracking_uri)


def preload(cfg: RunConfig) -> None:
    """Import what :func:`client` needs (MLflow, and its SQL store for a database URI), opening
    nothing: a step that waits on another process meanwhile (prepare) imports it then."""
    import mlflow.tracking

    if (cfg.mlflow.tracking_uri or "").split(":", 1)[0].split("+", 1)[0] in DB_SCHEMES:
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401


def cache_dir() -> Path:
    """Where lstmtune keeps what it can rebuild: ``$LSTMTUNE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/lstmtune``, else ``~/.cache/lstmtune``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lstmtune"


def seed_sqlite_store(tracking_uri: str | None) -> None:
    """Start a new local SQLite MLflow store as a copy of an empty one.

    MLflow creates a store by running all of its schema migrations (about 60 Alembic revisions,
    2-6 s on two cores), in every new output directory. The first time, the migrated, still empty
    database is kept as ``<cache>/mlflow-<version>-empty.db`` (one per MLflow version); a new
    store is then a file copy, and MLflow opens it as it would its own: the schema is at its head
    revision and the ``Default`` experiment is created on first open, as usual. Any problem (no
    writable cache, a changed MLflow internal) falls back to MLflow creating the store itself.
    """
    if not tracking_uri or not tracking_uri.startswith(SQLITE) or ":memory:" in tracking_uri:
        return
    target = Path(tracking_uri[len(SQLITE) :])
    if target.exists() or not target.parent.is_dir():
        return
    try:
        template = _empty_store_template()
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(template, tmp)
        if target.exists():  # created meanwhile by another process: keep theirs
            tmp.unlink()
        else:
            os.replace(tmp, target)
    except Exception as exc:  # MLflow creates the store itself, as without a template
        logging.getLogger("lstmtune").debug("lstmtune: no MLflow store template: %s", exc)


def _empty_store_template() -> Path:
    """The cached empty store of this MLflow version, built on first use (the cached file is
    found without importing MLflow's database modules)."""
    from importlib.metadata import version

    template = cache_dir() / f"mlflow-{version('mlflow')}-empty.db"
    if template.is_file():
        return template
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    template.parent.mkdir(parents=True, exist_ok=True)
    tmp = template.with_name(f".{template.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    engine = sqlalchemy.create_engine(f"{SQLITE}{tmp}")
    try:
        _initialize_tables(engine)  # type: ignore[no-untyped-call]
    finally:
        engine.dispose()
    os.replace(tmp, template)
    return template


def local_artifact_root(cfg: RunConfig) -> str | None:
    """For the embedded SQLite default, keep artifacts beside the database, not in ./mlruns."""
    uri = cfg.mlflow.tracking_uri or ""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).parent / "mlartifacts").resolve().as_uri()
    return None


def experiment_id(cfg: RunConfig) -> str:
    c = client(cfg)
    exp = c.get_experiment_by_name(cfg.mlflow.experiment)
    if exp is not None:
        return str(exp.experiment_id)
    try:
        return str(
            c.create_experiment(cfg.mlflow.experiment, artifact_location=local_artifact_root(cfg))
        )
    except Exception:  # created concurrently by another worker
        exp = c.get_experiment_by_name(cfg.mlflow.experiment)
        if exp is None:
            raise
        return str(exp.experiment_id)


def start_parent_run(cfg: RunConfig, meta: dict[str, Any], run_name: str | None = None) -> str:
    from mlflow.entities import Param, RunTag

    c = client(cfg)
    tags = {
        "lstmtune.version": __version__,
        "lstmtune.task": meta["task"],
        "data.sha256": meta["sha256"],
        "data.source": meta["source"],
        "mlflow.source.name": "lstmtune",
    }
    run = c.create_run(
        experiment_id(cfg),
        run_name=run_name or f"{cfg.mlflow.model_name}-{time.strftime('%Y%m%d-%H%M%S')}",
        tags=tags,
    )
    params = {
        "task": meta["task"],
        "n_trials": cfg.tune.n_trials,
        "sampler": cfg.tune.sampler,
        "pruner": cfg.tune.pruner,
        "seed": cfg.train.seed,
        "data.rows": meta["n_rows"],
    }
    if meta["task"] == "forecast":
        params.update(
            {
                "target": meta["columns"]["target"],
                "horizon": meta["horizon"],
                "seasonal_period": meta["seasonal_period"],
            }
        )
    c.log_batch(
        run.info.run_id,
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag("lstmtune.search_space", str(meta["search_space"])[:4900])],
    )
    return str(run.info.run_id)


def log_trial_run(
    cfg: RunConfig,
    parent_run_id: str,
    number: int,
    params: dict[str, Any],
    history: list[dict[str, float]],
    state: str,
    extra_tags: dict[str, str] | None = None,
) -> None:
    """One nested run per trial, written in a single batch at the end of the trial (by the
    step's :class:`~lstmtune.trial_log.TrialLog` helper while one is open)."""
    record = {
        "kind": "trial",
        "parent_run_id": parent_run_id,
        "number": number,
        "params": {k: str(v) for k, v in sorted(params.items())},
        "history": history,
        "state": state,
        "tags": dict(extra_tags or {}),
        "now": int(time.time() * 1000),
    }
    _hand_over_or_write(cfg, record)


class _Route:
    """The step's open :class:`~lstmtune.trial_log.TrialLog`, if any (:func:`route_to`)."""

    log: Any = None


def route_to(log: Any) -> None:
    """Hand the records of :func:`log_trial_run` and :func:`log_to_parent` to ``log`` (its
    ``send(record)``) from now on; None: write them here again."""
    _Route.log = log


def _hand_over_or_write(cfg: RunConfig, record: dict[str, Any]) -> None:
    if _Route.log is not None:
        _Route.log.send(record)
    elif record["kind"] == "trial":
        write_trial_run(client(cfg), record)
    elif not _Helper.hand_over(record):
        write_batch(client(cfg), record)


def write_trial_run(c: Any, record: dict[str, Any]) -> None:
    """The nested run of one trial (a record of :func:`log_trial_run`) with the client ``c``."""
    from mlflow.entities import Metric, Param, RunTag

    parent_run_id, state = record["parent_run_id"], record["state"]
    exp = c.get_run(parent_run_id).info.experiment_id
    run = c.create_run(
        exp,
        run_name=f"trial-{record['number']}",
        tags={
            "mlflow.parentRunId": parent_run_id,
            "optuna.trial": str(record["number"]),
            "state": state,
            **record["tags"],
        },
    )
    metrics: list[Metric] = []
    for rec in record["history"]:
        step = int(rec["epoch"])
        metrics.extend(
            Metric(k, float(v), record["now"], step) for k, v in rec.items() if k != "epoch"
        )
    c.log_batch(
        run.info.run_id,
        metrics=metrics,
        params=[Param(k, v) for k, v in record["params"].items()],
        tags=[RunTag("state", state)],
    )
    c.set_terminated(
        run.info.run_id, status="FINISHED" if state in ("COMPLETE", "PRUNED") else "FAILED"
    )


def log_to_parent(
    cfg: RunConfig,
    parent_run_id: str,
    metrics: dict[str, float] | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    batch = {
        "kind": "parent",
        "run_id": parent_run_id,
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "params": {k: str(v) for k, v in (params or {}).items()},
        "tags": dict(tags or {}),
        "now": int(time.time() * 1000),
    }
    _hand_over_or_write(cfg, batch)


def write_batch(c: Any, batch: dict[str, Any]) -> None:
    """Metrics, params and tags of one :func:`log_to_parent` call with the client ``c``."""
    from mlflow.entities import Metric, Param, RunTag

    c.log_batch(
        batch["run_id"],
        metrics=[Metric(k, v, batch["now"], 0) for k, v in batch["metrics"].items()],
        params=[Param(k, v) for k, v in batch["params"].items()],
        tags=[RunTag(k, v) for k, v in batch["tags"].items()],
    )


class _Helper:
    """This step's MLflow helper process, while one is waiting (:func:`start_helper`)."""

    proc: prefork.ChildProcess | None = None

    @classmethod
    def hand_over(cls, batch: dict[str, Any]) -> bool:
        """Have the helper write ``batch``; False if there is none or it failed."""
        proc, cls.proc = cls.proc, None
        if proc is None or proc.stdin is None:
            return False
        with contextlib.suppress(Exception):
            proc.stdin.write(json.dumps(batch) + "\n")
            proc.stdin.close()
            return proc.wait() == 0
        proc.kill()
        return False


def start_helper(config_json: str) -> None:
    """A child process (``python -m lstmtune.tracking``) that imports MLflow and opens the run's
    store now, on the other core, while the step computes; the step's next :func:`log_to_parent`
    is then written by it instead of this process importing MLflow (1.5 s) for one call at its
    end (the train-best step). A helper that fails leaves the call to this process."""
    with contextlib.suppress(Exception):
        proc = prefork.popen("lstmtune.tracking", stdin=True)
        _Helper.proc = proc
        proc.stdin.write(config_json + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]


def main() -> int:
    """The helper's entry point (``python -m``, or forked by the run's step server); its exit
    code."""
    try:
        c = client(RunConfig.from_json(sys.stdin.readline()).resolved())
        line = sys.stdin.readline()  # '' once the step ends without logging
        if line:
            write_batch(c, json.loads(line))
    except BaseException:  # the step writes the batch itself
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - run by start_helper
    os._exit(main())

"""Submit the pipeline to a Kubeflow Pipelines server: one run, or a recurring (scheduled) run."""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstmtune.config import RunConfig
from lstmtune.errors import UserError

CRON_FIELD = re.compile(r"^[\d*/,\-?LW#A-Za-z]+$")


def check_cron(expr: str) -> str:
    """KFP takes a 6-field cron (seconds first), e.g. ``0 0 3 * * *`` for 03:00 every day."""
    fields = expr.split()
    if len(fields) != 6 or not all(CRON_FIELD.match(f) for f in fields):
        raise UserError(
            f"--cron: {expr!r} must have 6 fields, seconds first"
            " (e.g. '0 0 3 * * *' = daily at 03:00)"
        )
    return " ".join(fields)


def pipeline_package(cfg: RunConfig, path: str | None = None) -> str:
    """Compile the pipeline with the config's cluster settings; returns the YAML path."""
    from lstmtune.pipelines import DEFAULT_IMAGE, compile_pipeline
    from lstmtune.run_checks import check_katib_data

    check_katib_data(cfg)  # refused here, not in a pipeline step on the cluster
    out = path or str(Path(tempfile.mkdtemp(prefix="lstmtune-")) / "lstmtune-pipeline.yaml")
    compile_pipeline(
        out,
        cfg.cluster.image or DEFAULT_IMAGE,
        cfg.cluster,
        backend=cfg.tune.backend,
        workers=cfg.tune.workers,
    )
    return out


def cluster_config_json(cfg: RunConfig) -> str:
    """The run parameter: the config as given (no laptop paths resolved into it)."""
    return cfg.model_dump_json(exclude_defaults=True)


def _client(host: str | None, namespace: str | None) -> Any:
    import kfp

    try:
        # kfp warns on every client that it needs KFP >= 2.0, and prints to stdout that it
        # found no kube config when no host is given (the error below says which host failed)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", FutureWarning)
            return kfp.Client(host=host, namespace=namespace)
    except Exception as exc:
        raise UserError(
            "--host: cannot reach the Kubeflow Pipelines API at "
            f"{host or '(in-cluster default, localhost:80)'}: {unreachable_reason(exc)}"
        ) from None


def unreachable_reason(exc: BaseException) -> str:
    """The operating system's reason (``Connection refused``, ``Name or service not known``)
    when a connection failed, else the error's first line, cut to 200 characters."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    return errno.group(1).strip() if errno else text.splitlines()[0][:200] if text else repr(exc)


def _experiment_id(client: Any, name: str, namespace: str | None) -> str:
    try:
        exp = client.get_experiment(experiment_name=name, namespace=namespace)
    except Exception:
        exp = client.create_experiment(name=name, namespace=namespace)
    return str(exp.experiment_id)


def _ui(host: str | None, kind: str, ident: str) -> str:
    base = (host or "").rstrip("/")
    return f"{base}/#/{kind}/details/{ident}" if base else f"#/{kind}/details/{ident}"


@dataclass
class Submitted:
    id: str
    url: str
    state: str | None = None


def submit(
    cfg: RunConfig,
    *,
    host: str | None,
    namespace: str | None,
    experiment: str,
    run_name: str | None = None,
    service_account: str | None = None,
    wait: bool = False,
    timeout: float = 6 * 3600,
) -> Submitted:
    client = _client(host, namespace)
    package = pipeline_package(cfg)
    run = client.create_run_from_pipeline_package(
        package,
        arguments={"config": cluster_config_json(cfg)},
        run_name=run_name or f"lstmtune-{time.strftime('%Y%m%d-%H%M%S')}",
        experiment_name=experiment,
        namespace=namespace,
        enable_caching=False,
        service_account=service_account,
    )
    result = Submitted(str(run.run_id), _ui(host, "runs", str(run.run_id)))
    if wait:
        detail = client.wait_for_run_completion(run.run_id, timeout=timeout)
        result.state = str(getattr(detail, "state", "UNKNOWN"))
    return result


def schedule(
    cfg: RunConfig,
    *,
    host: str | None,
    namespace: str | None,
    experiment: str,
    name: str,
    cron: str,
    max_concurrency: int = 1,
    no_catchup: bool = True,
    service_account: str | None = None,
) -> Submitted:
    cron = check_cron(cron)
    if not 1 <= max_concurrency <= 10:
        raise UserError(f"--max-concurrency: {max_concurrency} must be between 1 and 10")
    client = _client(host, namespace)
    package = pipeline_package(cfg)
    job = client.create_recurring_run(
        experiment_id=_experiment_id(client, experiment, namespace),
        job_name=name,
        cron_expression=cron,
        max_concurrency=max_concurrency,
        no_catchup=no_catchup,
        pipeline_package_path=package,
        params={"config": cluster_config_json(cfg)},
        enable_caching=False,
        service_account=service_account,
    )
    ident = str(getattr(job, "recurring_run_id", None) or getattr(job, "id", ""))
    return Submitted(ident, _ui(host, "recurringrun", ident))

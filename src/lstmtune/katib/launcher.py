"""The tune step with ``tune.backend: katib``: stage the data, render the Experiment, create or
re-attach to it, wait, and return the same fields as the Optuna backend."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lstmtune.config import RunConfig, objective_name
from lstmtune.katib.client import _api, create_or_attach, optimal_result, wait_for_experiment
from lstmtune.katib.experiment import build_experiment, experiment_name
from lstmtune.katib.staging import upload_prepared


def katib_tune(
    cfg: RunConfig,
    meta: dict[str, Any],
    dataset_dir: str,
    parent_run_id: str,
    *,
    api: Any | None = None,
    report: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The tune step with ``tune.backend: katib``; returns the same fields as the Optuna backend."""
    from lstmtune.run_checks import check_katib_data
    from lstmtune.tuning import default_study_name

    check_katib_data(cfg)
    assert cfg.tune.katib.data_uri
    started = time.perf_counter()
    study_name = cfg.tune.study_name or default_study_name(cfg, meta)
    name = experiment_name(cfg, study_name)
    data_uri = upload_prepared(
        dataset_dir,
        f"{cfg.tune.katib.data_uri.rstrip('/')}/{name}",
        s3_endpoint_url=cfg.data.s3_endpoint_url,
    )
    body = build_experiment(cfg, meta, name=name, data_uri=data_uri, parent_run_id=parent_run_id)
    api = _api(api)
    _, created = create_or_attach(body, api=api)
    ns = cfg.tune.katib.namespace
    spec = body["spec"]
    report(
        f"{'created' if created else 're-attached to existing'} Katib Experiment {ns}/{name} "
        f"({spec['algorithm']['algorithmName']}, "
        f"{spec['maxTrialCount']} trials, {spec['parallelTrialCount']} in parallel)"
    )
    obj = wait_for_experiment(
        ns,
        name,
        timeout=cfg.tune.katib.timeout_seconds,
        poll=cfg.tune.katib.poll_seconds,
        api=api,
        report=report,
    )
    objective = objective_name(meta)
    result = optimal_result(obj, meta["search_space"], objective)
    return _tune_summary(result, name=name, namespace=ns, objective=objective, created=created) | {
        "seconds": round(time.perf_counter() - started, 2),
        "extra": {"backend": "katib"},
    }


def _tune_summary(
    result: dict[str, Any], *, name: str, namespace: str, objective: str, created: bool
) -> dict[str, Any]:
    """The Optuna backend's result fields from :func:`optimal_result`."""
    return {
        "study_name": name,
        "storage": f"katib://{namespace}/{name}",
        "objective": objective,
        "best_params": result["best_params"],
        "best_value": result["best_value"],
        "best_epoch": result["best_epoch"],
        "best_trial": 0,
        "best_trial_name": result["best_trial_name"],
        "n_trials_complete": result["n_trials_complete"],
        "n_trials_pruned": result["n_trials_pruned"],
        "n_trials_failed": result["n_trials_failed"],
        "n_trials_reused": 0 if created else result["n_trials_complete"],
    }

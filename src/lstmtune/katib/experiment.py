"""The Experiment's shape: the search space, trial command and pod rendered as a
``kubeflow.org/v1beta1`` Experiment whose trials are batch Jobs running ``lstmtune trial``.

:func:`build_experiment` renders it, checks the limits of the katib backend and returns it
only when Katib's admission rules (:mod:`lstmtune.katib.admission`) accept it. The trial
arguments travel as strings: :func:`parse_value` and :func:`decode_config` read them back.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from lstmtune.config import RunConfig, objective_name
from lstmtune.errors import UserError
from lstmtune.katib.admission import ALGORITHMS, NAME_RE, validate_experiment

GROUP, VERSION, PLURAL = "kubeflow.org", "v1beta1", "experiments"
PRIMARY_CONTAINER = "training"
SAMPLER_TO_ALGORITHM = {"tpe": "tpe", "random": "random", "grid": "grid", "cmaes": "cmaes"}
# Katib's StdOut collector default filter
METRICS_REGEX = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
BEST_EPOCH = "best_epoch"
PBT_CHECKPOINTS = (
    "/var/log/katib/checkpoints/"  # where Katib's pbt mounts a trial's checkpoint directory
)


def algorithm_for(cfg: RunConfig) -> str:
    name = cfg.tune.katib.algorithm or SAMPLER_TO_ALGORITHM[cfg.tune.sampler]
    if name not in ALGORITHMS:
        raise UserError(
            f"tune.katib.algorithm: {name!r} is not a Katib algorithm "
            f"({', '.join(sorted(ALGORITHMS))})"
        )
    return name


def experiment_name(cfg: RunConfig, study_name: str) -> str:
    if cfg.tune.katib.experiment_name:
        name = cfg.tune.katib.experiment_name
        if not NAME_RE.match(name) or len(name) > 40:
            raise UserError(
                f"tune.katib.experiment_name: {name!r} must match {NAME_RE.pattern} "
                "and have at most 40 characters"
            )
        return name
    base = re.sub(r"[^a-z0-9-]+", "-", study_name.lower()).strip("-")
    digest = hashlib.sha256(study_name.encode()).hexdigest()[:8]
    base = base[: 40 - 9].rstrip("-") or "lstmtune"
    if not base[0].isalpha():
        base = "x" + base[:30]
    return f"{base}-{digest}"


def _value_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def katib_parameters(space: dict[str, Any], *, grid: bool = False) -> list[dict[str, Any]]:
    """Searched parameters as Katib ``ParameterSpec`` dicts (fixed ones travel as trial args).
    ``grid``: every range as the list of points Optuna's grid sampler tries
    (:func:`~lstmtune.search_space.grid_space`); Katib's grid refuses a range without a step."""
    if grid:
        space = _as_grid(space)
    params: list[dict[str, Any]] = []
    for name, spec in space.items():
        if spec.get("when"):
            raise UserError(
                f"tune.search_space.{name}.when: Katib cannot express conditional parameters; "
                "use the optuna backend or make the parameter unconditional"
            )
        kind = spec["type"]
        if kind == "fixed":
            continue
        if kind == "categorical":
            choices = spec["choices"]
            numeric = all(isinstance(c, int | float) and not isinstance(c, bool) for c in choices)
            params.append(
                {
                    "name": name,
                    "parameterType": "discrete" if numeric else "categorical",
                    "feasibleSpace": {"list": [_value_str(c) for c in choices]},
                }
            )
            continue
        params.append(
            {
                "name": name,
                "parameterType": "double" if kind == "float" else "int",
                "feasibleSpace": _range_space(spec, kind),
            }
        )
    return params


def _as_grid(space: dict[str, Any]) -> dict[str, Any]:
    """The space with each int/float range replaced by its grid points as choices."""
    from lstmtune.search_space import grid_space

    points = grid_space(space)
    return {
        name: (
            {**spec, "type": "categorical", "choices": points[name]}
            if spec["type"] in ("int", "float")
            else spec
        )
        for name, spec in space.items()
    }


def _range_space(spec: dict[str, Any], kind: str) -> dict[str, Any]:
    """The ``feasibleSpace`` of an int/float parameter."""
    space_: dict[str, Any] = {
        "min": _value_str(spec["low"] if kind == "float" else int(spec["low"])),
        "max": _value_str(spec["high"] if kind == "float" else int(spec["high"])),
    }
    if spec.get("step"):
        space_["step"] = _value_str(spec["step"] if kind == "float" else int(spec["step"]))
    space_["distribution"] = "logUniform" if spec.get("log") else "uniform"
    return space_


def parse_value(spec: dict[str, Any], text: str) -> Any:
    """A trial argument back to the type the search space declares."""
    kind = spec["type"]
    if kind == "int":
        return int(float(text))
    if kind == "float":
        return float(text)
    options = spec["choices"] if kind == "categorical" else [spec["value"]]
    for option in options:
        if _value_str(option) == text:
            return option
    raise UserError(f"--param: {text!r} is not one of {', '.join(_value_str(o) for o in options)}")


def encode_config(cfg: RunConfig) -> str:
    return base64.urlsafe_b64encode(cfg.to_json().encode()).decode()


def trial_config(cfg: RunConfig, data_uri: str) -> RunConfig:
    """The config a trial pod reads, without the paths of the machine that built the
    Experiment: the trial reads its data from ``--data`` (named here in place of
    ``data.path``), writes nothing under ``output_dir``, and a SQLite study or tracking store of
    that machine means nothing in a pod (an MLflow server's URL is kept)."""
    out = cfg.model_copy(deep=True)
    out.data.path = data_uri
    out.output_dir = str(RunConfig.model_fields["output_dir"].default)
    if out.tune.storage and out.tune.storage.startswith("sqlite:"):
        out.tune.storage = None
    uri = out.mlflow.tracking_uri
    if uri and (uri.startswith(("sqlite:", "file:")) or "://" not in uri):
        out.mlflow.tracking_uri = None
    return out


def decode_config(text: str) -> RunConfig:
    try:
        return RunConfig.from_json(base64.urlsafe_b64decode(text.encode()).decode())
    except Exception as exc:
        raise UserError(
            f"--config-b64: not a base64-encoded lstmtune config ({type(exc).__name__})"
        ) from None


def build_experiment(
    cfg: RunConfig, meta: dict[str, Any], *, name: str, data_uri: str, parent_run_id: str = ""
) -> dict[str, Any]:
    """The Experiment as a plain dict (validated through the typed kubeflow-katib-api models)."""
    from kubeflow_katib_api.models import V1beta1Experiment

    pbt = cfg.tune.strategy == "pbt"
    _check_backend_limits(cfg, meta, pbt=pbt)
    space = meta["search_space"]
    algorithm = algorithm_for(cfg)
    parameters = katib_parameters(space, grid=algorithm == "grid")
    if not parameters:
        raise UserError("tune.search_space: nothing to search (every parameter is fixed)")
    objective = objective_name(meta)
    _check_algorithm(algorithm, space, parameters)
    container = _trial_container(cfg, parameters, data_uri, parent_run_id)
    trials = cfg.tune.n_trials
    if algorithm == "grid":  # Katib refuses more trials than the grid has points
        from lstmtune.search_space import grid_size

        trials = min(trials, grid_size(space))
    job = _trial_job(cfg, container)
    spec = _experiment_spec(cfg, (objective, algorithm), trials, parameters, job)
    if pbt:
        _make_pbt(spec, cfg, container)
    elif cfg.tune.pruner == "median":
        spec["earlyStopping"] = {
            "algorithmName": "medianstop",
            "algorithmSettings": [
                {"name": "min_trials_required", "value": "3"},
                {"name": "start_step", "value": "4"},
            ],
        }
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Experiment",
        "metadata": {
            "name": name,
            "namespace": cfg.tune.katib.namespace,
            "labels": {"app.kubernetes.io/managed-by": "lstmtune"},
            "annotations": {"lstmtune.io/data-sha256": meta["sha256"]},
        },
        "spec": spec,
    }
    typed = V1beta1Experiment.from_dict(body)
    rendered: dict[str, Any] = typed.to_dict()
    problems = validate_experiment(rendered)
    if problems:
        raise UserError(f"Katib Experiment would be rejected: {problems[0]}")
    return rendered


def _check_backend_limits(cfg: RunConfig, meta: dict[str, Any], *, pbt: bool) -> None:
    """Settings the katib backend cannot honour raise :class:`UserError`."""
    if pbt:
        from lstmtune.pbt import PERTURBED

        structural = sorted(
            n
            for n, s in meta["search_space"].items()
            if s["type"] != "fixed" and n not in PERTURBED
        )
        if structural:
            raise UserError(
                f"tune.search_space: Katib's pbt perturbs {', '.join(PERTURBED)} only; "
                f"fix {', '.join(structural)} "
                "(a member keeps its structure while it is trained on)"
            )
    if len(cfg.tune.objectives) > 1:
        raise UserError(
            "tune.objectives: Katib Experiments have one objective; "
            "multi-objective tuning runs on the optuna backend"
        )
    if cfg.tune.subset:
        raise UserError(
            "tune.subset: not supported by the katib backend "
            "(trials train on the full training split)"
        )


def _check_algorithm(
    algorithm: str, space: dict[str, Any], parameters: list[dict[str, Any]]
) -> None:
    """What an algorithm needs of the search space (hyperband: an epochs resource; cmaes: two
    numeric parameters)."""
    if algorithm == "hyperband":
        epochs = space.get("epochs", {})
        if epochs.get("type") != "int":
            raise UserError(
                "tune.katib.algorithm: hyperband needs tune.search_space.epochs "
                "as an int range (its resource)"
            )
    if (
        algorithm == "cmaes"
        and sum(p["parameterType"] in ("int", "double") for p in parameters) < 2
    ):
        raise UserError(
            "tune.katib.algorithm: cmaes needs at least two int/float parameters "
            "in the search space"
        )


def _trial_container(
    cfg: RunConfig, parameters: list[dict[str, Any]], data_uri: str, parent_run_id: str
) -> dict[str, Any]:
    """The primary container: ``lstmtune trial`` with one ``--param`` per searched parameter."""
    args = ["trial", "--data", data_uri, "--config-b64", encode_config(trial_config(cfg, data_uri))]
    if parent_run_id:
        args += ["--parent-run-id", parent_run_id]
    for p in parameters:
        args += ["--param", f"{p['name']}=${{trialParameters.{p['name']}}}"]
    cluster = cfg.cluster
    resources: dict[str, Any] = {
        "requests": {"cpu": cluster.cpu_request, "memory": cluster.memory_request}
    }
    limits: dict[str, Any] = {}
    if cluster.cpu_limit:
        limits["cpu"] = cluster.cpu_limit
    if cluster.memory_limit:
        limits["memory"] = cluster.memory_limit
    if cluster.gpus:
        limits[cluster.accelerator_type] = str(cluster.gpus)
    if limits:
        resources["limits"] = limits
    env_from = [{"secretRef": {"name": s}} for s in (cluster.s3_secret, cluster.mlflow_secret) if s]
    container: dict[str, Any] = {
        "name": PRIMARY_CONTAINER,
        "image": cluster.image or _default_image(),
        "command": ["lstmtune"],
        "args": args,
        "resources": resources,
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    if env_from:
        container["envFrom"] = env_from
    return container


def _trial_job(cfg: RunConfig, container: dict[str, Any]) -> dict[str, Any]:
    """The trial's batch/v1 Job around ``container`` (no retries, no istio sidecar)."""
    cluster = cfg.cluster
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": cfg.tune.katib.service_account,
        "automountServiceAccountToken": False,  # a trial never calls the Kubernetes API
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
    }
    if cluster.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in cluster.tolerations]
    if cluster.node_selector:
        pod_spec["nodeSelector"] = dict(cluster.node_selector)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "backoffLimit": 0,  # Katib counts a failed trial once; a Job retry would hide it
            "template": {
                "metadata": {
                    "labels": {"sidecar.istio.io/inject": "false"},
                    "annotations": {"sidecar.istio.io/inject": "false"},
                },
                "spec": pod_spec,
            },
        },
    }


def _experiment_spec(
    cfg: RunConfig,
    goal: tuple[str, str],
    trials: int,
    parameters: list[dict[str, Any]],
    trial_spec: dict[str, Any],
) -> dict[str, Any]:
    """``spec`` of the Experiment: objective, algorithm, trial counts (``trials`` at most; a
    grid has as many as its points), parameters, template."""
    objective, algorithm = goal
    trial_parameters = [
        {"name": p["name"], "reference": p["name"], "description": f"hyperparameter {p['name']}"}
        for p in parameters
    ]
    return {
        "objective": {
            "type": "minimize",
            "objectiveMetricName": objective,
            "additionalMetricNames": [BEST_EPOCH],
            "metricStrategies": [
                {"name": objective, "value": "min"},
                {"name": BEST_EPOCH, "value": "latest"},
            ],
        },
        "algorithm": {
            "algorithmName": algorithm,
            "algorithmSettings": _algorithm_settings(algorithm, cfg),
        },
        "parallelTrialCount": min(cfg.tune.katib.parallel_trials, trials),
        "maxTrialCount": trials,
        "maxFailedTrialCount": min(cfg.tune.max_failed_trials, trials),
        "parameters": parameters,
        "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
        "trialTemplate": {
            "primaryContainerName": PRIMARY_CONTAINER,
            "trialParameters": trial_parameters,
            "trialSpec": trial_spec,
            "successCondition": 'status.conditions.#(type=="Complete")#|#(status=="True")#',
            "failureCondition": 'status.conditions.#(type=="Failed")#|#(status=="True")#',
        },
    }


def _make_pbt(spec: dict[str, Any], cfg: RunConfig, container: dict[str, Any]) -> None:
    """Turn ``spec`` into Katib's pbt: population x rounds trials resuming from checkpoints."""
    spec["algorithm"] = {
        "algorithmName": "pbt",
        "algorithmSettings": [
            {"name": "suggestion_trial_dir", "value": PBT_CHECKPOINTS},
            {"name": "n_population", "value": str(cfg.tune.population)},
            {"name": "truncation_threshold", "value": str(cfg.tune.pbt_quantile)},
        ],
    }
    spec["resumePolicy"] = (
        "FromVolume"  # Katib keeps each member's checkpoint on the suggestion's volume
    )
    spec["maxTrialCount"] = cfg.tune.population * cfg.tune.pbt_rounds
    spec["parallelTrialCount"] = min(cfg.tune.katib.parallel_trials, cfg.tune.population)
    spec["maxFailedTrialCount"] = min(cfg.tune.max_failed_trials, spec["maxTrialCount"])
    container["args"] += ["--checkpoint", PBT_CHECKPOINTS]


def _default_image() -> str:
    from lstmtune._version import __version__

    return f"ghcr.io/lstmtune/lstmtune:{__version__.split('+')[0]}"


def _algorithm_settings(algorithm: str, cfg: RunConfig) -> list[dict[str, str]]:
    seed = str(cfg.train.seed)
    if algorithm in ("tpe", "random", "multivariate-tpe", "cmaes", "bayesianoptimization"):
        return [{"name": "random_state", "value": seed}]
    if algorithm == "grid":
        return []
    if algorithm == "hyperband":
        return [{"name": "resource_name", "value": "epochs"}, {"name": "eta", "value": "3"}]
    return []

"""Katib backend: the same search space as Optuna, rendered as a ``kubeflow.org/v1beta1``
Experiment whose trials are batch Jobs running ``lstmtune trial`` in the project image.

The Experiment is built as typed models from ``kubeflow-katib-api`` and checked against Katib's
admission rules (:func:`validate_experiment`) before it is submitted. :func:`run_experiment`
creates it with the ``kubernetes`` client, re-attaches to an existing one of the same name (a
retried pipeline step never launches twice), waits with a timeout and returns the optimal
trial. A failed or timed-out Experiment raises — never a silent success.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable
from typing import Any

from lstmtune.config import OBJECTIVES, RunConfig
from lstmtune.errors import KatibError, UserError

GROUP, VERSION, PLURAL = "kubeflow.org", "v1beta1", "experiments"
PRIMARY_CONTAINER = "training"
SAMPLER_TO_ALGORITHM = {"tpe": "tpe", "random": "random", "grid": "grid", "cmaes": "cmaes"}
ALGORITHMS = {
    "random",
    "tpe",
    "multivariate-tpe",
    "grid",
    "cmaes",
    "sobol",
    "bayesianoptimization",
    "hyperband",
    "pbt",
}
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
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
            f"tune.katib.algorithm: {name!r} is not a Katib algorithm ({', '.join(sorted(ALGORITHMS))})"
        )
    return name


def experiment_name(cfg: RunConfig, study_name: str) -> str:
    if cfg.tune.katib.experiment_name:
        name = cfg.tune.katib.experiment_name
        if not NAME_RE.match(name) or len(name) > 40:
            raise UserError(
                f"tune.katib.experiment_name: {name!r} must match {NAME_RE.pattern} and have at most 40 characters"
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


def katib_parameters(space: dict[str, Any]) -> list[dict[str, Any]]:
    """Searched parameters as Katib ``ParameterSpec`` dicts (fixed ones travel as trial args)."""
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
        space_: dict[str, Any] = {
            "min": _value_str(spec["low"] if kind == "float" else int(spec["low"])),
            "max": _value_str(spec["high"] if kind == "float" else int(spec["high"])),
        }
        if spec.get("step"):
            space_["step"] = _value_str(spec["step"] if kind == "float" else int(spec["step"]))
        space_["distribution"] = "logUniform" if spec.get("log") else "uniform"
        params.append(
            {
                "name": name,
                "parameterType": "double" if kind == "float" else "int",
                "feasibleSpace": space_,
            }
        )
    return params


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
    if pbt:
        from lstmtune.pbt import PERTURBED

        structural = sorted(
            n
            for n, s in meta["search_space"].items()
            if s["type"] != "fixed" and n not in PERTURBED
        )
        if structural:
            raise UserError(
                f"tune.search_space: Katib's pbt perturbs {', '.join(PERTURBED)} only; fix {', '.join(structural)} "
                "(a member keeps its structure while it is trained on)"
            )
    if len(cfg.tune.objectives) > 1:
        raise UserError(
            "tune.objectives: Katib Experiments have one objective; multi-objective tuning runs on the optuna backend"
        )
    if cfg.tune.subset:
        raise UserError(
            "tune.subset: not supported by the katib backend (trials train on the full training split)"
        )
    space = meta["search_space"]
    parameters = katib_parameters(space)
    if not parameters:
        raise UserError("tune.search_space: nothing to search (every parameter is fixed)")
    objective = OBJECTIVES[meta["task"]]
    algorithm = algorithm_for(cfg)
    if algorithm == "hyperband":
        epochs = space.get("epochs", {})
        if epochs.get("type") != "int":
            raise UserError(
                "tune.katib.algorithm: hyperband needs tune.search_space.epochs as an int range (its resource)"
            )
    if (
        algorithm == "cmaes"
        and sum(p["parameterType"] in ("int", "double") for p in parameters) < 2
    ):
        raise UserError(
            "tune.katib.algorithm: cmaes needs at least two int/float parameters in the search space"
        )
    trial_parameters = [
        {"name": p["name"], "reference": p["name"], "description": f"hyperparameter {p['name']}"}
        for p in parameters
    ]
    args = ["trial", "--data", data_uri, "--config-b64", encode_config(cfg)]
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
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": cfg.tune.katib.service_account,
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
    trial_spec = {
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
    spec: dict[str, Any] = {
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
        "parallelTrialCount": min(cfg.tune.katib.parallel_trials, cfg.tune.n_trials),
        "maxTrialCount": cfg.tune.n_trials,
        "maxFailedTrialCount": min(cfg.tune.max_failed_trials, cfg.tune.n_trials),
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
    if pbt:
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


def _default_image() -> str:
    from lstmtune import __version__

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


def validate_experiment(exp: dict[str, Any]) -> list[str]:
    """Katib's validating-webhook rules (v1beta1), as documented; returns the violations."""
    out: list[str] = []
    meta = exp.get("metadata", {})
    name = str(meta.get("name", ""))
    if not NAME_RE.match(name):
        out.append(f"metadata.name {name!r} must match {NAME_RE.pattern}")
    spec = exp.get("spec", {})
    max_trials = spec.get("maxTrialCount")
    parallel = spec.get("parallelTrialCount")
    failed = spec.get("maxFailedTrialCount")
    if max_trials is not None and max_trials <= 0:
        out.append("spec.maxTrialCount must be > 0")
    if parallel is not None and (
        parallel <= 0 or (max_trials is not None and parallel > max_trials)
    ):
        out.append("spec.parallelTrialCount must be > 0 and <= maxTrialCount")
    if failed is not None and (failed < 0 or (max_trials is not None and failed > max_trials)):
        out.append("spec.maxFailedTrialCount must be in [0, maxTrialCount]")
    objective = spec.get("objective") or {}
    if objective.get("type") not in ("minimize", "maximize"):
        out.append("spec.objective.type must be minimize or maximize")
    metric = objective.get("objectiveMetricName")
    if not metric:
        out.append("spec.objective.objectiveMetricName is required")
    if metric in (objective.get("additionalMetricNames") or []):
        out.append("spec.objective.additionalMetricNames must not repeat the objective metric")
    algorithm = (spec.get("algorithm") or {}).get("algorithmName")
    if algorithm not in ALGORITHMS:
        out.append(f"spec.algorithm.algorithmName {algorithm!r} is not available")
    params = spec.get("parameters") or []
    if not params:
        out.append("spec.parameters must not be empty")
    names = [p.get("name") for p in params]
    if len(set(names)) != len(names):
        out.append("spec.parameters names must be unique")
    numeric = 0
    for p in params:
        fs = p.get("feasibleSpace") or {}
        kind = p.get("parameterType")
        where = f"spec.parameters[{p.get('name')}]"
        if kind in ("int", "double"):
            numeric += 1
            if fs.get("list"):
                out.append(f"{where}: {kind} takes min/max, not a list")
            if fs.get("min") is None or fs.get("max") is None:
                out.append(f"{where}: {kind} needs min and max")
            elif float(fs["min"]) > float(fs["max"]):
                out.append(f"{where}: min > max")
            if kind == "int":
                for key in ("min", "max", "step"):
                    if fs.get(key) is not None and not re.fullmatch(r"-?\d+", str(fs[key])):
                        out.append(f"{where}: int {key} {fs[key]!r} is not an integer")
            if fs.get("distribution") not in (None, "uniform", "logUniform", "normal", "logNormal"):
                out.append(f"{where}: unknown distribution {fs.get('distribution')!r}")
            if (
                fs.get("distribution") in ("logUniform", "logNormal")
                and fs.get("min") is not None
                and float(fs["min"]) <= 0
            ):
                out.append(f"{where}: log distributions need min > 0")
        elif kind in ("categorical", "discrete"):
            if not fs.get("list"):
                out.append(f"{where}: {kind} needs a list")
            if any(fs.get(k) is not None for k in ("min", "max", "step")):
                out.append(f"{where}: {kind} takes a list, not min/max/step")
            if kind == "discrete":
                for v in fs.get("list") or []:
                    try:
                        float(v)
                    except ValueError:
                        out.append(f"{where}: discrete value {v!r} is not numeric")
        else:
            out.append(f"{where}: unknown parameterType {kind!r}")
    if algorithm == "cmaes" and numeric < 2:
        out.append("cmaes needs at least two int/double parameters")
    if algorithm == "pbt":
        settings = {
            s.get("name"): s.get("value")
            for s in (spec.get("algorithm") or {}).get("algorithmSettings") or []
        }
        if spec.get("resumePolicy") != "FromVolume":
            out.append(
                "pbt needs spec.resumePolicy FromVolume (checkpoints live on the suggestion volume)"
            )
        if not settings.get("suggestion_trial_dir"):
            out.append("pbt needs the algorithm setting suggestion_trial_dir")
        if settings.get("n_population") is not None and int(settings["n_population"]) < 5:
            out.append("pbt n_population must be at least 5")
        if early_stop := spec.get("earlyStopping"):
            out.append(
                f"pbt cannot be combined with early stopping ({early_stop.get('algorithmName')})"
            )
    early = spec.get("earlyStopping")
    if early:
        if early.get("algorithmName") != "medianstop":
            out.append("spec.earlyStopping.algorithmName must be medianstop")
        for s in early.get("algorithmSettings") or []:
            if s.get("name") == "min_trials_required" and int(s["value"]) <= 0:
                out.append("medianstop min_trials_required must be > 0")
            if s.get("name") == "start_step" and int(s["value"]) < 1:
                out.append("medianstop start_step must be >= 1")
    collector = ((spec.get("metricsCollectorSpec") or {}).get("collector") or {}).get(
        "kind", "StdOut"
    )
    if collector not in (
        "StdOut",
        "File",
        "TensorFlowEvent",
        "PrometheusMetric",
        "Custom",
        "None",
        "Push",
    ):
        out.append(f"metrics collector kind {collector!r} is not supported")
    out.extend(_validate_template(spec.get("trialTemplate") or {}, set(names)))
    return out


def _validate_template(tt: dict[str, Any], param_names: set[str]) -> list[str]:
    out: list[str] = []
    if not tt.get("primaryContainerName"):
        out.append("spec.trialTemplate.primaryContainerName is required")
    tps = tt.get("trialParameters") or []
    tp_names = [t.get("name", "") for t in tps]
    refs = [t.get("reference", "") for t in tps]
    if len(set(tp_names)) != len(tp_names):
        out.append("trialParameters names must be unique")
    if len(set(refs)) != len(refs):
        out.append("trialParameters references must be unique")
    for t in tps:
        if any(c in t.get("name", "") for c in "{}"):
            out.append(f"trialParameter name {t.get('name')!r} must not contain braces")
        ref = t.get("reference", "")
        if ref not in param_names and not ref.startswith("${trialSpec."):
            out.append(f"trialParameter {t.get('name')!r} references unknown parameter {ref!r}")
    trial_spec = tt.get("trialSpec") or {}
    if trial_spec.get("apiVersion") is None or trial_spec.get("kind") is None:
        out.append("trialSpec needs apiVersion and kind")
    md = trial_spec.get("metadata") or {}
    if md.get("name") or md.get("namespace"):
        out.append("trialSpec must not set metadata.name or metadata.namespace")
    text = json.dumps(trial_spec)
    used = set(re.findall(r"\$\{trialParameters\.([^}]+)\}", text))
    declared = set(tp_names)
    for u in sorted(used - declared):
        out.append(f"trialSpec uses undeclared ${{trialParameters.{u}}}")
    for d in sorted(declared - used):
        out.append(f"trialParameter {d!r} is declared but not used in trialSpec")
    if trial_spec.get("kind") == "Job":
        containers = (((trial_spec.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers"
        ) or []
        if tt.get("primaryContainerName") not in [c.get("name") for c in containers]:
            out.append("primaryContainerName does not name a container of the trial Job")
        lost = _job_round_trip_loss(trial_spec)
        if lost:
            out.append(
                f"trialSpec does not convert to a batch/v1 Job without losing fields: {lost}"
            )
    return out


def _job_round_trip_loss(job: dict[str, Any]) -> str:
    """Katib converts a Job template to batch/v1 Job: report the first field that would be lost."""
    from kubernetes.client import ApiClient

    client = ApiClient()
    typed = client._ApiClient__deserialize(job, "V1Job")  # the client's own model conversion
    back = client.sanitize_for_serialization(typed)

    def diff(a: Any, b: Any, path: str) -> str:
        if isinstance(a, dict):
            if not isinstance(b, dict):
                return path or "."
            for k, v in a.items():
                if k not in b:
                    return f"{path}.{k}".lstrip(".")
                d = diff(v, b[k], f"{path}.{k}")
                if d:
                    return d
            return ""
        if isinstance(a, list):
            if not isinstance(b, list) or len(a) != len(b):
                return path
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                d = diff(x, y, f"{path}[{i}]")
                if d:
                    return d
            return ""
        return "" if str(a) == str(b) else path

    return diff(job, back, "")


# --------------------------------------------------------------------------------------------
# Creating and watching the Experiment


def _api(api: Any | None) -> Any:
    if api is not None:
        return api
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.CustomObjectsApi()


def _condition(status: dict[str, Any]) -> tuple[str, str]:
    """The latest true condition type and its message."""
    for cond in reversed(status.get("conditions") or []):
        if str(cond.get("status")) == "True":
            return str(cond.get("type")), str(cond.get("message", ""))
    return "Created", ""


def create_or_attach(
    body: dict[str, Any], *, api: Any | None = None
) -> tuple[dict[str, Any], bool]:
    """Create the Experiment; on 409 re-attach to the existing one. Returns (object, created)."""
    from kubernetes.client.exceptions import ApiException

    api = _api(api)
    ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
    try:
        return api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body), True
    except ApiException as exc:
        if exc.status != 409:
            raise KatibError(
                f"cannot create Katib Experiment {ns}/{name}: HTTP {exc.status} {exc.reason}: {(exc.body or '')[:300]}"
            ) from None
    existing = api.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    return existing, False


def wait_for_experiment(
    namespace: str,
    name: str,
    *,
    timeout: float,
    poll: float,
    api: Any | None = None,
    report: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll until Succeeded (return the object) or Failed / timeout (raise :class:`KatibError`)."""
    api = _api(api)
    deadline = clock() + timeout
    last = ""
    while True:
        obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        status = obj.get("status") or {}
        state, message = _condition(status)
        optimal = status.get("currentOptimalTrial") or {}
        best = _metric(optimal, None)
        line = (
            f"katib experiment {namespace}/{name}: {state}; trials {status.get('trialsSucceeded', 0)} succeeded, "
            f"{status.get('trialsEarlyStopped', 0)} early-stopped, {status.get('trialsFailed', 0)} failed, "
            f"{status.get('trialsRunning', 0)} running of {(obj.get('spec') or {}).get('maxTrialCount', '?')}"
            + (f"; best {best[0]}={best[1]:.4g}" if best else "")
        )
        if line != last:
            report(line)
            last = line
        if state == "Succeeded":
            return dict(obj)
        if state == "Failed":
            raise KatibError(
                f"Katib Experiment {namespace}/{name} failed: {message or 'no message'}"
            )
        if clock() >= deadline:
            raise KatibError(
                f"Katib Experiment {namespace}/{name} did not finish within {timeout:.0f} s (state {state}); "
                f"it keeps running: inspect with kubectl -n {namespace} get experiment {name}"
            )
        sleep(poll)


def _metric(optimal: dict[str, Any], wanted: str | None) -> tuple[str, float] | None:
    for m in (optimal.get("observation") or {}).get("metrics") or []:
        if wanted is None and m.get("name") == BEST_EPOCH:
            continue
        if wanted is not None and m.get("name") != wanted:
            continue
        for key in ("min", "latest", "max"):
            value = m.get(key)
            if value not in (None, "", "unavailable"):
                try:
                    return str(m["name"]), float(value)
                except ValueError:
                    continue
    return None


def optimal_result(obj: dict[str, Any], space: dict[str, Any], objective: str) -> dict[str, Any]:
    """Best parameters (typed by the search space), value and epoch from a finished Experiment."""
    status = obj.get("status") or {}
    optimal = status.get("currentOptimalTrial") or {}
    assignments = {a["name"]: a["value"] for a in optimal.get("parameterAssignments") or []}
    if not assignments:
        raise KatibError(
            f"Katib Experiment {obj['metadata']['name']} finished without an optimal trial"
        )
    params = {
        name: (
            spec["value"] if spec["type"] == "fixed" else parse_value(spec, str(assignments[name]))
        )
        for name, spec in space.items()
        if spec["type"] == "fixed" or name in assignments
    }
    value = _metric(optimal, objective)
    epoch = _metric(optimal, BEST_EPOCH)
    return {
        "best_params": params,
        "best_value": value[1] if value else float("nan"),
        "best_epoch": int(epoch[1]) if epoch else int(params.get("epochs", 1)),
        "best_trial_name": str(optimal.get("bestTrialName", "")),
        "n_trials_complete": int(status.get("trialsSucceeded", 0)),
        "n_trials_pruned": int(status.get("trialsEarlyStopped", 0)),
        "n_trials_failed": int(status.get("trialsFailed", 0)),
    }


def upload_prepared(dataset_dir: str, data_uri: str, *, s3_endpoint_url: str | None = None) -> str:
    """Copy a prepared dataset to where trial pods read it (``s3://`` prefix or a shared path)."""
    from pathlib import Path

    from lstmtune.data.io import s3_client, split_s3_uri

    src = Path(dataset_dir)
    files = sorted(p for p in src.iterdir() if p.is_file())
    if data_uri.startswith("s3://"):
        bucket, prefix = split_s3_uri(data_uri.rstrip("/") + "/x")
        prefix = prefix[:-1]
        client = s3_client(s3_endpoint_url)
        for f in files:
            client.upload_file(str(f), bucket, prefix + f.name)
        return data_uri.rstrip("/")
    import shutil

    dest = Path(data_uri)
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy2(f, dest / f.name)
    return str(dest)


def fetch_prepared(data_uri: str, *, s3_endpoint_url: str | None = None) -> str:
    """A local directory holding the prepared dataset at ``data_uri`` (downloaded if on S3)."""
    import tempfile
    from pathlib import Path

    from lstmtune.data.io import read_bytes

    if not data_uri.startswith("s3://"):
        if not (Path(data_uri) / "metadata.json").is_file():
            raise UserError(f"{data_uri}: not a prepared dataset (metadata.json missing)")
        return data_uri
    local = Path(tempfile.mkdtemp(prefix="lstmtune-data-"))
    for name in ("metadata.json", "train.parquet", "val.parquet", "test.parquet"):
        (local / name).write_bytes(
            read_bytes(f"{data_uri.rstrip('/')}/{name}", s3_endpoint_url=s3_endpoint_url)
        )
    return str(local)


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
    from lstmtune.tuning import default_study_name

    if not cfg.tune.katib.data_uri:
        raise UserError(
            "tune.katib.data_uri: Katib trial pods read the prepared data from object storage or a shared volume; set an s3:// prefix (e.g. s3://lstmtune-data/prepared)"
        )
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
    report(
        f"{'created' if created else 're-attached to existing'} Katib Experiment {ns}/{name} ({body['spec']['algorithm']['algorithmName']}, "
        f"{body['spec']['maxTrialCount']} trials, {body['spec']['parallelTrialCount']} in parallel)"
    )
    obj = wait_for_experiment(
        ns,
        name,
        timeout=cfg.tune.katib.timeout_seconds,
        poll=cfg.tune.katib.poll_seconds,
        api=api,
        report=report,
    )
    objective = OBJECTIVES[meta["task"]]
    result = optimal_result(obj, meta["search_space"], objective)
    return {
        "study_name": name,
        "storage": f"katib://{ns}/{name}",
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
        "seconds": round(time.perf_counter() - started, 2),
        "extra": {"backend": "katib"},
    }

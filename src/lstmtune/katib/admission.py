"""Katib's admission rules: the checks its validating webhook (v1beta1) makes on an Experiment.

The Experiment CRD's schema is open, so the cluster only rejects a bad Experiment here; checking
the same rules before submitting turns a late webhook rejection into an immediate error that says
what was wrong. Each ``_check_*`` function covers one part of the spec and returns violations.
"""

from __future__ import annotations

import json
import re
from typing import Any

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
COLLECTORS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "None", "Push")
DISTRIBUTIONS = (None, "uniform", "logUniform", "normal", "logNormal")


def validate_experiment(exp: dict[str, Any]) -> list[str]:
    """Katib's validating-webhook rules (v1beta1), as documented; returns the violations."""
    out: list[str] = []
    meta = exp.get("metadata", {})
    name = str(meta.get("name", ""))
    if not NAME_RE.match(name):
        out.append(f"metadata.name {name!r} must match {NAME_RE.pattern}")
    spec = exp.get("spec", {})
    out.extend(_check_counts(spec))
    out.extend(_check_objective(spec.get("objective") or {}))
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
        numeric += _check_parameter(p, out)
    if algorithm == "cmaes" and numeric < 2:
        out.append("cmaes needs at least two int/double parameters")
    if algorithm == "pbt":
        out.extend(_check_pbt(spec))
    if algorithm == "grid":
        out.extend(_check_grid(spec, params))
    out.extend(_check_early_stopping(spec.get("earlyStopping")))
    collector = ((spec.get("metricsCollectorSpec") or {}).get("collector") or {}).get(
        "kind", "StdOut"
    )
    if collector not in COLLECTORS:
        out.append(f"metrics collector kind {collector!r} is not supported")
    out.extend(_validate_template(spec.get("trialTemplate") or {}, set(names)))
    return out


def _check_counts(spec: dict[str, Any]) -> list[str]:
    """maxTrialCount, parallelTrialCount and maxFailedTrialCount against each other."""
    out: list[str] = []
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
    return out


def _check_grid(spec: dict[str, Any], params: list[dict[str, Any]]) -> list[str]:
    """What Katib's grid suggestion service refuses (not the webhook: the Experiment fails once
    created): a range without a step, more trials than the grid's points."""
    out: list[str] = []
    points = 1
    for p in params:
        fs = p.get("feasibleSpace") or {}
        if p.get("parameterType") in ("int", "double"):
            if fs.get("step") in (None, ""):
                out.append(f"spec.parameters[{p.get('name')}]: grid needs a step")
                continue
            low, high, step = (float(fs[k]) for k in ("min", "max", "step"))
            points *= int((high - low) // step) + 1
        else:
            points *= len(fs.get("list") or [])
    if not out and int(spec.get("maxTrialCount") or 0) > points:
        out.append(f"spec.maxTrialCount {spec['maxTrialCount']} > the grid's {points} points")
    return out


def _check_objective(objective: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if objective.get("type") not in ("minimize", "maximize"):
        out.append("spec.objective.type must be minimize or maximize")
    metric = objective.get("objectiveMetricName")
    if not metric:
        out.append("spec.objective.objectiveMetricName is required")
    if metric in (objective.get("additionalMetricNames") or []):
        out.append("spec.objective.additionalMetricNames must not repeat the objective metric")
    return out


def _check_parameter(p: dict[str, Any], out: list[str]) -> int:
    """Append the violations of one ``ParameterSpec`` to ``out``; 1 if it is int/double, else 0."""
    fs = p.get("feasibleSpace") or {}
    kind = p.get("parameterType")
    where = f"spec.parameters[{p.get('name')}]"
    if kind in ("int", "double"):
        out.extend(_check_range(fs, kind, where))
        return 1
    if kind in ("categorical", "discrete"):
        out.extend(_check_list(fs, kind, where))
    else:
        out.append(f"{where}: unknown parameterType {kind!r}")
    return 0


def _check_range(fs: dict[str, Any], kind: str, where: str) -> list[str]:
    """An int/double feasible space: min and max (ordered, integral for int), a known
    distribution, min > 0 for the log ones."""
    out: list[str] = []
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
    if fs.get("distribution") not in DISTRIBUTIONS:
        out.append(f"{where}: unknown distribution {fs.get('distribution')!r}")
    if (
        fs.get("distribution") in ("logUniform", "logNormal")
        and fs.get("min") is not None
        and float(fs["min"]) <= 0
    ):
        out.append(f"{where}: log distributions need min > 0")
    return out


def _check_list(fs: dict[str, Any], kind: str, where: str) -> list[str]:
    """A categorical/discrete feasible space: a list (numeric for discrete), no min/max/step."""
    out: list[str] = []
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
    return out


def _check_pbt(spec: dict[str, Any]) -> list[str]:
    out: list[str] = []
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
    return out


def _check_early_stopping(early: dict[str, Any] | None) -> list[str]:
    out: list[str] = []
    if early:
        if early.get("algorithmName") != "medianstop":
            out.append("spec.earlyStopping.algorithmName must be medianstop")
        for s in early.get("algorithmSettings") or []:
            if s.get("name") == "min_trials_required" and int(s["value"]) <= 0:
                out.append("medianstop min_trials_required must be > 0")
            if s.get("name") == "start_step" and int(s["value"]) < 1:
                out.append("medianstop start_step must be >= 1")
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
    out.extend(_check_trial_spec(trial_spec, set(tp_names)))
    if trial_spec.get("kind") == "Job":
        out.extend(_check_job(trial_spec, tt.get("primaryContainerName")))
    return out


def _check_trial_spec(trial_spec: dict[str, Any], declared: set[str]) -> list[str]:
    """apiVersion/kind set, no metadata name/namespace, trialParameters used == declared."""
    out: list[str] = []
    if trial_spec.get("apiVersion") is None or trial_spec.get("kind") is None:
        out.append("trialSpec needs apiVersion and kind")
    md = trial_spec.get("metadata") or {}
    if md.get("name") or md.get("namespace"):
        out.append("trialSpec must not set metadata.name or metadata.namespace")
    text = json.dumps(trial_spec)
    used = set(re.findall(r"\$\{trialParameters\.([^}]+)\}", text))
    for u in sorted(used - declared):
        out.append(f"trialSpec uses undeclared ${{trialParameters.{u}}}")
    for d in sorted(declared - used):
        out.append(f"trialParameter {d!r} is declared but not used in trialSpec")
    return out


def _check_job(trial_spec: dict[str, Any], primary: Any) -> list[str]:
    """A batch Job trial: the primary container exists and the template survives batch/v1."""
    out: list[str] = []
    containers = (((trial_spec.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    if primary not in [c.get("name") for c in containers]:
        out.append("primaryContainerName does not name a container of the trial Job")
    lost = _job_round_trip_loss(trial_spec)
    if lost:
        out.append(f"trialSpec does not convert to a batch/v1 Job without losing fields: {lost}")
    return out


def _job_round_trip_loss(job: dict[str, Any]) -> str:
    """Katib converts a Job template to batch/v1 Job: report the first field that would be lost."""
    from kubernetes.client import ApiClient

    client = ApiClient()
    typed = client._ApiClient__deserialize(job, "V1Job")  # the client's own model conversion
    back = client.sanitize_for_serialization(typed)
    return _first_lost(job, back, "")


def _first_lost(a: Any, b: Any, path: str) -> str:
    """The first path of ``a`` missing or different in ``b`` ("" when none)."""
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return path or "."
        for k, v in a.items():
            if k not in b:
                return f"{path}.{k}".lstrip(".")
            d = _first_lost(v, b[k], f"{path}.{k}")
            if d:
                return d
        return ""
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = _first_lost(x, y, f"{path}[{i}]")
            if d:
                return d
        return ""
    return "" if str(a) == str(b) else path

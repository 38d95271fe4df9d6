"""The Experiment on the cluster: create it (or re-attach to an existing one of the same name, so
a retried pipeline step never launches twice), wait for it with a timeout, read its optimal
trial. A failed or timed-out Experiment raises :class:`KatibError` — never a silent success."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lstmtune.errors import KatibError
from lstmtune.katib.experiment import BEST_EPOCH, GROUP, PLURAL, VERSION, parse_value


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
                f"cannot create Katib Experiment {ns}/{name}: HTTP {exc.status} {exc.reason}: "
                f"{(exc.body or '')[:300]}"
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
        line = _progress_line(namespace, name, obj, state)
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
                f"Katib Experiment {namespace}/{name} did not finish within {timeout:.0f} s "
                f"(state {state}); it keeps running: "
                f"inspect with kubectl -n {namespace} get experiment {name}"
            )
        sleep(poll)


def _progress_line(namespace: str, name: str, obj: dict[str, Any], state: str) -> str:
    """One line of the Experiment's progress: state, trial counts, best objective so far."""
    status = obj.get("status") or {}
    optimal = status.get("currentOptimalTrial") or {}
    best = _metric(optimal, None)
    return (
        f"katib experiment {namespace}/{name}: {state}; "
        f"trials {status.get('trialsSucceeded', 0)} succeeded, "
        f"{status.get('trialsEarlyStopped', 0)} early-stopped, "
        f"{status.get('trialsFailed', 0)} failed, "
        f"{status.get('trialsRunning', 0)} running of "
        f"{(obj.get('spec') or {}).get('maxTrialCount', '?')}"
        + (f"; best {best[0]}={best[1]:.4g}" if best else "")
    )


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

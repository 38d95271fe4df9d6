"""The first trial of a new study: the registered ``@champion``'s hyperparameters (warm start) or
lstmtune's default configuration, with MLflow's string values coerced back into the space."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from lstmtune.config import RunConfig
from lstmtune.search_space import default_configuration
from lstmtune.tuning.events import log, progress
from lstmtune.tuning.retry import with_retry

_MISSING = object()


def _coerce(spec: dict[str, Any], raw: Any) -> Any:
    """``raw`` (typed, or the string MLflow stored) as a value of ``spec``; ``_MISSING`` when it
    is not one of its choices or lies outside its bounds/step."""
    kind = spec["type"]
    if kind == "categorical":
        return _coerce_choice(spec["choices"], raw)
    if kind not in ("int", "float") or isinstance(raw, bool):
        return _MISSING
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return _MISSING
    low, high, step = float(spec["low"]), float(spec["high"]), spec.get("step")
    if not math.isfinite(value) or not low - 1e-12 * abs(low) <= value <= high + 1e-12 * abs(high):
        return _MISSING
    if kind == "int":
        if value != int(value) or (int(value) - int(low)) % int(step or 1):
            return _MISSING
        return int(value)
    if step:
        k = (value - low) / float(step)
        if abs(k - round(k)) > 1e-6:
            return _MISSING
    return min(max(value, low), high)


def _coerce_choice(choices: list[Any], raw: Any) -> Any:
    """The categorical choice ``raw`` stands for (typed, or as a string), or ``_MISSING``."""
    for choice in choices:
        if isinstance(raw, str) and not isinstance(choice, str):
            if str(choice) == raw or (not isinstance(choice, bool) and _same_number(choice, raw)):
                return choice
        elif choice == raw and isinstance(choice, bool) == isinstance(raw, bool):
            return choice
    return _MISSING


def _same_number(choice: Any, raw: str) -> bool:
    try:
        return float(choice) == float(raw)
    except (TypeError, ValueError):
        return False


def _spec_json_params(cfg: RunConfig, name: str, version: str) -> dict[str, Any]:
    """Fallback source: ``spec.json`` inside the registered model's artifacts (typed params)."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        uri = str(cfg.mlflow.tracking_uri)
        mlflow.set_registry_uri(uri)
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=tmp, tracking_uri=uri
        )
        for path in Path(local).rglob("spec.json"):
            params = json.loads(path.read_text()).get("params", {})
            return dict(params) if isinstance(params, dict) else {}
    return {}


def champion_params(cfg: RunConfig, meta: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The current ``@champion``'s hyperparameters that fit the current search space, and its
    version; ``None`` when there is no registry, model or champion (or it is for another task).

    Source: the ``best.<name>`` params of the champion version's MLflow run (the pipeline's parent
    run, logged by the tune step) — cheap and always there for lstmtune-registered versions;
    fallback: ``spec.json`` in the model's artifacts. Values are matched against the space:
    fixed parameters, names not searched now, values not among the choices or outside the
    bounds/step are dropped (Optuna samples those).
    """
    from mlflow.exceptions import MlflowException

    from lstmtune import tracking

    name = str(cfg.mlflow.model_name)
    client = tracking.client(cfg)
    try:
        version = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None
    task = (version.tags or {}).get("task")
    if task and task != meta["task"]:
        return None
    raw = _champion_raw_params(cfg, client, name, version)
    chosen: dict[str, Any] = {}
    for pname, spec in meta["search_space"].items():
        if spec["type"] == "fixed" or pname not in raw:
            continue
        value = _coerce(spec, raw[pname])
        if value is not _MISSING:
            chosen[pname] = value
    return chosen, str(version.version)


def _champion_raw_params(cfg: RunConfig, client: Any, name: str, version: Any) -> dict[str, Any]:
    """The champion version's hyperparameters as stored: its run's ``best.<name>`` params, else
    those of ``spec.json`` (``{}`` when neither can be read)."""
    from mlflow.exceptions import MlflowException

    raw: dict[str, Any] = {}
    if version.run_id:
        try:
            params = client.get_run(version.run_id).data.params
            raw = {k[len("best.") :]: v for k, v in params.items() if k.startswith("best.")}
        except MlflowException:
            raw = {}
    if not raw:
        try:
            raw = _spec_json_params(cfg, name, str(version.version))
        except Exception as exc:
            log.warning(
                "warm start: cannot read spec.json of %s v%s: %s", name, version.version, exc
            )
    return raw


def _warm_start(cfg: RunConfig, meta: dict[str, Any], study: Any) -> bool:
    """Enqueue the champion's configuration as trial 0 of a new (empty) study; True if it did.
    Never raises."""
    try:
        found = champion_params(cfg, meta)
    except Exception as exc:  # no reachable registry must not block tuning
        detail = str(exc).splitlines()[0][:160] if str(exc) else ""
        progress(
            f"warm start skipped: cannot read the model registry ({type(exc).__name__}: {detail})"
        )
        return False
    if found is None or not found[0]:
        return False
    params, version = found
    with_retry(
        "enqueue",
        lambda: study.enqueue_trial(
            params,
            user_attrs={"warm_start": f"{cfg.mlflow.model_name}@champion v{version}"},
            skip_if_exists=True,
        ),
    )
    progress(
        f"warm start: first trial uses the hyperparameters of {cfg.mlflow.model_name}@champion "
        f"(version {version}): {len(params)} parameter(s)"
    )
    return True


def _start_from_default(meta: dict[str, Any], study: Any) -> None:
    """Enqueue lstmtune's default configuration (:func:`default_configuration`) as trial 0."""
    params = default_configuration(meta["search_space"], meta)
    if params:
        with_retry(
            "enqueue",
            lambda: study.enqueue_trial(
                params, user_attrs={"warm_start": "default configuration"}, skip_if_exists=True
            ),
        )
        shown = ", ".join(f"{k}={v}" for k, v in params.items())
        progress(f"first trial: lstmtune's default configuration ({shown})")

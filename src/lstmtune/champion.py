"""The registered ``@champion``'s hyperparameters, matched to a search space: what the warm start
(:mod:`lstmtune.tuning.warm_start`) enqueues as a new study's first trial. Looked up ahead by the
prepare step, which has MLflow open (:func:`look_up_champion`), so that the tune step needs no
MLflow for it; this module imports neither torch nor Optuna."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from lstmtune.config import RunConfig

log = logging.getLogger("lstmtune")

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
    found = _champion_raw(cfg, meta)
    return None if found is None else (_in_space(meta, found[0]), found[1])


def _champion_raw(cfg: RunConfig, meta: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The champion's hyperparameters as stored, and its version (see :func:`champion_params`)."""
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
    return _champion_raw_params(cfg, client, name, version), str(version.version)


def _in_space(meta: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for pname, spec in meta["search_space"].items():
        if spec["type"] == "fixed" or pname not in raw:
            continue
        value = _coerce(spec, raw[pname])
        if value is not _MISSING:
            chosen[pname] = value
    return chosen


def look_up_champion(cfg: RunConfig, meta: dict[str, Any]) -> dict[str, Any]:
    """The warm start's registry lookup made ahead (the prepare step, which has MLflow open), as
    JSON for ``meta["champion"]``: ``{"for": [tracking URI, model name], "raw": params as stored,
    "version"}``, without ``raw`` when there is no champion, or with ``"skipped": progress line``
    when the registry cannot be read. The tune step then needs no MLflow for it. Never raises."""
    out: dict[str, Any] = {"for": _registry(cfg)}
    try:
        found = _champion_raw(cfg, meta)
    except Exception as exc:  # no reachable registry must not block tuning
        return {**out, "skipped": _skipped(exc)}
    return out if found is None else {**out, "raw": found[0], "version": found[1]}


def _registry(cfg: RunConfig) -> list[str]:
    return [str(cfg.mlflow.tracking_uri), str(cfg.mlflow.model_name)]


def prepared_lookup(cfg: RunConfig, meta: dict[str, Any]) -> dict[str, Any] | None:
    """``meta["champion"]`` when the prepare step looked up this registry and model name."""
    known = meta.get("champion")
    return known if isinstance(known, dict) and known.get("for") == _registry(cfg) else None


def _skipped(exc: Exception) -> str:
    detail = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"warm start skipped: cannot read the model registry ({type(exc).__name__}: {detail})"


def _known_champion(cfg: RunConfig, meta: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """:func:`champion_params`, from the prepare step's lookup when it made it for this registry
    (:func:`prepared_lookup`), else looked up now."""
    known = prepared_lookup(cfg, meta)
    if known is None:
        return champion_params(cfg, meta)
    return (_in_space(meta, known["raw"]), str(known["version"])) if "raw" in known else None


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

"""The first trial of a new study: the registered ``@champion``'s hyperparameters (warm start) or
lstmtune's default configuration, with MLflow's string values coerced back into the space."""

from __future__ import annotations

from typing import Any

from lstmtune.champion import _MISSING as _MISSING
from lstmtune.champion import _coerce as _coerce
from lstmtune.champion import _known_champion, _skipped, prepared_lookup
from lstmtune.champion import _same_number as _same_number
from lstmtune.champion import _spec_json_params as _spec_json_params
from lstmtune.champion import champion_params as champion_params
from lstmtune.config import RunConfig
from lstmtune.search_space import default_configuration
from lstmtune.tuning.events import progress
from lstmtune.tuning.retry import with_retry


def _warm_start(cfg: RunConfig, meta: dict[str, Any], study: Any) -> bool:
    """Enqueue the champion's configuration as trial 0 of a new (empty) study; True if it did.
    Never raises."""
    skipped = (prepared_lookup(cfg, meta) or {}).get("skipped")
    if skipped:  # the prepare step could not read the registry
        progress(skipped)
        return False
    try:
        found = _known_champion(cfg, meta)
    except Exception as exc:  # no reachable registry must not block tuning
        progress(_skipped(exc))
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

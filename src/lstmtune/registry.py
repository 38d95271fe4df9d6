"""Publish to the MLflow model registry: score the current ``champion`` on the new test split,
register the model directory as a new version (logged by :mod:`lstmtune.registry_model`), tag it,
and move ``champion`` to it only when it beats that champion and the gate's baselines (else
``challenger``); the run summary. A run whose model the newest version already holds (a rerun
on unchanged data) registers nothing (:mod:`lstmtune.registry_same`).

The input example and champion score of a model of many series are in
:mod:`lstmtune.registry_panel`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lstmtune._version import __version__
from lstmtune.champion_overlap import TAG, overlap, overlap_warning, trained_through
from lstmtune.config import RunConfig
from lstmtune.evaluate import (
    classify_metrics,
    decide_promotion,
    forecast_metrics,
    observed,
    primary_metric,
)
from lstmtune.features import ForecastFeaturizer, forecast_series
from lstmtune.forecast_members import history_rows
from lstmtune.kept_forecasts import without_forecasts
from lstmtune.progress import emit
from lstmtune.registry_model import MODEL_CODE as MODEL_CODE  # re-exported
from lstmtune.registry_model import log_version, model_signature, pip_requirements
from lstmtune.registry_same import TAG as DIGEST_TAG
from lstmtune.registry_same import keep, kept_version, model_digest, newest_version
from lstmtune.serving import Predictor


def input_example(
    parts: dict[str, pd.DataFrame], meta: dict[str, Any], spec: dict[str, Any]
) -> pd.DataFrame:
    if meta.get("panel"):  # many series: the long-format history of two of them
        from lstmtune.registry_panel import panel_input_example

        return panel_input_example(parts, meta, int(spec["featurizer"]["lookback"]))
    if meta["task"] == "forecast":
        features = meta["columns"]["features"]
        history = pd.DataFrame(forecast_series(parts, features), columns=features)
        example = history.tail(history_rows(spec) + 2).reset_index(drop=True)
        for col, kind in meta["columns"].get("dtypes", {}).items():
            if kind == "integer":
                example[col] = example[col].round().astype("int64")
        return _with_times(example, parts, meta)  # the pyfunc checks them, and places them
    if meta["task"] == "text":
        return parts["test"][[meta["columns"]["text"]]].head(3).reset_index(drop=True)
    seq = meta["columns"]["sequence_column"]
    cols = [c for c in (seq, meta["columns"].get("time_column"), *meta["columns"]["features"]) if c]
    test = parts["test"]
    first = test[seq].drop_duplicates().head(2)
    return test[test[seq].isin(first)][cols].reset_index(drop=True)


def _with_times(
    history: pd.DataFrame, parts: dict[str, pd.DataFrame], meta: dict[str, Any]
) -> pd.DataFrame:
    """The series' last ``len(history)`` times put before ``history`` (where it has a time
    column): the pyfunc checks them and places the history among the rows its classical models
    were fitted on (:mod:`lstmtune.served_history`)."""
    time_col = (meta.get("time_axis") or {}).get("column")
    if not time_col:
        return history
    times = pd.concat([parts[s][time_col] for s in ("train", "val", "test")])
    out = history.copy()
    out.insert(0, time_col, times.tail(len(history)).to_numpy())
    return out


def score_on_test(
    predict: Any,
    parts: dict[str, pd.DataFrame],
    meta: dict[str, Any],
    featurizer: ForecastFeaturizer | None,
    lookback: int | None,
) -> float:
    """The primary test metric of any model exposing our pyfunc contract, on this test split."""
    if meta.get("panel"):
        from lstmtune.registry_panel import panel_score_on_test

        assert lookback is not None
        return panel_score_on_test(predict, parts, meta, lookback)
    if meta["task"] == "forecast":
        assert featurizer is not None and lookback is not None
        features = meta["columns"]["features"]
        raw = forecast_series(parts, features)
        ends = featurizer.split_ends(
            int(meta["splits"]["test"]["start"]), int(meta["splits"]["test"]["end"])
        )
        rows = ends - (lookback - 1)
        if (rows < 0).any():
            raise ValueError(f"lookback {lookback} needs more history than the test split has")
        out = predict(_with_times(pd.DataFrame(raw, columns=features), parts, meta))
        cols = [f"step_{h}" for h in range(1, featurizer.horizon + 1)]
        pred = out[cols].to_numpy(dtype=np.float64)[rows]
        true = observed(featurizer.raw_targets(raw, ends), ends, meta.get("filled_targets"))
        return forecast_metrics(pred, true)["rmse"]
    if meta["task"] == "text":
        classes = [str(c) for c in meta["classes"]]
        index = {c: i for i, c in enumerate(classes)}
        test = parts["test"]
        out = predict(test[[meta["columns"]["text"]]])
        pred_ids = np.asarray([index.get(str(v), -1) for v in out["label"]])
        true_ids = np.asarray([index[str(v)] for v in test[meta["columns"]["label"]]])
        return classify_metrics(pred_ids, true_ids, len(classes))["macro_f1"]
    seq, label = meta["columns"]["sequence_column"], meta["columns"]["label"]
    test = parts["test"]
    out = predict(test.drop(columns=[label]))
    truth = test.groupby(test[seq].astype(str), sort=False)[label].first().astype(str)
    classes = [str(c) for c in meta["classes"]]
    index = {c: i for i, c in enumerate(classes)}
    predicted = out.set_index(out[seq].astype(str))["label"].astype(str).reindex(truth.index)
    pred_ids = np.asarray([index.get(v, -1) for v in predicted])
    true_ids = np.asarray([index[v] for v in truth])
    return classify_metrics(pred_ids, true_ids, len(classes))["macro_f1"]


def champion_score(
    cfg: RunConfig,
    parts: dict[str, pd.DataFrame],
    meta: dict[str, Any],
    featurizer: ForecastFeaturizer | None,
) -> tuple[float | None, str | None]:
    """The current champion's primary metric on the new test split, or why there is none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from lstmtune import tracking

    name = str(cfg.mlflow.model_name)
    try:
        version = tracking.client(cfg).get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None, None
    try:
        tags = version.tags or {}
        if tags.get("task") != meta["task"]:
            raise ValueError(f"champion task {tags.get('task')!r} differs")
        if meta["task"] == "forecast" and int(tags.get("horizon", -1)) != int(meta["horizon"]):
            raise ValueError(
                f"champion horizon {tags.get('horizon')} differs from {meta['horizon']}: "
                f"its consumers will get step_1 … step_{meta['horizon']} from a new @champion"
            )
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        if meta["task"] != "forecast":
            same_classes(model.metadata.get_output_schema(), meta["classes"])
        lookback = int(tags["lookback"]) if meta["task"] == "forecast" else None
        score = score_on_test(model.predict, parts, meta, featurizer, lookback)
    except Exception as exc:  # an incompatible or broken champion cannot block a new version
        emit(
            "warning",
            f"warning: current champion v{version.version} cannot be scored on this data"
            f" ({str(exc).splitlines()[0][:200]}); treating it as not comparable",
        )
        return None, str(version.version)
    _say_overlap(parts, meta, str(version.version), tags.get(TAG))
    return score, str(version.version)


def same_classes(schema: Any, classes: list[Any]) -> None:
    """Refuse (ValueError) a champion whose ``proba_<class>`` outputs name other classes: it can
    never predict the new ones, and its consumers would get other columns from a new version.
    The same classes in another order (numbers ordered as text before 2026-12-04) compare."""
    names = schema.input_names() if schema is not None else []
    had = [str(n)[len("proba_") :] for n in names if str(n).startswith("proba_")]
    now = [str(c) for c in classes]
    if had and set(had) != set(now):  # the same classes in another order are scored by name
        columns = ", ".join(f"proba_{c}" for c in now)
        raise ValueError(
            f"champion classes {', '.join(had)} differ from {', '.join(now)}: its consumers"
            f" will get {columns} from a new @champion"
        )


def _say_overlap(
    parts: dict[str, pd.DataFrame], meta: dict[str, Any], version: str, tag: str | None
) -> None:
    """One warning line when the champion was trained on some of this run's test values."""
    try:
        seen = overlap(parts, meta, tag)
    except Exception:  # a tag this version cannot read: nothing to say
        return
    if seen and tag:
        freq = (meta.get("time_axis") or {}).get("freq")
        emit("warning", overlap_warning(version, tag, seen, len(parts["test"]), freq))


def _version_tags(
    meta: dict[str, Any],
    spec: dict[str, Any],
    metric: str,
    new_value: float,
    combination: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The tags of a new version (the promotion reason is added once decided): its task, data,
    lstmtune version and test metric, what a consumer must send (lookback, horizon, target) and,
    for a combined forecast (from ``spec``) or classifier (the evaluation's ``combination``), its
    weights (``combination``)."""
    from lstmtune.combine import is_mix, weights_text

    tags = {
        "task": meta["task"],
        "data_sha256": meta["sha256"],
        "lstmtune_version": __version__,
        f"test_{metric}": f"{new_value:.6g}",
    }
    if meta["task"] == "forecast":
        tags.update(
            {
                "lookback": str(history_rows(spec)),
                "horizon": str(meta["horizon"]),
                "target": str(meta["columns"]["target"]),
                "freq": str((meta.get("time_axis") or {}).get("freq", "none")),
            }
        )
        mix = (spec.get("panel") or {}).get("combination") or spec.get("combination")
        if is_mix(mix):  # a consumer sees that the forecast is partly (or wholly) classical
            tags["combination"] = weights_text(mix["weights"])  # type: ignore[index]
    else:
        tags.update(
            {"lookback": "variable", "horizon": "1", "target": str(meta["columns"]["label"])}
        )
        if is_mix(combination):  # a consumer sees that MiniRocket has a share of it
            tags["combination"] = weights_text(combination["weights"])  # type: ignore[index]
    return tags


def _run_summary(
    cfg: RunConfig,
    meta: dict[str, Any],
    best: dict[str, Any],
    evaluation: dict[str, Any],
    metric: str,
    parent_run_id: str,
) -> dict[str, Any]:
    """The run summary's fields after the registry's: tuning, evaluation, tracking and data."""
    summary = {
        "task": meta["task"],
        "objective": best["objective"],
        "best_params": best["best_params"],
        "best_value": best["best_value"],
        "best_trial": best["best_trial"],
        "best_epoch": best["best_epoch"],
        "test_metrics": evaluation["test_metrics"],
        "baseline_metrics": evaluation["baseline_metrics"],
        "primary_metric": metric,
        "best_baseline": evaluation["best_baseline"],
        "beats_baseline": evaluation["beats_baseline"],
        "gate": evaluation.get("gate", "naive"),
        "baseline_failures": evaluation.get("baseline_failures") or {},
        "combination": evaluation.get("combination"),
        "combination_test": evaluation.get("combination_test"),  # each part of the mix alone
        "history_rows": evaluation.get("history_rows"),  # forecast: rows a consumer sends
        "nonnegative": evaluation.get("nonnegative"),  # forecast: clipped at 0, and why
        "members": evaluation.get("members"),  # forecast: networks averaged
        "tracking_uri": cfg.mlflow.tracking_uri,
        "experiment": cfg.mlflow.experiment,
        "parent_run_id": parent_run_id,
        "study_name": best["study_name"],
        "storage": best["storage"],
        "n_trials_complete": best["n_trials_complete"],
        "n_trials_pruned": best["n_trials_pruned"],
        "n_trials_failed": best["n_trials_failed"],
        "n_trials_reused": best["n_trials_reused"],
        "tune_seconds": best["seconds"],
        "data_sha256": meta["sha256"],
        "data_source": meta["source"],
        "tune_extra": without_forecasts(best.get("extra") or {}),
        "pbt_schedule": best.get("schedule"),
    }
    if meta.get("panel"):
        from lstmtune.registry_panel import panel_summary

        summary["panel"] = panel_summary(meta, evaluation)
    return summary


def _promote(
    client: Any, name: str, version: str, tags: dict[str, str], alias: str, run_id: str
) -> None:
    """Tag the version (``tags`` with the promotion reason), point ``alias`` at it and finish the
    parent run."""
    for k, v in tags.items():
        client.set_model_version_tag(name, version, k, v)
    client.set_registered_model_alias(name, alias, version)
    client.set_terminated(run_id, status="FINISHED")
    emit(
        "registered",
        f"registered {name} version {version} as @{alias}: {tags['promotion']}",
        model_name=name,
        model_version=version,
        alias=alias,
    )


def publish(
    cfg: RunConfig,
    parts: dict[str, pd.DataFrame],
    meta: dict[str, Any],
    model_dir: str,
    best: dict[str, Any],
    evaluation: dict[str, Any],
    parent_run_id: str,
) -> dict[str, Any]:
    """Register the model of ``model_dir`` from the parent run (once), tag it, move ``champion``
    to it when it beats the current champion (on this test split) and the gate's baselines, else
    set ``challenger``; the run summary. When the newest version already holds this model (the
    same digest, :mod:`lstmtune.registry_same`), register nothing and keep the aliases."""
    import mlflow

    from lstmtune import tracking

    name = str(cfg.mlflow.model_name)
    tracking_uri = str(cfg.mlflow.tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = tracking.client(cfg)
    predictor = Predictor.load(model_dir)
    spec = predictor.spec
    featurizer = (
        predictor.featurizer if isinstance(predictor.featurizer, ForecastFeaturizer) else None
    )
    metric = primary_metric(meta)
    new_value = float(evaluation["test_metrics"][metric])
    digest = model_digest(cfg, meta, model_dir, pip_requirements(spec))
    newest = newest_version(client, name)
    champ_value, champ_version = champion_score(cfg, parts, meta, featurizer)
    run = {
        "previous_champion_version": champ_version,
        "previous_champion_metric": champ_value,
        "model_digest": digest,
        **_run_summary(cfg, meta, best, evaluation, metric, parent_run_id),
    }
    if newest is not None and kept_version(newest, digest, parent_run_id) is not None:
        # the newest version is this very model: register nothing, keep the aliases
        return {**keep(client, name, newest, evaluation, parent_run_id), **run}

    example = input_example(parts, meta, spec)
    signature = model_signature(example, predictor.predict(example), meta)
    version = log_version(client, name, parent_run_id, model_dir, example, signature, evaluation)
    tags = _version_tags(meta, spec, metric, new_value, evaluation.get("combination"))
    tags[DIGEST_TAG] = digest
    if through := trained_through(parts, meta):  # a later run tells whether its test reaches back
        tags[TAG] = through
    baseline_value = float(evaluation["baseline_metrics"][evaluation["best_baseline"]][metric])
    decision = decide_promotion(
        metric, new_value, champ_value, baseline_value, evaluation["best_baseline"]
    )
    tags["promotion"] = decision.reason
    _promote(client, name, version, tags, decision.alias, parent_run_id)
    return {
        "model_name": name,
        "model_version": version,
        "alias": decision.alias,
        "promotion_reason": decision.reason,
        "model_uri": f"models:/{name}@{decision.alias}",
        "model_version_uri": f"models:/{name}/{version}",
        "unchanged": False,
        **run,
    }

"""The pipeline steps as plain functions of (config JSON, paths). KFP components and the CLI's
step subcommands both call these; nothing here knows about KFP.

The retrain-and-evaluate step lives in :mod:`lstmtune.retrain` and Katib's trial entry point in
:mod:`lstmtune.katib.trial`; ``train_best_step`` is re-exported here for the KFP component.

Every step imports only what it uses, when it runs, and ends its process without the
interpreter's teardown once it has succeeded inside the KFP executor (:mod:`lstmtune.step_exit`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from pathlib import Path
from typing import Any

from lstmtune import retrain
from lstmtune.config import RunConfig
from lstmtune.prefork import delegated
from lstmtune.step_exit import finishing
from lstmtune.step_utils import step_config as _config
from lstmtune.step_utils import user_errors
from lstmtune.step_utils import write_json as _write_json

__all__ = [
    "collect_step",
    "prepare_step",
    "register_step",
    "train_best_step",
    "tune_step",
    "user_errors",
]


@functools.wraps(retrain.train_best_step)
def _train_best_step(
    config_json: str, dataset_dir: str, best_path: str, parent_run_id: str, model_dir: str
) -> dict[str, Any]:
    """:func:`lstmtune.retrain.train_best_step`, its one MLflow call (the test metrics on the
    parent run, at its end) written by a helper process that imports MLflow meanwhile, when a
    core is free for it."""
    if parent_run_id and not _imported("mlflow") and _spare_core():
        from lstmtune import tracking

        tracking.start_helper(config_json)
    return retrain.train_best_step(config_json, dataset_dir, best_path, parent_run_id, model_dir)


train_best_step = delegated(finishing(_train_best_step))


def _imported(*modules: str) -> bool:
    """Whether this process has imported ``modules`` already (a child of the local run's step
    server has): a helper process that would import them beside the step has no point then."""
    return all(m in sys.modules for m in modules)


def _spare_core() -> bool:
    """Whether a core is free for a helper process beside this step: the 1-minute load average
    leaves half a core or more. The run's own steps (one process at a time) count in it, about 1
    once a run has gone on for a minute: back-to-back runs on an idle 2-core machine still get
    their helpers (load 1.1-1.4 measured there), a machine busy with anything else does not."""
    from lstmtune.report_job import spare_core

    return spare_core(free=0.5)


def _inputs_note(meta: dict[str, Any]) -> str:
    """The columns a forecast reads beside its target, or a classifier's channels, named (by
    default every numeric column without another role), and the columns left out: text, dates
    and a forecast's row numbers of the file."""
    columns = meta.get("columns") or {}
    extra = [c for c in columns.get("features", []) if c != columns.get("target")]
    note = ""
    if meta["task"] in ("forecast", "classify") and extra:
        what = "inputs besides the target" if meta["task"] == "forecast" else "channels"
        note = f", {what}: {_some(extra)} (data.feature_columns chooses)"
    dates = columns.get("left_out_dates") or []
    numbers = columns.get("left_out_row_numbers") or []
    if text := [c for c in columns.get("left_out") or [] if c not in dates and c not in numbers]:
        note += f"; left out, as text: {_some(text)}"
    if dates:
        note += f"; left out, dates: {_some(dates)}"
    if numbers:
        note += f"; left out, row numbers: {_some(numbers)}"
    return note


def _some(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _classes(classes: list[str]) -> str:
    """``N class(es) ('a', 'b', ...)``: a warning's subject, at most five named."""
    shown = ", ".join(repr(c) for c in classes[:5]) + (" ..." if len(classes) > 5 else "")
    return f"{len(classes)} class(es) ({shown})"


def _val_only_warning(classes: list[str]) -> str:
    """One line for classes with val sequences but none in train."""
    return (
        f"warning: {_classes(classes)} have sequences in the val split and none in train: they"
        " are learnt from train+val (k-fold selection on a small set, and the published"
        " training), never from train alone"
    )


def _single_sequence_warning(classes: list[str], task: str) -> str:
    """One line for classes with a single sequence (text) in train+val."""
    one, learners = (
        ("text", "TF-IDF") if task == "text" else ("sequence", "1-NN DTW and MiniRocket")
    )
    return (
        f"warning: {_classes(classes)} have a single {one} in train+val: each is learnt from"
        f" one example (by {learners} too), so expect test errors on them; add {one}s of them"
        " if you can"
    )


@delegated
@finishing
@user_errors
def prepare_step(config_json: str, dataset_dir: str) -> str:
    """Validate, split and write the dataset; open the MLflow parent run. Returns its run id.

    The only place the data are validated: bad input stops here with one line, before the MLflow
    run is opened (``lstmtune run`` does not prepare the data a second time to check them)."""
    from lstmtune import tracking
    from lstmtune.data.prepare import prepare, write_prepared
    from lstmtune.data.read_lines import read_lines
    from lstmtune.data.timeaxis import axis_note
    from lstmtune.prepare_notes import prepare_notes
    from lstmtune.progress import emit
    from lstmtune.run_checks import check_study_config

    cfg = _config(config_json, uses_torch=False)  # no network in this step
    check_study_config(cfg)
    parts, meta = prepare(cfg)
    for line in read_lines(meta, cfg.data.horizon):
        emit("read", line)
    panel = meta.get("panel")
    if panel:  # many series: naive anchors per series (no classical fit per series)
        for sid, why in list(panel["dropped"].items())[:10]:
            emit("warning", f"warning: series {sid!r} left out: {why}")
        if len(panel["dropped"]) > 10:
            emit("warning", f"warning: {len(panel['dropped'])} series left out in all")
        if panel.get("season_note"):
            emit("warning", f"warning: {panel['season_note']}")
        if panel.get("axis_note"):
            emit("warning", f"warning: {panel['axis_note']}")
    elif meta["task"] == "forecast":  # AutoARIMA / AutoETS on train: anchors the tuner may pick
        from lstmtune.classical_fits import add_classical, start_classical
        from lstmtune.rolling import add_fold_classical, resolve_folds

        # with a core to spare, the fit runs in a child process while this one imports MLflow
        # (not when both are imported already: in a child of the local run's step server)
        imported = _imported("statsforecast", "mlflow")
        pending = start_classical(meta, parts, "train", parallel=not imported and _spare_core())
        if pending.proc is not None:
            tracking.preload(cfg)
        declared = "anchor" in (cfg.tune.search_space or {})
        for warning in add_classical(
            meta, parts, "train", extend_space=not declared, pending=pending
        ):
            emit("warning", warning)
        folds = resolve_folds(cfg.tune.forecast_folds, meta)
        for warning in add_fold_classical(meta, parts, folds):
            emit("warning", warning)
    for note in prepare_notes(meta, cfg.data):
        emit("warning", note)
    if filled := meta.get("filled_test_values", len(meta.get("filled_targets") or [])):
        emit(
            "warning",
            f"warning: {filled} test value(s) of the target were filled by data.missing "
            f"({cfg.data.missing}); the test metrics and the champion decision leave them out",
        )
    if cut := meta.get("texts_cut"):
        emit(
            "warning",
            f"warning: {cut} text(s) longer than {meta['tokenizer']['max_length']} tokens are read"
            f" up to that many (data.text.max_length: {cfg.data.text.max_length}; null never cuts)",
        )
    if seen := meta.get("test_texts_seen"):
        emit(
            "warning",
            f"warning: {seen} of the {meta['splits']['test']['rows']} test texts also appear in"
            " train+val (duplicates in the file): the test figures and the champion decision"
            " partly measure texts the model was fitted on; remove the duplicates for honest ones",
        )
    if meta.get("val_only_classes"):
        emit("warning", _val_only_warning(meta["val_only_classes"]))
    if meta.get("single_sequence_classes"):
        emit("warning", _single_sequence_warning(meta["single_sequence_classes"], meta["task"]))
    run_id = tracking.start_parent_run(cfg, meta)
    if cfg.tune.warm_start and cfg.tune.backend == "optuna" and cfg.tune.strategy != "pbt":
        from lstmtune.champion import look_up_champion

        meta["champion"] = look_up_champion(cfg, meta)  # the tune step needs no MLflow for it
    meta["mlflow_parent_run_id"] = (
        run_id  # steps that are not handed the id (parallel workers) read it here
    )
    write_prepared(parts, meta, dataset_dir)
    splits = ", ".join(f"{k}={v['rows']}" for k, v in meta["splits"].items())
    season = f", season {meta['seasonal_period']}" if meta["task"] == "forecast" else ""
    if panel:
        season += f", {len(panel['series'])} series"
    season += axis_note(meta.get("time_axis"))  # frequency and filled periods
    season += _inputs_note(meta)
    emit(
        "prepared",
        f"prepared {meta['source']} ({meta['task']}: {meta['n_rows']} rows;"
        f" {splits}{season}); MLflow run {run_id}",
        parent_run_id=run_id,
        rows=meta["n_rows"],
        splits={k: v["rows"] for k, v in meta["splits"].items()},
    )
    return run_id


@delegated
@finishing
@user_errors
def tune_step(
    config_json: str, dataset_dir: str, parent_run_id: str, best_path: str, worker_id: int = 0
) -> dict[str, float]:
    """Run the study (or, with ``tune.workers`` > 1, be worker ``worker_id`` of it); write the best
    configuration to ``best_path`` (JSON). Returns KFP metrics."""
    from lstmtune.data.prepare import read_prepared

    cfg = _config(config_json)
    parts, meta = read_prepared(dataset_dir)
    parent_run_id = parent_run_id or str(meta.get("mlflow_parent_run_id") or "")
    log = _trial_log(cfg, parent_run_id)
    try:
        metrics = _tune(cfg, parts, meta, dataset_dir, parent_run_id, best_path, worker_id)
    except BaseException:
        if log is not None:  # what the helper has not written, if MLflow lets it: the step's
            with contextlib.suppress(Exception):  # own error is the one to report
                log.close()
        raise
    if log is not None:
        log.close()
    return metrics


def _trial_log(cfg: RunConfig, parent_run_id: str) -> Any:
    """The tune step's MLflow writes handed to a helper process that imports MLflow meanwhile
    (:mod:`lstmtune.trial_log`), when a core is free for it; None: this process writes them."""
    if not parent_run_id or cfg.tune.backend == "katib" or not _spare_core():
        return None
    from lstmtune.trial_log import TrialLog

    return TrialLog.open(cfg)


def _tune(
    cfg: RunConfig,
    parts: Any,
    meta: dict[str, Any],
    dataset_dir: str,
    parent_run_id: str,
    best_path: str,
    worker_id: int,
) -> dict[str, float]:
    from lstmtune import tracking
    from lstmtune.tuning import run_study

    if cfg.tune.backend == "katib":
        from lstmtune.katib import katib_tune
        from lstmtune.progress import emit

        best = katib_tune(cfg, meta, dataset_dir, parent_run_id, report=lambda m: emit("katib", m))
    elif cfg.tune.strategy == "pbt":
        from lstmtune.pbt import run_pbt

        best = run_pbt(cfg, parts, meta, parent_run_id=parent_run_id or None)
        if parent_run_id:
            tracking.client(cfg).log_dict(
                parent_run_id, {"schedule": best["schedule"], **best["extra"]}, "pbt_schedule.json"
            )
    else:
        best = run_study(
            cfg,
            parts,
            meta,
            parent_run_id=parent_run_id or None,
            worker_id=worker_id,
            n_workers=cfg.tune.workers,
        ).to_dict()
    _write_json(best_path, best)
    if cfg.tune.workers == 1 or cfg.tune.backend == "katib":
        return _log_best(cfg, best, parent_run_id)
    return _tune_metrics(best)


@delegated
@finishing
@user_errors
def collect_step(
    config_json: str, dataset_dir: str, parent_run_id: str, best_path: str
) -> dict[str, float]:
    """After all tune workers: read the best trial from the shared study (``tune.workers`` > 1)."""
    from lstmtune.data.prepare import read_prepared
    from lstmtune.tuning import best_from_study

    cfg = _config(config_json)
    _, meta = read_prepared(dataset_dir)
    best = best_from_study(cfg, meta).to_dict()
    _write_json(best_path, best)
    return _log_best(cfg, best, parent_run_id)


def _tune_metrics(best: dict[str, Any]) -> dict[str, float]:
    metrics = {
        f"best_{best['objective']}": best["best_value"],
        "n_trials_complete": best["n_trials_complete"],
        "n_trials_pruned": best["n_trials_pruned"],
        "n_trials_failed": best["n_trials_failed"],
        "tune_seconds": best["seconds"],
    }
    return {k: float(v) for k, v in metrics.items()}


def _log_best(cfg: RunConfig, best: dict[str, Any], parent_run_id: str) -> dict[str, float]:
    """Best parameters on the parent run, once per run
    (warm start reads these ``best.*`` params)."""
    from lstmtune import tracking

    metrics = _tune_metrics(best)
    if parent_run_id:
        tracking.log_to_parent(
            cfg,
            parent_run_id,
            metrics=metrics,
            params={f"best.{k}": v for k, v in best["best_params"].items()},
            tags={
                "lstmtune.study_name": best["study_name"],
                "lstmtune.tune_backend": cfg.tune.backend,
                "lstmtune.best_trial": str(best["best_trial"]),
            },
        )
    return metrics


@delegated
@finishing
@user_errors
def register_step(
    config_json: str,
    dataset_dir: str,
    model_dir: str,
    best_path: str,
    parent_run_id: str,
    summary_path: str,
    report_path: str | None = None,
    markdown_path: str | None = None,
) -> str:
    """Log the pyfunc to MLflow, register a version, move ``champion`` or set ``challenger``.
    Writes and returns the run summary (JSON), announced (a ``summary`` event) the moment the
    model is registered. The report's plots are drawn meanwhile by a child process
    (:mod:`lstmtune.report_job`), which writes the page once it has the summary."""
    from lstmtune.report_job import ReportJob, ReportRequest

    best = json.loads(Path(best_path).read_text())
    job = None
    if report_path:
        request = ReportRequest(
            config_json,
            dataset_dir,
            model_dir,
            parent_run_id,
            report_path,
            best.get("study_name"),
            best.get("objective"),
        )
        job = ReportJob.start(request)
    try:
        summary = _publish(config_json, dataset_dir, model_dir, best, parent_run_id)
    except BaseException:
        if job is not None:
            job.cancel()
        raise
    _write_json(summary_path, summary)
    from lstmtune.progress import emit

    emit("summary", f"run summary written to {summary_path}", summary=summary)
    if markdown_path:
        from lstmtune.report import markdown_summary

        Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown_path).write_text(markdown_summary(summary))
    if job is not None:
        job.finish(summary)
    return json.dumps(summary, sort_keys=True, default=str)


def _publish(
    config_json: str,
    dataset_dir: str,
    model_dir: str,
    best: dict[str, Any],
    parent_run_id: str,
) -> dict[str, Any]:
    from lstmtune.data.prepare import read_prepared
    from lstmtune.registry import publish

    cfg = _config(config_json)
    parts, meta = read_prepared(dataset_dir)
    evaluation = json.loads((Path(model_dir) / "evaluation.json").read_text())
    summary: dict[str, Any] = publish(cfg, parts, meta, model_dir, best, evaluation, parent_run_id)
    return summary

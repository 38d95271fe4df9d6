"""The pipeline steps as plain functions of (config JSON, paths). KFP components and the CLI's
step subcommands both call these; nothing here knows about KFP."""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lstmtune.config import RunConfig
from lstmtune.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Inside a pipeline step: a :class:`UserError` becomes one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            print(f"lstmtune: error: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _config(config_json: str) -> RunConfig:
    cfg = RunConfig.from_json(config_json).resolved()
    if cfg.train.threads:
        import torch

        torch.set_num_threads(cfg.train.threads)
    return cfg


def _write_json(path: str | Path, data: Any) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, p)


@user_errors
def prepare_step(config_json: str, dataset_dir: str) -> str:
    """Validate, split and write the dataset; open the MLflow parent run. Returns its run id."""
    from lstmtune import tracking
    from lstmtune.data.prepare import prepare, write_prepared
    from lstmtune.data.timeaxis import axis_note
    from lstmtune.progress import emit

    cfg = _config(config_json)
    parts, meta = prepare(cfg)
    if meta["task"] == "forecast":  # AutoARIMA / AutoETS on train: anchors the tuner may pick
        from lstmtune.classical import add_classical

        declared = "anchor" in (cfg.tune.search_space or {})
        for warning in add_classical(meta, parts, "train", extend_space=not declared):
            emit("warning", warning)
    run_id = tracking.start_parent_run(cfg, meta)
    meta["mlflow_parent_run_id"] = (
        run_id  # steps that are not handed the id (parallel workers) read it here
    )
    write_prepared(parts, meta, dataset_dir)
    splits = ", ".join(f"{k}={v['rows']}" for k, v in meta["splits"].items())
    season = f", season {meta['seasonal_period']}" if meta["task"] == "forecast" else ""
    season += axis_note(meta.get("time_axis"))  # frequency and filled periods
    emit(
        "prepared",
        f"prepared {meta['source']} ({meta['task']}: {meta['n_rows']} rows;"
        f" {splits}{season}); MLflow run {run_id}",
        parent_run_id=run_id,
        rows=meta["n_rows"],
        splits={k: v["rows"] for k, v in meta["splits"].items()},
    )
    return run_id


@user_errors
def tune_step(
    config_json: str, dataset_dir: str, parent_run_id: str, best_path: str, worker_id: int = 0
) -> dict[str, float]:
    """Run the study (or, with ``tune.workers`` > 1, be worker ``worker_id`` of it); write the best
    configuration to ``best_path`` (JSON). Returns KFP metrics."""
    from lstmtune import tracking
    from lstmtune.data.prepare import read_prepared
    from lstmtune.tuning import run_study

    cfg = _config(config_json)
    parts, meta = read_prepared(dataset_dir)
    parent_run_id = parent_run_id or str(meta.get("mlflow_parent_run_id") or "")
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


def _report(
    cfg: RunConfig,
    summary: dict[str, Any],
    dataset_dir: str,
    model_dir: str,
    parent_run_id: str,
    report_path: str,
) -> None:
    """The HTML report with plots (KFP HTML artifact, MLflow parent run, ``<output_dir>/plots``).
    A report is a view: whatever goes wrong here never fails a published run."""
    import logging

    try:
        from lstmtune.progress import emit
        from lstmtune.report import load_study, log_to_mlflow, write_report

        study = (
            load_study(summary, storage=str(cfg.tune.storage))
            if cfg.tune.backend == "optuna"
            else None
        )
        import shutil

        plots_dir = Path(cfg.output_dir) / "plots"
        html = (
            Path(cfg.output_dir) / "report.html"
        )  # named report.html in MLflow too; the KFP artifact is a copy
        path, plots = write_report(
            summary,
            html,
            study=study,
            dataset_dir=dataset_dir,
            model_dir=model_dir,
            plots_dir=plots_dir,
        )
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, report_path)
        if parent_run_id:
            log_to_mlflow(str(cfg.mlflow.tracking_uri), parent_run_id, path, plots)
        emit(
            "report",
            f"report with {len(plots.files())} plots written",
            report=path,
            plots_dir=str(plots_dir),
        )
    except Exception:
        logging.getLogger("lstmtune").warning(
            "lstmtune: the report could not be written", exc_info=True
        )


@user_errors
def trial_step(
    config_b64: str,
    data_uri: str,
    assignments: list[str],
    parent_run_id: str = "",
    checkpoint: str | None = None,
) -> float:
    """One Katib trial: train one configuration, print the objective after every epoch in Katib's
    StdOut collector format (``name=value``), log a nested MLflow run when tracking is configured.

    ``checkpoint`` (Katib's ``pbt``): a directory holding the parent member's weights and optimizer
    state (``lstmtune-member.pt``, loaded with ``weights_only=True``); the trial continues from them
    for ``epochs / tune.pbt_rounds`` epochs with its own (perturbed) hyperparameters and saves its
    state back for its children."""
    from lstmtune import tracking
    from lstmtune.config import OBJECTIVES
    from lstmtune.crossval import fit_trial
    from lstmtune.data.prepare import read_prepared
    from lstmtune.katib import BEST_EPOCH, decode_config, fetch_prepared, parse_value
    from lstmtune.search_space import fixed_params
    from lstmtune.training import make_problem, select_device

    cfg = decode_config(config_b64).resolved()
    parts, meta = read_prepared(fetch_prepared(data_uri, s3_endpoint_url=cfg.data.s3_endpoint_url))
    space = meta["search_space"]
    params = fixed_params(space)
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or name not in space:
            raise UserError(
                f"--param {item!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(space))}"
            )
        params[name] = parse_value(space[name], value)
    missing = sorted(set(space) - set(params))
    if missing:
        raise UserError(f"--param: no value for {', '.join(missing)}")
    objective = OBJECTIVES[meta["task"]]
    problem = make_problem(parts, meta, params)
    history: list[dict[str, float]] = []

    def on_epoch(epoch: int, value: float, train_loss: float) -> None:
        history.append({"epoch": float(epoch), objective: value, "train_loss": train_loss})
        print(f"epoch={epoch} {objective}={value:.6g} train_loss={train_loss:.6g}", flush=True)

    state = "FAIL"
    device = select_device(cfg.train.device)
    try:
        if checkpoint is None:  # small classification sets: k-fold, as in the optuna backend
            result = fit_trial(
                problem,
                params,
                problem.tensors("train"),
                problem.tensors("val"),
                patience=cfg.train.patience,
                grad_clip=cfg.train.grad_clip,
                seed=cfg.train.seed,
                device=device,
                amp=cfg.train.amp,
                on_epoch=on_epoch,
            )
        else:
            from lstmtune.pbt import continue_member

            result = continue_member(
                cfg, problem, params, checkpoint, device=device, on_epoch=on_epoch
            )
        state = "COMPLETE"
    finally:
        if parent_run_id and cfg.mlflow.tracking_uri:
            import contextlib

            with contextlib.suppress(Exception):  # tracking must not fail a finished trial
                tracking.log_trial_run(
                    cfg,
                    parent_run_id,
                    int(os.environ.get("LSTMTUNE_TRIAL_NUMBER", "0")),
                    params,
                    history,
                    state,
                    {"katib.trial": os.environ.get("HOSTNAME", "")},
                )
    print(f"{objective}={result.best_value:.6g} {BEST_EPOCH}={result.best_epoch}", flush=True)
    return result.best_value


@user_errors
def train_best_step(
    config_json: str, dataset_dir: str, best_path: str, parent_run_id: str, model_dir: str
) -> dict[str, Any]:
    """Retrain the best configuration on train+val for its best epoch count, evaluate on test
    against naive baselines, save the model directory. Returns ``{"metrics": flat KFP metrics,
    "confusion_matrix": {"categories", "matrix"} or None}``."""
    from lstmtune import tracking
    from lstmtune.data.prepare import read_prepared
    from lstmtune.evaluate import (
        PRIMARY_METRIC,
        baseline_set,
        better,
        classify_baselines,
        classify_metrics,
        forecast_baselines,
        forecast_classical_baselines,
        forecast_metrics,
        gate_baseline,
        margin,
    )
    from lstmtune.progress import emit
    from lstmtune.serving import save_model_dir
    from lstmtune.training import (
        ClassifyProblem,
        ForecastProblem,
        TextProblem,
        make_problem,
        select_device,
        train,
    )

    cfg = _config(config_json)
    parts, meta = read_prepared(dataset_dir)
    best = json.loads(Path(best_path).read_text())
    params = best["best_params"]
    epochs = max(1, int(best["best_epoch"]))
    device = select_device(cfg.train.device)
    combination: dict[str, Any] | None = None
    if meta["task"] == "forecast" and meta.get("classical"):
        import copy

        from lstmtune.classical import add_classical
        from lstmtune.combine import validation_combination

        tuning_meta = copy.deepcopy(meta)  # anchors fitted on train, as while tuning
        add_classical(meta, parts, "val", extend_space=False)  # the final model: train+val
        if cfg.evaluate.combine and not best.get("schedule"):  # weights chosen on validation
            combination = validation_combination(
                parts,
                tuning_meta,
                params,
                lambda prob, data: (
                    train(
                        prob,
                        params,
                        data,
                        None,
                        epochs=epochs,
                        grad_clip=cfg.train.grad_clip,
                        seed=cfg.train.seed + int(best["best_trial"]),
                        device=device,
                        amp=cfg.train.amp,
                    )
                    .model.cpu()
                    .eval()
                ),
                meta["classical"],
            )
    problem = make_problem(parts, meta, params)
    if best.get(
        "schedule"
    ):  # population-based training: follow the winner's hyperparameter schedule
        from lstmtune.pbt import replay_schedule

        result = replay_schedule(
            problem,
            params,
            best["schedule"],
            problem.tensors("train", "val"),
            seed=cfg.train.seed,
            grad_clip=cfg.train.grad_clip,
            device=device,
            amp=cfg.train.amp,
        )
    else:
        result = train(
            problem,
            params,
            problem.tensors("train", "val"),
            None,
            epochs=epochs,
            grad_clip=cfg.train.grad_clip,
            seed=cfg.train.seed + int(best["best_trial"]),
            device=device,
            amp=cfg.train.amp,
        )
    model = result.model.cpu().eval()
    test = problem.tensors("test")
    if isinstance(problem, ForecastProblem):
        pred = problem.predict(model, test)
        assert test.raw_y is not None
        if combination is not None:
            from lstmtune.combine import apply

            partners = [k for k in combination["weights"] if k != "network"]
            combination["specs"] = {k: meta["classical"][k] for k in partners}
            f = problem.featurizer
            series = problem.raw[:, f.target_index]
            pred = apply(combination, pred, series, problem.ends("test"), f.period)
        test_metrics = forecast_metrics(pred, test.raw_y)
        baselines = forecast_baselines(problem.featurizer, problem.raw, problem.ends("test"))
        classical, baseline_failures, baseline_seconds, classical_pred = (
            forecast_classical_baselines(
                problem.featurizer,
                problem.raw,
                problem.ends("test"),
                int(meta["splits"]["test"]["start"]),
            )
        )
        baselines.update(classical)
        for name, reason in baseline_failures.items():
            emit("warning", f"warning: baseline {name} skipped (it could not be fitted): {reason}")
        spec_extra: dict[str, Any] = {
            "featurizer": problem.featurizer.to_dict(),
            "combination": combination,
        }
        confusion: dict[str, Any] | None = None
    else:
        baseline_failures, baseline_seconds, classical_pred = {}, {}, {}
        assert isinstance(problem, ClassifyProblem)
        proba = problem.predict_proba(model, test)
        true = test.y.cpu().numpy()
        classes = problem.classes
        n_classes = len(classes)
        predicted = proba.argmax(axis=1)
        test_metrics = classify_metrics(predicted, true, n_classes)
        matrix = [
            [int(((true == i) & (predicted == j)).sum()) for j in range(n_classes)]
            for i in range(n_classes)
        ]
        confusion = {"categories": list(classes), "matrix": matrix}
        baselines = classify_baselines(true, classes.index(meta["majority_class"]), n_classes)
        if meta["task"] == "classify":  # 1-NN DTW and MiniRocket (aeon) on the same test split
            from lstmtune.classify_baselines import (
                classify_classical_baselines,
                one_class_baseline,
            )

            baselines["one_class"] = one_class_baseline(true, n_classes)
            classical, baseline_failures, baseline_seconds = classify_classical_baselines(
                problem, seed=cfg.train.seed
            )
            baselines.update(classical)
            for name, reason in baseline_failures.items():
                emit("warning", f"warning: baseline {name} skipped: {reason}")
        featurizer = (
            problem.text_featurizer if isinstance(problem, TextProblem) else problem.featurizer
        )
        spec_extra = {
            "featurizer": featurizer.to_dict(),
            "label": meta["columns"]["label"],
            "vocab_size": problem.vocab_size,
        }
    metric = PRIMARY_METRIC[meta["task"]]
    base_name, base_value = gate_baseline(meta["task"], baselines, metric, cfg.evaluate.gate)
    beats = bool(better(test_metrics[metric], base_value, metric))
    spec = {
        "task": meta["task"],
        "params": params,
        "n_features": problem.n_features,
        "n_outputs": problem.n_outputs,
        "zero_head": problem.zero_head,
        "epochs": epochs,
        "data_sha256": meta["sha256"],
        "time_axis": meta.get("time_axis"),  # the pyfunc checks a consumer's history with it
        **spec_extra,
    }
    save_model_dir(model_dir, model, spec)
    evaluation = {
        "test_metrics": test_metrics,
        "baseline_metrics": baselines,
        "primary_metric": metric,
        "best_baseline": base_name,
        "beats_baseline": beats,
        "gate": cfg.evaluate.gate,
        "baseline_failures": baseline_failures,
        "baseline_seconds": baseline_seconds,
        "baseline_forecasts": {k: v.tolist() for k, v in classical_pred.items()},
        "combination": None
        if combination is None
        else {k: v for k, v in combination.items() if k != "specs"},
        "retrain_epochs": epochs,
        "retrain_seconds": round(result.train_seconds, 2),
        "n_test": len(test),
        "history": result.history,
        "confusion_matrix": confusion,
    }
    _write_json(Path(model_dir) / "evaluation.json", evaluation)
    flat = {f"test_{k}": v for k, v in test_metrics.items()}
    for name, m in baselines.items():
        flat.update({f"baseline_{name}_{k}": v for k, v in m.items()})
    if parent_run_id:
        tracking.log_to_parent(
            cfg, parent_run_id, metrics={k: v for k, v in flat.items() if math.isfinite(v)}
        )
    verdict = "beats" if beats else "DOES NOT beat"
    emit(
        "retrained",
        f"retrained on train+val for {epochs} epochs; test {metric}={test_metrics[metric]:.4g}"
        f" {verdict} {base_name} ({base_value:.4g};"
        f" {margin(test_metrics[metric], base_value, metric)})",
        test_metrics=test_metrics,
        beats_baseline=beats,
    )
    if not beats:
        emit(
            "warning",
            f"warning: the tuned model loses to a {baseline_set(meta['task'], base_name)}"
            f" baseline ({base_name}); it will be registered as challenger, not champion",
        )
    return {"metrics": {k: float(v) for k, v in flat.items()}, "confusion_matrix": confusion}


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
    Writes and returns the run summary (JSON)."""
    from lstmtune.data.prepare import read_prepared
    from lstmtune.registry import publish

    cfg = _config(config_json)
    parts, meta = read_prepared(dataset_dir)
    best = json.loads(Path(best_path).read_text())
    evaluation = json.loads((Path(model_dir) / "evaluation.json").read_text())
    summary = publish(cfg, parts, meta, model_dir, best, evaluation, parent_run_id)
    _write_json(summary_path, summary)
    if markdown_path:
        from lstmtune.report import markdown_summary

        Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown_path).write_text(markdown_summary(summary))
    if report_path:
        _report(cfg, summary, dataset_dir, model_dir, parent_run_id, report_path)
    return json.dumps(summary, sort_keys=True, default=str)

"""The retrain step: train the best configuration on train+val, score it on test beside the
baselines, decide against the gate, and save the model directory for the register step."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstmtune.config import RunConfig
from lstmtune.step_utils import step_config, user_errors, write_json


@dataclass
class FinalTrainer:
    """Trains the winning configuration the way the final model is trained: its best epoch count,
    the run's clipping, AMP and device, and the winning trial's seed."""

    cfg: RunConfig
    params: dict[str, Any]
    epochs: int
    seed: int
    device: Any

    def fit(self, problem: Any, data: Any) -> Any:
        """Train on ``data``; the :class:`~lstmtune.training.TrainResult`."""
        from lstmtune.training import train

        return train(
            problem,
            self.params,
            data,
            None,
            epochs=self.epochs,
            grad_clip=self.cfg.train.grad_clip,
            seed=self.seed,
            device=self.device,
            amp=self.cfg.train.amp,
        )

    def __call__(self, problem: Any, data: Any) -> Any:
        """The trained model on the CPU in eval mode (what the forecast combination needs)."""
        return self.fit(problem, data).model.cpu().eval()

    def ensemble(self, problem: Any, k: int) -> Any:
        """Classification: ``k`` networks on train+val, the learning rate annealed over the epoch
        budget, seeds ``seed .. seed + k - 1`` (:func:`~lstmtune.final_classify.fit_ensemble`;
        the :class:`~lstmtune.final_classify.FinalClassifier`)."""
        from lstmtune.final_classify import fit_ensemble

        return fit_ensemble(
            problem,
            self.params,
            k,
            epochs=self.epochs,
            seed=self.seed,
            device=self.device,
            grad_clip=self.cfg.train.grad_clip,
            amp=self.cfg.train.amp,
            parallel=self.parallel,
        )

    @property
    def parallel(self) -> tuple[int, int | None]:
        """``(train.parallel_fits, train.threads)``: how independent trainings may run side by
        side (:func:`lstmtune.parallel_fit.fit_all`)."""
        return self.cfg.train.parallel_fits, self.cfg.train.threads

    def final(self, problem: Any, best: dict[str, Any]) -> Any:
        """The final model on train+val: the winner's PBT schedule replayed when it has one."""
        if not best.get("schedule"):
            return self.fit(problem, problem.tensors("train", "val"))
        from lstmtune.pbt import replay_schedule

        return replay_schedule(
            problem,
            self.params,
            best["schedule"],
            problem.tensors("train", "val"),
            seed=self.cfg.train.seed,
            grad_clip=self.cfg.train.grad_clip,
            device=self.device,
            amp=self.cfg.train.amp,
        )


def _evaluation_record(
    ev: Any, metric: str, base_name: str, beats: bool, gate: str, combination: Any
) -> dict[str, Any]:
    return {
        "test_metrics": ev.test_metrics,
        "baseline_metrics": ev.baselines,
        "primary_metric": metric,
        "best_baseline": base_name,
        "beats_baseline": beats,
        "gate": gate,
        "baseline_failures": ev.baseline_failures,
        "baseline_seconds": ev.baseline_seconds,
        "baseline_forecasts": ev.baseline_forecasts,
        "combination": None
        if combination is None
        else {k: v for k, v in combination.items() if k != "specs"},
        "confusion_matrix": ev.confusion,
        **ev.details,
    }


def _announce(
    task: str,
    metric: str,
    test_metrics: dict[str, float],
    base: tuple[str, float],
    epochs: int,
    members: int = 1,
) -> bool:
    """Print the retrain line (and the challenger warning); True when the model beats ``base``."""
    from lstmtune.evaluate import baseline_set, better, margin
    from lstmtune.progress import emit

    base_name, base_value = base
    value = test_metrics[metric]
    beats = bool(better(value, base_value, metric))
    verdict = "beats" if beats else "DOES NOT beat"
    emit(
        "retrained",
        f"retrained on train+val for {epochs} epochs"
        f"{f' (and {members - 1} more configuration{_s(members - 1)})' if members > 1 else ''};"
        f" test {metric}={value:.4g}"
        f" {verdict} {base_name} ({base_value:.4g}; {margin(value, base_value, metric)})",
        test_metrics=test_metrics,
        beats_baseline=beats,
    )
    if not beats:
        emit(
            "warning",
            f"warning: the tuned model loses to a {baseline_set(task, base_name)}"
            f" baseline ({base_name}); it cannot become champion",
        )
    return beats


def _flat_metrics(ev: Any) -> dict[str, float]:
    flat = {f"test_{k}": float(v) for k, v in ev.test_metrics.items()}
    for name, m in ev.baselines.items():
        flat.update({f"baseline_{name}_{k}": float(v) for k, v in m.items()})
    return flat


@user_errors
def train_best_step(
    config_json: str, dataset_dir: str, best_path: str, parent_run_id: str, model_dir: str
) -> dict[str, Any]:
    """Retrain the best configuration on train+val for its best epoch count, evaluate on test
    against the baselines, save the model directory. Returns ``{"metrics": flat KFP metrics,
    "confusion_matrix": {"categories", "matrix"} or None}``."""
    import json

    from lstmtune import tracking
    from lstmtune.data.prepare import read_prepared
    from lstmtune.evaluate import gate_baseline, primary_metric
    from lstmtune.problems import make_problem
    from lstmtune.serving import save_model_dir
    from lstmtune.training import select_device

    cfg = step_config(config_json)
    parts, meta = read_prepared(dataset_dir)
    single = meta["task"] == "forecast" and not meta.get("panel")
    pending = _start_classical(meta, parts) if single and meta.get("classical") else None
    best = json.loads(Path(best_path).read_text())
    params = best["best_params"]
    epochs = max(1, int(best["best_epoch"]))
    trainer = FinalTrainer(
        cfg,
        params,
        epochs,
        cfg.train.seed + int(best["best_trial"]),
        select_device(cfg.train.device),
    )
    combination: dict[str, Any] | None = None
    if single:
        problem, model, results, ev, combination = _single_series(
            cfg, parts, meta, best, trainer, pending
        )
        result = results[0]
    else:
        problem = make_problem(parts, meta, params)
        final = None  # classification: an annealed ensemble (evaluate.ensemble networks)
        if meta["task"] == "classify" and not best.get("schedule"):
            from lstmtune.classify_publish import publish_classifier
            from lstmtune.crossval import ensemble_size, final_epochs
            from lstmtune.training import ClassifyProblem

            assert isinstance(problem, ClassifyProblem)
            epochs = trainer.epochs = final_epochs(problem, params, epochs)
            size = ensemble_size(cfg.evaluate.ensemble, problem)
            final, combination = publish_classifier(cfg, problem, best, trainer, size)
            result = final
        else:
            result = trainer.final(problem, best)
        results = [result]
        model = result.model.cpu().eval()
        if meta.get("panel"):
            from lstmtune.final_panel import evaluate_panel, validation_choices
            from lstmtune.panel_problem import PanelForecastProblem

            assert isinstance(problem, PanelForecastProblem)
            combine = cfg.evaluate.combine and not best.get("schedule")  # both from train fits
            combination, intervals = validation_choices(
                problem, meta, trainer, cfg.evaluate.levels, combine
            )
            ev = evaluate_panel(
                problem, model, meta, intervals, combination, cfg.evaluate.nonnegative
            )
        else:
            from lstmtune.final_classify import evaluate_classify
            from lstmtune.training import ClassifyProblem

            assert isinstance(problem, ClassifyProblem)
            ev = evaluate_classify(problem, model, meta, seed=cfg.train.seed, final=final)
    metric = primary_metric(meta)
    base = gate_baseline(meta["task"], ev.baselines, metric, cfg.evaluate.gate)
    if meta["task"] in ("classify", "text"):  # one class predicted for all: held to one_class
        from lstmtune.final_classify import gate_for_classifier

        base = gate_for_classifier(ev, base, metric)
    spec = _spec(meta, params, problem, epochs, ev.spec_extra)
    save_model_dir(model_dir, model, spec)
    flat = _flat_metrics(ev)
    if parent_run_id:
        finite = {k: v for k, v in flat.items() if math.isfinite(v)}
        tracking.log_to_parent(cfg, parent_run_id, metrics=finite)
    beats = _announce(meta["task"], metric, ev.test_metrics, base, epochs, len(results))
    evaluation = _evaluation_record(ev, metric, base[0], beats, cfg.evaluate.gate, combination)
    evaluation.update(
        retrain_epochs=epochs,
        retrain_seconds=round(sum(r.train_seconds for r in results), 2),
        n_test=len(problem.tensors("test")),
        history=result.history,
    )
    if meta["task"] == "forecast":  # rows of history a consumer sends (members: the longest)
        from lstmtune.forecast_members import history_rows

        evaluation["history_rows"] = history_rows(spec)
        evaluation["members"] = len(spec.get("members") or [spec])
    write_json(Path(model_dir) / "evaluation.json", evaluation)
    return {"metrics": flat, "confusion_matrix": ev.confusion}


def _start_classical(meta: dict[str, Any], parts: Any) -> Any:
    """The final anchors (train+val) and the AutoARIMA/AutoETS baselines' test forecasts, fitted
    in a child process while this one imports torch and trains, when a core is free for it
    (:mod:`lstmtune.classical_fits`); else fitted here when they are needed."""
    from lstmtune.classical_fits import start_classical
    from lstmtune.report_job import spare_core

    return start_classical(meta, parts, "val", parallel=spare_core(free=0.5), baselines=True)


def _single_series(
    cfg: RunConfig,
    parts: Any,
    meta: dict[str, Any],
    best: dict[str, Any],
    trainer: FinalTrainer,
    pending: Any = None,
) -> tuple[Any, Any, list[Any], Any, dict[str, Any] | None]:
    """One series: the winner and the members of :mod:`lstmtune.forecast_members` (their
    combination and intervals chosen on validation, then each retrained on train+val) and the
    test evaluation. Returns ``(the winner's problem, the model to save, the train results,
    the evaluation, the combination)``; an ensemble is saved as an ``nn.ModuleList``."""
    from torch import nn

    from lstmtune.features import CLASSICAL_ANCHORS
    from lstmtune.final_check import check_members
    from lstmtune.final_forecast import (
        choose_final,
        evaluate_forecast,
        final_networks,
        validation_record,
    )
    from lstmtune.forecast_members import choose_members, member_entries
    from lstmtune.progress import emit

    members = choose_members(best, cfg.evaluate.ensemble)
    trainers = [trainer] + [
        FinalTrainer(
            cfg,
            member["params"],
            max(1, int(member["best_epoch"])),
            cfg.train.seed + int(member["number"]),
            trainer.device,
        )
        for member in members
    ]
    combine = cfg.evaluate.combine and not best.get("schedule")  # weights on validation
    # members without a classical anchor do not need the train+val AutoARIMA/AutoETS fits:
    # trained first, while the classical child (``pending``) is still fitting them
    early = not any(t.params.get("anchor") in CLASSICAL_ANCHORS for t in trainers)
    if early:
        fits, results = final_networks(parts, meta, trainers, best)
    record = validation_record(
        parts,
        meta,
        trainers,
        combine=combine,
        levels=cfg.evaluate.levels,
        pending=pending,
        entries=[_top_entry(best, int(best["best_trial"])), *members],
    )
    if not early:
        fits, results = final_networks(parts, meta, trainers, best)
    network = True
    if record.fits is not None and not best.get("schedule"):  # PBT's replay has no seed to vary
        checked = check_members(fits, results, trainers, record.rmse())
        for note in checked.notes:
            emit("warning", note)
        fits, results, trainers = checked.fits, checked.results, checked.trainers
        results[0].train_seconds += checked.extra_seconds  # counted in retrain_seconds
        record, network = record.subset(checked.kept), not checked.winner_failed
    combination, intervals = choose_final(
        record,
        meta,
        combine=combine,
        levels=cfg.evaluate.levels,
        rule=cfg.evaluate.combine_weights,
        network=network,
    )
    entries = member_entries(fits.problems, trainers) if len(trainers) > 1 else None
    ev = evaluate_forecast(
        fits, meta, combination, intervals, entries, pending, nonnegative=cfg.evaluate.nonnegative
    )
    model = fits.models[0] if entries is None else nn.ModuleList(fits.models)
    return fits.problem, model, results, ev, combination


def _top_entry(best: dict[str, Any], number: int) -> dict[str, Any] | None:
    """The tune result's record of trial ``number`` among its top trials, if it is there."""
    tops = (best.get("extra") or {}).get("top_trials") or []
    return next((t for t in tops if int(t["number"]) == number), None)


def _spec(
    meta: dict[str, Any], params: dict[str, Any], problem: Any, epochs: int, extra: dict[str, Any]
) -> dict[str, Any]:
    """The saved model's spec: what the pyfunc needs to rebuild and feed the network."""
    return {
        "task": meta["task"],
        "params": params,
        "n_features": problem.n_features,
        "n_outputs": problem.n_outputs,
        "zero_head": problem.zero_head,
        "epochs": epochs,
        "data_sha256": meta["sha256"],
        "time_axis": meta.get("time_axis"),  # the pyfunc checks a consumer's history with it
        "missing": meta["columns"].get("missing", "error"),  # and fills its gaps as training did
        **extra,
    }


def _s(count: int) -> str:
    """The plural ending for ``count`` things."""
    return "" if count == 1 else "s"

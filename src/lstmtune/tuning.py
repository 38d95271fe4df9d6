"""Optuna backend: one trial = one training run reporting the objective after every epoch."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lstmtune.config import RunConfig
from lstmtune.errors import TrialInfeasible, UserError
from lstmtune.search_space import fixed_params, grid_size, grid_space, suggest
from lstmtune.training import OBJECTIVES, NonFiniteLoss, make_problem, select_device, train

log = logging.getLogger("lstmtune")


def progress(message: str) -> None:
    """A line the local runner echoes to the terminal (everything else goes to the log file)."""
    print(f"lstmtune | {message}", flush=True)


@dataclass
class StudyResult:
    study_name: str
    storage: str
    objective: str
    best_params: dict[str, Any]
    best_value: float
    best_epoch: int
    best_trial: int
    n_trials_complete: int
    n_trials_pruned: int
    n_trials_failed: int
    n_trials_reused: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def redact(url: str) -> str:
    """A storage URL safe to print and record (password hidden)."""
    if "@" not in url:
        return url
    from sqlalchemy.engine import make_url

    try:
        return str(make_url(url).render_as_string(hide_password=True))
    except Exception:
        return url.split("@")[-1]


def default_study_name(cfg: RunConfig, meta: dict[str, Any]) -> str:
    """Same data + same space + same split => same study (a rerun resumes it)."""
    key = json.dumps({"sha": meta["sha256"], "space": meta["search_space"], "splits": meta["splits"], "task": meta["task"],
                      "horizon": meta.get("horizon"), "seed": cfg.train.seed}, sort_keys=True)
    return f"{cfg.mlflow.model_name}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _storage(url: str) -> Any:
    import optuna

    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else {})


def _sampler(cfg: RunConfig, space: dict[str, Any]) -> Any:
    import optuna

    seed = cfg.train.seed
    name = cfg.tune.sampler
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=min(10, max(3, cfg.tune.n_trials // 3)))
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_space(space), seed=seed)
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _pruner(cfg: RunConfig, max_epochs: int) -> Any:
    import optuna

    if cfg.tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(2, min(5, max_epochs // 10)), max_resource=max_epochs, reduction_factor=3)
    if cfg.tune.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    return optuna.pruners.NopPruner()


def _max_epochs(space: dict[str, Any]) -> int:
    spec = space["epochs"]
    if spec["type"] == "fixed":
        return int(spec["value"])
    if spec["type"] == "categorical":
        return int(max(spec["choices"]))
    return int(spec["high"])


def run_study(cfg: RunConfig, parts: dict[str, pd.DataFrame], meta: dict[str, Any], *, parent_run_id: str | None = None) -> StudyResult:
    import optuna

    from lstmtune import tracking

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space: dict[str, Any] = meta["search_space"]
    objective_name = OBJECTIVES[meta["task"]]
    storage_url = str(cfg.tune.storage)
    study_name = cfg.tune.study_name or default_study_name(cfg, meta)
    storage = _storage(storage_url)
    study = optuna.create_study(
        study_name=study_name, storage=storage, direction="minimize", load_if_exists=True,
        sampler=_sampler(cfg, space), pruner=_pruner(cfg, _max_epochs(space)),
    )
    finished_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    reused = len(study.get_trials(deepcopy=False, states=finished_states))
    target = cfg.tune.n_trials
    if cfg.tune.sampler == "grid":
        target = min(target, grid_size(space))
    remaining = max(0, target - reused)
    device = select_device(cfg.train.device)
    fixed = fixed_params(space)
    failures: list[str] = []
    started = time.perf_counter()
    progress(f"study '{study_name}' on {redact(storage_url)}: {reused} finished trial(s) reused, {remaining} to run, device {device}")

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, space)
        history: list[dict[str, float]] = []
        state = "FAIL"
        reason = ""
        try:
            try:
                problem = make_problem(parts, meta, params)
            except TrialInfeasible as exc:
                reason = str(exc)
                state = "PRUNED"
                raise optuna.TrialPruned(reason) from None

            def on_epoch(epoch: int, value: float, train_loss: float) -> None:
                history.append({"epoch": float(epoch), objective_name: value, "train_loss": train_loss})
                trial.report(value, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at epoch {epoch}")

            try:
                result = train(
                    problem, params, problem.tensors("train"), problem.tensors("val"),
                    patience=cfg.train.patience, grad_clip=cfg.train.grad_clip, seed=cfg.train.seed + trial.number,
                    device=device, amp=cfg.train.amp, on_epoch=on_epoch,
                )
            except optuna.TrialPruned:
                state = "PRUNED"
                raise
            except NonFiniteLoss as exc:
                reason = str(exc)
                raise
            except RuntimeError as exc:
                if "out of memory" in str(exc).lower():
                    reason = "out of memory"
                    raise NonFiniteLoss(f"out of memory: {str(exc).splitlines()[0]}") from exc
                raise
            trial.set_user_attr("best_epoch", result.best_epoch)
            trial.set_user_attr("epochs_run", result.epochs_run)
            trial.set_user_attr("train_seconds", round(result.train_seconds, 3))
            state = "COMPLETE"
            return result.best_value
        finally:
            if reason and state == "FAIL":
                failures.append(f"trial {trial.number}: {reason}")
                trial.set_user_attr("fail_reason", reason)
            if parent_run_id:
                tracking.log_trial_run(cfg, parent_run_id, trial.number, params, history, state, {"reason": reason} if reason else None)

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done = len(study.get_trials(deepcopy=False, states=finished_states))
        try:
            best = f"{study.best_value:.4g}"
        except ValueError:
            best = "-"
        value = f"{trial.value:.4g}" if trial.value is not None else "-"
        progress(f"trial {trial.number:>3} {trial.state.name.lower():<8} {objective_name}={value:<10} best={best}  [{done}/{target}]")
        if len(failures) > cfg.tune.max_failed_trials:
            study.stop()

    if remaining:
        study.optimize(objective, n_trials=remaining, timeout=cfg.tune.timeout, catch=(NonFiniteLoss,), callbacks=[callback], gc_after_trial=False)
    if len(failures) > cfg.tune.max_failed_trials:
        raise RuntimeError(f"tuning aborted: {len(failures)} failed trials exceed tune.max_failed_trials={cfg.tune.max_failed_trials}; last failure: {failures[-1]}")
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        last = failures[-1] if failures else "every trial was pruned"
        raise RuntimeError(f"tuning finished with no completed trial ({last})")
    best = study.best_trial
    best_params = {**fixed, **best.params}
    return StudyResult(
        study_name=study_name, storage=redact(storage_url), objective=objective_name, best_params=best_params,
        best_value=float(best.value if best.value is not None else math.nan), best_epoch=int(best.user_attrs.get("best_epoch", best_params.get("epochs", 1))),
        best_trial=best.number, n_trials_complete=len(complete),
        n_trials_pruned=sum(t.state == optuna.trial.TrialState.PRUNED for t in trials),
        n_trials_failed=sum(t.state == optuna.trial.TrialState.FAIL for t in trials),
        n_trials_reused=reused, seconds=round(time.perf_counter() - started, 2),
    )


def check_study_config(cfg: RunConfig) -> None:
    """Refuse settings that cannot work before anything runs."""
    if cfg.tune.storage and cfg.tune.storage.startswith("sqlite") and ":memory:" in cfg.tune.storage:
        raise UserError("tune.storage: an in-memory SQLite study cannot be shared between pipeline steps")

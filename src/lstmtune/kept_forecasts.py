"""The best trials' validation forecasts, handed from the tune step to the retrain step.

The retrain step trains every member of the published ensemble on train once more, to choose the
combination weights and calibrate the intervals on validation (:func:`lstmtune.final_forecast.
prepare_final`). That training repeats the member's own trial: the same configuration, the same
seed (``train.seed + trial number``), the same data, run for the trial's best epoch; training
reseeds everything and has no schedule, so on one machine with the same torch thread count the
weights are those the trial restored, bit for bit (``tests/test_kept_forecasts.py``), and the
trial's validation forecast is the forecast that training would give. The tune step keeps it for
its best trials with what it was made from (:func:`record`: the parameters the trial trained
with, its best epoch and seed, and a :func:`key` of the data, the splits, the train-fitted
anchors, the training settings, the thread count and torch's version) and writes it into the
result (``extra["top_trials"][i]["val_forecast"]``); the retrain step uses it instead of training
again only where all of that matches the member it would train (:func:`usable`).

Kept only where the equality can hold: a single series on the CPU, each trial trained alone on
the whole train split (not fused, not on a ``tune.subset``). The trials of another process
(resumed studies, parallel workers, Katib), a trial whose recorded parameters differ from those
it trained with (a conditional parameter left inactive), or a result paired with other data or
settings (the ``tune`` and ``train`` step commands run by hand) have none that is usable, and
their members are trained again as before.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lstmtune.config import RunConfig
    from lstmtune.training import TrainResult
    from lstmtune.tuning.context import Problem, TuningRun

KEEP = 10  # forecasts kept, the best by value (the result lists the 5 best distinct configurations)
MAX_VALUES = 50_000  # a longer validation forecast (origins x horizon) is not kept: retrained


def key(cfg: RunConfig, meta: dict[str, Any]) -> str:
    """What a kept forecast depends on besides its trial's parameters, epoch and seed."""
    import torch

    facts = {
        "data": meta.get("sha256"),
        "splits": meta.get("splits"),
        "anchors": meta.get("classical"),  # fitted on train, as while tuning
        "train": [cfg.train.grad_clip, cfg.train.amp],
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def keep_forecast(
    run: TuningRun, number: int, params: dict[str, Any], problem: Problem, result: TrainResult
) -> None:
    """Keep a completed trial's validation forecast (original units) if it is among the best."""
    from lstmtune.panel_problem import PanelForecastProblem
    from lstmtune.training import ForecastProblem

    if not isinstance(problem, ForecastProblem) or isinstance(problem, PanelForecastProblem):
        return
    if run.subset is not None or run.device.type != "cpu":
        return
    if len(problem.ends("val")) * problem.n_outputs > MAX_VALUES:
        return
    value = float(result.best_value)
    if not np.isfinite(value) or not _enters(run.forecasts, value):
        return
    forecast = problem.predict(result.model, problem.tensors("val"))
    run.forecasts[number] = (value, record(run, number, params, result, forecast))
    if len(run.forecasts) > KEEP:
        worst = max(run.forecasts, key=lambda n: (run.forecasts[n][0], n))
        del run.forecasts[worst]


def _enters(kept: dict[int, tuple[float, Any]], value: float) -> bool:
    """Whether a new trial with ``value`` would stay among the :data:`KEEP` kept (not if the set
    is full and it is no better than the worst: a tie goes to the earlier trial)."""
    return len(kept) < KEEP or value < max(v for v, _ in kept.values())


def record(
    run: TuningRun, number: int, params: dict[str, Any], result: TrainResult, forecast: Any
) -> dict[str, Any]:
    """A kept forecast with what it was made from."""
    return {
        "forecast": forecast.tolist(),
        "params": dict(params),
        "epochs": max(1, int(result.best_epoch)),
        "seed": run.cfg.train.seed + number,
        "key": key(run.cfg, run.meta),
    }


def attach_forecasts(extra: dict[str, Any], forecasts: dict[int, tuple[float, Any]]) -> None:
    """Write the kept forecasts into the result's top trials."""
    for entry in extra.get("top_trials") or []:
        kept = forecasts.get(int(entry["number"]))
        if kept is not None:
            entry["val_forecast"] = kept[1]


def without_forecasts(extra: dict[str, Any]) -> dict[str, Any]:
    """The tune result's extras without the kept forecasts and the winner's per-sequence
    cross-entropies (for the run summary)."""
    extra = {k: v for k, v in extra.items() if k != "oof_log_loss"}
    tops = extra.get("top_trials")
    if not tops:
        return extra
    lean = [{k: v for k, v in t.items() if k != "val_forecast"} for t in tops]
    return {**extra, "top_trials": lean}


def usable(entry: dict[str, Any] | None, trainer: Any, problem: Any, expected_key: str) -> Any:
    """A top trial's kept validation forecast as ``[origins, horizon]`` if it was made by the
    training ``trainer`` would run on ``problem`` (same parameters, epochs, seed, :func:`key`, on
    the CPU) and fits the problem's validation origins; else None."""
    kept = (entry or {}).get("val_forecast")
    if not isinstance(kept, dict) or getattr(trainer.device, "type", None) != "cpu":
        return None
    made = (kept.get("params"), kept.get("epochs"), kept.get("seed"), kept.get("key"))
    if made != (dict(trainer.params), int(trainer.epochs), int(trainer.seed), expected_key):
        return None
    forecast = np.asarray(kept.get("forecast"), dtype=np.float64)
    shape = (len(problem.ends("val")), int(problem.n_outputs))
    return forecast if forecast.shape == shape else None

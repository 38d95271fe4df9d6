"""Population-based training (Jaderberg et al., 2017) on lstmtune's own trainer.

A population of ``tune.population`` members is sampled from the search space. Training runs in
``tune.pbt_rounds`` rounds of ``epochs / rounds`` epochs; each member keeps its model and
optimizer state between rounds (its checkpoint). After every round but the last, the members in
the bottom ``tune.pbt_quantile`` (by validation objective) *exploit*: they copy the weights,
optimizer state and hyperparameters of a random member of the top quantile, then *explore*:
``learning_rate`` and ``weight_decay`` are multiplied by 0.8 or 1.25, ``dropout`` and
``recurrent_dropout`` likewise (clipped to the search-space bounds). Structural parameters
(units, layers, lookback, transform, ...) never change within a member's life.

The winner's hyperparameter *schedule* — which values held in which round — is logged and used
by the retrain step (:func:`replay_schedule`), which trains one model on train+val following the
same schedule. Every member is also recorded as an Optuna trial (final hyperparameters,
per-round intermediate values) so reports and dashboards show the population.
"""

from __future__ import annotations

import copy
import math
import random
import time
from typing import Any

import pandas as pd

from lstmtune.config import OBJECTIVES, RunConfig
from lstmtune.errors import TrialInfeasible, UserError
from lstmtune.search_space import suggest

PERTURBED = ("learning_rate", "weight_decay", "dropout", "recurrent_dropout")
FACTORS = (0.8, 1.25)


def _bounds(spec: dict[str, Any]) -> tuple[float, float]:
    if spec["type"] in ("int", "float"):
        return float(spec["low"]), float(spec["high"])
    values = [float(v) for v in spec.get("choices") or [spec.get("value", 0.0)]]
    return min(values), max(values)


def explore(params: dict[str, Any], space: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Perturb the continuous hyperparameters by x0.8 or x1.25 within the search-space bounds
    (a parameter declared as a list of choices moves to a neighbouring choice)."""
    out = dict(params)
    for name in PERTURBED:
        spec = space.get(name)
        if spec is None or spec["type"] == "fixed":
            continue
        if spec["type"] == "categorical":  # a declared list: move to a neighbouring choice
            choices = sorted(spec["choices"])
            i = choices.index(out[name]) if out[name] in choices else 0
            out[name] = choices[min(len(choices) - 1, max(0, i + rng.choice((-1, 1))))]
            continue
        low, high = _bounds(spec)
        value = float(out[name]) * rng.choice(FACTORS)
        if name in ("dropout", "recurrent_dropout") and value == 0.0:
            value = min(high, 0.05) if rng.random() < 0.5 else 0.0
        out[name] = min(high, max(low, value))
    return out


def apply_hyperparameters(model: Any, optimizer: Any, params: dict[str, Any]) -> None:
    """Set the perturbable hyperparameters on a live model/optimizer (no re-initialisation)."""
    for group in optimizer.param_groups:
        group["lr"] = float(params["learning_rate"])
        group["weight_decay"] = float(params.get("weight_decay", 0.0))
    model.head_dropout.p = float(params.get("dropout", 0.0))
    if model.lstm.num_layers > 1:
        model.lstm.dropout = float(params.get("dropout", 0.0))
    if (
        model._hh_names
    ):  # weight drop exists only when the member was built with recurrent_dropout > 0
        model.recurrent_dropout = float(params.get("recurrent_dropout", 0.0))


def _epochs(space: dict[str, Any]) -> int:
    spec = space["epochs"]
    return int(
        spec["value"]
        if spec["type"] == "fixed"
        else spec["high"]
        if spec["type"] == "int"
        else max(spec["choices"])
    )


def run_pbt(
    cfg: RunConfig,
    parts: dict[str, pd.DataFrame],
    meta: dict[str, Any],
    *,
    parent_run_id: str | None = None,
) -> dict[str, Any]:
    import optuna

    from lstmtune import tracking
    from lstmtune.training import make_optimizer, make_problem, select_device, train
    from lstmtune.tuning import default_study_name, progress, redact

    if cfg.tune.workers > 1:
        raise UserError(
            "tune.strategy: pbt trains its population in one tune step; set tune.workers: 1"
        )
    space: dict[str, Any] = meta["search_space"]
    objective = OBJECTIVES[meta["task"]]
    rounds = cfg.tune.pbt_rounds
    per_round = max(1, _epochs(space) // rounds)
    device = select_device(cfg.train.device)
    rng = random.Random(cfg.train.seed)
    sampler_study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=cfg.train.seed))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    members: list[dict[str, Any]] = []
    attempts = 0
    while len(members) < cfg.tune.population:
        attempts += 1
        if attempts > 20 * cfg.tune.population:
            raise UserError(
                "tune.search_space: too few feasible configurations for the pbt population"
            )
        params = suggest(sampler_study.ask(), space)
        try:
            problem = make_problem(parts, meta, params)
        except TrialInfeasible:
            continue
        from lstmtune.model import build_model

        model = build_model(
            problem.n_features,
            problem.n_outputs,
            params,
            zero_head=problem.zero_head,
            vocab_size=problem.vocab_size,
        ).to(device)
        members.append(
            {
                "id": len(members),
                "params": params,
                "problem": problem,
                "model": model,
                "optimizer": make_optimizer(model, params),
                "schedule": [],
                "values": [],
                "history": [],
                "data": (problem.tensors("train"), problem.tensors("val")),
                "parent": None,
                "score": math.inf,
            }
        )
    progress(
        f"pbt: population {len(members)}, {rounds} rounds x {per_round} epochs, device {device}",
        "info",
    )
    for r in range(1, rounds + 1):
        for m in members:
            m["schedule"].append(
                {
                    "round": r,
                    "epochs": per_round,
                    **{k: m["params"][k] for k in PERTURBED if k in m["params"]},
                }
            )
            result = train(
                m["problem"],
                m["params"],
                m["data"][0],
                m["data"][1],
                epochs=per_round,
                patience=per_round + 1,
                grad_clip=cfg.train.grad_clip,
                seed=cfg.train.seed + 1000 * r + m["id"],
                device=device,
                amp=cfg.train.amp,
                model=m["model"],
                optimizer=m["optimizer"],
                restore_best=False,
            )
            m["score"] = float(result.best_value)
            m["values"].append(m["score"])
            m["history"].extend(
                {**h, "epoch": float((r - 1) * per_round + h["epoch"])} for h in result.history
            )
        ranked = sorted(
            members, key=lambda m: m["score"] if math.isfinite(m["score"]) else math.inf
        )
        best = ranked[0]
        progress(
            f"pbt round {r}/{rounds}: best {objective}={best['score']:.4g} (member {best['id']})",
            "trial",
            number=r - 1,
            state="complete",
            value=best["score"],
            best=best["score"],
            objective=objective,
            done=r,
            total=rounds,
        )
        if r == rounds:
            break
        cut = max(1, int(len(members) * cfg.tune.pbt_quantile))
        for loser in ranked[-cut:]:
            winner = rng.choice(ranked[:cut])
            loser["problem"], loser["data"] = winner["problem"], winner["data"]
            loser["model"] = copy.deepcopy(winner["model"])
            loser["optimizer"] = make_optimizer(loser["model"], winner["params"])
            loser["optimizer"].load_state_dict(copy.deepcopy(winner["optimizer"].state_dict()))
            loser["params"] = explore(winner["params"], space, rng)
            loser["schedule"] = copy.deepcopy(winner["schedule"])
            loser["values"] = list(winner["values"])
            loser["history"] = list(winner["history"])
            loser["parent"] = winner["id"]
            apply_hyperparameters(loser["model"], loser["optimizer"], loser["params"])
    winner = min(members, key=lambda m: m["score"] if math.isfinite(m["score"]) else math.inf)
    if not math.isfinite(winner["score"]):
        raise RuntimeError("pbt: no member reached a finite validation objective")
    study_name = (cfg.tune.study_name or default_study_name(cfg, meta)) + "-pbt"
    _record(cfg, study_name, space, members, objective)
    if parent_run_id:
        for m in members:
            tracking.log_trial_run(
                cfg,
                parent_run_id,
                m["id"],
                m["params"],
                m["history"],
                "COMPLETE",
                {"pbt.parent": str(m["parent"])},
            )
    return {
        "study_name": study_name,
        "storage": redact(str(cfg.tune.storage)),
        "objective": objective,
        "best_params": winner["params"],
        "best_value": winner["score"],
        "best_epoch": rounds * per_round,
        "best_trial": winner["id"],
        "n_trials_complete": len(members),
        "n_trials_pruned": 0,
        "n_trials_failed": 0,
        "n_trials_reused": 0,
        "seconds": round(time.perf_counter() - started, 2),
        "schedule": winner["schedule"],
        "extra": {
            "strategy": "pbt",
            "population": len(members),
            "rounds": rounds,
            "epochs_per_round": per_round,
        },
    }


def _record(
    cfg: RunConfig,
    study_name: str,
    space: dict[str, Any],
    members: list[dict[str, Any]],
    objective: str,
) -> None:
    """Each member as a finished Optuna trial, for the report and the dashboard."""
    import optuna

    from lstmtune.tuning import _storage

    study = optuna.create_study(
        study_name=study_name,
        storage=_storage(str(cfg.tune.storage)),
        direction="minimize",
        load_if_exists=True,
    )
    dists: dict[str, Any] = {}
    for name, spec in space.items():
        if spec["type"] == "categorical":
            dists[name] = optuna.distributions.CategoricalDistribution(spec["choices"])
        elif spec["type"] == "int":
            dists[name] = optuna.distributions.IntDistribution(
                int(spec["low"]), int(spec["high"]), step=int(spec["step"] or 1)
            )
        elif spec["type"] == "float":
            dists[name] = optuna.distributions.FloatDistribution(
                float(spec["low"]), float(spec["high"]), log=bool(spec["log"]), step=spec["step"]
            )
    for m in members:
        params = {k: v for k, v in m["params"].items() if k in dists}
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={k: dists[k] for k in params},
                value=m["score"],
                intermediate_values={i: v for i, v in enumerate(m["values"]) if math.isfinite(v)},
                user_attrs={
                    "pbt_parent": m["parent"],
                    "schedule": m["schedule"],
                    "objective": objective,
                },
            )
        )


def replay_schedule(
    problem: Any,
    params: dict[str, Any],
    schedule: list[dict[str, Any]],
    train_set: Any,
    *,
    seed: int,
    grad_clip: float,
    device: Any,
    amp: bool,
) -> Any:
    """Retrain one model on ``train_set`` following a PBT hyperparameter schedule."""
    from lstmtune.model import build_model
    from lstmtune.training import make_optimizer, train

    model = build_model(
        problem.n_features,
        problem.n_outputs,
        params,
        zero_head=problem.zero_head,
        vocab_size=problem.vocab_size,
    ).to(device)
    first = {**params, **{k: v for k, v in schedule[0].items() if k in PERTURBED}}
    optimizer = make_optimizer(model, first)
    result = None
    for i, step in enumerate(schedule):
        current = {**params, **{k: v for k, v in step.items() if k in PERTURBED}}
        apply_hyperparameters(model, optimizer, current)
        result = train(
            problem,
            current,
            train_set,
            None,
            epochs=int(step["epochs"]),
            grad_clip=grad_clip,
            seed=seed + i,
            device=device,
            amp=amp,
            model=model,
            optimizer=optimizer,
        )
    assert result is not None
    return result


CHECKPOINT = "lstmtune-member.pt"


def continue_member(
    cfg: RunConfig,
    problem: Any,
    params: dict[str, Any],
    checkpoint: str,
    *,
    device: Any,
    on_epoch: Any = None,
) -> Any:
    """A Katib ``pbt`` trial: resume the member whose state Katib copied into ``checkpoint`` (or
    start one), train one round with ``params``, save the state for the member's children."""
    from pathlib import Path

    import torch

    from lstmtune.model import build_model
    from lstmtune.training import make_optimizer, train

    path = Path(checkpoint) / CHECKPOINT
    model = build_model(
        problem.n_features,
        problem.n_outputs,
        params,
        zero_head=problem.zero_head,
        vocab_size=problem.vocab_size,
    ).to(device)
    optimizer = make_optimizer(model, params)
    rounds_done = 0
    if path.is_file():
        state = torch.load(
            path, map_location=device, weights_only=True
        )  # tensors and numbers only: no unpickling
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rounds_done = int(state["rounds"])
    apply_hyperparameters(model, optimizer, params)
    per_round = max(1, int(params.get("epochs", 1)) // cfg.tune.pbt_rounds)
    result = train(
        problem,
        params,
        problem.tensors("train"),
        problem.tensors("val"),
        epochs=per_round,
        patience=per_round + 1,
        grad_clip=cfg.train.grad_clip,
        seed=cfg.train.seed + rounds_done,
        device=device,
        amp=cfg.train.amp,
        on_epoch=on_epoch,
        model=model,
        optimizer=optimizer,
        restore_best=False,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rounds": rounds_done + 1,
        },
        tmp,
    )
    tmp.replace(path)
    result.best_epoch = (
        rounds_done + 1
    ) * per_round  # epochs this member has trained in all, for the retrain step
    return result

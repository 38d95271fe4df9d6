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

Reading order: :func:`run_pbt` (checks, then the parts in order) -> :func:`_sample_population`
-> :func:`_run_rounds` (per round :func:`_train_round` for each member, then :func:`_exploit`)
-> :func:`_record` and :func:`_result`. One member's training outside the population (the
schedule replay, a Katib ``pbt`` trial) lives in :mod:`lstmtune.pbt_member`.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from lstmtune.config import RunConfig, objective_name
from lstmtune.errors import TrialInfeasible, UserError
from lstmtune.pbt_member import (
    CHECKPOINT,
    PERTURBED,
    apply_hyperparameters,
    continue_member,
    replay_schedule,
)
from lstmtune.search_space import suggest

__all__ = [  # the member's own training lives in pbt_member; its names stay importable from here
    "CHECKPOINT",
    "FACTORS",
    "PERTURBED",
    "Member",
    "Plan",
    "apply_hyperparameters",
    "continue_member",
    "explore",
    "replay_schedule",
    "run_pbt",
]

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


def _epochs(space: dict[str, Any]) -> int:
    spec = space["epochs"]
    return int(
        spec["value"]
        if spec["type"] == "fixed"
        else spec["high"]
        if spec["type"] == "int"
        else max(spec["choices"])
    )


@dataclass
class Member:
    """One member of the population. Its model and optimizer carry over from round to round;
    ``schedule``, ``values`` and ``history`` are inherited (copied) when it exploits a winner."""

    id: int
    params: dict[str, Any]
    problem: Any
    model: Any
    optimizer: Any
    data: tuple[Any, Any]  # the train and val tensors of its problem
    schedule: list[dict[str, Any]] = field(default_factory=list)  # per round: epochs, PERTURBED
    values: list[float] = field(default_factory=list)  # validation objective after each round
    history: list[dict[str, float]] = field(default_factory=list)  # per epoch, all rounds
    parent: int | None = None  # the member it last copied
    score: float = math.inf  # validation objective after the latest round


@dataclass(frozen=True)
class Plan:
    """What stays fixed for a whole population-based training run."""

    space: dict[str, Any]
    objective: str
    rounds: int
    per_round: int  # epochs of each round
    device: Any


def run_pbt(
    cfg: RunConfig,
    parts: dict[str, pd.DataFrame],
    meta: dict[str, Any],
    *,
    parent_run_id: str | None = None,
) -> dict[str, Any]:
    """Train a population with PBT; the tune step's result, with the winner's schedule."""
    from lstmtune.training import select_device
    from lstmtune.tuning import default_study_name, progress

    if cfg.tune.workers > 1:
        raise UserError(
            "tune.strategy: pbt trains its population in one tune step; set tune.workers: 1"
        )
    space: dict[str, Any] = meta["search_space"]
    rounds = cfg.tune.pbt_rounds
    plan = Plan(
        space=space,
        objective=objective_name(meta),
        rounds=rounds,
        per_round=max(1, _epochs(space) // rounds),
        device=select_device(cfg.train.device),
    )
    rng = random.Random(cfg.train.seed)
    sampler = _sampler_study(cfg.train.seed)
    started = time.perf_counter()
    members = _sample_population(cfg, parts, meta, sampler, plan.device)
    progress(
        f"pbt: population {len(members)}, {rounds} rounds x {plan.per_round} epochs, "
        f"device {plan.device}",
        "info",
    )
    ran = _run_rounds(cfg, plan, members, rng, started)
    if ran < rounds:
        progress(
            f"pbt stopped by tune.timeout ({cfg.tune.timeout:g} s) after round {ran} of {rounds}",
            "info",
        )
        plan = replace(plan, rounds=ran)
    winner = _winner(members)
    study_name = (cfg.tune.study_name or default_study_name(cfg, meta)) + "-pbt"
    _record(cfg, study_name, space, members, plan.objective)
    if parent_run_id:
        _log_members(cfg, parent_run_id, members)
    return _result(cfg, plan, study_name, members, winner, started)


def _sampler_study(seed: int) -> Any:
    """An in-memory study whose random sampler draws the population's configurations."""
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return study


def _sample_population(
    cfg: RunConfig,
    parts: dict[str, pd.DataFrame],
    meta: dict[str, Any],
    sampler: Any,
    device: Any,
) -> list[Member]:
    """``tune.population`` members of random configurations (infeasible ones are drawn again)."""
    from lstmtune.problems import make_problem
    from lstmtune.training import make_optimizer, new_model

    members: list[Member] = []
    attempts = 0
    while len(members) < cfg.tune.population:
        attempts += 1
        if attempts > 20 * cfg.tune.population:
            raise UserError(
                "tune.search_space: too few feasible configurations for the pbt population"
            )
        params = suggest(sampler.ask(), meta["search_space"])
        try:
            problem = make_problem(parts, meta, params)
        except TrialInfeasible:
            continue
        model = new_model(problem, params, device)
        members.append(
            Member(
                id=len(members),
                params=params,
                problem=problem,
                model=model,
                optimizer=make_optimizer(model, params),
                data=(problem.tensors("train"), problem.tensors("val")),
            )
        )
    return members


def _run_rounds(
    cfg: RunConfig, plan: Plan, members: list[Member], rng: random.Random, started: float
) -> int:
    """Every round: train each member, report the best; then (all but the last round) the bottom
    ``tune.pbt_quantile`` exploit and explore. After a round that ends past ``tune.timeout``
    (seconds since ``started``) no other starts. Returns the number of rounds trained."""
    for r in range(1, plan.rounds + 1):
        for m in members:
            _train_round(cfg, plan, m, r)
        ranked = sorted(members, key=_rank)
        _report_round(plan, ranked[0], r)
        timeout = cfg.tune.timeout
        if r == plan.rounds or (timeout is not None and time.perf_counter() - started >= timeout):
            return r
        cut = max(1, int(len(members) * cfg.tune.pbt_quantile))
        for loser in ranked[-cut:]:
            _exploit(loser, rng.choice(ranked[:cut]), plan.space, rng)
    return plan.rounds


def _train_round(cfg: RunConfig, plan: Plan, m: Member, r: int) -> None:
    """Round ``r`` of member ``m``: ``plan.per_round`` more epochs on its live model."""
    from lstmtune.training import train

    m.schedule.append(
        {
            "round": r,
            "epochs": plan.per_round,
            **{k: m.params[k] for k in PERTURBED if k in m.params},
        }
    )
    result = train(
        m.problem,
        m.params,
        m.data[0],
        m.data[1],
        epochs=plan.per_round,
        patience=plan.per_round + 1,
        grad_clip=cfg.train.grad_clip,
        seed=cfg.train.seed + 1000 * r + m.id,
        device=plan.device,
        amp=cfg.train.amp,
        model=m.model,
        optimizer=m.optimizer,
        restore_best=False,
    )
    m.score = float(result.best_value)
    m.values.append(m.score)
    m.history.extend(
        {**h, "epoch": float((r - 1) * plan.per_round + h["epoch"])} for h in result.history
    )


def _rank(m: Member) -> float:
    """Sort key: the validation objective, a non-finite one last."""
    return m.score if math.isfinite(m.score) else math.inf


def _report_round(plan: Plan, best: Member, r: int) -> None:
    from lstmtune.tuning import progress

    progress(
        f"pbt round {r}/{plan.rounds}: best {plan.objective}={best.score:.4g} (member {best.id})",
        "trial",
        number=r - 1,
        state="complete",
        value=best.score,
        best=best.score,
        objective=plan.objective,
        done=r,
        total=plan.rounds,
    )


def _exploit(loser: Member, winner: Member, space: dict[str, Any], rng: random.Random) -> None:
    """``loser`` copies ``winner``'s problem, weights, optimizer state, schedule and record, then
    explores from the winner's hyperparameters."""
    from lstmtune.training import make_optimizer

    loser.problem, loser.data = winner.problem, winner.data
    loser.model = copy.deepcopy(winner.model)
    loser.optimizer = make_optimizer(loser.model, winner.params)
    loser.optimizer.load_state_dict(copy.deepcopy(winner.optimizer.state_dict()))
    loser.params = explore(winner.params, space, rng)
    loser.schedule = copy.deepcopy(winner.schedule)
    loser.values = list(winner.values)
    loser.history = list(winner.history)
    loser.parent = winner.id
    apply_hyperparameters(loser.model, loser.optimizer, loser.params)


def _winner(members: list[Member]) -> Member:
    winner = min(members, key=_rank)
    if not math.isfinite(winner.score):
        raise RuntimeError("pbt: no member reached a finite validation objective")
    return winner


def _log_members(cfg: RunConfig, parent_run_id: str, members: list[Member]) -> None:
    """Each member as a nested MLflow run of the parent run."""
    from lstmtune import tracking

    for m in members:
        tracking.log_trial_run(
            cfg,
            parent_run_id,
            m.id,
            m.params,
            m.history,
            "COMPLETE",
            {"pbt.parent": str(m.parent)},
        )


def _result(
    cfg: RunConfig,
    plan: Plan,
    study_name: str,
    members: list[Member],
    winner: Member,
    started: float,
) -> dict[str, Any]:
    """The tune step's result, shaped like a study's (the winner as the best trial)."""
    from lstmtune.tuning import redact

    return {
        "study_name": study_name,
        "storage": redact(str(cfg.tune.storage)),
        "objective": plan.objective,
        "best_params": winner.params,
        "best_value": winner.score,
        "best_epoch": plan.rounds * plan.per_round,
        "best_trial": winner.id,
        "n_trials_complete": len(members),
        "n_trials_pruned": 0,
        "n_trials_failed": 0,
        "n_trials_reused": 0,
        "seconds": round(time.perf_counter() - started, 2),
        "schedule": winner.schedule,
        "extra": {
            "strategy": "pbt",
            "population": len(members),
            "rounds": plan.rounds,
            "rounds_planned": cfg.tune.pbt_rounds,
            "epochs_per_round": plan.per_round,
        },
    }


def _record(
    cfg: RunConfig,
    study_name: str,
    space: dict[str, Any],
    members: list[Member],
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
    dists = _distributions(space)
    for m in members:
        params = {k: v for k, v in m.params.items() if k in dists}
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={k: dists[k] for k in params},
                value=m.score,
                intermediate_values={i: v for i, v in enumerate(m.values) if math.isfinite(v)},
                user_attrs={"pbt_parent": m.parent, "schedule": m.schedule, "objective": objective},
            )
        )


def _distributions(space: dict[str, Any]) -> dict[str, Any]:
    """The Optuna distribution of each searched parameter (fixed ones have none)."""
    import optuna

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
    return dists

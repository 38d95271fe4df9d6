"""The published single-series forecast as the average of the best trials' configurations.

With a 12-32-point validation split the single best trial is partly a lucky draw; averaging the
forecasts of the next best configurations (each retrained, as AutoGluon's ensembles of the top
models) takes some of that luck out. Each member keeps its own preprocessing (lookback,
transform, anchor, window normalisation, patches): the members' forecasts are averaged in
original units at the same forecast origins, then the combination with the classical models and
the prediction intervals apply to that average. Measured on the four short development series
before this was built (members retrained on train and on train+val, then combined as published;
test RMSE for 1 / 3 / 5 members): airline 19.55 / 19.51 / 19.51, wineind 2441 / 2295 / 2254,
woolyrnq 413.3 / 418.9 / 418.0, ausbeer 17.40 / 17.39 / 17.39.

``evaluate.ensemble``: a number of members, or ``auto``: up to :data:`AUTO_MEMBERS` while the
members' retrains together stay within :data:`AUTO_WORK` (on a long series, where one network
trains for a minute, the forecast stays one network). The work of a retrain is counted, not
timed (:func:`retrain_work`: epochs x (windows x recurrent steps x parameters + optimizer steps x
a fixed cost)), so the same data and configuration publish the same members on a busy machine,
a quiet one or a GPU; a trial recorded without the counts (a study resumed from before
2026-12-05) falls back to its training seconds against :data:`AUTO_SECONDS` (by the clock,
as before). The members' configurations are JSON in the model spec (:func:`member_entries`),
their weights one state dict (``<i>.``-prefixed keys of an ``nn.ModuleList``), never pickled.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from torch import nn

from lstmtune.model import LSTMNet, build_model

AUTO_MEMBERS = 5
AUTO_SECONDS = 30.0
# Counted work in parameter-steps: one window read by a network of P parameters for T recurrent
# steps is T x P; an optimizer step adds STEP_WORK (its fixed cost). Fitted on the 380 trials of
# 22 default runs (20 held-out series, co2, taylor; 2026-12-05, one torch thread on the 2-core
# development VM): seconds = 1.62e-10 x work within 22 % (median), so AUTO_WORK is about
# AUTO_SECONDS of retraining there.
STEP_WORK = 3.1e7
AUTO_WORK = 1.85e11


def retrain_work(trial: dict[str, Any]) -> float | None:
    """What retraining a top trial's configuration costs, counted: its best epoch x (its
    training windows x the recurrent steps of a window (``lookback`` / ``patch``) x the
    network's parameters + its optimizer steps x :data:`STEP_WORK`). None when the trial lacks
    the counts."""
    n_train, count = trial.get("n_train"), trial.get("param_count")
    params = trial["params"]
    if not n_train or not count or "lookback" not in params:
        return None
    steps = math.ceil(int(params["lookback"]) / max(1, int(params.get("patch", 1))))
    batches = math.ceil(int(n_train) / max(1, int(params.get("batch_size", 32))))
    epoch = int(n_train) * steps * int(count) + batches * STEP_WORK
    return float(max(1, int(trial["best_epoch"]))) * epoch


def _budget_share(trial: dict[str, Any], counted: bool) -> float:
    """A trial's share of the ``auto`` budget: its counted work over :data:`AUTO_WORK`, or its
    training seconds over :data:`AUTO_SECONDS` where some trial lacks the counts."""
    if counted:
        return float(retrain_work(trial) or 0.0) / AUTO_WORK
    return float(trial["train_seconds"]) / AUTO_SECONDS


def choose_members(best: dict[str, Any], setting: str | int) -> list[dict[str, Any]]:
    """The members after the winner, from the tune result's ``extra["top_trials"]`` (best
    first): ``[{"number", "params", "best_epoch", "train_seconds", "n_train", "param_count",
    ...}]``, empty when the result has none (PBT, several objectives, Katib) or the setting is
    1. ``auto`` stops before the winner's and the members' shares of the budget exceed 1."""
    tops = (best.get("extra") or {}).get("top_trials") or []
    if best.get("schedule") or not tops:
        return []
    limit = AUTO_MEMBERS if setting == "auto" else int(setting)
    winner = best["best_params"]
    counted = all(retrain_work(t) is not None for t in tops)
    spent = next((_budget_share(t, counted) for t in tops if t["params"] == winner), 0.0)
    chosen: list[dict[str, Any]] = []
    for trial in tops:
        if len(chosen) + 1 >= limit:
            break
        if trial["params"] == winner:
            continue
        spent += _budget_share(trial, counted)
        if setting == "auto" and spent > 1.0:
            break
        chosen.append(trial)
    return chosen


def average_forecast(problems: list[Any], models: list[LSTMNet], split: str) -> np.ndarray:
    """The members' forecasts of ``split`` in original units, averaged (``[N, horizon]``; every
    member forecasts the same origins: a split's windows end at its own rows)."""
    check_same_origins(problems, split)
    preds = [p.predict(m, p.tensors(split)) for p, m in zip(problems, models, strict=True)]
    return np.asarray(np.mean(preds, axis=0))


def check_same_origins(problems: list[Any], split: str) -> None:
    """The members' forecasts of ``split`` can be averaged: they start from the same origins."""
    if len({tuple(p.ends(split)) for p in problems}) != 1:
        raise ValueError(f"the members forecast different {split} origins")


def member_entries(problems: list[Any], trainers: list[Any]) -> list[dict[str, Any]]:
    """What the spec records of each member: what the pyfunc needs to rebuild and feed it."""
    return [
        {
            "params": dict(t.params),
            "epochs": int(t.epochs),
            "seed": int(t.seed),
            "featurizer": p.featurizer.to_dict(),
            "n_features": int(p.n_features),
            "zero_head": bool(p.zero_head),
        }
        for p, t in zip(problems, trainers, strict=True)
    ]


def build_members(n_outputs: int, members: list[dict[str, Any]]) -> nn.ModuleList:
    """Untrained networks of :func:`member_entries`, ready for ``load_state_dict``."""
    return nn.ModuleList(
        [
            build_model(int(m["n_features"]), n_outputs, m["params"], zero_head=m["zero_head"])
            for m in members
        ]
    )


def history_rows(spec: dict[str, Any]) -> int:
    """The rows of history a forecast model needs: its lookback, or its members' longest (the
    pyfunc forecasts from the origins every member can read)."""
    members = spec.get("members") or [spec]
    return max(int(m["featurizer"]["lookback"]) for m in members)

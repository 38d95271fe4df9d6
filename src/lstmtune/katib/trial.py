"""One Katib trial, the entry point of ``lstmtune trial`` in a trial pod: train one configuration
and print the objective in Katib's StdOut collector format."""

from __future__ import annotations

import os
from typing import Any

from lstmtune.config import RunConfig
from lstmtune.errors import UserError
from lstmtune.step_utils import user_errors


def assigned_params(space: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """The trial's parameters: the space's fixed values and Katib's ``NAME=VALUE`` assignments,
    every tunable one assigned exactly by name."""
    from lstmtune.katib import parse_value
    from lstmtune.search_space import fixed_params

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
    return params


class EpochPrinter:
    """Prints ``epoch=E <name>=V train_loss=L`` after every epoch (Katib reads stdout) and keeps
    the history for the trial's MLflow run. ``name`` is the objective, except under k-fold
    (``fold1_<objective>``): the epochs are fold 1's, and the experiment takes the objective's
    ``min`` over every line, which must not mix fold 1's epochs with the trial's k-fold mean."""

    def __init__(self, objective: str, *, kfold: bool = False) -> None:
        self.objective = objective
        self.name = f"fold1_{objective}" if kfold else objective
        self.history: list[dict[str, float]] = []

    def __call__(self, epoch: int, value: float, train_loss: float) -> None:
        self.history.append({"epoch": float(epoch), self.name: value, "train_loss": train_loss})
        print(f"epoch={epoch} {self.name}={value:.6g} train_loss={train_loss:.6g}", flush=True)


def _log_trial(
    cfg: RunConfig,
    parent_run_id: str,
    params: dict[str, Any],
    history: list[dict[str, float]],
    state: str,
) -> None:
    """A nested MLflow run for the trial; tracking must not fail a finished trial."""
    import contextlib

    from lstmtune import tracking

    if not (parent_run_id and cfg.mlflow.tracking_uri):
        return
    with contextlib.suppress(Exception):
        tracking.log_trial_run(
            cfg,
            parent_run_id,
            int(os.environ.get("LSTMTUNE_TRIAL_NUMBER", "0")),
            params,
            history,
            state,
            {"katib.trial": os.environ.get("HOSTNAME", "")},
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
    from lstmtune.config import objective_name
    from lstmtune.crossval import fit_trial, small_set
    from lstmtune.data.prepare import read_prepared
    from lstmtune.katib import BEST_EPOCH, decode_config, fetch_prepared
    from lstmtune.problems import make_problem
    from lstmtune.rolling import resolve_folds
    from lstmtune.training import select_device

    cfg = decode_config(config_b64).resolved()
    parts, meta = read_prepared(fetch_prepared(data_uri, s3_endpoint_url=cfg.data.s3_endpoint_url))
    params = assigned_params(meta["search_space"], assignments)
    problem = make_problem(parts, meta, params)
    folds = resolve_folds(cfg.tune.forecast_folds, meta)
    kfold = checkpoint is None and (small_set(problem) or folds > 1)
    printer = EpochPrinter(objective_name(meta), kfold=kfold)
    state = "FAIL"
    device = select_device(cfg.train.device)
    try:
        if checkpoint is None:  # small classification sets: k-fold, as in the optuna backend
            result = fit_trial(
                problem,
                params,
                problem.tensors("train"),
                problem.tensors("val"),
                forecast_folds=folds,
                patience=cfg.train.patience,
                grad_clip=cfg.train.grad_clip,
                seed=cfg.train.seed,
                device=device,
                amp=cfg.train.amp,
                on_epoch=printer,
                parallel=(cfg.train.parallel_fits, cfg.train.threads),
            )
        else:
            from lstmtune.pbt import continue_member

            result = continue_member(
                cfg, problem, params, checkpoint, device=device, on_epoch=printer
            )
        state = "COMPLETE"
    finally:
        _log_trial(cfg, parent_run_id, params, printer.history, state)
    print(
        f"{printer.objective}={result.best_value:.6g} {BEST_EPOCH}={result.best_epoch}", flush=True
    )
    return result.best_value

"""One PBT member's model outside the population loop of :mod:`lstmtune.pbt`.

``PERTURBED`` names the hyperparameters a member's *schedule* carries from round to round;
:func:`apply_hyperparameters` sets them on a live model and optimizer. The retrain step follows
the winner's schedule with :func:`replay_schedule`; a Katib ``pbt`` trial trains one round of
one member, resumed from its checkpoint, with :func:`continue_member`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lstmtune.config import RunConfig

PERTURBED = ("learning_rate", "weight_decay", "dropout", "recurrent_dropout")
CHECKPOINT = "lstmtune-member.pt"


def apply_hyperparameters(model: Any, optimizer: Any, params: dict[str, Any]) -> None:
    """Set the perturbable hyperparameters on a live model/optimizer (no re-initialisation)."""
    for group in optimizer.param_groups:
        group["lr"] = float(params["learning_rate"])
        group["weight_decay"] = float(params.get("weight_decay", 0.0))
    model.head_dropout.p = float(params.get("dropout", 0.0))
    if model.lstm.num_layers > 1:
        model.lstm.dropout = float(params.get("dropout", 0.0))
    # weight drop exists only when the member was built with recurrent_dropout > 0
    if model._hh_names:
        model.recurrent_dropout = float(params.get("recurrent_dropout", 0.0))


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
    from lstmtune.training import make_optimizer, new_model, train

    model = new_model(problem, params, device)
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
    from lstmtune.training import make_optimizer, new_model, train

    path = Path(checkpoint) / CHECKPOINT
    model = new_model(problem, params, device)
    optimizer = make_optimizer(model, params)
    rounds_done = _load_member(path, model, optimizer, device)
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
    _save_member(path, model, optimizer, rounds_done + 1)
    # epochs this member has trained in all, for the retrain step
    result.best_epoch = (rounds_done + 1) * per_round
    return result


def _load_member(path: Path, model: Any, optimizer: Any, device: Any) -> int:
    """Load a member's weights and optimizer state if ``path`` exists; the rounds it has done."""
    import torch

    if not path.is_file():
        return 0
    # tensors and numbers only: no unpickling
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["rounds"])


def _save_member(path: Path, model: Any, optimizer: Any, rounds: int) -> None:
    """Write the member's state atomically (a temporary file, then a rename)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "rounds": rounds},
        tmp,
    )
    tmp.replace(path)

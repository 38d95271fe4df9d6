"""The annealed training of a published classifier's network (:func:`annealed_train`).

A final network is trained on train+val for its epoch budget with the learning rate annealed
along a cosine from the configuration's rate to near zero, so the model is taken where the rate
is small instead of at a random point of a noisy trajectory (on ArrowHead's 36 sequences a
constant rate left the test accuracy of one retrain anywhere in 0.46-0.77 by seed; annealed,
0.72-0.79). :mod:`lstmtune.final_classify` and :mod:`lstmtune.parallel_fit` run it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from lstmtune.training import (
    Problem,
    TensorSet,
    TrainResult,
    make_optimizer,
    new_model,
    seed_everything,
    train,
)

ANNEAL_PIECES = 20  # the cosine schedule runs in this many pieces of constant rate


def annealed_rate(base: float, piece: int, pieces: int) -> float:
    """The learning rate of ``piece`` (0-based) of ``pieces``: a cosine from ``base`` to zero,
    taken at the middle of the piece (the last piece runs at about 0.6 % of ``base`` for 20)."""
    return base * 0.5 * (1.0 + math.cos(math.pi * (piece + 0.5) / pieces))


def annealed_train(
    problem: Problem,
    params: dict[str, Any],
    data: TensorSet,
    *,
    epochs: int,
    seed: int,
    device: torch.device,
    grad_clip: float = 1.0,
    amp: bool = True,
) -> TrainResult:
    """Train a new network on ``data`` for ``epochs`` epochs (no validation set), the learning
    rate annealed by :func:`annealed_rate` in up to :data:`ANNEAL_PIECES` pieces (each a
    :func:`~lstmtune.training.train` call that continues the model and its optimizer, seeded
    ``seed * ANNEAL_PIECES + piece``). The history records each epoch's rate."""
    seed_everything(seed)
    model = new_model(problem, params, device)
    optimizer = make_optimizer(model, params)
    pieces = max(1, min(ANNEAL_PIECES, epochs))
    bounds = np.linspace(0, epochs, pieces + 1).round().astype(int)
    history: list[dict[str, float]] = []
    seconds, steps = 0.0, 0
    for piece in range(pieces):
        rate = annealed_rate(float(params["learning_rate"]), piece, pieces)
        for group in optimizer.param_groups:
            group["lr"] = rate
        part = train(
            problem,
            params,
            data,
            None,
            epochs=int(bounds[piece + 1] - bounds[piece]),
            grad_clip=grad_clip,
            seed=seed * ANNEAL_PIECES + piece,
            device=device,
            amp=amp,
            model=model,
            optimizer=optimizer,
        )
        offset = float(bounds[piece])
        history += [
            {**h, "epoch": h["epoch"] + offset, "learning_rate": rate} for h in part.history
        ]
        seconds += part.train_seconds
        steps += part.best_steps
    model.eval()
    return TrainResult(model, epochs, math.nan, epochs, history, seconds, best_steps=steps)

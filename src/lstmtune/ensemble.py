"""An ensemble of sequence classifiers that averages its members' class probabilities.

The published classifier of a small data set is a few networks of the winning configuration
trained with different seeds (``evaluate.ensemble``): on tens of training sequences one retrain's
seed moves test accuracy by tenths, the average of a few does not. :class:`EnsembleNet` is an
ordinary ``nn.Module`` whose output is the *log of the mean of the members' softmax
probabilities*, so ``softmax(output)`` is exactly that mean: the pyfunc, the test evaluation and
every other caller that applies a softmax to a classifier's output read the averaged
probabilities without knowing about the ensemble. Its state dict (every member's weights under
``members.<i>.``) is saved like a single network's (``torch.save``, loaded with
``weights_only=True``); the members' configurations are JSON in the model spec
(:func:`member_entry`), never pickled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from lstmtune.model import build_model


class EnsembleNet(nn.Module):
    """``members`` (classifiers returning logits ``[B, classes]``) -> log of their mean
    probability."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        logp = torch.stack([torch.log_softmax(m(x, lengths).float(), dim=1) for m in self.members])
        out: torch.Tensor = torch.logsumexp(logp, dim=0) - math.log(len(self.members))
        return out


def member_entry(params: dict[str, Any], epochs: int, seed: int) -> dict[str, Any]:
    """What the spec records of one member: its configuration, retrain epochs and seed."""
    return {"params": dict(params), "epochs": int(epochs), "seed": int(seed)}


def build_ensemble(
    n_features: int,
    n_outputs: int,
    members: Sequence[dict[str, Any]],
    *,
    vocab_size: int | None = None,
) -> EnsembleNet:
    """An untrained :class:`EnsembleNet` with the architecture of each :func:`member_entry`, ready
    for ``load_state_dict``."""
    return EnsembleNet(
        [
            build_model(n_features, n_outputs, m["params"], zero_head=False, vocab_size=vocab_size)
            for m in members
        ]
    )

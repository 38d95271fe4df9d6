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

Members may be weighted, and one may be MiniRocket (:class:`lstmtune.rocket.RocketNet`, fitted
by :mod:`lstmtune.rocket_fit`): with ``evaluate.combine`` the published classifier shares the
probability between the networks and MiniRocket by their out-of-sample cross-entropy
(:func:`lstmtune.classify_combine.with_rocket`); the output is then the log of the weighted mean.
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
    probability, weighted by ``weights`` (at least 0, summing to 1; default equal)."""

    log_weights: torch.Tensor

    def __init__(
        self, members: Sequence[nn.Module], weights: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        w = [1.0 / len(members)] * len(members) if weights is None else [float(v) for v in weights]
        if len(w) != len(members) or min(w) < 0 or not math.isclose(sum(w), 1.0, abs_tol=1e-6):
            raise ValueError(
                f"ensemble weights must be one weight >= 0 per member summing to 1, got {w}"
            )
        self.weights = w
        self.register_buffer("log_weights", torch.tensor(w).log().view(-1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        logp = torch.stack([torch.log_softmax(m(x, lengths).float(), dim=1) for m in self.members])
        out: torch.Tensor = torch.logsumexp(logp + self.log_weights, dim=0)
        return out


def member_entry(params: dict[str, Any], epochs: int, seed: int) -> dict[str, Any]:
    """What the spec records of one network member: its configuration, retrain epochs and seed
    (a MiniRocket member: ``{"kind": "minirocket", "rocket": <its spec>, "seed"}``; either may
    carry a ``weight``, equal weights when none does)."""
    return {"params": dict(params), "epochs": int(epochs), "seed": int(seed)}


def _member(
    n_features: int, n_outputs: int, entry: dict[str, Any], vocab_size: int | None
) -> nn.Module:
    if entry.get("kind") == "minirocket":
        from lstmtune.rocket import RocketNet

        return RocketNet(entry["rocket"])
    return build_model(
        n_features, n_outputs, entry["params"], zero_head=False, vocab_size=vocab_size
    )


def build_ensemble(
    n_features: int,
    n_outputs: int,
    members: Sequence[dict[str, Any]],
    *,
    vocab_size: int | None = None,
) -> EnsembleNet:
    """An untrained :class:`EnsembleNet` with the architecture of each :func:`member_entry`, ready
    for ``load_state_dict``."""
    weights = [m["weight"] for m in members] if all("weight" in m for m in members) else None
    return EnsembleNet([_member(n_features, n_outputs, m, vocab_size) for m in members], weights)

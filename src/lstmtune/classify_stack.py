"""Stacking: the shares of the networks and MiniRocket in the published classifier, chosen from
their held-out predictions of the same sequences (``evaluate.combine``).

The networks' record is each held-out sequence's cross-entropy: on a small set every sequence
of train+val by k-fold of the published training (:mod:`lstmtune.classify_record`, measured by
the retrain step), otherwise the winning trial's validation split
(:attr:`lstmtune.training.TrainResult.oof_log_loss`, which k-fold trials keep too). MiniRocket
has its leave-one-out ones (:func:`lstmtune.rocket_fit.loo_log_losses`: exact for the ridge fit;
its kernels' biases, the scaling and the temperature saw every sequence). The
published classifier's probability of a sequence's class is ``w * p_network + (1 - w) *
p_minirocket``, so the mix's held-out cross-entropy of any ``w`` follows from the two, and ``w``
is the one with the lowest on a grid (stacking of predictive distributions, Yao et al. 2018;
AutoGluon's weighted ensemble of out-of-fold predictions). Unlike ``exp(-n * cross-entropy)``
weights, which hand (nearly) everything to the side with the lower mean even where the other is
right on different sequences, a mix that is better than both sides gets both.

Neither record counts beyond what its ``n`` held-out sequences support: each sequence's
probability of its class is read as at most ``(n + 1) / (n + K)`` (:func:`record_floor`:
Laplace's rule of succession, the bound MiniRocket's served probabilities keep,
:func:`lstmtune.rocket_fit.laplace_share`). Otherwise a side sure and right on every sequence
(cross-entropy 0: a perfect leave-one-out record, or networks at 0.0002) took the whole share
from one that is right on every sequence too, only less sure - and the networks' unbounded
probabilities would beat MiniRocket's bounded ones wherever both are right.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

GRID_STEPS = 100  # shares on a 0.01 grid
RECORD_MAX = 2000  # a trial records its held-out sequences' cross-entropies up to this many


def aligned(
    network: list[float] | None, rocket: list[float], n_val: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The two sides' cross-entropies of the same sequences: all of train+val (``rocket``'s
    length: k-fold) or the validation split (its last ``n_val``); None when ``network`` is
    neither (no record: Katib, PBT, a resumed study's trial from before records, a validation
    split above :data:`RECORD_MAX`) or not finite."""
    if not network:
        return None
    net, roc = np.asarray(network, dtype=np.float64), np.asarray(rocket, dtype=np.float64)
    if not (np.isfinite(net).all() and np.isfinite(roc).all()):
        return None
    if len(net) == len(roc):
        return net, roc
    if len(net) == n_val and 0 < n_val <= len(roc):
        return net, roc[len(roc) - n_val :]
    return None


def record_floor(n: int, classes: int) -> float:
    """``log((n + K) / (n + 1))``: the least cross-entropy a record of ``n`` held-out sequences
    of ``K`` classes supports for one sequence (Laplace's rule of succession)."""
    return math.log((n + classes) / (n + 1)) if n > 0 and classes > 1 else 0.0


def stacking_shares(
    network: np.ndarray, rocket: np.ndarray, *, classes: int
) -> tuple[float, float, float]:
    """``(network share, MiniRocket share, the mix's mean cross-entropy)``: the share on a 0.01
    grid whose mix has the lowest held-out cross-entropy, each side's per-sequence cross-entropy
    read as at least :func:`record_floor`; of equal ones, the nearest to half. The mix's figure
    is its plain held-out cross-entropy at that share."""
    w = np.linspace(0.0, 1.0, GRID_STEPS + 1)[:, None]
    floor = record_floor(len(network), classes)
    ce = _mix_ce(w, np.maximum(network, floor), np.maximum(rocket, floor))
    best = float(ce.min())
    ties = np.flatnonzero(ce <= best + 1e-12)
    i = int(ties[np.argmin(np.abs(w[ties, 0] - 0.5))])
    share = float(w[i, 0])
    return share, 1.0 - share, float(_mix_ce(w[i : i + 1], network, rocket)[0])


def _mix_ce(w: np.ndarray, network: np.ndarray, rocket: np.ndarray) -> np.ndarray:
    p = w * np.exp(-network)[None, :] + (1.0 - w) * np.exp(-rocket)[None, :]
    return np.asarray(-np.log(np.maximum(p, 1e-300)).mean(axis=1), dtype=np.float64)


def stacking_evidence(
    network: np.ndarray, rocket: np.ndarray, by: str, mix_ce: float
) -> dict[str, Any]:
    """The ``combination``'s evidence of a stacked mix: the sides' and the mix's held-out
    cross-entropies on the same sequences."""
    return {  # + 0.0: a perfect record's -0.0 reads 0.0
        "network_ce": round(float(network.mean()), 6) + 0.0,
        "network_by": by,
        "rocket_ce": round(float(rocket.mean()), 6) + 0.0,
        "mix_ce": round(mix_ce, 6) + 0.0,
        "n": len(network),
    }

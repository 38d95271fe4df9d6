"""The published sequence classifier: the networks averaged with MiniRocket (``evaluate.combine``).

MiniRocket (:mod:`lstmtune.rocket_fit`) joins the networks of :func:`~lstmtune.final_classify.
fit_ensemble` as one more member of the :class:`~lstmtune.ensemble.EnsembleNet`. The shares come
from the out-of-sample evidence each side already has, no extra training: the networks' tuning
objective (the winning trial's cross-entropy, by k-fold cross-validation on a small set or on the
validation split) and MiniRocket's leave-one-out cross-entropy on train+val. Pseudo-Bayesian model
averaging (Yao et al., 2018): ``w ∝ exp(-n * cross-entropy)``, ``n`` the sequences the networks'
figure was measured on — a clear difference goes (nearly) all to the better side, a close one is
shared. Without a tuning figure comparable to MiniRocket's (none, or PBT's:
:func:`network_evidence`) the shares are equal.

Why not always half and half: on ArrowHead (36 training sequences) the tuned networks (test
accuracy 0.79, 5-fold cross-entropy 0.486) averaged half and half with MiniRocket (0.886,
leave-one-out cross-entropy 0.344) scored 0.811: the networks' confident mistakes outvote it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lstmtune.config import RunConfig
from lstmtune.ensemble import EnsembleNet
from lstmtune.final_classify import FinalClassifier, class_proba
from lstmtune.training import ClassifyProblem


def network_evidence(
    cfg: RunConfig, problem: ClassifyProblem, best: dict[str, Any]
) -> tuple[float, int, str] | None:
    """``(cross-entropy, sequences it was measured on, how)`` of the winning trial (Optuna or
    Katib), or None where the tuning's figure is not a plain cross-entropy comparable to
    MiniRocket's (PBT's is a round's). k-fold judges a small set unless ``tune.subset`` trains on
    a part (then the validation split does; the Katib backend refuses a subset)."""
    value = best.get("best_value")
    tune = cfg.tune
    if value is None or best.get("objective") != "val_loss" or tune.strategy != "bayes":
        return None
    from lstmtune.crossval import small_set

    if small_set(problem) and tune.subset is None:
        return float(value), len(problem.tensors("train", "val")), "k-fold cross-validation"
    return float(value), len(problem.tensors("val")), "the validation split"


def evidence_weights(network_ce: float | None, rocket_ce: float, n: int) -> tuple[float, float]:
    """``(network share, MiniRocket share)``: proportional to ``exp(-n * cross-entropy)``; equal
    when the networks' figure is missing or not finite."""
    if network_ce is None or not math.isfinite(network_ce):
        return 0.5, 0.5
    a, b = -n * float(network_ce), -n * float(rocket_ce)
    top = max(a, b)
    wn, wr = math.exp(a - top), math.exp(b - top)
    return wn / (wn + wr), wr / (wn + wr)


def _description(weights: tuple[float, float], nets: int, evidence: dict[str, Any]) -> str:
    w_net, w_rocket = weights
    line = (
        f"published classifier: {w_net:.3g} x network{f' ({nets} seeds)' if nets > 1 else ''}"
        f" + {w_rocket:.3g} x MiniRocket"
    )
    if evidence.get("network_ce") is None:
        return line + " (equal shares: the tuning gave no cross-entropy comparable to MiniRocket's)"
    line += (
        f" (weights exp(-n x out-of-sample cross-entropy), n = {evidence['n']}: network"
        f" {evidence['network_ce']:.4g} by {evidence['network_by']}, MiniRocket"
        f" {evidence['rocket_ce']:.4g} by leave-one-out)"
    )
    if w_net < 0.01:
        line += "; the networks got almost no weight: the classifier is MiniRocket's"
    return line


def with_rocket(
    final: FinalClassifier,
    problem: ClassifyProblem,
    seed: int,
    network: tuple[float, int, str] | None = None,
) -> tuple[FinalClassifier, dict[str, Any]]:
    """``final``'s networks averaged with a MiniRocket member fitted on train+val, by
    :func:`evidence_weights` of ``network`` = ``(cross-entropy, sequences it was measured on,
    how)``; and the ``combination`` record of the summary. Raises whatever the fit raises (aeon
    missing, a class absent from train+val)."""
    from lstmtune.rocket_fit import fit_rocket

    data, test = problem.tensors("train", "val"), problem.tensors("test")
    rocket, fit = fit_rocket(
        data.x, data.lengths, data.y.cpu().numpy(), len(problem.classes), seed=seed
    )
    ce, n, by = network if network is not None else (None, len(data), "")
    shares = evidence_weights(ce, fit["loo_log_loss"], n)
    nets = list(final.model.members) if isinstance(final.model, EnsembleNet) else [final.model]
    weights = [shares[0] / len(nets)] * len(nets) + [shares[1]]
    entry = {"kind": "minirocket", "rocket": rocket.spec, "seed": int(seed)}
    members = [{**m, "weight": w} for m, w in zip([*final.members, entry], weights, strict=True)]
    proba = class_proba(rocket, test)
    accuracy = float(np.mean(proba.argmax(axis=1) == test.y.cpu().numpy()))
    known = float(ce) if ce is not None and math.isfinite(ce) else None
    evidence = {
        "network_ce": None if known is None else round(known, 6),
        "network_by": by,
        "rocket_ce": fit["loo_log_loss"],
        "n": int(n),
    }
    combination = {
        "weights": {"network": round(shares[0], 6), "minirocket": round(shares[1], 6)},
        "rule": "equal" if known is None else "evidence",
        "evidence": evidence,
        "minirocket": fit,
        "description": _description(shares, len(nets), evidence),
    }
    model = EnsembleNet([*nets, rocket], weights).eval()
    combined = FinalClassifier(
        model, members, final.train_seconds, final.history, [*final.member_accuracy, accuracy]
    )
    return combined, combination

"""The published sequence classifier: the networks averaged with MiniRocket (``evaluate.combine``).

MiniRocket (:mod:`lstmtune.rocket_fit`) joins the networks of :func:`~lstmtune.final_classify.
fit_ensemble` as one more member of the :class:`~lstmtune.ensemble.EnsembleNet`. The shares come
from the out-of-sample evidence each side has. Where there is a record of each held-out
sequence's cross-entropy — on a small set k-fold of the published training, measured by the
retrain step (:mod:`lstmtune.classify_record`), else the winning trial's validation split — the
shares are stacked (:mod:`lstmtune.classify_stack`): the mix with the lowest held-out
cross-entropy of the same sequences, MiniRocket's by leave-one-out. Otherwise (Katib on a
larger set keeps only the mean) pseudo-Bayesian model averaging of the two means (Yao et al.,
2018): ``w ∝ exp(-n * cross-entropy)``, ``n`` the sequences the networks' figure was measured on.
Without a tuning figure comparable to MiniRocket's (none, or PBT's: :func:`network_evidence`) the
shares are equal.

Why not always half and half: on ArrowHead (36 training sequences) the tuned networks (test
accuracy 0.79, 5-fold cross-entropy 0.486) averaged half and half with MiniRocket (0.886,
leave-one-out cross-entropy 0.344) scored 0.811: the networks' confident mistakes outvote it. Why
stacking rather than ``exp(-n * cross-entropy)``: the latter hands nearly everything to the lower
mean, and the networks' mean is the best of the trials on the same folds, so optimistic — on
Covid3Month_disc (140 sequences) 0.826 against MiniRocket's 0.878 gave the networks 0.999 and a
test accuracy of 0.607 (MiniRocket alone 0.721); stacked, 0.69 / 0.31 and 0.656; stacked on the
published training's record (:mod:`lstmtune.classify_record`), 0.34 / 0.66 and 0.705.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmtune.classify_stack import aligned, record_floor, stacking_evidence, stacking_shares
from lstmtune.config import RunConfig
from lstmtune.ensemble import EnsembleNet
from lstmtune.final_classify import FinalClassifier, class_proba
from lstmtune.training import ClassifyProblem

if TYPE_CHECKING:
    from lstmtune.rocket import RocketNet


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


def evidence_weights(
    network_ce: float | None, rocket_ce: float, n: int, *, classes: int = 2
) -> tuple[float, float]:
    """``(network share, MiniRocket share)``: proportional to ``exp(-n * cross-entropy)``, each
    mean read as at least what ``n`` sequences of ``classes`` support
    (:func:`~lstmtune.classify_stack.record_floor`: two figures below it are equal); equal when
    the networks' figure is missing or not finite."""
    if network_ce is None or not math.isfinite(network_ce):
        return 0.5, 0.5
    floor = record_floor(n, classes)
    a, b = -n * max(float(network_ce), floor), -n * max(float(rocket_ce), floor)
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
    if "mix_ce" in evidence:
        line += (
            f" (stacking: the shares whose mix has the lowest held-out cross-entropy on the same"
            f" {evidence['n']} sequences: network {evidence['network_ce']:.4g} by"
            f" {evidence['network_by']}, MiniRocket {evidence['rocket_ce']:.4g} by leave-one-out,"
            f" the mix {evidence['mix_ce']:.4g})"
        )
    else:
        line += (
            f" (weights exp(-n x out-of-sample cross-entropy), n = {evidence['n']}: network"
            f" {evidence['network_ce']:.4g} by {evidence['network_by']}, MiniRocket"
            f" {evidence['rocket_ce']:.4g} by leave-one-out)"
        )
    if w_net < 0.01:
        line += "; the networks got almost no weight: the classifier is MiniRocket's"
    elif w_rocket < 0.01:
        line += "; MiniRocket got almost no weight: the classifier is the networks'"
    return line


def _shares(
    network: tuple[float, int, str] | None,
    oof: list[float] | None,
    rocket: dict[str, Any],
    rocket_losses: list[float],
    n_val: int,
    classes: int,
) -> tuple[tuple[float, float], dict[str, Any], str]:
    """``(shares, evidence, rule)``: stacking where the networks' record of held-out sequences'
    cross-entropies lines up with MiniRocket's (:mod:`lstmtune.classify_stack`), else
    :func:`evidence_weights` of their mean (equal without one)."""
    pair = aligned(oof, rocket_losses, n_val) if network is not None else None
    if network is not None and pair is not None:
        w_net, w_rocket, mix = stacking_shares(*pair, classes=classes)
        return (w_net, w_rocket), stacking_evidence(*pair, network[2], mix), "stacking"
    ce, n, by = network if network is not None else (None, len(rocket_losses), "")
    known = float(ce) if ce is not None and math.isfinite(ce) else None
    evidence = {
        "network_ce": None if known is None else round(known, 6),
        "network_by": by,
        "rocket_ce": rocket["loo_log_loss"],
        "n": int(n),
    }
    return (
        evidence_weights(ce, rocket["loo_log_loss"], n, classes=classes),
        evidence,
        ("equal" if known is None else "evidence"),
    )


@dataclass
class RocketMember:
    """MiniRocket fitted on train+val and its shares beside the networks, chosen before the
    networks are trained (:func:`rocket_member`)."""

    rocket: RocketNet
    seed: int
    fit: dict[str, Any]  # what the evaluation reports of the fit (``loo_log_loss`` ...)
    losses: list[float]  # each train+val sequence's leave-one-out cross-entropy


def rocket_member(problem: ClassifyProblem, seed: int) -> RocketMember:
    """MiniRocket fitted on train+val with its leave-one-out record. Raises whatever the fit
    raises (aeon missing, a class absent from train+val)."""
    from lstmtune.rocket_fit import fit_rocket

    data = problem.tensors("train", "val")
    rocket, fit = fit_rocket(
        data.x, data.lengths, data.y.cpu().numpy(), len(problem.classes), seed=seed
    )
    return RocketMember(rocket, seed, fit, fit.pop("loo_log_losses"))


def rocket_shares(
    member: RocketMember,
    problem: ClassifyProblem,
    network: tuple[float, int, str] | None = None,
    oof: list[float] | None = None,
) -> tuple[tuple[float, float], dict[str, Any], str]:
    """``(network share, MiniRocket share), evidence, rule``: stacking where ``oof`` (the
    networks' held-out sequences' cross-entropies: k-fold of the published training on a small
    set, else the winning trial's validation split) lines up with MiniRocket's leave-one-out
    ones, else :func:`evidence_weights` of ``network`` = ``(cross-entropy, sequences it was
    measured on, how)``."""
    n_val, classes = len(problem.tensors("val")), len(problem.classes)
    return _shares(network, oof, member.fit, member.losses, n_val, classes)


def with_rocket(
    final: FinalClassifier,
    problem: ClassifyProblem,
    member: RocketMember,
    choice: tuple[tuple[float, float], dict[str, Any], str],
) -> tuple[FinalClassifier, dict[str, Any]]:
    """``final``'s networks averaged with the MiniRocket ``member`` by the shares of ``choice``
    (:func:`rocket_shares`); and the ``combination`` record of the summary."""
    shares, evidence, rule = choice
    rocket, test = member.rocket, problem.tensors("test")
    nets = list(final.model.members) if isinstance(final.model, EnsembleNet) else [final.model]
    weights = [shares[0] / len(nets)] * len(nets) + [shares[1]]
    entry = {"kind": "minirocket", "rocket": rocket.spec, "seed": member.seed}
    members = [{**m, "weight": w} for m, w in zip([*final.members, entry], weights, strict=True)]
    proba = class_proba(rocket, test)
    accuracy = float(np.mean(proba.argmax(axis=1) == test.y.cpu().numpy()))
    combination = {
        "weights": {"network": round(shares[0], 6), "minirocket": round(shares[1], 6)},
        "rule": rule,
        "evidence": evidence,
        "minirocket": member.fit,
        "description": _description(shares, len(nets), evidence),
    }
    model = EnsembleNet([*nets, rocket], weights).eval()
    combined = FinalClassifier(
        model, members, final.train_seconds, final.history, [*final.member_accuracy, accuracy]
    )
    return combined, combination

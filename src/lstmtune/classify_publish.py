"""The published sequence classifier, assembled by the retrain step (``evaluate.combine``):
MiniRocket first, then the networks' held-out record and the shares, then as many networks as
the shares need.

The order is for the cost. MiniRocket and its leave-one-out record take seconds; a network on a
small set takes up to minutes, and the published classifier holds :data:`~lstmtune.crossval.
AUTO_ENSEMBLE` of them beside the k trainings of the networks' record. Where the shares give the
networks less than :data:`NEGLIGIBLE_SHARE` (and ``evaluate.ensemble`` is ``auto``), one network
is trained instead of the ensemble (its weight is that share: what it adds to a prediction is
below a hundredth). Where MiniRocket's leave-one-out record is perfect - every held-out
sequence classified right (or, from a fit before the Laplace bound of
:func:`lstmtune.rocket_fit.laplace_share`, a cross-entropy below :data:`PERFECT_CE`) - the k-fold
of the published training could only refine how sure the mix is of sequences it already gets
right, so it is not run where the winning trial kept its own per-sequence record (Optuna; Katib
keeps none): that record stands for the networks in the stacking. On UCR's Coffee (28
training sequences, 286 steps, 20 trials), where MiniRocket's record is perfect, the two took
the retrain step from 560 s (five networks and five k-fold trainings) to 61 s and the whole run
from 1011 s to 530 s, the published classifier's test accuracy 1.0 either way.
"""

from __future__ import annotations

import math
import time
from typing import Any

from lstmtune.classify_combine import (
    RocketMember,
    network_evidence,
    rocket_member,
    rocket_shares,
    with_rocket,
)
from lstmtune.classify_stack import aligned
from lstmtune.config import RunConfig
from lstmtune.final_classify import FinalClassifier
from lstmtune.progress import emit
from lstmtune.training import ClassifyProblem

NEGLIGIBLE_SHARE = 0.01  # a networks' share below this: one network, not the ensemble
PERFECT_CE = 1e-6  # MiniRocket's mean leave-one-out cross-entropy below this: no k-fold record


def networks_needed(share: float, size: int, auto: bool = True) -> int:
    """Networks to train for a networks' ``share`` of the published classifier: ``size`` (the
    ensemble), or one where the share is negligible (the classifier keeps a network member) and
    the size is ``evaluate.ensemble: auto`` (a number the user set is kept)."""
    return size if share >= NEGLIGIBLE_SHARE or not auto else min(1, size)


def publish_classifier(
    cfg: RunConfig, problem: ClassifyProblem, best: dict[str, Any], trainer: Any, size: int
) -> tuple[FinalClassifier, dict[str, Any] | None]:
    """The published classifier (``size`` networks by ``trainer.ensemble``, with MiniRocket
    under ``evaluate.combine``) and the summary's ``combination`` record; the networks alone,
    with a one-line warning, when MiniRocket cannot be fitted (aeon missing, a fit that fails)."""
    if not cfg.evaluate.combine:
        return trainer.ensemble(problem, size), None
    try:
        member = rocket_member(problem, cfg.train.seed)
        choice = _choose_shares(cfg, problem, best, trainer, member)
    except Exception as exc:  # aeon missing or a fit that fails: publish the networks
        emit("warning", f"warning: MiniRocket not combined: {type(exc).__name__}: {exc}")
        return trainer.ensemble(problem, size), None
    k = networks_needed(choice[0][0], size, cfg.evaluate.ensemble == "auto")
    if k < size:
        emit(
            "info",
            f"the networks' share is {choice[0][0]:.3g}: {k} network trained instead of {size}",
        )
    final = trainer.ensemble(problem, k)
    try:
        return with_rocket(final, problem, member, choice)
    except Exception as exc:  # publish the networks (all of them: their share is no longer set)
        emit("warning", f"warning: MiniRocket not combined: {type(exc).__name__}: {exc}")
        return (final if k == size else trainer.ensemble(problem, size)), None


def _choose_shares(
    cfg: RunConfig, problem: ClassifyProblem, best: dict[str, Any], trainer: Any, member: Any
) -> tuple[tuple[float, float], dict[str, Any], str]:
    """The shares, weighed by the winning trial's cross-entropy where it is one
    (:func:`~lstmtune.classify_combine.network_evidence`) — on a small set by the record of
    k-fold of the published training instead (:func:`stacking_record`)."""
    oof = (best.get("extra") or {}).get("oof_log_loss")
    evidence = network_evidence(cfg, problem, best)
    if evidence is not None:  # any tuning backend; a small set only
        oof, evidence = stacking_record(problem, trainer, oof, evidence, member)
    return rocket_shares(member, problem, evidence, oof)


def stacking_record(
    problem: ClassifyProblem,
    trainer: Any,
    oof: list[float] | None,
    evidence: tuple[float, int, str],
    member: RocketMember | None = None,
) -> tuple[list[float] | None, tuple[float, int, str]]:
    """The networks' stacking record on a small set: k-fold of the published training
    (:mod:`lstmtune.classify_record`) in place of the winning trial's own (Katib's too, which
    keeps none); elsewhere, where MiniRocket's record (``member``) is perfect, or when it fails
    or is not finite, the trial's, with a line saying why."""
    from lstmtune.classify_record import RECORD_BY
    from lstmtune.classify_record import published_record as kfold_record
    from lstmtune.crossval import small_set

    if not small_set(problem):
        return oof, evidence
    losses = member.losses if member is not None else []
    right = member is not None and member.fit.get("loo_accuracy") == 1.0
    perfect = bool(losses) and (right or sum(losses) / len(losses) < PERFECT_CE)
    if perfect and aligned(oof, losses, len(problem.tensors("val"))) is not None:
        emit(
            "info",
            "k-fold of the published training skipped: MiniRocket's leave-one-out record"
            f" classifies all {len(losses)} sequences right; the winning trial's record"
            " stands for the networks",
        )
        return oof, evidence
    started = time.perf_counter()
    try:
        record = kfold_record(
            problem,
            trainer.params,
            trainer.epochs,
            seed=trainer.seed,
            device=trainer.device,
            grad_clip=trainer.cfg.train.grad_clip,
            amp=trainer.cfg.train.amp,
            parallel=trainer.parallel,
        )
    except Exception as exc:  # the trial's record is still evidence
        emit("warning", f"warning: k-fold of the published training failed: {exc!r}")
        return oof, evidence
    if record is None or not all(math.isfinite(v) for v in record):
        emit("warning", "warning: k-fold of the published training gave no finite record")
        return oof, evidence
    mean = sum(record) / len(record)
    emit(
        "info",
        f"k-fold of the published training (for the shares): cross-entropy {mean:.4g} of"
        f" {len(record)} held-out sequences in {time.perf_counter() - started:.0f} s",
    )
    return record, (mean, len(record), RECORD_BY)

"""The default search space of sequence classification and its preferred configuration.

Data-aware like the forecast defaults (:func:`lstmtune.search_space.default_space` calls these):

* ``seq_norm`` (per-sequence z-normalisation): searched, preferred on for a univariate set (UCR
  practice), off for a multivariate one (per-channel scaling with train statistics only);
* ``conv: fcn``: LSTM-FCN / MLSTM-FCN, a fully convolutional branch beside the LSTM (the
  ``inception`` block and the plain ``none`` are reachable through ``tune.search_space``);
* ``patch``: long sequences are read by the LSTM in patches so it sees at most about 64 steps
  (two choices: that, and patches twice as long); sequences of up to 64 steps are read step by
  step;
* training for small data: learning rates 1e-4 .. 1e-2, Adam / AdamW, batches of 8-32 (capped
  by the training set), augmentation, label smoothing and balanced class weights as choices.
"""

from __future__ import annotations

import math
from typing import Any

Spec = dict[str, Any]

LSTM_STEPS = 64  # patches are chosen so the LSTM reads at most about this many steps
CV_MAX_SEQUENCES = 300  # a small set: fewer sequences in train+val (judged by k-fold) ...
CV_MAX_CELLS = 20_000  # ... and sequences x longest length within this (k-fold's cost)
# the trials' upper bound on epochs (they stop early long before); on a small set the final
# retrain runs up to SMALL_SET_EPOCHS (lstmtune.crossval.final_epochs: at least 1600 optimizer
# steps, 4 or more per epoch)
MAX_EPOCHS = 200
SMALL_SET_EPOCHS = 400
# a larger set (the default budget: 200 sequences x 500 steps in 5 minutes on 2 CPU cores):
TRIAL_CELLS = 5_000_000  # a trial's epochs x training sequences x longest length at most this
MIN_EPOCHS = 20  # ... but at least this many epochs
TUNE_SECONDS = 120.0  # no new trial starts after this many seconds unless tune.timeout is set
CLASSIFY_PARAMS = (
    "seq_norm",
    "conv",
    "conv_filters",
    "patch",
    "augment",
    "label_smoothing",
    "class_weight",
)
CLASS_WEIGHTS = ("none", "balanced")
CONVS = ("none", "fcn", "inception")  # lstmtune.conv
AUGMENTS = ("none", "jitter", "scaling", "slice", "warp")  # lstmtune.augment


def _cat(*choices: Any) -> Spec:
    return {"type": "categorical", "choices": list(choices)}


def _fixed(value: Any) -> Spec:
    return {"type": "fixed", "value": value}


def univariate(meta: dict[str, Any]) -> bool:
    return len(meta.get("columns", {}).get("features", [])) == 1


def small_classify_set(n_sequences: int, longest: int) -> bool:
    """A set judged by k-fold cross-validation (:mod:`lstmtune.crossval`), retrained for at least
    a floor of optimizer steps and published as an ensemble: fewer than :data:`CV_MAX_SEQUENCES`
    sequences in train+val and at most :data:`CV_MAX_CELLS` sequences x longest length."""
    return n_sequences < CV_MAX_SEQUENCES and n_sequences * longest <= CV_MAX_CELLS


def _sizes(meta: dict[str, Any]) -> tuple[int, int, int]:
    """Training sequences, train+val sequences and the longest length of a prepared set."""
    splits = meta.get("splits", {})
    n_train = int(splits.get("train", {}).get("sequences", 0))
    n_fit = n_train + int(splits.get("val", {}).get("sequences", 0))
    return n_train, n_fit, int(meta.get("max_sequence_length", 1))


def epoch_bound(meta: dict[str, Any]) -> int:
    """The trials' upper bound on epochs: :data:`SMALL_SET_EPOCHS` on a small set (its retrain's
    step floor needs them; trials stop early long before), else :data:`MAX_EPOCHS` or as many as
    keep a trial within :data:`TRIAL_CELLS` (at least :data:`MIN_EPOCHS`)."""
    n_train, n_fit, longest = _sizes(meta)
    if small_classify_set(n_fit, longest):
        return SMALL_SET_EPOCHS
    return max(MIN_EPOCHS, min(MAX_EPOCHS, TRIAL_CELLS // max(1, n_train * longest)))


def default_tuning_seconds(meta: dict[str, Any]) -> float | None:
    """The tuning time budget when ``tune.timeout`` is not set: :data:`TUNE_SECONDS` for every
    classification set, else None (the number of trials decides). A set too large for k-fold
    pays seconds per epoch on a CPU; a small one pays five trainings per trial (ArrowHead's 30
    default trials took 212 s of tuning, JapaneseVowels' 483 s, where 120 s gave the same test
    accuracy)."""
    return TUNE_SECONDS if meta.get("task") == "classify" else None


def budget_reason(meta: dict[str, Any]) -> str:
    """Why a classification set's tuning has a time budget, for the run's progress line."""
    _, n_fit, longest = _sizes(meta)
    if small_classify_set(n_fit, longest):
        return "a small set: each trial is five k-fold trainings"
    return "a set too large for k-fold"


def patch_choices(longest: int) -> list[int]:
    """``[1]`` up to :data:`LSTM_STEPS` steps, else the power of two that brings the longest
    sequence to at most :data:`LSTM_STEPS` patches, and twice that."""
    if longest <= LSTM_STEPS:
        return [1]
    base = 2 ** math.ceil(math.log2(longest / LSTM_STEPS))
    return [base, 2 * base]


def classify_space(meta: dict[str, Any]) -> dict[str, Spec]:
    """The classification entries of the default space (over the common ones)."""
    patches = patch_choices(int(meta.get("max_sequence_length", 1)))
    uni = univariate(meta)
    return {
        "units": _cat(16, 32, 64),
        "num_layers": _fixed(1),
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "step": None, "log": True},
        "batch_size": _cat(8, 16, 32),
        "optimizer": _cat("adam", "adamw"),
        "epochs": _fixed(epoch_bound(meta)),
        "head": _cat("last", "attention"),
        "seq_norm": _cat(True, False) if uni else _cat(False, True),
        "conv": _fixed("fcn"),
        "conv_filters": _cat(32, 64),
        "patch": _cat(*patches) if len(patches) > 1 else _fixed(patches[0]),
        "augment": _cat(*AUGMENTS),
        "label_smoothing": _cat(0.0, 0.1),
        "class_weight": _cat(*CLASS_WEIGHTS),
    }


def classify_preferred(meta: dict[str, Any]) -> dict[str, Any]:
    """lstmtune's default classification configuration (see
    :func:`lstmtune.search_space.default_configuration`): LSTM-FCN with 32 filters, Adam at 1e-3,
    z-normalised sequences when univariate, the shorter patches, no augmentation."""
    return {
        "learning_rate": 1e-3,
        "batch_size": 16,
        "head": "last",
        "seq_norm": univariate(meta),
        "conv": "fcn",
        "conv_filters": 32,
        "patch": patch_choices(int(meta.get("max_sequence_length", 1)))[0],
        "augment": "none",
        "label_smoothing": 0.0,
        "class_weight": "none",
    }

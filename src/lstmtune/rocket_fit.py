"""Fitting the MiniRocket member of the published classifier (:class:`lstmtune.rocket.RocketNet`).

aeon fits MiniRocket's parameters (dilations, channel combinations, biases from quantiles of
training convolutions); the features are :func:`lstmtune.rocket.ppv_features`' (so fitting and
prediction compute them the same way); scikit-learn's ``RidgeClassifierCV`` (alphas 1e-3..1e3,
features scaled by their standard deviation, as aeon's ``MiniRocketClassifier``) reads them.

Ridge scores are not probabilities. Averaged with a network's probabilities they need a scale:
the temperature ``k`` of ``softmax(k * scores)`` is the one with the lowest leave-one-out
cross-entropy of the ridge fit (its exact LOO predictions, free for ridge). Measured on the
development sets (a 5-network ensemble of lstmtune's default configuration; test accuracy
network / MiniRocket / equal-weight average): ArrowHead 0.783 / 0.857 / 0.857, OSULeaf 0.690 /
0.959 / 0.963, Chinatown 0.909 / 0.909 / 0.909; with the raw scores (``k = 1``) the average was
0.863 on ArrowHead but 0.897 on OSULeaf, with ``k = 5`` 0.834 and 0.963 - the scale matters, and
the LOO one chose 2.5 and 4.0.

A leave-one-out record of ``n`` sequences supports no certainty: right on all ``n`` (Chinatown-like
sets of 20 often are), the lowest plain cross-entropy is at the largest temperature and every
served probability was 0 or 1 (a misclassified test sequence got 1e-45). So both the choice and
the served probabilities carry Laplace's rule of succession (a Dirichlet(1) prior: one
pseudo-case of each of the ``K`` classes beside the ``n``), :func:`laplace_share` ``= K / (n +
K)`` of the probability spread evenly: the temperature minimises the cross-entropy against
targets smoothed by that share (finite when the record is perfect: the targets' true class is
``(n + 1) / (n + K)``), and the member serves ``(1 - share) * softmax + share / K``, so every
probability lies in ``[1 / (n + K), (n + 1) / (n + K)]`` (:class:`lstmtune.rocket.RocketNet`'s
``floor``). Neither changes which class MiniRocket ranks first. The leave-one-out record handed
to the stacking is of ``softmax`` at that temperature: the stacking reads every record, the
networks' too, at the same bound (:func:`lstmtune.classify_stack.record_floor`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from lstmtune.rocket import RocketNet, zero_pad

ALPHAS = np.logspace(-3, 3, 10)
TEMPERATURES = np.exp(np.linspace(np.log(0.1), np.log(100.0), 61))
MIN_LENGTH = 9  # MiniRocket's kernels span 9 steps


def _parameters(padded: np.ndarray, seed: int) -> dict[str, Any]:
    """aeon's MiniRocket fitted on ``[N, C, T]``: the transform's parameters as JSON values."""
    from aeon.transformations.collection.convolution_based import MiniRocket  # type: ignore[import-untyped,import-not-found,unused-ignore]

    per_comb, channels, dilations, per_dilation, biases = (
        MiniRocket(random_state=seed, n_jobs=1).fit(padded.astype(np.float32)).parameters
    )
    spec = {
        "dilations": [int(d) for d in dilations],
        "features_per_dilation": [int(n) for n in per_dilation],
        "channels_per_combination": [int(n) for n in per_comb],
        "channel_indices": [int(c) for c in channels],
        "length": int(padded.shape[2]),
        "n_channels": int(padded.shape[1]),
        "seed": int(seed),
    }
    return {"spec": spec, "biases": np.asarray(biases, dtype=np.float32)}


def _scores(decision: np.ndarray) -> np.ndarray:
    """``[N, classes]`` scores from a ridge decision (binary: one column ``d`` -> ``[-d, d]``)."""
    return np.stack([-decision, decision], axis=1) if decision.ndim == 1 else decision


def laplace_share(n: int, classes: int) -> float:
    """``K / (n + K)``: the share of probability that ``n`` held-out sequences of ``K`` classes
    leave to the uniform distribution by Laplace's rule of succession (a right-and-sure record of
    ``n`` supports ``(n + 1) / (n + K)`` for the true class, no more)."""
    return classes / (n + classes) if classes > 0 else 0.0


def loo_temperature(scores: np.ndarray, y: np.ndarray, share: float = 0.0) -> tuple[float, float]:
    """The temperature of :data:`TEMPERATURES` with the lowest cross-entropy of
    ``softmax(k * scores)`` against ``y``'s one-hot targets smoothed by ``share`` (``(1 - share)
    * one-hot + share / K``: a prior that keeps the temperature finite where every sequence is
    right), and the plain cross-entropy against ``y`` at that temperature."""
    best, best_objective = 1.0, float("inf")
    rows = np.arange(len(y))
    for k in TEMPERATURES:
        logp = _log_softmax(float(k) * scores)
        objective = float(-((1.0 - share) * logp[rows, y] + share * logp.mean(axis=1)).mean())
        if objective < best_objective:
            best, best_objective = float(k), objective
    return best, float(loo_log_losses(scores, y, best).mean())


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return np.asarray(z - np.log(np.exp(z).sum(axis=1, keepdims=True)), dtype=np.float64)


def loo_log_losses(scores: np.ndarray, y: np.ndarray, temperature: float) -> np.ndarray:
    """Each sequence's cross-entropy of ``softmax(temperature * scores)`` against ``y``."""
    logp = _log_softmax(temperature * scores)
    return np.asarray(-logp[np.arange(len(y)), y], dtype=np.float64)


def fit_rocket(
    x: torch.Tensor, lengths: torch.Tensor | None, y: np.ndarray, n_classes: int, *, seed: int
) -> tuple[RocketNet, dict[str, Any]]:
    """The MiniRocket member fitted on sequences ``x`` ``[N, T, C]`` (``lengths``: their valid
    steps) with labels ``y`` (0..n_classes-1); and what the evaluation reports of the fit."""
    from sklearn.linear_model import RidgeClassifierCV  # type: ignore[import-untyped,import-not-found,unused-ignore]

    started = time.perf_counter()
    length = max(MIN_LENGTH, int(x.shape[1]))
    padded = zero_pad(x.detach().cpu().float(), lengths, length)
    fitted = _parameters(padded.numpy(), seed)
    spec = {**fitted["spec"], "n_outputs": n_classes, "temperature": 1.0, "padding": "zero"}
    net = RocketNet(spec)
    net.biases.copy_(torch.from_numpy(fitted["biases"]))
    with torch.no_grad():
        feats = net.features(x.detach().cpu(), lengths).double().numpy()
    scale = feats.std(axis=0)
    scale[scale == 0] = 1.0
    ridge = RidgeClassifierCV(alphas=ALPHAS).fit(feats / scale, y)
    if len(ridge.classes_) != n_classes:
        raise ValueError(f"train+val holds {len(ridge.classes_)} of the {n_classes} classes")
    loo = RidgeClassifierCV(
        alphas=[ridge.alpha_], store_cv_results=True, scoring="neg_mean_squared_error"
    ).fit(feats / scale, y)
    loo_pred = loo.cv_results_.reshape(len(y), -1)
    loo_scores = _scores(loo_pred[:, 0] if loo_pred.shape[1] == 1 else loo_pred)
    share = laplace_share(len(y), n_classes)
    temperature, loo_ce = loo_temperature(loo_scores, y, share)
    pointwise = loo_log_losses(loo_scores, y, temperature)
    coef = np.atleast_2d(ridge.coef_) / scale
    intercept = np.atleast_1d(ridge.intercept_)
    if coef.shape[0] == 1:  # binary: one score for class 1
        coef, intercept = np.concatenate([-coef, coef]), np.concatenate([-intercept, intercept])
    net.spec["temperature"] = temperature
    net.spec["floor"] = share
    net.weight.copy_(torch.from_numpy(coef).float())
    net.bias.copy_(torch.from_numpy(intercept).float())
    report = {
        "alpha": float(ridge.alpha_),
        "temperature": round(temperature, 4),
        "floor": round(share, 6),  # the uniform share of the served probabilities
        "loo_accuracy": round(float(np.mean(loo_scores.argmax(axis=1) == y)), 4),
        "loo_log_loss": round(max(loo_ce, 0.0), 4) + 0.0,  # never -0.0
        "features": int(feats.shape[1]),
        "seconds": round(time.perf_counter() - started, 2),
        "loo_log_losses": pointwise.tolist(),  # per sequence; with_rocket takes it out
    }
    return net.eval(), report

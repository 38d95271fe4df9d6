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


def loo_temperature(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The temperature of :data:`TEMPERATURES` with the lowest cross-entropy of
    ``softmax(k * scores)`` against ``y``, and that cross-entropy."""
    best = (1.0, float("inf"))
    for k in TEMPERATURES:
        ce = float(loo_log_losses(scores, y, float(k)).mean())
        if ce < best[1]:
            best = (float(k), ce)
    return best


def loo_log_losses(scores: np.ndarray, y: np.ndarray, temperature: float) -> np.ndarray:
    """Each sequence's cross-entropy of ``softmax(temperature * scores)`` against ``y``."""
    z = temperature * scores
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
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
    temperature, loo_ce = loo_temperature(loo_scores, y)
    pointwise = loo_log_losses(loo_scores, y, temperature)
    coef = np.atleast_2d(ridge.coef_) / scale
    intercept = np.atleast_1d(ridge.intercept_)
    if coef.shape[0] == 1:  # binary: one score for class 1
        coef, intercept = np.concatenate([-coef, coef]), np.concatenate([-intercept, intercept])
    net.spec["temperature"] = temperature
    net.weight.copy_(torch.from_numpy(coef).float())
    net.bias.copy_(torch.from_numpy(intercept).float())
    report = {
        "alpha": float(ridge.alpha_),
        "temperature": round(temperature, 4),
        "loo_accuracy": round(float(np.mean(loo_scores.argmax(axis=1) == y)), 4),
        "loo_log_loss": round(max(loo_ce, 0.0), 4) + 0.0,  # never -0.0
        "features": int(feats.shape[1]),
        "seconds": round(time.perf_counter() - started, 2),
        "loo_log_losses": pointwise.tolist(),  # per sequence; with_rocket takes it out
    }
    return net.eval(), report

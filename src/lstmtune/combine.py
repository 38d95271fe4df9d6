"""Forecast combination: a convex combination of the network's forecast and a classical one.

``w * network + (1 - w) * classical``, with the classical partner (AutoARIMA or AutoETS, as a JSON
spec of :mod:`lstmtune.classical`) and the weight ``w`` chosen on the validation split: the
network trained on train, the classical model fitted on train, both forecasting the validation
origins with the true history. ``w = 1`` (the network alone) is always a candidate, so the
combination is used only when it helps on validation. The final model keeps the weight and
the partner fitted on train+val; the registered pyfunc applies it to the consumer's history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lstmtune.classical import spec_forecasts

WEIGHTS = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 21))


def _rmse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - true) ** 2)))


def choose(
    network: np.ndarray, partners: dict[str, np.ndarray], true: np.ndarray
) -> dict[str, Any]:
    """The (partner, weight) with the lowest RMSE of ``w * network + (1 - w) * partner`` on
    ``true`` (all ``[N, horizon]`` in original units). Returns ``{"partner": kind or None,
    "weight": w, "val_rmse": ..., "val_rmse_network": ..., "val_rmse_partners": {...}}``; a
    tie keeps the network alone."""
    best: dict[str, Any] = {"partner": None, "weight": 1.0, "val_rmse": _rmse(network, true)}
    out = {
        "val_rmse_network": best["val_rmse"],
        "val_rmse_partners": {k: _rmse(p, true) for k, p in partners.items()},
    }
    for kind, pred in sorted(partners.items()):
        for w in WEIGHTS[:-1]:
            value = _rmse(w * network + (1 - w) * pred, true)
            if np.isfinite(value) and value < best["val_rmse"] - 1e-12:
                best = {"partner": kind, "weight": float(w), "val_rmse": value}
    return {**best, **out}


def apply(
    combination: dict[str, Any] | None,
    network: np.ndarray,
    series: np.ndarray,
    ends: np.ndarray,
    period: int,
) -> np.ndarray:
    """The combined forecast from the origins ``ends`` of the raw target ``series`` (history
    from row 0), given the network's ``[N, horizon]`` forecast there."""
    if not combination or combination.get("partner") is None:
        return network
    w = float(combination["weight"])
    partner = spec_forecasts(combination["spec"], series, ends, network.shape[1], period)
    out: np.ndarray = w * network + (1.0 - w) * partner
    return out


def validation_combination(
    parts: dict[str, Any],
    meta: dict[str, Any],
    params: dict[str, Any],
    fit: Callable[[Any, Any], Any],
) -> dict[str, Any]:
    """Choose the combination on validation: ``fit(problem, tensors)`` trains the configuration
    on the train split (returns the model); ``meta["classical"]`` holds the train-fitted
    classical specs."""
    from lstmtune.training import ForecastProblem, make_problem

    problem = make_problem(parts, meta, params)
    assert isinstance(problem, ForecastProblem)
    model = fit(problem, problem.tensors("train"))
    val = problem.tensors("val")
    assert val.raw_y is not None
    f = problem.featurizer
    ends = problem.ends("val")
    series = problem.raw[:, f.target_index]
    partners = {
        kind: spec_forecasts(spec, series, ends, f.horizon, f.period)
        for kind, spec in (meta.get("classical") or {}).items()
    }
    return choose(problem.predict(model, val), partners, val.raw_y)

"""Forecast combination: a convex combination of the network's forecast and classical ones.

``w_net * network + w_arima * AutoARIMA + w_ets * AutoETS`` (weights >= 0 summing to 1). The
network is trained on train, the classical models are the published ones (fitted on train+val,
JSON specs of :mod:`lstmtune.classical`), all forecasting the validation origins with the true
history (see :func:`validation_choice`). The rules (``evaluate.combine_weights``):

* ``equal`` (:func:`equal_weights`): equal weights of the forecasts whose
  validation RMSE is within :data:`TRIM` times the best of them, so a forecast that failed on
  validation is left out. Estimated weights overfit a few validation points (the "forecast
  combination puzzle": Stock & Watson 2004, Smith & Wallis 2009, Claeskens et al. 2016), and the
  network's validation score is the best of many trials on those very points, so it overstates
  the network. Measured on seven public series (airline, wineind, woolyrnq, ausbeer, co2,
  sunspots, the Nile; the same runs' forecasts): test RMSE 1.027x the better of AutoARIMA and
  AutoETS on average against 1.061x with validation-chosen weights, better on all seven.
* ``validation`` (:func:`choose`): the weights on a grid of :data:`STEP` with the lowest
  validation score; the network alone is a candidate and wins ties. Many series always use it
  (one set of weights over hundreds of windows, :mod:`lstmtune.panel_combine`).
* ``auto`` (the default): ``equal`` below :data:`AUTO_ORIGINS` validation origins, else
  ``validation`` (on taylor's 605 validation half-hours validation weights scored 194.8 on test
  against 201.5 with equal ones; AutoARIMA 224.0).

The registered pyfunc applies the weights and the classical specs to the consumer's history.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from lstmtune.classical import spec_forecasts

STEP = 0.05  # measured better than or equal to 0.1 on all eight benchmark checks; 0.25 mixed
TRIM = 2.0  # equal weights: forecasts whose validation RMSE is within this many times the best
RULES = ("auto", "equal", "validation")
AUTO_ORIGINS = 200  # auto: equal weights below this many validation origins, else validation


def _rmse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - true) ** 2)))


def _grid(n: int) -> list[tuple[float, ...]]:
    """Weights for ``n`` classical partners (the network gets the rest), on the simplex."""
    ticks = [round(i * STEP, 10) for i in range(round(1 / STEP) + 1)]
    return [w for w in itertools.product(ticks, repeat=n) if sum(w) <= 1 + 1e-9]


def choose(
    network: np.ndarray,
    partners: dict[str, np.ndarray],
    true: np.ndarray,
    score: Callable[[np.ndarray, np.ndarray], float] = _rmse,
    name: str = "rmse",
) -> dict[str, Any]:
    """The convex weights of ``network`` and ``partners`` (all ``[N, horizon]`` in original units)
    with the lowest ``score`` (RMSE unless given; many series: mean MASE) on ``true``. Returns
    ``{"weights": {"network": w, kind: w, ...}, "val_<name>": ..., "val_<name>_network": ...,
    "val_<name>_partners": {...}}``; a tie keeps the network alone."""
    kinds = sorted(k for k, p in partners.items() if np.isfinite(p).all())
    best_w: tuple[float, ...] = (0.0,) * len(kinds)
    best = score(network, true)
    for w in _grid(len(kinds)):
        mix = (1 - sum(w)) * network + sum(wi * partners[k] for wi, k in zip(w, kinds, strict=True))
        value = score(mix, true)
        if np.isfinite(value) and value < best - 1e-9 * max(best, 1.0):
            best, best_w = value, w
    weights = {"network": round(1 - sum(best_w), 10), **dict(zip(kinds, best_w, strict=True))}
    return {
        "weights": {k: v for k, v in weights.items() if v > 0},
        f"val_{name}": best,
        f"val_{name}_network": score(network, true),
        f"val_{name}_partners": {k: score(p, true) for k, p in partners.items()},
    }


def equal_weights(
    network: np.ndarray,
    partners: dict[str, np.ndarray],
    true: np.ndarray,
    copy_of: str | None = None,
) -> dict[str, Any]:
    """Equal weights of ``network`` and the ``partners`` (``[N, horizon]`` in original units)
    whose validation RMSE on ``true`` is at most :data:`TRIM` times the best one's; the network
    alone when no forecast has a finite score. A network that copies a partner (``copy_of``:
    :func:`lstmtune.anchor_copy.copied_partner`) is that forecast, not another one: where both are
    kept they split one share. The same keys as :func:`choose`, ``rule``, and ``network_copies``
    where the network's share was split."""
    forecasts = {"network": network, **partners}
    scores = {k: _rmse(p, true) for k, p in forecasts.items()}
    finite = {k: v for k, v in scores.items() if np.isfinite(v)}
    best = min(finite.values(), default=None)
    kept = sorted(k for k, v in finite.items() if best is not None and v <= TRIM * best)
    kept = kept or ["network"]
    shared = copy_of if copy_of in kept and "network" in kept else None
    distinct = [k for k in kept if k != "network"] if shared else kept
    weights = {k: 1.0 / len(distinct) for k in distinct}
    if shared:
        weights[shared] = weights["network"] = weights[shared] / 2
    mix = sum(w * forecasts[k] for k, w in weights.items())
    return {
        "weights": weights,
        "rule": "equal",
        "val_rmse": _rmse(np.asarray(mix), true),
        "val_rmse_network": scores["network"],
        "val_rmse_partners": {k: scores[k] for k in partners},
        **({"network_copies": shared} if shared else {}),
    }


def resolved_rule(rule: str, n_origins: int) -> str:
    """``equal`` or ``validation``: ``auto`` is equal weights below :data:`AUTO_ORIGINS`
    validation origins (weights estimated there chase noise) and weights chosen on validation
    from there on (enough points to estimate them, as for many series)."""
    if rule not in RULES:
        raise ValueError(f"combine_weights must be one of {RULES}, got {rule!r}")
    if rule == "auto":
        return "equal" if n_origins < AUTO_ORIGINS else "validation"
    return rule


def is_mix(combination: dict[str, Any] | None) -> bool:
    return bool(combination) and set(combination["weights"]) != {"network"}  # type: ignore[index]


PARTNER_NAMES = {
    "network": "network",
    "arima": "AutoARIMA",
    "ets": "AutoETS",
    "minirocket": "MiniRocket",
}


def weights_text(
    weights: dict[str, float], on_log: tuple[str, ...] = (), refitted: dict[str, str] | None = None
) -> str:
    """``0.85 x network + 0.15 x AutoARIMA``: the network first, then the partners by name
    (``on_log``: the partners fitted on log values, named so; ``refitted``: the partners whose
    model differs from the baseline's, by their model, :mod:`lstmtune.classical_ets_fit`)."""
    order = sorted(weights, key=lambda k: (k != "network", k))
    refitted = refitted or {}
    names = {
        k: PARTNER_NAMES.get(k, k)
        + (" on log values" if k in on_log else "")
        + (f" refitted as {refitted[k]}" if k in refitted else "")
        for k in order
    }
    return " + ".join(f"{float(weights[k]):g} x {names[k]}" for k in order)


def parts_text(parts: dict[str, dict[str, float]], metric: str, combination: dict[str, Any]) -> str:
    """``on test, each part alone (rmse): network 21.4, AutoARIMA (log) 65.8, AutoETS (refitted)
    32``: the test figures of :func:`part_forecasts`, for the record (nothing is chosen on them).
    A partner that is not the baseline's model says how (``combination``'s ``partners_on_log``
    and ``partners_refitted``); a network without weight in the mix says so."""
    on_log = set(combination.get("partners_on_log") or ())
    refitted = set(combination.get("partners_refitted") or {})
    names = {
        k: PARTNER_NAMES.get(k, k)
        + (" (log)" if k in on_log else "")
        + (" (refitted)" if k in refitted else "")
        for k in parts
    }
    if not float(combination["weights"].get("network", 0.0)):
        names["network"] = "network (not in the mix)"
    order = sorted(parts, key=lambda k: (k != "network", k))
    figures = ", ".join(f"{names[k]} {parts[k][metric]:.4g}" for k in order)
    return f"on test, each part alone ({metric}): {figures}"


def describe(
    combination: dict[str, Any] | None,
    members: int | None = None,
    parts: dict[str, dict[str, float]] | None = None,
    metric: str = "rmse",
) -> str | None:
    """One line saying what the published forecast is when it is a mix or an average of several
    configurations (``members``; None for one network alone), and plainly so when the network
    got no weight; with ``parts`` (summary.json's ``combination_test``) also each part's test
    ``metric`` alone. A classifier's combination carries its own line (``description``)."""
    if combination and combination.get("description"):
        return str(combination["description"])
    average = (
        f"the average of the {members} best trials' configurations, each retrained"
        if members and members > 1
        else None
    )
    if not is_mix(combination):
        return None if average is None else f"published forecast: the network is {average}"
    assert combination is not None
    weights = combination["weights"]
    how = (
        f"equal weights of the forecasts within {TRIM:g}x the best validation RMSE"
        if combination.get("rule") == "equal"
        else "weights chosen on validation"
    )
    if combination.get("network_copies"):
        copied = PARTNER_NAMES.get(combination["network_copies"], combination["network_copies"])
        how += f"; the network barely corrects its {copied} anchor, so the two share one weight"
    on_log = tuple(combination.get("partners_on_log") or ())
    refitted = dict(combination.get("partners_refitted") or {})
    line = f"published forecast: {weights_text(weights, on_log, refitted)} ({how})"
    if combination.get("network_check") == "failed":
        line += (
            "; the network's retrain failed its check (it fits the validation rows it was"
            " trained on far worse than its trial forecast them): the forecast is the"
            " classical models' alone"
        )
    elif not float(weights.get("network", 0.0)):
        line += "; the network got no weight: the forecast is the classical models' alone"
    elif average is not None:
        line += f"; the network is {average}"
    if parts and all(metric in v for v in parts.values()):
        line += f"; {parts_text(parts, metric, combination)}"
    return line


def describe_summary(summary: dict[str, Any]) -> str | None:
    """:func:`describe` of a run summary (summary.json): its combination, members, parts on test
    and primary metric."""
    return describe(
        summary.get("combination"),
        summary.get("members"),
        summary.get("combination_test"),
        str(summary.get("primary_metric") or "rmse"),
    )


def apply(
    combination: dict[str, Any] | None,
    network: np.ndarray,
    series: np.ndarray,
    ends: np.ndarray,
    period: int,
) -> np.ndarray:
    """The combined forecast from the origins ``ends`` of the raw target ``series`` (history
    from row 0), given the network's ``[N, horizon]`` forecast there. ``combination["specs"]``
    holds the classical partners' JSON specs."""
    if not is_mix(combination):
        return network
    assert combination is not None
    parts = part_forecasts(combination, network, series, ends, period)
    w_net = float(combination["weights"].get("network", 0.0))
    out: np.ndarray = w_net * network if w_net else np.zeros_like(network)  # 0 x NaN is NaN
    for kind, w in combination["weights"].items():
        if kind != "network":
            out = out + float(w) * parts[kind]
    return out


def part_forecasts(
    combination: dict[str, Any],
    network: np.ndarray,
    series: np.ndarray,
    ends: np.ndarray,
    period: int,
) -> dict[str, np.ndarray]:
    """Each part of the mix :func:`apply` makes, alone: the network's forecast and each weighted
    partner's (``combination["specs"]``) from the origins ``ends`` of ``series``."""
    out = {"network": network}
    for kind in combination["weights"]:
        if kind != "network":
            spec = combination["specs"][kind]
            out[kind] = spec_forecasts(spec, series, ends, network.shape[1], period)
    return out


def without_network(combination: dict[str, Any]) -> dict[str, Any] | None:
    """The combination without the network (its retrain failed :mod:`lstmtune.final_check`):
    its weight handed to the classical partners in proportion, marked ``network_check:
    failed``, the mix's validation score dropped (it scored the network too); None when no
    partner had weight (none passed the rule)."""
    partners = {k: float(w) for k, w in combination["weights"].items() if k != "network"}
    total = sum(partners.values())
    if total <= 0:
        return None
    weights = {k: w / total for k, w in partners.items()}
    dropped = ("weights", "val_rmse", "network_copies")  # the mix scored, and shared, the network
    kept = {k: v for k, v in combination.items() if k not in dropped}
    return {**kept, "weights": weights, "network_check": "failed"}


def validation_choice(
    problem: Any,
    network: np.ndarray,
    partner_specs: dict[str, dict[str, Any]],
    rule: str = "auto",
    copy_of: str | None = None,
) -> dict[str, Any]:
    """Choose the combination by ``rule`` (:data:`RULES`, :func:`resolved_rule`) on
    validation: ``network`` is the networks' validation forecast (trained on the train split
    with the tuning-time anchors; ``[N, horizon]`` in original units) and ``problem`` a
    :class:`~lstmtune.training.ForecastProblem` of the run. The classical partners forecast the
    validation origins from ``partner_specs``: the models fitted on train+val that the final
    forecast will use (their in-sample one-step forecasts are slightly optimistic, which
    offsets the tuned network's validation score being the best of many trials on the same
    points; measured better or equal on all four benchmark series than partners fitted on
    train only). ``copy_of``: the partner the network copies, for ``equal`` weights."""
    val = problem.tensors("val")
    assert val.raw_y is not None
    f = problem.featurizer
    ends = problem.ends("val")
    series = problem.raw[:, f.target_index]
    partners = {
        kind: spec_forecasts(spec, series, ends, f.horizon, f.period)
        for kind, spec in partner_specs.items()
    }
    logs = {
        "partners_on_log": sorted(k for k, v in partner_specs.items() if v.get("log")),
        "partners_refitted": {k: v["method"] for k, v in partner_specs.items() if v.get("refit")},
    }
    if resolved_rule(rule, len(ends)) == "equal":
        return {**equal_weights(network, partners, val.raw_y, copy_of), **logs}
    return {**choose(network, partners, val.raw_y), "rule": "validation", **logs}

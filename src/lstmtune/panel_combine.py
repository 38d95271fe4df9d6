"""Forecast combination for many series: one convex combination of the network and per-series
AutoARIMA / AutoETS for the whole panel.

Each series gets its own classical models, fitted on its train+val part (JSON specs of
:mod:`lstmtune.classical`, as the single-series combination publishes them); the weights
(network, AutoARIMA, AutoETS on the simplex grid of :mod:`lstmtune.combine`) are shared by all
series and chosen on the validation windows of every series by the mean over series of MASE,
with the network trained on train. One set of weights for hundreds of windows is far less
noisy than per-series weights from a few validation points. A kind that cannot be fitted on
some series is left out for the whole panel (the reason names the series).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from lstmtune.classical import CONSTANT, KINDS, RANDOM_WALK, fit_specs, spec_forecasts
from lstmtune.combine import choose, is_mix
from lstmtune.panel_problem import PanelForecastProblem, PanelTensorSet, mean_mase

Specs = dict[str, dict[str, Any]]  # kind -> the JSON spec of one series' fitted model


def member_specs(
    problem: PanelForecastProblem, meta: dict[str, Any]
) -> tuple[list[Specs], dict[str, str]]:
    """Every series' AutoARIMA/AutoETS specs fitted on its train+val, with only the kinds that
    could be fitted on all series; and ``{kind: reason}`` for the kinds left out."""
    fitted: list[Specs] = []
    failures: dict[str, str] = {}
    members = meta["panel"]["members"]
    for sid, m in zip(problem.series_ids, problem.members, strict=True):
        f = m.featurizer
        fit_end = int(members[sid]["meta"]["splits"]["test"]["start"])
        specs, failed = fit_specs(m.raw[:, f.target_index], fit_end, f.period)
        for kind, reason in failed.items():
            if reason.endswith(CONSTANT):  # its forecast is its value, whatever the model
                specs[kind] = dict(RANDOM_WALK)
            else:
                failures.setdefault(kind, f"series {sid!r}: {reason}")
        fitted.append(specs)
    kinds = [k for k in KINDS if k not in failures]
    return [{k: s[k] for k in kinds} for s in fitted], failures


def calibration_specs(
    problem: PanelForecastProblem, meta: dict[str, Any], published: list[Specs]
) -> list[Specs]:
    """Each series' published partners refitted on its train part only, so that their forecasts
    of the validation windows are out of sample like the network's (the interval calibration);
    a kind that cannot be fitted there keeps its train+val spec."""
    kinds = tuple(published[0]) if published else ()
    members = meta["panel"]["members"]
    out: list[Specs] = []
    for sid, m, pub in zip(problem.series_ids, problem.members, published, strict=True):
        f = m.featurizer
        fit_end = int(members[sid]["meta"]["splits"]["val"]["start"])
        specs, _ = fit_specs(m.raw[:, f.target_index], fit_end, f.period, kinds)
        out.append({k: specs.get(k, pub[k]) for k in kinds})
    return out


def partner_forecasts(
    problem: PanelForecastProblem, specs: list[Specs], split: str
) -> dict[str, np.ndarray]:
    """``{kind: [N, horizon]}``: each kind's forecasts of ``split``'s windows of every series, in
    the panel's stacked order (:meth:`PanelForecastProblem.tensors`)."""
    kinds = list(specs[0]) if specs else []
    out = {}
    for kind in kinds:
        parts = []
        for s, m in zip(specs, problem.members, strict=True):
            f = m.featurizer
            y = m.raw[:, f.target_index]
            parts.append(spec_forecasts(s[kind], y, m.ends(split), f.horizon, f.period))
        out[kind] = np.concatenate(parts)
    return out


def mix(weights: dict[str, float], network: np.ndarray, partners: dict[str, Any]) -> np.ndarray:
    """``sum w_k * forecast_k``; a partner missing here (not fitted on a series the model never
    saw) hands its weight to the network."""
    w_net = float(weights.get("network", 0.0))
    out = np.zeros_like(network, dtype=np.float64)
    for kind, w in weights.items():
        if kind == "network":
            continue
        if kind in partners:
            out = out + float(w) * partners[kind]
        else:
            w_net += float(w)
    return out + w_net * network


def choose_panel(
    problem: PanelForecastProblem, val: PanelTensorSet, val_pred: np.ndarray, specs: list[Specs]
) -> dict[str, Any]:
    """The shared weights with the lowest mean validation MASE over series (a tie keeps the
    network alone); ``specs`` joins the result when a partner is used."""
    assert val.raw_y is not None and val.series is not None
    series = val.series

    def score(pred: np.ndarray, true: np.ndarray) -> float:
        return mean_mase(pred, true, series, problem.scales)

    partners = partner_forecasts(problem, specs, "val")
    combination = choose(val_pred, partners, val.raw_y, score, "mase")
    if is_mix(combination):
        used = [k for k in combination["weights"] if k != "network"]
        combination["specs"] = [{k: s[k] for k in used} for s in specs]
    return combination


def history_partners(
    specs: Specs | None, weights: dict[str, float], y: np.ndarray, ends: np.ndarray, f: Any
) -> dict[str, np.ndarray]:
    """The partners' forecasts for one served series: its own specs when the model saw it, else
    models fitted now on the history sent (a kind that cannot be fitted is left out)."""
    kinds = tuple(k for k in weights if k != "network")
    if specs is None:
        try:
            specs, _ = fit_specs(y, len(y), int(f.period), kinds)
        except ImportError:  # served without statsforecast: the network takes their weight
            warnings.warn(
                "statsforecast is not installed: a new series is forecast by the network alone",
                stacklevel=2,
            )
            return {}
    return {
        k: spec_forecasts(specs[k], y, ends, int(f.horizon), int(f.period))
        for k in kinds
        if k in specs
    }

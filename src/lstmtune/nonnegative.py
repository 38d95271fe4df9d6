"""Forecasts of a series that is never negative stay at or above zero (``evaluate.nonnegative``).

The decision is made once in training (:func:`decide`): ``true`` always clips, ``false`` never,
``auto`` clips a series whose target has no negative value in train+val (counts, sales,
production). It is stored in ``spec.json`` (``nonnegative``; per series for a panel, with the
panel's rule for a series it never saw: :func:`unseen`), and the evaluation and the pyfunc apply
it with the same function (:func:`clip`): the point forecasts and the interval bounds are raised
to 0 where they fall below it. The bounds are clipped after they are built around the forecast as
calibrated, so an interval holds a non-negative outcome exactly when it did before (coverage
unchanged on such outcomes) and is narrower where it reached below zero. A model saved without
the key (before 2026-12-04) serves as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

KEY = "nonnegative"  # spec.json, evaluation.json and summary.json
REASON = "no negative value in train+val"


def rule_name(rule: str | bool) -> str:
    """``auto``, ``true`` or ``false``: the config value as written in YAML."""
    return str(rule).lower()


def applies(rule: str | bool, target: np.ndarray) -> bool:
    """Whether forecasts of a series with the train+val ``target`` are clipped at 0 under
    ``rule`` (NaNs, values ``data.missing`` leaves open, are not counted)."""
    if isinstance(rule, bool):
        return rule
    if rule != "auto":
        raise ValueError(f"evaluate.nonnegative must be auto, true or false, got {rule!r}")
    values = np.asarray(target, dtype=np.float64)
    return not bool((values[np.isfinite(values)] < 0).any())


def decide(rule: str | bool, target: np.ndarray) -> dict[str, Any]:
    """The spec entry of one series: ``{"rule": "auto", "clip": true}``."""
    return {"rule": rule_name(rule), "clip": applies(rule, target)}


def clip(values: np.ndarray, decision: dict[str, Any] | None) -> np.ndarray:
    """``values`` raised to 0 where ``decision`` clips (unchanged without one: a model saved
    before the key); the one function the evaluation and the pyfunc share."""
    if not decision or not decision.get("clip"):
        return values
    return np.maximum(np.asarray(values, dtype=np.float64), 0.0)


def clip_bounds(
    bands: dict[str, tuple[np.ndarray, np.ndarray]], decision: dict[str, Any] | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every level's ``(lo, hi)`` passed through :func:`clip`."""
    return {name: (clip(lo, decision), clip(hi, decision)) for name, (lo, hi) in bands.items()}


def clip_frame(out: pd.DataFrame, decision: dict[str, Any] | None) -> pd.DataFrame:
    """The pyfunc's answer with its ``step_*`` columns (forecasts and interval bounds) passed
    through :func:`clip`; other columns (a panel's series id) untouched."""
    if not decision or not decision.get("clip"):
        return out
    out = out.copy()
    for column in out.columns:
        if str(column).startswith("step_"):
            out[column] = clip(out[column].to_numpy(dtype=np.float64), decision)
    return out


def panel_decisions(rule: str | bool, targets: dict[str, np.ndarray]) -> dict[str, Any]:
    """A panel's ``{"rule", "series": {id: decision}, "unseen": clip}`` from every series'
    train+val target: each series by its own values (:func:`decide`, stored in its spec entry);
    a series the model never saw by the whole panel's (:func:`unseen`)."""
    series = {sid: decide(rule, target) for sid, target in targets.items()}
    unseen_clip = all(d["clip"] for d in series.values())
    return {"rule": rule_name(rule), "series": series, "unseen": unseen_clip}


def unseen(panel: dict[str, Any], history: np.ndarray) -> dict[str, Any] | None:
    """The decision for a series the panel model never saw: the panel's rule (``auto``: clipped
    when no series of the panel had a negative value in train+val and the history sent has
    none either)."""
    entry = panel.get(KEY)
    if not entry:
        return None
    rule = entry["rule"]
    if rule != "auto":
        return {"rule": rule, "clip": rule == "true"}
    return {"rule": rule, "clip": bool(entry["unseen"]) and applies("auto", history)}


def describe(record: dict[str, Any] | None) -> str | None:
    """One line for the summary and the report when forecasts are clipped at 0 (None when
    nothing is): what is clipped and why."""
    if not record:
        return None
    why = f"evaluate.nonnegative: {record['rule']}"
    if "series" in record:  # a panel
        clipped = sum(bool(v) for v in record["series"].values())
        if not clipped:
            return None
        total = len(record["series"])
        which = f"all {total} series" if clipped == total else f"{clipped} of {total} series"
        reason = f"; {'they have' if clipped > 1 else 'it has'} {REASON}"
        return (
            f"forecasts and interval bounds of {which} kept at or above zero ({why}"
            f"{reason if record['rule'] == 'auto' else ''})"
        )
    if not record.get("clip"):
        return None
    reason = f"; {REASON}" if record["rule"] == "auto" else ""
    return f"forecasts and interval bounds kept at or above zero ({why}{reason})"

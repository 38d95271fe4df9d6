"""The search space, declared once and rendered for each tuning backend.

A *resolved* space is a JSON-able ``{name: spec}`` mapping where ``spec`` is one of::

    {"type": "int",   "low": 1, "high": 3, "step": 1, "log": false}
    {"type": "float", "low": 1e-4, "high": 1e-2, "step": null, "log": true}
    {"type": "categorical", "choices": [16, 32, 64]}
    {"type": "fixed", "value": 80}

It is computed by :func:`resolve_search_space` in the prepare step (user declaration on top
of data-aware per-task defaults), stored in the dataset metadata, and rendered to Optuna by
:func:`suggest` / :func:`grid_space` (and to Katib by the Katib backend).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from lstmtune import classify_space as _classify
from lstmtune.config import ParamSpec, RunConfig
from lstmtune.errors import UserError
from lstmtune.features import anchor_fits
from lstmtune.forecast_space import (
    check_declared_anchors,
    fit_default_lookbacks,
    fit_default_patch,
    forecast_space,
    lookback_range,
)
from lstmtune.search_conditions import WHEN_RE as WHEN_RE
from lstmtune.search_conditions import Params as Params
from lstmtune.search_conditions import Spec as Spec
from lstmtune.search_conditions import (
    condition_holds,
    inactive_value,
    is_number,
    parse_when,
)
from lstmtune.search_conditions import is_conditional as is_conditional

COMMON_PARAMS = (
    "units",
    "num_layers",
    "dropout",
    "recurrent_dropout",
    "bidirectional",
    "learning_rate",
    "batch_size",
    "optimizer",
    "weight_decay",
    "epochs",
    "cell",
    "head",
)
CELLS = ("lstm", "gru")
HEADS = ("last", "mean", "attention")
FORECAST_PARAMS = ("lookback", "transform", "anchor", "window_norm", "patch")
TEXT_PARAMS = ("embedding_dim",)
PANEL_PARAMS = ("series_embedding_dim",)  # many series (data.series_column) only
# classification: seq_norm, conv, conv_filters, patch, augment, label_smoothing, class_weight
CLASSIFY_PARAMS = _classify.CLASSIFY_PARAMS
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
TRANSFORMS = ("none", "log")
ANCHORS = ("none", "last", "seasonal", "seasonal_trend", "arima", "ets")
GRID_POINTS = 3  # a continuous range without a step becomes this many grid points


def _cat(*choices: Any) -> Spec:
    return {"type": "categorical", "choices": list(choices)}


def _num(
    kind: str, low: float, high: float, *, step: float | None = None, log: bool = False
) -> Spec:
    return {"type": kind, "low": low, "high": high, "step": step, "log": log}


def _fixed(value: Any) -> Spec:
    return {"type": "fixed", "value": value}


def default_space(task: str, meta: dict[str, Any] | None = None) -> dict[str, Spec]:
    """Per-task defaults that reflect common practice for small recurrent models.

    Forecasting and classification defaults are data-aware (:mod:`lstmtune.forecast_space`,
    :mod:`lstmtune.classify_space`).
    """
    space: dict[str, Spec] = {
        "units": _cat(16, 32, 64, 128),
        "num_layers": _num("int", 1, 2, step=1),
        "dropout": _num("float", 0.0, 0.3),
        "recurrent_dropout": _num("float", 0.0, 0.3),
        "bidirectional": _cat(False, True),
        "learning_rate": _num("float", 3e-4, 3e-2, log=True),
        "batch_size": _cat(16, 32, 64),
        "optimizer": _cat("adam", "adamw", "rmsprop", "sgd"),
        "weight_decay": _num("float", 1e-7, 1e-2, log=True),
        "epochs": _fixed(100),
        "cell": _fixed("lstm"),
        "head": _fixed("last"),
    }
    if task == "text":
        space["embedding_dim"] = _cat(32, 64, 128)
        space["units"] = _cat(32, 64, 128)
        space["batch_size"] = _cat(32, 64)
        space["epochs"] = _fixed(30)
    if task == "classify":
        space.update(_classify.classify_space(meta or {}))
    if task == "forecast":
        space.update(forecast_space(meta or {}))
    return space


def _entry_to_spec(name: str, entry: Any) -> Spec:
    if isinstance(entry, ParamSpec):
        return entry.model_dump()
    if isinstance(entry, dict):
        return ParamSpec.model_validate(entry).model_dump()
    if isinstance(entry, list):
        if not entry:
            raise UserError(f"tune.search_space.{name}: an empty list of choices")
        return _cat(*entry)
    return _fixed(entry)


def _values(spec: Spec) -> list[Any] | None:
    if spec["type"] == "fixed":
        return [spec["value"]]
    if spec["type"] == "categorical":
        return list(spec["choices"])
    return None


def resolve_search_space(
    cfg: RunConfig, meta: dict[str, Any], *, min_train_windows: int
) -> dict[str, Spec]:
    """User declaration over the defaults, checked against what the data allows.

    ``min_train_windows``: the fewest training windows a forecast lookback may leave (the
    preparer's rule, passed in so that this module does not depend on the preparer)."""
    task = meta["task"]
    space = default_space(task, meta)
    known = (
        set(COMMON_PARAMS)
        | (set(FORECAST_PARAMS) if task == "forecast" else set())
        | (set(PANEL_PARAMS) if int(meta.get("n_series", 1)) > 1 else set())
        | (set(TEXT_PARAMS) if task == "text" else set())
        | (set(CLASSIFY_PARAMS) if task == "classify" else set())
    )
    for name, entry in (cfg.tune.search_space or {}).items():
        if name in PANEL_PARAMS and name not in known:
            raise UserError(
                f"tune.search_space.{name}: a per-series embedding needs many series "
                "(data.series_column)"
            )
        if name not in known:
            raise UserError(
                f"tune.search_space.{name}: unknown hyperparameter for task '{task}' (known: "
                f"{', '.join(sorted(known))})"
            )
        space[name] = _entry_to_spec(name, entry)
    if task == "forecast" and "lookback" not in (cfg.tune.search_space or {}):
        fit_default_lookbacks(space, meta, min_train_windows)  # a short series: shorter ones
    _check(space, meta, min_train_windows)  # first: the lookback values must be valid numbers
    if task == "forecast" and "anchor" not in (cfg.tune.search_space or {}):
        _fit_default_anchors(space, int(meta.get("seasonal_period", 1)))
    elif task == "forecast":
        check_declared_anchors(space, int(meta.get("seasonal_period", 1)))
    if task == "forecast" and "patch" not in (cfg.tune.search_space or {}):
        fit_default_patch(space, meta)  # for the lookbacks declared
    return space


def _fit_default_anchors(space: dict[str, Spec], period: int) -> None:
    """Drop the default anchors that no declared lookback can feed (``lookback: 12`` with a season
    of 12 leaves no room for ``seasonal_trend``), so no trial is spent on an infeasible pair."""
    spec = space["anchor"]
    if spec["type"] != "categorical":
        return
    longest = lookback_range(space["lookback"])[1]
    keep = [
        a for a in spec["choices"] if anchor_fits(a, longest, period)
    ]  # the defaults always keep "last"
    space["anchor"] = _cat(*keep) if len(keep) > 1 else _fixed(keep[0])


INT_PARAMS = {
    "units": 1,
    "num_layers": 1,
    "batch_size": 1,
    "epochs": 1,
    "lookback": 1,
    "embedding_dim": 1,
    "conv_filters": 1,
    "patch": 1,
    "series_embedding_dim": 0,
}
FLOAT_PARAMS: dict[str, tuple[float, float, bool]] = {  # name -> (low, high, high inclusive)
    "dropout": (0.0, 1.0, False),
    "recurrent_dropout": (0.0, 1.0, False),
    "learning_rate": (1e-12, 10.0, True),
    "weight_decay": (0.0, 1.0, True),
    "label_smoothing": (0.0, 1.0, False),
}
BOOL_PARAMS = ("bidirectional", "window_norm", "seq_norm")


def _check_values(name: str, spec: Spec) -> None:
    """Every value a spec can produce must be valid for ``name``."""
    key = f"tune.search_space.{name}"
    vals = _values(spec)
    if name in INT_PARAMS:
        if spec["type"] == "float":
            raise UserError(f"{key}: must be an integer parameter (type int), not float")
        candidates = vals if vals is not None else [spec["low"], spec["high"]]
        for v in candidates:
            if not is_number(v) or float(v) != int(v) or int(v) < INT_PARAMS[name]:
                raise UserError(f"{key}: {v!r} is not an integer >= {INT_PARAMS[name]}")
    elif name in FLOAT_PARAMS:
        low, high, inclusive = FLOAT_PARAMS[name]
        candidates = vals if vals is not None else [spec["low"], spec["high"]]
        for v in candidates:
            ok = (
                is_number(v)
                and low <= float(v)
                and (float(v) <= high if inclusive else float(v) < high)
            )
            if not ok:
                bound = "]" if inclusive else ")"
                raise UserError(f"{key}: {v!r} is not a number in [{low:g}, {high:g}{bound}")
    elif name in BOOL_PARAMS and (vals is None or any(not isinstance(v, bool) for v in vals)):
        raise UserError(f"{key}: must be true/false or a list of them")


def _check(space: dict[str, Spec], meta: dict[str, Any], min_train_windows: int) -> None:
    def allowed(name: str, options: tuple[Any, ...]) -> None:
        vals = _values(space[name])
        if vals is None:
            raise UserError(f"tune.search_space.{name}: must be a fixed value or a list of choices")
        for v in vals:
            if v not in options:
                raise UserError(
                    f"tune.search_space.{name}: {v!r} is not one of {', '.join(map(str, options))}"
                )

    for name, spec in space.items():
        _check_values(name, spec)
    allowed("optimizer", OPTIMIZERS)
    allowed("cell", CELLS)
    allowed("head", HEADS)
    if meta["task"] == "classify":
        allowed("conv", _classify.CONVS)
        allowed("augment", _classify.AUGMENTS)
        allowed("class_weight", _classify.CLASS_WEIGHTS)
    for name, spec in space.items():
        if spec.get("when"):
            parse_when(name, spec["when"], space)
    if meta["task"] != "forecast":
        return
    allowed("transform", TRANSFORMS)
    allowed("anchor", ANCHORS)
    if "log" in (_values(space["transform"]) or []) and not meta.get("target_positive", False):
        raise UserError(
            "tune.search_space.transform: 'log' needs a strictly positive target column "
            f"'{meta['columns']['target']}'"
        )
    lookbacks = _values(space["lookback"]) or list(
        range(int(space["lookback"]["low"]), int(space["lookback"]["high"]) + 1)
    )
    n_train = int(meta["splits"]["train"]["rows"])
    horizon = int(meta["horizon"])
    too_long = [int(lb) for lb in lookbacks if n_train - int(lb) - horizon + 1 < min_train_windows]
    if too_long:
        raise UserError(
            f"tune.search_space.lookback: series too short for lookback {max(too_long)}: the train "
            f"split has {n_train} time steps, "
            f"which gives fewer than {min_train_windows} training windows with "
            f"data.horizon={horizon}"
        )


def suggest(trial: Any, space: dict[str, Spec]) -> Params:
    """Sample one configuration with an Optuna trial (``optuna.Trial``); conditional parameters
    are sampled only when their condition holds (define-by-run)."""
    params: Params = {}
    ordered = sorted(space.items(), key=lambda item: bool(item[1].get("when")))
    for name, spec in ordered:
        if not condition_holds(name, spec, params, space):
            params[name] = inactive_value(spec)
            continue
        kind = spec["type"]
        if kind == "fixed":
            params[name] = spec["value"]
        elif kind == "categorical":
            params[name] = trial.suggest_categorical(name, spec["choices"])
        elif kind == "int":
            params[name] = trial.suggest_int(
                name,
                int(spec["low"]),
                int(spec["high"]),
                step=int(spec["step"] or 1),
                log=bool(spec["log"]),
            )
        else:
            params[name] = trial.suggest_float(
                name,
                float(spec["low"]),
                float(spec["high"]),
                step=spec["step"],
                log=bool(spec["log"]),
            )
    return params


def default_configuration(space: dict[str, Spec], meta: dict[str, Any] | None = None) -> Params:
    """lstmtune's default configuration inside ``space``: common-practice settings for a small
    recurrent model (one layer of 32 units, Adam at 3e-3, no dropout) and, for a forecast, the
    preprocessing that suits the data (log values for a positive target, two seasons of lookback,
    the ``seasonal_trend`` anchor when a season was found). A new study tries it first (SMAC's
    initial design does the same), so a good baseline configuration is known after one trial.

    Each value is the preferred one when the space holds it, else the nearest value it holds;
    parameters without a sensible preference, fixed ones and conditional ones are left out (the
    sampler draws them)."""
    meta = meta or {}
    period = int(meta.get("seasonal_period", 1))
    preferred: Params = {
        "units": 32,
        "num_layers": 1,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "bidirectional": False,
        "learning_rate": 3e-3,
        "batch_size": 32,
        "optimizer": "adam",
        "weight_decay": 1e-6,
        "embedding_dim": 64,
        "series_embedding_dim": 0,
        "cell": "lstm",
        "head": "last",
        "window_norm": True,
        "transform": "log" if meta.get("target_positive", False) else "none",
        "anchor": "seasonal_trend" if period >= 2 else "last",
        "lookback": 2 * period if period >= 2 else 16,
        "patch": 1,  # the shortest patches the space holds (forecast; classify sets its own)
    }
    if meta.get("task") == "classify":
        preferred.update(_classify.classify_preferred(meta))
    out: Params = {}
    for name, spec in space.items():
        if spec["type"] == "fixed" or spec.get("when") or name not in preferred:
            continue
        value = _nearest(spec, preferred[name])
        if value is not None:
            out[name] = value
    lookback = out.get("lookback", space.get("lookback", {}).get("value"))
    anchor = space.get("anchor", {})
    if (
        anchor.get("type") == "categorical" and not anchor.get("when") and lookback is not None
    ):  # the most informed anchor the lookback can feed
        feasible = [
            a
            for a in ("seasonal_trend", "seasonal", "last", "none")
            if a in anchor["choices"] and anchor_fits(a, int(lookback), period)
        ]
        if feasible:
            out["anchor"] = feasible[0]
    return out


def _nearest(spec: Spec, want: Any) -> Any:
    """The value of ``spec`` equal or closest to ``want`` (None: no sensible match)."""
    if spec["type"] == "categorical":
        choices = list(spec["choices"])
        same = [
            c
            for c in choices
            if c == want
            and isinstance(c, bool) == isinstance(want, bool)
            and isinstance(c, str) == isinstance(want, str)
        ]
        if same:
            return same[0]
        numbers = [c for c in choices if is_number(c)]
        if not is_number(want) or not numbers:
            return None
        positive = want > 0 and all(c > 0 for c in numbers)
        return min(numbers, key=lambda c: abs(math.log(c / want)) if positive else abs(c - want))
    low, high, step = float(spec["low"]), float(spec["high"]), spec.get("step")
    if isinstance(want, bool) or not is_number(want):
        return None
    value = min(max(float(want), low), high)
    if step:  # snap to the grid low + k * step, never past high
        k = min(round((value - low) / float(step)), math.floor((high - low) / float(step) + 1e-9))
        value = low + k * float(step)
    return round(value) if spec["type"] == "int" else value


def fixed_params(space: dict[str, Spec]) -> Params:
    return {name: spec["value"] for name, spec in space.items() if spec["type"] == "fixed"}


def grid_space(space: dict[str, Spec]) -> dict[str, list[Any]]:
    """Every searched parameter as a finite list (Optuna's GridSampler)."""
    grid: dict[str, list[Any]] = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "fixed":
            continue
        if kind == "categorical":
            grid[name] = list(spec["choices"])
        elif spec["step"] is None and kind == "float":
            low, high = float(spec["low"]), float(spec["high"])
            if spec["log"]:
                grid[name] = [
                    low * (high / low) ** (i / (GRID_POINTS - 1)) for i in range(GRID_POINTS)
                ]
            else:
                grid[name] = [
                    low + (high - low) * i / (GRID_POINTS - 1) for i in range(GRID_POINTS)
                ]
        else:
            step = spec["step"] or 1
            n = round((spec["high"] - spec["low"]) / step) + 1
            values = [spec["low"] + i * step for i in range(n)]
            grid[name] = (
                [int(v) for v in values] if kind == "int" else [round(v, 12) for v in values]
            )
    return grid


def grid_size(space: dict[str, Spec]) -> int:
    sizes = [len(v) for v in grid_space(space).values()]
    return int(list(itertools.accumulate(sizes, lambda a, b: a * b))[-1]) if sizes else 1

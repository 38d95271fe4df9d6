"""Facts about an Optuna study that several plots share: completed trials, the searched
parameters and their (cached) fANOVA importances, a single-objective view of a multi-objective
study."""

from __future__ import annotations

import warnings
from typing import Any

from lstmtune.plots.catalog import SkipPlot


def complete_trials(study: Any) -> list[Any]:
    import optuna

    return list(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def searched_params(study: Any) -> list[str]:
    """Parameters that actually vary across completed trials (fixed values are not searched)."""
    values: dict[str, set[str]] = {}
    for t in complete_trials(study):
        for k, v in t.params.items():
            values.setdefault(k, set()).add(repr(v))
    return sorted(k for k, v in values.items() if len(v) > 1)


#: fANOVA importances of the last study asked, keyed by (study id, completed trials)
_IMPORTANCES: dict[tuple[int, int], dict[str, float]] = {}


def param_importances(study: Any) -> dict[str, float]:
    """fANOVA importances (seeded, so PNG and HTML agree), most important first.

    Raises :class:`SkipPlot` with fewer than 2 completed trials or nothing searched; a single
    searched parameter gets importance 1.0 without fitting anything."""
    import optuna

    complete = complete_trials(study)
    if len(complete) < 2:
        raise SkipPlot(f"needs at least 2 completed trials (the study has {len(complete)})")
    searched = searched_params(study)
    if not searched:
        raise SkipPlot("no hyperparameter varies across the completed trials")
    if len(searched) == 1:
        return {searched[0]: 1.0}
    key = (
        id(study),
        len(complete),
    )  # four plots ask; fitting fANOVA once per study state is enough
    if key in _IMPORTANCES:
        return dict(_IMPORTANCES[key])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        imp = optuna.importance.get_param_importances(study, evaluator=evaluator, params=searched)
    result = {str(k): float(v) for k, v in sorted(imp.items(), key=lambda kv: -kv[1])}
    _IMPORTANCES.clear()
    _IMPORTANCES[key] = result
    return dict(result)


def top_params(study: Any, k: int = 2) -> list[str]:
    try:
        ranked = list(param_importances(study))
    except Exception:
        ranked = searched_params(study)
    return ranked[:k]


def first_objective_view(study: Any) -> Any:
    """An in-memory single-objective copy (first objective = validation) of a multi-objective
    study, so the per-objective plots apply unchanged."""
    import optuna

    view = optuna.create_study(direction="minimize")
    for t in study.get_trials(deepcopy=False):
        values = t.values
        view.add_trial(
            optuna.trial.create_trial(
                params=t.params,
                distributions=t.distributions,
                value=values[0] if values else None,
                intermediate_values=t.intermediate_values,
                user_attrs=t.user_attrs,
                state=t.state,
            )
        )
    return view

"""The final forecaster: classical partners refitted on train+val, the combination weights chosen
on validation, the prediction intervals calibrated on validation, and the test evaluation against
naive and classical baselines."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmtune.evaluate import (
    TestEvaluation,
    forecast_baselines,
    forecast_classical_baselines,
    forecast_metrics,
    observed,
)
from lstmtune.features import rmse
from lstmtune.forecast_members import average_forecast, check_same_origins
from lstmtune.model import LSTMNet
from lstmtune.progress import emit
from lstmtune.training import ForecastProblem

if TYPE_CHECKING:
    from lstmtune.classical_fits import PendingFit


@dataclass
class NetworkFits:
    """The networks of the published forecast (the winner first, then the other members of
    :mod:`lstmtune.forecast_members`), each with its own problem (its preprocessing)."""

    problems: list[ForecastProblem]
    models: list[LSTMNet]

    def forecast(self, split: str) -> np.ndarray:
        """The members' average forecast of ``split`` in original units."""
        return average_forecast(self.problems, self.models, split)

    @property
    def problem(self) -> ForecastProblem:
        return self.problems[0]


def member_problems(
    parts: dict[str, Any], meta: dict[str, Any], trainers: list[Any]
) -> list[ForecastProblem]:
    """Each member's problem: the data prepared with its own configuration."""
    from lstmtune.problems import make_problem

    problems = [make_problem(parts, meta, trainer.params) for trainer in trainers]
    assert all(isinstance(p, ForecastProblem) for p in problems)
    return problems  # type: ignore[return-value]


@dataclass
class ValidationFits:
    """The members' validation forecasts without their models: each one the tune step kept for
    its trial (:mod:`lstmtune.kept_forecasts`) or that of the member trained again on train."""

    problems: list[ForecastProblem]
    forecasts: list[np.ndarray]

    def forecast(self, split: str) -> np.ndarray:
        if split != "val":
            raise ValueError(f"only the validation forecasts are kept, not {split!r}")
        return np.asarray(np.mean(self.forecasts, axis=0))

    @property
    def problem(self) -> ForecastProblem:
        return self.problems[0]


def validation_fits(
    parts: dict[str, Any], meta: dict[str, Any], trainers: list[Any], entries: list[Any]
) -> ValidationFits:
    """Every member's forecast of the validation split when trained on train: the one its trial
    kept (``entries``: the members' top-trial records, or None) where it is usable
    (:func:`lstmtune.kept_forecasts.usable`), else trained."""
    from lstmtune.kept_forecasts import key, usable

    problems = member_problems(parts, meta, trainers)
    check_same_origins(problems, "val")
    expected = key(trainers[0].cfg, meta)
    forecasts = []
    for trainer, problem, entry in zip(trainers, problems, entries, strict=True):
        kept = usable(entry, trainer, problem, expected)
        if kept is None:
            model = trainer(problem, problem.tensors("train"))
            kept = problem.predict(model, problem.tensors("val"))
        forecasts.append(kept)
    return ValidationFits(problems, forecasts)


def fit_networks(
    parts: dict[str, Any], meta: dict[str, Any], trainers: list[Any], *splits: str
) -> NetworkFits:
    """Every member trained on ``splits`` by its ``trainer(problem, tensors) -> model``."""
    problems = member_problems(parts, meta, trainers)
    models = [t(p, p.tensors(*splits)) for t, p in zip(trainers, problems, strict=True)]
    return NetworkFits(problems, models)


def prepare_final(
    parts: dict[str, Any],
    meta: dict[str, Any],
    trainers: list[Any],
    *,
    combine: bool,
    levels: list[float],
    rule: str = "auto",
    pending: PendingFit | None = None,
    entries: list[Any] | None = None,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Everything the final forecast needs before the networks are trained on train+val:
    ``(combination or None, interval spec or None)`` — :func:`validation_record`, then
    :func:`choose_final` with every member."""
    record = validation_record(
        parts, meta, trainers, combine=combine, levels=levels, pending=pending, entries=entries
    )
    return choose_final(record, meta, combine=combine, levels=levels, rule=rule)


@dataclass
class ValidationRecord:
    """The members' validation forecasts (None where nothing needs them) and the run's
    metadata as it was while tuning (the anchors fitted on train)."""

    fits: ValidationFits | None
    tuning_meta: dict[str, Any]
    classical: bool  # the run had classical fits on train (partners to combine with)

    def rmse(self) -> list[float]:
        """Each member's validation RMSE in original units (empty without forecasts)."""
        if self.fits is None:
            return []
        out = []
        for problem, forecast in zip(self.fits.problems, self.fits.forecasts, strict=True):
            truth = problem.tensors("val").raw_y
            assert truth is not None
            out.append(rmse(np.asarray(forecast), truth))
        return out

    def subset(self, kept: list[int]) -> ValidationRecord:
        """The record of the members ``kept`` (indexes, the winner first)."""
        if self.fits is None:
            return self
        problems = [self.fits.problems[i] for i in kept]
        fits = ValidationFits(problems, [self.fits.forecasts[i] for i in kept])
        return ValidationRecord(fits, self.tuning_meta, self.classical)


def validation_record(
    parts: dict[str, Any],
    meta: dict[str, Any],
    trainers: list[Any],
    *,
    combine: bool,
    levels: list[float],
    pending: PendingFit | None = None,
    entries: list[Any] | None = None,
) -> ValidationRecord:
    """The classical anchors refitted on train+val when the run has them (``meta`` is updated:
    the final model's anchors; ``pending``: the fit started by the step), and, where a
    combination (``combine`` and classical fits on train) or intervals (``levels``) need it,
    every member trained on train once with the tuning-time anchors (or its trial's kept
    forecast read: ``entries``, see :func:`validation_fits`) forecasting the validation split."""
    from lstmtune.classical_fits import add_classical

    tuning_meta = copy.deepcopy(meta)  # anchors fitted on train, as while tuning
    classical = bool(meta.get("classical"))
    if classical:
        add_classical(meta, parts, "val", extend_space=False, pending=pending)
    if not (combine and classical) and not levels:
        return ValidationRecord(None, tuning_meta, classical)
    fits = validation_fits(parts, tuning_meta, trainers, entries or [None] * len(trainers))
    return ValidationRecord(fits, tuning_meta, classical)


def choose_final(
    record: ValidationRecord,
    meta: dict[str, Any],
    *,
    combine: bool,
    levels: list[float],
    rule: str = "auto",
    network: bool = True,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``(combination or None, interval spec or None)`` from the members' average validation
    forecast: the combination weights (``evaluate.combine``, by ``rule``:
    :data:`lstmtune.combine.RULES`; ``network=False``: the network's weight handed to the
    classical partners, :func:`lstmtune.final_check.without_network`) and the intervals,
    calibrated on the validation forecast of that combination."""
    combine = combine and record.classical
    fits = record.fits
    if fits is None or (not combine and not levels):
        return None, None
    combination = None
    if combine:
        from lstmtune.anchor_copy import copied_partner
        from lstmtune.combine import validation_choice, without_network

        network_val = fits.forecast("val")
        copy_of = copied_partner(fits.problems, network_val)
        combination = validation_choice(fits.problem, network_val, meta["classical"], rule, copy_of)
        if not network:
            combination = without_network(combination) or combination
    if not levels:
        return combination, None
    fallback = meta.get("classical") or {}  # a partner that failed on train: its train+val fit
    tuning_meta = record.tuning_meta
    return combination, calibrate_intervals(fits, tuning_meta, combination, levels, fallback)


def validation_forecast(
    fits: NetworkFits | ValidationFits,
    tuning_meta: dict[str, Any],
    combination: dict[str, Any] | None,
    fallback_specs: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The published forecast as it would have been made at the validation origins, out of
    sample: the networks trained on train, their anchors and the combination's partners fitted
    on train. Returns ``(forecast, truth, origins, target series)``, forecasts and truth
    ``[N, horizon]`` in original units."""
    from lstmtune.combine import apply, is_mix

    problem = fits.problem
    val = problem.tensors("val")
    assert val.raw_y is not None
    pred = fits.forecast("val")
    f = problem.featurizer
    ends = problem.ends("val")
    series = problem.raw[:, f.target_index]
    if combination is not None and is_mix(combination):
        train_fitted = tuning_meta.get("classical") or {}
        partners = [k for k in combination["weights"] if k != "network"]
        specs = {k: train_fitted.get(k) or fallback_specs[k] for k in partners}
        pred = apply({**combination, "specs": specs}, pred, series, ends, f.period)
    return pred, val.raw_y, ends, series


def calibrate_intervals(
    fits: NetworkFits | ValidationFits,
    tuning_meta: dict[str, Any],
    combination: dict[str, Any] | None,
    levels: list[float],
    fallback_specs: dict[str, Any],
) -> dict[str, Any]:
    """The interval spec (:func:`lstmtune.conformal.calibrate`, the scaled method) from the
    validation residuals of :func:`validation_forecast`; a warning when a level had too few
    validation origins."""
    from lstmtune.conformal import calibrate, extrapolation_warning, local_scale, scale_window

    pred, true, ends, series = validation_forecast(fits, tuning_meta, combination, fallback_specs)
    window = scale_window(int(tuning_meta["seasonal_period"]))
    spec = calibrate(pred, true, levels, scale=local_scale(series, ends, window), window=window)
    if spec["extrapolated"]:
        emit(
            "warning",
            extrapolation_warning(spec["extrapolated"], f"{len(true)} validation origins"),
        )
    return spec


def final_networks(
    parts: dict[str, Any], meta: dict[str, Any], trainers: list[Any], best: dict[str, Any]
) -> tuple[NetworkFits, list[Any]]:
    """The members trained on train+val (the winner's PBT schedule replayed when it has one):
    the fits (models on the CPU in eval mode) and each member's
    :class:`~lstmtune.training.TrainResult`."""
    problems = member_problems(parts, meta, trainers)
    results = [
        t.final(p, best if i == 0 else {})
        for i, (t, p) in enumerate(zip(trainers, problems, strict=True))
    ]
    return NetworkFits(problems, [r.model.cpu().eval() for r in results]), results


def evaluate_forecast(
    fits: NetworkFits,
    meta: dict[str, Any],
    combination: dict[str, Any] | None,
    intervals: dict[str, Any] | None = None,
    members: list[dict[str, Any]] | None = None,
    pending: PendingFit | None = None,
    *,
    nonnegative: str | bool = "auto",
) -> TestEvaluation:
    """Test metrics of the (averaged, combined) forecast and of persistence, seasonal naive,
    AutoARIMA and AutoETS on exactly the same windows; with an interval spec also the intervals'
    coverage and mean width per level (:func:`lstmtune.conformal.interval_metrics`). ``members``
    (the spec entries of an ensemble) join the saved spec. ``nonnegative``
    (``evaluate.nonnegative``, decided on train+val, :mod:`lstmtune.nonnegative`): the forecasts,
    bounds and classical baselines clipped at 0 as the pyfunc clips them."""
    from lstmtune.combine import apply
    from lstmtune.nonnegative import clip, decide

    problem = fits.problem
    test = problem.tensors("test")
    pred = fits.forecast("test")
    assert test.raw_y is not None
    f = problem.featurizer
    ends = problem.ends("test")
    network = pred
    if combination is not None:
        partners = [k for k in combination["weights"] if k != "network"]
        combination["specs"] = {k: meta["classical"][k] for k in partners}
        pred = apply(combination, pred, problem.raw[:, f.target_index], ends, f.period)
    filled = meta.get("filled_targets")  # scored on what was observed, as the model is
    baselines = forecast_baselines(f, problem.raw, ends, filled)
    fit_end = int(meta["splits"]["test"]["start"])
    decision = decide(nonnegative, problem.raw[:fit_end, f.target_index])
    true = observed(test.raw_y, ends, filled)
    parts = _part_metrics(combination, network, problem, true, decision)
    classical, failures, seconds, classical_pred = forecast_classical_baselines(
        f, problem.raw, ends, fit_end, pending=pending, filled=filled
    )
    classical_pred = {k: clip(v, decision) for k, v in classical_pred.items()}
    baselines.update({k: forecast_metrics(classical_pred[k], true) for k in classical})
    for name, reason in failures.items():
        emit("warning", f"warning: baseline {name} skipped (it could not be fitted): {reason}")
    test_metrics = forecast_metrics(clip(pred, decision), true)
    if intervals is not None:
        from lstmtune.conformal import origin_scale

        scale = origin_scale(intervals, problem.raw[:, f.target_index], ends)
        test_metrics.update(_interval_test_metrics(pred, true, intervals, scale, decision))
    return TestEvaluation(
        test_metrics=test_metrics,
        baselines=baselines,
        spec_extra={
            "featurizer": f.to_dict(),
            "combination": combination,
            "intervals": intervals,
            "nonnegative": decision,
            **({"members": members} if members else {}),
            **_fitted_rows(meta, problem.raw[:, f.target_index], fit_end),
        },
        baseline_failures=failures,
        baseline_seconds=seconds,
        baseline_forecasts={k: v.tolist() for k, v in classical_pred.items()},
        details={"nonnegative": decision, **({"combination_test": parts} if parts else {})},
    )


def _part_metrics(
    combination: dict[str, Any] | None,
    network: np.ndarray,
    problem: ForecastProblem,
    true: np.ndarray,
    decision: dict[str, Any],
) -> dict[str, dict[str, float]] | None:
    """The test metrics of each part of a published mix alone (the network, each weighted
    partner), clipped as the published forecast is; for the record, nothing is chosen on them.
    None when the forecast is not a mix."""
    from lstmtune.combine import is_mix, part_forecasts
    from lstmtune.nonnegative import clip

    if not is_mix(combination):
        return None
    assert combination is not None
    f = problem.featurizer
    series, ends = problem.raw[:, f.target_index], problem.ends("test")
    forecasts = part_forecasts(combination, network, series, ends, f.period)
    return {k: forecast_metrics(clip(v, decision), true) for k, v in forecasts.items()}


def _fitted_rows(meta: dict[str, Any], target: np.ndarray, fit_end: int) -> dict[str, Any]:
    """The last rows of train+val, kept for the classical models of a served history
    (:mod:`lstmtune.served_history`); nothing where the run fitted none."""
    from lstmtune.served_history import fitted_rows

    return {"history": fitted_rows(target, fit_end)} if meta.get("classical") else {}


def _interval_test_metrics(
    pred: np.ndarray,
    true: np.ndarray,
    intervals: dict[str, Any],
    scale: np.ndarray,
    decision: dict[str, Any] | None = None,
) -> dict[str, float]:
    """``coverage_<L>`` and ``width_<L>`` on test (the bounds around the unclipped forecast
    ``pred``, then clipped by ``decision``); a warning when a level is far off nominal."""
    from lstmtune.conformal import FLAG_TEXT, bounds, coverage_flags, interval_metrics
    from lstmtune.nonnegative import clip_bounds

    metrics = interval_metrics(true, clip_bounds(bounds(pred, intervals, scale), decision))
    flags = coverage_flags(metrics)
    if flags:
        emit(
            "warning",
            f"warning: prediction intervals on test {FLAG_TEXT}: {'; '.join(flags)}",
        )
    return metrics

"""The classical fits made in a child process (:mod:`lstmtune.classical_fits`) are exactly what
the step's own process computes: the prepare step's anchors (fitted while it imports MLflow), and
the train-best step's final anchors and AutoARIMA/AutoETS baselines (fitted while it imports
torch and trains); a child that fails, or forecasts other origins, leaves the work to the step."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lstmtune
from lstmtune.classical import classical_baselines, fit_specs
from lstmtune.classical_fits import (
    PendingFit,
    add_classical,
    arima_log,
    fit_all,
    log_by_validation,
    start_classical,
)
from lstmtune.config import RunConfig

AIRLINE = Path(lstmtune.__file__).parent / "example_data" / "airline_passengers.csv"


@pytest.fixture
def airline() -> np.ndarray:
    return pd.read_csv(AIRLINE)["passengers"].to_numpy(dtype=np.float64)


def _no_fit_here(*args: object) -> None:
    raise AssertionError("fitted in the test process, not in the child")


def test_the_classical_fit_in_a_child_process_equals_the_fit_here(
    monkeypatch: pytest.MonkeyPatch, airline: np.ndarray
) -> None:
    """The prepare step's anchors fitted beside its MLflow imports: the same specs to the bit,
    and the same warnings for a series too short to fit."""
    expected = fit_specs(airline, 100, 12)
    child = PendingFit(airline, 100, 12, parallel=True)
    assert child.proc is not None
    with monkeypatch.context() as m:  # the result comes from the child, not a fit here
        m.setattr("lstmtune.classical.fit_specs", _no_fit_here)
        specs, failed = child.result()
    assert (specs, failed) == expected and set(specs) == {"arima", "ets"}
    assert json.dumps(specs, sort_keys=True) == json.dumps(expected[0], sort_keys=True)

    short = np.linspace(1.0, 2.0, 20) + np.tile([0.0, 0.3, -0.2, 0.1], 5)
    parts = {"train": pd.DataFrame({"y": short[:12]}), "val": pd.DataFrame({"y": short[12:16]})}
    parts["test"] = pd.DataFrame({"y": short[16:]})
    meta = {
        "columns": {"target": "y"},
        "splits": {"train": {"end": 12}, "val": {"end": 16}},
        "seasonal_period": 12,
    }
    here = add_classical(dict(meta), parts, "train", extend_space=False)
    pending = start_classical(meta, parts, "train", parallel=True)
    assert pending.proc is not None
    monkeypatch.setattr("lstmtune.classical.fit_specs", _no_fit_here)
    there = add_classical(meta, parts, "train", extend_space=False, pending=pending)
    assert there == here and len(there) == 2 and meta["classical"] == {}


@pytest.mark.parametrize("horizon", [1, 3])
def test_the_childs_baselines_are_the_baselines_computed_here(
    monkeypatch: pytest.MonkeyPatch, airline: np.ndarray, horizon: int
) -> None:
    ends = np.arange(121, len(airline) - horizon)
    expected = classical_baselines(airline, 122, ends, horizon, 12)
    expected_specs = fit_specs(airline, 122, 12)
    child = PendingFit(airline, 122, 12, parallel=True, baseline_ends=ends, horizon=horizon)
    assert child.proc is not None
    monkeypatch.setattr("lstmtune.classical.fit_specs", _no_fit_here)
    monkeypatch.setattr("lstmtune.classical.classical_baselines", _no_fit_here)
    assert child.result() == expected_specs
    got = child.baselines(airline, ends, horizon, 12)
    assert got is not None
    preds, failed, seconds = got
    assert set(preds) == {"auto_arima", "auto_ets"} and failed == expected[1] == {}
    for name, forecast in expected[0].items():
        assert forecast.shape == (len(ends), horizon)
        assert np.array_equal(preds[name], forecast)  # to the bit
    assert set(seconds) == set(expected[2])


def test_baselines_of_other_origins_or_data_are_left_to_the_step(airline: np.ndarray) -> None:
    ends = np.arange(121, len(airline) - 1)
    child = PendingFit(airline, 122, 12, parallel=True, baseline_ends=ends)
    other = airline.copy()
    other[-1] += 1.0
    assert child.baselines(airline, ends[1:], 1, 12) is None
    assert child.baselines(other, ends, 1, 12) is None
    assert child.baselines(airline, ends, 1, 4) is None
    assert child.baselines(airline, ends, 1, 12) is not None
    assert PendingFit(airline, 122, 12, parallel=True).baselines(airline, ends, 1, 12) is None


def test_a_child_that_fails_leaves_the_fit_to_this_process(
    monkeypatch: pytest.MonkeyPatch, airline: np.ndarray
) -> None:
    ends = np.arange(99, len(airline) - 1)
    monkeypatch.setattr(sys, "executable", "false")  # exits 1 at once, reads nothing
    pending = PendingFit(airline, 100, 12, parallel=True, baseline_ends=ends)
    assert pending.proc is not None
    assert pending.result() == fit_specs(airline, 100, 12)
    assert pending.baselines(airline, ends, 1, 12) is None


def _train_best(cfg: RunConfig, tmp: Path, child: bool, monkeypatch: pytest.MonkeyPatch) -> dict:
    """prepare, tune and train-best as the pipeline's step functions; train-best's classical
    fits in a child process or not; the evaluation record it wrote."""
    from lstmtune import steps

    config_json = cfg.model_dump_json()
    data, best, model = tmp / "dataset", tmp / "best.json", tmp / f"model-{child}"
    if not data.exists():
        steps.prepare_step(config_json, str(data))
        steps.tune_step(config_json, str(data), "", str(best))
    started = PendingFit.__init__

    def spy(self: PendingFit, *args: object, **kwargs: object) -> None:
        started(self, *args, **kwargs)  # type: ignore[arg-type]
        assert (self.proc is not None) == child and self.ends is not None

    with monkeypatch.context() as m:
        m.setattr("lstmtune.report_job.spare_core", lambda free=1.0: child)
        m.setattr(PendingFit, "__init__", spy)
        if child:  # nothing classical is fitted or forecast in the step's process
            m.setattr("lstmtune.classical.fit_specs", _no_fit_here)
            m.setattr("lstmtune.classical.classical_baselines", _no_fit_here)
        steps.train_best_step(config_json, str(data), str(best), "", str(model))
    record: dict = json.loads((model / "evaluation.json").read_text())
    return record


def test_train_best_with_the_child_writes_what_it_writes_without(
    tiny_config: Callable[..., RunConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole step, end to end: the same baselines, combination, test metrics and forecasts
    whether AutoARIMA/AutoETS were fitted beside the training or in the step's process."""
    cfg = tiny_config(tune__n_trials=1, data__path=str(AIRLINE), data__target="passengers")
    here = _train_best(cfg, tmp_path, False, monkeypatch)
    there = _train_best(cfg, tmp_path, True, monkeypatch)
    assert set(here["baseline_metrics"]) >= {"auto_arima", "auto_ets"}
    for key in ("baseline_metrics", "baseline_forecasts", "test_metrics", "combination"):
        assert there[key] == here[key], key


def _seasonal(multiplicative: bool, n: int = 132) -> np.ndarray:
    """Monthly: a season whose swing grows with the level (multiplicative), or a season of a
    fixed size around a slowly rising level, with noise."""
    t = np.arange(n)
    noise = np.random.default_rng(3).normal(0.0, 0.02, n)
    season = np.sin(2 * np.pi * t / 12)
    if multiplicative:
        return 100.0 * np.exp(0.03 * t) * (1 + 0.35 * season) * (1 + noise)
    return 60.0 + 0.1 * t + 25.0 * season + 60.0 * noise


@pytest.mark.parametrize("multiplicative", [True, False])
def test_the_arima_is_fitted_on_log_values_where_validation_prefers_it(
    multiplicative: bool,
) -> None:
    """The prepare step chooses log or raw values for AutoARIMA by the validation split's
    one-step errors (fitted on train); the train-best step's fit on train+val keeps the choice,
    in the child process as here. A series through zero stays raw."""
    y = _seasonal(multiplicative)
    assert log_by_validation(y, 100, 116, 12) is multiplicative
    meta = {"splits": {"val": {"end": 116}}}
    specs, _ = fit_all(y, 100, 12, None, 116)
    assert bool(specs["arima"].get("log")) is multiplicative
    meta["classical"] = specs
    assert arima_log(meta) is multiplicative
    here, _ = fit_all(y, 116, 12, arima_log(meta), None)
    child = PendingFit(y, 116, 12, parallel=True, log=arima_log(meta))
    assert child.proc is not None and child.result()[0] == json.loads(json.dumps(here))
    assert bool(here["arima"].get("log")) is multiplicative
    assert not log_by_validation(y - y[:116].mean(), 100, 116, 12)


def test_the_log_choice_is_judged_on_the_runs_horizon() -> None:
    """With a horizon the choice compares the forecasts the run is scored on (6 steps from each
    validation origin whose horizon ends inside the split), and that can turn it: on the
    additive series the values forecast one step better (validation MSE 2.24 against 2.58) and
    six steps worse (2.58 against 2.37). A split shorter than the horizon keeps the values. The
    child process judges the same way."""
    additive = _seasonal(False)
    assert not log_by_validation(additive, 100, 116, 12, horizon=1)
    assert log_by_validation(additive, 100, 116, 12, horizon=6)
    assert log_by_validation(_seasonal(True), 100, 116, 12, horizon=6)
    assert not log_by_validation(additive, 100, 104, 12, horizon=6)  # 4 validation rows
    here, _ = fit_all(additive, 100, 12, None, 116, horizon=6)
    assert here["arima"].get("log") is True
    child = PendingFit(additive, 100, 12, parallel=True, log=None, val_end=116, horizon=6)
    assert child.proc is not None and child.result()[0] == json.loads(json.dumps(here))

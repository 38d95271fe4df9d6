"""The published forecast networks held to their trials' validation record: a retrain that fits
the validation rows far worse than its trial forecast them is trained again, then left out (the
winner: kept, its weight in the combination handed to the classical partners)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from conftest import SMALL_NET

from lstmtune.combine import without_network
from lstmtune.config import example_data_path, load_config
from lstmtune.final_check import (
    CHECK_RATIO,
    _ratio,
    check_members,
    in_sample_rmse,
)

PARAMS: dict[str, Any] = {
    **SMALL_NET,
    "batch_size": 32,
    "epochs": 8,
    "cell": "lstm",
    "head": "last",
    "lookback": 13,
    "transform": "log",
    "anchor": "seasonal_trend",
    "window_norm": True,
}


def _cfg() -> Any:
    overrides = {"data.path": example_data_path(), "data.target": "passengers"}
    return load_config(None, {**overrides, "data.time_column": "month"}).resolved()


@pytest.fixture(scope="module")
def airline_fits() -> tuple[Any, ...]:
    """Two members trained on train+val and their out-of-sample validation RMSE."""
    from lstmtune.data.prepare import prepare
    from lstmtune.final_forecast import final_networks, validation_record
    from lstmtune.retrain import FinalTrainer
    from lstmtune.training import select_device

    cfg = _cfg()
    parts, meta = prepare(cfg)
    device = select_device("cpu")
    trainers = [FinalTrainer(cfg, PARAMS, 8, 0, device), FinalTrainer(cfg, PARAMS, 8, 1, device)]
    records = validation_record(parts, meta, trainers, combine=False, levels=[80]).rmse()
    fits, results = final_networks(parts, meta, trainers, {})
    return fits, results, trainers, records


def _broken(model: torch.nn.Module) -> None:
    """A retrain that landed far off: the head's bias moved by a whole scaled unit."""
    head = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        head.bias += 3.0


def test_healthy_retrains_pass_unchanged(airline_fits: tuple[Any, ...]) -> None:
    fits, results, trainers, records = airline_fits
    assert len(records) == 2 and all(r > 0 for r in records)
    for problem, model, record in zip(fits.problems, fits.models, records, strict=True):
        assert in_sample_rmse(problem, model) <= CHECK_RATIO * record
    checked = check_members(fits, results, trainers, records)
    assert checked.notes == [] and not checked.winner_failed and checked.kept == [0, 1]
    assert checked.fits.models == fits.models and checked.trainers == trainers


def test_a_failed_member_is_trained_again_with_another_seed(airline_fits: tuple[Any, ...]) -> None:
    import copy

    fits, results, trainers, records = airline_fits
    broken = copy.deepcopy(fits)
    _broken(broken.models[1])
    assert in_sample_rmse(broken.problems[1], broken.models[1]) > CHECK_RATIO * records[1]
    checked = check_members(broken, results, trainers, records)
    assert len(checked.fits.models) == 2 and not checked.winner_failed and checked.kept == [0, 1]
    assert checked.trainers[1].seed == trainers[1].seed + 7919
    assert checked.fits.models[1] is not broken.models[1]
    assert checked.fits.models[0] is broken.models[0]
    assert checked.extra_seconds == pytest.approx(results[1].train_seconds)  # the broken one's
    assert len(checked.notes) == 1 and "member 2's retrain" in checked.notes[0]
    fit = in_sample_rmse(checked.fits.problems[1], checked.fits.models[1])
    assert fit <= CHECK_RATIO * records[1]


def test_a_member_that_fails_twice_is_left_out_and_the_winner_kept(
    airline_fits: tuple[Any, ...],
) -> None:
    fits, results, trainers, _ = airline_fits
    impossible = [1e-9, 1e-9]  # no training fits the validation rows that well
    checked = check_members(fits, results, trainers, impossible)
    assert len(checked.fits.models) == 1 and len(checked.trainers) == 1
    assert checked.winner_failed and checked.kept == [0]
    assert checked.extra_seconds > results[1].train_seconds  # member 2's two trainings, and
    # the winner's attempt not kept
    assert checked.trainers[0].seed in (trainers[0].seed, trainers[0].seed + 7919)
    assert "left out" in checked.notes[1] and "left out" not in checked.notes[0]
    assert "the combination leaves it out" in checked.notes[0]


def test_nan_fails_and_a_near_exact_record_is_floored(airline_fits: tuple[Any, ...]) -> None:
    fits, _, _, records = airline_fits
    problem, model = fits.problems[0], fits.models[0]
    assert _ratio(problem, model, float("nan")) == float("inf")
    assert _ratio(problem, model, 0.0) < float("inf")  # floored at FLOOR x the targets' size
    fit = in_sample_rmse(problem, model)
    assert _ratio(problem, model, records[0]) == pytest.approx(fit / records[0])


def test_the_retrain_step_chooses_the_mix_and_intervals_after_the_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every retrain failing the check (the ratio forced to 0): the second member is left out,
    the winner kept, and the published forecast is the classical partners' with intervals
    calibrated on that forecast."""
    import lstmtune.final_check as final_check
    from lstmtune.classical_fits import add_classical
    from lstmtune.combine import describe
    from lstmtune.data.prepare import prepare
    from lstmtune.final_forecast import choose_final, validation_record
    from lstmtune.retrain import FinalTrainer, _single_series
    from lstmtune.training import select_device

    cfg = _cfg()
    parts, meta = prepare(cfg)
    add_classical(meta, parts, "train", extend_space=False)  # as the prepare step does
    second = {**PARAMS, "anchor": "seasonal", "transform": "none"}
    tops = [
        {"number": 0, "value": 1.0, "params": PARAMS, "best_epoch": 8, "train_seconds": 1.0},
        {"number": 1, "value": 2.0, "params": second, "best_epoch": 8, "train_seconds": 1.0},
    ]
    best = {"best_params": PARAMS, "best_trial": 0, "extra": {"top_trials": tops}}
    trainer = FinalTrainer(cfg, PARAMS, 8, cfg.train.seed, select_device("cpu"))
    monkeypatch.setattr(final_check, "CHECK_RATIO", 0.0)
    _, model, results, ev, combination = _single_series(cfg, parts, meta, best, trainer)
    assert len(results) == 1 and not isinstance(model, torch.nn.ModuleList)
    assert combination is not None and combination["network_check"] == "failed"
    assert "network" not in combination["weights"]
    assert sum(combination["weights"].values()) == pytest.approx(1.0)
    line = describe(combination)
    assert line is not None and "failed its check" in line
    warnings = [x for x in capsys.readouterr().out.splitlines() if "retrain on train+val" in x]
    assert len(warnings) == 2 and "member 2's" in warnings[1]
    _, fresh = prepare(cfg)
    add_classical(fresh, parts, "train", extend_space=False)
    levels = cfg.evaluate.levels
    record = validation_record(parts, fresh, [trainer], combine=True, levels=levels)
    with_net = choose_final(record, fresh, combine=True, levels=levels)[1]
    without = choose_final(record, fresh, combine=True, levels=levels, network=False)[1]
    published = ev.spec_extra["intervals"]
    assert with_net is not None and without is not None
    assert published["quantiles"] == without["quantiles"]
    assert published["quantiles"] != with_net["quantiles"]


def test_nothing_forecasts_validation_without_a_combination_or_intervals() -> None:
    """``evaluate.combine`` on but no classical fit on train and no intervals: no validation
    forecast is made (no training), so the check has nothing to act on, as before it existed."""
    from lstmtune.data.prepare import prepare
    from lstmtune.final_forecast import validation_record
    from lstmtune.retrain import FinalTrainer
    from lstmtune.training import select_device

    cfg = _cfg()
    parts, meta = prepare(cfg)
    assert not meta.get("classical")
    trainer = FinalTrainer(cfg, PARAMS, 8, 0, select_device("cpu"))
    record = validation_record(parts, meta, [trainer], combine=True, levels=[])
    assert record.fits is None and record.rmse() == [] and not record.classical


def test_without_network_hands_its_weight_to_the_partners() -> None:
    combination = {"rule": "equal", "weights": {"network": 0.5, "arima": 0.25, "ets": 0.25}}
    mixed = without_network({**combination, "val_rmse": 1.0, "val_rmse_network": 2.0})
    assert mixed is not None and mixed["weights"] == {"arima": 0.5, "ets": 0.5}
    assert "val_rmse" not in mixed and mixed["val_rmse_network"] == 2.0  # the mix's: stale
    assert mixed["network_check"] == "failed" and mixed["rule"] == "equal"
    assert without_network({"weights": {"network": 1.0, "arima": 0.0}}) is None
    assert without_network({"weights": {"network": 1.0}}) is None
    shared = {"weights": {"network": 0.25, "arima": 0.25, "ets": 0.5}, "network_copies": "arima"}
    alone = without_network(shared)
    assert alone is not None and alone["weights"] == pytest.approx({"arima": 1 / 3, "ets": 2 / 3})
    assert "network_copies" not in alone  # no network left to share a weight

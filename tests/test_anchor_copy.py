"""A network that does not correct its classical anchor is that anchor's forecast: it shares the
anchor partner's weight in the equal-weight combination instead of counting twice."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import SMALL_NET

from lstmtune.anchor_copy import COPY_SHARE, anchor_forecast, copied_partner
from lstmtune.combine import describe, equal_weights
from lstmtune.config import load_config
from lstmtune.features import rmse

BASE: dict[str, Any] = {**SMALL_NET, "batch_size": 32, "epochs": 8, "cell": "lstm", "head": "last"}


def _problems(airline_csv: str, *anchors: str) -> list[Any]:
    from lstmtune.classical_fits import add_classical
    from lstmtune.data.prepare import prepare
    from lstmtune.problems import make_problem

    overrides = {"data.path": airline_csv, "data.target": "passengers"}
    cfg = load_config(None, {**overrides, "data.time_column": "month"}).resolved()
    parts, meta = prepare(cfg)
    add_classical(meta, parts, "train", extend_space=False)  # the anchors fitted on train
    return [
        make_problem(parts, meta, {**BASE, "lookback": 13, "transform": "none", "anchor": a})
        for a in anchors
    ]


def test_a_network_within_the_share_of_its_classical_anchor_copies_it(airline_csv: str) -> None:
    """The anchor forecast is the classical model's own (AutoARIMA fitted on train, from each
    validation origin); a network that moves it by 1 % of its error copies it, by 20 % does not;
    naive anchors and members on different anchors copy no partner."""
    from lstmtune.classical import spec_forecasts

    (problem,) = _problems(airline_csv, "arima")
    f = problem.featurizer
    anchor = anchor_forecast(problem, "val")
    series = problem.raw[:, f.target_index]
    assert f.classical is not None
    own = spec_forecasts(f.classical, series, problem.ends("val"), f.horizon, f.period)
    np.testing.assert_allclose(anchor, own, rtol=1e-5)
    truth = problem.tensors("val").raw_y
    error = rmse(anchor, truth)
    assert copied_partner([problem], anchor + 0.01 * error) == "arima"
    assert copied_partner([problem], anchor + 2 * COPY_SHARE * error) is None
    assert copied_partner([problem], anchor + 0.2 * error) is None
    seasonal = _problems(airline_csv, "seasonal")
    assert copied_partner(seasonal, anchor_forecast(seasonal[0], "val")) is None
    mixed = _problems(airline_csv, "arima", "ets")
    both = np.mean([anchor_forecast(p, "val") for p in mixed], axis=0)
    assert copied_partner(mixed, both) is None


def test_a_copy_shares_its_partners_weight_in_equal_weights() -> None:
    rng = np.random.default_rng(0)
    true = rng.normal(size=(40, 1)).cumsum(axis=0)
    arima = true + rng.normal(size=(40, 1))
    partners = {"arima": arima, "ets": true + 0.8}
    out = equal_weights(arima + 1e-3, partners, true, copy_of="arima")
    assert out["weights"] == pytest.approx({"network": 0.25, "arima": 0.25, "ets": 0.5})
    assert out["network_copies"] == "arima"
    mix = 0.25 * (arima + 1e-3) + 0.25 * arima + 0.5 * partners["ets"]
    assert out["val_rmse"] == pytest.approx(rmse(mix, true))
    line = describe(out)
    assert line is not None and "barely corrects its AutoARIMA anchor" in line
    plain = equal_weights(arima + 1e-3, partners, true)
    assert "network_copies" not in plain and len(set(plain["weights"].values())) == 1
    far = {"arima": true + 30.0, "ets": true + 0.8}  # the copied partner left out by the cut
    alone = equal_weights(true + 30.0, far, true, copy_of="arima")
    assert alone["weights"] == {"ets": 1.0} and "network_copies" not in alone


def test_the_published_combination_splits_the_share_of_a_network_that_learnt_nothing(
    airline_csv: str,
) -> None:
    """Through the retrain step's choice: a member anchored on AutoARIMA trained at a learning
    rate too small to move its zero head forecasts AutoARIMA's (train) forecast, so it and the
    AutoARIMA partner split one share; the same member at a real learning rate does not."""
    import copy

    from lstmtune.classical_fits import add_classical
    from lstmtune.data.prepare import prepare
    from lstmtune.final_forecast import prepare_final
    from lstmtune.retrain import FinalTrainer
    from lstmtune.training import select_device

    overrides = {"data.path": airline_csv, "data.target": "passengers"}
    cfg = load_config(None, {**overrides, "data.time_column": "month"}).resolved()
    parts, meta = prepare(cfg)
    add_classical(meta, parts, "train", extend_space=False)
    params = {**BASE, "lookback": 13, "transform": "none", "anchor": "arima"}
    device = select_device("cpu")
    still = FinalTrainer(cfg, {**params, "learning_rate": 1e-12}, 4, 0, device)
    combination, _ = prepare_final(parts, copy.deepcopy(meta), [still], combine=True, levels=[])
    assert combination is not None and combination.get("network_copies") == "arima"
    weights = combination["weights"]
    assert weights["network"] == pytest.approx(weights["arima"])
    assert weights["network"] + weights["arima"] == pytest.approx(weights.get("ets", 0.5))
    moving = FinalTrainer(cfg, {**params, "learning_rate": 0.05}, 20, 0, device)
    learnt, _ = prepare_final(parts, copy.deepcopy(meta), [moving], combine=True, levels=[])
    assert learnt is not None and "network_copies" not in learnt

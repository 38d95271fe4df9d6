"""Prediction intervals of the forecast task end to end: calibration with a real fit on validation
holds its nominal coverage on test, and a whole run publishes a pyfunc with the interval columns,
their coverage in the summary, the MLflow run and the KFP metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_NET

from lstmtune.config import RunConfig, load_config
from lstmtune.runner import format_summary, run_local

FIXED: dict[str, Any] = {
    **SMALL_NET,
    "lookback": 12,
    "batch_size": 64,
    "epochs": 6,
    "transform": "none",
    "anchor": "seasonal",
    "window_norm": False,
}


def _noisy_seasonal_csv(path: Path, n: int = 700, seed: int = 3) -> str:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 10 + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1.0, n)
    times = pd.date_range("1950-01-01", periods=n, freq="MS").strftime("%Y-%m")
    pd.DataFrame({"month": times, "y": y}).to_csv(path, index=False)
    return str(path)


def _served_coverage(cfg: RunConfig, tmp_path: Path) -> dict[str, float]:
    """The retrain step's forecast path in memory (calibrate on validation, train on train+val;
    no classical models, so the calibration trains its own train-only fit), the model saved and
    served by the pyfunc core on the whole series: the coverage and width of the served
    intervals at the test origins, checked equal to what the evaluation computes."""
    from lstmtune.conformal import bounds, interval_metrics, origin_scale
    from lstmtune.data.prepare import prepare
    from lstmtune.final_forecast import prepare_final
    from lstmtune.problems import make_problem
    from lstmtune.retrain import FinalTrainer
    from lstmtune.search_space import default_configuration, fixed_params
    from lstmtune.serving import Predictor, save_model_dir
    from lstmtune.training import ForecastProblem, select_device

    parts, meta = prepare(cfg)
    space = meta["search_space"]
    params = {**default_configuration(space, meta), **fixed_params(space)}
    trainer = FinalTrainer(cfg, params, 6, 0, select_device("cpu"))
    combination, intervals = prepare_final(parts, meta, [trainer], combine=False, levels=[80, 95])
    assert combination is None and intervals is not None and intervals["method"] == "scaled"
    assert intervals["n_calibration"] == 200 - 2 + 1 and intervals["extrapolated"] == []
    problem = make_problem(parts, meta, params)
    assert isinstance(problem, ForecastProblem)
    model = trainer(problem, problem.tensors("train", "val"))
    f = problem.featurizer
    spec = {"task": "forecast", "params": params, "n_features": problem.n_features}
    spec |= {"n_outputs": problem.n_outputs, "zero_head": problem.zero_head}
    save_model_dir(
        tmp_path / "model", model, spec | {"featurizer": f.to_dict(), "intervals": intervals}
    )
    served = Predictor.load(tmp_path / "model").predict(
        pd.DataFrame(problem.raw, columns=f.features)
    )
    ends = problem.ends("test")
    rows = served.iloc[ends - (f.lookback - 1)]
    true = f.raw_targets(problem.raw, ends)
    out: dict[str, float] = {"interval_points": float(len(true) + 1)}  # distinct test times
    for level in ("80", "95"):
        lo = rows[[f"step_{k}_lo_{level}" for k in (1, 2)]].to_numpy()
        hi = rows[[f"step_{k}_hi_{level}" for k in (1, 2)]].to_numpy()
        out[f"coverage_{level}"] = float(100 * np.mean((true >= lo) & (true <= hi)))
        out[f"width_{level}"] = float(np.mean(hi - lo))
    test = problem.tensors("test")
    scale = origin_scale(intervals, problem.raw[:, f.target_index], ends)
    evaluated = interval_metrics(true, bounds(problem.predict(model, test), intervals, scale))
    assert evaluated == pytest.approx(out, rel=1e-5)  # serving = evaluation
    return out


def test_calibrated_on_validation_a_real_fit_covers_near_nominal_on_test(tmp_path: Path) -> None:
    # i.i.d. noise around a season: a small network's validation residuals (trained on train) are
    # exchangeable with its test residuals (trained on train+val), so split conformal must cover
    # close to nominal on 199 test origins x 2 steps; calibrating on the wrong residuals (in
    # sample, the wrong step, a wrong rank) moves it off
    cfg = load_config(
        None,
        {
            "data.path": _noisy_seasonal_csv(tmp_path / "noisy.csv"),
            "data.target": "y",
            "data.time_column": "month",
            "data.horizon": 2,
            "data.val_size": 200,
            "data.test_size": 200,
            "tune.search_space": dict(FIXED),
            "output_dir": str(tmp_path / "out"),
        },
    ).resolved()
    m = _served_coverage(cfg, tmp_path)
    assert abs(m["coverage_80"] - 80) < 7, m
    assert abs(m["coverage_95"] - 95) < 5, m
    assert 0 < m["width_80"] < m["width_95"]
    # N(0, 1) noise: the ideal 80 % interval is 2 * 1.28 wide; a fitted model adds a little
    assert 2.3 < m["width_80"] < 4.2, m


@pytest.mark.slow
def test_forecast_run_publishes_intervals_and_their_coverage(
    tiny_config: Callable[..., RunConfig], airline_csv: str
) -> None:
    # validation-chosen weights: the protocol issue 14's figures were measured with (equal
    # weights give this 3-epoch network's run 88.1 / 95.2, over-covering on the safe side)
    cfg = tiny_config(
        **{"evaluate.gate": "naive", "data.horizon": 2, "evaluate.combine_weights": "validation"}
    )
    summary = run_local(cfg)
    test = summary["test_metrics"]
    for level in ("80", "95"):
        assert 0 <= test[f"coverage_{level}"] <= 100 and test[f"width_{level}"] > 0
        # issue 14's target on airline, real fits and seeds fixed (76.2 / 90.5 measured)
        assert abs(test[f"coverage_{level}"] - int(level)) <= 7, test
    assert test["width_95"] > test["width_80"]
    assert "intervals on test: 80% covers" in format_summary(summary)

    client = mlflow.MlflowClient(summary["tracking_uri"])
    logged = client.get_run(summary["parent_run_id"]).data.metrics
    assert logged["test_coverage_80"] == pytest.approx(test["coverage_80"])
    assert logged["test_width_95"] == pytest.approx(test["width_95"])
    run_dir = next((Path(cfg.output_dir) / "kfp").glob("*/train-best"))
    executor = json.loads((run_dir / "executor_output.json").read_text())
    kfp_metrics = executor["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert kfp_metrics["test_coverage_95"] == pytest.approx(test["coverage_95"])
    spec = json.loads((run_dir / "model" / "spec.json").read_text())  # JSON, no pickle
    assert (
        spec["intervals"]["levels"] == [80, 95] and len(spec["intervals"]["quantiles"]["80"]) == 2
    )

    mlflow.set_tracking_uri(summary["tracking_uri"])
    model = mlflow.pyfunc.load_model(f"models:/{summary['model_name']}@champion")
    lookback = int(summary["history_rows"])  # the longest member lookback
    pred = model.predict(pd.read_csv(airline_csv).tail(lookback + 4))
    bands = [f"step_{k}_{side}_{lv}" for k in (1, 2) for lv in (80, 95) for side in ("lo", "hi")]
    assert list(pred.columns) == ["month", "step_1", "step_2", *bands] and len(pred) == 5
    for k in (1, 2):
        step = pred[f"step_{k}"]
        assert (pred[f"step_{k}_lo_95"] <= pred[f"step_{k}_lo_80"]).all()
        assert (pred[f"step_{k}_lo_80"] <= step).all() and (step <= pred[f"step_{k}_hi_80"]).all()
        assert (pred[f"step_{k}_hi_80"] <= pred[f"step_{k}_hi_95"]).all()

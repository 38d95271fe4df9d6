"""The scale of a panel's metrics and intervals and the errors of a served batch: a series
without an in-sample scale is left out of every mean over series (never scaled by 1 in its own
units), the intervals of a series the model saw follow the scale of the history sent, and a
batch with bad series names them all, with real fits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import PANEL_NET

from lstmtune.config import load_config
from lstmtune.data.prepare import prepare
from lstmtune.model import build_model
from lstmtune.panel_problem import PanelTensorSet
from lstmtune.problems import make_problem
from lstmtune.synthetic import panel_frame

PARAMS: dict[str, Any] = PANEL_NET


def _panel(tmp_path: Path, name: str, frame: pd.DataFrame) -> Any:
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    keys = {"data.target": "y", "data.time_column": "month", "data.series_column": "id"}
    keys |= {"data.test_size": 12, "data.val_size": 12, "data.path": str(path)}
    parts, meta = prepare(load_config(None, keys).resolved())
    problem = make_problem(parts, meta, PARAMS)
    model = build_model(problem.n_features, problem.n_outputs, PARAMS, zero_head=True)
    return problem, model, meta, parts


def _with_stuck(factor: float, constant_too: bool = False) -> pd.DataFrame:
    """Three series and one constant on its train part (48 rows), moving on val and test."""
    base = panel_frame(3, 72, seed=3)
    months = base[base.id == "s0000"]["month"].to_numpy()
    rng = np.random.default_rng(0)
    stuck = np.r_[np.full(48, 100.0), 100 + 10 * rng.standard_normal(24)] * factor
    extra = [pd.DataFrame({"id": "stuck", "month": months, "y": stuck})]
    if constant_too:
        extra.append(pd.DataFrame({"id": "flat", "month": months, "y": 7.0}))
    return pd.concat([base, *extra], ignore_index=True)


def test_a_series_constant_on_train_is_left_out_of_the_means_whatever_its_units(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lstmtune.final_panel import evaluate_panel

    values = []
    for factor in (1.0, 1000.0):
        problem, model, meta, _ = _panel(tmp_path, f"x{factor:g}", _with_stuck(factor))
        assert np.isnan(problem.scales[problem.series_ids.index("stuck")])
        val = problem.tensors("val")
        assert isinstance(val, PanelTensorSet)
        objective = problem.objective_from_outputs(problem.predict_scaled(model, val), val)
        ev = evaluate_panel(problem, model, meta)
        naive = ev.baselines["seasonal_naive_12"]["mase"]  # the gate's side, same rule
        values.append((objective, ev.test_metrics["mase"], ev.test_metrics["smape"], naive))
        assert ev.details["per_series"]["stuck"]["mase"] is None
        assert ev.details["per_series"]["stuck"]["smape"] > 0  # its own errors stay reported
    np.testing.assert_allclose(values[0], values[1], rtol=1e-9)
    assert "'stuck'" in capsys.readouterr().out  # the warning names it
    # a series constant throughout (every method scores 0 on it) leaves every mean unchanged
    problem, model, meta, _ = _panel(tmp_path, "flat", _with_stuck(1.0, constant_too=True))
    flat = evaluate_panel(problem, model, meta)
    assert flat.test_metrics["mase"] == pytest.approx(values[0][1])
    assert flat.test_metrics["smape"] == pytest.approx(values[0][2])


def test_served_intervals_of_a_known_series_follow_the_history_sent(tmp_path: Path) -> None:
    from lstmtune.final_panel import evaluate_panel
    from lstmtune.panel_intervals import calibrate_panel, member_bounds
    from lstmtune.registry_panel import member_history
    from lstmtune.serving_panel import predict_panel

    frame = panel_frame(3, 72, seed=3)
    problem, model, meta, parts = _panel(tmp_path, "p", frame)
    intervals = calibrate_panel(problem, model, [80.0])
    ev = evaluate_panel(problem, model, meta, intervals)
    spec = {**ev.spec_extra, "params": PARAMS}
    test = problem.tensors("test")
    assert test.series is not None
    band = member_bounds(problem, problem.predict(model, test), test.series, intervals)["80"]
    history = member_history(parts, meta, "s0001")
    served = predict_panel(model, spec, history)  # one row per origin, from lookback - 1 on
    origins = problem.members[1].ends("test") - (PARAMS["lookback"] - 1)
    width = (served["step_1_hi_80"] - served["step_1_lo_80"]).to_numpy()[origins]
    np.testing.assert_allclose(width, (band[1] - band[0])[test.series == 1, 0], rtol=1e-6)
    scaled = predict_panel(model, spec, history.assign(y=history["y"] * 10))
    ratio = (scaled["step_1_hi_80"] - scaled["step_1_lo_80"]) / (
        served["step_1_hi_80"] - served["step_1_lo_80"]
    )
    np.testing.assert_allclose(ratio, 10.0, rtol=1e-6)  # x10 history: x10 widths, as for a new id
    cover = ev.details["per_series"]["s0001"]["coverage_80"]
    assert cover is not None and 0 <= cover <= 100


def test_a_batch_with_bad_series_names_every_one_of_them(tmp_path: Path) -> None:
    from lstmtune.final_panel import evaluate_panel
    from lstmtune.registry_panel import member_history
    from lstmtune.serving_panel import predict_panel

    problem, model, meta, parts = _panel(tmp_path, "p", panel_frame(3, 72, seed=3))
    spec = {**evaluate_panel(problem, model, meta).spec_extra, "params": PARAMS}
    good = member_history(parts, meta, "s0000")
    short = member_history(parts, meta, "s0001").tail(5)
    gap = member_history(parts, meta, "s0002").drop(index=[30])
    assert len(predict_panel(model, spec, good)) == len(good) - 12
    with pytest.raises(ValueError) as err:
        predict_panel(model, spec, pd.concat([good, short, gap]))
    message = str(err.value)
    assert "2 of 3 series" in message and "'s0001'" in message and "'s0002'" in message
    assert "lookback=13" in message and "\n" not in message
    with pytest.raises(ValueError, match=r"^series 's0001' has 5 rows"):  # one: its own line
        predict_panel(model, spec, pd.concat([good, short]))


def test_the_report_names_the_series_left_out_and_ranks_those_without_mase_last() -> None:
    from lstmtune.report_sections import _series_section

    row = {"smape": 3.0, "rmse": 1.0, "mae": 1.0, "windows": 12, "coverage_80": 75.0}
    panel = {
        "series_column": "id",
        "dropped": {"s9": "12 rows, fewer than 37", "<b>": "constant"},
        "per_series": {"stuck": {**row, "mase": None}, "a": {**row, "mase": 0.8}},
    }
    html = _series_section({"panel": panel})
    assert "2 series left out: &#x27;s9&#x27;: 12 rows, fewer than 37" in html
    assert "&lt;b&gt;" in html and "<b>" not in html
    assert html.index(">a<") < html.index(">stuck<") and "<th>coverage_80</th>" in html

"""A per-series embedding for a model of many series (``series_embedding_dim``, as in DeepAR):
the network reads which series a window belongs to, the pyfunc feeds it for every known series
and refuses a series it has no embedding for; with real fits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import run_katib_trial

from lstmtune.config import load_config
from lstmtune.data.prepare import prepare
from lstmtune.errors import UserError
from lstmtune.panel_problem import PanelTensorSet
from lstmtune.problems import make_problem
from lstmtune.synthetic import panel_frame

KEYS = {
    "data.target": "y",
    "data.time_column": "month",
    "data.test_size": 12,
    "data.val_size": 12,
}


def _params(dim: int) -> dict[str, Any]:
    params: dict[str, Any] = {"lookback": 13, "anchor": "seasonal", "transform": "none"}
    params.update(window_norm=False, units=8, num_layers=1, dropout=0.0, bidirectional=False)
    params.update(cell="lstm", learning_rate=0.01, batch_size=16, optimizer="adam")
    params.update(weight_decay=0.0, epochs=4, series_embedding_dim=dim)
    return params


@pytest.fixture
def prepared(tmp_path: Path) -> Any:
    path = tmp_path / "panel.csv"
    panel_frame(5, 72, seed=3, min_length=60).to_csv(path, index=False)
    cfg = load_config(None, {"data.path": str(path), "data.series_column": "id", **KEYS})
    return prepare(cfg.resolved())


def test_windows_carry_their_series_index_and_the_network_embeds_it(prepared: Any) -> None:
    from lstmtune.training import new_model

    parts, meta = prepared
    plain = make_problem(parts, meta, _params(0))
    problem = make_problem(parts, meta, _params(4))
    assert plain.n_series == 0 and problem.n_series == 5
    assert problem.n_features == plain.n_features + 1
    test = problem.tensors("test")
    assert isinstance(test, PanelTensorSet) and test.series is not None
    np.testing.assert_array_equal(
        test.x[:, :, -1].numpy(), np.broadcast_to(test.series[:, None], test.x.shape[:2])
    )
    model = new_model(problem, _params(4), torch.device("cpu"))
    assert model.series_embedding is not None and model.series_embedding.weight.shape == (5, 4)
    assert model.lstm.input_size == plain.n_features + 4
    model.eval()
    with torch.no_grad():  # the forecast head starts at zero (the anchor): give it weights
        model.head.weight.normal_()
    before = problem.predict(model, test)
    with torch.no_grad():
        model.series_embedding.weight[2] += 1.0  # only series 2 reads this row
    after = problem.predict(model, test)
    changed = ~np.isclose(before, after).all(axis=1)
    assert changed[test.series == 2].all() and not changed[test.series != 2].any()


def test_the_pyfunc_feeds_each_known_series_its_embedding_and_refuses_a_new_one(
    prepared: Any,
) -> None:
    from lstmtune.final_panel import evaluate_panel
    from lstmtune.registry_panel import member_history, panel_score_on_test
    from lstmtune.retrain import _spec
    from lstmtune.serving import Predictor
    from lstmtune.training import train

    parts, meta = prepared
    params = _params(4)
    problem = make_problem(parts, meta, params)
    result = train(
        problem, params, problem.tensors("train"), None, epochs=4, device=torch.device("cpu")
    )
    ev = evaluate_panel(problem, result.model, meta)  # type: ignore[arg-type]
    spec = _spec(meta, params, problem, 4, ev.spec_extra)
    predictor = Predictor(spec, result.model.state_dict())
    served = panel_score_on_test(predictor.predict, parts, meta, 13)
    assert served == pytest.approx(ev.test_metrics["mase"], rel=1e-5)
    new = member_history(parts, meta, meta["panel"]["series"][1]).assign(id="brand-new")
    with pytest.raises(ValueError, match=r"series 'brand-new'.*series_embedding_dim=4"):
        predictor.predict(new)


def test_the_embedding_is_a_panel_hyperparameter(prepared: Any) -> None:
    from lstmtune.data.panel import space_meta
    from lstmtune.search_space import resolve_search_space

    meta = space_meta(prepared[1])
    cfg = load_config(None, {"data.path": "x.csv", **KEYS}).resolved()
    space = resolve_search_space(cfg, meta, min_train_windows=8)
    assert space["series_embedding_dim"] == {"type": "fixed", "value": 0}  # off by default
    single = dict(meta, n_series=1)
    cfg = load_config(
        None, {"data.path": "x.csv", **KEYS, "tune.search_space": {"series_embedding_dim": [0, 8]}}
    ).resolved()
    assert resolve_search_space(cfg, meta, min_train_windows=8)["series_embedding_dim"][
        "choices"
    ] == [0, 8]
    with pytest.raises(UserError, match="series_embedding_dim: a per-series embedding needs many"):
        resolve_search_space(cfg, single, min_train_windows=8)


def test_a_katib_trial_trains_a_panel_with_its_assigned_embedding(tmp_path: Path) -> None:
    """The Katib backend takes the panel's prepared dataset and search space unchanged: the
    rendered Experiment's trial command, with ``series_embedding_dim`` assigned 4, reports the
    panel's objective (``val_mase``) in Katib's metric format."""
    from lstmtune.data.prepare import write_prepared
    from lstmtune.katib import build_experiment

    path = tmp_path / "panel.csv"
    panel_frame(4, 60, seed=5).to_csv(path, index=False)
    space = {"epochs": 3, "units": 8, "lookback": 13, "series_embedding_dim": [0, 4]}
    overrides = {"data.path": str(path), "data.series_column": "id", **KEYS}
    overrides.update({"tune.search_space": space, "tune.katib.data_uri": "s3://bucket/prepared"})
    overrides.update({"output_dir": str(tmp_path / "out")})
    cfg = load_config(None, overrides).resolved()
    parts, meta = prepare(cfg)
    data = tmp_path / "prepared"
    write_prepared(parts, meta, str(data))
    exp = build_experiment(cfg, meta, name="panel-trial", data_uri=str(data))
    spec = exp["spec"]
    embedding = next(p for p in spec["parameters"] if p["name"] == "series_embedding_dim")
    assert embedding["feasibleSpace"]["list"] == ["0", "4"]
    runs = {dim: _val_mase(run_katib_trial(exp, data, series_embedding_dim=dim)) for dim in "04"}
    assert runs["0"] and runs["4"] and all(np.isfinite(runs["4"]))
    assert runs["0"] != runs["4"]  # the assigned embedding is trained (another network)


def _val_mase(stdout: str) -> list[float]:
    """The ``val_mase`` metric lines of a trial's output, parsed with Katib's regex."""
    from lstmtune.katib import METRICS_REGEX

    return [
        float(v)
        for line in stdout.splitlines()
        for n, v, *_ in METRICS_REGEX.findall(line)
        if n == "val_mase"
    ]

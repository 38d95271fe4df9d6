"""Each part of a published forecast mix scored alone on test (lstmtune.final_forecast's
``combination_test``): the parts are exactly what the mix combines, scored as the mix is."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from lstmtune.classical import fit_spec, spec_forecasts
from lstmtune.combine import apply, part_forecasts
from lstmtune.config import RunConfig
from lstmtune.data.prepare import prepare
from lstmtune.evaluate import forecast_metrics, observed
from lstmtune.final_forecast import _part_metrics
from lstmtune.nonnegative import decide
from lstmtune.problems import make_problem


@pytest.mark.parametrize("weights", [{"network": 0.5, "arima": 0.3, "ets": 0.2}, {"ets": 1.0}])
def test_the_parts_are_what_the_mix_combines(
    tiny_config: Callable[..., RunConfig], weights: dict[str, float]
) -> None:
    """On the bundled airline's test split: the weighted parts add up to the published mix (also
    without the network, as after a failed retrain check), the network part is the network's
    own forecast and each partner's figure that of its spec alone."""
    data, meta = prepare(tiny_config())
    params = {"lookback": 13, "anchor": "last", "transform": "none", "window_norm": False}
    problem = make_problem(data, meta, {**params, "batch_size": 16})
    f = problem.featurizer
    series, ends = problem.raw[:, f.target_index], problem.ends("test")
    fit_end = int(meta["splits"]["test"]["start"])
    specs = {k: fit_spec(k, series[:fit_end], 12) for k in ("arima", "ets")}
    network = series[ends][:, None] * 1.01  # persistence, 1 % high: a forecast unlike the others
    combination = {"weights": weights, "specs": {k: specs[k] for k in weights if k in specs}}
    forecasts = part_forecasts(combination, network, series, ends, f.period)
    mixed = sum(w * forecasts[k] for k, w in weights.items())
    assert np.allclose(mixed, apply(combination, network, series, ends, f.period))
    test = problem.tensors("test")
    assert test.raw_y is not None
    true = observed(test.raw_y, ends, None)
    parts = _part_metrics(combination, network, problem, true, decide("auto", series[:fit_end]))
    assert parts is not None and set(parts) == {"network", *weights}
    assert parts["network"] == forecast_metrics(network, true)
    ets = spec_forecasts(specs["ets"], series, ends, 1, 12)
    assert parts["ets"]["rmse"] == pytest.approx(forecast_metrics(ets, true)["rmse"])
    assert _part_metrics({"weights": {"network": 1.0}}, network, problem, true, {}) is None

"""AutoETS's models refitted to a better optimum (lstmtune.classical_ets_fit): the anchor and
combination partner, never the ``auto_ets`` baseline."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsforecast.models import AutoETS

from lstmtune import classical, classical_ets_fit
from lstmtune.classical import fit_model, fit_spec, model_forecasts, spec_forecasts
from lstmtune.classical_ets_fit import best_fit, candidates, refined
from lstmtune.config import RunConfig, example_data_path

BENCH_DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data"


@pytest.fixture(scope="module")
def airline() -> np.ndarray:
    y: np.ndarray = pd.read_csv(example_data_path())["passengers"].to_numpy(dtype=np.float64)
    return y


def _wineind() -> np.ndarray:
    y: np.ndarray = pd.read_csv(BENCH_DATA / "wineind.csv")["sales"].to_numpy(dtype=np.float64)
    return y


def test_the_airlines_ets_partner_gets_the_trend_autoets_missed(airline: np.ndarray) -> None:
    """AutoETS stops ETS(M,A,M)'s search far from its optimum on the first 122 months and picks
    the model without a trend; the refit finds the trend model's optimum, and the published
    partner forecasts six steps ahead better. The baseline stays AutoETS's own fit."""
    model = fit_model("ets", airline[:122], 12)
    assert model.model_["method"] == "ETS(M,N,M)"
    spec = fit_spec("ets", airline[:122], 12)
    assert spec["method"] == "ETS(M,A,M)" and spec["refit"] == "ETS(M,N,M) by AutoETS"
    fit = best_fit(airline[:122], 12)
    assert fit is not None and fit.aicc < float(model.model_["aicc"]) - 50
    ends = np.arange(121, 144 - 6)
    true = np.stack([airline[t + 1 : t + 7] for t in ends])
    partner = spec_forecasts(spec, airline, ends, 6, 12)
    baseline = model_forecasts(model, airline, ends, 6)
    rmse = [float(np.sqrt(np.mean((f - true) ** 2))) for f in (partner, baseline)]
    assert rmse[0] < 0.85 * rmse[1]  # 33.6 against 41.9 passengers


@pytest.mark.parametrize("horizon", [1, 3])
@pytest.mark.parametrize("name", ["airline", "wineind"])
def test_a_refitted_spec_forecasts_as_statsforecast_does_with_its_parameters(
    airline: np.ndarray, name: str, horizon: int
) -> None:
    """The refit's spec through lstmtune's recursion equals statsforecast's ``forward`` of the
    same model and parameters (its own AutoETS object given the refit as its fitted model)."""
    y = airline if name == "airline" else _wineind()
    fit_end = len(y) - 22
    fit = best_fit(y[:fit_end], 12)
    assert fit is not None
    spec = json.loads(json.dumps(fit_spec("ets", y[:fit_end], 12)))  # survives JSON
    assert spec["method"] == fit.method
    sf = AutoETS(season_length=12).fit(y[:fit_end])
    components = f"{fit.error}{fit.trend}{fit.season}{'D' if fit.damped else 'N'}"
    params = [fit.params[k] for k in ("alpha", "beta", "gamma", "phi")]
    sf.model_ = {**sf.model_, "components": components, "m": fit.m}
    sf.model_["par"] = np.array(params + fit.states)
    ends = np.arange(fit_end - 1, len(y) - horizon)
    reference = np.stack([sf.forward(y=y[: t + 1], h=horizon)["mean"] for t in ends])
    mine = spec_forecasts(spec, y, ends, horizon, 12)
    assert np.allclose(mine, reference, rtol=1e-9, atol=1e-6)


def test_a_damped_trend_autoets_chose_stays_damped(monkeypatch: pytest.MonkeyPatch) -> None:
    """austres (R's quarterly Australian residents, a held-out benchmark series): AutoETS picks
    ETS(A,Ad,N); among all candidates the refit's best AICc is the undamped ETS(A,A,N), which
    forecasts the last 13 quarters six steps ahead about 1.5x worse. Kept damped, the partner
    forecasts as well as AutoETS's own fit."""
    frame = pd.read_csv(BENCH_DATA / "heldout" / "austres.csv")
    y = frame["value"].to_numpy(dtype=np.float64)
    fit_end = len(y) - 13
    ends = np.arange(fit_end - 1, len(y) - 6)
    true = np.stack([y[t + 1 : t + 7] for t in ends])

    def rmse(spec: dict[str, object]) -> float:
        return float(np.sqrt(np.mean((spec_forecasts(spec, y, ends, 6, 4) - true) ** 2)))

    model = fit_model("ets", y[:fit_end], 4)
    assert model.model_["method"] == "ETS(A,Ad,N)"
    baseline = float(np.sqrt(np.mean((model_forecasts(model, y, ends, 6) - true) ** 2)))
    monkeypatch.setattr(classical, "_FITTED", OrderedDict())
    kept = fit_spec("ets", y[:fit_end], 4)
    assert kept["damped"] and rmse(kept) < 1.05 * baseline
    monkeypatch.setattr(classical, "_FITTED", OrderedDict())
    monkeypatch.setattr(classical_ets_fit, "KEEP_DAMPED", False)
    free = fit_spec("ets", y[:fit_end], 4)
    assert free["method"] == "ETS(A,A,N)" and rmse(free) > 1.3 * baseline
    assert not any(t == "A" and not d for _, t, _, d in candidates(y, 4, keep_damped=True))


def test_autoets_own_fit_stays_where_the_refit_does_not_beat_it(airline: np.ndarray) -> None:
    model = fit_model("ets", airline[:122], 12)
    spec = {"kind": "ets", "method": "ETS(M,N,M)", "trend": "N", "season": "M"}
    assert refined(spec, airline[:122], 12, aicc=-np.inf) is spec
    assert refined(spec, airline[:122], 12, aicc=float(model.model_["aicc"])) is not spec


def test_statsforecasts_internals_failing_leave_autoets_own_fit(
    airline: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statsforecast release whose ETS internals changed: the partner is AutoETS's fit."""
    from statsforecast import ets

    monkeypatch.setattr(classical, "_FITTED", OrderedDict())  # no fit (or refit) kept from before
    model = fit_model("ets", airline[:110], 12)  # fitted before the change (and kept)

    def moved(**_: object) -> None:
        raise TypeError("optimize_ets_target_fn() got an unexpected keyword argument")

    monkeypatch.setattr(ets, "optimize_ets_target_fn", moved)
    spec = fit_spec("ets", airline[:110], 12)
    assert spec["method"] == model.model_["method"]
    assert "refit" not in spec


def test_the_candidates_are_autoets_models() -> None:
    positive = np.arange(1.0, 40.0)
    models = set(candidates(positive, 4))
    assert len(models) == 15  # R's ets with restrict=TRUE, no multiplicative trend
    assert ("A", "N", "M", False) not in models and ("M", "A", "M", True) in models
    crossing = positive - 10
    assert all(e == "A" and s != "M" for e, _, s, _ in candidates(crossing, 4))
    assert {s for _, _, s, _ in candidates(positive, 1)} == {"N"}
    assert {s for _, _, s, _ in candidates(positive[:4], 4)} == {"N"}  # not longer than a season
    assert classical_ets_fit.LOWER[3] == 0.8 and classical_ets_fit.UPPER[3] == 0.98


def test_the_published_line_names_the_refitted_partner(
    airline: np.ndarray, tiny_config: Callable[..., RunConfig]
) -> None:
    """The ``auto_ets`` baseline row shows AutoETS's model; the line saying what the published
    forecast is names the model its ETS partner is (the validation choice records it)."""
    from lstmtune.combine import describe, validation_choice
    from lstmtune.data.prepare import prepare
    from lstmtune.problems import make_problem

    parts, meta = prepare(tiny_config())  # the bundled airline: train+val ends at month 122
    params = {"lookback": 13, "anchor": "last", "transform": "none", "window_norm": False}
    problem = make_problem(parts, meta, {**params, "batch_size": 16})
    fit_end = int(meta["splits"]["test"]["start"])
    specs = {kind: fit_spec(kind, airline[:fit_end], 12) for kind in ("arima", "ets")}
    n = len(problem.ends("val"))
    out = validation_choice(problem, np.full((n, 1), airline[:fit_end].mean()), specs, "equal")
    assert out["partners_refitted"] == {"ets": "ETS(M,A,M)"}
    line = describe({**out, "weights": {"network": 0.5, "arima": 0.25, "ets": 0.25}})
    assert line is not None and "0.25 x AutoETS refitted as ETS(M,A,M) (" in line


def test_a_series_fitted_again_is_not_refitted_again(
    airline: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A served series sent again reuses its fit (fit_model's cache) and its refit; the specs
    handed out are the caller's own (changing one leaves the next alone)."""
    monkeypatch.setattr(classical, "_FITTED", OrderedDict())
    calls: list[int] = []

    def counted(y: np.ndarray, m: int, keep: bool = False) -> classical_ets_fit.EtsFit | None:
        calls.append(len(y))
        return best_fit(y, m, keep)

    monkeypatch.setattr(classical_ets_fit, "best_fit", counted)
    first = fit_spec("ets", airline[:122], 12)
    first["init"][0] = -1.0
    second = fit_spec("ets", airline[:122], 12)
    assert calls == [122] and second["method"] == "ETS(M,A,M)" and second["init"][0] > 0
    fit_spec("ets", airline[:121], 12)
    assert calls == [122, 121]

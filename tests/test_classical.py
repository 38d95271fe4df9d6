"""Classical forecasters (statsforecast) as baselines and as JSON specs, and the promotion gate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmtune.classical import (
    ClassicalError,
    arima_warmup,
    classical_baselines,
    fit_model,
    fit_spec,
    model_forecasts,
    spec_forecasts,
)
from lstmtune.classical_scale import fit_scale
from lstmtune.config import example_data_path
from lstmtune.evaluate import (
    decide_promotion,
    forecast_baselines,
    forecast_classical_baselines,
    forecast_metrics,
    gate_baseline,
    gate_baselines,
)
from lstmtune.features import ForecastFeaturizer

BENCH_DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data"


@pytest.fixture(scope="module")
def airline() -> np.ndarray:
    y: np.ndarray = pd.read_csv(example_data_path())["passengers"].to_numpy(dtype=np.float64)
    return y


def _featurizer() -> ForecastFeaturizer:
    return ForecastFeaturizer(
        features=["passengers"],
        target="passengers",
        target_index=0,
        lookback=13,
        horizon=1,
        transform="none",
        anchor="last",
        window_norm=False,
        period=12,
        mean=[0.0],
        std=[1.0],
    )


@pytest.mark.parametrize("kind", ["arima", "ets", "theta"])
def test_baseline_forecasts_read_only_the_history_before_each_origin(
    airline: np.ndarray, kind: str
) -> None:
    """A one-step baseline forecast from origin t must not change when the rows after its target
    change: AutoTheta's in-sample fitted values decompose the whole series (and its standard
    models fit the trend on all of it), so its test forecasts come from each origin's own
    history."""
    model = fit_model(kind, airline[:122], 12)
    ends = np.arange(121, 131)
    before = model_forecasts(model, airline, ends, 1)
    later = airline.copy()
    later[126:] *= 1.5  # after the targets of the origins 121..124, inside the forecast rows
    after = model_forecasts(model, later, ends, 1)
    assert np.allclose(after[:4], before[:4], rtol=1e-10)
    assert not np.allclose(after[5:], before[5:])  # the later origins do see the change
    if kind == "theta":
        own = [float(model.forward(y=airline[: t + 1], h=1)["mean"][0]) for t in ends]
        assert np.allclose(before[:, 0], own, rtol=1e-10)


def _series(name: str) -> tuple[np.ndarray, int, int]:
    """``(series, season, fit rows)`` of a benchmark series, or a random walk with drift."""
    if name in ("drift", "crossing"):  # a positive random walk with drift, one through zero
        walk = np.cumsum(np.random.default_rng(0).normal(0.5, 1.0, 120))
        return walk + (50.0 if name == "drift" else -20.0), 1, 100
    column, season = {"wineind": ("sales", 12), "nile": ("volume", 1)}[name]
    y = pd.read_csv(BENCH_DATA / f"{name}.csv")[column].to_numpy(dtype=np.float64)
    return y, season, len(y) - 24


@pytest.mark.parametrize("horizon", [1, 3])
@pytest.mark.parametrize("name", ["airline", "wineind", "nile", "drift", "crossing"])
def test_arima_spec_reproduces_statsforecast_after_its_warmup(
    airline: np.ndarray, name: str, horizon: int
) -> None:
    """The JSON spec's Kalman filter gives statsforecast's own ``forward`` forecasts from every
    origin after the warmup, MA terms included (wineind: (0,1,1)(0,1,1)[12], where the earlier
    conditional-sum-of-squares recursion was 0.2 standard deviations off at early origins and
    1e-3 at the test ones; nile (1,1,1); a drift). A positive series' spec is AutoARIMA on its
    log values with ``log`` (``exp`` of that model's forecasts); one through zero keeps the
    values."""
    y, season, fit_end = (airline, 12, 122) if name == "airline" else _series(name)
    assert not fit_spec("arima", y[:fit_end], season).get("log")  # the values by default
    spec = json.loads(json.dumps(fit_spec("arima", y[:fit_end], season, log=True)))
    assert spec["kind"] == "arima" and arima_warmup(spec) < fit_end
    assert bool(spec.get("log")) == (name != "crossing")  # logs only of a positive series
    z = np.log(y) if spec.get("log") else y
    model = fit_model("arima", z[:fit_end], season)
    ends = np.arange(arima_warmup(spec), len(y) - horizon)
    reference = np.array([model.forward(y=z[: t + 1], h=horizon)["mean"] for t in ends])
    reference = np.exp(reference) if spec.get("log") else reference
    mine = spec_forecasts(spec, y, ends, horizon, season)
    assert np.abs(mine - reference).max() <= 1e-7 * np.std(y)


def test_an_arima_spec_near_a_seasonal_unit_root_stays_on_statsforecasts_forecasts() -> None:
    """A seasonal AR coefficient of 0.9999 (13 ARMA states: scipy's bilinear Lyapunov solver):
    the filter starts from an exactly symmetric covariance and keeps it symmetric, so rounding
    does not grow along the near-unit root (it was 42 standard deviations off)."""
    from statsforecast.models import ARIMA

    rng = np.random.default_rng(0)
    n = 240
    season = 10 * np.sin(2 * np.pi * np.arange(n) / 12)
    y = 100 + np.cumsum(rng.normal(size=n)) * 0.3 + season + rng.normal(size=n)
    coef = {"ma1": -0.4, "sar1": 0.9999}
    model = ARIMA(order=(0, 1, 1), seasonal_order=(1, 1, 0), season_length=12, fixed=dict(coef))
    model.fit(y[:200])
    spec = {"kind": "arima", "order": [0, 1, 1], "seasonal_order": [1, 1, 0], "m": 12}
    ends = np.arange(25, n - 1)
    reference = np.array([model.forward(y=y[: t + 1], h=1)["mean"][0] for t in ends])
    mine = spec_forecasts({**spec, "coef": coef}, y, ends, 1, 12)[:, 0]
    assert np.abs(mine - reference).max() <= 1e-7 * np.std(y)


def test_an_arima_spec_with_a_unit_ar_root_still_forecasts() -> None:
    """No stationary start exists for an AR root of exactly 1 or -1: that part starts diffuse,
    and the forecasts stay finite (the Lyapunov solve raised before)."""
    y = np.cumsum(np.random.default_rng(0).normal(size=80)) + 10.0
    for coef in ({"ar1": 1.0}, {"ar1": -1.0}):
        spec = {"kind": "arima", "order": [1, 0, 0], "seasonal_order": [0, 0, 0], "m": 1}
        out = spec_forecasts({**spec, "coef": coef}, y, np.arange(5, 78), 2, 1)
        assert np.isfinite(out).all()
    walk = spec_forecasts({**spec, "coef": {"ar1": 1.0}}, y, np.arange(5, 79), 1, 1)
    assert np.allclose(walk[:, 0], y[5:79], atol=1e-3)  # a random walk's forecast: the last value


def test_a_published_arima_spec_brings_scipy_into_the_pyfunc_requirements() -> None:
    """The ARIMA recursion's stationary start needs scipy wherever an ARIMA spec sits."""
    from lstmtune.registry_model import pip_requirements

    arima = {"kind": "arima", "order": [0, 1, 1], "seasonal_order": [0, 0, 0], "m": 1}
    for spec in (
        {"combination": {"specs": {"arima": arima}}},
        {"members": [{"featurizer": {"classical": arima}}]},
    ):
        assert any(r.startswith("scipy==") for r in pip_requirements(spec))
    plain = {"combination": {"specs": {"ets": {"kind": "ets"}}}, "featurizer": {"anchor": "last"}}
    assert not any(r.startswith("scipy==") for r in pip_requirements(plain))


def test_arima_spec_falls_back_to_seasonal_naive_before_its_warmup(airline: np.ndarray) -> None:
    spec = fit_spec("arima", airline[:122], 12)
    early = np.arange(0, arima_warmup(spec) - 1)
    out = spec_forecasts(spec, airline, early, 1, 12)
    seasonal = early >= 11
    assert np.array_equal(out[seasonal, 0], airline[early[seasonal] + 1 - 12])
    assert np.array_equal(out[~seasonal, 0], airline[early[~seasonal]])


def test_a_series_too_short_or_constant_is_reported_not_raised() -> None:
    ends = np.arange(5, 9)
    for y in (np.arange(10, dtype=np.float64), np.full(60, 3.0)):
        preds, failed, seconds = classical_baselines(y, 6 if len(y) == 10 else 50, ends, 1, 12)
        assert preds == {} and set(failed) == {"auto_arima", "auto_ets"}
        assert set(seconds) == {"auto_arima", "auto_ets"}
    with pytest.raises(ClassicalError, match="auto_ets: its values never change"):
        fit_spec("ets", np.full(60, 3.0), 12)  # the reason, not a row count
    with pytest.raises(ClassicalError, match="auto_arima: 10 rows cannot be fitted"):
        fit_spec("arima", np.arange(10, dtype=np.float64), 12)


def _scored(airline: np.ndarray) -> tuple[dict[str, dict[str, float]], np.ndarray, np.ndarray]:
    f = _featurizer()
    raw = airline[:, None]
    ends = f.split_ends(122, 144)
    baselines = forecast_baselines(f, raw, ends)
    classical, failed, _, preds = forecast_classical_baselines(f, raw, ends, 122)
    assert {k: v.shape for k, v in preds.items()} == {
        "auto_arima": (len(ends), 1),
        "auto_ets": (len(ends), 1),
    }
    assert failed == {}
    baselines.update(classical)
    return baselines, ends, f.raw_targets(raw, ends)


def test_gate_with_real_fitted_baselines_promotes_a_model_that_beats_them(
    airline: np.ndarray,
) -> None:
    baselines, _, true = _scored(airline)
    assert {"persistence", "seasonal_naive_12", "auto_arima", "auto_ets"} <= baselines.keys()
    # the classical models beat seasonal naive on this series by a wide margin
    assert baselines["auto_arima"]["rmse"] < 0.6 * baselines["seasonal_naive_12"]["rmse"]
    good = forecast_metrics(true + np.linspace(-3.0, 3.0, len(true))[:, None], true)["rmse"]
    name, value = gate_baseline("forecast", baselines, "rmse", "classical")
    assert name in ("auto_arima", "auto_ets") and good < value
    decision = decide_promotion("rmse", good, None, value, name)
    assert decision.alias == "champion"


def test_gate_with_real_fitted_baselines_keeps_a_loser_as_challenger_and_says_why(
    airline: np.ndarray,
) -> None:
    baselines, ends, true = _scored(airline)
    # a model as good as the seasonal-trend naive forecast beats the naive set, not the classical
    pred = airline[ends + 1 - 12] + airline[ends] - airline[ends - 12]
    mid = forecast_metrics(pred[:, None], true)["rmse"]
    naive_name, naive_value = gate_baseline("forecast", baselines, "rmse", "naive")
    assert naive_name == "seasonal_naive_12" and mid < naive_value
    assert decide_promotion("rmse", mid, None, naive_value, naive_name).alias == "champion"
    name, value = gate_baseline("forecast", baselines, "rmse", "classical")
    assert mid > value
    decision = decide_promotion("rmse", mid, None, value, name)
    assert decision.alias == "challenger"
    assert decision.reason.startswith(f"test rmse {mid:.4g} does not beat {name} ({value:.4g}):")
    assert decision.reason.endswith("% worse")


def test_gate_sets() -> None:
    baselines = {
        "persistence": {"rmse": 5.0},
        "auto_arima": {"rmse": 2.0},
        "majority_class": {"macro_f1": 0.3},
    }
    assert set(gate_baselines("forecast", baselines, "naive")) == {"persistence", "majority_class"}
    assert gate_baselines("forecast", baselines, "classical") == baselines
    assert gate_baseline("forecast", {"persistence": {"rmse": 5.0}}, "rmse", "classical") == (
        "persistence",
        5.0,
    )  # every classical fit failed: the naive baselines still gate
    with pytest.raises(ValueError, match=r"evaluate\.gate"):
        gate_baselines("forecast", baselines, "arima")


def test_published_model_recomputes_the_classical_forecast_from_json_in_a_fresh_process(
    airline: np.ndarray, tmp_path: Path
) -> None:
    """A classical anchor plus a combination in the registered model: only JSON and a state
    dict on disk, the forecast recomputed on the consumer's history in a new interpreter."""
    from lstmtune.combine import apply
    from lstmtune.model import build_model
    from lstmtune.serving import SPEC, save_model_dir

    fit_end = 122
    ets, arima = fit_spec("ets", airline[:fit_end], 12), fit_spec("arima", airline[:fit_end], 12)
    log = np.log(airline[:100])
    featurizer = ForecastFeaturizer(
        features=["passengers"],
        target="passengers",
        target_index=0,
        lookback=13,
        horizon=1,
        transform="log",
        anchor="ets",
        window_norm=False,
        period=12,
        mean=[float(log.mean())],
        std=[float(log.std())],
        classical=ets,
    )
    params = {"units": 8}
    model = build_model(1, 1, params, zero_head=True)  # an untrained head: the anchor itself
    combination = {"weights": {"network": 0.25, "arima": 0.75}, "specs": {"arima": arima}}
    spec = {
        "task": "forecast",
        "params": params,
        "n_features": 1,
        "n_outputs": 1,
        "zero_head": True,
        "featurizer": featurizer.to_dict(),
        "combination": combination,
    }
    save_model_dir(tmp_path / "model", model, spec)
    saved = json.loads((tmp_path / "model" / SPEC).read_text())["combination"]
    assert saved["specs"]["arima"] == arima
    frame = pd.DataFrame({"passengers": airline})
    frame.to_csv(tmp_path / "history.csv", index=False)
    script = (
        "import sys, pandas as pd; from lstmtune.serving import Predictor; "
        "p = Predictor.load(sys.argv[1]); "
        "p.predict(pd.read_csv(sys.argv[2])).to_csv(sys.argv[3], index=False)"
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(tmp_path / "model"),
            str(tmp_path / "history.csv"),
            str(tmp_path / "pred.csv"),
        ],
        check=True,
    )
    served = pd.read_csv(tmp_path / "pred.csv")["step_1"].to_numpy()
    ends = featurizer.history_ends(len(airline))
    expected = apply(combination, spec_forecasts(ets, airline, ends, 1, 12), airline, ends, 12)[
        :, 0
    ]
    assert np.allclose(served, expected, rtol=1e-5)
    test = ends >= fit_end - 1
    err = served[test][:-1] - airline[ends[test][:-1] + 1]
    assert np.sqrt(np.mean(err**2)) < 30  # a real forecast, not the seasonal naive's ~50


def test_combination_weights_are_chosen_on_validation_and_stay_convex() -> None:
    from lstmtune.combine import choose

    rng = np.random.default_rng(0)
    true = rng.normal(size=(40, 1)).cumsum(axis=0)
    a_err, e_err = rng.normal(size=(40, 1)), rng.normal(size=(40, 1))
    network = true + a_err + e_err  # the average of the two partners is exact
    partners = {"arima": true - a_err + e_err, "ets": true + a_err - e_err}
    out = choose(network, partners, true)
    assert out["weights"] == {"arima": 0.5, "ets": 0.5}
    assert out["val_rmse"] == pytest.approx(0.0, abs=1e-9)
    alone = choose(true.copy(), partners, true)  # the network is exact: no mix
    assert alone["weights"] == {"network": 1.0}


def test_equal_weights_average_the_forecasts_within_twice_the_best_validation_rmse() -> None:
    """The default rule: equal weights of every forecast whose validation RMSE is at most TRIM x
    the best, whatever a weight search would prefer; a failed (non-finite or far worse)
    forecast is left out; the summary line names the rule."""
    from lstmtune.combine import TRIM, describe, equal_weights

    rng = np.random.default_rng(0)
    true = rng.normal(size=(40, 1)).cumsum(axis=0)
    network = true + rng.normal(size=(40, 1))
    partners = {"arima": true + 1.2 * rng.normal(size=(40, 1)), "ets": true + 0.8}
    out = equal_weights(network, partners, true)
    assert out["rule"] == "equal" and out["weights"] == pytest.approx(
        {"network": 1 / 3, "arima": 1 / 3, "ets": 1 / 3}
    )
    mix = (network + partners["arima"] + partners["ets"]) / 3
    assert out["val_rmse"] == pytest.approx(float(np.sqrt(np.mean((mix - true) ** 2))))
    far = {"arima": true + 3 * TRIM * (network - true), "ets": np.full_like(true, np.nan)}
    assert equal_weights(network, far, true)["weights"] == {"network": 1.0}
    bad = np.full_like(true, np.nan)  # a failed network is left out, and 0 x NaN stays out
    dropped = equal_weights(bad, partners, true)
    assert set(dropped["weights"]) == {"arima", "ets"} and np.isfinite(dropped["val_rmse"])
    line = describe({**out, "weights": {"network": 0.5, "ets": 0.5}})
    assert line is not None and "equal weights of the forecasts within 2x" in line
    logged = describe({**out, "partners_on_log": ["arima"]})
    assert logged is not None and "x AutoARIMA on log values +" in logged  # not the baseline's
    assert "on log values" not in str(describe(out))
    refitted = describe({**out, "partners_refitted": {"ets": "ETS(M,A,M)"}})
    assert refitted is not None and "x AutoETS refitted as ETS(M,A,M) (" in refitted
    parts = {k: {"rmse": v, "mae": v / 2} for k, v in (("network", 21.4), ("arima", 65.81))}
    with_parts = describe(out, parts=parts, metric="rmse")
    assert str(with_parts).endswith(
        "; on test, each part alone (rmse): network 21.4, AutoARIMA 65.81"
    )
    assert describe(out, parts=parts, metric="mase") == describe(out)  # no such figure: no text


def test_auto_weights_are_equal_on_a_short_validation_split_and_estimated_on_a_long_one() -> None:
    from lstmtune.combine import AUTO_ORIGINS, resolved_rule

    assert resolved_rule("auto", 22) == "equal"
    assert resolved_rule("auto", AUTO_ORIGINS - 1) == "equal"
    assert resolved_rule("auto", AUTO_ORIGINS) == "validation"
    assert (
        resolved_rule("equal", 605) == "equal" and resolved_rule("validation", 22) == "validation"
    )
    with pytest.raises(ValueError, match="combine_weights"):
        resolved_rule("mean", 22)


def test_a_combination_without_the_network_ignores_its_forecast(airline: np.ndarray) -> None:
    """Weight 0 on the network: its forecast is not read, even where it is not finite."""
    from lstmtune.combine import apply

    arima = fit_spec("arima", airline[:122], 12)
    ends = np.arange(122, 143)
    combination = {"weights": {"arima": 1.0}, "specs": {"arima": arima}}
    out = apply(combination, np.full((len(ends), 1), np.nan), airline, ends, 12)
    assert np.allclose(out, spec_forecasts(arima, airline, ends, 1, 12))


def test_a_series_too_short_for_the_classical_fit_keeps_the_lstm_path_with_a_warning() -> None:
    from lstmtune.classical_fits import add_classical

    y = np.linspace(1.0, 2.0, 20) + np.tile([0.0, 0.3, -0.2, 0.1], 5)
    parts = {"train": pd.DataFrame({"y": y[:12]}), "val": pd.DataFrame({"y": y[12:16]})}
    parts["test"] = pd.DataFrame({"y": y[16:]})
    anchor = {"type": "categorical", "choices": ["last", "seasonal"]}
    meta = {
        "columns": {"target": "y"},
        "splits": {"train": {"end": 12}, "val": {"end": 16}},
        "seasonal_period": 12,
        "search_space": {"anchor": dict(anchor)},
    }
    warnings = add_classical(meta, parts, "train", extend_space=True)
    assert len(warnings) == 2 and all("could not be fitted" in w for w in warnings)
    assert meta["classical"] == {} and meta["search_space"]["anchor"] == anchor


def test_a_log_arima_reads_a_history_value_at_or_below_zero_at_its_floor(
    airline: np.ndarray,
) -> None:
    """A consumer's history may hold a value the fitted series never had: a log model reads it at
    half the fitted series' smallest value and still forecasts."""
    spec = fit_spec("arima", airline[:122], 12, log=True)
    assert spec["log"] and spec["log_floor"] == airline[:122].min() / 2
    assert spec["method"].endswith(" on log values")
    y = airline.copy()
    y[125] = 0.0
    ends = np.arange(120, 143)
    out = spec_forecasts(spec, y, ends, 2, 12)
    assert np.isfinite(out).all()
    floored = spec_forecasts(spec, np.where(y > 0, y, spec["log_floor"]), ends, 2, 12)
    assert np.array_equal(out, floored)
    raw = spec_forecasts({**spec, "log": False}, np.log(airline), ends, 2, 12)
    assert np.allclose(spec_forecasts(spec, airline, ends, 2, 12), np.exp(raw))


def _unit_cases(airline: np.ndarray) -> dict[str, tuple[np.ndarray, int, int]]:
    walk, _, _ = _series("drift")
    return {"airline": (airline, 12, 122), "negative": (-airline, 12, 122), "drift": (walk, 1, 100)}


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("airline", 1e-9),
        ("airline", 1e9),
        ("airline", 2.0**-30),
        ("negative", 1e-9),
        ("drift", 1e9),
    ],
)
def test_the_classical_forecasts_do_not_depend_on_the_series_unit(
    airline: np.ndarray, name: str, unit: float
) -> None:
    """statsforecast fits with absolute tolerances: airline times 1e-9 was fitted by AutoARIMA as
    the seasonal naive model (test RMSE 25.77 passengers against 17.51), and times 1e9 scored
    17.57. Fitted in a unit of its own (lstmtune.classical_scale), the baselines and the specs
    (ETS level, trend and additive seasons; ARIMA drift; ARIMA on log values) forecast what they
    forecast in passengers; times a power of two, exactly the same."""
    y, period, fit_end = _unit_cases(airline)[name]
    ends = np.arange(fit_end - 1, len(y) - 1)
    scaled = y * unit
    kinds = ("arima", "ets", "theta") if name == "airline" else ("arima", "ets")
    for kind in kinds:
        ref = model_forecasts(fit_model(kind, y[:fit_end], period), y, ends, 1)
        got = model_forecasts(fit_model(kind, scaled[:fit_end], period), scaled, ends, 1) / unit
        np.testing.assert_allclose(got, ref, rtol=1e-5, err_msg=kind)
        if unit == 2.0**-30:
            np.testing.assert_array_equal(got, ref)
    for kind, log in (("arima", False), ("arima", True), ("ets", False)):
        ref = spec_forecasts(fit_spec(kind, y[:fit_end], period, log), y, ends, 1, period)
        spec = json.loads(json.dumps(fit_spec(kind, scaled[:fit_end], period, log)))
        got = spec_forecasts(spec, scaled, ends, 1, period) / unit
        np.testing.assert_allclose(got, ref, rtol=1e-5, err_msg=f"{kind} spec, log {log}")


def test_a_series_in_ordinary_units_is_fitted_in_them(airline: np.ndarray) -> None:
    """The steps of airline, its log values, co2 (1.05) and wineind (3620) are inside the band:
    their fits are the ones they always were; a tiny or huge unit is divided by a power of two."""
    co2 = pd.read_csv(BENCH_DATA / "co2_monthly.csv")["co2"].to_numpy(dtype=np.float64)
    wine = pd.read_csv(BENCH_DATA / "wineind.csv")["sales"].to_numpy(dtype=np.float64)
    for y in (airline, np.log(airline), co2, wine, -airline):
        assert fit_scale(y) == 1.0
    assert fit_scale(airline * 1e-9) == 2.0**-30  # steps of 19e-9 brought into [16, 32)
    assert fit_scale(np.r_[np.zeros(50), 1e-9, np.zeros(50)]) == 2.0**-40  # mean step 2e-11

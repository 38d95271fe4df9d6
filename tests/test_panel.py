"""Many series, one model (``data.series_column``): preparation, the scale-free objective, the
evaluation, the registered pyfunc and bad input, with real fits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import PANEL_KEYS

from lstmtune.config import load_config
from lstmtune.data.prepare import prepare
from lstmtune.errors import UserError
from lstmtune.features import naive_forecast
from lstmtune.panel_problem import PanelTensorSet, mase_scale, mean_mase, mean_smape
from lstmtune.problems import make_problem
from lstmtune.synthetic import panel_frame


def _config(path: Path, **extra: Any) -> Any:
    return load_config(None, {"data.path": str(path), **PANEL_KEYS, **extra}).resolved()


@pytest.fixture
def panel_csv(tmp_path: Path) -> Path:
    path = tmp_path / "panel.csv"
    panel_frame(6, 72, seed=1, min_length=58).to_csv(path, index=False)
    return path


def test_each_series_is_split_by_time_and_scaled_on_its_own_train_part(panel_csv: Path) -> None:
    frame = pd.read_csv(panel_csv)
    parts, meta = prepare(_config(panel_csv))
    panel = meta["panel"]
    assert panel["series"] == sorted(frame["id"].unique())
    for sid in panel["series"]:
        rows = panel["members"][sid]["rows"]
        assert rows["test"][1] - rows["test"][0] == 12 and rows["val"][1] - rows["val"][0] == 12
        own = frame[frame["id"] == sid]
        train = parts["train"].iloc[rows["train"][0] : rows["train"][1]]
        assert (train["id"] == sid).all()
        assert len(train) == len(own) - 24
        assert train["month"].iloc[0] == own["month"].iloc[0]  # its own start date
        mean = panel["members"][sid]["meta"]["scaler"]["none"]["mean"][0]
        assert mean == pytest.approx(own["y"].iloc[: len(own) - 24].mean())
    test = parts["test"]
    assert list(test.columns[:1]) == ["id"] and len(test) == 12 * len(panel["series"])
    assert meta["seasonal_period"] == 12 and meta["columns"]["series_column"] == "id"
    assert meta["search_space"]["batch_size"]["choices"] == [64, 128, 256]  # many series


def test_a_series_too_short_is_left_out_by_id_and_none_left_is_an_error(tmp_path: Path) -> None:
    frame = panel_frame(3, 72, seed=2)
    short = frame[frame["id"] == "s0001"].head(30)  # 6 train steps: no window of lookback 24
    frame = pd.concat([frame[frame["id"] != "s0001"], short])
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    _, meta = prepare(_config(path))
    assert "s0001" in meta["panel"]["dropped"] and "s0001" not in meta["panel"]["series"]
    assert meta["panel"]["dropped"]["s0001"] == "6 train steps, fewer than lookback 24"
    short.head(25).to_csv(path, index=False)  # 1 train step: not even val, test and lookback 2
    with pytest.raises(UserError, match=r"no series is long enough.*'s0001'"):
        prepare(_config(path))
    short.to_csv(path, index=False)  # alone, 6 train steps: 4 windows of lookback 2, not 8
    with pytest.raises(UserError, match=r"the 1 series long enough to split feed 4 training"):
        prepare(_config(path))


def test_a_panel_of_short_series_shortens_its_lookbacks_to_keep_half_of_them(
    tmp_path: Path,
) -> None:
    """Series of 40-48 months (16-24 train steps) cannot feed the default lookback 24 with 8
    windows: instead of leaving every series out, the longest lookback becomes what the median
    series can feed with 8 windows, and every series that feeds it one window is kept (until
    2026-12-04 each had to feed 8, which left out the two shortest)."""
    frame = panel_frame(5, 72, seed=2)
    frame = pd.concat(
        [g.head(40 + 2 * i) for i, (_, g) in enumerate(frame.groupby("id", sort=True))]
    )
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    _, meta = prepare(_config(path))
    kept, dropped = meta["panel"]["series"], meta["panel"]["dropped"]
    assert len(kept) == 5 and dropped == {}  # the median series: 20 steps, 8 windows of 12
    assert meta["search_space"]["lookback"]["choices"] == [12]  # 13 and 24 do not fit
    assert meta["search_space"]["anchor"]["choices"] == ["last", "seasonal"]  # 12 < 13


def test_bad_panel_input_names_the_column_series_and_row(tmp_path: Path) -> None:
    frame = panel_frame(3, 60, seed=3)
    path = tmp_path / "p.csv"
    frame.drop(columns=["id"]).to_csv(path, index=False)
    with pytest.raises(UserError, match="'id'"):
        prepare(_config(path))
    dup = pd.concat([frame, frame.iloc[[70]]], ignore_index=True)
    dup.to_csv(path, index=False)
    with pytest.raises(
        UserError, match=r"series 's0001'.*'2\d{3}-\d\d'.*twice, at data rows 71 and 181"
    ):
        prepare(_config(path))
    bad = frame.astype({"y": object})
    bad.loc[130, "y"] = "abc"
    bad.to_csv(path, index=False)
    with pytest.raises(UserError, match=r"column 'y'.*'abc' in series 's0002' at data row 131"):
        prepare(_config(path))
    gap = frame.drop(index=[100])
    gap.to_csv(path, index=False)
    with pytest.raises(UserError, match=r"series 's0001'.*missing"):
        prepare(_config(path))


def test_mase_and_smape_are_means_over_series() -> None:
    series = np.array([0, 0, 1])
    true = np.array([[10.0], [12.0], [1000.0]])
    pred = np.array([[11.0], [12.0], [1100.0]])
    scales = np.array([2.0, 50.0])
    assert mean_mase(pred, true, series, scales) == pytest.approx(((0.5 / 2) + (100 / 50)) / 2)
    smape = ((200 / 21 + 0) / 2 + 200 * 100 / 2100) / 2
    assert mean_smape(pred, true, series, scales) == pytest.approx(smape)
    y = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    assert mase_scale(y, 5, 1) == pytest.approx(np.mean([1, 2, 3, 4]))
    assert np.isnan(mase_scale(np.ones(10), 10, 1))  # no scale: left out, never 1 in units


def test_the_panel_problem_unscales_every_series_with_its_own_statistics(panel_csv: Path) -> None:
    parts, meta = prepare(_config(panel_csv))
    params = {"lookback": 13, "anchor": "seasonal", "transform": "none", "window_norm": False}
    params.update(units=8, num_layers=1, dropout=0.0, bidirectional=False, cell="lstm")
    problem = make_problem(parts, meta, params)
    test = problem.tensors("test")
    assert isinstance(test, PanelTensorSet) and test.series is not None
    assert len(test) == 12 * len(meta["panel"]["series"])
    zero = np.zeros((len(test), 1), dtype=np.float32)  # the network's correction: none
    import torch

    pred = problem.unscale(zero + test.anchor.numpy(), test.series)  # type: ignore[union-attr]
    for i, member in enumerate(problem.members):  # type: ignore[attr-defined]
        f = member.featurizer
        naive = naive_forecast(member.raw[:, 0], member.ends("test"), "seasonal", 1, 12)
        np.testing.assert_allclose(pred[test.series == i], naive, rtol=1e-5)
    value = problem.objective_from_outputs(torch.from_numpy(zero) + test.anchor, test)
    assert value == pytest.approx(mean_mase(pred, test.raw_y, test.series, problem.scales))
    del f


def test_intervals_pool_residuals_over_local_scales_and_scale_back_per_origin(
    panel_csv: Path,
) -> None:
    from lstmtune.conformal import conformal_quantile, local_scale
    from lstmtune.model import build_model
    from lstmtune.panel_intervals import calibrate_panel, member_bounds

    parts, meta = prepare(_config(panel_csv))
    params = {"lookback": 13, "anchor": "seasonal", "transform": "none", "window_norm": False}
    params.update(units=8, num_layers=1, dropout=0.0, bidirectional=False, cell="lstm")
    problem = make_problem(parts, meta, params)
    model = build_model(problem.n_features, problem.n_outputs, params, zero_head=True)
    intervals = calibrate_panel(problem, model, [80.0])  # type: ignore[arg-type]
    val = problem.tensors("val")
    assert isinstance(val, PanelTensorSet) and val.series is not None and val.raw_y is not None
    pred = problem.predict(model, val)  # the zero head: the seasonal naive forecast
    members = problem.members  # type: ignore[attr-defined]
    scales = []
    for m in members:
        s = local_scale(m.raw[:, m.featurizer.target_index], m.ends("val"), 12)
        scales.append(np.maximum(s, 0.1 * np.median(s)))
    q, _ = conformal_quantile(np.abs(val.raw_y - pred)[:, 0] / np.concatenate(scales), 80.0)
    assert intervals["pooled"]["quantiles"]["80"] == [pytest.approx(q)]
    lo, hi = member_bounds(problem, pred, val.series, intervals, "val")["80"]  # type: ignore[arg-type]
    for i in range(len(members)):
        rows = val.series == i
        np.testing.assert_allclose((hi - lo)[rows, 0] / 2, q * scales[i])
    inside = ((val.raw_y >= lo) & (val.raw_y <= hi)).mean()
    assert inside >= 0.8  # split conformal covers at least nominal on its own calibration set


def _fresh_process_predict(summary: dict[str, Any], csv: Path, code: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = summary["tracking_uri"]
    script = (
        "import mlflow, pandas as pd\n"
        f"m = mlflow.pyfunc.load_model('models:/{summary['model_name']}@{summary['alias']}')\n"
        f"df = pd.read_csv({str(csv)!r})\n" + code
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow
def test_one_model_for_every_series_published_and_served_from_a_fresh_process(
    tmp_path: Path, panel_csv: Path
) -> None:
    from lstmtune.runner import run_local

    cfg = load_config(
        None,
        {
            "data.path": str(panel_csv),
            **PANEL_KEYS,
            "tune.n_trials": 2,
            "tune.search_space": {"units": 8, "epochs": 6, "lookback": 13, "batch_size": 16},
            "evaluate.gate": "naive",
            "mlflow.model_name": "panel-test",
            "output_dir": str(tmp_path / "out"),
        },
    ).resolved()
    summary = run_local(cfg)
    assert summary["objective"] == "val_mase" and summary["primary_metric"] == "mase"
    assert {"rmse", "mae", "mase", "smape", "coverage_80", "width_95"} <= summary[
        "test_metrics"
    ].keys()
    assert summary["panel"]["n_series"] == 6
    report = (tmp_path / "out" / "report.html").read_text()
    assert 'id="series"' in report and "s0000" in report  # the per-series table
    assert (tmp_path / "out" / "plots" / "panel_forecast.png").stat().st_size > 10_000
    assert summary["panel"]["per_series"].keys() == set(pd.read_csv(panel_csv)["id"])
    assert {"persistence", "seasonal_naive_12", "auto_arima"} <= summary["baseline_metrics"].keys()
    evaluation = json.loads((tmp_path / "out" / "summary.json").read_text())
    # a 2-trial run need not beat the naive baselines; either alias is served the same way
    assert evaluation["alias"] in ("champion", "challenger")
    out = _fresh_process_predict(
        summary,
        panel_csv,
        "shuffled = df.sample(frac=1, random_state=0)\n"
        "a = m.predict(df).sort_values('id', kind='stable').reset_index(drop=True)\n"
        "b = m.predict(shuffled).sort_values('id', kind='stable').reset_index(drop=True)\n"
        "assert a.equals(b), 'row order changed the forecast'\n"
        "lo, hi = a['step_1_lo_80'], a['step_1_hi_80']\n"
        "assert ((lo <= a['step_1']) & (a['step_1'] <= hi) & (hi <= a['step_1_hi_95'])).all()\n"
        "print(a.groupby('id').size().to_json())\n"
        "new = df[df.id == 's0001'].assign(id='unseen')\n"
        "print(len(m.predict(new)))\n"
        "try:\n    m.predict(df.drop(index=[5]))\nexcept Exception as e:\n    print('ERR', e)\n",
    )
    sizes, unseen, err = out.strip().splitlines()[-3:]
    frame = pd.read_csv(panel_csv)
    expected = {s: n - 12 for s, n in frame.groupby("id").size().items()}  # lookback 13
    assert json.loads(sizes) == expected
    assert int(unseen) == expected["s0001"]
    assert "series 's0000'" in err and "missing" in err


def _panel_args(path: Path) -> list[str]:
    return [
        "--data",
        str(path),
        "--target",
        "y",
        "--time-column",
        "month",
        "--series-column",
        "id",
    ]


@pytest.mark.parametrize("case", ["missing-series-column", "duplicate-row", "non-numeric"])
def test_bad_panel_input_through_the_cli_exits_2_and_registers_nothing(
    tmp_path: Path, case: str
) -> None:
    from test_bad_input import assert_rejected, run_cli

    frame = panel_frame(3, 60, seed=4)
    fragments = {
        "missing-series-column": ["'id'"],
        "duplicate-row": ["series 's0002'", "twice", "data rows 141 and 181"],
        "non-numeric": ["column 'y'", "'oops'", "series 's0000'", "data row 11"],
    }[case]
    if case == "missing-series-column":
        frame = frame.rename(columns={"id": "store"})
    elif case == "duplicate-row":
        frame = pd.concat([frame, frame.iloc[[140]]], ignore_index=True)
    else:
        frame = frame.astype({"y": object})
        frame.loc[10, "y"] = "oops"
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "out"
    result = run_cli(["run", *_panel_args(path), "--output-dir", str(out)], cwd=tmp_path)
    assert_rejected(result, fragments, out)


def _tiny_params() -> dict[str, Any]:
    params: dict[str, Any] = {"lookback": 13, "anchor": "seasonal", "transform": "none"}
    params.update(window_norm=False, units=8, num_layers=1, dropout=0.0, bidirectional=False)
    params.update(cell="lstm", learning_rate=0.01, batch_size=16, optimizer="adam")
    params.update(weight_decay=0.0, epochs=3)
    return params


def test_an_epoch_of_a_panel_visits_at_most_epoch_windows(panel_csv: Path) -> None:
    import torch

    from lstmtune.training import epoch_size, train

    parts, meta = prepare(_config(panel_csv))
    problem = make_problem(parts, meta, _tiny_params())
    n = len(problem.tensors("train"))
    assert epoch_size(problem, n) == min(n, problem.epoch_windows or n)
    problem.epoch_windows = 40  # type: ignore[misc]
    result = train(
        problem,
        _tiny_params(),
        problem.tensors("train"),
        None,
        epochs=3,
        device=torch.device("cpu"),
    )
    assert result.best_steps == 3 * 3  # 40 windows in batches of 16: 3 steps per epoch
    assert n > 40


def test_tune_subset_keeps_the_most_recent_windows_of_every_series(panel_csv: Path) -> None:
    from lstmtune.data.subset import subset_indices

    parts, meta = prepare(_config(panel_csv))
    problem = make_problem(parts, meta, _tiny_params())
    data = problem.tensors("train")
    assert isinstance(data, PanelTensorSet) and data.series is not None
    rows = subset_indices("forecast", data, 0.5, seed=0)
    for i in np.unique(data.series):
        own = np.flatnonzero(data.series == i)
        kept = rows[data.series[rows] == i]
        assert len(kept) == int(np.floor(len(own) * 0.5 + 0.5))
        assert (kept == own[len(own) - len(kept) :]).all()  # the most recent ones


def test_the_panel_drops_series_for_a_lookback_its_search_space_keeps() -> None:
    """The cut-off lookback is a default choice when one fits the median series (train parts
    22, 24, 28, 30, 30 without a season: 16 of 8, 16, 32, not the 20 the median could feed), so
    no series is left out for a lookback that no trial uses."""
    from lstmtune.data.panel import fitted_max_lookback

    prepared: dict[str, Any] = {
        f"s{i}": ({}, {"splits": {"train": {"rows": n}}})
        for i, n in enumerate([22, 24, 28, 30, 30])
    }
    assert fitted_max_lookback(prepared, 1, 1) == 16
    assert fitted_max_lookback(prepared, 12, 1) == 13  # season 12: defaults 13 and 24
    short = {k: ({}, {"splits": {"train": {"rows": 18}}}) for k in ("a", "b")}
    assert fitted_max_lookback(short, 12, 1) == 10  # no default fits: the longest that does


def test_a_split_shorter_than_the_horizon_is_named_as_the_reason() -> None:
    from lstmtune.config import load_config
    from lstmtune.data.panel import fits_split

    def cfg(**keys: Any) -> Any:
        base = {"data.target": "y", "data.time_column": "t", "data.series_column": "id"}
        return load_config(None, {**base, **keys}).resolved().data

    short = cfg(**{"data.horizon": 6, "data.val_size": 3, "data.test_size": 6})
    assert fits_split(60, short) == (
        "60 time steps give its val split 3, fewer than data.horizon=6 (data.val_size=3)"
    )
    tenth = cfg(**{"data.horizon": 8, "data.val_size": 0.1, "data.test_size": 0.1})
    assert fits_split(74, tenth) is None  # 7.4 -> 8: a share holds the horizon at least
    assert "fewer than the 18" in str(fits_split(17, tenth))  # 8 + 8 and a lookback of 2
    assert fits_split(18, tenth) is None  # no training window of its own: the others' feed it
    assert fits_split(200, tenth) is None
    assert "fewer than the 8" in str(
        fits_split(7, cfg(**{"data.test_size": 3, "data.val_size": 3}))
    )


def _panel_csv(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_a_series_on_another_frequency_is_refused_and_filled_periods_are_counted_over_all(
    tmp_path: Path,
) -> None:
    from lstmtune.config import load_config
    from lstmtune.data.prepare import prepare
    from lstmtune.errors import UserError

    rng = np.random.default_rng(0)

    def series(sid: str, freq: str) -> pd.DataFrame:
        times = pd.date_range("2000-01-01", periods=60, freq=freq).strftime("%Y-%m-%d")
        return pd.DataFrame({"id": sid, "t": times, "y": rng.normal(10, 1, 60)})

    keys = {"data.target": "y", "data.time_column": "t", "data.series_column": "id"}
    mixed = pd.concat([series("a", "MS"), series("b", "MS"), series("q", "QS")])
    cfg = load_config(None, {"data.path": _panel_csv(tmp_path, mixed), **keys}).resolved()
    with pytest.raises(UserError, match=r"series 'q' .* has frequency QS-JAN, the others MS"):
        prepare(cfg)
    gaps = pd.concat([series("a", "MS"), series("b", "MS").drop(index=[20, 21, 22])])
    keys["data.missing"] = "ffill"
    cfg = load_config(None, {"data.path": _panel_csv(tmp_path, gaps), **keys}).resolved()
    _, meta = prepare(cfg)
    axis = meta["time_axis"]
    assert axis["filled_periods"] == 3 and axis["filled_series"] == ["b"] and axis["gaps"] == 1


def test_the_series_column_cannot_be_the_target(tmp_path: Path) -> None:
    from lstmtune.config import load_config
    from lstmtune.data.prepare import prepare
    from lstmtune.errors import UserError

    frame = pd.DataFrame({"t": range(40), "y": np.arange(40.0)})
    keys = {"data.target": "y", "data.time_column": "t", "data.series_column": "y"}
    cfg = load_config(None, {"data.path": _panel_csv(tmp_path, frame), **keys}).resolved()
    with pytest.raises(UserError, match=r"names column 'y', which is also the target"):
        prepare(cfg)


def test_a_served_id_spelled_as_a_float_names_its_trained_series() -> None:
    """An integer id column turns float once it holds a NaN (3 -> 3.0): such a series was served
    as an unseen one (its own stored fits and scale ignored)."""
    from lstmtune.serving_panel import known_member

    members = {"3": {"index": 0}, "7.0": {"index": 1}, "2.5": {"index": 2}, "s1": {"index": 3}}
    assert known_member(members, "3.0") == {"index": 0}
    assert known_member(members, "3") == {"index": 0}
    assert known_member(members, "7") == {"index": 1}  # trained on floats, served integers
    assert known_member(members, "2.5") == {"index": 2}
    assert known_member(members, "s1") == {"index": 3}
    assert known_member(members, "4.0") is None and known_member(members, "x") is None
    assert known_member(members, "007") is None  # not a spelling pandas gives 7

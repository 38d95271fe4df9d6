"""The Python API: lstmtune.run with a DataFrame, the result object, and settings errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import lstmtune
from lstmtune.api import build_config, setting_key
from lstmtune.config import example_data_path
from tests.conftest import TINY_SPACE, make_classify_frame

SMALL: dict[str, Any] = {
    "tune__search_space": dict(TINY_SPACE),
    "train__patience": 3,
    "progress": "quiet",
}


def test_import_is_light() -> None:
    code = "import sys, lstmtune; print(any(m in sys.modules for m in ('torch', 'mlflow', 'kfp')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_settings_take_flag_names_and_dotted_keys(tmp_path: Path) -> None:
    assert setting_key("n_trials") == "tune.n_trials"
    assert setting_key("time_column") == "data.time_column"
    assert setting_key("tune__sampler") == "tune.sampler"
    cfg = build_config(
        {"tune": {"n_trials": 7}, "output_dir": str(tmp_path)},
        {"target": "y", "tune__sampler": "random"},
    )
    assert (cfg.tune.n_trials, cfg.tune.sampler, cfg.data.target) == (7, "random", "y")
    yaml_path = tmp_path / "c.yaml"
    yaml_path.write_text("tune:\n  n_trials: 4\n")
    assert build_config(yaml_path, {"n_trials": 5}).tune.n_trials == 5  # settings win
    assert build_config(str(yaml_path), {}).tune.n_trials == 4


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"n_trails": 3}, "n_trails: unknown setting \\(did you mean 'n_trials'\\?"),
        ({"tune__n_trials": 0}, "tune.n_trials"),
        ({"tune__sampler": "annealing"}, "tune.sampler"),
        ({"progress": "loud"}, "progress"),
    ],
)
def test_bad_settings_raise_user_error_naming_the_key(
    settings: dict[str, Any], needle: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(lstmtune.UserError, match=needle) as info:
        lstmtune.run(pd.DataFrame({"y": [1.0, 2.0]}), output_dir=str(out), **settings)
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)
    assert not out.exists()  # nothing written


def test_bad_data_frame_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "out"
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0]})
    with pytest.raises(lstmtune.UserError, match="nope"):
        lstmtune.run(frame, target="nope", output_dir=str(out), progress="quiet")
    assert not out.exists()


def test_frames_parquet_cannot_hold_and_other_objects_are_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    mixed = pd.DataFrame({"id": [1, 2, "x"], "y": [1.0, 2.0, 3.0]})
    twice = pd.DataFrame([[1.0, 2.0]], columns=["y", "y"])
    cases = [
        (mixed, r"column 'id' mixes numbers and text; cast it"),
        (twice, r"the column 'y' more than once"),
        (mixed["y"], r"not a Series \(pd.DataFrame"),
        ({"y": [1.0]}, r"not a dict"),
    ]
    for data, needle in cases:
        with pytest.raises(lstmtune.UserError, match=needle) as info:
            lstmtune.run(data, target="y", output_dir=str(out), progress="quiet")
        assert "\n" not in str(info.value)
        assert not out.exists()  # nothing written
    with pytest.raises(lstmtune.UserError, match=r"^data \(the DataFrame\): .*'nope'"):
        lstmtune.run(pd.DataFrame({"y": [1.0, 2.0]}), target="nope", output_dir=str(out))
    monkeypatch.chdir(tmp_path)  # relative: the message named '<cwd>/data (the DataFrame)'
    with pytest.raises(lstmtune.UserError, match=r"^data \(the DataFrame\): .*'nope'"):
        lstmtune.run(pd.DataFrame({"y": [1.0, 2.0]}), target="nope", output_dir=".")


def test_a_time_index_becomes_the_time_column(tmp_path: Path) -> None:
    from lstmtune.api_frame import write_frame

    frame = pd.read_csv(example_data_path(), parse_dates=["month"]).set_index("month")
    assert write_frame(frame, tmp_path / "d.parquet").time == "month"  # the run's time column
    back = pd.read_parquet(tmp_path / "d.parquet")
    assert list(back.columns) == ["month", "passengers"] and back["month"].is_monotonic_increasing
    kept = pd.read_csv(example_data_path()).set_index("month", drop=False)  # the index twice
    write_frame(kept, tmp_path / "k.parquet")
    assert list(pd.read_parquet(tmp_path / "k.parquet").columns) == ["month", "passengers"]
    unnamed = frame.rename_axis(None).assign(index=1.0)  # a column already named 'index'
    assert write_frame(unnamed, tmp_path / "u.parquet").time == "level_0"  # not the user's one
    assert pd.read_parquet(tmp_path / "u.parquet")["level_0"].is_monotonic_increasing
    assert write_frame(frame.reset_index(), tmp_path / "r.parquet").time is None  # plain index


def test_periods_are_the_times_they_start_at(tmp_path: Path) -> None:
    from lstmtune.api_frame import write_frame

    frame = pd.read_csv(example_data_path())
    frame["month"] = pd.PeriodIndex(frame["month"], freq="M")
    assert write_frame(frame.set_index("month"), tmp_path / "i.parquet").time == "month"
    assert write_frame(frame, tmp_path / "c.parquet").time is None  # a column: --time-column
    for name in ("i", "c"):
        back = pd.read_parquet(tmp_path / f"{name}.parquet")["month"]
        assert back.iloc[0] == pd.Timestamp("1949-01-01") and back.is_monotonic_increasing


def test_an_output_dir_that_cannot_be_made_and_a_bad_config_value_are_named(
    tmp_path: Path,
) -> None:
    (tmp_path / "afile").write_text("")
    frame = pd.DataFrame({"y": [1.0, 2.0]})
    with pytest.raises(lstmtune.UserError, match=r"^output_dir: cannot create .*afile/sub"):
        lstmtune.run(frame, target="y", output_dir=str(tmp_path / "afile" / "sub"))
    with pytest.raises(lstmtune.UserError, match=r"^config: train\.threads: "):
        lstmtune.run(frame, config={"train": {"threads": "a"}}, target="y")
    with pytest.raises(lstmtune.UserError, match=r"^settings: train\.threads: "):
        lstmtune.run(frame, config={"train": {"threads": 1}}, train__threads="a", target="y")
    with pytest.raises(lstmtune.UserError, match=r"^settings: tune\.n_trials: "):
        lstmtune.run(frame, tune={"n_trials": "x"}, target="y")  # a section as a setting


@pytest.mark.slow
def test_run_with_a_dataframe_loads_and_predicts(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(example_data_path())
    indexed = frame.set_index(pd.DatetimeIndex(frame["month"], name="month")).drop(columns="month")
    result = lstmtune.run(
        indexed,  # the pandas way: the DatetimeIndex is the time column, no setting needed
        target="passengers",
        n_trials=3,
        output_dir=str(tmp_path / "out"),
        evaluate__gate="naive",  # a 3-trial model need not beat AutoARIMA to be @champion here
        **SMALL,
    )
    assert isinstance(result, lstmtune.RunResult)
    assert result.summary["data_source"].endswith("passengers.parquet")
    assert result.summary["model_name"] == "lstmtune-passengers"  # not lstmtune-data for all
    meta = json.loads(next((tmp_path / "out").rglob("metadata.json")).read_text())
    assert meta["time_axis"]["column"] == "month" and meta["seasonal_period"] == 12
    assert result.model_uri == f"models:/{result.summary['model_name']}/1"
    assert set(result.best_params) >= {"lookback", "units", "learning_rate"}
    assert result.test_metrics["rmse"] > 0 and result.report_path is not None
    written = Path(result.summary["data_source"]).read_bytes()
    with pytest.raises(lstmtune.UserError, match="lookback 500"):  # bad input, same output dir
        lstmtune.run(indexed, target="passengers", output_dir=str(tmp_path / "out"), lookback=500)
    assert Path(result.summary["data_source"]).read_bytes() == written  # the run's data stay
    assert sorted(p.name for p in Path(result.summary["data_source"]).parent.iterdir()) == [
        "passengers.parquet"
    ]
    lookback = result.history_rows  # the longest member lookback
    assert lookback == int(result.summary["history_rows"]) >= result.best_params["lookback"]
    pred = result.predict(frame.tail(lookback + 2))
    assert list(pred.columns)[:2] == ["month", "step_1"] and len(pred) == 3  # intervals after
    indexed_pred = result.predict(indexed.tail(lookback + 2))  # the DatetimeIndex kept, joinable
    assert "month" not in indexed_pred.columns and indexed_pred.index.name == "month"
    assert indexed.tail(lookback + 2).join(indexed_pred)["step_1"].notna().sum() == 3
    assert pred["step_1"].between(250, 900).all()
    page = result._repr_html_()
    assert "lstmtune model" in page and "data:image/png;base64," in page
    import mlflow

    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    champion = lstmtune.load_model(
        result.summary["model_name"], tracking_uri=result.summary["tracking_uri"]
    )
    assert champion.predict(frame.tail(lookback)).shape == (1, 6)  # month, step_1, 2 bands
    assert "Downloading artifacts" not in capfd.readouterr().err  # no bars in a notebook
    assert "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR" not in os.environ  # the environment as it was
    assert (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) == before  # no global change
    with pytest.raises(lstmtune.UserError, match="@nope"):
        lstmtune.load_model(result.summary["model_name"], "nope", result.summary["tracking_uri"])
    typo = tmp_path / "typo" / "mlflow.db"  # a mistyped path: refused, nothing created there
    with pytest.raises(lstmtune.UserError, match="no MLflow database at"):
        lstmtune.load_model("x", tracking_uri=f"sqlite:///{typo}")
    assert not typo.parent.exists()


def test_compile_pipeline_writes_ir(tmp_path: Path) -> None:
    katib = {"backend": "katib", "katib": {"data_uri": "s3://b/prepared"}}
    path = lstmtune.compile_pipeline(tmp_path / "p.yaml", {"tune": katib})
    assert path.is_file() and "pipelineInfo" in path.read_text()
    # the trial pods read the prepared data there: refused now, not at the cluster's tune step
    with pytest.raises(lstmtune.UserError, match=r"^tune\.katib\.data_uri: Katib trial pods"):
        lstmtune.compile_pipeline(tmp_path / "q.yaml", {"tune": {"backend": "katib"}})
    assert not (tmp_path / "q.yaml").exists()
    # parallel Optuna workers: the storage comes from a Secret on the cluster, not the config
    workers = {"tune": {"workers": 4}, "cluster": {"storage_secret": "lstmtune-optuna"}}
    assert lstmtune.compile_pipeline(tmp_path / "w.yaml", workers).is_file()


@pytest.mark.slow
def test_docs_notebook_runs(tmp_path: Path) -> None:
    """docs/quickstart.ipynb, its code cells executed in order (the setup cell's output dir
    replaced by a temporary one): a small tuning, the model from the result, a forecast plot."""
    import json

    notebook = Path(__file__).resolve().parents[1] / "docs" / "quickstart.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    scope: dict[str, Any] = {}
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if cell.get("id") == "setup":
            source = f"OUTPUT_DIR = {str(tmp_path / 'out')!r}"
        exec(compile(source, f"{notebook.name}:{cell.get('id')}", "exec"), scope)
    assert isinstance(scope["result"], lstmtune.RunResult)
    forecast = scope["forecast"]
    assert len(forecast) == 24 and forecast["step_1"].between(250, 900).all()
    assert forecast["month"].tolist() == scope["history"]["month"].iloc[-24:].tolist()
    assert (tmp_path / "out" / "notebook_forecast.png").stat().st_size > 5_000


def _panel(index: list[str]) -> pd.DataFrame:
    """Two monthly series in long form, indexed the statsforecast / sktime way."""
    months = pd.date_range("2020-01-01", periods=4, freq="MS")
    frame = pd.DataFrame(
        {"id": ["a"] * 4 + ["b"] * 4, "date": [*months, *months], "y": range(8)}
    ).astype({"y": float})
    return frame.set_index(index) if index else frame


def test_a_multiindex_of_series_and_time_reads_as_both(tmp_path: Path) -> None:
    from lstmtune.api_frame import IndexRoles, write_frame

    both = IndexRoles(time="date", series="id")
    assert write_frame(_panel(["id", "date"]), tmp_path / "a.parquet") == both
    back = pd.read_parquet(tmp_path / "a.parquet")
    assert list(back.columns) == ["id", "date", "y"] and back["id"].tolist()[3:5] == ["a", "b"]
    assert write_frame(_panel(["date", "id"]), tmp_path / "b.parquet") == both  # by dtype
    assert write_frame(_panel(["id", "date"]), tmp_path / "c.parquet", series_column="id") == both
    mine = _panel(["id", "date"]).assign(store="s")  # the user's series column wins
    assert write_frame(mine, tmp_path / "d.parquet", series_column="store") == IndexRoles("date")
    assert "id" in pd.read_parquet(tmp_path / "d.parquet").columns  # the level is kept, a column
    quarters = (
        _panel([]).assign(date=lambda f: f["date"].dt.to_period("Q")).set_index(["id", "date"])
    )
    assert write_frame(quarters, tmp_path / "q.parquet") == both
    assert pd.read_parquet(tmp_path / "q.parquet")["date"].dtype.kind == "M"  # not text
    steps = _panel([]).assign(t=[0, 1, 2, 3] * 2).drop(columns="date").set_index(["id", "t"])
    assert write_frame(steps, tmp_path / "s.parquet") == IndexRoles(time="t", series="id")
    text = write_frame(_panel(["id", "date"]), tmp_path / "k.parquet", task="text")
    assert text == IndexRoles() and "id" in pd.read_parquet(tmp_path / "k.parquet").columns


def _sequences(index: list[str]) -> pd.DataFrame:
    """Sequences to classify in long form, indexed (sequence id, time step) as sktime has it."""
    frame = make_classify_frame(n_per_class=3)
    return frame.set_index(index) if index else frame


def test_a_classifiers_multiindex_of_sequence_and_step_reads_as_both(tmp_path: Path) -> None:
    from lstmtune.api_frame import IndexRoles, write_frame

    both = IndexRoles(time="t", sequence="seq")
    path = tmp_path / "a.parquet"
    assert write_frame(_sequences(["seq", "t"]), path, task="classify") == both
    assert list(pd.read_parquet(path).columns) == ["seq", "t", "x1", "x2", "y"]
    mine = _sequences(["seq", "t"]).assign(run=1)  # the user's sequence column wins
    assert write_frame(
        mine, tmp_path / "b.parquet", sequence_column="run", task="classify"
    ) == IndexRoles(time="t")
    assert {"seq", "t"} <= set(pd.read_parquet(tmp_path / "b.parquet").columns)
    dated = _sequences([]).assign(
        t=lambda f: pd.Timestamp("2024-01-01") + pd.to_timedelta(f["t"], "D")
    )
    assert (
        write_frame(dated.set_index(["t", "seq"]), tmp_path / "c.parquet", task="classify") == both
    )
    numbered = _sequences([]).assign(seq=lambda f: pd.factorize(f["seq"])[0])  # ids numbers too
    assert (
        write_frame(numbered.set_index(["seq", "t"]), tmp_path / "d.parquet", task="classify")
        == both
    )


@pytest.mark.parametrize(
    ("index", "names", "needle"),
    [
        (
            ["seq", "t"],
            [None, None],
            r"MultiIndex \(None, None\) has unnamed levels; name them \(df.rename_axis\(\['id',"
            r" 'step'\]\)\): their names are the sequence and time columns$",
        ),
        (
            ["seq", "kind"],
            None,
            r"MultiIndex \('seq', 'kind'\) has no level of dates; a classifier reads \(sequence id,"
            r" time step\): set time_column",
        ),
        (
            ["seq", "kind", "t"],
            None,
            r"MultiIndex .* has 2 levels besides the time 't'; a classifier reads .*: set"
            r" sequence_column to one of them",
        ),
    ],
)
def test_a_classifiers_multiindex_that_cannot_be_read_is_one_line(
    index: list[str], names: list[None] | None, needle: str, tmp_path: Path
) -> None:
    frame = _sequences([]).assign(kind="k").set_index(index)
    if names is not None:
        frame = frame.rename_axis(names)
    out = tmp_path / "out"
    with pytest.raises(lstmtune.UserError, match=r"^data: the DataFrame's " + needle) as info:
        lstmtune.run(frame, task="classify", label="y", output_dir=str(out), progress="quiet")
    assert "\n" not in str(info.value) and not out.exists()


def test_a_classifiers_multiindex_sets_the_sequence_and_time_columns_left_unset(
    tmp_path: Path,
) -> None:
    from lstmtune.api import _frame_keys

    classify = {"task": "classify", "label": "y"}
    indexed = _sequences(["seq", "t"])
    keys = _frame_keys(indexed, tmp_path / "a.parquet", build_config(None, classify))
    assert (keys["data.sequence_column"], keys["data.time_column"]) == ("seq", "t")
    cfg = build_config(None, {**classify, "sequence_column": "seq", "time_column": "t"})
    assert set(_frame_keys(indexed, tmp_path / "b.parquet", cfg)) == {"data.path"}
    one = _sequences([]).set_index("t")  # a lone index of a classifier: a column, no role
    assert set(_frame_keys(one, tmp_path / "c.parquet", build_config(None, classify))) == {
        "data.path"
    }


@pytest.mark.parametrize(
    ("index", "names", "needle"),
    [
        (["id", "date"], [None, None], r"MultiIndex \(None, None\) has unnamed levels; name"),
        (
            ["id", "kind"],
            None,
            r"MultiIndex \('id', 'kind'\) has no level of dates; .* time_column",
        ),
        (
            ["id", "kind", "date"],
            None,
            r"MultiIndex .* has 2 levels besides the time 'date'; .* series_column",
        ),
    ],
)
def test_a_multiindex_that_cannot_be_read_as_series_and_time_is_one_line(
    index: list[str], names: list[None] | None, needle: str, tmp_path: Path
) -> None:
    frame = _panel([]).assign(kind=["x", "y"] * 4).set_index(index)
    if names is not None:
        frame = frame.rename_axis(names)
    out = tmp_path / "out"
    with pytest.raises(lstmtune.UserError, match=r"^data: the DataFrame's " + needle) as info:
        lstmtune.run(frame, target="y", output_dir=str(out), progress="quiet")
    assert "\n" not in str(info.value) and not out.exists()


def test_a_multiindex_sets_the_series_and_time_columns_the_user_left_unset(
    tmp_path: Path,
) -> None:
    from lstmtune.api import _frame_keys
    from lstmtune.api_frame import index_as_columns

    indexed = _panel(["id", "date"])
    keys = _frame_keys(indexed, tmp_path / "a.parquet", build_config(None, {"target": "y"}))
    assert (keys["data.series_column"], keys["data.time_column"]) == ("id", "date")
    cfg = build_config(None, {"target": "y", "series_column": "id", "time_column": "date"})
    assert set(_frame_keys(indexed, tmp_path / "b.parquet", cfg)) == {"data.path"}
    served = index_as_columns(indexed.tail(3))  # predict reads the index as training did
    assert list(served.columns) == ["id", "date", "y"] and served["id"].tolist() == ["b"] * 3
    plain = _panel([])
    assert index_as_columns(plain) is plain


def test_predict_reads_a_classifiers_multiindex_and_refuses_unnamed_levels_it_needs() -> None:
    from lstmtune.api_frame import index_as_columns

    indexed = _sequences(["seq", "t"]).drop(columns="y")
    served = index_as_columns(indexed, ["seq", "x1", "x2"])
    assert list(served.columns) == ["seq", "t", "x1", "x2"]  # as the classifier was trained
    unnamed = indexed.rename_axis([None, None])
    with pytest.raises(lstmtune.UserError, match=r"^data: .*\(None, None\) has unnamed levels and"):
        index_as_columns(unnamed, ["seq", "x1"])
    held = pd.concat({"a": _sequences([])})  # unnamed levels, the columns all there: served
    assert index_as_columns(held, ["seq", "x1"]) is held


@pytest.mark.slow
def test_a_classifier_runs_and_predicts_from_its_multiindex(tmp_path: Path) -> None:
    """A long-format classification frame indexed (sequence id, time step): trained with no
    column setting, and served from the same index; unnamed levels are refused in one line."""
    frame = make_classify_frame(n_per_class=12)
    indexed = frame.set_index(["seq", "t"])
    result = lstmtune.run(
        indexed,
        task="classify",
        label="y",
        n_trials=1,
        output_dir=str(tmp_path / "out"),
        evaluate__gate="naive",
        evaluate__combine=False,
        evaluate__ensemble=1,
        **SMALL,
    )
    meta = json.loads(next((tmp_path / "out").rglob("metadata.json")).read_text())
    columns = meta["columns"]
    assert (columns["sequence_column"], columns["time_column"]) == ("seq", "t")
    assert "t" not in columns["features"]  # the step orders the rows, it is no channel
    assert result.test_metrics["accuracy"] > 0
    shuffled = indexed.drop(columns="y").sample(frac=1.0, random_state=0)  # rows in any order
    pred = result.predict(shuffled)
    assert len(pred) == frame["seq"].nunique() and set(pred["seq"]) == set(frame["seq"])
    assert {"label", "proba_ramp", "proba_wave"} <= set(pred.columns)
    served = pred.set_index("seq")["label"]
    again = result.predict(frame.drop(columns="y")).set_index("seq")["label"]
    assert served.reindex(again.index).tolist() == again.tolist()  # the index read as columns
    with pytest.raises(lstmtune.UserError, match=r"unnamed levels and no column 'seq'; name"):
        result.predict(shuffled.rename_axis([None, None]))
    held = pd.concat({"a": frame.drop(columns="y")})  # unnamed levels, the columns all there
    assert len(result.predict(held)) == len(pred)

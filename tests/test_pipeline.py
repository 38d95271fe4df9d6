"""The Kubeflow pipeline: compiled IR (golden), and whole runs through kfp.local for both tasks."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from lstmtune.config import RunConfig, load_config
from lstmtune.pipelines import build_pipeline, compile_pipeline
from lstmtune.runner import PipelineFailed, run_local

GOLDEN = Path(__file__).parent / "golden" / "pipeline.yaml"
IMAGE = "registry.example.com/lstmtune:test"
SUMMARY_KEYS = {
    "model_name",
    "model_version",
    "alias",
    "best_params",
    "best_value",
    "test_metrics",
    "baseline_metrics",
    "tracking_uri",
    "n_trials_complete",
    "n_trials_pruned",
}


def _compiled(tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "p.yaml"
    compile_pipeline(str(out), IMAGE)
    spec: dict[str, Any] = yaml.safe_load(out.read_text())
    spec.pop("sdkVersion", None)
    return spec


def test_compiled_pipeline_runs_our_image_and_installs_nothing(tmp_path: Path) -> None:
    spec = _compiled(tmp_path)
    executors = spec["deploymentSpec"]["executors"]
    assert set(executors) == {"exec-prepare", "exec-tune", "exec-train-best", "exec-register"}
    for ex in executors.values():
        container = ex["container"]
        assert container["image"] == IMAGE
        text = " ".join(container.get("command", []) + container.get("args", []))
        assert "pip install" not in text
        assert "from lstmtune.steps import" in text  # a thin shim over the library
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["tune"]["dependentTasks"] == ["prepare"]
    assert sorted(tasks["register"]["dependentTasks"]) == ["prepare", "train-best", "tune"]
    assert spec["root"]["inputDefinitions"]["parameters"]["config"]["parameterType"] == "STRING"


def test_compiled_pipeline_matches_golden(tmp_path: Path) -> None:
    spec = _compiled(tmp_path)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(yaml.safe_dump(spec, sort_keys=True))
    golden = yaml.safe_load(GOLDEN.read_text())
    assert spec == golden, "compiled pipeline changed: review, then refresh with UPDATE_GOLDEN=1"


def test_cli_compile_writes_parseable_ir(tmp_path: Path) -> None:
    from lstmtune.cli import main

    out = tmp_path / "cli.yaml"
    assert main(["compile", "--output", str(out), "--image", IMAGE]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    assert docs[0]["pipelineInfo"]["name"] == "lstmtune"
    assert "secretAsEnv" in str(docs[1])  # default cluster settings: S3 credentials from a Secret


def test_build_pipeline_reads_no_environment_at_import() -> None:
    # building twice with different images gives independent pipelines
    a, b = build_pipeline("a/img:1"), build_pipeline("b/img:2")
    assert a is not b


def _load_champion(summary: dict[str, Any]) -> Any:
    mlflow.set_tracking_uri(summary["tracking_uri"])
    return mlflow.pyfunc.load_model(f"models:/{summary['model_name']}@champion")


@pytest.mark.slow
def test_forecast_pipeline_end_to_end_and_rerun_resumes(
    tiny_config: Callable[..., RunConfig], airline_csv: str
) -> None:
    # the gate against the naive baselines: 3 tiny trials need not beat AutoARIMA (the classical
    # gate has tests of its own), and this test is about the run, its registry and its resume
    cfg = tiny_config(**{"evaluate.gate": "naive"})
    summary = run_local(cfg)
    assert summary.keys() >= SUMMARY_KEYS
    on_disk = json.loads((Path(cfg.output_dir) / "summary.json").read_text())
    assert on_disk["model_version"] == summary["model_version"] == "1"
    # beside it, the settings the run used (`lstmtune config --output-dir`: test_run_config.py)
    assert load_config(str(Path(cfg.output_dir) / "run_config.yaml")) == cfg
    assert summary["alias"] == "champion" and summary["beats_baseline"] is True
    assert summary["n_trials_complete"] + summary["n_trials_pruned"] == 3
    assert {"persistence", "seasonal_naive_12"} <= summary["baseline_metrics"].keys()
    assert (
        summary["test_metrics"]["rmse"] < summary["baseline_metrics"]["seasonal_naive_12"]["rmse"]
    )
    # each part of the published mix alone on test, for the record: the mix is convex, so its
    # error is at most its parts' errors weighted
    parts, weights = summary["combination_test"], summary["combination"]["weights"]
    assert set(parts) == {"network", *weights} and len(parts) > 1
    mixed = sum(w * parts[k]["rmse"] for k, w in weights.items())
    assert summary["test_metrics"]["rmse"] <= mixed + 1e-9
    model = _load_champion(summary)
    raw = pd.read_csv(airline_csv)
    lookback = int(summary["history_rows"])  # the longest member lookback
    history = raw.tail(lookback + 4)
    pred = model.predict(history)
    assert list(pred.columns)[:2] == ["month", "step_1"] and len(pred) == 5  # intervals after
    assert list(pred.index) == list(history.index[-5:])  # each origin row's label and month
    joined = history.join(pred, rsuffix="_origin").dropna()  # each forecast on its origin row
    assert len(joined) == 5 and (joined["month"] == joined["month_origin"]).all()
    assert pred["step_1"].between(250, 900).all()  # original units, not scaled

    # same output dir + same data: the study resumes (no trial repeated), the same seeds retrain
    # the same weights, and the version that holds them is kept: nothing registered
    again = run_local(cfg)
    assert again["n_trials_reused"] == 3
    assert again["n_trials_complete"] + again["n_trials_pruned"] == 3
    assert again["test_metrics"] == summary["test_metrics"]
    assert again["unchanged"] is True and again["model_digest"] == summary["model_digest"]
    assert (again["model_version"], again["alias"]) == ("1", "champion")
    on_disk = json.loads((Path(cfg.output_dir) / "summary.json").read_text())
    assert (on_disk["model_version"], on_disk["unchanged"]) == ("1", True)
    # version 1 re-scored through its pyfunc (the series with its times) as it was evaluated
    assert again["previous_champion_metric"] == pytest.approx(summary["test_metrics"]["rmse"])
    client = mlflow.MlflowClient(summary["tracking_uri"])
    name = summary["model_name"]
    assert [str(v.version) for v in client.search_model_versions(f"name='{name}'")] == ["1"]
    champion = client.get_model_version_by_alias(name, "champion")
    assert str(champion.version) == "1" and champion.tags["model_digest"] == again["model_digest"]
    assert champion.tags["task"] == "forecast" and champion.tags["horizon"] == "1"
    assert champion.tags["target"] == "passengers" and int(champion.tags["lookback"]) >= 12
    assert champion.tags["trained_through"] == "datetime:1959-02-01T00:00:00.000000000"
    parent = client.get_run(again["parent_run_id"])
    assert (
        parent.info.status == "FINISHED" and parent.data.tags["data.sha256"] == again["data_sha256"]
    )
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'"
    )
    assert len(children) == 3 and all("val_rmse" in r.data.metrics for r in children)


@pytest.mark.slow
def test_classify_pipeline_end_to_end(
    tiny_config: Callable[..., RunConfig], classify_csv: str
) -> None:
    cfg = tiny_config(
        **{
            "data.path": classify_csv,
            "data.task": "classify",
            "data.sequence_column": "seq",
            "data.label": "y",
            "data.time_column": "t",
            "tune.n_trials": 2,
        }
    )
    summary = run_local(cfg)
    assert summary["task"] == "classify"
    assert set(summary["test_metrics"]) == {"accuracy", "macro_f1"}
    assert "majority_class" in summary["baseline_metrics"]
    # the published classifier: the networks and MiniRocket, stacked on the held-out predictions
    # of every train+val sequence by k-fold of the published training (evaluate.combine)
    combination = summary["combination"]
    evidence = combination["evidence"]
    assert combination["rule"] == "stacking" and evidence["network_ce"] is not None
    from lstmtune.data.prepare import prepare

    splits = prepare(cfg)[1]["splits"]
    n_all = splits["train"]["sequences"] + splits["val"]["sequences"]
    assert evidence["n"] == n_all and evidence["mix_ce"] <= min(
        evidence["network_ce"], evidence["rocket_ce"]
    )
    # the k-fold of the published training, unless MiniRocket classifies every sequence right
    # by leave-one-out: then the trial's own k-fold record stands (lstmtune.classify_publish)
    perfect = combination["minirocket"]["loo_accuracy"] == 1.0
    assert evidence["network_by"] == (
        "k-fold cross-validation"
        if perfect
        else "k-fold cross-validation of the published training"
    )
    assert set(combination["weights"]) == {"network", "minirocket"}
    assert sum(combination["weights"].values()) == pytest.approx(1.0)
    assert "MiniRocket" in combination["description"]
    mlflow.set_tracking_uri(summary["tracking_uri"])
    model = (
        _load_champion(summary)
        if summary["alias"] == "champion"
        else mlflow.pyfunc.load_model(summary["model_version_uri"])
    )
    frame = pd.read_csv(classify_csv)
    pred = model.predict(frame.drop(columns=["y"]))
    assert len(pred) == frame["seq"].nunique()
    assert {"label", "proba_ramp", "proba_wave"} <= set(pred.columns)
    assert pred[["proba_ramp", "proba_wave"]].sum(axis=1).round(5).eq(1).all()
    # integer ids, float times and an integer channel, though trained on text ids, integer
    # times and float channels: MLflow's schema lets them through, and the ids come back as sent
    typed = frame.drop(columns=["y"]).assign(seq=pd.factorize(frame["seq"])[0] + 100)
    typed = typed.assign(t=typed["t"].astype(float), x2=typed["x2"].round().astype("int64"))
    again = model.predict(typed)
    assert again["seq"].tolist() == list(range(100, 100 + len(pred)))
    alike = model.predict(frame.drop(columns=["y"]).assign(x2=typed["x2"]))
    np.testing.assert_allclose(
        again[["proba_ramp", "proba_wave"]], alike[["proba_ramp", "proba_wave"]]
    )


def test_a_pipeline_that_fails_after_prepare_marks_its_mlflow_run_failed_and_registers_nothing(
    tiny_config: Callable[..., RunConfig],
) -> None:
    # SGD at lr 10 without clipping: every trial's loss is NaN in epoch 1, and no failure is allowed
    nan_space = {
        "units": 8,
        "num_layers": 1,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "bidirectional": False,
        "learning_rate": 10.0,
        "batch_size": 4,
        "optimizer": "sgd",
        "weight_decay": 1e-6,
        "epochs": 3,
    }
    cfg = tiny_config(
        **{
            "tune.search_space": nan_space,
            "tune.max_failed_trials": 0,
            "train.grad_clip": float("inf"),
        }
    )
    with pytest.raises(PipelineFailed, match="tuning aborted"):
        run_local(cfg, display="quiet")
    client = mlflow.MlflowClient(str(cfg.mlflow.tracking_uri))
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    assert experiment is not None
    parents = [
        r
        for r in client.search_runs([experiment.experiment_id])
        if "mlflow.parentRunId" not in r.data.tags
    ]
    assert len(parents) == 1 and parents[0].info.status == "FAILED"
    assert client.search_registered_models() == []
    assert not (Path(cfg.output_dir) / "summary.json").exists()


def test_paths_holding_python3_reach_the_steps_unchanged(
    tiny_config: Callable[..., RunConfig], airline_csv: str, tmp_path: Path
) -> None:
    """kfp.local put the local Python executable in place of every ``python3`` in a step's
    arguments too (kubeflow/pipelines PR 14459): data under ``.venv/lib/python3.11/...`` reached
    the prepare step as ``.venv/lib/<executable>.11/...``, not found. The prepare step gets the
    real path (here it refuses a missing column, naming that file) and the output directory too."""
    from lstmtune.errors import UserError

    data = tmp_path / "lib" / "python3.11" / "airline.csv"
    data.parent.mkdir(parents=True)
    data.write_bytes(Path(airline_csv).read_bytes())
    cfg = tiny_config(
        **{"data.path": str(data), "data.target": "nope", "output_dir": str(data.parent / "out")}
    )
    with pytest.raises(UserError) as refused:
        run_local(cfg, display="quiet")
    assert str(data) in str(refused.value) and "nope" in str(refused.value)
    assert "file not found" not in str(refused.value)


def test_the_python_executable_is_replaced_in_the_bootstrap_alone() -> None:
    from lstmtune.kfp_local_args import replace_python_in_bootstrap

    script = 'python3 -m kfp.dsl.executor_main "$program_path/ephemeral_component.py" "$@"'
    command = ["sh", "-c", script, "import python3", "--executor_input", '{"p": "python3.11"}']
    replaced = replace_python_in_bootstrap(command, "/venv/bin/python")
    assert replaced[2].startswith("/venv/bin/python -m kfp") and replaced[3:] == command[3:]

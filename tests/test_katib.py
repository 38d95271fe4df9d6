"""Katib backend: Experiment rendering, Katib's admission rules, the trial command, and the
create / re-attach / wait / fail / timeout logic against a replay of recorded Katib API
responses served over real HTTP to the real ``kubernetes`` client."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_katib_trial
from replay import json_server

from lstmtune.config import RunConfig, load_config
from lstmtune.data.prepare import prepare, write_prepared
from lstmtune.errors import KatibError, UserError
from lstmtune.katib import (
    METRICS_REGEX,
    build_experiment,
    create_or_attach,
    decode_config,
    encode_config,
    experiment_name,
    katib_parameters,
    optimal_result,
    validate_experiment,
    wait_for_experiment,
)

RESPONSES = Path(__file__).parent / "katib_responses"
TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _cfg(**overrides: Any) -> RunConfig:
    base = {
        "output_dir": "/tmp/lstmtune-katib-test",
        "tune.katib.data_uri": "s3://lstmtune-data/prepared",
    }
    base.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_config(None, base).resolved()


@pytest.fixture(scope="module")
def airline_meta() -> dict[str, Any]:
    return prepare(_cfg())[1]


def test_rendered_experiment_passes_katib_admission_rules(airline_meta: dict[str, Any]) -> None:
    cfg = _cfg(
        tune__pruner="median",
        cluster__gpus=1,
        cluster__tolerations=[TOLERATION],
        cluster__node_selector={"gpu": "a100"},
    )
    exp = build_experiment(cfg, airline_meta, name="airline-1", data_uri="s3://b/p")
    assert validate_experiment(exp) == []
    spec = exp["spec"]
    assert spec["objective"] == {
        "type": "minimize",
        "objectiveMetricName": "val_rmse",
        "additionalMetricNames": ["best_epoch"],
        "metricStrategies": [
            {"name": "val_rmse", "value": "min"},
            {"name": "best_epoch", "value": "latest"},
        ],
    }
    assert spec["algorithm"]["algorithmName"] == "tpe"
    assert spec["earlyStopping"]["algorithmName"] == "medianstop"
    assert (
        spec["maxTrialCount"] == 30
        and spec["parallelTrialCount"] == 2
        and spec["maxFailedTrialCount"] == 5
    )
    assert spec["metricsCollectorSpec"]["collector"]["kind"] == "StdOut"
    searched = {n for n, s in airline_meta["search_space"].items() if s["type"] != "fixed"}
    assert {p["name"] for p in spec["parameters"]} == searched
    tt = spec["trialTemplate"]
    assert tt["primaryContainerName"] == "training"
    job = tt["trialSpec"]
    assert job["kind"] == "Job" and job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["lstmtune"] and container["args"][0] == "trial"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    assert pod["spec"]["tolerations"] == [TOLERATION] and pod["spec"]["nodeSelector"] == {
        "gpu": "a100"
    }
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["serviceAccountName"] == "lstmtune-trial"  # no Role bound to it
    assert pod["spec"]["automountServiceAccountToken"] is False  # a trial never calls the API
    assert {"secretRef": {"name": "lstmtune-s3"}} in container["envFrom"]
    for name in searched:
        assert f"{name}=${{trialParameters.{name}}}" in container["args"]


def test_no_gpu_no_limit_and_no_early_stopping_without_median(airline_meta: dict[str, Any]) -> None:
    exp = build_experiment(_cfg(), airline_meta, name="airline-2", data_uri="s3://b/p")
    container = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert "nvidia.com/gpu" not in container["resources"].get("limits", {})
    assert "earlyStopping" not in exp["spec"]


@pytest.mark.parametrize(
    ("sampler", "algorithm"),
    [("tpe", "tpe"), ("random", "random"), ("grid", "grid"), ("cmaes", "cmaes")],
)
def test_every_sampler_maps_to_a_katib_algorithm(
    airline_meta: dict[str, Any], sampler: str, algorithm: str
) -> None:
    exp = build_experiment(_cfg(tune__sampler=sampler), airline_meta, name="a-b", data_uri="/data")
    assert exp["spec"]["algorithm"]["algorithmName"] == algorithm
    assert validate_experiment(exp) == []


def test_a_grid_experiment_holds_the_points_optuna_grid_tries(
    airline_meta: dict[str, Any],
) -> None:
    """Katib's grid service refuses a range without a step ("Param dropout step is nil") and more
    trials than points: every range is now the list of Optuna's grid points."""
    from lstmtune.search_space import grid_size, grid_space

    exp = build_experiment(_cfg(tune__sampler="grid"), airline_meta, name="a-g", data_uri="/d")
    params = exp["spec"]["parameters"]
    assert {p["parameterType"] for p in params} <= {"discrete", "categorical"}
    grid = grid_space(airline_meta["search_space"])
    for p in params:
        assert p["feasibleSpace"]["list"] == [_value(v) for v in grid[p["name"]]], p["name"]
    size = grid_size(airline_meta["search_space"])
    assert exp["spec"]["maxTrialCount"] == min(30, size)
    assert validate_experiment(exp) == []
    few = copy.deepcopy(exp)
    few["spec"]["parameters"][0] = {
        "name": few["spec"]["parameters"][0]["name"],
        "parameterType": "double",
        "feasibleSpace": {"min": "0.0", "max": "0.5", "distribution": "uniform"},
    }
    assert any("grid needs a step" in v for v in validate_experiment(few))
    exp["spec"]["maxTrialCount"] = size + 1
    assert any(f"the grid's {size} points" in v for v in validate_experiment(exp))


def _value(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


@pytest.mark.parametrize("algorithm", ["multivariate-tpe", "bayesianoptimization", "sobol"])
def test_algorithm_override(airline_meta: dict[str, Any], algorithm: str) -> None:
    exp = build_experiment(
        _cfg(tune__katib__algorithm=algorithm), airline_meta, name="a-b", data_uri="/data"
    )
    assert exp["spec"]["algorithm"]["algorithmName"] == algorithm


def test_unknown_algorithm_and_hyperband_without_resource_are_refused(
    airline_meta: dict[str, Any],
) -> None:
    with pytest.raises(UserError, match=r"tune\.katib\.algorithm"):
        build_experiment(
            _cfg(tune__katib__algorithm="annealing"), airline_meta, name="a", data_uri="/d"
        )
    with pytest.raises(UserError, match="hyperband needs"):
        build_experiment(
            _cfg(tune__katib__algorithm="hyperband"), airline_meta, name="a", data_uri="/d"
        )


def test_parameter_rendering() -> None:
    space = {
        "units": {"type": "categorical", "choices": [16, 32]},
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
        "bidirectional": {"type": "categorical", "choices": [False, True]},
        "num_layers": {"type": "int", "low": 1, "high": 3, "step": 1, "log": False},
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "step": None, "log": True},
        "epochs": {"type": "fixed", "value": 50},
    }
    params = {p["name"]: p for p in katib_parameters(space)}
    assert "epochs" not in params
    assert params["units"] == {
        "name": "units",
        "parameterType": "discrete",
        "feasibleSpace": {"list": ["16", "32"]},
    }
    assert params["optimizer"]["parameterType"] == "categorical"
    assert params["bidirectional"]["feasibleSpace"]["list"] == ["false", "true"]
    assert params["num_layers"]["feasibleSpace"] == {
        "min": "1",
        "max": "3",
        "step": "1",
        "distribution": "uniform",
    }
    assert params["learning_rate"]["parameterType"] == "double"
    assert params["learning_rate"]["feasibleSpace"]["distribution"] == "logUniform"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda e: e["spec"].update(parallelTrialCount=99), "parallelTrialCount"),
        (lambda e: e["spec"].update(maxTrialCount=0), "maxTrialCount"),
        (lambda e: e["spec"].update(maxFailedTrialCount=-1), "maxFailedTrialCount"),
        (lambda e: e["metadata"].update(name="Bad_Name"), "metadata.name"),
        (
            lambda e: e["spec"]["objective"].update(additionalMetricNames=["val_rmse"]),
            "must not repeat",
        ),
        (lambda e: e["spec"]["parameters"][1]["feasibleSpace"].update(list=["1"]), "not a list"),
        (lambda e: e["spec"]["parameters"][0]["feasibleSpace"].update(min="1"), "takes a list"),
        (lambda e: e["spec"]["trialTemplate"].pop("primaryContainerName"), "primaryContainerName"),
        (
            lambda e: e["spec"]["trialTemplate"]["trialParameters"].append(
                {"name": "ghost", "reference": "ghost"}
            ),
            "ghost",
        ),
        (
            lambda e: e["spec"]["trialTemplate"]["trialSpec"].update(metadata={"name": "x"}),
            "metadata.name",
        ),
        (
            lambda e: e["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
                "containers"
            ][0].update(bogusField=1),
            "losing fields",
        ),
        (lambda e: e["spec"]["algorithm"].update(algorithmName="annealing"), "not available"),
        (
            lambda e: e["spec"].update(
                earlyStopping={
                    "algorithmName": "medianstop",
                    "algorithmSettings": [{"name": "start_step", "value": "0"}],
                }
            ),
            "start_step",
        ),
    ],
)
def test_admission_rules_catch_violations(
    airline_meta: dict[str, Any], mutate: Any, expected: str
) -> None:
    exp = copy.deepcopy(build_experiment(_cfg(), airline_meta, name="airline-3", data_uri="/d"))
    mutate(exp)
    problems = validate_experiment(exp)
    assert any(expected in p for p in problems), problems


def test_experiment_name_is_valid_and_stable() -> None:
    cfg = _cfg()
    name = experiment_name(cfg, "lstmtune-airline_passengers-1eba49d86b")
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 40
    assert name == experiment_name(cfg, "lstmtune-airline_passengers-1eba49d86b")
    assert name != experiment_name(cfg, "lstmtune-airline_passengers-ffffffffff")
    with pytest.raises(UserError, match=r"tune\.katib\.experiment_name"):
        experiment_name(_cfg(tune__katib__experiment_name="UPPER"), "x")


def test_cli_prints_the_experiment_yaml(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lstmtune.cli",
            "katib-experiment",
            "--data",
            "s3://b/prepared",
            "--gpus",
            "2",
            "--name",
            "air-cli",
            "--image",
            "registry.local/lstmtune:1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    exp = yaml.safe_load(out.stdout)
    assert exp["metadata"]["name"] == "air-cli"
    container = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert container["image"] == "registry.local/lstmtune:1"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert validate_experiment(exp) == []
    # the trials' config names no path of this machine (data, output dir, SQLite stores)
    encoded = container["args"][container["args"].index("--config-b64") + 1]
    trial_cfg = decode_config(encoded)
    text = trial_cfg.to_json()
    assert str(tmp_path) not in text and "sqlite" not in text and "example_data" not in text
    assert trial_cfg.data.path == "s3://b/prepared" and trial_cfg.output_dir == "lstmtune-output"
    assert trial_cfg.tune.storage is None and trial_cfg.mlflow.tracking_uri is None
    assert trial_cfg.data.target == "passengers"  # what the trial needs is kept


@pytest.mark.parametrize("folds", [1, 3])
def test_trial_command_prints_katib_metric_lines(tmp_path: Path, folds: int) -> None:
    """`lstmtune trial` with values taken from the rendered Experiment, parsed with Katib's
    regex. With rolling-origin folds (``tune.forecast_folds``) the epochs are the validation
    split's, under ``fold1_val_rmse``, and ``val_rmse`` is printed once: the folds' mean."""
    cfg = _cfg(tune__search_space={"epochs": 4}, train__patience=2, tune__forecast_folds=folds)
    parts, meta = prepare(cfg)
    data = tmp_path / "prepared"
    write_prepared(parts, meta, str(data))
    exp = build_experiment(cfg, meta, name="air-trial", data_uri=str(data))
    stdout = run_katib_trial(exp, data)
    metrics: dict[str, list[float]] = {}
    for line in stdout.splitlines():
        for name, value, *_ in METRICS_REGEX.findall(line):
            metrics.setdefault(name, []).append(float(value))
    assert metrics["best_epoch"][-1] >= 1
    if folds == 1:
        assert 1 <= len(metrics["val_rmse"]) - 1 <= 4  # one per epoch, then the best value
        assert min(metrics["val_rmse"][:-1]) == pytest.approx(metrics["val_rmse"][-1], rel=1e-5)
        return
    assert 1 <= len(metrics["fold1_val_rmse"]) <= 4 and len(metrics["val_rmse"]) == 1
    assert min(metrics["fold1_val_rmse"]) != pytest.approx(metrics["val_rmse"][0], rel=1e-5)


def test_trial_command_rejects_bad_parameters(tmp_path: Path) -> None:
    cfg = _cfg()
    parts, meta = prepare(cfg)
    write_prepared(parts, meta, str(tmp_path / "d"))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lstmtune.cli",
            "trial",
            "--data",
            str(tmp_path / "d"),
            "--config-b64",
            encode_config(cfg),
            "--param",
            "units=7",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "--param" in out.stderr and "Traceback" not in out.stderr


# the console script's ending, seen by an exit hook that writes a marker when the teardown runs
ENTRY = (
    "import atexit, sys\n"
    "marker = sys.argv.pop(1)\n"
    "atexit.register(lambda: open(marker, 'w').write('teardown'))\n"
    "from lstmtune.cli import entry\n"
    "entry()\n"
)


def test_trial_process_skips_the_teardown(tmp_path: Path) -> None:
    """A trial pod's exit code is the trial's outcome: ``lstmtune trial`` ends with ``os._exit``
    (an abort in a library's destructor at teardown cannot fail a finished trial); other
    commands run the exit hooks as usual."""
    cfg = _cfg()
    parts, meta = prepare(cfg)
    write_prepared(parts, meta, str(tmp_path / "d"))
    marker = tmp_path / "teardown"
    trial = [
        "trial", "--data", str(tmp_path / "d"), "--config-b64", encode_config(cfg),
        "--param", "units=7",
    ]  # fmt: skip
    env = {**os.environ, "COVERAGE_PROCESS_START": ""}
    out = subprocess.run(
        [sys.executable, "-c", ENTRY, str(marker), *trial],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert out.returncode == 2 and "--param" in out.stderr
    assert not marker.exists()
    out = subprocess.run(
        [sys.executable, "-c", ENTRY, str(marker), "config", "--reference"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0 and "data.target" in out.stdout
    assert marker.read_text() == "teardown"


# --------------------------------------------------------------------------------------------
# Replay server: recorded Katib API responses over HTTP, driven by the real kubernetes client


class KatibReplay:
    def __init__(self, recording: str, assignments: list[dict[str, str]]) -> None:
        data = json.loads((RESPONSES / recording).read_text())
        text = json.dumps(data["statuses"]).replace('"ASSIGNMENTS"', json.dumps(assignments))
        self.statuses: list[dict[str, Any]] = json.loads(text)
        self.objects: dict[str, dict[str, Any]] = {}
        self.gets = 0
        self.creates = 0

    def handle(
        self, method: str, path: str, body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        m = re.fullmatch(
            r"/apis/kubeflow.org/v1beta1/namespaces/([^/]+)/experiments(?:/([^/]+))?", path
        )
        if not m:
            return 404, {"kind": "Status", "status": "Failure", "code": 404, "reason": "NotFound"}
        ns, name = m.group(1), m.group(2)
        if method == "POST":
            assert body is not None
            self.creates += 1
            key = f"{ns}/{body['metadata']['name']}"
            if key in self.objects:
                return 409, {
                    "kind": "Status",
                    "status": "Failure",
                    "code": 409,
                    "reason": "AlreadyExists",
                    "message": (
                        f'experiments.kubeflow.org "{body["metadata"]["name"]}" already exists'
                    ),
                }
            self.objects[key] = {
                **body,
                "metadata": {**body["metadata"], "uid": "u-1", "resourceVersion": "1"},
            }
            return 201, self.objects[key]
        key = f"{ns}/{name}"
        if key not in self.objects:
            return 404, {"kind": "Status", "status": "Failure", "code": 404, "reason": "NotFound"}
        obj = self.objects[key]
        obj["status"] = self.statuses[min(self.gets, len(self.statuses) - 1)]
        self.gets += 1
        return 200, obj


@pytest.fixture
def replay_api() -> Iterator[Any]:
    from kubernetes import client

    state: dict[str, KatibReplay] = {}
    with json_server(
        lambda method, path, body: state["replay"].handle(method, path.split("?")[0], body)
    ) as url:
        conf = client.Configuration()
        conf.host = url
        api = client.CustomObjectsApi(client.ApiClient(conf))

        def use(
            recording: str, assignments: list[dict[str, str]] | None = None
        ) -> tuple[Any, KatibReplay]:
            state["replay"] = KatibReplay(recording, assignments or [])
            return api, state["replay"]

        yield use


ASSIGNMENTS = [
    {"name": "units", "value": "32"},
    {"name": "num_layers", "value": "2"},
    {"name": "dropout", "value": "0.1"},
    {"name": "recurrent_dropout", "value": "0.05"},
    {"name": "bidirectional", "value": "false"},
    {"name": "learning_rate", "value": "0.004"},
    {"name": "batch_size", "value": "16"},
    {"name": "optimizer", "value": "adamw"},
    {"name": "weight_decay", "value": "1e-05"},
    {"name": "lookback", "value": "24"},
    {"name": "anchor", "value": "seasonal"},
    {"name": "transform", "value": "log"},
    {"name": "window_norm", "value": "true"},
]


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_create_then_reattach_instead_of_launching_twice(
    replay_api: Any, airline_meta: dict[str, Any]
) -> None:
    api, replay = replay_api("succeeded.json")
    body = build_experiment(_cfg(), airline_meta, name="air-replay", data_uri="s3://b/p")
    obj, created = create_or_attach(body, api=api)
    assert created and obj["metadata"]["uid"] == "u-1"
    again, created_again = create_or_attach(body, api=api)
    assert not created_again and again["metadata"]["name"] == "air-replay"
    assert replay.creates == 2 and len(replay.objects) == 1


def test_wait_until_succeeded_and_read_the_optimal_trial(
    replay_api: Any, airline_meta: dict[str, Any]
) -> None:
    api, _ = replay_api("succeeded.json", ASSIGNMENTS)
    body = build_experiment(_cfg(), airline_meta, name="air-ok", data_uri="s3://b/p")
    create_or_attach(body, api=api)
    lines: list[str] = []
    clock = FakeClock()
    obj = wait_for_experiment(
        "lstmtune",
        "air-ok",
        timeout=3600,
        poll=10,
        api=api,
        report=lines.append,
        clock=clock,
        sleep=clock.sleep,
    )
    assert any("Running" in line for line in lines) and "Succeeded" in lines[-1]
    assert "best val_rmse=17.5" in lines[-1]
    result = optimal_result(obj, airline_meta["search_space"], "val_rmse")
    assert result["best_value"] == 17.5 and result["best_epoch"] == 9
    assert result["best_params"]["units"] == 32 and result["best_params"]["bidirectional"] is False
    assert (
        result["best_params"]["window_norm"] is True
        and result["best_params"]["learning_rate"] == 0.004
    )
    assert result["best_params"]["epochs"] == 100  # fixed parameters are filled in
    assert (result["n_trials_complete"], result["n_trials_pruned"]) == (3, 1)


def test_failed_experiment_fails_the_step(replay_api: Any, airline_meta: dict[str, Any]) -> None:
    api, _ = replay_api("failed.json")
    create_or_attach(
        build_experiment(_cfg(), airline_meta, name="air-bad", data_uri="s3://b/p"), api=api
    )
    clock = FakeClock()
    with pytest.raises(KatibError, match="failed: Experiment has failed because max failed count"):
        wait_for_experiment(
            "lstmtune",
            "air-bad",
            timeout=3600,
            poll=1,
            api=api,
            report=lambda s: None,
            clock=clock,
            sleep=clock.sleep,
        )


def test_timeout_fails_the_step_with_a_clear_message(
    replay_api: Any, airline_meta: dict[str, Any]
) -> None:
    api, replay = replay_api("succeeded.json")
    replay.statuses = replay.statuses[:2]  # stays Running
    create_or_attach(
        build_experiment(_cfg(), airline_meta, name="air-slow", data_uri="s3://b/p"), api=api
    )
    clock = FakeClock()
    with pytest.raises(KatibError, match="did not finish within 60 s"):
        wait_for_experiment(
            "lstmtune",
            "air-slow",
            timeout=60,
            poll=15,
            api=api,
            report=lambda s: None,
            clock=clock,
            sleep=clock.sleep,
        )
    assert replay.gets >= 4


def test_optimal_result_without_a_trial_raises() -> None:
    with pytest.raises(KatibError, match="without an optimal trial"):
        optimal_result({"metadata": {"name": "x"}, "status": {}}, {}, "val_rmse")


PBT_SPACE = {
    "units": 8,
    "num_layers": 1,
    "weight_decay": 1e-6,
    "bidirectional": False,
    "batch_size": 32,
    "optimizer": "adam",
    "epochs": 6,
    "lookback": 12,
    "anchor": "seasonal",
    "transform": "none",
    "window_norm": True,
    "recurrent_dropout": 0.0,
    "learning_rate": {"type": "float", "low": 0.003, "high": 0.03, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.2},
}


def test_katib_pbt_experiment(airline_meta: dict[str, Any]) -> None:
    cfg = _cfg(
        tune__strategy="pbt", tune__population=6, tune__pbt_rounds=3, tune__search_space=PBT_SPACE
    )
    _, meta = prepare(cfg)
    exp = build_experiment(cfg, meta, name="air-pbt", data_uri="s3://b/p")
    assert validate_experiment(exp) == []
    spec = exp["spec"]
    assert spec["algorithm"]["algorithmName"] == "pbt" and spec["resumePolicy"] == "FromVolume"
    settings = {s["name"]: s["value"] for s in spec["algorithm"]["algorithmSettings"]}
    assert settings == {
        "suggestion_trial_dir": "/var/log/katib/checkpoints/",
        "n_population": "6",
        "truncation_threshold": "0.25",
    }
    assert spec["maxTrialCount"] == 18 and "earlyStopping" not in spec
    args = spec["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--checkpoint") + 1] == "/var/log/katib/checkpoints/"
    assert {p["name"] for p in spec["parameters"]} == {"learning_rate", "dropout"}
    broken = copy.deepcopy(exp)
    broken["spec"].pop("resumePolicy")
    assert any("FromVolume" in p for p in validate_experiment(broken))


def test_katib_pbt_refuses_structural_search(airline_meta: dict[str, Any]) -> None:
    with pytest.raises(UserError, match=r"fix .*units"):
        build_experiment(
            _cfg(tune__strategy="pbt", tune__search_space={**PBT_SPACE, "units": [8, 16]}),
            airline_meta,
            name="a",
            data_uri="/d",
        )


def test_trial_continues_a_pbt_member_from_its_checkpoint(tmp_path: Path) -> None:
    cfg = _cfg(tune__strategy="pbt", tune__pbt_rounds=3, tune__search_space=PBT_SPACE)
    parts, meta = prepare(cfg)
    write_prepared(parts, meta, str(tmp_path / "d"))
    ckpt = tmp_path / "member"
    base = [
        sys.executable,
        "-m",
        "lstmtune.cli",
        "trial",
        "--data",
        str(tmp_path / "d"),
        "--config-b64",
        encode_config(cfg),
        "--param",
        "learning_rate=0.01",
        "--param",
        "dropout=0.1",
        "--checkpoint",
        str(ckpt),
    ]
    first = subprocess.run(base, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (ckpt / "lstmtune-member.pt").is_file()
    second = subprocess.run(
        [
            *base[:-6],
            "--param",
            "learning_rate=0.005",
            "--param",
            "dropout=0.0",
            "--checkpoint",
            str(ckpt),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert second.returncode == 0, second.stderr[-2000:]

    def metrics(out: str) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for line in out.splitlines():
            for name, value, *_ in METRICS_REGEX.findall(line):
                found.setdefault(name, []).append(float(value))
        return found

    one, two = metrics(first.stdout), metrics(second.stdout)
    assert len(one["val_rmse"]) == len(two["val_rmse"]) == 3  # 2 epochs per round + the final value
    assert (
        one["best_epoch"][-1] == 2 and two["best_epoch"][-1] == 4
    )  # the second round continued the first
    import torch

    state = torch.load(ckpt / "lstmtune-member.pt", weights_only=True)
    assert state["rounds"] == 2


def test_a_kfold_trial_prints_fold_ones_epochs_apart_from_its_objective(tmp_path: Path) -> None:
    """A small classification set is judged by k-fold: the epochs printed are fold 1's, under
    ``fold1_val_loss``, so the experiment's ``min`` of ``val_loss`` is the trial's k-fold mean
    (its last line), not fold 1's best epoch."""
    from lstmtune.synthetic import classify_frame

    path = tmp_path / "seq.csv"
    classify_frame(10, seed=1).to_csv(path, index=False)
    space = {"units": 4, "epochs": 3, "conv": "none", "batch_size": 8, "learning_rate": 1e-2}
    cfg = _cfg(
        data__path=str(path),
        data__task="classify",
        data__sequence_column="seq",
        data__time_column="t",
        data__label="y",
        tune__search_space=space,
    )
    parts, meta = prepare(cfg)
    data = tmp_path / "prepared"
    write_prepared(parts, meta, str(data))
    exp = build_experiment(cfg, meta, name="cls-trial", data_uri=str(data))
    assert exp["spec"]["objective"]["objectiveMetricName"] == "val_loss"
    stdout = run_katib_trial(exp, data)
    metrics: dict[str, list[float]] = {}
    for line in stdout.splitlines():
        for name, value, *_ in METRICS_REGEX.findall(line):
            metrics.setdefault(name, []).append(float(value))
    assert 1 <= len(metrics["fold1_val_loss"]) <= 3
    assert len(metrics["val_loss"]) == 1  # the k-fold mean alone

"""Cluster runs: Kubernetes settings compiled into the pipeline, and submit / schedule through the
real kfp.Client against a replay of the KFP v2beta1 REST API on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from replay import json_server

from lstmtune.cli import main
from lstmtune.cluster import check_cron
from lstmtune.config import ClusterConfig, RunConfig, load_config
from lstmtune.errors import UserError
from lstmtune.pipelines import compile_pipeline

GPU_CLUSTER = {
    "gpus": 1,
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "node_selector": {"cloud.google.com/gke-accelerator": "nvidia-l4"},
    "mlflow_secret": "lstmtune-mlflow",
    "storage_secret": "lstmtune-optuna",
}


def _compile(tmp_path: Path, cluster: ClusterConfig, backend: str = "optuna") -> dict[str, Any]:
    out = tmp_path / "p.yaml"
    compile_pipeline(str(out), "registry.local/lstmtune:1", cluster, backend=backend)
    docs = list(yaml.safe_load_all(out.read_text()))
    return {
        "ir": docs[0],
        "platform": docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        if len(docs) > 1
        else {},
    }


@pytest.mark.parametrize(
    ("backend", "trainers"),
    [("optuna", {"exec-tune", "exec-train-best"}), ("katib", {"exec-train-best"})],
)
def test_gpu_tolerations_and_secrets_land_on_the_right_tasks(
    tmp_path: Path, backend: str, trainers: set[str]
) -> None:
    spec = _compile(tmp_path, ClusterConfig(**GPU_CLUSTER), backend)
    executors = spec["ir"]["deploymentSpec"]["executors"]
    for name, ex in executors.items():
        res = ex["container"]["resources"]
        assert res["cpuRequest"] == 1.0 and res["memoryRequest"] > 0 and res["cpuLimit"] == 4.0
        platform = spec["platform"][name]
        secrets: dict[str, list[str]] = {}
        for s in platform["secretAsEnv"]:
            secrets.setdefault(s["secretName"], []).extend(k["envVar"] for k in s["keyToEnv"])
        # the endpoint the Secret may hold reaches every step (it reached only Katib's trials)
        assert secrets["lstmtune-s3"] == [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ENDPOINT_URL",
        ]
        endpoint = next(
            s for s in platform["secretAsEnv"] if s["keyToEnv"][0]["envVar"] == "AWS_ENDPOINT_URL"
        )
        assert endpoint.get("optional") is True  # a Secret without the key still starts the pod
        assert secrets["lstmtune-mlflow"] == [
            "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD",
        ]
        assert secrets["lstmtune-optuna"] == ["LSTMTUNE_STORAGE_URL"]
        if name in trainers:
            assert (
                res["accelerator"]["resourceType"] == "nvidia.com/gpu"
                and res["accelerator"]["resourceCount"] == "1"
            )
            assert platform["tolerations"] == [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ]
            assert platform["nodeSelector"]["labels"] == {
                "cloud.google.com/gke-accelerator": "nvidia-l4"
            }
        else:
            assert "accelerator" not in res and "tolerations" not in platform
    text = json.dumps(spec)
    assert "password" not in text.lower().replace(
        "mlflow_tracking_password", ""
    )  # names of env vars only, no values


def test_steps_that_do_not_train_request_at_most_one_cpu_and_4gi(tmp_path: Path) -> None:
    """A GPU config's 4 CPU / 16 Gi requests held a node's share for prepare, register and a
    Katib tune step that only polls; their limits stay the config's."""
    big = {**GPU_CLUSTER, "cpu_request": "4", "memory_request": "16Gi", "cpu_limit": "8"}
    spec = _compile(tmp_path, ClusterConfig(**big), "katib")
    for name, ex in spec["ir"]["deploymentSpec"]["executors"].items():
        res = ex["container"]["resources"]
        trains = name == "exec-train-best"
        assert res["cpuRequest"] == (4.0 if trains else 1.0), name
        assert res["memoryRequest"] == pytest.approx(17.18 if trains else 4.295, rel=1e-3), name
        assert res["cpuLimit"] == 8.0, name


def test_no_gpu_by_default(tmp_path: Path) -> None:
    spec = _compile(tmp_path, ClusterConfig())
    for ex in spec["ir"]["deploymentSpec"]["executors"].values():
        assert "accelerator" not in ex["container"]["resources"]


def test_cli_compile_takes_the_cluster_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {"cluster": GPU_CLUSTER, "tune": {"backend": "katib", "katib": {"data_uri": "/d"}}}
        )
    )
    out = tmp_path / "p.yaml"
    assert main(["compile", "--config", str(cfg), "--output", str(out), "--image", "reg/x:2"]) == 0
    ir = next(yaml.safe_load_all(out.read_text()))
    executors = ir["deploymentSpec"]["executors"]
    assert {ex["container"]["image"] for ex in executors.values()} == {"reg/x:2"}
    assert (
        "accelerator" not in executors["exec-tune"]["container"]["resources"]
    )  # katib: trial pods train
    assert "accelerator" in executors["exec-train-best"]["container"]["resources"]


@pytest.mark.parametrize("cron", ["0 0 3 * * *", "0 */15 * * * *", "0 30 2 * * 1-5"])
def test_six_field_cron_accepted(cron: str) -> None:
    assert check_cron(cron) == cron


@pytest.mark.parametrize("cron", ["0 3 * * *", "@daily", "0 0 3 * * * *", "0 0 3 * * $"])
def test_bad_cron_refused(cron: str) -> None:
    with pytest.raises(UserError, match="6 fields"):
        check_cron(cron)


class KfpReplay:
    """Answers the KFP v2beta1 calls kfp.Client makes, recording every request."""

    def __init__(self, final_state: str = "SUCCEEDED") -> None:
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []
        self.final_state = final_state

    def answer(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        self.requests.append((method, path, body))
        p = path.split("?")[0]
        if p.endswith("/healthz"):
            return {"multi_user": False}
        if p.endswith("/experiments"):
            if method == "GET":
                return {
                    "experiments": [{"experiment_id": "exp-1", "display_name": "nightly"}],
                    "total_size": 1,
                }
            return {"experiment_id": "exp-1", "display_name": "nightly"}
        if p.endswith("/runs") and method == "POST":
            return {
                "run_id": "run-42",
                "display_name": body["display_name"] if body else "",
                "state": "PENDING",
            }
        if "/runs/" in p:
            return {"run_id": "run-42", "state": self.final_state}
        if p.endswith("/recurringruns"):
            return {
                "recurring_run_id": "rr-7",
                "display_name": body["display_name"] if body else "",
            }
        return {}

    def posted(self, suffix: str) -> dict[str, Any]:
        bodies = [
            b for m, p, b in self.requests if m == "POST" and p.split("?")[0].endswith(suffix)
        ]
        assert len(bodies) == 1, self.requests
        assert bodies[0] is not None
        return bodies[0]


@pytest.fixture
def kfp_api() -> Iterator[tuple[str, KfpReplay]]:
    replay = KfpReplay()
    with json_server(lambda method, path, body: (200, replay.answer(method, path, body))) as url:
        yield url, replay


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data": {
                    "path": "s3://lstmtune-data/airline.csv",
                    "target": "passengers",
                    "time_column": "month",
                },
                "mlflow": {"tracking_uri": "http://mlflow.lstmtune.svc:5000"},
                "cluster": GPU_CLUSTER,
            }
        )
    )
    return path


def test_submit_starts_a_run_and_prints_id_and_link(
    tmp_path: Path, kfp_api: tuple[str, KfpReplay], capsys: pytest.CaptureFixture[str]
) -> None:
    host, replay = kfp_api
    assert (
        main(
            [
                "submit",
                "--host",
                host,
                "--experiment",
                "nightly",
                "--config",
                str(_config_file(tmp_path)),
                "--wait",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "run id: run-42" in out and f"{host}/#/runs/details/run-42" in out and "SUCCEEDED" in out
    body = replay.posted("/runs")
    assert body["service_account"] == "lstmtune-pipeline"
    config = RunConfig.from_json(body["runtime_config"]["parameters"]["config"])
    assert config.data.path == "s3://lstmtune-data/airline.csv" and config.cluster.gpus == 1
    assert config.output_dir == "lstmtune-output"  # no laptop paths resolved into a cluster run
    executors = body["pipeline_spec"]["pipeline_spec"]["deploymentSpec"]["executors"]
    assert (
        executors["exec-train-best"]["container"]["resources"]["accelerator"]["resourceCount"]
        == "1"
    )


def test_submit_wait_fails_when_the_run_fails(
    tmp_path: Path, kfp_api: tuple[str, KfpReplay]
) -> None:
    host, replay = kfp_api
    replay.final_state = "FAILED"
    assert main(["submit", "--host", host, "--config", str(_config_file(tmp_path)), "--wait"]) == 1


def test_schedule_creates_a_recurring_run(
    tmp_path: Path, kfp_api: tuple[str, KfpReplay], capsys: pytest.CaptureFixture[str]
) -> None:
    host, replay = kfp_api
    code = main(
        [
            "schedule",
            "--host",
            host,
            "--experiment",
            "nightly",
            "--config",
            str(_config_file(tmp_path)),
            "--cron",
            "0 0 3 * * *",
            "--max-concurrency",
            "2",
            "--name",
            "airline-nightly",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "recurring run id: rr-7" in out and "/#/recurringrun/details/rr-7" in out
    body = replay.posted("/recurringruns")
    assert body["display_name"] == "airline-nightly"
    assert body["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert body["max_concurrency"] == "2" or body["max_concurrency"] == 2
    assert body["no_catchup"] is True
    assert body["experiment_id"] == "exp-1"
    assert RunConfig.from_json(body["runtime_config"]["parameters"]["config"]).cluster.gpus == 1


def test_schedule_refuses_a_five_field_cron(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "schedule",
                "--host",
                "http://127.0.0.1:9",
                "--config",
                str(_config_file(tmp_path)),
                "--cron",
                "0 3 * * *",
            ]
        )
        == 2
    )
    assert "--cron" in capsys.readouterr().err


def test_storage_url_comes_from_the_environment_at_run_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LSTMTUNE_STORAGE_URL", "postgresql://u:secret@db:5432/optuna")
    assert load_config().resolved().tune.storage == "postgresql://u:secret@db:5432/optuna"
    monkeypatch.delenv("LSTMTUNE_STORAGE_URL")
    assert str(load_config().resolved().tune.storage).startswith("sqlite:///")


def test_submit_to_a_host_that_refuses_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{sock.getsockname()[1]}"
        code = main(["submit", "--host", host, "--config", str(_config_file(tmp_path))])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == (
        f"lstmtune: error: --host: cannot reach the Kubeflow Pipelines API at {host}:"
        " Connection refused\n"
    )

"""The whole pipeline against a REAL ``mlflow server`` process (HTTP tracking + registry, proxied
artifacts), then the registered model loaded by alias in a fresh Python process.

Nothing is mocked: the server is a separate process group on loopback with its own SQLite
backend and artifact directory; the CLI runs as a subprocess; the model is loaded from the
server by ``models:/<name>@champion`` in yet another process.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow_proc
import pytest
import yaml
from conftest import TINY_SPACE

from lstmtune.config import example_data_path

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL_NAME = "lt-test"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    try:
        with mlflow_proc.serve(tmp_path_factory.mktemp("mlflow-server")) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def tiny_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "tune": {"search_space": dict(TINY_SPACE)},
                "train": {"patience": 3},
                "evaluate": {"gate": "naive"},  # 2 tiny trials need not beat AutoARIMA
            }
        )
    )
    return path


def _run_cli(server: dict[str, Any], config: Path, out: Path, *extra: str) -> dict[str, Any]:
    return mlflow_proc.run_cli(server, config, out, MODEL_NAME, *extra, timeout=600)


def _client(server: dict[str, Any]) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server["url"], registry_uri=server["url"])


@pytest.fixture(scope="module")
def first_run(
    mlflow_server: dict[str, Any], tiny_yaml: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("run1") / "out"
    return _run_cli(mlflow_server, tiny_yaml, out)


def test_first_run_registers_champion_on_server(
    mlflow_server: dict[str, Any], first_run: dict[str, Any]
) -> None:
    s = first_run
    assert s["tracking_uri"] == mlflow_server["url"]
    assert s["model_name"] == MODEL_NAME
    assert s["model_version"] == "1"
    assert s["alias"] == "champion", s["promotion_reason"]
    assert s["model_uri"] == f"models:/{MODEL_NAME}@champion"
    assert s["previous_champion_version"] is None

    client = _client(mlflow_server)
    version = client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert str(version.version) == "1"
    assert version.tags["task"] == "forecast"
    assert version.tags["target"] == "passengers"
    assert version.tags["horizon"] == "1"
    assert int(version.tags["lookback"]) >= 1
    assert math.isclose(float(version.tags["test_rmse"]), s["test_metrics"]["rmse"], rel_tol=1e-5)
    run = client.get_run(s["parent_run_id"])
    assert run.info.status == "FINISHED"
    assert version.run_id == s["parent_run_id"]

    # artifacts went through the server's proxy into its artifact directory, not into a local
    # ./mlruns
    mlmodels = list(mlflow_server["artifacts"].rglob("MLmodel"))
    assert mlmodels, (
        f"no MLmodel under the server's artifact directory {mlflow_server['artifacts']}"
    )
    out = Path(s["output_dir"])
    assert not (out / "mlruns").exists() and not (out.parent / "mlruns").exists()
    assert not (out / "mlflow.db").exists()


LOAD_SCRIPT = r"""
import json, sys
import numpy as np
import pandas as pd
import mlflow
from mlflow import MlflowClient

name, csv_path = sys.argv[1], sys.argv[2]
version = MlflowClient().get_model_version_by_alias(name, "champion")
model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
raw = pd.read_csv(csv_path).tail(30).reset_index(drop=True)
assert str(raw["passengers"].dtype) == "int64", raw.dtypes
assert "month" in raw.columns
out = model.predict(raw)
print("RESULT " + json.dumps({
    "version": str(version.version),
    "lookback": int(version.tags["lookback"]),
    "columns": [str(c) for c in out.columns],
    "n_rows": int(len(out)),
    "pred": (
        [float(v) for v in np.asarray(out["step_1"], dtype=np.float64)]
        if "step_1" in out.columns
        else []
    ),
    "actual": [float(v) for v in raw["passengers"]],
}))
"""


def test_champion_loads_by_alias_in_fresh_process(
    mlflow_server: dict[str, Any], first_run: dict[str, Any], tmp_path: Path
) -> None:
    script = tmp_path / "load_champion.py"
    script.write_text(LOAD_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), MODEL_NAME, example_data_path()],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(tmp_path),
        env=mlflow_proc.clean_env(MLFLOW_TRACKING_URI=mlflow_server["url"]),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads(lines[-1][len("RESULT ") :])
    lookback = r["lookback"]
    assert 1 <= lookback <= 30
    bands = ["step_1_lo_80", "step_1_hi_80", "step_1_lo_95", "step_1_hi_95"]
    # the time sent first (since 2026-12-04), the point forecast, then the intervals
    assert r["columns"] == ["month", "step_1", *bands]
    assert r["n_rows"] == 30 - lookback + 1
    pred = r["pred"]
    assert all(math.isfinite(v) for v in pred)
    assert all(200.0 <= v <= 900.0 for v in pred), pred
    # row i forecasts the value right after its window, i.e. actual[lookback + i]; a trained
    # model is far closer than a wildly wrong scale or offset would be
    actual = r["actual"]
    errors = [abs(p - a) for p, a in zip(pred, actual[lookback:], strict=False)]
    assert errors and sum(errors) / len(errors) < 100.0, (pred, actual)


def test_second_run_adds_version_2_and_keeps_one_champion(
    mlflow_server: dict[str, Any],
    first_run: dict[str, Any],
    tiny_yaml: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    client = _client(mlflow_server)
    v1_rmse = float(client.get_model_version(MODEL_NAME, "1").tags["test_rmse"])
    out = tmp_path_factory.mktemp("run2") / "out"
    s = _run_cli(mlflow_server, tiny_yaml, out, "--seed", "7")
    assert s["model_version"] == "2"
    assert s["alias"] in ("champion", "challenger")
    # the old champion was loaded from the server and re-scored on the same (identical) test split
    assert s["previous_champion_version"] == "1"
    assert s["previous_champion_metric"] is not None, s["promotion_reason"]
    assert math.isclose(float(s["previous_champion_metric"]), v1_rmse, rel_tol=1e-4), (
        s["previous_champion_metric"],
        v1_rmse,
    )
    new_rmse = float(s["test_metrics"]["rmse"])
    champion_rmse = float(s["previous_champion_metric"])  # exact, as the promotion compared it

    versions = sorted(
        client.search_model_versions(f"name='{MODEL_NAME}'"), key=lambda v: int(v.version)
    )
    assert [str(v.version) for v in versions] == ["1", "2"]
    aliases = {
        str(v.version): set(client.get_model_version(MODEL_NAME, str(v.version)).aliases)
        for v in versions
    }
    holders = [v for v, a in aliases.items() if "champion" in a]
    assert len(holders) == 1, aliases
    registered = client.get_registered_model(MODEL_NAME).aliases
    if s["alias"] == "champion":
        assert new_rmse < champion_rmse, (new_rmse, champion_rmse)
        assert holders == ["2"]
        assert str(registered["champion"]) == "2"
        assert "challenger" not in aliases["2"]
    else:
        assert new_rmse >= champion_rmse or s["beats_baseline"] is False, (
            new_rmse,
            champion_rmse,
            s["promotion_reason"],
        )
        assert holders == ["1"]
        assert str(registered["champion"]) == "1"
        assert "challenger" in aliases["2"]
        assert str(registered["challenger"]) == "2"
    assert client.get_model_version(MODEL_NAME, "2").tags["promotion"] == s["promotion_reason"]

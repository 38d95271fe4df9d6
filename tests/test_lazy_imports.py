"""What a pipeline step imports and when: ``mlflow.pyfunc`` only where the pyfunc is logged or
loaded, torch not in the prepare step even with ``train.threads`` set (each checked in a fresh
interpreter, what a step process is); the pyfunc made on first use still serves what the
Predictor predicts; the MLflow helper process writes what the step would have written (the
classical fits' child process: ``test_classical_fits.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lstmtune
from lstmtune.config import RunConfig

AIRLINE = Path(lstmtune.__file__).parent / "example_data" / "airline_passengers.csv"


def _loaded(code: str, *modules: str) -> dict[str, bool]:
    """Run ``code`` in a new interpreter; which of ``modules`` it left in ``sys.modules``."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {modules!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    loaded: dict[str, bool] = json.loads(out.strip().splitlines()[-1])
    return loaded


def test_serving_does_not_import_mlflow_until_the_pyfunc_is_asked_for() -> None:
    assert _loaded("import lstmtune.serving", "torch", "mlflow", "mlflow.pyfunc") == {
        "torch": True,
        "mlflow": False,
        "mlflow.pyfunc": False,
    }
    code = (
        "from lstmtune.serving import LstmtuneModel\n"
        "import mlflow.pyfunc, lstmtune.serving as s\n"
        "assert issubclass(LstmtuneModel, mlflow.pyfunc.PythonModel)\n"
        "assert s.LstmtuneModel is LstmtuneModel and LstmtuneModel.__name__ == 'LstmtuneModel'\n"
        "try:\n    s.NoSuchThing\nexcept AttributeError:\n    pass\n"
        "else:\n    raise SystemExit('no AttributeError')"
    )
    assert _loaded(code, "mlflow.pyfunc") == {"mlflow.pyfunc": True}


def test_step_config_imports_torch_only_for_a_step_that_uses_it() -> None:
    cfg = RunConfig.model_validate({"data": {"path": "x.csv"}, "train": {"threads": 1}})
    call = (
        f"from lstmtune.step_utils import step_config\ncfg = step_config({cfg.model_dump_json()!r}"
    )
    assert _loaded(call + ", uses_torch=False)", "torch") == {"torch": False}
    code = call + ")\nimport torch\nassert torch.get_num_threads() == 1"
    assert _loaded(code, "torch") == {"torch": True}


def test_the_lazy_pyfunc_serves_what_the_predictor_predicts(tmp_path: Path) -> None:
    import mlflow.pyfunc
    import torch

    from lstmtune.features import ForecastFeaturizer
    from lstmtune.model import build_model
    from lstmtune.registry_model import MODEL_CODE
    from lstmtune.serving import Predictor, save_model_dir

    y = 100 + 10 * np.sin(np.arange(60) * 2 * np.pi / 12)
    frame = pd.DataFrame({"y": y})
    featurizer = ForecastFeaturizer(
        features=["y"],
        target="y",
        target_index=0,
        lookback=12,
        horizon=1,
        transform="none",
        anchor="last",
        window_norm=False,
        period=12,
        mean=[100.0],
        std=[7.0],
    )
    params = {"units": 4}
    torch.manual_seed(0)
    model = build_model(1, 1, params, zero_head=False)
    spec = {
        "task": "forecast",
        "params": params,
        "n_features": 1,
        "n_outputs": 1,
        "zero_head": False,
        "featurizer": featurizer.to_dict(),
    }
    save_model_dir(tmp_path / "model", model, spec)
    mlflow.pyfunc.save_model(
        tmp_path / "pyfunc",
        python_model=str(MODEL_CODE),
        artifacts={"model_dir": str(tmp_path / "model")},
    )
    served = mlflow.pyfunc.load_model(str(tmp_path / "pyfunc")).predict(frame)
    expected = Predictor.load(tmp_path / "model").predict(frame)
    pd.testing.assert_frame_equal(served, expected)


def test_the_mlflow_helper_writes_the_batch_without_mlflow_in_the_step(tmp_path: Path) -> None:
    """train-best's one MLflow call, handed to the helper process: the same params, tags and
    metrics (a NaN too) on the run, and the step process never imports MLflow."""
    from mlflow.tracking import MlflowClient

    from lstmtune import tracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = RunConfig.model_validate({"data": {"path": "x.csv"}, "mlflow": {"tracking_uri": uri}})
    runs = [tracking.client(cfg).create_run("0").info.run_id for _ in range(2)]
    metrics = {"rmse": 0.1 + 0.2, "coverage_80": float("nan")}
    step = (
        "import math, sys\nfrom lstmtune import tracking\nfrom lstmtune.config import RunConfig\n"
        f"cfg = RunConfig.model_validate_json({cfg.model_dump_json()!r})\n"
        "tracking.start_helper(cfg.model_dump_json())\n"
        f"tracking.log_to_parent(cfg, {runs[0]!r}, metrics={{'rmse': 0.1 + 0.2,"
        " 'coverage_80': math.nan}, params={'p': 3}, tags={'t': 'x'})\n"
        "assert tracking._Helper.proc is None"
    )
    assert _loaded(step, "mlflow") == {"mlflow": False}
    tracking.log_to_parent(cfg, runs[1], metrics=metrics, params={"p": 3}, tags={"t": "x"})
    c = MlflowClient(uri)
    helped, here = (c.get_run(r).data for r in runs)
    assert helped.params == here.params == {"p": "3"} and helped.tags["t"] == here.tags["t"] == "x"
    assert helped.metrics["rmse"] == here.metrics["rmse"] == 0.1 + 0.2
    assert np.isnan(helped.metrics["coverage_80"]) and np.isnan(here.metrics["coverage_80"])


def test_a_failed_mlflow_helper_leaves_the_call_to_the_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    from lstmtune import tracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = RunConfig.model_validate({"data": {"path": "x.csv"}, "mlflow": {"tracking_uri": uri}})
    run_id = tracking.client(cfg).create_run("0").info.run_id
    monkeypatch.setattr(sys, "executable", "false")
    tracking.start_helper(cfg.model_dump_json())
    tracking.log_to_parent(cfg, run_id, metrics={"rmse": 1.5})
    assert MlflowClient(uri).get_run(run_id).data.metrics == {"rmse": 1.5}
    assert tracking._Helper.proc is None

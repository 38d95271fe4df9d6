"""How a new version meets the current champion when the two cannot be compared: a warning
line that says why, and what a changed horizon means for the champion's consumers."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from lstmtune.config import load_config
from lstmtune.registry import champion_score


def test_a_champion_of_another_horizon_is_named_in_a_warning_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    client.create_registered_model("m")
    version = client.create_model_version("m", str(tmp_path), tags={"task": "forecast"})
    client.set_model_version_tag("m", version.version, "horizon", "1")
    client.set_registered_model_alias("m", "champion", version.version)
    cfg = load_config(
        None, {"mlflow.tracking_uri": uri, "mlflow.model_name": "m", "output_dir": str(tmp_path)}
    ).resolved()
    meta = {"task": "forecast", "horizon": 3}
    assert champion_score(cfg, {}, meta, None) == (None, "1")
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "champion v1" in x]
    assert "warning: current champion v1 cannot be scored on this data" in line
    assert "horizon 1 differs from 3" in line and "step_1 … step_3" in line
    assert "treating it as not comparable" in line

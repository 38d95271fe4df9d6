"""``lstmtune config --output-dir DIR`` of a finished run prints the configuration that run used
(``DIR/run_config.yaml``, written by the runner beside ``summary.json``), not the defaults;
through the CLI entry, ``lstmtune.cli.main``. The runner writing it: test_pipeline.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lstmtune.cli import main
from lstmtune.config import load_config
from lstmtune.run_config import CONFIG_FILE, config_yaml, save_run_config, without_password

SETTINGS = {
    "tune.n_trials": 2,
    "train.patience": 3,
    "train.seed": 7,
    "evaluate.gate": "naive",
    "mlflow.model_name": "probe",
}


def _finished(tmp_path: Path, **keys: object) -> Path:
    """An output dir as a finished run leaves it: its configuration, then its summary."""
    out = tmp_path / "run"
    out.mkdir()
    cfg = load_config(None, {**SETTINGS, **keys, "output_dir": str(out)}).resolved()
    save_run_config(cfg, out)
    (out / "summary.json").write_text(json.dumps({"model_name": "probe"}))
    return out


def _printed(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[dict, str]:
    assert main(["config", *argv]) == 0
    got = capsys.readouterr()
    return yaml.safe_load(got.out), got.err


def test_config_of_a_finished_run_prints_what_it_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _finished(tmp_path)
    shown, err = _printed(capsys, "--output-dir", str(out))
    assert shown["tune"]["n_trials"] == 2 and shown["train"]["seed"] == 7  # not 30 and 42
    assert shown["evaluate"]["gate"] == "naive" and shown["mlflow"]["model_name"] == "probe"
    assert shown["output_dir"] == str(out)
    assert (
        err
        == f"lstmtune: the configuration of the run that finished in {out} ({out / CONFIG_FILE})\n"
    )
    assert (out / CONFIG_FILE).read_text() == config_yaml(load_config(str(out / CONFIG_FILE)))
    # flags beside --output-dir change the run's settings, and say so
    shown, err = _printed(capsys, "--output-dir", str(out), "--n-trials", "9")
    assert shown["tune"]["n_trials"] == 9 and shown["train"]["seed"] == 7
    assert err.endswith(", with --n-trials applied\n")
    # --config: the effective configuration of that file and the flags, as before
    path = tmp_path / "mine.yaml"
    path.write_text("tune:\n  n_trials: 5\n")
    shown, err = _printed(capsys, "--config", str(path), "--output-dir", str(out))
    assert shown["tune"]["n_trials"] == 5 and shown["train"]["seed"] == 42 and err == ""


def test_config_of_a_dir_without_a_finished_run_is_the_effective_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shown, err = _printed(capsys, "--output-dir", str(tmp_path / "new"), "--n-trials", "4")
    assert shown["tune"]["n_trials"] == 4 and shown["train"]["seed"] == 42 and err == ""
    assert shown["output_dir"] == str(tmp_path / "new")
    old = tmp_path / "old"  # a run that finished before runs saved their configuration
    old.mkdir()
    (old / "summary.json").write_text("{}")
    assert main(["config", "--output-dir", str(old)]) == 2
    got = capsys.readouterr()
    assert got.out == "" and got.err.count("\n") == 1
    assert got.err.startswith(f"lstmtune: error: {old / 'summary.json'}: the run in {old} saved")
    assert "pass --config with the file it was run with" in got.err
    assert main(["config", "--output-dir", str(old), "--schema"]) == 0  # as before
    assert json.loads(capsys.readouterr().out)["additionalProperties"] is False


def test_a_password_in_a_url_is_not_written_to_disk(tmp_path: Path) -> None:
    out = _finished(
        tmp_path,
        **{
            "tune.storage": "postgresql://optuna:s3cret@db:5432/optuna",
            "mlflow.tracking_uri": "http://me:pa%40ss@mlflow:5000",
        },
    )
    text = (out / CONFIG_FILE).read_text()
    assert "s3cret" not in text and "pa%40ss" not in text
    assert "postgresql://optuna:***@db:5432/optuna" in text and "http://me:***@mlflow:5000" in text
    assert without_password("sqlite:////tmp/x/optuna.db") == "sqlite:////tmp/x/optuna.db"
    assert without_password("http://mlflow:5000") == "http://mlflow:5000"
    assert without_password("postgresql://optuna@db/optuna") == "postgresql://optuna@db/optuna"

"""Shared fixtures: small real data sets and a tiny, fast configuration."""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from lstmtune.config import RunConfig, example_data_path, load_config
from lstmtune.synthetic import classify_frame, text_frame

if TYPE_CHECKING:
    from lstmtune.serving import Predictor

# keep every test on the CPU and quiet about CUDA on machines that have one
os.environ.setdefault("LSTMTUNE_TEST", "1")

TINY_SPACE: dict[str, Any] = {
    "units": [8, 16],
    "num_layers": 1,
    "dropout": 0.0,
    "recurrent_dropout": [0.0, 0.1],
    "bidirectional": False,
    "learning_rate": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True},
    "batch_size": 32,
    "optimizer": "adam",
    "weight_decay": 1e-6,
    "epochs": 6,
}


# a small plain LSTM's settings, for tests that train fixed configurations
#: the column and split settings of the synthetic monthly panels (tests/test_panel*.py)
PANEL_KEYS = {
    "data.target": "y",
    "data.time_column": "month",
    "data.series_column": "id",
    "data.test_size": 12,
    "data.val_size": 12,
}

SMALL_NET: dict[str, Any] = {
    "units": 8,
    "num_layers": 1,
    "dropout": 0.0,
    "recurrent_dropout": 0.0,
    "bidirectional": False,
    "learning_rate": 0.01,
    "optimizer": "adam",
    "weight_decay": 1e-6,
}


def untrained_forecaster(
    column: str, mean: float, std: float, missing: str = "error", **extra: Any
) -> Predictor:
    """The published forecaster of ``column`` (lookback 3, horizon 2) with an untrained network
    behind a hand-made featurizer: for tests of what serving reads, not of what it forecasts
    (``extra``: spec keys such as ``time_axis`` or ``panel``)."""
    import torch

    from lstmtune.features import ForecastFeaturizer
    from lstmtune.model import build_model
    from lstmtune.serving import Predictor

    params = {"units": 4, "num_layers": 1, "dropout": 0.0, "bidirectional": False}
    f = ForecastFeaturizer(
        features=[column], target=column, target_index=0, lookback=3, horizon=2,
        transform="none", anchor="last", window_norm=False, period=1, mean=[mean], std=[std],
    )  # fmt: skip
    torch.manual_seed(0)
    net = build_model(1, 2, params, zero_head=False)
    spec = {"task": "forecast", "featurizer": f.to_dict(), "n_features": 1, "n_outputs": 2}
    spec |= {"params": params, "zero_head": False, "missing": missing, **extra}
    return Predictor(spec, net.state_dict())


# The panel tests' one small network on a seasonal anchor (test_panel_combine, test_panel_scale).
PANEL_NET: dict[str, Any] = {
    "lookback": 13,
    "anchor": "seasonal",
    "transform": "none",
    "window_norm": False,
    "units": 8,
    "num_layers": 1,
    "dropout": 0.0,
    "bidirectional": False,
    "cell": "lstm",
}


def run_katib_trial(experiment: dict[str, Any], data: Path, **assigned: str) -> str:
    """The trial command of a rendered Katib Experiment, run here as Katib's trial pod runs it:
    each parameter takes its ``assigned`` value or else its first feasible one, ``--data`` is
    ``data``. Returns its stdout; a non-zero exit fails the test."""
    import re
    import subprocess
    import sys

    spec = experiment["spec"]
    container = spec["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    values = {}
    for p in spec["parameters"]:
        fs = p["feasibleSpace"]
        values[p["name"]] = fs["list"][0] if "list" in fs else fs["min"]
    values.update(assigned)
    rendered = [
        re.sub(r"\$\{trialParameters\.(\w+)\}", lambda m: values[m.group(1)], a)
        for a in container["args"]
    ]
    rendered[rendered.index("--data") + 1] = str(data)
    out = subprocess.run(
        [sys.executable, "-m", "lstmtune.cli", *rendered],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.fixture
def airline_csv() -> str:
    return example_data_path()


def make_classify_frame(n_per_class: int = 24, seed: int = 0) -> pd.DataFrame:
    """Long-format sequences of different lengths: noisy sine ('wave') vs. noisy ramp ('ramp')."""
    return classify_frame(n_per_class, seed)


@pytest.fixture
def classify_csv(tmp_path: Path) -> str:
    path = tmp_path / "sequences.csv"
    make_classify_frame().to_csv(path, index=False)
    return str(path)


@pytest.fixture
def tiny_config(tmp_path: Path) -> Callable[..., RunConfig]:
    """A config that trains in well under a second per trial; overrides as dotted keys."""

    def make(**overrides: Any) -> RunConfig:
        base: dict[str, Any] = {
            "tune.n_trials": 3,
            "tune.search_space": dict(TINY_SPACE),
            "train.patience": 3,
            "output_dir": str(tmp_path / "out"),
        }
        base.update({k.replace("__", "."): v for k, v in overrides.items()})
        return load_config(None, base).resolved()

    return make


def make_text_frame(n_per_class: int = 60, seed: int = 0) -> pd.DataFrame:
    """Short generated reviews (pos/neg) of varying length."""
    return text_frame(n_per_class, seed)


@pytest.fixture
def text_csv(tmp_path: Path) -> str:
    path = tmp_path / "reviews.csv"
    make_text_frame().to_csv(path, index=False)
    return str(path)


def block_import(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make ``import <package>`` (and its submodules) fail, as on a machine without it."""
    real_import = builtins.__import__

    def blocked(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == package or name.startswith(f"{package}."):
            raise ImportError(f"no {package} here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)

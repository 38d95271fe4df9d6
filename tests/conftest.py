"""Shared fixtures: small real data sets and a tiny, fast configuration."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lstmtune.config import RunConfig, example_data_path, load_config
from lstmtune.synthetic import classify_frame, text_frame

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

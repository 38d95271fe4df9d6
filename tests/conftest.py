"""Shared fixtures: small real data sets and a tiny, fast configuration."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstmtune.config import RunConfig, example_data_path, load_config

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
    rng = np.random.default_rng(seed)
    rows = []
    for label in ("wave", "ramp"):
        for i in range(n_per_class):
            length = int(rng.integers(6, 20))
            for t in range(length):
                base = math.sin(t * 0.9) if label == "wave" else t / length * 2 - 1
                rows.append({"seq": f"{label}-{i}", "t": t, "x1": base + rng.normal(0, 0.2), "x2": rng.normal(0, 1.0), "y": label})
    return pd.DataFrame(rows)


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


POSITIVE = ["great", "wonderful", "fun", "brilliant", "loved", "excellent", "moving", "superb"]
NEGATIVE = ["boring", "awful", "dull", "terrible", "hated", "poor", "tedious", "weak"]
FILLER = ["the", "film", "movie", "was", "and", "a", "plot", "acting", "really", "quite", "story", "ending", "with", "some"]


def make_text_frame(n_per_class: int = 60, seed: int = 0) -> pd.DataFrame:
    """Short reviews of varying length generated on the fly (no external data): the label is
    carried by a few sentiment words among neutral filler, sometimes negated-free noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, words in (("pos", POSITIVE), ("neg", NEGATIVE)):
        for _ in range(n_per_class):
            length = int(rng.integers(5, 16))
            tokens = list(rng.choice(FILLER, size=length))
            for _ in range(int(rng.integers(1, 3))):
                tokens.insert(int(rng.integers(0, len(tokens) + 1)), str(rng.choice(words)))
            text = " ".join(tokens).capitalize() + rng.choice([".", "!", "..."])
            rows.append({"review": text, "sentiment": label})
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture
def text_csv(tmp_path: Path) -> str:
    path = tmp_path / "reviews.csv"
    make_text_frame().to_csv(path, index=False)
    return str(path)

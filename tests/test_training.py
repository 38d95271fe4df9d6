"""Training: early stopping restores the best epoch, seeds reproduce, NaN fails fast, anchors
help."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lstmtune.config import load_config
from lstmtune.data.prepare import prepare
from lstmtune.problems import make_problem
from lstmtune.training import NonFiniteLoss, select_device, train

PARAMS: dict[str, Any] = {
    "units": 16,
    "num_layers": 1,
    "dropout": 0.0,
    "recurrent_dropout": 0.1,
    "bidirectional": False,
    "learning_rate": 0.01,
    "batch_size": 16,
    "optimizer": "adam",
    "weight_decay": 1e-6,
    "epochs": 25,
    "lookback": 12,
    "transform": "log",
    "anchor": "seasonal",
    "window_norm": True,
}


@pytest.fixture(scope="module")
def airline() -> tuple[dict[str, Any], dict[str, Any]]:
    cfg = load_config(None, {"output_dir": "/tmp/unused"}).resolved()
    return prepare(cfg)


def test_early_stopping_restores_the_best_epoch(airline: tuple[Any, Any]) -> None:
    parts, meta = airline
    params = {**PARAMS, "learning_rate": 0.05, "epochs": 40}
    problem = make_problem(parts, meta, params)
    seen: list[float] = []
    val = problem.tensors("val")
    result = train(
        problem,
        params,
        problem.tensors("train"),
        val,
        patience=5,
        seed=3,
        on_epoch=lambda e, v, t: seen.append(v),
    )
    assert len(seen) == result.epochs_run
    assert result.best_epoch == int(np.argmin(seen)) + 1
    assert result.best_value == pytest.approx(min(seen))
    # the returned model is the restored checkpoint, not the last epoch's weights
    assert problem.objective(result.model, val) == pytest.approx(result.best_value, rel=1e-5)
    if result.best_epoch < result.epochs_run:
        assert seen[-1] > result.best_value


def test_same_seed_same_result(airline: tuple[Any, Any]) -> None:
    parts, meta = airline
    problem = make_problem(parts, meta, PARAMS)
    a = train(problem, PARAMS, problem.tensors("train"), problem.tensors("val"), epochs=5, seed=7)
    b = train(problem, PARAMS, problem.tensors("train"), problem.tensors("val"), epochs=5, seed=7)
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]


def test_nan_loss_fails_fast(airline: tuple[Any, Any]) -> None:
    parts, meta = airline
    problem = make_problem(parts, meta, PARAMS)
    poisoned = problem.tensors("train")
    poisoned.x[0, 0, 0] = float("nan")
    seen: list[float] = []
    with pytest.raises(NonFiniteLoss, match="epoch 1"):
        train(
            problem,
            PARAMS,
            poisoned,
            problem.tensors("val"),
            epochs=3,
            seed=0,
            on_epoch=lambda e, v, t: seen.append(v),
        )
    assert seen == []


def test_fixed_epochs_without_validation(airline: tuple[Any, Any]) -> None:
    parts, meta = airline
    problem = make_problem(parts, meta, PARAMS)
    result = train(problem, PARAMS, problem.tensors("train", "val"), None, epochs=4, seed=0)
    assert result.epochs_run == 4 and len(result.history) == 4


def test_anchored_model_beats_seasonal_naive_on_airline(airline: tuple[Any, Any]) -> None:
    """Model quality: a trained anchored LSTM beats the naive seasonal forecast on validation."""
    parts, meta = airline
    problem = make_problem(parts, meta, PARAMS)
    val = problem.tensors("val")
    result = train(problem, PARAMS, problem.tensors("train"), val, patience=10, seed=0, epochs=60)
    raw = problem.raw[:, 0]
    ends = problem.ends("val")
    seasonal_naive = float(np.sqrt(np.mean((raw[ends + 1 - 12] - raw[ends + 1]) ** 2)))
    assert result.best_value < seasonal_naive


def test_device_auto_selection_is_cpu_without_cuda() -> None:
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected
    assert select_device("cpu").type == "cpu"

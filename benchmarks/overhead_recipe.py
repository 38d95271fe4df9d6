"""The plain recipe that ``bench_overhead.py --vs-recipe`` times lstmtune against (not a benchmark
of its own): what an LSTM-tuning guide shows, done plainly. One process, an Optuna TPE study
(in memory, no pruner), a ``DataLoader`` training loop for an ``nn.LSTM`` with early stopping on
validation RMSE, no tracking, no registry, no report; then the best configuration retrained on
train + validation for its best epoch count and scored on the test split.

    python benchmarks/overhead_recipe.py DATA.csv --target co2 --trials 20

The training budget is lstmtune's default for the hyperparameters both have (units 16-128, one or
two layers, dropout 0-0.3, learning rate 3e-4-3e-2, batch 16/32/64, lookback of one or two
seasons, up to 100 epochs with patience 10); lstmtune searches more (cell options, optimizers,
transforms, anchors) and prunes with Hyperband, the recipe does not prune. Splits as lstmtune's
defaults (chronological, the last 15 % test, the 15 % before it validation); the series is
min-max scaled on the training split. Prints one JSON line: the wall time from the
start of the script (imports included), the time inside training, the best parameters and the
test RMSE in the series' units.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the heavy imports: the process's own costs count

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

VAL_SIZE = TEST_SIZE = 0.15
MAX_EPOCHS = 100
PATIENCE = 10


class LSTMForecaster(nn.Module):
    """An LSTM over the window, a linear head on the last hidden state: the next value."""

    def __init__(self, units: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            1, units, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.head = nn.Linear(units, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


@dataclass
class Series:
    """The scaled series and where its splits end."""

    values: np.ndarray
    train_end: int
    val_end: int
    low: float
    span: float

    @classmethod
    def load(cls, path: str, target: str) -> Series:
        raw = pd.read_csv(path)[target].to_numpy(dtype=np.float64)
        n = len(raw)
        val_end = n - round(n * TEST_SIZE)
        train_end = val_end - round(n * VAL_SIZE)
        low, high = raw[:train_end].min(), raw[:train_end].max()
        return cls((raw - low) / (high - low), train_end, val_end, float(low), float(high - low))

    def windows(self, lookback: int, start: int, end: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs ``values[t - lookback:t]`` and targets ``values[t]`` for t in [start, end)."""
        idx = np.arange(max(start, lookback), end)
        x = np.stack([self.values[t - lookback : t] for t in idx])[..., None]
        y = self.values[idx][:, None]
        return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


@dataclass
class Fit:
    model: nn.Module
    best_rmse: float
    best_epoch: int
    seconds: float


def fit(s: Series, params: dict[str, Any], end: int, val_end: int | None, epochs: int) -> Fit:
    """Train on windows ending before ``end``; with ``val_end``, stop early on validation RMSE."""
    started = time.perf_counter()
    torch.manual_seed(0)
    x, y = s.windows(params["lookback"], 0, end)
    loader = DataLoader(TensorDataset(x, y), batch_size=params["batch_size"], shuffle=True)
    model = LSTMForecaster(params["units"], params["num_layers"], params["dropout"])
    optimizer = torch.optim.Adam(model.parameters(), lr=params["learning_rate"])
    loss_fn = nn.MSELoss()
    val = s.windows(params["lookback"], end, val_end) if val_end else None
    best, best_epoch = math.inf, epochs
    for epoch in range(1, epochs + 1):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()
        if val is None:
            continue
        model.eval()
        with torch.no_grad():
            rmse = float(torch.sqrt(loss_fn(model(val[0]), val[1])))
        if rmse < best:
            best, best_epoch = rmse, epoch
        elif epoch - best_epoch >= PATIENCE:
            break
    return Fit(model, best, best_epoch, time.perf_counter() - started)


class Objective:
    """The study's objective: validation RMSE (scaled) of one configuration."""

    def __init__(self, series: Series) -> None:
        self.series = series
        self.fits: dict[int, Fit] = {}

    def __call__(self, trial: optuna.Trial) -> float:
        params = {
            "units": trial.suggest_categorical("units", [16, 32, 64, 128]),
            "num_layers": trial.suggest_int("num_layers", 1, 2),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
            "learning_rate": trial.suggest_float("learning_rate", 3e-4, 3e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64]),
            "lookback": trial.suggest_categorical("lookback", [12, 24]),
        }
        s = self.series
        result = fit(s, params, s.train_end, s.val_end, MAX_EPOCHS)
        self.fits[trial.number] = result
        return result.best_rmse


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("data")
    p.add_argument("--target", required=True)
    p.add_argument("--trials", type=int, default=20)
    args = p.parse_args()
    series = Series.load(args.data, args.target)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
    objective = Objective(series)
    study.optimize(objective, n_trials=args.trials)
    best = study.best_trial
    final = fit(series, best.params, series.val_end, None, objective.fits[best.number].best_epoch)
    x, y = series.windows(best.params["lookback"], series.val_end, len(series.values))
    final.model.eval()
    with torch.no_grad():
        error = (final.model(x) - y).numpy() * series.span
    train_seconds = sum(f.seconds for f in objective.fits.values()) + final.seconds
    record = {
        "seconds": time.perf_counter() - STARTED,
        "train_seconds": train_seconds,
        "n_trials": len(study.trials),
        "best_params": best.params,
        "test_rmse": float(np.sqrt(np.mean(error**2))),
    }
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()

"""Settings refused before anything runs: checks of the configuration alone, without the data
and without importing torch, Optuna or MLflow (the CLI runs them before a pipeline starts, the
prepare step before it opens an MLflow run, and the tune step again)."""

from __future__ import annotations

from lstmtune.config import RunConfig
from lstmtune.errors import UserError


def check_study_config(cfg: RunConfig, n_workers: int | None = None) -> None:
    """Refuse settings that cannot work before anything runs."""
    storage = cfg.tune.storage or "sqlite:///"
    workers = cfg.tune.workers if n_workers is None else n_workers
    if storage.startswith("sqlite") and ":memory:" in storage:
        raise UserError(
            "tune.storage: an in-memory SQLite study cannot be shared between pipeline steps"
        )
    if workers > 1 and cfg.tune.backend == "optuna" and storage.startswith("sqlite"):
        raise UserError(
            f"tune.workers: {workers} workers need a shared RDB storage such as "
            "postgresql://...; SQLite cannot take concurrent writers"
        )
    if cfg.tune.forecast_folds > 1:
        check_forecast_folds(cfg)
    check_katib_data(cfg)


def check_katib_data(cfg: RunConfig) -> None:
    """The Katib backend needs ``tune.katib.data_uri``: checked where a run starts and where a
    cluster pipeline is compiled (whose storage comes from a Secret, so not the other checks)."""
    if cfg.tune.backend == "katib" and not cfg.tune.katib.data_uri:
        raise UserError(
            "tune.katib.data_uri: Katib trial pods read the prepared data from object storage "
            "or a shared volume; set an s3:// prefix (e.g. s3://lstmtune-data/prepared)"
        )


def check_forecast_folds(cfg: RunConfig) -> None:
    """Rolling-origin folds judge the trials of one series' Bayesian study, nothing else."""
    what = None
    if cfg.data.task != "forecast":
        what = f"forecasting only (data.task is {cfg.data.task})"
    elif cfg.data.series_column is not None:
        what = "one series only; many series keep their validation split"
    elif cfg.tune.subset is not None and cfg.tune.subset < 1:
        what = "tune.subset trains trials on part of the windows, and the folds need them all"
    elif cfg.tune.strategy == "pbt":
        what = "population-based training (tune.strategy: pbt) scores members on validation"
    if what is not None:
        raise UserError(f"tune.forecast_folds: {cfg.tune.forecast_folds} folds: {what}")

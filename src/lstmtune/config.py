"""Run configuration: one validated pydantic model, read from YAML and overridden by CLI flags.

Nothing here reads the environment at import time; defaults that depend on the output
directory (SQLite study storage, MLflow tracking) are resolved by :func:`RunConfig.resolved`.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from lstmtune import config_base
from lstmtune.config_base import DuplicateKey, _Strict, error_key, format_error, load_yaml
from lstmtune.config_text import TextConfig
from lstmtune.config_tune import (
    KatibConfig,
    Objective,
    ParamSpec,
    Scalar,
    SearchSpaceEntry,
    TuneConfig,
)
from lstmtune.errors import UserError

__all__ = [  # the tune and text sections live in config_tune, config_text; importable from here
    "OBJECTIVES",
    "ClusterConfig",
    "DataConfig",
    "EvaluateConfig",
    "KatibConfig",
    "MlflowConfig",
    "Objective",
    "ParamSpec",
    "RunConfig",
    "Scalar",
    "SearchSpaceEntry",
    "TextConfig",
    "TrainConfig",
    "TuneConfig",
    "config_reference",
    "example_data_path",
    "load_config",
    "objective_name",
    "set_dotted",
]

EXAMPLE_DATA = "example_data/airline_passengers.csv"
STORAGE_ENV = "LSTMTUNE_STORAGE_URL"
OBJECTIVES = {
    "forecast": "val_rmse",
    "classify": "val_loss",
    "text": "val_loss",
}  # what tuning minimises, per task


def objective_name(meta: dict[str, Any]) -> str:
    """What tuning minimises for a prepared dataset: :data:`OBJECTIVES` of its task, or the
    scale-free ``val_mase`` (mean over series) for many series (``data.series_column``)."""
    return "val_mase" if meta.get("panel") else OBJECTIVES[str(meta["task"])]


def example_data_path() -> str:
    """Path of the bundled airline-passengers series (monthly, 1949-1960)."""
    return str(resources.files("lstmtune").joinpath(EXAMPLE_DATA))


class DataConfig(_Strict):
    path: str | None = Field(
        None,
        description=(
            "CSV or Parquet, local or s3:// (or a Monash .tsf file; classify: or X_TRAIN.tsv"
            " / .ts of the UCR / UEA archive, read with X_TEST). Default: the bundled airline data."
        ),
    )
    format: Literal["auto", "csv", "parquet"] = Field(
        "auto", description="auto: by extension / Parquet magic bytes"
    )
    task: Literal["forecast", "classify", "text"] = Field(
        "forecast",
        description=(
            "forecast: predict the next horizon values; classify: one label per sequence;"
            " text: one label per text"
        ),
    )
    target: str | None = Field(None, description="forecast: the column to predict")
    time_column: str | None = Field(
        None,
        description=(
            "forecast: rows are sorted by it; classify: the order of rows inside a sequence"
        ),
    )
    feature_columns: list[str] | None = Field(
        None,
        description="numeric input columns (default: every numeric column that has no other role)",
    )
    sequence_column: str | None = Field(None, description="classify: the sequence id")
    series_column: str | None = Field(
        None,
        description=(
            "forecast: the series id of long-format input with many series (one model for all;"
            " each series split by time and scaled on its own train part)"
        ),
    )
    label: str | None = Field(None, description="classify / text: the label column")
    text_column: str | None = Field(None, description="text: the column holding the raw text")
    text: TextConfig = TextConfig()
    split_column: str | None = Field(
        None, description="values train/val/test (or train/test) that fix the split"
    )
    horizon: int = Field(1, ge=1, description="forecast: number of future steps predicted")
    val_size: float = Field(
        0.15, gt=0, description="int = count (time steps or sequences), float in (0,1) = fraction"
    )
    test_size: float = Field(
        0.15, gt=0, description="int = count (time steps or sequences), float in (0,1) = fraction"
    )
    missing: Literal["error", "ffill", "interpolate"] = Field(
        "error",
        description=(
            "missing values (and forecast: missing periods of the time column): an error naming"
            " row and column (or the gap), or fill them (interpolation stays inside each split)"
        ),
    )
    freq: str | int | float | None = Field(
        None,
        description=(
            "forecast: frequency of data.time_column, a pandas offset alias (MS, QS, D, h, 30min)"
            " or a numeric step (default: inferred); each time goes to the period of this grid it"
            " falls in (MS, h: the point at or before it; ME, QE, W-SUN: the one on or after it)"
        ),
    )
    seasonal_period: int | None = Field(
        None,
        ge=1,
        description=(
            "forecast: season length for seasonal-naive and seasonal anchoring (default: inferred)"
        ),
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO); default: AWS_ENDPOINT_URL"
    )

    @field_validator("val_size", "test_size")
    @classmethod
    def _size(cls, v: float) -> float:
        if v >= 1 and float(v) != int(v):
            raise ValueError("a size >= 1 must be an integer count; a fraction must lie in (0, 1)")
        return v


class TrainConfig(_Strict):
    patience: int = Field(10, ge=1, description="early-stopping patience in epochs")
    grad_clip: float = Field(1.0, gt=0, description="gradient norm clipping")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when available")
    amp: bool = Field(True, description="mixed precision on CUDA")
    seed: int = Field(
        42,
        description="seeds data shuffling, initialisation and the sampler (trial n uses seed + n)",
    )
    threads: int | None = Field(
        None, ge=1, description="torch CPU threads (default: torch's choice)"
    )
    parallel_fits: int = Field(
        0,
        ge=0,
        description=(
            "classification: worker processes for the published classifier's independent"
            " trainings on a CPU (0: train.threads where set, else the usable cores; 1: one by one)"
        ),
    )


class ClusterConfig(_Strict):
    """Settings that only matter on Kubernetes (compiled into the pipeline / Katib trial pods)."""

    image: str | None = Field(
        None,
        description="project image every step runs (default: ghcr.io/lstmtune/lstmtune:<version>)",
    )
    gpus: int = Field(
        0,
        ge=0,
        description="GPUs per training task (tune with optuna, train_best) and per Katib trial",
    )
    accelerator_type: str = Field("nvidia.com/gpu", description="extended resource name of the GPU")
    cpu_request: str = Field(
        "1", description="training tasks and trial pods; the other steps at most 1"
    )
    memory_request: str = Field(
        "2Gi", description="training tasks and trial pods; the other steps at most 4Gi"
    )
    cpu_limit: str | None = Field("4", description="every task and trial pod")
    memory_limit: str | None = Field("8Gi", description="every task and trial pod")
    tolerations: list[dict[str, str]] = Field(
        default_factory=list,
        description="e.g. [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]",
    )
    node_selector: dict[str, str] = Field(default_factory=dict)
    s3_secret: str | None = Field(
        "lstmtune-s3",
        description=(
            "Secret with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"
            " (and optionally AWS_ENDPOINT_URL) as env"
        ),
    )
    mlflow_secret: str | None = Field(
        None, description="Secret with MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD as env"
    )
    storage_secret: str | None = Field(
        None, description="Secret whose key LSTMTUNE_STORAGE_URL holds the Optuna storage URL"
    )


class MlflowConfig(_Strict):
    tracking_uri: str | None = Field(
        None,
        description=(
            "default: sqlite:///<output_dir>/mlflow.db with artifacts in <output_dir>/mlartifacts"
        ),
    )
    experiment: str = Field("lstmtune", description="MLflow experiment of the runs")
    model_name: str | None = Field(
        None, description="registered model name (default: lstmtune-<dataset>)"
    )


class EvaluateConfig(_Strict):
    gate: Literal["classical", "naive"] = Field(
        "classical",
        description=(
            "baselines a new version must beat to become @champion: classical (forecast:"
            " AutoARIMA, AutoETS; sequence classification: 1-NN DTW, MiniRocket; text: TF-IDF +"
            " logistic regression; and the naive ones) or naive (persistence, seasonal naive;"
            " majority class, one class)"
        ),
    )
    combine: bool = Field(
        True,
        description=(
            "forecast: publish a convex combination of the network, AutoARIMA and AutoETS"
            " (weights: combine_weights); many series: one set of weights chosen on validation,"
            " per-series models, up to 200 series; sequence classification: average the"
            " networks' class probabilities with MiniRocket's, shares by stacking (the mix with"
            " the lowest held-out cross-entropy of MiniRocket's leave-one-out predictions and,"
            " on a small set, k-fold predictions of the published training (k more trainings),"
            " else the winning trial's validation ones); without those (Katib on a larger set)"
            " exp(-n x cross-entropy) of the two means; equal without a tuning figure (PBT)"
        ),
    )
    combine_weights: Literal["auto", "equal", "validation"] = Field(
        "auto",
        description=(
            "one series: equal: equal weights of the forecasts whose validation RMSE is within"
            " 2x the best (estimated weights overfit a few validation points); validation: the"
            " convex weights (0.05 grid) with the lowest validation RMSE, the network alone"
            " when no mix helps; auto: equal below 200 validation origins, else validation"
        ),
    )
    ensemble: Literal["auto"] | int = Field(
        "auto",
        description=(
            "classification: the published classifier averages the class probabilities of this"
            " many networks of the winning configuration, trained with different seeds (auto: 5"
            " for a set small enough to be judged by k-fold, else 1); forecast (one series): the"
            " published forecast averages the best trials' configurations, this many (at most the"
            " 5 the tune step records), each retrained (auto: up to 5 while their retrains'"
            " counted work, about 30 s on one core, allows: the same on any machine or load;"
            " one network after PBT, several objectives or the Katib backend, which record only"
            " the best trial)"
        ),
    )

    @field_validator("ensemble", mode="before")
    @classmethod
    def _ensemble(cls, v: str | int) -> str | int:
        if isinstance(v, bool) or (isinstance(v, int) and v < 1):
            raise ValueError("ensemble must be auto or an integer >= 1")
        return v

    levels: list[int | float] = Field(
        default_factory=lambda: list[int | float]([80, 95]),
        description=(
            "forecast: prediction interval levels in percent (each in (0, 100), unique); the"
            " pyfunc adds step_k_lo_L and step_k_hi_L per level (split conformal on validation"
            " residuals scaled by the recent mean absolute change); [] turns intervals off"
        ),
    )

    @field_validator("levels", mode="before")
    @classmethod
    def _no_bools(cls, v: Any) -> Any:
        if isinstance(v, list) and any(isinstance(x, bool) for x in v):
            raise ValueError("levels must be numbers (percent), not true/false")
        return v

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: list[int | float]) -> list[int | float]:
        bad = [level for level in v if not 0 < level < 100]
        if bad:
            raise ValueError(f"each level must lie strictly between 0 and 100, got {bad[0]:g}")
        if len(set(v)) != len(v):
            raise ValueError(f"levels must be unique, got {[f'{x:g}' for x in v]}")
        return sorted(v)

    nonnegative: config_base.AutoOrBool = Field(
        "auto",
        description=(
            "forecast: keep point forecasts and interval bounds at or above zero; auto: where the"
            " target has no negative value in train+val (many series: each series by its own; a"
            " series never seen when no series had one and the history sent has none); decided"
            " in training, stored in spec.json, applied alike by the evaluation and the pyfunc"
        ),
    )


class RunConfig(_Strict):
    data: DataConfig = DataConfig()
    tune: TuneConfig = TuneConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    mlflow: MlflowConfig = MlflowConfig()
    cluster: ClusterConfig = ClusterConfig()
    output_dir: str = Field(
        "lstmtune-output",
        description=(
            "summary.json, run_config.yaml (the settings a finished run used), report.html,"
            " plots/, pipeline.log and the default SQLite stores"
        ),
    )

    def dataset_name(self) -> str:
        path = self.data.path or example_data_path()
        stem = config_base.dataset_stem(path.rstrip("/").split("/")[-1]) or "data"
        return "".join(c if c.isalnum() or c in "-_" else "-" for c in stem.lower())

    def resolved(self) -> RunConfig:
        """A copy with every output-dir-relative default filled in (absolute paths)."""
        out = Path(self.output_dir).expanduser().resolve()
        cfg = self.model_copy(deep=True)
        cfg.output_dir = str(out)
        if cfg.data.path is None:
            cfg.data.path = example_data_path()
            if cfg.data.target is None and cfg.data.task == "forecast":
                cfg.data.target = "passengers"
                cfg.data.time_column = cfg.data.time_column or "month"
        elif "://" not in cfg.data.path:
            cfg.data.path = str(Path(cfg.data.path).expanduser().resolve())
        if cfg.tune.storage is None:
            # on a cluster the URL (with its password) comes from a Secret as env, read at run time
            cfg.tune.storage = os.environ.get(STORAGE_ENV) or f"sqlite:///{out / 'optuna.db'}"
        if cfg.mlflow.tracking_uri is None:
            cfg.mlflow.tracking_uri = f"sqlite:///{out / 'mlflow.db'}"
        if cfg.mlflow.model_name is None:
            cfg.mlflow.model_name = f"lstmtune-{self.dataset_name()}"
        return cfg

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        return cls.model_validate(json.loads(text))


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def load_config(path: str | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read YAML (if given), apply dotted-key overrides (CLI flags win), validate.

    Raises :class:`UserError` naming the file and key on any problem.
    """
    data: dict[str, Any] = {}
    source = "config"
    if path is not None:
        source = path
        p = Path(path)
        if not p.is_file():
            raise UserError(f"{path}: config file not found")
        try:
            loaded = load_yaml(p.read_text(encoding="utf-8"))
        except DuplicateKey as exc:
            raise UserError(
                f"{path}: key '{exc.key}' appears twice in one mapping (line {exc.line}); "
                "YAML would keep the last one without a word"
            ) from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            where = ""
            mark = getattr(exc, "problem_mark", None)
            if mark is not None:
                where = f" at line {mark.line + 1}, column {mark.column + 1}"
            raise UserError(f"{path}: not valid YAML{where}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise UserError(
                f"{path}: the top level must be a mapping of keys, got {type(loaded).__name__}"
            )
        data = loaded
    for key, value in (overrides or {}).items():
        if value is not None:
            set_dotted(data, key, value)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:  # a key set by a flag or setting is not the file's
        given = {k for k, v in (overrides or {}).items() if v is not None}
        named = "config" if error_key(exc) in given else source
        raise UserError(format_error(named, exc, RunConfig)) from None


def config_reference() -> str:
    """The configuration reference as a Markdown table, generated from the pydantic models
    (``lstmtune config --reference``; the README embeds it and a test keeps them in sync)."""
    rows = ["| key | type | default | description |", "|---|---|---|---|"]

    def type_name(annotation: Any) -> str:
        text = str(annotation).replace("typing.", "").replace("lstmtune.config_tune.", "")
        text = text.replace("lstmtune.config.", "")
        text = text.replace("<class '", "").replace("'>", "").replace("NoneType", "None")
        return text.replace("|", "\\|")

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            key = f"{prefix}{name}"
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{key}.")
                continue
            if field.default_factory is not None:
                default: Any = field.default_factory()  # type: ignore[call-arg]
            else:
                default = field.default
            shown = json.dumps(default) if not isinstance(default, str) else default
            description = (field.description or "").replace("|", "\\|")
            rows.append(f"| `{key}` | {type_name(annotation)} | `{shown}` | {description} |")

    walk(RunConfig, "")
    return "\n".join(rows)

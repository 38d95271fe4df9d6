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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lstmtune.errors import UserError

Scalar = bool | int | float | str

EXAMPLE_DATA = "example_data/airline_passengers.csv"
STORAGE_ENV = "LSTMTUNE_STORAGE_URL"
OBJECTIVES = {
    "forecast": "val_rmse",
    "classify": "val_loss",
    "text": "val_loss",
}  # what tuning minimises, per task


def example_data_path() -> str:
    """Path of the bundled airline-passengers series (monthly, 1949-1960)."""
    return str(resources.files("lstmtune").joinpath(EXAMPLE_DATA))


class _Strict(BaseModel):
    # inf/nan as JSON's Infinity/NaN (json.loads reads them back): the steps get the config as
    # JSON, and the default (null) would turn e.g. train.grad_clip: .inf (no clipping) into an
    # invalid value
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, ser_json_inf_nan="constants"
    )


class ParamSpec(_Strict):
    """One hyperparameter of the search space.

    ``type: int|float`` need ``low`` and ``high`` (optional ``step``, ``log``);
    ``type: categorical`` needs ``choices``. In YAML a bare scalar fixes the value and a bare
    list is shorthand for a categorical.
    """

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: list[Scalar] | None = None
    when: str | None = Field(
        None,
        description=(
            "sample only if this holds, e.g. 'num_layers > 1' or 'cell in [gru]';"
            " else use 'default'"
        ),
    )
    default: Scalar | None = Field(
        None, description="value when 'when' is false (default: low, or the first choice)"
    )

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("categorical needs a non-empty 'choices' list")
            if self.low is not None or self.high is not None or self.step is not None:
                raise ValueError("categorical takes 'choices', not low/high/step")
        else:
            if self.choices is not None:
                raise ValueError(f"{self.type} takes low/high, not 'choices'")
            if self.low is None or self.high is None:
                raise ValueError(f"{self.type} needs 'low' and 'high'")
            if self.low > self.high:
                raise ValueError(f"low ({self.low}) is greater than high ({self.high})")
            if self.log and self.low <= 0:
                raise ValueError("log scale needs low > 0")
            if self.log and self.step is not None:
                raise ValueError("log scale cannot have a step")
            if self.step is not None and self.step <= 0:
                raise ValueError("step must be > 0")
            if self.type == "int":
                for name in ("low", "high", "step"):
                    value = getattr(self, name)
                    if value is not None and float(value) != int(value):
                        raise ValueError(f"int parameter needs an integer {name}, got {value}")
        return self


SearchSpaceEntry = ParamSpec | list[Scalar] | Scalar


class TextConfig(_Strict):
    """Word-level tokenizer of the ``text`` task (vocabulary built on the train split only)."""

    min_freq: int = Field(2, ge=1, description="keep tokens seen at least this often in train")
    max_vocab: int = Field(20000, ge=3, description="vocabulary size including <pad> and <unk>")
    lowercase: bool = Field(True, description="lower-case before tokenizing")
    max_length: int | None = Field(
        None, ge=1, description="truncate texts to this many tokens (default: never truncate)"
    )


class DataConfig(_Strict):
    path: str | None = Field(
        None,
        description=(
            "CSV or Parquet file, local path or s3://bucket/key."
            " Default: the bundled airline-passengers series."
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
            "missing values: an error naming row and column, or fill them"
            " (interpolation stays inside each split)"
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


class KatibConfig(_Strict):
    namespace: str = Field(
        "lstmtune",
        description="namespace of the Experiment (labelled for Katib's metrics collector)",
    )
    experiment_name: str | None = Field(
        None, description="default: derived from the study name (a retried step re-attaches to it)"
    )
    parallel_trials: int = Field(2, ge=1, description="parallelTrialCount")
    algorithm: str | None = Field(
        None, description="Katib algorithm (default: mapped from tune.sampler)"
    )
    timeout_seconds: float = Field(
        6 * 3600, gt=0, description="fail the tune step if the Experiment has not finished by then"
    )
    poll_seconds: float = Field(
        15, gt=0, description="how often the tune step checks the Experiment"
    )
    service_account: str = Field(
        "lstmtune-pipeline", description="service account of the trial pods"
    )
    data_uri: str | None = Field(
        None,
        description=(
            "prepared dataset for trials (s3:// prefix or mounted path);"
            " default: the prepare step's output"
        ),
    )


Objective = Literal["val", "train_seconds", "param_count"]


def _val_only() -> list[Objective]:
    return ["val"]


class TuneConfig(_Strict):
    backend: Literal["optuna", "katib"] = Field(
        "optuna",
        description="optuna: trials in the tune step; katib: a Katib Experiment of trial Jobs",
    )
    workers: int = Field(
        1,
        ge=1,
        description=(
            "parallel Optuna workers sharing one study (needs an RDB storage such as PostgreSQL)"
        ),
    )
    warm_start: bool = Field(
        True,
        description=(
            "enqueue the current champion's hyperparameters as the first trial of a new study"
        ),
    )
    start_from_default: bool = Field(
        False,
        description=(
            "without a champion to warm-start from, the first trial of a new study tries"
            " lstmtune's default configuration (bayes strategy, optuna backend; not Katib)"
        ),
    )
    heartbeat_seconds: int = Field(
        20,
        ge=1,
        description="Optuna heartbeat interval for RDB storages (dead workers' trials are retried)",
    )
    katib: KatibConfig = KatibConfig()
    strategy: Literal["bayes", "pbt"] = Field(
        "bayes",
        description=(
            "bayes: sampler + pruner trials;"
            " pbt: population-based training (exploit/explore in rounds)"
        ),
    )
    objectives: list[Objective] = Field(
        default_factory=_val_only,
        description=(
            "val = the task's validation metric; more than one makes a multi-objective study"
            " (NSGA-II / MO-TPE, no pruning)"
        ),
    )
    pareto_tolerance: float = Field(
        0.05,
        ge=0,
        description=(
            "multi-objective: the registered trial is the cheapest (2nd objective) within this"
            " fraction of the best validation value on the Pareto front"
        ),
    )
    fuse_trials: Literal["auto", "off"] | int = Field(
        "off",
        description=(
            "train up to K same-shape trials as one fused model"
            " (auto: only where a calibration says it is faster)"
        ),
    )
    subset: float | None = Field(
        None,
        gt=0,
        le=1,
        description=(
            "tune on this fraction of the training windows/sequences first ('start small');"
            " retraining uses all data"
        ),
    )
    population: int = Field(8, ge=2, description="pbt: population size")
    pbt_rounds: int = Field(
        5, ge=1, description="pbt: rounds of training between exploit/explore steps"
    )
    pbt_quantile: float = Field(
        0.25, gt=0, lt=0.5, description="pbt: the bottom quantile copies the top quantile"
    )
    n_trials: int = Field(
        30,
        ge=1,
        description="total trials of the study (a resumed study counts its finished trials)",
    )
    timeout: float | None = Field(
        None, gt=0, description="seconds; stop starting new trials after this"
    )
    sampler: Literal["tpe", "random", "grid", "cmaes"] = Field(
        "tpe", description="Optuna sampler (Katib: the matching algorithm)"
    )
    pruner: Literal["hyperband", "successive_halving", "median", "none"] = Field(
        "hyperband",
        description=(
            "stop poor trials early: hyperband brackets, one successive-halving bracket"
            " (more aggressive), median (Katib: only median, as medianstop)"
        ),
    )
    n_startup_trials: int | None = Field(
        None,
        ge=1,
        description=(
            "tpe sampler, optuna backend: random trials before the model is used"
            " (default: min(10, max(3, n_trials // 3)))"
        ),
    )
    storage: str | None = Field(
        None, description="Optuna storage URL (default: SQLite file in the output dir)"
    )
    study_name: str | None = Field(
        None,
        description=(
            "default: <model name>-<hash of data and search space>;"
            " a rerun with the same name resumes"
        ),
    )
    max_failed_trials: int = Field(
        5, ge=0, description="more failed trials (NaN loss, OOM) abort the run"
    )

    @field_validator("fuse_trials")
    @classmethod
    def _fuse(cls, v: str | int) -> str | int:
        if isinstance(v, int) and v < 0:
            raise ValueError("fuse_trials must be auto, off or an integer >= 0")
        return v

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, v: list[str]) -> list[str]:
        if not v or v[0] != "val" or len(set(v)) != len(v):
            raise ValueError(
                "objectives must start with 'val' and not repeat, e.g. [val, train_seconds]"
            )
        return v

    search_space: dict[str, SearchSpaceEntry] | None = Field(
        None, description="name -> spec; missing names take the per-task defaults"
    )


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
    cpu_request: str = Field("1", description="every task and trial pod")
    memory_request: str = Field("2Gi", description="every task and trial pod")
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
            " AutoARIMA, AutoETS; and the naive ones) or naive (persistence, seasonal naive;"
            " majority class)"
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
        description="summary.json, report.html, plots/, pipeline.log and the default SQLite stores",
    )

    def dataset_name(self) -> str:
        path = self.data.path or example_data_path()
        stem = Path(path.rstrip("/").split("/")[-1]).stem or "data"
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


def _format_error(source: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(
        str(p)
        for p in err["loc"]
        if not (isinstance(p, str) and p in ("ParamSpec", "list[union[bool,int,float,str]]"))
        and not str(p).startswith(("function-", "bool", "int", "float", "str", "list["))
    )
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: {key}: {msg}{more}"


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
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
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
    except ValidationError as exc:
        raise UserError(_format_error(source, exc)) from None


def config_reference() -> str:
    """The configuration reference as a Markdown table, generated from the pydantic models
    (``lstmtune config --reference``; the README embeds it and a test keeps them in sync)."""
    rows = ["| key | type | default | description |", "|---|---|---|---|"]

    def type_name(annotation: Any) -> str:
        text = str(annotation).replace("typing.", "").replace("lstmtune.config.", "")
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

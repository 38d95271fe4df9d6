"""The ``tune`` section of the run configuration: search space entries, Katib, the study."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from lstmtune.config_base import _Strict

Scalar = bool | int | float | str


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
        "lstmtune-trial",
        description="service account of the trial pods (no Kubernetes API access needed)",
    )
    data_uri: str | None = Field(
        None,
        description=(
            "where the tune step copies the prepared dataset for the trial pods (s3:// prefix"
            " or a mounted path); required with tune.backend katib"
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
    forecast_folds: int = Field(
        1,
        ge=1,
        description=(
            "forecasting, one series: rolling-origin folds judging each trial, the validation"
            " window and the windows of its length before it, each trained on the rows before"
            " it (the objective is their mean RMSE; 1 = the validation split alone)"
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
        None,
        gt=0,
        description=(
            "seconds; stop starting new trials (PBT: rounds) after this, optuna backend"
            " (unset: 120 for a single series of more than 1000 training windows or any"
            " classification set, else no limit; PBT: no limit)"
        ),
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

"""The state of one worker's run of a study, shared by the loop (:mod:`.study`), the trial
runners (:mod:`.run_trial`, :mod:`.train_trial`) and the telling of results (:mod:`.finish`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lstmtune.config import RunConfig
from lstmtune.fused_plan import fuse_width
from lstmtune.training import ClassifyProblem, ForecastProblem
from lstmtune.tuning.objectives import is_multi_objective
from lstmtune.tuning.retry import with_retry
from lstmtune.tuning.storage import _StudyLock

if TYPE_CHECKING:
    import pandas as pd
    import torch

Problem = ForecastProblem | ClassifyProblem  # what make_problem returns


@dataclass
class TuningRun:
    """What one worker knows while it runs its share of the study."""

    cfg: RunConfig
    parts: dict[str, pd.DataFrame]
    meta: dict[str, Any]
    parent_run_id: str | None
    worker_id: int
    n_workers: int
    storage_url: str
    study_name: str
    heartbeat: int  # tune.heartbeat_seconds (0: no heartbeats)
    storage: Any  # the Optuna RDB storage
    lock: _StudyLock
    study: Any
    names: list[str]  # the objectives, as told
    objective_name: str  # the task's validation objective
    subset: float | None  # tune.subset when trials train on part of the data
    fuse: str | int  # tune.fuse_trials as the planner takes it
    device: torch.device
    fixed: dict[str, Any]  # the space's fixed parameters
    target: int  # finished trials the study is to have
    reused: int  # finished trials found when this run started
    started: float  # time.perf_counter() at the start of the run
    chatty: bool  # a progress line per epoch
    counts: dict[str, int] = field(default_factory=dict)  # this worker's trials by state
    # the best trials' validation forecasts (trial number -> (value, forecast)), handed to the
    # retrain step so it need not train the ensemble's members on train again (kept_forecasts)
    forecasts: dict[int, tuple[float, Any]] = field(default_factory=dict)

    @property
    def space(self) -> dict[str, Any]:
        space: dict[str, Any] = self.meta["search_space"]
        return space

    @property
    def multi(self) -> bool:
        return is_multi_objective(self.cfg)

    @property
    def width(self) -> int:
        """How many trials one ask round takes."""
        return fuse_width(self.fuse)

    @property
    def grace(self) -> int:
        """Seconds without a heartbeat after which a running trial is stale."""
        return 2 * self.heartbeat

    def all_trials(self) -> list[Any]:
        return with_retry("read trials", lambda: self.study.get_trials(deepcopy=False))

    def n_finished(self) -> int:
        import optuna

        finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        return sum(t.state in finished for t in self.all_trials())

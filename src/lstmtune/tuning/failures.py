"""Failed trials: out-of-memory errors (which fail the trial, not the worker) and the study-wide
``tune.max_failed_trials`` limit."""

from __future__ import annotations

import gc
from typing import Any

from lstmtune.config import RunConfig


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except Exception:  # pragma: no cover - torch always importable here
        pass
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("out of memory", "can't allocate memory", "not enough memory")
    )


def _oom_reason(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return f"out of memory: {first}"


def _free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover
        pass


def _fail_reason(trial: Any) -> str | None:
    reason = trial.user_attrs.get("fail_reason")
    return str(reason) if reason else None


def _failures(trials: list[Any]) -> list[Any]:
    """FAIL trials that count against ``tune.max_failed_trials``: those whose objective failed
    (a recorded ``fail_reason``). Trials failed by the heartbeat check (their worker died) are
    retried instead and do not count."""
    import optuna

    return sorted(
        (t for t in trials if t.state == optuna.trial.TrialState.FAIL and _fail_reason(t)),
        key=lambda t: t.number,
    )


def _abort_message(cfg: RunConfig, failed: list[Any], study_name: str) -> str:
    last = failed[-1]
    return (
        f"tuning aborted: {len(failed)} failed trials exceed "
        f"tune.max_failed_trials={cfg.tune.max_failed_trials}; "
        f"last failure: trial {last.number}: {_fail_reason(last)} "
        f"(failures are counted over the whole study '{study_name}'; "
        f"raise tune.max_failed_trials or use a new tune.study_name to go on)"
    )

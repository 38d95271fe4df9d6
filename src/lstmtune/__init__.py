"""lstmtune: find the best hyperparameters for an LSTM, retrain the winner, publish it to MLflow.

The Python API (``run``, ``load_model``, ``compile_pipeline``, ``RunResult``) is imported on
first use, so ``import lstmtune`` stays cheap: torch, MLflow and KFP load only when a run needs
them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lstmtune._version import __version__
from lstmtune.errors import UserError

if TYPE_CHECKING:
    from lstmtune.api import RunResult, compile_pipeline, load_model, run

_API = ("run", "load_model", "compile_pipeline", "RunResult")
__all__ = ["RunResult", "UserError", "__version__", "compile_pipeline", "load_model", "run"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from lstmtune import api

        return getattr(api, name)
    raise AttributeError(f"module 'lstmtune' has no attribute {name!r}")

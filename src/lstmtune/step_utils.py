"""What every pipeline step shares: the one-line error exit, the config, atomic JSON writes."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lstmtune.config import RunConfig
from lstmtune.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Inside a pipeline step: a :class:`UserError` becomes one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            print(f"lstmtune: error: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def step_config(config_json: str, *, uses_torch: bool = True) -> RunConfig:
    """The run's configuration, resolved; sets torch's thread count when ``train.threads`` does,
    in a step that computes with torch (``uses_torch``: a step that does not, such as prepare,
    does not import torch, about a second and a half, for a setting it never uses)."""
    cfg = RunConfig.from_json(config_json).resolved()
    if cfg.train.threads and uses_torch:
        import torch

        torch.set_num_threads(cfg.train.threads)
    return cfg


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as JSON atomically (a reader never sees half a file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, p)

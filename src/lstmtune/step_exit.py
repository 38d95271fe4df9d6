"""End a pipeline step's process without the interpreter's teardown once the step has succeeded.

A step process imports torch, MLflow, Optuna, pandas and KFP; tearing that down (module
dictionaries, garbage collection, extension destructors) takes 1-2 s on two cores *after* the
step's outputs are written, and every one of the five steps pays it. :func:`finishing` marks a step
function so that, when it returns normally inside the KFP executor (``python -m
kfp.dsl.executor_main``, locally or in a pod), the process ends with ``os._exit(0)`` from an
``atexit`` callback: after the executor has written its output file, after non-daemon threads
have been joined (the interpreter does that before ``atexit``), with stdout, stderr and logging
flushed.

It never changes an outcome: it is armed only in the KFP executor, only after the step function
returned, and it stands down when an exception reaches the top level (the executor failing to
write its output). Anywhere else (the CLI's step subcommands, tests, notebooks) it does nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
EXECUTOR = "executor_main.py"


class _ExitState:
    """Whether this process may skip its teardown; one instance per process."""

    armed = False
    failed = False


def in_kfp_executor() -> bool:
    """True in the process KFP starts for a component (``_KFP_RUNTIME=true python3 -m
    kfp.dsl.executor_main``)."""
    return os.environ.get("_KFP_RUNTIME") == "true" and os.path.basename(sys.argv[0]) == EXECUTOR


def _note_failure(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    _ExitState.failed = True
    sys.__excepthook__(kind, value, tb)


def _fluent_run_open() -> bool:
    """An MLflow run left open through the fluent API: let MLflow's own exit hook end it."""
    fluent = sys.modules.get("mlflow.tracking.fluent")
    return fluent is not None and fluent.active_run() is not None


def _exit_now() -> None:
    if not _ExitState.armed or _ExitState.failed or _fluent_run_open():
        return
    pools = sys.modules.get("lstmtune.worker_pool")
    if pools is not None:  # workers of the step's trainings (os._exit skips their shutdown)
        pools.shutdown_pools()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(0)


def arm() -> None:
    """The step succeeded: skip the teardown when the process exits normally."""
    if _ExitState.armed or not in_kfp_executor() or os.environ.get("COVERAGE_PROCESS_START"):
        return  # (coverage writes its data from an exit hook this would skip)
    _ExitState.armed = True
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _note_failure
    else:  # someone else's hook: keep it, and do not guess whether an exit is a failure
        _ExitState.failed = True
    atexit.register(_exit_now)


def finishing(func: F) -> F:
    """Decorate a step function: :func:`arm` when it returns normally."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        arm()
        return result

    return wrapper  # type: ignore[return-value]

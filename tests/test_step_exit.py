"""A pipeline step that succeeded inside the KFP executor ends its process without the
interpreter's teardown; a failure, or any other process, exits as usual."""

from __future__ import annotations

import os
import subprocess
import sys

# A stand-in for ``python -m kfp.dsl.executor_main``: an exit hook registered before the step
# (as the libraries a step imports register theirs), the step, then what the executor does after
# it (returning, or failing to write its output).
STEP = """
import atexit, os, sys
if sys.argv[1] == "executor":
    sys.argv[0] = "/venv/lib/kfp/dsl/executor_main.py"
    os.environ["_KFP_RUNTIME"] = "true"
atexit.register(lambda: print("teardown hooks ran", flush=True))
from lstmtune.step_exit import finishing

@finishing
def step():
    print("step done", flush=True)
    return 1

step()
if sys.argv[2] == "then-fail":
    raise RuntimeError("the executor could not write its output")
"""


def _run(where: str, after: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("_KFP_RUNTIME", "COVERAGE_PROCESS_START")
    }
    return subprocess.run(
        [sys.executable, "-c", STEP, where, after],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_a_succeeded_step_in_the_executor_skips_the_teardown() -> None:
    result = _run("executor", "then-return")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["step done"]  # flushed; the earlier hook did not run


def test_a_failure_after_the_step_still_fails_the_process() -> None:
    result = _run("executor", "then-fail")
    assert result.returncode == 1
    assert "the executor could not write its output" in result.stderr
    assert "teardown hooks ran" in result.stdout


def test_outside_the_executor_nothing_changes() -> None:
    result = _run("cli", "then-return")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["step done", "teardown hooks ran"]

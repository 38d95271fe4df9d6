"""The local run's step server (:mod:`lstmtune.prefork`): a real server process, real steps and
helpers forked from it. What a forked step returns, writes and exits with is what the step
returns, writes and exits with in a process of its own; a helper forked from it answers what a
``python -m`` helper answers; a child dies with its client; nothing the server preloads starts
a thread (a fork would not copy it); the server ends with the run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lstmtune
from lstmtune import prefork, steps
from lstmtune.config import RunConfig

AIRLINE = Path(lstmtune.__file__).parent / "example_data" / "airline_passengers.csv"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with prefork.server() as path:
        assert path is not None and os.environ[prefork.SOCKET_ENV] == path
        yield path
    assert prefork.SOCKET_ENV not in os.environ


def _config(tmp: Path, data: Path = AIRLINE) -> str:
    cfg = RunConfig.model_validate(
        {
            "data": {"path": str(data), "target": "passengers", "time_column": "month"},
            "output_dir": str(tmp / "out"),
        }
    ).resolved()
    (tmp / "out").mkdir(parents=True)
    return cfg.to_json()


def _gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_forked_step_returns_and_writes_what_the_step_does(server: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    config = _config(tmp_path)
    outcome = prefork.call(server, "prepare_step", (config, str(tmp_path / "ds")))
    assert outcome is not None
    code, run_id = outcome
    assert code == 0 and isinstance(run_id, str) and len(run_id) == 32
    meta = json.loads((tmp_path / "ds" / "metadata.json").read_text())
    assert meta["task"] == "forecast" and meta["n_rows"] == 144
    uri = RunConfig.from_json(config).resolved().mlflow.tracking_uri
    assert MlflowClient(uri).get_run(run_id).info.status == "RUNNING"  # the parent run, open
    here = tmp_path / "here"
    here.mkdir()
    steps.prepare_step(_config(here), str(here / "ds"))  # the same step in this process
    theirs = json.loads((here / "ds" / "metadata.json").read_text())
    assert theirs["mlflow_parent_run_id"] != run_id == meta["mlflow_parent_run_id"]
    for key in ("champion", "mlflow_parent_run_id"):  # where it was written, and the new run
        theirs.pop(key), meta.pop(key)
    assert theirs == meta


def test_bad_input_in_a_forked_step_is_one_line_and_exit_2(
    server: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("month,passengers\n2020-01,a\n2020-02,b\n")
    outcome = prefork.call(server, "prepare_step", (_config(tmp_path, bad), str(tmp_path / "ds")))
    assert outcome == (2, None)
    err = capfd.readouterr().err
    assert err.count("lstmtune: error:") == 1 and "Traceback" not in err
    assert not (tmp_path / "ds").exists()


def test_the_server_runs_only_the_steps_and_helpers_it_knows(server: str) -> None:
    assert prefork.call(server, "os.system", ("true",)) is None  # refused: nothing forked
    assert prefork.call(str(Path(server).with_name("none.sock")), "prepare_step", ()) is None
    both = {"function": "prepare_step", "module": "this", "args": [], "kwargs": {}}
    assert prefork._fork(server, both, [0, 1, 2]) is None
    assert prefork._fork(server, {"module": "lstmtune.prefork_server"}, [0, 1, 2]) is None


def test_a_broken_request_leaves_the_server_serving(server: str) -> None:
    for garbage in (b"", b"\x00\x00", b"\x00\x00\x00\x02[]"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(server)
            if garbage:
                socket.send_fds(conn, [garbage], [0, 1, 2])
    child = prefork.popen("lstmtune.tracking", stdin=True)
    assert isinstance(child, prefork.Forked) and child.stdin is not None
    child.stdin.close()  # no config: it ends with 1
    assert child.wait(timeout=60) == 1


def test_a_forked_child_winds_down_like_an_exiting_interpreter() -> None:
    """A used thread pool still referenced (MLflow's artifact downloads leave one) keeps an idle
    non-daemon worker: the child's wind-down must end it, as the interpreter's exit does."""
    probe = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "pool = ThreadPoolExecutor(2)\npool.submit(int).result()\n"
        "from lstmtune.prefork_server import _wind_down\n_wind_down()\nprint('wound down')"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "wound down"


def _classical_answer(child: prefork.ChildProcess) -> dict[str, Any]:
    y = np.loadtxt(AIRLINE, delimiter=",", skiprows=1, usecols=1)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps({"y": y.tolist(), "fit_end": 100, "period": 12}) + "\n")
    child.stdin.close()
    answer: dict[str, Any] = json.loads(child.stdout.readline())
    child.stdout.close()
    assert child.wait(timeout=60) == 0
    return answer


def test_a_forked_helper_answers_what_a_started_one_does(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    forked = prefork.popen("lstmtune.classical_fits", stdin=True, stdout=True)
    assert isinstance(forked, prefork.Forked)
    answer = _classical_answer(forked)
    monkeypatch.delenv(prefork.SOCKET_ENV)
    started = prefork.popen("lstmtune.classical_fits", stdin=True, stdout=True)
    assert isinstance(started, subprocess.Popen)
    assert _classical_answer(started) == answer
    assert set(answer["specs"]) == {"arima", "ets"}


def test_a_helpers_exit_code_and_a_kill_reach_the_client(server: str) -> None:
    failing = prefork.popen("lstmtune.tracking", stdin=True)  # reads a config: gets garbage
    assert isinstance(failing, prefork.Forked) and failing.stdin is not None
    failing.stdin.write("not a config\n")
    failing.stdin.close()
    assert failing.wait(timeout=60) == 1
    waiting = prefork.popen("lstmtune.tracking", stdin=True)  # blocks on its stdin
    assert isinstance(waiting, prefork.Forked)
    with pytest.raises(subprocess.TimeoutExpired):
        waiting.wait(timeout=0.2)
    waiting.kill()
    assert waiting.wait(timeout=10) == -9


def test_a_child_ends_when_its_client_is_gone(server: str) -> None:
    child = prefork.popen("lstmtune.tracking", stdin=True)
    assert isinstance(child, prefork.Forked)
    os.kill(child.pid, 0)  # alive, waiting for its input
    child.close()  # as if the step's process had been killed
    assert _gone(child.pid)


def test_what_the_server_preloads_starts_no_python_thread() -> None:
    """(Native threads some libraries start at import, jemalloc's and OpenBLAS's, handle fork
    themselves, as under multiprocessing's fork.)"""
    probe = (
        "import importlib, threading\nfrom lstmtune import prefork_server as s\n"
        "for m in s.FIRST + s.PRELOAD: importlib.import_module(m)\n"
        "print(threading.active_count())"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "1"


def test_the_server_ends_with_the_run_and_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(prefork.SOCKET_ENV, raising=False)  # (another test module's server)
    with prefork.server() as path:
        assert path is not None
        pid = int(
            subprocess.run(
                ["pgrep", "-f", f"lstmtune.prefork_server {path}"], capture_output=True, text=True
            ).stdout.split()[0]
        )
    assert _gone(pid) and not Path(path).exists()
    monkeypatch.setenv(prefork.SWITCH_ENV, "off")
    with prefork.server() as off:
        assert off is None and prefork.SOCKET_ENV not in os.environ


def test_a_server_whose_run_was_killed_removes_its_socket(tmp_path: Path) -> None:
    """The run (here a shell standing in for it) ends without removing anything, as under
    SIGKILL: the server notices it is gone, ends, and takes its socket and directory along."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    sock = private / "steps.sock"
    server = f"{sys.executable} -m lstmtune.prefork_server {sock} $$"
    subprocess.run(["sh", "-c", f"{server} & sleep 1"], check=True, timeout=60)
    deadline = time.monotonic() + 60
    while private.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not private.exists()


def test_a_step_in_a_kfp_executor_is_handed_to_the_server(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_call = prefork.call

    def spy(path: str, function: str, *rest: Any) -> Any:
        calls.append(function)
        return real_call(path, function, *rest)

    monkeypatch.setattr(prefork, "call", spy)
    monkeypatch.setattr(sys, "argv", ["/x/kfp/dsl/executor_main.py"])
    monkeypatch.setenv("_KFP_RUNTIME", "true")
    monkeypatch.setenv("COVERAGE_PROCESS_START", "keep this process's teardown")
    run_id = steps.prepare_step(_config(tmp_path), str(tmp_path / "ds"))
    assert calls == ["prepare_step"] and len(run_id) == 32
    monkeypatch.delenv(prefork.SOCKET_ENV)
    steps.prepare_step(_config(tmp_path / "x"), str(tmp_path / "ds2"))
    assert calls == ["prepare_step"]  # no server: the step ran here

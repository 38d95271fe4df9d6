"""The local run's step server: one process that imports the heavy libraries once, then forks a
child for each pipeline step that asks for one.

Every step of a local run is a fresh process started by kfp.local (``python -m
kfp.dsl.executor_main``), and each imported torch, MLflow, Optuna, pandas, statsforecast and
``torch._dynamo`` on its own: most of a 1-trial run's 19 s, paid four times over. ``lstmtune run``
starts this server beside the pipeline (:func:`lstmtune.prefork.server`); it binds its socket at
once, imports :data:`FIRST` (what the prepare step needs), then imports :data:`PRELOAD` one
module at a time, serving any request that arrives between two imports with what is loaded by
then. A step's process (the client, :func:`lstmtune.prefork.delegated`) sends the step's name,
arguments, working directory, environment and its stdin, stdout and stderr (``SCM_RIGHTS``);
the server forks, and the child runs the same :mod:`lstmtune.steps` function the step would have
run, writing to the step's own streams, and sends back its return value and exit code. A step's
helper processes (:data:`HELPERS`: the classical fits, the report, the MLflow writers) are forked
the same way (:func:`lstmtune.prefork.popen`). It is :mod:`multiprocessing`'s ``forkserver``
with a preload list, or Android's zygote: every step still runs in a process of its own, and
nothing is computed before the fork (no thread, no torch thread pool, no open store), so
nothing is shared but imported code.

Safety: the socket lives in a private temporary directory (mode 0700), only the functions of
:data:`STEPS` and the helpers of :data:`HELPERS` can be run, and a child ends the moment its
client's connection closes (a step killed by kfp.local or by Ctrl-C takes its child with it).
The server ends when the process that started it does.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import logging
import os
import select
import signal
import socket
import struct
import sys
import threading
import traceback
import warnings
from typing import Any

FIRST = (  # what the first step (prepare) and its helper need, imported before serving anyone
    "lstmtune.steps",
    "pandas",
    "pyarrow.parquet",
    "mlflow",
    "mlflow.tracking",
    "mlflow.store.tracking.sqlalchemy_store",  # a local run's store: SQLAlchemy, alembic
    "mlflow.store.model_registry.sqlalchemy_store",
    "alembic.command",
    "alembic.runtime.migration",
    "lstmtune.tracking",
    "lstmtune.data.prepare",
    "lstmtune.run_checks",
    "statsforecast",
    "lstmtune.classical_fits",
)
PRELOAD = (  # then the rest, in the order the steps need it, between requests
    "torch",
    "optuna",
    "lstmtune.training",
    "lstmtune.tuning.study",
    "lstmtune.tuning.run_trial",
    "lstmtune.trial_log",
    "torch._dynamo",  # what every torch.optim optimizer imports on its first step
    "lstmtune.final_forecast",
    "lstmtune.final_classify",
    "lstmtune.evaluate",
    "mlflow.pyfunc",
    "lstmtune.registry",
    "lstmtune.registry_model",
    "matplotlib",
    "lstmtune.report",
    "lstmtune.plots",
    "lstmtune.report_job",
    "matplotlib.pyplot",  # the report's plots: pyplot, Optuna's plots and importances (sklearn)
    "optuna.visualization",
    "optuna.visualization.matplotlib",
    "optuna.importance",
    "lstmtune.plots.render",
)
STEPS = frozenset({"prepare_step", "tune_step", "collect_step", "train_best_step", "register_step"})
HELPERS = frozenset(  # a step's helper processes: their ``main()`` is ``python -m <module>``
    {"lstmtune.classical_fits", "lstmtune.report_job", "lstmtune.tracking", "lstmtune.trial_log"}
)
HEADER = struct.Struct("!I")  # the request's length, sent with the client's three file descriptors
POLL_SECONDS = 0.5


def pidfd(pid: int) -> int | None:
    """A handle on process ``pid`` that a reused pid cannot fool (Linux 5.3+), or None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


class _Children:
    """The children forked so far that have not ended: pid -> (client connection, pidfd)."""

    def __init__(self) -> None:
        self.live: dict[int, tuple[socket.socket, int | None]] = {}

    def add(self, pid: int, conn: socket.socket) -> None:
        self.live[pid] = (conn, pidfd(pid))

    def close_all(self) -> None:
        """In a new child: let go of the server's side of every other child."""
        for conn, pidfd in self.live.values():
            conn.close()
            if pidfd is not None:
                os.close(pidfd)
        self.live.clear()

    def waitable(self) -> list[int]:
        return [pidfd for _, pidfd in self.live.values() if pidfd is not None]

    def poll_seconds(self) -> float:
        """How long the server may sleep: a child without a pidfd is polled for its end."""
        return POLL_SECONDS if len(self.waitable()) == len(self.live) else 0.05

    def reap(self) -> None:
        """Tell the clients of the children that ended their exit code, as ``subprocess``
        would (negative: the signal that ended it)."""
        for pid in list(self.live):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 255 << 8
            if done:
                conn, pidfd = self.live.pop(pid)
                with contextlib.suppress(OSError):
                    _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
                conn.close()
                if pidfd is not None:
                    os.close(pidfd)


def serve(path: str, parent: int) -> None:
    """Listen on ``path`` until the process ``parent`` ends; fork a child per request. A run
    ends its server with SIGKILL and removes the socket's directory itself; a run that was itself
    killed cannot, so a server that outlives it removes them (the socket, then its directory)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)  # a client may connect now; it is answered once FIRST is imported
    for name in FIRST:
        _preload(name)
    pending = list(PRELOAD)
    children = _Children()
    try:
        while os.getppid() == parent:
            wait = 0 if pending else children.poll_seconds()
            waiting: list[Any] = [listener, *children.waitable()]
            ready, _, _ = select.select(waiting, [], [], wait)
            if listener in ready:
                _accept(listener, children)
            elif pending and not ready:
                _preload(pending.pop(0))
            children.reap()
    finally:
        listener.close()
    with contextlib.suppress(OSError):
        os.unlink(path)
        os.rmdir(os.path.dirname(path))


def _preload(name: str) -> None:
    """Import ``name``; a module that fails to import is left to the step that needs it."""
    try:
        importlib.import_module(name)
    except Exception as exc:  # pragma: no cover - depends on the installation
        print(f"lstmtune: prefork: not preloaded {name}: {exc}", file=sys.stderr, flush=True)


def _accept(listener: socket.socket, children: _Children) -> None:
    conn, _ = listener.accept()
    fds: list[int] = []
    try:
        head, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
        request = _checked(head, fds, conn)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:
            listener.close()
            children.close_all()  # the other children's connections are not this one's
            _child(conn, fds, request)  # never returns
        children.add(pid, conn)
    except Exception as exc:  # a bad or broken request: refused, the server goes on
        print(f"lstmtune: prefork: {exc!r}", file=sys.stderr, flush=True)
        conn.close()
    finally:
        for fd in fds:
            os.close(fd)


def _checked(head: bytes, fds: list[int], conn: socket.socket) -> dict[str, Any]:
    """The request, if it names exactly one known step or helper and brings three streams."""
    if len(head) != HEADER.size or len(fds) != 3:
        raise ValueError(f"refused: a header of {len(head)} bytes with {len(fds)} fds")
    request = json.loads(_read_exactly(conn, HEADER.unpack(head)[0]))
    if not isinstance(request, dict):
        raise ValueError("refused: not a request")
    step, helper = request.get("function"), request.get("module")
    if not ((step in STEPS and helper is None) or (helper in HELPERS and step is None)):
        raise ValueError(f"refused: {step!r} / {helper!r}")
    return request


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ValueError("request cut short")
        data += chunk
    return data


def _child(conn: socket.socket, fds: list[int], request: dict[str, Any]) -> None:
    """The step or helper, in the forked child, as its own process would run it; then send the
    exit code and exit (the server reports the code too once it reaps a child that ended without
    saying: killed, crashed)."""
    code = 1
    try:
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _send(conn, {"pid": os.getpid()})
        threading.Thread(target=_end_with_client, args=(conn,), daemon=True).start()
        code, result = _run(request)
        _wind_down()
        if "function" in request and code == 0:
            _send(conn, {"result": result})
        _send(conn, {"exit": code})  # the server's own report, once it reaps, comes later
    except BaseException:
        code = code or 1
        with contextlib.suppress(BaseException):
            traceback.print_exc()
            sys.stderr.flush()
    os._exit(code)


def _run(request: dict[str, Any]) -> tuple[int, Any]:
    """Call the step (or the helper's ``main``); its exit code (a ``SystemExit``'s, 1 for any
    other exception)."""
    try:
        if request.get("module") is not None:
            return importlib.import_module(request["module"]).main() or 0, None
        steps = importlib.import_module("lstmtune.steps")
        return 0, getattr(steps, request["function"])(*request["args"], **request["kwargs"])
    except SystemExit as exc:
        return (exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1), None
    except BaseException:
        traceback.print_exc()
        return 1, None


def _wind_down() -> None:
    """What the interpreter does at a normal exit: its threading shutdown (the exit hooks of
    ``threading``, such as the one that ends idle ``concurrent.futures`` workers, then the join
    of every non-daemon thread), the ``atexit`` hooks (an MLflow run left open is ended by
    MLflow's), every stream flushed."""
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall((json.dumps(message, default=_plain) + "\n").encode())


def _plain(value: Any) -> Any:
    """numpy scalars and arrays in a step's return value, as JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _end_with_client(conn: socket.socket) -> None:
    """Block until the client's end closes (it sends nothing): a client that is gone, killed or
    interrupted, ends this child as a signal would have ended the step."""
    with contextlib.suppress(OSError):
        conn.recv(1)
    os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":  # pragma: no cover - started by lstmtune.prefork.server
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run that started it decides when it ends
    # native threads (jemalloc's, OpenBLAS's) that libraries start at import handle fork
    # themselves, as under multiprocessing's fork; Python 3.12+ would warn at every fork
    warnings.filterwarnings(
        "ignore", r".*use of fork\(\) may lead to deadlocks", DeprecationWarning
    )
    serve(sys.argv[1], int(sys.argv[2]))

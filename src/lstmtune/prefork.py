"""Run a local pipeline's steps in children of one process that has imported the heavy libraries
(:mod:`lstmtune.prefork_server`): the client side, and the server's lifetime.

:func:`server` (used by :func:`lstmtune.runner.run_local`) starts the server and names its
socket in ``LSTMTUNE_PREFORK_SOCKET`` for the steps kfp.local starts; :func:`delegated` (on every
:mod:`lstmtune.steps` function) hands the call to the server when that variable is set and the
process is a KFP executor, and otherwise runs the function in its own process, as on a cluster.
The step function is the same either way; only the process it runs in was forked rather than
started. ``LSTMTUNE_PREFORK=off`` turns it off; so does a platform without ``fork`` or
``SCM_RIGHTS``. When the server cannot take a request (not started, gone), the step runs in its
own process as before; only a step that started in a child and lost it fails (exit 1).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

from lstmtune import step_exit
from lstmtune.prefork_server import HEADER, pidfd

F = TypeVar("F", bound=Callable[..., Any])
SOCKET_ENV = "LSTMTUNE_PREFORK_SOCKET"
SWITCH_ENV = "LSTMTUNE_PREFORK"
BIND_WAIT_SECONDS = 5.0


def enabled() -> bool:
    """Whether a local run forks its steps from a server (``LSTMTUNE_PREFORK=off``: no)."""
    off = os.environ.get(SWITCH_ENV, "").strip().lower() in {"0", "off", "false", "no"}
    return not off and sys.platform == "linux"  # (fork after torch is unsafe on macOS)


@contextlib.contextmanager
def server(log: IO[str] | None = None) -> Iterator[str | None]:
    """Start a step server for the duration of a local run; its socket path (None: not started,
    the steps start as plain processes). ``log`` receives the server's own messages."""
    if not enabled():
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="lstmtune-prefork-") as tmp:
        path = str(Path(tmp) / "steps.sock")
        proc = _start(path, log)
        previous = os.environ.get(SOCKET_ENV)
        try:
            if proc is not None and _bound(path, proc):
                os.environ[SOCKET_ENV] = path
                yield path
            else:
                yield None
        finally:
            _restore(previous)
            if proc is not None:
                proc.kill()
                proc.wait()


def _start(path: str, log: IO[str] | None) -> subprocess.Popen[bytes] | None:
    command = [sys.executable, "-m", "lstmtune.prefork_server", path, str(os.getpid())]
    env = {k: v for k, v in os.environ.items() if k != SOCKET_ENV}
    try:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=env
        )
    except OSError:
        return None


def _bound(path: str, proc: subprocess.Popen[bytes]) -> bool:
    """Wait (briefly) for the server to bind its socket."""
    deadline = time.monotonic() + BIND_WAIT_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(path):
            return True
        time.sleep(0.01)
    return False


def _restore(previous: str | None) -> None:
    if previous is None:
        os.environ.pop(SOCKET_ENV, None)
    else:
        os.environ[SOCKET_ENV] = previous


def delegated(func: F) -> F:
    """Decorate a step function: in a local run's KFP executor, run it in a child of the step
    server; anywhere else, or when the server does not take it, run it here."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        path = os.environ.get(SOCKET_ENV)
        if not path or not step_exit.in_kfp_executor():
            return func(*args, **kwargs)
        outcome = call(path, func.__name__, args, kwargs)
        if outcome is None:
            return func(*args, **kwargs)
        code, result = outcome
        if code:
            raise SystemExit(code)
        step_exit.arm()
        return result

    return wrapper  # type: ignore[return-value]


def call(
    path: str, function: str, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None
) -> tuple[int, Any] | None:
    """Have the server at ``path`` run ``function(*args, **kwargs)`` with this process's streams,
    working directory and environment: (exit code, return value), or None if it did not start."""
    request = {"function": function, "args": list(args), "kwargs": kwargs or {}}
    child = _fork(path, request, [0, 1, 2])
    if child is None:
        return None
    code = child.wait()
    if code == 0 and child.result is _NO_RESULT:
        print(f"lstmtune: the step's process {child.pid} ended without a result", file=sys.stderr)
        code = 1
    return code, child.result if code == 0 else None


class ChildProcess(Protocol):
    """What a step uses of a helper process: :class:`subprocess.Popen` or :class:`Forked`."""

    @property
    def stdin(self) -> IO[Any] | None: ...

    @property
    def stdout(self) -> IO[Any] | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


def popen(
    module: str, *, stdin: bool = False, stdout: bool = False, text: bool = True
) -> ChildProcess:
    """``python -m <module>`` (one of the server's ``HELPERS``), with pipes to its stdin and
    stdout if asked: forked from the run's step server when there is one (the libraries it needs
    are imported already), else started like any process."""
    path = os.environ.get(SOCKET_ENV)
    child = _forked_helper(path, module, stdin, stdout, text) if path else None
    if child is not None:
        return child
    pipe = subprocess.PIPE
    command = [sys.executable, "-m", module]
    return subprocess.Popen(  # a Popen[bytes] if not text
        command, stdin=pipe if stdin else None, stdout=pipe if stdout else None, text=text
    )


def _forked_helper(path: str, module: str, stdin: bool, stdout: bool, text: bool) -> Forked | None:
    ours: list[int] = []  # the ends this process keeps
    theirs = [0, 1, 2]
    if stdin:
        read, write = os.pipe()
        theirs[0] = read
        ours.append(write)
    if stdout:
        read, write = os.pipe()
        theirs[1] = write
        ours.append(read)
    child = _fork(path, {"module": module}, theirs)
    for fd in theirs:
        if fd > 2:
            os.close(fd)
    if child is None:
        for fd in ours:
            os.close(fd)
        return None
    mode = "" if text else "b"
    if stdin:
        child.stdin = os.fdopen(ours.pop(0), "w" + mode)
    if stdout:
        child.stdout = os.fdopen(ours.pop(0), "r" + mode)
    return child


def _fork(path: str, request: dict[str, Any], fds: list[int]) -> Forked | None:
    """Send ``request`` with ``fds`` as the child's stdin, stdout and stderr; the child, or None
    when the server did not fork one (it is not there, or closed the connection first)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        message = {**request, "env": dict(os.environ), "cwd": os.getcwd()}
        payload = json.dumps(message).encode()  # (arguments JSON cannot carry: run here)
        conn.connect(path)
        socket.send_fds(conn, [HEADER.pack(len(payload))], fds)
        conn.sendall(payload)
        replies = _Replies(conn)
        pid = int(replies.next()["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        conn.close()
        return None
    return Forked(pid, replies, pidfd(pid))


class _Replies:
    """The JSON lines the child and the server send back on one connection."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buffer = conn, b""

    def next(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message; TimeoutError after ``timeout`` seconds, ValueError at the end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self.conn], [], [], left)[0]:
                raise TimeoutError
            chunk = self.conn.recv(65536)
            if not chunk:
                raise ValueError("connection closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message


_NO_RESULT = object()


class Forked:
    """A child of the step server, seen from the process that asked for it (Popen's subset)."""

    def __init__(self, pid: int, replies: _Replies, pidfd: int | None = None) -> None:
        self.pid, self.replies, self.pidfd = pid, replies, pidfd
        self.stdin: IO[Any] | None = None
        self.stdout: IO[Any] | None = None
        self.returncode: int | None = None
        self.result: Any = _NO_RESULT

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code, as it or the server reports it (1 if both are gone without saying)."""
        while self.returncode is None:
            try:
                message = self.replies.next(timeout)
            except TimeoutError:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0) from None
            except (OSError, ValueError):
                message = {"exit": 1}
            if "result" in message:
                self.result = message["result"]
            if "exit" in message:
                self.returncode = int(message["exit"])
                self.close()
        return self.returncode

    def close(self) -> None:
        """Hang up: a child still running ends (it watches this connection)."""
        self.replies.conn.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def kill(self) -> None:
        """SIGKILL, through the pidfd where there is one (never another process that got the
        pid after this child was reaped); without, only while its end is not known."""
        if self.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            else:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.wait(timeout=0)
                if self.returncode is None:
                    os.kill(self.pid, signal.SIGKILL)

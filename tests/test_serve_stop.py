"""``lstmtune ui`` / ``dashboard`` after a Ctrl-C: the server gets to shut down its own workers
(it is sent SIGINT if the Ctrl-C did not reach it) before it is stopped harder."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from lstmtune.cli import wind_down

# a server that winds down on SIGINT (writing a mark) and ignores nothing else
GRACEFUL = """
import signal, sys, time
def stop(*_):
    open(sys.argv[1], "w").write("wound down")
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
open(sys.argv[2], "w").write("up")
while True:
    time.sleep(0.05)
"""

# a server that ignores SIGINT and SIGTERM alike
STUBBORN = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(sys.argv[2], "w").write("up")
while True:
    time.sleep(0.05)
"""


def _start(code: str, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    mark, up = tmp_path / "mark", tmp_path / "up"
    server = subprocess.Popen([sys.executable, "-c", code, str(mark), str(up)])
    deadline = time.monotonic() + 30
    while not up.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert up.exists()
    return server, mark


def test_a_server_the_ctrl_c_missed_is_sent_one_and_winds_down(tmp_path: Path) -> None:
    server, mark = _start(GRACEFUL, tmp_path)
    assert wind_down(server, grace=0.2) == 0
    assert server.returncode == 0 and mark.read_text() == "wound down"


def test_a_server_that_will_not_stop_is_killed(tmp_path: Path) -> None:
    server, _ = _start(STUBBORN, tmp_path)
    assert wind_down(server, grace=0.2) == 0
    assert server.returncode == -9

"""The tune step's MLflow writes made by a helper process (``python -m lstmtune.trial_log``) that
imports MLflow and opens the store on the other core while the step imports torch and trains:
each trial's nested run, then the best parameters on the parent run, in the order they come.

The helper acknowledges every record once written. What it has not acknowledged when the step
ends (it failed, or could not be started) the step writes itself, so a record is never lost; it
can be written twice only if the helper dies between writing one and acknowledging it. Records
are JSON lines; :func:`lstmtune.tracking.log_trial_run` and
:func:`lstmtune.tracking.log_to_parent` hand theirs here while a log is open
(:func:`lstmtune.tracking.route_to`)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from typing import Any

from lstmtune.config import RunConfig


class TrialLog:
    """The open log of this step (at most one per process)."""

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.sent: dict[int, dict[str, Any]] = {}
        self.acks = b""  # what the helper has answered so far
        self.proc: subprocess.Popen[bytes] | None = None
        with contextlib.suppress(Exception):  # else every record is written by the step
            command = [sys.executable, "-m", "lstmtune.trial_log"]
            pipe = subprocess.PIPE
            self.proc = subprocess.Popen(command, stdin=pipe, stdout=pipe)
            os.set_blocking(self.proc.stdout.fileno(), False)  # type: ignore[union-attr]
            self._write(cfg.model_dump_json())

    @classmethod
    def open(cls, cfg: RunConfig) -> TrialLog:
        """Start the helper; records go to it until :meth:`close`."""
        from lstmtune import tracking

        log = cls(cfg)
        tracking.route_to(log)
        return log

    def _write(self, line: str) -> None:
        if self.proc is None or self.proc.stdin is None:
            return
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
            self._drain()  # its answers never fill the pipe, however many trials
        except Exception:  # the helper is gone: the rest is written by the step
            self._collect(kill=True)

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.proc.stdout.fileno(), 65536):
                self.acks += chunk

    def send(self, record: dict[str, Any]) -> None:
        """Hand one record (``{"kind": "trial" | "parent", ...}``) to the helper."""
        seq = len(self.sent)
        self.sent[seq] = record
        self._write(json.dumps({**record, "seq": seq}))

    def _collect(self, *, kill: bool) -> None:
        """Stop the helper (end its input, or ``kill`` it) and keep the rest of its answers."""
        proc, self.proc = self.proc, None
        if proc is None or proc.stdin is None or proc.stdout is None:
            return
        with contextlib.suppress(Exception):
            if kill:
                proc.kill()
            proc.stdin.close()
        with contextlib.suppress(Exception):
            os.set_blocking(proc.stdout.fileno(), True)
            self.acks += proc.stdout.read()
            proc.wait()

    def _acknowledged(self) -> set[int]:
        """Wait for the helper; the records it wrote."""
        self._collect(kill=False)
        done: set[int] = set()
        with contextlib.suppress(ValueError):  # a torn last line does not count
            done = {int(x) for x in self.acks.split(b"\n")[:-1]}
        return done

    def close(self) -> None:
        """Wait for the helper; write what it did not. Records go to MLflow directly after."""
        from lstmtune import tracking

        tracking.route_to(None)
        done = self._acknowledged()
        missing = [r for seq, r in sorted(self.sent.items()) if seq not in done]
        if missing:
            from lstmtune import tracking

            c = tracking.client(self.cfg)
            for record in missing:
                write(c, record)


def write(c: Any, record: dict[str, Any]) -> None:
    """Write one record with the MLflow client ``c``."""
    from lstmtune import tracking

    if record["kind"] == "trial":
        tracking.write_trial_run(c, record)
    else:
        tracking.write_batch(c, record)


def _helper_main() -> None:
    try:
        from lstmtune import tracking

        c = tracking.client(RunConfig.from_json(sys.stdin.readline()).resolved())
        for line in sys.stdin:
            record = json.loads(line)
            write(c, record)
            sys.stdout.write(f"{record['seq']}\n")
            sys.stdout.flush()
    except BaseException:  # the step writes what was not acknowledged
        os._exit(1)
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover - run by TrialLog
    _helper_main()

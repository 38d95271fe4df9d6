"""The tune step's MLflow writes made by a helper process (``python -m lstmtune.trial_log``) that
imports MLflow and opens the store on the other core while the step imports torch and trains:
each trial's nested run, then the best parameters on the parent run, in the order they come.

The helper acknowledges every record once written (on its own copy of stdout: anything MLflow
prints goes to stderr). What it has not acknowledged when the step ends the step writes itself;
once the helper is gone (it failed or could not start), the step writes each record as it comes,
as it would without one. A record is written twice only if the helper dies between writing it
and acknowledging it; records still with the helper are lost only if the step itself is killed
(as a trial in progress is). Records
are JSON lines; :func:`lstmtune.tracking.log_trial_run` and
:func:`lstmtune.tracking.log_to_parent` hand theirs here while a log is open
(:func:`lstmtune.tracking.route_to`)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

from lstmtune import prefork
from lstmtune.config import RunConfig


class TrialLog:
    """The open log of this step (at most one per process)."""

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.sent: dict[int, dict[str, Any]] = {}
        self.acks = b""  # what the helper has answered so far
        self.client: Any = None  # this process's MLflow client, once it writes itself
        self.proc: prefork.ChildProcess | None = None
        try:
            self.proc = prefork.popen("lstmtune.trial_log", stdin=True, stdout=True, text=False)
            os.set_blocking(self.proc.stdout.fileno(), False)  # type: ignore[union-attr]
        except Exception:  # every record is written by the step
            self._collect(kill=True)
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
        """Hand one record (``{"kind": "trial" | "parent", ...}``) to the helper; once it is
        gone, write it here at once (as without a helper), with what it did not write."""
        if self.proc is None:
            self._write_here([record])
            return
        seq = len(self.sent)
        self.sent[seq] = record
        self._write(json.dumps({**record, "seq": seq}))
        if self.proc is None:  # it has just gone
            self._write_here(self._unacknowledged())

    def _write_here(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        if self.client is None:
            from lstmtune import tracking

            self.client = tracking.client(self.cfg)
        for record in records:
            write(self.client, record)

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
            proc.stdout.close()
            proc.wait()

    def _unacknowledged(self) -> list[dict[str, Any]]:
        """The records sent that the helper has not acknowledged (it is stopped by then), taken
        off the list; an acknowledgement is a line of digits, nothing else counts."""
        lines = self.acks.split(b"\n")[:-1]  # a torn last line does not count
        done = {int(x) for x in lines if x.strip().isdigit()}
        sent, self.sent = self.sent, {}
        return [r for seq, r in sorted(sent.items()) if seq not in done]

    def close(self) -> None:
        """Wait for the helper; write what it did not. Records go to MLflow directly after."""
        from lstmtune import tracking

        tracking.route_to(None)
        self._collect(kill=False)
        self._write_here(self._unacknowledged())


def write(c: Any, record: dict[str, Any]) -> None:
    """Write one record with the MLflow client ``c``."""
    from lstmtune import tracking

    if record["kind"] == "trial":
        tracking.write_trial_run(c, record)
    else:
        tracking.write_batch(c, record)


def main() -> int:
    """The helper's entry point (``python -m``, or forked by the run's step server); its exit
    code."""
    acks = os.fdopen(os.dup(1), "w")  # answers only: whatever else prints goes to stderr
    os.dup2(2, 1)
    try:
        from lstmtune import tracking

        c = tracking.client(RunConfig.from_json(sys.stdin.readline()).resolved())
        for line in sys.stdin:
            record = json.loads(line)
            write(c, record)
            acks.write(f"{record['seq']}\n")
            acks.flush()
    except BaseException:  # the step writes what was not acknowledged
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - run by TrialLog
    os._exit(main())

"""How the local runner shows a run: progress events from the steps' output rendered as lines, a
live bar or JSON (:class:`Display`), and the tee that sends all output to the log file and the
events to the display (:class:`_Tee`)."""

from __future__ import annotations

import io
import json
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO

PROGRESS_PREFIX = "lstmtune | "


class Display:
    """Renders progress events: ``text`` lines, a live ``bar`` (a terminal), ``json`` lines, or
    nothing (``quiet``).

    A :meth:`defer`-red event (the runner's start line) is shown just before the first event of a
    step, so a run refused by its prepare step prints nothing. A ``summary`` event (the register
    step's, sent as soon as the model is registered) goes to ``on_summary`` instead of a line.
    """

    def __init__(
        self,
        mode: str,
        terminal: TextIO,
        on_summary: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.mode, self.terminal = mode, terminal
        self.on_summary = on_summary
        self._bar: Any = None
        self._pending: dict[str, Any] | None = None

    def defer(self, record: dict[str, Any]) -> None:
        self._pending = record

    def _line(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.terminal)
        else:
            self.terminal.write(text + "\n")
            self.terminal.flush()

    def event(self, record: dict[str, Any]) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.event(pending)
        if record.get("event") == "summary":
            self.close()
            if self.on_summary is not None and isinstance(record.get("summary"), dict):
                self.on_summary(record["summary"])
            return
        if self.mode == "quiet":
            return
        if self.mode == "json":
            self._line(json.dumps(record, default=str))
            return
        kind = record.get("event")
        if kind == "trial" and self.mode == "bar":
            self._trial_bar(record)
            return
        if kind == "epoch" and self.mode != "bar":
            return
        if kind == "epoch":
            if self._bar is not None:
                self._bar.set_postfix_str(
                    f"trial {record.get('trial')} epoch {record.get('epoch')}: "
                    f"{record.get('message', '')}"
                )
            return
        closing = ("study_done", "retrained", "registered", "unchanged", "prepared")
        if kind in closing and self._bar is not None:
            self.close()
        self._line(PROGRESS_PREFIX + str(record.get("message", "")))

    def _trial_bar(self, record: dict[str, Any]) -> None:
        from tqdm import tqdm

        total = int(record.get("total") or 0)
        if self._bar is None:
            self._bar = tqdm(
                total=total,
                desc="lstmtune | tune",
                unit="trial",
                file=self.terminal,
                dynamic_ncols=True,
                leave=True,
            )
            self._bar.n = max(0, int(record.get("done") or 1) - 1)
        self._bar.n = int(record.get("done") or self._bar.n + 1)
        best = record.get("best")
        counts = record.get("counts") or {}
        best_text = (
            f"best {record.get('objective', 'value')}={best:.4g} "
            if isinstance(best, int | float)
            else ""
        )
        self._bar.set_postfix_str(best_text + " ".join(f"{k}={v}" for k, v in counts.items()))
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _Tee(io.TextIOBase):
    """Everything to the log file; progress events (and user errors) to the display."""

    def __init__(self, log: TextIO, display: Display, echo_all: bool) -> None:
        self.log, self.display, self.echo_all = log, display, echo_all
        self._buf = ""
        self.tail: deque[str] = deque(maxlen=25)
        self.user_errors: list[str] = []
        self.events: set[str] = set()  # the kinds of event the steps have sent

    def write(self, s: str) -> int:
        from lstmtune.progress import parse

        self.log.write(s)
        self._buf += s
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            stripped = line.strip()
            if stripped:
                self.tail.append(line)
            if stripped.startswith("lstmtune: error:"):
                self.user_errors.append(stripped[len("lstmtune: error:") :].strip())
            record = parse(line)
            if record is not None:
                self.events.add(str(record.get("event")))
                self.display.event(record)
            elif self.echo_all and self.display.mode != "quiet":
                self.display._line(line)
        return len(s)

    def flush(self) -> None:
        self.log.flush()

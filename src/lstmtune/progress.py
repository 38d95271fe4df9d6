"""Progress events from pipeline steps.

A step calls :func:`emit`; what comes out depends on ``LSTMTUNE_LOG_FORMAT`` (read when the
event is emitted, never at import): ``text`` (default) prints ``lstmtune | <message>`` — readable
in a terminal or a pod log — and ``json`` prints one JSON object per line (for log aggregation
on a cluster, and for the local runner, which renders them as a live display).
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

PREFIX = "lstmtune | "
FORMAT_ENV = "LSTMTUNE_LOG_FORMAT"
VERBOSE_ENV = "LSTMTUNE_VERBOSE"


def emit(event: str, message: str, **fields: Any) -> None:
    if os.environ.get(FORMAT_ENV, "text") == "json":
        record = {
            "ts": round(time.time(), 3),
            "event": event,
            "message": message,
            **{k: _finite(v) for k, v in fields.items()},
        }
        print(json.dumps(record, default=str), flush=True)
    else:
        print(f"{PREFIX}{message}", flush=True)


def _finite(value: Any) -> Any:
    """NaN/inf are not JSON: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def verbose() -> int:
    try:
        return int(os.environ.get(VERBOSE_ENV, "0"))
    except ValueError:
        return 0


def parse(line: str) -> dict[str, Any] | None:
    """An event from one output line (JSON or text form), or None for any other line."""
    text = line.strip()
    if text.startswith("{") and '"event"' in text:
        try:
            record = json.loads(text)
        except ValueError:
            return None
        return record if isinstance(record, dict) and "event" in record else None
    if text.startswith(PREFIX):
        return {"event": "info", "message": text[len(PREFIX) :]}
    return None

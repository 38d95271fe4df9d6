"""Progress events and the log of the tuning loop."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("lstmtune")


def progress(message: str, event: str = "info", **fields: Any) -> None:
    """A progress event (text line or JSON, see :mod:`lstmtune.progress`)."""
    from lstmtune.progress import emit

    emit(event, message, **fields)

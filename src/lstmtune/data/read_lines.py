"""The lines saying how the prepare step read a file that was not a plain table of named
columns: the file chosen in a zip archive, a UCR / UEA archive's ``_TRAIN`` and ``_TEST`` files, a
``.tsf`` file, statsforecast's columns, a time over several columns, a table of years by months, a
table of one sequence per row (``said``: the ``metadata.json`` entries of
:func:`lstmtune.data.prepare.prepare`). The prepare step prints them; a refusal after them names
them, since the columns it names (``value``, ``time``, ``case``) are lstmtune's."""

from __future__ import annotations

from typing import Any

from lstmtune.data.archive import archive_line
from lstmtune.data.calendar_table import calendar_line
from lstmtune.data.date_parts import date_parts_line
from lstmtune.data.layouts import layout_line
from lstmtune.data.tsf import tsf_line
from lstmtune.data.wide_sequences import wide_line
from lstmtune.data.zip_choice import zip_line
from lstmtune.errors import UserError


def read_lines(said: dict[str, Any], horizon: int) -> list[str]:
    """Each line that applies, in the order the file was read."""
    lines = [zip_line(said["zip"])] if said.get("zip") else []
    if note := said.get("archive"):
        lines.append(tsf_line(note, horizon) if note["kind"] == "tsf" else archive_line(note))
    if said.get("layout"):
        lines.append(layout_line(said["layout"]))
    if said.get("date_parts"):
        lines.append(date_parts_line(said["date_parts"]))
    if said.get("calendar"):
        lines.append(calendar_line(said["calendar"]))
    if said.get("wide"):
        lines.append(wide_line(said["wide"]))
    return lines


def as_read(error: UserError, lines: list[str]) -> UserError:
    """``error`` with how the file was read after it (``lines``; itself where none)."""
    if not lines:
        return error
    return UserError(f"{error} (as read: {'; '.join(lines)})")

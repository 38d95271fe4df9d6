"""Progress events and how the local runner renders them."""

from __future__ import annotations

import io
import json

import pytest

from lstmtune.progress import emit, parse
from lstmtune.runner import Display, _Tee

TRIAL = {
    "event": "trial",
    "message": "trial 1 complete",
    "number": 1,
    "state": "complete",
    "done": 2,
    "total": 5,
    "best": 12.5,
    "objective": "val_rmse",
    "counts": {"complete": 2},
}


def test_emit_text_and_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LSTMTUNE_LOG_FORMAT", raising=False)
    emit("trial", "trial 3 complete", value=1.5)
    assert capsys.readouterr().out == "lstmtune | trial 3 complete\n"
    monkeypatch.setenv("LSTMTUNE_LOG_FORMAT", "json")
    emit("trial", "trial 3 complete", value=float("nan"), best=2.0)
    record = json.loads(capsys.readouterr().out)
    assert record["event"] == "trial" and record["value"] is None and record["best"] == 2.0


def test_parse_recognises_both_forms_and_ignores_other_output() -> None:
    assert parse('{"event": "x", "message": "m"}') == {"event": "x", "message": "m"}
    assert parse("    lstmtune | hello") == {"event": "info", "message": "hello"}
    assert parse("[KFP Executor] Wrote executor output") is None
    assert parse('{"not": "an event"}') is None


def _feed(mode: str, lines: list[str], echo_all: bool = False) -> tuple[str, str, _Tee]:
    terminal, log = io.StringIO(), io.StringIO()
    display = Display(mode, terminal)
    tee = _Tee(log, display, echo_all)
    for line in lines:
        tee.write(line + "\n")
    display.close()
    return terminal.getvalue(), log.getvalue(), tee


LINES = [
    "[KFP Executor 10:00] Looking for component",
    json.dumps({"event": "prepared", "message": "prepared data"}),
    json.dumps(TRIAL),
    "lstmtune: error: data.csv: column 'x' not found",
    json.dumps({"event": "registered", "message": "registered v1"}),
]


def test_text_mode_shows_messages_only_and_logs_everything() -> None:
    shown, logged, tee = _feed("text", LINES)
    assert shown.splitlines() == [
        "lstmtune | prepared data",
        "lstmtune | trial 1 complete",
        "lstmtune | registered v1",
    ]
    assert logged.count("\n") == len(LINES)
    assert tee.user_errors == ["data.csv: column 'x' not found"]


def test_json_mode_passes_events_through() -> None:
    shown, _, _ = _feed("json", LINES)
    events = [json.loads(line)["event"] for line in shown.splitlines()]
    assert events == ["prepared", "trial", "registered"]


def test_quiet_mode_shows_nothing() -> None:
    assert _feed("quiet", LINES)[0] == ""


def test_bar_mode_draws_a_trial_bar() -> None:
    shown, _, _ = _feed("bar", LINES)
    assert "lstmtune | tune" in shown and "2/5" in shown and "best val_rmse=12.5" in shown
    assert "registered v1" in shown


def test_verbose_echoes_step_output() -> None:
    shown, _, _ = _feed("text", LINES, echo_all=True)
    assert "[KFP Executor 10:00] Looking for component" in shown

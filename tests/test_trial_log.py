"""The tune step's MLflow writes through the helper process (:mod:`lstmtune.trial_log`): the same
trial runs and best parameters as written by the step itself, the step process never importing
MLflow; nothing lost when the helper cannot start or dies midway; and the warm start's registry
lookup made ahead by the prepare step."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lstmtune import tracking
from lstmtune.config import RunConfig
from lstmtune.trial_log import TrialLog

TUNE = """
import json, sys
import lstmtune.report_job as rj
rj.spare_core = lambda free=1.0: {helper}
from lstmtune import steps
steps.tune_step(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
print(json.dumps({{"mlflow": "mlflow" in sys.modules}}))
"""


def _trials(cfg: RunConfig, parent: str) -> list[dict[str, Any]]:
    c = tracking.client(cfg)
    exp = c.get_run(parent).info.experiment_id
    runs = c.search_runs([exp], f"tags.mlflow.parentRunId = '{parent}'")
    out = []
    for run in runs:
        history = {
            k: [m.value for m in c.get_metric_history(run.info.run_id, k)] for k in run.data.metrics
        }
        tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
        out.append(
            {"params": run.data.params, "history": history, "tags": tags, "status": run.info.status}
        )
    return sorted(out, key=lambda r: int(r["tags"]["optuna.trial"]))


def _tuned(make: Callable[..., RunConfig], tmp: Path, helper: bool) -> tuple[RunConfig, str, dict]:
    from lstmtune import steps

    cfg = make(output_dir=str(tmp / f"out-{helper}"), tune__warm_start=True)
    config_json = cfg.model_dump_json()
    data, best = tmp / f"data-{helper}", tmp / f"best-{helper}.json"
    parent = steps.prepare_step(config_json, str(data))
    code = TUNE.format(helper=helper)
    out = subprocess.run(
        [sys.executable, "-c", code, config_json, str(data), parent, str(best)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {"mlflow": not helper}
    return cfg, parent, json.loads(best.read_text())


def test_the_helper_writes_what_the_step_writes_and_the_step_never_imports_mlflow(
    tiny_config: Callable[..., RunConfig], tmp_path: Path
) -> None:
    cfg, parent, best = _tuned(tiny_config, tmp_path, helper=True)
    cfg0, parent0, best0 = _tuned(tiny_config, tmp_path, helper=False)
    trials, trials0 = _trials(cfg, parent), _trials(cfg0, parent0)
    assert len(trials) == 3 and trials == trials0
    assert all(t["history"] and t["params"] for t in trials)
    params = tracking.client(cfg).get_run(parent).data.params
    assert {k: v for k, v in params.items() if k.startswith("best.")} == {
        f"best.{k}": str(v) for k, v in best["best_params"].items()
    }
    assert best["best_params"] == best0["best_params"]


def _parent(tmp_path: Path) -> tuple[RunConfig, str]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = RunConfig.model_validate({"data": {"path": "x.csv"}, "mlflow": {"tracking_uri": uri}})
    return cfg, tracking.client(cfg).create_run("0").info.run_id


def _log(cfg: RunConfig, parent: str, number: int) -> None:
    history = [{"epoch": 1, "val_rmse": 2.0 + number}, {"epoch": 2, "val_rmse": float("nan")}]
    tracking.log_trial_run(cfg, parent, number, {"units": 8}, history, "COMPLETE")


def test_a_helper_that_cannot_start_leaves_every_record_to_the_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, parent = _parent(tmp_path)
    monkeypatch.setattr(sys, "executable", "false")  # exits 1 at once
    log = TrialLog.open(cfg)
    _log(cfg, parent, 0)
    _log(cfg, parent, 1)
    tracking.log_to_parent(cfg, parent, metrics={"best": 1.5}, params={"best.units": 8})
    log.close()
    assert tracking._Route.log is None
    trials = _trials(cfg, parent)
    assert [t["history"]["val_rmse"][0] for t in trials] == [2.0, 3.0]
    run = tracking.client(cfg).get_run(parent).data
    assert run.metrics["best"] == 1.5 and run.params["best.units"] == "8"


def test_a_helper_that_dies_midway_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    cfg, parent = _parent(tmp_path)
    log = TrialLog.open(cfg)
    _log(cfg, parent, 0)
    _log(cfg, parent, 1)
    deadline = time.monotonic() + 120
    while log.acks.count(b"\n") < 2 and time.monotonic() < deadline:  # both written
        time.sleep(0.1)
        log._drain()
    assert log.acks.count(b"\n") == 2 and log.proc is not None
    log.proc.kill()
    log.proc.wait()
    for number in (2, 3):
        _log(cfg, parent, number)
    log.close()
    trials = _trials(cfg, parent)
    assert [t["history"]["val_rmse"][0] for t in trials] == [2.0, 3.0, 4.0, 5.0]


def test_the_warm_start_reads_the_champion_the_prepare_step_looked_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lstmtune import champion
    from lstmtune.tuning import warm_start

    space = {
        "units": {"type": "categorical", "choices": [8, 16]},
        "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
    }
    meta: dict[str, Any] = {"task": "forecast", "search_space": space}
    cfg = RunConfig.model_validate({"data": {"path": "x.csv"}})

    def unreachable(*args: object) -> None:
        raise RuntimeError("registry down")

    monkeypatch.setattr(champion, "_champion_raw", unreachable)
    meta["champion"] = champion.look_up_champion(cfg, meta)
    reason = "cannot read the model registry (RuntimeError: registry down)"
    registry = [str(cfg.mlflow.tracking_uri), str(cfg.mlflow.model_name)]
    assert meta["champion"] == {"for": registry, "skipped": f"warm start skipped: {reason}"}
    assert warm_start._warm_start(cfg, json.loads(json.dumps(meta)), None) is False
    assert "registry down" in capsys.readouterr().out

    monkeypatch.setattr(
        champion, "_champion_raw", lambda c, m: ({"units": "16", "learning_rate": "0.5"}, "3")
    )
    meta["champion"] = json.loads(json.dumps(champion.look_up_champion(cfg, meta)))
    monkeypatch.setattr(champion, "_champion_raw", unreachable)  # the tune step: no lookup
    assert champion._known_champion(cfg, meta) == ({"units": 16}, "3")
    meta["champion"] = {"for": registry}  # no champion then
    assert champion._known_champion(cfg, meta) is None
    other = cfg.model_copy(update={"mlflow": cfg.mlflow.model_copy(update={"model_name": "x"})})
    with pytest.raises(RuntimeError, match="registry down"):  # another model: looked up now
        champion._known_champion(other, meta)


@pytest.mark.integration
def test_over_http_mlflow_prints_do_not_count_as_acknowledgements(tmp_path: Path) -> None:
    """Against a real ``mlflow server`` MLflow prints a "View run" line per run to stdout; the
    helper's answers must not be confused by it (else every record would be written twice)."""
    import mlflow_proc

    (tmp_path / "server").mkdir()
    with mlflow_proc.serve(tmp_path / "server") as server:
        cfg = RunConfig.model_validate(
            {"data": {"path": "x.csv"}, "mlflow": {"tracking_uri": server["url"]}}
        )
        parent = tracking.client(cfg).create_run("0").info.run_id
        log = TrialLog.open(cfg)
        for number in range(3):
            _log(cfg, parent, number)
        tracking.log_to_parent(cfg, parent, metrics={"best": 1.5})
        log.close()
        assert log.acks.split() == [b"0", b"1", b"2", b"3"]  # all four, nothing else
        trials = _trials(cfg, parent)
        assert [t["history"]["val_rmse"][0] for t in trials] == [2.0, 3.0, 4.0]
        history = tracking.client(cfg).get_metric_history(parent, "best")
        assert [m.value for m in history] == [1.5]  # written once


def test_only_lines_of_digits_acknowledge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, _ = _parent(tmp_path)
    monkeypatch.setattr(sys, "executable", "false")
    log = TrialLog(cfg)
    log.sent = {0: {"a": 0}, 1: {"a": 1}, 2: {"a": 2}}
    log.acks = b"0\n\xf0\x9f\x8f\x83 View run trial-1 at: http://x/1\n2"  # 2: torn
    assert log._unacknowledged() == [{"a": 1}, {"a": 2}] and log.sent == {}

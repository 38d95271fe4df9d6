"""Run the Kubeflow pipeline on this machine with ``kfp.local`` (SubprocessRunner, no containers).

Before any step runs, the input and configuration are validated in-process with the very
function the prepare step uses, so bad input fails fast (exit 2) and nothing is written or
registered. Step output goes to ``<output_dir>/pipeline.log``; progress lines are echoed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import sys
import time
import warnings
from collections import deque
from pathlib import Path
from typing import Any, TextIO

from lstmtune.config import RunConfig

PROGRESS_PREFIX = "lstmtune | "


class PipelineFailed(RuntimeError):
    """A pipeline step failed for a reason that is not bad input (exit code 1)."""


class _Tee(io.TextIOBase):
    """Everything to the log file; progress lines (and errors) also to the terminal."""

    def __init__(self, log: TextIO, terminal: TextIO, echo_all: bool) -> None:
        self.log, self.terminal, self.echo_all = log, terminal, echo_all
        self._buf = ""
        self.tail: deque[str] = deque(maxlen=25)
        self.user_errors: list[str] = []

    def write(self, s: str) -> int:
        self.log.write(s)
        self._buf += s
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            stripped = line.strip()
            if stripped:
                self.tail.append(line)
            if stripped.startswith("lstmtune: error:"):
                self.user_errors.append(stripped[len("lstmtune: error:") :].strip())
            if self.echo_all or stripped.startswith(PROGRESS_PREFIX):
                self.terminal.write((stripped if not self.echo_all else line) + "\n")
                self.terminal.flush()
        return len(s)

    def flush(self) -> None:
        self.log.flush()


def preflight(cfg: RunConfig) -> dict[str, Any]:
    """Validate data + config exactly as the prepare step will (no files written)."""
    from lstmtune.data.prepare import prepare
    from lstmtune.tuning import check_study_config

    check_study_config(cfg)
    _, meta = prepare(cfg)
    return meta


def run_local(cfg: RunConfig, *, verbose: bool = False, image: str | None = None) -> dict[str, Any]:
    """Execute the pipeline through kfp.local; returns the summary (also written to summary.json)."""
    from kfp import local

    from lstmtune.errors import UserError
    from lstmtune.pipelines import DEFAULT_IMAGE, build_pipeline

    cfg = cfg.resolved()
    meta = preflight(cfg)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "pipeline.log"
    print(f"{PROGRESS_PREFIX}running pipeline 'lstmtune' locally (kfp.local): {meta['task']} on {meta['source']}; log: {log_path}", flush=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(out / "kfp"), raise_on_error=True)
    pipeline = build_pipeline(image or DEFAULT_IMAGE)
    started = time.perf_counter()
    kfp_logger = logging.getLogger("kfp")
    with open(log_path, "a", encoding="utf-8") as log:
        tee = _Tee(log, sys.stdout, verbose)
        handler = logging.StreamHandler(tee)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        saved = kfp_logger.handlers[:], kfp_logger.propagate
        kfp_logger.handlers, kfp_logger.propagate = [handler], False
        try:
            with contextlib.redirect_stdout(tee), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                task = pipeline(config=cfg.to_json())
        except RuntimeError as exc:
            if tee.user_errors:
                raise UserError(tee.user_errors[-1]) from None
            first = re.sub(r"\x1b\[[0-9;]*m", "", str(exc).splitlines()[0])
            detail = "\n".join(tee.tail)
            raise PipelineFailed(f"{first}\n--- last lines of {log_path} ---\n{detail}") from None
        finally:
            kfp_logger.handlers, kfp_logger.propagate = saved
            _mark_parent_failed_if_open(cfg, log_path)
    summary: dict[str, Any] = json.loads(task.output)
    summary["pipeline_seconds"] = round(time.perf_counter() - started, 1)
    summary["output_dir"] = str(out)
    summary["log"] = str(log_path)
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    os.replace(tmp, out / "summary.json")
    return summary


def _mark_parent_failed_if_open(cfg: RunConfig, log_path: Path) -> None:
    """A run whose pipeline stopped half-way must not stay RUNNING in MLflow."""
    text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    marker = "; MLflow run "
    if marker not in text:
        return
    run_id = text.rsplit(marker, 1)[1].split()[0]
    with contextlib.suppress(Exception):
        from lstmtune import tracking

        c = tracking.client(cfg)
        if c.get_run(run_id).info.status == "RUNNING":
            c.set_terminated(run_id, status="FAILED")


def format_summary(s: dict[str, Any]) -> str:
    """The readable end of ``lstmtune run``."""
    lines = ["", "=" * 72, f"lstmtune: {s['task']} model tuned and published in {s.get('pipeline_seconds', '?')} s", "=" * 72]
    lines.append(f"trials: {s['n_trials_complete']} complete, {s['n_trials_pruned']} pruned, {s['n_trials_failed']} failed"
                 + (f" ({s['n_trials_reused']} reused from an earlier run)" if s.get("n_trials_reused") else "")
                 + f"; best validation {s['objective']} = {s['best_value']:.4g} (trial {s['best_trial']})")
    lines.append("best hyperparameters:")
    width = max(len(k) for k in s["best_params"])
    for k, v in sorted(s["best_params"].items()):
        lines.append(f"  {k:<{width}}  {v:.4g}" if isinstance(v, float) else f"  {k:<{width}}  {v}")
    metrics = list(s["test_metrics"])
    header = f"  {'':<24}" + "".join(f"{m:>12}" for m in metrics)
    lines += ["test metrics (original units):" if s["task"] == "forecast" else "test metrics:", header]
    lines.append(f"  {'lstmtune model':<24}" + "".join(f"{s['test_metrics'][m]:>12.4g}" for m in metrics))
    for name, vals in s["baseline_metrics"].items():
        lines.append(f"  {name:<24}" + "".join(f"{vals.get(m, float('nan')):>12.4g}" for m in metrics))
    verdict = "beats" if s["beats_baseline"] else "DOES NOT beat"
    lines.append(f"  -> the model {verdict} the best naive baseline ({s['best_baseline']}) on test {s['primary_metric']}")
    lines.append(f"registered: {s['model_name']} version {s['model_version']} -> alias @{s['alias']} ({s['promotion_reason']})")
    lines.append(f"load it:    mlflow.pyfunc.load_model('{s['model_uri']}')  with MLFLOW_TRACKING_URI={s['tracking_uri']}")
    lines.append(f"MLflow UI:  mlflow ui --backend-store-uri {s['tracking_uri']} --host 127.0.0.1 --port 5000")
    lines.append(f"summary:    {s.get('output_dir', '.')}/summary.json")
    return "\n".join(lines)

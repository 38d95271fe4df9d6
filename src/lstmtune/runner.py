"""Run the Kubeflow pipeline on this machine with ``kfp.local`` (SubprocessRunner, no containers).

The configuration alone is checked in-process before anything runs (:func:`preflight`: no data
read, no torch); the data are validated once, by the prepare step. A run that step refuses (bad
input) fails with the step's one-line message as a :class:`~lstmtune.errors.UserError` (exit 2)
and leaves nothing behind: no MLflow run was opened, and what the run wrote under the output
directory (its log, its kfp folder, the directory itself if it was new) is removed. Step output
goes to ``<output_dir>/pipeline.log``; progress lines are echoed. The summary is handed to
``on_summary`` the moment the model is registered, before the report is rendered.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import json
import logging
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from lstmtune import prefork
from lstmtune.config import RunConfig
from lstmtune.errors import UserError
from lstmtune.run_config import save_run_config
from lstmtune.run_display import PROGRESS_PREFIX as PROGRESS_PREFIX
from lstmtune.run_display import Display as Display
from lstmtune.run_display import _Tee as _Tee

REPORT = "report.html"


class PipelineFailed(RuntimeError):
    """A pipeline step failed for a reason that is not bad input (exit code 1)."""


def preflight(cfg: RunConfig) -> None:
    """Refuse what the configuration alone rules out, before anything is written (cheap: reads no
    data and imports neither torch nor MLflow; a server named by a URL is reached once). The data
    are checked by the prepare step."""
    from lstmtune.reachable import check_servers
    from lstmtune.run_checks import check_study_config

    check_study_config(cfg)
    check_servers(cfg)


class _Refused(UserError):
    """Bad input refused by the prepare step: no MLflow run was opened, nothing registered."""


@dataclass(frozen=True)
class _Footprint:
    """What existed under the output directory before a run, so that a refused run can take away
    exactly what it added (the directory itself when the run created it)."""

    out: Path
    created: Path | None
    before: frozenset[Path]

    @classmethod
    def of(cls, out: Path) -> _Footprint:
        created = None
        for p in [out, *out.parents]:
            if p.exists():
                break
            created = p
        return cls(out, created, frozenset(cls._entries(out)))

    @staticmethod
    def _entries(out: Path) -> list[Path]:
        found = [p for d in (out, out / "kfp") if d.is_dir() for p in d.iterdir()]
        return found

    def remove_new(self) -> None:
        if self.created is not None:
            shutil.rmtree(self.created, ignore_errors=True)
            return
        for p in sorted(set(self._entries(self.out)) - self.before, reverse=True):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def run_local(
    cfg: RunConfig,
    *,
    verbose: int = 0,
    image: str | None = None,
    display: str | None = None,
    terminal: TextIO | None = None,
    on_summary: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Execute the pipeline through kfp.local; returns the summary (also written to summary.json,
    beside the run's configuration: run_config.yaml).

    ``display``: ``bar`` (default on a terminal), ``text`` (default otherwise), ``json`` or
    ``quiet``. ``verbose`` >= 1 also shows every step's own output, >= 2 per-epoch progress.
    ``on_summary`` is called with the summary as soon as the model is registered (the report is
    rendered after that; the returned summary also names it).
    """
    terminal = terminal or sys.stdout
    shown = Display(display or ("bar" if terminal.isatty() else "text"), terminal)
    cfg = cfg.resolved()
    preflight(cfg)
    out = Path(cfg.output_dir)
    footprint = _Footprint.of(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, no permission, a read-only file system
        raise UserError(f"output_dir: cannot create {str(out)!r} ({exc.strerror or exc})") from None
    log_path = out / "pipeline.log"
    with open(log_path, "a", encoding="utf-8") as server_log, prefork.server(server_log):
        return _run_here(cfg, out, footprint, log_path, shown, verbose, image, on_summary)


def _run_here(
    cfg: RunConfig,
    out: Path,
    footprint: _Footprint,
    log_path: Path,
    shown: Display,
    verbose: int,
    image: str | None,
    on_summary: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    from kfp import local

    from lstmtune import kfp_local_args
    from lstmtune.pipelines import DEFAULT_IMAGE, build_pipeline

    shown.defer(_start_event(cfg, out, log_path))
    kfp_local_args.install()  # a path holding "python3" reaches the steps as it is
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(out / "kfp"),
        raise_on_error=True,
    )
    pipeline = build_pipeline(
        image or DEFAULT_IMAGE, backend=cfg.tune.backend, workers=cfg.tune.workers
    )
    started = time.perf_counter()
    if on_summary is not None:
        shown.on_summary = functools.partial(_announce, on_summary, started, out, log_path)
    try:
        output = _run_pipeline(cfg, pipeline, shown, log_path, verbose)
    except _Refused:
        footprint.remove_new()
        raise
    save_run_config(cfg, out)  # before summary.json: a finished run's two files agree
    return _write_summary(output, started, out, log_path)


def _start_event(cfg: RunConfig, out: Path, log_path: Path) -> dict[str, Any]:
    return {
        "event": "start",
        "message": (
            "running pipeline 'lstmtune' locally (kfp.local): "
            f"{cfg.data.task} on {cfg.data.path}; log: {log_path}"
        ),
        "output_dir": str(out),
    }


def _announce(
    callback: Callable[[dict[str, Any]], None],
    started: float,
    out: Path,
    log_path: Path,
    summary: dict[str, Any],
) -> None:
    """The register step's summary, with where things are, to ``callback``; the report is being
    written to ``report.html`` meanwhile."""
    callback({**_with_run_facts(summary, started, out, log_path), "report": str(out / REPORT)})


def _run_pipeline(
    cfg: RunConfig, pipeline: Any, shown: Display, log_path: Path, verbose: int
) -> str:
    """Run the pipeline with its output teed to ``log_path`` and ``shown``; the last step's
    output. Whatever happens, the process's print, logging and environment are put back, and a
    run that did not complete marks its MLflow parent run failed."""
    saved_env = _set_step_env(verbose)
    with open(log_path, "a", encoding="utf-8") as log:
        tee = _Tee(log, shown, verbose >= 1)
        saved = _SavedOutput.redirect_kfp_logging(tee)
        completed = False
        try:
            with contextlib.redirect_stdout(tee), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                task = pipeline(config=cfg.to_json())
            completed = True  # the register step has ended the parent run (FINISHED)
        except RuntimeError as exc:
            error = _failure(exc, tee, log_path)
            if isinstance(error, UserError) and "prepared" not in tee.events:
                raise _Refused(str(error)) from None
            raise error from None
        finally:
            shown.close()
            saved.restore()
            _restore_env(saved_env)
            if not completed:  # failed, or interrupted: no step left to end the parent run
                _mark_parent_failed_if_open(cfg, log_path)
    output: str = task.output
    return output


def _set_step_env(verbose: int) -> dict[str, str | None]:
    """Steps emit JSON events (this process renders them) at ``verbose``; the previous values."""
    from lstmtune.progress import FORMAT_ENV, VERBOSE_ENV

    saved_env = {k: os.environ.get(k) for k in (FORMAT_ENV, VERBOSE_ENV)}
    os.environ[FORMAT_ENV] = "json"
    os.environ[VERBOSE_ENV] = str(verbose)
    return saved_env


def _restore_env(saved_env: dict[str, str | None]) -> None:
    for key, value in saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@dataclass
class _SavedOutput:
    """The kfp logger's handlers, ``builtins.print`` and the root logger's handlers as they were
    before a local run. kfp.local swaps print and the root handlers per task; with parallel tasks
    (ParallelFor) the swaps interleave and can leave them patched: :meth:`restore` puts all back.
    """

    kfp_handlers: list[logging.Handler]
    kfp_propagate: bool
    print_fn: Any
    root_handlers: list[logging.Handler]

    @classmethod
    def redirect_kfp_logging(cls, tee: _Tee) -> _SavedOutput:
        """Send the kfp logger to ``tee`` only; what to restore afterwards."""
        kfp_logger = logging.getLogger("kfp")
        handler = logging.StreamHandler(tee)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        saved_kfp = kfp_logger.handlers[:], kfp_logger.propagate
        kfp_logger.handlers, kfp_logger.propagate = [handler], False
        return cls(*saved_kfp, builtins.print, logging.getLogger().handlers[:])

    def restore(self) -> None:
        kfp_logger = logging.getLogger("kfp")
        kfp_logger.handlers, kfp_logger.propagate = self.kfp_handlers, self.kfp_propagate
        builtins.print = self.print_fn
        logging.getLogger().handlers[:] = self.root_handlers


def _failure(exc: RuntimeError, tee: _Tee, log_path: Path) -> Exception:
    """The error to raise for a failed step: a user error a step reported (exit 2), else
    :class:`PipelineFailed` with the first line of kfp's error and the log's last lines."""
    if tee.user_errors:
        return UserError(tee.user_errors[-1])
    first = re.sub(r"\x1b\[[0-9;]*m", "", str(exc).splitlines()[0])
    detail = "\n".join(tee.tail)
    return PipelineFailed(f"{first}\n--- last lines of {log_path} ---\n{detail}")


def _with_run_facts(
    summary: dict[str, Any], started: float, out: Path, log_path: Path
) -> dict[str, Any]:
    return {
        **summary,
        "pipeline_seconds": round(time.perf_counter() - started, 1),
        "output_dir": str(out),
        "log": str(log_path),
    }


def _write_summary(output: str, started: float, out: Path, log_path: Path) -> dict[str, Any]:
    """The last step's summary plus where things are; written to ``summary.json`` atomically."""
    summary = _with_run_facts(json.loads(output), started, out, log_path)
    if _latest_report(out) is not None and (out / REPORT).is_file():
        summary["report"] = str(out / REPORT)
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    os.replace(tmp, out / "summary.json")
    return summary


def _latest_report(out: Path) -> Path | None:
    """The register step's HTML artifact of the newest local run."""
    reports = sorted((out / "kfp").glob("*/register/report"), key=lambda p: p.stat().st_mtime)
    return reports[-1] if reports and reports[-1].is_file() else None


def _mark_parent_failed_if_open(cfg: RunConfig, log_path: Path) -> None:
    """A run whose pipeline stopped half-way must not stay RUNNING in MLflow."""
    text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    found = re.findall(r'"parent_run_id": "([0-9a-f]+)"', text) or re.findall(
        r"; MLflow run ([0-9a-f]+)", text
    )
    if not found:
        return
    run_id = found[-1]
    with contextlib.suppress(Exception):
        from lstmtune import tracking

        c = tracking.client(cfg)
        if c.get_run(run_id).info.status == "RUNNING":
            c.set_terminated(run_id, status="FAILED")


def format_summary(s: dict[str, Any]) -> str:
    """The readable end of ``lstmtune run``."""
    lines = [
        "",
        "=" * 72,
        f"lstmtune: {s['task']} model tuned and published in {s.get('pipeline_seconds', '?')} s",
        "=" * 72,
    ]
    lines.append(
        f"trials: {s['n_trials_complete']} complete, {s['n_trials_pruned']} pruned, "
        f"{s['n_trials_failed']} failed"
        + (
            f" ({s['n_trials_reused']} reused from an earlier run)"
            if s.get("n_trials_reused")
            else ""
        )
        + f"; best validation {s['objective']} = {s['best_value']:.4g} (trial {s['best_trial']})"
    )
    lines.append("best hyperparameters:")
    width = max(len(k) for k in s["best_params"])
    for k, v in sorted(s["best_params"].items()):
        lines.append(f"  {k:<{width}}  {v:.4g}" if isinstance(v, float) else f"  {k:<{width}}  {v}")
    from lstmtune.conformal import is_interval_metric, summary_line

    metrics = [m for m in s["test_metrics"] if not is_interval_metric(m)]  # intervals: below
    header = f"  {'':<24}" + "".join(f"{m:>12}" for m in metrics)
    lines += [
        "test metrics (original units):" if s["task"] == "forecast" else "test metrics:",
        header,
    ]
    lines.append(
        f"  {'lstmtune model':<24}" + "".join(f"{s['test_metrics'][m]:>12.4g}" for m in metrics)
    )
    for name, vals in s["baseline_metrics"].items():
        lines.append(
            f"  {name:<24}" + "".join(f"{vals.get(m, float('nan')):>12.4g}" for m in metrics)
        )
    verdict = "beats" if s["beats_baseline"] else "DOES NOT beat"
    lines.append(
        f"  -> the model {verdict} the best baseline of the {s.get('gate', 'naive')} gate"
        f" ({s['best_baseline']}) on test {s['primary_metric']}"
    )
    intervals = summary_line(s["test_metrics"])  # flagged when > 10 points off nominal
    if intervals:
        lines.append(f"  {intervals}")
    from lstmtune.combine import describe_summary

    mix = describe_summary(s)
    if mix:
        lines.append(f"  {mix}")
    from lstmtune.nonnegative import describe as nonnegative_line

    kept = nonnegative_line(s.get("nonnegative"))  # only when forecasts are clipped at 0
    if kept:
        lines.append(f"  {kept}")
    if s.get("unchanged"):  # a rerun whose model the newest version already holds
        lines.append(
            f"unchanged:  {s['model_name']} version {s['model_version']} already holds this"
            f" model, nothing registered; it stays @{s['alias']} ({s['promotion_reason']})"
        )
    else:
        lines.append(
            f"registered: {s['model_name']} version {s['model_version']} -> alias @{s['alias']}"
            f" ({s['promotion_reason']})"
        )
    lines.append(
        f"load it:    mlflow.pyfunc.load_model('{s['model_uri']}')"
        f"  with MLFLOW_TRACKING_URI={s['tracking_uri']}"
    )
    lines.append(
        f"MLflow UI:  mlflow ui --backend-store-uri {s['tracking_uri']}"
        " --host 127.0.0.1 --port 5000"
    )
    lines.append(f"summary:    {s.get('output_dir', '.')}/summary.json")
    if s.get("report"):
        lines.append(
            f"report:     {s['report']}"
            f"  (or: lstmtune report --output-dir {s.get('output_dir', '.')})"
        )
    return "\n".join(lines)

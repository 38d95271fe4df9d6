"""The register step's report, drawn beside the registration instead of after it.

The plots need the study, the prepared data and the model, all there when the register step
starts; only the page needs the summary (model version, alias, promotion). So the step starts
this module as a child process first (:meth:`ReportJob.start`), which imports the plotting stack,
opens the study and draws every plot while the parent logs and registers the model; the parent
then hands it the summary (:meth:`ReportJob.finish`) and the child writes ``report.html`` (also
the KFP HTML artifact), logs it and the plots to the MLflow parent run and announces it. On two
cores the report then costs the run only what is left of it once the model is published. The
child is started only when a core is free (the 1-minute load average at least one below the core
count): on a busy machine it would only compete with the registration for the same cores
(measured on 2 cores at a load average of 5-7: 2 s slower end to end, 3 s later to the summary),
so there the parent draws the report itself once the model is registered. The summary is printed
before the page is written either way.

The request (paths, config, study name) and the summary travel as JSON lines on the child's
stdin; its stdout and stderr are the step's, so its progress event and any warning reach the
step's log. A report is a view: a child that fails, or cannot start, never fails a published
run (the parent then draws the report itself, after registration, as before).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from lstmtune import prefork

log = logging.getLogger("lstmtune")
WAIT_SECONDS = 900.0  # a report that takes longer is abandoned (the run is published already)


@dataclass(frozen=True)
class ReportRequest:
    """What the report of one run needs besides the summary."""

    config_json: str
    dataset_dir: str
    model_dir: str
    parent_run_id: str
    report_path: str  # the KFP HTML artifact (a copy of <output_dir>/report.html)
    study_name: str | None
    objective: str | None


def draw(request: ReportRequest) -> Any:
    """The plots of the run (a :class:`~lstmtune.plots.PlotSet`) in ``<output_dir>/plots``."""
    from lstmtune.config import RunConfig
    from lstmtune.plots import render_plots
    from lstmtune.report import load_study

    cfg = RunConfig.from_json(request.config_json).resolved()
    study = None
    if cfg.tune.backend == "optuna" and request.study_name:
        study = load_study({"study_name": request.study_name}, storage=str(cfg.tune.storage))
    return render_plots(
        study,
        request.dataset_dir,
        request.model_dir,
        Path(cfg.output_dir) / "plots",
        objective=request.objective,
    )


def write_page(request: ReportRequest, summary: dict[str, Any], plots: Any) -> None:
    """``report.html`` from the summary and the drawn plots; the KFP artifact; MLflow; the
    ``report`` event."""
    from lstmtune.config import RunConfig
    from lstmtune.progress import emit
    from lstmtune.report import REPORT, log_to_mlflow, render_report

    cfg = RunConfig.from_json(request.config_json).resolved()
    html = Path(cfg.output_dir) / REPORT  # named report.html in MLflow too
    tmp = html.with_name(html.name + ".tmp")
    tmp.write_text(render_report(summary, plots), encoding="utf-8")
    tmp.replace(html)
    Path(request.report_path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(html, request.report_path)
    if request.parent_run_id:
        log_to_mlflow(str(cfg.mlflow.tracking_uri), request.parent_run_id, html, plots)
    emit(
        "report",
        f"report with {len(plots.files())} plots written",
        report=str(html),
        plots_dir=str(Path(cfg.output_dir) / "plots"),
    )


def spare_core(free: float = 1.0) -> bool:
    """Whether the 1-minute load average leaves ``free`` cores idle for a helper process (the
    report's drawing beside the registration: a whole core; a step's helpers: half a core, see
    :mod:`lstmtune.steps`)."""
    try:
        return (os.cpu_count() or 1) - os.getloadavg()[0] >= free
    except OSError:  # no load average on this platform
        return False


def write_report_now(request: ReportRequest, summary: dict[str, Any]) -> None:
    """Draw and write the report in this process; never raises."""
    try:
        write_page(request, summary, draw(request))
    except Exception:
        log.warning("lstmtune: the report could not be written", exc_info=True)


class ReportJob:
    """A report being drawn in a child process (``proc`` None: it could not be started)."""

    def __init__(self, request: ReportRequest, proc: prefork.ChildProcess | None) -> None:
        self.request, self.proc = request, proc

    @classmethod
    def start(cls, request: ReportRequest, *, parallel: bool | None = None) -> ReportJob:
        """A child process drawing the plots now (``parallel`` None: when :func:`spare_core`);
        otherwise a job that draws everything in :meth:`finish`."""
        if not (spare_core() if parallel is None else parallel):
            return cls(request, None)
        try:
            proc = prefork.popen("lstmtune.report_job", stdin=True)
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(asdict(request)) + "\n")
            proc.stdin.flush()
        except Exception:
            log.warning("lstmtune: report process not started; drawing it after", exc_info=True)
            return cls(request, None)
        return cls(request, proc)

    def finish(self, summary: dict[str, Any]) -> None:
        """Hand the summary over and wait for the page; never raises."""
        if self.proc is None:
            write_report_now(self.request, summary)
            return
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(summary, default=str) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=WAIT_SECONDS)
        except Exception:
            log.warning("lstmtune: the report could not be written", exc_info=True)
            self.proc.kill()

    def cancel(self) -> None:
        """The step failed: the child sees the end of its input and draws no page."""
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()


def _child(stdin: IO[str]) -> None:
    request = ReportRequest(**json.loads(stdin.readline()))
    try:
        plots = draw(request)
    except Exception:
        from lstmtune.plots import PlotSet

        log.warning("lstmtune: the report's plots could not be drawn", exc_info=True)
        plots = PlotSet()
    line = stdin.readline()  # the summary once the model is registered; '' if the step failed
    if not line:
        return
    try:
        write_page(request, json.loads(line), plots)
    except Exception:
        log.warning("lstmtune: the report could not be written", exc_info=True)


def main() -> None:
    """The child's entry point (``python -m lstmtune.report_job``, or forked by the run's step
    server): the request and then the summary on stdin."""
    logging.basicConfig(format="%(message)s")
    _child(sys.stdin)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()


if __name__ == "__main__":  # pragma: no cover - run by ReportJob.start
    main()
    os._exit(0)  # no interpreter teardown: the register step is waiting

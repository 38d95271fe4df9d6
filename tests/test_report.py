"""Plots and the self-contained HTML report, on real tiny runs through kfp.local, checked as files
and in a headless browser (Debian's chromium) with the network off."""

from __future__ import annotations

import json
import math
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import TINY_SPACE, make_classify_frame

from lstmtune.config import load_config
from lstmtune.plots import (
    PLOTS,
    confusion_matrix,
    forecast_test_frame,
    param_importances,
    render_plots,
    write_plots,
)
from lstmtune.report import (
    REPORT,
    build_report,
    find_run_artifacts,
    log_to_mlflow,
    markdown_summary,
    render_report,
)
from lstmtune.runner import run_local

CHROMIUM = "/usr/bin/chromium"
STUDY_PLOTS = {
    "optimization_history",
    "param_importances",
    "parallel_coordinate",
    "intermediate_values",
    "slice",
    "contour",
}
FORECAST_PLOTS = STUDY_PLOTS | {"forecast", "training_curve"}
CLASSIFY_PLOTS = STUDY_PLOTS | {"confusion_matrix", "training_curve"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(out: Path, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "tune.n_trials": 5,
        "tune.search_space": dict(TINY_SPACE),
        "train.patience": 3,
        "output_dir": str(out),
    }
    base.update(overrides)
    summary: dict[str, Any] = run_local(load_config(None, base).resolved())
    return summary


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("report-forecast")
    summary = _run(out)
    return out, summary, build_report(str(out))


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("report-classify")
    data = out / "sequences.csv"
    make_classify_frame().to_csv(data, index=False)
    summary = _run(
        out / "run",
        **{
            "data.path": str(data),
            "data.task": "classify",
            "data.sequence_column": "seq",
            "data.label": "y",
            "data.time_column": "t",
            "tune.n_trials": 4,
            "tune.pruner": "none",  # four completed trials: the contour plot needs three
        },
    )
    return out / "run", summary, build_report(str(out / "run"))


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _sections(page: str) -> set[str]:
    return set(re.findall(r'<section class="plot" id="([a-z_]+)"', page))


def _assert_self_contained(page: str) -> None:
    assert not re.search(r"""src\s*=\s*["']?\s*(https?:)?//""", page, re.I), (
        "a resource is loaded from the network"
    )
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I), (
        "a script is loaded from a file or URL"
    )
    assert not re.search(r"<link[^>]*\bhref\s*=", page, re.I), (
        "a stylesheet is loaded from a file or URL"
    )
    images = re.findall(r'<img[^>]*\bsrc="([^"]*)"', page)
    assert images, "no inlined images"
    assert all(src.startswith("data:image/png;base64,") for src in images)
    import plotly.offline

    plotly_js = plotly.offline.get_plotlyjs()
    assert page.count(plotly_js[:500]) == 1, "plotly.js must be embedded exactly once"


@pytest.mark.slow
def test_forecast_report_is_self_contained_and_complete(
    forecast_run: tuple[Path, dict[str, Any], str],
) -> None:
    out, summary, path = forecast_run
    assert path == str(out / REPORT)
    page = Path(path).read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert summary["model_name"] in page and f"v{summary['model_version']}" in page
    assert f"@{summary['alias']}" in page and summary["promotion_reason"] in page
    for name, value in summary["test_metrics"].items():
        if name.startswith("coverage_"):  # the intervals line: "80% covers 63.6% ..."
            assert f"{name.removeprefix('coverage_')}% covers {value:.1f}%" in page
        elif not name.startswith("width_"):
            assert f"{value:.4g}" in page, f"test {name} missing"
    for baseline, values in summary["baseline_metrics"].items():
        assert baseline in page and f"{values['rmse']:.4g}" in page
    for param in summary["best_params"]:
        assert param in page
    assert _sections(page) == FORECAST_PLOTS
    for name in FORECAST_PLOTS:
        assert PLOTS[name][0] in page
    assert page.count("Plotly.newPlot(") == len(FORECAST_PLOTS)  # every plot is interactive too


@pytest.mark.slow
def test_plots_are_real_pngs_and_offline_html(
    forecast_run: tuple[Path, dict[str, Any], str],
) -> None:
    out, _, _ = forecast_run
    plots = out / "plots"
    for name in FORECAST_PLOTS:
        png = plots / f"{name}.png"
        width, height = _png_size(png)
        assert width >= 400 and height >= 250 and png.stat().st_size > 8_000, name
        html_page = (plots / f"{name}.html").read_text()
        assert (
            '<script charset="utf-8" src="plotly.min.js"></script>' in html_page
            or 'src="plotly.min.js"' in html_page
        )
        assert not re.search(r'src="https?://', html_page)
    assert (plots / "plotly.min.js").stat().st_size > 1_000_000  # written once, beside the pages


@pytest.mark.slow
def test_forecast_plot_shows_the_evaluated_model_and_baselines(
    forecast_run: tuple[Path, dict[str, Any], str],
) -> None:
    out, summary, _ = forecast_run
    dataset, model = find_run_artifacts(out, summary)
    assert dataset is not None and model is not None
    frame = forecast_test_frame(dataset, model)
    assert len(frame) == json.loads((model / "evaluation.json").read_text())["n_test"]

    def rmse(col: str) -> float:
        return math.sqrt(float(((frame[col] - frame["actual"]) ** 2).mean()))

    # the plotted forecasts go through the serving Predictor and reproduce the evaluation exactly
    assert rmse("model") == pytest.approx(summary["test_metrics"]["rmse"], rel=1e-6)
    for baseline, values in summary["baseline_metrics"].items():
        assert rmse(baseline) == pytest.approx(values["rmse"], rel=1e-9)


@pytest.mark.slow
def test_classification_report_has_a_confusion_matrix(
    classify_run: tuple[Path, dict[str, Any], str],
) -> None:
    out, summary, path = classify_run
    page = Path(path).read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert _sections(page) == CLASSIFY_PLOTS
    assert "forecast" not in _sections(page)
    _png_size(out / "plots" / "confusion_matrix.png")
    dataset, model = find_run_artifacts(out, summary)
    assert dataset is not None and model is not None
    classes, matrix, counted = confusion_matrix(dataset, model)
    assert classes == ["ramp", "wave"] and counted == "sequences"
    assert int(matrix.sum()) == json.loads((model / "evaluation.json").read_text())["n_test"]
    assert float(matrix.trace() / matrix.sum()) == pytest.approx(
        summary["test_metrics"]["accuracy"]
    )
    assert f"{summary['test_metrics']['macro_f1']:.4g}" in page and "majority_class" in page


@pytest.mark.slow
def test_report_and_plots_are_logged_to_the_mlflow_run(
    forecast_run: tuple[Path, dict[str, Any], str],
) -> None:
    from mlflow.tracking import MlflowClient

    out, summary, path = forecast_run
    dataset, model = find_run_artifacts(out, summary)
    study = optuna.load_study(study_name=summary["study_name"], storage=summary["storage"])
    files = write_plots(study, dataset, model, out / "plots-mlflow")
    assert set(files) == FORECAST_PLOTS and all(set(v) == {"png", "html"} for v in files.values())
    log_to_mlflow(summary["tracking_uri"], summary["parent_run_id"], path, files)
    client = MlflowClient(summary["tracking_uri"])
    report = [a.path for a in client.list_artifacts(summary["parent_run_id"], "report")]
    plots = {a.path for a in client.list_artifacts(summary["parent_run_id"], "plots")}
    assert report == ["report/report.html"]
    assert {f"plots/{n}.png" for n in FORECAST_PLOTS} <= plots


def _job_request(
    forecast_run: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> tuple[Any, dict[str, Any], Path]:
    """A report request for the finished forecast run, writing under ``tmp_path``."""
    from lstmtune.report_job import ReportRequest

    out, summary, _ = forecast_run
    dataset, model = find_run_artifacts(out, summary)
    cfg = load_config(
        None, {"output_dir": str(tmp_path / "out"), "tune.storage": summary["storage"]}
    ).resolved()
    (tmp_path / "out").mkdir()
    request = ReportRequest(
        cfg.to_json(),
        str(dataset),
        str(model),
        "",
        str(tmp_path / "kfp" / "report"),
        summary["study_name"],
        summary["objective"],
    )
    return request, summary, tmp_path / "out"


@pytest.mark.slow
def test_report_job_draws_in_a_child_and_writes_the_page_once_given_the_summary(
    forecast_run: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    """What the register step does: the child draws while the model is being registered, then
    writes report.html (and the KFP artifact, a copy) from the summary it is handed."""
    from lstmtune.report_job import ReportJob

    request, summary, out = _job_request(forecast_run, tmp_path)
    job = ReportJob.start(request, parallel=True)
    assert job.proc is not None  # a child process, not the step's own
    job.finish(summary)
    assert job.proc.returncode == 0
    page = (out / REPORT).read_text()
    assert (tmp_path / "kfp" / "report").read_text() == page
    assert {"forecast", "optimization_history", "training_curve"} <= _sections(page)
    assert f"v{summary['model_version']}" in page
    assert {p.name for p in (out / "plots").glob("*.png")} >= {"forecast.png"}


@pytest.mark.slow
def test_a_cancelled_report_job_writes_no_page(
    forecast_run: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    """The register step failed: the child gets no summary and leaves no report behind."""
    from lstmtune.report_job import ReportJob

    request, _, out = _job_request(forecast_run, tmp_path)
    job = ReportJob.start(request, parallel=True)
    job.cancel()
    assert job.proc is not None and job.proc.wait(timeout=300) == 0
    assert not (out / REPORT).exists()
    assert not (tmp_path / "kfp" / "report").exists()


@pytest.mark.slow
def test_report_job_on_a_busy_machine_draws_after_registration(
    forecast_run: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    from lstmtune.report_job import ReportJob

    request, summary, out = _job_request(forecast_run, tmp_path)
    job = ReportJob.start(request, parallel=False)
    assert job.proc is None and not (out / REPORT).exists()  # nothing drawn before the summary
    job.finish(summary)
    assert "forecast" in _sections((out / REPORT).read_text())


@pytest.mark.slow
def test_markdown_summary_for_kfp(forecast_run: tuple[Path, dict[str, Any], str]) -> None:
    _, summary, _ = forecast_run
    md = markdown_summary(summary)
    assert md.startswith(f"## {summary['model_name']} version {summary['model_version']}")
    assert f"**{summary['test_metrics']['rmse']:.4g}**" in md
    assert "| persistence |" in md and "### Best hyperparameters" in md
    assert "<" not in md.replace("<br>", "")  # plain Markdown, no HTML


@pytest.mark.slow
def test_challenger_report_compares_with_the_champion(
    forecast_run: tuple[Path, dict[str, Any], str],
) -> None:
    _, summary, _ = forecast_run
    new = summary["test_metrics"]["rmse"]
    challenger = {
        **summary,
        "alias": "challenger",
        "model_version": "7",
        "previous_champion_version": "6",
        "previous_champion_metric": new * 0.5,
        "promotion_reason": f"test rmse {new:.4g} does not beat the champion's {new * 0.5:.4g}",
    }
    from lstmtune.plots import PlotSet

    page = render_report(challenger, PlotSet())
    champion = page[page.index('id="champion"') : page.index('id="params"')]
    assert "@challenger" in champion and f"{new:.4g}" in champion and f"{new * 0.5:.4g}" in champion
    assert "is worse by" in champion and "100.0%" in champion
    assert "no champion before" not in champion
    first = render_report(summary, PlotSet())
    assert (
        "no champion before this run"
        in first[first.index('id="champion"') : first.index('id="params"')]
    )


def _quadratic_study(n_trials: int, params: int) -> optuna.Study:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        values = [trial.suggest_float(f"x{i}", -1, 1) for i in range(params)]
        for step in range(3):
            trial.report(sum(v * v for v in values) + 1 / (step + 1), step)
        return sum(v * v for v in values)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=n_trials)
    return study


def test_plots_degrade_gracefully_on_tiny_studies(tmp_path: Path) -> None:
    one = render_plots(_quadratic_study(1, 2), None, None, tmp_path / "one")
    assert {p.name for p in one.plots} == {"optimization_history", "intermediate_values"}
    assert "at least 2 completed trials" in one.skipped["param_importances"]
    assert "no hyperparameter varies" in one.skipped["slice"]
    assert {"parallel_coordinate", "contour", "forecast", "training_curve"} <= one.skipped.keys()

    single = _quadratic_study(4, 1)
    assert param_importances(single) == {"x0": 1.0}
    rendered = render_plots(single, None, None, tmp_path / "single")
    names = {p.name for p in rendered.plots}
    assert "param_importances" in names and "contour" in rendered.skipped
    note = next(p.note for p in rendered.plots if p.name == "param_importances")
    assert "Only one hyperparameter" in note

    empty = write_plots(optuna.create_study(), None, None, tmp_path / "empty")
    assert empty == {}


def test_a_broken_model_dir_is_skipped_not_raised(tmp_path: Path) -> None:
    dataset, model = tmp_path / "dataset", tmp_path / "model"
    dataset.mkdir()
    model.mkdir()
    (dataset / "metadata.json").write_text(json.dumps({"task": "forecast"}))
    (model / "spec.json").write_text("{not json")
    result = render_plots(_quadratic_study(5, 2), dataset, model, tmp_path / "plots")
    assert result.skipped["forecast"].startswith("failed:")
    assert {p.name for p in result.plots} >= STUDY_PLOTS
    page = render_report({"model_name": "m", "model_version": "1", "alias": "champion"}, result)
    assert "Plots not drawn" in page and "Forecast vs. actual" in page


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"{CHROMIUM} not installed (Debian: apt-get install -y chromium)",
)
def test_report_renders_offline_in_headless_chromium(
    forecast_run: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    _, _, path = forecast_run
    # a copy alone in an empty directory: nothing next to it to load
    alone = tmp_path / "alone" / "report.html"
    alone.parent.mkdir()
    shutil.copy(path, alone)
    shot = tmp_path / "report.png"
    done = _chromium(
        f"--screenshot={shot}", "--window-size=1280,2000", alone.as_uri(), tmp=tmp_path
    )
    assert shot.is_file(), done.stderr[-2000:]
    assert _png_size(shot) == (1280, 2000) and shot.stat().st_size > 50_000

    dom = _chromium(
        "--virtual-time-budget=5000",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        alone.as_uri(),
        tmp=tmp_path,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = dom.stdout
    # plotly.js ran offline and drew every interactive plot
    assert len(re.findall(r'class="plot-container plotly"', rendered)) == len(FORECAST_PLOTS)
    assert len(re.findall(r'class="main-svg"', rendered)) >= 2 * len(FORECAST_PLOTS)
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not [line for line in console if "Uncaught" in line or ":ERROR:CONSOLE" in line], (
        "\n".join(console)
    )


def test_interval_metrics_are_a_line_not_columns_of_the_metrics_tables() -> None:
    from lstmtune.report import markdown_summary
    from lstmtune.report_sections import _metrics_table

    summary = {
        "test_metrics": {"rmse": 19.5, "mae": 14.9, "coverage_80": 72.7, "width_80": 34.0},
        "baseline_metrics": {"auto_arima": {"rmse": 17.5, "mae": 13.6}},
        "primary_metric": "rmse",
        "beats_baseline": False,
        "best_baseline": "auto_arima",
        "gate": "classical",
    }
    html = _metrics_table(summary)
    assert "coverage_80" not in html and "width_80" not in html
    assert "80% covers 72.7% (mean width 34)" in html
    md = markdown_summary(summary)
    assert "coverage_80 |" not in md and "80% covers 72.7%" in md

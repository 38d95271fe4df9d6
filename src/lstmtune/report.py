"""One self-contained HTML report of a finished run, and a Markdown summary for KFP.

``report.html`` needs no network and no other file: PNGs are base64 ``data:`` URIs and plotly.js
is embedded once, inline. It shows the registry outcome, the trials, the best hyperparameters,
test metrics against the naive and classical baselines (the gate's best named), the comparison
with the champion and every plot of
:mod:`lstmtune.plots`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lstmtune.plots import PlotSet, render_plots
from lstmtune.report_sections import (
    CSS,
    _champion_section,
    _esc,
    _margin,
    _metrics_table,
    _num,
    _params_table,
    _pareto_section,
    _plot_sections,
    _seconds,
    _series_section,
    _table,
)

log = logging.getLogger("lstmtune")

REPORT = "report.html"
PLOTS_DIR = "plots"


# --------------------------------------------------------------------------- locating a run


def find_run_artifacts(
    output_dir: str | Path, summary: dict[str, Any] | None = None
) -> tuple[Path | None, Path | None]:
    """The prepared dataset dir and the model dir of the run behind ``summary`` under
    ``output_dir/kfp/``: the kfp run whose register output names the same MLflow parent run,
    else the newest kfp run that has both."""
    root = Path(output_dir) / "kfp"
    if not root.is_dir():
        return None, None
    runs = sorted(
        (d for d in root.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime, reverse=True
    )
    candidates: list[tuple[Path, Path]] = []
    for run in runs:
        dataset = next(
            (
                p.parent
                for p in sorted(run.glob("*/*/metadata.json"))
                if (p.parent / "test.parquet").is_file()
            ),
            None,
        )
        model = next(
            (
                p.parent
                for p in sorted(run.glob("*/*/spec.json"))
                if (p.parent / "weights.pt").is_file()
            ),
            None,
        )
        if dataset is None or model is None:
            continue
        candidates.append((dataset, model))
        if (
            summary
            and summary.get("parent_run_id")
            and _run_matches(run, str(summary["parent_run_id"]))
        ):
            return dataset, model
    return candidates[0] if candidates else (None, None)


def _run_matches(run: Path, parent_run_id: str) -> bool:
    for path in run.glob("*/summary"):
        try:
            if json.loads(path.read_text()).get("parent_run_id") == parent_run_id:
                return True
        except (OSError, ValueError, AttributeError):
            continue
    return False


def load_study(
    summary: dict[str, Any], output_dir: str | Path | None = None, storage: str | None = None
) -> Any:
    """The run's ``optuna.Study`` (None when it cannot be opened). A redacted storage URL (password
    hidden) cannot be opened: pass ``storage``, else ``<output_dir>/optuna.db`` is tried."""
    import optuna

    urls = [u for u in (storage, summary.get("storage")) if u and "***" not in u]
    if output_dir is not None and (Path(output_dir) / "optuna.db").is_file():
        urls.append(f"sqlite:///{Path(output_dir).resolve() / 'optuna.db'}")
    name = summary.get("study_name")
    if not name:
        return None
    for url in urls:
        try:
            return optuna.load_study(study_name=str(name), storage=url)
        except Exception as exc:
            log.info("lstmtune: study %s not in %s: %s", name, url, exc)
    return None


def render_report(
    summary: dict[str, Any],
    plots: PlotSet,
    *,
    champion: dict[str, Any] | None = None,
    interactive: bool = True,
) -> str:
    """The report page (a string) for a run summary and rendered plots."""
    import plotly.offline  # type: ignore[import-untyped]

    s = summary
    alias = str(s.get("alias", ""))
    title = f"{s.get('model_name', 'lstmtune')} v{s.get('model_version', '?')}"
    overview, tuning = _overview_rows(s), _tuning_rows(s)
    plot_links = "".join(f'<a href="#{_esc(p.name)}">{_esc(p.title)}</a>' for p in plots.plots)
    plotly_js = ""
    if interactive and any(p.figure is not None for p in plots.plots):
        plotly_js = f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">\
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lstmtune report — {_esc(title)}</title><style>{CSS}</style>{plotly_js}</head>
<body>
<header><h1>{_esc(title)} <span class="badge {_esc(alias)}">@{_esc(alias)}</span></h1>
<div class="sub">lstmtune {_esc(s.get("task", ""))} run · \
test {_esc(s.get("primary_metric", ""))} = \
{_esc(_num((s.get("test_metrics") or {}).get(s.get("primary_metric", ""))))} · \
generated {generated}</div></header>
<main>
<nav><a href="#summary">Summary</a><a href="#metrics">Test metrics</a>\
<a href="#champion">Champion</a><a href="#params">Hyperparameters</a>{plot_links}</nav>
<div class="cols" id="summary">
<div class="card"><h2>Model</h2>{_table(overview)}</div>
<div class="card"><h2>Tuning</h2>{_table(tuning)}</div>
</div>
<div class="card" id="metrics"><h2>Test metrics vs. baselines</h2>\
{_metrics_table(s)}</div>
<div class="card" id="champion"><h2>Comparison with the champion</h2>\
{_champion_section(s, champion)}</div>
<div class="card" id="params"><h2>Best hyperparameters</h2>\
{_params_table(s.get("best_params") or {})}</div>
{_pareto_section(s)}
{_series_section(s)}
<h2 id="plots">Plots</h2>
{_plot_sections(plots, interactive)}
</main>
<footer>Generated by lstmtune from {_esc(s.get("output_dir", ""))}. \
Self-contained: no network access needed.</footer>
</body></html>
"""


def _promotion(s: dict[str, Any]) -> str:
    """Why the version holds its alias; for a run that registered nothing (its model was the
    newest version already), that first."""
    reason = str(s.get("promotion_reason") or "—")
    if s.get("unchanged"):
        held = f"version {s.get('model_version')} already held this model"
        return f"nothing registered, {held}; {reason}"
    return reason


def _overview_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    """The report's "Model" card: name, alias, promotion, how to load it, the data."""
    alias = str(s.get("alias", ""))
    overview: list[tuple[str, str]] = [
        (
            "model",
            f"<code>{_esc(s.get('model_name'))}</code> version "
            f"<b>{_esc(s.get('model_version'))}</b> "
            f'<span class="badge {_esc(alias)}">@{_esc(alias)}</span>',
        ),
        ("promotion", _esc(_promotion(s))),
        ("load it", f"<code>mlflow.pyfunc.load_model('{_esc(s.get('model_uri', ''))}')</code>"),
        ("task", _esc(s.get("task", "—"))),
        ("data", f"<code>{_esc(s.get('data_source', '—'))}</code>"),
        ("data sha256", f"<code>{_esc(str(s.get('data_sha256', '—'))[:16])}…</code>"),
    ]
    return overview


def _tuning_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    """The report's "Tuning" card: trials, best validation, study, times, strategy extras."""
    trials = (
        f"{s.get('n_trials_complete', '—')} complete, {s.get('n_trials_pruned', '—')} pruned, "
        f"{s.get('n_trials_failed', '—')} failed"
        + (f" ({s['n_trials_reused']} reused)" if s.get("n_trials_reused") else "")
    )
    tuning: list[tuple[str, str]] = [
        ("trials", _esc(trials)),
        (
            "best validation",
            f"<code>{_esc(s.get('objective'))}</code> = <b>{_esc(_num(s.get('best_value')))}</b>"
            f" (trial {_esc(s.get('best_trial'))}, epoch {_esc(s.get('best_epoch'))})",
        ),
        ("study", f"<code>{_esc(s.get('study_name'))}</code>"),
        ("storage", f"<code>{_esc(s.get('storage'))}</code>"),
        ("tuning time", _esc(_seconds(s.get("tune_seconds")))),
        ("pipeline time", _esc(_seconds(s.get("pipeline_seconds")))),
        (
            "MLflow",
            f"<code>{_esc(s.get('tracking_uri'))}</code> run "
            f"<code>{_esc(s.get('parent_run_id'))}</code>",
        ),
    ]
    extra = s.get("tune_extra") or {}
    if extra.get("subset"):
        tuning.append(
            (
                "start small",
                f"tuned on {float(extra['subset']):.0%} of the training data;"
                " retrained on all of train + val",
            )
        )
    if extra.get("strategy") == "pbt":
        tuning.append(
            (
                "strategy",
                f"population-based training: {extra.get('population')} members, "
                f"{extra.get('rounds')} rounds of {extra.get('epochs_per_round')} epochs "
                "(schedule: <code>pbt_schedule.json</code>)",
            )
        )
    return tuning


def write_report(
    summary: dict[str, Any],
    out_path: str | Path,
    *,
    study: Any = None,
    dataset_dir: str | Path | None = None,
    model_dir: str | Path | None = None,
    plots_dir: str | Path | None = None,
    champion: dict[str, Any] | None = None,
) -> tuple[str, PlotSet]:
    """Draw the plots into ``plots_dir`` (default: ``plots/`` beside ``out_path``) and write the
    report. Usable inside a pipeline step, where the summary is in memory. Returns the report path
    and the plots."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    plots = render_plots(
        study,
        dataset_dir,
        model_dir,
        plots_dir or out.parent / PLOTS_DIR,
        objective=summary.get("objective"),
    )
    page = render_report(summary, plots, champion=champion)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return str(out), plots


def build_report(
    output_dir: str, *, champion: dict[str, Any] | None = None, storage: str | None = None
) -> str:
    """Read the finished run in ``output_dir`` (``summary.json``, the Optuna study, the newest
    matching kfp run's dataset and model), write ``plots/`` and ``report.html``; returns its
    path."""
    from lstmtune.errors import UserError

    root = Path(output_dir)
    summary_path = root / "summary.json"
    if not summary_path.is_file():
        raise UserError(
            f"{summary_path}: no run summary (run `lstmtune run --output-dir {output_dir}` first)"
        )
    summary: dict[str, Any] = json.loads(summary_path.read_text())
    summary.setdefault("output_dir", str(root))
    dataset_dir, model_dir = find_run_artifacts(root, summary)
    if dataset_dir is None:
        log.warning(
            "lstmtune: no kfp run with a dataset and a model under %s;"
            " the report has no model plots",
            root / "kfp",
        )
    study = load_study(summary, root, storage)
    path, _ = write_report(
        summary,
        root / REPORT,
        study=study,
        dataset_dir=dataset_dir,
        model_dir=model_dir,
        plots_dir=root / PLOTS_DIR,
        champion=champion,
    )
    return path


def log_to_mlflow(
    tracking_uri: str,
    run_id: str,
    report_path: str | Path,
    plots: dict[str, dict[str, str]] | PlotSet,
) -> None:
    """Log ``report.html`` (artifact ``report/``) and the plot PNGs and HTML pages (``plots/``) to
    an MLflow run (it may already be finished). Failures are logged, never raised."""
    try:
        from mlflow.tracking import MlflowClient

        files = plots.files() if isinstance(plots, PlotSet) else plots
        client = MlflowClient(tracking_uri=tracking_uri)
        client.log_artifact(run_id, str(report_path), artifact_path="report")
        for entry in files.values():
            for path in entry.values():
                client.log_artifact(run_id, path, artifact_path=PLOTS_DIR)
    except Exception:
        log.warning("lstmtune: report not logged to MLflow run %s", run_id, exc_info=True)


def markdown_summary(summary: dict[str, Any]) -> str:
    """The run in Markdown (a KFP ``Markdown`` artifact / MLflow description)."""
    s = summary
    metric = s.get("primary_metric", "")
    from lstmtune.conformal import is_interval_metric, summary_line

    test = s.get("test_metrics") or {}
    metrics = [m for m in test if not is_interval_metric(m)]  # intervals: a line below
    lines = [
        f"## {s.get('model_name')} version {s.get('model_version')} → `@{s.get('alias')}`",
        "",
        f"**Promotion:** {_promotion(s)}",
        "",
        f"**Trials:** {s.get('n_trials_complete', '—')} complete, "
        f"{s.get('n_trials_pruned', '—')} pruned, {s.get('n_trials_failed', '—')} failed"
        + (f" ({s['n_trials_reused']} reused)" if s.get("n_trials_reused") else "")
        + f"; best validation `{s.get('objective')}` = {_num(s.get('best_value'))}"
        f" (trial {s.get('best_trial')})"
        + (
            f"; tuning {_seconds(s.get('tune_seconds'))}"
            if s.get("tune_seconds") is not None
            else ""
        ),
        "",
        "### Test metrics",
        "",
        "| | " + " | ".join(f"{m}{' ★' if m == metric else ''}" for m in metrics) + " |",
        "|---|" + "---:|" * len(metrics),
        "| **lstmtune model** | " + " | ".join(f"**{_num(test.get(m))}**" for m in metrics) + " |",
    ]
    for name, vals in (s.get("baseline_metrics") or {}).items():
        lines.append(f"| {name} | " + " | ".join(_num(vals.get(m)) for m in metrics) + " |")
    intervals = summary_line(test)
    if intervals:  # plain Markdown: no "<-" arrow
        lines += ["", f"Prediction {intervals.replace('  <- FLAG:', ' — **flag**:')}."]
    from lstmtune.combine import describe_summary

    mix = describe_summary(s)
    if mix:
        lines += ["", mix[0].upper() + mix[1:] + "."]
    from lstmtune.nonnegative import describe as nonnegative_line

    kept = nonnegative_line(s.get("nonnegative"))
    if kept:
        lines += ["", kept[0].upper() + kept[1:] + "."]
    if "beats_baseline" in s:
        lines += [
            "",
            f"The model {'beats' if s['beats_baseline'] else '**does not beat**'} the best"
            f" {s.get('gate', 'naive')} baseline (`{s.get('best_baseline')}`) on test"
            f" `{metric}`{_margin(s)}.",
        ]
    if (
        s.get("previous_champion_version") is not None
        or s.get("previous_champion_metric") is not None
    ):
        lines += [
            "",
            f"**Champion:** version {s.get('previous_champion_version')} scores "
            f"{_num(s.get('previous_champion_metric'))} "
            f"on this test split vs. {_num(test.get(metric))} for the new version.",
        ]
    lines += ["", "### Best hyperparameters", "", "| parameter | value |", "|---|---|"]
    lines += [f"| {k} | `{_num(v)}` |" for k, v in sorted((s.get("best_params") or {}).items())]
    lines += [
        "",
        f"Load: `mlflow.pyfunc.load_model('{s.get('model_uri')}')`"
        f" with `MLFLOW_TRACKING_URI={s.get('tracking_uri')}`",
        "",
    ]
    return "\n".join(lines)

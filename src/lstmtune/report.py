"""One self-contained HTML report of a finished run, and a Markdown summary for KFP.

``report.html`` needs no network and no other file: PNGs are base64 ``data:`` URIs and plotly.js
is embedded once, inline. It shows the registry outcome, the trials, the best hyperparameters,
test metrics against the naive and classical baselines (the gate's best named), the comparison
with the champion and every plot of
:mod:`lstmtune.plots`.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lstmtune.evaluate import HIGHER_IS_BETTER, margin
from lstmtune.plots import PLOTS, PlotSet, render_plots

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


# --------------------------------------------------------------------------- formatting


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if 1e4 <= abs(value) < 1e12:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def _seconds(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _table(rows: list[tuple[str, str]], cls: str = "kv") -> str:
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{body}</table>'


def _metrics_table(summary: dict[str, Any]) -> str:
    test = summary.get("test_metrics") or {}
    baselines = summary.get("baseline_metrics") or {}
    metrics = list(test)
    primary = summary.get("primary_metric")
    rows = [
        ("lstmtune model", test, True),
        *((name, vals, False) for name, vals in baselines.items()),
    ]
    best: dict[str, float] = {}
    for m in metrics:
        values = [
            float(r[1][m])
            for r in rows
            if isinstance(r[1].get(m), int | float) and math.isfinite(float(r[1][m]))
        ]
        if values:
            best[m] = max(values) if HIGHER_IS_BETTER.get(m, False) else min(values)
    head = "".join(
        f'<th class="num">{_esc(m)}{" ★" if m == primary else ""} '
        f'<span class="dir">{"↑" if HIGHER_IS_BETTER.get(m, False) else "↓"}</span></th>'
        for m in metrics
    )
    body = []
    for name, vals, is_model in rows:
        cells = []
        for m in metrics:
            v = vals.get(m)
            mark = (
                ' class="num best"'
                if isinstance(v, int | float) and m in best and float(v) == best[m]
                else ' class="num"'
            )
            cells.append(f"<td{mark}>{_esc(_num(v))}</td>")
        body.append(
            f"<tr{' class=model' if is_model else ''}><th>{_esc(name)}</th>{''.join(cells)}</tr>"
        )
    verdict = ""
    if "beats_baseline" in summary:
        ok = bool(summary["beats_baseline"])
        verdict = (
            f'<p class="verdict {"good" if ok else "bad"}">The model '
            f"{'beats' if ok else 'does <b>not</b> beat'} the best"
            f" {_esc(summary.get('gate', 'naive'))} baseline"
            f" (<code>{_esc(summary.get('best_baseline', ''))}</code>) on test "
            f"<code>{_esc(primary)}</code>{_esc(_margin(summary))}.</p>"
        )
    return (
        f'<table class="grid metrics"><thead><tr><th></th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{verdict}"
    )


def _champion_section(summary: dict[str, Any], champion: dict[str, Any] | None) -> str:
    metric = str(summary.get("primary_metric", ""))
    new = (summary.get("test_metrics") or {}).get(metric)
    champ = dict(champion or {})
    version = champ.get("version", summary.get("previous_champion_version"))
    value = champ.get("metric", summary.get("previous_champion_metric"))
    alias = summary.get("alias")
    reason = _esc(summary.get("promotion_reason", ""))
    if version is None and value is None:
        return (
            "<p>There was no champion before this run: version "
            f"{_esc(summary.get('model_version'))} is "
            f'<span class="badge {_esc(alias)}">@{_esc(alias)}</span> ({reason}).</p>'
        )
    rows = [("", "version", f"test {_esc(metric)}")]
    rows.append(
        (
            "this run",
            f"{_esc(summary.get('model_version'))} "
            f'<span class="badge {_esc(alias)}">@{_esc(alias)}</span>',
            _esc(_num(new)),
        )
    )
    champ_alias = "champion" if alias != "champion" else "previous champion"
    rows.append(
        (
            champ_alias,
            _esc(version if version is not None else "—"),
            _esc(_num(value)) if value is not None else "not comparable",
        )
    )
    table = "".join(
        f"<tr><th>{a}</th><td>{b}</td><td class=num>{c}</td></tr>" for a, b, c in rows[1:]
    )
    delta = ""
    if (
        isinstance(new, int | float)
        and isinstance(value, int | float)
        and math.isfinite(float(value))
        and float(value) != 0
    ):
        diff = float(new) - float(value)
        better_is_up = HIGHER_IS_BETTER.get(metric, False)
        improved = diff > 0 if better_is_up else diff < 0
        delta = (
            f'<p class="verdict {"good" if improved else "bad"}">{_esc(metric)} '
            f"{'improves' if improved else 'is worse'} by "
            f"{abs(diff):.4g} ({abs(diff) / abs(float(value)):.1%}) against the champion, "
            "both scored on this run's test split.</p>"
        )
    note = champ.get("note") or (
        "The champion was re-scored on this run's test split."
        if summary.get("previous_champion_metric") is not None
        else ""
    )
    return (
        '<table class="grid"><thead><tr><th></th><th>version</th>'
        f"<th class=num>test {_esc(metric)}</th></tr></thead><tbody>{table}</tbody></table>"
        f'{delta}<p>Decision: <span class="badge {_esc(alias)}">@{_esc(alias)}</span> — '
        f"{reason}. {_esc(note)}</p>"
    )


def _pareto_section(summary: dict[str, Any]) -> str:
    """Multi-objective runs: the Pareto front and which member was registered, and why."""
    extra = summary.get("tune_extra") or {}
    front = extra.get("pareto_front") or []
    if not front:
        return ""
    names = list(extra.get("objectives") or front[0]["values"].keys())
    head = "".join(f"<th>{_esc(n)}</th>" for n in names)
    rows = []
    for member in front:
        chosen = member["number"] == summary.get("best_trial")
        cells = "".join(f"<td>{_esc(_num(member['values'].get(n)))}</td>" for n in names)
        row_class = ' class="best"' if chosen else ""
        mark = " ✔" if chosen else ""
        rows.append(f"<tr{row_class}><td>{_esc(member['number'])}{mark}</td>{cells}</tr>")
    rule = (
        "Registered: the trial with the lowest "
        f"<code>{_esc(names[1] if len(names) > 1 else '')}</code> among front members whose "
        f"<code>{_esc(names[0])}</code> is within "
        f"{float(extra.get('pareto_tolerance', 0)):.0%} of the best."
    )
    return (
        f'<div class="card" id="pareto"><h2>Pareto front ({len(front)} trials)</h2><p>{rule}</p>'
        f'<table class="metrics"><tr><th>trial</th>{head}</tr>{"".join(rows)}</table></div>'
    )


def _params_table(params: dict[str, Any]) -> str:
    items = "".join(
        f'<div class="param"><span>{_esc(k)}</span><code>{_esc(_num(v))}</code></div>'
        for k, v in sorted(params.items())
    )
    return f'<div class="params">{items}</div>'


def _data_uri(path: str) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _plot_sections(plots: PlotSet, interactive: bool) -> str:
    import plotly.io as pio  # type: ignore[import-untyped]

    out = []
    for p in plots.plots:
        body = ""
        if interactive and p.figure is not None:
            try:
                body = pio.to_html(
                    p.figure,
                    full_html=False,
                    include_plotlyjs=False,
                    div_id=f"plot-{p.name}",
                    config={"displaylogo": False, "responsive": True},
                    default_width="100%",
                    default_height="460px",
                )
            except Exception as exc:
                log.warning("lstmtune: interactive %s left out of the report: %s", p.name, exc)
        img = (
            f'<img alt="{_esc(p.title)}" src="{_data_uri(p.png)}">'
            if p.png and Path(p.png).is_file()
            else ""
        )
        if body and img:
            body = (
                f'<div class="interactive">{body}</div>'
                f"<details><summary>static image (PNG)</summary>{img}</details>"
            )
        elif img:
            body = f'<div class="static">{img}</div>'
        note = f'<p class="note">{_esc(p.note)}</p>' if p.note else ""
        out.append(
            f'<section class="plot" id="{_esc(p.name)}"><h3>{_esc(p.title)}</h3>'
            f'<p class="desc">{_esc(p.description)}</p>{note}{body}</section>'
        )
    if plots.skipped:
        items = "".join(
            f"<li><b>{_esc(PLOTS.get(k, (k, ''))[0])}</b>: {_esc(v)}</li>"
            for k, v in plots.skipped.items()
        )
        out.append(
            f'<section class="plot skipped"><h3>Plots not drawn</h3><ul>{items}</ul></section>'
        )
    return "".join(out)


CSS = """
:root { --fg:#1d2330; --muted:#5f6b7a; --line:#e3e7ee; --bg:#f6f8fb; --card:#fff; \
--accent:#2f6fde; --good:#1a7f37; --bad:#c62828; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, \
"Helvetica Neue", Arial, sans-serif; color:var(--fg); background:var(--bg); }
header { background:#16213a; color:#fff; padding:28px 40px 22px; }
header h1 { margin:0 0 4px; font-size:26px; font-weight:600; }
header .sub { color:#b9c3d6; font-size:14px; }
header code { color:#fff; background:rgba(255,255,255,.12); }
main { max-width:1180px; margin:0 auto; padding:24px 24px 60px; }
nav { margin:0 0 18px; font-size:14px; color:var(--muted); }
nav a { color:var(--accent); text-decoration:none; margin-right:14px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; \
padding:18px 22px; margin:0 0 20px; box-shadow:0 1px 2px rgba(20,30,50,.04); }
.card h2 { margin:0 0 12px; font-size:19px; font-weight:600; }
.cols { display:grid; grid-template-columns: 1fr 1fr; gap:20px; }
@media (max-width: 900px) { .cols { grid-template-columns: 1fr; } }
table { border-collapse:collapse; width:100%; font-size:14px; }
table.kv th { text-align:left; font-weight:500; color:var(--muted); width:42%; \
padding:5px 10px 5px 0; vertical-align:top; }
table.kv td { padding:5px 0; border-bottom:1px solid var(--line); word-break:break-all; }
table.grid th, table.grid td { padding:7px 12px; border-bottom:1px solid var(--line); \
text-align:left; }
table.grid thead th { color:var(--muted); font-weight:600; border-bottom:2px solid var(--line); }
table.grid .num { text-align:right; font-variant-numeric: tabular-nums; }
table.grid tr.model th, table.grid tr.model td { background:#fff6f5; font-weight:600; }
table.grid td.best { color:var(--good); font-weight:700; }
.dir { color:var(--muted); font-weight:400; }
code { font:13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; \
background:#eef1f6; padding:1px 5px; border-radius:4px; }
.badge { display:inline-block; padding:1px 9px; border-radius:10px; font-size:13px; \
font-weight:600; background:#e6ebf5; color:#34405a; }
.badge.champion { background:#dff5e3; color:var(--good); }
.badge.challenger { background:#fff1d6; color:#8a5a00; }
.verdict { margin:12px 0 0; padding:8px 12px; border-radius:6px; }
.verdict.good { background:#eaf7ed; color:var(--good); }
.verdict.bad { background:#fdecea; color:var(--bad); }
section.plot { background:var(--card); border:1px solid var(--line); border-radius:10px; \
padding:16px 20px; margin:0 0 20px; }
section.plot h3 { margin:0 0 2px; font-size:17px; }
section.plot .desc { margin:0 0 8px; color:var(--muted); font-size:14px; }
section.plot .note { margin:0 0 8px; font-size:13px; color:#7a5a00; }
section.plot img { max-width:100%; height:auto; display:block; margin:8px auto 0; }
.params { display:grid; grid-template-columns:repeat(auto-fill, minmax(250px, 1fr)); gap:6px 24px; }
.param { display:flex; justify-content:space-between; gap:10px; \
border-bottom:1px solid var(--line); padding:4px 0; font-size:14px; }
.param span { color:var(--muted); }
details summary { cursor:pointer; color:var(--accent); font-size:13px; margin-top:6px; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:10px; }
"""


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
    trials = (
        f"{s.get('n_trials_complete', '—')} complete, {s.get('n_trials_pruned', '—')} pruned, "
        f"{s.get('n_trials_failed', '—')} failed"
        + (f" ({s['n_trials_reused']} reused)" if s.get("n_trials_reused") else "")
    )
    overview = [
        (
            "model",
            f"<code>{_esc(s.get('model_name'))}</code> version "
            f"<b>{_esc(s.get('model_version'))}</b> "
            f'<span class="badge {_esc(alias)}">@{_esc(alias)}</span>',
        ),
        ("promotion", _esc(s.get("promotion_reason", "—"))),
        ("load it", f"<code>mlflow.pyfunc.load_model('{_esc(s.get('model_uri', ''))}')</code>"),
        ("task", _esc(s.get("task", "—"))),
        ("data", f"<code>{_esc(s.get('data_source', '—'))}</code>"),
        ("data sha256", f"<code>{_esc(str(s.get('data_sha256', '—'))[:16])}…</code>"),
    ]
    tuning = [
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
<h2 id="plots">Plots</h2>
{_plot_sections(plots, interactive)}
</main>
<footer>Generated by lstmtune from {_esc(s.get("output_dir", ""))}. \
Self-contained: no network access needed.</footer>
</body></html>
"""


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


def _margin(summary: dict[str, Any]) -> str:
    """`` (12.3% worse)`` against the gate's best baseline, or nothing when unknown."""
    metric = summary.get("primary_metric")
    base = (summary.get("baseline_metrics") or {}).get(summary.get("best_baseline") or "", {})
    new = (summary.get("test_metrics") or {}).get(metric)
    if metric is None or new is None or metric not in base:
        return ""
    return f" ({margin(float(new), float(base[metric]), str(metric))})"


def markdown_summary(summary: dict[str, Any]) -> str:
    """The run in Markdown (a KFP ``Markdown`` artifact / MLflow description)."""
    s = summary
    metric = s.get("primary_metric", "")
    test = s.get("test_metrics") or {}
    metrics = list(test)
    lines = [
        f"## {s.get('model_name')} version {s.get('model_version')} → `@{s.get('alias')}`",
        "",
        f"**Promotion:** {s.get('promotion_reason', '—')}",
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

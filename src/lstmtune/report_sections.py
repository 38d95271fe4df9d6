"""Pieces of the HTML report: value formatting, the tables and sections, and the page's CSS."""

from __future__ import annotations

import base64
import html
import logging
import math
from pathlib import Path
from typing import Any

from lstmtune.evaluate import HIGHER_IS_BETTER, margin
from lstmtune.plots import PLOTS, PlotSet

log = logging.getLogger("lstmtune")

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
    from lstmtune.conformal import is_interval_metric, summary_line

    test = summary.get("test_metrics") or {}
    baselines = summary.get("baseline_metrics") or {}
    metrics = [m for m in test if not is_interval_metric(m)]  # intervals: a line of their own
    intervals = summary_line(test)
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
    if intervals:
        verdict += f"<p>Prediction {_esc(intervals)}.</p>"
    from lstmtune.combine import describe_summary

    mix = describe_summary(summary)
    if mix:
        verdict += f"<p>{_esc(mix[0].upper() + mix[1:])}.</p>"
    from lstmtune.nonnegative import describe as nonnegative_line

    kept = nonnegative_line(summary.get("nonnegative"))
    if kept:
        verdict += f"<p>{_esc(kept[0].upper() + kept[1:])}.</p>"
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


def _mase_key(row: dict[str, Any]) -> tuple[bool, float]:
    """Series by test MASE, those without one (constant on train) last."""
    mase = row.get("mase")
    return (mase is None, float(mase or 0.0))


def _left_out(dropped: dict[str, str], shown: int = 10) -> str:
    """The series left out of the panel, each named with its reason (the first ``shown``)."""
    if not dropped:
        return ""
    named = "; ".join(f"{sid!r}: {why}" for sid, why in list(dropped.items())[:shown])
    more = f"; and {len(dropped) - shown} more" if len(dropped) > shown else ""
    return _esc(f" {len(dropped)} series left out: {named}{more}.")


def _series_section(summary: dict[str, Any], per_end: int = 10) -> str:
    """Many series: the test metrics of the best and worst ``per_end`` series by MASE."""
    panel = summary.get("panel") or {}
    table = panel.get("per_series") or {}
    if not table:
        return ""
    ranked = sorted(table, key=lambda sid: _mase_key(table[sid]))
    shown = ranked if len(ranked) <= 2 * per_end else ranked[:per_end] + ranked[-per_end:]
    covered = sorted(
        {k for row in table.values() for k in row if k.startswith("coverage_")},
        key=lambda k: float(k.removeprefix("coverage_")),
    )
    names = ("mase", "smape", "rmse", "mae", *covered, "windows")
    head = "".join(f"<th>{_esc(n)}</th>" for n in names)
    rows = []
    for i, sid in enumerate(shown):
        if len(shown) < len(ranked) and i == per_end:
            rows.append(f'<tr><td colspan="{len(names) + 1}">…</td></tr>')
        cells = "".join(f"<td>{_esc(_num(table[sid].get(n)))}</td>" for n in names)
        rows.append(f"<tr><td>{_esc(sid)}</td>{cells}</tr>")
    left_out = _left_out(panel.get("dropped") or {})
    what = (
        f"{len(ranked)} series ({_esc(panel.get('series_column', ''))}), one model; the best "
        f"and worst {per_end} by test MASE.{left_out}"
    )
    return (
        f'<div class="card" id="series"><h2>Series</h2><p>{what}</p>'
        f'<table class="metrics"><tr><th>series</th>{head}</tr>{"".join(rows)}</table></div>'
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


def _margin(summary: dict[str, Any]) -> str:
    """`` (12.3% worse)`` against the gate's best baseline, or nothing when unknown."""
    metric = summary.get("primary_metric")
    base = (summary.get("baseline_metrics") or {}).get(summary.get("best_baseline") or "", {})
    new = (summary.get("test_metrics") or {}).get(metric)
    if metric is None or new is None or metric not in base:
        return ""
    return f" ({margin(float(new), float(base[metric]), str(metric))})"

"""Draw every plot that applies to a run and write it as PNG and HTML; a plot that cannot be
drawn is skipped with its reason, never raised."""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lstmtune.plots.catalog import PLOTS, PlotFiles, PlotSet, RenderedPlot, SkipPlot
from lstmtune.plots.classification import confusion_figures
from lstmtune.plots.figures import mpl, mpl_style, read_json
from lstmtune.plots.forecast import forecast_figures
from lstmtune.plots.panel import panel_figures
from lstmtune.plots.study import first_objective_view
from lstmtune.plots.study_figures import STUDY_PLOTS, pareto_figures
from lstmtune.plots.training_curve import training_curve_figures

log = logging.getLogger("lstmtune")


def save_plot(plot: RenderedPlot, fig: Any, mfig: Any, out: Path, plotlyjs: str) -> None:
    if mfig is not None:
        try:
            png = out / f"{plot.name}.png"
            if not mfig.get_axes():
                raise ValueError("empty figure")
            mfig.tight_layout()
            mfig.savefig(png, dpi=110)
            plot.png = str(png)
        except Exception as exc:
            log.warning("lstmtune: PNG of plot %s skipped: %s", plot.name, exc)
        finally:
            mpl().close(mfig)
    if fig is not None:
        try:
            fig.update_layout(template="plotly_white", margin={"t": 60, "l": 60, "r": 30, "b": 60})
            html = out / f"{plot.name}.html"
            include: bool | str = True if plotlyjs == "inline" else "directory"
            fig.write_html(
                str(html),
                include_plotlyjs=include,
                full_html=True,
                config={"displaylogo": False, "responsive": True},
            )
            plot.html = str(html)
            plot.figure = fig
        except Exception as exc:
            log.warning("lstmtune: HTML of plot %s skipped: %s", plot.name, exc)


def render_plots(
    study: Any,
    prepared_dir: str | Path | None,
    model_dir: str | Path | None,
    out_dir: str | Path,
    *,
    objective: str | None = None,
    plotlyjs: str = "directory",
) -> PlotSet:
    """Draw every plot that applies; return what was written and why the rest was skipped."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target: str = objective or _objective(study, prepared_dir)
    meta = read_json(Path(prepared_dir) / "metadata.json") if prepared_dir else {}
    task, panel = meta.get("task"), bool(meta.get("panel"))
    makers: dict[str, Callable[[], tuple[Any, Any, str]]] = {}
    if (
        study is not None and len(study.directions) > 1
    ):  # multi-objective: a front, and the validation objective alone
        makers["pareto_front"] = functools.partial(pareto_figures, study, target)
        study = first_objective_view(study)
    for name, maker in STUDY_PLOTS.items():
        makers[name] = (
            functools.partial(maker, study, target)
            if study is not None
            else _skip("no Optuna study")
        )
    if prepared_dir is None or model_dir is None:
        missing = _skip("no prepared dataset or model directory")
        makers.update({"forecast": missing, "confusion_matrix": missing, "training_curve": missing})
    else:
        if task == "forecast" and panel:
            makers["panel_forecast"] = functools.partial(panel_figures, prepared_dir, model_dir)
        elif task == "forecast":
            makers["forecast"] = functools.partial(forecast_figures, prepared_dir, model_dir)
        elif task in ("classify", "text"):
            makers["confusion_matrix"] = functools.partial(
                confusion_figures, prepared_dir, model_dir
            )
        makers["training_curve"] = functools.partial(
            training_curve_figures, study, model_dir, target
        )
    result = PlotSet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna's ExperimentalWarning, matplotlib layout chatter
        for name in PLOTS:
            if name not in makers:
                continue
            title, description = PLOTS[name]
            plot = RenderedPlot(name, title, description)
            try:
                with mpl_style():
                    fig, mfig, note = makers[name]()
                    plot.note = note
                    save_plot(plot, fig, mfig, out, plotlyjs)
            except SkipPlot as exc:
                result.skipped[name] = str(exc)
                log.info("lstmtune: plot %s skipped: %s", name, exc)
                continue
            except Exception as exc:  # plotting must never fail a run
                result.skipped[name] = (
                    f"failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                )
                log.warning("lstmtune: plot %s failed and is skipped", name, exc_info=True)
                continue
            if plot.png or plot.html:
                result.plots.append(plot)
            else:
                result.skipped[name] = "failed: neither PNG nor HTML could be written"
    return result


def _skip(reason: str) -> Callable[[], tuple[Any, Any, str]]:
    def raise_skip() -> tuple[Any, Any, str]:
        raise SkipPlot(reason)

    return raise_skip


def _objective(study: Any, prepared_dir: str | Path | None) -> str:
    """What tuning minimised (``val_rmse``, ``val_mase`` for many series, ``val_loss``...)."""
    from lstmtune.config import objective_name

    meta = read_json(Path(prepared_dir) / "metadata.json") if prepared_dir else {}
    return objective_name(meta) if meta.get("task") else "objective"


def write_plots(
    study: Any,
    prepared_dir: str | Path | None,
    model_dir: str | Path | None,
    out_dir: str | Path,
    *,
    objective: str | None = None,
    plotlyjs: str = "directory",
) -> PlotFiles:
    """Write every applicable plot of ``study`` (an ``optuna.Study`` or None) and of the final model
    to ``out_dir``. Returns ``{name: {"png": path, "html": path}}``; a plot that fails is logged and
    left out, never raised. ``plotlyjs``: ``"directory"`` (one ``plotly.min.js`` beside the pages)
    or ``"inline"`` (every page self-contained, ~4.7 MB each)."""
    try:
        return render_plots(
            study, prepared_dir, model_dir, out_dir, objective=objective, plotlyjs=plotlyjs
        ).files()
    except Exception:  # pragma: no cover - belt and braces: never fail a run
        log.warning("lstmtune: plots skipped", exc_info=True)
        return {}

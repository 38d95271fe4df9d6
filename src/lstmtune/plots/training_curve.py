"""The training curve of the final model: retrain loss per epoch beside the best trial's
validation curve from tuning."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstmtune.plots.catalog import SkipPlot
from lstmtune.plots.figures import COMPLETE_COLOR, MODEL_COLOR, mpl, read_json

Curve = list[tuple[float, float]]  # (epoch, value)


@dataclass
class _Curves:
    retrain: Curve  # retrain loss per epoch (train+val)
    best_curve: Curve  # the best trial's validation objective per epoch, from tuning
    best_number: int | None
    epochs: Any  # the retrain's epoch count, when recorded
    objective: str


def _read_curves(study: Any, model_dir: str | Path, objective: str) -> _Curves:
    evaluation = read_json(Path(model_dir) / "evaluation.json")
    history = (
        evaluation.get("history")
        or read_json(Path(model_dir) / "history.json").get("history")
        or []
    )
    retrain = [
        (float(h["epoch"]), float(h["train_loss"]))
        for h in history
        if "train_loss" in h and "epoch" in h
    ]
    best_curve: Curve = []
    best_number = None
    if study is not None:
        try:
            best = study.best_trial
            best_number = best.number
            best_curve = sorted((float(k), float(v)) for k, v in best.intermediate_values.items())
        except ValueError:
            pass
    if not retrain and not best_curve:
        raise SkipPlot("no retrain history and no tuning curve of the best trial")
    return _Curves(retrain, best_curve, best_number, evaluation.get("retrain_epochs"), objective)


def _training_plotly(c: _Curves) -> Any:
    import plotly.graph_objects as go  # type: ignore[import-untyped]
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    if c.retrain:
        fig.add_trace(
            go.Scatter(
                x=[e for e, _ in c.retrain],
                y=[v for _, v in c.retrain],
                name="retrain loss (train+val)",
                mode="lines+markers",
                line={"color": MODEL_COLOR, "width": 2},
                marker_size=4,
            ),
            secondary_y=False,
        )
    if c.best_curve:
        fig.add_trace(
            go.Scatter(
                x=[e for e, _ in c.best_curve],
                y=[v for _, v in c.best_curve],
                name=f"trial {c.best_number}: validation {c.objective}",
                mode="lines+markers",
                line={"color": COMPLETE_COLOR, "width": 2, "dash": "dot"},
                marker_size=4,
            ),
            secondary_y=bool(c.retrain),
        )
    if c.epochs:
        fig.add_vline(
            x=float(c.epochs),
            line_dash="dash",
            line_color="#555",
            annotation_text=f"retrain epochs = {c.epochs}",
        )
    fig.update_layout(
        title="Training curve of the final model",
        xaxis_title="epoch",
        legend={"orientation": "h", "y": -0.2},
    )
    fig.update_yaxes(
        title_text="training loss (scaled)" if c.retrain else c.objective, secondary_y=False
    )
    if c.retrain and c.best_curve:
        fig.update_yaxes(title_text=c.objective, secondary_y=True)
    return fig


def _training_mpl(c: _Curves) -> Any:
    plt = mpl()
    mfig, ax = plt.subplots(figsize=(8, 4.5))
    handles = []
    if c.retrain:
        handles += ax.plot(
            [e for e, _ in c.retrain],
            [v for _, v in c.retrain],
            color=MODEL_COLOR,
            lw=2,
            marker="o",
            ms=3,
            label="retrain loss (train+val)",
        )
        ax.set_ylabel("training loss (scaled)")
    ax2 = ax.twinx() if c.retrain and c.best_curve else ax
    if c.best_curve:
        handles += ax2.plot(
            [e for e, _ in c.best_curve],
            [v for _, v in c.best_curve],
            color=COMPLETE_COLOR,
            lw=2,
            ls=":",
            marker="o",
            ms=3,
            label=f"trial {c.best_number}: validation {c.objective}",
        )
        ax2.set_ylabel(c.objective)
    if c.epochs:
        handles.append(
            ax.axvline(
                float(c.epochs), color="#555", ls="--", lw=1, label=f"retrain epochs = {c.epochs}"
            )
        )
    ax.set_xlabel("epoch")
    ax.set_title("Training curve of the final model")
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    return mfig


def training_curve_figures(
    study: Any, model_dir: str | Path, objective: str
) -> tuple[Any, Any, str]:
    curves = _read_curves(study, model_dir, objective)
    fig = _training_plotly(curves)
    mfig = _training_mpl(curves)
    note = (
        ""
        if curves.retrain
        else "The retrain's per-epoch history was not recorded; the best trial's validation curve "
        "from tuning is shown."
    )
    return fig, mfig, note

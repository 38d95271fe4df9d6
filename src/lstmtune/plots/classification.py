"""Classification plots: the test-split confusion matrix of the final model (sequence and
text classification)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lstmtune.plots.catalog import SkipPlot
from lstmtune.plots.figures import mpl


def confusion_matrix(
    prepared_dir: str | Path, model_dir: str | Path
) -> tuple[list[str], np.ndarray, str]:
    """Class names, the test-split confusion matrix ``[true, predicted]`` of the final model
    (through the serving :class:`~lstmtune.serving.Predictor`) and what it counts (``texts``,
    ``sequences``)."""
    from lstmtune.data.prepare import read_prepared
    from lstmtune.features import ClassifyFeaturizer
    from lstmtune.serving import Predictor

    parts, meta = read_prepared(str(prepared_dir))
    predictor = Predictor.load(model_dir)
    f = predictor.featurizer
    if meta["task"] == "text":
        label = str(meta["columns"]["label"])
        classes = [str(c) for c in meta["classes"]]
        idx = {c: i for i, c in enumerate(classes)}
        out = predictor.predict(parts["test"])
        m = np.zeros((len(classes), len(classes)), dtype=np.int64)
        for t, p in zip(parts["test"][label].astype(str), out["label"].astype(str), strict=True):
            m[idx[t], idx[p]] += 1
        return classes, m, "texts"
    if not isinstance(f, ClassifyFeaturizer):
        raise SkipPlot("not a classification model")
    label = str(meta["columns"]["label"])
    test = parts["test"]
    out = predictor.predict(test.drop(columns=[label]))
    truth = test.groupby(test[f.sequence_column].astype(str), sort=False)[label].first().astype(str)
    predicted = (
        out.set_index(out[f.sequence_column].astype(str))["label"].astype(str).reindex(truth.index)
    )
    index = {c: i for i, c in enumerate(f.classes)}
    matrix = np.zeros((len(f.classes), len(f.classes)), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t], index[p]] += 1
    return list(f.classes), matrix, "sequences"


def confusion_figures(prepared_dir: str | Path, model_dir: str | Path) -> tuple[Any, Any, str]:
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    classes, m, counted = confusion_matrix(prepared_dir, model_dir)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    text = [
        [f"{m[i, j]}<br>{share[i, j]:.0%}" for j in range(len(classes))]
        for i in range(len(classes))
    ]
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=classes,
            y=classes,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": "row share"},
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Confusion matrix (test, {int(m.sum())} {counted})",
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis_autorange="reversed",
        height=max(380, 120 + 60 * len(classes)),
        width=max(480, 160 + 70 * len(classes)),
    )
    plt = mpl()
    size = max(4.0, 1.5 + 0.8 * len(classes))
    mfig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                f"{m[i, j]}\n{share[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(classes)), classes, rotation=45 if len(classes) > 4 else 0)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix (test, {int(m.sum())} {counted})")
    mfig.colorbar(im, ax=ax, label="row share")
    return fig, mfig, ""

"""Shared figure helpers: colours, the matplotlib backend and style, small file readers."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MODEL_COLOR = "#d62728"


ACTUAL_COLOR = "#222222"


BASELINE_COLORS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b"]


PRUNED_COLOR = "#9e9e9e"


COMPLETE_COLOR = "#1f77b4"


BEST_COLOR = "#d62728"


def mpl() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def mpl_style() -> Iterator[None]:
    """A clean style for one figure; optuna's matplotlib plots switch the global style to ggplot,
    and the context restores it afterwards."""
    import matplotlib

    plt = mpl()
    with matplotlib.rc_context():
        plt.style.use("default")
        matplotlib.rcParams.update(
            {"axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100}
        )
        yield


def mpl_from_axes(ax: Any) -> Any:
    import numpy as _np

    if isinstance(ax, _np.ndarray):
        ax = ax.flat[0]
    return ax.figure


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

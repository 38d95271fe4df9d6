"""Classical baselines of sequence classification, scored on the model's own test split.

* ``1nn_dtw``: 1-nearest-neighbour with dynamic time warping, the baseline every time-series
  classification paper starts from (full warping window; ``1nn_dtw_w10`` with a Sakoe-Chiba band
  of 10 % of the length when the full one would cost more than :data:`DTW_FULL_MAX_CELLS`;
  skipped, with the reason, above :data:`DTW_MAX_CELLS`, where even the band takes minutes);
* ``minirocket``: MiniRocket random convolutional features + ridge classifier (Dempster et al.,
  2021), the strong cheap one;
* ``one_class`` (naive, no library): the best one-class-for-everything predictor on the test
  split, so a model that predicts one class for every sequence never passes the gate.

Both come from aeon (``pip install aeon``), fitted on train+val (what the published model is
trained on) and scored on test. 1-NN DTW reads the sequences as the file holds them, as the
archive's published DTW figures do: per-channel scaling weighs a multivariate set's channels
anew in DTW's sum (BasicMotions 0.975 as written, 0.900 scaled; until 2026-12-04 the gate held
the scaled one); a univariate set's neighbours are the same either way. MiniRocket reads the
per-channel scaled sequences, as the published member does. Unequal lengths: 1-NN DTW takes them
as they are; MiniRocket gets every sequence padded to the longest one (and to its minimum of 9
steps) with zeros, the per-channel scaled training mean, as the published member does
(:mod:`lstmtune.rocket`; aeon's ``Padder`` fills with 0 too). A baseline that cannot run (aeon
missing, a fit that fails) is reported in the failures, never raised.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmtune.evaluate import classify_metrics

if TYPE_CHECKING:
    from lstmtune.training import ClassifyProblem, TensorSet

CLASSIFY_CLASSICAL = ("1nn_dtw", "minirocket")
DTW_FULL_MAX_CELLS = 2e9  # full-window DTW cells (dtw_cells) above which the band is used
DTW_BAND = 0.1
# ... and above which 1-NN DTW is skipped: with the band about a fifth of the cells is computed,
# 1e11 cells took about 80 s on one core of the 2-core VM (aeon 1.6), the full window ~5x that.
# UCR's larger sets are far above it (FordA 1.2e12, StarLightCurves 8.6e12: half an hour to hours)
DTW_MAX_CELLS = 1e11
MINIROCKET_MIN_LENGTH = 9


def one_class_baseline(true: np.ndarray, n_classes: int) -> dict[str, float]:
    """The best score a classifier that predicts one class for every sequence reaches on this test
    split (the class is chosen in hindsight). A model that predicts one class for everything can
    at most tie it, so it never beats this naive baseline and is never published as champion."""
    scores = [classify_metrics(np.full_like(true, c), true, n_classes) for c in range(n_classes)]
    return max(scores, key=lambda m: (m["macro_f1"], m["accuracy"]))


def series_list(data: TensorSet) -> list[np.ndarray]:
    """Each sequence of a padded ``[N, T, C]`` set as a ``[C, length]`` float64 array."""
    x = data.x.detach().cpu().numpy().astype(np.float64)
    lengths = (
        [x.shape[1]] * len(x) if data.lengths is None else [int(v) for v in data.lengths.tolist()]
    )
    return [x[i, :n].T.copy() for i, n in enumerate(lengths)]


def as_written(series: list[np.ndarray], featurizer: Any) -> list[np.ndarray]:
    """The per-channel scaled ``[C, length]`` sequences back in the file's units (the
    ``featurizer``'s training ``mean`` and ``std`` of each channel)."""
    mean = np.asarray(featurizer.mean, dtype=np.float64)[:, None]
    std = np.asarray(featurizer.std, dtype=np.float64)[:, None]
    return [s * std + mean for s in series]


def pad_zero(series: list[np.ndarray], length: int) -> np.ndarray:
    """``[N, C, length]``: each ``[C, T_i]`` series extended with zeros."""
    return np.stack([np.pad(s, ((0, 0), (0, length - s.shape[1]))) for s in series])


def _as_panel(series: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    lengths = {s.shape[1] for s in series}
    return np.stack(series) if len(lengths) == 1 else series


def dtw_cells(train: list[np.ndarray], test: list[np.ndarray]) -> float:
    """Cells of the DTW matrices of 1-NN DTW with the full window: each train x test pair's
    lengths multiplied, summed, i.e. the train lengths' sum x the test lengths' sum (unequal
    sequences are compared at their own lengths: PLAID, lengths 100-1344, mean 325, fills 3.0e10
    cells, not 537 x 537 x 1344^2 = 5.2e11)."""
    return float(sum(s.shape[1] for s in train)) * float(sum(s.shape[1] for s in test))


def dtw_name(train: list[np.ndarray], test: list[np.ndarray]) -> tuple[str, float | None]:
    """``("1nn_dtw", None)`` (full window) or ``("1nn_dtw_w10", 0.1)`` when the full window would
    fill more than :data:`DTW_FULL_MAX_CELLS` cells of DTW matrices."""
    if dtw_cells(train, test) <= DTW_FULL_MAX_CELLS:
        return "1nn_dtw", None
    return "1nn_dtw_w10", DTW_BAND


def too_costly(train: list[np.ndarray], test: list[np.ndarray]) -> str | None:
    """Why 1-NN DTW is skipped on this set (more than :data:`DTW_MAX_CELLS` cells), or None."""
    cells = dtw_cells(train, test)
    if cells <= DTW_MAX_CELLS:
        return None
    return (
        f"train+val x test sequences x their lengths = {cells:.2g} DTW cells, over"
        f" {DTW_MAX_CELLS:.0e} (minutes"
        " of CPU even with a 10 % band); the gate's classical baseline here is MiniRocket"
    )


def _predict(
    kind: str,
    train: list[np.ndarray],
    y: np.ndarray,
    test: list[np.ndarray],
    seed: int,
    window: float | None,
) -> np.ndarray:
    if kind == "1nn_dtw":
        from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier  # type: ignore[import-untyped,import-not-found,unused-ignore]

        params: dict[str, Any] = {} if window is None else {"window": window}
        knn = KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw", distance_params=params)
        knn.fit(_as_panel(train), y)
        out: np.ndarray = knn.predict(_as_panel(test))
        return out
    from aeon.classification.convolution_based import MiniRocketClassifier  # type: ignore[import-untyped,import-not-found,unused-ignore]

    length = max(MINIROCKET_MIN_LENGTH, *(s.shape[1] for s in [*train, *test]))
    clf = MiniRocketClassifier(random_state=seed, n_jobs=1)
    clf.fit(pad_zero(train, length), y)
    pred: np.ndarray = clf.predict(pad_zero(test, length))
    return pred


def classify_classical_baselines(
    problem: ClassifyProblem,
    *,
    seed: int = 0,
    kinds: tuple[str, ...] = CLASSIFY_CLASSICAL,
) -> tuple[dict[str, dict[str, float]], dict[str, str], dict[str, float]]:
    """1-NN DTW and MiniRocket fitted on train+val and scored on test.

    Returns ``(metrics, failures -> reason, seconds)`` by baseline name."""
    metrics: dict[str, dict[str, float]] = {}
    failed: dict[str, str] = {}
    seconds: dict[str, float] = {}
    try:
        import aeon  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        return {}, {k: "aeon is not installed (pip install aeon)" for k in kinds}, {}
    fit, test = problem.tensors("train", "val"), problem.tensors("test")
    train_series, test_series = series_list(fit), series_list(test)
    written = [as_written(s, problem.featurizer) for s in (train_series, test_series)]
    y_fit = fit.y.cpu().numpy()
    y_test = test.y.cpu().numpy()
    n_classes = len(problem.classes)
    for kind in kinds:
        name, window = dtw_name(train_series, test_series) if kind == "1nn_dtw" else (kind, None)
        reason = too_costly(train_series, test_series) if kind == "1nn_dtw" else None
        if reason is not None:
            failed[name] = reason
            continue
        started = time.perf_counter()
        train, tested = written if kind == "1nn_dtw" else (train_series, test_series)
        try:
            pred = _predict(kind, train, y_fit, tested, seed, window)
        except Exception as exc:  # a baseline never fails the run
            failed[name] = f"{type(exc).__name__}: {exc}"
            continue
        seconds[name] = round(time.perf_counter() - started, 2)
        metrics[name] = classify_metrics(np.asarray(pred, dtype=np.int64), y_test, n_classes)
    return metrics, failed, seconds

"""``tune.subset``: the part of the training data that tuning trials train on (validation is
unchanged, retraining uses everything)."""

from __future__ import annotations

import math

import numpy as np

from lstmtune.training import ClassifyProblem, ForecastProblem, TensorSet


def subset_size(n: int, fraction: float | None) -> int:
    """How many of ``n`` training windows/sequences ``tune.subset`` keeps (round half up,
    >= 1)."""
    if fraction is None or fraction >= 1 or n == 0:
        return n
    return max(1, min(n, math.floor(n * float(fraction) + 0.5)))


def recent_per_series(series: np.ndarray, fraction: float | None) -> np.ndarray:
    """Rows of stacked windows (``series[i]``: window ``i``'s series, each series' windows in time
    order) keeping the most recent ``fraction`` of every series."""
    keep = [
        rows[len(rows) - subset_size(len(rows), fraction) :]
        for rows in (np.flatnonzero(series == s) for s in np.unique(series))
    ]
    return np.sort(np.concatenate(keep)) if keep else np.arange(0)


def subset_indices(task: str, data: TensorSet, fraction: float | None, seed: int) -> np.ndarray:
    """Rows of ``data`` (a task's training tensors) that tuning trains on with ``tune.subset``.

    * forecast: the most recent ``fraction`` of the training windows — one contiguous block ending
      at the end of the train split, so time order holds and no window is newer than validation
      (many series: the most recent ``fraction`` of every series' windows);
    * classify / text: a stratified random ``fraction`` of the training sequences, seeded (the same
      sample in every trial and worker): each class keeps its share (largest-remainder rounding,
      so the total is ``round(n * fraction)``), rows stay in their original order.
    """
    n = len(data)
    keep = subset_size(n, fraction)
    if keep >= n:
        return np.arange(n)
    series = getattr(data, "series", None)  # many series: the most recent part of each
    if task == "forecast" and series is not None:
        return recent_per_series(np.asarray(series), fraction)
    if task == "forecast":
        return np.arange(n - keep, n)
    labels = data.y.cpu().numpy().reshape(n, -1)[:, 0]
    classes, counts = np.unique(labels, return_counts=True)
    quotas = counts * float(keep) / n
    take = np.floor(quotas).astype(int)
    order = sorted(range(len(classes)), key=lambda i: (-(quotas[i] - take[i]), i))
    for i in order[: keep - int(take.sum())]:
        take[i] = min(int(counts[i]), int(take[i]) + 1)
    rng = np.random.default_rng(seed)
    chosen = [
        rng.permutation(np.flatnonzero(labels == c))[: int(k)]
        for c, k in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.arange(0)


def take_rows(data: TensorSet, idx: np.ndarray) -> TensorSet:
    """``data`` restricted to rows ``idx`` (keeps ``raw_y``, unlike :meth:`TensorSet.take`)."""
    import torch

    rows = torch.as_tensor(idx, dtype=torch.long)
    return TensorSet(
        data.x.index_select(0, rows.to(data.x.device)),
        data.y.index_select(0, rows.to(data.y.device)),
        None if data.anchor is None else data.anchor.index_select(0, rows.to(data.anchor.device)),
        None if data.lengths is None else data.lengths.index_select(0, rows),
        None if data.raw_y is None else data.raw_y[idx],
    )


def tuning_train_set(
    problem: ForecastProblem | ClassifyProblem, fraction: float | None, seed: int
) -> TensorSet:
    """The training tensors of one trial: all of them, or the ``tune.subset`` sample."""
    data = problem.tensors("train")
    if fraction is None or fraction >= 1:
        return data
    return take_rows(data, subset_indices(problem.task, data, fraction, seed))

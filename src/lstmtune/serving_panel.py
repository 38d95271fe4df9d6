"""Serving a model of many series: long-format history in, one row per series and window out.

The input holds the series column, the training columns and (optionally) the time column, rows
in any order. Its ids are read as training reads them (:mod:`lstmtune.data.sequence_ids`: ``5.0``
is ``5``, surrounding spaces dropped); a row without one is refused by its input row. Each
series is put in time order, checked for duplicates and gaps, scaled with its own training
statistics and forecast by the one network (mixed with that series' AutoARIMA /
AutoETS when the model publishes a combination; for a series not seen in training, models fitted
on the history sent). A series the model never saw is scaled with statistics of the history sent
for it, and is refused when that history cannot be scaled (constant, or not positive for a log
model), or when the network embeds each series (``series_embedding_dim`` > 0: there is no
embedding for a new series). The answer holds the series column, the time column when it was
sent (each origin's time: the last row a forecast reads) and the forecasts, under the input's
index labels of the origin rows (:mod:`lstmtune.served_times`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import torch

from lstmtune import nonnegative
from lstmtune.conformal import interval_columns
from lstmtune.data.history_check import check_history
from lstmtune.data.sequence_ids import served_ids
from lstmtune.data.timeaxis import place
from lstmtune.features import ForecastFeaturizer, filled_history, input_values
from lstmtune.model import LSTMNet
from lstmtune.panel_problem import with_index
from lstmtune.served_history import served_member
from lstmtune.served_times import at_origins, origin_labels


def _in_time_order(frame: pd.DataFrame, axis: dict[str, Any] | None) -> pd.DataFrame:
    """One series' rows sorted by the time column (when the model has one and it was sent)."""
    if not axis or axis.get("column") not in frame.columns:
        return frame
    column = str(axis["column"])
    snap = axis.get("freq_source") == "data.freq"
    values = frame[column].reset_index(drop=True)
    placed = place(values, column, freq=axis["freq"], snap=snap, row_word="input row")
    return frame.iloc[placed.order]


def featurizer_for_history(
    reference: ForecastFeaturizer, raw: np.ndarray, sid: str
) -> ForecastFeaturizer:
    """A featurizer for a series not seen in training: the reference's choices, this history's
    mean and standard deviation (after the log transform when the model uses it)."""
    z = raw.astype(np.float64, copy=True)
    t = reference.target_index
    if reference.transform == "log":
        if (z[:, t] <= 0).any():
            raise ValueError(
                f"series {sid!r} (not seen in training) has values <= 0; the model "
                "works on log values"
            )
        z[:, t] = np.log(z[:, t])
    std = z.std(axis=0)
    if not (std > 0).all():
        raise ValueError(
            f"series {sid!r} (not seen in training) has a constant history; it cannot be scaled"
        )
    return dataclasses.replace(reference, mean=z.mean(axis=0).tolist(), std=std.tolist())


def forecast_series(
    model: LSTMNet, f: ForecastFeaturizer, raw: np.ndarray, sid: str, index: int | None = None
) -> np.ndarray:
    """Forecasts ``[windows, horizon]`` in original units after every complete window
    (``index``: the series' index for a network with a per-series embedding); ``raw`` is
    complete (:func:`lstmtune.features.filled_history`)."""
    if len(raw) < f.lookback:
        raise ValueError(
            f"series {sid!r} has {len(raw)} rows; the model needs at least lookback={f.lookback}"
            " rows of history"
        )
    ends = f.history_ends(len(raw))
    x, anchor = f.windows(f.scale(raw), ends)
    inputs = torch.from_numpy(x)
    if index is not None:
        inputs = with_index(inputs, index)
    with torch.no_grad():
        out = model(inputs) + torch.from_numpy(anchor)
    return f.unscale_target(out.numpy().astype(np.float64))


def member_intervals(
    panel: dict[str, Any], known: dict[str, Any] | None, target: np.ndarray, f: ForecastFeaturizer
) -> tuple[dict[str, Any], np.ndarray] | None:
    """A series' interval spec and the scale at each served origin, recomputed on the history sent
    (:mod:`lstmtune.panel_intervals`): its own spec, or (not seen in training) the pooled
    scale-free quantiles with a floor from the history sent."""
    from lstmtune.conformal import origin_scale

    ends = f.history_ends(len(target))
    if known is not None:
        spec = known.get("intervals")
    else:
        from lstmtune.panel_intervals import history_spec

        pooled = panel.get("intervals_pooled")
        spec = None if pooled is None else history_spec(pooled, target, ends, f.period)
    if spec is None:
        return None
    return spec, origin_scale(spec, target, ends)


def combined(
    pred: np.ndarray,
    weights: dict[str, float],
    known: dict[str, Any] | None,
    target: np.ndarray,
    f: ForecastFeaturizer,
) -> np.ndarray:
    """The published combination of one series' windows: the network's forecast ``pred`` with
    the series' classical partners (:mod:`lstmtune.panel_combine`; fitted on the history sent for
    a series the model never saw)."""
    from lstmtune.panel_combine import history_partners, mix

    ends = f.history_ends(len(target))
    partners = history_partners((known or {}).get("classical"), weights, target, ends, f)
    return mix(weights, pred, partners)


def series_index(
    spec: dict[str, Any], known: dict[str, Any] | None, sid: str, column: str
) -> int | None:
    """The series' embedding index (None when the network has no per-series embedding); a
    series not seen in training is refused then."""
    if not int(spec.get("n_series", 0)):
        return None
    if known is None:
        dim = spec["params"].get("series_embedding_dim")
        raise ValueError(
            f"series {sid!r} (column '{column}') was not seen in training; this model embeds "
            f"each series it was trained on (series_embedding_dim={dim}) and cannot forecast "
            "a new one"
        )
    return int(known["index"])


def known_member(members: dict[str, Any], sid: str) -> dict[str, Any] | None:
    """The trained series ``sid`` names, also where a number is spelled otherwise than in
    training (``3.0`` for ``3``: an integer column turns float in pandas once it holds a NaN;
    such an id was served as a new series)."""
    if sid in members:
        return dict(members[sid])
    try:
        number = float(sid)
    except ValueError:
        return None
    spellings = [repr(number)] + ([str(int(number))] if number.is_integer() else [])
    if sid not in spellings:  # "007", "1e1": not how pandas writes a number, not a spelling of one
        return None
    found = next((members[s] for s in spellings if s in members), None)
    return None if found is None else dict(found)


def predict_panel(model: LSTMNet, spec: dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """The pyfunc's answer for a long-format history of one or more series. A series that cannot
    be forecast fails the batch, with one message naming every such series (not only the first:
    a caller fixes or drops them all at once, and resends)."""
    panel = spec["panel"]
    labels = frame.index  # the answer's rows are labelled by their origin rows' labels
    frame = frame.reset_index(drop=True)
    column = str(panel["series_column"])
    reference = ForecastFeaturizer.from_dict(spec["featurizer"])
    missing = [c for c in (column, *reference.features) if c not in frame.columns]
    if missing:
        raise ValueError(f"input is missing column(s): {', '.join(missing)}")
    out, bad, reasons = [], [], []
    ids = served_ids(frame, column, "series")  # as training reads them: 5.0 is 5, ' 7' is 7
    groups = frame.groupby(ids, sort=False).groups
    for sid, rows in groups.items():
        try:
            out.append(_serve_series(model, spec, frame, str(sid), rows, reference))
        except ValueError as exc:
            bad.append(repr(str(sid)))
            reasons.append(str(exc))
    if bad:
        raise ValueError(bad_series_message(bad, reasons, len(groups), column))
    if not out:
        raise ValueError("input has no rows")
    answer = pd.concat(out)  # each part under its origins' positions in ``frame``
    return answer.set_axis(origin_labels(labels, answer.index.to_numpy()), axis=0)


SHOWN_REASONS = 10  # a batch's error gives every bad id and the reasons of this many


def bad_series_message(bad: list[str], reasons: list[str], n: int, column: str) -> str:
    """One line for the series of a batch that cannot be forecast: every id, and the reasons of
    the first :data:`SHOWN_REASONS`."""
    if len(bad) == 1:
        return reasons[0]
    more = len(reasons) - SHOWN_REASONS
    shown = "; ".join(reasons[:SHOWN_REASONS]) + (f"; and {more} more" if more > 0 else "")
    return (
        f"{len(bad)} of {n} series (column '{column}') cannot be forecast, nothing was: "
        f"{', '.join(bad)}. {shown}"
    )


def _serve_series(
    model: LSTMNet,
    spec: dict[str, Any],
    frame: pd.DataFrame,
    sid: str,
    rows: Any,
    reference: ForecastFeaturizer,
) -> pd.DataFrame:
    """One series' rows of the answer (ValueError naming the series when it cannot be)."""
    panel = spec["panel"]
    column = str(panel["series_column"])
    known = known_member(panel["members"], str(sid))
    index = series_index(spec, known, str(sid), column)
    axis = (known or {}).get("time_axis") or spec.get("time_axis")
    try:
        sub = _in_time_order(frame.loc[rows], axis)
        check_history(sub, axis)
    except ValueError as exc:  # duplicates, gaps, unparseable times: name the series
        raise ValueError(f"series {sid!r} (column '{column}'): {exc}") from None
    try:  # pd.NA read as NaN, text refused by input row; data.missing: filled as in training
        raw = input_values(sub, reference.features, sub.index.to_numpy())
        raw = filled_history(
            raw, str(spec.get("missing", "")), reference.features, "in the series' row"
        )
    except ValueError as exc:
        raise ValueError(f"series {sid!r}: {exc}") from None
    f = (
        ForecastFeaturizer.from_dict(known["featurizer"])
        if known
        else featurizer_for_history(reference, raw, str(sid))
    )
    try:
        pred = forecast_series(model, f, raw, str(sid), index)
    except ValueError as exc:  # e.g. a value the model's log transform cannot read
        if str(sid) in str(exc):
            raise
        raise ValueError(f"series {sid!r} (column '{column}'): {exc}") from None
    weights = (panel.get("combination") or {}).get("weights")
    if weights:  # the network mixed with this series' AutoARIMA / AutoETS
        served = served_member(known, sub, raw[:, f.target_index])  # placed in its rows
        pred = combined(pred, weights, served, raw[:, f.target_index], f)
    part = pd.DataFrame(pred, columns=[f"step_{h}" for h in range(1, f.horizon + 1)])
    part.insert(0, column, frame.at[rows[0], column])  # the id as it was sent
    spec_intervals = member_intervals(panel, known, raw[:, f.target_index], f)
    if spec_intervals is not None:
        names, values = interval_columns(pred, *spec_intervals)
        part = pd.concat([part, pd.DataFrame(dict(zip(names, values, strict=True)))], axis=1)
    target = raw[:, f.target_index]  # evaluate.nonnegative: the series' decision in training
    decision = known.get("nonnegative") if known else nonnegative.unseen(panel, target)
    part = nonnegative.clip_frame(part, decision)
    return at_origins(part, sub, f.history_ends(len(raw)), axis, at=1)  # after the id

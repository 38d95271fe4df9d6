"""The prepare step's warnings about the data as prepared: each a function of ``metadata.json``
(and the data configuration) returning one line or None, so each is tested on its own."""

from __future__ import annotations

from typing import Any

from lstmtune.config import DataConfig

#: a forecast's test split with fewer targets than this gets a warning: its figures are noise
FIRM_TEST_POINTS = 8


def prepare_notes(meta: dict[str, Any], data: DataConfig) -> list[str]:
    """Every warning line that applies, in the order the prepare step prints them: first those
    about how the file was read (``read_notes``: its encoding)."""
    notes = (
        _raised_splits(meta, data),
        _no_own_windows(meta),
        _unread_dates(meta),
        _row_numbers(meta),
        _few_test_points(meta),
    )
    return [*meta.get("read_notes", []), *(n for n in notes if n)]


def _raised_splits(meta: dict[str, Any], data: DataConfig) -> str | None:
    """A line where a share (``data.test_size`` / ``data.val_size`` below 1) of a short series
    held fewer time steps than ``data.horizon`` and the split was given the horizon instead
    (:func:`~lstmtune.data.splits.time_split_size`); for many series, how many and one example."""
    if meta["task"] != "forecast":
        return None
    panel = meta.get("panel")
    metas = {s: m["meta"] for s, m in panel["members"].items()} if panel else {"": meta}
    raised = {s: m["split_raised"] for s, m in metas.items() if m.get("split_raised")}
    if not raised:
        return None
    names = sorted({name for r in raised.values() for name in r}, key=["test", "val"].index)
    sizes = " and ".join(f"data.{n}_size={getattr(data, n + '_size'):g}" for n in names)
    splits = " and ".join(names)
    if not panel:
        return (
            f"warning: {sizes} of {meta['n_rows']} time steps give fewer than data.horizon="
            f"{data.horizon}: the {splits} split(s) hold {data.horizon} time steps (one whole"
            " forecast; a count such as data.test_size: 12 sets them yourself)"
        )
    sid = next(iter(raised))
    return (
        f"warning: {len(raised)} of {len(metas)} series are short for {sizes}: their {splits}"
        f" split(s) hold data.horizon={data.horizon} time steps (one whole forecast), e.g."
        f" {sid!r} of {metas[sid]['n_rows']} time steps"
    )


def _no_own_windows(meta: dict[str, Any]) -> str | None:
    """Many series: a line naming how many series feed no training window of the lookback the
    panel is cut for (their train part holds only its history): they are kept, forecast and
    scored on their validation and test origins, and learnt from the other series' windows."""
    panel = meta.get("panel")
    if meta["task"] != "forecast" or not panel or "lookback_cut" not in panel:
        return None
    lookback, horizon = int(panel["lookback_cut"]), int(meta["horizon"])
    trains = {s: int(m["meta"]["splits"]["train"]["rows"]) for s, m in panel["members"].items()}
    short = {s: n for s, n in trains.items() if n < lookback + horizon}
    if not short:
        return None
    sid = min(short, key=lambda s: short[s])
    return (
        f"warning: {len(short)} of {len(trains)} series feed no training window of lookback"
        f" {lookback} and data.horizon={horizon} (e.g. {sid!r}: {short[sid]} train steps): the"
        " model learns from the other series' windows and forecasts them from their own last"
        " steps; their validation and test origins are scored like the others'"
    )


def _unread_dates(meta: dict[str, Any]) -> str | None:
    """A warning where a forecast has no time column but a column of dates was left out: its
    rows are read in file order, without a frequency or dates on the forecasts, which the user
    of a date column rarely means (the CSV path infers no time column; none is guessed here)."""
    columns = meta.get("columns") or {}
    dates = columns.get("left_out_dates") or []
    if meta["task"] != "forecast" or columns.get("time_column") or not dates:
        return None
    return (
        f"warning: column {dates[0]!r} holds dates but data.time_column is not set: the rows are"
        f" read in file order, with no time axis (set data.time_column: {dates[0]},"
        f" --time-column {dates[0]})"
    )


def _row_numbers(meta: dict[str, Any]) -> str | None:
    """A warning where a forecast or a classifier left out a column that is the file's row
    numbers (:mod:`lstmtune.data.row_numbers`): the user may have meant it as an input."""
    numbers = (meta.get("columns") or {}).get("left_out_row_numbers") or []
    if not numbers:
        return None
    names = ", ".join(repr(c) for c in numbers)
    each = "holds" if len(numbers) == 1 else "hold"
    return (
        f"warning: column {names} {each} the file's row numbers and nothing else: not an input,"
        " since it tells only each row's place in the file (data.feature_columns naming it"
        " brings it back)"
    )


def _few_test_points(meta: dict[str, Any]) -> str | None:
    """A warning where a single series' test split holds fewer than :data:`FIRM_TEST_POINTS`
    values (the test RMSE and the champion decision rest on them), or None."""
    rows = int(meta["splits"]["test"]["rows"])
    if meta["task"] != "forecast" or meta.get("panel") or rows >= FIRM_TEST_POINTS:
        return None
    return (
        f"warning: the test split holds {rows} value(s): the test figures and the champion"
        " decision rest on them alone (a longer series, or data.test_size, gives firmer ones)"
    )

"""The classical fits a run's steps need (:func:`add_classical`), made in a child process
(``python -m lstmtune.classical_fits``) while the step does other work on the other core, when a
core is free: statsforecast's import and fits (2-3 s on a 2-core machine) then stop holding up
the step.

* The prepare step fits the tuning-time anchors (train) while it imports MLflow.
* The train-best step fits the final anchors (train+val) *and* the AutoARIMA/AutoETS baselines'
  test forecasts while it imports torch and trains; the step process then never imports
  statsforecast.

The series and the results travel as JSON (exact floats); the child runs the same functions of
:mod:`lstmtune.classical` the step would, so what it hands back is what the step would have
computed. A child that fails, or was not started, leaves the work to the step's own process."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from typing import Any

import numpy as np

from lstmtune import classical, prefork
from lstmtune.classical_log import on_log


class PendingFit:
    """:func:`lstmtune.classical.fit_specs` of ``y[:fit_end]`` and, with ``baseline_ends``, the
    baselines of :func:`lstmtune.classical.classical_baselines` (fitted on ``y[:fit_end]``,
    forecasting ``horizon`` steps from each of ``baseline_ends``); with ``parallel`` in a child
    process while the caller does other work. :meth:`result` waits for the specs and fits here
    if the child failed or was not started; :meth:`baselines` hands the baselines over."""

    def __init__(
        self,
        y: np.ndarray,
        fit_end: int,
        period: int,
        *,
        parallel: bool,
        baseline_ends: np.ndarray | None = None,
        horizon: int = 1,
        log: bool | None = False,
        val_end: int | None = None,
    ) -> None:
        self.y, self.fit_end, self.period = y, fit_end, period
        self.log, self.val_end = log, val_end
        self.ends, self.horizon = baseline_ends, horizon
        self.proc: prefork.ChildProcess | None = None
        self._specs: dict[str, Any] | None = None  # the child's first answer
        self._rest: dict[str, Any] | None = None  # and its second (the baselines)
        if parallel:
            request: dict[str, Any] = {"y": y.tolist(), "fit_end": fit_end, "period": period}
            request.update(log=log, val_end=val_end, horizon=horizon)
            if baseline_ends is not None:
                request.update(ends=baseline_ends.tolist())
            self._start(json.dumps(request))

    def _start(self, request: str) -> None:
        with contextlib.suppress(Exception):  # else fitted in result()
            self.proc = prefork.popen("lstmtune.classical_fits", stdin=True, stdout=True)
            self.proc.stdin.write(request + "\n")  # type: ignore[union-attr]
            self.proc.stdin.close()  # type: ignore[union-attr]

    def _line(self) -> dict[str, Any] | None:
        """The child's next answer line, or None (it failed, or was not started: then it is
        stopped and forgotten); it is reaped after its last line."""
        proc = self.proc
        if proc is None or proc.stdout is None:
            return None
        last = self.ends is None or self._specs is not None  # the specs, then the baselines
        answer = None
        with contextlib.suppress(Exception):
            answer = json.loads(proc.stdout.readline())
        if answer is None or last:
            with contextlib.suppress(Exception):
                if answer is None:
                    proc.kill()
                proc.stdout.close()
                if proc.wait() != 0:
                    answer = None
            self.proc = None
        return answer if isinstance(answer, dict) else None

    def result(self) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        """The specs (the child's first line: the baselines may still be on their way)."""
        if self._specs is None:
            self._specs = self._line()
        if self._specs is not None:
            return self._specs["specs"], self._specs["failed"]
        return fit_all(self.y, self.fit_end, self.period, self.log, self.val_end, self.horizon)

    def baselines(
        self, y: np.ndarray, ends: np.ndarray, horizon: int, period: int
    ) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, float]] | None:
        """The child's ``(forecasts, failures, seconds)`` by baseline name when it made them for
        exactly this series, these origins, horizon and period; else None (compute them here)."""
        if self._specs is None:
            self.result()
        if self._specs is not None and self.ends is not None and self._rest is None:
            self._rest = self._line() or {}  # read once
        got = self._rest or {}
        if "baselines" not in got or self.ends is None:
            return None
        same = (horizon, period) == (self.horizon, self.period) and np.array_equal(ends, self.ends)
        y = np.asarray(y, dtype=np.float64)
        if not same or not np.array_equal(y, self.y, equal_nan=True):
            return None
        b = got["baselines"]
        preds = {k: np.asarray(v, dtype=np.float64) for k, v in b["forecasts"].items()}
        return preds, b["failed"], b["seconds"]


def start_classical(
    meta: dict[str, Any],
    parts: dict[str, Any],
    fit_split: str,
    *,
    parallel: bool = False,
    baselines: bool = False,
) -> PendingFit:
    """Start the fit :func:`lstmtune.classical.add_classical` needs (in a child process with
    ``parallel``); with ``baselines`` also the baselines' forecasts of the test origins (the
    fit on the data up to the end of ``fit_split``, ``val`` for the final model)."""
    target, end = meta["columns"]["target"], int(meta["splits"][fit_split]["end"])
    y = np.concatenate([parts[s][target].to_numpy(np.float64) for s in ("train", "val", "test")])
    horizon = int(meta.get("horizon") or 1)
    ends = None
    if baselines:  # the test windows of forecast featurizers (lstmtune.features.split_ends)
        ends = np.arange(int(meta["splits"]["test"]["start"]) - 1, len(y) - horizon)
    period = int(meta["seasonal_period"])
    train = fit_split == "train"  # ARIMA on log values chosen on the validation split, then kept
    return PendingFit(
        y,
        end,
        period,
        parallel=parallel,
        baseline_ends=ends,
        horizon=horizon,
        log=None if train else arima_log(meta),
        val_end=int(meta["splits"]["val"]["end"]) if train else None,
    )


def arima_log(meta: dict[str, Any]) -> bool:
    """Whether the run's ARIMA is fitted on log values (as the tuning-time fit chose)."""
    return bool(((meta.get("classical") or {}).get("arima") or {}).get("log"))


def log_by_validation(
    y: np.ndarray, fit_end: int, val_end: int, period: int, horizon: int = 1
) -> bool:
    """AutoARIMA on log values (True) or on the values: whichever forecasts the validation split
    (rows ``fit_end .. val_end - 1``) better with the true history, both fitted on the rows
    before it, by the squared errors of the forecasts the run is scored on (``horizon`` steps
    from each origin whose horizon ends inside the split); the values where one is not positive,
    where the split is shorter than the horizon, or where neither fits. On 55 positive public
    series (:mod:`lstmtune.classical_log`, each run's own validation split, one step) this chose
    log on 32 and gave the mean of AutoARIMA and AutoETS 1.022x the better of the two on test
    on average (geometric 1.015), against 1.050 (1.039) always on the values and 1.024 (1.015)
    always on log values. Validation kept airmiles on the values (log: 2.7x on AutoARIMA alone)
    but took logs for wineind (1.19x), co2 and freeny, where the test split disagreed."""
    ends = np.arange(fit_end - 1, val_end - horizon)
    if len(ends) == 0 or not on_log(y[:val_end]):
        return False
    targets = y[ends[:, None] + np.arange(1, horizon + 1)]
    errors = [math.inf, math.inf]  # a fit that fails loses
    for log in (False, True):
        with contextlib.suppress(classical.ClassicalError):
            spec = classical.fit_spec("arima", y[:fit_end], period, log)
            pred = classical.spec_forecasts(spec, y[:val_end], ends, horizon, period)
            errors[log] = float(np.mean((pred - targets) ** 2))
    return errors[1] < errors[0]


def fit_all(
    y: np.ndarray,
    fit_end: int,
    period: int,
    log: bool | None,
    val_end: int | None,
    horizon: int = 1,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """:func:`lstmtune.classical.fit_specs` of ``y[:fit_end]``, its ARIMA on log values per
    ``log``; None: as :func:`log_by_validation` of the rows up to ``val_end`` chooses (by the
    forecasts of ``horizon`` steps)."""
    if log is None:
        log = val_end is not None and log_by_validation(y, fit_end, val_end, period, horizon)
    return classical.fit_specs(y, fit_end, period, log=log)


def add_classical(
    meta: dict[str, Any],
    parts: dict[str, Any],
    fit_split: str,
    *,
    extend_space: bool,
    pending: PendingFit | None = None,
) -> list[str]:
    """Fit AutoARIMA and AutoETS on the target up to the end of ``fit_split`` (``train`` while
    tuning, ``val`` for the final model; or take the fit ``pending`` from
    :func:`start_classical`) and store their specs in
    ``meta["classical"]`` (a kind that fails keeps an earlier fit, if any). With
    ``extend_space`` the fitted kinds join the default anchor choices of
    ``meta["search_space"]``. Returns warnings, one line each."""
    specs, failed = (pending or start_classical(meta, parts, fit_split)).result()
    meta["classical"] = {**(meta.get("classical") or {}), **specs}
    meta["classical_failures"] = failed
    space = meta.get("search_space") or {}
    anchor = space.get("anchor")
    if extend_space and specs and isinstance(anchor, dict):
        choices = list(anchor["choices"]) if anchor["type"] == "categorical" else [anchor["value"]]
        choices += [k for k in classical.KINDS if k in specs and k not in choices]
        space["anchor"] = {"type": "categorical", "choices": choices}
    names = classical.BASELINE_NAMES
    return [
        f"warning: {names[k]} could not be fitted ({reason}); the LSTM runs without it"
        for k, reason in failed.items()
    ]


def _say(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def _answer(request: dict[str, Any]) -> None:
    """The specs on one line, then (when asked) the baselines on the next."""
    y = np.asarray(request["y"], dtype=np.float64)
    fit_end, period = int(request["fit_end"]), int(request["period"])
    log, val_end = request.get("log", False), request.get("val_end")
    horizon = int(request.get("horizon", 1))
    specs, failed = fit_all(y, fit_end, period, log, val_end, horizon)
    _say({"specs": specs, "failed": failed})  # the step can go on with these
    if "ends" in request:
        ends = np.asarray(request["ends"], dtype=np.int64)
        preds, b_failed, seconds = classical.classical_baselines(y, fit_end, ends, horizon, period)
        forecasts = {k: v.tolist() for k, v in preds.items()}
        _say({"baselines": {"forecasts": forecasts, "failed": b_failed, "seconds": seconds}})


def main() -> None:
    """The child's entry point (``python -m lstmtune.classical_fits``, or forked by the run's
    step server): one request on stdin, the answers on stdout."""
    _answer(json.loads(sys.stdin.readline()))


if __name__ == "__main__":  # pragma: no cover - run by PendingFit
    main()
    os._exit(0)  # no interpreter teardown (a second with statsmodels): the step is waiting

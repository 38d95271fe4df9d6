"""lstmtune's published model against the forecasters people try first, on public series.

For each series: a default ``lstmtune run`` (its own process, a fresh output directory; the
summary's test metrics are the published champion's), then AutoARIMA, AutoETS and AutoTheta
(statsforecast) and seasonal naive fitted on the same train+val part and scored on the same test
origins with the same protocol — one one-step-ahead forecast per test origin with the true
history, nothing refitted — and, with ``--neuralforecast``, NeuralForecast's AutoLSTM (Optuna
backend, the same number of trials). One table: test RMSE, MASE (MAE over the in-sample MAE of
seasonal naive on train+val) and wall seconds::

    python benchmarks/bench_vs_peers.py                       # airline + the four dev series
    python benchmarks/bench_vs_peers.py --series airline wineind --json peers.json

Series (``benchmarks/data/SOURCES.md``): the bundled airline passengers (lstmtune's default
split), wineind, woolyrnq, ausbeer and taylor (test sizes of the development set's reference
table; taylor with its daily season of 48 half-hours — lstmtune infers the weekly one, 336,
which no classical model here can fit in minutes), co2 (monthly Mauna Loa, the last 24) and two
yearly series no development work looked at, sunspots and the Nile.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

HERE = Path(__file__).resolve().parent
# name -> (csv, target, time column, test size or None for the default split, season or None)
SERIES: dict[str, tuple[str | None, str, str, int | None, int | None]] = {
    "airline": (None, "passengers", "month", None, None),
    "wineind": ("wineind.csv", "sales", "month", 24, None),
    "woolyrnq": ("woolyrnq.csv", "tonnes", "quarter", 12, None),
    "ausbeer": ("ausbeer.csv", "megalitres", "quarter", 16, None),
    "taylor": ("taylor.csv", "demand_mw", "step", 336, 48),
    "co2": ("co2_monthly.csv", "co2", "month", 24, None),  # the monthly CO2 (last 24)
    "sunspots": ("sunspots.csv", "sunspots", "year", 67, None),  # yearly, an 11-year cycle
    "nile": ("nile.csv", "volume", "year", 20, None),  # yearly, no season
}


def _config_overrides(
    name: str, out: str, n_trials: int | None, seed: int | None
) -> dict[str, Any]:
    from lstmtune.config import example_data_path

    csv, target, time_col, test, season = SERIES[name]
    o: dict[str, Any] = {
        "data.path": example_data_path() if csv is None else str(HERE / "data" / csv),
        "data.target": target,
        "data.time_column": time_col,
        "output_dir": out,
    }
    if seed is not None:
        o["train.seed"] = seed
    if test is not None:
        o["data.test_size"] = test
    if season is not None:
        o["data.seasonal_period"] = season
    if n_trials is not None:
        o["tune.n_trials"] = n_trials
    return o


def _split(overrides: dict[str, Any]) -> tuple[np.ndarray, int, int, int]:
    """The target series, the start of the test split, the season and the validation size, as
    lstmtune prepares them."""
    from lstmtune.config import load_config
    from lstmtune.data.prepare import prepare

    cfg = load_config(None, overrides).resolved()
    parts, meta = prepare(cfg)
    target = meta["columns"]["target"]
    y = np.concatenate(
        [parts[s][target].to_numpy(dtype=np.float64) for s in ("train", "val", "test")]
    )
    splits = meta["splits"]
    return y, int(splits["test"]["start"]), int(meta["seasonal_period"]), int(splits["val"]["rows"])


def run_lstmtune(overrides: dict[str, Any], threads: int | None) -> tuple[dict[str, Any], float]:
    out = Path(overrides["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "bench-config.json"
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        *head, last = key.split(".")
        node = nested
        for part in head:
            node = node.setdefault(part, {})
        node[last] = value
    if threads:
        nested.setdefault("train", {})["threads"] = threads
    import yaml

    cfg_path = out / "bench-config.yaml"
    cfg_path.write_text(yaml.safe_dump(nested))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "lstmtune.cli", "run", "--config", str(cfg_path), "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"lstmtune run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary, seconds


def mase_scale(y: np.ndarray, fit_end: int, season: int) -> float:
    m = season if season >= 2 and fit_end > season else 1
    return float(np.mean(np.abs(y[m:fit_end] - y[: fit_end - m])))


def classical_rows(
    y: np.ndarray, fit_end: int, season: int
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    from lstmtune.classical import classical_baselines
    from lstmtune.features import naive_forecast

    ends = np.arange(fit_end - 1, len(y) - 1)
    true = y[ends + 1]
    scale = mase_scale(y, fit_end, season)
    rows: dict[str, dict[str, float]] = {}
    preds, failed, seconds = classical_baselines(
        y, fit_end, ends, 1, season, ("arima", "ets", "theta")
    )
    t0 = time.perf_counter()
    kind = "seasonal" if season >= 2 else "last"
    preds[f"{kind}_naive"] = naive_forecast(y, ends, kind, 1, season)
    seconds[f"{kind}_naive"] = time.perf_counter() - t0
    for name, p in preds.items():
        err = p[:, 0] - true
        rows[name] = {
            "rmse": float(np.sqrt(np.mean(err**2))),
            "mase": float(np.mean(np.abs(err)) / scale),
            "seconds": float(seconds[name]),
        }
    return rows, failed


def run_neuralforecast(
    y: np.ndarray, fit_end: int, val_size: int, season: int, n_trials: int
) -> dict[str, float]:
    """NeuralForecast AutoLSTM (Optuna backend): tuned on train (validation = the val split),
    then one-step forecasts over the test split with the true history (cross_validation with
    refit=False)."""
    import pandas as pd
    from neuralforecast import NeuralForecast
    from neuralforecast.auto import AutoLSTM

    n_test = len(y) - fit_end
    df = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(y)), "y": y})
    t0 = time.perf_counter()
    model = AutoLSTM(h=1, backend="optuna", num_samples=n_trials, verbose=False)
    nf = NeuralForecast(models=[model], freq=1)
    cv = nf.cross_validation(
        df, n_windows=n_test, step_size=1, val_size=val_size, refit=False, verbose=False
    )
    seconds = time.perf_counter() - t0
    pred = cv["AutoLSTM"].to_numpy(dtype=np.float64)
    true = cv["y"].to_numpy(dtype=np.float64)
    err = pred - true
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mase": float(np.mean(np.abs(err)) / mase_scale(y, fit_end, season)),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--series", nargs="+", choices=list(SERIES), default=list(SERIES))
    p.add_argument("--n-trials", type=int, default=None, help="default: lstmtune's default (30)")
    p.add_argument("--seed", type=int, default=None, help="train.seed (default: lstmtune's)")
    p.add_argument("--neuralforecast", action="store_true", help="also run AutoLSTM (slow)")
    p.add_argument("--keep", metavar="DIR", help="keep each run's output directory under DIR")
    args = p.parse_args(argv)
    info = common.machine(args.device)
    common.header("lstmtune vs classical and neural peers (test RMSE / MASE / wall s)", info, argv)
    results: dict[str, Any] = {"machine": info, "series": {}}
    table_rows = []
    for name in args.series:
        base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lstmtune-peers-"))
        overrides = _config_overrides(name, str(base / name), args.n_trials, args.seed)
        y, fit_end, season, val_rows = _split(overrides)
        summary, seconds = run_lstmtune(overrides, args.threads)
        scale = mase_scale(y, fit_end, season)
        rows: dict[str, dict[str, Any]] = {
            "lstmtune": {
                "rmse": summary["test_metrics"]["rmse"],
                "mase": summary["test_metrics"]["mae"] / scale,
                "seconds": seconds,
                "alias": summary["alias"],
                "best_params": summary["best_params"],
            }
        }
        classical, failed = classical_rows(y, fit_end, season)
        rows.update(classical)
        if args.neuralforecast:
            rows["autolstm"] = run_neuralforecast(y, fit_end, val_rows, season, args.n_trials or 30)
        best_classical = min(
            (rows[k]["rmse"] for k in ("auto_arima", "auto_ets") if k in rows), default=None
        )
        results["series"][name] = {
            "n": len(y),
            "test": len(y) - fit_end,
            "season": season,
            "rows": rows,
            "failed": failed,
            "lstmtune_beats_classical": best_classical is not None
            and rows["lstmtune"]["rmse"] <= best_classical,
        }
        for method, r in rows.items():
            table_rows.append(
                [
                    name,
                    method,
                    common.fmt(r["rmse"], 4),
                    common.fmt(r["mase"], 3),
                    common.fmt(r["seconds"], 3),
                    r.get("alias", ""),
                ]
            )
        for method, reason in failed.items():
            table_rows.append([name, method, "failed", reason[:40], "", ""])
        print(
            common.table(
                ["series", "method", "rmse", "mase", "wall s", "alias"],
                table_rows[-len(rows) - len(failed) :],
            ),
            flush=True,
        )
    print()
    print(common.table(["series", "method", "rmse", "mase", "wall s", "alias"], table_rows))
    common.write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

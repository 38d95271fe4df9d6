"""Forecasts of series that are never negative, with ``evaluate.nonnegative`` off and on
(a script that prints a table, not a test).

    python benchmarks/bench_nonnegative.py [--series counts sunspots] [--trials 4] [--seed 0]
        [--keep DIR] [--json FILE]

For each series, two ``lstmtune run`` (their own processes, ``--trials`` trials, ``train.seed``
``--seed``, everything else default): ``evaluate.nonnegative: false`` (the forecasts and intervals
as published before 2026-12-04) and ``auto``. The same seed trains the same networks, so the two
differ only in the clipping. The registered model's pyfunc core (:class:`lstmtune.serving.
Predictor`) then forecasts the whole series, and its rows at the test origins are scored: how
many lower bounds (every step, every level) and point forecasts are below 0, coverage, mean width
and mean interval score (Winkler: width plus 2/alpha times the miss) per level, and RMSE; the
summary's own test metrics beside them.

Series: ``counts`` (150 monthly Poisson counts, mean 2 x (1 + 0.6 sin(2 pi t / 12)), seed 5,
generated here) and ``sunspots`` (yearly, 1700-2008, ``benchmarks/data``; near zero at every
solar minimum).
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
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

DATA = Path(__file__).resolve().parent / "data"
LEVELS = ("80", "95")


def counts(n: int = 150, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = rng.poisson(2.0 * (1 + 0.6 * np.sin(2 * np.pi * t / 12))).astype(np.float64)
    months = pd.date_range("2000-01-01", periods=n, freq="MS").strftime("%Y-%m")
    return pd.DataFrame({"t": months, "y": y})


def series_frame(name: str) -> pd.DataFrame:
    if name == "counts":
        return counts()
    if name == "sunspots":
        return pd.read_csv(DATA / "sunspots.csv").rename(columns={"year": "t", "sunspots": "y"})
    raise ValueError(f"unknown series {name!r}")


def run(name: str, rule: str, trials: int, seed: int, out: Path) -> tuple[dict[str, Any], float]:
    """One ``lstmtune run`` of ``name`` under ``evaluate.nonnegative: rule``."""
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    csv = out / f"{name}.csv"
    series_frame(name).to_csv(csv, index=False)
    cfg = {
        "data": {"path": str(csv), "target": "y", "time_column": "t"},
        "tune": {"n_trials": trials},
        "train": {"seed": seed},
        "evaluate": {"nonnegative": {"auto": "auto", "true": True, "false": False}[rule]},
        "output_dir": str(out),
    }
    (out / "bench-config.yaml").write_text(yaml.safe_dump(cfg))
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "lstmtune.cli", "run", "--config", str(out / "bench-config.yaml")]
    proc = subprocess.run([*cmd, "--quiet"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"lstmtune run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads((out / "summary.json").read_text()), time.perf_counter() - t0


def served_scores(out: Path) -> dict[str, float]:
    """The published model's forecasts at the test origins, scored (see the module docstring)."""
    from lstmtune.data.prepare import read_prepared

    run_dir = sorted((out / "kfp").glob("*/train-best"), key=lambda p: p.stat().st_mtime)[-1].parent
    parts, meta = read_prepared(str(run_dir / "prepare" / "dataset"))
    model_dir = run_dir / "train-best" / "model"
    spec = json.loads((model_dir / "spec.json").read_text())
    test = meta["splits"]["test"]
    rows, true, _, f = common.served_at_test_origins(model_dir, parts, spec, test)
    steps = range(1, f.horizon + 1)
    pred = rows[[f"step_{k}" for k in steps]].to_numpy(dtype=np.float64)
    lows = rows[[c for c in rows.columns if "_lo_" in c]].to_numpy(dtype=np.float64)
    out_scores: dict[str, float] = {
        "test_values": float(true.size),
        "lows": float(lows.size),
        "lows_below_0": float((lows < 0).sum()),
        "forecasts_below_0": float((pred < 0).sum()),
        "rmse": float(np.sqrt(np.mean((pred - true) ** 2))),
    }
    for level in LEVELS:
        lo = rows[[f"step_{k}_lo_{level}" for k in steps]].to_numpy(dtype=np.float64)
        hi = rows[[f"step_{k}_hi_{level}" for k in steps]].to_numpy(dtype=np.float64)
        alpha = 1 - float(level) / 100
        miss = np.maximum(lo - true, 0) + np.maximum(true - hi, 0)
        out_scores[f"coverage_{level}"] = float(100 * np.mean((true >= lo) & (true <= hi)))
        out_scores[f"width_{level}"] = float(np.mean(hi - lo))
        out_scores[f"score_{level}"] = float(np.mean(hi - lo + 2 / alpha * miss))
    return out_scores


def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--series", nargs="+", default=["counts", "sunspots"])
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", help="keep the runs in this directory")
    args = p.parse_args()
    common.header("non-negative forecasts", common.machine(), sys.argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        for name in args.series:
            for rule in ("false", "auto"):
                out = root / f"{name}-{rule}"
                summary, seconds = run(name, rule, args.trials, args.seed, out)
                scores = served_scores(out)
                results[f"{name} / {rule}"] = {
                    "seconds": seconds,
                    "served": scores,
                    "test_metrics": summary["test_metrics"],
                    "baseline_metrics": summary["baseline_metrics"],
                    "nonnegative": summary.get("nonnegative"),
                }
    headers = ["series / nonnegative", "lows < 0", "fc < 0", "RMSE"]
    headers += [f"{w} {lv}" for lv in LEVELS for w in ("cover", "width", "IS")]
    rows = []
    for key, r in results.items():
        s = r["served"]
        row = [key, f"{s['lows_below_0']:.0f}/{s['lows']:.0f}", f"{s['forecasts_below_0']:.0f}"]
        row += [s["rmse"]]
        row += [s[f"{w}_{lv}"] for lv in LEVELS for w in ("coverage", "width", "score")]
        rows.append(row)
        served_rmse, summary_rmse = s["rmse"], r["test_metrics"]["rmse"]
        if not np.isclose(served_rmse, summary_rmse, rtol=1e-6):
            print(f"warning: {key}: served RMSE {served_rmse} != summary {summary_rmse}")
    print(common.table(headers, rows))
    common.write_json(args.json, results)


if __name__ == "__main__":
    main()

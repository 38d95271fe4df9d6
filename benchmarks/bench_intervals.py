"""Coverage of the published prediction intervals on the test split (issue 14, item 2).

For each series: a small ``lstmtune run`` (its own process, fixed seed), then the test coverage
and mean width of every level from the summary (``coverage_80``, ``width_80``, …: what the
registered pyfunc returns). With ``--variants`` the calibration is recomputed offline from the
run's artefacts with the pipeline's own functions (the same train-only network, seeds fixed) and
scored with two kinds of score — ``abs`` (absolute residuals) and ``scaled`` (divided by the
local scale at the origin, the product's) — on four calibration sets: ``val`` (the product's),
``reseed`` (the network trained with another seed), ``pool`` (val + reseed) and ``tail`` (the last
``val_size`` rows of train, the network trained on the rest)::

    python benchmarks/bench_intervals.py --variants               # airline + 6 synthetic series
    python benchmarks/bench_intervals.py --series airline syn_mult --variants --json iv.json
    python benchmarks/bench_intervals.py --variants --reuse --keep DIR   # re-score kept runs

Synthetic series (generated here, seeds fixed): additive season + trend + AR(1) noise, a
multiplicative season with growth and log-normal noise (airline-like), a random walk with drift,
a stationary AR(2), a season with Student-t(3) noise, and a daily series with a weekly season.
"""

from __future__ import annotations

import copy
import json
import math
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

LEVELS = (80.0, 95.0)


def synthetic(kind: str, seed: int, n: int = 240) -> pd.DataFrame:
    """One synthetic series ``t, y`` (monthly unless ``daily``)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    season = np.sin(2 * np.pi * t / 12)
    if kind == "syn_add":  # additive season, trend, AR(1) noise
        e = np.zeros(n)
        for i in range(1, n):
            e[i] = 0.5 * e[i - 1] + rng.normal(0, 2.0)
        y = 50 + 0.1 * t + 8 * season + e
    elif kind == "syn_mult":  # multiplicative season, growth, log-normal noise
        y = 100 * np.exp(0.008 * t) * (1 + 0.25 * season) * np.exp(rng.normal(0, 0.04, n))
    elif kind == "syn_rw":  # random walk with drift, no season
        y = 200 + np.cumsum(rng.normal(0.3, 3.0, n))
    elif kind == "syn_ar2":  # stationary AR(2) around a level
        y = np.zeros(n)
        for i in range(2, n):
            y[i] = 0.6 * y[i - 1] - 0.3 * y[i - 2] + rng.normal(0, 5.0)
        y = 1000 + y
    elif kind == "syn_t3":  # season with heavy-tailed noise
        y = 20 + 5 * season + rng.standard_t(3, n)
    elif kind == "syn_daily":  # weekly season, daily steps
        n = 300
        t = np.arange(n, dtype=np.float64)
        y = 500 + 60 * np.sin(2 * np.pi * t / 7) + 0.2 * t + rng.normal(0, 15.0, n)
    else:
        raise ValueError(f"unknown synthetic series {kind!r}")
    times = pd.date_range("2000-01-01", periods=n, freq="D" if kind == "syn_daily" else "MS")
    return pd.DataFrame({"t": times.strftime("%Y-%m-%d"), "y": y})


SYNTHETIC = ("syn_add", "syn_mult", "syn_rw", "syn_ar2", "syn_t3", "syn_daily")


def overrides(name: str, out: Path, n_trials: int, seed: int) -> dict[str, Any]:
    from lstmtune.config import example_data_path

    o: dict[str, Any] = {"output_dir": str(out), "tune.n_trials": n_trials, "train.seed": seed}
    if name == "airline":
        o.update(
            {"data.path": example_data_path(), "data.target": "passengers"}
            | {"data.time_column": "month"}
        )
    else:
        csv = out / f"{name}.csv"
        out.mkdir(parents=True, exist_ok=True)
        synthetic(name, seed).to_csv(csv, index=False)
        o.update({"data.path": str(csv), "data.target": "y", "data.time_column": "t"})
    return o


def run(o: dict[str, Any], threads: int | None) -> tuple[dict[str, Any], float]:
    import yaml

    out = Path(o["output_dir"])
    nested: dict[str, Any] = {}
    for key, value in o.items():
        *head, last = key.split(".")
        node = nested
        for part in head:
            node = node.setdefault(part, {})
        node[last] = value
    if threads:
        nested.setdefault("train", {})["threads"] = threads
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "bench-config.yaml"
    cfg_path.write_text(yaml.safe_dump(nested))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "lstmtune.cli", "run", "--config", str(cfg_path), "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"lstmtune run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary, time.perf_counter() - t0


# --- offline variants ----------------------------------------------------------------------------


def residuals(out: Path) -> dict[str, Any]:
    """The run's calibration (validation) and test forecasts, truth and origins, recomputed from
    its artefacts with the pipeline's own functions."""
    from lstmtune.config import load_config
    from lstmtune.data.prepare import read_prepared
    from lstmtune.features import forecast_series
    from lstmtune.final_forecast import fit_networks, validation_forecast
    from lstmtune.retrain import FinalTrainer
    from lstmtune.training import select_device

    run_dir = sorted((out / "kfp").glob("*/train-best"), key=lambda p: p.stat().st_mtime)[-1].parent
    cfg = load_config(str(out / "bench-config.yaml")).resolved()
    parts, meta = read_prepared(str(run_dir / "prepare" / "dataset"))
    best = json.loads((run_dir / "tune" / "best").read_text())
    model_dir = run_dir / "train-best" / "model"
    spec = json.loads((model_dir / "spec.json").read_text())
    device = select_device("cpu")
    entries = spec.get("members") or [  # the published networks: the ensemble's members
        {
            "params": best["best_params"],
            "epochs": max(1, int(best["best_epoch"])),
            "seed": cfg.train.seed + int(best["best_trial"]),
        }
    ]
    trainers = [FinalTrainer(cfg, m["params"], m["epochs"], m["seed"], device) for m in entries]
    combination = spec.get("combination")
    fallback = (combination or {}).get("specs") or {}
    val_pred, val_true, val_ends, _ = validation_forecast(
        fit_networks(parts, meta, trainers, "train"), meta, combination, fallback
    )
    # the same, the networks trained with other seeds: free of the winning trials' seed luck
    reseeded = [copy.copy(t) for t in trainers]
    for t in reseeded:
        t.seed += 7919
    refit = fit_networks(parts, meta, reseeded, "train")
    reseed = validation_forecast(refit, meta, combination, fallback)[:3]
    # the same forecast, trained on train less its last len(val) rows, on those rows: residuals
    # free of the selection on validation (hyperparameters and epochs were chosen there)
    tail_meta = copy.deepcopy(meta)
    v = int(meta["splits"]["val"]["rows"])
    cut = int(meta["splits"]["train"]["end"]) - v
    tail_meta["splits"]["train"].update(end=cut, rows=cut)
    tail_meta["splits"]["val"] = {"start": cut, "end": cut + v, "rows": v}
    tail_fit = fit_networks(parts, tail_meta, trainers, "train")
    tail = validation_forecast(tail_fit, tail_meta, combination, fallback)[:3]
    rows, true, ends, f = common.served_at_test_origins(
        model_dir, parts, spec, meta["splits"]["test"]
    )
    raw = forecast_series(parts, f.features)
    test_pred = rows[[f"step_{h}" for h in range(1, f.horizon + 1)]].to_numpy(dtype=np.float64)
    return {
        "series": raw[:, f.target_index],
        "period": f.period,
        "val": (val_pred, val_true, val_ends),
        "tail": tail,
        "reseed": reseed,
        "test": (test_pred, true, ends),
    }


def scale(kind: str, series: np.ndarray, ends: np.ndarray, period: int) -> np.ndarray:
    """A local scale of the history at each origin (1 for ``abs``)."""
    if kind == "abs":
        return np.ones(len(ends))
    if kind == "scaled":  # the product's: lstmtune.conformal.local_scale over scale_window
        from lstmtune.conformal import local_scale, scale_window

        return local_scale(series, ends, scale_window(period))
    out = np.empty(len(ends))
    for i, e in enumerate(ends):
        if kind.startswith("diff"):
            w = int(kind.removeprefix("diff"))
            window = series[max(0, e - w) : e + 1]
            out[i] = np.mean(np.abs(np.diff(window)))
        elif kind == "sdiff":  # mean |seasonal change| over the last max(12, season) origins
            m, w = max(period, 1), max(12, period)
            first = max(m, e - w + 1)
            window = series[first : e + 1] - series[first - m : e + 1 - m]
            out[i] = np.mean(np.abs(window)) if len(window) else np.nan
        elif kind == "level":
            out[i] = np.mean(np.abs(series[max(0, e - max(period, 1) + 1) : e + 1]))
    return np.maximum(out, 1e-9 * max(1.0, float(np.nanmax(np.abs(series)))))


def variant_metrics(r: dict[str, Any], variant: str) -> dict[str, float]:
    from lstmtune.conformal import conformal_quantile, level_name

    source, kind = variant.split(":")
    sets = {"val": ["val"], "tail": ["tail"], "reseed": ["reseed"], "pool": ["val", "reseed"]}[
        source
    ]
    tp, tt, te = r["test"]
    scores = np.concatenate(
        [
            np.abs(r[s][1] - r[s][0]) / scale(kind, r["series"], r[s][2], r["period"])[:, None]
            for s in sets
        ]
    )
    vp = r["val"][0]
    st = scale(kind, r["series"], te, r["period"])[:, None]
    out: dict[str, float] = {}
    for level in LEVELS:
        q = np.array([conformal_quantile(scores[:, k], level)[0] for k in range(vp.shape[1])])
        half = q[None, :] * st
        inside = np.abs(tt - tp) <= half
        out[f"coverage_{level_name(level)}"] = float(100 * inside.mean())
        out[f"width_{level_name(level)}"] = float(np.mean(2 * half))
    return out


VARIANTS = tuple(
    f"{src}:{k}" for src in ("val", "reseed", "pool", "tail") for k in ("abs", "scaled", "sdiff")
)


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--series", nargs="+", default=["airline", *SYNTHETIC])
    p.add_argument("--n-trials", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", action="store_true", help="also score alternative scores")
    p.add_argument("--keep", help="keep the output directories under this folder")
    p.add_argument(
        "--reuse", action="store_true", help="a series whose --keep folder has a summary: no run"
    )
    args = p.parse_args(argv)
    common.header("bench_intervals", common.machine(), argv)
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-intervals-"))
    rows, results = [], {}
    for name in args.series:
        out = root / name
        if args.reuse and (out / "summary.json").is_file():
            summary, seconds = json.loads((out / "summary.json").read_text()), math.nan
        else:
            summary, seconds = run(overrides(name, out, args.n_trials, args.seed), args.threads)
        m = summary["test_metrics"]
        entry: dict[str, Any] = {"published": m, "seconds": seconds, "alias": summary["alias"]}
        if args.variants:
            r = residuals(out)
            entry["n_val"], entry["n_test"] = len(r["val"][2]), len(r["test"][2])
            entry["variants"] = {k: variant_metrics(r, k) for k in VARIANTS}
        results[name] = entry
        cells = [m.get(k) for k in ("coverage_80", "width_80", "coverage_95", "width_95")]
        rows.append([name, m["rmse"], *cells, seconds])
        print(json.dumps({name: entry}, default=float), flush=True)
    headers = ["series", "rmse", "cov80 %", "width80", "cov95 %", "width95", "s"]
    print(common.table(headers, rows))
    if args.variants:
        vrows = [
            [name, k, v["coverage_80"], v["width_80"], v["coverage_95"], v["width_95"]]
            for name, e in results.items()
            for k, v in e["variants"].items()
        ]
        print(common.table(["series", "score", "cov80", "width80", "cov95", "width95"], vrows))
        for k in VARIANTS:
            err = [
                abs(e["variants"][k][f"coverage_{lv:g}"] - lv)
                for e in results.values()
                for lv in LEVELS
            ]
            print(f"{k}: mean |coverage - nominal| = {np.mean(err):.2f} points")
    common.write_json(args.json, {"series": results, "n_trials": args.n_trials})
    return 0 if all(math.isfinite(r[2] or math.nan) for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

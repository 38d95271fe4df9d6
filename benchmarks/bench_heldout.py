"""lstmtune on 20 public series that no development work tuned it on, against AutoARIMA/AutoETS.

The series (``benchmarks/data/heldout/``, see ``benchmarks/data/SOURCES.md``) are R's classic
monthly, quarterly and yearly series from the ``datasets`` and ``fpp2`` packages. Each gets a
default ``lstmtune run`` exactly as a new user would start it: the default split (the last 15 %
tested), the season inferred from the data, the default budget; ``--horizon`` sets
``data.horizon``. The figure per series is the ratio of the published forecast's test RMSE (every
step of every test origin) to the better of the run's own AutoARIMA and AutoETS baselines, which
the evaluate step fits on train+val and scores with the same protocol; then the mean, geometric
mean and median of the ratios, how many are at or below 1, and the pooled coverage of the 80 %
intervals. ``--quick``: four trials, the first six series::

    python benchmarks/bench_heldout.py --threads 1 --jobs 2
    python benchmarks/bench_heldout.py --horizon 6 --threads 1 --jobs 2 --json h6.json
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from bench_horizon import against_classical

DATA = Path(__file__).resolve().parent / "data" / "heldout"
SERIES = sorted(p.stem for p in DATA.glob("*.csv"))


def one_series(name: str, horizon: int, out: str, args: Any) -> dict[str, Any]:
    """A default run of the held-out series ``name`` at ``horizon``."""
    overrides: dict[str, Any] = {
        "data.path": str(DATA / f"{name}.csv"),
        "data.target": "value",
        "data.time_column": "time",
        "data.horizon": horizon,
        "output_dir": out,
    }
    if args.quick:
        overrides["tune.n_trials"] = 4
    if args.seed is not None:
        overrides["train.seed"] = args.seed
    return against_classical(overrides, args.threads)


def totals(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean, geometric mean and median of the ratios, the count at or below 1, and the champion
    count."""
    ratios = [r["ratio"] for r in results.values() if r["ratio"] is not None]
    if not ratios:
        return {}
    return {
        "mean_ratio": statistics.fmean(ratios),
        "geometric_mean_ratio": math.exp(statistics.fmean(math.log(v) for v in ratios)),
        "median_ratio": statistics.median(ratios),
        "at_or_below_1": sum(v <= 1 for v in ratios),
        "champions": sum(r["alias"] == "champion" for r in results.values()),
        "n_series": len(ratios),
        "pooled_coverage_80": _pooled_coverage(list(results.values())),
    }


def _pooled_coverage(results: list[dict[str, Any]]) -> float | None:
    """The 80 % intervals' coverage pooled over the series, each weighted by its distinct test
    times (``interval_points``; several steps ahead a series' coverage counts every step of
    every window, so this is the average coverage weighted by test length)."""
    pairs = [
        (float(r["coverage_80"]), float(r["interval_points"]))
        for r in results
        if r.get("coverage_80") is not None
        and math.isfinite(r["coverage_80"])
        and r.get("interval_points")
    ]
    points = sum(n for _, n in pairs)
    return sum(c * n for c, n in pairs) / points if points else None


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--series", nargs="+", choices=SERIES, default=SERIES)
    p.add_argument("--horizon", type=int, default=1, help="data.horizon (default 1)")
    p.add_argument("--jobs", type=int, default=1, help="runs side by side (default 1)")
    p.add_argument("--seed", type=int, default=None, help="train.seed (default: lstmtune's)")
    args = p.parse_args(argv)
    if args.quick and args.series == SERIES:
        args.series = SERIES[:6]
    info = common.machine(args.device)
    common.header(f"lstmtune on {len(args.series)} held-out series, horizon {args.horizon}", info)
    base = Path(tempfile.mkdtemp(prefix="lstmtune-heldout-"))
    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        futures = {
            name: pool.submit(one_series, name, args.horizon, str(base / name), args)
            for name in args.series
        }
        results = {name: f.result() for name, f in futures.items()}
    rows = [
        [name, r["rmse"], r["auto_arima"], r["auto_ets"], r["ratio"], r["alias"], r["seconds"]]
        for name, r in results.items()
    ]
    print(common.table(
        ["series", "rmse", "AutoARIMA", "AutoETS", "vs better", "alias", "s"],
        [[common.fmt(v, 4) for v in row] for row in rows],
    ))  # fmt: skip
    summary = totals(results)
    print(
        "over the better classical model: "
        + ", ".join(f"{k} {common.fmt(v, 4)}" for k, v in summary.items())
    )
    common.write_json(args.json, {"machine": info, "horizon": args.horizon, "series": results,
                                  **summary})  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""lstmtune's published forecast several steps ahead against the run's own AutoARIMA and AutoETS.

For each series of :mod:`bench_vs_peers` (its splits and seasons): a default ``lstmtune run`` with
``data.horizon`` set, and the ratio of its test RMSE (every step of every test origin) to the
better of the run's own AutoARIMA and AutoETS baselines, which the evaluate step scores with the
same protocol (one forecast of the horizon per test origin, with the true history). Also the
published combination's weights and whether the network copied a classical partner::

    python benchmarks/bench_horizon.py --horizon 6 --threads 1
    python benchmarks/bench_horizon.py --horizon 1 --series wineind co2 --json h1.json
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from bench_vs_peers import SERIES, _config_overrides, run_lstmtune

SHORT = ["airline", "wineind", "woolyrnq", "ausbeer", "co2", "sunspots", "nile"]


def one_series(
    name: str, horizon: int, out: str, threads: int | None, n_trials: int | None = None
) -> dict[str, Any]:
    """A default run of ``name`` at ``horizon`` (``n_trials``: lstmtune's default where None):
    its figures against its own baselines."""
    overrides = {**_config_overrides(name, out, n_trials, None), "data.horizon": horizon}
    return against_classical(overrides, threads)


def against_classical(overrides: dict[str, Any], threads: int | None) -> dict[str, Any]:
    """A ``lstmtune run`` with ``overrides``: its test RMSE over the better of its own AutoARIMA
    and AutoETS baselines, its combination weights, alias and wall seconds."""
    summary, seconds = run_lstmtune(overrides, threads)
    baselines = summary["baseline_metrics"]
    classical = [baselines[k]["rmse"] for k in ("auto_arima", "auto_ets") if k in baselines]
    combination = summary.get("combination") or {}
    rmse = summary["test_metrics"]["rmse"]
    return {
        "rmse": rmse,
        "auto_arima": baselines.get("auto_arima", {}).get("rmse"),
        "auto_ets": baselines.get("auto_ets", {}).get("rmse"),
        "ratio": rmse / min(classical) if classical else None,
        "weights": combination.get("weights"),
        "network_copies": combination.get("network_copies"),
        "alias": summary["alias"],
        "coverage_80": summary["test_metrics"].get("coverage_80"),
        "interval_points": summary["test_metrics"].get("interval_points"),
        "combination_test": summary.get("combination_test"),  # each part of the mix alone
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--series", nargs="+", choices=list(SERIES), default=SHORT)
    p.add_argument("--horizon", type=int, default=6, help="data.horizon (default 6)")
    args = p.parse_args(argv)
    info = common.machine(args.device)
    common.header(f"lstmtune {args.horizon} steps ahead vs its own classical baselines", info, argv)
    base = Path(tempfile.mkdtemp(prefix="lstmtune-horizon-"))
    results: dict[str, Any] = {"machine": info, "horizon": args.horizon, "series": {}}
    rows = []
    n_trials = 4 if args.quick else None
    for name in args.series:
        r = one_series(name, args.horizon, str(base / name), args.threads, n_trials)
        results["series"][name] = r
        weights = " ".join(f"{k} {v:.3g}" for k, v in sorted((r["weights"] or {}).items()))
        row = [name, r["rmse"], r["auto_arima"], r["auto_ets"], r["ratio"], r["alias"]]
        rows.append([common.fmt(v, 4) for v in row] + [weights, r["network_copies"] or ""])
        print(" ".join(str(v) for v in rows[-1]), flush=True)
    ratios = [r["ratio"] for r in results["series"].values() if r["ratio"] is not None]
    results["mean_ratio"] = sum(ratios) / len(ratios) if ratios else None
    print()
    headers = ["series", "rmse", "AutoARIMA", "AutoETS", "vs better", "alias", "weights", "copies"]
    print(common.table(headers, rows))
    print(f"mean ratio to the better classical model: {common.fmt(results['mean_ratio'], 4)}")
    common.write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Many series, one model: quality against per-series baselines, and the cost of a big panel
(a script that prints a table, not a test).

    python benchmarks/bench_panel.py [--series 100] [--length 120] [--trials 10]
        [--big-series 1000] [--big-length 200] [--skip-big] [--skip-quality]
        [--skip-synthetic] [--nonnegative auto|true|false] [--json FILE]

1. Quality: a synthetic panel (``lstmtune.synthetic.panel_frame``: levels from 1 to 10 000,
   different seasons' phases, trends and lengths) through ``lstmtune.runner.run_local`` with
   default settings and ``--trials`` trials; the test mean MASE of the one global model beside
   per-series persistence, seasonal naive, AutoARIMA and AutoETS (each fitted per series).
2. Cost: ``--big-series`` x ``--big-length`` steps, ``--trials`` trials: wall seconds of the whole
   run and the peak resident memory of the largest step process (``ru_maxrss`` of the children).
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import pandas as pd

from lstmtune.config import load_config
from lstmtune.conformal import summary_line
from lstmtune.nonnegative import describe
from lstmtune.runner import run_local
from lstmtune.synthetic import panel_frame

DATA = Path(__file__).resolve().parent / "data"


def quarterly(path: Path, time_col: str, value_col: str, how: str) -> pd.DataFrame:
    """A monthly series as quarters (``how``: sum for flows, mean for levels)."""
    frame = pd.read_csv(path)
    quarter = pd.PeriodIndex(pd.to_datetime(frame[time_col]), freq="Q").astype(str)
    out = frame.groupby(quarter)[value_col].agg(how)
    counts = frame.groupby(quarter)[value_col].size()
    out = out[counts == 3]  # whole quarters only
    return pd.DataFrame({"quarter": out.index, "y": out.to_numpy()})


def real_panel() -> pd.DataFrame:
    """Five public quarterly series (benchmarks/data/SOURCES.md; monthly ones as quarters)."""
    from lstmtune.config import example_data_path

    parts = {
        "ausbeer": pd.read_csv(DATA / "ausbeer.csv").rename(columns={"megalitres": "y"}),
        "woolyrnq": pd.read_csv(DATA / "woolyrnq.csv").rename(columns={"tonnes": "y"}),
        "airline": quarterly(Path(example_data_path()), "month", "passengers", "sum"),
        "wineind": quarterly(DATA / "wineind.csv", "month", "sales", "sum"),
        "co2": quarterly(DATA / "co2_monthly.csv", "month", "co2", "mean"),
    }
    return pd.concat([f.assign(id=name) for name, f in parts.items()], ignore_index=True)


def run_panel(
    frame: pd.DataFrame,
    time_col: str,
    holdout: int,
    trials: int,
    workdir: Path,
    name: str,
    nonnegative: str = "auto",
) -> dict[str, Any]:
    path = workdir / f"{name}.csv"
    frame.to_csv(path, index=False)
    cfg = load_config(
        None,
        {
            "data.path": str(path),
            "data.target": "y",
            "data.time_column": time_col,
            "data.series_column": "id",
            "data.test_size": holdout,
            "data.val_size": holdout,
            "tune.n_trials": trials,
            "evaluate.nonnegative": nonnegative,
            "mlflow.model_name": f"bench-{name}",
            "output_dir": str(workdir / name),
        },
    ).resolved()
    started = time.perf_counter()
    summary = run_local(cfg)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"summary": summary, "seconds": seconds, "peak_child_mib": peak_mib}


def _quality_table(s: dict[str, Any]) -> str:
    rows = [["lstmtune (one model)", *(s["test_metrics"][k] for k in ("mase", "smape", "rmse"))]]
    for name, m in sorted(s["baseline_metrics"].items(), key=lambda kv: kv[1]["mase"]):
        rows.append([f"{name} (per series)", m["mase"], m["smape"], m["rmse"]])
    return common.table(["method", "mean MASE", "mean sMAPE", "pooled RMSE"], rows)


def _per_series(s: dict[str, Any]) -> dict[str, Any]:
    """The per-series test table from the run's evaluation (MLflow artifact on disk)."""
    import json

    path = Path(s["tracking_uri"].removeprefix("sqlite:///")).parent / "summary.json"
    return dict((json.loads(path.read_text()).get("panel") or {}).get("per_series") or {})


def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--series", type=int, default=100)
    p.add_argument("--length", type=int, default=120)
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--big-series", type=int, default=1000)
    p.add_argument("--big-length", type=int, default=200)
    p.add_argument("--skip-big", action="store_true")
    p.add_argument("--skip-quality", action="store_true", help="only the cost of the big panel")
    p.add_argument("--skip-synthetic", action="store_true", help="quality: the 5 real series only")
    p.add_argument("--nonnegative", default="auto", choices=("auto", "true", "false"))
    args = p.parse_args()
    common.header("many series, one model", common.machine(), sys.argv)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        synthetic = panel_frame(args.series, args.length, seed=7, min_length=args.length // 2)
        runs = {}
        rule = args.nonnegative
        if not args.skip_quality and not args.skip_synthetic:
            runs[f"{args.series} synthetic monthly series"] = run_panel(
                synthetic, "month", 12, args.trials, Path(tmp), "synthetic", rule
            )
        if not args.skip_quality:
            runs["5 real quarterly series"] = run_panel(
                real_panel(), "quarter", 8, args.trials, Path(tmp), "real", rule
            )
        for title, run in runs.items():
            print(f"\n{title}, {args.trials} trials, {run['seconds']:.0f} s")
            print(_quality_table(run["summary"]))
            print(summary_line(run["summary"]["test_metrics"]) or "no intervals")
            print(describe(run["summary"].get("nonnegative")) or "nothing kept at zero")
            out[title] = {k: v for k, v in run.items() if k != "summary"}
            out[title].update(
                test=run["summary"]["test_metrics"],
                baselines=run["summary"]["baseline_metrics"],
                per_series=_per_series(run["summary"]),
                nonnegative=run["summary"].get("nonnegative"),
            )
        if not args.skip_big:
            frame = panel_frame(args.big_series, args.big_length, seed=8)
            big = run_panel(frame, "month", 12, args.trials, Path(tmp), "big", rule)
            print(
                f"\n{args.big_series} series x {args.big_length} steps, {args.trials} trials: "
                f"{big['seconds']:.0f} s wall, peak step memory {big['peak_child_mib']:.0f} MiB, "
                f"test mean MASE {big['summary']['test_metrics']['mase']:.3f}"
            )
            out["big"] = {k: v for k, v in big.items() if k != "summary"}
            out["big"]["test"] = big["summary"]["test_metrics"]
    common.write_json(args.json, out)


if __name__ == "__main__":
    main()

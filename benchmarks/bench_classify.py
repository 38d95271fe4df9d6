"""Sequence classification on UCR sets: lstmtune vs 1-NN DTW vs MiniRocket, official splits.

For each set (long format ``case, t, c0..., label, split`` with the archive's train/test split)
it runs ``lstmtune run`` as a new user would (``--split-column split``, default settings, a temp
output dir) and reads the published model's test accuracy from ``summary.json``; then it fits
1-NN DTW (full warping window) and MiniRocket (aeon) on the same train split and scores them on
the same test split, timing each. Needs ``pip install aeon``.

    python benchmarks/bench_classify.py                  # the three development sets, 20 trials
    python benchmarks/bench_classify.py --sets chinatown --n-trials 10
    python benchmarks/bench_classify.py --data my_long.csv --no-lstmtune
"""

from __future__ import annotations

import json
import os
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

DEV = Path(os.environ.get("LSTMTUNE_DEV_DATA", "/work/shared/data/dev"))
SETS = ("chinatown", "arrowhead", "osuleaf")


def load_split(path: Path) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """``{"train"|"test": ([C, T_i] arrays, labels)}`` from a long-format file (val joins train)."""
    df = pd.read_csv(path)
    channels = [c for c in df.columns if c not in ("case", "t", "label", "split")]
    out: dict[str, tuple[list[np.ndarray], np.ndarray]] = {}
    split = df["split"].astype(str).str.lower().replace({"val": "train"})
    for name in ("train", "test"):
        part = df[split == name].sort_values(["case", "t"], kind="stable")
        groups = part.groupby("case", sort=False)
        series = [g[channels].to_numpy(dtype=np.float64).T for _, g in groups]
        labels = groups["label"].first().astype(str).to_numpy()
        out[name] = (series, labels)
    return out


def classical(path: Path, seed: int) -> dict[str, dict[str, float]]:
    """Accuracy and seconds of 1-NN DTW (full window) and MiniRocket on the official split."""
    from aeon.classification.convolution_based import MiniRocketClassifier
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

    from lstmtune.classify_baselines import MINIROCKET_MIN_LENGTH, pad_edge

    data = load_split(path)
    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    equal = len({s.shape[1] for s in [*xtr, *xte]}) == 1
    length = max(MINIROCKET_MIN_LENGTH, *(s.shape[1] for s in [*xtr, *xte]))
    out: dict[str, dict[str, float]] = {}
    for name in ("1nn_dtw", "minirocket"):
        started = time.perf_counter()
        if name == "1nn_dtw":
            clf: Any = KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw")
            fit_x: Any = np.stack(xtr) if equal else xtr
            test_x: Any = np.stack(xte) if equal else xte
        else:
            clf = MiniRocketClassifier(random_state=seed, n_jobs=1)
            fit_x, test_x = pad_edge(xtr, length), pad_edge(xte, length)
        clf.fit(fit_x, ytr)
        accuracy = float(np.mean(clf.predict(test_x) == yte))
        out[name] = {"accuracy": accuracy, "seconds": round(time.perf_counter() - started, 1)}
    return out


def run_lstmtune(path: Path, n_trials: int, seed: int, extra: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench_classify_") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "lstmtune.cli",
            "run",
            "--data",
            str(path),
            "--task",
            "classify",
            "--sequence-column",
            "case",
            "--time-column",
            "t",
            "--label",
            "label",
            "--split-column",
            "split",
            "--n-trials",
            str(n_trials),
            "--seed",
            str(seed),
            "--output-dir",
            tmp,
            "--quiet",
            *extra,
        ]
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        summary_path = Path(tmp) / "summary.json"
        if proc.returncode != 0 or not summary_path.is_file():
            tail = (proc.stderr or proc.stdout)[-2000:]
            return {"error": f"exit {proc.returncode}: {tail}", "seconds": round(seconds, 1)}
        summary = json.loads(summary_path.read_text())
    return {
        "accuracy": float(summary["test_metrics"]["accuracy"]),
        "macro_f1": float(summary["test_metrics"]["macro_f1"]),
        "alias": summary.get("alias"),
        "reason": summary.get("promotion_reason"),
        "seconds": round(seconds, 1),
        "best_params": summary.get("best_params"),
        "baseline_metrics": summary.get("baseline_metrics"),
    }


def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--sets", default=",".join(SETS), help="comma-separated names in the dev dir")
    p.add_argument("--data", action="append", default=[], help="extra long-format files")
    p.add_argument("--n-trials", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-lstmtune", action="store_true", help="only the classical baselines")
    p.add_argument("--no-classical", action="store_true", help="only lstmtune")
    p.add_argument("extra", nargs="*", help="more `lstmtune run` flags (after --)")
    args = p.parse_args()
    if args.quick:
        args.n_trials = min(args.n_trials, 5)
    info = common.machine(args.device)
    common.header("sequence classification: lstmtune vs 1-NN DTW vs MiniRocket", info)
    paths = [DEV / f"{name}_long.csv" for name in args.sets.split(",") if name]
    paths += [Path(d) for d in args.data]
    rows, figures = [], {}
    for path in paths:
        name = path.name.removesuffix("_long.csv").removesuffix(".csv")
        fig: dict[str, Any] = {}
        if not args.no_lstmtune:
            extra = [*args.extra, "--device", args.device]
            fig["lstmtune"] = run_lstmtune(path, args.n_trials, args.seed, extra)
        if not args.no_classical:
            fig.update(classical(path, args.seed))
        figures[name] = fig
        lt = fig.get("lstmtune", {})
        rows.append(
            [
                name,
                lt.get("accuracy"),
                lt.get("seconds"),
                lt.get("alias") or ("error" if "error" in lt else "-"),
                fig.get("1nn_dtw", {}).get("accuracy"),
                fig.get("1nn_dtw", {}).get("seconds"),
                fig.get("minirocket", {}).get("accuracy"),
                fig.get("minirocket", {}).get("seconds"),
            ]
        )
        print(json.dumps({name: fig}, default=str), flush=True)
    headers = ["set", "lstmtune acc", "s", "alias", "1-NN DTW acc", "s", "MiniRocket acc", "s"]
    print()
    print(common.table(headers, rows))
    common.write_json(args.json, {"machine": info, "n_trials": args.n_trials, "sets": figures})


if __name__ == "__main__":
    main()

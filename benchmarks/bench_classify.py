"""Sequence classification on UCR sets: lstmtune vs 1-NN DTW vs MiniRocket, official splits.

For each set (long format ``case, t, c0..., label, split`` with the archive's train/test split)
it runs ``lstmtune run`` as a new user would (``--split-column split``, default settings, a temp
output dir) and reads the published model's test accuracy from ``summary.json``; then it fits
1-NN DTW (full warping window) and MiniRocket (aeon; unequal lengths padded with zeros, as aeon's
``Padder`` does) on the same train split and scores them on
the same test split, timing each. Needs ``pip install aeon``.

    python benchmarks/bench_classify.py                  # the three development sets, 20 trials
    python benchmarks/bench_classify.py --sets chinatown --n-trials 10
    python benchmarks/bench_classify.py --data my_long.csv --no-lstmtune
    python benchmarks/bench_classify.py --sets "" --synthetic 200x500 --no-classical  # budget
    python benchmarks/bench_classify.py --sets "" --aeon GunPoint --aeon BasicMotions  # held out

``--synthetic NxT`` adds a generated set of N sequences of T steps (:func:`synthetic_long`: four
shapes under noise, shifts and amplitude changes) without a split column, so lstmtune carves its
own validation and test parts: the default budget's reference case (200 x 500).
"""

from __future__ import annotations

import json
import os
import resource
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


def synthetic_long(n: int, length: int, seed: int = 0) -> pd.DataFrame:
    """``n`` univariate sequences of ``length`` steps in long format (``case, t, c0, label``),
    four classes dealt in turn: one bump, two bumps, a step, three sine cycles — each at a random
    position / phase and amplitude, with Gaussian noise (0.3)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, length)
    frames = []
    for i in range(n):
        label = i % 4
        centre, amp = rng.uniform(0.2, 0.8), rng.uniform(0.7, 1.3)
        if label == 0:
            y = np.exp(-(((t - centre) / 0.05) ** 2))
        elif label == 1:
            y = np.exp(-(((t - centre + 0.1) / 0.04) ** 2)) + np.exp(
                -(((t - centre - 0.1) / 0.04) ** 2)
            )
        elif label == 2:
            y = (t > centre).astype(np.float64)
        else:
            y = np.sin(2 * np.pi * (3 * t + centre))
        values = amp * y + rng.normal(0.0, 0.3, length)
        frames.append(pd.DataFrame({"case": f"s{i}", "t": np.arange(length), "c0": values}))
        frames[-1]["label"] = f"class{label}"
    return pd.concat(frames, ignore_index=True)


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

    from lstmtune.classify_baselines import MINIROCKET_MIN_LENGTH, pad_zero

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
            fit_x, test_x = pad_zero(xtr, length), pad_zero(xte, length)
        clf.fit(fit_x, ytr)
        accuracy = float(np.mean(clf.predict(test_x) == yte))
        out[name] = {"accuracy": accuracy, "seconds": round(time.perf_counter() - started, 1)}
    return out


def _children_cpu() -> float:
    """User + system CPU seconds of finished child processes (the run and its steps): on a
    shared machine a steadier measure of the work than wall seconds."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return float(usage.ru_utime + usage.ru_stime)


def _output_dir(keep: str, path: Path) -> Path:
    out = Path(keep) / path.stem
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_lstmtune(
    path: Path, n_trials: int, seed: int, extra: list[str], split: bool = True, keep: str = ""
) -> dict[str, Any]:
    """A default ``lstmtune run`` on ``path`` (its ``split`` column kept when ``split``;
    ``n_trials`` 0: the default number): test accuracy, alias and wall seconds from its summary."""
    with tempfile.TemporaryDirectory(prefix="bench_classify_") as scratch:
        tmp = str(_output_dir(keep, path)) if keep else scratch
        cmd = [sys.executable, "-m", "lstmtune.cli", "run", "--data", str(path)]
        cmd += ["--task", "classify", "--sequence-column", "case", "--time-column", "t"]
        cmd += ["--label", "label", *(["--split-column", "split"] if split else [])]
        cmd += ["--n-trials", str(n_trials)] if n_trials else []
        cmd += ["--seed", str(seed), "--output-dir", tmp, "--quiet", *extra]
        started, cpu = time.perf_counter(), _children_cpu()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu
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
        "cpu_seconds": round(cpu, 1),
        "tune_seconds": summary.get("tune_seconds"),
        "n_trials": summary.get("n_trials_complete"),
        "best_params": summary.get("best_params"),
        "best_epoch": summary.get("best_epoch"),
        "baseline_metrics": summary.get("baseline_metrics"),
    }


def _row(name: str, fig: dict[str, Any]) -> list[Any]:
    """A table row; for a set without a split column the baselines lstmtune scored on its own
    test split (no timing)."""
    lt = fig.get("lstmtune", {})
    inside = lt.get("baseline_metrics") or {}
    dtw = fig.get("1nn_dtw") or inside.get("1nn_dtw") or inside.get("1nn_dtw_w10") or {}
    rocket = fig.get("minirocket") or inside.get("minirocket") or {}
    return [
        name,
        lt.get("accuracy"),
        lt.get("seconds"),
        lt.get("cpu_seconds"),
        lt.get("alias") or ("error" if "error" in lt else "-"),
        dtw.get("accuracy"),
        dtw.get("seconds"),
        rocket.get("accuracy"),
        rocket.get("seconds"),
    ]


def aeon_long(name: str) -> pd.DataFrame:
    """A UCR/UEA set bundled with aeon (``GunPoint``, ``ItalyPowerDemand``, ``BasicMotions``,
    ``JapaneseVowels``, ...) in long format with the archive's split; unequal lengths kept."""
    from aeon.datasets import load_classification

    frames = []
    for split in ("train", "test"):
        x_all, y_all = load_classification(name, split=split)
        for i, (x, label) in enumerate(zip(x_all, y_all, strict=True)):
            x = np.asarray(x, dtype=np.float64)
            cols = {f"c{c}": x[c] for c in range(x.shape[0])}
            n = x.shape[1]
            frames.append(
                pd.DataFrame(
                    {
                        "case": f"{split}-{i}",
                        "t": np.arange(n),
                        **cols,
                        "label": label,
                        "split": split,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True).dropna()


def _inputs(args: Any, tmp: Path) -> list[tuple[str, Path, bool]]:
    """(name, file, has a split column) of every set to run; synthetic ones written to ``tmp``."""
    out = [(n, DEV / f"{n}_long.csv", True) for n in args.sets.split(",") if n]
    out += [
        (Path(d).name.removesuffix("_long.csv").removesuffix(".csv"), Path(d), True)
        for d in args.data
    ]
    for name in args.aeon:
        path = tmp / f"{name.lower()}_long.csv"
        aeon_long(name).to_csv(path, index=False)
        out.append((name.lower(), path, True))
    for shape in args.synthetic:
        n, length = (int(v) for v in shape.lower().split("x"))
        path = tmp / f"synthetic_{n}x{length}.csv"
        synthetic_long(n, length, args.seed).to_csv(path, index=False)
        out.append((f"synthetic {n}x{length}", path, False))
    return out


def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--sets", default=",".join(SETS), help="comma-separated names in the dev dir")
    p.add_argument("--data", action="append", default=[], help="extra long-format files")
    p.add_argument("--synthetic", action="append", default=[], help="NxT: a generated set")
    p.add_argument("--aeon", action="append", default=[], help="a UCR/UEA set bundled with aeon")
    p.add_argument("--n-trials", type=int, default=20, help="0: lstmtune's default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", default="", help="keep each run's output under this directory")
    p.add_argument("--no-lstmtune", action="store_true", help="only the classical baselines")
    p.add_argument("--no-classical", action="store_true", help="only lstmtune")
    p.add_argument("extra", nargs="*", help="more `lstmtune run` flags (after --)")
    args = p.parse_args()
    if args.quick:
        args.n_trials = min(args.n_trials, 5)
    info = common.machine(args.device)
    common.header("sequence classification: lstmtune vs 1-NN DTW vs MiniRocket", info)
    rows, figures = [], {}
    with tempfile.TemporaryDirectory(prefix="bench_classify_data_") as tmp:
        for name, path, split in _inputs(args, Path(tmp)):
            fig: dict[str, Any] = {}
            if not args.no_lstmtune:
                extra = [*args.extra, "--device", args.device]
                fig["lstmtune"] = run_lstmtune(
                    path, args.n_trials, args.seed, extra, split, args.keep
                )
            if split and not args.no_classical:
                fig.update(classical(path, args.seed))
            fig["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
            figures[name] = fig
            rows.append(_row(name, fig))
            print(json.dumps({name: fig}, default=str), flush=True)
    headers = [
        "set",
        "lstmtune acc",
        "s",
        "CPU s",
        "alias",
        "1-NN DTW acc",
        "s",
        "MiniRocket acc",
        "s",
    ]
    print()
    print(common.table(headers, rows))
    common.write_json(args.json, {"machine": info, "n_trials": args.n_trials, "sets": figures})


if __name__ == "__main__":
    main()

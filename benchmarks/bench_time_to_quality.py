"""Time to quality: lstmtune's default strategy (TPE + Hyperband pruning) vs random search vs grid
search over the same space, budget, data and seeds (a script that prints a table, not a test).

    python benchmarks/bench_time_to_quality.py [--quick] [--json FILE] [--device cpu|cuda|auto]

For each data set (the bundled airline series; a synthetic two-class sequence set) and each seed,
the four strategies run :func:`lstmtune.tuning.run_study` one after the other (the order rotates
with the seed) on a temporary SQLite study, tracking and champion warm start off, the same
``n_trials``:

* ``tpe+hyperband`` — lstmtune's default (``tune.sampler: tpe``, ``tune.pruner: hyperband``);
* ``tpe+hb+default`` — the same with ``tune.start_from_default`` (trial 0 = lstmtune's default
  configuration; off by default because this benchmark did not show it faster);
* ``random``        — ``RandomSampler``, no pruning, no default first trial: the reference;
* ``grid``          — ``GridSampler`` over ``lstmtune.search_space.grid_space`` (the same space with
  every continuous range cut to 3 points, log-spaced where the range is log; categorical choices
  and int steps unchanged), no pruning. The grid is far larger than the budget, so the sampler
  visits a seeded random subset of it: this is grid search as a user with that budget gets it.

The quality target of a (data set, seed) is the best validation objective random search reaches
with its full budget. A strategy reaches it at the end of the first COMPLETE trial whose value is
<= the target; "time" is wall time since the study started and "epochs" the epochs actually run
by all trials until then (pruned trials included, from the reported intermediate values). The
final test metric is that of lstmtune's retrain step: the best configuration retrained on
train+val for its best epoch count, scored on test (forecast RMSE, classify macro F1).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

# name -> (sampler, pruner, first trial = lstmtune's default configuration)
STRATEGIES = {
    "tpe+hyperband": ("tpe", "hyperband", False),
    "random": ("random", "none", False),
    "grid": ("grid", "none", False),
    "tpe+hb+default": ("tpe", "hyperband", True),
    # candidates for the default strategy (not run unless named in --strategies)
    "tpe5+hb": ("tpe", "hyperband", False, {"tune.n_startup_trials": 5}),
    "tpe+sha": ("tpe", "successive_halving", False),
    "tpe5+sha": ("tpe", "successive_halving", False, {"tune.n_startup_trials": 5}),
}
DEFAULT_RUN = ("tpe+hyperband", "random", "grid", "tpe+hb+default")
REFERENCE = "random"
# --quick: the default space with fewer epochs and smaller/shallower networks (same for every
# strategy)
QUICK_SPACE: dict[str, Any] = {
    "units": [16, 32],
    "num_layers": 1,
    "bidirectional": False,
    "epochs": 20,
}


def datasets(tmp: Path, quick: bool) -> dict[str, dict[str, Any]]:
    path = tmp / "sequences.csv"
    common.classify_frame(n_per_class=30 if quick else 80, seed=0, noise=1.0).to_csv(
        path, index=False
    )
    return {
        "airline": {},
        "classify": {
            "data.path": str(path),
            "data.task": "classify",
            "data.sequence_column": "seq",
            "data.label": "y",
            "data.time_column": "t",
        },
    }


def run_strategy(
    overrides: dict[str, Any],
    strategy: str,
    seed: int,
    n_trials: int,
    tmp: Path,
    device: str,
    quick: bool,
) -> dict[str, Any]:
    import optuna

    from lstmtune.config import load_config
    from lstmtune.data.prepare import prepare
    from lstmtune.tuning import run_study

    sampler, pruner, from_default = STRATEGIES[strategy][:3]
    extra = STRATEGIES[strategy][3] if len(STRATEGIES[strategy]) > 3 else {}
    db = tmp / f"{strategy.replace(' ', '').replace(',', '-')}-{seed}-{time.monotonic_ns()}.db"
    values: dict[str, Any] = {
        **overrides,
        "tune.n_trials": n_trials,
        "tune.sampler": sampler,
        "tune.pruner": pruner,
        "tune.warm_start": False,
        "tune.start_from_default": from_default,
        **extra,
        "tune.storage": f"sqlite:///{db}",
        "train.seed": seed,
        "train.device": device,
        "output_dir": str(tmp / "out"),
    }
    if quick:
        values["tune.search_space"] = dict(QUICK_SPACE)
        values["train.patience"] = 5
    cfg = load_config(None, values).resolved()
    parts, meta = prepare(cfg)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # run_study's per-trial progress lines
        result = run_study(cfg, parts, meta)  # parent_run_id=None: no MLflow logging
    wall = time.perf_counter() - t0
    study = optuna.load_study(study_name=result.study_name, storage=str(cfg.tune.storage))
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    start = min(t.datetime_start for t in trials if t.datetime_start is not None)
    timeline, epochs = [], 0
    for t in trials:
        epochs += len(t.intermediate_values)
        end = t.datetime_complete or t.datetime_start or start
        timeline.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "epochs": len(t.intermediate_values),
                "cum_epochs": epochs,
                "cum_seconds": (end - start).total_seconds(),
            }
        )
    test = test_metric(cfg, parts, meta, result.to_dict())
    return {
        "strategy": strategy,
        "seed": seed,
        "wall_seconds": wall,
        "best_value": result.best_value,
        "best_params": result.best_params,
        "n_complete": result.n_trials_complete,
        "n_pruned": result.n_trials_pruned,
        "n_failed": result.n_trials_failed,
        "total_epochs": epochs,
        "timeline": timeline,
        **test,
    }


def test_metric(cfg: Any, parts: Any, meta: dict[str, Any], best: dict[str, Any]) -> dict[str, Any]:
    """What lstmtune's train_best step does: retrain on train+val for best_epoch epochs, score on
    test."""
    from lstmtune.evaluate import PRIMARY_METRIC, classify_metrics, forecast_metrics
    from lstmtune.problems import make_problem
    from lstmtune.training import ForecastProblem, select_device, train

    params = best["best_params"]
    problem = make_problem(parts, meta, params)
    result = train(
        problem,
        params,
        problem.tensors("train", "val"),
        None,
        epochs=max(1, int(best["best_epoch"])),
        grad_clip=cfg.train.grad_clip,
        seed=cfg.train.seed + int(best["best_trial"]),
        device=select_device(cfg.train.device),
        amp=cfg.train.amp,
    )
    model = result.model.cpu().eval()
    test = problem.tensors("test")
    if isinstance(problem, ForecastProblem):
        assert test.raw_y is not None
        metrics = forecast_metrics(problem.predict(model, test), test.raw_y)
    else:
        pred = problem.predict_proba(model, test).argmax(axis=1)  # type: ignore[attr-defined]
        metrics = classify_metrics(pred, test.y.cpu().numpy(), problem.n_outputs)
    metric = PRIMARY_METRIC[meta["task"]]
    return {"test_metric_name": metric, "test_metric": metrics[metric]}


def reach(run: dict[str, Any], target: float) -> tuple[float | None, int | None]:
    """(seconds, epochs) at the end of the first COMPLETE trial with value <= target."""
    for row in run["timeline"]:
        if (
            row["state"] == "COMPLETE"
            and row["value"] is not None
            and row["value"] <= target * (1 + 1e-9) + 1e-12
        ):
            return row["cum_seconds"], row["cum_epochs"]
    return None, None


def main() -> None:
    parser = common.parser(__doc__ or "")
    parser.add_argument(
        "--datasets",
        default="airline,classify",
        help="comma-separated subset of: airline, classify",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help=(
            "reach random search's best within this fraction"
            " (0.01 = 1 %%; default 0: the exact target)"
        ),
    )
    parser.add_argument(
        "--from-json",
        metavar="FILE",
        help="print the tables of a saved --json run (with this --tolerance) instead of running",
    )
    parser.add_argument(
        "--strategies",
        default=",".join(DEFAULT_RUN),
        help=f"comma-separated subset of: {', '.join(STRATEGIES)} (random is always run)",
    )
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        names = list(dict.fromkeys(r["strategy"] for r in saved["runs"]))
        print_tables(saved["runs"], names, saved["n_trials"], saved["seeds"], args.tolerance)
        return
    device = common.resolve_device(args.device)
    common.setup_torch(args.threads)
    seeds = [0, 1, 2]
    n_trials = 6 if args.quick else 30
    info = common.machine(device)
    common.header(
        "time to quality: TPE+Hyperband (lstmtune default) vs random vs grid search", info
    )
    space = (
        f"default space with {QUICK_SPACE}, patience 5"
        if args.quick
        else "the per-task default space"
    )
    print(f"budget: {n_trials} trials per study, seeds {seeds}; space: {space}")
    print(
        f"quality target: best validation objective of '{REFERENCE}' with its full budget"
        " (per data set and seed)\n",
        flush=True,
    )
    runs: list[dict[str, Any]] = []
    names = [n for n in STRATEGIES if n in args.strategies.split(",") or n == REFERENCE]
    with tempfile.TemporaryDirectory(prefix="lstmtune-bench-") as tmpdir:
        tmp = Path(tmpdir)
        data = {
            name: o
            for name, o in datasets(tmp, args.quick).items()
            if name in args.datasets.split(",")
        }
        for overrides in data.values():  # warm-up (imports, first-call costs), not reported
            run_strategy(overrides, REFERENCE, 99, 1, tmp, device, args.quick)
        for ds_name, overrides in data.items():
            for seed in seeds:
                order = (
                    names[seed % len(names) :] + names[: seed % len(names)]
                )  # rotate: no strategy always runs first
                for strategy in order:
                    run = run_strategy(overrides, strategy, seed, n_trials, tmp, device, args.quick)
                    run["dataset"] = ds_name
                    runs.append(run)
                    print(
                        f"  {ds_name:<9} seed {seed} {strategy:<14} {run['wall_seconds']:7.1f} s  "
                        f"{run['total_epochs']:5d} epochs  "
                        f"best val {run['best_value']:.4g}  "
                        f"test {run['test_metric_name']} {run['test_metric']:.4g}",
                        flush=True,
                    )
    print()
    summary = print_tables(runs, names, n_trials, seeds, args.tolerance)
    common.write_json(
        args.json,
        {
            "benchmark": "time_to_quality",
            "machine": info,
            "quick": args.quick,
            "n_trials": n_trials,
            "seeds": seeds,
            "tolerance": args.tolerance,
            "space": QUICK_SPACE if args.quick else "default",
            "summary": summary,
            "runs": runs,
        },
    )


def print_tables(
    runs: list[dict[str, Any]], names: list[str], n_trials: int, seeds: list[int], tolerance: float
) -> dict[str, Any]:
    summary = summarise(runs, names, tolerance)
    for ds_name, rows in summary.items():
        metric = next(r["test_metric_name"] for r in runs if r["dataset"] == ds_name)
        objective = "val_rmse" if metric == "rmse" else "val_loss"
        within = f" + {tolerance:.1%}" if tolerance else ""
        print(
            f"{ds_name}: target = best {objective} of random search after "
            f"{n_trials} trials{within} "
            f"(per seed: {fmt_list(next(r['target'] for r in rows.values()))})"
        )
        print(
            common.table(
                [
                    "strategy",
                    "reached",
                    "time to target s",
                    "x random",
                    "epochs to target",
                    "x random",
                    "total epochs",
                    "wall s",
                    f"best {objective}",
                    f"test {metric}",
                    "trials/h",
                ],
                [
                    [
                        name,
                        f"{r['reached']}/{len(seeds)}",
                        r["time_to_target"],
                        r["time_ratio"],
                        r["epochs_to_target"],
                        r["epochs_ratio"],
                        r["total_epochs"],
                        r["wall_seconds"],
                        r["best_value"],
                        r["test_metric"],
                        r["trials_per_hour"],
                    ]
                    for name, r in rows.items()
                ],
            )
        )
        print()
    print(
        "time/epochs to target: median over the seeds where the target was reached;"
        " 'x random' = median over those seeds of the"
    )
    print(
        "per-seed ratio to random search's own time/epochs to the same target (< 1: faster)."
        " trials/h = trials per device-hour."
    )
    return summary


def fmt_list(values: list[float]) -> str:
    return ", ".join(common.fmt(v, 4) for v in values)


def summarise(
    runs: list[dict[str, Any]], names: list[str], tolerance: float = 0.0
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for ds_name in dict.fromkeys(r["dataset"] for r in runs):
        by = {(r["strategy"], r["seed"]): r for r in runs if r["dataset"] == ds_name}
        seeds = sorted({s for _, s in by})
        targets = {
            s: by[(REFERENCE, s)]["best_value"] * (1 + tolerance) for s in seeds
        }  # objectives are >= 0
        ref = {s: reach(by[(REFERENCE, s)], targets[s]) for s in seeds}
        rows: dict[str, Any] = {}
        for name in names:
            hits = {s: reach(by[(name, s)], targets[s]) for s in seeds}
            ok = [s for s in seeds if hits[s][0] is not None]
            mine = [by[(name, s)] for s in seeds]
            rows[name] = {
                "target": [targets[s] for s in seeds],
                "reached": len(ok),
                "time_to_target": common.median(hits[s][0] for s in ok),
                "epochs_to_target": common.median(hits[s][1] for s in ok),  # type: ignore[misc]
                "time_ratio": common.median(common.ratio(hits[s][0], ref[s][0]) for s in ok),
                "epochs_ratio": common.median(common.ratio(hits[s][1], ref[s][1]) for s in ok),  # type: ignore[arg-type]
                "total_epochs": common.median(r["total_epochs"] for r in mine),
                "wall_seconds": common.median(r["wall_seconds"] for r in mine),
                "best_value": common.median(r["best_value"] for r in mine),
                "test_metric": common.median(
                    r["test_metric"] for r in mine if math.isfinite(r["test_metric"])
                ),
                "trials_per_hour": common.median(
                    len(r["timeline"]) / r["wall_seconds"] * 3600 for r in mine
                ),
                "per_seed": {
                    str(s): {
                        "seconds": hits[s][0],
                        "epochs": hits[s][1],
                        "wall": by[(name, s)]["wall_seconds"],
                    }
                    for s in seeds
                },
            }
        out[ds_name] = rows
    return out


if __name__ == "__main__":
    main()

"""Pipeline overhead: how much of ``lstmtune run`` is not training, and what MLflow logging costs
per trial (a script that prints a table, not a test).

    python benchmarks/bench_overhead.py [--quick] [--json FILE] [--device cpu|cuda|auto]
    python benchmarks/bench_overhead.py --vs-recipe [--fixed-only] [--quick] [--threads N]
        [--json FILE]

``--vs-recipe`` (``overhead_vs_recipe.py``): the fixed cost of a run (``lstmtune run``, 1 trial of 1
epoch with 16 units on the bundled series) and, side by side in one invocation, the plain recipe
of ``overhead_recipe.py`` (one process, Optuna TPE, a DataLoader loop, no tracking) against
``lstmtune run`` (kfp.local, five step processes, MLflow, registry, report) on the monthly CO2
series of ``data/co2_monthly.csv`` (526 points), 20 trials each, in alternating order. Both run as
fresh processes, with one torch thread unless ``--threads`` says otherwise.

Without it:

1. ``lstmtune.runner.run_local`` (what ``lstmtune run`` calls: kfp.local, one subprocess per step,
   SQLite Optuna study, SQLite MLflow store) on the bundled airline series with a small budget.
   Its step subprocesses are instrumented without touching the package: a ``sitecustomize.py``
   on ``PYTHONPATH`` wraps ``lstmtune.training.train`` and ``lstmtune.tracking.log_trial_run``
   when they are imported and appends each call's duration to a file. From that, summary.json
   (``pipeline_seconds``, ``tune_seconds``), the Optuna trials (start/complete times) and the
   MLflow nested runs (one per trial, checked):

   * overhead = total wall time of run_local - time inside ``train()`` (all trials + the retrain),
     as a fraction of the total (process start-up and imports of each step, data preparation,
     Optuna storage, MLflow runs/registry, model packaging, report);
   * MLflow logging per trial = the trial's ``log_trial_run`` call / the trial's wall time
     (Optuna start -> complete, which includes that call).

2. ``log_trial_run`` in isolation: N calls on a fresh temporary SQLite MLflow store with
   histories as long as the trials' of part 1, median seconds per call vs the median trial time.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

TIMINGS_ENV = "LSTMTUNE_BENCH_TIMINGS"
QUICK_SPACE: dict[str, Any] = {
    "units": [16, 32],
    "num_layers": 1,
    "bidirectional": False,
    "epochs": 20,
}

SITECUSTOMIZE = textwrap.dedent('''
    """Benchmark instrumentation (bench_overhead.py): time lstmtune.training.train and
    lstmtune.tracking.log_trial_run in the pipeline's step subprocesses."""
    import functools, importlib.machinery, json, os, sys, time

    _LOG = os.environ.get("LSTMTUNE_BENCH_TIMINGS")
    _TARGETS = {"lstmtune.training": "train", "lstmtune.tracking": "log_trial_run"}

    def _wrap(module, attr):
        fn = getattr(module, attr)

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            ok = False
            try:
                out = fn(*args, **kwargs)
                ok = True
                return out
            finally:
                rec = {
                    "fn": attr,
                    "seconds": time.perf_counter() - t0,
                    "ok": ok,
                    "pid": os.getpid(),
                    "t_end": time.time(),
                }
                if attr == "train":
                    rec["kind"] = (
                        "trial"
                        if (len(args) > 3 and args[3] is not None)
                        or kwargs.get("val_set") is not None
                        else "retrain"
                    )
                else:
                    rec["trial"] = args[2] if len(args) > 2 else kwargs.get("number")
                    hist = args[4] if len(args) > 4 else kwargs.get("history", [])
                    rec["history_len"] = len(hist)
                with open(_LOG, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(rec) + "\\n")

        setattr(module, attr, timed)

    class _Finder:
        def find_spec(self, name, path=None, target=None):
            if name not in _TARGETS:
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            exec_module = spec.loader.exec_module

            def run(module):
                exec_module(module)
                _wrap(module, _TARGETS[name])

            spec.loader.exec_module = run
            return spec

    if _LOG:
        sys.meta_path.insert(0, _Finder())
''')


def pipeline_run(tmp: Path, n_trials: int, quick: bool, device: str, index: int) -> dict[str, Any]:
    import optuna
    from mlflow.tracking import MlflowClient

    from lstmtune.config import load_config
    from lstmtune.runner import run_local

    hook = tmp / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    timings = tmp / f"timings-{index}.jsonl"
    out = tmp / f"out-{index}"
    values: dict[str, Any] = {
        "tune.n_trials": n_trials,
        "tune.warm_start": False,
        "train.device": device,
        "output_dir": str(out),
    }
    if quick:
        values["tune.search_space"] = dict(QUICK_SPACE)
    cfg = load_config(None, values).resolved()
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", TIMINGS_ENV)}
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(hook), saved["PYTHONPATH"]) if p)
    os.environ[TIMINGS_ENV] = str(timings)
    try:
        t0 = time.perf_counter()
        summary = run_local(cfg, display="quiet", terminal=io.StringIO())
        total = time.perf_counter() - t0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if not timings.is_file():
        raise SystemExit(
            "the sitecustomize instrumentation did not load in the pipeline's step processes"
        )
    calls = [json.loads(line) for line in timings.read_text().splitlines() if line.strip()]
    train_trials = [c["seconds"] for c in calls if c["fn"] == "train" and c["kind"] == "trial"]
    train_retrain = [c["seconds"] for c in calls if c["fn"] == "train" and c["kind"] == "retrain"]
    logs = {int(c["trial"]): c for c in calls if c["fn"] == "log_trial_run"}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=summary["study_name"], storage=str(cfg.tune.storage))
    trials = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.datetime_complete is not None and t.datetime_start is not None
    ]
    per_trial = []
    for t in trials:
        secs = (t.datetime_complete - t.datetime_start).total_seconds()
        log_s = logs.get(t.number, {}).get("seconds")
        per_trial.append(
            {
                "trial": t.number,
                "state": t.state.name,
                "epochs": len(t.intermediate_values),
                "trial_seconds": secs,
                "log_seconds": log_s,
                "log_fraction": common.ratio(log_s, secs),
            }
        )
    client = MlflowClient(tracking_uri=cfg.mlflow.tracking_uri)
    exp = client.get_experiment_by_name(cfg.mlflow.experiment)
    nested = (
        client.search_runs(
            [exp.experiment_id], filter_string="tags.`optuna.trial` != ''", max_results=1000
        )
        if exp
        else []
    )
    inside = sum(train_trials) + sum(train_retrain)
    return {
        "total_seconds": total,
        "pipeline_seconds": summary.get("pipeline_seconds"),
        "tune_seconds": summary.get("tune_seconds"),
        "train_trials_seconds": sum(train_trials),
        "train_retrain_seconds": sum(train_retrain),
        "train_seconds": inside,
        "log_trial_run_seconds": sum(c["seconds"] for c in logs.values()),
        "n_log_calls": len(logs),
        "n_train_calls": len(train_trials),
        "n_trials": len(trials),
        "n_nested_runs": len(nested),
        "overhead_seconds": total - inside,
        "overhead_fraction": (total - inside) / total,
        "per_trial": per_trial,
        "histories": [r["epochs"] for r in per_trial],
        "n_trials_complete": summary.get("n_trials_complete"),
        "n_trials_pruned": summary.get("n_trials_pruned"),
    }


def log_microbench(tmp: Path, histories: list[int], n_calls: int) -> dict[str, Any]:
    """Median seconds of one log_trial_run call on a fresh SQLite MLflow store."""
    from lstmtune import tracking
    from lstmtune.config import load_config

    cfg = load_config(None, {"output_dir": str(tmp / "mlflow-bench")}).resolved()
    meta = {
        "task": "forecast",
        "sha256": "0" * 64,
        "source": "bench",
        "n_rows": 144,
        "columns": {"target": "passengers"},
        "horizon": 1,
        "seasonal_period": 12,
        "search_space": {},
    }
    with contextlib.redirect_stderr(io.StringIO()):
        parent = tracking.start_parent_run(
            cfg, meta
        )  # creates the store and experiment (not timed)
    params = {
        "units": 32,
        "num_layers": 1,
        "dropout": 0.1,
        "recurrent_dropout": 0.0,
        "bidirectional": False,
        "learning_rate": 3e-3,
        "batch_size": 32,
        "optimizer": "adam",
        "weight_decay": 1e-6,
        "epochs": 100,
        "cell": "lstm",
        "head": "last",
        "lookback": 12,
        "transform": "log",
        "anchor": "seasonal",
        "window_norm": False,
    }
    lengths = histories or [20]
    secs, per_len = [], []
    for i in range(n_calls):
        n = lengths[i % len(lengths)]
        hist = [
            {"epoch": float(e), "val_rmse": 20.0 + 1.0 / e, "train_loss": 0.1 / e}
            for e in range(1, n + 1)
        ]
        s, _ = common.timed(
            lambda h=hist, k=i: tracking.log_trial_run(cfg, parent, k, params, h, "COMPLETE")
        )
        secs.append(s)
        per_len.append(n)
    return {
        "n_calls": n_calls,
        "median_seconds": statistics.median(secs),
        "seconds": secs,
        "history_lengths": per_len,
    }


def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--vs-recipe", action="store_true", help="fixed cost + plain recipe vs lstmtune")
    p.add_argument(
        "--fixed-only", action="store_true", help="with --vs-recipe: only the fixed cost of a run"
    )
    args = p.parse_args()
    if args.vs_recipe:
        from overhead_vs_recipe import vs_recipe

        vs_recipe(args)
        return
    device = common.resolve_device(args.device)
    common.setup_torch(args.threads)
    n_trials = 5 if args.quick else 20
    n_runs = 1 if args.quick else 2
    n_calls = 20 if args.quick else 60
    info = common.machine(device)
    common.header(
        "pipeline overhead: lstmtune run (kfp.local) minus time inside training;"
        " MLflow logging per trial",
        info,
    )
    space = f"default space with {QUICK_SPACE}" if args.quick else "the default space"
    print(
        f"run_local on the bundled airline series: {n_trials} trials, {space}, {n_runs} run(s);"
        f" log_trial_run microbenchmark: {n_calls} calls\n",
        flush=True,
    )
    runs = []
    with tempfile.TemporaryDirectory(prefix="lstmtune-bench-") as tmpdir:
        tmp = Path(tmpdir)
        for i in range(n_runs):
            runs.append(pipeline_run(tmp, n_trials, args.quick, device, i))
            print(
                f"  run {i + 1}: {runs[-1]['total_seconds']:.1f} s total, "
                f"{runs[-1]['train_seconds']:.1f} s inside train()",
                flush=True,
            )
        histories = [h for r in runs for h in r["histories"]]
        micro = log_microbench(tmp, histories, n_calls)
    med = common.median
    trial_secs = [p["trial_seconds"] for r in runs for p in r["per_trial"]]
    log_fracs = [p["log_fraction"] for r in runs for p in r["per_trial"]]
    rows = [
        ["total wall time of run_local (s)", med(r["total_seconds"] for r in runs)],
        ["  summary.json pipeline_seconds", med(r["pipeline_seconds"] for r in runs)],
        ["  summary.json tune_seconds", med(r["tune_seconds"] for r in runs)],
        ["inside train(), all trials (s)", med(r["train_trials_seconds"] for r in runs)],
        ["inside train(), retrain (s)", med(r["train_retrain_seconds"] for r in runs)],
        ["overhead = total - inside train() (s)", med(r["overhead_seconds"] for r in runs)],
        ["overhead / total", med(r["overhead_fraction"] for r in runs)],
        ["trials / MLflow nested runs", f"{runs[0]['n_trials']} / {runs[0]['n_nested_runs']}"],
        ["median trial wall time (s)", med(trial_secs)],
        [
            "median log_trial_run in the run (s)",
            med(p["log_seconds"] for r in runs for p in r["per_trial"]),
        ],
        ["MLflow logging / trial time (median over trials)", med(log_fracs)],
        ["log_trial_run isolated, median of N calls (s)", micro["median_seconds"]],
        [
            "isolated log_trial_run / median trial time",
            common.ratio(micro["median_seconds"], med(trial_secs)),
        ],
    ]
    print()
    print(common.table(["figure", "value"], rows))
    print(f"\nhistory lengths (epochs per trial) used: {sorted(set(histories))}")
    common.write_json(
        args.json,
        {
            "benchmark": "overhead",
            "machine": info,
            "quick": args.quick,
            "n_trials": n_trials,
            "runs": runs,
            "log_microbench": micro,
            "table": {str(r[0]).strip(): r[1] for r in rows},
        },
    )


if __name__ == "__main__":
    main()

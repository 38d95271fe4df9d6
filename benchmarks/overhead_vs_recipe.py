"""``bench_overhead.py --vs-recipe``: what a small run costs next to doing it plainly.

1. The fixed cost of a run: ``lstmtune run`` with 1 trial of 1 epoch and 16 units on the bundled
   airline series (what the issue measured at 26-27 s), ``--quick`` once, else twice, with the
   seconds of each pipeline step (kfp.local's start and end of the task in ``pipeline.log``).
   ``--fixed-only``: this part alone.
2. Side by side in one invocation, in alternating order: the plain recipe
   (``overhead_recipe.py``: one process, Optuna TPE, a DataLoader loop, no tracking) and
   ``lstmtune run`` (what ``lstmtune.runner.run_local`` does: kfp.local, five step processes,
   Optuna SQLite storage, MLflow runs and registry, report) on ``data/co2_monthly.csv``, 20
   trials each (``--quick``: 5, one round; else two rounds).

Every run is a fresh process (its imports count) with ``OMP_NUM_THREADS`` set to ``--threads``
(default 1: small LSTMs gain nothing from intra-op threads, and on a shared machine two threads
spinning for each other can make a step 10x slower). Reported per run: wall time to exit, wall time
to the printed summary (lstmtune prints it when the model is registered, before the report is
rendered), CPU seconds of the whole process tree (user + sys: what load on the machine changes
least), time inside training (lstmtune: ``train()`` calls timed in its step processes by the
``sitecustomize`` hook of this directory's bench_overhead.py), and the 1-minute load average
before and after. The empty MLflow store lstmtune copies for a new output directory is built
first (``lstmtune.tracking.seed_sqlite_store``), as after a user's first run.
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
import yaml

HERE = Path(__file__).resolve().parent
CO2 = HERE / "data" / "co2_monthly.csv"
RECIPE = HERE / "overhead_recipe.py"
FIXED_SPACE = {"epochs": 1, "units": 16}


@dataclass
class Timed:
    """One process: wall and CPU seconds, when each JSON event first appeared, its JSON lines."""

    wall: float
    cpu: float
    first: dict[str, float] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)

    def until(self, event: str) -> float:
        return self.first.get(event, self.wall)


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_process(command: list[str], env: dict[str, str], log: Path) -> Timed:
    """Run ``command``; stderr goes to ``log``; every stdout line that is a JSON object is kept
    with the time its ``event`` (if any) first appeared."""
    load0, cpu0 = os.getloadavg()[0], _cpu_children()
    started = time.perf_counter()
    out = Timed(0.0, 0.0)
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            out.records.append(record)
            out.first.setdefault(str(record.get("event")), time.perf_counter() - started)
        rc = proc.wait()
    out.wall, out.cpu = time.perf_counter() - started, _cpu_children() - cpu0
    out.load = (load0, os.getloadavg()[0])
    if rc != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise SystemExit(f"{' '.join(command[:4])} ... failed (exit {rc}):\n{tail}")
    return out


class Runs:
    """Runs the recipe and ``lstmtune run`` under one environment in a scratch directory."""

    def __init__(self, tmp: Path, threads: int, device: str) -> None:
        import bench_overhead

        self.tmp, self.device, self.count = tmp, device, 0
        hook = tmp / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(bench_overhead.SITECUSTOMIZE)
        self.timings_env = bench_overhead.TIMINGS_ENV
        self.env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(hook), os.environ.get("PYTHONPATH")) if p
        )

    def lstmtune(self, config: dict[str, Any]) -> dict[str, Any]:
        self.count += 1
        out = self.tmp / f"lstmtune-{self.count}"
        path = self.tmp / f"config-{self.count}.yaml"
        config = {**config, "train": {"device": self.device}}
        path.write_text(yaml.safe_dump(config))
        timings = self.tmp / f"timings-{self.count}.jsonl"
        env = {**self.env, self.timings_env: str(timings)}
        command = [sys.executable, "-m", "lstmtune.cli", "run", "--config", str(path)]
        command += ["--output-dir", str(out), "--log-format", "json"]
        t = timed_process(command, env, self.tmp / f"lstmtune-{self.count}.log")
        calls = (
            [json.loads(x) for x in timings.read_text().splitlines()] if timings.exists() else []
        )
        summary = next(r for r in t.records if r.get("event") == "summary")
        return {
            "wall": t.wall,
            "steps": step_seconds(out / "pipeline.log"),
            "to_summary": t.until("summary"),
            "cpu": t.cpu,
            "train": sum(c["seconds"] for c in calls if c["fn"] == "train"),
            "n_train_calls": sum(1 for c in calls if c["fn"] == "train"),
            "test_rmse": summary["test_metrics"].get("rmse"),
            "n_trials": summary.get("n_trials_complete", 0) + summary.get("n_trials_pruned", 0),
            "load": t.load,
        }

    def recipe(self, n_trials: int) -> dict[str, Any]:
        self.count += 1
        command = [sys.executable, str(RECIPE), str(CO2), "--target", "co2"]
        command += ["--trials", str(n_trials)]
        t = timed_process(command, self.env, self.tmp / f"recipe-{self.count}.log")
        record = t.records[-1]
        return {
            "wall": t.wall,
            "to_summary": t.wall,
            "cpu": t.cpu,
            "train": record["train_seconds"],
            "test_rmse": record["test_rmse"],
            "n_trials": record["n_trials"],
            "load": t.load,
        }


def _co2_config(n_trials: int) -> dict[str, Any]:
    return {
        "data": {"path": str(CO2), "target": "co2", "time_column": "month"},
        "tune": {"n_trials": n_trials, "warm_start": False},
    }


def _med(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def _loads(runs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{a:.1f}->{b:.1f}" for a, b in (r["load"] for r in runs))


def vs_recipe(args: Any) -> None:
    from lstmtune.tracking import seed_sqlite_store

    device = common.resolve_device(args.device)
    threads = args.threads or 1
    n_trials, rounds, n_fixed = (5, 1, 1) if args.quick else (20, 2, 2)
    info = common.machine(device)
    common.header("the cost of a small run: lstmtune run vs the plain recipe", info)
    print(f"torch threads per process: {threads} (OMP_NUM_THREADS)\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="lstmtune-vs-recipe-") as tmpdir:
        tmp = Path(tmpdir)
        seed_sqlite_store(f"sqlite:///{tmp / 'warm-up.db'}")  # the cached empty MLflow store
        runs = Runs(tmp, threads, device)
        fixed = []
        for _ in range(n_fixed):
            fixed.append(runs.lstmtune({"tune": {"n_trials": 1, "search_space": FIXED_SPACE}}))
            steps = ", ".join(f"{k} {v:.1f}" for k, v in fixed[-1]["steps"].items())
            print(f"  fixed cost: {fixed[-1]['wall']:.1f} s ({steps})", flush=True)
        if getattr(args, "fixed_only", False):
            _report_fixed(fixed)
            common.write_json(
                args.json, {"benchmark": "overhead-fixed", "machine": info, "fixed": fixed}
            )
            return
        recipe, ours = [], []
        for i in range(rounds):
            for which in ("recipe", "lstmtune") if i % 2 == 0 else ("lstmtune", "recipe"):
                if which == "recipe":
                    recipe.append(runs.recipe(n_trials))
                else:
                    ours.append(runs.lstmtune(_co2_config(n_trials)))
                last = (recipe if which == "recipe" else ours)[-1]
                print(f"  round {i + 1} {which}: {last['wall']:.1f} s", flush=True)
    _report(args, info, fixed, recipe, ours, n_trials, threads)


def _report(
    args: Any,
    info: dict[str, Any],
    fixed: list[dict[str, Any]],
    recipe: list[dict[str, Any]],
    ours: list[dict[str, Any]],
    n_trials: int,
    threads: int,
) -> None:
    _report_fixed(fixed)
    print(f"\nside by side: {CO2.name} ({_rows(CO2)} points), {n_trials} trials, alternating")
    for r in (*recipe, *ours):
        r["outside"] = r["wall"] - r["train"]
    rows = []
    for label, key in (
        ("wall time to exit (s)", "wall"),
        ("wall time to the printed summary (s)", "to_summary"),
        ("CPU user+sys, all processes (s)", "cpu"),
        ("inside training (s)", "train"),
        ("outside training = wall - inside (s)", "outside"),
        ("test RMSE (ppm)", "test_rmse"),
    ):
        a, b = _med(recipe, key), _med(ours, key)
        rows.append([label, a, b, common.ratio(b, a)])
    rows.append(["trials run", _med(recipe, "n_trials"), _med(ours, "n_trials"), None])
    rows.append(["1-min load before->after", _loads(recipe), _loads(ours), None])
    print(common.table(["figure (median)", "recipe", "lstmtune", "lstmtune / recipe"], rows))
    ratio = common.ratio(_med(ours, "wall"), _med(recipe, "wall"))
    share = common.ratio(_med(ours, "outside"), _med(ours, "wall"))
    print(
        f"\nlstmtune / recipe wall time: {common.fmt(ratio)} (target <= 1.3);"
        f" fixed cost {common.fmt(_med(fixed, 'wall'))} s (target <= 12 s on 2 cores);"
        f" lstmtune's share outside training at {n_trials} trials: {common.fmt(share)}"
    )
    common.write_json(
        args.json,
        {
            "benchmark": "overhead-vs-recipe",
            "machine": info,
            "threads": threads,
            "n_trials": n_trials,
            "fixed": fixed,
            "recipe": recipe,
            "lstmtune": ours,
            "ratio": ratio,
        },
    )


def _report_fixed(fixed: list[dict[str, Any]]) -> None:
    print("\nfixed cost: lstmtune run, 1 trial x 1 epoch, units 16, bundled airline series")
    rows: list[list[Any]] = [
        ["wall time to exit (s)", _med(fixed, "wall")],
        ["wall time to the printed summary (s)", _med(fixed, "to_summary")],
        ["CPU user+sys, all processes (s)", _med(fixed, "cpu")],
        ["inside train() (s)", _med(fixed, "train")],
    ]
    for step in fixed[0]["steps"]:
        values = [r["steps"][step] for r in fixed if step in r["steps"]]
        rows.append([f"step {step}: start to end (s)", statistics.median(values)])
    rows.append(["1-min load average before->after", _loads(fixed)])
    print(common.table(["figure (median)", "value"], rows))


_TASK = re.compile(r"(\d\d):(\d\d):(\d\d\.\d+) - INFO - (?:Executing task|Task) '([\w-]+)'")


def step_seconds(log: Path) -> dict[str, float]:
    """Each pipeline step's seconds, from kfp.local's 'Executing task' and 'Task ... finished'
    lines in ``pipeline.log`` (the step process's start-up and imports included)."""
    started: dict[str, float] = {}
    out: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        m = _TASK.match(re.sub(r"\x1b\[[0-9;]*m", "", line))
        if not m:
            continue
        t = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
        if "Executing task" in line:
            started[m[4]] = t
        elif " finished " in line and m[4] in started:
            out[m[4]] = (t - started[m[4]]) % 86400  # across midnight
    return out


def _rows(path: Path) -> int:
    return sum(1 for _ in path.open()) - 1

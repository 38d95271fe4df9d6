"""Throughput of distributed Optuna tuning on this machine (a script, not a test).

* trials finished per minute with 1 vs 2 worker processes sharing one PostgreSQL study, for a
  cheap objective (a quadratic, the storage is the bottleneck) and the real LSTM objective
  (``lstmtune.tuning.run_study`` on the bundled airline data, small space);
* Optuna storage ask+tell latency with 1, 8 and 32 concurrent clients (threads) against PostgreSQL.

    python benchmarks/bench_workers.py [--quick] [--json FILE] [--pg-url URL]

Creates (and drops) a throwaway database ``lstmtune_bench_<pid>`` unless ``--pg-url`` is given.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def _admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host=HOST, user="postgres", dbname="postgres", connect_timeout=5)
    conn.autocommit = True
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


def _cheap_worker(url: str, study: str, n_trials: int, worker: int, out: Any) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from lstmtune.tuning import _storage, _StudyLock

    storage = _storage(url, 20)
    s = optuna.create_study(
        study_name=study,
        storage=storage,
        load_if_exists=True,
        sampler=optuna.samplers.RandomSampler(seed=worker),
    )
    lock = _StudyLock(url, study)
    done = 0
    while True:  # the same budget protocol run_study uses: count under the study lock, then ask
        with lock():
            trials = s.get_trials(deepcopy=False)
            if (
                sum(t.state.is_finished() for t in trials)
                + sum(t.state == optuna.trial.TrialState.RUNNING for t in trials)
                >= n_trials
            ):
                break
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # heartbeat + ask/tell: run_study beats itself too
                t = s.ask()
        x = t.suggest_float("x", -10, 10)
        s.tell(t, (x - 2) ** 2)
        done += 1
    lock.dispose()
    out.put(done)


def _lstm_worker(
    url: str, study: str, n_trials: int, worker: int, n_workers: int, out: Any
) -> None:
    import torch

    torch.set_num_threads(1)
    from lstmtune.config import load_config
    from lstmtune.data.prepare import prepare
    from lstmtune.tuning import run_study

    space = {
        "units": [8, 16],
        "num_layers": 1,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "bidirectional": False,
        "learning_rate": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True},
        "batch_size": 32,
        "optimizer": "adam",
        "weight_decay": 1e-6,
        "epochs": 8,
        "lookback": 12,
        "anchor": ["last", "seasonal"],
        "transform": "none",
        "window_norm": False,
    }
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(
            None,
            {
                "tune.n_trials": n_trials,
                "tune.search_space": space,
                "tune.storage": url,
                "tune.study_name": study,
                "tune.warm_start": False,
                "tune.workers": n_workers,
                "tune.sampler": "random",
                "tune.pruner": "none",
                "train.patience": 100,
                "output_dir": tmp,
            },
        ).resolved()
        parts, meta = prepare(cfg)
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            run_study(cfg, parts, meta, worker_id=worker, n_workers=n_workers)
    out.put(1)


def trials_per_minute(kind: str, url: str, n_trials: int, n_workers: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    study = f"bench-{kind}-{n_workers}-{os.urandom(3).hex()}"
    if kind == "cheap":
        procs = [
            ctx.Process(target=_cheap_worker, args=(url, study, n_trials, i, q))
            for i in range(n_workers)
        ]
    else:
        procs = [
            ctx.Process(target=_lstm_worker, args=(url, study, n_trials, i, n_workers, q))
            for i in range(n_workers)
        ]
    # measure from the first trial start to the last trial end (process start-up excluded)
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode != 0 for p in procs):
        raise RuntimeError(f"{kind} worker failed")
    import optuna

    s = optuna.load_study(study_name=study, storage=url)
    trials = [t for t in s.get_trials(deepcopy=False) if t.state.is_finished()]
    start = min(t.datetime_start for t in trials if t.datetime_start)
    end = max(t.datetime_complete for t in trials if t.datetime_complete)
    seconds = (end - start).total_seconds()
    return {
        "objective": kind,
        "workers": n_workers,
        "trials": len(trials),
        "seconds": round(seconds, 2),
        "trials_per_min": round(len(trials) / seconds * 60, 1),
    }


def ask_tell_latency(url: str, clients: int, per_client: int) -> dict[str, Any]:
    import optuna

    from lstmtune.tuning import _storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _storage(url)
    storage.engine.pool.dispose()
    study_name = f"latency-{clients}-{os.urandom(3).hex()}"
    optuna.create_study(study_name=study_name, storage=storage)
    lat: list[float] = []
    guard = threading.Lock()
    barrier = threading.Barrier(clients)

    def client(i: int) -> None:
        st = _storage(url)
        s = optuna.load_study(
            study_name=study_name, storage=st, sampler=optuna.samplers.RandomSampler(seed=i)
        )
        mine = []
        barrier.wait()
        for _ in range(per_client):
            t0 = time.perf_counter()
            t = s.ask()
            x = t.suggest_float("x", -10, 10)
            s.tell(t, x * x)
            mine.append(time.perf_counter() - t0)
        with guard:
            lat.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    lat.sort()
    return {
        "clients": clients,
        "ops": len(lat),
        "p50_ms": round(statistics.median(lat) * 1e3, 1),
        "p95_ms": round(lat[int(0.95 * (len(lat) - 1))] * 1e3, 1),
        "throughput_per_s": round(len(lat) / wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="small sizes: well under 5 minutes on 2 cores"
    )
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument(
        "--pg-url", help="PostgreSQL URL to use (default: a throwaway database on 127.0.0.1)"
    )
    args = ap.parse_args(argv)
    cheap_n, lstm_n, per_client = (300, 30, 15) if args.quick else (1000, 80, 50)
    db = None
    url = args.pg_url
    if url is None:
        db = f"lstmtune_bench_{os.getpid()}"
        _admin(f'CREATE DATABASE "{db}"')
        url = f"postgresql+psycopg2://postgres@{HOST}:5432/{db}"
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "throughput": [],
        "latency": [],
    }
    try:
        from lstmtune.tuning import _storage

        _storage(url)  # create the schema once, outside the timings
        for kind, n in (("cheap", cheap_n), ("lstm", lstm_n)):
            for workers in (1, 2):
                r = trials_per_minute(kind, url, n, workers)
                results["throughput"].append(r)
                print(
                    f"  {kind:<6} {workers} worker(s): {r['trials']} trials in {r['seconds']} s",
                    flush=True,
                )
        for clients in (1, 8, 32):
            r = ask_tell_latency(url, clients, per_client)
            results["latency"].append(r)
            print(f"  ask+tell with {clients:>2} client(s): p50 {r['p50_ms']} ms", flush=True)
    finally:
        if db is not None:
            _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    print("\ntrials finished per minute (one PostgreSQL study)")
    print(
        f"{'objective':<10}{'workers':>8}{'trials':>8}{'seconds':>10}"
        f"{'trials/min':>12}{'vs 1 worker':>13}"
    )
    base: dict[str, float] = {}
    for r in results["throughput"]:
        base.setdefault(r["objective"], r["trials_per_min"])
        ratio = r["trials_per_min"] / base[r["objective"]]
        r["ratio_vs_1_worker"] = round(ratio, 2)
        print(
            f"{r['objective']:<10}{r['workers']:>8}{r['trials']:>8}{r['seconds']:>10}{r['trials_per_min']:>12}{ratio:>12.2f}x"
        )
    print("\nOptuna storage ask+tell latency (PostgreSQL, concurrent threads)")
    print(f"{'clients':>8}{'ops':>7}{'p50 ms':>9}{'p95 ms':>9}{'ops/s':>9}{'p50 vs 1':>10}")
    p50 = results["latency"][0]["p50_ms"]
    for r in results["latency"]:
        r["p50_ratio_vs_1_client"] = round(r["p50_ms"] / p50, 2)
        print(
            f"{r['clients']:>8}{r['ops']:>7}{r['p50_ms']:>9}{r['p95_ms']:>9}"
            f"{r['throughput_per_s']:>9}{r['p50_ms'] / p50:>9.2f}x"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

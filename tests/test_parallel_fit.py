"""The published classifier's independent trainings side by side in worker processes: the same
networks as one by one, how many workers, and the fallback when no pool can start."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lstmtune import worker_pool
from lstmtune.crossval import fit_trial
from lstmtune.parallel_fit import FitJob, fit_all
from lstmtune.worker_pool import MAX_WORKERS, cgroup_cpus, job_threads, worker_count
from tests.test_classify_ensemble import PARAMS, _problem

CPU = torch.device("cpu")


def test_workers_follow_the_cpu_budget_and_the_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_pool, "usable_cores", lambda: 6)
    assert worker_count(0, None, 5) == 5  # the usable cores, no more than the jobs
    assert worker_count(0, None, 10) == 6
    assert worker_count(0, 1, 5) == 1  # train.threads: 1 keeps a run on one thread
    assert worker_count(0, 4, 5) == 4
    assert worker_count(3, None, 5) == 3  # train.parallel_fits set
    assert worker_count(1, None, 5) == 1
    assert worker_count(0, None, 1) == 1  # one training runs here
    assert worker_count(0, None, 5, on_cpu=False) == 1  # one device: no workers
    monkeypatch.setattr(worker_pool, "usable_cores", lambda: 64)
    assert worker_count(0, None, 20) == MAX_WORKERS


@pytest.mark.parametrize(
    ("files", "cpus"),
    [
        ({"cpu.max": "400000 100000\n"}, 4),  # cgroup v2: a pod limited to 4 CPUs
        ({"cpu.max": "150000 100000\n"}, 1),
        ({"cpu.max": "50000 100000\n"}, 1),  # half a CPU: still one worker
        ({"cpu.max": "max 100000\n"}, None),  # no limit
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_a_cgroup_cpu_quota_caps_the_cores(
    tmp_path: Path, files: dict[str, str], cpus: int | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpus(tmp_path) == cpus


def test_the_last_rounds_jobs_share_the_idle_threads() -> None:
    assert job_threads(5, 2, 2) == [1, 1, 1, 1, 2]
    assert job_threads(4, 2, 2) == [1, 1, 1, 1]
    assert job_threads(5, 5, 8) == [1, 1, 1, 1, 1]
    assert job_threads(10, 4, 8) == [2] * 8 + [4, 4]


def _jobs() -> list[FitJob]:
    return [
        FitJob(PARAMS, 6, seed=3),
        FitJob(PARAMS, 4, seed=4, rows=tuple(range(0, 20, 2))),  # a fold: some rows only
        FitJob({**PARAMS, "units": 4}, 5, seed=5),
        FitJob(PARAMS, 3, seed=6, rows=tuple(range(1, 20, 2))),
    ]


def _same(a: list, b: list) -> None:  # type: ignore[type-arg]
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        sa, sb = x.model.state_dict(), y.model.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        assert [h["train_loss"] for h in x.history] == [h["train_loss"] for h in y.history]
        assert x.best_steps == y.best_steps > 0


def test_workers_train_the_same_networks_as_one_by_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Spawned workers (one torch thread each: four jobs, two workers, two threads) return the
    weights, history and steps that the same jobs give one by one in this process on one
    thread: bit for bit, in the jobs' order."""
    problem = _problem(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = fit_all(problem, _jobs(), CPU, setting=1)
    finally:
        torch.set_num_threads(threads)
    _same(fit_all(problem, _jobs(), CPU, setting=2, threads=2), here)
    assert "failed" not in capsys.readouterr().out  # the pool ran them
    assert not here[0].model.training


def test_a_pool_that_cannot_start_trains_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A platform without ``spawn``: one warning line, and the trainings run in the process."""
    problem = _problem(tmp_path)

    def no_spawn(method: str | None = None) -> None:
        raise ValueError(f"cannot find context for {method!r}")

    jobs = _jobs()[:2]
    expected = fit_all(problem, jobs, CPU, setting=1)
    monkeypatch.setattr(worker_pool, "_POOLS", {})  # no pool kept from an earlier test
    monkeypatch.setattr(multiprocessing, "get_context", no_spawn)
    _same(fit_all(problem, jobs, CPU, setting=2), expected)
    assert "parallel trainings failed" in capsys.readouterr().out


def test_a_trainings_own_error_is_raised_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An error of the training itself (here an unknown optimizer) comes back from the worker
    as that error, not as a failed pool trained again one by one."""
    problem = _problem(tmp_path)
    jobs = [FitJob(PARAMS, 3, seed=1), FitJob({**PARAMS, "optimizer": "nope"}, 3, seed=2)]
    with pytest.raises(ValueError, match="nope"):
        fit_all(problem, jobs, CPU, setting=2, threads=2)
    assert "parallel trainings failed" not in capsys.readouterr().out


def test_a_kfold_trial_is_the_same_with_its_folds_in_workers(tmp_path: Path) -> None:
    """fit_trial's folds 2..k in workers: the same k-fold value, fold values, steps and
    held-out record as every fold here on one thread; pruning still watches fold 1 only."""
    problem = _problem(tmp_path)
    train_set, val_set = problem.tensors("train"), problem.tensors("val")
    kwargs = {"patience": 3, "device": CPU, "seed": 7}
    params = {**PARAMS, "epochs": 6}
    seen: list[int] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # fold 1 runs here either way
    try:
        here = fit_trial(problem, params, train_set, val_set, parallel=(1, None), **kwargs)
        there = fit_trial(
            problem,
            params,
            train_set,
            val_set,
            parallel=(2, 2),
            on_epoch=lambda epoch, value, loss: seen.append(epoch),
            **kwargs,
        )
    finally:
        torch.set_num_threads(threads)
    assert len(there.fold_values) == 5 and there.fold_values == here.fold_values
    assert (there.best_value, there.best_epoch, there.best_steps) == (
        here.best_value,
        here.best_epoch,
        here.best_steps,
    )
    assert there.oof_log_loss == here.oof_log_loss
    assert seen == list(range(1, len(seen) + 1)) and len(seen) <= 6  # fold 1's epochs only


def test_a_past_deadline_stops_every_fold_of_a_kfold_trial_after_one_epoch(
    tmp_path: Path,
) -> None:
    """The tuning's time budget reaches folds 2..k, here and in worker processes (a wall-clock
    deadline): each fold stops after its first epoch, as fold 1 does; without it all run."""
    import math
    import time

    import numpy as np

    from lstmtune.crossval import stratified_folds

    problem = _problem(tmp_path)
    train_set, val_set = problem.tensors("train"), problem.tensors("val")
    params = {**PARAMS, "epochs": 6}
    full = problem.tensors("train", "val")
    fold_of = stratified_folds(full.y.numpy(), 5, seed=7)
    one_epoch = [  # each fold's optimizer steps of one epoch over the other folds
        math.ceil(n / problem.batch_size(params, n))
        for n in (int((fold_of != i).sum()) for i in range(5))
    ]
    past = time.time() - 1.0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for parallel in ((1, None), (2, 2)):  # folds 2..k here, then in two workers
            late = fit_trial(
                problem, params, train_set, val_set, parallel=parallel, deadline=past, seed=7
            )
            assert len(late.fold_values) == 5 and late.epochs_run == 1
            assert late.best_steps == round(float(np.mean(one_epoch)))  # every fold: 1 epoch
        jobs = [
            FitJob(params, None, seed=i, rows=tuple(range(2, 20)), held=(0, 1), deadline=past)
            for i in range(2)
        ]
        assert [r.epochs_run for r in fit_all(problem, jobs, CPU, setting=2, threads=2)] == [1, 1]
        on_time = fit_trial(problem, params, train_set, val_set, parallel=(2, 2), seed=7)
    finally:
        torch.set_num_threads(threads)
    assert on_time.epochs_run == 6 and on_time.best_steps > late.best_steps  # patience 20


def test_no_worker_outlives_a_process_that_ends_abruptly() -> None:
    """A process that started a pool and ends with ``os._exit`` (as ``lstmtune trial`` does, or
    a killed step) takes its workers with it: they would otherwise keep its stdout open and a
    reader waiting for the end of it (Katib's metrics collector, ``subprocess.run``)."""
    script = (
        "import os, sys\n"
        "from lstmtune.worker_pool import _pool\n"
        "pool = _pool(2)\n"
        "print(sorted(pool.submit(os.getpid).result() for _ in range(4)), flush=True)\n"
        "os._exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.startswith("[")  # the workers ran, then went with their parent


def test_shutdown_ends_the_pools_of_this_process() -> None:
    pool = worker_pool._pool(2)
    assert pool.submit(abs, -3).result() == 3
    worker_pool.shutdown_pools()
    assert not [k for k in worker_pool._POOLS if k[0] == os.getpid()]

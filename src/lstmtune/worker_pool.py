"""Worker processes for independent trainings on a CPU: how many, how many threads each, and a
pool kept for the life of the step (:mod:`lstmtune.parallel_fit` runs the trainings).

A pool is spawned (a fresh interpreter: forking a process whose torch has started its threads is
unsafe) and kept: its workers import torch and lstmtune once, about two seconds, and a tuning
step then sends them trial after trial. A job's own error (a diverged loss, out of memory) comes
back as that error; a pool that cannot start or loses a worker raises :class:`PoolFailed`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from pickle import PicklingError
from typing import Any

MAX_WORKERS = 8
PR_SET_PDEATHSIG = 1  # prctl(2)
# by (process id, worker count), for the life of the process (a forked child makes its own)
_POOLS: dict[tuple[int, int], ProcessPoolExecutor] = {}


class PoolFailed(RuntimeError):
    """The worker pool could not run the jobs (no ``spawn``, a worker that died)."""


def cgroup_cpus(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The CPU quota of this process's cgroup in whole CPUs (v2 ``cpu.max``, else v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``: a Kubernetes pod's limit; at least 1); None
    without one."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1") or not quota.lstrip("-").isdigit() or not period.isdigit():
        return None
    return max(1, int(quota) // max(1, int(period)))


def usable_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by its cgroup's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpus()
    return cores if quota is None else min(cores, quota)


def cpu_budget(threads: int | None) -> int:
    """The CPU threads the trainings may use: ``train.threads`` where set, else the usable
    cores."""
    return threads if threads else usable_cores()


def worker_count(setting: int, threads: int | None, jobs: int, on_cpu: bool = True) -> int:
    """Workers for ``jobs`` trainings: 1 (in the process) off the CPU or for one job; else
    ``setting`` (``train.parallel_fits``), or with 0 the :func:`cpu_budget` (at most
    :data:`MAX_WORKERS`); never more than the jobs. ``train.threads: 1`` thus trains one by one,
    as a run confined to one thread asked."""
    if not on_cpu or jobs <= 1:
        return 1
    wanted = setting if setting > 0 else min(cpu_budget(threads), MAX_WORKERS)
    return max(1, min(wanted, jobs))


def job_threads(jobs: int, workers: int, budget: int) -> list[int]:
    """Torch threads of each of ``jobs`` trainings on ``workers`` workers sharing ``budget``
    threads: ``budget // workers`` for the full rounds; the last, partial round's jobs share the
    whole budget (5 jobs on 2 workers: 1, 1, 1, 1, 2), so no core idles while one job trains."""
    full = jobs - jobs % workers
    tail = jobs - full
    return [max(1, budget // workers)] * full + [max(1, budget // max(1, tail))] * tail


def _pool(workers: int) -> ProcessPoolExecutor:
    key = (os.getpid(), workers)
    if key not in _POOLS:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        _POOLS[key] = ProcessPoolExecutor(
            workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
        )
    return _POOLS[key]


def die_with_parent(parent: int) -> None:
    """A worker's start (Linux): the kernel ends it when the process that started it ends,
    however that ends (``os._exit``, a kill), so no worker outlives its step holding the step's
    stdout open; if that process is already gone, it ends now."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def shutdown_pools() -> None:
    """End this process's worker pools (their workers exit); before an ``os._exit``, which
    skips the interpreter's own shutdown of them."""
    for key in [k for k in _POOLS if k[0] == os.getpid()]:
        _POOLS.pop(key).shutdown(wait=True, cancel_futures=True)


def _guarded(fn: Callable[..., Any], threads: int, *args: Any) -> tuple[bool, Any]:
    """Run ``fn(*args)`` in a worker on ``threads`` torch threads: ``(True, result)``, or
    ``(False, error)`` for an error of the job itself."""
    import torch

    torch.set_num_threads(threads)
    try:
        return True, fn(*args)
    except Exception as exc:  # the job's own error, raised again in the parent
        return False, exc


def run_jobs(
    fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], workers: int, budget: int
) -> list[Any]:
    """``[fn(*job) for job in jobs]`` on ``workers`` pooled processes sharing ``budget`` threads
    (:func:`job_threads`). Raises a job's own error as it is, :class:`PoolFailed` otherwise."""
    threads = job_threads(len(jobs), workers, budget)
    try:
        pool = _pool(workers)
        outs = list(pool.map(_guarded, [fn] * len(jobs), threads, *zip(*jobs, strict=True)))
    except (
        BrokenProcessPool,
        OSError,
        ValueError,
        AttributeError,
        TypeError,
        PicklingError,
    ) as exc:
        stale = _POOLS.pop((os.getpid(), workers), None)
        if stale is not None:  # its live workers, if any, end now rather than with the step
            stale.shutdown(wait=False, cancel_futures=True)
        raise PoolFailed(repr(exc)) from exc
    for ok, out in outs:
        if not ok:
            raise out
    return [out for _, out in outs]

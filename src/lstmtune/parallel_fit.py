"""The published classifier's independent trainings, run side by side on a CPU's cores.

On a small set the retrain step trains the winning configuration about ten times: the k folds of
the networks' held-out record (:mod:`lstmtune.classify_record`) and the seed ensemble
(:func:`lstmtune.final_classify.fit_ensemble`). Each is one small network whose steps are too
short for torch's threads to share well (a CPU step of a batch of 8-32 sequences is mostly
Python and small kernels), while the trainings do not depend on one another. So on a CPU with
more than one core they run in worker processes (spawned, one torch thread each), each
returning its network's state dict, history and step count; the parent rebuilds the network with
:func:`~lstmtune.training.new_model` and loads the weights it computed. The same seeds give the
same trainings either way, up to float rounding of a different thread count.

``train.parallel_fits`` sets the number of workers: ``0`` (the default) takes the CPU budget,
``train.threads`` where set, else the usable cores (affinity and a cgroup quota; at most
:data:`MAX_WORKERS`), so ``train.threads: 1`` keeps the trainings one by one; ``1`` trains in
the process itself, as before. Not on a GPU (one
device, the trainings share it anyway) and not for one training. A pool that cannot start
(no ``spawn``, a worker that dies) is a warning and the trainings run in the process.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lstmtune.annealed import annealed_train
from lstmtune.progress import emit
from lstmtune.training import ClassifyProblem, TensorSet, TrainResult, new_model

MAX_WORKERS = 8
_WORKER_PROBLEM: list[ClassifyProblem] = []  # set once per worker process by _start_worker


@dataclass(frozen=True)
class FitJob:
    """One annealed training of ``params`` on the train+val rows ``rows`` (None: all of them)."""

    params: dict[str, Any]
    epochs: int
    seed: int
    rows: tuple[int, ...] | None = None
    grad_clip: float = 1.0
    amp: bool = True


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


def worker_count(setting: int, threads: int | None, jobs: int, device: torch.device) -> int:
    """Workers for ``jobs`` trainings: 1 (in the process) on a GPU or for one job; else
    ``setting`` (``train.parallel_fits``), or with 0 the :func:`cpu_budget` (at most
    :data:`MAX_WORKERS`); never more than the jobs. ``train.threads: 1`` thus trains one by one,
    as a run confined to one thread asked."""
    if device.type != "cpu" or jobs <= 1:
        return 1
    wanted = setting if setting > 0 else min(cpu_budget(threads), MAX_WORKERS)
    return max(1, min(wanted, jobs))


def _data(problem: ClassifyProblem, rows: tuple[int, ...] | None) -> TensorSet:
    full = problem.tensors("train", "val")
    return full if rows is None else full.take(torch.tensor(rows, dtype=torch.long))


def fit_here(problem: ClassifyProblem, job: FitJob, device: torch.device) -> TrainResult:
    """``job`` trained in this process (:func:`~lstmtune.annealed.annealed_train`)."""
    return annealed_train(
        problem,
        job.params,
        _data(problem, job.rows),
        epochs=job.epochs,
        seed=job.seed,
        device=device,
        grad_clip=job.grad_clip,
        amp=job.amp,
    )


def job_threads(jobs: int, workers: int, budget: int) -> list[int]:
    """Torch threads of each of ``jobs`` trainings on ``workers`` workers sharing ``budget``
    threads: ``budget // workers`` for the full rounds; the last, partial round's jobs share the
    whole budget (5 jobs on 2 workers: 1, 1, 1, 1, 2), so no core idles while one job trains."""
    full = jobs - jobs % workers
    tail = jobs - full
    return [max(1, budget // workers)] * full + [max(1, budget // max(1, tail))] * tail


def _start_worker(problem: ClassifyProblem) -> None:
    _WORKER_PROBLEM[:] = [problem]


def _fit_in_worker(
    job: FitJob, threads: int
) -> tuple[dict[str, np.ndarray], list[dict[str, float]], float, int]:
    """One job in a worker on ``threads`` torch threads; the weights travel as numpy arrays
    (pickled by value)."""
    torch.set_num_threads(threads)
    result = fit_here(_WORKER_PROBLEM[0], job, torch.device("cpu"))
    state = {k: v.detach().cpu().numpy().copy() for k, v in result.model.state_dict().items()}
    return state, result.history, result.train_seconds, result.best_steps


def _rebuilt(problem: ClassifyProblem, job: FitJob, out: Any) -> TrainResult:
    state, history, seconds, steps = out
    model = new_model(problem, job.params, torch.device("cpu"))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    model.eval()
    return TrainResult(
        model, job.epochs, float("nan"), job.epochs, history, seconds, best_steps=steps
    )


def fit_all(
    problem: ClassifyProblem,
    jobs: list[FitJob],
    device: torch.device,
    setting: int = 0,
    threads: int | None = None,
) -> list[TrainResult]:
    """The trainings of ``jobs``, in order: in :func:`worker_count` worker processes sharing
    :func:`cpu_budget` threads (:func:`job_threads`), or here (one worker, a GPU, or a pool that
    failed: a warning line says so)."""
    workers = worker_count(setting, threads, len(jobs), device)
    if workers > 1:
        try:
            return _fit_parallel(problem, jobs, workers, cpu_budget(threads))
        except Exception as exc:  # a pool that cannot start or lost a worker: train here
            emit("warning", f"warning: parallel trainings failed ({exc!r}); training one by one")
    return [fit_here(problem, job, device) for job in jobs]


def _fit_parallel(
    problem: ClassifyProblem, jobs: list[FitJob], workers: int, budget: int
) -> list[TrainResult]:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    threads = job_threads(len(jobs), workers, budget)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(problem,)
    ) as pool:
        outs = list(pool.map(_fit_in_worker, jobs, threads))
    return [_rebuilt(problem, job, out) for job, out in zip(jobs, outs, strict=True)]

"""Independent trainings of one configuration, side by side on a CPU's cores.

On a small set each tuning trial is k trainings (the folds of :func:`lstmtune.crossval.
fit_trial`), and the retrain step trains the winner about ten more times: the k folds of the
networks' held-out record (:mod:`lstmtune.classify_record`) and the seed ensemble
(:func:`lstmtune.final_classify.fit_ensemble`). Each is one small network whose steps are too
short for torch's threads to share well (a CPU step of a batch of 8-32 sequences is mostly
Python and small kernels), while the trainings do not depend on one another. So on a CPU with
more than one core they run in worker processes (:mod:`lstmtune.worker_pool`: spawned once,
one torch thread each), each returning its network's weights as arrays and its training
record; the parent rebuilds the network with :func:`~lstmtune.training.new_model`. The same
seeds give the same trainings either way, up to float rounding of a different thread count.

``train.parallel_fits`` sets the number of workers: ``0`` (the default) takes the CPU budget,
``train.threads`` where set, else the usable cores (affinity and a cgroup quota; at most 8), so
``train.threads: 1`` keeps the trainings one by one; ``1`` trains in the process itself. Not on
a GPU (one device: the trainings share it anyway) and not for one training. A pool that cannot
start (no ``spawn``, a worker that dies) is a warning and the trainings run in the process; a
training's own error (a diverged loss) is raised as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lstmtune.annealed import annealed_train
from lstmtune.progress import emit
from lstmtune.training import Problem, TensorSet, TrainResult, new_model, train
from lstmtune.worker_pool import PoolFailed, cpu_budget, run_jobs, worker_count


@dataclass(frozen=True)
class FitJob:
    """One training of ``params`` on the train+val rows ``rows`` (None: all of them): annealed
    for ``epochs`` (:func:`~lstmtune.annealed.annealed_train`), or, with ``held`` rows, early
    stopped on them with ``patience`` (``epochs`` None: the configuration's) and stopped after
    the epoch that passes ``deadline`` (a ``time.time()`` value: the tuning's time budget)."""

    params: dict[str, Any]
    epochs: int | None
    seed: int
    rows: tuple[int, ...] | None = None
    grad_clip: float = 1.0
    amp: bool = True
    held: tuple[int, ...] | None = None
    patience: int = 10
    deadline: float | None = None


def _rows(full: TensorSet, rows: tuple[int, ...] | None) -> TensorSet:
    return full if rows is None else full.take(torch.tensor(rows, dtype=torch.long))


def fit_here(
    problem: Problem, job: FitJob, device: torch.device, full: TensorSet | None = None
) -> TrainResult:
    """``job`` trained in this process (``full``: train+val's tensors, when already built)."""
    full = problem.tensors("train", "val") if full is None else full
    data = _rows(full, job.rows)
    if job.held is not None:
        return train(
            problem,
            job.params,
            data,
            _rows(full, job.held),
            epochs=job.epochs,
            patience=job.patience,
            grad_clip=job.grad_clip,
            seed=job.seed,
            device=device,
            amp=job.amp,
            deadline=job.deadline,
        )
    assert job.epochs is not None, "an annealed training needs its epochs"
    return annealed_train(
        problem,
        job.params,
        data,
        epochs=job.epochs,
        seed=job.seed,
        device=device,
        grad_clip=job.grad_clip,
        amp=job.amp,
    )


def fit_in_worker(problem: Problem, job: FitJob) -> dict[str, Any]:
    """One job in a worker: the weights as numpy arrays (pickled by value) and the record."""
    r = fit_here(problem, job, torch.device("cpu"))
    state = {k: v.detach().cpu().numpy().copy() for k, v in r.model.state_dict().items()}
    record = (r.best_epoch, r.best_value, r.epochs_run, r.history, r.train_seconds)
    return {"state": state, "record": record, "stopped": r.stopped_early, "steps": r.best_steps}


def rebuilt(problem: Problem, job: FitJob, out: dict[str, Any]) -> TrainResult:
    """The :class:`TrainResult` of a job trained in a worker, its network rebuilt here."""
    model = new_model(problem, job.params, torch.device("cpu"))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in out["state"].items()})
    model.eval()
    best_epoch, best_value, epochs_run, history, seconds = out["record"]
    return TrainResult(
        model,
        best_epoch,
        best_value,
        epochs_run,
        history,
        seconds,
        out["stopped"],
        best_steps=out["steps"],
    )


def fit_all(
    problem: Problem,
    jobs: list[FitJob],
    device: torch.device,
    setting: int = 0,
    threads: int | None = None,
) -> list[TrainResult]:
    """The trainings of ``jobs``, in order: in :func:`~lstmtune.worker_pool.worker_count`
    workers sharing the CPU budget, or here (one worker, a GPU, or a pool that failed: a
    warning line says so)."""
    workers = worker_count(setting, threads, len(jobs), device.type == "cpu")
    if workers > 1:
        try:
            outs = run_jobs(
                fit_in_worker, [(problem, j) for j in jobs], workers, cpu_budget(threads)
            )
            return [rebuilt(problem, job, out) for job, out in zip(jobs, outs, strict=True)]
        except PoolFailed as exc:
            emit("warning", f"warning: parallel trainings failed ({exc}); training one by one")
    full = problem.tensors("train", "val")  # built once for every job here
    return [fit_here(problem, job, device, full) for job in jobs]

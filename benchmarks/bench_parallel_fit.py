"""The published classifier's independent trainings one by one against side by side.

On a development UCR set, prepared as ``lstmtune run`` does, it trains the seed ensemble the
retrain step publishes on a small set (``--members`` annealed networks of lstmtune's default
classification configuration for the small set's retrain budget,
:func:`lstmtune.crossval.final_epochs`) twice, alternately: one by one in this process with
torch's threads (``train.parallel_fits: 1``, the way before), and in worker processes
(:func:`lstmtune.parallel_fit.fit_all` with the default ``0``: the usable cores, one thread each).
It prints each repeat's wall seconds and the ratio, and both ways' test accuracy. ``--what
trial`` times one k-fold tuning trial of that configuration instead
(:func:`lstmtune.crossval.fit_trial`: fold 1 here, folds 2..k in the workers) and prints both
ways' k-fold value::

    python benchmarks/bench_parallel_fit.py --set arrowhead --repeats 2
    python benchmarks/bench_parallel_fit.py --set chinatown --what trial --repeats 3
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from bench_augment import _prepared


def measure(problem: Any, params: dict[str, Any], members: int, epochs: int, setting: int) -> Any:
    """Wall seconds of the ensemble's trainings with ``train.parallel_fits: setting`` and its
    test accuracy."""
    import torch

    from lstmtune.final_classify import class_proba, fit_ensemble

    started = time.perf_counter()
    final = fit_ensemble(
        problem,
        params,
        members,
        epochs=epochs,
        seed=0,
        device=torch.device("cpu"),
        parallel=(setting, None),
    )
    seconds = time.perf_counter() - started
    test = problem.tensors("test")
    accuracy = float(np.mean(class_proba(final.model, test).argmax(axis=1) == test.y.numpy()))
    return seconds, accuracy


def measure_trial(problem: Any, params: dict[str, Any], setting: int) -> Any:
    """Wall seconds of one k-fold tuning trial of ``params`` (:func:`lstmtune.crossval.fit_trial`,
    the tune step's patience) with ``train.parallel_fits: setting``, and its k-fold value."""
    import torch

    from lstmtune.crossval import fit_trial

    started = time.perf_counter()
    result = fit_trial(
        problem,
        params,
        problem.tensors("train"),
        problem.tensors("val"),
        patience=10,
        seed=0,
        device=torch.device("cpu"),
        parallel=(setting, None),
    )
    return time.perf_counter() - started, result.best_value


def main() -> None:
    from lstmtune.crossval import final_epochs
    from lstmtune.problems import make_problem
    from lstmtune.search_space import default_configuration, default_space, fixed_params
    from lstmtune.worker_pool import usable_cores

    p = common.parser(__doc__ or "")
    p.add_argument("--set", default="arrowhead", help="chinatown, arrowhead or osuleaf")
    p.add_argument("--members", type=int, default=5, help="networks in the ensemble (default 5)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument(
        "--what", choices=("ensemble", "trial"), default="ensemble", help="trial: a k-fold trial"
    )
    args = p.parse_args()
    info = common.machine()
    common.header(f"parallel trainings on {args.set} ({usable_cores()} usable cores)", info)
    rows, ratios = [], []
    with tempfile.TemporaryDirectory(prefix="bench_parallel_fit_") as out:
        parts, meta = _prepared(args.set, out)
        space = default_space("classify", meta)
        params = {**fixed_params(space), **default_configuration(space, meta)}
        problem = make_problem(parts, meta, params)
        epochs = final_epochs(problem, params, 50 if not args.quick else 5)
        for repeat in range(args.repeats):
            if args.what == "trial":
                serial = measure_trial(problem, params, 1)
                parallel = measure_trial(problem, params, 0)
            else:
                serial = measure(problem, params, args.members, epochs, 1)
                parallel = measure(problem, params, args.members, epochs, 0)
            ratios.append(serial[0] / parallel[0])
            rows.append(
                [repeat, epochs, *serial[:1], parallel[0], ratios[-1], serial[1], parallel[1]]
            )
            print(f"repeat {repeat}: {serial[0]:.1f} s one by one, {parallel[0]:.1f} s in workers")
    print(
        common.table(
            [
                "repeat",
                "epochs",
                "one by one s",
                "in workers s",
                "speed-up",
                "figure 1",
                "figure 2",
            ],
            rows,
        )
    )
    print(f"median speed-up: {statistics.median(ratios):.2f}x")
    common.write_json(args.json, {"machine": info, "set": args.set, "rows": rows})


if __name__ == "__main__":
    main()

"""Augmentations on a fixed classification configuration: test accuracy of the published ensemble.

For a development UCR set (long format ``case, t, c0..., label, split``, the archive's split) it
prepares the data as ``lstmtune run`` does, takes lstmtune's default classification configuration
(:func:`lstmtune.search_space.default_configuration` in the default space: the first trial of a
default run) and, for each augmentation and
seed, trains the networks the run would publish (:func:`lstmtune.final_classify.fit_ensemble`:
annealed retrains on train+val, the retrain epochs of :func:`lstmtune.crossval.final_epochs`),
then scores them on the test split. No search: it isolates what one choice does::

    python benchmarks/bench_augment.py --set arrowhead --augments none,warp --seeds 0,5,10
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

DEV = Path(os.environ.get("LSTMTUNE_DEV_DATA", "/work/shared/data/dev"))


def _prepared(name: str, out: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from lstmtune.config import load_config
    from lstmtune.data.prepare import prepare

    overrides = {
        "data.path": str(DEV / f"{name}_long.csv"),
        "data.task": "classify",
        "data.sequence_column": "case",
        "data.time_column": "t",
        "data.label": "label",
        "data.split_column": "split",
        "output_dir": out,
    }
    return prepare(load_config(None, overrides).resolved())


def measure(
    parts: dict[str, Any], meta: dict[str, Any], augment: str, seed: int, members: int, epochs: int
) -> dict[str, Any]:
    """Test accuracy of ``members`` annealed networks of lstmtune's default configuration (the
    first trial of a default run) with ``augment``."""
    import torch

    from lstmtune.crossval import final_epochs
    from lstmtune.final_classify import class_proba, fit_ensemble
    from lstmtune.problems import make_problem
    from lstmtune.search_space import default_configuration, default_space, fixed_params

    space = default_space("classify", meta)
    params = {**fixed_params(space), **default_configuration(space, meta), "augment": augment}
    problem = make_problem(parts, meta, params)
    n_epochs = final_epochs(problem, params, epochs)
    started = time.perf_counter()
    final = fit_ensemble(
        problem, params, members, epochs=n_epochs, seed=seed, device=torch.device("cpu")
    )
    test = problem.tensors("test")
    predicted = class_proba(final.model, test).argmax(axis=1)
    truth = test.y.cpu().numpy()
    return {
        "augment": augment,
        "seed": seed,
        "epochs": n_epochs,
        "accuracy": float(np.mean(predicted == truth)),
        "members": final.member_accuracy,
        "wrong": np.nonzero(predicted != truth)[0].tolist(),
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--set", default="arrowhead", help="chinatown, arrowhead or osuleaf")
    p.add_argument("--augments", default="none,warp", help="comma-separated augment choices")
    p.add_argument("--seeds", default="0", help="comma-separated first seeds of the ensembles")
    p.add_argument("--members", type=int, default=5, help="networks per ensemble (default 5)")
    p.add_argument(
        "--epochs", type=int, default=50, help="a trial's best epoch (a small set's floor wins)"
    )
    args = p.parse_args()
    common.setup_torch(args.threads or 1)
    info = common.machine()
    common.header(f"augmentations on {args.set}", info)
    rows, figures = [], []
    with tempfile.TemporaryDirectory(prefix="bench_augment_") as out:
        parts, meta = _prepared(args.set, out)
        for augment in args.augments.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                fig = measure(parts, meta, augment, seed, args.members, args.epochs)
                figures.append(fig)
                members = " ".join(f"{a:.3f}" for a in fig["members"])
                rows.append(
                    [augment, seed, fig["epochs"], fig["accuracy"], members, fig["seconds"]]
                )
                print(f"{augment} seed {seed}: {fig['accuracy']:.4f} ({members})", flush=True)
    print(common.table(["augment", "seed", "epochs", "test accuracy", "members", "s"], rows))
    common.write_json(args.json, {"machine": info, "set": args.set, "runs": figures})


if __name__ == "__main__":
    main()

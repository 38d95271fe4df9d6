"""Advanced search strategies against plain TPE on the same budget (issue: beyond single-objective).

Rows, each run side by side in this process on the same data and seeds:

* ``tpe``            — the default strategy (TPE + Hyperband) over the default space;
* ``tpe+arch``       — the same plus architecture search: ``cell`` (lstm/gru), ``head``
                       (last/mean/attention), and ``recurrent_dropout`` only when
                       ``num_layers`` > 1;
* ``multi-objective``— ``objectives: [val, param_count]`` (MO-TPE, no pruning), the Pareto choice;
* ``subset 0.5``     — tuned on half of the training windows, retrained on everything;
* ``pbt``            — population-based training with a population of ``n_trials`` and 5 rounds;
* text: ``tpe`` over the text space vs ``tpe, embedding_dim fixed 32``.

Reported: wall time (and ratio to plain TPE), best validation value, the test metric after the
retrain step, and the parameter count of the registered configuration. ``--quick`` uses fewer trials
and epochs (under 5 minutes on 2 cores).
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_time_to_quality import test_metric
from common import fmt, header, machine, median, parser, ratio, setup_torch, table, write_json

ARCH = {
    "cell": ["lstm", "gru"],
    "head": ["last", "mean", "attention"],
    "num_layers": {"type": "int", "low": 1, "high": 2},
    "recurrent_dropout": {
        "type": "float",
        "low": 0.05,
        "high": 0.3,
        "when": "num_layers > 1",
        "default": 0.0,
    },
}


def variants(quick: bool) -> list[tuple[str, str, dict[str, Any]]]:
    epochs = {"epochs": 30} if quick else {}
    return [
        ("airline", "tpe", {"tune.search_space": dict(epochs)}),
        ("airline", "tpe+arch", {"tune.search_space": {**ARCH, **epochs}}),
        (
            "airline",
            "multi-objective",
            {"tune.search_space": dict(epochs), "tune.objectives": ["val", "param_count"]},
        ),
        ("airline", "subset 0.5", {"tune.search_space": dict(epochs), "tune.subset": 0.5}),
        (
            "airline",
            "pbt",
            {"tune.search_space": dict(epochs), "tune.strategy": "pbt", "tune.pbt_rounds": 5},
        ),
        ("text", "tpe", {"tune.search_space": {"epochs": 10 if quick else 30}}),
        (
            "text",
            "tpe, embedding_dim=32",
            {"tune.search_space": {"epochs": 10 if quick else 30, "embedding_dim": 32}},
        ),
    ]


def run(
    dataset: str,
    name: str,
    overrides: dict[str, Any],
    seed: int,
    n_trials: int,
    tmp: Path,
    text_csv: str,
) -> dict[str, Any]:
    from lstmtune.config import load_config
    from lstmtune.data.prepare import prepare
    from lstmtune.model import build_model, count_parameters
    from lstmtune.pbt import run_pbt
    from lstmtune.problems import make_problem
    from lstmtune.tuning import run_study

    values: dict[str, Any] = {
        "tune.n_trials": n_trials,
        "tune.warm_start": False,
        "train.seed": seed,
        "train.threads": None,
        "tune.storage": (f"sqlite:///{tmp / f'{dataset}-{name}-{seed}-{time.monotonic_ns()}.db'}")
        .replace(" ", "_")
        .replace(",", ""),
        "output_dir": str(tmp / "out"),
        "tune.population": n_trials,
        **overrides,
    }
    if dataset == "text":
        values.update(
            {
                "data.task": "text",
                "data.path": text_csv,
                "data.text_column": "review",
                "data.label": "sentiment",
                "data.text.min_freq": 1,
            }
        )
    cfg = load_config(None, values).resolved()
    parts, meta = prepare(cfg)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        best = (
            run_pbt(cfg, parts, meta)
            if cfg.tune.strategy == "pbt"
            else run_study(cfg, parts, meta).to_dict()
        )
    wall = time.perf_counter() - t0
    test = (
        test_metric(cfg, parts, meta, best)
        if not best.get("schedule")
        else _pbt_test(cfg, parts, meta, best)
    )
    problem = make_problem(parts, meta, best["best_params"])
    params = count_parameters(
        build_model(
            problem.n_features,
            problem.n_outputs,
            best["best_params"],
            zero_head=problem.zero_head,
            vocab_size=problem.vocab_size,
        )
    )
    return {
        "dataset": dataset,
        "variant": name,
        "seed": seed,
        "wall_seconds": wall,
        "best_value": best["best_value"],
        "param_count": params,
        **test,
    }


def _pbt_test(cfg: Any, parts: Any, meta: dict[str, Any], best: dict[str, Any]) -> dict[str, Any]:
    """The retrain step for PBT: replay the winner's schedule on train+val, score on test."""
    from lstmtune.evaluate import PRIMARY_METRIC, forecast_metrics
    from lstmtune.pbt import replay_schedule
    from lstmtune.problems import make_problem
    from lstmtune.training import ForecastProblem, select_device

    problem = make_problem(parts, meta, best["best_params"])
    result = replay_schedule(
        problem,
        best["best_params"],
        best["schedule"],
        problem.tensors("train", "val"),
        seed=cfg.train.seed,
        grad_clip=cfg.train.grad_clip,
        device=select_device("cpu"),
        amp=False,
    )
    test = problem.tensors("test")
    assert isinstance(problem, ForecastProblem) and test.raw_y is not None
    metric = PRIMARY_METRIC[meta["task"]]
    return {
        "test_metric_name": metric,
        "test_metric": forecast_metrics(
            problem.predict(result.model.cpu().eval(), test), test.raw_y
        )[metric],
    }


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument(
        "--seeds", type=int, default=None, help="seeds per variant (default 3, --quick 1)"
    )
    args = p.parse_args()
    setup_torch(args.threads)
    info = machine("cpu")
    header("strategies vs plain TPE, same budget", info)
    seeds = list(range(args.seeds or (1 if args.quick else 3)))
    n_trials = 8 if args.quick else 30
    from lstmtune.synthetic import text_frame

    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        text_csv = str(tmp / "reviews.csv")
        text_frame().to_csv(text_csv, index=False)
        run(
            "airline", "warm-up", {"tune.search_space": {"epochs": 3}}, 99, 2, tmp, text_csv
        )  # imports, first-call costs: not timed
        for seed in seeds:
            for dataset, name, overrides in variants(args.quick):
                runs.append(run(dataset, name, overrides, seed, n_trials, tmp, text_csv))
                print(
                    f"  done: {dataset} {name} seed {seed}: {runs[-1]['wall_seconds']:.1f} s",
                    flush=True,
                )
    rows = []
    summary: dict[str, Any] = {}
    for dataset in ("airline", "text"):
        names = [n for d, n, _ in variants(args.quick) if d == dataset]
        base_wall = median(
            r["wall_seconds"] for r in runs if r["dataset"] == dataset and r["variant"] == names[0]
        )
        for name in names:
            sel = [r for r in runs if r["dataset"] == dataset and r["variant"] == name]
            wall = median(r["wall_seconds"] for r in sel)
            row = {
                "wall_seconds": wall,
                "x_tpe_time": ratio(wall, base_wall),
                "best_val": median(r["best_value"] for r in sel),
                "test": median(r["test_metric"] for r in sel),
                "test_metric": sel[0]["test_metric_name"],
                "param_count": median(r["param_count"] for r in sel),
            }
            summary[f"{dataset}/{name}"] = row
            rows.append(
                [
                    dataset,
                    name,
                    fmt(row["wall_seconds"]),
                    fmt(row["x_tpe_time"]),
                    fmt(row["best_val"], 4),
                    f"{row['test_metric']} {fmt(row['test'], 4)}",
                    fmt(row["param_count"], 6),
                ]
            )
    print(
        table(
            [
                "data",
                "variant",
                "wall s",
                "x tpe time",
                "best val",
                "test (after retrain)",
                "params",
            ],
            rows,
        )
    )
    print(
        f"\n{n_trials} trials (pbt: population {n_trials}) per variant, seeds {seeds};"
        " medians over seeds."
    )
    write_json(
        args.json,
        {"machine": info, "n_trials": n_trials, "seeds": seeds, "summary": summary, "runs": runs},
    )


if __name__ == "__main__":
    main()

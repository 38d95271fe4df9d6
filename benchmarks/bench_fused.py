"""Fused multi-trial training vs. what Optuna does today (a script, not a test).

For members x units x batch size, trains the same K configurations (bundled airline data,
lookback 12, per-member learning rate / weight decay / dropout / optimizer / featurisation, same
seeds, same epochs, no early stopping) two ways in one process:

* sequential: ``lstmtune.training.train`` once per member (nn.LSTM, one trial at a time);
* fused: ``lstmtune.fused.train_fused`` on all K at once;

repetitions interleaved (A/B/A/B...) and medians reported, because the machine may be shared.
Prints trial-epochs per second for both, the ratio, what ``fuse_trials: auto`` chooses
(:func:`lstmtune.fused.plan_groups`, calibrated on the shape) and whether auto ever loses.

    python benchmarks/bench_fused.py [--quick] [--json FILE] [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import torch

VARIANTS: list[dict[str, Any]] = [
    {"weight_decay": 0.0, "dropout": 0.0, "recurrent_dropout": 0.0, "optimizer": "adam"},
    {
        "weight_decay": 1e-3,
        "dropout": 0.2,
        "recurrent_dropout": 0.0,
        "optimizer": "adamw",
        "transform": "log",
    },
    {
        "weight_decay": 1e-4,
        "dropout": 0.0,
        "recurrent_dropout": 0.2,
        "optimizer": "adam",
        "anchor": "last",
    },
    {
        "weight_decay": 1e-5,
        "dropout": 0.1,
        "recurrent_dropout": 0.1,
        "optimizer": "adamw",
        "window_norm": True,
    },
]


def member_params(k: int, units: int, batch: int, epochs: int) -> list[dict[str, Any]]:
    base = {
        "units": units,
        "num_layers": 1,
        "lookback": 12,
        "batch_size": batch,
        "epochs": epochs,
        "cell": "lstm",
        "head": "last",
        "bidirectional": False,
        "anchor": "seasonal",
        "transform": "none",
        "window_norm": False,
    }
    return [
        {**base, **VARIANTS[i % len(VARIANTS)], "learning_rate": 1e-3 * (1.5 ** (i % 8))}
        for i in range(k)
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="2 epochs, 2 repetitions each (< 5 min on 2 cores)"
    )
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    ap.add_argument("--members", type=int, nargs="*", default=[8, 16, 32])
    ap.add_argument("--units", type=int, nargs="*", default=[16, 32, 64, 128])
    ap.add_argument("--batch", type=int, nargs="*", default=[16, 32])
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from lstmtune import fused
    from lstmtune.config import example_data_path, load_config
    from lstmtune.data.prepare import prepare
    from lstmtune.problems import make_problem
    from lstmtune.training import train

    device = torch.device(args.device)
    epochs, reps = (2, 2) if args.quick else (5, 3)
    cfg = load_config(
        None,
        {
            "data.path": example_data_path(),
            "data.target": "passengers",
            "data.time_column": "month",
        },
    ).resolved()
    parts, meta = prepare(cfg)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    print(
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"{epochs} epochs, {reps} interleaved reps, airline lookback 12"
    )
    header = (
        f"{'members':>7} {'units':>5} {'batch':>5} | {'seq ep/s':>9} {'fused ep/s':>10} "
        f"{'ratio':>6} | {'calib':>6} {'auto':>5} {'auto/off':>8}"
    )
    print(header)
    print("-" * len(header))
    for k in args.members:
        for units in args.units:
            for batch in args.batch:
                params_list = member_params(k, units, batch, epochs)
                problems = [make_problem(parts, meta, p) for p in params_list]
                tr = [p.tensors("train") for p in problems]
                va = [p.tensors("val") for p in problems]
                seeds = list(range(k))

                def sequential(
                    problems: Any = problems,
                    params_list: Any = params_list,
                    tr: Any = tr,
                    va: Any = va,
                    seeds: Any = seeds,
                ) -> None:
                    for pr, p, a, b, s in zip(problems, params_list, tr, va, seeds, strict=True):
                        train(pr, p, a, b, seed=s, patience=10**6, device=device)

                def fused_run(
                    problems: Any = problems,
                    params_list: Any = params_list,
                    tr: Any = tr,
                    va: Any = va,
                    seeds: Any = seeds,
                ) -> None:
                    fused.train_fused(
                        problems, params_list, tr, va, seeds=seeds, patience=10**6, device=device
                    )

                t_cal = time.perf_counter()
                groups = fused.plan_groups(
                    params_list,
                    "auto",
                    device,
                    n_features=problems[0].n_features,
                    n_outputs=problems[0].n_outputs,
                )
                t_cal = time.perf_counter() - t_cal
                auto_fuses = any(len(g) > 1 for g in groups)
                times: dict[str, list[float]] = {"seq": [], "fused": []}
                for _ in range(reps):  # A/B/A/B
                    for name, fn in (("seq", sequential), ("fused", fused_run)):
                        if device.type == "cuda":
                            torch.cuda.synchronize()
                        t0 = time.perf_counter()
                        fn()
                        if device.type == "cuda":
                            torch.cuda.synchronize()
                        times[name].append(time.perf_counter() - t0)
                seq_t, fused_t = statistics.median(times["seq"]), statistics.median(times["fused"])
                trial_epochs = k * epochs
                auto_t = fused_t if auto_fuses else seq_t
                row = {
                    "members": k,
                    "units": units,
                    "batch": batch,
                    "epochs": epochs,
                    "seq_seconds": seq_t,
                    "fused_seconds": fused_t,
                    "seq_trial_epochs_per_s": trial_epochs / seq_t,
                    "fused_trial_epochs_per_s": trial_epochs / fused_t,
                    "ratio": seq_t / fused_t,
                    "auto_fuses": auto_fuses,
                    "auto_vs_off": seq_t / auto_t,
                    "calibration_seconds": t_cal,
                    "seq_all": times["seq"],
                    "fused_all": times["fused"],
                }
                rows.append(row)
                print(
                    f"{k:>7} {units:>5} {batch:>5} | {row['seq_trial_epochs_per_s']:>9.1f} "
                    f"{row['fused_trial_epochs_per_s']:>10.1f} "
                    f"{row['ratio']:>5.2f}x | {t_cal:>5.1f}s {'fuse' if auto_fuses else 'off':>5} "
                    f"{row['auto_vs_off']:>7.2f}x",
                    flush=True,
                )
    losses = [r for r in rows if r["auto_vs_off"] < 1.0]
    print("-" * len(header))
    small = [r for r in rows if r["units"] <= 32 and r["members"] >= 8]
    print(
        f"auto slower than off in {len(losses)} of {len(rows)} configurations"
        + (
            ": "
            + ", ".join(
                f"{r['members']}x{r['units']}u b{r['batch']} ({r['auto_vs_off']:.2f}x)"
                for r in losses
            )
            if losses
            else ""
        )
    )
    if small:
        print(
            "units <= 32, >= 8 members: fused/sequential min "
            f"{min(r['ratio'] for r in small):.2f}x, "
            f"median {statistics.median(r['ratio'] for r in small):.2f}x"
        )
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "device": str(device),
                    "threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                    "rows": rows,
                },
                fh,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

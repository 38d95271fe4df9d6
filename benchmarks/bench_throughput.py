"""Training throughput: lstmtune's training step vs a plain PyTorch reference loop, and achieved
FLOP/s as a fraction of a large matmul's FLOP/s measured in the same run (a script, not a test).

    python benchmarks/bench_throughput.py [--quick] [--json FILE]
        [--device cpu|cuda|auto] [--threads N]

* ``lstmtune``  — :func:`lstmtune.training.train` on a :class:`lstmtune.task_problems.Problem`
  holding in-memory tensors (no DataLoader: a ``randperm`` per epoch and ``index_select`` batches;
  Adam, gradient clipping 1.0, the GradScaler calls; mixed precision (bf16/fp16) on CUDA as in
  lstmtune).
* ``reference`` — the textbook loop: ``DataLoader(TensorDataset(x, y), shuffle=True)``, ``nn.LSTM``
  (batch_first) + ``nn.Linear`` on the last hidden state, Adam, MSE, ``clip_grad_norm_(1.0)``, fp32.

Same data (N random sequences, T=24 steps, 4 features, 1 output), same hyperparameters (1 layer,
no dropout, lr 1e-3), units in {32, 64, 128, 256} x batch in {32, 256}. Each measurement trains
whole epochs (at least ~0.5 s of work, --quick; 2 s otherwise) after a warm-up epoch; variants
alternate (A B B A ...) over the repeats and the median samples/s is reported.

FLOPs per training sample = 3 x forward, forward = 2*4*H*(F+H)*T (the LSTM's gate matmuls) + 2*H*O
(the head); element-wise gate math is ignored. "peak" is the median FLOP/s of a 2048x2048 fp32
matmul (and bf16 on CUDA) timed at the start, middle and end of the run.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

UNITS = (32, 64, 128, 256)
BATCHES = (32, 256)
T, F_IN, N_OUT = 24, 4, 1


def flops_per_sample(units: int) -> float:
    forward = 2 * 4 * units * (F_IN + units) * T + 2 * units * N_OUT
    return 3.0 * forward


def make_data(n: int, device: str) -> tuple[Any, Any]:
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, T, F_IN, generator=g)
    y = x[:, -6:, 0].mean(dim=1, keepdim=True) + 0.1 * torch.randn(n, N_OUT, generator=g)
    return x, y


def params_for(units: int, batch: int) -> dict[str, Any]:
    return {
        "units": units,
        "num_layers": 1,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "bidirectional": False,
        "learning_rate": 1e-3,
        "batch_size": batch,
        "optimizer": "adam",
        "weight_decay": 0.0,
        "epochs": 1,
        "cell": "lstm",
        "head": "last",
    }


def run_lstmtune(x: Any, y: Any, units: int, batch: int, epochs: int, device: str) -> float:
    """Seconds of ``epochs`` epochs inside lstmtune.training.train (its own timer: no model
    build)."""
    import torch
    import torch.nn.functional as F

    from lstmtune.training import Problem, TensorSet, train

    class Synthetic(Problem):
        task, n_features, n_outputs, zero_head = "forecast", F_IN, N_OUT, False

        def loss(self, out: torch.Tensor, b: TensorSet) -> torch.Tensor:
            return F.mse_loss(out.float(), b.y)

    result = train(
        Synthetic(),
        params_for(units, batch),
        TensorSet(x, y),
        None,
        epochs=epochs,
        grad_clip=1.0,
        seed=0,
        device=torch.device(device),
        amp=True,
    )
    return float(result.train_seconds)


def run_reference(x: Any, y: Any, units: int, batch: int, epochs: int, device: str) -> float:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(F_IN, units, batch_first=True)
            self.head = nn.Linear(units, N_OUT)

        def forward(self, inp: torch.Tensor) -> torch.Tensor:
            _, (h, _) = self.lstm(inp)
            out: torch.Tensor = self.head(h[-1])
            return out

    torch.manual_seed(0)
    dev = torch.device(device)
    model = Net().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(
        TensorDataset(x, y),
        batch_size=batch,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
        pin_memory=device == "cuda",
    )
    loss_fn = nn.MSELoss()
    model.train()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()  # type: ignore[no-untyped-call]
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


VARIANTS = {"lstmtune": run_lstmtune, "reference": run_reference}


def main() -> None:
    args = common.parser(__doc__ or "").parse_args()
    device = common.resolve_device(args.device)
    common.setup_torch(args.threads)
    n = 2048 if args.quick else 8192
    repeats = 3 if args.quick else 5
    min_seconds = 0.5 if args.quick else 2.0
    info = common.machine(device)
    common.header(
        "training throughput: lstmtune.training.train vs a plain PyTorch DataLoader loop", info
    )
    print(
        f"data: N={n} sequences x T={T} steps x {F_IN} features -> {N_OUT} output;"
        f" {repeats} interleaved repeats per cell, median\n",
        flush=True,
    )
    dtypes = ["float32"] + (["bfloat16"] if device == "cuda" else [])
    peaks: dict[str, list[float]] = {d: [] for d in dtypes}

    def measure_peak() -> None:
        for d in dtypes:
            peaks[d].append(common.matmul_flops(2048, device, d))

    measure_peak()
    x, y = make_data(n, device)
    cells = [(u, b) for u in UNITS for b in BATCHES]
    samples: dict[tuple[int, int, str], list[float]] = {
        (u, b, v): [] for u, b in cells for v in VARIANTS
    }
    epochs_of: dict[tuple[int, int], int] = {}
    for u, b in cells:  # warm-up epoch of each variant; it also sizes the measurement
        warm = [fn(x, y, u, b, 1, device) for fn in VARIANTS.values()]
        epochs_of[(u, b)] = max(1, min(50, math.ceil(min_seconds / max(1e-6, min(warm)))))
    for r in range(repeats):
        if r == repeats // 2:
            measure_peak()
        for u, b in cells:
            order = list(VARIANTS) if (r + u // 32 + b) % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                epochs = epochs_of[(u, b)]
                secs = VARIANTS[name](x, y, u, b, epochs, device)
                samples[(u, b, name)].append(n * epochs / secs)
        print(f"  repeat {r + 1}/{repeats} done", flush=True)
    measure_peak()
    peak = {d: common.median(v) or math.nan for d, v in peaks.items()}
    ours_peak = peak["bfloat16"] if device == "cuda" and "bfloat16" in peak else peak["float32"]
    rows, figures = [], []
    for u, b in cells:
        ours = common.median(samples[(u, b, "lstmtune")]) or math.nan
        ref = common.median(samples[(u, b, "reference")]) or math.nan
        fps = flops_per_sample(u)
        rec = {
            "units": u,
            "batch": b,
            "epochs_per_measurement": epochs_of[(u, b)],
            "lstmtune_samples_per_s": ours,
            "reference_samples_per_s": ref,
            "ratio": ours / ref,
            "flops_per_sample": fps,
            "lstmtune_flops": ours * fps,
            "reference_flops": ref * fps,
            "lstmtune_frac_peak": ours * fps / ours_peak,
            "reference_frac_peak": ref * fps / peak["float32"],
            "all_lstmtune": samples[(u, b, "lstmtune")],
            "all_reference": samples[(u, b, "reference")],
        }
        figures.append(rec)
        rows.append(
            [
                u,
                b,
                ours,
                ref,
                rec["ratio"],
                rec["lstmtune_flops"] / 1e9,
                100 * rec["lstmtune_frac_peak"],
                rec["reference_flops"] / 1e9,
                100 * rec["reference_frac_peak"],
            ]
        )
    print()
    print(
        common.table(
            [
                "units",
                "batch",
                "ours samples/s",
                "ref samples/s",
                "ours/ref",
                "ours GFLOP/s",
                "ours % peak",
                "ref GFLOP/s",
                "ref % peak",
            ],
            rows,
        )
    )
    peak_text = ", ".join(
        f"{d} {common.fmt(v / 1e9)} GFLOP/s "
        f"(runs: {', '.join(common.fmt(p / 1e9) for p in peaks[d])})"
        for d, v in peak.items()
    )
    print(f"\npeak = 2048x2048 matmul, median of start/middle/end: {peak_text}")
    if device == "cuda":
        print(
            "on CUDA lstmtune trains in mixed precision (its default):"
            " its % peak is against the bf16 matmul, the reference's against fp32"
        )
    ratios = [f["ratio"] for f in figures]
    print(
        f"ours/ref: median {common.fmt(common.median(ratios))}, "
        f"min {common.fmt(min(ratios))}, max {common.fmt(max(ratios))}"
    )
    common.write_json(
        args.json,
        {
            "benchmark": "throughput",
            "machine": info,
            "quick": args.quick,
            "n": n,
            "T": T,
            "features": F_IN,
            "repeats": repeats,
            "peak_flops": peak,
            "peak_runs": peaks,
            "cells": figures,
        },
    )


if __name__ == "__main__":
    main()

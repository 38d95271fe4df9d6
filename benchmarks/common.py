"""Shared helpers of the benchmark scripts: arguments, machine description, tables, JSON, data.

Not a library: every function here is small and used by the ``bench_*.py`` scripts beside it,
which add this directory to ``sys.path`` (``import common``) so they run as plain scripts::

    python benchmarks/bench_throughput.py --quick
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NOISE_NOTE = (
    "timings are wall-clock on a shared machine: variants are interleaved and medians/ratios "
    "reported; ratios are the figures to compare, absolute times are indicative only"
)


def parser(description: str) -> argparse.ArgumentParser:
    """The arguments every benchmark script takes."""
    p = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="a small budget: finishes in under 5 minutes on 2 CPU cores",
    )
    p.add_argument(
        "--json",
        metavar="FILE",
        help="also write every figure (and the machine description) to FILE",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        default="cpu",
        help="where training runs (default cpu; auto = cuda when available)",
    )
    p.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    return p


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device is available here")
    return name


def setup_torch(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)


def machine(device: str = "cpu") -> dict[str, Any]:
    """What the figures were measured on (printed above every table and stored in the JSON)."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "device": device,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        import lstmtune

        info["lstmtune"] = lstmtune.__version__
    except Exception:  # pragma: no cover
        pass
    return info


def header(title: str, info: dict[str, Any], argv: Sequence[str] | None = None) -> None:
    cmd = " ".join(["python", *(argv if argv is not None else sys.argv)])
    print(f"== {title}")
    print(f"command: {cmd}")
    gpu = f", GPU {info['gpu']}" if info.get("gpu") else ""
    print(
        f"machine: {info['cpu']}, {info['cores']} cores "
        f"({info['torch_threads']} torch threads){gpu}; "
        f"torch {info['torch']}, python {info['python']}; device {info['device']}; "
        f"load average at start {info.get('loadavg_start')}"
    )
    print(f"note: {NOISE_NOTE}")
    print()


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "inf"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain-text table (also valid inside a Markdown code block)."""
    cells = [[str(h) for h in headers]] + [
        [c if isinstance(c, str) else fmt(c) for c in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def median(values: Iterable[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return statistics.median(vals) if vals else None


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def write_json(path: str | None, data: dict[str, Any]) -> None:
    if not path:
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=2, sort_keys=True, default=_jsonable))
    print(f"\nfigures written to {p}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def timed(func: Callable[[], Any], sync: Callable[[], None] | None = None) -> tuple[float, Any]:
    """``(seconds, result)`` of one call (``sync`` e.g. ``torch.cuda.synchronize`` before/after)."""
    if sync:
        sync()
    t0 = time.perf_counter()
    out = func()
    if sync:
        sync()
    return time.perf_counter() - t0, out


def matmul_flops(n: int, device: str, dtype_name: str = "float32", repeats: int = 5) -> float:
    """Achieved FLOP/s of an ``n x n`` matmul (median of ``repeats``), this run's stand-in for
    peak."""
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device == "cuda" else None
    inner = 1 if device == "cpu" else 20
    for _ in range(2):  # warm-up (threads, cuBLAS heuristics)
        torch.mm(a, b)
    times = []
    for _ in range(repeats):
        secs, _ = timed(lambda: [torch.mm(a, b) for _ in range(inner)], sync)
        times.append(secs / inner)
    return 2.0 * n**3 / statistics.median(times)


def classify_frame(n_per_class: int = 24, seed: int = 0, noise: float = 0.2) -> pd.DataFrame:
    """The sequence-classification set of the tests (``lstmtune.synthetic.classify_frame``);
    ``noise`` is raised by the time-to-quality benchmark so that not every configuration solves
    it."""
    from lstmtune.synthetic import classify_frame as generate

    return generate(n_per_class, seed, noise)


def served_at_test_origins(
    model_dir: Path, parts: dict[str, pd.DataFrame], spec: dict[str, Any], test: dict[str, Any]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, Any]:
    """The published pyfunc's answer for the whole prepared series, at the test split's origins:
    ``(rows, true targets, origins, featurizer)`` (rows keep every column the pyfunc answers)."""
    from lstmtune.features import ForecastFeaturizer, forecast_series
    from lstmtune.forecast_members import history_rows
    from lstmtune.serving import Predictor

    predictor = Predictor.load(model_dir)
    f = predictor.featurizer
    assert isinstance(f, ForecastFeaturizer)
    raw = forecast_series(parts, f.features)
    ends = f.split_ends(int(test["start"]), int(test["end"]))
    served = predictor.predict(pd.DataFrame(raw, columns=f.features))
    return served.iloc[ends - (history_rows(spec) - 1)], f.raw_targets(raw, ends), ends, f
